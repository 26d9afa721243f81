/* figures.c: the figures of figures.h, drawn with plot/canvas.h and plot/axes.h.
 *
 * Limits: decision boundaries and regions are drawn only when the states are 2-D
 * (they are a property of the classifier in state space, which a PCA projection
 * does not preserve); W1 in the profile uses at most 1000 evenly chosen points.
 */
#include "figures.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"
#include "core/error.h"
#include "nn/resnet.h"
#include "axes.h"
#include "canvas.h"

#define PANEL 300          /* default panel side, pixels */
#define TITLE_BAND 36      /* room for a figure title */
#define ROW_LABEL_BAND 26  /* room for vertical row labels */

static const lap_color WHITE = {255, 255, 255};
static const lap_color BLACK = {0, 0, 0};
static const lap_color BOUNDARY = {44, 160, 44};

/* --------------------------------------------------------------- helpers */

static lap_canvas *new_canvas(const lap_plot_options *o, int width, int height)
{
    if (!o->file || !o->file[0]) {
        lap_error("plot: option 'file' (the PNG to write) is required");
        return NULL;
    }
    return lap_canvas_new(o->width > 0 ? o->width : width, o->height > 0 ? o->height : height, WHITE);
}

/* Top of the drawing area once the figure title is placed. */
static double draw_figure_title(lap_canvas *c, const lap_plot_options *o)
{
    if (!o->title || !o->title[0])
        return 6;
    lap_draw_text(c, c->width / 2.0, 8, o->title, 2, BLACK, LAP_ALIGN_CENTER, 0);
    return TITLE_BAND;
}

static int finish(lap_canvas *c, const lap_plot_options *o)
{
    int status = lap_canvas_write_png(c, o->file);
    lap_canvas_free(c);
    return status;
}

/* Bounds of the finite points of a (n, 2) double cloud, merged into *box. */
typedef struct bounds {
    double x0, x1, y0, y1;
    int64_t count;
} bounds;

static void bounds_init(bounds *b)
{
    b->x0 = b->y0 = INFINITY;
    b->x1 = b->y1 = -INFINITY;
    b->count = 0;
}

static void bounds_add(bounds *b, double x, double y)
{
    if (!isfinite(x) || !isfinite(y))
        return;
    b->x0 = fmin(b->x0, x);
    b->x1 = fmax(b->x1, x);
    b->y0 = fmin(b->y0, y);
    b->y1 = fmax(b->y1, y);
    b->count++;
}

/* A little room around the points, and a usable range when all coincide. */
static void bounds_pad(bounds *b, double fraction)
{
    if (b->count == 0) {
        b->x0 = b->y0 = -1;
        b->x1 = b->y1 = 1;
        return;
    }
    double dx = b->x1 - b->x0, dy = b->y1 - b->y0;
    double pad_x = dx > 0 ? dx * fraction : fmax(1.0, fabs(b->x0) * 0.1);
    double pad_y = dy > 0 ? dy * fraction : fmax(1.0, fabs(b->y0) * 0.1);
    b->x0 -= pad_x;
    b->x1 += pad_x;
    b->y0 -= pad_y;
    b->y1 += pad_y;
}

/* The states x_0..x_K of a ResNet on x, in eval mode, as 2-D double clouds:
 * the first two coordinates when D == 2, else the PCA projection fitted on x_0. */
typedef struct flow {
    int nstates;          /* K + 1 */
    int64_t n;
    int64_t dims;         /* D of the states */
    double **points;      /* nstates arrays of (n, 2) */
    int projected;
} flow;

static void flow_free(flow *f)
{
    if (f->points)
        for (int k = 0; k < f->nstates; k++)
            free(f->points[k]);
    free(f->points);
    memset(f, 0, sizeof *f);
}

