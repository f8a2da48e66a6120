/* Table 1 of the paper, extended: one row per network of the run, as aligned text and as
 * Markdown. Both are built from the same cells, so they always agree. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "evonet/report.h"

enum { NCOL = 10, CELL = 48 };

static const char *const HEAD_SAL[NCOL] = {
    "Generation", "Number of synapses", "Architectural efficiency", "F-beta (max-F)", "MAE",
    "Adaptive F", "Params", "MFLOPs", "ms/image", "Val max-F"};
/* classification runs: the same table with top-1 / top-5 accuracy (%) and the test loss */
static const char *const HEAD_CLS[NCOL] = {
    "Generation", "Number of synapses", "Architectural efficiency", "Top-1 %", "Top-5 %",
    "Loss", "Params", "MFLOPs", "ms/image", "Val top-1 %"};

static const char *const *heads(const ev_gen_record *r, int n) {
  return n > 0 && r && r[0].test.classify ? HEAD_CLS : HEAD_SAL;
}

void ev_fmt_count(char *out, size_t cap, uint64_t v) {
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
  size_t o = 0;
  for (int i = 0; i < n && o + 1 < cap; i++) {
    if (i > 0 && (n - i) % 3 == 0 && o + 2 < cap) out[o++] = ',';
    out[o++] = digits[i];
  }
  out[o] = 0;
}

static void fmt_num(char *out, size_t cap, double v, int decimals) {
  if (!isfinite(v)) snprintf(out, cap, "-");
  else snprintf(out, cap, "%.*f", decimals, v);
}

/* Non-negative with thousands separators and one decimal: 99050.42 -> "99,050.4". */
static void fmt_big(char *out, size_t cap, double v) {
  if (!isfinite(v) || v < 0 || v >= 1e18) {
    fmt_num(out, cap, v, 1);
    return;
  }
  uint64_t tenths = (uint64_t)llround(v * 10);
  ev_fmt_count(out, cap, tenths / 10);
  size_t len = strlen(out);
  snprintf(out + len, cap - len, ".%d", (int)(tenths % 10));
}

/* The row label: "1" for the ancestor, "g.k" for offspring k, '*' when selected (the
 * Markdown table escapes it). */
static void fmt_generation(char *out, size_t cap, const ev_gen_record *r, int markdown) {
  const char *star = r->selected && r->generation > 1 ? (markdown ? "\\*" : "*") : "";
  if (r->generation <= 1 && r->offspring == 0) snprintf(out, cap, "%d", r->generation);
  else snprintf(out, cap, "%d.%d%s", r->generation, r->offspring, star);
}

static void row_cells(const ev_gen_record *r, int markdown, char cell[NCOL][CELL]) {
  fmt_generation(cell[0], CELL, r, markdown);
  ev_fmt_count(cell[1], CELL, r->synapses);
  if (isfinite(r->efficiency)) snprintf(cell[2], CELL, "%.2fx", r->efficiency);
  else snprintf(cell[2], CELL, "-");
  int test = r->test.n_images > 0, val = r->val.n_images > 0;
  if (r->test.classify) {
    fmt_num(cell[3], CELL, test ? 100 * r->test.top1 : NAN, 2);
    fmt_num(cell[4], CELL, test ? 100 * r->test.top5 : NAN, 2);
    fmt_num(cell[5], CELL, test ? r->test.loss : NAN, 4);
    ev_fmt_count(cell[6], CELL, r->params);
    fmt_big(cell[7], CELL, (double)r->flops / 1e6);
    fmt_num(cell[8], CELL, r->infer_ms, 3);
    fmt_num(cell[9], CELL, val ? 100 * r->val.top1 : NAN, 2);
    return;
  }
  fmt_num(cell[3], CELL, test ? r->test.max_f : NAN, 3);
  fmt_num(cell[4], CELL, test ? r->test.mae : NAN, 4);
  fmt_num(cell[5], CELL, test ? r->test.adaptive_f : NAN, 3);
  ev_fmt_count(cell[6], CELL, r->params);
  fmt_big(cell[7], CELL, (double)r->flops / 1e6);
  fmt_num(cell[8], CELL, r->infer_ms, 2);
  fmt_num(cell[9], CELL, val ? r->val.max_f : NAN, 3);
}

