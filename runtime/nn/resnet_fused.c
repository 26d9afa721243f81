/* resnet_fused.c: a ResNet's fast path for blocks made of narrow layers.
 *
 * The paper's 2-D networks (100 blocks Linear(2,2) [BatchNorm(2)] ReLU Linear(2,2),
 * batch 10) spend most of a step in module bookkeeping, not arithmetic: a generic
 * call per layer, argument and shape checks, buffer checks, and the pointer chasing
 * from module to tensor to storage, over a network whose structs no longer fit the
 * cache.  Here the ResNet keeps, per block, the pointers its layers would compute
 * with (weights, gradients, their own output and gradient buffers) and runs the
 * block in one loop, writing exactly what the modules would write, where they would
 * write it, with the same arithmetic in the same order (layers.c's narrow kernels,
 * repeated here; both compile for the baseline, so the numbers are bit for bit the
 * same).  A BatchNorm in a block is called through its own ops.
 *
 * When it applies: no encoder, x_{k+1} = x_k + h v_k (not relu_after), a 2-D state
 * (N, F) with F <= 4, blocks Sequential(Linear(F, H), [BatchNorm(H)], ReLU (not in
 * place), Linear(H, F)) with H <= 4, a training forward (not inference), the same
 * input tensor and batch size as the last ordinary forward.  The plan is made after
 * an ordinary forward (its backward half after an ordinary backward), and serves
 * while no planned module was called or changed mode from outside
 * (lap_module_state_generation), nothing was frozen or added, and no tensor storage
 * moved (lap_tensor_layout_generation); anything else takes the ordinary path,
 * which makes the plan again.  Limits: one network at a time per process keeps its
 * plan (another network's planned calls make it stale: correct, only slower).
 */
#include <math.h>
#include <stdlib.h>
#ifdef __SSE2__
#include <immintrin.h>
#endif

#include "core/error.h"
#include "nn/resnet.h"

#define NARROW 4
/* lap_module_drop_grad_input keeps gradients under this many floats: the plan keeps
 * their pointers, so it applies only below it. */
#define KEPT_GRADIENT 16384

typedef struct fused_block {
    lap_module *seq, *first, *norm, *relu, *second;   /* norm NULL without BatchNorm */
    int H;
    const float *w1, *b1, *w2, *b2;   /* b NULL without bias */
    float *dw1, *db1, *dw2, *db2;     /* NULL when frozen (or without bias) */
    const float *x;                   /* x_k (N, F) */
    float *next;                      /* x_{k+1} (N, F) */
    float *hidden, *activated, *v;    /* the first Linear's, the ReLU's, the second Linear's outputs */
    float *grad_activated, *grad_hidden, *grad_x;   /* the second Linear's, the ReLU's, the first's input gradients */
} fused_block;

struct lap_resnet_plan {
    int forward_ready, backward_ready;
    uint64_t state, freeze, structure, layout;   /* the generations it was made at */
    const lap_tensor *input;
    const float *input_data;
    int64_t N;
    int F;
    fused_block *blocks;
};

/* ---- the arithmetic of layers.c's narrow Linear kernels and of the ReLU ---- */

/* out: (N, OUT); in: (N, IN); weight: (OUT, IN); bias: (OUT) or NULL */
static inline __attribute__((always_inline)) void linear_rows(float *out, const float *in, const float *weight,
                                                              const float *bias, int64_t N, int IN, int OUT)
{
    float w[NARROW][NARROW], b[NARROW];
    for (int o = 0; o < OUT; o++) {
        b[o] = bias ? bias[o] : 0.0f;
        for (int i = 0; i < IN; i++)
            w[o][i] = weight[o * IN + i];
    }
    for (int64_t n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            float sum = b[o];
            for (int i = 0; i < IN; i++)
                sum += w[o][i] * in[n * IN + i];
            out[n * OUT + o] = sum;
        }
}

/* din: (N, IN) overwritten; dweight: (OUT, IN) += or NULL; dbias: (OUT) += or NULL;
 * dout: (N, OUT); in: (N, IN); weight: (OUT, IN).  Rows in pairs, as layers.c. */
