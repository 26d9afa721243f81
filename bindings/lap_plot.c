/* lap_plot.c: lap.plot: the figures of runtime/plot/figures.h from Lua.
 *
 * Each function takes one option table, checks it (unknown keys are errors),
 * turns Lua tables into C arrays, calls the figure and returns the file name.
 * Points with NaN coordinates are not drawn; a warning on stderr counts them.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lap_bindings.h"
#include "core/error.h"
#include "nn/module.h"
#include "nn/resnet.h"
#include "../runtime/plot/canvas.h"
#include "../runtime/plot/figures.h"

/* Common options: file (required), title, size = {w, h}. */
static lap_plot_options read_common(lua_State *L, const char *where)
{
    lap_plot_options o = {0};
    o.file = lapL_optstring(L, 1, "file", NULL, where);
    if (!o.file)
        luaL_error(L, "%s: option 'file' (the PNG to write) is required", where);
    o.title = lapL_optstring(L, 1, "title", NULL, where);
    if (lua_getfield(L, 1, "size") == LUA_TTABLE) {
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        int ok_w, ok_h;
        lua_Integer w = lua_tointegerx(L, -2, &ok_w), h = lua_tointegerx(L, -1, &ok_h);
        if (!ok_w || !ok_h || w < 50 || h < 50 || w > 8000 || h > 8000)
            luaL_error(L, "%s: size must be {width, height} in pixels, each 50..8000", where);
        o.width = (int)w;
        o.height = (int)h;
        lua_pop(L, 2);
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "%s: size must be {width, height}", where);
    }
    lua_pop(L, 1);
    return o;
}

static void warn_nan(const char *where, int64_t nan_points)
{
    if (nan_points > 0)
        fprintf(stderr, "%s: warning: %lld points with NaN or infinite coordinates were not drawn\n", where,
                (long long)nan_points);
}

static int push_result(lua_State *L, int status, const lap_plot_options *o)
{
    if (status != LAP_OK)
        return lapL_runtime_error(L);
    lua_pushstring(L, o->file);
    return 1;
}

/* Networks from `net = m` or `nets = {m1, ...}`, kept alive by the option table. */
static int read_nets(lua_State *L, lap_module **nets, int capacity, const char *where)
{
    int count = 0;
    if (lua_getfield(L, 1, "net") != LUA_TNIL) {
        nets[count++] = lapL_checkmodule(L, -1);
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "nets") == LUA_TTABLE) {
        if (count)
            luaL_error(L, "%s: give either 'net' or 'nets', not both", where);
        int n = (int)lua_rawlen(L, -1);
        if (n > capacity)
            luaL_error(L, "%s: at most %d networks", where, capacity);
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            lap_module *m = lapL_testmodule(L, -1);
            if (!m)
                luaL_error(L, "%s: nets[%d] is not a module", where, i);
            nets[count++] = m;
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "%s: option 'nets' must be a table of networks", where);
    }
    lua_pop(L, 1);
    if (count == 0)
        luaL_error(L, "%s: option 'net' (or 'nets') is required", where);
    return count;
}

/* Strings from a table field; pointers stay valid while the option table lives. */
static int read_strings(lua_State *L, const char *key, const char **out, int capacity, const char *where)
{
    int count = 0;
    if (lua_getfield(L, 1, key) == LUA_TTABLE) {
        int n = (int)lua_rawlen(L, -1);
        for (int i = 1; i <= n && count < capacity; i++) {
            lua_rawgeti(L, -1, i);
            if (!lua_isstring(L, -1))
                luaL_error(L, "%s: %s[%d] must be a string", where, key, i);
            out[count++] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "%s: option '%s' must be a table of strings", where, key);
    }
    lua_pop(L, 1);
    return count;
}

/* Points and their classes from `data = dataset` or `x = tensor [, classes = {...}]`.
 * *labels is malloc'ed (the caller frees it). */
