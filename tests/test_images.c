/* test_images.c: the image dataset loaders (IDX plain and gzip, CIFAR-10,
 * CIFAR-100) and the image operations (statistics, normalization, random
 * subsets, augmentation).
 *
 * Writes small files into a fresh temporary directory (removed at the end):
 * well-formed ones whose loading is checked value by value, then malformed ones
 * (wrong magic, truncated images and labels, plain and gzip, count mismatch,
 * extra data, a header claiming 2^31 bytes of images in a 100-byte file, a
 * CIFAR file whose size is not a multiple of the record, a label out of range,
 * corrupt gzip, a missing file, a directory) each of which must give LAP_ERR
 * with a message naming the file and the problem.  So that an implementation
 * trusting a header's size would fail here, the malformed cases run with the
 * address space limited to 512 MB above its current size (setrlimit), so a
 * gigabyte allocation fails and shows up as "out of memory" instead of the
 * expected message; under AddressSanitizer, which reserves terabytes of
 * address space, the limit is skipped (ASan would report an allocation of
 * that size anyway).  When Debian's dataset-fashion-mnist is installed, also
 * loads its test split.  Exits nonzero and names every failure.
 *
 * LAP_TEST_VERBOSE=1 in the environment prints every expected error message.
 * Links against liblap.a and zlib (-lz) to write the gzip files.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../datasets/images.h"
#include "train/dataset.h"
#include "core/error.h"
#include "core/rng.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#include "check.h"

static char temp_dir[256];

/* temp_dir/name into a static buffer (one at a time: callers copy when they need two). */
static const char *temp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", temp_dir, name);
    return path;
}

/* ----------------------------------------------------------- file writers */

static void put_u32(unsigned char *p, uint32_t value)
{
    p[0] = (unsigned char)(value >> 24);
    p[1] = (unsigned char)(value >> 16);
    p[2] = (unsigned char)(value >> 8);
    p[3] = (unsigned char)value;
}

/* Writes bytes to path, gzip-compressed when gz. */
static void write_file(const char *path, const unsigned char *bytes, size_t size, int gz)
{
    if (gz) {
        gzFile out = gzopen(path, "wb");
        if (!out || (size > 0 && gzwrite(out, bytes, (unsigned)size) != (int)size)) {
            fprintf(stderr, "cannot write %s\n", path);
            exit(2);
        }
        gzclose(out);
        return;
    }
    FILE *out = fopen(path, "wb");
    if (!out || fwrite(bytes, 1, size, out) != size) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fclose(out);
}

/* The pixel byte of image i, position k (distinct values, including 0 and 255). */
static unsigned char idx_pixel(int64_t i, int64_t k)
{
    return (unsigned char)((i * 37 + k * 11) % 256);
}

/* An IDX image file: header (magic, count, rows, cols), then `images` images of
 * test pixels (images may differ from the declared count to make broken files). */
static void write_idx_images(const char *path, uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols,
                             int64_t images, int gz)
{
    size_t size = 16 + (size_t)images * rows * cols;
    unsigned char *bytes = malloc(size);
    put_u32(bytes, magic);
    put_u32(bytes + 4, count);
    put_u32(bytes + 8, rows);
    put_u32(bytes + 12, cols);
    for (int64_t i = 0; i < images; i++)
        for (int64_t k = 0; k < (int64_t)rows * cols; k++)
            bytes[16 + i * rows * cols + k] = idx_pixel(i, k);
    write_file(path, bytes, size, gz);
    free(bytes);
}

static void write_idx_labels(const char *path, uint32_t magic, uint32_t count, int64_t labels, int gz)
{
    size_t size = 8 + (size_t)labels;
    unsigned char *bytes = malloc(size);
    put_u32(bytes, magic);
    put_u32(bytes + 4, count);
    for (int64_t i = 0; i < labels; i++)
        bytes[8 + i] = (unsigned char)(i % 3);
    write_file(path, bytes, size, gz);
    free(bytes);
}

static unsigned char cifar_pixel(int64_t record, int64_t k)
{
    return (unsigned char)((record * 53 + k * 7) % 256);
}

/* A CIFAR file of `records` records numbered from `first`; label bytes are
 * first + r mod 10 (CIFAR-10) or (coarse r mod 20, fine (first + r) * 7 mod 100). */