static inline __attribute__((always_inline)) void linear_rows_backward(float *din, float *dweight, float *dbias,
                                                                       const float *dout, const float *in,
                                                                       const float *weight, int64_t N, int IN,
                                                                       int OUT)
{
    float w[NARROW][NARROW], dw[2][NARROW][NARROW] = {{{0}}}, db[2][NARROW] = {{0}};
    for (int o = 0; o < OUT; o++)
        for (int i = 0; i < IN; i++)
            w[o][i] = weight[o * IN + i];
    int64_t n = 0;
    for (; n + 2 <= N; n += 2)
        for (int r = 0; r < 2; r++) {
            float dx[NARROW] = {0};
            for (int o = 0; o < OUT; o++) {
                float g = dout[(n + r) * OUT + o];
                db[r][o] += g;
                for (int i = 0; i < IN; i++) {
                    dx[i] += g * w[o][i];
                    dw[r][o][i] += g * in[(n + r) * IN + i];
                }
            }
            for (int i = 0; i < IN; i++)
                din[(n + r) * IN + i] = dx[i];
        }
    for (; n < N; n++) {
        float dx[NARROW] = {0};
        for (int o = 0; o < OUT; o++) {
            float g = dout[n * OUT + o];
            db[0][o] += g;
            for (int i = 0; i < IN; i++) {
                dx[i] += g * w[o][i];
                dw[0][o][i] += g * in[n * IN + i];
            }
        }
        for (int i = 0; i < IN; i++)
            din[n * IN + i] = dx[i];
    }
    if (dweight)
        for (int o = 0; o < OUT; o++)
            for (int i = 0; i < IN; i++)
                dweight[o * IN + i] += dw[0][o][i] + dw[1][o][i];
    if (dbias)
        for (int o = 0; o < OUT; o++)
            dbias[o] += db[0][o] + db[1][o];
}

/* The paper's 2 -> 2 layers, two rows per SSE vector: each lane computes what one
 * scalar of linear_rows / linear_rows_backward computes, with the same operations in
 * the same order (separate multiplies and adds), so the results are the same bits. */
#ifdef __SSE2__
/* out: (N, 2); in: (N, 2); weight: (2, 2); bias: (2) or NULL */
static void linear_2x2(float *out, const float *in, const float *weight, const float *bias, int64_t N)
{
    __m128 column0 = _mm_setr_ps(weight[0], weight[2], weight[0], weight[2]);   /* w[o][0] */
    __m128 column1 = _mm_setr_ps(weight[1], weight[3], weight[1], weight[3]);   /* w[o][1] */
    __m128 b = bias ? _mm_setr_ps(bias[0], bias[1], bias[0], bias[1]) : _mm_setzero_ps();
    int64_t n = 0;
    for (; n + 2 <= N; n += 2) {
        __m128 x = _mm_loadu_ps(in + 2 * n);   /* x0 x1 x0' x1' */
        __m128 x0 = _mm_shuffle_ps(x, x, _MM_SHUFFLE(2, 2, 0, 0)), x1 = _mm_shuffle_ps(x, x, _MM_SHUFFLE(3, 3, 1, 1));
        __m128 sum = _mm_add_ps(b, _mm_mul_ps(column0, x0));
        sum = _mm_add_ps(sum, _mm_mul_ps(column1, x1));
        _mm_storeu_ps(out + 2 * n, sum);
    }
    if (n < N)
        linear_rows(out + 2 * n, in + 2 * n, weight, bias, N - n, 2, 2);
}

/* din: (N, 2) overwritten; dweight: (2, 2) += or NULL; dbias: (2) += or NULL;
 * dout, in: (N, 2); weight: (2, 2).  Rows in pairs: lanes 0-1 the even row (r = 0),
 * lanes 2-3 the odd one (r = 1), as linear_rows_backward's two accumulators. */
