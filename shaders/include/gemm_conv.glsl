// Implicit-GEMM geometry shared by conv_gemm_shuffle.comp and conv_gemm_shared.comp.
//
// One kernel computes every conv pass as  out[m][col] = sum_k A[m][k] * B[col][k]  with
//   A = the source activation src (Nb, Hs, Ws, 4*KS4) read as RGBA32F texels,
//   B = weights (cols, kh, kw, 4*KS4) read as texels (OHWI4, or its transpose), one column
//       every BROW texels (>= KH*KW*KS4: the transposed copy pads rows, see conv.c),
//   out (Nb, Ho, Wo, CD4) floats; columns col in [CD, CD4) are written as zero.
// Along each spatial axis, output position  o = q*B + r  (r = phase, gl_WorkGroupID.z) reads
// source position  s = q*A + (c0 + r + k*c1) / sd  for each tap k with (c0 + r + k*c1) % sd == 0:
//   conv-like pass   (conv forward, deconv backward-data): A = stride, B = 1, c0 = -pad,
//                    c1 = dil, sd = 1;
//   adjoint pass     (conv backward-data, deconv forward): A = 1, B = stride, c0 = pad,
//                    c1 = -dil, sd = stride (each phase r sees only its own taps).
// The valid taps of a phase form an arithmetic progression k = k0 + j*kstep, j < nk.

// push constants: ev_push_gemm_conv (push/conv.h), read as pc.NB etc.
#include "push/conv.h"
EV_PUSH_BLOCK_AS(gemm_conv, pc)

// Output tiles of this workgroup (m-tiles wrap from x into y beyond the device's x limit).
int tile_m() { return int(gl_WorkGroupID.x) + int(gl_NumWorkGroups.x) * (int(gl_WorkGroupID.y) / pc.NTN); }
int tile_n() { return int(gl_WorkGroupID.y) % pc.NTN; }

int floordiv(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Taps along one axis for phase r: first tap k0, tap step, count, source offset of the first
// tap and the offset step between taps (all uniform across the dispatch slice).
struct Taps { int k0, kstep, n, off0, offstep; };

Taps axis_taps(int c0, int c1, int sd, int k, int r) {
  Taps t;
  t.k0 = -1;
  for (int i = 0; i < min(k, sd); i++) {
    int v = c0 + r + i * c1;
    if (v - floordiv(v, sd) * sd == 0) { t.k0 = i; break; }
  }
  t.kstep = 1;
  while ((t.kstep * c1) - floordiv(t.kstep * c1, sd) * sd != 0) t.kstep++;
  t.n = t.k0 < 0 ? 0 : (k - t.k0 + t.kstep - 1) / t.kstep;
  t.off0 = t.k0 < 0 ? 0 : floordiv(c0 + r + t.k0 * c1, sd);
  t.offstep = t.kstep * c1 / sd;
  return t;
}

// axis_taps without loops (the loops cost ~1 us per subgroup on lavapipe): the taps k of
// phase r satisfy c0 + r + k*c1 == 0 (mod sd); with c1 = -|c1| (adjoint) or sd = 1 (conv-like),
// g = gcd(sd, |c1|) and inv = (|c1|/g)^-1 mod (sd/g) from the host, k0 = ((c0+r)/g * inv)
// mod (sd/g) when g divides c0 + r (else no tap), kstep = sd/g. Needs c0 + r >= 0 when sd > 1.
Taps axis_taps_fast(int c0, int c1, int sd, int k, int r, int g, int inv) {
  Taps t;
  if (sd == 1) {
    t.k0 = 0, t.kstep = 1, t.n = k, t.off0 = c0 + r, t.offstep = c1;
    return t;
  }
  int v = c0 + r, ks = sd / g;
  int k0 = ((v / g) * inv) % ks;
  bool ok = v - (v / g) * g == 0 && k0 < k;
  t.k0 = ok ? k0 : -1;
  t.kstep = ks;
  t.n = ok ? (k - k0 + ks - 1) / ks : 0;
  t.off0 = ok ? (v + k0 * c1) / sd : 0; // exact: sd divides it
  t.offstep = ks * c1 / sd;
  return t;
}

// Output pixels of phase (ry, rx): m -> (batch, qy, qx), counted as Nb x QH x QW.
int phase_count(int size, int step, int r) { return (size - r + step - 1) / step; }