static void fmt_duration(char *out, size_t cap, double s) {
  if (!isfinite(s) || s < 0) snprintf(out, cap, "-");
  else if (s < 60) snprintf(out, cap, "%.1f s", s);
  else if (s < 3600) snprintf(out, cap, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
  else snprintf(out, cap, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
}

/* The run in one sentence per line, each line prefixed by `bullet` ("" or "- "). */
static void print_info(FILE *f, const ev_run_info *in, const char *bullet) {
  char t[32];
  fmt_duration(t, sizeof t, in->seconds);
  fprintf(f, "%sdevice: %s\n", bullet, in->device[0] ? in->device : "-");
  fprintf(f, "%sevolution: alpha %.2f, %s granularity, %d offspring per generation, "
             "%d epochs per generation%s%s\n",
          bullet, in->alpha, in->granularity[0] ? in->granularity : "-", in->offspring_per_gen,
          in->epochs_per_gen, in->protect[0] ? "; not sampled: " : "", in->protect);
  if (in->epochs[0]) fprintf(f, "%sepochs of generations 2, 3, ...: %s\n", bullet, in->epochs);
  if (in->rule[0] || in->training[0])
    fprintf(f, "%soffspring: %s%s%s\n", bullet, in->rule, in->rule[0] && in->training[0] ? "; " : "", in->training);
  if (in->arch[0])
    fprintf(f, "%snetwork: %s, %dx%d input; seed %llu\n", bullet, in->arch, in->size, in->size,
            (unsigned long long)in->seed);
  else
    fprintf(f, "%snetwork: %dx%d input, width %.3g; seed %llu\n", bullet, in->size, in->size, in->width,
            (unsigned long long)in->seed);
  fprintf(f, "%sdataset: %s\n", bullet, in->dataset[0] ? in->dataset : "-");
  fprintf(f, "%stotal time: %s\n", bullet, t);
}

static void print_footnote(FILE *f, const ev_gen_record *r, int n, int markdown) {
  size_t test_images = 0;
  for (int i = 0; i < n; i++)
    if (r[i].test.n_images > test_images) test_images = r[i].test.n_images;
  fprintf(f, "%s selected offspring (the next ancestor); g.k = offspring k of generation g.%s\n"
             "%s on the test set (%zu images); "
             "architectural efficiency = generation-1 synapses / synapses.\n",
          markdown ? "\\*" : "*", markdown ? "  " : "",
          n > 0 && r[0].test.classify ? "Top-1 and top-5 accuracy and the cross-entropy loss"
                                      : "F-beta (beta^2 = 0.3, max-F), MAE and adaptive F",
          test_images);
}

void ev_report_print_table(FILE *f, const ev_run_info *info, const ev_gen_record *r, int n) {
  if (info) {
    print_info(f, info, "");
    fputc('\n', f);
  }
  if (n <= 0 || !r) {
    fprintf(f, "(no generation records)\n");
    return;
  }
  int width[NCOL];
  char cell[NCOL][CELL];
  const char *const *HEAD = heads(r, n);
  for (int c = 0; c < NCOL; c++) width[c] = (int)strlen(HEAD[c]);
  for (int i = 0; i < n; i++) {
    row_cells(&r[i], 0, cell);
    for (int c = 0; c < NCOL; c++)
      if ((int)strlen(cell[c]) > width[c]) width[c] = (int)strlen(cell[c]);
  }
  for (int c = 0; c < NCOL; c++)
    fprintf(f, "%s%-*s", c ? " | " : "", c == NCOL - 1 ? 0 : width[c], HEAD[c]);
  fputc('\n', f);
  for (int c = 0; c < NCOL; c++) {
    fprintf(f, "%s", c ? "-|-" : "");
    for (int k = 0; k < width[c]; k++) fputc('-', f);
  }
  fputc('\n', f);
  for (int i = 0; i < n; i++) {
    row_cells(&r[i], 0, cell);
    for (int c = 0; c < NCOL; c++) /* the label to the left, numbers to the right */
      fprintf(f, c ? " | %*s" : "%-*s", width[c], cell[c]);
    fputc('\n', f);
  }
  print_footnote(f, r, n, 0);
}

void ev_report_print_markdown(FILE *f, const ev_run_info *info, const ev_gen_record *r, int n) {
  fprintf(f, "# evonet evolution report\n\n");
  if (info) {
    print_info(f, info, "- ");
    fputc('\n', f);
  }
  if (n <= 0 || !r) {
    fprintf(f, "(no generation records)\n");
    return;
  }
  char cell[NCOL][CELL];
  const char *const *HEAD = heads(r, n);
  for (int c = 0; c < NCOL; c++) fprintf(f, "| %s ", HEAD[c]);
  fprintf(f, "|\n|");
  for (int c = 0; c < NCOL; c++) fprintf(f, c ? "---:|" : ":---|");
  fputc('\n', f);
  for (int i = 0; i < n; i++) {
    row_cells(&r[i], 1, cell);
    for (int c = 0; c < NCOL; c++) fprintf(f, "| %s ", cell[c]);
    fprintf(f, "|\n");
  }
  fputc('\n', f);
  print_footnote(f, r, n, 1);
}