static void linear_backward_2x2(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                                const float *weight, int64_t N)
{
    __m128 row0 = _mm_setr_ps(weight[0], weight[1], weight[0], weight[1]);   /* w[0][i] */
    __m128 row1 = _mm_setr_ps(weight[2], weight[3], weight[2], weight[3]);   /* w[1][i] */
    __m128 zero = _mm_setzero_ps(), db = zero, dw_even = zero, dw_odd = zero;   /* dw lanes: [o][i] */
    int64_t n = 0;
    for (; n + 2 <= N; n += 2) {
        __m128 g = _mm_loadu_ps(dout + 2 * n), x = _mm_loadu_ps(in + 2 * n);
        db = _mm_add_ps(db, g);
        __m128 g0 = _mm_shuffle_ps(g, g, _MM_SHUFFLE(2, 2, 0, 0)), g1 = _mm_shuffle_ps(g, g, _MM_SHUFFLE(3, 3, 1, 1));
        __m128 dx = _mm_add_ps(zero, _mm_mul_ps(g0, row0));
        dx = _mm_add_ps(dx, _mm_mul_ps(g1, row1));
        _mm_storeu_ps(din + 2 * n, dx);
        dw_even = _mm_add_ps(dw_even, _mm_mul_ps(_mm_shuffle_ps(g, g, _MM_SHUFFLE(1, 1, 0, 0)),
                                                 _mm_shuffle_ps(x, x, _MM_SHUFFLE(1, 0, 1, 0))));
        dw_odd = _mm_add_ps(dw_odd, _mm_mul_ps(_mm_shuffle_ps(g, g, _MM_SHUFFLE(3, 3, 2, 2)),
                                               _mm_shuffle_ps(x, x, _MM_SHUFFLE(3, 2, 3, 2))));
    }
    if (n < N) {   /* the last, odd row: r = 0 */
        float g[2] = {dout[2 * n], dout[2 * n + 1]}, x[2] = {in[2 * n], in[2 * n + 1]};
        float dw[4], dbs[4];
        _mm_storeu_ps(dw, dw_even);
        _mm_storeu_ps(dbs, db);
        for (int o = 0; o < 2; o++) {
            dbs[o] += g[o];
            for (int i = 0; i < 2; i++)
                dw[o * 2 + i] += g[o] * x[i];
        }
        float dx[2] = {0};
        for (int o = 0; o < 2; o++)
            for (int i = 0; i < 2; i++)
                dx[i] += g[o] * weight[o * 2 + i];
        din[2 * n] = dx[0];
        din[2 * n + 1] = dx[1];
        dw_even = _mm_loadu_ps(dw);
        db = _mm_loadu_ps(dbs);
    }
    if (dweight)
        _mm_storeu_ps(dweight, _mm_add_ps(_mm_loadu_ps(dweight), _mm_add_ps(dw_even, dw_odd)));
    if (dbias) {
        float dbs[4];
        _mm_storeu_ps(dbs, db);
        dbias[0] += dbs[0] + dbs[2];
        dbias[1] += dbs[1] + dbs[3];
    }
}
#else
static void linear_2x2(float *out, const float *in, const float *weight, const float *bias, int64_t N)
{
    linear_rows(out, in, weight, bias, N, 2, 2);
}

static void linear_backward_2x2(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                                const float *weight, int64_t N)
{
    linear_rows_backward(din, dweight, dbias, dout, in, weight, N, 2, 2);
}
#endif

static void linear_any(float *out, const float *in, const float *weight, const float *bias, int64_t N, int IN,
                       int OUT)
{
    linear_rows(out, in, weight, bias, N, IN, OUT);
}

static void linear_backward_any(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                                const float *weight, int64_t N, int IN, int OUT)
{
    linear_rows_backward(din, dweight, dbias, dout, in, weight, N, IN, OUT);
}

static void linear(float *out, const float *in, const float *weight, const float *bias, int64_t N, int IN, int OUT)
{
    if (IN == 2 && OUT == 2)
        linear_2x2(out, in, weight, bias, N);
    else
        linear_any(out, in, weight, bias, N, IN, OUT);
}

static void linear_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                            const float *weight, int64_t N, int IN, int OUT)
{
    if (IN == 2 && OUT == 2)
        linear_backward_2x2(din, dweight, dbias, dout, in, weight, N);
    else
        linear_backward_any(din, dweight, dbias, dout, in, weight, N, IN, OUT);
}

