/* lap_tensor.c: the Lua side of tensors (lap.tensor, lap.zeros, ..., and the
 * lap.Tensor metatable with its methods and operators).
 *
 * A tensor userdata holds exactly one reference to a lap_tensor; __gc releases
 * it.  Indices are 1-based as in torch7.  Numbers returned to Lua are integers
 * when the value is integral (so `print(t:sum())` shows 3, not 3.0).
 *
 * Limits: views are only those of tensor.h (reshape/view, narrow and select along
 * dim 1); everything else returns a new tensor.  __tostring prints 3-D and higher
 * tensors slice by slice only when they are small, and the summary line otherwise.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lap_bindings.h"
#include "core/error.h"
#include "core/rng.h"

/* ---- userdata ---- */

/* Lua only sees the userdata's few bytes, not the floats behind it, so a script
 * dropping big tensors in a loop would let the C heap grow far ahead of the
 * collector.  Reporting each fresh storage as GC debt keeps them in step. */
static void account_allocation(lua_State *L, const lap_tensor *t)
{
    if (t->refcount != 1 || t->storage->refcount != 1)
        return;   /* a view or a tensor someone else holds: no new memory */
    int64_t kilobytes = t->storage->capacity * (int64_t)sizeof(float) / 1024;
    if (kilobytes > 0)
        lua_gc(L, LUA_GCSTEP, (int)(kilobytes < INT_MAX ? kilobytes : INT_MAX));
}

/* Takes over one reference of t.  A NULL t (a failed runtime call) raises the
 * runtime's last error, so callers can push a result without checking it. */
void lapL_pushtensor(lua_State *L, lap_tensor *t)
{
    if (!t)
        lapL_runtime_error(L);
    lap_tensor **slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = t;
    luaL_setmetatable(L, LAPL_TENSOR);
    account_allocation(L, t);
}

lap_tensor *lapL_checktensor(lua_State *L, int idx)
{
    lap_tensor **slot = luaL_checkudata(L, idx, LAPL_TENSOR);
    if (!*slot)
        luaL_argerror(L, idx, "tensor was already collected");
    return *slot;
}

lap_tensor *lapL_testtensor(lua_State *L, int idx)
{
    lap_tensor **slot = luaL_testudata(L, idx, LAPL_TENSOR);
    return slot ? *slot : NULL;
}

/* ---- helpers ---- */

/* Integral values become Lua integers so that they print without ".0". */
static void push_number(lua_State *L, double value)
{
    if (value == floor(value) && fabs(value) < 9007199254740992.0)   /* 2^53 */
        lua_pushinteger(L, (lua_Integer)value);
    else
        lua_pushnumber(L, value);
}

/* "string", "table", or a userdata's __name ("lap.Tensor"), for messages. */
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

static const char *shape_str(const lap_tensor *t, char *buf)
{
    return lap_shape_str(t, buf, LAP_SHAPE_BUF);
}

/* Reads dims either from a single table argument or from arguments first..last.
 * allow_infer accepts one -1 (for reshape).  Returns the rank. */
static int read_dims(lua_State *L, int first, int last, int64_t *shape, int allow_infer, const char *where)
{
    int from_table = first == last && lua_istable(L, first);
    int count = from_table ? (int)lua_rawlen(L, first) : last - first + 1;
    if (count < 0)
        count = 0;
    if (count > LAP_MAX_DIMS)
        luaL_error(L, "%s: %d dimensions given, at most %d supported", where, count, LAP_MAX_DIMS);
    for (int i = 0; i < count; i++) {
        int idx = first + i;
        if (from_table) {
            lua_rawgeti(L, first, i + 1);
            idx = lua_gettop(L);
        }
        int isint = 0;
        lua_Integer d = lua_tointegerx(L, idx, &isint);
        if (!isint || (d < 0 && !(allow_infer && d == -1))) {
            if (allow_infer)
                luaL_error(L, "%s: dimension %d must be a non-negative integer or -1, got %s", where, i + 1,
                           luaL_tolstring(L, idx, NULL));
            luaL_error(L, "%s: dimension %d must be a non-negative integer, got %s", where, i + 1,
                       luaL_tolstring(L, idx, NULL));
        }
        shape[i] = d;
        if (from_table)
            lua_pop(L, 1);
    }
    return count;
}

