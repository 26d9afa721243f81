/* lap_init.c: lap.init: orthogonal, normal and Kaiming initializations of a module
 * or a whole network (frozen modules are left alone).  Draws come from the global
 * generator (lap.manual_seed), or from a private one when `seed` is given. */
#include <string.h>

#include "lap_bindings.h"
#include "nn/init.h"

static int apply(lua_State *L, lap_init_spec *spec, const char *where)
{
    lap_module *m = lapL_checkmodule(L, 1);
    lap_rng local, *rng = lap_global_rng();
    lua_Integer seed = lapL_optrange(L, 2, "seed", -1, -1, 0xffffffffLL, where);
    if (seed >= 0) {
        lap_rng_seed(&local, (uint32_t)seed);
        rng = &local;
    }
    if (lap_init_apply(m, spec, rng) != 0)
        return lapL_runtime_error(L);
    lua_settop(L, 1);
    return 1;
}

static int init_orthogonal(lua_State *L)
{
    static const char *const options[] = {"gain", "seed", NULL};
    lapL_checkoptions(L, 2, "init.orthogonal", options);
    lap_init_spec spec = {.kind = LAP_INIT_ORTHOGONAL};
    spec.gain = lapL_optnumber(L, 2, "gain", 1.0, "init.orthogonal");
    return apply(L, &spec, "init.orthogonal");
}

static int init_normal(lua_State *L)
{
    static const char *const options[] = {"std", "bias", "seed", NULL};
    lapL_checkoptions(L, 2, "init.normal", options);
    lap_init_spec spec = {.kind = LAP_INIT_NORMAL};
    spec.std = lapL_optnumber(L, 2, "std", 1.0, "init.normal");
    spec.normal_bias = lapL_optboolean(L, 2, "bias", 0, "init.normal");
    return apply(L, &spec, "init.normal");
}

static int init_kaiming(lua_State *L)
{
    static const char *const options[] = {"mode", "seed", NULL};
    lapL_checkoptions(L, 2, "init.kaiming", options);
    lap_init_spec spec = {.kind = LAP_INIT_KAIMING};
    const char *mode = lapL_optstring(L, 2, "mode", "fan_in", "init.kaiming");
    if (strcmp(mode, "fan_in") != 0 && strcmp(mode, "fan_out") != 0)
        return luaL_error(L, "init.kaiming: mode must be 'fan_in' or 'fan_out', got '%s'", mode);
    spec.fan_out = strcmp(mode, "fan_out") == 0;
    return apply(L, &spec, "init.kaiming");
}

void lapL_open_init(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"orthogonal", init_orthogonal}, {"normal", init_normal}, {"kaiming", init_kaiming}, {NULL, NULL},
    };
    luaL_newlib(L, functions);
    lua_setfield(L, -2, "init");
}
