/* lap_attack.c: Lua bindings for attacks, probes and the detector
 * (runtime/analysis/attack.h, probes.h, detector.h).
 *
 *   lap.attack.fgsm{net, x, labels, epsilon, clip = {lo, hi}, batch = 1000}
 *   lap.attack.pgd{net, x, labels, epsilon, alpha, steps, clip, random_start = true,
 *                  seed, start, batch}              -> adversarial tensor (shape of x)
 *   net:input_gradient(x, labels)                   -> dL/dx (shape of x), loss
 *   net:state_gradients(x, labels)  (ResNet)        -> {dL/dx_0, ..., dL/dx_K}, loss
 *   net:block_alignment(x, labels)  (ResNet)        -> (N, K) cos(v_k, -dL/dx_k), per-block means
 *   net:displacement_norms(x)       (ResNet)        -> (N, K) ||v_k(x_k)||
 *   net:line_shapes(x)              (ResNet)        -> (N) path length / end-to-end distance
 *   lap.logistic_fit(x, y, {l2 = 1e-3, standardize = true, iterations = 100})
 *                                                   -> weights (a table of D + 1 numbers, intercept last), steps
 *   lap.logistic_predict(weights, x)                -> probabilities (N)
 *   lap.roc(scores, y)                              -> fpr (table), tpr (table), auc
 *
 * The module methods are added to the lap.Module method table made by lap_nn.c
 * (lapL_open_attack runs after lapL_open_nn).  Labels are 0-based classes (a table
 * or a tensor); detector labels are 0 or 1.  Scratch arrays are Lua userdata, so a
 * Lua error raised while filling them leaks nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lap_bindings.h"
#include "analysis/analysis.h"
#include "analysis/attack.h"
#include "analysis/detector.h"
#include "analysis/probes.h"
#include "core/error.h"
#include "core/rng.h"
#include "nn/resnet.h"

/* N labels for x's rows, as an int32 userdata pushed on the stack. */
static int32_t *push_labels(lua_State *L, int idx, int64_t N, const char *where)
{
    int64_t count;
    int32_t *malloced = lapL_checklabels(L, idx, &count, where);
    int32_t *labels = lua_newuserdatauv(L, sizeof *labels * (size_t)(count ? count : 1), 0);
    memcpy(labels, malloced, sizeof *labels * (size_t)count);
    free(malloced);
    if (count != N)
        luaL_error(L, "%s: %I labels for %I inputs", where, (lua_Integer)count, (lua_Integer)N);
    return labels;
}

static lap_tensor *check_batch(lua_State *L, int idx, const char *where)
{
    lap_tensor *x = lapL_checktensor(L, idx);
    char shape[LAP_SHAPE_BUF];
    if (x->ndim < 1 || x->shape[0] < 1)
        luaL_error(L, "%s: input of shape %s needs a batch dimension with at least one row", where,
                   lap_shape_str(x, shape, sizeof shape));
    return x;
}

/* ------------------------------------------------------------------ attacks */

static lap_tensor *required_tensor(lua_State *L, const char *key, const char *where)
{
    if (lua_getfield(L, 1, key) == LUA_TNIL)
        luaL_error(L, "%s: option '%s' is required", where, key);
    lap_tensor *t = lapL_testtensor(L, -1);
    if (!t)
        luaL_error(L, "%s: option '%s' must be a tensor, got %s", where, key, luaL_typename(L, -1));
    lua_pop(L, 1);   /* the option table keeps it alive */
    return t;
}