/* ---- the plan ---- */

/* t holds a buffer of shape (N, C) of its own, which the ordinary path would write in place. */
static int own_buffer(const lap_tensor *t, int64_t N, int64_t C)
{
    return t && !lap_tensor_is_evicted(t) && t->storage->refcount == 1 && t->offset == 0 && t->ndim == 2 &&
           t->shape[0] == N && t->shape[1] == C;
}

static int is_narrow_linear(const lap_module *m, int64_t in, int64_t out)
{
    if (!lap_module_is(m, "Linear") || m->nchildren != 0 || m->nparams < 1 || m->nparams > 2)
        return 0;
    const lap_tensor *w = m->params[0];
    return w->ndim == 2 && w->shape[0] == out && w->shape[1] == in;
}

static void snapshot(lap_resnet_plan *p)
{
    p->state = lap_module_state_generation();
    p->freeze = lap_module_freeze_generation();
    p->structure = lap_module_structure_generation();
    p->layout = lap_tensor_layout_generation();
}

int lap_resnet_plan_current(lap_resnet *net)
{
    const lap_resnet_plan *p = net->plan;
    return p && p->forward_ready && p->state == lap_module_state_generation() &&
           p->layout == lap_tensor_layout_generation() && p->freeze == lap_module_freeze_generation() &&
           p->structure == lap_module_structure_generation();
}

void lap_resnet_plan_drop(lap_resnet *net)
{
    if (net->plan)
        net->plan->forward_ready = net->plan->backward_ready = 0;
}

void lap_resnet_plan_free(lap_resnet *net)
{
    if (net->plan)
        free(net->plan->blocks);
    free(net->plan);
    net->plan = NULL;
}

/* Block k's forward half, from what the ordinary forward left; 0 if it does not fit. */
static int plan_block(lap_resnet *net, int k, int64_t N, int F, fused_block *b)
{
    lap_module *seq = net->blocks[k];
    if (!lap_module_is(seq, "Sequential") || (seq->nchildren != 3 && seq->nchildren != 4) || !seq->forward_ok)
        return 0;
    for (int i = 0; i < seq->nchildren; i++)
        if (seq->children[i]->nchildren != 0 || !seq->children[i]->forward_ok)
            return 0;
    b->seq = seq;
    b->first = seq->children[0];
    b->norm = seq->nchildren == 4 ? seq->children[1] : NULL;
    b->relu = seq->children[seq->nchildren - 2];
    b->second = seq->children[seq->nchildren - 1];
    if (!lap_module_is(b->first, "Linear") || b->first->params[0]->ndim != 2)
        return 0;
    int64_t H = b->first->params[0]->shape[0];
    if (H < 1 || H > NARROW || !is_narrow_linear(b->first, F, H) || !is_narrow_linear(b->second, H, F))
        return 0;
    b->H = (int)H;
    if (!lap_module_is(b->relu, "ReLU") || lap_relu_is_inplace(b->relu))
        return 0;
    if (b->norm && (!lap_batchnorm_running_mean(b->norm) || b->norm->nparams != 2 ||
                    lap_numel(b->norm->params[0]) != H))
        return 0;
    lap_tensor *x = net->states[k], *next = net->states[k + 1];
    const lap_module *before_relu = b->norm ? b->norm : b->first;
    if (seq->input != x || b->first->input != x || !own_buffer(next, N, F) || x->ndim != 2 || x->shape[0] != N ||
        x->shape[1] != F || lap_tensor_is_evicted(x))
        return 0;
    if (!own_buffer(b->first->output, N, H) || !own_buffer(b->relu->output, N, H) ||
        !own_buffer(b->second->output, N, F))
        return 0;
    if ((b->norm && b->norm->input != b->first->output) || b->relu->input != before_relu->output ||
        b->second->input != b->relu->output || seq->output != b->second->output ||
        net->displacements[k] != b->second->output)
        return 0;
    lap_module *l1 = b->first, *l2 = b->second;
    b->w1 = lap_data(l1->params[0]);
    b->b1 = l1->nparams == 2 ? lap_data(l1->params[1]) : NULL;
    b->dw1 = l1->frozen ? NULL : lap_data(l1->grads[0]);
    b->db1 = !l1->frozen && l1->nparams == 2 ? lap_data(l1->grads[1]) : NULL;
    b->w2 = lap_data(l2->params[0]);
    b->b2 = l2->nparams == 2 ? lap_data(l2->params[1]) : NULL;
    b->dw2 = l2->frozen ? NULL : lap_data(l2->grads[0]);
    b->db2 = !l2->frozen && l2->nparams == 2 ? lap_data(l2->grads[1]) : NULL;
    b->x = lap_data(x);
    b->next = lap_data(next);
    b->hidden = lap_data(l1->output);
    b->activated = lap_data(b->relu->output);
    b->v = lap_data(l2->output);
    b->grad_activated = b->grad_hidden = b->grad_x = NULL;
    return 1;
}