static int run_flow(flow *f, lap_module *m, const lap_tensor *x, const char *where)
{
    char shape[LAP_SHAPE_BUF];
    memset(f, 0, sizeof *f);
    lap_resnet *net = lap_as_resnet(m);
    if (!net)
        return lap_error("%s: needs a ResNet, got a %s", where, m->ops->type);
    if (x->ndim < 2 || x->shape[0] < 1)
        return lap_error("%s: points of shape %s should be (N, features) with N >= 1", where,
                         lap_shape_str(x, shape, sizeof shape));
    if (lap_module_forward_eval(m, (lap_tensor *)x) != LAP_OK)
        return LAP_ERR;
    f->nstates = net->nblocks + 1;
    f->n = lap_rows(net->states[0]);
    f->dims = lap_cols(net->states[0]);
    f->points = lap_calloc((size_t)f->nstates, sizeof *f->points);
    if (!f->points)
        return LAP_ERR;
    lap_pca pca = {0};
    if (f->dims != 2) {
        if (f->n < 2) {
            flow_free(f);
            return lap_error("%s: projecting %lld-D states needs at least 2 points", where, (long long)f->dims);
        }
        if (lap_pca_fit(&pca, lap_data(net->states[0]), f->n, f->dims) != LAP_OK) {
            flow_free(f);
            return LAP_ERR;
        }
        f->projected = 1;
    }
    for (int k = 0; k < f->nstates; k++) {
        f->points[k] = lap_malloc(sizeof(double) * 2 * (size_t)f->n);
        if (!f->points[k]) {
            lap_pca_free(&pca);
            flow_free(f);
            return LAP_ERR;
        }
        const float *s = lap_data(net->states[k]);
        if (f->projected) {
            lap_pca_project(&pca, f->points[k], s, f->n);
        } else {
            for (int64_t i = 0; i < 2 * f->n; i++)
                f->points[k][i] = s[i];
        }
    }
    lap_pca_free(&pca);
    return LAP_OK;
}

static int64_t draw_cloud(lap_axes *ax, const double *points, const int32_t *labels, int64_t n, double radius,
                          double alpha)
{
    int64_t nan_points = 0;
    lap_axes_clip(ax);
    for (int64_t i = 0; i < n; i++) {
        double x = points[2 * i], y = points[2 * i + 1];
        if (!isfinite(x) || !isfinite(y)) {
            nan_points++;
            continue;
        }
        lap_draw_point(ax->canvas, lap_axes_px(ax, x), lap_axes_py(ax, y), radius,
                       lap_palette(labels ? labels[i] : 0), alpha);
    }
    lap_axes_unclip(ax);
    return nan_points;
}

/* The classifier's decision, drawn in state space: shaded regions over a grid,
 * and for a linear 2-class classifier its boundary line. */
static int draw_decision(lap_axes *ax, lap_module *classifier, int regions)
{
    if (!classifier)
        return LAP_OK;
    lap_axes_clip(ax);
    if (regions) {
        enum { GRID = 90 };
        int64_t shape[2] = {GRID * GRID, 2};
        lap_tensor *grid = lap_tensor_new(2, shape);
        if (!grid)
            return LAP_ERR;
        float *g = lap_data(grid);
        double cell_x = (ax->x1 - ax->x0) / GRID, cell_y = (ax->y1 - ax->y0) / GRID;
        for (int j = 0; j < GRID; j++)
            for (int i = 0; i < GRID; i++) {
                g[2 * (j * GRID + i)] = (float)(ax->x0 + (i + 0.5) * cell_x);
                g[2 * (j * GRID + i) + 1] = (float)(ax->y0 + (j + 0.5) * cell_y);
            }
        if (lap_module_forward_eval(classifier, grid) != LAP_OK) {
            lap_tensor_release(grid);
            lap_axes_unclip(ax);
            return lap_error_wrap("plot.transport", "classifier", 0);
        }
        const float *logits = lap_data(classifier->output);
        int64_t classes = lap_cols(classifier->output);
        for (int j = 0; j < GRID; j++)
            for (int i = 0; i < GRID; i++) {
                const float *row = logits + (j * GRID + i) * classes;
                int64_t best = 0;
                for (int64_t c = 1; c < classes; c++)
                    if (row[c] > row[best])
                        best = c;
                /* Whole-pixel edges: neighbouring cells then share no partly covered pixel,
                 * which would be blended twice and show as a light seam. */
                double x0 = round(lap_axes_px(ax, ax->x0 + i * cell_x));
                double x1 = round(lap_axes_px(ax, ax->x0 + (i + 1) * cell_x));
                double y0 = round(lap_axes_py(ax, ax->y0 + j * cell_y));
                double y1 = round(lap_axes_py(ax, ax->y0 + (j + 1) * cell_y));
                lap_fill_rect(ax->canvas, x0, y1, x1, y0, lap_color_mix(lap_palette((int)best), WHITE, 0.82), 1.0);
            }
        lap_tensor_release(grid);
    }
    if (lap_module_is(classifier, "Linear") && classifier->params[0]->shape[0] == 2 &&
        classifier->params[0]->shape[1] == 2) {
        /* Logit difference a x + b y + c = 0 between the two classes. */
        const float *w = lap_data(classifier->params[0]);
        const float *bias = classifier->nparams > 1 ? lap_data(classifier->params[1]) : NULL;
        double a = w[0] - w[2], b = w[1] - w[3], c = bias ? bias[0] - bias[1] : 0.0;
        double xs[2], ys[2];
        int found = 0;
        if (fabs(b) > fabs(a) && b != 0) {
            for (int e = 0; e < 2; e++) {
                xs[e] = e ? ax->x1 : ax->x0;
                ys[e] = -(a * xs[e] + c) / b;
            }
            found = 1;
        } else if (a != 0) {
            for (int e = 0; e < 2; e++) {
                ys[e] = e ? ax->y1 : ax->y0;
                xs[e] = -(b * ys[e] + c) / a;
            }
            found = 1;
        }
        if (found)
            lap_draw_line(ax->canvas, lap_axes_px(ax, xs[0]), lap_axes_py(ax, ys[0]), lap_axes_px(ax, xs[1]),
                          lap_axes_py(ax, ys[1]), 2.0, BOUNDARY, 0.9);
    }
    lap_axes_unclip(ax);
    return LAP_OK;
}