static int attack(lua_State *L, int pgd)
{
    static const char *const fgsm_options[] = {"net", "x", "labels", "epsilon", "clip", "batch", NULL};
    static const char *const pgd_options[] = {"net", "x", "labels", "epsilon", "clip", "batch", "alpha", "steps",
                                              "random_start", "seed", "start", NULL};
    const char *where = pgd ? "attack.pgd" : "attack.fgsm";
    luaL_checktype(L, 1, LUA_TTABLE);
    lapL_checkoptions(L, 1, where, pgd ? pgd_options : fgsm_options);
    lua_getfield(L, 1, "net");
    lap_module *net = lapL_testmodule(L, -1);
    if (!net)
        return luaL_error(L, "%s: option 'net' must be a lap module, got %s", where, luaL_typename(L, -1));
    lua_pop(L, 1);
    lap_tensor *x = required_tensor(L, "x", where);
    char shape[LAP_SHAPE_BUF];
    if (x->ndim < 1 || x->shape[0] < 1)
        return luaL_error(L, "%s: input of shape %s needs at least one row", where, lap_shape_str(x, shape, sizeof shape));
    lua_getfield(L, 1, "labels");
    const int32_t *labels = push_labels(L, -1, x->shape[0], where);
    lap_attack_options o = {0};
    lua_getfield(L, 1, "epsilon");
    if (!lua_isnumber(L, -1))
        return luaL_error(L, "%s: option 'epsilon' (a number) is required", where);
    o.epsilon = lua_tonumber(L, -1);
    lua_pop(L, 1);
    o.lo = 1, o.hi = 0;   /* no clipping */
    int type = lua_getfield(L, 1, "clip");
    if (type != LUA_TNIL) {
        if (type != LUA_TTABLE || lua_rawlen(L, -1) != 2)
            return luaL_error(L, "%s: option 'clip' must be {lo, hi}", where);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        if (!lua_isnumber(L, -2) || !lua_isnumber(L, -1))
            return luaL_error(L, "%s: option 'clip' must be {lo, hi} numbers", where);
        o.lo = lua_tonumber(L, -2), o.hi = lua_tonumber(L, -1);
        if (!(o.lo <= o.hi))
            return luaL_error(L, "%s: clip = {%f, %f} has lo > hi", where, o.lo, o.hi);
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    o.batch = lapL_optrange(L, 1, "batch", 1000, 1, INT64_MAX, where);
    lap_rng private_rng;
    if (pgd) {
        o.steps = (int)lapL_optrange(L, 1, "steps", 10, 0, 1000000, where);
        o.alpha = lapL_optnumber(L, 1, "alpha", o.epsilon / 4, where);
        o.random_start = lapL_optboolean(L, 1, "random_start", 1, where);
        lua_getfield(L, 1, "seed");
        if (!lua_isnil(L, -1)) {
            lap_rng_seed(&private_rng, (uint32_t)lapL_optrange(L, 1, "seed", 0, 0, UINT32_MAX, where));
            o.rng = &private_rng;
        }
        lua_pop(L, 1);
        lua_getfield(L, 1, "start");
        if (!lua_isnil(L, -1)) {
            o.start = lapL_testtensor(L, -1);
            if (!o.start)
                return luaL_error(L, "%s: option 'start' must be a tensor (the delta of the start)", where);
        }
        lua_pop(L, 1);
    }
    lap_tensor *adversarial = lap_tensor_new(x->ndim, x->shape);
    if (!adversarial)
        return lapL_runtime_error(L);
    lapL_pushtensor(L, adversarial);   /* Lua owns it now, also if the attack fails */
    int status = pgd ? lap_pgd(adversarial, net, x, labels, &o) : lap_fgsm(adversarial, net, x, labels, &o);
    if (status != LAP_OK)
        return lapL_runtime_error(L);
    return 1;
}

static int l_fgsm(lua_State *L) { return attack(L, 0); }
static int l_pgd(lua_State *L) { return attack(L, 1); }

/* ------------------------------------------------------------- module probes */

static lap_resnet *check_resnet(lua_State *L, int idx, const char *what)
{
    lap_module *m = lapL_checkmodule(L, idx);
    lap_resnet *net = lap_as_resnet(m);
    if (!net)
        luaL_error(L, "%s: needs a ResNet, got a %s", what, m->ops->type);
    return net;
}

static int m_input_gradient(lua_State *L)
{
    lap_module *net = lapL_checkmodule(L, 1);
    lua_settop(L, 3);
    lap_tensor *x = check_batch(L, 2, "input_gradient");
    const int32_t *labels = push_labels(L, 3, x->shape[0], "input_gradient");
    lap_tensor *grad = lap_tensor_new(x->ndim, x->shape);
    if (!grad)
        return lapL_runtime_error(L);
    lapL_pushtensor(L, grad);
    double loss;
    if (lap_input_gradient(grad, &loss, NULL, net, x, labels) != LAP_OK)
        return lapL_runtime_error(L);
    lua_pushnumber(L, loss);
    return 2;
}

static int m_state_gradients(lua_State *L)
{
    lap_resnet *net = check_resnet(L, 1, "state_gradients");
    lua_settop(L, 3);
    lap_tensor *x = check_batch(L, 2, "state_gradients");
    const int32_t *labels = push_labels(L, 3, x->shape[0], "state_gradients");
    int K = net->nblocks;
    lap_tensor **grads = lua_newuserdatauv(L, sizeof *grads * ((size_t)K + 1), 0);
    memset(grads, 0, sizeof *grads * ((size_t)K + 1));
    double loss;
    int status = lap_state_gradients(grads, &loss, &net->base, x, labels);
    lua_createtable(L, K + 1, 0);
    for (int k = 0; k <= K; k++) {   /* the table takes every reference, also after a failure */
        if (grads[k]) {
            lapL_pushtensor(L, grads[k]);
            lua_rawseti(L, -2, k + 1);
        }
    }
    if (status != LAP_OK)
        return lapL_runtime_error(L);
    lua_pushnumber(L, loss);
    return 2;
}

/* A (N, K) tensor from doubles; NaN stays NaN. */
static lap_tensor *push_matrix(lua_State *L, const double *values, int64_t N, int64_t K)
{
    lap_tensor *t = lap_tensor_new2(N, K);
    if (!t)
        return lapL_runtime_error(L), NULL;
    for (int64_t i = 0; i < N * K; i++)
        lap_data(t)[i] = (float)values[i];
    lapL_pushtensor(L, t);
    return t;
}

static int m_block_alignment(lua_State *L)
{
    lap_resnet *net = check_resnet(L, 1, "block_alignment");
    lua_settop(L, 3);
    lap_tensor *x = check_batch(L, 2, "block_alignment");
    const int32_t *labels = push_labels(L, 3, x->shape[0], "block_alignment");
    int64_t N = x->shape[0], K = net->nblocks;
    double *cosines = lua_newuserdatauv(L, sizeof(double) * (size_t)(N * K > 0 ? N * K : 1), 0);
    if (lap_block_alignment(cosines, &net->base, x, labels) != LAP_OK)
        return lapL_runtime_error(L);
    push_matrix(L, cosines, N, K);
    lua_createtable(L, (int)K, 0);   /* per-block means over the points where defined */
    for (int64_t k = 0; k < K; k++) {
        double sum = 0;
        int64_t used = 0;
        for (int64_t i = 0; i < N; i++)
            if (!isnan(cosines[i * K + k]))
                sum += cosines[i * K + k], used++;
        lua_pushnumber(L, used ? sum / used : NAN);
        lua_rawseti(L, -2, k + 1);
    }
    return 2;
}

static int m_displacement_norms(lua_State *L)
{
    lap_resnet *net = check_resnet(L, 1, "displacement_norms");
    lap_tensor *x = check_batch(L, 2, "displacement_norms");
    int64_t N = x->shape[0], K = net->nblocks;
    double *norms = lua_newuserdatauv(L, sizeof(double) * (size_t)(N * K > 0 ? N * K : 1), 0);
    if (lap_displacement_norms(norms, &net->base, x) != LAP_OK)
        return lapL_runtime_error(L);
    push_matrix(L, norms, N, K);
    return 1;
}

static int m_line_shapes(lua_State *L)
{
    lap_resnet *net = check_resnet(L, 1, "line_shapes");
    lap_tensor *x = check_batch(L, 2, "line_shapes");
    int64_t N = x->shape[0];
    double *scores = lua_newuserdatauv(L, sizeof(double) * (size_t)N, 0);
    /* displacement_norms runs the quiet forward whose states are read here */
    double *unused = lua_newuserdatauv(L, sizeof(double) * (size_t)(N * (net->nblocks ? net->nblocks : 1)), 0);
    if (lap_displacement_norms(unused, &net->base, x) != LAP_OK)
        return lapL_runtime_error(L);
    const float **states = lua_newuserdatauv(L, sizeof *states * ((size_t)net->nblocks + 1), 0);
    for (int k = 0; k <= net->nblocks; k++)
        states[k] = lap_data(net->states[k]);
    lap_line_shape_points(scores, states, net->nblocks, N, lap_cols(net->states[0]));
    lap_tensor *t = lap_tensor_new(1, &N);
    if (!t)
        return lapL_runtime_error(L);
    for (int64_t i = 0; i < N; i++)
        lap_data(t)[i] = (float)scores[i];
    lapL_pushtensor(L, t);
    return 1;
}

/* ----------------------------------------------------------------- detector */

/* (N, D) doubles from a 2-D tensor, or N from a 1-D tensor / list (D = 1). */
static double *push_doubles(lua_State *L, int idx, int64_t *N, int64_t *D, const char *where, const char *what)
{
    idx = lua_absindex(L, idx);
    lap_tensor *t = lapL_testtensor(L, idx);
    double *values;
    if (t) {
        char shape[LAP_SHAPE_BUF];
        if (t->ndim < 1 || t->ndim > 2)
            return (void)luaL_error(L, "%s: %s of shape %s should be 1-D or 2-D", where, what,
                                    lap_shape_str(t, shape, sizeof shape)), NULL;
        *N = t->shape[0];
        *D = t->ndim == 2 ? t->shape[1] : 1;
        values = lua_newuserdatauv(L, sizeof(double) * (size_t)(*N * *D > 0 ? *N * *D : 1), 0);
        for (int64_t i = 0; i < *N * *D; i++)
            values[i] = lap_data(t)[i];
        return values;
    }
    if (!lua_istable(L, idx))
        return (void)luaL_error(L, "%s: %s must be a tensor or a table of numbers, got %s", where, what,
                                luaL_typename(L, idx)), NULL;
    *N = (int64_t)lua_rawlen(L, idx);
    *D = 1;
    values = lua_newuserdatauv(L, sizeof(double) * (size_t)(*N ? *N : 1), 0);
    for (int64_t i = 0; i < *N; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        int isnum;
        values[i] = lua_tonumberx(L, -1, &isnum);
        lua_pop(L, 1);
        if (!isnum)
            return (void)luaL_error(L, "%s: %s[%I] is not a number", where, what, (lua_Integer)i + 1), NULL;
    }
    return values;
}

static int detector_error(lua_State *L)
{
    return luaL_error(L, "lap.%s", lap_last_error());
}

static int l_logistic_fit(lua_State *L)
{
    static const char *const options[] = {"l2", "standardize", "iterations", NULL};
    const char *where = "lap.logistic_fit";
    lua_settop(L, 3);   /* the option table stays at 3, scratch goes above it */
    lapL_checkoptions(L, 3, where, options);
    int64_t N, D, Ny, one;
    const double *x = push_doubles(L, 1, &N, &D, where, "x");
    const double *y = push_doubles(L, 2, &Ny, &one, where, "y");
    if (Ny != N || one != 1)
        return luaL_error(L, "%s: %I labels for %I points", where, (lua_Integer)(Ny * one), (lua_Integer)N);
    lap_logistic_options o = {
        .l2 = lapL_optnumber(L, 3, "l2", 1e-3, where),
        .standardize = lapL_optboolean(L, 3, "standardize", 1, where),
        .max_iterations = (int)lapL_optrange(L, 3, "iterations", 100, 1, 100000, where),
    };
    double *weights = lua_newuserdatauv(L, sizeof(double) * (size_t)(D + 1), 0);
    int steps;
    if (lap_logistic_fit(weights, &steps, x, y, N, D, &o) != LAP_OK)
        return detector_error(L);
    lua_createtable(L, (int)(D + 1), 0);   /* doubles: the fit's precision, not float32's */
    for (int64_t j = 0; j <= D; j++) {
        lua_pushnumber(L, weights[j]);
        lua_rawseti(L, -2, j + 1);
    }
    lua_pushinteger(L, steps);
    return 2;
}

static int l_logistic_predict(lua_State *L)
{
    const char *where = "lap.logistic_predict";
    lua_settop(L, 2);
    int64_t size, one, N, D;
    const double *w = push_doubles(L, 1, &size, &one, where, "weights");
    const double *x = push_doubles(L, 2, &N, &D, where, "x");
    if (one != 1 || size != D + 1)
        return luaL_error(L, "%s: %I weights for %I features (expected features + 1, the intercept last)", where,
                          (lua_Integer)(size * one), (lua_Integer)D);
    lap_tensor *p = lap_tensor_new(1, &N);
    if (!p)
        return lapL_runtime_error(L);
    lapL_pushtensor(L, p);
    double *probability = lua_newuserdatauv(L, sizeof(double) * (size_t)(N ? N : 1), 0);
    lap_logistic_predict(probability, w, x, N, D);
    for (int64_t i = 0; i < N; i++)
        lap_data(p)[i] = (float)probability[i];
    lua_pop(L, 1);
    return 1;
}

static int l_roc(lua_State *L)
{
    const char *where = "lap.roc";
    lua_settop(L, 2);
    int64_t N, one, Ny, oney;
    const double *scores = push_doubles(L, 1, &N, &one, where, "scores");
    const double *y = push_doubles(L, 2, &Ny, &oney, where, "y");
    if (one != 1 || oney != 1 || N != Ny)
        return luaL_error(L, "%s: %I scores and %I labels (both 1-D, the same length)", where, (lua_Integer)(N * one),
                          (lua_Integer)(Ny * oney));
    double *fpr = lua_newuserdatauv(L, sizeof(double) * (size_t)(N + 1), 0);
    double *tpr = lua_newuserdatauv(L, sizeof(double) * (size_t)(N + 1), 0);
    int64_t points;
    double auc;
    if (lap_roc(fpr, tpr, &points, &auc, scores, y, N) != LAP_OK)
        return detector_error(L);
    lua_createtable(L, (int)points, 0);
    lua_createtable(L, (int)points, 0);
    for (int64_t i = 0; i < points; i++) {
        lua_pushnumber(L, fpr[i]);
        lua_rawseti(L, -3, i + 1);
        lua_pushnumber(L, tpr[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushnumber(L, auc);
    return 3;
}

void lapL_open_attack(lua_State *L)
{
    static const luaL_Reg attacks[] = {{"fgsm", l_fgsm}, {"pgd", l_pgd}, {NULL, NULL}};
    luaL_newlib(L, attacks);
    lua_setfield(L, -2, "attack");
    static const luaL_Reg functions[] = {
        {"logistic_fit", l_logistic_fit}, {"logistic_predict", l_logistic_predict}, {"roc", l_roc}, {NULL, NULL}};
    luaL_setfuncs(L, functions, 0);

    static const luaL_Reg methods[] = {
        {"input_gradient", m_input_gradient},       {"state_gradients", m_state_gradients},
        {"block_alignment", m_block_alignment},     {"displacement_norms", m_displacement_norms},
        {"line_shapes", m_line_shapes},             {NULL, NULL},
    };
    luaL_getmetatable(L, LAPL_MODULE);
    if (lua_getfield(L, -1, "__methods") != LUA_TTABLE)
        luaL_error(L, "lap: the module method table is missing (open lap.nn first)");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
}