static lap_tensor *read_points(lua_State *L, int32_t **labels, const char *where)
{
    char shape[LAP_SHAPE_BUF];
    lap_tensor *x = NULL;
    *labels = NULL;
    if (lua_getfield(L, 1, "data") != LUA_TNIL) {
        lap_dataset *d = lapL_checkdataset(L, -1);
        x = d->x;
        *labels = malloc(sizeof(int32_t) * (size_t)(d->n ? d->n : 1));
        if (!*labels)
            luaL_error(L, "%s: out of memory", where);
        memcpy(*labels, d->y, sizeof(int32_t) * (size_t)d->n);
    }
    lua_pop(L, 1);
    if (!x) {
        if (lua_getfield(L, 1, "x") == LUA_TNIL)
            luaL_error(L, "%s: option 'data' (a dataset) or 'x' (a tensor of points) is required", where);
        x = lapL_checktensor(L, -1);
        lua_pop(L, 1);
        if (lua_getfield(L, 1, "classes") != LUA_TNIL) {
            int64_t count;
            *labels = lapL_checklabels(L, -1, &count, where);
            if (count != lap_rows(x)) {
                free(*labels);
                *labels = NULL;
                luaL_error(L, "%s: %I classes for points of shape %s", where, (lua_Integer)count,
                           lap_shape_str(x, shape, sizeof shape));
            }
        }
        lua_pop(L, 1);
    }
    if (x->ndim != 2 || x->shape[0] < 1) {
        free(*labels);
        *labels = NULL;
        luaL_error(L, "%s: points of shape %s should be (N, features) with N >= 1", where,
                   lap_shape_str(x, shape, sizeof shape));
    }
    return x;
}

/* ------------------------------------------------------------- transport */

static int plot_transport(lua_State *L)
{
    static const char *const options[] = {"file", "title", "size", "net", "nets", "labels", "data", "x",
                                          "classes", "blocks", "regions", NULL};
    const char *where = "plot.transport";
    luaL_checktype(L, 1, LUA_TTABLE);
    lapL_checkoptions(L, 1, where, options);
    lap_plot_options o = read_common(L, where);
    lap_module *nets[8];
    int nrows = read_nets(L, nets, 8, where);
    const char *row_labels[8];
    int nlabels = read_strings(L, "labels", row_labels, 8, where);
    int regions = lapL_optboolean(L, 1, "regions", 0, where);
    lap_resnet *first = lap_as_resnet(nets[0]);
    if (!first)
        return luaL_error(L, "%s: needs ResNets, got a %s", where, nets[0]->ops->type);
    int blocks[16], nshown = 0;
    if (lua_getfield(L, 1, "blocks") == LUA_TTABLE) {
        int n = (int)lua_rawlen(L, -1);
        if (n < 1 || n > 16)
            return luaL_error(L, "%s: blocks must list 1 to 16 block numbers", where);
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            int isint;
            lua_Integer k = lua_tointegerx(L, -1, &isint);
            if (!isint || k < INT_MIN || k > INT_MAX)
                return luaL_error(L, "%s: blocks[%d] must be a block number", where, i);
            blocks[nshown++] = (int)k;
            lua_pop(L, 1);
        }
    } else if (lua_isnil(L, -1)) {
        /* Default: the first, the middle and the last block. */
        int K = first->nblocks, candidates[3] = {1, (K + 1) / 2, K};
        for (int i = 0; i < 3; i++)
            if (candidates[i] >= 1 && (nshown == 0 || candidates[i] != blocks[nshown - 1]))
                blocks[nshown++] = candidates[i];
    } else {
        return luaL_error(L, "%s: blocks must be a table of block numbers", where);
    }
    lua_pop(L, 1);
    int32_t *labels;
    lap_tensor *x = read_points(L, &labels, where);
    int64_t nan_points = 0;
    int status = lap_plot_transport(&o, nets, nlabels ? row_labels : NULL, nrows, x, labels, blocks, nshown, regions,
                                    &nan_points);
    free(labels);
    warn_nan(where, nan_points);
    return push_result(L, status, &o);
}

