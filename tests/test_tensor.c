/* test_tensor.c: unit tests of runtime/core/tensor.c (refcounts, views, ensure, errors,
 * elementwise ops, reductions, lap_gemm against a double-precision reference).
 * Prints each failed check; exits nonzero if any failed.  Run under valgrind or
 * `make asan` to also catch leaks of the refcounting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#include "check.h"



#define CHECK_ERROR(expr, fragment)                                              \
    do {                                                                         \
        checks++;                                                                \
        lap_tensor *result_ = (expr);                                            \
        if (result_ || !strstr(lap_last_error(), fragment)) {                    \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: expected error containing \"%s\" from %s, got %s (\"%s\")\n", \
                    __FILE__, __LINE__, fragment, #expr, result_ ? "a tensor" : "NULL",      \
                    lap_last_error());                                           \
            lap_tensor_release(result_);                                         \
        }                                                                        \
    } while (0)

static int near(double got, double want, double rel)
{
    return fabs(got - want) <= rel * (1.0 + fabs(want));
}

static void test_construction(void)
{
    int64_t shape[2] = {2, 3};
    lap_tensor *t = lap_tensor_new(2, shape);
    CHECK(t && t->refcount == 1 && t->storage->refcount == 1);
    CHECK(lap_numel(t) == 6 && lap_rows(t) == 2 && lap_cols(t) == 3);
    for (int i = 0; i < 6; i++)
        CHECK(lap_data(t)[i] == 0.0f);
    char buf[LAP_SHAPE_BUF];
    CHECK(strcmp(lap_shape_str(t, buf, sizeof buf), "[2, 3]") == 0);

    lap_tensor *scalar = lap_tensor_new(0, NULL);
    CHECK(scalar && lap_numel(scalar) == 1 && lap_rows(scalar) == 1 && lap_cols(scalar) == 1);
    CHECK(strcmp(lap_shape_str(scalar, buf, sizeof buf), "[]") == 0);

    float values[6] = {1, 2, 3, 4, 5, 6};
    lap_tensor *d = lap_tensor_from_data(2, shape, values);
    lap_tensor *c = lap_tensor_clone(d);
    CHECK(c && lap_same_shape(c, d) && lap_data(c) != lap_data(d));
    CHECK(memcmp(lap_data(c), values, sizeof values) == 0);

    int64_t bad[2] = {2, -3};
    CHECK_ERROR(lap_tensor_new(2, bad), "negative dimension in shape [2, -3]");
    CHECK_ERROR(lap_tensor_new(LAP_MAX_DIMS + 1, shape), "at most");
    int64_t huge[3] = {1LL << 30, 1LL << 30, 1LL << 30};
    CHECK_ERROR(lap_tensor_new(3, huge), "too many elements");

    lap_tensor_release(t);
    lap_tensor_release(scalar);
    lap_tensor_release(d);
    lap_tensor_release(c);
    lap_tensor_release(NULL);
}

static void test_views(void)
{
    int64_t shape[2] = {5, 4};
    lap_tensor *parent = lap_tensor_new(2, shape);
    for (int i = 0; i < 20; i++)
        lap_data(parent)[i] = (float)i;

    int64_t flat[1] = {-1};
    lap_tensor *r = lap_tensor_reshape(parent, 1, flat);
    CHECK(r && r->ndim == 1 && r->shape[0] == 20 && lap_data(r) == lap_data(parent));
    CHECK(parent->storage->refcount == 2);

    lap_tensor *n = lap_tensor_narrow(parent, 1, 3);
    CHECK(n && n->shape[0] == 3 && n->shape[1] == 4 && lap_data(n)[0] == 4.0f);
    lap_tensor *s = lap_tensor_select(n, 2);   /* row 3 of the parent */
    CHECK(s && s->ndim == 1 && s->shape[0] == 4 && lap_data(s)[0] == 12.0f);
    lap_data(s)[1] = 100.0f;
    CHECK(lap_data(parent)[13] == 100.0f);
    CHECK(parent->storage->refcount == 4);

    /* The views keep the storage alive once the parent is gone. */
    lap_tensor_release(parent);
    CHECK(s->storage->refcount == 3);
    CHECK(lap_data(s)[1] == 100.0f && lap_data(r)[19] == 19.0f);

    /* Retain/release of the tensor itself. */
    CHECK(lap_tensor_retain(s) == s && s->refcount == 2);
    lap_tensor_release(s);
    CHECK(s->refcount == 1);

    lap_tensor *row = lap_tensor_select(r, 0);   /* select on 1-D gives a scalar view */
    CHECK(row && row->ndim == 0 && lap_numel(row) == 1);

    CHECK_ERROR(lap_tensor_narrow(n, 2, 2), "tensor: narrow [3, 4] rows 2..4 out of range");
    CHECK_ERROR(lap_tensor_narrow(n, -1, 1), "out of range");
    CHECK_ERROR(lap_tensor_select(n, 3), "select row 3 out of range for [3, 4]");
    CHECK_ERROR(lap_tensor_select(row, 0), "0-dimensional");

    lap_tensor_release(row);
    lap_tensor_release(r);
    lap_tensor_release(n);
    lap_tensor_release(s);
}

