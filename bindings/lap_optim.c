/* lap_optim.c: lap.optim: SGD and Adam as Lua userdata.  An optimizer is bound to
 * a network's trainable parameters by :bind(net), by the `params` option, or by
 * the trainer that receives it. */
#include <limits.h>
#include <string.h>

#include "lap_bindings.h"
#include "train/optim.h"

typedef struct optimizer_handle {
    lap_optimizer *optimizer;
} optimizer_handle;

static lap_optimizer *check_optimizer(lua_State *L, int idx)
{
    optimizer_handle *h = luaL_checkudata(L, idx, LAPL_OPTIMIZER);
    if (!h->optimizer)
        luaL_argerror(L, idx, "optimizer already released (its __gc was called)");
    return h->optimizer;
}

static void read_milestones(lua_State *L, lap_optim_config *c, const char *where)
{
    if (lua_getfield(L, 1, "milestones") == LUA_TTABLE) {
        int n = (int)lua_rawlen(L, -1);
        if (n > LAP_MAX_MILESTONES)
            luaL_error(L, "%s: at most %d milestones", where, LAP_MAX_MILESTONES);
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            int isint;
            lua_Integer epoch = lua_tointegerx(L, -1, &isint);
            if (!isint || epoch < 1 || epoch > INT_MAX)
                luaL_error(L, "%s: milestones must be integers in [1, %d] (epochs)", where, INT_MAX);
            c->milestones[i - 1] = (int)epoch;
            lua_pop(L, 1);
        }
        c->nmilestones = n;
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "%s: option 'milestones' must be a table of epochs", where);
    }
    lua_pop(L, 1);
    c->gamma = lapL_optnumber(L, 1, "gamma", c->gamma, where);
}

static int push_optimizer(lua_State *L, const lap_optim_config *config)
{
    lap_optimizer *o = lap_optimizer_new(config);
    if (!o)
        return lapL_runtime_error(L);
    optimizer_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->optimizer = o;
    luaL_setmetatable(L, LAPL_OPTIMIZER);
    if (lua_getfield(L, 1, "params") != LUA_TNIL) {
        if (lap_optimizer_bind(o, lapL_checkmodule(L, -1)) != 0)
            return lapL_runtime_error(L);
    }
    lua_pop(L, 1);
    return 1;
}