/* ------------------------------------------------------------- transport */

int lap_plot_transport(const lap_plot_options *o, lap_module *const *nets, const char *const *row_labels, int nrows,
                       const lap_tensor *x, const int32_t *labels, const int *blocks, int nshown, int regions,
                       int64_t *nan_points)
{
    *nan_points = 0;
    if (nrows < 1)
        return lap_error("plot.transport: no network to draw");
    for (int r = 0; r < nrows; r++) {
        lap_resnet *net = lap_as_resnet(nets[r]);
        if (!net)
            return lap_error("plot.transport: needs ResNets, got a %s", nets[r]->ops->type);
        for (int s = 0; s < nshown; s++)
            if (blocks[s] < 1 || blocks[s] > net->nblocks)
                return lap_error("plot.transport: block %d out of range (the network has %d blocks)", blocks[s],
                                 net->nblocks);
    }
    int columns = nshown + 1;
    int label_band = row_labels ? ROW_LABEL_BAND : 0;
    int title_band = o->title && o->title[0] ? TITLE_BAND : 6;
    lap_canvas *c = new_canvas(o, label_band + columns * PANEL + 10, title_band + nrows * PANEL + 6);
    if (!c)
        return LAP_ERR;
    double top = draw_figure_title(c, o);
    double panel_w = (c->width - label_band - 10.0) / columns, panel_h = (c->height - top - 6.0) / nrows;
    lap_axes_style style = lap_axes_default_style();
    style.equal_aspect = 1;
    for (int r = 0; r < nrows; r++) {
        flow f;
        if (run_flow(&f, nets[r], x, "plot.transport") != LAP_OK) {
            lap_canvas_free(c);
            return LAP_ERR;
        }
        lap_resnet *net = lap_as_resnet(nets[r]);
        bounds box;
        bounds_init(&box);
        for (int s = 0; s <= nshown; s++) {
            const double *p = f.points[s == 0 ? 0 : blocks[s - 1]];
            for (int64_t i = 0; i < f.n; i++)
                bounds_add(&box, p[2 * i], p[2 * i + 1]);
        }
        bounds_pad(&box, 0.05);
        double row_top = top + r * panel_h;
        if (row_labels && row_labels[r])
            lap_draw_text(c, 4, row_top + panel_h / 2, row_labels[r], 1, BLACK, LAP_ALIGN_CENTER, 1);
        for (int s = 0; s <= nshown; s++) {
            int state = s == 0 ? 0 : blocks[s - 1];
            char title[64];
            if (s == 0)
                snprintf(title, sizeof title, "input%s", f.projected ? " (PCA)" : "");
            else
                snprintf(title, sizeof title, "block %d", state);
            style.title = title;
            lap_axes ax;
            double left = label_band + s * panel_w;
            lap_axes_setup(&ax, c, left, row_top, left + panel_w, row_top + panel_h, box.x0, box.x1, box.y0, box.y1,
                           &style);
            if (!f.projected && draw_decision(&ax, net->classifier, regions) != LAP_OK) {
                flow_free(&f);
                lap_canvas_free(c);
                return LAP_ERR;
            }
            /* The same points are missing from every panel: count them once. */
            int64_t missing = draw_cloud(&ax, f.points[state], labels, f.n, 2.2, 0.85);
            if (missing > *nan_points)
                *nan_points = missing;
        }
        flow_free(&f);
    }
    return finish(c, o);
}

