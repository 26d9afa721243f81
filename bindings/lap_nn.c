/* lap_nn.c: lap.nn: modules as Lua userdata (Linear, BatchNorm, activations,
 * Sequential, ResNet), the Module contract's methods, and cross_entropy.
 *
 * forward/backward return copies of the module's buffers (they are overwritten
 * by the next call); parameters() returns tensors that share the module's
 * storage, so writing into them changes the network.  A ResNet's probes
 * (displacements, states, transport, predict) run the network in eval mode when
 * given an input, and restore the mode afterwards.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lap_bindings.h"
#include "analysis/analysis.h"
#include "core/error.h"
#include "train/cross_entropy.h"
#include "nn/module.h"
#include "nn/registry.h"
#include "nn/resnet.h"

typedef struct module_handle {
    lap_module *module;
} module_handle;

void lapL_pushmodule(lua_State *L, lap_module *m)
{
    module_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->module = m;
    luaL_setmetatable(L, LAPL_MODULE);
}

lap_module *lapL_testmodule(lua_State *L, int idx)
{
    module_handle *h = luaL_testudata(L, idx, LAPL_MODULE);
    return h ? h->module : NULL;
}

lap_module *lapL_checkmodule(lua_State *L, int idx)
{
    module_handle *h = luaL_testudata(L, idx, LAPL_MODULE);
    if (!h)
        luaL_typeerror(L, idx, "lap module");
    if (!h->module)
        luaL_argerror(L, idx, "module already released (its __gc was called)");
    return h->module;
}

int32_t *lapL_checklabels(lua_State *L, int idx, int64_t *count, const char *where)
{
    idx = lua_absindex(L, idx);
    lap_tensor *t = lapL_testtensor(L, idx);
    int64_t n;
    if (t)
        n = lap_numel(t);
    else if (lua_istable(L, idx))
        n = (int64_t)lua_rawlen(L, idx);
    else
        return (void)luaL_error(L, "%s: labels must be a table of integers or a tensor, got %s", where,
                                luaL_typename(L, idx)), NULL;
    int32_t *labels = malloc(sizeof *labels * (size_t)(n ? n : 1));
    if (!labels)
        return (void)luaL_error(L, "%s: out of memory", where), NULL;
    for (int64_t i = 0; i < n; i++) {
        double value;
        if (t) {
            value = lap_data(t)[i];
        } else {
            lua_rawgeti(L, idx, (lua_Integer)i + 1);
            int isnum;
            value = lua_tonumberx(L, -1, &isnum);
            lua_pop(L, 1);
            if (!isnum) {
                free(labels);
                return (void)luaL_error(L, "%s: label %I is not a number", where, (lua_Integer)i + 1), NULL;
            }
        }
        if (value != (double)(int32_t)value || value < 0) {
            free(labels);
            return (void)luaL_error(L, "%s: label %I is %f, expected an integer >= 0", where, (lua_Integer)i + 1,
                                    value), NULL;
        }
        labels[i] = (int32_t)value;
    }
    *count = n;
    return labels;
}

/* ------------------------------------------------------------ constructors */

static int push_new_module(lua_State *L, lap_module *m)
{
    if (!m)
        return lapL_runtime_error(L);
    lapL_pushmodule(L, m);
    return 1;
}

static int nn_linear(lua_State *L)
{
    lua_Integer in = luaL_checkinteger(L, 1), out = luaL_checkinteger(L, 2);
    static const char *const options[] = {"bias", NULL};
    lapL_checkoptions(L, 3, "nn.Linear", options);
    int bias = lapL_optboolean(L, 3, "bias", 1, "nn.Linear");
    return push_new_module(L, lap_linear_new(in, out, bias));
}

static int nn_batchnorm(lua_State *L)
{
    lua_Integer features = luaL_checkinteger(L, 1);
    static const char *const options[] = {"momentum", "eps", NULL};
    lapL_checkoptions(L, 2, "nn.BatchNorm", options);
    double momentum = lapL_optnumber(L, 2, "momentum", 0.1, "nn.BatchNorm");
    double eps = lapL_optnumber(L, 2, "eps", 1e-5, "nn.BatchNorm");
    return push_new_module(L, lap_batchnorm_new(features, momentum, eps));
}

