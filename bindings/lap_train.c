/* lap_train.c: lap.train: the Plain, Regularized (fixed lambda) and LAP trainers,
 * and lap.train.evaluate.  Epochs run in C; Ctrl-C in laprun stops one between
 * batches with the error "interrupted".  `distributed = true` (and `sync_bn`)
 * makes a trainer data-parallel over the ranks of an MPI job (runtime/train/trainer.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lap_bindings.h"
#include "core/error.h"
#include "train/trainer.h"

typedef struct trainer_handle {
    lap_trainer *trainer;
} trainer_handle;

static lap_trainer *check_trainer(lua_State *L, int idx)
{
    trainer_handle *h = luaL_checkudata(L, idx, LAPL_TRAINER);
    if (!h->trainer)
        luaL_argerror(L, idx, "trainer already released (its __gc was called)");
    return h->trainer;
}

static int new_trainer(lua_State *L, lap_trainer_kind kind, const char *where, const char *const options[])
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lapL_checkoptions(L, 1, where, options);
    if (lua_getfield(L, 1, "net") == LUA_TNIL)
        return luaL_error(L, "%s: option 'net' (the network to train) is required", where);
    lap_module *net = lapL_testmodule(L, -1);
    if (!net)
        return luaL_error(L, "%s: option 'net' must be a module, got %s", where, luaL_typename(L, -1));
    if (lua_getfield(L, 1, "optimizer") == LUA_TNIL)
        return luaL_error(L, "%s: option 'optimizer' is required (lap.optim.SGD{...} or lap.optim.Adam{...})", where);
    if (!luaL_testudata(L, -1, LAPL_OPTIMIZER))
        return luaL_error(L, "%s: option 'optimizer' must be an optimizer, got %s", where, luaL_typename(L, -1));
    lap_optimizer *optimizer = lapL_checkoptimizer(L, -1);
    lua_pop(L, 2);
    double lambda = 0, tau = 0;
    int steps = 0;
    if (kind == LAP_TRAIN_FIXED) {
        lua_getfield(L, 1, "lambda");
        if (!lua_isnumber(L, -1))
            return luaL_error(L, "%s: option 'lambda' (the weight of the transport cost) is required", where);
        lua_pop(L, 1);
        lambda = lapL_optnumber(L, 1, "lambda", 0, where);
    } else if (kind != LAP_TRAIN_PLAIN) {
        lambda = lapL_optnumber(L, 1, "lambda0", 1.0, where);
        tau = lapL_optnumber(L, 1, "tau", 0.1, where);
        steps = (int)lapL_optrange(L, 1, "steps", 5, 1, INT_MAX, where);
        const char *rule = lapL_optstring(L, 1, "rule", "main", where);
        if (strcmp(rule, "cloud4") == 0)
            kind = LAP_TRAIN_LAP_LAMBDA_TIMES_CE;
        else if (strcmp(rule, "main") != 0)
            return luaL_error(L, "%s: rule must be 'main' (CE + C/lambda) or 'cloud4' (lambda*CE + C), got '%s'",
                              where, rule);
    }
    lua_Integer seed = lapL_optrange(L, 1, "seed", 0, 0, 0xffffffffLL, where);
    int distributed = lapL_optboolean(L, 1, "distributed", 0, where);
    int sync_bn = lapL_optboolean(L, 1, "sync_bn", 0, where);
    if (sync_bn && !distributed)
        return luaL_error(L, "%s: sync_bn = true needs distributed = true", where);
    lap_trainer *t = lap_trainer_new(kind, net, optimizer, lambda, tau, steps, (uint32_t)seed);
    if (!t)
        return lapL_runtime_error(L);
    trainer_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->trainer = t;
    luaL_setmetatable(L, LAPL_TRAINER);
    if (distributed && lap_trainer_distribute(t, sync_bn) != LAP_OK)
        return lapL_runtime_error(L);
    return 1;
}

static int train_plain(lua_State *L)
{
    static const char *const options[] = {"net", "optimizer", "seed", "distributed", "sync_bn", NULL};
    return new_trainer(L, LAP_TRAIN_PLAIN, "train.Plain", options);
}

static int train_regularized(lua_State *L)
{
    static const char *const options[] = {"net", "optimizer", "lambda", "seed", "distributed", "sync_bn", NULL};
    return new_trainer(L, LAP_TRAIN_FIXED, "train.Regularized", options);
}

static int train_lap(lua_State *L)
{
    static const char *const options[] = {"net",  "optimizer",   "lambda0", "tau",  "steps",
                                          "rule", "seed", "distributed", "sync_bn", NULL};
    return new_trainer(L, LAP_TRAIN_LAP_COST_OVER_LAMBDA, "train.LAP", options);
}

static void set_number(lua_State *L, const char *key, double value)
{
    lua_pushnumber(L, value);
    lua_setfield(L, -2, key);
}

static int trainer_epoch(lua_State *L)
{
    lap_trainer *t = check_trainer(L, 1);
    lap_dataset *d = lapL_checkdataset(L, 2);
    static const char *const options[] = {"batch", "shuffle", NULL};
    lapL_checkoptions(L, 3, "trainer:epoch", options);
    lua_Integer batch = lapL_optinteger(L, 3, "batch", 128, "trainer:epoch");
    int shuffle = lapL_optboolean(L, 3, "shuffle", 1, "trainer:epoch");
    lap_epoch_stats stats;
    if (lap_trainer_epoch(t, d, batch, shuffle, &stats) != LAP_OK)
        return lapL_runtime_error(L);
    lua_createtable(L, 0, 7);
    set_number(L, "loss", stats.loss);
    set_number(L, "ce", stats.ce);
    set_number(L, "transport", stats.transport);
    set_number(L, "accuracy", stats.accuracy);
    set_number(L, "lambda", stats.lambda);
    lua_pushinteger(L, stats.steps);
    lua_setfield(L, -2, "steps");
    lua_pushinteger(L, stats.count);
    lua_setfield(L, -2, "count");
    return 1;
}

static int trainer_step(lua_State *L)
{
    lap_trainer *t = check_trainer(L, 1);
    lap_tensor *x = lapL_checktensor(L, 2);
    int64_t count;
    int32_t *labels = lapL_checklabels(L, 3, &count, "trainer:step");
    if (x->ndim < 1 || count != x->shape[0]) {
        free(labels);
        char shape[LAP_SHAPE_BUF];
        return luaL_error(L, "trainer:step: %I labels for inputs of shape %s", (lua_Integer)count,
                          lap_shape_str(x, shape, sizeof shape));
    }
    lap_step_stats stats;
    int status = lap_trainer_step(t, x, labels, &stats);
    free(labels);
    if (status != LAP_OK)
        return lapL_runtime_error(L);
    lua_createtable(L, 0, 5);
    set_number(L, "loss", stats.loss);
    set_number(L, "ce", stats.ce);
    set_number(L, "transport", stats.transport);
    set_number(L, "accuracy", (double)stats.correct / (double)stats.count);
    set_number(L, "lambda", t->lambda);
    return 1;
}

/* distributed: the default of the option (the trainer's setting). */
static int push_evaluation(lua_State *L, lap_module *net, lap_dataset *d, int options_idx, int distributed)
{
    static const char *const options[] = {"batch", "distributed", NULL};
    lapL_checkoptions(L, options_idx, "evaluate", options);
    lua_Integer batch = lapL_optinteger(L, options_idx, "batch", LAP_EVAL_BATCH, "evaluate");
    distributed = lapL_optboolean(L, options_idx, "distributed", distributed, "evaluate");
    lap_eval_stats stats;
    if (lap_evaluate(net, d, batch, distributed, &stats) != LAP_OK)
        return lapL_runtime_error(L);
    lua_createtable(L, 0, 8);
    set_number(L, "accuracy", stats.accuracy);
    set_number(L, "ce", stats.ce);
    set_number(L, "loss", stats.ce);
    set_number(L, "transport", stats.transport);
    set_number(L, "energy", stats.energy);
    lua_pushinteger(L, stats.count);
    lua_setfield(L, -2, "count");
    lua_createtable(L, stats.nblocks, 0);
    for (int k = 0; k < stats.nblocks; k++) {
        lua_pushnumber(L, stats.block_cost[k]);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "blocks");
    lua_createtable(L, stats.nblocks, 0);
    for (int k = 0; k < stats.nblocks; k++) {
        lua_pushnumber(L, stats.block_energy[k]);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "block_energy");
    lap_eval_stats_free(&stats);
    return 1;
}