void lap_resnet_plan_forward(lap_resnet *net, lap_tensor *x)
{
    lap_resnet_plan *p = net->plan;
    if (!p) {
        p = net->plan = calloc(1, sizeof *p);
        if (!p)
            return;   /* no plan: the ordinary path, nothing lost */
        p->blocks = calloc((size_t)net->nblocks + 1, sizeof *p->blocks);
        if (!p->blocks) {
            lap_resnet_plan_free(net);
            return;
        }
    }
    p->forward_ready = p->backward_ready = 0;
    if (net->encoder || net->relu_after || net->nblocks == 0 || x->ndim != 2 || x->shape[1] < 1 ||
        x->shape[1] > NARROW || x->shape[0] < 1 || x->shape[0] * NARROW >= KEPT_GRADIENT || net->states[0] != x)
        return;
    int64_t N = x->shape[0];
    int F = (int)x->shape[1];
    for (int k = 0; k < net->nblocks; k++)
        if (!plan_block(net, k, N, F, &p->blocks[k]))
            return;
    for (int k = 0; k < net->nblocks; k++) {
        fused_block *b = &p->blocks[k];
        b->seq->planned = b->first->planned = b->relu->planned = b->second->planned = 1;
        if (b->norm)
            b->norm->planned = 1;
    }
    p->input = x;
    p->input_data = lap_data(x);
    p->N = N;
    p->F = F;
    snapshot(p);
    p->forward_ready = 1;
}

void lap_resnet_plan_backward(lap_resnet *net)
{
    lap_resnet_plan *p = net->plan;
    if (!p || !p->forward_ready)
        return;
    for (int k = 0; k < net->nblocks; k++) {
        fused_block *b = &p->blocks[k];
        lap_tensor *grad_x = b->first->grad_input;
        if (!own_buffer(b->second->grad_input, p->N, b->H) || !own_buffer(b->relu->grad_input, p->N, b->H) ||
            !own_buffer(grad_x, p->N, p->F) || b->seq->grad_input != grad_x ||
            (b->norm && !own_buffer(b->norm->grad_input, p->N, b->H))) {
            p->forward_ready = 0;
            return;
        }
        b->grad_activated = lap_data(b->second->grad_input);
        b->grad_hidden = lap_data(b->relu->grad_input);
        b->grad_x = lap_data(grad_x);
    }
    snapshot(p);   /* the ordinary backward's own calls on the blocks */
    p->backward_ready = 1;
}

/* ---- the fused passes ---- */

#ifdef __SSE2__
/* A block of the paper's size (F = H = 2) at an even batch, rows in pairs, a loop per
 * half of the block instead of one per layer; each lane does what the layer kernels'
 * scalar does (the pair of rows is also a group of lap_sum_squares' four accumulators).
 * The forward's second half: relu(before_relu), the second Linear, x_k + h v, and
 * sum(v^2), which it returns. */