/* ---------------------------------------------------------- trajectories */

static int plot_trajectories(lua_State *L)
{
    static const char *const options[] = {"file", "title", "size", "net", "data", "x", "classes", "arrows",
                                          "max_points", NULL};
    const char *where = "plot.trajectories";
    luaL_checktype(L, 1, LUA_TTABLE);
    lapL_checkoptions(L, 1, where, options);
    lap_plot_options o = read_common(L, where);
    lap_module *net[1];
    read_nets(L, net, 1, where);
    int arrows = lapL_optboolean(L, 1, "arrows", 0, where);
    lua_Integer max_points = lapL_optinteger(L, 1, "max_points", 500, where);
    int32_t *labels;
    lap_tensor *x = read_points(L, &labels, where);
    int64_t nan_points = 0;
    int status = lap_plot_trajectories(&o, net[0], x, labels, arrows, max_points, &nan_points);
    free(labels);
    warn_nan(where, nan_points);
    return push_result(L, status, &o);
}

/* ---------------------------------------------------------------- curves */

/* Numbers from the value at idx (a Lua list or a 1-D tensor).  The buffer is a
 * userdata appended to the table at keep_idx, so a Lua error cannot leak it. */
static double *read_numbers(lua_State *L, int idx, int keep_idx, int64_t *count, const char *where,
                            const char *what)
{
    idx = lua_absindex(L, idx);
    lap_tensor *t = lapL_testtensor(L, idx);
    int64_t n;
    if (t)
        n = lap_numel(t);
    else if (lua_istable(L, idx))
        n = (int64_t)lua_rawlen(L, idx);
    else
        return (void)luaL_error(L, "%s: %s must be a table of numbers or a tensor", where, what), NULL;
    double *values = lua_newuserdatauv(L, sizeof(double) * (size_t)(n ? n : 1), 0);
    lua_rawseti(L, keep_idx, (lua_Integer)lua_rawlen(L, keep_idx) + 1);
    for (int64_t i = 0; i < n; i++) {
        if (t) {
            values[i] = lap_data(t)[i];
        } else {
            lua_rawgeti(L, idx, (lua_Integer)i + 1);
            int isnum;
            values[i] = lua_tonumberx(L, -1, &isnum);
            lua_pop(L, 1);
            if (!isnum)
                return (void)luaL_error(L, "%s: %s[%I] is not a number", where, what, (lua_Integer)i + 1), NULL;
        }
    }
    *count = n;
    return values;
}

#define MAX_PANELS 9
#define MAX_SERIES 12

typedef struct curves_input {
    lap_panel panels[MAX_PANELS];
    lap_series series[MAX_PANELS][MAX_SERIES];
} curves_input;

/* Reads the series list on top of the stack into panel p. */
static void read_series(lua_State *L, curves_input *in, int p, int keep_idx, const char *where)
{
    int n = (int)lua_rawlen(L, -1);
    if (n > MAX_SERIES)
        luaL_error(L, "%s: at most %d series per panel", where, MAX_SERIES);
    for (int s = 1; s <= n; s++) {
        lua_rawgeti(L, -1, s);
        if (!lua_istable(L, -1))
            luaL_error(L, "%s: each series must be a table {name = ..., y = {...}}", where);
        lap_series *series = &in->series[p][s - 1];
        memset(series, 0, sizeof *series);
        series->color = -1;
        if (lua_getfield(L, -1, "color") != LUA_TNIL) {
            int isint;
            lua_Integer color = lua_tointegerx(L, -1, &isint);
            if (!isint || color < 1 || color > 16)
                luaL_error(L, "%s: series %d: color must be a palette index 1..16", where, s);
            series->color = (int)color - 1;
        }
        lua_pop(L, 1);
        if (lua_getfield(L, -1, "name") == LUA_TSTRING)
            series->name = lua_tostring(L, -1);   /* the option table keeps it alive */
        lua_pop(L, 1);
        if (lua_getfield(L, -1, "y") == LUA_TNIL)
            luaL_error(L, "%s: series %d has no 'y' values", where, s);
        int64_t ny, nx;
        series->y = read_numbers(L, -1, keep_idx, &ny, where, "y");
        series->n = ny;
        lua_pop(L, 1);
        if (lua_getfield(L, -1, "x") != LUA_TNIL) {
            series->x = read_numbers(L, -1, keep_idx, &nx, where, "x");
            if (nx != ny)
                luaL_error(L, "%s: series %d has %I x values and %I y values", where, s, (lua_Integer)nx,
                           (lua_Integer)ny);
        }
        lua_pop(L, 2);
    }
    in->panels[p].series = in->series[p];
    in->panels[p].nseries = n;
}