static int optim_sgd(lua_State *L)
{
    static const char *const options[] = {"lr", "momentum", "dampening", "weight_decay", "nesterov",
                                          "milestones", "gamma", "params", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    lapL_checkoptions(L, 1, "optim.SGD", options);
    lap_optim_config c = lap_sgd_defaults();
    c.lr = lapL_optnumber(L, 1, "lr", c.lr, "optim.SGD");
    c.momentum = lapL_optnumber(L, 1, "momentum", 0, "optim.SGD");
    c.dampening = lapL_optnumber(L, 1, "dampening", 0, "optim.SGD");
    c.weight_decay = lapL_optnumber(L, 1, "weight_decay", 0, "optim.SGD");
    c.nesterov = lapL_optboolean(L, 1, "nesterov", 0, "optim.SGD");
    read_milestones(L, &c, "optim.SGD");
    return push_optimizer(L, &c);
}

static int optim_adam(lua_State *L)
{
    static const char *const options[] = {"lr", "betas", "eps", "weight_decay", "milestones", "gamma", "params", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    lapL_checkoptions(L, 1, "optim.Adam", options);
    lap_optim_config c = lap_adam_defaults();
    c.lr = lapL_optnumber(L, 1, "lr", c.lr, "optim.Adam");
    c.eps = lapL_optnumber(L, 1, "eps", c.eps, "optim.Adam");
    c.weight_decay = lapL_optnumber(L, 1, "weight_decay", 0, "optim.Adam");
    if (lua_getfield(L, 1, "betas") == LUA_TTABLE) {
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        if (!lua_isnumber(L, -1) || !lua_isnumber(L, -2))
            return luaL_error(L, "optim.Adam: betas must be {beta1, beta2}");
        c.beta1 = lua_tonumber(L, -2);
        c.beta2 = lua_tonumber(L, -1);
        lua_pop(L, 2);
    } else if (!lua_isnil(L, -1)) {
        return luaL_error(L, "optim.Adam: betas must be {beta1, beta2}");
    }
    lua_pop(L, 1);
    read_milestones(L, &c, "optim.Adam");
    return push_optimizer(L, &c);
}

static int optimizer_bind(lua_State *L)
{
    lap_optimizer *o = check_optimizer(L, 1);
    if (lap_optimizer_bind(o, lapL_checkmodule(L, 2)) != 0)
        return lapL_runtime_error(L);
    lua_settop(L, 1);
    return 1;
}

static int optimizer_step(lua_State *L)
{
    lap_optimizer *o = check_optimizer(L, 1);
    if (o->nparams == 0)
        return luaL_error(L, "optimizer: no parameters; bind it to a network first (optimizer:bind(net))");
    lap_optimizer_step(o);
    return 0;
}

static int optimizer_zero_grad(lua_State *L)
{
    lap_optimizer_zero_grad(check_optimizer(L, 1));
    return 0;
}

static int optimizer_epoch_end(lua_State *L)
{
    lap_optimizer_epoch_end(check_optimizer(L, 1));
    return 0;
}

static int optimizer_index(lua_State *L)
{
    lap_optimizer *o = check_optimizer(L, 1);
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "lr") == 0)
        lua_pushnumber(L, o->lr);
    else if (strcmp(key, "steps") == 0)
        lua_pushinteger(L, o->steps);
    else if (strcmp(key, "nparams") == 0)
        lua_pushinteger(L, o->nparams);
    else if (luaL_getmetafield(L, 1, "__methods") == LUA_TTABLE)
        lua_getfield(L, -1, key);
    else
        lua_pushnil(L);
    return 1;
}

static int optimizer_tostring(lua_State *L)
{
    lap_optimizer *o = check_optimizer(L, 1);
    const lap_optim_config *c = &o->config;
    if (c->kind == LAP_OPTIM_SGD)
        lua_pushfstring(L, "SGD(lr %f, momentum %f, weight_decay %f, %d parameter tensors)", o->lr, c->momentum,
                        c->weight_decay, o->nparams);
    else
        lua_pushfstring(L, "Adam(lr %f, betas (%f, %f), eps %f, %d parameter tensors)", o->lr, c->beta1, c->beta2,
                        c->eps, o->nparams);
    return 1;
}

static int optimizer_gc(lua_State *L)
{
    optimizer_handle *h = luaL_checkudata(L, 1, LAPL_OPTIMIZER);
    lap_optimizer_release(h->optimizer);
    h->optimizer = NULL;
    return 0;
}

lap_optimizer *lapL_checkoptimizer(lua_State *L, int idx)
{
    return check_optimizer(L, idx);
}

void lapL_open_optim(lua_State *L)
{
    luaL_newmetatable(L, LAPL_OPTIMIZER);
    static const luaL_Reg meta[] = {
        {"__index", optimizer_index}, {"__gc", optimizer_gc}, {"__tostring", optimizer_tostring}, {NULL, NULL}};
    luaL_setfuncs(L, meta, 0);
    static const luaL_Reg methods[] = {{"bind", optimizer_bind}, {"step", optimizer_step},
                                       {"zero_grad", optimizer_zero_grad}, {"epoch_end", optimizer_epoch_end},
                                       {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__methods");
    lua_pop(L, 1);
    static const luaL_Reg functions[] = {{"SGD", optim_sgd}, {"Adam", optim_adam}, {NULL, NULL}};
    luaL_newlib(L, functions);
    lua_setfield(L, -2, "optim");
}
