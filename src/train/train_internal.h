/* Shared by the files of src/train. */
#ifndef EVONET_TRAIN_INTERNAL_H
#define EVONET_TRAIN_INTERNAL_H
#include "evonet/model.h"
#include "evonet/train.h"

/* Metrics of the model's current parameters (inference mode) on a dataset. */
ev_status ev_eval_with_model(ev_model *m, const ev_dataset *ds, int size, ev_metrics *acc);
/* Median forward+softmax time per image over `reps` runs on the model's current input. */
ev_status ev_time_forward(ev_model *m, int reps, double *ms_per_image);
#endif
