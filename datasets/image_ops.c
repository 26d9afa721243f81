/* image_ops.c: operations on image datasets for the MNIST / CIFAR experiments:
 * per-channel statistics and normalization, seeded random (optionally
 * class-balanced) subsets, and random crop + horizontal flip augmentation.
 *
 * Channels are dimension 1 of x (N, C, ...), the NCHW layout the loaders
 * produce; a rank-2 x (N, D) is treated as D channels of one value each.
 * Statistics accumulate in double.  Augmentation follows the usual CIFAR recipe
 * (torchvision's RandomCrop(32, padding=4) then RandomHorizontalFlip()): the
 * padding is zeros in whatever units x holds, so augmenting before normalizing
 * pads with black, after normalizing pads with the mean.
 * Limits: augmentation needs rank-4 x; random draws come from the caller's
 * lap_rng, one documented sequence per image (see images.h).
 */
#include "images.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Size of the dimensions after the channel: the contiguous run of one channel of one row. */
static int64_t channel_run(const lap_tensor *x)
{
    int64_t run = 1;
    for (int i = 2; i < x->ndim; i++)
        run *= x->shape[i];
    return run;
}

int lap_images_channel_stats(const lap_tensor *x, double *mean, double *std)
{
    if (!x || !mean || !std)
        return lap_error("images.stats: arguments must not be NULL");
    if (x->ndim < 2)
        return lap_error("images.stats: x must be (N, C, ...), got %d dimension%s", x->ndim,
                         x->ndim == 1 ? "" : "s");
    int64_t rows = x->shape[0], channels = x->shape[1], run = channel_run(x);
    if (rows * run == 0)
        return lap_error("images.stats: x has no values per channel");
    const float *data = lap_data(x);
    double count = (double)(rows * run);
    for (int64_t c = 0; c < channels; c++) {
        double sum = 0.0;
        for (int64_t i = 0; i < rows; i++)
            sum += lap_sum(data + (i * channels + c) * run, run);
        mean[c] = sum / count;
        /* Second pass around the mean: no cancellation as with E[x^2] - E[x]^2. */
        double squares = 0.0;
        for (int64_t i = 0; i < rows; i++) {
            const float *block = data + (i * channels + c) * run;
            for (int64_t k = 0; k < run; k++) {
                double d = (double)block[k] - mean[c];
                squares += d * d;
            }
        }
        std[c] = sqrt(squares / count);
    }
    return LAP_OK;
}

int lap_images_normalize(lap_tensor *x, int channels, const double *mean, const double *std)
{
    if (!x || !mean || !std)
        return lap_error("images.normalize: arguments must not be NULL");
    if (x->ndim < 2)
        return lap_error("images.normalize: x must be (N, C, ...), got %d dimension%s", x->ndim,
                         x->ndim == 1 ? "" : "s");
    if (channels != x->shape[1])
        return lap_error("images.normalize: x has %lld channels (dimension 2) but %d means/stds were given",
                         (long long)x->shape[1], channels);
    for (int c = 0; c < channels; c++) {
        if (!isfinite(mean[c]))
            return lap_error("images.normalize: mean[%d] must be finite, got %g", c + 1, mean[c]);
        if (!(std[c] > 0.0) || !isfinite(std[c]))
            return lap_error("images.normalize: std[%d] must be > 0 and finite, got %g%s", c + 1, std[c],
                             std[c] == 0.0 ? " (a constant channel cannot be normalized)" : "");
    }
    int64_t rows = x->shape[0], run = channel_run(x);
    float *data = lap_data(x);
    for (int64_t i = 0; i < rows; i++)
        for (int c = 0; c < channels; c++) {
            float *block = data + (i * channels + c) * run;
            double m = mean[c], inv = 1.0 / std[c];
            for (int64_t k = 0; k < run; k++)
                block[k] = (float)(((double)block[k] - m) * inv);
        }
    return LAP_OK;
}