static void write_cifar(const char *path, int label_bytes, int64_t first, int64_t records, size_t extra)
{
    size_t record = (size_t)label_bytes + 3072;
    size_t size = (size_t)records * record + extra;
    unsigned char *bytes = calloc(1, size ? size : 1);
    for (int64_t r = 0; r < records; r++) {
        unsigned char *p = bytes + r * record;
        int64_t id = first + r;
        if (label_bytes == 1) {
            p[0] = (unsigned char)(id % 10);
        } else {
            p[0] = (unsigned char)(id % 20);
            p[1] = (unsigned char)(id * 7 % 100);
        }
        for (int64_t k = 0; k < 3072; k++)
            p[label_bytes + k] = cifar_pixel(id, k);
    }
    write_file(path, bytes, size, 0);
    free(bytes);
}

/* -------------------------------------------------------------- checking */

/* Checks an IDX dataset of `n` images rows x cols of the test pattern. */
static void check_idx_dataset(lap_dataset *d, int64_t n, int64_t rows, int64_t cols, const char *what)
{
    CHECK(d != NULL, "%s: load failed: %s", what, lap_last_error());
    if (!d)
        return;
    CHECK(d->n == n, "%s: n = %lld, expected %lld", what, (long long)d->n, (long long)n);
    CHECK(d->x->ndim == 4 && d->x->shape[0] == n && d->x->shape[1] == 1 && d->x->shape[2] == rows &&
              d->x->shape[3] == cols, "%s: wrong shape", what);
    int bad = 0;
    const float *x = lap_data(d->x);
    for (int64_t i = 0; i < d->n && d->x->ndim == 4; i++) {
        for (int64_t k = 0; k < rows * cols; k++)
            if (x[i * rows * cols + k] != (float)idx_pixel(i, k) / 255.0f)
                bad++;
        if (d->y[i] != i % 3)
            bad++;
    }
    CHECK(bad == 0, "%s: %d wrong pixels or labels", what, bad);
    lap_dataset_release(d);
}

/* ------------------------------------------------------------------ tests */

static void test_idx_valid(void)
{
    /* 5 images of 3x4 (not square, to catch rows/cols swaps). */
    char images[512], labels[512], images_gz[512], labels_gz[512];
    snprintf(images, sizeof images, "%s", temp_path("images.idx"));
    snprintf(labels, sizeof labels, "%s", temp_path("labels.idx"));
    snprintf(images_gz, sizeof images_gz, "%s", temp_path("images.idx.gz"));
    snprintf(labels_gz, sizeof labels_gz, "%s", temp_path("labels.idx.gz"));
    write_idx_images(images, 0x803, 5, 3, 4, 5, 0);
    write_idx_labels(labels, 0x801, 5, 5, 0);
    write_idx_images(images_gz, 0x803, 5, 3, 4, 5, 1);
    write_idx_labels(labels_gz, 0x801, 5, 5, 1);

    lap_dataset *d = lap_idx_load(images, labels, 0, 0);
    CHECK(d && d->nclasses == 3, "idx plain: nclasses %d, expected 3", d ? d->nclasses : -1);
    CHECK(d && lap_data(d->x)[0] == 0.0f, "idx plain: first pixel must be 0");
    check_idx_dataset(d, 5, 3, 4, "idx plain");
    check_idx_dataset(lap_idx_load(images_gz, labels_gz, 0, 0), 5, 3, 4, "idx gzip");
    check_idx_dataset(lap_idx_load(images_gz, labels, 0, 0), 5, 3, 4, "idx gzip images, plain labels");
    check_idx_dataset(lap_idx_load(images, labels, 2, 0), 2, 3, 4, "idx plain limit 2");
    check_idx_dataset(lap_idx_load(images_gz, labels_gz, 2, 0), 2, 3, 4, "idx gzip limit 2");
    check_idx_dataset(lap_idx_load(images, labels, 99, 0), 5, 3, 4, "idx limit above n");

    /* A pixel of 255 is exactly 1. */
    unsigned char bytes[16 + 4];
    put_u32(bytes, 0x803);
    put_u32(bytes + 4, 1);
    put_u32(bytes + 8, 2);
    put_u32(bytes + 12, 2);
    bytes[16] = 255, bytes[17] = 0, bytes[18] = 128, bytes[19] = 1;
    write_file(temp_path("one.idx"), bytes, sizeof bytes, 0);
    unsigned char label_bytes[9] = {0, 0, 8, 1, 0, 0, 0, 1, 7};
    write_file(temp_path("one-labels.idx"), label_bytes, sizeof label_bytes, 0);
    snprintf(images, sizeof images, "%s", temp_path("one.idx"));
    d = lap_idx_load(images, temp_path("one-labels.idx"), 0, 0);
    CHECK(d && lap_data(d->x)[0] == 1.0f && lap_data(d->x)[1] == 0.0f &&
              fabsf(lap_data(d->x)[2] - 128.0f / 255.0f) < 1e-7f && d->y[0] == 7 && d->nclasses == 8,
          "idx 1 image: wrong values");
    lap_dataset_release(d);
}

