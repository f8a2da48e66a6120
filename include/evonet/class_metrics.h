/* Classification metrics: top-1 / top-5 accuracy, mean cross-entropy, the confusion matrix
 * and per-class accuracy over images whose network output is C logits, with their JSON and
 * a confusion-matrix figure.
 *
 * Definitions, per image with logits x[0..C) and label y:
 *   rank: class j comes before class i when x[j] > x[i], or x[j] == x[i] and j < i (ties go
 *         to the lower index, as torch.argmax and torch.topk on the CPU pick the first
 *         maximum); NaN ranks above every number (as in torch) and NaNs tie with each other;
 *   predicted class = the first in rank (argmax); top-1 hit: predicted == y;
 *   top-5 hit: fewer than k classes come before y, k = min(5, C) (so with C <= 5 every
 *         image is a top-5 hit);
 *   loss = -log softmax(x)[y] = m + log(sum_c exp(x[c] - m)) - x[y], m = max x, in double
 *         from the float logits (log-sum-exp, stable for large logits; non-finite logits
 *         give a NaN or infinite loss, as F.cross_entropy does);
 *   confusion[y·C + predicted] counts the image.
 * Sums are integers except the loss, so adding and merging in any order gives the same
 * counts (the loss can differ in its last bits). */
#ifndef EVONET_CLASS_METRICS_H
#define EVONET_CLASS_METRICS_H
#include <stdint.h>

#include "evonet/status.h"

#define EV_CLASS_MAX 65536 /* C above this: the (C, C) confusion matrix alone is 32 GiB */
#define EV_CLASS_TOPK 5

typedef struct {
  int classes;         /* C in [2, EV_CLASS_MAX] */
  uint64_t n;          /* images added */
  uint64_t top1, top5; /* images whose label is the argmax / among the k = min(5, C) first */
  uint64_t *confusion; /* (C, C): [true label][predicted class], malloc'd */
  double loss_sum;     /* sum of the per-image cross-entropy */
} ev_class_metrics;

/* Zero counts for `classes` classes. EV_ERR_ARG for classes outside [2, EV_CLASS_MAX],
 * EV_ERR_OOM if the confusion matrix can't be allocated (m is then safe to free). */
ev_status ev_class_metrics_init(ev_class_metrics *m, int classes);
void ev_class_metrics_free(ev_class_metrics *m);
/* One image: logits (C contiguous floats) and its label in [0, C). A label outside that
 * range is the caller's bug: asserted, and the image is left out in builds without asserts
 * (never a write out of bounds). */
void ev_class_metrics_add(ev_class_metrics *m, const float *logits, int32_t label);
/* Adds from's counts into `into`; both must have the same number of classes (asserted). */
void ev_class_metrics_merge(ev_class_metrics *into, const ev_class_metrics *from);

typedef struct {
  uint64_t n;
  double top1, top5, loss; /* accuracies in [0, 1]; mean loss. NaN when n == 0 */
  double mean_class_acc;   /* mean over the classes that have images of their accuracy
                              (balanced accuracy); NaN when n == 0 */
} ev_class_summary;
void ev_class_metrics_result(const ev_class_metrics *m, ev_class_summary *out);
/* Accuracy (recall) of class c: its correctly predicted images / its images; NaN if it has
 * no images or c is outside [0, C). */
double ev_class_metrics_class_acc(const ev_class_metrics *m, int c);

/* A cJSON object (the caller owns it; NULL when out of memory):
 *   {"images": n, "top1", "top5", "top5_k": k, "loss", "mean_class_accuracy",
 *    "classes": [{"name", "images", "accuracy"}, ...],   one per class, in index order
 *    "confusion": [[...], ...]}                           C rows of C counts, [true][predicted]
 * Doubles are printed so that they read back exactly; NaN (no images) is null. Counts are
 * exact integers. names (may be NULL, or hold NULL entries) gives class names; the decimal
 * index "0".."C-1" otherwise. */
struct cJSON;
struct cJSON *ev_class_metrics_json(const ev_class_metrics *m, const char *const *names);

/* The confusion matrix as a figure: a C x C grid (rows: true class, columns: predicted class),
 * each cell coloured by its row-normalised count (white at 0 -> dark blue at 1, a row
 * without images stays white), the count printed in each cell while C <= 20 and the count
 * fits, class names on both axes (cut to 14 characters with ".."; when the cells are too
 * small for every name, every k-th), a colour bar, and a title line (NULL: "top-1 x %,
 * top-5 y %, n images"). RGB PNG written atomically (ev_png_write). Cells are 720 / C pixels,
 * at most 64 and at least 1, so the figure stays within the canvas limit up to 7000 classes;
 * more is EV_ERR_ARG, as are a NULL path or m. EV_ERR_IO naming the path when it can't be
 * written. */
ev_status ev_class_confusion_png(const char *path, const ev_class_metrics *m,
                                 const char *const *names, const char *title);
#endif
