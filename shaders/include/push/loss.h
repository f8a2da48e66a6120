/* Push constants of the loss kernels (push.h explains the scheme): P pixels, Q logit texels
 * per pixel, C classes, chunks of L pixels. */
#ifndef EV_PUSH_LOSS_H
#define EV_PUSH_LOSS_H
#include "push/push.h"

#define EV_PUSH_softmax_ce_fwd(F) F(uint, P) F(uint, Q) F(uint, C) F(uint, L) F(uint, chunks)
EV_PUSH_STRUCT(softmax_ce_fwd)

#define EV_PUSH_softmax_ce_combine(F) F(uint, chunks)
EV_PUSH_STRUCT(softmax_ce_combine)

#define EV_PUSH_softmax_ce_bwd(F) F(uint, P) F(uint, Q) F(uint, C)
EV_PUSH_STRUCT(softmax_ce_bwd)

#define EV_PUSH_distill_target(F) F(uint, n) F(float, lambda)
EV_PUSH_STRUCT(distill_target)
#endif
