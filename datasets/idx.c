/* idx.c: MNIST-format (IDX) image and label files, plain or gzip-compressed.
 *
 * The IDX format: a big-endian header (magic, then one u32 per dimension) and
 * the data as unsigned bytes.  MNIST and Fashion-MNIST use two kinds:
 *   images  magic 0x00000803  dims N, rows, cols  then N*rows*cols bytes
 *   labels  magic 0x00000801  dims N              then N bytes
 * Files are read through zlib's gzopen/gzread, which read gzip and plain files
 * alike (the choice is made from the content, so a name ending in .gz that is
 * not compressed still loads).
 *
 * Robustness: a header is never trusted for an allocation.  For a plain file,
 * the size the header implies is compared with the file's size before anything
 * is allocated (and must match exactly).  For gzip, whose uncompressed size is
 * unknown without decompressing, the data is read into a buffer that grows as
 * data arrives, so a lying header fails when the stream ends early having
 * allocated no more than the stream held; the header's claimed pixel count is
 * also capped: the float32 pixels it decodes to may not exceed max_bytes
 * (LAP_IDX_MAX_BYTES by default), since a 1 MB gzip file can really hold 2^30
 * pixels.  Each error names the file and the problem.
 *
 * Limits: only u8 data with 3 (images) or 1 (labels) dimensions; with a limit
 * on the number of images, the data after it is not read (nor checked) for
 * gzip files; plain files are always checked to have exactly the declared size.
 */
#include "images.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/error.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
/* First allocation for gzip data; it doubles as data arrives. */
#define IDX_GZ_INITIAL_BYTES ((int64_t)1 << 20)

typedef struct idx_file {
    const char *path;
    gzFile gz;
    int direct;           /* not compressed: file_size is the data's size */
    int64_t file_size;    /* from stat */
} idx_file;

static void idx_close(idx_file *f)
{
    if (f->gz)
        gzclose(f->gz);
    f->gz = NULL;
}

static int idx_open(idx_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    struct stat info;
    if (stat(path, &info) != 0)
        return lap_error("idx: cannot open %s: %s", path, strerror(errno));
    if (!S_ISREG(info.st_mode))
        return lap_error("idx: %s is not a regular file", path);
    f->file_size = (int64_t)info.st_size;
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return lap_error("idx: cannot open %s: %s", path, errno ? strerror(errno) : "out of memory");
    return LAP_OK;
}

/* zlib's message for a read error, without the "path: " zlib puts in front. */
static const char *zlib_message(idx_file *f)
{
    int code;
    const char *message = gzerror(f->gz, &code);
    if (!message || !*message)
        return "unknown zlib error";
    size_t length = strlen(f->path);
    if (strncmp(message, f->path, length) == 0 && strncmp(message + length, ": ", 2) == 0)
        message += length + 2;
    return message;
}

/* Reads up to `bytes` into buf; returns the number read (less only at the end
 * of the data), or -1 with the error recorded when zlib reports corrupt data. */
static int64_t idx_read(idx_file *f, void *buf, int64_t bytes)
{
    int64_t total = 0;
    while (total < bytes) {
        /* gzread takes an unsigned count and returns an int. */
        int64_t want = bytes - total < (INT_MAX / 2) ? bytes - total : (INT_MAX / 2);
        int got = gzread(f->gz, (unsigned char *)buf + total, (unsigned)want);
        if (got < 0) {
            lap_error("idx: %s: corrupt gzip data (%s)", f->path, zlib_message(f));
            return -1;
        }
        if (got == 0)
            break;
        total += got;
    }
    /* zlib reports a gzip stream cut short as an error after returning what it had. */
    if (total < bytes && !f->direct) {
        int code;
        gzerror(f->gz, &code);
        if (code != Z_OK && code != Z_STREAM_END) {
            lap_error("idx: %s: truncated or corrupt gzip data (%s) after %lld uncompressed bytes", f->path,
                      zlib_message(f), (long long)total);
            return -1;
        }
    }
    return total;
}

