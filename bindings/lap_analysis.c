/* lap_analysis.c: Lua bindings for runtime/analysis/analysis.h, numerical summaries of
 * clouds and flows for figures and probes.
 *
 *   lap.pca(x [, fit_on])        (N, 2) tensor: x (N, D) projected on the two
 *                                principal axes fitted on fit_on (M, D), default x;
 *                                second value: {variance = {v1, v2}} of the fit
 *   lap.wasserstein1(a, b)       exact W1 between equal-size clouds (N, D), N <= 5000
 *   lap.least_squares(x, y)      slope, intercept, r, n (pairs used); x, y: Lua
 *                                tables of numbers or 1-D tensors; NaN pairs skipped,
 *                                r (and slope for constant x) NaN when undefined
 *   lap.line_shape(states)       mean path length / end-to-end distance over points,
 *                                and the number of points counted; states: a table
 *                                {x_0, ..., x_K} of (N, D) tensors (net:states(x))
 *
 * Computation is in double; PCA coordinates come back as a float32 tensor, the
 * scalars as Lua numbers.  Errors name the Lua function ("lap.wasserstein1: shapes
 * [5, 2] and [6, 2] differ").  Scratch arrays are Lua userdata, so a Lua error
 * raised while filling them leaks nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lap_bindings.h"
#include "analysis/analysis.h"
#include "core/error.h"

/* ------------------------------------------------------------------ helpers */

/* The runtime's message as a Lua error naming the Lua function: the runtime says
 * "wasserstein1: ...", Lua users see "lap.wasserstein1: ...".  "interrupted"
 * (Ctrl-C in laprun) passes unchanged so laprun reports it as usual. */
static int analysis_error(lua_State *L, const char *name)
{
    const char *message = lap_last_error();
    size_t length = strlen(name);
    if (strcmp(message, "interrupted") == 0)
        return luaL_error(L, "%s", message);
    if (strncmp(message, name, length) == 0 && message[length] == ':')
        return luaL_error(L, "lap.%s", message);
    return luaL_error(L, "lap.%s: %s", name, message);
}

/* The value's type as users know it: "lap.Tensor", "table", "nil"... */
static const char *type_name(lua_State *L, int idx)
{
    int type = luaL_getmetafield(L, idx, "__name");
    if (type == LUA_TSTRING) {
        const char *name = lua_tostring(L, -1);
        lua_pop(L, 1);   /* the metatable still holds the string */
        return name;
    }
    if (type != LUA_TNIL)
        lua_pop(L, 1);
    return luaL_typename(L, idx);
}

/* A 2-D tensor (N, D) with N >= 1, D >= 1, or a Lua error naming `where` and `what`. */
static lap_tensor *check_cloud(lua_State *L, int idx, const char *where, const char *what)
{
    lap_tensor *t = lapL_testtensor(L, idx);
    if (!t)
        luaL_error(L, "%s: %s must be a tensor (N, D), got %s", where, what, type_name(L, idx));
    char shape[LAP_SHAPE_BUF];
    if (t->ndim != 2)
        luaL_error(L, "%s: %s must be a 2-D tensor (N, D), got shape %s", where, what,
                   lap_shape_str(t, shape, sizeof shape));
    if (t->shape[0] < 1 || t->shape[1] < 1)
        luaL_error(L, "%s: %s is empty (shape %s)", where, what, lap_shape_str(t, shape, sizeof shape));
    return t;
}

/* A scratch array owned by a new userdata on the stack (collected with it). */
static void *scratch(lua_State *L, size_t bytes)
{
    return lua_newuserdatauv(L, bytes ? bytes : 1, 0);
}

/* Numbers from a Lua table or a tensor with one dimension, as a scratch double
 * array left on the stack; *count entries.  NaN entries are allowed (missing). */
