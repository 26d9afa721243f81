/* tensor.c: float32 tensors on reference-counted storage (the contract is tensor.h).
 *
 * Limits: tensors are always contiguous; the only views are reshape, narrowing
 * along dim 0 and selecting a row of dim 0.  Broadcasting in lap_tensor_binary
 * covers a one-element operand and an operand whose shape is the trailing dims of
 * the other (in either order), nothing more general.  lap_gemm hands sizes above
 * INT_MAX to its plain loop, since cblas takes `int` dimensions.
 */
#include "core/tensor.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kernels.h"
#include "core/parallel.h"

/* Below this many multiply-adds (M*N*K) lap_gemm uses a plain loop instead of
 * cblas_sgemm.  Measured on x86-64 with OpenBLAS 0.3.21 (pthread, which has a
 * small-matrix path): the loop costs about 1.3 ns per multiply-add, the BLAS call
 * about 30-120 ns fixed.  The loop only wins below roughly 100 multiply-adds
 * (e.g. 10x2x2), and only for transposed B; from 32x2x2 on BLAS is as fast or
 * faster in all four cases, so the threshold is small.  Retune if the BLAS changes. */
#define LAP_GEMM_SMALL 64

/* Keeps numel * sizeof(float) representable in size_t and int64_t. */
#define LAP_MAX_NUMEL ((int64_t)1 << 60)

/* ---- shapes ---- */

static void format_shape(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

char *lap_shape_str(const lap_tensor *t, char *buf, size_t size)
{
    format_shape(t->ndim, t->shape, buf, size);
    return buf;
}

/* Checks rank and dims (all >= 0, product bounded); stores the element count. */
static int check_shape(int ndim, const int64_t *shape, int64_t *numel_out)
{
    char text[LAP_SHAPE_BUF];
    if (ndim < 0 || ndim > LAP_MAX_DIMS)
        return lap_error("tensor: %d dimensions requested, at most %d supported", ndim, LAP_MAX_DIMS);
    if (ndim > 0 && !shape)
        return lap_error("tensor: missing shape");
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            format_shape(ndim, shape, text, sizeof text);
            return lap_error("tensor: negative dimension in shape %s", text);
        }
        if (shape[i] > 0 && numel > LAP_MAX_NUMEL / shape[i]) {
            format_shape(ndim, shape, text, sizeof text);
            return lap_error("tensor: shape %s has too many elements", text);
        }
        numel *= shape[i];
    }
    *numel_out = numel;
    return LAP_OK;
}