static void test_mnist_directory(void)
{
    /* The MNIST names in a subdirectory, training images gzipped, labels plain. */
    char dir[512];
    snprintf(dir, sizeof dir, "%s", temp_path("mnist"));
    mkdir(dir, 0700);
    char path[600];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    write_idx_images(path, 0x803, 6, 28, 28, 6, 1);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    write_idx_labels(path, 0x801, 6, 6, 0);
    lap_dataset *d = lap_mnist_load("mnist", dir, 1, 0, 0);
    CHECK(d && d->nclasses == 10, "mnist: nclasses must be at least 10, got %d", d ? d->nclasses : -1);
    check_idx_dataset(d, 6, 28, 28, "mnist train");
    EXPECT_FAILURE(lap_mnist_load("mnist", dir, 0, 0, 0), dir, "t10k-images-idx3-ubyte", "mnist:");
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    write_idx_images(path, 0x803, 6, 28, 28, 6, 0);
    EXPECT_FAILURE(lap_mnist_load("mnist", dir, 0, 0, 0), dir, "t10k-labels-idx1-ubyte", NULL);
    /* A broken file inside: the message has the function, the file and the problem. */
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", dir);
    write_idx_labels(path, 0x801, 7, 7, 1);
    EXPECT_FAILURE(lap_mnist_load("mnist", dir, 0, 0, 0), "mnist: idx: ", "6 images", "7 labels");
}

static void test_cifar_valid(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", temp_path("cifar10"));
    mkdir(dir, 0700);
    /* 2 + 1 + 3 + 1 + 2 training records numbered 0..8 across the five files. */
    static const int counts[5] = {2, 1, 3, 1, 2};
    char path[600];
    int64_t first = 0;
    for (int f = 0; f < 5; f++) {
        snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, f + 1);
        write_cifar(path, 1, first, counts[f], 0);
        first += counts[f];
    }
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    write_cifar(path, 1, 100, 4, 0);

    lap_dataset *d = lap_cifar10_load(dir, 1, 0);
    CHECK(d != NULL, "cifar10 train: %s", lap_last_error());
    if (d) {
        CHECK(d->n == 9 && d->x->ndim == 4 && d->x->shape[1] == 3 && d->x->shape[2] == 32 && d->x->shape[3] == 32,
              "cifar10 train: wrong shape");
        CHECK(d->nclasses == 10, "cifar10: nclasses %d", d->nclasses);
        int bad = 0;
        for (int64_t r = 0; r < d->n; r++) {
            if (d->y[r] != r % 10)
                bad++;
            for (int64_t k = 0; k < 3072; k++)
                if (lap_data(d->x)[r * 3072 + k] != (float)cifar_pixel(r, k) / 255.0f)
                    bad++;
        }
        CHECK(bad == 0, "cifar10 train: %d wrong values", bad);
        /* Channel planes: x[r, c, y, x] is record byte 1 + c*1024 + y*32 + x. */
        CHECK(lap_data(d->x)[3072 + 2 * 1024 + 5 * 32 + 7] == (float)cifar_pixel(1, 2 * 1024 + 5 * 32 + 7) / 255.0f,
              "cifar10: channel layout");
    }
    lap_dataset_release(d);
    d = lap_cifar10_load(dir, 1, 4);   /* crosses file boundaries: 2 + 1 + 1 */
    CHECK(d && d->n == 4 && d->y[3] == 3 && lap_data(d->x)[3 * 3072 + 10] == (float)cifar_pixel(3, 10) / 255.0f,
          "cifar10 limit 4 across files");
    lap_dataset_release(d);
    d = lap_cifar10_load(dir, 0, 0);
    CHECK(d && d->n == 4 && d->y[0] == 0 && d->y[3] == 3 && lap_data(d->x)[5] == (float)cifar_pixel(100, 5) / 255.0f,
          "cifar10 test split");
    lap_dataset_release(d);

    char dir100[512];
    snprintf(dir100, sizeof dir100, "%s", temp_path("cifar100"));
    mkdir(dir100, 0700);
    snprintf(path, sizeof path, "%s/train.bin", dir100);
    write_cifar(path, 2, 0, 3, 0);
    snprintf(path, sizeof path, "%s/test.bin", dir100);
    write_cifar(path, 2, 30, 2, 0);
    d = lap_cifar100_load(dir100, 1, 0, 0);
    CHECK(d && d->n == 3 && d->y[0] == 0 && d->y[1] == 7 && d->y[2] == 14 && d->nclasses == 100 &&
              lap_data(d->x)[2 * 3072 + 99] == (float)cifar_pixel(2, 99) / 255.0f,
          "cifar100 fine: %s", d ? "wrong values" : lap_last_error());
    lap_dataset_release(d);
    d = lap_cifar100_load(dir100, 1, 1, 0);
    CHECK(d && d->n == 3 && d->y[0] == 0 && d->y[1] == 1 && d->y[2] == 2 && d->nclasses == 20,
          "cifar100 coarse: wrong labels");
    lap_dataset_release(d);
    d = lap_cifar100_load(dir100, 0, 0, 0);
    CHECK(d && d->n == 2 && d->y[0] == 30 * 7 % 100 && d->x->shape[1] == 3, "cifar100 test split");
    lap_dataset_release(d);
}

