/* module.c: the generic half of the Module contract: reference counting, mode,
 * freezing, parameter lists, argument checks around forward/backward. */
#include "nn/module.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void lap_module_init(lap_module *m, const lap_module_ops *ops)
{
    memset(m, 0, sizeof *m);
    m->ops = ops;
    m->refcount = 1;
    m->training = 1;
}

int lap_module_is(const lap_module *m, const char *type)
{
    return m && strcmp(m->ops->type, type) == 0;
}

int lap_module_add_param(lap_module *m, const char *name, lap_tensor *value)
{
    if (!value)
        return LAP_ERR;
    if (m->nparams == LAP_MAX_PARAMS) {
        lap_tensor_release(value);
        return lap_error("%s: too many parameters", m->ops->type);
    }
    lap_tensor *grad = lap_tensor_new(value->ndim, value->shape);
    if (!grad) {
        lap_tensor_release(value);
        return LAP_ERR;
    }
    m->params[m->nparams] = value;
    m->grads[m->nparams] = grad;
    m->param_names[m->nparams] = name;
    m->nparams++;
    return LAP_OK;
}

int lap_module_add_buffer(lap_module *m, const char *name, lap_tensor *value)
{
    if (!value)
        return LAP_ERR;
    if (m->nbuffers == LAP_MAX_BUFFERS) {
        lap_tensor_release(value);
        return lap_error("%s: too many buffers", m->ops->type);
    }
    m->buffers[m->nbuffers] = value;
    m->buffer_names[m->nbuffers] = name;
    m->nbuffers++;
    return LAP_OK;
}

lap_tensor *lap_module_buffer(const lap_module *m, const char *name)
{
    for (int i = 0; i < m->nbuffers; i++)
        if (strcmp(m->buffer_names[i], name) == 0)
            return m->buffers[i];
    return NULL;
}

/* Depth first over the modules below m, each visited once (a network may share a
 * module in several places, and a walk without memory would be exponential in the
 * depth of such sharing).  Returns 1 if found, 0 if not, -1 out of memory. */
typedef struct module_set {
    const lap_module **items;
    size_t count, capacity;
} module_set;

static int set_insert(module_set *set, const lap_module *m)
{
    for (size_t i = 0; i < set->count; i++)
        if (set->items[i] == m)
            return 0;
    if (set->count == set->capacity) {
        size_t capacity = set->capacity ? 2 * set->capacity : 16;
        const lap_module **items = realloc(set->items, capacity * sizeof *items);
        if (!items)
            return -1;
        set->items = items;
        set->capacity = capacity;
    }
    set->items[set->count++] = m;
    return 1;
}

static int search(const lap_module *m, const lap_module *inner, module_set *seen)
{
    if (m == inner)
        return 1;
    int fresh = set_insert(seen, m);
    if (fresh <= 0)
        return fresh;   /* already searched, or out of memory */
    for (int i = 0; i < m->nchildren; i++) {
        int found = search(m->children[i], inner, seen);
        if (found != 0)
            return found;
    }
    return 0;
}

int lap_module_contains(const lap_module *m, const lap_module *inner)
{
    module_set seen = {0};
    int found = search(m, inner, &seen);
    free(seen.items);
    return found;
}

static uint64_t structure_generation = 1;

uint64_t lap_module_structure_generation(void)
{
    return __atomic_load_n(&structure_generation, __ATOMIC_RELAXED);
}

int lap_module_add_child(lap_module *m, lap_module *child, const char *label)
{
    __atomic_fetch_add(&structure_generation, 1, __ATOMIC_RELAXED);
    if (!child)
        return lap_error("%s: missing child module", m->ops->type);
    int cycle = lap_module_contains(child, m);
    if (cycle < 0)
        return lap_error("out of memory");
    if (cycle && child == m)
        return lap_error("%s: cannot contain itself", m->ops->type);
    if (cycle)
        return lap_error("%s: cannot contain a %s that contains it", m->ops->type, child->ops->type);
    lap_module **children = realloc(m->children, (size_t)(m->nchildren + 1) * sizeof *children);
    if (!children)
        return lap_error("out of memory");
    m->children = children;
    const char **names = realloc(m->child_names, (size_t)(m->nchildren + 1) * sizeof *names);
    if (!names)
        return lap_error("out of memory");
    m->child_names = names;
    m->children[m->nchildren] = lap_module_retain(child);
    m->child_names[m->nchildren] = label;
    m->nchildren++;
    return LAP_OK;
}

lap_module *lap_module_retain(lap_module *m)
{
    if (m)
        m->refcount++;
    return m;
}

