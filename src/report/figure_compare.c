/* Pruning methods compared: test max-F (linear y) against synapses (log10 x), one line per
 * method with min-max bars over seeds. Same page, fonts and colours as figure_plot.c. Where
 * several series share a synapse count (methods run at the same budgets), their points
 * would hide each other's bars, so series i is drawn DODGE·(i - (n-1)/2) pixels to the side:
 * at most ±10 px, well under 0.05 decade on this page. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "evonet/image.h"
#include "evonet/report.h"
#include "font.h"

#define W 960
#define H 540
#define BOX_L 104 /* plot box, in pixels; the top moves down when the legend takes two rows */
#define BOX_R (W - 56)
#define BOX_B (H - 84)
#define MAX_SERIES 6
#define DODGE 4.0f
#define LEG_Y 58     /* centre of the first legend row */
#define LEG_ROW 24   /* from one legend row to the next */
#define LEG_LINE 28  /* legend sample line, label after LEG_TEXT */
#define LEG_TEXT 36
#define LEG_GAP 28   /* between legend entries */
#define LABEL_CAP 96 /* legend labels are cut to this (and shorter if the rows need it) */

static const ev_rgb WHITE = {255, 255, 255}, INK = {25, 25, 25}, AXIS = {70, 70, 70},
                    GRID = {228, 228, 228}, REF = {110, 110, 110};
static const ev_rgb COLOURS[MAX_SERIES] = {{0x1f, 0x77, 0xb4}, {0xff, 0x7f, 0x0e},
                                           {0x2c, 0xa0, 0x2c}, {0xd6, 0x27, 0x28},
                                           {0x94, 0x67, 0xbd}, {0x8c, 0x56, 0x4b}};


typedef struct {
  double f_lo, f_hi, f_step; /* y axis */
  int d_lo, d_hi;            /* x axis, decades */
  int box_t;                 /* top of the plot box */
} axes;

static float px_x(const axes *a, double s) {
  return BOX_L + (float)((log10(s) - a->d_lo) / (a->d_hi - a->d_lo)) * (BOX_R - BOX_L);
}
static float px_f(const axes *a, double f) {
  return BOX_B - (float)((f - a->f_lo) / (a->f_hi - a->f_lo)) * (BOX_B - a->box_t);
}

static double min3(double a, double b, double c) { return fmin(a, fmin(b, c)); }
static double max3(double a, double b, double c) { return fmax(a, fmax(b, c)); }

/* y as figure_plot.c's choose_axes (over every bar end, and ref_f when has_ref); x: whole
 * decades covering every synapse count, one more where a count sits on a decade's edge
 * (its marker and bar would lie on the frame), so at least one. */
static void choose_axes(axes *a, int ns, const ev_compare_series *s, int has_ref, double ref_f) {
  double lo = INFINITY, hi = -INFINITY, smin = INFINITY, smax = 0;
  for (int k = 0; k < ns; k++)
    for (int i = 0; i < s[k].n; i++) {
      lo = fmin(lo, min3(s[k].f_lo[i], s[k].f_mean[i], s[k].f_hi[i]));
      hi = fmax(hi, max3(s[k].f_lo[i], s[k].f_mean[i], s[k].f_hi[i]));
      smin = fmin(smin, s[k].synapses[i]), smax = fmax(smax, s[k].synapses[i]);
    }
  if (has_ref) lo = fmin(lo, ref_f), hi = fmax(hi, ref_f);
  double dmin = lo, dmax = hi, span = fmax(hi - lo, 0.02), mid = (lo + hi) / 2;
  lo = mid - span * 0.6, hi = mid + span * 0.6; /* some room above and below */
  if (lo < 0 && dmin >= 0) hi -= lo, lo = 0;    /* F lives in [0, 1]: stay inside */
  if (hi > 1 && dmax <= 1) lo -= hi - 1, hi = 1;
  if (lo < 0 && dmin >= 0) lo = 0; /* a spread wider than [0, 1] itself */
  a->f_step = ev_plot_nice_step(hi - lo, 5);
  a->f_lo = floor(lo / a->f_step + 1e-9) * a->f_step;
  a->f_hi = ceil(hi / a->f_step - 1e-9) * a->f_step;
  a->d_lo = (int)floor(log10(smin) + 1e-12);
  a->d_hi = (int)ceil(log10(smax) - 1e-12);
  if (log10(smin) - a->d_lo < 0.01) a->d_lo--; /* no marker on the frame: 1000 -> 100..  */
  if (a->d_hi - log10(smax) < 0.01) a->d_hi++;
}