/* Limits the address space to its current size + 512 MB (not under ASan). */
static void limit_address_space(void)
{
    if (UNDER_ASAN) {
        printf("test_images: under AddressSanitizer, malformed files run without an address-space limit\n");
        return;
    }
    FILE *status = fopen("/proc/self/status", "r");
    long long vm_kb = -1;
    char line[256];
    while (status && fgets(line, sizeof line, status))
        if (sscanf(line, "VmSize: %lld kB", &vm_kb) == 1)
            break;
    if (status)
        fclose(status);
    if (vm_kb < 0) {
        printf("test_images: no /proc/self/status; malformed files run without an address-space limit\n");
        return;
    }
    struct rlimit limit;
    limit.rlim_cur = limit.rlim_max = (rlim_t)(vm_kb * 1024 + 512LL * 1024 * 1024);
    if (setrlimit(RLIMIT_AS, &limit) != 0)
        printf("test_images: setrlimit failed (%s); malformed files run without a limit\n", strerror(errno));
}

static void test_idx_malformed(void)
{
    char images[512], labels[512], bad[512];
    snprintf(images, sizeof images, "%s", temp_path("good-images.idx"));
    snprintf(labels, sizeof labels, "%s", temp_path("good-labels.idx"));
    write_idx_images(images, 0x803, 5, 28, 28, 5, 0);
    write_idx_labels(labels, 0x801, 5, 5, 0);

    for (int gz = 0; gz <= 1; gz++) {
        snprintf(bad, sizeof bad, "%s", temp_path(gz ? "bad.idx.gz" : "bad.idx"));
        /* Wrong magic; a label file given as images and the reverse. */
        write_idx_images(bad, 0x804, 5, 28, 28, 5, gz);
        EXPECT_FAILURE(lap_idx_load(bad, labels, 0, 0), bad, "wrong magic number 0x00000804", "0x00000803");
        write_idx_labels(bad, 0x801, 5, 5, gz);
        EXPECT_FAILURE(lap_idx_load(bad, labels, 0, 0), bad, "is an IDX label file", NULL);
        EXPECT_FAILURE(lap_idx_load(images, images, 0, 0), images, "is an IDX image file", "expected an IDX label");
        /* Truncated images: 4 of the 5 declared. */
        write_idx_images(bad, 0x803, 5, 28, 28, 4, gz);
        EXPECT_FAILURE(lap_idx_load(bad, labels, 0, 0), bad, "truncated", "5 images of 28x28");
        /* Truncated labels: 3 of 5. */
        write_idx_labels(bad, 0x801, 5, 3, gz);
        EXPECT_FAILURE(lap_idx_load(images, bad, 0, 0), bad, "truncated", "5 labels");
        /* Count mismatch. */
        write_idx_labels(bad, 0x801, 4, 4, gz);
        EXPECT_FAILURE(lap_idx_load(images, bad, 0, 0), bad, "5 images", "4 labels");
        /* More data than declared: rows/cols that do not match the file. */
        write_idx_images(bad, 0x803, 5, 28, 27, 6, gz);
        EXPECT_FAILURE(lap_idx_load(bad, labels, 0, 0), bad, gz ? "more data than the header" : "do not match", NULL);
        /* A truncated header (10 bytes) and an empty file. */
        {
            unsigned char head[10] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0};
            write_file(bad, head, sizeof head, gz);
        }
        EXPECT_FAILURE(lap_idx_load(bad, labels, 0, 0), bad, "truncated header", NULL);
        write_file(bad, (const unsigned char *)"", 0, gz);
        EXPECT_FAILURE(lap_idx_load(bad, labels, 0, 0), bad, "truncated header", NULL);
        /* Zero images. */
        write_idx_images(bad, 0x803, 0, 28, 28, 0, gz);
        EXPECT_FAILURE(lap_idx_load(bad, labels, 0, 0), bad, "no pixels", NULL);

        /* A header claiming 2^31 images of 28x28 in a ~100-byte file: above the cap. */
        {
            unsigned char padded[100] = {0};
            put_u32(padded, 0x803);
            put_u32(padded + 4, 0x80000000u);
            put_u32(padded + 8, 28);
            put_u32(padded + 12, 28);
            write_file(bad, padded, sizeof padded, gz);
        }
        EXPECT_FAILURE(lap_idx_load(bad, labels, 0, 0), bad, "2147483648 images of 28x28", "limit");
        /* Just under the cap (680 000 images, 2 GB as floats) in 100 bytes: must fail
         * on the file size (plain) or when the data ends (gzip), not allocate 2 GB. */
        {
            uint32_t many = (uint32_t)(LAP_IDX_MAX_BYTES / (4 * 28 * 28));
            unsigned char padded[100] = {0};
            put_u32(padded, 0x803);
            put_u32(padded + 4, many);
            put_u32(padded + 8, 28);
            put_u32(padded + 12, 28);
            write_file(bad, padded, sizeof padded, gz);
            char claim[64];
            snprintf(claim, sizeof claim, "%u images of 28x28", (unsigned)many);
            /* Labels declaring as many (and holding 5), so that the gzip case gets to the images' data. */
            char many_labels[512];
            snprintf(many_labels, sizeof many_labels, "%s", temp_path(gz ? "many-labels.gz" : "many-labels"));
            write_idx_labels(many_labels, 0x801, many, 5, gz);
            EXPECT_FAILURE(lap_idx_load(bad, many_labels, 0, 0), bad, "truncated", claim);
            /* The same claim for labels: 2^31 labels in 100 bytes. */
            put_u32(padded, 0x801);
            put_u32(padded + 4, 0x80000000u);
            write_file(bad, padded, sizeof padded, gz);
            EXPECT_FAILURE(lap_idx_load(images, bad, 0, 0), bad, gz ? "5 images" : "truncated", NULL);
        }
        /* Huge rows x cols: the product overflows 32 bits. */
        write_idx_images(bad, 0x803, 1, 0xffffffffu, 0xffffffffu, 0, gz);
        EXPECT_FAILURE(lap_idx_load(bad, labels, 0, 0), bad, "limit", NULL);
    }

    /* A gzip label file declaring 50 labels that holds 12: fails when the data ends. */
    {
        unsigned char short_labels[20] = {0};
        put_u32(short_labels, 0x801);
        put_u32(short_labels + 4, 50);
        snprintf(bad, sizeof bad, "%s", temp_path("short-labels.gz"));
        write_file(bad, short_labels, sizeof short_labels, 1);
        char fifty[512];
        snprintf(fifty, sizeof fifty, "%s", temp_path("fifty.idx"));
        write_idx_images(fifty, 0x803, 50, 2, 2, 50, 0);
        EXPECT_FAILURE(lap_idx_load(fifty, bad, 0, 0), bad, "truncated", "50 labels");
    }

    /* Corrupt gzip: a gzip stream with its middle overwritten. */
    {
        snprintf(bad, sizeof bad, "%s", temp_path("corrupt.idx.gz"));
        char labels200[512];
        snprintf(labels200, sizeof labels200, "%s", temp_path("labels200.idx"));
        write_idx_labels(labels200, 0x801, 200, 200, 0);
        write_idx_images(bad, 0x803, 200, 28, 28, 200, 1);
        FILE *f = fopen(bad, "r+b");
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, size / 2, SEEK_SET);
        for (int i = 0; i < 64; i++)
            fputc(0xA5 ^ i, f);
        fclose(f);
        EXPECT_FAILURE(lap_idx_load(bad, labels200, 0, 0), bad, "gzip", NULL);
        /* A gzip stream cut in half. */
        write_idx_images(bad, 0x803, 200, 28, 28, 200, 1);
        if (truncate(bad, size / 2) != 0)
            perror("truncate");
        EXPECT_FAILURE(lap_idx_load(bad, labels200, 0, 0), bad, "truncated", NULL);
    }

    /* Missing file, directory. */
    snprintf(bad, sizeof bad, "%s", temp_path("no-such-file"));
    EXPECT_FAILURE(lap_idx_load(bad, labels, 0, 0), bad, "cannot open", "No such file");
    EXPECT_FAILURE(lap_idx_load(images, bad, 0, 0), bad, "cannot open", NULL);
    EXPECT_FAILURE(lap_idx_load(temp_dir, labels, 0, 0), temp_dir, "not a regular file", NULL);
    EXPECT_FAILURE(lap_mnist_load("mnist", bad, 1, 0, 0), bad, "train-images-idx3-ubyte", NULL);
}