static double second_half_2x2(const fused_block *b, const float *before_relu, int64_t N, float h)
{
    const float *w = b->w2, *bias = b->b2;
    __m128 column0 = _mm_setr_ps(w[0], w[2], w[0], w[2]), column1 = _mm_setr_ps(w[1], w[3], w[1], w[3]);
    __m128 shift = bias ? _mm_setr_ps(bias[0], bias[1], bias[0], bias[1]) : _mm_setzero_ps();
    __m128 zero = _mm_setzero_ps(), step = _mm_set1_ps(h);
    __m128d squares01 = _mm_setzero_pd(), squares23 = _mm_setzero_pd();
    for (int64_t n = 0; n < N; n += 2) {
        __m128 pre = _mm_loadu_ps(before_relu + 2 * n);
        __m128 a = _mm_and_ps(_mm_cmpgt_ps(pre, zero), pre);   /* pre > 0 ? pre : 0 */
        _mm_storeu_ps(b->activated + 2 * n, a);
        __m128 v = _mm_add_ps(shift, _mm_mul_ps(column0, _mm_shuffle_ps(a, a, _MM_SHUFFLE(2, 2, 0, 0))));
        v = _mm_add_ps(v, _mm_mul_ps(column1, _mm_shuffle_ps(a, a, _MM_SHUFFLE(3, 3, 1, 1))));
        _mm_storeu_ps(b->v + 2 * n, v);
        _mm_storeu_ps(b->next + 2 * n, _mm_add_ps(_mm_loadu_ps(b->x + 2 * n), _mm_mul_ps(step, v)));
        __m128d low = _mm_cvtps_pd(v), high = _mm_cvtps_pd(_mm_movehl_ps(v, v));
        squares01 = _mm_add_pd(squares01, _mm_mul_pd(low, low));
        squares23 = _mm_add_pd(squares23, _mm_mul_pd(high, high));
    }
    double a[4];
    _mm_storeu_pd(a, squares01);
    _mm_storeu_pd(a + 2, squares23);
    return (a[0] + a[1]) + (a[2] + a[3]);
}

/* dweight += the even and odd rows' sums, dbias[o] += db[even][o] + db[odd][o] */
static void add_parameter_grads_2x2(float *dweight, float *dbias, __m128 dw_even, __m128 dw_odd, __m128 db)
{
    if (dweight)
        _mm_storeu_ps(dweight, _mm_add_ps(_mm_loadu_ps(dweight), _mm_add_ps(dw_even, dw_odd)));
    if (dbias) {
        float sums[4];
        _mm_storeu_ps(sums, db);
        dbias[0] += sums[0] + sums[2];
        dbias[1] += sums[1] + sums[3];
    }
}

/* The backward's second half: the branch gradient h dL/dx_{k+1} (+ scale v with the
 * transport term), the second Linear's backward, the ReLU's. */
static void second_half_backward_2x2(const fused_block *b, const float *grad, int64_t N, float h, int transport,
                                     float scale)
{
    const float *w = b->w2;
    __m128 row0 = _mm_setr_ps(w[0], w[1], w[0], w[1]), row1 = _mm_setr_ps(w[2], w[3], w[2], w[3]);
    __m128 zero = _mm_setzero_ps(), step = _mm_set1_ps(h), weight = _mm_set1_ps(scale);
    __m128 db = zero, dw_even = zero, dw_odd = zero;
    for (int64_t n = 0; n < N; n += 2) {
        __m128 g = _mm_mul_ps(step, _mm_loadu_ps(grad + 2 * n));
        if (transport)
            g = _mm_add_ps(g, _mm_mul_ps(weight, _mm_loadu_ps(b->v + 2 * n)));
        __m128 a = _mm_loadu_ps(b->activated + 2 * n);
        db = _mm_add_ps(db, g);
        __m128 dx = _mm_add_ps(zero, _mm_mul_ps(_mm_shuffle_ps(g, g, _MM_SHUFFLE(2, 2, 0, 0)), row0));
        dx = _mm_add_ps(dx, _mm_mul_ps(_mm_shuffle_ps(g, g, _MM_SHUFFLE(3, 3, 1, 1)), row1));
        _mm_storeu_ps(b->grad_activated + 2 * n, dx);
        dw_even = _mm_add_ps(dw_even, _mm_mul_ps(_mm_shuffle_ps(g, g, _MM_SHUFFLE(1, 1, 0, 0)),
                                                 _mm_shuffle_ps(a, a, _MM_SHUFFLE(1, 0, 1, 0))));
        dw_odd = _mm_add_ps(dw_odd, _mm_mul_ps(_mm_shuffle_ps(g, g, _MM_SHUFFLE(3, 3, 2, 2)),
                                               _mm_shuffle_ps(a, a, _MM_SHUFFLE(3, 2, 3, 2))));
        _mm_storeu_ps(b->grad_hidden + 2 * n, _mm_and_ps(_mm_cmpgt_ps(a, zero), dx));   /* a > 0 ? dx : 0 */
    }
    add_parameter_grads_2x2(b->dw2, b->db2, dw_even, dw_odd, db);
}

