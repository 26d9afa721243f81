/* lap_data.c: lap.data: datasets as Lua userdata, the scikit-learn toy datasets,
 * splits and mini-batch iteration.
 *
 *   lap.data.circles{n=100, factor=0.8, noise=0, seed=0}   sklearn make_circles
 *   lap.data.moons{n=100, noise=0, seed=0}                 sklearn make_moons
 *   lap.data.dataset(x, labels)      labels: table of integers >= 0 or 1-D tensor
 *   d.x d.y d.n d.classes #d tostring(d)
 *   d:labels()  d:split(f [, seed]) / d:split{test=, train=, seed=}
 *   d:subset{rows...}  d:batches(size [, {shuffle=, seed=}])
 *   d.shape                          the dims of x as a Lua table
 *   image datasets (mnist, fashion_mnist, cifar10, cifar100) and d:normalize,
 *   d:subset_random, d:augment: see lap_images.c
 *
 * Coordinates are computed in double by the runtime and stored as float32.
 * d.x shares storage with the dataset (writing into it changes the dataset);
 * d.y, subsets, splits and batches are copies.  noise = 0 means no noise
 * (sklearn's noise=None).  Seeds are integers in [0, 2^32).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lap_bindings.h"
#include "lap_images.h"
#include "../datasets/datasets.h"
#include "core/error.h"
#include "core/rng.h"

typedef struct dataset_handle {
    lap_dataset *dataset;   /* NULL once collected */
} dataset_handle;

void lapL_pushdataset(lua_State *L, lap_dataset *d)
{
    if (!d) {
        lapL_runtime_error(L);
        return;
    }
    dataset_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->dataset = d;
    luaL_setmetatable(L, LAPL_DATASET);
}

lap_dataset *lapL_checkdataset(lua_State *L, int idx)
{
    dataset_handle *h = luaL_testudata(L, idx, LAPL_DATASET);
    if (!h)
        luaL_typeerror(L, idx, "lap dataset");
    if (!h->dataset)
        luaL_argerror(L, idx, "dataset already released");
    return h->dataset;
}

/* ------------------------------------------------------------------ helpers */

static uint32_t check_seed(lua_State *L, lua_Integer seed, const char *where)
{
    if (seed < 0 || seed > 0xffffffffLL)
        luaL_error(L, "%s: seed must be in [0, 2^32), got %I", where, (lua_Integer)seed);
    return (uint32_t)seed;
}

/* A scratch array owned by a Lua userdata pushed on the stack, so that a Lua
 * error raised while filling it cannot leak it. */
/* count items of size bytes each, freed by the GC; an error when the size wraps. */
static void *push_scratch(lua_State *L, int64_t count, size_t size, const char *where)
{
    size_t bytes;
    if (count < 0)
        luaL_error(L, "%s: negative count %I", where, (lua_Integer)count);
    if (lap_mul_size(&bytes, (size_t)count, size, where) != LAP_OK)
        lapL_runtime_error(L);
    return lua_newuserdatauv(L, bytes ? bytes : 1, 0);
}

/* A new 1-D float tensor holding the labels (for d.y and batches). */
static void push_label_tensor(lua_State *L, const int32_t *labels, int64_t count)
{
    int64_t shape[1] = {count};
    lap_tensor *t = lap_tensor_new(1, shape);
    if (!t)
        lapL_runtime_error(L);
    float *out = lap_data(t);
    for (int64_t i = 0; i < count; i++)
        out[i] = (float)labels[i];
    lapL_pushtensor(L, t);
}

/* Labels from a Lua table of integers or a 1-D tensor, into a scratch array
 * left on the stack.  *count gets their number. */
static int32_t *check_labels(lua_State *L, int idx, int64_t *count, const char *where)
{
    idx = lua_absindex(L, idx);
    *count = 0;
    lap_tensor *t = lapL_testtensor(L, idx);
    int64_t n;
    if (t) {
        if (t->ndim != 1) {
            char shape[LAP_SHAPE_BUF];
            luaL_error(L, "%s: a labels tensor must be 1-D, got shape %s", where,
                       lap_shape_str(t, shape, sizeof shape));
        }
        n = t->shape[0];
    } else if (lua_istable(L, idx)) {
        n = (int64_t)lua_rawlen(L, idx);
    } else {
        luaL_error(L, "%s: labels must be a table of integers or a 1-D tensor, got %s", where,
                   luaL_typename(L, idx));
        return NULL;
    }
    int32_t *labels = push_scratch(L, n, sizeof *labels, "lap.data");
    for (int64_t i = 0; i < n; i++) {
        double value;
        if (t) {
            value = lap_data(t)[i];
        } else {
            lua_rawgeti(L, idx, (lua_Integer)(i + 1));
            int isnum;
            value = lua_tonumberx(L, -1, &isnum);
            if (!isnum)
                luaL_error(L, "%s: label %I must be an integer, got %s", where, (lua_Integer)(i + 1),
                           luaL_typename(L, -1));
            lua_pop(L, 1);
        }
        if (!(value >= 0.0 && value <= 2147483647.0) || value != floor(value))
            luaL_error(L, "%s: label %I must be an integer >= 0, got %f", where, (lua_Integer)(i + 1),
                       (lua_Number)value);
        labels[i] = (int32_t)value;
    }
    *count = n;
    return labels;
}