static int trainer_evaluate(lua_State *L)
{
    lap_trainer *t = check_trainer(L, 1);
    return push_evaluation(L, t->net, lapL_checkdataset(L, 2), 3, t->distributed);
}

static int train_evaluate(lua_State *L)
{
    return push_evaluation(L, lapL_checkmodule(L, 1), lapL_checkdataset(L, 2), 3, 0);
}

static int trainer_lambda(lua_State *L)
{
    lua_pushnumber(L, check_trainer(L, 1)->lambda);
    return 1;
}

static const char *kind_name(lap_trainer_kind kind)
{
    switch (kind) {
    case LAP_TRAIN_PLAIN: return "Plain";
    case LAP_TRAIN_FIXED: return "Regularized";
    case LAP_TRAIN_LAP_COST_OVER_LAMBDA: return "LAP(main)";
    default: return "LAP(cloud4)";
    }
}

static int trainer_index(lua_State *L)
{
    lap_trainer *t = check_trainer(L, 1);
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "lambda") == 0)
        lua_pushnumber(L, t->lambda);
    else if (strcmp(key, "iteration") == 0)
        lua_pushinteger(L, t->iteration);
    else if (strcmp(key, "distributed") == 0)
        lua_pushboolean(L, t->distributed);
    else if (strcmp(key, "kind") == 0)
        lua_pushstring(L, kind_name(t->kind));
    else if (strcmp(key, "net") == 0)
        lapL_pushmodule(L, lap_module_retain(t->net));
    else if (luaL_getmetafield(L, 1, "__methods") == LUA_TTABLE)
        lua_getfield(L, -1, key);
    else
        lua_pushnil(L);
    return 1;
}