static int nn_layernorm(lua_State *L)
{
    lua_Integer features = luaL_checkinteger(L, 1);
    static const char *const options[] = {"eps", "affine", NULL};
    lapL_checkoptions(L, 2, "nn.LayerNorm", options);
    double eps = lapL_optnumber(L, 2, "eps", 1e-5, "nn.LayerNorm");
    int affine = lapL_optboolean(L, 2, "affine", 1, "nn.LayerNorm");
    return push_new_module(L, lap_layernorm_new(features, eps, affine));
}

static int nn_relu(lua_State *L)
{
    static const char *const options[] = {"inplace", NULL};
    lapL_checkoptions(L, 1, "nn.ReLU", options);
    int inplace = lapL_optboolean(L, 1, "inplace", 0, "nn.ReLU");
    return push_new_module(L, inplace ? lap_relu_inplace_new() : lap_relu_new());
}
static int nn_tanh(lua_State *L) { return push_new_module(L, lap_tanh_new()); }
static int nn_sigmoid(lua_State *L) { return push_new_module(L, lap_sigmoid_new()); }

/* Sequential{m1, m2, ...} or Sequential(m1, m2, ...) */
static int nn_sequential(lua_State *L)
{
    lap_module *seq = lap_sequential_new();
    if (!seq)
        return lapL_runtime_error(L);
    lapL_pushmodule(L, seq);   /* owned by Lua from here: errors below cannot leak it */
    int from_table = lua_istable(L, 1) && !lapL_testmodule(L, 1);
    int count = from_table ? (int)lua_rawlen(L, 1) : lua_gettop(L) - 1;
    if (from_table) {
        static const char *const options[] = {NULL};
        lapL_checkoptions(L, 1, "nn.Sequential", options);
    }
    for (int i = 1; i <= count; i++) {
        lap_module *child;
        if (from_table) {
            lua_rawgeti(L, 1, i);
            child = lapL_testmodule(L, -1);
            lua_pop(L, 1);
        } else {
            child = lapL_testmodule(L, i);
        }
        if (!child)
            return luaL_error(L, "nn.Sequential: entry %d is not a module", i);
        if (lap_module_add_child(seq, child, NULL) != LAP_OK)
            return lapL_runtime_error(L);
    }
    return 1;
}

