/* axes.h: a panel with axes on a canvas: frame, "nice" ticks with labels, title,
 * axis labels, legend, and the map from data coordinates to pixels.
 *
 * A panel occupies a rectangle of the canvas; lap_axes_setup reserves margins
 * inside it for tick labels, axis labels and the title, draws them, and leaves
 * the plot area (px0..px1, py0..py1) and the data range it shows.  Ranges are
 * widened to nice tick values.  equal_aspect makes one data unit the same
 * number of pixels on both axes (point clouds), widening one range.
 * log_y draws a base-10 logarithmic y axis (data must be > 0; ticks at powers of 10).
 */
#ifndef LAP_AXES_H
#define LAP_AXES_H

#include "canvas.h"

typedef struct lap_axes_style {
    const char *title;       /* NULL for none */
    const char *xlabel, *ylabel;
    int log_y;
    int equal_aspect;
    int nice;                /* 1: widen the range to nice tick values */
    int show_x_ticks, show_y_ticks;   /* tick labels (the frame and tick marks are always drawn) */
    int grid;                /* light grid lines at the ticks */
    int text_scale;          /* font scale for labels, 1 or 2; titles use the same */
} lap_axes_style;

typedef struct lap_axes {
    lap_canvas *canvas;
    double px0, py0, px1, py1;    /* plot area in pixels */
    double x0, x1, y0, y1;        /* data range shown (y0 at the bottom) */
    int log_y;
} lap_axes;

lap_axes_style lap_axes_default_style(void);   /* nice, ticks on, text_scale 1, no grid */

/* Ticks for [lo, hi] at 1, 2, 5 x 10^k steps, at most max_ticks of them inside the
 * (possibly widened) range.  Returns the count; nice_lo and nice_hi get the range
 * widened to whole steps (when widen is set).  lo == hi is widened around the value. */
int lap_nice_ticks(double lo, double hi, int max_ticks, int widen, double *ticks, int capacity, double *nice_lo,
                   double *nice_hi);
/* Formats a tick value compactly ("0.5", "-2", "1e+04") given the tick step. */
void lap_format_tick(char *buf, int size, double value, double step);

/* Sets up and draws a panel in the canvas rectangle (left, top)-(right, bottom). */
void lap_axes_setup(lap_axes *ax, lap_canvas *c, double left, double top, double right, double bottom,
                    double x0, double x1, double y0, double y1, const lap_axes_style *style);
double lap_axes_px(const lap_axes *ax, double x);   /* data x -> pixel x */
double lap_axes_py(const lap_axes *ax, double y);   /* data y -> pixel y (log when log_y) */
void lap_axes_clip(lap_axes *ax);                   /* clip drawing to the plot area */
void lap_axes_unclip(lap_axes *ax);
/* A legend box in the plot area's top-right (corner 1) or top-left (0), bottom-right (3), bottom-left (2).
 * kind[i]: 0 a point marker, 1 a line. */
void lap_axes_legend(lap_axes *ax, const char *const *labels, const lap_color *colors, const int *kind, int n,
                     int corner);

#endif
