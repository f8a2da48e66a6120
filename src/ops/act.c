/* Activation names, checks and the double references (evonet/ops/act.h). */
#include "evonet/ops/act.h"

#include <math.h>

static const char *const k_names[EV_ACT_KINDS] = {"none", "relu", "leaky_relu", "tanh"};

const char *ev_act_name(ev_act_kind kind) {
  return (unsigned)kind < EV_ACT_KINDS ? k_names[kind] : "?";
}

int ev_act_parse(const char *name) {
  for (int i = 0; name && i < EV_ACT_KINDS; i++)
    if (strcmp(name, k_names[i]) == 0) return i;
  return -1;
}

ev_status ev_act_check(const char *op, const ev_act *a) {
  if (!a) return EV_OK;
  if ((unsigned)a->kind >= EV_ACT_KINDS) return ev_fail(EV_ERR_ARG, "%s: unknown activation %d", op, (int)a->kind);
  /* alpha > 0 keeps the sign of z, so the backward can read it from y */
  if (a->kind == EV_ACT_LEAKY_RELU && !(isfinite(a->alpha) && a->alpha > 0))
    return ev_fail(EV_ERR_ARG, "%s: the leaky ReLU's alpha must be a finite number > 0 (got %g)", op, (double)a->alpha);
  return EV_OK;
}

double ev_act_fwd_ref(const ev_act *a, double z) {
  switch (a ? a->kind : EV_ACT_NONE) {
  case EV_ACT_RELU: return z > 0 ? z : 0.0;
  case EV_ACT_LEAKY_RELU: return z > 0 ? z : (double)a->alpha * z;
  case EV_ACT_TANH: return tanh(z);
  default: return z;
  }
}

double ev_act_bwd_ref(const ev_act *a, double y, double dy) {
  switch (a ? a->kind : EV_ACT_NONE) {
  case EV_ACT_RELU: return y > 0 ? dy : 0.0;
  case EV_ACT_LEAKY_RELU: return y > 0 ? dy : (double)a->alpha * dy;
  case EV_ACT_TANH: return dy * (1.0 - y * y);
  default: return dy;
  }
}

void ev_act_forward_ref(const ev_act *a, const double *z, double *y, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) y[i] = ev_act_fwd_ref(a, z[i]);
}

void ev_act_backward_ref(const ev_act *a, const double *y, const double *dy, double *dz, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) dz[i] = ev_act_bwd_ref(a, y[i], dy[i]);
}
