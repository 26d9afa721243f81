/* dataset.h: a labelled dataset held in memory: inputs x (N, ...) and labels y (N). */
#ifndef LAP_DATASET_H
#define LAP_DATASET_H

#include "core/tensor.h"

typedef struct lap_dataset {
    lap_tensor *x;       /* (N, ...) */
    int32_t *y;          /* N labels */
    int64_t n;
    int nclasses;        /* 1 + max label */
    int refcount;
} lap_dataset;

/* Takes ownership of x (one reference) and copies labels. */
lap_dataset *lap_dataset_new(lap_tensor *x, const int32_t *y);
/* Rows in the given order (a copy). */
lap_dataset *lap_dataset_subset(const lap_dataset *d, const int64_t *rows, int64_t count);
lap_dataset *lap_dataset_retain(lap_dataset *d);
void lap_dataset_release(lap_dataset *d);
/* Gathers rows into x_out (resized) and y_out (count labels). */
int lap_dataset_gather(const lap_dataset *d, const int64_t *rows, int64_t count,
                       lap_tensor **x_out, int32_t *y_out);

#endif
