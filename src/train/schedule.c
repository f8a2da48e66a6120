/* Optimiser and learning-rate schedule names and values. */
#include <math.h>
#include <string.h>

#include "evonet/train.h"

void ev_train_defaults(ev_train_options *o) {
  memset(o, 0, sizeof *o);
  o->epochs = 60, o->batch = 8, o->size = 128;
  o->optimizer = EV_OPT_ADAM;
  o->lr = 1e-3f, o->momentum = 0.9f, o->weight_decay = 0, o->beta1 = 0.9f, o->beta2 = 0.999f, o->eps = 1e-8f;
  o->schedule = EV_SCHED_COSINE;
  o->warmup_epochs = 0, o->step_every = 10, o->step_gamma = 0.1f;
  o->fg_weight = 0;
  o->seed = 1;
  o->augment = true;
}

float ev_lr_at(const ev_train_options *o, double pos) {
  double lr = o->lr;
  if (o->warmup_epochs > 0 && pos < o->warmup_epochs) /* linear from lr/10 */
    return (float)(lr * (0.1 + 0.9 * pos / o->warmup_epochs));
  switch (o->schedule) {
  case EV_SCHED_CONST: break;
  case EV_SCHED_STEP: lr *= pow(o->step_gamma, floor(pos / (o->step_every > 0 ? o->step_every : 1))); break;
  case EV_SCHED_COSINE: {
    double span = o->epochs - o->warmup_epochs, t = span > 0 ? (pos - o->warmup_epochs) / span : 1;
    if (t > 1) t = 1;
    lr *= 0.5 * (1 + cos(3.14159265358979323846 * t));
    break;
  }
  }
  return (float)lr;
}

const char *ev_optimizer_name(ev_optimizer o) { return o == EV_OPT_SGD ? "sgd" : "adam"; }
const char *ev_schedule_name(ev_schedule s) {
  return s == EV_SCHED_CONST ? "const" : s == EV_SCHED_STEP ? "step" : "cosine";
}

ev_status ev_optimizer_from_name(const char *s, ev_optimizer *o) {
  if (!strcmp(s, "sgd")) *o = EV_OPT_SGD;
  else if (!strcmp(s, "adam")) *o = EV_OPT_ADAM;
  else return ev_fail(EV_ERR_ARG, "unknown optimizer '%s' (sgd or adam)", s);
  return EV_OK;
}

ev_status ev_schedule_from_name(const char *s, ev_schedule *o) {
  if (!strcmp(s, "const")) *o = EV_SCHED_CONST;
  else if (!strcmp(s, "step")) *o = EV_SCHED_STEP;
  else if (!strcmp(s, "cosine")) *o = EV_SCHED_COSINE;
  else return ev_fail(EV_ERR_ARG, "unknown schedule '%s' (const, step or cosine)", s);
  return EV_OK;
}
