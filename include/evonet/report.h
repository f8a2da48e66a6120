/* Reports of an evolution run: the paper's Table 1 (printed, Markdown, JSON, CSV) and its
 * figures (Figure 4's grid of saliency maps per generation; max-F and synapses per
 * generation as a plot). Everything written to disk is written atomically (temp file,
 * fsync, rename), so a reader never sees half a report. */
#ifndef EVONET_REPORT_H
#define EVONET_REPORT_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "evonet/metrics.h"
#include "evonet/status.h"

/* v with thousands separators, 63767232 -> "63,767,232" (as the paper's tables print counts). */
void ev_fmt_count(char *out, size_t cap, uint64_t v);

/* One network of the run: the ancestor (generation 1) or one offspring of a generation. */
typedef struct {
  int generation;                   /* 1 = the ancestor */
  int offspring;                    /* 0 for generation 1; 1..K otherwise */
  bool selected;                    /* became the next ancestor (generation 1: true) */
  uint64_t synapses, params, flops; /* live synapses (biases excluded), parameters, FLOPs/image */
  double efficiency;                /* generation-1 synapses / synapses */
  double infer_ms;                  /* inference ms/image on the device (NaN: not measured) */
  ev_metrics_summary val, test;
  double train_seconds;
  char weights[512]; /* path of the network file */
} ev_gen_record;

/* The run the records come from, printed and stored with the tables. */
typedef struct {
  char device[256];
  double alpha;          /* environmental factor (Eq. 3) */
  char granularity[16];  /* "synapse", "filter", ... */
  char protect[256];     /* layers left out of sampling (comma-separated), "" for none */
  char rule[128];        /* how offspring are made: "paper Eq. 1-4", "budget, temperature 0.5,
                            network Z", "magnitude pruning", ...; "" = not said */
  char training[128];    /* how offspring are trained: "inherited weights, lr 0.0003", ... */
  char epochs[64];       /* epochs per generation when they differ ("2, 2, 5"); "" otherwise */
  int offspring_per_gen, epochs_per_gen, size; /* size: input is size × size */
  double width;          /* channel-width multiplier of the ancestor (saliency network) */
  char arch[256];        /* the ancestor's architecture file (--arch), "" for the saliency network */
  uint64_t seed;
  char dataset[512];
  double seconds;        /* wall time of the whole run */
} ev_run_info;

/* File names inside a report folder. ev_report_write links the figures from report.md when
 * they exist there, so write the figures first. */
#define EV_REPORT_JSON "report.json"
#define EV_REPORT_CSV "report.csv"
#define EV_REPORT_MD "report.md"
#define EV_REPORT_PLOT "generations.png"
#define EV_REPORT_GRID "saliency.png"
#define EV_REPORT_CONFUSION "confusion.png" /* classification runs */

/* Table 1 of the paper as aligned text: Generation | Number of synapses | Architectural
 * efficiency | F-beta (max-F) | MAE | adaptive F | params | MFLOPs | ms/image | val max-F.
 * F and MAE are the test set's. A generation > 1 is written "g.k" (offspring k); the
 * selected offspring (the next ancestor) carries '*'; offspring not selected are shown too.
 * Counts have thousands separators ("63,767,232"), efficiency two decimals ("4.12x").
 * info (may be NULL) is printed above the table. n <= 0 prints a one-line notice. */
void ev_report_print_table(FILE *f, const ev_run_info *info, const ev_gen_record *r, int n);
/* The same table in Markdown (pipes), with the run description as a list above it. */
void ev_report_print_markdown(FILE *f, const ev_run_info *info, const ev_gen_record *r, int n);

/* Writes into `dir` (made if missing):
 *   report.json  {"run": info, "records": [...]}: every field of every record; the metric
 *                summaries as {"mae", "adaptive_f", "max_f", "mean_f", "n_images"};
 *                doubles round-trip exactly, NaN/inf become null; counts are numbers
 *                (exact below 2^53), the seed a decimal string (it uses all 64 bits);
 *   report.csv   a header row, then one row per record, in the order given (numbers as
 *                in the JSON, NaN as an empty field; the weights path quoted if needed);
 *   report.md    the Markdown table, the run description, links to the figures present.
 * EV_ERR_ARG for n <= 0 or NULL pointers (info may be NULL), EV_ERR_IO if `dir` can't be
 * made or written. */