void lap_module_release(lap_module *m)
{
    if (!m || --m->refcount > 0)
        return;
    if (m->ops->destroy)
        m->ops->destroy(m);
    for (int i = 0; i < m->nparams; i++) {
        lap_tensor_release(m->params[i]);
        lap_tensor_release(m->grads[i]);
    }
    for (int i = 0; i < m->nbuffers; i++)
        lap_tensor_release(m->buffers[i]);
    for (int i = 0; i < m->nchildren; i++)
        lap_module_release(m->children[i]);
    free(m->children);
    free(m->child_names);
    lap_tensor_release(m->input);
    lap_tensor_release(m->output);
    lap_tensor_release(m->grad_input);
    free(m);
}

static uint64_t state_generation = 1;

uint64_t lap_module_state_generation(void)
{
    return __atomic_load_n(&state_generation, __ATOMIC_RELAXED);
}

static void state_changes(const lap_module *m)
{
    if (m->planned)
        __atomic_fetch_add(&state_generation, 1, __ATOMIC_RELAXED);
}

static void record_shape(int *ndim, int64_t *shape, const lap_tensor *t)
{
    *ndim = t->ndim;
    for (int d = 0; d < LAP_MAX_DIMS; d++)
        shape[d] = d < t->ndim ? t->shape[d] : 0;
}

static int has_shape(const lap_tensor *t, int ndim, const int64_t *shape)
{
    if (t->ndim != ndim)
        return 0;
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] != shape[d])
            return 0;
    return 1;
}

static char *recorded_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    lap_tensor view = {.ndim = ndim};
    for (int d = 0; d < ndim; d++)
        view.shape[d] = shape[d];
    return lap_shape_str(&view, buf, size);
}

int lap_module_forward(lap_module *m, lap_tensor *input)
{
    if (!input)
        return lap_error("%s: forward needs an input tensor", m->ops->type);
    if (lap_tensor_is_evicted(input))
        return lap_error("%s: forward of a tensor that was not kept after the forward pass", m->ops->type);
    state_changes(m);
    /* The previous input stays referenced until the call has succeeded, so that a
     * failed call leaves the module as it was. */
    lap_tensor *previous = m->input;
    if (previous != input)   /* in a steady loop it is the same tensor as last time */
        m->input = lap_tensor_retain(input);
    if (m->ops->forward(m, input) != LAP_OK) {
        if (previous != input) {
            lap_tensor_release(m->input);
            m->input = previous;
        }
        /* A container's children that ran before the failing one hold the new
         * batch; its own backward would mix the two. */
        if (m->nchildren > 0)
            m->forward_ok = 0;
        return LAP_ERR;
    }
    if (previous != input)
        lap_tensor_release(previous);
    record_shape(&m->forward_in_ndim, m->forward_in_shape, input);
    record_shape(&m->forward_out_ndim, m->forward_out_shape, m->output);
    m->forward_ok = 1;
    return LAP_OK;
}

int lap_module_forward_eval(lap_module *m, lap_tensor *input)
{
    int was_training = m->training;
    lap_module_train(m, 0);
    int status = lap_module_forward(m, input);
    lap_module_train(m, was_training);
    return status;
}

void lap_module_adopt_forward(lap_module *m, lap_tensor *input, lap_tensor *output)
{
    state_changes(m);
    if (m->input != input) {
        lap_tensor_retain(input);
        lap_tensor_release(m->input);
        m->input = input;
    }
    if (m->output != output) {
        lap_tensor_retain(output);
        lap_tensor_release(m->output);
        m->output = output;
    }
    record_shape(&m->forward_in_ndim, m->forward_in_shape, input);
    record_shape(&m->forward_out_ndim, m->forward_out_shape, output);
    m->forward_ok = 1;
}

static _Thread_local int inference_depth;

int lap_inference_active(void)
{
    return inference_depth > 0;
}

int lap_module_infer(lap_module *m, lap_tensor *input)
{
    inference_depth++;
    int status = lap_module_forward_eval(m, input);
    inference_depth--;
    return status;
}

int lap_module_check_forward(const lap_module *m, const char *what)
{
    char a[LAP_SHAPE_BUF], b[LAP_SHAPE_BUF];
    if (!m->input || !m->output)
        return lap_error("%s: %s called before forward", m->ops->type, what);
    if (!m->forward_ok)
        return lap_error("%s: %s after a failed forward (call forward again)", m->ops->type, what);
    if (!has_shape(m->input, m->forward_in_ndim, m->forward_in_shape))
        return lap_error("%s: %s needs the input of the last forward, of shape %s, which has since become %s "
                         "(the module that produced it ran again; call forward again)",
                         m->ops->type, what, recorded_str(m->forward_in_ndim, m->forward_in_shape, a, sizeof a),
                         lap_shape_str(m->input, b, sizeof b));
    if (!has_shape(m->output, m->forward_out_ndim, m->forward_out_shape))
        return lap_error("%s: %s needs the output of the last forward, of shape %s, which has since become %s "
                         "(call forward again)",
                         m->ops->type, what, recorded_str(m->forward_out_ndim, m->forward_out_shape, a, sizeof a),
                         lap_shape_str(m->output, b, sizeof b));
    return LAP_OK;
}

