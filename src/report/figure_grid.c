/* Figure 4 of the paper: test images, their ground truth, and the saliency map of each
 * generation side by side, with column headers in the built-in font. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/image.h"
#include "evonet/report.h"
#include "font.h"

#define GAP 2
#define PAD 5         /* white above and below the header text */
#define MAX_LINES 3   /* a header wraps onto at most this many lines */
#define LABEL_CAP 128 /* header text, wrapped, with its newlines */

static const ev_rgb WHITE = {255, 255, 255}, INK = {25, 25, 25};

static void column_label(char *out, size_t cap, int col, const char *const *gen_labels) {
  if (col == 0) snprintf(out, cap, "Image");
  else if (col == 1) snprintf(out, cap, "Ground truth");
  else if (gen_labels && gen_labels[col - 2]) snprintf(out, cap, "%s", gen_labels[col - 2]);
  else snprintf(out, cap, "Generation %d", col - 1);
  for (char *p = out; *p; p++) /* line breaks are the wrapper's business */
    if ((unsigned char)*p < 32) *p = ' ';
}

/* Greedy word wrap of `s` into lines of at most `width` pixels at `scale`; a word wider
 * than a line is cut. Returns the number of lines (the rest is dropped past MAX_LINES). */
static int wrap(const char *s, int width, int scale, char *out, size_t cap) {
  int max_chars = (width / scale + (EV_FONT_ADVANCE - EV_FONT_W)) / EV_FONT_ADVANCE;
  if (max_chars < 1) max_chars = 1;
  size_t o = 0;
  int lines = 0, used = 0; /* characters on the current line */
  while (*s && lines < MAX_LINES) {
    while (*s == ' ') s++;
    int wl = (int)strcspn(s, " ");
    if (wl == 0) break;
    int need = used ? used + 1 + wl : wl;
    if (used && need > max_chars) { /* next line */
      if (lines + 1 == MAX_LINES) break; /* the rest is dropped */
      lines++;
      if (o + 1 < cap) out[o++] = '\n';
      used = 0;
      continue;
    }
    if (used && o + 1 < cap) out[o++] = ' ', used++;
    int take = wl > max_chars - used ? max_chars - used : wl;
    for (int i = 0; i < take && o + 1 < cap; i++) out[o++] = s[i];
    used += take;
    s += wl;
  }
  out[o] = 0;
  return o ? lines + 1 : 1;
}

/* Largest scale (2 or 1) at which every header fits on one line, else scale 1 wrapped. */
static void header_text(int n_gens, const char *const *gen_labels, int cell, int *scale,
                        int *lines, char (*text)[LABEL_CAP]) {
  int room = cell - 4, ncols = n_gens + 2;
  *scale = 2;
  for (int c = 0; c < ncols; c++) {
    char label[LABEL_CAP];
    column_label(label, sizeof label, c, gen_labels);
    if (ev_font_width(label, 2) > room) *scale = 1;
  }
  *lines = 1;
  for (int c = 0; c < ncols; c++) {
    char label[LABEL_CAP], scratch[LABEL_CAP];
    column_label(label, sizeof label, c, gen_labels);
    int l = wrap(label, room, *scale, text ? text[c] : scratch, LABEL_CAP);
    if (l > *lines) *lines = l;
  }
}

ev_status ev_figure_saliency_grid_layout(int n_rows, int n_gens, const char *const *gen_labels,
                                         int cell, ev_grid_layout *out) {
  if (n_rows < 1 || n_gens < 0 || n_gens > 1000 || n_rows > 10000)
    return ev_fail(EV_ERR_ARG, "saliency grid: %d rows and %d generations (need >= 1 and >= 0)",
                   n_rows, n_gens);
  if (cell < 16 || cell > 1024)
    return ev_fail(EV_ERR_ARG, "saliency grid: cell size %d is outside [16, 1024]", cell);
  int scale, lines;
  header_text(n_gens, gen_labels, cell, &scale, &lines, NULL);
  out->text_scale = scale;
  out->header_lines = lines;
  out->x0 = GAP;
  out->y0 = PAD + (lines - 1) * ev_font_line_height(scale) + EV_FONT_H * scale + PAD;
  out->width = GAP + (n_gens + 2) * (cell + GAP);
  out->height = out->y0 + n_rows * (cell + GAP);
  if ((int64_t)out->width * out->height > (1 << 26))
    return ev_fail(EV_ERR_ARG, "saliency grid: %d x %d pixels is too large", out->width,
                   out->height);
  return EV_OK;
}

