/* lap_checkpoint.c: checkpoints from Lua (runtime/io/checkpoint.h).
 *
 *   net:save(path)              parameters, BatchNorm statistics, architecture
 *   net:load_weights(path)      into an existing network (names and shapes checked)
 *   lap.nn.load(path)           rebuilds the network of a checkpoint
 *   trainer:save(path)          network + optimizer state + lambda + iteration + generator
 *   trainer:load(path)          into a trainer built the same way
 *
 * The Module and Trainer metatables belong to lap_nn.c and lap_train.c: the methods
 * are added to their "__methods" tables, so lapL_open_checkpoint runs after them.
 */
#include "lap_bindings.h"
#include "io/checkpoint.h"
#include "core/error.h"
#include "train/trainer.h"

/* The userdata of a lap.Trainer holds a lap_trainer pointer first (lap_train.c). */
static lap_trainer *check_trainer(lua_State *L, int idx)
{
    lap_trainer **h = luaL_checkudata(L, idx, LAPL_TRAINER);
    if (!*h)
        luaL_argerror(L, idx, "trainer already released (its __gc was called)");
    return *h;
}

static int module_save(lua_State *L)
{
    lap_module *m = lapL_checkmodule(L, 1);
    const char *path = luaL_checkstring(L, 2);
    if (lap_module_save(m, path) != LAP_OK)
        return lapL_runtime_error(L);
    lua_settop(L, 1);
    return 1;
}

static int module_load_weights(lua_State *L)
{
    lap_module *m = lapL_checkmodule(L, 1);
    const char *path = luaL_checkstring(L, 2);
    if (lap_module_load_weights(m, path) != LAP_OK)
        return lapL_runtime_error(L);
    lua_settop(L, 1);
    return 1;
}

static int nn_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lap_module *m = lap_module_load(path);
    if (!m)
        return lapL_runtime_error(L);
    lapL_pushmodule(L, m);
    return 1;
}

static int trainer_save(lua_State *L)
{
    lap_trainer *t = check_trainer(L, 1);
    const char *path = luaL_checkstring(L, 2);
    if (lap_trainer_save(t, path) != LAP_OK)
        return lapL_runtime_error(L);
    lua_settop(L, 1);
    return 1;
}

static int trainer_load(lua_State *L)
{
    lap_trainer *t = check_trainer(L, 1);
    const char *path = luaL_checkstring(L, 2);
    if (lap_trainer_load(t, path) != LAP_OK)
        return lapL_runtime_error(L);
    lua_settop(L, 1);
    return 1;
}

static void add_methods(lua_State *L, const char *metatable, const luaL_Reg *methods)
{
    if (luaL_getmetatable(L, metatable) != LUA_TTABLE)
        luaL_error(L, "lap: metatable %s is missing (open checkpoints after nn and train)", metatable);
    if (lua_getfield(L, -1, "__methods") != LUA_TTABLE)
        luaL_error(L, "lap: metatable %s has no __methods table", metatable);
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
}

void lapL_open_checkpoint(lua_State *L)
{
    static const luaL_Reg module_methods[] = {{"save", module_save}, {"load_weights", module_load_weights},
                                              {NULL, NULL}};
    static const luaL_Reg trainer_methods[] = {{"save", trainer_save}, {"load", trainer_load}, {NULL, NULL}};
    add_methods(L, LAPL_MODULE, module_methods);
    add_methods(L, LAPL_TRAINER, trainer_methods);
    /* lap.nn.load; the lap table is on top of the stack. */
    if (lua_getfield(L, -1, "nn") != LUA_TTABLE)
        luaL_error(L, "lap: lap.nn is missing");
    lua_pushcfunction(L, nn_load);
    lua_setfield(L, -2, "load");
    lua_pop(L, 1);
}
