/* canvas.c: the RGB raster of canvas.h and its anti-aliased primitives.
 *
 * Every primitive computes a coverage in [0, 1] per pixel and blends
 * `coverage * alpha` of its colour over the pixel (8-bit fixed point).
 *   - discs: coverage from the distance of the pixel centre to the disc's centre
 *     (a linear 1-px ramp across the edge);
 *   - lines: coverage from the distance of the pixel centre to the segment (a
 *     capsule: round caps, so polylines join without gaps), visited row by row
 *     only over the x-range where the thick line can be, so a long diagonal
 *     costs its length times its width, not its bounding box;
 *   - polylines and arrows first accumulate the maximum coverage of their pieces
 *     in a mask, then blend once, so that joints do not darken under alpha < 1;
 *   - polygons: even-odd scanline fill with 4 sub-scanlines per pixel row and
 *     exact horizontal coverage of each span;
 *   - rectangles: exact area coverage.
 * Clipping is per pixel centre: pixel (i, j) is drawn only when (i + .5, j + .5)
 * lies inside the clip rectangle (and the canvas).  Non-finite coordinates draw
 * nothing (a NaN breaks a polyline).
 * Text (font.c) and PNG files (png.c) live in their own files.
 *
 * Limits: no gamma-correct blending (sRGB values are mixed linearly, as most
 * plotting libraries do); lines thinner than 1 px are drawn 1 px wide and
 * proportionally fainter.
 */
#include "canvas.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define LAP_CANVAS_MAX_SIDE 16384

/* ---- canvas ---- */

lap_canvas *lap_canvas_new(int width, int height, lap_color background)
{
    if (width < 1 || height < 1 || width > LAP_CANVAS_MAX_SIDE || height > LAP_CANVAS_MAX_SIDE) {
        lap_error("plot: bad canvas size %dx%d (each side must be 1..%d)", width, height, LAP_CANVAS_MAX_SIDE);
        return NULL;
    }
    lap_canvas *c = lap_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    size_t n = (size_t)width * (size_t)height;
    c->pixels = lap_malloc(n * 3);
    if (!c->pixels) {
        free(c);
        return NULL;
    }
    c->width = width;
    c->height = height;
    uint8_t *p = c->pixels;
    for (size_t i = 0; i < n; i++, p += 3) {
        p[0] = background.r;
        p[1] = background.g;
        p[2] = background.b;
    }
    lap_canvas_unclip(c);
    return c;
}

void lap_canvas_free(lap_canvas *c)
{
    if (!c)
        return;
    free(c->pixels);
    free(c);
}

void lap_canvas_clip(lap_canvas *c, double x0, double y0, double x1, double y1)
{
    c->clip_x0 = fmin(x0, x1);
    c->clip_x1 = fmax(x0, x1);
    c->clip_y0 = fmin(y0, y1);
    c->clip_y1 = fmax(y0, y1);
}

void lap_canvas_unclip(lap_canvas *c)
{
    c->clip_x0 = 0;
    c->clip_y0 = 0;
    c->clip_x1 = c->width;
    c->clip_y1 = c->height;
}

/* ---- helpers ---- */

