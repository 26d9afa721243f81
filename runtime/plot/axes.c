/* axes.c: panels with axes (the contract is axes.h).
 *
 * Layout of a panel, from the outside in: the title (centred above the plot
 * area), the y label (vertical, at the panel's left edge), the tick labels, the
 * tick marks (outside the frame), the 1-px frame just outside the plot area
 * [px0, px1) x [py0, py1), whose corners are whole pixels.  Margins come from
 * the actual tick labels: the y labels' widest label sets the left margin, and
 * the half-widths of the outermost x labels keep them inside the panel.  Since
 * the number of ticks depends on the plot area and the margins on the ticks,
 * the layout is computed up to three times until the labels stop changing.
 *
 * Ticks are at 1, 2, 5 x 10^k; their values are computed as integer multiples
 * of the step (divided by a power of ten when the step is below 1), so they
 * print exactly ("0.3", never "0.30000000000000004").
 * A log y axis has its ticks at powers of ten (every 1, 2, 5, ... decades when
 * there are many); the range is widened to whole decades when `nice` is set.
 *
 * Limits: no minor ticks, no tick label rotation, no automatic offset/scale
 * ("x 1e6") for ranges far from zero: labels then get long.  Bad ranges
 * (non-finite, or <= 0 on a log axis) are replaced by a default instead of
 * failing, since drawing a figure should not abort an experiment.
 */
#include "axes.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_TICKS 32
#define FRAME_COLOR ((lap_color){ 0, 0, 0 })
#define TEXT_COLOR ((lap_color){ 0, 0, 0 })
#define GRID_COLOR ((lap_color){ 224, 224, 224 })

lap_axes_style lap_axes_default_style(void)
{
    lap_axes_style s;
    memset(&s, 0, sizeof s);
    s.nice = 1;
    s.show_x_ticks = 1;
    s.show_y_ticks = 1;
    s.text_scale = 1;
    return s;
}

/* ---- ticks ---- */

/* The k-th multiple of the step mantissa * 10^e, computed so that it rounds like
 * the decimal it stands for (3 * 0.1 is 0.30000000000000004; 3 / 10 is 0.3). */
static double multiple(long long k, int mantissa, int e)
{
    if (e >= 0)
        return (double)(k * mantissa) * pow(10, e);
    return (double)(k * mantissa) / pow(10, -e);
}

