/* Training: options, learning-rate schedules, the loop with checkpoints and resume,
 * evaluation, and progress output. */
#ifndef EVONET_TRAIN_H
#define EVONET_TRAIN_H
#include <stdbool.h>
#include <stdio.h>

#include "evonet/class_metrics.h"
#include "evonet/clock.h" /* ev_now, for the progress lines and timings */
#include "evonet/data.h"
#include "evonet/gpu.h"
#include "evonet/metrics.h"
#include "evonet/weights.h"

typedef enum { EV_OPT_SGD, EV_OPT_ADAM } ev_optimizer;
typedef enum { EV_SCHED_CONST, EV_SCHED_STEP, EV_SCHED_COSINE } ev_schedule;

typedef struct {
  int epochs, batch, size;
  ev_optimizer optimizer;
  float lr, momentum, weight_decay, beta1, beta2, eps;
  ev_schedule schedule;
  int warmup_epochs;      /* linear warm-up from lr/10 */
  int step_every;         /* EV_SCHED_STEP: multiply by step_gamma every step_every epochs */
  float step_gamma;
  float fg_weight;        /* class weight of the salient class (background 1); 0 = 1 */
  const ev_net_weights *teacher; /* knowledge distillation (2-class networks): with distill > 0 */
  float distill;          /* the target is (1 - distill) * ground truth + distill * the teacher's
                             probability on the same augmented batch (0: ground truth only) */
  uint64_t seed;
  bool augment;
  const char *out_dir;    /* checkpoint.safetensors, net.safetensors, history.json */
  bool resume;            /* continue from out_dir/checkpoint.safetensors */
  bool quiet;             /* no progress output */
  const char *label;      /* prefix of progress lines (e.g. "gen 2") */
} ev_train_options;

void ev_train_defaults(ev_train_options *o);
/* Learning rate at a fractional epoch position (epoch + batch/batches). */
float ev_lr_at(const ev_train_options *o, double epoch_pos);
const char *ev_optimizer_name(ev_optimizer o);
const char *ev_schedule_name(ev_schedule s);
ev_status ev_optimizer_from_name(const char *s, ev_optimizer *o);
ev_status ev_schedule_from_name(const char *s, ev_schedule *o);

typedef struct {
  int epochs_done;
  double last_loss;
  ev_metrics_summary val;     /* after the last epoch (if a val set was given) */
  double train_img_s;         /* median over the run's steps */
  double seconds;
} ev_train_result;

/* Trains `w` in place (weights, BN statistics; masks are respected and kept). With
 * o->out_dir, writes a checkpoint after every epoch (atomically) and net.safetensors at
 * the end; with o->resume, continues after the last finished epoch. A NaN/Inf loss stops
 * with EV_ERR_ARG and leaves the last good checkpoint in place. */
ev_status ev_train(ev_gpu *g, ev_net_weights *w, const ev_dataset *train, const ev_dataset *val,
                   const ev_train_options *o, ev_train_result *res);

typedef struct {
  ev_metrics_summary m;
  double infer_ms_per_image;  /* median forward time per image on the device */
  uint64_t synapses, params, flops;
  ev_class_metrics cls;       /* classification: the counts behind m (confusion matrix); else empty */
} ev_eval_result;

/* Metrics of `w` on a dataset at size×size, batch `batch`. The dataset must fit the network's
 * task (labelled images for a classification network, pairs for a saliency one). */
ev_status ev_evaluate(ev_gpu *g, const ev_net_weights *w, const ev_dataset *ds, int size, int batch,
                      ev_eval_result *out);
void ev_eval_result_free(ev_eval_result *r);
/* Whether a dataset fits a network: labels for classification (with the network's classes
 * and input channels), masks for saliency; EV_ERR_ARG saying which otherwise. */
ev_status ev_check_task(const ev_net_spec *spec, const ev_dataset *ds);

/* ---- progress (stderr): a bar on a terminal, plain lines otherwise ---- */
typedef struct {
  FILE *f;
  bool tty, quiet;
  double t0, last_print;
  char label[64];
} ev_progress;
void ev_progress_init(ev_progress *p, const char *label, bool quiet);
void ev_progress_batch(ev_progress *p, int epoch, int epochs, size_t batch, size_t batches, double loss,
                       double img_s, double eta_s);
void ev_progress_line(ev_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Median of v[0..n) (sorts v; the mean of the middle two for even n). */
double ev_median(double *v, int n);
#endif