/* ---------------------------------------------------------- trajectories */

int lap_plot_trajectories(const lap_plot_options *o, lap_module *net, const lap_tensor *x, const int32_t *labels,
                          int arrows, int64_t max_points, int64_t *nan_points)
{
    *nan_points = 0;
    flow f;
    if (run_flow(&f, net, x, "plot.trajectories") != LAP_OK)
        return LAP_ERR;
    int64_t shown = max_points > 0 && max_points < f.n ? max_points : f.n;
    lap_canvas *c = new_canvas(o, 760, 760);
    if (!c) {
        flow_free(&f);
        return LAP_ERR;
    }
    double top = draw_figure_title(c, o);
    bounds box;
    bounds_init(&box);
    for (int64_t j = 0; j < shown; j++) {
        int64_t i = j * f.n / shown;
        for (int k = 0; k < f.nstates; k++)
            bounds_add(&box, f.points[k][2 * i], f.points[k][2 * i + 1]);
    }
    bounds_pad(&box, 0.04);
    lap_axes_style style = lap_axes_default_style();
    style.equal_aspect = 1;
    char title[96];
    snprintf(title, sizeof title, "paths x0 -> x%d of %lld points%s", f.nstates - 1, (long long)shown,
             f.projected ? " (PCA)" : "");
    style.title = title;
    lap_axes ax;
    lap_axes_setup(&ax, c, 0, top, c->width, c->height, box.x0, box.x1, box.y0, box.y1, &style);
    lap_axes_clip(&ax);
    double *path = lap_malloc(sizeof(double) * 2 * (size_t)f.nstates);
    if (!path) {
        flow_free(&f);
        lap_canvas_free(c);
        return LAP_ERR;
    }
    for (int64_t j = 0; j < shown; j++) {
        int64_t i = j * f.n / shown;
        lap_color color = lap_palette(labels ? labels[i] : 0);
        int finite = 1;
        for (int k = 0; k < f.nstates; k++) {
            path[2 * k] = lap_axes_px(&ax, f.points[k][2 * i]);
            path[2 * k + 1] = lap_axes_py(&ax, f.points[k][2 * i + 1]);
            finite = finite && isfinite(path[2 * k]) && isfinite(path[2 * k + 1]);
        }
        if (!finite) {
            (*nan_points)++;
            continue;
        }
        if (arrows) {
            for (int k = 0; k + 1 < f.nstates; k++)
                lap_draw_arrow(c, path[2 * k], path[2 * k + 1], path[2 * k + 2], path[2 * k + 3], 1.0, 6.0, color,
                               0.45);
        } else {
            lap_draw_polyline(c, path, f.nstates, 1.0, color, 0.4);
        }
        lap_draw_point(c, path[0], path[1], 1.6, color, 0.9);
        lap_draw_point(c, path[2 * (f.nstates - 1)], path[2 * (f.nstates - 1) + 1], 2.4, color, 1.0);
    }
    free(path);
    lap_axes_unclip(&ax);
    static const char *const legend[] = {"class 0 (start: small dot, end: large dot)", "class 1"};
    lap_color colors[2] = {lap_palette(0), lap_palette(1)};
    int kinds[2] = {1, 1};
    lap_axes_legend(&ax, legend, colors, kinds, 2, 0);
    flow_free(&f);
    return finish(c, o);
}

/* ---------------------------------------------------------------- curves */

static double series_x(const lap_series *s, int64_t i)
{
    return s->x ? s->x[i] : (double)(i + 1);
}

