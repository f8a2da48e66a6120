/* Push constants of the element-wise kernels (push.h explains the scheme). */
#ifndef EV_PUSH_ELTWISE_H
#define EV_PUSH_ELTWISE_H
#include "push/push.h"

/* flat passes over n4 vec4s: act_fwd, act_bwd, add, add_into, copy, texel_copy (and any
 * new element-wise op: docs/ADDING_AN_OP.md) */
#define EV_PUSH_flat(F) F(uint, n4)
EV_PUSH_STRUCT(flat)

/* concat_fwd: npix pixels, qout texels and cout channels of the output; per input slot its
 * channel offset (cout: unused slot) and padded channel count */
#define EV_PUSH_concat_fwd(F) F(uint, npix) F(uint, qout) F(uint, cout) F(uint, unused) F(ivec4, off) F(ivec4, c4in)
EV_PUSH_STRUCT(concat_fwd)
EV_PUSH_ASSERT_ALIGNED(concat_fwd, off, 16)
EV_PUSH_ASSERT_ALIGNED(concat_fwd, c4in, 16)

/* concat_fwd_q: one input of qin texels per pixel at texel off4 of qout */
#define EV_PUSH_concat_fwd_q(F) F(int, npix) F(int, qin) F(int, qout) F(int, off4)
EV_PUSH_STRUCT(concat_fwd_q)

/* concat_bwd: one input's gradient (qin texels, cin channels) from channel off of dy */
#define EV_PUSH_concat_bwd(F) F(uint, npix) F(uint, qin) F(uint, cin) F(uint, off) F(uint, c4out)
EV_PUSH_STRUCT(concat_bwd)

/* concat_bwd_q: the same from texel off4 of dy's qout */
#define EV_PUSH_concat_bwd_q(F) F(int, npix) F(int, qin) F(int, qout) F(int, off4) F(int, cin)
EV_PUSH_STRUCT(concat_bwd_q)
#endif