static void test_cifar_malformed(void)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s", temp_path("cifar-bad"));
    mkdir(dir, 0700);
    /* Missing files (CIFAR-10: neither layout, see test_cifar_png.c). */
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), "test_batch.bin", "test_batch.png", "cifar10");
    EXPECT_FAILURE(lap_cifar100_load(dir, 1, 0, 0), "train.bin", "cannot open", "cifar100");
    /* Size not a multiple of the record: 2 records + 5 bytes. */
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    write_cifar(path, 1, 0, 2, 5);
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), path, "6151 bytes", "3073-byte record");
    /* A CIFAR-10 file given to the CIFAR-100 loader: 3073 * 2 is not a multiple of 3074. */
    write_cifar(path, 1, 0, 2, 0);
    snprintf(path, sizeof path, "%s/test.bin", dir);
    write_cifar(path, 1, 0, 2, 0);
    EXPECT_FAILURE(lap_cifar100_load(dir, 0, 0, 0), path, "6146 bytes", "3074-byte record");
    /* A label out of range. */
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    {
        unsigned char record[3073] = {12};
        write_file(path, record, sizeof record, 0);
    }
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), path, "label 12", "0..9");
    /* Empty file, and a train split with one batch missing. */
    write_file(path, (const unsigned char *)"", 0, 0);
    EXPECT_FAILURE(lap_cifar10_load(dir, 0, 0), path, "empty", NULL);
    for (int f = 1; f <= 4; f++) {
        snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, f);
        write_cifar(path, 1, 0, 1, 0);
    }
    EXPECT_FAILURE(lap_cifar10_load(dir, 1, 0), "data_batch_5.bin", "cannot open", NULL);
    EXPECT_FAILURE(lap_cifar10_load(temp_path("no-such-dir"), 1, 0), "no-such-dir/data_batch_1.bin", NULL, NULL);
}