int lap_same_shape(const lap_tensor *a, const lap_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

int64_t lap_rows(const lap_tensor *t)
{
    return t->ndim > 0 ? t->shape[0] : 1;
}

int64_t lap_cols(const lap_tensor *t)
{
    int64_t n = 1;
    for (int i = 1; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* ---- storage ---- */

/* Large storages whose last tensor went away wait here for the next tensor of a
 * similar size instead of going back to malloc: a training step drops each input
 * gradient once it has been consumed (lap_module_drop_grad_input), and the next
 * module's gradient takes that memory, so a network's backward pass lives in a
 * few buffers instead of one per module, without allocating in steady state.
 * A storage is reused for a request of at least half its capacity. */
#define POOL_SLOTS 12
#define POOL_MIN_FLOATS 16384
#define SMALL_FLOATS 1024   /* storages below this hold their data inline */
static lap_storage *pool[POOL_SLOTS];
static int pool_count;

static lap_storage *pool_take(int64_t capacity)
{
    lap_storage *found = NULL;
#pragma omp critical(lap_storage_pool)
    {
        int best = -1;
        for (int i = 0; i < pool_count; i++)
            if (pool[i]->capacity >= capacity && pool[i]->capacity / 2 <= capacity &&
                (best < 0 || pool[i]->capacity < pool[best]->capacity))
                best = i;
        if (best >= 0) {
            found = pool[best];
            pool[best] = pool[--pool_count];
        }
    }
    return found;
}

static int pool_give(lap_storage *s)
{
    int kept = 0;
    if (s->capacity < POOL_MIN_FLOATS)
        return 0;
#pragma omp critical(lap_storage_pool)
    {
        if (pool_count < POOL_SLOTS) {
            pool[pool_count++] = s;
            kept = 1;
        }
    }
    return kept;
}

static lap_storage *storage_new(int64_t capacity, int zeroed)
{
    lap_storage *s = capacity >= POOL_MIN_FLOATS ? pool_take(capacity) : NULL;
    if (s) {
        if (zeroed)
            memset(s->data, 0, (size_t)capacity * sizeof(float));
        s->refcount = 1;
        return s;
    }
    size_t bytes = (size_t)capacity * sizeof(float);
    if (capacity < SMALL_FLOATS) {
        /* Small: the data right after the header, in one block: a deep network of
         * tiny layers chases one pointer less per tensor access (cache misses are
         * most of such a step's time). */
        s = zeroed ? lap_calloc(1, sizeof *s + bytes) : lap_malloc(sizeof *s + bytes);
        if (!s)
            return NULL;
        s->data = (float *)(s + 1);
    } else {
        s = lap_malloc(sizeof *s);
        if (!s)
            return NULL;
        s->data = zeroed ? lap_calloc((size_t)capacity, sizeof(float)) : lap_malloc(bytes);
        if (!s->data) {
            free(s);
            return NULL;
        }
    }
    s->capacity = capacity;
    s->refcount = 1;
    return s;
}

static uint64_t layout_generation = 1;

uint64_t lap_tensor_layout_generation(void) { return __atomic_load_n(&layout_generation, __ATOMIC_RELAXED); }

static void layout_changed(void) { __atomic_fetch_add(&layout_generation, 1, __ATOMIC_RELAXED); }

/* The storage of every evicted tensor: no data, never freed. */
lap_storage lap_evicted_storage = {NULL, 0, 1};
#define evicted_storage lap_evicted_storage

static void storage_release(lap_storage *s)
{
    if (s == &evicted_storage)
        return;
    if (s && --s->refcount == 0 && !pool_give(s)) {
        if (s->data != (float *)(s + 1))
            free(s->data);
        free(s);
    }
}

/* ---- construction ---- */

static lap_tensor *tensor_alloc(int ndim, const int64_t *shape, int zeroed)
{
    int64_t numel = 0;
    if (check_shape(ndim, shape, &numel) != LAP_OK)
        return NULL;
    lap_tensor *t = lap_malloc(sizeof *t);
    if (!t)
        return NULL;
    memset(t, 0, sizeof *t);
    t->storage = storage_new(numel, zeroed);
    if (!t->storage) {
        free(t);
        return NULL;
    }
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->refcount = 1;
    return t;
}

lap_tensor *lap_tensor_new(int ndim, const int64_t *shape)
{
    return tensor_alloc(ndim, shape, 1);
}

lap_tensor *lap_tensor_new2(int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return tensor_alloc(2, shape, 1);
}

lap_tensor *lap_tensor_from_data(int ndim, const int64_t *shape, const float *data)
{
    lap_tensor *t = tensor_alloc(ndim, shape, 0);
    if (!t)
        return NULL;
    int64_t n = lap_numel(t);
    if (n > 0)
        memcpy(lap_data(t), data, (size_t)n * sizeof(float));
    return t;
}

lap_tensor *lap_tensor_clone(const lap_tensor *t)
{
    if (lap_tensor_is_evicted(t)) {
        lap_error("tensor: not kept after the forward pass (it is recomputed for the backward pass)");
        return NULL;
    }
    return lap_tensor_from_data(t->ndim, t->shape, lap_data(t));
}

lap_tensor *lap_tensor_retain(lap_tensor *t)
{
    if (t)
        t->refcount++;
    return t;
}

void lap_tensor_release(lap_tensor *t)
{
    if (t && --t->refcount == 0) {
        storage_release(t->storage);
        free(t);
    }
}

/* ---- views ---- */

static lap_tensor *view_of(lap_tensor *t, int ndim, const int64_t *shape, int64_t offset)
{
    lap_tensor *v = lap_malloc(sizeof *v);
    if (!v)
        return NULL;
    memset(v, 0, sizeof *v);
    v->storage = t->storage;
    v->storage->refcount++;
    v->offset = offset;
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        v->shape[i] = shape[i];
    v->refcount = 1;
    return v;
}

lap_tensor *lap_tensor_reshape(lap_tensor *t, int ndim, const int64_t *shape)
{
    char from[LAP_SHAPE_BUF], to[LAP_SHAPE_BUF];
    if (ndim < 0 || ndim > LAP_MAX_DIMS) {
        lap_error("tensor: reshape to %d dimensions, at most %d supported", ndim, LAP_MAX_DIMS);
        return NULL;
    }
    int64_t numel = lap_numel(t);
    int64_t resolved[LAP_MAX_DIMS];
    int inferred = -1;
    int64_t known = 1;
    lap_shape_str(t, from, sizeof from);
    format_shape(ndim, shape, to, sizeof to);
    for (int i = 0; i < ndim; i++) {
        resolved[i] = shape[i];
        if (shape[i] == -1) {
            if (inferred >= 0) {
                lap_error("tensor: reshape of %s to %s: only one dimension can be -1", from, to);
                return NULL;
            }
            inferred = i;
        } else if (shape[i] < 0) {
            lap_error("tensor: reshape of %s to %s: negative dimension", from, to);
            return NULL;
        } else {
            if (shape[i] > 0 && known > LAP_MAX_NUMEL / shape[i]) {
                lap_error("tensor: reshape of %s to %s: too many elements", from, to);
                return NULL;
            }
            known *= shape[i];
        }
    }
    if (inferred >= 0) {
        if (known == 0 || numel % known != 0) {
            lap_error("tensor: reshape of %s (%lld elements) to %s: cannot infer the -1 dimension",
                      from, (long long)numel, to);
            return NULL;
        }
        resolved[inferred] = numel / known;
        known = numel;
    }
    if (known != numel) {
        lap_error("tensor: reshape of %s (%lld elements) to %s (%lld elements)", from, (long long)numel,
                  to, (long long)known);
        return NULL;
    }
    return view_of(t, ndim, resolved, t->offset);
}

lap_tensor *lap_tensor_narrow(lap_tensor *t, int64_t start, int64_t length)
{
    char text[LAP_SHAPE_BUF];
    if (t->ndim < 1) {
        lap_error("tensor: narrow of a 0-dimensional tensor");
        return NULL;
    }
    /* Rows are reported half-open, start..start+length, 0-based. */
    if (start < 0 || length < 0 || start > t->shape[0] || length > t->shape[0] - start) {
        lap_error("tensor: narrow %s rows %lld..%lld out of range", lap_shape_str(t, text, sizeof text),
                  (long long)start, (long long)(start + length));
        return NULL;
    }
    int64_t shape[LAP_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = length;
    return view_of(t, t->ndim, shape, t->offset + start * lap_cols(t));
}

lap_tensor *lap_tensor_select(lap_tensor *t, int64_t index)
{
    char text[LAP_SHAPE_BUF];
    if (t->ndim < 1) {
        lap_error("tensor: select on a 0-dimensional tensor");
        return NULL;
    }
    if (index < 0 || index >= t->shape[0]) {
        lap_error("tensor: select row %lld out of range for %s", (long long)index,
                  lap_shape_str(t, text, sizeof text));
        return NULL;
    }
    return view_of(t, t->ndim - 1, t->shape + 1, t->offset + index * lap_cols(t));
}

/* ---- reusable buffers ---- */

int lap_tensor_ensure(lap_tensor **t, int ndim, const int64_t *shape)
{
    lap_tensor *same = *t;
    /* The common case of a steady loop: already this shape, with its own storage. */
    if (same && same->ndim == ndim && same->offset == 0 && same->storage->refcount == 1 &&
        same->storage != &evicted_storage) {
        int d = 0;
        while (d < ndim && same->shape[d] == shape[d])
            d++;
        if (d == ndim)
            return LAP_OK;
    }
    int64_t numel;
    if (check_shape(ndim, shape, &numel) != LAP_OK)
        return LAP_ERR;
    if (!*t) {
        /* Not zeroed (contents are unspecified): a buffer dropped after use and made
         * again each step (input gradients) would otherwise cost a memset per step. */
        *t = tensor_alloc(ndim, shape, 0);
        return *t ? LAP_OK : LAP_ERR;
    }
    lap_tensor *x = *t;
    /* A shared storage would let writes through this buffer show up in someone
     * else's view (or a kept output), so it gets a private one instead. */
    if (x->storage->refcount > 1 || x->storage->capacity < numel || x->storage == &evicted_storage) {
        lap_storage *fresh = storage_new(numel, 0);
        if (!fresh)
            return LAP_ERR;
        if (x->storage->refcount > 1)
            layout_changed();
        storage_release(x->storage);
        x->storage = fresh;
    }
    x->offset = 0;
    x->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        x->shape[i] = shape[i];
    for (int i = ndim; i < LAP_MAX_DIMS; i++)
        x->shape[i] = 0;
    return LAP_OK;
}

int lap_tensor_evict(lap_tensor *t)
{
    if (t->storage == &evicted_storage)
        return 1;
    if (t->storage->refcount != 1 || t->offset != 0)
        return 0;
    storage_release(t->storage);
    t->storage = &evicted_storage;
    return 1;
}

lap_tensor *lap_tensor_gather(lap_tensor **tensors, int n)
{
    /* Already laid out in one storage, in order (gathered before, e.g. for an earlier
     * optimizer): a view over them. */
    if (n > 0 && tensors[0]->storage != &evicted_storage) {
        lap_storage *shared = tensors[0]->storage;
        int64_t offset = 0;
        int in_order = 1;
        for (int i = 0; i < n && in_order; i++) {
            in_order = tensors[i]->storage == shared && tensors[i]->offset == offset;
            offset += lap_numel(tensors[i]);
        }
        if (in_order && offset <= shared->capacity)
            return view_of(tensors[0], 1, &offset, 0);
    }
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (tensors[i]->storage->refcount != 1 || tensors[i]->storage == &evicted_storage)
            return NULL;
        total += lap_numel(tensors[i]);
    }
    lap_tensor *flat = tensor_alloc(1, &total, 0);
    if (!flat)
        return NULL;
    int64_t offset = 0;
    for (int i = 0; i < n; i++) {
        lap_tensor *t = tensors[i];
        if (t->storage == flat->storage) {   /* listed twice */
            lap_tensor_release(flat);
            return NULL;
        }
        int64_t count = lap_numel(t);
        memcpy(flat->storage->data + offset, lap_data(t), (size_t)count * sizeof(float));
        storage_release(t->storage);
        layout_changed();
        t->storage = flat->storage;
        t->storage->refcount++;
        t->offset = offset;
        offset += count;
    }
    return flat;
}

int lap_tensor_gathered(lap_tensor *const *tensors, int n, const lap_tensor *flat)
{
    if (!flat)
        return 0;
    int64_t offset = 0;
    for (int i = 0; i < n; i++) {
        if (tensors[i]->storage != flat->storage || tensors[i]->offset != offset)
            return 0;
        offset += lap_numel(tensors[i]);
    }
    return offset == lap_numel(flat);
}

int lap_tensor_ensure_like(lap_tensor **t, const lap_tensor *like)
{
    return lap_tensor_ensure(t, like->ndim, like->shape);
}

/* ---- contiguous kernels ---- */

LAP_KERNEL(fill_kernel, (float *out, float value, int64_t count), (out, value, count),
{
    PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
    for (int64_t i = 0; i < count; i++)
        out[i] = value;);
})

void lap_fill(float *out, float value, int64_t count)
{
    fill_kernel(out, value, count);
}

void lap_copy(float *out, const float *in, int64_t count)
{
    /* memmove: a copy between two views of one storage may overlap. */
    if (count > 0 && out != in)
        memmove(out, in, (size_t)count * sizeof(float));
}

LAP_KERNEL(axpy_kernel, (float *out, float alpha, const float *in, int64_t count), (out, alpha, in, count),
{
    PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
    for (int64_t i = 0; i < count; i++)
        out[i] += alpha * in[i];);
})

void lap_axpy(float *out, float alpha, const float *in, int64_t count)
{
    axpy_kernel(out, alpha, in, count);
}

void lap_scale(float *out, float alpha, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        out[i] *= alpha;
}

double lap_sum(const float *in, int64_t count)
{
    double total = 0.0;
    for (int64_t i = 0; i < count; i++)
        total += in[i];
    return total;
}

/* Four accumulators: one running sum would be bound by the add's latency. */
static double sum_squares_serial(const float *in, int64_t count)
{
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int64_t i = 0;
    for (; i + 4 <= count; i += 4) {
        a0 += (double)in[i] * in[i];
        a1 += (double)in[i + 1] * in[i + 1];
        a2 += (double)in[i + 2] * in[i + 2];
        a3 += (double)in[i + 3] * in[i + 3];
    }
    for (; i < count; i++)
        a0 += (double)in[i] * in[i];
    return (a0 + a1) + (a2 + a3);
}

/* Large sums go over the cores in fixed blocks whose partial sums are added in
 * order: the result does not depend on the number of threads. */
#define SUM_BLOCK 32768

double lap_sum_squares(const float *in, int64_t count)
{
    if (count < 2 * SUM_BLOCK)
        return sum_squares_serial(in, count);
    /* The partial sums of up to SUM_BATCH blocks at a time (a fixed array, not one
     * sized by the tensor), added in order as before. */
    enum { SUM_BATCH = 256 };
    double partial[SUM_BATCH], total = 0;
    for (int64_t first = 0; first < count; first += (int64_t)SUM_BATCH * SUM_BLOCK) {
        int64_t rest = count - first, blocks = (rest + SUM_BLOCK - 1) / SUM_BLOCK;
        if (blocks > SUM_BATCH)
            blocks = SUM_BATCH;
        const float *part = in + first;
        PARALLEL_FOR(1,
        for (int64_t b = 0; b < blocks; b++) {
            int64_t start = b * SUM_BLOCK, n = rest - start < SUM_BLOCK ? rest - start : SUM_BLOCK;
            partial[b] = sum_squares_serial(part + start, n);
        });
        for (int64_t b = 0; b < blocks; b++)
            total += partial[b];
    }
    return total;
}

/* ---- elementwise ops ---- */

static int valid_op(char op)
{
    return op == '+' || op == '-' || op == '*' || op == '/';
}

/* Does `small`'s shape equal the trailing dims of `big`? */
static int is_trailing(const lap_tensor *big, const lap_tensor *small)
{
    if (small->ndim > big->ndim)
        return 0;
    int skip = big->ndim - small->ndim;
    for (int i = 0; i < small->ndim; i++)
        if (small->shape[i] != big->shape[skip + i])
            return 0;
    return 1;
}

/* out[i] = a[i % na] op b[i % nb], where the larger count is n and the smaller
 * operand's count divides it (guaranteed by the broadcasting rules). */
static void apply_op(float *out, const float *a, int64_t na, const float *b, int64_t nb, int64_t n, char op)
{
    if (na == n && nb == n) {
        switch (op) {
        case '+': for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i]; break;
        case '-': for (int64_t i = 0; i < n; i++) out[i] = a[i] - b[i]; break;
        case '*': for (int64_t i = 0; i < n; i++) out[i] = a[i] * b[i]; break;
        default:  for (int64_t i = 0; i < n; i++) out[i] = a[i] / b[i]; break;
        }
        return;
    }
    /* Broadcast in blocks of the smaller operand, avoiding a modulo per element. */
    int64_t block = na < nb ? na : nb;
    for (int64_t base = 0; base < n; base += block) {
        const float *pa = na == n ? a + base : a;
        const float *pb = nb == n ? b + base : b;
        float *po = out + base;
        switch (op) {
        case '+': for (int64_t i = 0; i < block; i++) po[i] = pa[i] + pb[i]; break;
        case '-': for (int64_t i = 0; i < block; i++) po[i] = pa[i] - pb[i]; break;
        case '*': for (int64_t i = 0; i < block; i++) po[i] = pa[i] * pb[i]; break;
        default:  for (int64_t i = 0; i < block; i++) po[i] = pa[i] / pb[i]; break;
        }
    }
}