/* The backward's first half: the first Linear's backward from dout (the ReLU's or the
 * BatchNorm's input gradient), and dL/dx_k += its input gradient. */
static void first_half_backward_2x2(const fused_block *b, const float *dout, float *grad, int64_t N)
{
    const float *w = b->w1;
    __m128 row0 = _mm_setr_ps(w[0], w[1], w[0], w[1]), row1 = _mm_setr_ps(w[2], w[3], w[2], w[3]);
    __m128 zero = _mm_setzero_ps(), db = zero, dw_even = zero, dw_odd = zero;
    for (int64_t n = 0; n < N; n += 2) {
        __m128 g = _mm_loadu_ps(dout + 2 * n), x = _mm_loadu_ps(b->x + 2 * n);
        db = _mm_add_ps(db, g);
        __m128 dx = _mm_add_ps(zero, _mm_mul_ps(_mm_shuffle_ps(g, g, _MM_SHUFFLE(2, 2, 0, 0)), row0));
        dx = _mm_add_ps(dx, _mm_mul_ps(_mm_shuffle_ps(g, g, _MM_SHUFFLE(3, 3, 1, 1)), row1));
        _mm_storeu_ps(b->grad_x + 2 * n, dx);
        _mm_storeu_ps(grad + 2 * n, _mm_add_ps(_mm_loadu_ps(grad + 2 * n), dx));
        dw_even = _mm_add_ps(dw_even, _mm_mul_ps(_mm_shuffle_ps(g, g, _MM_SHUFFLE(1, 1, 0, 0)),
                                                 _mm_shuffle_ps(x, x, _MM_SHUFFLE(1, 0, 1, 0))));
        dw_odd = _mm_add_ps(dw_odd, _mm_mul_ps(_mm_shuffle_ps(g, g, _MM_SHUFFLE(3, 3, 2, 2)),
                                               _mm_shuffle_ps(x, x, _MM_SHUFFLE(3, 2, 3, 2))));
    }
    add_parameter_grads_2x2(b->dw1, b->db1, dw_even, dw_odd, db);
}
#endif

int lap_resnet_fused_forward(lap_resnet *net, lap_tensor *x, int *failed_block)
{
    lap_resnet_plan *p = net->plan;
    if (!lap_resnet_plan_current(net) || x != p->input || x->ndim != 2 || x->shape[0] != p->N ||
        x->shape[1] != p->F || lap_data(x) != p->input_data || net->states[0] != x)
        return 0;
    int64_t N = p->N, count = N * p->F;
    int F = p->F;
    float h = (float)net->step;
    for (int k = 0; k < net->nblocks; k++) {
        fused_block *b = &p->blocks[k];
#ifdef __SSE2__
        int pairs = F == 2 && b->H == 2 && N % 2 == 0;
#endif
        linear(b->hidden, b->x, b->w1, b->b1, N, F, b->H);
        const float *before_relu = b->hidden;
        if (b->norm) {
            if (b->norm->ops->forward(b->norm, b->first->output) != LAP_OK) {
                lap_error_wrap("Sequential", NULL, 2);
                b->seq->forward_ok = 0;   /* as for a container whose child failed */
                lap_resnet_plan_drop(net);
                *failed_block = k;
                return LAP_ERR;
            }
            before_relu = lap_data(b->norm->output);
        }
#ifdef __SSE2__
        if (pairs) {
            net->block_squares[k] = second_half_2x2(b, before_relu, N, h);
        } else
#endif
        {
            int64_t hidden_count = N * b->H;
            float *activated = b->activated;
#pragma omp simd
            for (int64_t i = 0; i < hidden_count; i++)
                activated[i] = before_relu[i] > 0 ? before_relu[i] : 0.0f;
            linear(b->v, activated, b->w2, b->b2, N, b->H, F);
            const float *xk = b->x, *v = b->v;
            float *next = b->next;
#pragma omp simd
            for (int64_t i = 0; i < count; i++)
                next[i] = xk[i] + h * v[i];
            net->block_squares[k] = lap_sum_squares(v, count);   /* serial at these sizes */
        }
        const float *v = b->v;
        net->block_cost[k] = net->transport.form == LAP_TRANSPORT_FROBENIUS
                                 ? sqrt(net->block_squares[k])
                                 : lap_transport_cost_of(&net->transport, net->block_squares[k], v, count);
        net->transport_cost += net->block_cost[k];
    }
    return 1;
}

