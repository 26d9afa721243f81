/* lap_conv.c: the image layers of lap.nn (NCHW tensors) and the MSE loss:
 *
 *   lap.nn.Conv2d(in, out, kernel [, {stride = 1, padding = 0, groups = 1, bias = true}])
 *   lap.nn.ConvTranspose2d(in, out, kernel [, {stride = 1, padding = 0, output_padding = 0, bias = true}])
 *   lap.nn.AvgPool2d(kernel [, {stride = kernel, padding = 0}])
 *   lap.nn.MaxPool2d(kernel [, {stride = kernel, padding = 0}])
 *   lap.nn.GlobalAvgPool()                 (N, C, H, W) -> (N, C)
 *   lap.nn.Flatten()                       (N, ...) -> (N, rest)
 *   lap.nn.mse(output, target)             -> loss, gradient of the loss in output
 *
 * kernel is a number or {kh, kw} (ConvTranspose2d and the pools: square only).
 * The modules get lap_nn.c's Module metatable (forward, backward, parameters, ...).
 * The binding checks types and that numbers fit the runtime's int arguments; the
 * runtime constructors check the values (positive sizes, padding limits) and
 * name the module in their errors.
 */
#include <limits.h>

#include "lap_bindings.h"
#include "core/error.h"
#include "nn/module.h"
#include "train/mse.h"

static int push_new_module(lua_State *L, lap_module *m)
{
    if (!m)
        return lapL_runtime_error(L);
    lapL_pushmodule(L, m);
    return 1;
}

/* An integer argument or option the runtime takes as an int. */
static int check_int(lua_State *L, lua_Integer value, const char *where, const char *what)
{
    if (value < INT_MIN || value > INT_MAX)
        luaL_error(L, "%s: %s %I is out of range", where, what, value);
    return (int)value;
}

static int opt_int(lua_State *L, int idx, const char *key, int def, const char *where)
{
    return check_int(L, lapL_optinteger(L, idx, key, def, where), where, key);
}

/* kernel at idx: a number, or a table {kh, kw}. */
static void check_kernel(lua_State *L, int idx, const char *where, int *kh, int *kw)
{
    if (lua_type(L, idx) == LUA_TTABLE) {
        if (lua_rawlen(L, idx) != 2)
            luaL_error(L, "%s: kernel must be a number or {kh, kw}, got a table of %d entries", where,
                       (int)lua_rawlen(L, idx));
        int sizes[2];
        for (int i = 0; i < 2; i++) {
            lua_rawgeti(L, idx, i + 1);
            int isint;
            lua_Integer v = lua_tointegerx(L, -1, &isint);
            if (!isint)
                luaL_error(L, "%s: kernel[%d] must be an integer, got %s", where, i + 1, luaL_typename(L, -1));
            sizes[i] = check_int(L, v, where, "kernel size");
            lua_pop(L, 1);
        }
        *kh = sizes[0];
        *kw = sizes[1];
        return;
    }
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_error(L, "%s: kernel must be a number or {kh, kw}, got %s", where, luaL_typename(L, idx));
    *kh = *kw = check_int(L, luaL_checkinteger(L, idx), where, "kernel size");
}

static int check_square_kernel(lua_State *L, int idx, const char *where)
{
    int kh, kw;
    check_kernel(L, idx, where, &kh, &kw);
    if (kh != kw)
        luaL_error(L, "%s: kernel must be square, got {%d, %d}", where, kh, kw);
    return kh;
}

static int nn_conv2d(lua_State *L)
{
    static const char *const options[] = {"stride", "padding", "groups", "bias", NULL};
    const char *where = "nn.Conv2d";
    lua_Integer in = luaL_checkinteger(L, 1), out = luaL_checkinteger(L, 2);
    int kh, kw;
    check_kernel(L, 3, where, &kh, &kw);
    lapL_checkoptions(L, 4, where, options);
    int stride = opt_int(L, 4, "stride", 1, where);
    int padding = opt_int(L, 4, "padding", 0, where);
    int groups = opt_int(L, 4, "groups", 1, where);
    int bias = lapL_optboolean(L, 4, "bias", 1, where);
    return push_new_module(L, lap_conv2d_new(in, out, kh, kw, stride, padding, groups, bias));
}

