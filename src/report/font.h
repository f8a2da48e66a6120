/* The report figures' raster: an RGB canvas with filled rectangles, antialiased lines and
 * markers (figure_canvas.c), and text in a built-in 5×8 bitmap font at integer scales
 * (font.c). Coordinates are pixels, x right, y down; a pixel's centre is at +0.5. Drawing
 * clips at the canvas edges, so callers never check bounds. */
#ifndef EVONET_REPORT_FONT_H
#define EVONET_REPORT_FONT_H
#include <stdint.h>

#include "evonet/status.h"

typedef struct {
  uint8_t r, g, b;
} ev_rgb;

typedef struct {
  int w, h;
  uint8_t *pix; /* (h, w, 3), malloc'd */
} ev_canvas;

/* w, h >= 1 and w·h at most 2^26 pixels; EV_ERR_ARG / EV_ERR_OOM otherwise. */
ev_status ev_canvas_init(ev_canvas *c, int w, int h, ev_rgb background);
void ev_canvas_free(ev_canvas *c);
/* Mixes colour into pixel (x, y) with coverage a in [0, 1]. */
void ev_canvas_blend(ev_canvas *c, int x, int y, ev_rgb col, float a);
void ev_canvas_fill_rect(ev_canvas *c, int x, int y, int w, int h, ev_rgb col);
/* Outline of w × h, `t` pixels thick, inside the box. */
void ev_canvas_rect(ev_canvas *c, int x, int y, int w, int h, int t, ev_rgb col);
/* A segment `width` pixels wide with round caps, antialiased (coverage from the distance
 * of each pixel centre to the segment). */
void ev_canvas_line(ev_canvas *c, float x0, float y0, float x1, float y1, float width,
                    ev_rgb col);
/* Antialiased filled disc; square of side 2r centred on (cx, cy) (pixel-snapped). */
void ev_canvas_disc(ev_canvas *c, float cx, float cy, float r, ev_rgb col);
void ev_canvas_square(ev_canvas *c, float cx, float cy, float r, ev_rgb col);

/* ---- text: glyphs of ASCII 32..126 (others draw as '?'), 5 wide, 7 above the baseline and
 * 1 below it (descenders), advanced by 6 pixels; each times `scale`. ---- */
#define EV_FONT_W 5
#define EV_FONT_H 8
#define EV_FONT_ADVANCE 6
/* Width in pixels of s drawn at scale (no trailing gap); 0 for "". */
int ev_font_width(const char *s, int scale);
/* Distance from one line's top to the next one's: (8 + 3)·scale. */
int ev_font_line_height(int scale);
/* Draws s with its top-left corner at (x, y); '\n' starts a new line. */
void ev_font_draw(ev_canvas *c, int x, int y, const char *s, int scale, ev_rgb col);
/* Draws s centred horizontally on cx. */
void ev_font_draw_centered(ev_canvas *c, int cx, int y, const char *s, int scale, ev_rgb col);
/* Plot axes: 1, 2 or 5 times a power of ten near span / target (a tick step), and a compact
 * label of the decade 10^k: 1, 10, 100, 1k, ..., 100M, 1G, ...; "1e<k>" outside 0..17. */
double ev_plot_nice_step(double span, int target);
void ev_plot_decade_label(char *out, size_t cap, int k);
/* A linear left axis on the box [l, r] x [t, b] (lo at b, hi at t): a grid line, a tick and a
 * number (as many decimals as the step needs, scale-2 font) every `step` from lo to hi. */
/* The title (NULL: none) centred at the top of the canvas: at the largest scale (3, 2, 1) at
 * which it fits the width less 40 px, cut where it never does. */
void ev_plot_title(ev_canvas *c, const char *title);
void ev_plot_y_ticks(ev_canvas *c, int l, int r, int t, int b, double lo, double hi, double step);
#endif