/* Coordinates (n x 2 doubles) and labels to a dataset with float32 x. */
static int push_points(lua_State *L, const double *coords, const int32_t *labels, int64_t n)
{
    lap_tensor *x = lap_tensor_new2(n, 2);
    if (!x)
        return lapL_runtime_error(L);
    float *out = lap_data(x);
    for (int64_t k = 0; k < 2 * n; k++)
        out[k] = (float)coords[k];
    lapL_pushdataset(L, lap_dataset_new(x, labels));
    return 1;
}

/* --------------------------------------------------------------- generators */

static int data_circles(lua_State *L)
{
    static const char *const options[] = {"n", "factor", "noise", "seed", NULL};
    const char *where = "data.circles";
    lapL_checkoptions(L, 1, where, options);
    lua_Integer n = lapL_optinteger(L, 1, "n", 100, where);
    double factor = lapL_optnumber(L, 1, "factor", 0.8, where);
    double noise = lapL_optnumber(L, 1, "noise", 0.0, where);
    uint32_t seed = check_seed(L, lapL_optinteger(L, 1, "seed", 0, where), where);
    if (n < 2)   /* before allocating n rows; the runtime gives the same message */
        return luaL_error(L, "circles: n must be >= 2, got %I", (lua_Integer)n);
    double *coords = push_scratch(L, n, 2 * sizeof *coords, where);
    int32_t *labels = push_scratch(L, n, sizeof *labels, where);
    if (lap_make_circles(coords, labels, n, factor, noise, seed) != LAP_OK)
        return lapL_runtime_error(L);
    return push_points(L, coords, labels, n);
}

static int data_moons(lua_State *L)
{
    static const char *const options[] = {"n", "noise", "seed", NULL};
    const char *where = "data.moons";
    lapL_checkoptions(L, 1, where, options);
    lua_Integer n = lapL_optinteger(L, 1, "n", 100, where);
    double noise = lapL_optnumber(L, 1, "noise", 0.0, where);
    uint32_t seed = check_seed(L, lapL_optinteger(L, 1, "seed", 0, where), where);
    if (n < 2)
        return luaL_error(L, "moons: n must be >= 2, got %I", (lua_Integer)n);
    double *coords = push_scratch(L, n, 2 * sizeof *coords, where);
    int32_t *labels = push_scratch(L, n, sizeof *labels, where);
    if (lap_make_moons(coords, labels, n, noise, seed) != LAP_OK)
        return lapL_runtime_error(L);
    return push_points(L, coords, labels, n);
}

/* lap.data.dataset(x, labels): x's first dimension indexes rows; x is shared. */
static int data_dataset(lua_State *L)
{
    const char *where = "data.dataset";
    lap_tensor *x = lapL_checktensor(L, 1);
    if (x->ndim < 1)
        return luaL_error(L, "%s: x must have a row dimension, got a scalar", where);
    int64_t count;
    int32_t *labels = check_labels(L, 2, &count, where);
    if (count != x->shape[0])
        return luaL_error(L, "%s: x has %I rows but %I labels", where, (lua_Integer)x->shape[0],
                          (lua_Integer)count);
    lapL_pushdataset(L, lap_dataset_new(lap_tensor_retain(x), labels));
    return 1;
}

/* ------------------------------------------------------------------ methods */

static int dataset_gc(lua_State *L)
{
    dataset_handle *h = luaL_checkudata(L, 1, LAPL_DATASET);
    lap_dataset_release(h->dataset);
    h->dataset = NULL;
    return 0;
}

static int dataset_tostring(lua_State *L)
{
    dataset_handle *h = luaL_checkudata(L, 1, LAPL_DATASET);
    if (!h->dataset) {
        lua_pushliteral(L, "Dataset(released)");
        return 1;
    }
    const lap_dataset *d = h->dataset;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "Dataset(");
    for (int i = 0; i < d->x->ndim; i++) {
        if (i)
            luaL_addstring(&b, " x ");
        lua_pushfstring(L, "%I", (lua_Integer)d->x->shape[i]);
        luaL_addvalue(&b);
    }
    lua_pushfstring(L, ", %d %s)", d->nclasses, d->nclasses == 1 ? "class" : "classes");
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    return 1;
}