static int plot_curves(lua_State *L)
{
    static const char *const options[] = {"file", "title", "size", "panels", "series", "xlabel", "ylabel", "log",
                                          NULL};
    const char *where = "plot.curves";
    luaL_checktype(L, 1, LUA_TTABLE);
    lapL_checkoptions(L, 1, where, options);
    lap_plot_options o = read_common(L, where);
    const char *xlabel = lapL_optstring(L, 1, "xlabel", "epoch", where);
    lua_newtable(L);
    int keep = lua_gettop(L);
    curves_input *in = lua_newuserdatauv(L, sizeof *in, 0);
    memset(in, 0, sizeof *in);
    lua_rawseti(L, keep, 1);
    int npanels = 0;
    if (lua_getfield(L, 1, "panels") == LUA_TTABLE) {
        npanels = (int)lua_rawlen(L, -1);
        if (npanels < 1 || npanels > MAX_PANELS)
            return luaL_error(L, "%s: panels must list 1 to %d panels", where, MAX_PANELS);
        for (int p = 1; p <= npanels; p++) {
            lua_rawgeti(L, -1, p);
            if (!lua_istable(L, -1))
                return luaL_error(L, "%s: panels[%d] must be a table {title, ylabel, log, series}", where, p);
            lap_panel *panel = &in->panels[p - 1];
            if (lua_getfield(L, -1, "title") == LUA_TSTRING)
                panel->title = lua_tostring(L, -1);
            lua_pop(L, 1);
            if (lua_getfield(L, -1, "ylabel") == LUA_TSTRING)
                panel->ylabel = lua_tostring(L, -1);
            lua_pop(L, 1);
            lua_getfield(L, -1, "log");
            panel->log_y = lua_toboolean(L, -1);
            lua_pop(L, 1);
            if (lua_getfield(L, -1, "series") != LUA_TTABLE)
                return luaL_error(L, "%s: panels[%d] needs a 'series' table", where, p);
            read_series(L, in, p - 1, keep, where);
            lua_pop(L, 2);
        }
    } else if (lua_getfield(L, 1, "series") == LUA_TTABLE) {
        npanels = 1;
        in->panels[0].ylabel = lapL_optstring(L, 1, "ylabel", NULL, where);
        in->panels[0].log_y = lapL_optboolean(L, 1, "log", 0, where);
        read_series(L, in, 0, keep, where);
        lua_pop(L, 1);
    } else {
        return luaL_error(L, "%s: option 'series' or 'panels' is required", where);
    }
    lua_pop(L, 1);
    int64_t nan_points = 0;
    int status = lap_plot_curves(&o, in->panels, npanels, xlabel, &nan_points);
    warn_nan(where, nan_points);
    return push_result(L, status, &o);
}

/* --------------------------------------------------------------- scatter */