static void test_fashion_mnist(void)
{
    struct stat info;
    if (stat(LAP_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", &info) != 0) {
        printf("test_images: note: %s is not installed (no %s); Fashion-MNIST check skipped\n",
               LAP_FASHION_MNIST_PACKAGE, LAP_FASHION_MNIST_DIR);
        lap_dataset *d = lap_fashion_mnist_load(NULL, 0, 0, 0);
        EXPECT_FAILURE(d, LAP_FASHION_MNIST_DIR, LAP_FASHION_MNIST_PACKAGE, NULL);
        return;
    }
    lap_dataset *d = lap_fashion_mnist_load(NULL, 0, 0, 0);
    CHECK(d != NULL, "fashion_mnist test: %s", lap_last_error());
    if (!d)
        return;
    CHECK(d->n == 10000 && d->x->shape[1] == 1 && d->x->shape[2] == 28 && d->x->shape[3] == 28 && d->nclasses == 10,
          "fashion_mnist test: wrong shape or classes");
    /* The first two test labels of Fashion-MNIST: ankle boot (9), pullover (2). */
    CHECK(d->y[0] == 9 && d->y[1] == 2, "fashion_mnist test: first labels %d %d", d->y[0], d->y[1]);
    int64_t per_class[10] = {0};
    for (int64_t i = 0; i < d->n; i++)
        per_class[d->y[i]]++;
    for (int c = 0; c < 10; c++)
        CHECK(per_class[c] == 1000, "fashion_mnist test: class %d has %lld images", c, (long long)per_class[c]);
    lap_dataset_release(d);
    d = lap_fashion_mnist_load(NULL, 1, 100, 0);
    CHECK(d && d->n == 100, "fashion_mnist train limit 100");
    lap_dataset_release(d);
}

/* ------------------------------------------------------------- operations */

static void test_stats_normalize(void)
{
    /* x (2, 2, 1, 2): channel 0 holds 1, 2, 3, 4; channel 1 holds 5, 5, 7, 7. */
    int64_t shape[4] = {2, 2, 1, 2};
    const float values[8] = {1, 2, 5, 5, 3, 4, 7, 7};
    lap_tensor *x = lap_tensor_from_data(4, shape, values);
    double mean[2], std[2];
    CHECK(lap_images_channel_stats(x, mean, std) == LAP_OK, "stats: %s", lap_last_error());
    CHECK(fabs(mean[0] - 2.5) < 1e-12 && fabs(mean[1] - 6.0) < 1e-12, "stats: means %g %g", mean[0], mean[1]);
    CHECK(fabs(std[0] - sqrt(1.25)) < 1e-12 && fabs(std[1] - 1.0) < 1e-12, "stats: stds %g %g", std[0], std[1]);
    CHECK(lap_images_normalize(x, 2, mean, std) == LAP_OK, "normalize: %s", lap_last_error());
    const float *out = lap_data(x);
    CHECK(fabsf(out[0] - (float)(-1.5 / sqrt(1.25))) < 1e-6f && out[2] == -1.0f && out[7] == 1.0f,
          "normalize: wrong values");
    double after_mean[2], after_std[2];
    lap_images_channel_stats(x, after_mean, after_std);
    CHECK(fabs(after_mean[0]) < 1e-7 && fabs(after_std[0] - 1) < 1e-6 && fabs(after_std[1] - 1) < 1e-6,
          "normalize: statistics after");
    double zero[2] = {0, 0};
    CHECK(lap_images_normalize(x, 2, mean, zero) == LAP_ERR && contains(lap_last_error(), "std[1]"),
          "normalize: std 0 must fail: %s", lap_last_error());
    CHECK(lap_images_normalize(x, 3, mean, std) == LAP_ERR && contains(lap_last_error(), "2 channels"),
          "normalize: channel count: %s", lap_last_error());
    lap_tensor_release(x);
}

static lap_dataset *labelled_points(int64_t n, int classes)
{
    lap_tensor *x = lap_tensor_new2(n, 1);
    int32_t *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) {
        lap_data(x)[i] = (float)i;
        y[i] = (int32_t)(i % classes);
    }
    lap_dataset *d = lap_dataset_new(x, y);
    free(y);
    return d;
}

