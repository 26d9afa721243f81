/* checkpoint.c: network and trainer checkpoints: a network's tensors named by
 * their place in the module tree, its architecture (arch.h) in the metadata, and
 * a trainer's optimizer state, counters and generator beside them (see
 * checkpoint.h for the naming scheme). */
#include "io/checkpoint.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "io/json.h"
#include "nn/module.h"
#include "nn/resnet.h"
#include "train/optim.h"
#include "train/trainer.h"

/* ------------------------------------------------------------ named tensors */

/* Adds t to st as "<prefix>.<name>" ("<name>" at the top). */
static int add_named(lap_safetensors *st, const char *prefix, const char *name, lap_tensor *t)
{
    char full[512];
    int n = snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", name);
    if (n < 0 || (size_t)n >= sizeof full)
        return lap_error("checkpoint: tensor name '%s.%s' too long", prefix, name);
    return lap_safetensors_add(st, full, t);
}

static int same_label(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

/* Adds m's parameters and buffers, then its children's, named by their slots. */
static int collect(lap_module *m, const char *prefix, lap_safetensors *l)
{
    for (int i = 0; i < m->nparams; i++)
        if (add_named(l, prefix, m->param_names[i], m->params[i]) != LAP_OK)
            return LAP_ERR;
    for (int i = 0; i < m->nbuffers; i++)
        if (add_named(l, prefix, m->buffer_names[i], m->buffers[i]) != LAP_OK)
            return LAP_ERR;
    char child[512];
    const char *dot = *prefix ? "." : "";
    for (const lap_child_slot *s = m->ops->slots; s && s->key; s++) {
        int k = 0;
        for (int i = 0; i < m->nchildren; i++) {
            if (!same_label(s->label, m->child_names[i]))
                continue;
            k++;
            if (!s->many)
                snprintf(child, sizeof child, "%s%s%s", prefix, dot, s->label);
            else if (s->label)
                snprintf(child, sizeof child, "%s%s%s.%d", prefix, dot, s->label, k);
            else
                snprintf(child, sizeof child, "%s%s%d", prefix, dot, k);
            if (collect(m->children[i], child, l) != LAP_OK)
                return LAP_ERR;
        }
    }
    return LAP_OK;
}

/* Prefixes the current error message with "checkpoint '<path>': " unless it names the path. */
static void prefix_error(const char *path)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", lap_last_error());
    if (!strstr(msg, path))
        lap_error("checkpoint '%s': %s", path, msg);
}

static int is_network_name(const char *name) { return strncmp(name, "optimizer.", 10) != 0; }

/* Adds the network's tensors and architecture to st. */
static int add_network(lap_safetensors *st, lap_module *m)
{
    if (collect(m, "", st) != LAP_OK)
        return LAP_ERR;
    char *arch = lap_module_architecture(m);
    if (!arch)
        return LAP_ERR;
    int status = lap_safetensors_set_meta(st, "lap.architecture", arch);
    free(arch);
    if (status == LAP_OK)
        status = lap_safetensors_set_meta(st, "format", "pt");
    return status;
}

/* Checks (apply == 0) or copies (apply == 1) the network tensors of st into m. */
static int network_weights(lap_module *m, const lap_safetensors *st, const char *path, int apply)
{
    lap_safetensors *mine = lap_safetensors_new();
    if (!mine || collect(m, "", mine) != LAP_OK) {
        lap_safetensors_free(mine);
        return LAP_ERR;
    }
    int status = LAP_OK;
    for (int i = 0; status == LAP_OK && i < lap_safetensors_count(mine); i++) {
        const char *name = lap_safetensors_name(mine, i);
        lap_tensor *dst = lap_safetensors_tensor(mine, i), *src = lap_safetensors_get(st, name);
        char a[LAP_SHAPE_BUF], b[LAP_SHAPE_BUF];
        if (!src)
            status = lap_error("checkpoint '%s': the network's tensor '%s' (shape %s) is not in the file", path,
                               name, lap_shape_str(dst, a, sizeof a));
        else if (!lap_same_shape(src, dst))
            status = lap_error("checkpoint '%s': tensor '%s' has shape %s in the file but %s in the network", path,
                               name, lap_shape_str(src, a, sizeof a), lap_shape_str(dst, b, sizeof b));
        else if (apply)
            lap_copy(lap_data(dst), lap_data(src), lap_numel(src));
    }
    for (int i = 0; status == LAP_OK && i < lap_safetensors_count(st); i++) {
        const char *name = lap_safetensors_name(st, i);
        if (is_network_name(name) && !lap_safetensors_get(mine, name))
            status = lap_error("checkpoint '%s': tensor '%s' of the file is not in the network", path, name);
    }
    lap_safetensors_free(mine);
    return status;
}