/* Checks a 1-based index argument against dim 1 of t; returns it 0-based. */
static int64_t check_row_index(lua_State *L, const lap_tensor *t, int idx, const char *where)
{
    if (t->ndim == 0)
        luaL_error(L, "%s: cannot index a 0-dimensional tensor", where);
    int isint = 0;
    lua_Integer i = lua_tointegerx(L, idx, &isint);
    if (!isint) {
        if (lua_type(L, idx) == LUA_TNUMBER)
            luaL_error(L, "%s: index %s is not an integer", where, luaL_tolstring(L, idx, NULL));
        luaL_error(L, "%s: index must be an integer, got %s", where, type_name(L, idx));
    }
    if (i < 1 || i > t->shape[0])
        luaL_error(L, "%s: index %I out of range for dim 1 of size %I", where, (lua_Integer)i,
                   (lua_Integer)t->shape[0]);
    return (int64_t)(i - 1);
}

/* ---- construction from nested tables ---- */

static void format_position(char *buf, size_t size, const int64_t *position, int depth)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 0; d < depth && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "[%lld]", (long long)position[d] + 1);
}

/* Fills floats from the table at idx (at nesting depth `depth`), checking that
 * every level has the length the first elements promised. */
static void fill_from_table(lua_State *L, int idx, int depth, const lap_tensor *t, int64_t *position,
                            float **cursor)
{
    char where[128];
    int64_t expected = t->shape[depth];
    int64_t length = (int64_t)lua_rawlen(L, idx);
    if (length != expected) {
        if (depth == 1)
            luaL_error(L, "lap.tensor: row %I has %I elements, expected %I", (lua_Integer)position[0] + 1,
                       (lua_Integer)length, (lua_Integer)expected);
        format_position(where, sizeof where, position, depth);
        luaL_error(L, "lap.tensor: row %s has %I elements, expected %I", where, (lua_Integer)length,
                   (lua_Integer)expected);
    }
    luaL_checkstack(L, 2, "lap.tensor: nesting too deep");
    int leaf = depth == t->ndim - 1;
    for (int64_t i = 0; i < length; i++) {
        position[depth] = i;
        int type = lua_rawgeti(L, idx, (lua_Integer)i + 1);
        if (leaf) {
            if (type != LUA_TNUMBER) {
                format_position(where, sizeof where, position, depth + 1);
                luaL_error(L, "lap.tensor: expected a number at %s, got %s", where, type_name(L, -1));
            }
            *(*cursor)++ = (float)lua_tonumber(L, -1);
        } else {
            if (type != LUA_TTABLE) {
                format_position(where, sizeof where, position, depth + 1);
                luaL_error(L, "lap.tensor: expected a table at %s, got %s", where, type_name(L, -1));
            }
            fill_from_table(L, lua_gettop(L), depth + 1, t, position, cursor);
        }
        lua_pop(L, 1);
    }
}

/* Pushes a new tensor built from the value at idx: a copy of a tensor, or the
 * contents of a nested table of numbers. */