static uint32_t big_endian_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads and checks the magic and the ndims dimensions of an IDX header. */
static int idx_read_header(idx_file *f, uint32_t magic_expected, int ndims, uint32_t *dims)
{
    const char *kind = magic_expected == IDX_IMAGES_MAGIC ? "image" : "label";
    unsigned char header[16];
    int64_t header_bytes = 4 + 4 * (int64_t)ndims;
    int64_t got = idx_read(f, header, 4);
    if (got < 0)
        return LAP_ERR;
    f->direct = gzdirect(f->gz);   /* valid only after the first read */
    if (got < 4)
        return lap_error("idx: %s: truncated header: %lld bytes, an IDX %s file starts with %lld",
                         f->path, (long long)got, kind, (long long)header_bytes);
    uint32_t magic = big_endian_u32(header);
    if (magic != magic_expected) {
        if (magic == IDX_IMAGES_MAGIC || magic == IDX_LABELS_MAGIC)
            return lap_error("idx: %s: is an IDX %s file (magic 0x%08x), expected an IDX %s file (magic 0x%08x)",
                             f->path, magic == IDX_IMAGES_MAGIC ? "image" : "label", (unsigned)magic, kind,
                             (unsigned)magic_expected);
        return lap_error("idx: %s: wrong magic number 0x%08x, expected 0x%08x (IDX %s file, unsigned bytes)",
                         f->path, (unsigned)magic, (unsigned)magic_expected, kind);
    }
    got = idx_read(f, header + 4, header_bytes - 4);
    if (got < 0)
        return LAP_ERR;
    if (got < header_bytes - 4)
        return lap_error("idx: %s: truncated header: %lld bytes, an IDX %s file starts with %lld",
                         f->path, (long long)(4 + got), kind, (long long)header_bytes);
    for (int i = 0; i < ndims; i++)
        dims[i] = big_endian_u32(header + 4 + 4 * i);
    return LAP_OK;
}

/* For a plain file, checks that header + data is exactly the file's size. */
static int idx_check_size(const idx_file *f, int64_t header_bytes, int64_t data_bytes, const char *claim)
{
    if (!f->direct)
        return LAP_OK;
    int64_t expected = header_bytes + data_bytes;
    if (f->file_size < expected)
        return lap_error("idx: %s: truncated: the header declares %s (%lld bytes with the header) "
                         "but the file has %lld bytes", f->path, claim, (long long)expected,
                         (long long)f->file_size);
    if (f->file_size > expected)
        return lap_error("idx: %s: the header declares %s (%lld bytes with the header) "
                         "but the file has %lld bytes: dimensions do not match the file size",
                         f->path, claim, (long long)expected, (long long)f->file_size);
    return LAP_OK;
}

/* Reads exactly `bytes` of data into a new buffer.  A plain file was already
 * checked to hold them; gzip data goes into a buffer grown as it arrives, so a
 * header claiming more than the stream holds allocates only what it holds. */
static uint8_t *idx_read_data(idx_file *f, int64_t bytes, const char *claim)
{
    int64_t capacity = f->direct || bytes < IDX_GZ_INITIAL_BYTES ? bytes : IDX_GZ_INITIAL_BYTES;
    uint8_t *data = lap_malloc((size_t)capacity);
    if (!data)
        return NULL;
    int64_t total = 0;
    for (;;) {
        int64_t got = idx_read(f, data + total, capacity - total);
        if (got < 0) {
            free(data);
            return NULL;
        }
        total += got;
        if (total == bytes)
            return data;
        if (total < capacity) {   /* the data ended */
            lap_error("idx: %s: truncated: the header declares %s (%lld data bytes) but the data ends after %lld",
                      f->path, claim, (long long)bytes, (long long)total);
            free(data);
            return NULL;
        }
        capacity = 2 * capacity < bytes ? 2 * capacity : bytes;
        uint8_t *grown = realloc(data, (size_t)capacity);
        if (!grown) {
            lap_error("out of memory (%lld bytes) reading %s", (long long)capacity, f->path);
            free(data);
            return NULL;
        }
        data = grown;
    }
}