static void draw_panel_series(lap_axes *ax, const lap_panel *p, int64_t *nan_points)
{
    lap_axes_clip(ax);
    for (int si = 0; si < p->nseries; si++) {
        const lap_series *s = &p->series[si];
        double *xy = lap_malloc(sizeof(double) * 2 * (size_t)(s->n + 1));
        if (!xy)
            continue;
        for (int64_t i = 0; i < s->n; i++) {
            double y = s->y[i];
            int usable = isfinite(y) && isfinite(series_x(s, i)) && (!p->log_y || y > 0);
            if (!usable)
                (*nan_points)++;
            xy[2 * i] = usable ? lap_axes_px(ax, series_x(s, i)) : NAN;
            xy[2 * i + 1] = usable ? lap_axes_py(ax, y) : NAN;
        }
        lap_color color = lap_palette(s->color >= 0 ? s->color : si);
        lap_draw_polyline(ax->canvas, xy, (int)s->n, 2.0, color, 0.95);
        if (s->n <= 40)
            for (int64_t i = 0; i < s->n; i++)
                if (isfinite(xy[2 * i]))
                    lap_draw_point(ax->canvas, xy[2 * i], xy[2 * i + 1], 2.5, color, 1.0);
        free(xy);
    }
    lap_axes_unclip(ax);
}

int lap_plot_curves(const lap_plot_options *o, const lap_panel *panels, int npanels, const char *xlabel,
                    int64_t *nan_points)
{
    *nan_points = 0;
    if (npanels < 1)
        return lap_error("plot.curves: no series to draw");
    int columns = npanels < 3 ? npanels : 3, rows = (npanels + 2) / 3;
    lap_canvas *c = new_canvas(o, columns * 420 + 10, rows * 340 + (o->title ? TITLE_BAND : 6));
    if (!c)
        return LAP_ERR;
    double top = draw_figure_title(c, o);
    double panel_w = (c->width - 10.0) / columns, panel_h = (c->height - top) / rows;
    for (int pi = 0; pi < npanels; pi++) {
        const lap_panel *p = &panels[pi];
        bounds box;
        bounds_init(&box);
        for (int si = 0; si < p->nseries; si++)
            for (int64_t i = 0; i < p->series[si].n; i++) {
                double y = p->series[si].y[i];
                if (!p->log_y || y > 0)
                    bounds_add(&box, series_x(&p->series[si], i), y);
            }
        if (box.count == 0) {
            bounds_pad(&box, 0);
            if (p->log_y) {
                box.y0 = 0.1;
                box.y1 = 10;
            }
        } else if (box.y0 == box.y1) {
            double pad = p->log_y ? box.y0 * 0.5 : fmax(1e-9, fabs(box.y0) * 0.1);
            box.y0 -= pad;
            box.y1 += pad;
            if (p->log_y && box.y0 <= 0)
                box.y0 = box.y1 / 10;
        }
        if (box.x0 == box.x1) {
            box.x0 -= 1;
            box.x1 += 1;
        }
        lap_axes_style style = lap_axes_default_style();
        style.title = p->title;
        style.ylabel = p->ylabel;
        style.xlabel = xlabel;
        style.log_y = p->log_y;
        style.grid = 1;
        lap_axes ax;
        double left = 5 + (pi % 3) * panel_w, panel_top = top + (pi / 3) * panel_h;
        lap_axes_setup(&ax, c, left, panel_top, left + panel_w, panel_top + panel_h, box.x0, box.x1, box.y0, box.y1,
                       &style);
        draw_panel_series(&ax, p, nan_points);
        if (p->nseries > 0) {
            const char *names[16];
            lap_color colors[16];
            int kinds[16], count = p->nseries < 16 ? p->nseries : 16;
            for (int si = 0; si < count; si++) {
                names[si] = p->series[si].name ? p->series[si].name : "";
                colors[si] = lap_palette(p->series[si].color >= 0 ? p->series[si].color : si);
                kinds[si] = 1;
            }
            lap_axes_legend(&ax, names, colors, kinds, count, 1);
        }
    }
    return finish(c, o);
}

/* --------------------------------------------------------------- scatter */