static void test_reshape(void)
{
    int64_t shape[2] = {2, 3};
    lap_tensor *t = lap_tensor_new(2, shape);
    int64_t to[2] = {4, 2};
    CHECK_ERROR(lap_tensor_reshape(t, 2, to), "tensor: reshape of [2, 3] (6 elements) to [4, 2] (8 elements)");
    int64_t two_inferred[2] = {-1, -1};
    CHECK_ERROR(lap_tensor_reshape(t, 2, two_inferred), "only one dimension can be -1");
    int64_t not_divisible[2] = {4, -1};
    CHECK_ERROR(lap_tensor_reshape(t, 2, not_divisible), "cannot infer");
    int64_t negative[2] = {-2, -3};
    CHECK_ERROR(lap_tensor_reshape(t, 2, negative), "negative dimension");

    int64_t inferred[3] = {3, -1, 1};
    lap_tensor *v = lap_tensor_reshape(t, 3, inferred);
    CHECK(v && v->ndim == 3 && v->shape[0] == 3 && v->shape[1] == 2 && v->shape[2] == 1);
    lap_tensor *scalar_src = lap_tensor_new(1, (int64_t[]){1});
    lap_tensor *scalar = lap_tensor_reshape(scalar_src, 0, NULL);
    CHECK(scalar && scalar->ndim == 0);
    lap_tensor_release(scalar);
    lap_tensor_release(scalar_src);
    lap_tensor_release(v);
    lap_tensor_release(t);
}

static void test_ensure(void)
{
    lap_tensor *buffer = NULL;
    int64_t shape[2] = {8, 4};
    CHECK(lap_tensor_ensure(&buffer, 2, shape) == LAP_OK && buffer && lap_numel(buffer) == 32);
    float *data = lap_data(buffer);
    lap_storage *storage = buffer->storage;

    /* Unchanged shape: no allocation (the hot path of every forward). */
    CHECK(lap_tensor_ensure(&buffer, 2, shape) == LAP_OK);
    CHECK(lap_data(buffer) == data && buffer->storage == storage);

    /* Smaller shape: still no allocation. */
    int64_t smaller[2] = {2, 4};
    CHECK(lap_tensor_ensure(&buffer, 2, smaller) == LAP_OK);
    CHECK(lap_data(buffer) == data && buffer->shape[0] == 2 && lap_numel(buffer) == 8);

    /* Larger: a new storage. */
    int64_t larger[2] = {16, 4};
    CHECK(lap_tensor_ensure(&buffer, 2, larger) == LAP_OK);
    CHECK(lap_numel(buffer) == 64 && buffer->storage->capacity >= 64);

    /* Shared storage (a view outlives the call): the buffer gets a private one. */
    lap_tensor *view = lap_tensor_narrow(buffer, 0, 1);
    lap_data(view)[0] = 42.0f;
    float *before = lap_data(buffer);
    CHECK(lap_tensor_ensure(&buffer, 2, larger) == LAP_OK);
    CHECK(lap_data(buffer) != before && buffer->storage->refcount == 1);
    CHECK(view->storage->refcount == 1 && lap_data(view)[0] == 42.0f);

    lap_tensor *like = NULL;
    CHECK(lap_tensor_ensure_like(&like, buffer) == LAP_OK && lap_same_shape(like, buffer));

    int64_t bad[1] = {-5};
    CHECK(lap_tensor_ensure(&buffer, 1, bad) == LAP_ERR && strstr(lap_last_error(), "negative"));
    CHECK(lap_numel(buffer) == 64);   /* untouched on error */

    lap_tensor_release(view);
    lap_tensor_release(like);
    lap_tensor_release(buffer);
}