static lap_module *optional_module_field(lua_State *L, int idx, const char *key)
{
    lua_getfield(L, idx, key);
    lap_module *m = NULL;
    if (!lua_isnil(L, -1)) {
        m = lapL_testmodule(L, -1);
        if (!m)
            luaL_error(L, "nn.ResNet: option '%s' must be a module, got %s", key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return m;
}

/* ResNet{blocks = K, block = function(k) return module end} or ResNet{blocks = {m1, ...}} */
static int nn_resnet(lua_State *L)
{
    static const char *const options[] = {"blocks", "block", "encoder", "classifier", "step", "relu_after",
                                          "transport", "p", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    lapL_checkoptions(L, 1, "nn.ResNet", options);
    lap_module *encoder = optional_module_field(L, 1, "encoder");
    lap_module *classifier = optional_module_field(L, 1, "classifier");
    double step = lapL_optnumber(L, 1, "step", 1.0, "nn.ResNet");
    int relu_after = lapL_optboolean(L, 1, "relu_after", 0, "nn.ResNet");
    const char *form = lapL_optstring(L, 1, "transport", "mean", "nn.ResNet");
    lap_transport transport = {LAP_TRANSPORT_MEAN, lapL_optnumber(L, 1, "p", 2.0, "nn.ResNet")};
    if (strcmp(form, "frobenius") == 0)
        transport.form = LAP_TRANSPORT_FROBENIUS;
    else if (strcmp(form, "mean") != 0)
        return luaL_error(L, "nn.ResNet: transport must be 'mean' or 'frobenius', got '%s'", form);

    /* Collect the blocks into a Lua table first, so that errors cannot leak modules. */
    lua_newtable(L);
    int blocks_table = lua_gettop(L);
    int type = lua_getfield(L, 1, "blocks");
    int nblocks;
    if (type == LUA_TTABLE) {
        nblocks = (int)lua_rawlen(L, -1);
        for (int k = 1; k <= nblocks; k++) {
            lua_rawgeti(L, -1, k);
            if (!lapL_testmodule(L, -1))
                return luaL_error(L, "nn.ResNet: blocks[%d] is not a module", k);
            lua_rawseti(L, blocks_table, k);
        }
    } else if (type == LUA_TNUMBER) {
        nblocks = (int)lapL_checkrange(L, -1, 0, INT_MAX - 1, "nn.ResNet", "option 'blocks'");
        if (lua_getfield(L, 1, "block") != LUA_TFUNCTION)
            return luaL_error(L, "nn.ResNet: with blocks = %d, option 'block' must be a function(k) "
                                 "returning a module", nblocks);
        for (int k = 1; k <= nblocks; k++) {
            lua_pushvalue(L, -1);
            lua_pushinteger(L, k);
            lua_call(L, 1, 1);
            if (!lapL_testmodule(L, -1))
                return luaL_error(L, "nn.ResNet: block(%d) returned %s, expected a module", k,
                                  luaL_typename(L, -1));
            lua_rawseti(L, blocks_table, k);
        }
        lua_pop(L, 1);
    } else {
        return luaL_error(L, "nn.ResNet: option 'blocks' must be a number or a table of modules");
    }
    lua_pop(L, 1);
    lap_module **blocks = malloc(sizeof *blocks * (size_t)(nblocks + 1));
    if (!blocks)
        return luaL_error(L, "nn.ResNet: out of memory");
    for (int k = 1; k <= nblocks; k++) {
        lua_rawgeti(L, blocks_table, k);
        blocks[k - 1] = lapL_testmodule(L, -1);
        lua_pop(L, 1);
    }
    lap_module *net = lap_resnet_new(encoder, blocks, nblocks, classifier, step, relu_after, transport);
    free(blocks);
    return push_new_module(L, net);
}

static int nn_cross_entropy(lua_State *L)
{
    lap_tensor *logits = lapL_checktensor(L, 1);
    char shape[LAP_SHAPE_BUF];
    if (logits->ndim != 2)
        return luaL_error(L, "nn.cross_entropy: logits of shape %s should be (batch, classes)",
                          lap_shape_str(logits, shape, sizeof shape));
    int64_t count;
    int32_t *labels = lapL_checklabels(L, 2, &count, "nn.cross_entropy");
    if (count != logits->shape[0]) {
        free(labels);
        return luaL_error(L, "nn.cross_entropy: %I labels for logits of shape %s", (lua_Integer)count,
                          lap_shape_str(logits, shape, sizeof shape));
    }
    lap_tensor *grad = lap_tensor_new(2, logits->shape);
    double loss;
    int status = grad ? lap_cross_entropy(&loss, lap_data(grad), NULL, lap_data(logits), labels, logits->shape[0],
                                          logits->shape[1], 1.0)
                      : LAP_ERR;
    free(labels);
    if (status != LAP_OK) {
        lap_tensor_release(grad);
        return lapL_runtime_error(L);
    }
    lua_pushnumber(L, loss);
    lapL_pushtensor(L, grad);
    return 2;
}

/* ----------------------------------------------------------------- methods */

static int push_clone(lua_State *L, const lap_tensor *t)
{
    lap_tensor *copy = lap_tensor_clone(t);
    if (!copy)
        return lapL_runtime_error(L);
    lapL_pushtensor(L, copy);
    return 1;
}

static int module_forward(lua_State *L)
{
    lap_module *m = lapL_checkmodule(L, 1);
    lap_tensor *x = lapL_checktensor(L, 2);
    if (lap_module_forward(m, x) != LAP_OK)
        return lapL_runtime_error(L);
    return push_clone(L, m->output);
}

static int module_backward(lua_State *L)
{
    lap_module *m = lapL_checkmodule(L, 1);
    lap_tensor *grad = lapL_checktensor(L, 2);
    double transport_weight = luaL_optnumber(L, 3, 0.0);
    lap_resnet *net = lap_as_resnet(m);
    if (transport_weight != 0.0 && !net)
        return luaL_error(L, "%s: backward's transport weight needs a ResNet", m->ops->type);
    if (net)
        net->transport_weight = transport_weight;
    int status = lap_module_backward(m, grad);
    if (net)
        net->transport_weight = 0.0;
    if (status != LAP_OK)
        return lapL_runtime_error(L);
    return push_clone(L, m->grad_input);
}

static int module_parameters(lua_State *L)
{
    lap_module *m = lapL_checkmodule(L, 1);
    int trainable_only = lua_toboolean(L, 2);
    int n = lap_module_parameters(m, trainable_only, NULL, NULL, 0);
    lap_tensor **params = malloc(sizeof *params * (size_t)(n + 1));
    lap_tensor **grads = malloc(sizeof *grads * (size_t)(n + 1));
    if (!params || !grads) {
        free(params);
        free(grads);
        return luaL_error(L, "%s: out of memory", m->ops->type);
    }
    lap_module_parameters(m, trainable_only, params, grads, n);
    lua_createtable(L, n, 0);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lapL_pushtensor(L, lap_tensor_retain(params[i]));
        lua_rawseti(L, -3, i + 1);
        lapL_pushtensor(L, lap_tensor_retain(grads[i]));
        lua_rawseti(L, -2, i + 1);
    }
    free(params);
    free(grads);
    return 2;
}

static int module_train(lua_State *L)
{
    lap_module_train(lapL_checkmodule(L, 1), 1);
    lua_settop(L, 1);
    return 1;
}

static int module_evaluate(lua_State *L)
{
    lap_module_train(lapL_checkmodule(L, 1), 0);
    lua_settop(L, 1);
    return 1;
}

static int module_freeze(lua_State *L)
{
    lap_module_freeze(lapL_checkmodule(L, 1), 1);
    lua_settop(L, 1);
    return 1;
}

static int module_unfreeze(lua_State *L)
{
    lap_module_freeze(lapL_checkmodule(L, 1), 0);
    lua_settop(L, 1);
    return 1;
}

static int module_zero_grad(lua_State *L)
{
    lap_module_zero_grad(lapL_checkmodule(L, 1));
    lua_settop(L, 1);
    return 1;
}

static int module_type(lua_State *L)
{
    lua_pushstring(L, lapL_checkmodule(L, 1)->ops->type);
    return 1;
}

/* Sequential: append a module. */
static int module_add(lua_State *L)
{
    lap_module *m = lapL_checkmodule(L, 1);
    lap_module *child = lapL_checkmodule(L, 2);
    if (!lap_module_is(m, "Sequential"))
        return luaL_error(L, "%s: add() is for Sequential", m->ops->type);
    if (lap_module_add_child(m, child, NULL) != LAP_OK)
        return lapL_runtime_error(L);
    lua_settop(L, 1);
    return 1;
}

/* lap.nn.types(): the names of every module type (nn/registry.h), in table order. */
static int nn_types(lua_State *L)
{
    int n = lap_module_type_count();
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, lap_module_type_at(i)->name);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static void describe_tree(luaL_Buffer *b, const lap_module *m, int depth)
{
    char line[256];
    lap_module_describe(m, line, sizeof line);
    luaL_addstring(b, line);
    if (m->nchildren == 0)
        return;
    luaL_addstring(b, " {");
    for (int i = 0; i < m->nchildren; i++) {
        luaL_addchar(b, '\n');
        for (int d = 0; d <= depth; d++)
            luaL_addstring(b, "  ");
        const char *label = m->child_names[i];
        if (label && strcmp(label, "block") == 0)
            snprintf(line, sizeof line, "block[%d]: ", i + 1 - (lap_as_resnet((lap_module *)m)->encoder ? 1 : 0));
        else if (label)
            snprintf(line, sizeof line, "%s: ", label);
        else
            snprintf(line, sizeof line, "[%d] ", i + 1);
        luaL_addstring(b, line);
        describe_tree(b, m->children[i], depth + 1);
    }
    luaL_addchar(b, '\n');
    for (int d = 0; d < depth; d++)
        luaL_addstring(b, "  ");
    luaL_addchar(b, '}');
}

static int module_tostring(lua_State *L)
{
    lap_module *m = lapL_checkmodule(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    describe_tree(&b, m, 0);
    luaL_pushresult(&b);
    return 1;
}

static int module_gc(lua_State *L)
{
    module_handle *h = luaL_checkudata(L, 1, LAPL_MODULE);
    lap_module_release(h->module);
    h->module = NULL;
    return 0;
}

static int module_eq(lua_State *L)
{
    lua_pushboolean(L, lapL_testmodule(L, 1) == lapL_testmodule(L, 2));
    return 1;
}

static int module_len(lua_State *L)
{
    lap_module *m = lapL_checkmodule(L, 1);
    lap_resnet *net = lap_as_resnet(m);
    lua_pushinteger(L, net ? net->nblocks : m->nchildren);
    return 1;
}

/* ------------------------------------------------------------ ResNet probes */

static lap_resnet *check_resnet(lua_State *L, int idx, const char *what)
{
    lap_module *m = lapL_checkmodule(L, idx);
    lap_resnet *net = lap_as_resnet(m);
    if (!net)
        luaL_error(L, "%s: needs a ResNet, got a %s", what, m->ops->type);
    return net;
}

/* With an input at idx, runs the network on it in eval mode; else uses the last forward. */
static void probe_forward(lua_State *L, lap_resnet *net, int idx, const char *what)
{
    if (lua_isnoneornil(L, idx)) {
        if (!net->base.output)
            luaL_error(L, "ResNet.%s: no forward pass yet; give an input tensor", what);
        if (lap_resnet_check_state(net, what) != LAP_OK)
            lapL_runtime_error(L);
        return;
    }
    lap_tensor *x = lapL_checktensor(L, idx);
    if (lap_module_forward_eval(&net->base, x) != LAP_OK)
        lapL_runtime_error(L);
}

static int resnet_block(lua_State *L)
{
    lap_resnet *net = check_resnet(L, 1, "block");
    lua_Integer k = luaL_checkinteger(L, 2);
    luaL_argcheck(L, k >= 1 && k <= net->nblocks, 2, "block index out of range");
    lapL_pushmodule(L, lap_module_retain(net->blocks[k - 1]));
    return 1;
}

static int push_tensor_list(lua_State *L, lap_tensor **tensors, int count)
{
    lua_createtable(L, count, 0);
    for (int i = 0; i < count; i++) {
        lap_tensor *copy = lap_tensor_clone(tensors[i]);
        if (!copy)
            return lapL_runtime_error(L);
        lapL_pushtensor(L, copy);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int resnet_displacements(lua_State *L)
{
    lap_resnet *net = check_resnet(L, 1, "displacements");
    probe_forward(L, net, 2, "displacements");
    return push_tensor_list(L, net->displacements, net->nblocks);
}

static int resnet_states(lua_State *L)
{
    lap_resnet *net = check_resnet(L, 1, "states");
    probe_forward(L, net, 2, "states");
    return push_tensor_list(L, net->states, net->nblocks + 1);
}

static int resnet_transport(lua_State *L)
{
    lap_resnet *net = check_resnet(L, 1, "transport");
    probe_forward(L, net, 2, "transport");
    lua_pushnumber(L, net->transport_cost);
    lua_createtable(L, net->nblocks, 0);
    for (int k = 0; k < net->nblocks; k++) {
        lua_pushnumber(L, net->block_cost[k]);
        lua_rawseti(L, -2, k + 1);
    }
    return 2;
}

static int resnet_predict(lua_State *L)
{
    lap_resnet *net = check_resnet(L, 1, "predict");
    lapL_checktensor(L, 2);
    probe_forward(L, net, 2, "predict");
    lap_tensor *logits = net->base.output;
    int64_t N = lap_rows(logits), C = lap_cols(logits);
    lap_tensor *classes = lap_tensor_new(1, &N);
    if (!classes)
        return lapL_runtime_error(L);
    for (int64_t n = 0; n < N; n++) {
        const float *row = lap_data(logits) + n * C;
        int64_t best = 0;
        for (int64_t c = 1; c < C; c++)
            if (row[c] > row[best])
                best = c;
        lap_data(classes)[n] = (float)best;
    }
    lapL_pushtensor(L, classes);
    return 1;
}

/* Mean over points of path length / end-to-end distance through the blocks. */
static int resnet_line_shape(lua_State *L)
{
    lap_resnet *net = check_resnet(L, 1, "line_shape");
    probe_forward(L, net, 2, "line_shape");
    const float **states = lua_newuserdatauv(L, sizeof *states * ((size_t)net->nblocks + 1), 0);
    for (int k = 0; k <= net->nblocks; k++)
        states[k] = lap_data(net->states[k]);
    double score;
    int64_t used;
    if (lap_line_shape(&score, &used, states, net->nblocks, lap_rows(net->states[0]), lap_cols(net->states[0])) !=
        LAP_OK)
        return lapL_runtime_error(L);
    lua_pushnumber(L, score);
    lua_pushinteger(L, used);
    return 2;
}

static const luaL_Reg module_methods[] = {
    {"forward", module_forward},
    {"backward", module_backward},
    {"parameters", module_parameters},
    {"train", module_train},
    {"evaluate", module_evaluate},
    {"freeze", module_freeze},
    {"unfreeze", module_unfreeze},
    {"zero_grad", module_zero_grad},
    {"type", module_type},
    {"add", module_add},
    {"block", resnet_block},
    {"displacements", resnet_displacements},
    {"states", resnet_states},
    {"transport", resnet_transport},
    {"predict", resnet_predict},
    {"line_shape", resnet_line_shape},
    {NULL, NULL},
};

static int param_field(lua_State *L, lap_module *m, const char *key)
{
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(m->param_names[i], key) == 0) {
            lapL_pushtensor(L, lap_tensor_retain(m->params[i]));
            return 1;
        }
    return 0;
}

static int module_index(lua_State *L)
{
    lap_module *m = lapL_checkmodule(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_Integer i = lua_tointeger(L, 2);
        lap_resnet *net = lap_as_resnet(m);
        if (net) {
            if (i < 1 || i > net->nblocks)
                return luaL_error(L, "ResNet: block index %d out of range (1..%d)", (int)i, net->nblocks);
            lapL_pushmodule(L, lap_module_retain(net->blocks[i - 1]));
            return 1;
        }
        if (i < 1 || i > m->nchildren)
            return luaL_error(L, "%s: index %d out of range (1..%d)", m->ops->type, (int)i, m->nchildren);
        lapL_pushmodule(L, lap_module_retain(m->children[i - 1]));
        return 1;
    }
    const char *key = luaL_checkstring(L, 2);
    if (luaL_getmetafield(L, 1, "__methods") == LUA_TTABLE && lua_getfield(L, -1, key) != LUA_TNIL)
        return 1;
    if (param_field(L, m, key))
        return 1;
    lap_resnet *net = lap_as_resnet(m);
    if (strcmp(key, "training") == 0) {
        lua_pushboolean(L, m->training);
        return 1;
    }
    if (strcmp(key, "frozen") == 0) {
        lua_pushboolean(L, m->frozen);
        return 1;
    }
    lap_tensor *buffer = lap_module_buffer(m, key);   /* BatchNorm's running_mean, ... */
    if (buffer) {
        lapL_pushtensor(L, lap_tensor_retain(buffer));
        return 1;
    }
    if (net && strcmp(key, "encoder") == 0 && net->encoder) {
        lapL_pushmodule(L, lap_module_retain(net->encoder));
        return 1;
    }
    if (net && strcmp(key, "classifier") == 0 && net->classifier) {
        lapL_pushmodule(L, lap_module_retain(net->classifier));
        return 1;
    }
    if (net && strcmp(key, "nblocks") == 0) {
        lua_pushinteger(L, net->nblocks);
        return 1;
    }
    if (net && strcmp(key, "step") == 0) {
        lua_pushnumber(L, net->step);
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

void lapL_open_nn(lua_State *L)
{
    luaL_newmetatable(L, LAPL_MODULE);
    static const luaL_Reg meta[] = {
        {"__index", module_index}, {"__gc", module_gc},   {"__tostring", module_tostring},
        {"__eq", module_eq},       {"__len", module_len}, {NULL, NULL},
    };
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, module_methods);
    lua_setfield(L, -2, "__methods");
    lua_pop(L, 1);

    static const luaL_Reg functions[] = {
        {"Linear", nn_linear},   {"BatchNorm", nn_batchnorm},   {"LayerNorm", nn_layernorm}, {"ReLU", nn_relu},
        {"Tanh", nn_tanh},       {"Sigmoid", nn_sigmoid},       {"Sequential", nn_sequential},
        {"ResNet", nn_resnet},   {"cross_entropy", nn_cross_entropy}, {"types", nn_types},
        {NULL, NULL},
    };
    luaL_newlib(L, functions);
    lua_setfield(L, -2, "nn");
}
