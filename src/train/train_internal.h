/* Shared by the files of src/train. */
#ifndef EVONET_TRAIN_INTERNAL_H
#define EVONET_TRAIN_INTERNAL_H
#include "evonet/model.h"
#include "evonet/train.h"

/* What an evaluation accumulates: saliency metrics or classification counts, by task. */
typedef struct {
  bool classify;
  ev_metrics sal;
  ev_class_metrics cls;
} ev_eval_acc;
ev_status ev_eval_acc_init(ev_eval_acc *a, const ev_net_spec *spec);
void ev_eval_acc_free(ev_eval_acc *a);
void ev_eval_acc_result(const ev_eval_acc *a, ev_metrics_summary *out);

/* Metrics of the model's current parameters (inference mode) on a dataset. */
ev_status ev_eval_with_model(ev_model *m, const ev_dataset *ds, int size, ev_eval_acc *acc);
/* Feeds a loaded batch: labels for classification sets, masks for pairs. */
ev_status ev_model_feed_batch(ev_model *m, const ev_batch *b);
/* Median forward+softmax time per image over `reps` runs on the model's current input. */
ev_status ev_time_forward(ev_model *m, int reps, double *ms_per_image);
#endif