static void test_reductions_and_kernels(void)
{
    float values[5] = {1, -2, 3, -4, 5};
    CHECK(lap_sum(values, 5) == 3.0);
    CHECK(lap_sum_squares(values, 5) == 55.0);
    CHECK(lap_sum(values, 0) == 0.0);

    /* Double accumulation: a float accumulator would stall at 2^24 = 16777216. */
    int64_t n = 20000000;
    float *ones = malloc((size_t)n * sizeof(float));
    lap_fill(ones, 1.0f, n);
    CHECK(lap_sum(ones, n) == (double)n);
    free(ones);

    float out[5];
    lap_copy(out, values, 5);
    CHECK(memcmp(out, values, sizeof out) == 0);
    lap_axpy(out, 2.0f, values, 5);
    CHECK(out[0] == 3.0f && out[3] == -12.0f);
    lap_scale(out, 0.5f, 5);
    CHECK(out[0] == 1.5f && out[4] == 7.5f);
    /* Overlapping copy within one buffer. */
    lap_copy(out + 1, out, 4);
    CHECK(out[1] == 1.5f && out[4] == -6.0f);
}

static void test_binary(void)
{
    float av[6] = {1, 2, 3, 4, 5, 6};
    float bv[3] = {10, 20, 30};
    float sv[1] = {2};
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s1[1] = {1}, s4[1] = {4};
    lap_tensor *a = lap_tensor_from_data(2, s23, av);
    lap_tensor *b = lap_tensor_from_data(1, s3, bv);
    lap_tensor *s = lap_tensor_from_data(1, s1, sv);

    lap_tensor *sum = lap_tensor_binary(a, b, '+');
    CHECK(sum && lap_same_shape(sum, a) && lap_data(sum)[0] == 11 && lap_data(sum)[5] == 36);
    lap_tensor *diff = lap_tensor_binary(b, a, '-');   /* broadcast the other way round */
    CHECK(diff && lap_same_shape(diff, a) && lap_data(diff)[0] == 9 && lap_data(diff)[5] == 24);
    lap_tensor *prod = lap_tensor_binary(a, s, '*');
    CHECK(prod && lap_same_shape(prod, a) && lap_data(prod)[5] == 12);
    lap_tensor *quot = lap_tensor_binary(s, a, '/');
    CHECK(quot && lap_same_shape(quot, a) && lap_data(quot)[1] == 1.0f);
    lap_tensor *same = lap_tensor_binary(a, a, '*');
    CHECK(same && lap_data(same)[2] == 9);

    lap_tensor *c = lap_tensor_new(1, s4);
    CHECK_ERROR(lap_tensor_binary(a, c, '+'), "tensor: cannot apply '+' to shapes [2, 3] and [4]");
    CHECK_ERROR(lap_tensor_binary(a, b, '%'), "unknown operator");

    lap_tensor *minus = lap_tensor_scalar_op(a, 1.0, '-', 1);
    CHECK(minus && lap_data(minus)[0] == 0 && lap_data(minus)[5] == -5);
    lap_tensor *half = lap_tensor_scalar_op(a, 2.0, '/', 0);
    CHECK(half && lap_data(half)[1] == 1.0f);

    lap_tensor *m = lap_tensor_matmul(a, b);
    CHECK(m == NULL && strstr(lap_last_error(), "tensor.matmul: shapes [2, 3] and [3] do not match"));
    int64_t s32[2] = {3, 2};
    lap_tensor *at = lap_tensor_reshape(a, 2, s32);
    m = lap_tensor_matmul(a, at);   /* [[1,2,3],[4,5,6]] x [[1,2],[3,4],[5,6]] */
    CHECK(m && m->shape[0] == 2 && m->shape[1] == 2);
    CHECK(m && lap_data(m)[0] == 22 && lap_data(m)[1] == 28 && lap_data(m)[2] == 49 && lap_data(m)[3] == 64);
    CHECK_ERROR(lap_tensor_matmul(a, a), "tensor.matmul: shapes [2, 3] and [2, 3] do not match");

    lap_tensor *tensors[] = {a, b, s, sum, diff, prod, quot, same, c, minus, half, m, at};
    for (size_t i = 0; i < sizeof tensors / sizeof *tensors; i++)
        lap_tensor_release(tensors[i]);
}