static void test_random_rows(void)
{
    lap_dataset *d = labelled_points(100, 4);
    int64_t rows[100], again[100], perm[100];
    lap_rng rng;
    lap_rng_seed(&rng, 7);
    CHECK(lap_dataset_random_rows(d, 30, 0, &rng, rows) == LAP_OK, "random_rows: %s", lap_last_error());
    lap_rng_seed(&rng, 7);
    lap_dataset_random_rows(d, 30, 0, &rng, again);
    lap_rng_seed(&rng, 7);
    lap_rng_permutation(&rng, perm, 100);
    CHECK(memcmp(rows, again, sizeof(int64_t) * 30) == 0, "random_rows: not reproducible");
    CHECK(memcmp(rows, perm, sizeof(int64_t) * 30) == 0, "random_rows: not permutation(n)[:size]");

    lap_rng_seed(&rng, 7);
    CHECK(lap_dataset_random_rows(d, 40, 1, &rng, rows) == LAP_OK, "balanced: %s", lap_last_error());
    int counts[4] = {0};
    int distinct = 1;
    for (int i = 0; i < 40; i++) {
        counts[d->y[rows[i]]]++;
        for (int j = 0; j < i; j++)
            distinct &= rows[i] != rows[j];
    }
    CHECK(counts[0] == 10 && counts[1] == 10 && counts[2] == 10 && counts[3] == 10 && distinct,
          "balanced: counts %d %d %d %d", counts[0], counts[1], counts[2], counts[3]);
    lap_rng_seed(&rng, 7);
    CHECK(lap_dataset_random_rows(d, 42, 1, &rng, rows) == LAP_ERR && contains(lap_last_error(), "multiple of the 4"),
          "balanced 42 of 4 classes: %s", lap_last_error());
    lap_rng_seed(&rng, 7);
    CHECK(lap_dataset_random_rows(d, 100, 1, &rng, rows) == LAP_OK, "balanced everything");
    lap_dataset_release(d);

    /* Unbalanced classes: 0 has 9 rows (0, 10, ...), 1 has 1 row. */
    d = labelled_points(10, 10);
    for (int i = 1; i < 9; i++)
        d->y[i] = 0;
    d->y[9] = 1;
    d->nclasses = 2;
    lap_rng_seed(&rng, 1);
    CHECK(lap_dataset_random_rows(d, 4, 1, &rng, rows) == LAP_ERR &&
              contains(lap_last_error(), "class 1 has only 1 rows"),
          "balanced impossible: %s", lap_last_error());
    CHECK(lap_dataset_random_rows(d, 11, 0, &rng, rows) == LAP_ERR && contains(lap_last_error(), "[1, 10]"),
          "size above n: %s", lap_last_error());
    lap_dataset_release(d);
}

