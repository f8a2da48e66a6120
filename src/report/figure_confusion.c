/* The confusion matrix of a classification run as a figure (include/evonet/class_metrics.h):
 * rows are true classes, columns predicted ones, each cell shaded by the fraction of its
 * row, so a class with few images reads as clearly as a large one. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/class_metrics.h"
#include "evonet/image.h"
#include "evonet/report.h"
#include "font.h"

#define GRID_PX 720    /* the grid's side for C >= 12; cells are GRID_PX / C, at most MAX_CELL */
#define MAX_CELL 64
#define MAX_DRAWN 7000 /* C above this: cells of 1 px no longer fit the canvas limit */
#define NAME_CHARS 14  /* longer class names are cut to 12 + ".." */
#define COUNTS_MAX_C 20
#define MIN_W 480      /* room for the title */

static const ev_rgb WHITE = {255, 255, 255}, INK = {25, 25, 25}, AXIS = {70, 70, 70},
                    GRIDLINE = {215, 215, 215}, DARK = {8, 48, 107}; /* matplotlib's Blues end */

static ev_rgb shade(double f) { /* f in [0, 1]: white -> dark blue */
  if (!(f > 0)) f = 0;
  if (f > 1) f = 1;
  ev_rgb c = {(uint8_t)(WHITE.r + (DARK.r - WHITE.r) * f + 0.5),
              (uint8_t)(WHITE.g + (DARK.g - WHITE.g) * f + 0.5),
              (uint8_t)(WHITE.b + (DARK.b - WHITE.b) * f + 0.5)};
  return c;
}

/* Class c's label as drawn: its name (or index), printable ASCII, cut to NAME_CHARS. */
static void label(char out[NAME_CHARS + 1], const char *const *names, int c) {
  char buf[64];
  if (names && names[c]) snprintf(buf, sizeof buf, "%s", names[c]);
  else snprintf(buf, sizeof buf, "%d", c);
  for (char *p = buf; *p; p++)
    if ((unsigned char)*p < 32) *p = ' ';
  if (strlen(buf) > NAME_CHARS) strcpy(buf + NAME_CHARS - 2, "..");
  snprintf(out, NAME_CHARS + 1, "%s", buf);
}

/* s rotated a quarter turn anticlockwise (read bottom to top, glyph tops to the left), in the
 * box with top-left (x, y), 8·scale wide and ev_font_width(s, scale) tall. The font has no
 * rotation, so the text is drawn upright on a scratch canvas and copied turned. */
static ev_status draw_up(ev_canvas *c, int x, int y, const char *s, int scale, ev_rgb col) {
  int tw = ev_font_width(s, scale), th = EV_FONT_H * scale;
  if (tw == 0) return EV_OK;
  ev_canvas t;
  EV_TRY(ev_canvas_init(&t, tw, th, WHITE));
  ev_font_draw(&t, 0, 0, s, scale, INK);
  for (int ty = 0; ty < th; ty++)
    for (int tx = 0; tx < tw; tx++)
      if (t.pix[((size_t)ty * tw + tx) * 3] != WHITE.r)
        ev_canvas_fill_rect(c, x + ty, y + (tw - 1 - tx), 1, 1, col);
  ev_canvas_free(&t);
  return EV_OK;
}