/* out = alpha op(A) op(B) + beta out, in double, as the reference. */
static void gemm_reference(double *out, const float *a, const float *b, int ta, int tb, int64_t M, int64_t N,
                           int64_t K, double alpha, double beta, const float *out_in)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; k++) {
                double x = ta ? a[k * M + i] : a[i * K + k];
                double y = tb ? b[j * K + k] : b[k * N + j];
                acc += x * y;
            }
            out[i * N + j] = alpha * acc + (beta != 0.0 ? beta * out_in[i * N + j] : 0.0);
        }
}

static float random_value(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (float)((*state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void check_gemm(int64_t M, int64_t N, int64_t K)
{
    unsigned seed = (unsigned)(M * 131 + N * 17 + K);
    float *a = malloc((size_t)(M * K) * sizeof(float));
    float *b = malloc((size_t)(K * N) * sizeof(float));
    float *c = malloc((size_t)(M * N) * sizeof(float));
    float *c0 = malloc((size_t)(M * N) * sizeof(float));
    double *ref = malloc((size_t)(M * N) * sizeof(double));
    for (int64_t i = 0; i < M * K; i++)
        a[i] = random_value(&seed);
    for (int64_t i = 0; i < K * N; i++)
        b[i] = random_value(&seed);
    for (int64_t i = 0; i < M * N; i++)
        c0[i] = random_value(&seed);

    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int accumulate = 0; accumulate < 2; accumulate++) {
                float alpha = accumulate ? 0.5f : 1.0f, beta = accumulate ? 1.0f : 0.0f;
                /* beta == 0 must overwrite, even garbage (NaN) in out. */
                for (int64_t i = 0; i < M * N; i++)
                    c[i] = accumulate ? c0[i] : NAN;
                lap_gemm(c, a, b, ta, tb, M, N, K, alpha, beta);
                gemm_reference(ref, a, b, ta, tb, M, N, K, alpha, beta, c0);
                int bad = 0;
                for (int64_t i = 0; i < M * N && !bad; i++)
                    if (!near(c[i], ref[i], 1e-4))
                        bad = 1;
                checks++;
                if (bad) {
                    failures++;
                    fprintf(stderr, "lap_gemm %lldx%lldx%lld trans_a=%d trans_b=%d beta=%g differs from reference\n",
                            (long long)M, (long long)N, (long long)K, ta, tb, (double)beta);
                }
            }
    free(a);
    free(b);
    free(c);
    free(c0);
    free(ref);
}

static void test_gemm(void)
{
    check_gemm(3, 2, 4);     /* the plain loop */
    check_gemm(10, 2, 2);
    check_gemm(128, 2, 2);
    check_gemm(1, 1, 1);
    check_gemm(70, 65, 80);  /* BLAS */
    check_gemm(33, 1, 100);
    /* Large enough to be split over the OpenMP threads: by rows, then by columns. */
    check_gemm(301, 200, 100);
    check_gemm(50, 403, 300);

    /* K == 0: out = beta * out (and 0 when beta == 0). */
    float out[4] = {1, 2, 3, 4};
    lap_gemm(out, NULL, NULL, 0, 0, 2, 2, 0, 1.0f, 0.0f);
    CHECK(out[0] == 0 && out[3] == 0);
}

/* lap_tensor_gather (the optimizer's single update loop) and eviction (recomputed
 * activations). */
static void test_gather_and_evict(void)
{
    int64_t s2[2] = {2, 2}, s1[1] = {3};
    lap_tensor *a = lap_tensor_new(2, s2), *b = lap_tensor_new(1, s1);
    for (int i = 0; i < 4; i++)
        lap_data(a)[i] = (float)i + 1;
    for (int i = 0; i < 3; i++)
        lap_data(b)[i] = (float)-i;
    lap_tensor *list[2] = {a, b};
    lap_tensor *flat = lap_tensor_gather(list, 2);
    CHECK(flat && lap_numel(flat) == 7);
    CHECK(lap_data(a) == lap_data(flat) && lap_data(b) == lap_data(flat) + 4);
    CHECK(lap_data(flat)[3] == 4.0f && lap_data(flat)[6] == -2.0f && a->shape[1] == 2 && b->shape[0] == 3);
    CHECK(lap_tensor_gathered(list, 2, flat));
    uint64_t generation = lap_tensor_layout_generation();
    /* Gathered already: a second gather moves nothing and views the same storage. */
    lap_tensor *again = lap_tensor_gather(list, 2);
    CHECK(again && again->storage == flat->storage && lap_numel(again) == 7 && lap_tensor_gathered(list, 2, flat));
    lap_tensor_release(again);
    /* In another order they share a storage they do not fill in order: refused. */
    lap_tensor *reversed[2] = {b, a};
    CHECK(lap_tensor_gather(reversed, 2) == NULL && lap_tensor_gathered(list, 2, flat));
    /* Giving one of them a new storage is seen, and changes the generation. */
    int64_t bigger[1] = {5};
    CHECK(lap_tensor_ensure(&b, 1, bigger) == LAP_OK);
    CHECK(!lap_tensor_gathered(list, 2, flat) && lap_tensor_layout_generation() != generation);
    /* A tensor listed twice is refused. */
    lap_tensor *c = lap_tensor_new(1, s1);
    lap_tensor *twice[2] = {c, c};
    CHECK(lap_tensor_gather(twice, 2) == NULL);
    CHECK(lap_numel(c) == 3 && lap_data(c) != NULL);
    lap_tensor_release(flat);
    lap_tensor_release(a);
    lap_tensor_release(b);

    /* Evicted: shape kept, data gone, clone refused, ensure gives storage back. */
    CHECK(lap_tensor_evict(c) == 1 && lap_tensor_is_evicted(c) && lap_numel(c) == 3);
    CHECK_ERROR(lap_tensor_clone(c), "not kept");
    CHECK(lap_tensor_ensure(&c, 1, s1) == LAP_OK && !lap_tensor_is_evicted(c) && lap_data(c) != NULL);
    lap_tensor *view = lap_tensor_reshape(c, 1, s1);
    CHECK(lap_tensor_evict(c) == 0 && !lap_tensor_is_evicted(c));   /* shared storage: kept */
    lap_tensor_release(view);
    lap_tensor_release(c);
}

/* Large sums of squares run in fixed blocks over the threads: accurate, and the same
 * bits whatever the number of threads. */
static void test_parallel_sum_squares(void)
{
    int64_t count = 200003;
    float *x = malloc((size_t)count * sizeof *x);
    long double reference = 0;
    for (int64_t i = 0; i < count; i++) {
        x[i] = (float)((i * 7919) % 1000) / 250.0f - 2.0f;
        reference += (long double)x[i] * x[i];
    }
    double sums[3];
    for (int threads = 1; threads <= 3; threads++) {
#ifdef _OPENMP
        omp_set_num_threads(threads);
#endif
        sums[threads - 1] = lap_sum_squares(x, count);
    }
    CHECK(near(sums[0], (double)reference, 1e-12));
    CHECK(sums[0] == sums[1] && sums[1] == sums[2]);
    free(x);
}

int main(void)
{
    test_construction();
    test_views();
    test_reshape();
    test_ensure();
    test_reductions_and_kernels();
    test_binary();
    test_gemm();
    test_gather_and_evict();
    test_parallel_sum_squares();
    return check_summary("test_tensor");
}
