/* Push constants of the basic kernels (push.h explains the scheme); copy and texel_copy
 * use ev_push_flat (push/eltwise.h). */
#ifndef EV_PUSH_BASIC_H
#define EV_PUSH_BASIC_H
#include "push/push.h"

#define EV_PUSH_axpb(F) F(uint, n) F(float, b) /* a: a specialization constant */
EV_PUSH_STRUCT(axpb)

#define EV_PUSH_reduce_sum(F) F(uint, n)
EV_PUSH_STRUCT(reduce_sum)

#define EV_PUSH_gemm_small(F) F(int, M) F(int, N) F(int, K)
EV_PUSH_STRUCT(gemm_small)
#endif
