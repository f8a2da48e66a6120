/* max-F and synapses per generation: one plot, two y axes (linear left, log10 right). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "evonet/image.h"
#include "evonet/report.h"
#include "font.h"

#define W 960
#define H 540
#define BOX_L 104 /* plot box, in pixels */
#define BOX_R (W - 104)
#define BOX_T 110
#define BOX_B (H - 84)

static const ev_rgb WHITE = {255, 255, 255}, INK = {25, 25, 25}, AXIS = {70, 70, 70},
                    BLUE = {0x1f, 0x77, 0xb4}, ORANGE = {0xff, 0x7f, 0x0e};


typedef struct {
  double f_lo, f_hi, f_step; /* left axis */
  int d_lo, d_hi;            /* right axis, decades */
  int n;
} axes;

static float px_x(const axes *a, int g) { /* generation g (1-based) */
  return BOX_L + (float)(g - 0.5) / a->n * (BOX_R - BOX_L);
}
static float px_f(const axes *a, double f) {
  return BOX_B - (float)((f - a->f_lo) / (a->f_hi - a->f_lo)) * (BOX_B - BOX_T);
}
static float px_s(const axes *a, uint64_t s) {
  double l = s > 0 ? log10((double)s) : a->d_lo;
  return BOX_B - (float)((l - a->d_lo) / (a->d_hi - a->d_lo)) * (BOX_B - BOX_T);
}

static void choose_axes(axes *a, int n, const double *max_f, const uint64_t *syn) {
  double lo = max_f[0], hi = max_f[0];
  uint64_t smin = UINT64_MAX, smax = 0;
  for (int i = 0; i < n; i++) {
    lo = fmin(lo, max_f[i]), hi = fmax(hi, max_f[i]);
    if (syn[i] > 0) smin = syn[i] < smin ? syn[i] : smin;
    smax = syn[i] > smax ? syn[i] : smax;
  }
  double dmin = lo, dmax = hi, span = fmax(hi - lo, 0.02), mid = (lo + hi) / 2;
  lo = mid - span * 0.65, hi = mid + span * 0.65; /* some room above and below */
  if (lo < 0 && dmin >= 0) hi -= lo, lo = 0;      /* F lives in [0, 1]: stay inside */
  if (hi > 1 && dmax <= 1) lo -= hi - 1, hi = 1;
  a->f_step = ev_plot_nice_step(hi - lo, 5);
  a->f_lo = floor(lo / a->f_step + 1e-9) * a->f_step;
  a->f_hi = ceil(hi / a->f_step - 1e-9) * a->f_step;
  if (smax == 0) smin = smax = 1;
  a->d_lo = (int)floor(log10((double)smin) + 1e-12);
  a->d_hi = (int)ceil(log10((double)smax) - 1e-12);
  if (a->d_hi <= a->d_lo) a->d_hi = a->d_lo + 1;
  a->n = n;
}

static void draw_axes(ev_canvas *c, const axes *a) {
  char buf[32];
  int lh = EV_FONT_H * 2;
  ev_plot_y_ticks(c, BOX_L, BOX_R, BOX_T, BOX_B, a->f_lo, a->f_hi, a->f_step); /* left: linear */
  /* right: decades with numbers, minor ticks at 2..9 */
  int every = (a->d_hi - a->d_lo + 7) / 8; /* at most ~8 labelled decades */
  for (int k = a->d_lo; k <= a->d_hi; k++) {
    int y = (int)lroundf(BOX_B - (float)(k - a->d_lo) / (a->d_hi - a->d_lo) * (BOX_B - BOX_T));
    ev_canvas_fill_rect(c, BOX_R, y, 7, 2, AXIS);
    if ((k - a->d_lo) % every == 0) {
      ev_plot_decade_label(buf, sizeof buf, k);
      ev_font_draw(c, BOX_R + 12, y - lh / 2 + 1, buf, 2, INK);
    }
    for (int m = 2; m <= 9 && k < a->d_hi; m++) {
      float t = (float)(k - a->d_lo + log10(m)) / (a->d_hi - a->d_lo);
      ev_canvas_fill_rect(c, BOX_R, (int)lroundf(BOX_B - t * (BOX_B - BOX_T)), 4, 1, AXIS);
    }
  }
  /* bottom: generations */
  int gstep = (a->n + 14) / 15, last = 1 + (a->n - 1) / gstep * gstep;
  int show_n = px_x(a, a->n) - px_x(a, last) >= 40; /* the last generation, if it has room */
  for (int g = 1; g <= a->n; g++) {
    if ((g - 1) % gstep != 0 && !(g == a->n && show_n)) continue;
    int x = (int)lroundf(px_x(a, g));
    ev_canvas_fill_rect(c, x, BOX_B, 2, 6, AXIS);
    snprintf(buf, sizeof buf, "%d", g);
    ev_font_draw_centered(c, x + 1, BOX_B + 12, buf, 2, INK);
  }
  ev_canvas_rect(c, BOX_L - 1, BOX_T - 1, BOX_R - BOX_L + 3, BOX_B - BOX_T + 3, 2, AXIS);
  ev_font_draw_centered(c, (BOX_L + BOX_R) / 2, BOX_B + 44, "Generation", 2, INK);
  ev_font_draw_centered(c, BOX_L, BOX_T - 28, "max-F", 2, BLUE);
  ev_font_draw_centered(c, BOX_R, BOX_T - 28, "synapses", 2, ORANGE);
}