int lap_nice_ticks(double lo, double hi, int max_ticks, int widen, double *ticks, int capacity, double *nice_lo,
                   double *nice_hi)
{
    if (!isfinite(lo) || !isfinite(hi)) {
        lo = 0;
        hi = 1;
    }
    if (lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    if (lo == hi) {   /* widen a single value to +-10 % of it (+-1 around 0) */
        double d = lo == 0 ? 1 : fabs(lo) * 0.1;
        lo -= d;
        hi += d;
    }
    if (max_ticks < 2)
        max_ticks = 2;
    static const int mantissas[3] = { 1, 2, 5 };
    double raw = (hi - lo) / (max_ticks - 1);
    int e = (int)floor(log10(raw));
    long long first = 0, last = -1;
    int mantissa = 1;
    /* The smallest 1-2-5 step from about `raw` up that gives at most max_ticks ticks. */
    for (int tries = 0; tries < 12; tries++) {
        int found = 0;
        for (int m = 0; m < 3; m++) {
            double step = mantissas[m] * pow(10, e);
            if (widen) {
                first = (long long)floor(lo / step + 1e-9);
                last = (long long)ceil(hi / step - 1e-9);
            } else {
                first = (long long)ceil(lo / step - 1e-9);
                last = (long long)floor(hi / step + 1e-9);
            }
            if (last - first + 1 <= max_ticks) {
                mantissa = mantissas[m];
                found = 1;
                break;
            }
        }
        if (found)
            break;
        e++;
    }
    int count = 0;
    for (long long k = first; k <= last; k++) {
        if (count < capacity && ticks)
            ticks[count] = multiple(k, mantissa, e);
        count++;
    }
    if (ticks && count > capacity)   /* without a buffer, the count is just reported */
        count = capacity;
    if (nice_lo)
        *nice_lo = widen ? multiple(first, mantissa, e) : lo;
    if (nice_hi)
        *nice_hi = widen ? multiple(last, mantissa, e) : hi;
    return count;
}

/* Fewest decimals d (0..12) with step * 10^d a whole number (to 1e-6 relative). */
static int decimals_for(double step)
{
    step = fabs(step);
    if (!(step > 0) || !isfinite(step))
        return 0;
    for (int d = 0; d <= 12; d++) {
        double s = step * pow(10, d);
        if (fabs(s - floor(s + 0.5)) <= 1e-6 * s)
            return d;
    }
    return 12;
}

/* Strips trailing zeros of the fractional part (and a bare '.') in place. */
static void strip_zeros(char *s)
{
    char *dot = strchr(s, '.');
    if (!dot)
        return;
    char *end = dot + strlen(dot);
    while (end > dot + 1 && end[-1] == '0')
        end--;
    if (end == dot + 1)
        end = dot;
    *end = '\0';
}

void lap_format_tick(char *buf, int size, double value, double step)
{
    if (size <= 0)
        return;
    if (!isfinite(value)) {
        snprintf(buf, (size_t)size, "%s", isnan(value) ? "nan" : value > 0 ? "inf" : "-inf");
        return;
    }
    if (!(fabs(step) > 0) || !isfinite(step))
        step = value != 0 ? fabs(value) : 1;
    /* Zero, and values that are zero up to rounding at this step, print as "0"
     * (so no "-0" and no "1.4e-17"). */
    if (fabs(value) < fabs(step) * 1e-9) {
        snprintf(buf, (size_t)size, "0");
        return;
    }
    int d = decimals_for(step);
    char tmp[64];
    if (fabs(value) < 1e5 && d <= 4) {
        snprintf(tmp, sizeof tmp, "%.*f", d, value);
        strip_zeros(tmp);
    } else {
        /* Scientific: as many mantissa digits as the step needs at this exponent. */
        int ex = (int)floor(log10(fabs(value)));
        int md = decimals_for(step / pow(10, ex));
        if (md > 6)
            md = 6;
        snprintf(tmp, sizeof tmp, "%.*e", md, value);
        char *epos = strchr(tmp, 'e');
        if (epos) {
            char exponent[16];
            snprintf(exponent, sizeof exponent, "%s", epos);
            *epos = '\0';
            strip_zeros(tmp);
            strncat(tmp, exponent, sizeof tmp - strlen(tmp) - 1);
        }
    }
    if (strcmp(tmp, "-0") == 0)
        snprintf(tmp, sizeof tmp, "0");
    snprintf(buf, (size_t)size, "%s", tmp);
}

/* ---- layout ---- */

typedef struct axis_ticks {
    int n;
    double v[MAX_TICKS];        /* tick values (log10 of the value on a log axis) */
    char label[MAX_TICKS][32];
    double step;
} axis_ticks;

/* Ticks for a log axis over [l0, l1] (log10 units): whole decades, every 1, 2, 5... of them. */
static void log_ticks(double l0, double l1, int max_ticks, axis_ticks *t)
{
    int every = 1;
    static const int steps[] = { 1, 2, 5, 10, 20, 50, 100 };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        every = steps[i];
        if (floor(l1 / every + 1e-9) - ceil(l0 / every - 1e-9) + 1 <= max_ticks)
            break;
    }
    t->n = 0;
    for (double k = ceil(l0 / every - 1e-9); k <= floor(l1 / every + 1e-9) && t->n < MAX_TICKS; k++) {
        double lv = k * every;
        double value = pow(10, lv);
        t->v[t->n] = lv;
        lap_format_tick(t->label[t->n], sizeof t->label[0], value, value);
        t->n++;
    }
    t->step = every;
}

static void linear_ticks(double a, double b, int max_ticks, axis_ticks *t)
{
    t->n = lap_nice_ticks(a, b, max_ticks, 0, t->v, MAX_TICKS, NULL, NULL);
    t->step = t->n >= 2 ? t->v[1] - t->v[0] : fabs(b - a);
    for (int i = 0; i < t->n; i++)
        lap_format_tick(t->label[i], sizeof t->label[0], t->v[i], t->step);
}

static int widest_label(const axis_ticks *t, int scale)
{
    int w = 0;
    for (int i = 0; i < t->n; i++) {
        int lw = lap_text_width(t->label[i], scale);
        if (lw > w)
            w = lw;
    }
    return w;
}

static int same_labels(const axis_ticks *a, const axis_ticks *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->label[i], b->label[i]) != 0)
            return 0;
    return 1;
}

/* A 1-px crisp horizontal or vertical stroke covering pixel rows/columns exactly. */
static void hline(lap_canvas *c, double x0, double x1, int row, lap_color k, double alpha)
{
    lap_fill_rect(c, x0, row, x1, row + 1, k, alpha);
}

static void vline(lap_canvas *c, int col, double y0, double y1, lap_color k, double alpha)
{
    lap_fill_rect(c, col, y0, col + 1, y1, k, alpha);
}

