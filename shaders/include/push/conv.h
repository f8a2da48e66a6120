/* Push constants of the convolution kernels (push.h explains the scheme). */
#ifndef EV_PUSH_CONV_H
#define EV_PUSH_CONV_H
#include "push/push.h"

/* conv_gemm_shuffle, conv_gemm_shared: the implicit GEMM's geometry (gemm_conv.glsl, which
 * declares the block as `pc`):
 *   NB, HS, WS, KS4: source batch, height, width, channel texels per pixel;
 *   HO, WO, CD, CD4: output height, width, true and padded channel counts;
 *   KH, KW, BROW: kernel size and B's row stride in texels;
 *   AH, AW, BH, BW: source step per q, output step per q (= number of phases);
 *   C0H, C0W, C1H, C1W, SDH, SDW: tap offsets, steps and divisors (gemm_conv.glsl);
 *   NTN: column tiles (gl_WorkGroupID.y = (m-tile / groups.x) * NTN + column tile);
 *   TGH, TGW, TINVH, TINVW: per axis g = gcd(SD, |C1|) and the inverse of |C1|/g mod SD/g */
#define EV_PUSH_gemm_conv(F)                                                                     \
  F(int, NB) F(int, HS) F(int, WS) F(int, KS4) F(int, HO) F(int, WO) F(int, CD) F(int, CD4)      \
  F(int, KH) F(int, KW) F(int, BROW) F(int, AH) F(int, AW) F(int, BH) F(int, BW)                \
  F(int, C0H) F(int, C0W) F(int, C1H) F(int, C1W) F(int, SDH) F(int, SDW) F(int, NTN)           \
  F(int, TGH) F(int, TGW) F(int, TINVH) F(int, TINVW)
EV_PUSH_STRUCT(gemm_conv)

/* conv_wtranspose: O x T x I weights into I rows of ROW4 texels (O4T, I4T: texels of O, I) */
#define EV_PUSH_conv_wtranspose(F) F(int, O) F(int, I) F(int, T) F(int, O4T) F(int, I4T) F(int, ROW4)
EV_PUSH_STRUCT(conv_wtranspose)

/* conv_sparse: input (N, H, W, QI texels), output (HO, WO, CO channels, QO texels);
 * NT: texels in the taps buffer (a bad header cannot read past it) */
#define EV_PUSH_conv_sparse(F)                                                                   \
  F(int, N) F(int, H) F(int, W) F(int, QI) F(int, HO) F(int, WO) F(int, CO) F(int, QO)           \
  F(int, sh) F(int, sw) F(int, ph) F(int, pw) F(int, NT)
EV_PUSH_STRUCT(conv_sparse)

/* The weight gradient's geometry, the prefix of both GEMM kernels' blocks: R (N, Hr, Wr, Rq
 * texels), C (Hc, Wc, Cq texels), rows/cols the real channel counts of R (O) and C (I),
 * then the conv's kernel, stride, padding and dilation. */
#define EV_PUSH_WGRAD_GEOMETRY_(F)                                                               \
  F(int, N) F(int, Hr) F(int, Wr) F(int, Rq) F(int, Hc) F(int, Wc) F(int, Cq)                   \
  F(int, rows) F(int, cols)                                                                      \
  F(int, kh) F(int, kw) F(int, sh) F(int, sw) F(int, ph) F(int, pw) F(int, dh) F(int, dw)

/* conv_wgrad_shuffle: pblocks per-lane blocks of SG quads, squads shuffled quads; chunk
 * pixels per split-K slice; accumulate (DIRECT only: add into out); tiles in all */
#define EV_PUSH_wgrad_shuffle(F)                                                                 \
  EV_PUSH_WGRAD_GEOMETRY_(F) F(int, pblocks) F(int, squads) F(int, chunk) F(int, accumulate) F(int, tiles)
EV_PUSH_STRUCT(wgrad_shuffle)

/* conv_wgrad_shared */
#define EV_PUSH_wgrad_shared(F) EV_PUSH_WGRAD_GEOMETRY_(F) F(int, chunk) F(int, accumulate)
EV_PUSH_STRUCT(wgrad_shared)

/* conv_wgrad_reduce: total4 vec4s of dw, summed over `splits` slices; cq texels and cols
 * real channels per row */
#define EV_PUSH_wgrad_reduce(F) F(uint, total4) F(uint, splits) F(uint, cq) F(uint, cols) F(uint, accumulate)
EV_PUSH_STRUCT(wgrad_reduce)

/* conv_wgrad_bias: the bias gradient over `pixels` pixels of cq texels, chans channels */
#define EV_PUSH_wgrad_bias(F) F(int, pixels) F(int, cq) F(int, chans) F(int, accumulate)
EV_PUSH_STRUCT(wgrad_bias)
#endif