static int trainer_tostring(lua_State *L)
{
    lap_trainer *t = check_trainer(L, 1);
    lua_pushfstring(L, "Trainer %s (lambda %f, tau %f, steps %d, %d optimizer steps taken)", kind_name(t->kind),
                    t->lambda, t->tau, t->steps, (int)t->iteration);
    return 1;
}

static int trainer_gc(lua_State *L)
{
    trainer_handle *h = luaL_checkudata(L, 1, LAPL_TRAINER);
    lap_trainer_release(h->trainer);
    h->trainer = NULL;
    return 0;
}

void lapL_open_train(lua_State *L)
{
    luaL_newmetatable(L, LAPL_TRAINER);
    static const luaL_Reg meta[] = {
        {"__index", trainer_index}, {"__gc", trainer_gc}, {"__tostring", trainer_tostring}, {NULL, NULL}};
    luaL_setfuncs(L, meta, 0);
    static const luaL_Reg methods[] = {{"epoch", trainer_epoch},       {"step", trainer_step},
                                       {"evaluate", trainer_evaluate}, {"get_lambda", trainer_lambda},
                                       {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__methods");
    lua_pop(L, 1);
    static const luaL_Reg functions[] = {{"Plain", train_plain},
                                         {"Regularized", train_regularized},
                                         {"LAP", train_lap},
                                         {"evaluate", train_evaluate},
                                         {NULL, NULL}};
    luaL_newlib(L, functions);
    lua_setfield(L, -2, "train");
}
