/* Optimiser steps over flat float arrays of any length n (a weight, bias or BN parameter),
 * fused with an optional synapse mask (float 1 = keep, 0 = removed; the weight's layout):
 * the gradient, the optimiser state and the new weight are selected by the mask, so a
 * removed synapse is exactly +0.0 after every step (even if its gradient is Inf/NaN).
 * Hyper-parameters travel as push constants: a schedule changes lr and step per call
 * without building a pipeline.
 *
 * SGD (PyTorch: momentum, dampening 0, no Nesterov; the state must start at zero):
 *   g = grad + wd * w;  buf = momentum * buf + g;  w = w - lr * buf
 * Adam (PyTorch, amsgrad off, weight decay as L2 added to the gradient; state starts at zero):
 *   g = grad + wd * w;  m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
 *   w = w - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
 * With a mask, g, buf / m / v and w are set to 0 where mask == 0. */
#ifndef EVONET_OPS_OPTIM_H
#define EVONET_OPS_OPTIM_H
#include "evonet/gpu.h"

typedef struct {
  float lr, momentum, weight_decay;
} ev_sgd_params;

typedef struct {
  float lr, beta1, beta2, eps, weight_decay;
  int step; /* 1 on the first step */
} ev_adam_params;

/* w, grad, buf (momentum), mask (or NULL): float[n]; w and buf are updated in place. */
ev_status ev_sgd_step(ev_stream *s, const ev_sgd_params *p, ev_buf *w, ev_buf *grad, ev_buf *buf,
                      ev_buf *mask, uint64_t n);
/* w, grad, m, v, mask (or NULL): float[n]; w, m, v are updated in place. */
ev_status ev_adam_step(ev_stream *s, const ev_adam_params *p, ev_buf *w, ev_buf *grad, ev_buf *m, ev_buf *v,
                       ev_buf *mask, uint64_t n);

/* References in float, in PyTorch's operation order. */
void ev_sgd_step_ref(const ev_sgd_params *p, float *w, const float *grad, float *buf, const float *mask, uint64_t n);
void ev_adam_step_ref(const ev_adam_params *p, float *w, const float *grad, float *m, float *v, const float *mask,
                      uint64_t n);
#endif
