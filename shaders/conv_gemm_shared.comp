#version 450
// Implicit-GEMM convolution, shared-memory tiled (discrete / integrated GPUs); geometry in
// gemm_conv.glsl. src: (NB, HS, WS, 4*KS4) texels; w: (cols, KH, KW, 4*KS4) texels;
// bias: float[CD4]; out: (NB, HO, WO, CD4) floats.  groups = (m-tiles x column tiles, phases).
//
// A workgroup of LX x LY threads computes a BM x BN tile (BM = TM*LY rows, BN = TN*LX
// columns); each thread a TM x TN block of consecutive rows ty*TM.. and columns tx*TN.., read
// from shared memory as vec4s (TM, TN multiples of 4): one 16-byte load feeds 4 multiply-adds
// per row or column, where scalar loads fed one. K advances BK4 texels (4*BK4 k) at a time;
// the flat k-texel index decodes to (tap, channel texel). The host guarantees LX % TM == 0
// and LY % TN == 0 (each thread then always loads the same A row and B column) and that the
// tiles fit the device's shared memory.
layout(local_size_x_id = 100, local_size_y_id = 101) in;
layout(constant_id = 0) const int TM = 4;
layout(constant_id = 1) const int TN = 4;
layout(constant_id = 2) const int BK4 = 4;
layout(constant_id = 3) const int HAS_BIAS = 0;
layout(constant_id = 4) const int ACT = 0;   // ev_act_kind (act.glsl), applied after the bias
layout(constant_id = 5) const float ACT_ALPHA = 0.0;
#include "act.glsl"
#include "gemm_conv.glsl"
layout(binding = 0) uniform samplerBuffer A;
layout(binding = 1) uniform samplerBuffer B;
layout(std430, binding = 2) readonly buffer BiasB { float bias[]; };
layout(std430, binding = 3) writeonly buffer OutB { float outv[]; };

const int LX = int(gl_WorkGroupSize.x), LY = int(gl_WorkGroupSize.y);
const int BM = TM * LY, BN = TN * LX, NT = LX * LY;
const int TM4 = TM / 4, TN4 = TN / 4;
shared vec4 As[BK4 * 4][BM / 4]; // As[k][r / 4][r % 4] = A(row m0 + r, k)
shared vec4 Bs[BK4 * 4][BN / 4];

void main() {
  int tx_ = int(gl_LocalInvocationID.x), ty_ = int(gl_LocalInvocationID.y);
  int tid = ty_ * LX + tx_;
  int ry = int(gl_WorkGroupID.z) / pc.BW, rx = int(gl_WorkGroupID.z) % pc.BW;
  int qh = phase_count(pc.HO, pc.BH, ry), qw = phase_count(pc.WO, pc.BW, rx);
  int M = pc.NB * qh * qw;
  int m0 = tile_m() * BM, n0 = tile_n() * BN;
  if (m0 >= M || qh <= 0 || qw <= 0) return; // whole workgroup: uniform

  Taps ty = axis_taps(pc.C0H, pc.C1H, pc.SDH, pc.KH, ry);
  Taps tx = axis_taps(pc.C0W, pc.C1W, pc.SDW, pc.KW, rx);
  int ks = pc.KS4, ktex = ty.n * tx.n * ks;

  // the A row and B column this thread loads (fixed: NT is a multiple of BM and of BN)
  int arow = tid % BM, bcol = tid % BN;
  int m = min(m0 + arow, M - 1);
  int b = m / (qh * qw), qy = (m / qw) % qh, qx = m % qw;
  int wrow = min(n0 + bcol, pc.CD - 1);

  float acc[TM][TN];
  for (int i = 0; i < TM; i++)
    for (int j = 0; j < TN; j++) acc[i][j] = 0.0;

  for (int k0 = 0; k0 < ktex; k0 += BK4) {
    for (int idx = tid; idx < BM * BK4; idx += NT) {
      int kk = idx / BM, k = k0 + kk;
      vec4 a = vec4(0.0);
      if (k < ktex) {
        int tap = k / ks, ci = k - tap * ks;
        int jy = tap / tx.n, jx = tap - jy * tx.n;
        int sy = qy * pc.AH + ty.off0 + jy * ty.offstep;
        int sx = qx * pc.AW + tx.off0 + jx * tx.offstep;
        if (sy >= 0 && sy < pc.HS && sx >= 0 && sx < pc.WS)
          a = texelFetch(A, ((b * pc.HS + sy) * pc.WS + sx) * ks + ci);
      }
      for (int q = 0; q < 4; q++) As[kk * 4 + q][arow >> 2][arow & 3] = a[q];
    }
    for (int idx = tid; idx < BN * BK4; idx += NT) {
      int kk = idx / BN, k = k0 + kk;
      vec4 w = vec4(0.0);
      if (k < ktex) {
        int tap = k / ks, ci = k - tap * ks;
        int jy = tap / tx.n, jx = tap - jy * tx.n;
        int ky = ty.k0 + jy * ty.kstep, kx = tx.k0 + jx * tx.kstep;
        w = texelFetch(B, wrow * pc.BROW + (ky * pc.KW + kx) * ks + ci);
      }
      for (int q = 0; q < 4; q++) Bs[kk * 4 + q][bcol >> 2][bcol & 3] = w[q];
    }
    barrier();
    for (int kk = 0; kk < BK4 * 4; kk++) {
      vec4 av[TM4], bv[TN4];
      for (int i = 0; i < TM4; i++) av[i] = As[kk][ty_ * TM4 + i];
      for (int j = 0; j < TN4; j++) bv[j] = Bs[kk][tx_ * TN4 + j];
      for (int i = 0; i < TM; i++)
        for (int j = 0; j < TN; j++) acc[i][j] = fma(av[i >> 2][i & 3], bv[j >> 2][j & 3], acc[i][j]);
    }
    barrier();
  }

  for (int i = 0; i < TM; i++) {
    int mr = m0 + ty_ * TM + i;
    if (mr >= M) continue;
    int br = mr / (qh * qw), oy = ((mr / qw) % qh) * pc.BH + ry, ox = (mr % qw) * pc.BW + rx;
    int base = ((br * pc.HO + oy) * pc.WO + ox) * pc.CD4;
    for (int j = 0; j < TN; j++) {
      int col = n0 + tx_ * TN + j;
      if (col >= pc.CD4) continue;
      float v = acc[i][j];
      if (HAS_BIAS != 0) v += bias[col];
      v = act_fwd(ACT, ACT_ALPHA, v);
      outv[base + col] = col < pc.CD ? v : 0.0;
    }
  }
}
