/* Batch normalisation over N, H, W per channel of an NHWC-C4 tensor, PyTorch's
 * BatchNorm2d semantics:
 *   training:  mean, var = batch mean and BIASED variance over the P = N*H*W pixels;
 *              y = (x - mean) / sqrt(var + eps) * gamma + beta;
 *              running_mean = (1 - momentum) * running_mean + momentum * mean,
 *              running_var  = (1 - momentum) * running_var  + momentum * var * P / (P - 1);
 *   inference: the same y with running_mean / running_var.
 * The per-channel reductions are split over pixel chunks (each invocation sums a chunk
 * serially, mean and centred squares in two sweeps over its chunk) and combined in a fixed
 * order (Chan's parallel variance), so results are deterministic and stable for |mean| >> std.
 *
 * Buffers: gamma, beta, running_mean, running_var, dgamma, dbeta: float[C4] (padding entries
 * zero; running stats' padding entries are left as they are).
 * save: float[ev_bn_save_floats(C)] = [mean | invstd | gamma*invstd | beta], each C4 long,
 *       written by the forward and read by the backward.
 * scratch: float[ev_bn_scratch_floats(...)] of per-chunk partial sums. */
#ifndef EVONET_OPS_BATCHNORM_H
#define EVONET_OPS_BATCHNORM_H
#include "evonet/ops/act.h"
#include "evonet/tensor.h"

typedef struct {
  ev_buf *gamma, *beta;               /* float[C4] */
  ev_buf *running_mean, *running_var; /* float[C4] */
  float momentum, eps;                /* PyTorch's defaults: 0.1, 1e-5 */
} ev_bn_params;

static inline uint64_t ev_bn_save_floats(int c) { return 4ull * ev_c4(c); }
uint64_t ev_bn_scratch_floats(int n, int h, int w, int c);

/* x, y: (N, H, W, C). Needs P > 1 (like PyTorch). y may be x (in place), but the backward
 * needs the forward's input, so in place only when no backward follows. */
ev_status ev_bn_forward_train(ev_stream *s, const ev_bn_params *p, ev_tensor *x, ev_buf *save,
                              ev_buf *scratch, ev_tensor *y);
/* Inference with the running statistics; `save` receives their [mean | invstd | a | b]. */
ev_status ev_bn_forward_infer(ev_stream *s, const ev_bn_params *p, ev_tensor *x, ev_buf *save, ev_tensor *y);
/* The same with the following activation fused (y = act(batchnorm(x)) in one pass; act:
 * evonet/ops/act.h, NULL: none). */
ev_status ev_bn_forward_train_act(ev_stream *s, const ev_bn_params *p, ev_tensor *x, ev_buf *save,
                                  ev_buf *scratch, const ev_act *act, ev_tensor *y);
ev_status ev_bn_forward_infer_act(ev_stream *s, const ev_bn_params *p, ev_tensor *x, ev_buf *save,
                                  const ev_act *act, ev_tensor *y);
/* Backward of the training forward: x its input, dy the output gradient, save its record.
 * dx: (N, H, W, C) (may be dy: in place), dgamma = sum dy * xhat, dbeta = sum dy (overwritten). */
ev_status ev_bn_backward(ev_stream *s, const ev_bn_params *p, ev_tensor *x, ev_tensor *dy, ev_buf *save,
                         ev_buf *scratch, ev_tensor *dx, ev_buf *dgamma, ev_buf *dbeta);

/* References on NHWC-C4 double arrays; per-channel arrays are C4 long. mean/invstd: out. */
void ev_bn_forward_train_ref(const double *x, int n, int h, int w, int c, const double *gamma,
                             const double *beta, double *running_mean, double *running_var,
                             double momentum, double eps, double *y, double *mean, double *invstd);
void ev_bn_forward_infer_ref(const double *x, int n, int h, int w, int c, const double *gamma,
                             const double *beta, const double *running_mean, const double *running_var,
                             double eps, double *y);
void ev_bn_backward_ref(const double *x, const double *dy, int n, int h, int w, int c, const double *gamma,
                        const double *mean, const double *invstd, double *dx, double *dgamma, double *dbeta);
#endif