/* Converts to int after clamping in double, so huge or infinite values are safe. */
static int clampi(double v, int lo, int hi)
{
    if (!(v >= lo))   /* also NaN */
        return lo;
    if (v > hi)
        return hi;
    return (int)v;
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* The pixels that may be drawn: [ix0, ix1) x [iy0, iy1), from the pixel-centre rule. */
typedef struct pixel_box {
    int x0, y0, x1, y1;
} pixel_box;

static pixel_box clip_box(const lap_canvas *c)
{
    pixel_box b;
    b.x0 = clampi(ceil(c->clip_x0 - 0.5), 0, c->width);
    b.x1 = clampi(ceil(c->clip_x1 - 0.5), 0, c->width);
    b.y0 = clampi(ceil(c->clip_y0 - 0.5), 0, c->height);
    b.y1 = clampi(ceil(c->clip_y1 - 0.5), 0, c->height);
    return b;
}

/* Blends `a` / 256 of colour k over pixel p (a in 0..256). */
static inline void blend(uint8_t *p, lap_color k, int a)
{
    p[0] = (uint8_t)(p[0] + (((int)k.r - p[0]) * a >> 8));
    p[1] = (uint8_t)(p[1] + (((int)k.g - p[1]) * a >> 8));
    p[2] = (uint8_t)(p[2] + (((int)k.b - p[2]) * a >> 8));
}

static inline int alpha256(double coverage_times_alpha)
{
    return (int)(clampd(coverage_times_alpha, 0, 1) * 256 + 0.5);
}

/* Where a primitive's coverage goes: straight onto the canvas (mask == NULL) or,
 * as a running maximum, into a mask over box `mb` that is blended once later. */
typedef struct sink {
    lap_canvas *c;
    lap_color color;
    double alpha;
    uint8_t *mask;     /* mb.x1 - mb.x0 by mb.y1 - mb.y0, coverage 0..255 */
    pixel_box mb;
    int *row_lo, *row_hi;   /* per mask row, the touched columns (row_lo > row_hi: none) */
} sink;

static inline void sink_put(sink *s, int x, int y, double cov)
{
    if (cov <= 0)
        return;
    if (!s->mask) {
        int a = alpha256(cov * s->alpha);
        if (a)
            blend(s->c->pixels + ((size_t)y * s->c->width + x) * 3, s->color, a);
        return;
    }
    int mx = x - s->mb.x0, my = y - s->mb.y0;
    int v = (int)(clampd(cov, 0, 1) * 255 + 0.5);
    uint8_t *m = s->mask + (size_t)my * (s->mb.x1 - s->mb.x0) + mx;
    if (v > *m)
        *m = (uint8_t)v;
    if (mx < s->row_lo[my])
        s->row_lo[my] = mx;
    if (mx > s->row_hi[my])
        s->row_hi[my] = mx;
}

/* Prepares a masked sink over box b (already clipped).  Returns 0 when b is empty
 * or memory is short (then the caller draws directly, which is still correct up to
 * the joint darkening the mask avoids). */
static int sink_mask_open(sink *s, pixel_box b)
{
    s->mask = NULL;
    if (b.x1 <= b.x0 || b.y1 <= b.y0)
        return 0;
    size_t w = (size_t)(b.x1 - b.x0), h = (size_t)(b.y1 - b.y0);
    s->mask = calloc(w * h, 1);
    s->row_lo = malloc(h * sizeof *s->row_lo);
    s->row_hi = malloc(h * sizeof *s->row_hi);
    if (!s->mask || !s->row_lo || !s->row_hi) {
        free(s->mask);
        free(s->row_lo);
        free(s->row_hi);
        s->mask = NULL;
        return 0;
    }
    for (size_t j = 0; j < h; j++) {
        s->row_lo[j] = (int)w;
        s->row_hi[j] = -1;
    }
    s->mb = b;
    return 1;
}

static void sink_mask_close(sink *s)
{
    if (!s->mask)
        return;
    int w = s->mb.x1 - s->mb.x0;
    for (int my = 0; my < s->mb.y1 - s->mb.y0; my++) {
        const uint8_t *m = s->mask + (size_t)my * w;
        uint8_t *row = s->c->pixels + ((size_t)(my + s->mb.y0) * s->c->width + s->mb.x0) * 3;
        for (int mx = s->row_lo[my]; mx <= s->row_hi[my]; mx++)
            if (m[mx]) {
                int a = alpha256(m[mx] / 255.0 * s->alpha);
                if (a)
                    blend(row + (size_t)mx * 3, s->color, a);
            }
    }
    free(s->mask);
    free(s->row_lo);
    free(s->row_hi);
    s->mask = NULL;
}

static int finite2(double x, double y)
{
    return isfinite(x) && isfinite(y);
}

/* ---- discs ---- */

void lap_draw_point(lap_canvas *c, double x, double y, double radius, lap_color color, double alpha)
{
    if (!finite2(x, y) || !(radius > 0) || !(alpha > 0))
        return;
    pixel_box b = clip_box(c);
    double reach = radius + 0.5;
    int i0 = clampi(floor(x - reach), b.x0, b.x1), i1 = clampi(ceil(x + reach), b.x0, b.x1);
    int j0 = clampi(floor(y - reach), b.y0, b.y1), j1 = clampi(ceil(y + reach), b.y0, b.y1);
    /* A disc smaller than a pixel keeps its area (pi r^2) rather than a 1-px ramp. */
    double small = radius < 0.5 ? 2 * radius : 1;
    double inner = radius - 0.5 > 0 ? (radius - 0.5) * (radius - 0.5) : -1;
    for (int j = j0; j < j1; j++) {
        double dy = j + 0.5 - y;
        uint8_t *row = c->pixels + (size_t)j * c->width * 3;
        for (int i = i0; i < i1; i++) {
            double dx = i + 0.5 - x;
            double d2 = dx * dx + dy * dy;
            if (d2 >= reach * reach)
                continue;
            double cov = d2 <= inner ? 1 : reach - sqrt(d2);
            int a = alpha256(cov * small * alpha);
            if (a)
                blend(row + (size_t)i * 3, color, a);
        }
    }
}

/* ---- lines ---- */

/* Rasterizes the capsule of half-width `half` around (x0,y0)-(x1,y1) into s, within box b.
 * `fade` scales the coverage (lines thinner than 1 px). */
static void raster_segment(sink *s, pixel_box b, double x0, double y0, double x1, double y1, double half,
                           double fade)
{
    double reach = half + 0.5;   /* beyond this distance from the segment, coverage is 0 */
    double dx = x1 - x0, dy = y1 - y0;
    double len2 = dx * dx + dy * dy;
    double len = sqrt(len2);
    int j0 = clampi(floor(fmin(y0, y1) - reach), b.y0, b.y1);
    int j1 = clampi(ceil(fmax(y0, y1) + reach), b.y0, b.y1);
    double bx_lo = fmin(x0, x1) - reach, bx_hi = fmax(x0, x1) + reach;
    /* Unit normal: the band |n . (p - p0)| <= reach bounds each row's x-range. */
    double nx = len > 0 ? -dy / len : 0, ny = len > 0 ? dx / len : 0;
    int use_band = fabs(nx) > 1e-6;
    for (int j = j0; j < j1; j++) {
        double py = j + 0.5;
        double lo = bx_lo, hi = bx_hi;
        if (use_band) {
            /* nx (x - x0) + ny (py - y0) in [-reach, reach] */
            double a = (-reach - ny * (py - y0)) / nx + x0;
            double bb = (reach - ny * (py - y0)) / nx + x0;
            lo = fmax(lo, fmin(a, bb));
            hi = fmin(hi, fmax(a, bb));
        }
        int i0 = clampi(floor(lo), b.x0, b.x1), i1 = clampi(ceil(hi), b.x0, b.x1);
        for (int i = i0; i < i1; i++) {
            double px = i + 0.5;
            double t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
            t = clampd(t, 0, 1);
            double ex = px - (x0 + t * dx), ey = py - (y0 + t * dy);
            double d2 = ex * ex + ey * ey;
            if (d2 >= reach * reach)
                continue;
            double d = sqrt(d2);
            double cov = reach - d;
            if (cov > 1)
                cov = 1;
            sink_put(s, i, j, cov * fade);
        }
    }
}

static void line_params(double width, double *half, double *fade)
{
    if (!(width >= 1)) {
        *fade = width > 0 ? width : 0;
        width = 1;
    } else {
        *fade = 1;
    }
    *half = width / 2;
}

void lap_draw_line(lap_canvas *c, double x0, double y0, double x1, double y1, double width, lap_color color,
                   double alpha)
{
    if (!finite2(x0, y0) || !finite2(x1, y1) || !(alpha > 0) || !(width > 0))
        return;
    double half, fade;
    line_params(width, &half, &fade);
    sink s = { c, color, alpha, NULL, { 0, 0, 0, 0 }, NULL, NULL };
    raster_segment(&s, clip_box(c), x0, y0, x1, y1, half, fade);
}

/* The pixel box of points xy (finite ones) grown by `grow`, within b. */
static pixel_box points_box(const double *xy, int n, double grow, pixel_box b)
{
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int k = 0; k < n; k++) {
        double x = xy[2 * k], y = xy[2 * k + 1];
        if (!finite2(x, y))
            continue;
        xmin = fmin(xmin, x);
        xmax = fmax(xmax, x);
        ymin = fmin(ymin, y);
        ymax = fmax(ymax, y);
    }
    pixel_box r = { 0, 0, 0, 0 };
    if (xmin > xmax)
        return r;
    r.x0 = clampi(floor(xmin - grow), b.x0, b.x1);
    r.x1 = clampi(ceil(xmax + grow), b.x0, b.x1);
    r.y0 = clampi(floor(ymin - grow), b.y0, b.y1);
    r.y1 = clampi(ceil(ymax + grow), b.y0, b.y1);
    return r;
}