/* After the declared data of a fully read gzip file: more data means the header is wrong. */
static int idx_check_end(idx_file *f, const char *claim)
{
    if (f->direct)
        return LAP_OK;   /* the size was checked exactly */
    unsigned char extra;
    int64_t got = idx_read(f, &extra, 1);
    if (got < 0)
        return LAP_ERR;
    if (got > 0)
        return lap_error("idx: %s: more data than the header declares (%s): dimensions do not match the file",
                         f->path, claim);
    return LAP_OK;
}

lap_dataset *lap_idx_load(const char *images_path, const char *labels_path, int64_t limit, int64_t max_bytes)
{
    if (max_bytes <= 0)
        max_bytes = LAP_IDX_MAX_BYTES;
    if (!images_path || !labels_path) {
        lap_error("idx: file names must not be NULL");
        return NULL;
    }
    idx_file images = {0}, labels = {0};
    uint8_t *pixels = NULL, *label_bytes = NULL;
    int32_t *label_values = NULL;
    lap_dataset *result = NULL;
    uint32_t image_dims[3] = {0}, label_dims[1] = {0};
    char image_claim[96], label_claim[64];

    if (idx_open(&images, images_path) != LAP_OK ||
        idx_read_header(&images, IDX_IMAGES_MAGIC, 3, image_dims) != LAP_OK)
        goto done;
    uint32_t count = image_dims[0], rows = image_dims[1], cols = image_dims[2];
    snprintf(image_claim, sizeof image_claim, "%u images of %ux%u", (unsigned)count, (unsigned)rows,
             (unsigned)cols);
    if (count == 0 || rows == 0 || cols == 0) {
        lap_error("idx: %s: the header declares %s: no pixels", images_path, image_claim);
        goto done;
    }
    /* The float32 pixels of the images kept (count, or limit) must fit max_bytes;
     * the products are formed only when they cannot leave int64. */
    int64_t n = limit > 0 && limit < (int64_t)count ? limit : (int64_t)count;
    int64_t image_bytes, claimed_bytes;
    if (__builtin_mul_overflow((int64_t)rows, (int64_t)cols, &image_bytes) ||
        __builtin_mul_overflow(image_bytes, (int64_t)count, &claimed_bytes) ||
        image_bytes > max_bytes / (int64_t)sizeof(float) / n) {
        lap_error("idx: %s: the header declares %s: %lld of them as floats are more than the %lld-byte limit "
                  "(the option max_bytes allows more)",
                  images_path, image_claim, (long long)n, (long long)max_bytes);
        goto done;
    }
    if (idx_check_size(&images, 16, claimed_bytes, image_claim) != LAP_OK)
        goto done;

    if (idx_open(&labels, labels_path) != LAP_OK ||
        idx_read_header(&labels, IDX_LABELS_MAGIC, 1, label_dims) != LAP_OK)
        goto done;
    snprintf(label_claim, sizeof label_claim, "%u labels", (unsigned)label_dims[0]);
    if (idx_check_size(&labels, 8, (int64_t)label_dims[0], label_claim) != LAP_OK)
        goto done;
    if (label_dims[0] != count) {
        lap_error("idx: %s has %u images but %s has %u labels", images_path, (unsigned)count, labels_path,
                  (unsigned)label_dims[0]);
        goto done;
    }

    int whole = n == (int64_t)count;
    pixels = idx_read_data(&images, n * image_bytes, image_claim);
    if (!pixels || (whole && idx_check_end(&images, image_claim) != LAP_OK))
        goto done;
    label_bytes = idx_read_data(&labels, n, label_claim);
    if (!label_bytes || (whole && idx_check_end(&labels, label_claim) != LAP_OK))
        goto done;

    label_values = lap_malloc((size_t)n * sizeof *label_values);
    int64_t shape[4] = {n, 1, rows, cols};
    lap_tensor *x = label_values ? lap_tensor_new(4, shape) : NULL;
    if (!x)
        goto done;
    float *out = lap_data(x);
    for (int64_t i = 0; i < n * image_bytes; i++)
        out[i] = (float)pixels[i] / 255.0f;
    for (int64_t i = 0; i < n; i++)
        label_values[i] = label_bytes[i];
    result = lap_dataset_new(x, label_values);   /* takes x even on failure */

done:
    idx_close(&images);
    idx_close(&labels);
    free(pixels);
    free(label_bytes);
    free(label_values);
    return result;
}