lap_tensor *lap_tensor_binary(const lap_tensor *a, const lap_tensor *b, char op)
{
    char sa[LAP_SHAPE_BUF], sb[LAP_SHAPE_BUF];
    if (!valid_op(op)) {
        lap_error("tensor: unknown operator '%c'", op);
        return NULL;
    }
    int64_t na = lap_numel(a), nb = lap_numel(b);
    const lap_tensor *shape_from;
    if (lap_same_shape(a, b))
        shape_from = a;
    else if ((nb == 1 && na >= 1) || (is_trailing(a, b) && nb > 0))
        shape_from = a;
    else if ((na == 1 && nb >= 1) || (is_trailing(b, a) && na > 0))
        shape_from = b;
    else {
        lap_error("tensor: cannot apply '%c' to shapes %s and %s", op, lap_shape_str(a, sa, sizeof sa),
                  lap_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    lap_tensor *out = tensor_alloc(shape_from->ndim, shape_from->shape, 0);
    if (!out)
        return NULL;
    int64_t n = lap_numel(out);
    if (n > 0)
        apply_op(lap_data(out), lap_data(a), na, lap_data(b), nb, n, op);
    return out;
}

lap_tensor *lap_tensor_scalar_op(const lap_tensor *a, double s, char op, int scalar_first)
{
    if (!valid_op(op)) {
        lap_error("tensor: unknown operator '%c'", op);
        return NULL;
    }
    lap_tensor *out = tensor_alloc(a->ndim, a->shape, 0);
    if (!out)
        return NULL;
    float value = (float)s;
    int64_t n = lap_numel(a);
    if (scalar_first)
        apply_op(lap_data(out), &value, 1, lap_data(a), n, n, op);
    else
        apply_op(lap_data(out), lap_data(a), n, &value, 1, n, op);
    return out;
}

lap_tensor *lap_tensor_matmul(const lap_tensor *a, const lap_tensor *b)
{
    char sa[LAP_SHAPE_BUF], sb[LAP_SHAPE_BUF];
    if (a->ndim != 2 || b->ndim != 2 || a->shape[1] != b->shape[0]) {
        lap_error("tensor.matmul: shapes %s and %s do not match", lap_shape_str(a, sa, sizeof sa),
                  lap_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    lap_tensor *out = lap_tensor_new2(M, N);
    if (!out)
        return NULL;
    lap_gemm(lap_data(out), lap_data(a), lap_data(b), 0, 0, M, N, K, 1.0f, 0.0f);
    return out;
}

/* ---- matrix product ---- */

/* One float accumulator per output element, summed in k order as in the BLAS
 * reference; beta == 0 overwrites without reading `out` (which may be
 * uninitialised, or hold NaNs that must not leak into the result). */
static void gemm_small(float *out, const float *a, const float *b, int trans_a, int trans_b,
                       int64_t M, int64_t N, int64_t K, float alpha, float beta)
{
    /* Element (i, k) of op(A) is at a[i*sa_i + k*sa_k]; (k, j) of op(B) at b[k*sb_k + j*sb_j]. */
    int64_t sa_i = trans_a ? 1 : K, sa_k = trans_a ? M : 1;
    int64_t sb_k = trans_b ? 1 : N, sb_j = trans_b ? K : 1;
    for (int64_t i = 0; i < M; i++) {
        float *row = out + i * N;
        const float *arow = a + i * sa_i;
        for (int64_t j = 0; j < N; j++) {
            const float *bcol = b + j * sb_j;
            float acc = 0.0f;
            for (int64_t k = 0; k < K; k++)
                acc += arow[k * sa_k] * bcol[k * sb_k];
            row[j] = beta == 0.0f ? alpha * acc : alpha * acc + beta * row[j];
        }
    }
}

/* One thread pool, OpenMP's: OpenBLAS runs single-threaded everywhere, and a large
 * product outside a parallel region is split over the OpenMP threads here.  With
 * OpenBLAS's own threads, they spun (sched_yield) after each threaded product and
 * took the cores from the OpenMP threads of the next convolution: 7 % of the MNIST
 * step went to the two pools fighting. */
#define GEMM_SPLIT_FLOPS (1 << 22)

/* At load time, before any product (a constructor: OpenBLAS, a library lap
 * depends on, is initialized before it). */
__attribute__((constructor)) static void blas_single_threaded(void) { openblas_set_num_threads(1); }

/* out rows [m0, m1) (or, with columns, out columns [m0, m1)) of the product. */
static void gemm_part(float *out, const float *a, const float *b, int trans_a, int trans_b, int64_t M, int64_t N,
                      int64_t K, float alpha, float beta, int by_rows, int64_t start, int64_t end)
{
    int lda = (int)(trans_a ? M : K), ldb = (int)(trans_b ? K : N);
    if (by_rows)
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    (int)(end - start), (int)N, (int)K, alpha, trans_a ? a + start : a + start * K, lda, b, ldb, beta,
                    out + start * N, (int)N);
    else
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    (int)M, (int)(end - start), (int)K, alpha, a, lda, trans_b ? b + start * K : b + start, ldb, beta,
                    out + start, (int)N);
}

void lap_gemm(float *out, const float *a, const float *b, int trans_a, int trans_b,
              int64_t M, int64_t N, int64_t K, float alpha, float beta)
{
    if (M <= 0 || N <= 0)
        return;
    int fits_int = M <= INT_MAX && N <= INT_MAX && K <= INT_MAX;
    /* M*N*K may overflow for huge sizes; compare stepwise. */
    int small = K <= 0 || (M * N <= LAP_GEMM_SMALL && M * N * K < LAP_GEMM_SMALL);
    if (small || !fits_int) {
        gemm_small(out, a, b, trans_a, trans_b, M, N, K > 0 ? K : 0, alpha, beta);
        return;
    }
    int threads = 1;
#ifdef _OPENMP
    if (!omp_in_parallel() && (double)M * N * K >= GEMM_SPLIT_FLOPS)
        threads = omp_get_max_threads();
#endif
    /* Split the longer side of out (each element is still one dot product). */
    int by_rows = M >= N;
    int64_t length = by_rows ? M : N;
    if (threads > length)
        threads = (int)length;
    if (threads <= 1) {
        gemm_part(out, a, b, trans_a, trans_b, M, N, K, alpha, beta, 1, 0, M);
        return;
    }
    PARALLEL_FOR(1,
    for (int t = 0; t < threads; t++)
        gemm_part(out, a, b, trans_a, trans_b, M, N, K, alpha, beta, by_rows, length * t / threads,
                  length * (t + 1) / threads););
}