void lap_draw_polyline(lap_canvas *c, const double *xy, int n, double width, lap_color color, double alpha)
{
    if (!xy || n < 1 || !(alpha > 0) || !(width > 0))
        return;
    double half, fade;
    line_params(width, &half, &fade);
    pixel_box clip = clip_box(c);
    sink s = { c, color, alpha, NULL, { 0, 0, 0, 0 }, NULL, NULL };
    pixel_box b = points_box(xy, n, half + 1, clip);
    if (b.x1 <= b.x0 || b.y1 <= b.y0)
        return;
    sink_mask_open(&s, b);
    for (int k = 0; k < n; k++) {
        double x = xy[2 * k], y = xy[2 * k + 1];
        if (!finite2(x, y))
            continue;
        int has_prev = k > 0 && finite2(xy[2 * k - 2], xy[2 * k - 1]);
        int has_next = k + 1 < n && finite2(xy[2 * k + 2], xy[2 * k + 3]);
        if (has_next)
            raster_segment(&s, clip, x, y, xy[2 * k + 2], xy[2 * k + 3], half, fade);
        else if (!has_prev)   /* an isolated point between NaNs: a dot as wide as the line */
            raster_segment(&s, clip, x, y, x, y, half, fade);
    }
    sink_mask_close(&s);
}