/* dir/name or dir/name.gz, whichever exists (plain first); 0 if neither does. */
static int find_idx_file(char *path, size_t size, const char *dir, const char *name)
{
    struct stat info;
    snprintf(path, size, "%s/%s", dir, name);
    if (stat(path, &info) == 0)
        return 1;
    snprintf(path, size, "%s/%s.gz", dir, name);
    return stat(path, &info) == 0;
}

/* Prefixes the current message with "where: ". */
static void prefix_error(const char *where)
{
    char message[1024];
    snprintf(message, sizeof message, "%s", lap_last_error());
    lap_error("%s: %s", where, message);
}

/* Finds the two files of a split; on failure *missing names the file not found. */
static int find_split(const char *dir, int train, char *images_path, char *labels_path, size_t size,
                      const char **missing)
{
    const char *images_name = train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte";
    const char *labels_name = train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte";
    *missing = NULL;
    if (!find_idx_file(images_path, size, dir, images_name))
        *missing = images_name;
    else if (!find_idx_file(labels_path, size, dir, labels_name))
        *missing = labels_name;
    return *missing ? LAP_ERR : LAP_OK;
}

lap_dataset *lap_mnist_load(const char *where, const char *dir, int train, int64_t limit, int64_t max_bytes)
{
    if (!where)
        where = "mnist";
    char images_path[4096], labels_path[4096];
    const char *missing;
    if (!dir) {   /* where `make data` puts MNIST */
        if (find_split(LAP_MNIST_DIR, train, images_path, labels_path, sizeof images_path, &missing) != LAP_OK) {
            lap_error("%s: MNIST not found: no %s[.gz] in %s (relative to the current directory); run `make data` "
                      "in lap's directory to fetch it, or pass dir = the directory holding the files",
                      where, missing, LAP_MNIST_DIR);
            return NULL;
        }
        dir = LAP_MNIST_DIR;
    }
    if (find_split(dir, train, images_path, labels_path, sizeof images_path, &missing) != LAP_OK) {
        lap_error("%s: no %s or %s.gz in %s", where, missing, missing, dir);
        return NULL;
    }
    lap_dataset *d = lap_idx_load(images_path, labels_path, limit, max_bytes);
    if (!d) {
        prefix_error(where);
        return NULL;
    }
    /* A limited load may miss a class; the model's width must not depend on it. */
    if (d->nclasses < 10)
        d->nclasses = 10;
    return d;
}

lap_dataset *lap_fashion_mnist_load(const char *dir, int train, int64_t limit, int64_t max_bytes)
{
    if (dir)
        return lap_mnist_load("fashion_mnist", dir, train, limit, max_bytes);
    char images_path[4096], labels_path[4096];
    const char *missing;
    if (find_split(LAP_FASHION_MNIST_DIR, train, images_path, labels_path, sizeof images_path, &missing) != LAP_OK) {
        lap_error("fashion_mnist: Fashion-MNIST not found: no %s[.gz] in %s; install the Debian package %s "
                  "(apt-get install %s) or pass dir = the directory holding the files",
                  missing, LAP_FASHION_MNIST_DIR, LAP_FASHION_MNIST_PACKAGE, LAP_FASHION_MNIST_PACKAGE);
        return NULL;
    }
    return lap_mnist_load("fashion_mnist", LAP_FASHION_MNIST_DIR, train, limit, max_bytes);
}