void lap_axes_setup(lap_axes *ax, lap_canvas *c, double left, double top, double right, double bottom,
                    double x0, double x1, double y0, double y1, const lap_axes_style *style)
{
    lap_axes_style st = style ? *style : lap_axes_default_style();
    int ts = st.text_scale < 1 ? 1 : st.text_scale > 4 ? 4 : st.text_scale;
    int th = lap_text_height(ts);
    int tick_len = 4;
    int gap = 3;   /* between a tick mark and its label, a label and the next element */
    /* From the plot area's bottom to the top of the x tick labels: past the frame and
     * the tick marks, and below the lowest y tick label (centred on the bottom edge),
     * which the leftmost x label may reach horizontally. */
    int x_label_off = 1 + tick_len + gap;
    if (x_label_off < th / 2 + 2)
        x_label_off = th / 2 + 2;

    /* Sane data ranges. */
    if (!isfinite(x0) || !isfinite(x1)) {
        x0 = 0;
        x1 = 1;
    }
    if (x0 > x1) {
        double t = x0;
        x0 = x1;
        x1 = t;
    }
    if (!isfinite(y0) || !isfinite(y1)) {
        y0 = st.log_y ? 0.1 : 0;
        y1 = st.log_y ? 10 : 1;
    }
    if (y0 > y1) {
        double t = y0;
        y0 = y1;
        y1 = t;
    }
    if (st.log_y) {
        if (!(y1 > 0))
            y1 = 1;
        if (!(y0 > 0))
            y0 = y1 / 1000;
    }

    double fx0 = x0, fx1 = x1, fy0 = y0, fy1 = y1;   /* final ranges (log10 units for a log y) */
    double pl = 0, pt = 0, pr = 0, pb = 0;           /* plot area */
    axis_ticks xt, yt, prev_xt, prev_yt;
    memset(&prev_xt, 0, sizeof prev_xt);
    memset(&prev_yt, 0, sizeof prev_yt);
    prev_xt.n = prev_yt.n = -1;
    int y_label_w = 6 * ts * 3, x_label_w = 6 * ts * 3, x_half_last = 6 * ts * 2, x_half_first = 6 * ts * 2;

    for (int pass = 0; pass < 3; pass++) {
        /* Margins from the current label estimates. */
        double m_top = st.title ? th + 2 * gap : th / 2 + 2;
        double m_bottom = x_label_off + (st.show_x_ticks ? th + gap : 0) + (st.xlabel ? th + gap : 0) + 1;
        double m_left = tick_len + gap + (st.show_y_ticks ? y_label_w + gap : 0) + (st.ylabel ? th + 2 * gap : 0);
        double m_right = (st.show_x_ticks ? x_half_last : 0) + 2;
        if (st.show_x_ticks && x_half_first > m_left - 2)
            m_left = x_half_first + 2;
        if (m_right < 6)
            m_right = 6;
        pl = floor(left + m_left);
        pt = floor(top + m_top);
        pr = floor(right - m_right);
        pb = floor(bottom - m_bottom);
        if (pr < pl + 1)
            pr = pl + 1;
        if (pb < pt + 1)
            pb = pt + 1;
        double W = pr - pl, H = pb - pt;
        /* Room per x tick: its label plus three characters, and at least 45 px per scale
         * unit; per y tick two and a half text lines.  At least 4 ticks, so that
         * widening to whole steps cannot blow a range up (3 ticks of 20 for [-0.4, 12]). */
        double x_room = fmax(x_label_w + 3 * 6 * ts, 45 * ts);
        int max_x = (int)(W / x_room);
        int max_y = (int)(H / (th * 2.5));
        max_x = max_x < 4 ? 4 : max_x > 10 ? 10 : max_x;
        max_y = max_y < 4 ? 4 : max_y > 10 ? 10 : max_y;

        /* Ranges: nice, then equal aspect (widening one of them, centred). */
        fx0 = x0, fx1 = x1;
        fy0 = st.log_y ? log10(y0) : y0;
        fy1 = st.log_y ? log10(y1) : y1;
        if (st.nice) {
            lap_nice_ticks(fx0, fx1, max_x, 1, NULL, 0, &fx0, &fx1);
            if (st.log_y) {
                fy0 = floor(fy0 + 1e-9);
                fy1 = ceil(fy1 - 1e-9);
                if (fy1 <= fy0)
                    fy1 = fy0 + 1;
            } else {
                lap_nice_ticks(fy0, fy1, max_y, 1, NULL, 0, &fy0, &fy1);
            }
        } else {
            if (fx0 == fx1)
                fx0 -= 0.5, fx1 += 0.5;
            if (fy0 == fy1)
                fy0 -= 0.5, fy1 += 0.5;
        }
        if (st.equal_aspect && !st.log_y) {
            double sx = W / (fx1 - fx0), sy = H / (fy1 - fy0);
            if (sx > sy) {   /* x has more pixels per unit: widen x */
                double mid = (fx0 + fx1) / 2, half = W / sy / 2;
                fx0 = mid - half;
                fx1 = mid + half;
            } else if (sy > sx) {
                double mid = (fy0 + fy1) / 2, half = H / sx / 2;
                fy0 = mid - half;
                fy1 = mid + half;
            }
        }

        /* Ticks inside the final ranges, and the label sizes they need. */
        linear_ticks(fx0, fx1, max_x, &xt);
        if (st.log_y)
            log_ticks(fy0, fy1, max_y, &yt);
        else
            linear_ticks(fy0, fy1, max_y, &yt);
        y_label_w = widest_label(&yt, ts);
        x_label_w = widest_label(&xt, ts);
        /* Only labels near the ends of the x axis stick out of the plot area. */
        x_half_first = x_half_last = 0;
        if (xt.n > 0) {
            double span = fx1 - fx0;
            double first_px = (xt.v[0] - fx0) / span * W, last_px = (fx1 - xt.v[xt.n - 1]) / span * W;
            x_half_first = (int)ceil(lap_text_width(xt.label[0], ts) / 2.0 - first_px);
            x_half_last = (int)ceil(lap_text_width(xt.label[xt.n - 1], ts) / 2.0 - last_px);
            if (x_half_first < 0)
                x_half_first = 0;
            if (x_half_last < 0)
                x_half_last = 0;
        }
        if (pass > 0 && same_labels(&xt, &prev_xt) && same_labels(&yt, &prev_yt))
            break;
        prev_xt = xt;
        prev_yt = yt;
    }

    ax->canvas = c;
    ax->px0 = pl;
    ax->py0 = pt;
    ax->px1 = pr;
    ax->py1 = pb;
    ax->x0 = fx0;
    ax->x1 = fx1;
    ax->log_y = st.log_y;
    ax->y0 = st.log_y ? pow(10, fy0) : fy0;
    ax->y1 = st.log_y ? pow(10, fy1) : fy1;

    /* Drawn outside any clip the caller may have set, restored after. */
    double cx0 = c->clip_x0, cy0 = c->clip_y0, cx1 = c->clip_x1, cy1 = c->clip_y1;
    lap_canvas_unclip(c);

    /* Grid first, under everything. */
    int ipl = (int)pl, ipt = (int)pt, ipr = (int)pr, ipb = (int)pb;
    int x_cols[MAX_TICKS], y_rows[MAX_TICKS];
    for (int i = 0; i < xt.n; i++) {
        double px = pl + (xt.v[i] - fx0) / (fx1 - fx0) * (pr - pl);
        x_cols[i] = (int)floor(px);
        if (x_cols[i] >= ipr)   /* a tick at the right edge: the frame's column */
            x_cols[i] = ipr;
        if (x_cols[i] < ipl)
            x_cols[i] = ipl - 1;
    }
    for (int i = 0; i < yt.n; i++) {
        double py = pb - (yt.v[i] - fy0) / (fy1 - fy0) * (pb - pt);
        y_rows[i] = (int)floor(py);
        if (y_rows[i] >= ipb)
            y_rows[i] = ipb;
        if (y_rows[i] < ipt)
            y_rows[i] = ipt - 1;
    }
    if (st.grid) {
        for (int i = 0; i < xt.n; i++)
            if (x_cols[i] >= ipl && x_cols[i] < ipr)
                vline(c, x_cols[i], pt, pb, GRID_COLOR, 1);
        for (int i = 0; i < yt.n; i++)
            if (y_rows[i] >= ipt && y_rows[i] < ipb)
                hline(c, pl, pr, y_rows[i], GRID_COLOR, 1);
    }

    /* Frame: 1 px just outside the plot area. */
    hline(c, pl - 1, pr + 1, ipt - 1, FRAME_COLOR, 1);
    hline(c, pl - 1, pr + 1, ipb, FRAME_COLOR, 1);
    vline(c, ipl - 1, pt, pb, FRAME_COLOR, 1);
    vline(c, ipr, pt, pb, FRAME_COLOR, 1);

    /* Ticks and their labels. */
    for (int i = 0; i < xt.n; i++) {
        vline(c, x_cols[i], pb + 1, pb + 1 + tick_len, FRAME_COLOR, 1);
        if (st.show_x_ticks)
            lap_draw_text(c, x_cols[i] + 0.5, pb + x_label_off, xt.label[i], ts, TEXT_COLOR, LAP_ALIGN_CENTER,
                          0);
    }
    for (int i = 0; i < yt.n; i++) {
        hline(c, pl - 1 - tick_len, pl - 1, y_rows[i], FRAME_COLOR, 1);
        if (st.show_y_ticks)
            lap_draw_text(c, pl - 1 - tick_len - gap, y_rows[i] + 0.5 - th / 2.0, yt.label[i], ts, TEXT_COLOR,
                          LAP_ALIGN_RIGHT, 0);
    }

    /* Title, axis labels. */
    if (st.title)
        lap_draw_text(c, (pl + pr) / 2, top + gap, st.title, ts, TEXT_COLOR, LAP_ALIGN_CENTER, 0);
    if (st.xlabel) {
        double y = pb + x_label_off + (st.show_x_ticks ? th + gap : 0);
        lap_draw_text(c, (pl + pr) / 2, y, st.xlabel, ts, TEXT_COLOR, LAP_ALIGN_CENTER, 0);
    }
    if (st.ylabel)
        lap_draw_text(c, left + gap, (pt + pb) / 2, st.ylabel, ts, TEXT_COLOR, LAP_ALIGN_CENTER, 1);

    lap_canvas_clip(c, cx0, cy0, cx1, cy1);
}