int lap_dataset_random_rows(const lap_dataset *d, int64_t size, int balanced, lap_rng *rng, int64_t *rows)
{
    if (!d || !rng || !rows)
        return lap_error("dataset.random_rows: arguments must not be NULL");
    if (size < 1 || size > d->n)
        return lap_error("dataset.random_rows: size must be in [1, %lld], got %lld", (long long)d->n,
                         (long long)size);
    int64_t *order = lap_malloc((size_t)d->n * sizeof *order);
    if (!order)
        return LAP_ERR;
    lap_rng_permutation(rng, order, d->n);
    if (!balanced) {
        memcpy(rows, order, (size_t)size * sizeof *rows);
        free(order);
        return LAP_OK;
    }
    int classes = d->nclasses;
    if (classes < 1 || size % classes != 0) {
        free(order);
        return lap_error("dataset.random_rows: a balanced subset needs a size that is a multiple of the %d "
                         "classes, got %lld", classes, (long long)size);
    }
    int64_t per_class = size / classes;
    int64_t *taken = lap_calloc((size_t)classes, sizeof *taken);
    if (!taken) {
        free(order);
        return LAP_ERR;
    }
    int64_t count = 0;
    for (int64_t i = 0; i < d->n && count < size; i++) {
        int32_t label = d->y[order[i]];
        if (taken[label] < per_class) {
            taken[label]++;
            rows[count++] = order[i];
        }
    }
    int status = LAP_OK;
    if (count < size)
        for (int c = 0; c < classes; c++)
            if (taken[c] < per_class) {   /* then taken[c] is all the class has */
                status = lap_error("dataset.random_rows: class %d has only %lld rows, a balanced subset of %lld "
                                   "needs %lld per class", c, (long long)taken[c], (long long)size,
                                   (long long)per_class);
                break;
            }
    free(taken);
    free(order);
    return status;
}

lap_dataset *lap_images_augment(const lap_dataset *d, int crop, int flip, lap_rng *rng)
{
    if (!d || !rng) {
        lap_error("images.augment: arguments must not be NULL");
        return NULL;
    }
    const lap_tensor *in = d->x;
    if (in->ndim != 4) {
        char shape[LAP_SHAPE_BUF];
        lap_error("images.augment: x must be (N, C, H, W), got shape %s", lap_shape_str(in, shape, sizeof shape));
        return NULL;
    }
    int64_t rows = in->shape[0], channels = in->shape[1], height = in->shape[2], width = in->shape[3];
    int64_t smaller = height < width ? height : width;
    if (crop < 0 || crop > smaller) {
        lap_error("images.augment: crop must be in [0, %lld] (the image side), got %d", (long long)smaller, crop);
        return NULL;
    }
    lap_tensor *out = lap_tensor_new(4, in->shape);   /* zeros: the padding */
    if (!out)
        return NULL;
    const float *source = lap_data(in);
    float *target = lap_data(out);
    for (int64_t i = 0; i < rows; i++) {
        /* The crop window's corner in the padded image, minus the padding:
         * output pixel (y, x) comes from input (y + dy, x + dx). */
        int64_t dy = crop > 0 ? (int64_t)lap_rng_interval(rng, 2 * (uint64_t)crop) - crop : 0;
        int64_t dx = crop > 0 ? (int64_t)lap_rng_interval(rng, 2 * (uint64_t)crop) - crop : 0;
        int mirrored = flip && lap_rng_uniform(rng) < 0.5;
        for (int64_t c = 0; c < channels; c++) {
            const float *plane = source + (i * channels + c) * height * width;
            float *result = target + (i * channels + c) * height * width;
            for (int64_t y = 0; y < height; y++) {
                int64_t sy = y + dy;
                if (sy < 0 || sy >= height)
                    continue;
                for (int64_t x = 0; x < width; x++) {
                    /* Flip after crop: column x of the output is column W-1-x of the crop. */
                    int64_t sx = (mirrored ? width - 1 - x : x) + dx;
                    if (sx >= 0 && sx < width)
                        result[y * width + x] = plane[sy * width + sx];
                }
            }
        }
    }
    lap_dataset *augmented = lap_dataset_new(out, d->y);
    if (augmented)
        augmented->nclasses = d->nclasses;
    return augmented;
}