int lap_module_backward(lap_module *m, const lap_tensor *grad_output)
{
    char a[LAP_SHAPE_BUF], b[LAP_SHAPE_BUF];
    if (!grad_output)
        return lap_error("%s: backward needs a gradient tensor", m->ops->type);
    state_changes(m);
    if (lap_module_check_forward(m, "backward") != LAP_OK)
        return LAP_ERR;
    if (lap_tensor_is_evicted(m->input))
        return lap_error("%s: backward called on its own, but its input inside the container was not kept "
                         "(the container recomputes it in its own backward)", m->ops->type);
    if (!lap_same_shape(grad_output, m->output))
        return lap_error("%s: gradient of shape %s does not match the output of shape %s", m->ops->type,
                         lap_shape_str(grad_output, a, sizeof a), lap_shape_str(m->output, b, sizeof b));
    return m->ops->backward(m, grad_output);
}

static uint64_t mode_generation = 1;

uint64_t lap_module_mode_generation(void)
{
    return __atomic_load_n(&mode_generation, __ATOMIC_RELAXED);
}

void lap_module_train(lap_module *m, int training)
{
    if (m->training != training) {
        state_changes(m);
        __atomic_fetch_add(&mode_generation, 1, __ATOMIC_RELAXED);
    }
    m->training = training;
    for (int i = 0; i < m->nchildren; i++)
        lap_module_train(m->children[i], training);
}

static uint64_t freeze_generation = 1;

uint64_t lap_module_freeze_generation(void)
{
    return __atomic_load_n(&freeze_generation, __ATOMIC_RELAXED);
}

void lap_module_freeze(lap_module *m, int frozen)
{
    __atomic_fetch_add(&freeze_generation, 1, __ATOMIC_RELAXED);
    m->frozen = frozen;
    for (int i = 0; i < m->nchildren; i++)
        lap_module_freeze(m->children[i], frozen);
}

void lap_module_zero_grad(lap_module *m)
{
    for (int i = 0; i < m->nparams; i++)
        lap_fill(lap_data(m->grads[i]), 0.0f, lap_numel(m->grads[i]));
    for (int i = 0; i < m->nchildren; i++)
        lap_module_zero_grad(m->children[i]);
}

static int collect(lap_module *m, int trainable_only, lap_tensor **params, lap_tensor **grads,
                   int capacity, int count)
{
    if (!(trainable_only && m->frozen)) {
        for (int i = 0; i < m->nparams; i++, count++) {
            if (count < capacity) {
                if (params)
                    params[count] = m->params[i];
                if (grads)
                    grads[count] = m->grads[i];
            }
        }
    }
    for (int i = 0; i < m->nchildren; i++)
        count = collect(m->children[i], trainable_only, params, grads, capacity, count);
    return count;
}

int lap_module_parameters(lap_module *m, int trainable_only, lap_tensor **params, lap_tensor **grads,
                          int capacity)
{
    return collect(m, trainable_only, params, grads, capacity, 0);
}

int lap_module_visit(lap_module *m, lap_module_visitor visit, void *context)
{
    if (visit(m, context) != LAP_OK)
        return LAP_ERR;
    for (int i = 0; i < m->nchildren; i++)
        if (lap_module_visit(m->children[i], visit, context) != LAP_OK)
            return LAP_ERR;
    return LAP_OK;
}

void lap_module_drop_grad_input(lap_module *m)
{
    /* Small gradients stay: dropping them would only trade memory nobody misses for
     * an allocation per step (tensor.c pools storages of 16384 floats and more). */
    if (!m->grad_input || lap_numel(m->grad_input) < 16384)
        return;
    state_changes(m);
    if (lap_module_is(m, "Sequential") && m->nchildren > 0)
        lap_module_drop_grad_input(m->children[0]);
    lap_tensor_release(m->grad_input);
    m->grad_input = NULL;
}

void lap_module_describe(const lap_module *m, char *buf, size_t size)
{
    if (m->ops->describe)
        m->ops->describe(m, buf, size);
    else
        snprintf(buf, size, "%s", m->ops->type);
}
