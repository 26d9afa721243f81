/* tensor.h: float32 tensors, the runtime's only numeric container.
 *
 * A tensor is a view (offset + shape) on a reference-counted storage.  Tensors
 * are always contiguous (row-major): reshape, narrowing along the first dimension
 * and selecting a row are views that share storage; anything else copies.
 * A tensor is itself reference counted (lap_tensor_retain / lap_tensor_release)
 * so that a module can keep its input alive between forward and backward, and
 * so that Lua userdata can hold one reference.  Ranks go up to LAP_MAX_DIMS.
 *
 * Reductions accumulate in double.  Products go through cblas_sgemm, except for
 * tiny matrices where a plain loop is faster than the BLAS call.
 */
#ifndef LAP_TENSOR_H
#define LAP_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define LAP_MAX_DIMS 6

typedef struct lap_storage {
    float *data;
    int64_t capacity;   /* floats allocated */
    int refcount;
} lap_storage;

typedef struct lap_tensor {
    lap_storage *storage;
    int64_t offset;     /* in floats */
    int ndim;
    int64_t shape[LAP_MAX_DIMS];
    int refcount;
} lap_tensor;

/* Construction: all return NULL (with lap_error set) on bad shape or no memory. */
lap_tensor *lap_tensor_new(int ndim, const int64_t *shape);           /* zero-filled */
lap_tensor *lap_tensor_new2(int64_t rows, int64_t cols);               /* zero-filled */
lap_tensor *lap_tensor_from_data(int ndim, const int64_t *shape, const float *data);
lap_tensor *lap_tensor_clone(const lap_tensor *t);
lap_tensor *lap_tensor_retain(lap_tensor *t);
void lap_tensor_release(lap_tensor *t);                               /* NULL-safe */

/* Views sharing storage. */
lap_tensor *lap_tensor_reshape(lap_tensor *t, int ndim, const int64_t *shape); /* -1 infers one dim */
lap_tensor *lap_tensor_narrow(lap_tensor *t, int64_t start, int64_t length);   /* along dim 0 */
lap_tensor *lap_tensor_select(lap_tensor *t, int64_t index);                   /* row of dim 0 */

/* Reusable buffers: makes *t have this shape, reallocating only when its storage
 * is too small or shared.  Contents are unspecified afterwards.  Creates *t if NULL. */
int lap_tensor_ensure(lap_tensor **t, int ndim, const int64_t *shape);
int lap_tensor_ensure_like(lap_tensor **t, const lap_tensor *like);

/* Recomputation (activations not kept between forward and backward): evicting a
 * tensor gives its storage back (to the pool) while the tensor keeps its shape and
 * its holders; lap_tensor_ensure gives it storage again.  Its data must not be read
 * meanwhile.  Only a tensor that alone uses its whole storage is evicted: returns 1
 * if t is evicted afterwards, 0 if it was left as it was. */
int lap_tensor_evict(lap_tensor *t);
extern lap_storage lap_evicted_storage;
static inline int lap_tensor_is_evicted(const lap_tensor *t) { return t->storage == &lap_evicted_storage; }

/* Moves the values of n tensors into one new storage, in order, and makes each
 * tensor a view on it (the tensors keep their identity and shape): a loop over many
 * small parameters then becomes one loop.  Returns the 1-D view over all of them,
 * or NULL when one of them shares its storage or appears twice, or memory is short
 * (the tensors stay valid).  Tensors already laid out so (gathered before) are left
 * in place and the view is over their storage.  lap_tensor_gathered says whether they are still laid
 * out that way. */
lap_tensor *lap_tensor_gather(lap_tensor **tensors, int n);
int lap_tensor_gathered(lap_tensor *const *tensors, int n, const lap_tensor *flat);
/* A counter (from 1) that changes whenever a tensor whose storage was shared gets
 * another storage (lap_tensor_gather, lap_tensor_ensure): while it has not changed,
 * a layout lap_tensor_gathered confirmed still holds. */
uint64_t lap_tensor_layout_generation(void);

static inline float *lap_data(const lap_tensor *t) { return t->storage->data + t->offset; }
static inline int64_t lap_numel(const lap_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}
int lap_same_shape(const lap_tensor *a, const lap_tensor *b);
/* "[2, 3]" into buf (for error messages); returns buf. */
char *lap_shape_str(const lap_tensor *t, char *buf, size_t size);
#define LAP_SHAPE_BUF 96
int64_t lap_rows(const lap_tensor *t);    /* shape[0] (1 for a scalar) */
int64_t lap_cols(const lap_tensor *t);    /* product of the other dims */

/* Elementwise and reductions on contiguous data (count floats). */
void lap_fill(float *out, float value, int64_t count);
void lap_copy(float *out, const float *in, int64_t count);
void lap_axpy(float *out, float alpha, const float *in, int64_t count);   /* out += alpha*in */
void lap_scale(float *out, float alpha, int64_t count);
double lap_sum(const float *in, int64_t count);
double lap_sum_squares(const float *in, int64_t count);

/* Binary ops with broadcasting of b when b has one element or b's shape equals
 * the trailing dims of a.  op is one of '+', '-', '*', '/'.  Returns a new tensor. */
lap_tensor *lap_tensor_binary(const lap_tensor *a, const lap_tensor *b, char op);
lap_tensor *lap_tensor_scalar_op(const lap_tensor *a, double s, char op, int scalar_first);
/* Matrix product of 2-D tensors: (M,K) x (K,N). */
lap_tensor *lap_tensor_matmul(const lap_tensor *a, const lap_tensor *b);

/* out = alpha * op(A) op(B) + beta * out, row-major, like cblas_sgemm.
 * out: (M, N), A: (M, K) or (K, M) if trans_a, B: (K, N) or (N, K) if trans_b. */
void lap_gemm(float *out, const float *a, const float *b, int trans_a, int trans_b,
              int64_t M, int64_t N, int64_t K, float alpha, float beta);

#endif