/* ---- polygons ---- */

typedef struct edge {
    double ytop, ybot, xtop, dxdy;
} edge;

static int edge_cmp(const void *a, const void *b)
{
    double ya = ((const edge *)a)->ytop, yb = ((const edge *)b)->ytop;
    return ya < yb ? -1 : ya > yb;
}

#define SUBSAMPLES 4

/* Even-odd fill of polygon xy (n points) into s, within box clip.  Each pixel row
 * is sampled on SUBSAMPLES sub-scanlines; each span between crossings adds its
 * exact horizontal overlap with every pixel: partial end pixels directly in `cov`,
 * the whole pixels between them as +w/-w steps in `step`, summed along the row. */
static void raster_polygon(sink *s, pixel_box clip, const double *xy, int n)
{
    if (n < 3)
        return;
    for (int k = 0; k < 2 * n; k++)
        if (!isfinite(xy[k]))
            return;
    pixel_box b = points_box(xy, n, 1, clip);
    if (b.x1 <= b.x0 || b.y1 <= b.y0)
        return;
    int w = b.x1 - b.x0;
    edge *edges = malloc((size_t)n * sizeof *edges);
    int *active = malloc((size_t)n * sizeof *active);
    double *xs = malloc((size_t)n * sizeof *xs);
    float *cov = calloc((size_t)w + 2, sizeof *cov);
    float *step = calloc((size_t)w + 2, sizeof *step);
    if (!edges || !active || !xs || !cov || !step)
        goto done;
    int ne = 0;
    for (int k = 0; k < n; k++) {
        double xa = xy[2 * k], ya = xy[2 * k + 1];
        int k2 = (k + 1) % n;
        double xb = xy[2 * k2], yb = xy[2 * k2 + 1];
        if (ya == yb)
            continue;   /* horizontal edges never cross a scanline */
        edge e;
        if (ya < yb) {
            e.ytop = ya, e.ybot = yb, e.xtop = xa;
        } else {
            e.ytop = yb, e.ybot = ya, e.xtop = xb;
        }
        e.dxdy = (xb - xa) / (yb - ya);
        edges[ne++] = e;
    }
    qsort(edges, (size_t)ne, sizeof *edges, edge_cmp);
    int next = 0, nactive = 0;
    const double weight = 1.0 / SUBSAMPLES;
    for (int j = b.y0; j < b.y1; j++) {
        int lo = w, hi = -1;   /* touched range of cov/step in this row */
        for (int sub = 0; sub < SUBSAMPLES; sub++) {
            double y = j + (sub + 0.5) / SUBSAMPLES;
            while (next < ne && edges[next].ytop <= y)
                active[nactive++] = next++;
            int nx = 0;
            for (int a = 0; a < nactive; a++) {
                const edge *e = &edges[active[a]];
                if (e->ybot <= y) {   /* finished: drop it (order in `active` does not matter) */
                    active[a--] = active[--nactive];
                    continue;
                }
                if (e->ytop > y)
                    continue;
                double x = e->xtop + (y - e->ytop) * e->dxdy;
                /* insertion sort: crossings come nearly sorted from row to row */
                int p = nx++;
                while (p > 0 && xs[p - 1] > x) {
                    xs[p] = xs[p - 1];
                    p--;
                }
                xs[p] = x;
            }
            for (int p = 0; p + 1 < nx; p += 2) {
                double xa = clampd(xs[p], b.x0, b.x1) - b.x0, xb = clampd(xs[p + 1], b.x0, b.x1) - b.x0;
                if (xb <= xa)
                    continue;
                int ia = (int)xa, ib = (int)xb;
                if (ia >= w)
                    continue;
                if (ia == ib) {
                    cov[ia] += (float)((xb - xa) * weight);
                } else {
                    cov[ia] += (float)((ia + 1 - xa) * weight);
                    step[ia + 1] += (float)weight;
                    step[ib] -= (float)weight;
                    if (ib < w)
                        cov[ib] += (float)((xb - ib) * weight);
                }
                if (ia < lo)
                    lo = ia;
                if (ib > hi)
                    hi = ib;
            }
        }
        if (hi < 0)
            continue;
        if (hi > w - 1)
            hi = w - 1;
        float run = 0;
        for (int i = lo; i <= hi + 1 && i <= w; i++) {
            run += step[i];
            float v = cov[i] + run;
            cov[i] = 0;
            step[i] = 0;
            if (i < w && v > 1e-3f)
                sink_put(s, b.x0 + i, j, v > 1 ? 1 : v);
        }
    }
done:
    free(edges);
    free(active);
    free(xs);
    free(cov);
    free(step);
}