static uint8_t to_u8(float v, float full) {
  v = fminf(fmaxf(v, 0), full) / full * 255.0f;
  return (uint8_t)(v + 0.5f);
}

/* Resampled (cell, cell) picture into the canvas at (x, y): RGB uint8 or gray float. */
static void put_cell(ev_canvas *cv, int x, int y, int cell, float *tmp, int S,
                     const uint8_t *rgb, const float *gray) {
  if (rgb) ev_resample_u8(rgb, S, S, 3, 0, 0, (float)S, (float)S, cell, cell, tmp);
  else ev_resample_f32(gray, S, S, 1, 0, 0, (float)S, (float)S, cell, cell, tmp);
  for (int j = 0; j < cell; j++)
    for (int i = 0; i < cell; i++) {
      uint8_t *p = cv->pix + ((size_t)(y + j) * cv->w + (x + i)) * 3;
      if (rgb) {
        const float *q = tmp + ((size_t)j * cell + i) * 3;
        p[0] = to_u8(q[0], 255), p[1] = to_u8(q[1], 255), p[2] = to_u8(q[2], 255);
      } else {
        p[0] = p[1] = p[2] = to_u8(tmp[(size_t)j * cell + i], 1);
      }
    }
}

ev_status ev_figure_saliency_grid(const char *path, int S, int n_rows,
                                  const uint8_t *const *images, const float *const *gts,
                                  int n_gens, const float *const *const *maps,
                                  const char *const *gen_labels, int cell) {
  if (!path || !images || !gts || (n_gens > 0 && !maps))
    return ev_fail(EV_ERR_ARG, "saliency grid: missing path, images, ground truths or maps");
  if (S < 1 || S > 8192) return ev_fail(EV_ERR_ARG, "saliency grid: image size %d", S);
  ev_grid_layout L;
  EV_TRY(ev_figure_saliency_grid_layout(n_rows, n_gens, gen_labels, cell, &L));
  for (int r = 0; r < n_rows; r++) {
    if (!images[r] || !gts[r])
      return ev_fail(EV_ERR_ARG, "saliency grid: row %d has no image or ground truth", r);
    for (int g = 0; g < n_gens; g++)
      if (!maps[g] || !maps[g][r])
        return ev_fail(EV_ERR_ARG, "saliency grid: no map for generation %d, row %d", g + 1, r);
  }
  int ncols = n_gens + 2;
  char(*text)[LABEL_CAP] = calloc((size_t)ncols, sizeof *text);
  float *tmp = malloc((size_t)cell * cell * 3 * sizeof *tmp);
  ev_canvas cv = {0};
  ev_status st = (!text || !tmp) ? ev_fail(EV_ERR_OOM, "saliency grid: out of memory")
                                 : ev_canvas_init(&cv, L.width, L.height, WHITE);
  if (st == EV_OK) {
    int scale, lines;
    header_text(n_gens, gen_labels, cell, &scale, &lines, text);
    int lh = ev_font_line_height(scale);
    for (int c = 0; c < ncols; c++) { /* bottom-aligned, centred on the column */
      int nl = 1;
      for (const char *p = text[c]; *p; p++) nl += *p == '\n';
      int cx = L.x0 + c * (cell + GAP) + cell / 2;
      ev_font_draw_centered(&cv, cx, PAD + (lines - nl) * lh, text[c], scale, INK);
    }
    for (int r = 0; r < n_rows; r++) {
      int y = L.y0 + r * (cell + GAP);
      put_cell(&cv, L.x0, y, cell, tmp, S, images[r], NULL);
      put_cell(&cv, L.x0 + (cell + GAP), y, cell, tmp, S, NULL, gts[r]);
      for (int g = 0; g < n_gens; g++)
        put_cell(&cv, L.x0 + (g + 2) * (cell + GAP), y, cell, tmp, S, NULL, maps[g][r]);
    }
    st = ev_png_write(path, cv.pix, cv.w, cv.h, 3);
  }
  ev_canvas_free(&cv);
  free(tmp);
  free(text);
  return st;
}
