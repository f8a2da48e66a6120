/* The report figures' raster primitives (font.h): RGB canvas, rectangles, antialiased
 * lines and markers. Antialiasing is by coverage: a pixel whose centre lies at distance d
 * from a shape's edge (negative inside) gets clamp(0.5 - d, 0, 1) of the colour. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "font.h"

#define MAX_PIXELS (1 << 26)

ev_status ev_canvas_init(ev_canvas *c, int w, int h, ev_rgb bg) {
  c->w = c->h = 0;
  c->pix = NULL;
  if (w < 1 || h < 1 || (int64_t)w * h > MAX_PIXELS)
    return ev_fail(EV_ERR_ARG, "figure size %d x %d is out of range (at most %d pixels)", w, h,
                   MAX_PIXELS);
  c->pix = malloc((size_t)w * h * 3);
  if (!c->pix) return ev_fail(EV_ERR_OOM, "out of memory for a %d x %d figure", w, h);
  c->w = w;
  c->h = h;
  for (size_t i = 0; i < (size_t)w * h; i++) {
    c->pix[3 * i] = bg.r;
    c->pix[3 * i + 1] = bg.g;
    c->pix[3 * i + 2] = bg.b;
  }
  return EV_OK;
}

void ev_canvas_free(ev_canvas *c) {
  free(c->pix);
  c->pix = NULL;
  c->w = c->h = 0;
}

static uint8_t mix(uint8_t dst, uint8_t src, float a) {
  return (uint8_t)lroundf(dst + (src - dst) * a);
}

void ev_canvas_blend(ev_canvas *c, int x, int y, ev_rgb col, float a) {
  if (x < 0 || y < 0 || x >= c->w || y >= c->h || !(a > 0)) return;
  if (a > 1) a = 1;
  uint8_t *p = c->pix + ((size_t)y * c->w + x) * 3;
  p[0] = mix(p[0], col.r, a);
  p[1] = mix(p[1], col.g, a);
  p[2] = mix(p[2], col.b, a);
}

void ev_canvas_fill_rect(ev_canvas *c, int x, int y, int w, int h, ev_rgb col) {
  int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
  int x1 = x + w > c->w ? c->w : x + w, y1 = y + h > c->h ? c->h : y + h;
  for (int yy = y0; yy < y1; yy++) {
    uint8_t *p = c->pix + ((size_t)yy * c->w + x0) * 3;
    for (int xx = x0; xx < x1; xx++, p += 3) p[0] = col.r, p[1] = col.g, p[2] = col.b;
  }
}

void ev_canvas_rect(ev_canvas *c, int x, int y, int w, int h, int t, ev_rgb col) {
  ev_canvas_fill_rect(c, x, y, w, t, col);
  ev_canvas_fill_rect(c, x, y + h - t, w, t, col);
  ev_canvas_fill_rect(c, x, y + t, t, h - 2 * t, col);
  ev_canvas_fill_rect(c, x + w - t, y + t, t, h - 2 * t, col);
}

/* Distance from (px, py) to the segment (x0, y0)-(x1, y1). */
static float seg_dist(float px, float py, float x0, float y0, float x1, float y1) {
  float dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  float t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  float ex = px - (x0 + t * dx), ey = py - (y0 + t * dy);
  return sqrtf(ex * ex + ey * ey);
}

void ev_canvas_line(ev_canvas *c, float x0, float y0, float x1, float y1, float width,
                    ev_rgb col) {
  float r = width / 2;
  int bx0 = (int)floorf(fminf(x0, x1) - r - 1), bx1 = (int)ceilf(fmaxf(x0, x1) + r + 1);
  int by0 = (int)floorf(fminf(y0, y1) - r - 1), by1 = (int)ceilf(fmaxf(y0, y1) + r + 1);
  if (bx0 < 0) bx0 = 0;
  if (by0 < 0) by0 = 0;
  if (bx1 > c->w) bx1 = c->w;
  if (by1 > c->h) by1 = c->h;
  for (int y = by0; y < by1; y++)
    for (int x = bx0; x < bx1; x++) {
      float d = seg_dist(x + 0.5f, y + 0.5f, x0, y0, x1, y1) - r;
      ev_canvas_blend(c, x, y, col, 0.5f - d);
    }
}

void ev_canvas_disc(ev_canvas *c, float cx, float cy, float r, ev_rgb col) {
  ev_canvas_line(c, cx, cy, cx, cy, 2 * r, col);
}

void ev_canvas_square(ev_canvas *c, float cx, float cy, float r, ev_rgb col) {
  int x = (int)lroundf(cx - r), y = (int)lroundf(cy - r), s = (int)lroundf(2 * r);
  ev_canvas_fill_rect(c, x, y, s, s, col);
}

double ev_plot_nice_step(double span, int target) {
  double raw = span / target, p = pow(10, floor(log10(raw))), m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

void ev_plot_decade_label(char *out, size_t cap, int k) {
  static const char *suffix[] = {"", "k", "M", "G", "T", "P"};
  if (k < 0 || k >= 18) snprintf(out, cap, "1e%d", k);
  else snprintf(out, cap, "%.0f%s", pow(10, k % 3), suffix[k / 3]);
}

void ev_plot_y_ticks(ev_canvas *c, int l, int r, int t, int b, double lo, double hi, double step) {
  static const ev_rgb INK = {25, 25, 25}, AXIS = {70, 70, 70}, GRID = {228, 228, 228};
  char buf[32];
  int lh = EV_FONT_H * 2, dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  for (int i = 0;; i++) {
    double f = lo + i * step;
    if (f > hi + step * 1e-6) break;
    int y = (int)lroundf(b - (float)((f - lo) / (hi - lo)) * (b - t));
    ev_canvas_fill_rect(c, l + 1, y, r - l - 1, 1, GRID);
    ev_canvas_fill_rect(c, l - 6, y, 6, 2, AXIS);
    snprintf(buf, sizeof buf, "%.*f", dec, f);
    ev_font_draw(c, l - 10 - ev_font_width(buf, 2), y - lh / 2 + 1, buf, 2, INK);
  }
}

void ev_plot_title(ev_canvas *c, const char *title) {
  static const ev_rgb INK = {25, 25, 25};
  char t[160];
  snprintf(t, sizeof t, "%s", title ? title : "");
  int ts = 3;
  while (ts > 1 && ev_font_width(t, ts) > c->w - 40) ts--;
  for (size_t len = strlen(t); len > 0 && ev_font_width(t, ts) > c->w - 40;) t[--len] = 0;
  ev_font_draw_centered(c, c->w / 2, 12 + (3 - ts) * EV_FONT_H / 2, t, ts, INK);
}