int lap_module_save(lap_module *m, const char *path)
{
    lap_safetensors *st = lap_safetensors_new();
    if (!st)
        return LAP_ERR;
    int status = add_network(st, m);
    if (status == LAP_OK)
        status = lap_safetensors_write(st, path);
    else
        prefix_error(path);
    lap_safetensors_free(st);
    return status;
}

int lap_module_load_weights(lap_module *m, const char *path)
{
    lap_safetensors *st = lap_safetensors_read(path);
    if (!st)
        return LAP_ERR;
    int status = network_weights(m, st, path, 0);
    if (status == LAP_OK)
        status = network_weights(m, st, path, 1);
    lap_safetensors_free(st);
    return status;
}

/* The floats of the file's network tensors: a network rebuilt from the file's
 * architecture must fit in them, since each of its tensors must be in the file. */
static double network_floats(const lap_safetensors *st)
{
    double total = 0;
    for (int i = 0; i < lap_safetensors_count(st); i++)
        if (is_network_name(lap_safetensors_name(st, i)))
            total += (double)lap_numel(lap_safetensors_tensor(st, i));
    return total;
}

lap_module *lap_module_load(const char *path)
{
    lap_safetensors *st = lap_safetensors_read(path);
    if (!st)
        return NULL;
    const char *arch = lap_safetensors_meta(st, "lap.architecture");
    lap_module *m = NULL;
    if (!arch) {
        lap_error("checkpoint '%s': no architecture (__metadata__[\"lap.architecture\"]); build the network and use "
                  "net:load_weights",
                  path);
    } else if (!(m = lap_module_from_architecture_within(arch, network_floats(st)))) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", lap_last_error());
        lap_error("checkpoint '%s': %s", path, msg);
    } else if (network_weights(m, st, path, 0) != LAP_OK || network_weights(m, st, path, 1) != LAP_OK) {
        lap_module_release(m);
        m = NULL;
    }
    lap_safetensors_free(st);
    return m;
}

/* ----------------------------------------------------------------- trainers */