static lap_tensor *push_tensor_from_value(lua_State *L, int idx, const char *where)
{
    idx = lua_absindex(L, idx);
    lap_tensor *source = lapL_testtensor(L, idx);
    if (source) {
        lapL_pushtensor(L, lap_tensor_clone(source));
        return lapL_checktensor(L, -1);
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: expected a table of numbers, got %s", where, type_name(L, idx));

    /* The shape comes from following the first elements down. */
    int64_t shape[LAP_MAX_DIMS];
    int ndim = 0;
    lua_pushvalue(L, idx);
    for (;;) {
        if (ndim == LAP_MAX_DIMS)
            luaL_error(L, "%s: tables nested deeper than %d levels", where, LAP_MAX_DIMS);
        int64_t length = (int64_t)lua_rawlen(L, -1);
        shape[ndim++] = length;
        if (length == 0)
            break;
        int type = lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
        if (type != LUA_TTABLE)
            break;
    }
    lua_pop(L, 1);

    /* Pushed before filling, so that an error while filling leaves it to the GC. */
    lapL_pushtensor(L, lap_tensor_new(ndim, shape));
    lap_tensor *t = lapL_checktensor(L, -1);
    int64_t position[LAP_MAX_DIMS] = {0};
    float *cursor = lap_data(t);
    fill_from_table(L, idx, 0, t, position, &cursor);
    return t;
}

/* ---- lap.* functions ---- */

static int l_tensor(lua_State *L)
{
    luaL_checkany(L, 1);
    push_tensor_from_value(L, 1, "lap.tensor");
    return 1;
}

static lap_tensor *push_new_with_dims(lua_State *L, int first, int last, const char *where)
{
    int64_t shape[LAP_MAX_DIMS];
    int ndim = read_dims(L, first, last, shape, 0, where);
    lapL_pushtensor(L, lap_tensor_new(ndim, shape));
    return lapL_checktensor(L, -1);
}

static int l_zeros(lua_State *L)
{
    push_new_with_dims(L, 1, lua_gettop(L), "lap.zeros");
    return 1;
}

static int l_ones(lua_State *L)
{
    lap_tensor *t = push_new_with_dims(L, 1, lua_gettop(L), "lap.ones");
    lap_fill(lap_data(t), 1.0f, lap_numel(t));
    return 1;
}

/* lap.full({d1, d2}, value) or lap.full(d1, d2, value). */
static int l_full(lua_State *L)
{
    int top = lua_gettop(L);
    if (top < 2)
        return luaL_error(L, "lap.full: expected dims and a value, e.g. lap.full({2, 3}, 0.5)");
    float value = (float)luaL_checknumber(L, top);
    lap_tensor *t = push_new_with_dims(L, 1, top - 1, "lap.full");
    lap_fill(lap_data(t), value, lap_numel(t));
    return 1;
}

static int l_randn(lua_State *L)
{
    lap_tensor *t = push_new_with_dims(L, 1, lua_gettop(L), "lap.randn");
    lap_rng *rng = lap_global_rng();
    float *data = lap_data(t);
    for (int64_t i = 0, n = lap_numel(t); i < n; i++)
        data[i] = (float)lap_rng_gauss(rng);
    return 1;
}

static int l_rand(lua_State *L)
{
    lap_tensor *t = push_new_with_dims(L, 1, lua_gettop(L), "lap.rand");
    lap_rng *rng = lap_global_rng();
    float *data = lap_data(t);
    for (int64_t i = 0, n = lap_numel(t); i < n; i++)
        data[i] = (float)lap_rng_uniform(rng);
    return 1;
}

static int l_matmul(lua_State *L)
{
    lap_tensor *a = lapL_checktensor(L, 1);
    lap_tensor *b = lapL_checktensor(L, 2);
    lapL_pushtensor(L, lap_tensor_matmul(a, b));
    return 1;
}

static int l_is_tensor(lua_State *L)
{
    lua_pushboolean(L, lapL_testtensor(L, 1) != NULL);
    return 1;
}

/* ---- shape methods ---- */

static int m_size(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        lua_createtable(L, t->ndim, 0);
        for (int i = 0; i < t->ndim; i++) {
            lua_pushinteger(L, (lua_Integer)t->shape[i]);
            lua_rawseti(L, -2, i + 1);
        }
        return 1;
    }
    lua_Integer d = luaL_checkinteger(L, 2);
    if (d < 1 || d > t->ndim) {
        char buf[LAP_SHAPE_BUF];
        return luaL_error(L, "tensor.size: dim %I out of range for a %d-D tensor %s", d, t->ndim,
                          shape_str(t, buf));
    }
    lua_pushinteger(L, (lua_Integer)t->shape[d - 1]);
    return 1;
}

static int m_dim(lua_State *L)
{
    lua_pushinteger(L, lapL_checktensor(L, 1)->ndim);
    return 1;
}

static int m_numel(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lap_numel(lapL_checktensor(L, 1)));
    return 1;
}