static void draw_axes(ev_canvas *c, const axes *a) {
  char buf[32];
  ev_plot_y_ticks(c, BOX_L, BOX_R, a->box_t, BOX_B, a->f_lo, a->f_hi, a->f_step); /* left: linear */
  /* bottom: decades with grid lines and numbers, minor ticks at 2..9 */
  int nd = a->d_hi - a->d_lo, every = (nd + 9) / 10; /* at most ~10 labelled decades */
  for (int k = a->d_lo; k <= a->d_hi; k++) {
    int x = (int)lroundf(BOX_L + (float)(k - a->d_lo) / nd * (BOX_R - BOX_L));
    if (k > a->d_lo && k < a->d_hi) ev_canvas_fill_rect(c, x, a->box_t, 1, BOX_B - a->box_t, GRID);
    ev_canvas_fill_rect(c, x, BOX_B, 2, 7, AXIS);
    if ((k - a->d_lo) % every == 0) {
      ev_plot_decade_label(buf, sizeof buf, k);
      ev_font_draw_centered(c, x + 1, BOX_B + 13, buf, 2, INK);
    }
    for (int m = 2; m <= 9 && k < a->d_hi && nd <= 12; m++) {
      float t = (float)(k - a->d_lo + log10(m)) / nd;
      ev_canvas_fill_rect(c, (int)lroundf(BOX_L + t * (BOX_R - BOX_L)), BOX_B, 1, 4, AXIS);
    }
  }
  ev_canvas_rect(c, BOX_L - 1, a->box_t - 1, BOX_R - BOX_L + 3, BOX_B - a->box_t + 3, 2, AXIS);
  ev_font_draw_centered(c, (BOX_L + BOX_R) / 2, BOX_B + 44, "synapses (log scale)", 2, INK);
  ev_font_draw_centered(c, BOX_L, a->box_t - 28, "test max-F", 2, INK);
}

static void marker(ev_canvas *c, float x, float y, float r, int k) {
  if (k % 2) ev_canvas_square(c, x, y, r - 0.5f, COLOURS[k]);
  else ev_canvas_disc(c, x, y, r, COLOURS[k]);
}

/* The legend: labels cut to `cap` characters, split into `rows` rows (the first ones fuller);
 * returns the widest row's width, drawing the rows centred under the title when c is set. */
static int legend(ev_canvas *c, int ns, const ev_compare_series *s, int rows, int cap) {
  int per = (ns + rows - 1) / rows, widest = 0;
  for (int r = 0; r * per < ns; r++) {
    char lab[MAX_SERIES][LABEL_CAP + 4];
    int w = 0, end = r * per + per < ns ? r * per + per : ns;
    for (int k = r * per; k < end; k++) {
      char *l = lab[k - r * per];
      if (s[k].label) snprintf(l, LABEL_CAP + 1, "%s", s[k].label);
      else snprintf(l, LABEL_CAP + 1, "series %d", k + 1);
      if ((int)strlen(l) > cap) strcpy(l + (cap > 3 ? cap - 3 : 0), "...");
      w += (k > r * per ? LEG_GAP : 0) + LEG_TEXT + ev_font_width(l, 2);
    }
    widest = w > widest ? w : widest;
    if (!c) continue;
    int x = W / 2 - w / 2, y = LEG_Y + r * LEG_ROW;
    for (int k = r * per; k < end; k++) {
      const char *l = lab[k - r * per];
      ev_canvas_line(c, (float)x, (float)y, (float)x + LEG_LINE, (float)y, 3, COLOURS[k]);
      marker(c, x + LEG_LINE / 2.0f, (float)y, 5.5f, k);
      ev_font_draw(c, x + LEG_TEXT, y - EV_FONT_H + 1, l, 2, INK);
      x += LEG_TEXT + ev_font_width(l, 2) + LEG_GAP;
    }
  }
  return widest;
}

/* Where the reference line's label covers the fewest points: right or left end of the line,
 * above or below it (in that order of preference on ties). */
static void ref_label_place(const axes *a, int ns, const ev_compare_series *s, float yref,
                            int tw, int *lx, int *ly) {
  int best = -1;
  for (int cand = 0; cand < 4; cand++) {
    int x = cand & 1 ? BOX_L + 8 : BOX_R - 8 - tw; /* right end first */
    int y = cand & 2 ? (int)yref + 6 : (int)yref - 6 - EV_FONT_H * 2;
    if (y < a->box_t + 2 || y + EV_FONT_H * 2 > BOX_B - 2) continue;
    int hits = 0;
    for (int k = 0; k < ns; k++)
      for (int i = 0; i < s[k].n; i++) {
        float px = px_x(a, s[k].synapses[i]);
        float top = px_f(a, max3(s[k].f_lo[i], s[k].f_mean[i], s[k].f_hi[i])) - 6;
        float bot = px_f(a, min3(s[k].f_lo[i], s[k].f_mean[i], s[k].f_hi[i])) + 6;
        hits += px + 16 > x && px - 16 < x + tw && bot > y && top < y + EV_FONT_H * 2;
      }
    if (best < 0 || hits < best) best = hits, *lx = x, *ly = y;
  }
  if (best < 0) *lx = BOX_R - 8 - tw, *ly = (int)yref - 6 - EV_FONT_H * 2;
}