ev_status ev_class_confusion_png(const char *path, const ev_class_metrics *m,
                                 const char *const *names, const char *title) {
  if (!path || !m || !m->confusion)
    return ev_fail(EV_ERR_ARG, "confusion figure: missing path or metrics");
  const int C = m->classes;
  if (C < 2 || C > MAX_DRAWN)
    return ev_fail(EV_ERR_ARG, "confusion figure of %s: %d classes (can draw 2..%d)", path, C,
                   MAX_DRAWN);
  int cell = GRID_PX / C;
  cell = cell > MAX_CELL ? MAX_CELL : cell < 1 ? 1 : cell;
  const int grid = C * cell;

  /* class names: scale 2 when the cells are tall enough, every k-th when they are too small */
  int ns = cell >= 20 ? 2 : 1, every = 1;
  while (every * cell < ev_font_line_height(ns) - 2) every++;
  int names_w = 0;
  char lab[NAME_CHARS + 1];
  for (int c = 0; c < C; c += every) {
    label(lab, names, c);
    int w = ev_font_width(lab, ns);
    names_w = w > names_w ? w : names_w;
  }
  /* counts: only for small grids, at the largest scale at which the widest one fits */
  int cs = 0;
  if (C <= COUNTS_MAX_C) {
    uint64_t mx = 0;
    for (size_t i = 0; i < (size_t)C * C; i++) mx = m->confusion[i] > mx ? m->confusion[i] : mx;
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, mx);
    for (int s = 2; s >= 1 && !cs; s--)
      if (ev_font_width(buf, s) <= cell - 4 && EV_FONT_H * s <= cell - 4) cs = s;
  }
  /* layout: [True class][names] grid [colour bar][its labels] across; title, grid, names,
   * "Predicted class" down */
  int as = grid >= ev_font_width("Predicted class", 2) ? 2 : 1; /* axis titles' scale */
  int bs = grid >= 100 ? 2 : 1;                                  /* colour bar labels' scale */
  int gx = 10 + EV_FONT_H * as + 10 + names_w + 8, gy = 60;
  int bar_x = gx + grid + 20, bar_w = 16;
  int w = bar_x + bar_w + 8 + ev_font_width("100%", bs) + 14;
  int h = gy + grid + 8 + names_w + 10 + EV_FONT_H * as + 12;
  int shift = w < MIN_W ? (MIN_W - w) / 2 : 0;
  gx += shift, bar_x += shift, w = w < MIN_W ? MIN_W : w;
  ev_canvas cv;
  EV_TRY(ev_canvas_init(&cv, w, h, WHITE));
  ev_status st = EV_OK;

  /* the cells, 1-px grid lines between them while the cells are big enough to spare one */
  int gap = cell >= 6;
  if (gap) ev_canvas_fill_rect(&cv, gx, gy, grid, grid, GRIDLINE);
  for (int t = 0; t < C; t++) {
    const uint64_t *row = m->confusion + (size_t)t * C;
    uint64_t total = 0;
    for (int p = 0; p < C; p++) total += row[p];
    for (int p = 0; p < C; p++) {
      double f = total ? (double)row[p] / (double)total : 0;
      int x = gx + p * cell, y = gy + t * cell;
      ev_canvas_fill_rect(&cv, x, y, cell - gap, cell - gap, shade(f));
      if (cs) {
        char buf[24];
        snprintf(buf, sizeof buf, "%" PRIu64, row[p]);
        ev_font_draw_centered(&cv, x + (cell - gap) / 2 + 1, y + (cell - gap - EV_FONT_H * cs) / 2,
                              buf, cs, f > 0.5 ? WHITE : INK);
      }
    }
  }
  ev_canvas_rect(&cv, gx - 1, gy - 1, grid + 2, grid + 2, 1, AXIS);

  /* names: rows right-aligned to the left of the grid, columns turned upright below it */
  for (int c = 0; c < C && st == EV_OK; c += every) {
    label(lab, names, c);
    int lw = ev_font_width(lab, ns), mid = c * cell + cell / 2;
    ev_font_draw(&cv, gx - 8 - lw, gy + mid - EV_FONT_H * ns / 2, lab, ns, INK);
    st = draw_up(&cv, gx + mid - EV_FONT_H * ns / 2, gy + grid + 8 + names_w - lw, lab, ns, INK);
  }
  if (st == EV_OK) {
    ev_font_draw_centered(&cv, gx + grid / 2, gy + grid + 8 + names_w + 10, "Predicted class", as,
                          INK);
    st = draw_up(&cv, 10 + shift, gy + grid / 2 - ev_font_width("True class", as) / 2,
                 "True class", as, INK);
  }

  /* colour bar: the fraction of the row, 0 at the bottom */
  for (int y = 0; y < grid; y++)
    ev_canvas_fill_rect(&cv, bar_x, gy + y, bar_w, 1, shade(1.0 - (y + 0.5) / grid));
  ev_canvas_rect(&cv, bar_x - 1, gy - 1, bar_w + 2, grid + 2, 1, AXIS);
  int lh = EV_FONT_H * bs;
  ev_font_draw(&cv, bar_x + bar_w + 8, gy, "100%", bs, INK);
  ev_font_draw(&cv, bar_x + bar_w + 8, gy + grid - lh, "0%", bs, INK);
  if (grid >= 6 * lh) ev_font_draw(&cv, bar_x + bar_w + 8, gy + grid / 2 - lh / 2, "50%", bs, INK);

  /* title: the caller's, or the summary */
  char def[160];
  if (!title) {
    ev_class_summary s;
    ev_class_metrics_result(m, &s);
    char n[32];
    ev_fmt_count(n, sizeof n, m->n);
    if (m->n)
      snprintf(def, sizeof def, "top-1 %.2f %%, top-%d %.2f %%, %s images", 100 * s.top1,
               C < EV_CLASS_TOPK ? C : EV_CLASS_TOPK, 100 * s.top5, n);
    else
      snprintf(def, sizeof def, "no images");
    title = def;
  }
  ev_plot_title(&cv, title);
  if (st == EV_OK) st = ev_png_write(path, cv.pix, cv.w, cv.h, 3);
  ev_canvas_free(&cv);
  return st;
}