static int m_reshape(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    int64_t shape[LAP_MAX_DIMS];
    int ndim = read_dims(L, 2, lua_gettop(L), shape, 1, "tensor.reshape");
    lapL_pushtensor(L, lap_tensor_reshape(t, ndim, shape));
    return 1;
}

/* t:narrow(start, length), or torch's t:narrow(1, start, length). */
static int m_narrow(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    int arg = 2;
    if (lua_gettop(L) >= 4) {
        lua_Integer dim = luaL_checkinteger(L, 2);
        luaL_argcheck(L, dim == 1, 2, "only dim 1 can be narrowed (a view)");
        arg = 3;
    }
    lua_Integer start = luaL_checkinteger(L, arg);
    lua_Integer length = luaL_checkinteger(L, arg + 1);
    char buf[LAP_SHAPE_BUF];
    if (t->ndim == 0)
        return luaL_error(L, "tensor.narrow: cannot narrow a 0-dimensional tensor");
    if (start < 1 || length < 0 || start - 1 > t->shape[0] || length > t->shape[0] - (start - 1)) {
        lua_Integer last;   /* the message's last row, when it is a number */
        if (length < 1 || __builtin_add_overflow(start, length - 1, &last))
            return luaL_error(L, "tensor.narrow: %I rows from row %I out of range for %s", length, start,
                              shape_str(t, buf));
        return luaL_error(L, "tensor.narrow: rows %I..%I out of range for %s", start, last, shape_str(t, buf));
    }
    lapL_pushtensor(L, lap_tensor_narrow(t, (int64_t)start - 1, (int64_t)length));
    return 1;
}

/* A row of dim 1 (a view); on a 1-D tensor, the number itself as in torch7. */
static int push_row(lua_State *L, lap_tensor *t, int64_t row)
{
    if (t->ndim == 1) {
        push_number(L, lap_data(t)[row]);
        return 1;
    }
    lapL_pushtensor(L, lap_tensor_select(t, row));
    return 1;
}

static int m_select(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    int64_t row = check_row_index(L, t, 2, "tensor.select");
    return push_row(L, t, row);
}

/* ---- copies ---- */

static int m_clone(lua_State *L)
{
    lapL_pushtensor(L, lap_tensor_clone(lapL_checktensor(L, 1)));
    return 1;
}

/* Copies src (tensor or table) into dst, which must have as many elements. */
static void copy_into(lua_State *L, lap_tensor *dst, int src_idx, const char *where, const char *what)
{
    lap_tensor *src = lapL_testtensor(L, src_idx);
    if (!src) {
        if (!lua_istable(L, src_idx))
            luaL_error(L, "%s: expected a tensor or a table of numbers, got %s", where, type_name(L, src_idx));
        src = push_tensor_from_value(L, src_idx, where);   /* stays on the stack, so alive */
    }
    if (lap_numel(src) != lap_numel(dst)) {
        char sa[LAP_SHAPE_BUF], sb[LAP_SHAPE_BUF];
        luaL_error(L, "%s: cannot copy %s (%I elements) into %s %s (%I elements)", where, shape_str(src, sa),
                   (lua_Integer)lap_numel(src), what, shape_str(dst, sb), (lua_Integer)lap_numel(dst));
    }
    lap_copy(lap_data(dst), lap_data(src), lap_numel(dst));
}

static int m_copy(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    luaL_checkany(L, 2);
    copy_into(L, t, 2, "tensor.copy", "tensor");
    lua_settop(L, 1);
    return 1;
}

static int m_fill(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    lap_fill(lap_data(t), (float)luaL_checknumber(L, 2), lap_numel(t));
    lua_settop(L, 1);
    return 1;
}