ev_status ev_figure_compare_plot(const char *path, int n_series, const ev_compare_series *series,
                                 double ref_f, const char *ref_label, const char *title) {
  if (!path || !series)
    return ev_fail(EV_ERR_ARG, "compare plot: missing path or series");
  if (n_series < 1 || n_series > MAX_SERIES)
    return ev_fail(EV_ERR_ARG, "compare plot: %d series (need 1..%d)", n_series, MAX_SERIES);
  for (int k = 0; k < n_series; k++) {
    const ev_compare_series *s = &series[k];
    if (s->n < 1)
      return ev_fail(EV_ERR_ARG, "compare plot: series %d has %d points (need >= 1)", k + 1,
                     s->n);
    if (!s->synapses || !s->f_mean || !s->f_lo || !s->f_hi)
      return ev_fail(EV_ERR_ARG, "compare plot: series %d misses synapses or max-F arrays",
                     k + 1);
    for (int i = 0; i < s->n; i++) {
      if (!isfinite(s->f_mean[i]) || !isfinite(s->f_lo[i]) || !isfinite(s->f_hi[i]))
        return ev_fail(EV_ERR_ARG, "compare plot: max-F of series %d point %d is not finite",
                       k + 1, i + 1);
      if (!isfinite(s->synapses[i]) || !(s->synapses[i] > 0))
        return ev_fail(EV_ERR_ARG,
                       "compare plot: synapses of series %d point %d is %g (need finite, > 0)",
                       k + 1, i + 1, s->synapses[i]);
    }
  }
  if (ref_label && !isfinite(ref_f))
    return ev_fail(EV_ERR_ARG, "compare plot: reference max-F is not finite");

  /* legend: one row if it fits, else two, else labels cut until two rows fit */
  int rows = 1, cap = LABEL_CAP;
  while (legend(NULL, n_series, series, rows, cap) > W - 40) {
    if (rows == 1 && n_series > 1) rows = 2;
    else if (cap > 4) cap--;
    else break;
  }
  axes a;
  a.box_t = 110 + (rows - 1) * LEG_ROW;
  choose_axes(&a, n_series, series, ref_label != NULL, ref_f);
  ev_canvas c;
  EV_TRY(ev_canvas_init(&c, W, H, WHITE));
  draw_axes(&c, &a);

  float yref = 0;
  if (ref_label) { /* dashed, under the data */
    yref = px_f(&a, ref_f);
    for (int x = BOX_L + 1; x < BOX_R; x += 16)
      ev_canvas_fill_rect(&c, x, (int)lroundf(yref - 1), x + 10 < BOX_R ? 10 : BOX_R - x, 2, REF);
  }
  int total = 0;
  for (int k = 0; k < n_series; k++) total += series[k].n;
  float mr = total > 120 ? 3.5f : total > 60 ? 4.5f : 5.5f, cap_w = mr + 1.5f;
  for (int k = 0; k < n_series; k++) { /* lines and bars of every series, then markers */
    const ev_compare_series *s = &series[k];
    float dx = DODGE * (k - (n_series - 1) / 2.0f);
    for (int i = 0; i < s->n; i++) {
      float x = px_x(&a, s->synapses[i]) + dx;
      if (i + 1 < s->n)
        ev_canvas_line(&c, x, px_f(&a, s->f_mean[i]), px_x(&a, s->synapses[i + 1]) + dx,
                       px_f(&a, s->f_mean[i + 1]), 2.5f, COLOURS[k]);
      int y0 = (int)lroundf(px_f(&a, max3(s->f_lo[i], s->f_mean[i], s->f_hi[i])));
      int y1 = (int)lroundf(px_f(&a, min3(s->f_lo[i], s->f_mean[i], s->f_hi[i])));
      int xb = (int)lroundf(x - 1), xc = (int)lroundf(x - cap_w);
      int cw = (int)lroundf(2 * cap_w);
      ev_canvas_fill_rect(&c, xb, y0, 2, y1 - y0 + 2, COLOURS[k]);
      ev_canvas_fill_rect(&c, xc, y0, cw, 2, COLOURS[k]);
      ev_canvas_fill_rect(&c, xc, y1, cw, 2, COLOURS[k]);
    }
  }
  for (int k = 0; k < n_series; k++) {
    float dx = DODGE * (k - (n_series - 1) / 2.0f);
    for (int i = 0; i < series[k].n; i++)
      marker(&c, px_x(&a, series[k].synapses[i]) + dx, px_f(&a, series[k].f_mean[i]), mr, k);
  }
  if (ref_label) {
    char rl[128];
    snprintf(rl, sizeof rl, "%s", ref_label);
    for (size_t len = strlen(rl); len > 0 && ev_font_width(rl, 2) > BOX_R - BOX_L - 16;)
      rl[--len] = 0;
    int lx, ly;
    ref_label_place(&a, n_series, series, yref, ev_font_width(rl, 2), &lx, &ly);
    ev_font_draw(&c, lx, ly, rl, 2, REF);
  }

  /* title, then the legend centred under it */
  ev_plot_title(&c, title);
  legend(&c, n_series, series, rows, cap);
  ev_status st = ev_png_write(path, c.pix, c.w, c.h, 3);
  ev_canvas_free(&c);
  return st;
}
