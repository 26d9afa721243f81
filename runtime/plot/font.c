/* font.c: text on a canvas with the bitmap font the project carries.
 *
 * The font is the X11 "misc-fixed" 6x13 font (public domain, X.Org
 * font-misc-misc: "Public domain font.  Share and enjoy."), converted to C by
 * tests/make_font_data.py into font_data.h: printable ASCII 32..126, a 6x13 cell
 * with 11 rows above the baseline and 2 below (descenders).  The build does not
 * depend on any font package.
 *
 * Text is drawn pixel-crisp (no anti-aliasing: a bitmap font scaled by an integer
 * factor), opaque, clipped like every primitive.  Positions are rounded to whole
 * pixels.  '\n' starts a new line (lines are aligned one by one).  A byte outside
 * printable ASCII draws as '?', except that UTF-8 continuation bytes are skipped,
 * so one non-ASCII character is one '?'.
 *
 * Vertical text (vertical = 1) is the horizontal text rotated 90 degrees
 * counter-clockwise: it reads bottom to top, the glyphs' tops facing left.  Its
 * left edge is at x; along y, LEFT puts the start of the text at y (the text
 * going up from there), CENTER centres it on y, RIGHT puts its end at y.
 */
#include <math.h>
#include <string.h>

#include "canvas.h"
#include "font_data.h"

/* The glyph index (0..94) of the character starting at *s; advances *s. */
static int next_glyph(const char **s)
{
    unsigned char ch = (unsigned char)**s;
    (*s)++;
    if (ch >= 0xC0)   /* UTF-8 lead byte: skip the continuation bytes */
        while ((unsigned char)**s >= 0x80 && (unsigned char)**s < 0xC0)
            (*s)++;
    if (ch < 32 || ch > 126)
        ch = '?';
    return ch - 32;
}

/* Characters (glyphs) of one line, from s to the next '\n' or the end. */
static int line_chars(const char *s)
{
    int n = 0;
    while (*s && *s != '\n') {
        next_glyph(&s);
        n++;
    }
    return n;
}

int lap_text_width(const char *text, int scale)
{
    if (!text)
        return 0;
    if (scale < 1)
        scale = 1;
    int widest = 0;
    for (const char *s = text;;) {
        int n = line_chars(s);
        if (n > widest)
            widest = n;
        s = strchr(s, '\n');
        if (!s)
            break;
        s++;
    }
    return widest * LAP_FONT_W * scale;
}

int lap_text_height(int scale)
{
    return LAP_FONT_H * (scale < 1 ? 1 : scale);
}

/* Fills the w x h pixel block at (x, y) (one scaled glyph pixel), within the clip box. */
static void put_block(lap_canvas *c, int x, int y, int w, int h, lap_color color, int bx0, int by0, int bx1,
                      int by1)
{
    int x0 = x < bx0 ? bx0 : x, x1 = x + w > bx1 ? bx1 : x + w;
    int y0 = y < by0 ? by0 : y, y1 = y + h > by1 ? by1 : y + h;
    for (int j = y0; j < y1; j++) {
        uint8_t *p = c->pixels + ((size_t)j * c->width + x0) * 3;
        for (int i = x0; i < x1; i++, p += 3) {
            p[0] = color.r;
            p[1] = color.g;
            p[2] = color.b;
        }
    }
}

static int to_pixel(double v)
{
    if (!(v > -1e9))
        return -1000000000;
    if (v > 1e9)
        return 1000000000;
    return (int)floor(v + 0.5);
}

int lap_draw_text(lap_canvas *c, double x, double y, const char *text, int scale, lap_color color, lap_align align,
                  int vertical)
{
    if (!text)
        return 0;
    if (scale < 1)
        scale = 1;
    int width = lap_text_width(text, scale);
    if (!isfinite(x) || !isfinite(y))
        return width;
    /* The clip box by the pixel-centre rule, as for every primitive. */
    int bx0 = (int)fmax(0, ceil(c->clip_x0 - 0.5)), bx1 = (int)fmin(c->width, ceil(c->clip_x1 - 0.5));
    int by0 = (int)fmax(0, ceil(c->clip_y0 - 0.5)), by1 = (int)fmin(c->height, ceil(c->clip_y1 - 0.5));
    int ax = to_pixel(x), ay = to_pixel(y);
    int line_h = LAP_FONT_H * scale, cell_w = LAP_FONT_W * scale;
    int line = 0;
    for (const char *s = text;; line++) {
        int lw = line_chars(s) * cell_w;
        int shift = align == LAP_ALIGN_CENTER ? lw / 2 : align == LAP_ALIGN_RIGHT ? lw : 0;
        int u = 0;   /* unrotated position along the line */
        while (*s && *s != '\n') {
            const uint8_t *g = lap_font_glyphs[next_glyph(&s)];
            for (int row = 0; row < LAP_FONT_H; row++) {
                uint8_t bits = g[row];
                for (int col = 0; bits && col < LAP_FONT_W; col++) {
                    if (!(bits & (0x80 >> col)))
                        continue;
                    int gu = u + col * scale - shift, gv = line * line_h + row * scale;
                    if (!vertical)
                        put_block(c, ax + gu, ay + gv, scale, scale, color, bx0, by0, bx1, by1);
                    else   /* rotated 90 degrees counter-clockwise: (u, v) -> (v, -u) */
                        put_block(c, ax + gv, ay - gu - scale, scale, scale, color, bx0, by0, bx1, by1);
                }
            }
            u += cell_w;
        }
        if (!*s)
            break;
        s++;   /* past '\n' */
    }
    return width;
}