ev_status ev_report_write(const char *dir, const ev_run_info *info, const ev_gen_record *r,
                          int n);

/* Geometry of the saliency grid. The PNG is width × height; columns are image, ground
 * truth, then one per generation; the cell of (row, col) has its top-left corner at
 * (x0 + col·(cell + 2), y0 + row·(cell + 2)), so
 *   width  = 2 + (n_gens + 2)·(cell + 2)
 *   height = y0 + n_rows·(cell + 2),  y0 = header height (column headers, wrapped to
 *            `header_lines` lines of the built-in font at integer scale `text_scale`). */
typedef struct {
  int width, height, x0, y0, text_scale, header_lines;
} ev_grid_layout;
ev_status ev_figure_saliency_grid_layout(int n_rows, int n_gens, const char *const *gen_labels,
                                         int cell, ev_grid_layout *out);

/* Figure-4-style grid: rows = test images; columns = image | ground truth | one saliency
 * map per generation (gray). Column headers ("Image", "Ground truth", gen_labels[g], or
 * "Generation g+1" when gen_labels is NULL) above the columns; cells are cell × cell
 * (bilinear resampling, ev_resample_*), 2-px white gaps. images: n_rows RGB uint8
 * (S, S, 3); gts: n_rows float (S, S) in [0,1]; maps[g][row]: float (S, S) in [0,1] for
 * g < n_gens. A value v becomes the gray (uint8)(clamp(v, 0, 1)·255 + 0.5) after
 * resampling; maps are shown as they are (not min-max normalised). RGB PNG, atomic.
 * cell in [16, 1024]. */
ev_status ev_figure_saliency_grid(const char *path, int S, int n_rows,
                                  const uint8_t *const *images, const float *const *gts,
                                  int n_gens, const float *const *const *maps,
                                  const char *const *gen_labels, int cell);

/* Per generation 1..n: max-F (left axis, linear, blue #1f77b4 circles) and synapses (right
 * axis, log10 with decade labels 1M, 10M, ..., orange #ff7f0e squares) as two line series
 * with markers, axes with ticks and numbers, a legend and a title (may be NULL; shrunk,
 * then cut, to fit). RGB PNG (960 × 540), atomic. max_f must be finite; a synapse count
 * of 0 is drawn at the bottom of the log axis. */
ev_status ev_figure_generations_plot(const char *path, int n, const double *max_f,
                                     const uint64_t *synapses, const char *title);

/* One method's curve in the comparison plot: n points (one per generation), each the mean
 * over seeds of the synapse count and of test max-F, with the spread (min and max over seeds)
 * of max-F drawn as a vertical bar. */
typedef struct {
  const char *label;          /* legend text, e.g. "evolved (budget rule)" */
  int n;                      /* points, >= 1 */
  const double *synapses;     /* x: mean synapses per point, > 0 */
  const double *f_mean, *f_lo, *f_hi; /* y: mean, min, max test max-F (f_lo <= f_mean <= f_hi) */
} ev_compare_series;

/* Test max-F (linear y axis) against synapses (x axis, log10 with decade labels 1k, 10k,
 * 100k, 1M ...), one line with markers per series (up to 6 series, distinct colours and
 * marker shapes: disc, square, alternating), min-max error bars at every point, a legend and
 * a title (may be NULL). Optional horizontal dashed reference line at y = ref_f with label
 * ref_label (skip when ref_label is NULL). RGB PNG 960x540, written atomically like the
 * other figures. EV_ERR_ARG for NULL path/series, n_series outside 1..6, any point with
 * n < 1, non-finite values or synapses <= 0. */
ev_status ev_figure_compare_plot(const char *path, int n_series, const ev_compare_series *series,
                                 double ref_f, const char *ref_label, const char *title);
#endif
