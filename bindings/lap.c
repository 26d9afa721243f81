/* lap.c: the `lap` Lua module: registers every area and holds the shared helpers
 * (runtime errors, option tables).  Built into laprun and into lap.so. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "lap_bindings.h"
#include "../runtime/error.h"
#include "../runtime/rng.h"

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

int luaopen_lap(lua_State *L)
{
    lua_newtable(L);
    lua_pushliteral(L, LAP_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushcfunction(L, lap_manual_seed);
    lua_setfield(L, -2, "manual_seed");
    lua_pushcfunction(L, lap_clock);
    lua_setfield(L, -2, "clock");
    lua_pushcfunction(L, lap_peak_memory);
    lua_setfield(L, -2, "peak_memory");
    lapL_open_tensor(L);
    lapL_open_data(L);
    lapL_open_nn(L);
    lapL_open_conv(L);
    lapL_open_init(L);
    lapL_open_optim(L);
    lapL_open_train(L);
    lapL_open_plot(L);
    lapL_open_analysis(L);
    lapL_open_util(L);
    lapL_open_checkpoint(L);
    return 1;
}
