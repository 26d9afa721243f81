/* dataset.c: in-memory labelled datasets (see dataset.h).
 *
 * A dataset owns one reference of its input tensor x (N, ...) and a private copy
 * of the N labels.  Rows are lap_cols(x) contiguous floats, so gathering rows is
 * a sequence of memcpy.  Datasets are reference counted like tensors so that Lua
 * userdata and a trainer can share one.  Not thread safe (plain int refcount).
 * Limits: labels are int32 class indices >= 0; a subset keeps its parent's
 * number of classes, so a split whose part misses the top class still reports
 * the full label space (a model's output width must not depend on the split).
 */
#include "train/dataset.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int check_rows(const lap_dataset *d, const int64_t *rows, int64_t count, const char *where)
{
    if (count < 0)
        return lap_error("%s: row count must be >= 0, got %lld", where, (long long)count);
    if (count > 0 && !rows)
        return lap_error("%s: rows must not be NULL", where);
    for (int64_t i = 0; i < count; i++)
        if (rows[i] < 0 || rows[i] >= d->n)
            return lap_error("%s: row %lld out of range [0, %lld)", where, (long long)rows[i],
                             (long long)d->n);
    return LAP_OK;
}

lap_dataset *lap_dataset_new(lap_tensor *x, const int32_t *y)
{
    /* Ownership of x passes to us even on failure, so callers never leak it. */
    if (!x) {
        lap_error("dataset: x must not be NULL");
        return NULL;
    }
    if (x->ndim < 1) {
        lap_error("dataset: x must have at least one dimension (rows), got a scalar");
        lap_tensor_release(x);
        return NULL;
    }
    int64_t n = x->shape[0];
    if (n > 0 && !y) {
        lap_error("dataset: labels must not be NULL");
        lap_tensor_release(x);
        return NULL;
    }
    int32_t max_label = -1;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0) {
            lap_error("dataset: labels must be >= 0, got %d at row %lld", (int)y[i], (long long)i);
            lap_tensor_release(x);
            return NULL;
        }
        if (y[i] > max_label)
            max_label = y[i];
    }
    lap_dataset *d = lap_calloc(1, sizeof *d);
    int32_t *labels = lap_malloc((size_t)n * sizeof *labels);
    if (!d || !labels) {
        free(d);
        free(labels);
        lap_tensor_release(x);
        return NULL;
    }
    if (n > 0)
        memcpy(labels, y, (size_t)n * sizeof *labels);
    d->x = x;
    d->y = labels;
    d->n = n;
    d->nclasses = max_label + 1;
    d->refcount = 1;
    return d;
}

int lap_dataset_gather(const lap_dataset *d, const int64_t *rows, int64_t count,
                       lap_tensor **x_out, int32_t *y_out)
{
    if (!d || !x_out)
        return lap_error("dataset.gather: dataset and output must not be NULL");
    if (check_rows(d, rows, count, "dataset.gather") != LAP_OK)
        return LAP_ERR;
    int64_t shape[LAP_MAX_DIMS];
    memcpy(shape, d->x->shape, sizeof shape);
    shape[0] = count;
    if (lap_tensor_ensure(x_out, d->x->ndim, shape) != LAP_OK)
        return LAP_ERR;
    int64_t width = lap_cols(d->x);
    const float *src = lap_data(d->x);
    float *dst = lap_data(*x_out);
    for (int64_t i = 0; i < count; i++) {
        if (width > 0)
            memcpy(dst + i * width, src + rows[i] * width, (size_t)width * sizeof *dst);
        if (y_out)
            y_out[i] = d->y[rows[i]];
    }
    return LAP_OK;
}

lap_dataset *lap_dataset_subset(const lap_dataset *d, const int64_t *rows, int64_t count)
{
    if (!d) {
        lap_error("dataset.subset: dataset must not be NULL");
        return NULL;
    }
    if (check_rows(d, rows, count, "dataset.subset") != LAP_OK)
        return NULL;
    int32_t *labels = lap_malloc((size_t)count * sizeof *labels);
    if (!labels)
        return NULL;
    lap_tensor *x = NULL;
    if (lap_dataset_gather(d, rows, count, &x, labels) != LAP_OK) {
        free(labels);
        lap_tensor_release(x);
        return NULL;
    }
    lap_dataset *sub = lap_dataset_new(x, labels);
    free(labels);
    if (sub && sub->nclasses < d->nclasses)
        sub->nclasses = d->nclasses;
    return sub;
}

lap_dataset *lap_dataset_retain(lap_dataset *d)
{
    if (d)
        d->refcount++;
    return d;
}

void lap_dataset_release(lap_dataset *d)
{
    if (!d || --d->refcount > 0)
        return;
    lap_tensor_release(d->x);
    free(d->y);
    free(d);
}
