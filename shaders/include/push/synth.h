/* Push constants of the synthesis kernels (push.h explains the scheme): layers (O, I, kh,
 * kw; I4 = C4(I)) and their random streams. */
#ifndef EV_PUSH_SYNTH_H
#define EV_PUSH_SYNTH_H
#include "push/push.h"

/* synth_absmax: max |x[e]| over e < n with e % i4 < ireal (and alive, has_mask) */
#define EV_PUSH_synth_absmax(F) F(uint, n) F(uint, i4) F(uint, ireal) F(uint, has_mask)
EV_PUSH_STRUCT(synth_absmax)

#define EV_PUSH_synth_absmax_final(F) F(uint, groups) F(uint, slot)
EV_PUSH_STRUCT(synth_absmax_final)

#define EV_PUSH_synth_count(F) F(uint, O) F(uint, I) F(uint, kh) F(uint, kw) F(uint, I4)
EV_PUSH_STRUCT(synth_count)

#define EV_PUSH_synth_filter_sum(F) \
  F(uint, O) F(uint, I) F(uint, kh) F(uint, kw) F(uint, I4) F(uint, transposed) F(uint, has_mask)
EV_PUSH_STRUCT(synth_filter_sum)

/* synth_philox: n blocks of Philox4x32-10 from counter ctr (x counts up) and key */
#define EV_PUSH_synth_philox(F) F(uvec4, ctr) F(uvec2, key) F(uint, n)
EV_PUSH_STRUCT(synth_philox)
EV_PUSH_ASSERT_ALIGNED(synth_philox, ctr, 16)
EV_PUSH_ASSERT_ALIGNED(synth_philox, key, 8)

/* synth_sample: kbits = K (Eq. 3) or, budget rule, 1/T; sbits: the budget rule's shift
 * (float bits) */
#define EV_PUSH_synth_sample(F)                                                                  \
  F(uint, O) F(uint, I) F(uint, kh) F(uint, kw) F(uint, I4) F(uint, layer) F(uint, generation)   \
  F(uint, offspring) F(uint, seed_lo) F(uint, seed_hi) F(uint, kbits) F(uint, flags)             \
  F(uint, slot) F(uint, nquads) F(uint, npad) F(uint, total) F(uint, sbits)
EV_PUSH_STRUCT(synth_sample)
#endif