int lap_plot_scatter(const lap_plot_options *o, const double *x, const double *y, const int *groups, int64_t n,
                     const char *const *group_names, int ngroups, int fit, const char *xlabel, const char *ylabel,
                     int64_t *nan_points)
{
    *nan_points = 0;
    if (n < 1)
        return lap_error("plot.scatter: no points");
    lap_canvas *c = new_canvas(o, 720, 620);
    if (!c)
        return LAP_ERR;
    double top = draw_figure_title(c, o);
    bounds box;
    bounds_init(&box);
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]))
            (*nan_points)++;
        bounds_add(&box, x[i], y[i]);
    }
    bounds_pad(&box, 0.05);
    lap_axes_style style = lap_axes_default_style();
    style.xlabel = xlabel;
    style.ylabel = ylabel;
    style.grid = 1;
    lap_axes ax;
    lap_axes_setup(&ax, c, 0, top, c->width, c->height, box.x0, box.x1, box.y0, box.y1, &style);
    lap_axes_clip(&ax);
    int used_groups = 1;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]))
            continue;
        int g = groups ? groups[i] : 0;
        if (g + 1 > used_groups)
            used_groups = g + 1;
        lap_draw_point(c, lap_axes_px(&ax, x[i]), lap_axes_py(&ax, y[i]), 3.5, lap_palette(g), 0.85);
    }
    lap_fit line = {0};
    int have_fit = 0;
    if (fit && lap_least_squares(&line, x, y, n) == LAP_OK && isfinite(line.slope)) {
        have_fit = 1;
        lap_draw_line(c, lap_axes_px(&ax, ax.x0), lap_axes_py(&ax, line.slope * ax.x0 + line.intercept),
                      lap_axes_px(&ax, ax.x1), lap_axes_py(&ax, line.slope * ax.x1 + line.intercept), 2.0, BLACK,
                      0.8);
    }
    lap_axes_unclip(&ax);
    const char *names[17];
    lap_color colors[17];
    int kinds[17], count = 0;
    char fit_label[64], group_label[16][32];
    int shown_groups = (group_names && ngroups > 0) ? ngroups : (used_groups > 1 ? used_groups : 0);
    for (int g = 0; g < shown_groups && g < 16; g++) {
        if (group_names && g < ngroups && group_names[g]) {
            names[count] = group_names[g];
        } else {
            snprintf(group_label[g], sizeof group_label[g], "group %d", g + 1);
            names[count] = group_label[g];
        }
        colors[count] = lap_palette(g);
        kinds[count++] = 0;
    }
    if (have_fit) {
        snprintf(fit_label, sizeof fit_label, "least squares, r = %.3f", line.r);
        names[count] = fit_label;
        colors[count] = BLACK;
        kinds[count++] = 1;
    }
    if (count > 0)
        lap_axes_legend(&ax, names, colors, kinds, count, 1);
    return finish(c, o);
}

/* --------------------------------------------------------------- profile */

typedef struct block_profile {
    double *displacement;   /* mean ||v_k|| */
    double *relative;       /* mean ||v_k|| / ||x_k|| */
    double *w1;             /* W1(x_{k-1}, x_k) */
    int nblocks;
} block_profile;

static void profile_free(block_profile *p)
{
    free(p->displacement);
    free(p->relative);
    free(p->w1);
}

static int compute_profile(block_profile *p, lap_module *m, const lap_tensor *x)
{
    memset(p, 0, sizeof *p);
    lap_resnet *net = lap_as_resnet(m);
    if (!net)
        return lap_error("plot.profile: needs a ResNet, got a %s", m->ops->type);
    if (lap_module_forward_eval(m, (lap_tensor *)x) != LAP_OK)
        return LAP_ERR;
    int K = net->nblocks;
    p->nblocks = K;
    p->displacement = lap_calloc((size_t)K + 1, sizeof(double));
    p->relative = lap_calloc((size_t)K + 1, sizeof(double));
    p->w1 = lap_calloc((size_t)K + 1, sizeof(double));
    if (!p->displacement || !p->relative || !p->w1)
        return LAP_ERR;
    int64_t N = lap_rows(net->states[0]), D = lap_cols(net->states[0]);
    int64_t sample = N < 1000 ? N : 1000;
    float *a = lap_malloc(sizeof(float) * (size_t)(sample * D)), *b = lap_malloc(sizeof(float) * (size_t)(sample * D));
    if (!a || !b) {
        free(a);
        free(b);
        return LAP_ERR;
    }
    for (int k = 0; k < K; k++) {
        const float *v = lap_data(net->displacements[k]), *s = lap_data(net->states[k]);
        double total = 0, ratio = 0;
        int64_t ratio_count = 0;
        for (int64_t i = 0; i < N; i++) {
            double dv = sqrt(lap_sum_squares(v + i * D, D)), dx = sqrt(lap_sum_squares(s + i * D, D));
            total += dv;
            if (dx > 0) {
                ratio += dv / dx;
                ratio_count++;
            }
        }
        p->displacement[k] = total / (double)N;
        p->relative[k] = ratio_count ? ratio / (double)ratio_count : NAN;
        for (int64_t j = 0; j < sample; j++) {
            int64_t i = j * N / sample;
            memcpy(a + j * D, s + i * D, sizeof(float) * (size_t)D);
            memcpy(b + j * D, lap_data(net->states[k + 1]) + i * D, sizeof(float) * (size_t)D);
        }
        if (lap_wasserstein1(&p->w1[k], a, b, sample, D) != LAP_OK) {
            free(a);
            free(b);
            return LAP_ERR;
        }
    }
    free(a);
    free(b);
    return LAP_OK;
}

