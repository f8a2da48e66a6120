/* Push constants of upsample_fwd and upsample_bwd (push.h explains the scheme): the small
 * side (N, H, W, Q texels), the big side (OH, OW) and the source scales H/OH, W/OW. */
#ifndef EV_PUSH_UPSAMPLE_H
#define EV_PUSH_UPSAMPLE_H
#include "push/push.h"

#define EV_PUSH_upsample(F) \
  F(int, N) F(int, H) F(int, W) F(int, Q) F(int, OH) F(int, OW) F(float, scale_h) F(float, scale_w)
EV_PUSH_STRUCT(upsample)
#endif