/* The augmentation by its definition: zero-pad by crop, take the H x W window
 * at (top, left), mirror it when flipped. */
static float reference_pixel(const float *plane, int64_t h, int64_t w, int crop, int64_t top, int64_t left,
                             int mirrored, int64_t y, int64_t x)
{
    int64_t cx = mirrored ? w - 1 - x : x;
    int64_t py = y + top, px = cx + left;   /* in the padded image */
    int64_t sy = py - crop, sx = px - crop;
    return sy >= 0 && sy < h && sx >= 0 && sx < w ? plane[sy * w + sx] : 0.0f;
}

static void test_augment(void)
{
    int64_t n = 64, c = 2, h = 5, w = 6;
    int64_t shape[4] = {n, c, h, w};
    lap_tensor *x = lap_tensor_new(4, shape);
    for (int64_t k = 0; k < lap_numel(x); k++)
        lap_data(x)[k] = 1.0f + (float)(k % 97);   /* no zeros: padding is visible */
    int32_t *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++)
        y[i] = (int32_t)(i % 5);
    lap_dataset *d = lap_dataset_new(x, y);
    free(y);

    /* crop 0, no flip: a copy. */
    lap_rng rng;
    lap_rng_seed(&rng, 3);
    lap_dataset *a = lap_images_augment(d, 0, 0, &rng);
    CHECK(a && memcmp(lap_data(a->x), lap_data(d->x), sizeof(float) * (size_t)lap_numel(x)) == 0,
          "augment crop 0 no flip must copy");
    CHECK(a && lap_data(a->x) != lap_data(d->x), "augment must return new storage");
    lap_dataset_release(a);

    /* crop 2 with flip, against the definition with the same draws. */
    int crop = 2;
    lap_rng_seed(&rng, 11);
    a = lap_images_augment(d, crop, 1, &rng);
    CHECK(a != NULL, "augment: %s", lap_last_error());
    if (a) {
        lap_rng draws;
        lap_rng_seed(&draws, 11);
        int bad = 0, flips = 0, shifted = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t top = (int64_t)lap_rng_interval(&draws, 2 * crop);
            int64_t left = (int64_t)lap_rng_interval(&draws, 2 * crop);
            int mirrored = lap_rng_uniform(&draws) < 0.5;
            flips += mirrored;
            shifted += top != crop || left != crop;
            for (int64_t ch = 0; ch < c; ch++) {
                const float *plane = lap_data(d->x) + (i * c + ch) * h * w;
                const float *result = lap_data(a->x) + (i * c + ch) * h * w;
                for (int64_t yy = 0; yy < h; yy++)
                    for (int64_t xx = 0; xx < w; xx++)
                        if (result[yy * w + xx] != reference_pixel(plane, h, w, crop, top, left, mirrored, yy, xx))
                            bad++;
            }
            if (a->y[i] != d->y[i])
                bad++;
        }
        CHECK(bad == 0, "augment: %d pixels or labels differ from the definition", bad);
        CHECK(flips > 10 && flips < 54, "augment: %d of 64 images flipped", flips);
        CHECK(shifted > 32, "augment: only %d of 64 images shifted", shifted);
        CHECK(a->nclasses == d->nclasses && a->n == d->n && lap_same_shape(a->x, d->x), "augment: shape or classes");
    }
    lap_dataset_release(a);

    lap_rng_seed(&rng, 1);
    CHECK(lap_images_augment(d, 6, 1, &rng) == NULL && contains(lap_last_error(), "crop must be in [0, 5]"),
          "augment crop too large: %s", lap_last_error());
    lap_dataset_release(d);

    lap_dataset *flat = labelled_points(4, 2);
    CHECK(lap_images_augment(flat, 1, 1, &rng) == NULL && contains(lap_last_error(), "(N, C, H, W)"),
          "augment of rank 2: %s", lap_last_error());
    lap_dataset_release(flat);
}

/* Removes the files this test wrote (one level of subdirectories). */
static void remove_tree(const char *dir)
{
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        fprintf(stderr, "test_images: could not remove %s\n", dir);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(temp_dir, sizeof temp_dir, "%s/lap-test-images-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(temp_dir)) {
        fprintf(stderr, "test_images: cannot create a temporary directory: %s\n", strerror(errno));
        return 2;
    }
    test_idx_valid();
    test_mnist_directory();
    test_cifar_valid();
    test_stats_normalize();
    test_random_rows();
    test_augment();
    test_fashion_mnist();
    limit_address_space();
    test_idx_malformed();
    test_cifar_malformed();
    remove_tree(temp_dir);
    return check_summary("test_images");
}
