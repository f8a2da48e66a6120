/* Push constants of every pooling kernel: maxpool_fwd, maxpool_bwd, maxpool_bwd_x,
 * avgpool_fwd, avgpool_bwd (push.h explains the scheme). Q = C4/4 texels per pixel; rows:
 * avgpool_bwd's input rows per invocation (the others ignore it). */
#ifndef EV_PUSH_POOL_H
#define EV_PUSH_POOL_H
#include "push/push.h"

#define EV_PUSH_pool(F)                                                                          \
  F(int, N) F(int, H) F(int, W) F(int, Q) F(int, OH) F(int, OW) F(int, C) F(int, rows)           \
  F(int, kh) F(int, kw) F(int, sh) F(int, sw) F(int, ph) F(int, pw)
EV_PUSH_STRUCT(pool)
#endif