static int set_meta_f(lap_safetensors *st, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_meta_f(lap_safetensors *st, const char *key, const char *fmt, ...)
{
    char value[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    return lap_safetensors_set_meta(st, key, value);
}

/* Enums are saved as names, indexed by their value (lap_trainer_kind, lap_optim_kind). */
static const char *const trainer_kinds[] = {"plain", "fixed_lambda", "lap_cost_over_lambda", "lap_lambda_times_ce"};
static const char *const optimizer_kinds[] = {"SGD", "Adam"};
#define COUNT(a) ((int)(sizeof a / sizeof a[0]))

/* The trainer kind of a file: a name, or the integer of files written before
 * kinds were saved by name (0 plain, 1 fixed, 2 LAP main, 3 LAP cloud4). */
static int meta_trainer_kind(const lap_safetensors *st, int *kind, const char *path)
{
    const char *text = lap_safetensors_meta(st, "lap.trainer.kind");
    for (int k = 0; text && k < COUNT(trainer_kinds); k++) {
        char number[12];
        snprintf(number, sizeof number, "%d", k);
        if (strcmp(text, trainer_kinds[k]) == 0 || strcmp(text, number) == 0) {
            *kind = k;
            return LAP_OK;
        }
    }
    return lap_error("checkpoint '%s': metadata 'lap.trainer.kind' is %s, expected plain, fixed_lambda, "
                     "lap_cost_over_lambda or lap_lambda_times_ce (not a trainer checkpoint?)",
                     path, text ? text : "missing");
}

int lap_trainer_save(lap_trainer *t, const char *path)
{
    lap_optimizer *o = t->optimizer;
    lap_safetensors *st = lap_safetensors_new();
    if (!st)
        return LAP_ERR;
    int status = add_network(st, t->net);
    char name[64];
    for (int i = 0; status == LAP_OK && i < o->nparams; i++) {
        snprintf(name, sizeof name, "optimizer.state1.%d", i + 1);
        status = lap_safetensors_add(st, name, o->state1[i]);
        if (status == LAP_OK && o->state2[i]) {
            snprintf(name, sizeof name, "optimizer.state2.%d", i + 1);
            status = lap_safetensors_add(st, name, o->state2[i]);
        }
    }
    /* The generator: 624 words as 8 hex digits each. */
    char *words = malloc(624 * 8 + 1);
    if (!words)
        status = lap_error("out of memory");
    for (int k = 0; words && k < 624; k++)
        snprintf(words + 8 * k, 9, "%08x", (unsigned)t->rng.state[k]);
    if (status == LAP_OK)
        status = lap_safetensors_set_meta(st, "lap.rng.state", words);
    free(words);
    if (status == LAP_OK)
        status = set_meta_f(st, "lap.trainer.kind", "%s", trainer_kinds[t->kind]) ||
                 set_meta_f(st, "lap.trainer.lambda", "%.17g", t->lambda) ||
                 set_meta_f(st, "lap.trainer.tau", "%.17g", t->tau) ||
                 set_meta_f(st, "lap.trainer.steps", "%d", t->steps) ||
                 set_meta_f(st, "lap.trainer.iteration", "%lld", (long long)t->iteration) ||
                 set_meta_f(st, "lap.optimizer.kind", "%s", optimizer_kinds[o->config.kind]) ||
                 set_meta_f(st, "lap.optimizer.lr", "%.17g", o->lr) ||
                 set_meta_f(st, "lap.optimizer.steps", "%lld", (long long)o->steps) ||
                 set_meta_f(st, "lap.optimizer.epoch", "%d", o->epoch) ||
                 set_meta_f(st, "lap.optimizer.nparams", "%d", o->nparams) ||
                 set_meta_f(st, "lap.rng.index", "%d", t->rng.index) ||
                 set_meta_f(st, "lap.rng.has_gauss", "%d", t->rng.has_gauss) ||
                 set_meta_f(st, "lap.rng.gauss", "%.17g", t->rng.gauss)
                     ? LAP_ERR
                     : LAP_OK;
    if (status == LAP_OK)
        status = lap_safetensors_write(st, path);
    else
        prefix_error(path);
    lap_safetensors_free(st);
    return status;
}

static int meta_number(const lap_safetensors *st, const char *key, double *out, const char *path)
{
    const char *text = lap_safetensors_meta(st, key);
    char *end = NULL;
    if (text)
        *out = strtod(text, &end);
    if (!text || end == text || *end != '\0')
        return lap_error("checkpoint '%s': metadata '%s' is %s, expected a number (not a trainer checkpoint?)", path,
                         key, text ? "not a number" : "missing");
    return LAP_OK;
}

/* A metadata number that must be an integer in [min, max] (NaN is not). */
static int meta_int(const lap_safetensors *st, const char *key, double min, double max, double *out,
                    const char *path)
{
    if (meta_number(st, key, out, path) != LAP_OK)
        return LAP_ERR;
    if (!(*out >= min && *out <= max) || *out != floor(*out))
        return lap_error("checkpoint '%s': metadata '%s' is %s, expected an integer in [%.0f, %.0f]", path, key,
                         lap_safetensors_meta(st, key), min, max);
    return LAP_OK;
}

int lap_trainer_load(lap_trainer *t, const char *path)
{
    lap_safetensors *st = lap_safetensors_read(path);
    if (!st)
        return LAP_ERR;
    lap_optimizer *o = t->optimizer;
    int kind = 0;
    double lambda = 0, iteration = 0, lr = 0, steps = 0, epoch = 0, nparams = 0, index = 0, has_gauss = 0,
           gauss = 0;
    int status = LAP_ERR;
    /* Every value is checked with the rules its constructor applies: a file is input. */
    const double max_count = 9007199254740992.0;   /* 2^53: counters exact in a double */
    if (meta_trainer_kind(st, &kind, path) || meta_number(st, "lap.trainer.lambda", &lambda, path) ||
        meta_int(st, "lap.trainer.iteration", 0, max_count, &iteration, path) ||
        meta_number(st, "lap.optimizer.lr", &lr, path) ||
        meta_int(st, "lap.optimizer.steps", 0, max_count, &steps, path) ||
        meta_int(st, "lap.optimizer.epoch", 0, INT_MAX, &epoch, path) ||
        meta_int(st, "lap.optimizer.nparams", 0, INT_MAX, &nparams, path) ||
        meta_int(st, "lap.rng.index", 0, 624, &index, path) ||
        meta_int(st, "lap.rng.has_gauss", 0, 1, &has_gauss, path) || meta_number(st, "lap.rng.gauss", &gauss, path))
        goto done;
    if (!lap_trainer_lambda_ok(t->kind, lambda)) {
        lap_error("checkpoint '%s': lambda %g is not a valid weight for this trainer (finite, > 0 for LAP, >= 0 for "
                  "Regularized)", path, lambda);
        goto done;
    }
    if (!lap_optim_lr_ok(lr)) {
        lap_error("checkpoint '%s': learning rate %g is not finite and >= 0", path, lr);
        goto done;
    }
    if (!isfinite(gauss)) {
        lap_error("checkpoint '%s': invalid generator state (lap.rng.gauss is %g)", path, gauss);
        goto done;
    }
    if (kind != (int)t->kind) {
        lap_error("checkpoint '%s': saved by a trainer of another kind (%s, this one is %s)", path,
                  trainer_kinds[kind], trainer_kinds[t->kind]);
        goto done;
    }
    const char *okind = lap_safetensors_meta(st, "lap.optimizer.kind");
    const char *mine = optimizer_kinds[o->config.kind];
    if (!okind || strcmp(okind, mine) != 0) {
        lap_error("checkpoint '%s': the optimizer is %s in the file but %s in this trainer", path,
                  okind ? okind : "missing", mine);
        goto done;
    }
    if ((int)nparams != o->nparams) {
        lap_error("checkpoint '%s': the optimizer has %d parameter tensors in the file but %d in this trainer", path,
                  (int)nparams, o->nparams);
        goto done;
    }
    const char *words = lap_safetensors_meta(st, "lap.rng.state");
    if (!words || strlen(words) != 624 * 8) {
        lap_error("checkpoint '%s': invalid generator state (lap.rng.*)", path);
        goto done;
    }
    uint32_t state[624];
    for (int k = 0; k < 624; k++) {
        uint32_t w = 0;
        for (int d = 0; d < 8; d++) {
            int h = lap_json_hex_digit(words[8 * k + d]);
            if (h < 0) {
                lap_error("checkpoint '%s': invalid generator state (lap.rng.state)", path);
                goto done;
            }
            w = w * 16 + (uint32_t)h;
        }
        state[k] = w;
    }
    char name[64], a[LAP_SHAPE_BUF], b[LAP_SHAPE_BUF];
    for (int i = 0; i < o->nparams; i++)
        for (int which = 1; which <= 2; which++) {
            lap_tensor *mine_t = which == 1 ? o->state1[i] : o->state2[i];
            if (!mine_t)
                continue;
            snprintf(name, sizeof name, "optimizer.state%d.%d", which, i + 1);
            lap_tensor *src = lap_safetensors_get(st, name);
            if (!src) {
                lap_error("checkpoint '%s': optimizer tensor '%s' is not in the file", path, name);
                goto done;
            }
            if (!lap_same_shape(src, mine_t)) {
                lap_error("checkpoint '%s': tensor '%s' has shape %s in the file but %s in the optimizer", path, name,
                          lap_shape_str(src, a, sizeof a), lap_shape_str(mine_t, b, sizeof b));
                goto done;
            }
        }
    if (network_weights(t->net, st, path, 0) != LAP_OK)
        goto done;
    /* Everything checked: apply. */
    network_weights(t->net, st, path, 1);
    for (int i = 0; i < o->nparams; i++) {
        snprintf(name, sizeof name, "optimizer.state1.%d", i + 1);
        lap_tensor *src = lap_safetensors_get(st, name);
        lap_copy(lap_data(o->state1[i]), lap_data(src), lap_numel(src));
        if (o->state2[i]) {
            snprintf(name, sizeof name, "optimizer.state2.%d", i + 1);
            src = lap_safetensors_get(st, name);
            lap_copy(lap_data(o->state2[i]), lap_data(src), lap_numel(src));
        }
    }
    o->lr = lr;
    o->steps = (int64_t)steps;
    o->epoch = (int)epoch;
    t->lambda = lambda;
    t->iteration = (int64_t)iteration;
    memcpy(t->rng.state, state, sizeof state);
    t->rng.index = (int)index;
    t->rng.has_gauss = (int)has_gauss;
    t->rng.gauss = gauss;
    status = LAP_OK;
done:
    lap_safetensors_free(st);
    return status;
}