static int dataset_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lapL_checkdataset(L, 1)->n);
    return 1;
}

static int dataset_labels(lua_State *L)
{
    const lap_dataset *d = lapL_checkdataset(L, 1);
    lua_createtable(L, (int)d->n, 0);
    for (int64_t i = 0; i < d->n; i++) {
        lua_pushinteger(L, d->y[i]);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
    return 1;
}

/* Test fraction of d:split: a train fraction f gives 1 - f rounded to 12
 * decimals, so that 0.8 gives exactly sklearn's test_size=0.2. */
static double test_from_train(double train)
{
    return round((1.0 - train) * 1e12) / 1e12;
}

/* d:split(train_fraction [, seed]) or d:split{test=, train=, seed=} -> train, test */
static int dataset_split(lua_State *L)
{
    const char *where = "dataset:split";
    const lap_dataset *d = lapL_checkdataset(L, 1);
    double test;
    uint32_t seed;
    if (lua_istable(L, 2)) {
        static const char *const options[] = {"test", "train", "seed", NULL};
        lapL_checkoptions(L, 2, where, options);
        int has_test = lua_getfield(L, 2, "test") != LUA_TNIL;
        int has_train = lua_getfield(L, 2, "train") != LUA_TNIL;
        lua_pop(L, 2);
        if (has_test && has_train)
            return luaL_error(L, "%s: give either 'test' or 'train', not both", where);
        if (has_train)
            test = test_from_train(lapL_optnumber(L, 2, "train", 0.75, where));
        else
            test = lapL_optnumber(L, 2, "test", 0.25, where);   /* sklearn's default */
        seed = check_seed(L, lapL_optinteger(L, 2, "seed", 0, where), where);
    } else if (lua_type(L, 2) == LUA_TNUMBER) {
        double train = lua_tonumber(L, 2);
        if (!(train > 0.0 && train < 1.0))
            return luaL_error(L, "%s: train fraction must be in (0, 1), got %f", where, (lua_Number)train);
        test = test_from_train(train);
        seed = check_seed(L, luaL_optinteger(L, 3, 0), where);
    } else {
        return luaL_error(L, "%s: expected a train fraction or an options table, got %s", where,
                          luaL_typename(L, 2));
    }
    int64_t *train_rows = push_scratch(L, d->n, sizeof *train_rows, "lap.data");
    int64_t *test_rows = push_scratch(L, d->n, sizeof *test_rows, "lap.data");
    int64_t n_train, n_test;
    if (lap_train_test_split(train_rows, &n_train, test_rows, &n_test, d->n, test, seed) != LAP_OK)
        return lapL_runtime_error(L);
    lapL_pushdataset(L, lap_dataset_subset(d, train_rows, n_train));
    lapL_pushdataset(L, lap_dataset_subset(d, test_rows, n_test));
    return 2;
}

/* d:subset{rows...} with 1-based rows, in the given order. */
static int dataset_subset(lua_State *L)
{
    const char *where = "dataset:subset";
    const lap_dataset *d = lapL_checkdataset(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int64_t count = (int64_t)lua_rawlen(L, 2);
    int64_t *rows = push_scratch(L, count, sizeof *rows, "lap.data");
    for (int64_t i = 0; i < count; i++) {
        lua_rawgeti(L, 2, (lua_Integer)(i + 1));
        int isint;
        lua_Integer row = lua_tointegerx(L, -1, &isint);
        if (!isint)
            return luaL_error(L, "%s: row %I must be an integer, got %s", where, (lua_Integer)(i + 1),
                              luaL_typename(L, -1));
        if (row < 1 || row > d->n)
            return luaL_error(L, "%s: row %I out of range [1, %I]", where, (lua_Integer)row,
                              (lua_Integer)d->n);
        lua_pop(L, 1);
        rows[i] = row - 1;
    }
    lapL_pushdataset(L, lap_dataset_subset(d, rows, count));
    return 1;
}

/* Iteration state of d:batches, a userdata upvalue of the iterator. */
typedef struct batch_state {
    int64_t position, count, size;
    int64_t rows[];   /* the visiting order */
} batch_state;

static int batches_next(lua_State *L)
{
    const lap_dataset *d = lapL_checkdataset(L, lua_upvalueindex(1));
    batch_state *s = lua_touserdata(L, lua_upvalueindex(2));
    if (s->position >= s->count)
        return 0;
    int64_t take = s->count - s->position < s->size ? s->count - s->position : s->size;
    const int64_t *rows = s->rows + s->position;
    /* A fresh tensor per batch: the caller may keep the previous one. */
    lap_tensor *x = NULL;
    int32_t *labels = push_scratch(L, take, sizeof *labels, "lap.data");
    if (lap_dataset_gather(d, rows, take, &x, labels) != LAP_OK) {
        lap_tensor_release(x);
        return lapL_runtime_error(L);
    }
    s->position += take;
    lapL_pushtensor(L, x);
    push_label_tensor(L, labels, take);
    return 2;
}

/* d:batches(size [, {shuffle=false, seed=}]): for x, y in d:batches(32) do ... end.
 * With shuffle and no seed, the order comes from the global generator (so it
 * changes from epoch to epoch, and lap.manual_seed makes it reproducible); with
 * a seed, it is RandomState(seed).permutation(n). */
static int dataset_batches(lua_State *L)
{
    const char *where = "dataset:batches";
    const lap_dataset *d = lapL_checkdataset(L, 1);
    lua_Integer size = luaL_checkinteger(L, 2);
    if (size < 1)
        return luaL_error(L, "%s: batch size must be >= 1, got %I", where, (lua_Integer)size);
    static const char *const options[] = {"shuffle", "seed", NULL};
    lapL_checkoptions(L, 3, where, options);
    int shuffle = lapL_optboolean(L, 3, "shuffle", 0, where);
    lua_Integer seed = lapL_optinteger(L, 3, "seed", -1, where);
    int has_seed = !lua_isnoneornil(L, 3) && lua_getfield(L, 3, "seed") != LUA_TNIL;
    if (!lua_isnoneornil(L, 3))
        lua_pop(L, 1);
    lua_settop(L, 1);
    batch_state *s = lua_newuserdatauv(L, sizeof *s + (size_t)d->n * sizeof s->rows[0], 0);
    s->position = 0;
    s->count = d->n;
    s->size = size;
    if (!shuffle) {
        for (int64_t i = 0; i < d->n; i++)
            s->rows[i] = i;
    } else if (has_seed) {
        lap_rng rng;
        lap_rng_seed(&rng, check_seed(L, seed, where));
        lap_rng_permutation(&rng, s->rows, d->n);
    } else {
        lap_rng_permutation(lap_global_rng(), s->rows, d->n);
    }
    lua_pushcclosure(L, batches_next, 2);   /* upvalues: the dataset, the state */
    return 1;
}

static const luaL_Reg dataset_methods[] = {
    {"labels", dataset_labels},
    {"split", dataset_split},
    {"subset", dataset_subset},
    {"batches", dataset_batches},
    {NULL, NULL},
};

/* __index: the fields x, y, n, classes, then the methods (upvalue 1). */
static int dataset_index(lua_State *L)
{
    lap_dataset *d = lapL_checkdataset(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING) {   /* lua_tostring would convert number keys in place */
        const char *key = lua_tostring(L, 2);
        if (strcmp(key, "x") == 0) {
            lapL_pushtensor(L, lap_tensor_retain(d->x));
            return 1;
        }
        if (strcmp(key, "y") == 0) {
            push_label_tensor(L, d->y, d->n);
            return 1;
        }
        if (strcmp(key, "n") == 0) {
            lua_pushinteger(L, (lua_Integer)d->n);
            return 1;
        }
        if (strcmp(key, "classes") == 0) {
            lua_pushinteger(L, d->nclasses);
            return 1;
        }
        if (strcmp(key, "shape") == 0) {   /* a fresh table: the caller may modify it */
            lua_createtable(L, d->x->ndim, 0);
            for (int i = 0; i < d->x->ndim; i++) {
                lua_pushinteger(L, (lua_Integer)d->x->shape[i]);
                lua_rawseti(L, -2, i + 1);
            }
            return 1;
        }
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

void lapL_open_data(lua_State *L)
{
    luaL_newmetatable(L, LAPL_DATASET);   /* sets __name */
    lua_pushcfunction(L, dataset_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, dataset_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, dataset_len);
    lua_setfield(L, -2, "__len");
    luaL_newlib(L, dataset_methods);
    lapL_images_methods(L);
    lua_pushcclosure(L, dataset_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    static const luaL_Reg functions[] = {
        {"circles", data_circles},
        {"moons", data_moons},
        {"dataset", data_dataset},
        {NULL, NULL},
    };
    luaL_newlib(L, functions);
    lapL_images_functions(L);
    lua_setfield(L, -2, "data");
}
