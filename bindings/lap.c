/* lap.c: the `lap` Lua module: registers every area and holds the shared helpers
 * (runtime errors, option tables).  Built into laprun and into lap.so. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "lap_bindings.h"
#include "core/cpu.h"
#include "nn/conv.h"
#include "core/error.h"
#include "core/rng.h"

int lapL_runtime_error(lua_State *L)
{
    return luaL_error(L, "%s", lap_last_error());
}

void lapL_checkoptions(lua_State *L, int idx, const char *where, const char *const allowed[])
{
    if (lua_isnoneornil(L, idx))
        return;
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: options must be a table, got %s", where, luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TNUMBER)
            continue;            /* positional entries (e.g. Sequential's modules) */
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: option keys must be strings", where);
        const char *key = lua_tostring(L, -1);
        int known = 0;
        for (int i = 0; allowed[i]; i++)
            if (strcmp(allowed[i], key) == 0)
                known = 1;
        if (!known) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (int i = 0; allowed[i]; i++) {
                if (i)
                    luaL_addstring(&b, ", ");
                luaL_addstring(&b, allowed[i]);
            }
            luaL_pushresult(&b);
            luaL_error(L, "%s: unknown option '%s' (expected one of: %s)", where, key, lua_tostring(L, -1));
        }
    }
}

static int get_field(lua_State *L, int idx, const char *key)
{
    if (lua_isnoneornil(L, idx)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    return lua_getfield(L, idx, key);
}

double lapL_optnumber(lua_State *L, int idx, const char *key, double def, const char *where)
{
    int type = get_field(L, idx, key);
    double value = def;
    if (type == LUA_TNUMBER)
        value = lua_tonumber(L, -1);
    else if (type != LUA_TNIL)
        luaL_error(L, "%s: option '%s' must be a number, got %s", where, key, lua_typename(L, type));
    lua_pop(L, 1);
    return value;
}

lua_Integer lapL_optinteger(lua_State *L, int idx, const char *key, lua_Integer def, const char *where)
{
    int type = get_field(L, idx, key);
    lua_Integer value = def;
    if (type == LUA_TNUMBER) {
        int isint;
        value = lua_tointegerx(L, -1, &isint);
        if (!isint)
            luaL_error(L, "%s: option '%s' must be an integer, got %s", where, key, lua_tostring(L, -1));
    } else if (type != LUA_TNIL) {
        luaL_error(L, "%s: option '%s' must be an integer, got %s", where, key, lua_typename(L, type));
    }
    lua_pop(L, 1);
    return value;
}

static lua_Integer check_in_range(lua_State *L, lua_Integer value, lua_Integer min, lua_Integer max,
                                  const char *where, const char *what)
{
    if (value < min || value > max)
        luaL_error(L, "%s: %s must be in [%I, %I], got %I", where, what, min, max, value);
    return value;
}

lua_Integer lapL_checkrange(lua_State *L, int idx, lua_Integer min, lua_Integer max, const char *where,
                            const char *what)
{
    int isint;
    lua_Integer value = lua_tointegerx(L, idx, &isint);
    if (!isint) {
        if (lua_type(L, idx) == LUA_TNUMBER)
            luaL_error(L, "%s: %s must be an integer, got %s", where, what, lua_tostring(L, idx));
        luaL_error(L, "%s: %s must be an integer, got %s", where, what, luaL_typename(L, idx));
    }
    return check_in_range(L, value, min, max, where, what);
}

lua_Integer lapL_optrange(lua_State *L, int idx, const char *key, lua_Integer def, lua_Integer min,
                          lua_Integer max, const char *where)
{
    char what[64];
    snprintf(what, sizeof what, "option '%s'", key);
    return check_in_range(L, lapL_optinteger(L, idx, key, def, where), min, max, where, what);
}

int lapL_optboolean(lua_State *L, int idx, const char *key, int def, const char *where)
{
    int type = get_field(L, idx, key);
    int value = def;
    if (type == LUA_TBOOLEAN)
        value = lua_toboolean(L, -1);
    else if (type != LUA_TNIL)
        luaL_error(L, "%s: option '%s' must be a boolean, got %s", where, key, lua_typename(L, type));
    lua_pop(L, 1);
    return value;
}

const char *lapL_optstring(lua_State *L, int idx, const char *key, const char *def, const char *where)
{
    int type = get_field(L, idx, key);
    const char *value = def;
    if (type == LUA_TSTRING)
        value = lua_tostring(L, -1);   /* stays alive: the option table holds it */
    else if (type != LUA_TNIL)
        luaL_error(L, "%s: option '%s' must be a string, got %s", where, key, lua_typename(L, type));
    lua_pop(L, 1);
    return value;
}

static int lap_manual_seed(lua_State *L)
{
    lua_Integer seed = luaL_checkinteger(L, 1);
    luaL_argcheck(L, seed >= 0 && seed <= 0xffffffffLL, 1, "seed must be in [0, 2^32)");
    lap_rng_seed(lap_global_rng(), (uint32_t)seed);
    return 0;
}

/* Wall-clock seconds from a monotonic clock (os.clock is CPU time of all threads). */
static int lap_clock(lua_State *L)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    lua_pushnumber(L, (double)now.tv_sec + (double)now.tv_nsec * 1e-9);
    return 1;
}