int lap_resnet_fused_backward(lap_resnet *net, float *grad, float *branch, int *failed_block)
{
    lap_resnet_plan *p = net->plan;
    if (!lap_resnet_plan_current(net) || !p->backward_ready)
        return 0;
    int64_t N = p->N, count = N * p->F;
    int F = p->F;
    float h = (float)net->step;
    int frobenius = net->transport.form == LAP_TRANSPORT_FROBENIUS;
    for (int k = net->nblocks - 1; k >= 0; k--) {
        fused_block *b = &p->blocks[k];
        const float *v = b->v;
        /* lap_transport_grad's Frobenius term: += (weight / ||v||) v, none at v = 0 */
        int transport = frobenius && net->transport_weight != 0.0 && net->block_cost[k] != 0.0;
        float scale = transport ? (float)(net->transport_weight / net->block_cost[k]) : 0.0f;
#ifdef __SSE2__
        int pairs = F == 2 && b->H == 2 && N % 2 == 0 && frobenius;
        if (pairs) {
            second_half_backward_2x2(b, grad, N, h, transport, scale);
        } else
#endif
        {
            if (transport) {
#pragma omp simd
                for (int64_t i = 0; i < count; i++) {
                    float through = h * grad[i];
                    branch[i] = through + scale * v[i];
                }
            } else {
#pragma omp simd
                for (int64_t i = 0; i < count; i++)
                    branch[i] = h * grad[i];
                lap_transport_grad(branch, &net->transport, v, count, net->block_cost[k], net->transport_weight);
            }
            linear_backward(b->grad_activated, b->dw2, b->db2, branch, b->activated, b->w2, N, b->H, F);
            int64_t hidden_count = N * b->H;
            const float *activated = b->activated, *grad_activated = b->grad_activated;
            float *grad_hidden = b->grad_hidden;
#pragma omp simd
            for (int64_t i = 0; i < hidden_count; i++) {
                float g = grad_activated[i];
                grad_hidden[i] = activated[i] > 0 ? g : 0.0f;
            }
        }
        const float *grad_before_relu = b->grad_hidden;
        if (b->norm) {
            if (b->norm->ops->backward(b->norm, b->relu->grad_input) != LAP_OK) {
                lap_error_wrap("Sequential", NULL, 2);
                lap_resnet_plan_drop(net);
                *failed_block = k;
                return LAP_ERR;
            }
            grad_before_relu = lap_data(b->norm->grad_input);
        }
#ifdef __SSE2__
        if (pairs) {
            first_half_backward_2x2(b, grad_before_relu, grad, N);
            continue;
        }
#endif
        linear_backward(b->grad_x, b->dw1, b->db1, grad_before_relu, b->x, b->w1, N, F, b->H);
        const float *grad_x = b->grad_x;   /* lap_axpy(grad, 1, grad_x): 1 * x is x */
#pragma omp simd
        for (int64_t i = 0; i < count; i++)
            grad[i] += grad_x[i];
    }
    return 1;
}