static double *check_numbers(lua_State *L, int idx, int64_t *count, const char *where, const char *what)
{
    lap_tensor *t = lapL_testtensor(L, idx);
    if (t) {
        if (t->ndim != 1) {
            char shape[LAP_SHAPE_BUF];
            luaL_error(L, "%s: %s must be a 1-D tensor or a table of numbers, got shape %s", where, what,
                       lap_shape_str(t, shape, sizeof shape));
        }
        *count = t->shape[0];
        double *values = scratch(L, (size_t)*count * sizeof(double));
        const float *data = lap_data(t);
        for (int64_t i = 0; i < *count; i++)
            values[i] = data[i];
        return values;
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: %s must be a table of numbers or a 1-D tensor, got %s", where, what,
                   type_name(L, idx));
    *count = (int64_t)lua_rawlen(L, idx);
    double *values = scratch(L, (size_t)*count * sizeof(double));
    for (int64_t i = 0; i < *count; i++) {
        if (lua_rawgeti(L, idx, (lua_Integer)(i + 1)) != LUA_TNUMBER)
            luaL_error(L, "%s: %s[%I] must be a number, got %s", where, what, (lua_Integer)(i + 1),
                       type_name(L, -1));
        values[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    return values;
}

/* ------------------------------------------------------------ lap functions */

static int l_pca(lua_State *L)
{
    lap_tensor *x = check_cloud(L, 1, "lap.pca", "x");
    lap_tensor *fit_on = lua_isnoneornil(L, 2) ? x : check_cloud(L, 2, "lap.pca", "fit_on");
    if (fit_on->shape[1] != x->shape[1]) {
        char xs[LAP_SHAPE_BUF], fs[LAP_SHAPE_BUF];
        luaL_error(L, "lap.pca: x has shape %s but fit_on has shape %s (widths differ)",
                   lap_shape_str(x, xs, sizeof xs), lap_shape_str(fit_on, fs, sizeof fs));
    }
    int64_t N = x->shape[0], D = x->shape[1];
    /* Everything that can raise a Lua error comes before the fit, whose result
     * holds malloc'ed arrays until lap_pca_free. */
    double *projected = scratch(L, (size_t)N * 2 * sizeof(double));
    lap_tensor *out = lap_tensor_new2(N, 2);
    if (!out)
        return analysis_error(L, "pca");
    lapL_pushtensor(L, out);
    lua_createtable(L, 0, 1);
    lua_createtable(L, 2, 0);

    lap_pca pca;
    if (lap_pca_fit(&pca, lap_data(fit_on), fit_on->shape[0], D) != LAP_OK)
        return analysis_error(L, "pca");
    lap_pca_project(&pca, projected, lap_data(x), N);
    double variance[2] = {pca.variance[0], pca.variance[1]};
    lap_pca_free(&pca);

    float *data = lap_data(out);
    for (int64_t k = 0; k < 2 * N; k++)
        data[k] = (float)projected[k];
    for (int k = 0; k < 2; k++) {
        lua_pushnumber(L, variance[k]);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "variance");
    return 2;
}

static int l_wasserstein1(lua_State *L)
{
    lap_tensor *a = check_cloud(L, 1, "lap.wasserstein1", "a");
    lap_tensor *b = check_cloud(L, 2, "lap.wasserstein1", "b");
    if (!lap_same_shape(a, b)) {
        char as[LAP_SHAPE_BUF], bs[LAP_SHAPE_BUF];
        luaL_error(L, "lap.wasserstein1: shapes %s and %s differ", lap_shape_str(a, as, sizeof as),
                   lap_shape_str(b, bs, sizeof bs));
    }
    double distance;
    if (lap_wasserstein1(&distance, lap_data(a), lap_data(b), a->shape[0], a->shape[1]) != LAP_OK)
        return analysis_error(L, "wasserstein1");
    lua_pushnumber(L, distance);
    return 1;
}

static int l_least_squares(lua_State *L)
{
    int64_t nx, ny;
    const double *x = check_numbers(L, 1, &nx, "lap.least_squares", "x");
    const double *y = check_numbers(L, 2, &ny, "lap.least_squares", "y");
    if (nx != ny)
        luaL_error(L, "lap.least_squares: x has %I values but y has %I", (lua_Integer)nx, (lua_Integer)ny);
    lap_fit fit;
    if (lap_least_squares(&fit, x, y, nx) != LAP_OK)
        return analysis_error(L, "least_squares");
    lua_pushnumber(L, fit.slope);
    lua_pushnumber(L, fit.intercept);
    lua_pushnumber(L, fit.r);
    lua_pushinteger(L, (lua_Integer)fit.n);
    return 4;
}

static int l_line_shape(lua_State *L)
{
    if (!lua_istable(L, 1) || lapL_testtensor(L, 1))
        luaL_error(L, "lap.line_shape: states must be a table of (N, D) tensors {x_0, ..., x_K}, got %s",
                   type_name(L, 1));
    lua_Integer count = (lua_Integer)lua_rawlen(L, 1);
    if (count < 2)
        luaL_error(L, "lap.line_shape: needs at least 2 states (x_0 and x_K), got %I", count);
    if (count > 1000000)
        luaL_error(L, "lap.line_shape: %I states is too many", count);
    const float **states = scratch(L, (size_t)count * sizeof(float *));
    lap_tensor *first = NULL;
    char where[64];
    for (lua_Integer k = 1; k <= count; k++) {
        lua_rawgeti(L, 1, k);
        snprintf(where, sizeof where, "states[%lld]", (long long)k);
        lap_tensor *t = check_cloud(L, -1, "lap.line_shape", where);
        if (!first) {
            first = t;
        } else if (!lap_same_shape(first, t)) {
            char fs[LAP_SHAPE_BUF], ts[LAP_SHAPE_BUF];
            luaL_error(L, "lap.line_shape: states[%I] has shape %s but states[1] has %s", k,
                       lap_shape_str(t, ts, sizeof ts), lap_shape_str(first, fs, sizeof fs));
        }
        states[k - 1] = lap_data(t);
        /* The tensor stays referenced by the states table (argument 1), so its
         * data outlives this call even after it is popped. */
        lua_pop(L, 1);
    }
    double score;
    int64_t used;
    if (lap_line_shape(&score, &used, states, (int)(count - 1), first->shape[0], first->shape[1]) != LAP_OK)
        return analysis_error(L, "line_shape");
    lua_pushnumber(L, score);
    lua_pushinteger(L, (lua_Integer)used);
    return 2;
}

void lapL_open_analysis(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"pca", l_pca},
        {"wasserstein1", l_wasserstein1},
        {"least_squares", l_least_squares},
        {"line_shape", l_line_shape},
        {NULL, NULL},
    };
    luaL_setfuncs(L, functions, 0);
}