static int nn_conv_transpose2d(lua_State *L)
{
    static const char *const options[] = {"stride", "padding", "output_padding", "bias", NULL};
    const char *where = "nn.ConvTranspose2d";
    lua_Integer in = luaL_checkinteger(L, 1), out = luaL_checkinteger(L, 2);
    int kernel = check_square_kernel(L, 3, where);
    lapL_checkoptions(L, 4, where, options);
    int stride = opt_int(L, 4, "stride", 1, where);
    int padding = opt_int(L, 4, "padding", 0, where);
    int output_padding = opt_int(L, 4, "output_padding", 0, where);
    int bias = lapL_optboolean(L, 4, "bias", 1, where);
    return push_new_module(L, lap_conv_transpose2d_new(in, out, kernel, stride, padding, output_padding, bias));
}

/* AvgPool2d / MaxPool2d: stride defaults to the kernel (the runtime's stride 0). */
static int new_pool(lua_State *L, const char *where, lap_module *(*make)(int, int, int))
{
    static const char *const options[] = {"stride", "padding", NULL};
    int kernel = check_square_kernel(L, 1, where);
    lapL_checkoptions(L, 2, where, options);
    /* absent: the runtime's stride 0, "= kernel"; an explicit 0 is a mistake */
    lua_Integer stride = lapL_optinteger(L, 2, "stride", LUA_MININTEGER, where);
    if (stride == LUA_MININTEGER)
        stride = 0;
    else if (stride <= 0)
        return luaL_error(L, "%s: stride must be positive, got %I", where, stride);
    int padding = opt_int(L, 2, "padding", 0, where);
    return push_new_module(L, make(kernel, check_int(L, stride, where, "stride"), padding));
}

static int nn_avgpool2d(lua_State *L) { return new_pool(L, "nn.AvgPool2d", lap_avgpool2d_new); }
static int nn_maxpool2d(lua_State *L) { return new_pool(L, "nn.MaxPool2d", lap_maxpool2d_new); }
static int nn_global_avgpool(lua_State *L) { return push_new_module(L, lap_global_avgpool_new()); }
static int nn_flatten(lua_State *L) { return push_new_module(L, lap_flatten_new()); }

/* mse(output, target) -> loss (mean over every element), d loss / d output */
static int nn_mse(lua_State *L)
{
    lap_tensor *output = lapL_checktensor(L, 1), *target = lapL_checktensor(L, 2);
    char a[LAP_SHAPE_BUF], b[LAP_SHAPE_BUF];
    if (!lap_same_shape(output, target))
        return luaL_error(L, "nn.mse: output of shape %s and target of shape %s differ",
                          lap_shape_str(output, a, sizeof a), lap_shape_str(target, b, sizeof b));
    lap_tensor *grad = lap_tensor_new(output->ndim, output->shape);
    if (!grad)
        return lapL_runtime_error(L);
    double loss;
    if (lap_mse_loss(&loss, lap_data(grad), lap_data(output), lap_data(target), lap_numel(output), 1.0) != LAP_OK) {
        lap_tensor_release(grad);
        return lapL_runtime_error(L);
    }
    lua_pushnumber(L, loss);
    lapL_pushtensor(L, grad);
    return 2;
}

void lapL_open_conv(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"Conv2d", nn_conv2d},       {"ConvTranspose2d", nn_conv_transpose2d},
        {"AvgPool2d", nn_avgpool2d}, {"MaxPool2d", nn_maxpool2d},
        {"GlobalAvgPool", nn_global_avgpool}, {"Flatten", nn_flatten},
        {"mse", nn_mse},             {NULL, NULL},
    };
    if (lua_getfield(L, -1, "nn") != LUA_TTABLE)
        luaL_error(L, "lapL_open_conv: lap.nn must be opened first");
    luaL_setfuncs(L, functions, 0);
    lua_pop(L, 1);
}
