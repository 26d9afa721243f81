/* canvas.h: an RGB raster to draw figures on, and its PNG files.
 *
 * Coordinates are pixels as doubles, origin top-left, y down; pixel (i, j) covers
 * [i, i+1) x [j, j+1), its centre is (i + 0.5, j + 0.5).  Every primitive is
 * anti-aliased (coverage-based) and blends with `alpha` in [0, 1] over what is
 * there.  Drawing is clipped to the canvas and to the clip rectangle, if set.
 * Text uses a bitmap font the project carries (printable ASCII), scaled by an
 * integer factor; other bytes draw as '?'.
 * PNG files are written atomically: a temporary file in the same directory,
 * then rename; a failure leaves no partial file and returns LAP_ERR with a
 * message naming the path (runtime/core/error.h).
 */
#ifndef LAP_CANVAS_H
#define LAP_CANVAS_H

#include <stdint.h>

typedef struct lap_color {
    uint8_t r, g, b;
} lap_color;

typedef struct lap_canvas {
    int width, height;
    uint8_t *pixels;              /* width * height * 3 bytes, RGB, row-major */
    double clip_x0, clip_y0, clip_x1, clip_y1;
} lap_canvas;

typedef enum { LAP_ALIGN_LEFT = 0, LAP_ALIGN_CENTER = 1, LAP_ALIGN_RIGHT = 2 } lap_align;

/* NULL (lap_error set) on a bad size (each side 1..16384). */
lap_canvas *lap_canvas_new(int width, int height, lap_color background);
void lap_canvas_free(lap_canvas *c);
void lap_canvas_clip(lap_canvas *c, double x0, double y0, double x1, double y1);
void lap_canvas_unclip(lap_canvas *c);

/* A filled disc of the given radius centred at (x, y). */
void lap_draw_point(lap_canvas *c, double x, double y, double radius, lap_color color, double alpha);
/* A segment of the given width (>= 1 px looks right; thinner is drawn fainter). */
void lap_draw_line(lap_canvas *c, double x0, double y0, double x1, double y1, double width, lap_color color,
                   double alpha);
/* xy: n points as x0, y0, x1, y1, ...; joints drawn without gaps.  NaN coordinates break the line. */
void lap_draw_polyline(lap_canvas *c, const double *xy, int n, double width, lap_color color, double alpha);
/* A segment with a filled triangular head of length `head` at (x1, y1). */
void lap_draw_arrow(lap_canvas *c, double x0, double y0, double x1, double y1, double width, double head,
                    lap_color color, double alpha);
void lap_fill_rect(lap_canvas *c, double x0, double y0, double x1, double y1, lap_color color, double alpha);
/* A simple or self-intersecting polygon, even-odd rule. */
void lap_fill_polygon(lap_canvas *c, const double *xy, int n, lap_color color, double alpha);

/* Text: (x, y) is the anchor of the first line's top edge, aligned as asked;
 * vertical = 1 writes bottom-to-top (rotated 90 degrees counter-clockwise; then
 * (x, y) is the anchor of the left edge, centred per align along y).
 * Returns the text's width in pixels (before rotation). */
int lap_draw_text(lap_canvas *c, double x, double y, const char *text, int scale, lap_color color, lap_align align,
                  int vertical);
int lap_text_width(const char *text, int scale);
int lap_text_height(int scale);   /* height of one line */

/* PNG on libpng: atomic write; read back (for tests) as RGB 8-bit (*rgb malloc'ed). */
int lap_canvas_write_png(const lap_canvas *c, const char *path);
int lap_png_read(const char *path, int *width, int *height, uint8_t **rgb);

/* Colours */
lap_color lap_rgb(uint8_t r, uint8_t g, uint8_t b);
lap_color lap_palette(int index);   /* categorical colours: 0 red-ish, 1 blue-ish, then more, cycling */
lap_color lap_color_mix(lap_color a, lap_color b, double t);   /* (1-t) a + t b */

#endif