static void push_table(lua_State *L, const float *data, const lap_tensor *t, int depth)
{
    int64_t n = t->shape[depth];
    luaL_checkstack(L, 3, "tensor.totable");
    lua_createtable(L, n < INT_MAX ? (int)n : 0, 0);
    int64_t stride = 1;
    for (int d = depth + 1; d < t->ndim; d++)
        stride *= t->shape[d];
    for (int64_t i = 0; i < n; i++) {
        if (depth == t->ndim - 1)
            push_number(L, data[i]);
        else
            push_table(L, data + i * stride, t, depth + 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static int m_totable(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    if (t->ndim == 0)
        push_number(L, lap_data(t)[0]);
    else
        push_table(L, lap_data(t), t, 0);
    return 1;
}

static int m_transpose(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    char buf[LAP_SHAPE_BUF];
    if (t->ndim != 2)
        return luaL_error(L, "tensor.t: expected a 2-D tensor, got %s", shape_str(t, buf));
    int64_t rows = t->shape[0], cols = t->shape[1];
    lapL_pushtensor(L, lap_tensor_new2(cols, rows));
    lap_tensor *out = lapL_checktensor(L, -1);
    const float *in = lap_data(t);
    float *o = lap_data(out);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            o[j * rows + i] = in[i * cols + j];
    return 1;
}

static int m_matmul(lua_State *L)
{
    return l_matmul(L);
}

/* ---- reductions ---- */

static int m_sum(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    push_number(L, lap_sum(lap_data(t), lap_numel(t)));
    return 1;
}

static int64_t check_nonempty(lua_State *L, const lap_tensor *t, const char *where)
{
    int64_t n = lap_numel(t);
    if (n == 0) {
        char buf[LAP_SHAPE_BUF];
        luaL_error(L, "%s: empty tensor %s", where, shape_str(t, buf));
    }
    return n;
}

static int m_mean(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    int64_t n = check_nonempty(L, t, "tensor.mean");
    push_number(L, lap_sum(lap_data(t), n) / (double)n);
    return 1;
}

static int m_norm(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    push_number(L, sqrt(lap_sum_squares(lap_data(t), lap_numel(t))));
    return 1;
}

/* Unbiased (n - 1), like torch; NaN for a single element. */
static int m_std(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    int64_t n = check_nonempty(L, t, "tensor.std");
    const float *data = lap_data(t);
    double mean = lap_sum(data, n) / (double)n, squares = 0.0;
    for (int64_t i = 0; i < n; i++)
        squares += ((double)data[i] - mean) * ((double)data[i] - mean);
    push_number(L, n > 1 ? sqrt(squares / (double)(n - 1)) : NAN);
    return 1;
}

/* NaN propagates, as in torch. */
static int extremum(lua_State *L, int want_max, const char *where)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    int64_t n = check_nonempty(L, t, where);
    const float *data = lap_data(t);
    float best = data[0];
    for (int64_t i = 0; i < n; i++) {
        if (isnan(data[i])) {
            best = data[i];
            break;
        }
        if (want_max ? data[i] > best : data[i] < best)
            best = data[i];
    }
    push_number(L, best);
    return 1;
}

static int m_min(lua_State *L)
{
    return extremum(L, 0, "tensor.min");
}

static int m_max(lua_State *L)
{
    return extremum(L, 1, "tensor.max");
}

/* First index of the maximum of count values spaced by stride (0-based). */
static int64_t argmax_strided(const float *data, int64_t count, int64_t stride)
{
    int64_t best = 0;
    for (int64_t i = 1; i < count; i++)
        if (data[i * stride] > data[best * stride])
            best = i;
    return best;
}

/* 1-D: the 1-based index as a number.  2-D: argmax(2) per row, argmax(1) per
 * column, as a 1-D tensor of 1-based indices. */
static int m_argmax(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    char buf[LAP_SHAPE_BUF];
    if (t->ndim == 1) {
        lua_Integer dim = luaL_optinteger(L, 2, 1);
        luaL_argcheck(L, dim == 1, 2, "a 1-D tensor only has dim 1");
        int64_t n = check_nonempty(L, t, "tensor.argmax");
        lua_pushinteger(L, (lua_Integer)argmax_strided(lap_data(t), n, 1) + 1);
        return 1;
    }
    if (t->ndim != 2)
        return luaL_error(L, "tensor.argmax: expected a 1-D or 2-D tensor, got %s", shape_str(t, buf));
    lua_Integer dim = luaL_checkinteger(L, 2);
    luaL_argcheck(L, dim == 1 || dim == 2, 2, "dim must be 1 (per column) or 2 (per row)");
    int64_t rows = t->shape[0], cols = t->shape[1];
    if ((dim == 2 && cols == 0) || (dim == 1 && rows == 0))
        return luaL_error(L, "tensor.argmax: dim %I of %s is empty", dim, shape_str(t, buf));
    int64_t count = dim == 2 ? rows : cols;
    lapL_pushtensor(L, lap_tensor_new(1, &count));
    float *out = lap_data(lapL_checktensor(L, -1));
    const float *data = lap_data(t);
    for (int64_t i = 0; i < count; i++)
        out[i] = dim == 2 ? (float)(argmax_strided(data + i * cols, cols, 1) + 1)
                          : (float)(argmax_strided(data + i, rows, cols) + 1);
    return 1;
}

/* ---- elementwise functions (new tensors) ---- */

typedef float (*unary_fn)(float x, float p);

static float f_abs(float x, float p) { (void)p; return fabsf(x); }
static float f_sqrt(float x, float p) { (void)p; return sqrtf(x); }
static float f_exp(float x, float p) { (void)p; return expf(x); }
static float f_log(float x, float p) { (void)p; return logf(x); }
static float f_pow(float x, float p) { return p == 2.0f ? x * x : powf(x, p); }

static int map_unary(lua_State *L, unary_fn fn, float p)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    lapL_pushtensor(L, lap_tensor_new(t->ndim, t->shape));
    float *out = lap_data(lapL_checktensor(L, -1));
    const float *in = lap_data(t);
    for (int64_t i = 0, n = lap_numel(t); i < n; i++)
        out[i] = fn(in[i], p);
    return 1;
}

static int m_abs(lua_State *L) { return map_unary(L, f_abs, 0); }
static int m_sqrt(lua_State *L) { return map_unary(L, f_sqrt, 0); }
static int m_exp(lua_State *L) { return map_unary(L, f_exp, 0); }
static int m_log(lua_State *L) { return map_unary(L, f_log, 0); }
static int m_pow(lua_State *L) { return map_unary(L, f_pow, (float)luaL_checknumber(L, 2)); }

/* ---- metamethods ---- */

static int mt_gc(lua_State *L)
{
    lap_tensor **slot = luaL_checkudata(L, 1, LAPL_TENSOR);   /* __gc can be called by hand on anything */
    if (*slot) {
        lap_tensor_release(*slot);
        *slot = NULL;
    }
    return 0;
}

static int arithmetic(lua_State *L, char op)
{
    lap_tensor *a = lapL_testtensor(L, 1), *b = lapL_testtensor(L, 2);
    lap_tensor *result;
    if (a && b) {
        result = lap_tensor_binary(a, b, op);
    } else {
        int number_idx = a ? 2 : 1;
        int isnum = 0;
        double s = lua_tonumberx(L, number_idx, &isnum);
        if (!isnum || (!a && !b))
            return luaL_error(L, "tensor: cannot apply '%c' to %s and %s", op, type_name(L, 1), type_name(L, 2));
        result = a ? lap_tensor_scalar_op(a, s, op, 0) : lap_tensor_scalar_op(b, s, op, 1);
    }
    lapL_pushtensor(L, result);
    return 1;
}

static int mt_add(lua_State *L) { return arithmetic(L, '+'); }
static int mt_sub(lua_State *L) { return arithmetic(L, '-'); }
static int mt_mul(lua_State *L) { return arithmetic(L, '*'); }
static int mt_div(lua_State *L) { return arithmetic(L, '/'); }

static int mt_unm(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    lapL_pushtensor(L, lap_tensor_new(t->ndim, t->shape));
    float *out = lap_data(lapL_checktensor(L, -1));
    const float *in = lap_data(t);
    for (int64_t i = 0, n = lap_numel(t); i < n; i++)
        out[i] = -in[i];
    return 1;
}

static int mt_eq(lua_State *L)
{
    lap_tensor *a = lapL_testtensor(L, 1), *b = lapL_testtensor(L, 2);
    int equal = a && b && lap_same_shape(a, b);
    if (equal) {
        const float *x = lap_data(a), *y = lap_data(b);
        for (int64_t i = 0, n = lap_numel(a); i < n && equal; i++)
            equal = x[i] == y[i];
    }
    lua_pushboolean(L, equal);
    return 1;
}

static int mt_len(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    lua_pushinteger(L, t->ndim > 0 ? (lua_Integer)t->shape[0] : 0);
    return 1;
}

/* Methods by name (the methods table is upvalue 1); t[i] by number. */
static int mt_index(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER)
        return push_row(L, t, check_row_index(L, t, 2, "tensor"));
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

/* t[i] = number (1-D; fills the row for N-D), t[i] = tensor or table (row copy). */
static int mt_newindex(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    if (lua_type(L, 2) != LUA_TNUMBER)
        return luaL_error(L, "tensor: cannot set field '%s' (only t[i] = value is supported)",
                          luaL_tolstring(L, 2, NULL));
    int64_t row = check_row_index(L, t, 2, "tensor");
    int isnum = 0;
    double value = lua_tonumberx(L, 3, &isnum);
    if (t->ndim == 1) {
        if (!isnum)
            return luaL_error(L, "tensor: t[i] of a 1-D tensor needs a number, got %s", type_name(L, 3));
        lap_data(t)[row] = (float)value;
        return 0;
    }
    lapL_pushtensor(L, lap_tensor_select(t, row));
    lap_tensor *target = lapL_checktensor(L, -1);
    if (isnum) {
        lap_fill(lap_data(target), (float)value, lap_numel(target));
        return 0;
    }
    if (!lapL_testtensor(L, 3) && !lua_istable(L, 3))
        return luaL_error(L, "tensor: t[i] needs a number, a tensor or a table, got %s", type_name(L, 3));
    copy_into(L, target, 3, "tensor", "row");
    return 0;
}

/* ---- printing ---- */

#define PRINT_MAX_ROWS 20     /* more rows than this are elided ... */
#define PRINT_EDGE_ROWS 8     /* ... keeping this many at each end */
#define PRINT_MAX_COLS 12
#define PRINT_EDGE_COLS 6
#define PRINT_MAX_SLICED 1000 /* larger 3-D+ tensors print only their size */

/* Visible index i of a dim of size n, given how many to keep at each end. */
static int64_t visible_index(int64_t i, int64_t n, int64_t max, int64_t edge, int *elided_before)
{
    *elided_before = 0;
    if (n <= max || i < edge)
        return i;
    *elided_before = i == edge;
    return n - 2 * edge + i;
}

static int64_t visible_count(int64_t n, int64_t max, int64_t edge)
{
    return n <= max ? n : 2 * edge;
}

/* A rows x cols block at data, in aligned %.4g columns. */
static void add_matrix(luaL_Buffer *b, const float *data, int64_t rows, int64_t cols)
{
    char text[64];
    int width = 1, elided;
    int64_t shown_rows = visible_count(rows, PRINT_MAX_ROWS, PRINT_EDGE_ROWS);
    int64_t shown_cols = visible_count(cols, PRINT_MAX_COLS, PRINT_EDGE_COLS);
    for (int64_t vi = 0; vi < shown_rows; vi++) {
        int64_t i = visible_index(vi, rows, PRINT_MAX_ROWS, PRINT_EDGE_ROWS, &elided);
        for (int64_t vj = 0; vj < shown_cols; vj++) {
            int64_t j = visible_index(vj, cols, PRINT_MAX_COLS, PRINT_EDGE_COLS, &elided);
            int len = snprintf(text, sizeof text, "%.4g", (double)data[i * cols + j]);
            if (len > width)
                width = len;
        }
    }
    for (int64_t vi = 0; vi < shown_rows; vi++) {
        int64_t i = visible_index(vi, rows, PRINT_MAX_ROWS, PRINT_EDGE_ROWS, &elided);
        if (elided)
            luaL_addstring(b, " ...\n");
        for (int64_t vj = 0; vj < shown_cols; vj++) {
            int64_t j = visible_index(vj, cols, PRINT_MAX_COLS, PRINT_EDGE_COLS, &elided);
            if (elided)
                luaL_addstring(b, "  ...");
            snprintf(text, sizeof text, "%s%*.4g", vj ? "  " : " ", width, (double)data[i * cols + j]);
            luaL_addstring(b, text);
        }
        luaL_addchar(b, '\n');
    }
}

static int mt_tostring(lua_State *L)
{
    lap_tensor *t = lapL_checktensor(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int64_t n = lap_numel(t);
    const float *data = lap_data(t);
    char text[64];
    if (t->ndim == 0) {
        snprintf(text, sizeof text, " %.4g\n", (double)data[0]);
        luaL_addstring(&b, text);
        luaL_addstring(&b, "[lap.Tensor with no dimension]");
        luaL_pushresult(&b);
        return 1;
    }
    if (n > 0) {
        if (t->ndim == 1) {
            add_matrix(&b, data, t->shape[0], 1);   /* a column, as torch7 prints vectors */
        } else if (t->ndim == 2) {
            add_matrix(&b, data, t->shape[0], t->shape[1]);
        } else if (n <= PRINT_MAX_SLICED) {
            int64_t rows = t->shape[t->ndim - 2], cols = t->shape[t->ndim - 1];
            int64_t slices = n / (rows * cols);
            for (int64_t s = 0; s < slices; s++) {
                /* "(i,j,.,.) = " names the slice by its leading indices. */
                int64_t rest = s;
                int64_t index[LAP_MAX_DIMS];
                for (int d = t->ndim - 3; d >= 0; d--) {
                    index[d] = rest % t->shape[d];
                    rest /= t->shape[d];
                }
                luaL_addchar(&b, '(');
                for (int d = 0; d < t->ndim - 2; d++) {
                    snprintf(text, sizeof text, "%lld,", (long long)index[d] + 1);
                    luaL_addstring(&b, text);
                }
                luaL_addstring(&b, ".,.) = \n");
                add_matrix(&b, data + s * rows * cols, rows, cols);
                luaL_addchar(&b, '\n');
            }
        }
    }
    luaL_addstring(&b, "[lap.Tensor of size ");
    for (int d = 0; d < t->ndim; d++) {
        snprintf(text, sizeof text, "%s%lld", d ? "x" : "", (long long)t->shape[d]);
        luaL_addstring(&b, text);
    }
    luaL_addchar(&b, ']');
    luaL_pushresult(&b);
    return 1;
}

/* ---- registration ---- */

static const luaL_Reg tensor_methods[] = {
    {"size", m_size},       {"dim", m_dim},         {"numel", m_numel},   {"sum", m_sum},
    {"mean", m_mean},       {"norm", m_norm},       {"std", m_std},       {"min", m_min},
    {"max", m_max},         {"argmax", m_argmax},   {"reshape", m_reshape}, {"view", m_reshape},
    {"narrow", m_narrow},   {"select", m_select},   {"clone", m_clone},   {"copy", m_copy},
    {"fill", m_fill},       {"totable", m_totable}, {"t", m_transpose},   {"matmul", m_matmul},
    {"abs", m_abs},         {"pow", m_pow},         {"sqrt", m_sqrt},     {"exp", m_exp},
    {"log", m_log},         {NULL, NULL},
};

static const luaL_Reg tensor_metamethods[] = {
    {"__gc", mt_gc},   {"__tostring", mt_tostring}, {"__newindex", mt_newindex}, {"__len", mt_len},
    {"__add", mt_add}, {"__sub", mt_sub},           {"__mul", mt_mul},           {"__div", mt_div},
    {"__unm", mt_unm}, {"__eq", mt_eq},             {NULL, NULL},
};

static const luaL_Reg lap_functions[] = {
    {"tensor", l_tensor}, {"zeros", l_zeros},   {"ones", l_ones},     {"full", l_full},
    {"randn", l_randn},   {"rand", l_rand},     {"matmul", l_matmul}, {"is_tensor", l_is_tensor},
    {NULL, NULL},
};

void lapL_open_tensor(lua_State *L)
{
    luaL_newmetatable(L, LAPL_TENSOR);   /* also sets __name */
    luaL_setfuncs(L, tensor_metamethods, 0);
    luaL_newlib(L, tensor_methods);
    lua_pushcclosure(L, mt_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_setfuncs(L, lap_functions, 0);
}
