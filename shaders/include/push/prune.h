/* Push constants of the pruning baselines' kernels (push.h explains the scheme): the layer
 * (O, I, kh, kw; I4 = C4(I)), its index, the generation and seed, the phase flags and the
 * radix selection state. */
#ifndef EV_PUSH_PRUNE_H
#define EV_PUSH_PRUNE_H
#include "push/push.h"

#define EV_PUSH_prune_hist(F)                                                                    \
  F(uint, O) F(uint, I) F(uint, kh) F(uint, kw) F(uint, I4) F(uint, layer) F(uint, generation)   \
  F(uint, seed_lo) F(uint, seed_hi) F(uint, flags) F(uint, shift) F(uint, pre) F(uint, kfix)     \
  F(uint, total)
EV_PUSH_STRUCT(prune_hist)

#define EV_PUSH_prune_mask(F)                                                                    \
  F(uint, O) F(uint, I) F(uint, kh) F(uint, kw) F(uint, I4) F(uint, layer) F(uint, generation)   \
  F(uint, seed_lo) F(uint, seed_hi) F(uint, flags) F(uint, kfix) F(uint, efix) F(uint, total)    \
  F(uint, nall)
EV_PUSH_STRUCT(prune_mask)
#endif
