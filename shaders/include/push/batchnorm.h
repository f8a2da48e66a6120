/* Push constants of the batch-norm kernels (push.h explains the scheme): P pixels, Q channel
 * texels, C channels, chunks of L pixels. */
#ifndef EV_PUSH_BATCHNORM_H
#define EV_PUSH_BATCHNORM_H
#include "push/push.h"

/* bn_stats, bn_bwd_reduce */
#define EV_PUSH_bn_reduce(F) F(uint, P) F(uint, Q) F(uint, L) F(uint, chunks)
EV_PUSH_STRUCT(bn_reduce)

#define EV_PUSH_bn_combine(F) \
  F(uint, P) F(uint, Q) F(uint, L) F(uint, chunks) F(float, momentum) F(float, eps) F(uint, C)
EV_PUSH_STRUCT(bn_combine)

#define EV_PUSH_bn_bwd_combine(F) F(uint, P) F(uint, Q) F(uint, L) F(uint, chunks) F(uint, C)
EV_PUSH_STRUCT(bn_bwd_combine)

#define EV_PUSH_bn_affine(F) F(uint, P) F(uint, Q)
EV_PUSH_STRUCT(bn_affine)

#define EV_PUSH_bn_bwd_dx(F) F(uint, P) F(uint, Q) F(float, inv_p)
EV_PUSH_STRUCT(bn_bwd_dx)

#define EV_PUSH_bn_infer_params(F) F(uint, Q) F(uint, C) F(float, eps)
EV_PUSH_STRUCT(bn_infer_params)
#endif