/* Peak resident memory of this process so far, in MB (getrusage's ru_maxrss). */
static int lap_peak_memory(lua_State *L)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    lua_pushnumber(L, (double)usage.ru_maxrss / 1024.0);
    return 1;
}

static void set_string(lua_State *L, const char *key, const char *value)
{
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
}

static void set_integer(lua_State *L, const char *key, lua_Integer value)
{
    lua_pushinteger(L, value);
    lua_setfield(L, -2, key);
}

/* lap.info(): what lap runs on; info.text is what `laprun --version` prints. */
static int lap_info(lua_State *L)
{
    const lap_cpu *cpu = lap_cpu_this();
    char buf[1024];
    lua_newtable(L);
    set_string(L, "version", LAP_VERSION);
    set_string(L, "lua", LUA_RELEASE);
    set_integer(L, "threads", lap_threads());
    set_string(L, "kernels", lap_kernel_path_name(lap_kernel_path()));
    lua_newtable(L);
    for (int path = 0, n = 0; path < LAP_KERNELS_COUNT; path++)
        if (lap_kernel_path_supported(path)) {
            lua_pushstring(L, lap_kernel_path_name(path));
            lua_rawseti(L, -2, ++n);
        }
    lua_setfield(L, -2, "kernel_paths");
    lua_newtable(L);
    lap_blas_version(buf, sizeof buf);
    set_string(L, "version", buf);
    set_string(L, "core", lap_blas_core_name());
    set_string(L, "config", lap_blas_config());
    set_integer(L, "threads", lap_blas_threads());
    const char *best = lap_blas_core_best(cpu);
    if (best)
        set_string(L, "best_core", best);
    if (lap_blas_reexec_from())
        set_string(L, "reexec_from", lap_blas_reexec_from());
    lua_setfield(L, -2, "blas");
    lua_newtable(L);
    set_string(L, "model", cpu->brand);
    set_string(L, "vendor", cpu->vendor);
    set_integer(L, "family", cpu->family);
    set_integer(L, "model_number", cpu->model);
    lap_cpu_features(cpu, buf, sizeof buf);
    set_string(L, "features", buf);
    lua_setfield(L, -2, "cpu");
    set_integer(L, "winograd_tile", lap_winograd_tile_setting());
    int n = snprintf(buf, sizeof buf, "lap %s (%s)\n", LAP_VERSION, LUA_RELEASE);
    lap_system_report(buf + n, sizeof buf - (size_t)n);
    n = (int)strlen(buf);
    lap_conv_report(buf + n, sizeof buf - (size_t)n);
    set_string(L, "text", buf);
    return 1;
}

/* lap.kernels([name]): the kernel path in use; with a name, forces that one. */
static int lap_kernels_get_set(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) {
        const char *name = luaL_checkstring(L, 1);
        int path = lap_kernel_path_parse(name);
        if (path < 0)
            return luaL_error(L, "lap.kernels: unknown path '%s' (expected baseline, avx2 or avx512)", name);
        if (lap_kernel_path_set(path) != LAP_OK)
            return luaL_error(L, "lap.kernels: %s", lap_last_error());
    }
    lua_pushstring(L, lap_kernel_path_name(lap_kernel_path()));
    return 1;
}

/* lap.winograd_tile([m]): the Winograd tile setting, 0 (automatic), 2 or 4; with m, sets
 * it and returns the previous one. */
static int lap_winograd_tile_get_set(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_pushinteger(L, lap_winograd_tile_setting());
        return 1;
    }
    lua_Integer m = luaL_checkinteger(L, 1);
    luaL_argcheck(L, m == 0 || m == 2 || m == 4, 1, "expected 0 (automatic), 2 (F(2x2, 3x3)) or 4 (F(4x4, 3x3))");
    lua_pushinteger(L, lap_winograd_set_tile((int)m));
    return 1;
}

int luaopen_lap(lua_State *L)
{
    /* lap.so in a stock interpreter cannot re-execute it: it warns (laprun has
     * already re-executed itself when it could). */
    lap_blas_check_core(NULL);
    lua_newtable(L);
    lua_pushliteral(L, LAP_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushcfunction(L, lap_manual_seed);
    lua_setfield(L, -2, "manual_seed");
    lua_pushcfunction(L, lap_clock);
    lua_setfield(L, -2, "clock");
    lua_pushcfunction(L, lap_peak_memory);
    lua_setfield(L, -2, "peak_memory");
    lua_pushcfunction(L, lap_info);
    lua_setfield(L, -2, "info");
    lua_pushcfunction(L, lap_kernels_get_set);
    lua_setfield(L, -2, "kernels");
    lua_pushcfunction(L, lap_winograd_tile_get_set);
    lua_setfield(L, -2, "winograd_tile");
    lapL_open_tensor(L);
    lapL_open_data(L);
    lapL_open_nn(L);
    lapL_open_conv(L);
    lapL_open_init(L);
    lapL_open_optim(L);
    lapL_open_train(L);
    lapL_open_plot(L);
    lapL_open_analysis(L);
    lapL_open_attack(L);   /* after lapL_open_nn: adds module methods */
    lapL_open_util(L);
    lapL_open_checkpoint(L);
    lapL_open_mpi(L);
    return 1;
}