int lap_plot_profile(const lap_plot_options *o, lap_module *const *nets, const char *const *labels, int nnets,
                     const lap_tensor *x, int bars)
{
    if (nnets < 1 || nnets > 8)
        return lap_error("plot.profile: between 1 and 8 networks, got %d", nnets);
    block_profile profiles[8];
    int computed = 0, status = LAP_ERR, max_blocks = 0;
    lap_canvas *c = NULL;
    for (; computed < nnets; computed++) {
        if (compute_profile(&profiles[computed], nets[computed], x) != LAP_OK) {
            profile_free(&profiles[computed]);
            goto done;
        }
        if (profiles[computed].nblocks > max_blocks)
            max_blocks = profiles[computed].nblocks;
    }
    if (max_blocks == 0) {
        lap_error("plot.profile: the networks have no blocks");
        goto done;
    }
    c = new_canvas(o, 3 * 400 + 10, 380 + (o->title ? TITLE_BAND : 6));
    if (!c)
        goto done;
    double top = draw_figure_title(c, o);
    static const char *const titles[3] = {"mean |v_k|", "mean |v_k| / |x_k|", "W1(x_k-1, x_k)"};
    double panel_w = (c->width - 10.0) / 3;
    for (int panel = 0; panel < 3; panel++) {
        double ymax = 0;
        for (int n = 0; n < nnets; n++)
            for (int k = 0; k < profiles[n].nblocks; k++) {
                double v = panel == 0 ? profiles[n].displacement[k]
                                      : panel == 1 ? profiles[n].relative[k] : profiles[n].w1[k];
                if (isfinite(v))
                    ymax = fmax(ymax, v);
            }
        lap_axes_style style = lap_axes_default_style();
        style.title = titles[panel];
        style.xlabel = "block";
        style.grid = 1;
        lap_axes ax;
        double left = 5 + panel * panel_w;
        lap_axes_setup(&ax, c, left, top, left + panel_w, c->height, 0.5, max_blocks + 0.5, 0, ymax > 0 ? ymax * 1.05 : 1,
                       &style);
        lap_axes_clip(&ax);
        for (int n = 0; n < nnets; n++) {
            const block_profile *p = &profiles[n];
            double *xy = lap_malloc(sizeof(double) * 2 * (size_t)(p->nblocks + 1));
            if (!xy)
                goto done;
            for (int k = 0; k < p->nblocks; k++) {
                double v = panel == 0 ? p->displacement[k] : panel == 1 ? p->relative[k] : p->w1[k];
                if (bars) {
                    double width = 0.8 / nnets, x0 = k + 1 - 0.4 + n * width;
                    if (isfinite(v))
                        lap_fill_rect(c, lap_axes_px(&ax, x0), lap_axes_py(&ax, v), lap_axes_px(&ax, x0 + width),
                                      lap_axes_py(&ax, 0), lap_palette(n), 0.85);
                }
                xy[2 * k] = lap_axes_px(&ax, k + 1);
                xy[2 * k + 1] = isfinite(v) ? lap_axes_py(&ax, v) : NAN;
            }
            if (!bars) {
                lap_draw_polyline(c, xy, p->nblocks, 2.0, lap_palette(n), 0.95);
                for (int k = 0; k < p->nblocks; k++)
                    if (isfinite(xy[2 * k + 1]))
                        lap_draw_point(c, xy[2 * k], xy[2 * k + 1], 3.0, lap_palette(n), 1.0);
            }
            free(xy);
        }
        lap_axes_unclip(&ax);
        if (labels && nnets > 0) {
            lap_color colors[8];
            int kinds[8];
            for (int n = 0; n < nnets; n++) {
                colors[n] = lap_palette(n);
                kinds[n] = bars ? 0 : 1;
            }
            lap_axes_legend(&ax, labels, colors, kinds, nnets, 1);
        }
    }
    status = finish(c, o);
    c = NULL;
done:
    if (c)
        lap_canvas_free(c);
    for (int n = 0; n < computed; n++)
        profile_free(&profiles[n]);
    return status;
}