/* One legend entry: a short line with its marker, then the label; returns the end x. */
static int legend_entry(ev_canvas *c, int x, int y, ev_rgb col, int square, const char *label) {
  ev_canvas_line(c, (float)x, (float)y, (float)x + 36, (float)y, 3, col);
  if (square) ev_canvas_square(c, x + 18.0f, (float)y, 5, col);
  else ev_canvas_disc(c, x + 18.0f, (float)y, 5.5f, col);
  ev_font_draw(c, x + 46, y - EV_FONT_H + 1, label, 2, INK);
  return x + 46 + ev_font_width(label, 2);
}

ev_status ev_figure_generations_plot(const char *path, int n, const double *max_f,
                                     const uint64_t *synapses, const char *title) {
  if (!path || !max_f || !synapses)
    return ev_fail(EV_ERR_ARG, "generations plot: missing path, max-F or synapse counts");
  if (n < 1 || n > 10000)
    return ev_fail(EV_ERR_ARG, "generations plot: %d generations (need 1..10000)", n);
  for (int i = 0; i < n; i++)
    if (!isfinite(max_f[i]))
      return ev_fail(EV_ERR_ARG, "generations plot: max-F of generation %d is not finite",
                     i + 1);
  axes a;
  choose_axes(&a, n, max_f, synapses);
  ev_canvas c;
  EV_TRY(ev_canvas_init(&c, W, H, WHITE));
  draw_axes(&c, &a);
  for (int i = 0; i < n; i++) { /* lines first, markers on top */
    if (i + 1 < n) {
      ev_canvas_line(&c, px_x(&a, i + 1), px_s(&a, synapses[i]), px_x(&a, i + 2),
                     px_s(&a, synapses[i + 1]), 3, ORANGE);
      ev_canvas_line(&c, px_x(&a, i + 1), px_f(&a, max_f[i]), px_x(&a, i + 2),
                     px_f(&a, max_f[i + 1]), 3, BLUE);
    }
  }
  float mr = n > 40 ? 3.5f : n > 20 ? 4.5f : 6;
  for (int i = 0; i < n; i++) {
    ev_canvas_square(&c, px_x(&a, i + 1), px_s(&a, synapses[i]), mr - 0.5f, ORANGE);
    ev_canvas_disc(&c, px_x(&a, i + 1), px_f(&a, max_f[i]), mr, BLUE);
  }
  /* title, then the legend centred under it */
  ev_plot_title(&c, title);
  int lw = 46 + ev_font_width("max-F (left axis)", 2) + 40 + 46 +
           ev_font_width("synapses (right axis, log scale)", 2);
  int x = legend_entry(&c, W / 2 - lw / 2, 58, BLUE, 0, "max-F (left axis)");
  legend_entry(&c, x + 40, 58, ORANGE, 1, "synapses (right axis, log scale)");
  ev_status st = ev_png_write(path, c.pix, c.w, c.h, 3);
  ev_canvas_free(&c);
  return st;
}
