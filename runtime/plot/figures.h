/* figures.h: the figures lap draws, from runtime data to a PNG file.
 *
 * Each figure lays out panels on a canvas (plot/axes.h), draws, and writes the
 * PNG atomically.  Networks are run in eval mode (their mode is restored).
 * Points with NaN coordinates are not drawn; their number is returned in
 * *nan_points so the caller can warn.  All return LAP_OK or LAP_ERR (lap_error set).
 */
#ifndef LAP_FIGURES_H
#define LAP_FIGURES_H

#include "nn/module.h"

typedef struct lap_plot_options {
    const char *file;        /* required */
    const char *title;       /* NULL: none */
    int width, height;       /* 0: the figure's default */
} lap_plot_options;

/* Rows = networks (ResNets), columns = the input x_0 and the states after the given
 * blocks (1-based).  x: (N, D) inputs; labels: N classes.  Axes shared within a row.
 * With 2-D states and a 2-D classifier, its decision boundary is drawn (a line for a
 * linear 2-class classifier, shaded regions over a grid when `regions`); wider states
 * are projected on the first two principal axes of each row's x_0. */
int lap_plot_transport(const lap_plot_options *o, lap_module *const *nets, const char *const *row_labels, int nrows,
                       const lap_tensor *x, const int32_t *labels, const int *blocks, int nshown, int regions,
                       int64_t *nan_points);

/* Every point's path x_0 -> ... -> x_K (at most max_points of them, evenly chosen). */
int lap_plot_trajectories(const lap_plot_options *o, lap_module *net, const lap_tensor *x, const int32_t *labels,
                          int arrows, int64_t max_points, int64_t *nan_points);

typedef struct lap_series {
    const char *name;
    const double *x;         /* NULL: 1, 2, ..., n */
    const double *y;
    int64_t n;
    int color;               /* palette index; -1: the series' position in its panel */
} lap_series;

typedef struct lap_panel {
    const char *title, *ylabel;
    int log_y;
    const lap_series *series;
    int nseries;
} lap_panel;

/* Panels side by side (at most 3 per row), series as lines with a legend. */
int lap_plot_curves(const lap_plot_options *o, const lap_panel *panels, int npanels, const char *xlabel,
                    int64_t *nan_points);

/* One point per (x, y), coloured by group (groups NULL: one group); with fit, the
 * least-squares line and Pearson's r in the legend. */
int lap_plot_scatter(const lap_plot_options *o, const double *x, const double *y, const int *groups, int64_t n,
                     const char *const *group_names, int ngroups, int fit, const char *xlabel, const char *ylabel,
                     int64_t *nan_points);

/* Per-block profile of one or more ResNets on x: mean ||v_k||, mean ||v_k|| / ||x_k||,
 * W1(x_{k-1}, x_k) (exact, N <= 5000).  bars: grouped bars, else lines. */
int lap_plot_profile(const lap_plot_options *o, lap_module *const *nets, const char *const *labels, int nnets,
                     const lap_tensor *x, int bars);

/* Rows of images: each tensor (N, H, W) grey, (N, 1, H, W) grey or (N, 3, H, W) RGB;
 * values scaled per row from [min, max] to [0, 255]. */
int lap_plot_images(const lap_plot_options *o, const lap_tensor *const *rows, int nrows,
                    const char *const *column_titles, int ncolumn_titles, const char *const *row_labels);

#endif