static int plot_scatter(lua_State *L)
{
    static const char *const options[] = {"file", "title", "size", "x", "y", "groups", "group_names", "fit",
                                          "xlabel", "ylabel", NULL};
    const char *where = "plot.scatter";
    luaL_checktype(L, 1, LUA_TTABLE);
    lapL_checkoptions(L, 1, where, options);
    lap_plot_options o = read_common(L, where);
    int fit = lapL_optboolean(L, 1, "fit", 1, where);
    const char *xlabel = lapL_optstring(L, 1, "xlabel", NULL, where);
    const char *ylabel = lapL_optstring(L, 1, "ylabel", NULL, where);
    const char *group_names[16];
    int ngroups = read_strings(L, "group_names", group_names, 16, where);
    int64_t nx, ny, ng = 0;
    lua_newtable(L);
    int keep = lua_gettop(L);
    if (lua_getfield(L, 1, "x") == LUA_TNIL)
        return luaL_error(L, "%s: options 'x' and 'y' are required", where);
    double *x = read_numbers(L, -1, keep, &nx, where, "x");
    if (lua_getfield(L, 1, "y") == LUA_TNIL)
        return luaL_error(L, "%s: options 'x' and 'y' are required", where);
    double *y = read_numbers(L, -1, keep, &ny, where, "y");
    lua_pop(L, 2);
    if (nx != ny)
        return luaL_error(L, "%s: x has %I values and y %I", where, (lua_Integer)nx, (lua_Integer)ny);
    int *groups = NULL;
    if (lua_getfield(L, 1, "groups") != LUA_TNIL) {
        double *g = read_numbers(L, -1, keep, &ng, where, "groups");
        if (ng != nx)
            return luaL_error(L, "%s: %I groups for %I points", where, (lua_Integer)ng, (lua_Integer)nx);
        groups = lua_newuserdatauv(L, sizeof(int) * (size_t)(ng ? ng : 1), 0);
        lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
        for (int64_t i = 0; i < ng; i++) {
            if (g[i] < 1 || g[i] > 16 || g[i] != floor(g[i]))
                return luaL_error(L, "%s: groups[%I] is %f; groups are integers 1..16", where, (lua_Integer)i + 1,
                                  g[i]);
            groups[i] = (int)g[i] - 1;
        }
    }
    lua_pop(L, 1);
    int64_t nan_points = 0;
    int status = lap_plot_scatter(&o, x, y, groups, nx, ngroups ? group_names : NULL, ngroups, fit, xlabel, ylabel,
                                  &nan_points);
    warn_nan(where, nan_points);
    return push_result(L, status, &o);
}

/* --------------------------------------------------------------- profile */

static int plot_profile(lua_State *L)
{
    static const char *const options[] = {"file", "title", "size", "net", "nets", "labels", "data", "x",
                                          "classes", "kind", NULL};
    const char *where = "plot.profile";
    luaL_checktype(L, 1, LUA_TTABLE);
    lapL_checkoptions(L, 1, where, options);
    lap_plot_options o = read_common(L, where);
    lap_module *nets[8];
    int nnets = read_nets(L, nets, 8, where);
    const char *labels[8];
    int nlabels = read_strings(L, "labels", labels, 8, where);
    const char *kind = lapL_optstring(L, 1, "kind", "bar", where);
    if (strcmp(kind, "bar") != 0 && strcmp(kind, "line") != 0)
        return luaL_error(L, "%s: kind must be 'bar' or 'line', got '%s'", where, kind);
    if (nlabels && nlabels != nnets)
        return luaL_error(L, "%s: %d labels for %d networks", where, nlabels, nnets);
    int32_t *classes;
    lap_tensor *x = read_points(L, &classes, where);
    free(classes);
    int status = lap_plot_profile(&o, nets, nlabels ? labels : NULL, nnets, x, strcmp(kind, "bar") == 0);
    return push_result(L, status, &o);
}

/* ---------------------------------------------------------------- images */