/* ---------------------------------------------------------------- images */

int lap_plot_images(const lap_plot_options *o, const lap_tensor *const *rows, int nrows,
                    const char *const *column_titles, int ncolumn_titles, const char *const *row_labels)
{
    char shape[LAP_SHAPE_BUF];
    if (nrows < 1)
        return lap_error("plot.images: no rows");
    int64_t max_columns = 0, max_side = 1;
    for (int r = 0; r < nrows; r++) {
        const lap_tensor *t = rows[r];
        int ok = t->ndim == 3 || (t->ndim == 4 && (t->shape[1] == 1 || t->shape[1] == 3));
        if (!ok || lap_numel(t) == 0)
            return lap_error("plot.images: row %d has shape %s; expected (N, H, W), (N, 1, H, W) or (N, 3, H, W)",
                             r + 1, lap_shape_str(t, shape, sizeof shape));
        int64_t h = t->shape[t->ndim - 2], w = t->shape[t->ndim - 1];
        max_columns = t->shape[0] > max_columns ? t->shape[0] : max_columns;
        max_side = h > max_side ? h : max_side;
        max_side = w > max_side ? w : max_side;
    }
    int scale = max_side >= 64 ? 1 : (int)(64 / max_side);
    int cell = (int)max_side * scale + 8;
    int label_band = row_labels ? 90 : 4, titles_band = column_titles ? 18 : 0;
    int title_band = o->title && o->title[0] ? TITLE_BAND : 6;
    if (max_columns * cell > 16000)
        return lap_error("plot.images: %lld images in a row are too many to draw", (long long)max_columns);
    lap_canvas *c = new_canvas(o, label_band + (int)max_columns * cell + 4, title_band + titles_band + nrows * cell + 4);
    if (!c)
        return LAP_ERR;
    double top = draw_figure_title(c, o) + titles_band;
    for (int j = 0; column_titles && j < ncolumn_titles && j < max_columns; j++)
        if (column_titles[j])
            lap_draw_text(c, label_band + j * cell + cell / 2.0, top - 16, column_titles[j], 1, BLACK, LAP_ALIGN_CENTER,
                          0);
    for (int r = 0; r < nrows; r++) {
        const lap_tensor *t = rows[r];
        int64_t n = t->shape[0], channels = t->ndim == 4 ? t->shape[1] : 1;
        int64_t h = t->shape[t->ndim - 2], w = t->shape[t->ndim - 1];
        const float *data = lap_data(t);
        double lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < lap_numel(t); i++)
            if (isfinite(data[i])) {
                lo = fmin(lo, data[i]);
                hi = fmax(hi, data[i]);
            }
        double range = hi > lo ? hi - lo : 1.0;
        if (!isfinite(lo))
            lo = 0;
        double row_top = top + r * cell;
        if (row_labels && row_labels[r])
            lap_draw_text(c, label_band - 6, row_top + cell / 2.0 - 5, row_labels[r], 1, BLACK, LAP_ALIGN_RIGHT, 0);
        for (int64_t i = 0; i < n; i++) {
            double left = label_band + i * cell + 4;
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) {
                    uint8_t rgb[3];
                    for (int ch = 0; ch < 3; ch++) {
                        int64_t source = channels == 3 ? ch : 0;
                        float v = data[((i * channels + source) * h + y) * w + x];
                        double level = isfinite(v) ? (v - lo) / range : 0.0;
                        rgb[ch] = (uint8_t)lrint(255.0 * fmin(1.0, fmax(0.0, level)));
                    }
                    lap_fill_rect(c, left + x * scale, row_top + 4 + y * scale, left + (x + 1) * scale,
                                  row_top + 4 + (y + 1) * scale, lap_rgb(rgb[0], rgb[1], rgb[2]), 1.0);
                }
        }
    }
    return finish(c, o);
}