void lap_fill_polygon(lap_canvas *c, const double *xy, int n, lap_color color, double alpha)
{
    if (!xy || n < 3 || !(alpha > 0))
        return;
    sink s = { c, color, alpha, NULL, { 0, 0, 0, 0 }, NULL, NULL };
    raster_polygon(&s, clip_box(c), xy, n);
}

void lap_draw_arrow(lap_canvas *c, double x0, double y0, double x1, double y1, double width, double head,
                    lap_color color, double alpha)
{
    if (!finite2(x0, y0) || !finite2(x1, y1) || !(alpha > 0))
        return;
    double dx = x1 - x0, dy = y1 - y0, len = sqrt(dx * dx + dy * dy);
    if (!(head > 0) || len == 0) {
        lap_draw_line(c, x0, y0, x1, y1, width, color, alpha);
        return;
    }
    if (head > len)
        head = len;   /* a short arrow is all head */
    double ux = dx / len, uy = dy / len;
    double bx = x1 - ux * head, by = y1 - uy * head;   /* centre of the head's base */
    double spread = 0.45 * head;                          /* half-width of the head's base */
    double half, fade;
    line_params(width, &half, &fade);
    if (spread < half + 1)
        spread = half + 1;
    double tri[6] = { x1, y1, bx - uy * spread, by + ux * spread, bx + uy * spread, by - ux * spread };
    pixel_box clip = clip_box(c);
    double pts[6] = { x0, y0, x1, y1, tri[2], tri[3] };
    double pts2[6] = { tri[4], tri[5], x0, y0, x0, y0 };
    pixel_box b1 = points_box(pts, 3, half + 1, clip), b2 = points_box(pts2, 3, half + 1, clip);
    pixel_box b = { b1.x0 < b2.x0 ? b1.x0 : b2.x0, b1.y0 < b2.y0 ? b1.y0 : b2.y0, b1.x1 > b2.x1 ? b1.x1 : b2.x1,
                    b1.y1 > b2.y1 ? b1.y1 : b2.y1 };
    sink s = { c, color, alpha, NULL, { 0, 0, 0, 0 }, NULL, NULL };
    if (b.x1 <= b.x0 || b.y1 <= b.y0)
        return;
    sink_mask_open(&s, b);
    /* The shaft stops inside the head so its round cap does not poke out of the tip. */
    raster_segment(&s, clip, x0, y0, bx + ux * fmin(head * 0.5, half), by + uy * fmin(head * 0.5, half), half, fade);
    raster_polygon(&s, clip, tri, 3);
    sink_mask_close(&s);
}