static int plot_images(lua_State *L)
{
    static const char *const options[] = {"file", "title", "size", "rows", "titles", "row_labels", NULL};
    const char *where = "plot.images";
    luaL_checktype(L, 1, LUA_TTABLE);
    lapL_checkoptions(L, 1, where, options);
    lap_plot_options o = read_common(L, where);
    const lap_tensor *rows[32];
    int nrows = 0;
    if (lua_getfield(L, 1, "rows") != LUA_TTABLE)
        return luaL_error(L, "%s: option 'rows' (a table of image tensors) is required", where);
    int n = (int)lua_rawlen(L, -1);
    if (n < 1 || n > 32)
        return luaL_error(L, "%s: rows must list 1 to 32 tensors", where);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        lap_tensor *t = lapL_testtensor(L, -1);
        if (!t)
            return luaL_error(L, "%s: rows[%d] is not a tensor", where, i);
        rows[nrows++] = t;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    const char *titles[64], *row_labels[32];
    int ntitles = read_strings(L, "titles", titles, 64, where);
    int nrow_labels = read_strings(L, "row_labels", row_labels, 32, where);
    for (int i = nrow_labels; i < nrows; i++)
        row_labels[i] = NULL;
    int status = lap_plot_images(&o, rows, nrows, ntitles ? titles : NULL, ntitles, nrow_labels ? row_labels : NULL);
    return push_result(L, status, &o);
}

/* ------------------------------------------------------ reading PNGs back */

/* lap.plot.read(path) -> (H, W, 3) tensor of 0..255 values. */
static int plot_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int width, height;
    uint8_t *rgb;
    if (lap_png_read(path, &width, &height, &rgb) != LAP_OK)
        return lapL_runtime_error(L);
    int64_t shape[3] = {height, width, 3};
    lap_tensor *t = lap_tensor_new(3, shape);
    if (!t) {
        free(rgb);
        return lapL_runtime_error(L);
    }
    float *data = lap_data(t);
    for (int64_t i = 0; i < (int64_t)width * height * 3; i++)
        data[i] = rgb[i];
    free(rgb);
    lapL_pushtensor(L, t);
    return 1;
}

/* lap.plot.diff(a, b [, threshold = 16]) -> fraction of pixels whose largest
 * channel difference exceeds threshold (image sizes must match). */
static int plot_diff(lua_State *L)
{
    const char *a = luaL_checkstring(L, 1), *b = luaL_checkstring(L, 2);
    int threshold = lua_isnoneornil(L, 3) ? 16 : (int)lapL_checkrange(L, 3, 0, 255, "plot.diff", "threshold");
    int wa, ha, wb, hb;
    uint8_t *pa, *pb;
    if (lap_png_read(a, &wa, &ha, &pa) != LAP_OK)
        return lapL_runtime_error(L);
    if (lap_png_read(b, &wb, &hb, &pb) != LAP_OK) {
        free(pa);
        return lapL_runtime_error(L);
    }
    if (wa != wb || ha != hb) {
        free(pa);
        free(pb);
        return luaL_error(L, "plot.diff: '%s' is %dx%d but '%s' is %dx%d", a, wa, ha, b, wb, hb);
    }
    int64_t differing = 0, pixels = (int64_t)wa * ha;
    for (int64_t i = 0; i < pixels; i++) {
        int worst = 0;
        for (int ch = 0; ch < 3; ch++) {
            int d = abs((int)pa[3 * i + ch] - (int)pb[3 * i + ch]);
            worst = d > worst ? d : worst;
        }
        differing += worst > threshold;
    }
    free(pa);
    free(pb);
    lua_pushnumber(L, pixels ? (double)differing / (double)pixels : 0.0);
    return 1;
}

void lapL_open_plot(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"transport", plot_transport}, {"trajectories", plot_trajectories}, {"curves", plot_curves},
        {"scatter", plot_scatter},     {"profile", plot_profile},           {"images", plot_images},
        {"read", plot_read},           {"diff", plot_diff},                 {NULL, NULL},
    };
    luaL_newlib(L, functions);
    lua_setfield(L, -2, "plot");
}