/* ---- mapping ---- */

double lap_axes_px(const lap_axes *ax, double x)
{
    return ax->px0 + (x - ax->x0) / (ax->x1 - ax->x0) * (ax->px1 - ax->px0);
}

double lap_axes_py(const lap_axes *ax, double y)
{
    if (ax->log_y) {
        if (!(y > 0))
            return NAN;   /* not on a log axis: NaN draws nothing and breaks polylines */
        double l0 = log10(ax->y0), l1 = log10(ax->y1);
        return ax->py1 - (log10(y) - l0) / (l1 - l0) * (ax->py1 - ax->py0);
    }
    return ax->py1 - (y - ax->y0) / (ax->y1 - ax->y0) * (ax->py1 - ax->py0);
}

void lap_axes_clip(lap_axes *ax)
{
    lap_canvas_clip(ax->canvas, ax->px0, ax->py0, ax->px1, ax->py1);
}

void lap_axes_unclip(lap_axes *ax)
{
    lap_canvas_unclip(ax->canvas);
}

/* ---- legend ---- */

void lap_axes_legend(lap_axes *ax, const char *const *labels, const lap_color *colors, const int *kind, int n,
                     int corner)
{
    if (!ax || !ax->canvas || !labels || n <= 0)
        return;
    lap_canvas *c = ax->canvas;
    int ts = 1;
    int th = lap_text_height(ts);
    int pad = 5, sample_w = 20, row_h = th + 3, inset = 6;
    int text_w = 0;
    for (int i = 0; i < n; i++) {
        int w = lap_text_width(labels[i] ? labels[i] : "", ts);
        if (w > text_w)
            text_w = w;
    }
    double box_w = pad + sample_w + pad + text_w + pad;
    double box_h = pad + n * row_h - 3 + pad;
    double bx = (corner == 1 || corner == 3) ? ax->px1 - inset - box_w : ax->px0 + inset;
    double by = (corner == 2 || corner == 3) ? ax->py1 - inset - box_h : ax->py0 + inset;
    bx = floor(bx);
    by = floor(by);

    lap_fill_rect(c, bx, by, bx + box_w, by + box_h, (lap_color){ 255, 255, 255 }, 0.85);
    lap_color border = { 170, 170, 170 };
    hline(c, bx, bx + box_w, (int)by, border, 1);
    hline(c, bx, bx + box_w, (int)(by + box_h) - 1, border, 1);
    vline(c, (int)bx, by, by + box_h, border, 1);
    vline(c, (int)(bx + box_w) - 1, by, by + box_h, border, 1);

    for (int i = 0; i < n; i++) {
        double ry = by + pad + i * row_h;
        double cy = ry + th / 2.0;
        double sx = bx + pad;
        lap_color k = colors ? colors[i] : lap_palette(i);
        if (kind && kind[i] == 1)
            lap_draw_line(c, sx + 1, cy, sx + sample_w - 1, cy, 2, k, 1);
        else
            lap_draw_point(c, sx + sample_w / 2.0, cy, 3.5, k, 1);
        lap_draw_text(c, sx + sample_w + pad, ry, labels[i] ? labels[i] : "", ts, TEXT_COLOR, LAP_ALIGN_LEFT, 0);
    }
}