/* ---- rectangles ---- */

void lap_fill_rect(lap_canvas *c, double x0, double y0, double x1, double y1, lap_color color, double alpha)
{
    if (!finite2(x0, y0) || !finite2(x1, y1) || !(alpha > 0))
        return;
    if (x1 < x0) {
        double t = x0;
        x0 = x1;
        x1 = t;
    }
    if (y1 < y0) {
        double t = y0;
        y0 = y1;
        y1 = t;
    }
    pixel_box b = clip_box(c);
    int i0 = clampi(floor(x0), b.x0, b.x1), i1 = clampi(ceil(x1), b.x0, b.x1);
    int j0 = clampi(floor(y0), b.y0, b.y1), j1 = clampi(ceil(y1), b.y0, b.y1);
    for (int j = j0; j < j1; j++) {
        double ycov = fmin(j + 1, y1) - fmax(j, y0);
        uint8_t *row = c->pixels + (size_t)j * c->width * 3;
        for (int i = i0; i < i1; i++) {
            double xcov = fmin(i + 1, x1) - fmax(i, x0);
            int a = alpha256(xcov * ycov * alpha);
            if (a)
                blend(row + (size_t)i * 3, color, a);
        }
    }
}

/* ---- colours ---- */

lap_color lap_rgb(uint8_t r, uint8_t g, uint8_t b)
{
    lap_color k = { r, g, b };
    return k;
}

/* Matplotlib's "tab10" reordered so that classes 0 and 1 of the paper's figures are
 * red and blue; the set is distinguishable under the common colour-vision deficiencies
 * when paired with markers or position, as in these figures. */
static const lap_color palette[] = {
    { 214, 39, 40 },    /* red */
    { 31, 119, 180 },   /* blue */
    { 44, 160, 44 },    /* green */
    { 255, 127, 14 },   /* orange */
    { 148, 103, 189 },  /* purple */
    { 140, 86, 75 },    /* brown */
    { 227, 119, 194 },  /* pink */
    { 127, 127, 127 },  /* grey */
    { 188, 189, 34 },   /* olive */
    { 23, 190, 207 },   /* cyan */
};

lap_color lap_palette(int index)
{
    int n = (int)(sizeof palette / sizeof palette[0]);
    int i = index % n;
    if (i < 0)
        i += n;
    return palette[i];
}

lap_color lap_color_mix(lap_color a, lap_color b, double t)
{
    t = isfinite(t) ? clampd(t, 0, 1) : 0;
    lap_color k;
    k.r = (uint8_t)lround(a.r + (b.r - a.r) * t);
    k.g = (uint8_t)lround(a.g + (b.g - a.g) * t);
    k.b = (uint8_t)lround(a.b + (b.b - a.b) * t);
    return k;
}
