#version 450
// Implicit-GEMM convolution for CPU Vulkan devices (lavapipe); geometry in gemm_conv.glsl.
// src: (NB, HS, WS, 4*KS4) texels; w: (cols, KH, KW, 4*KS4) texels, rows BROW apart;
// bias: float[CD4]; out: (NB, HO, WO, CD4) floats.  groups = (m-tiles x column tiles, phases).
//
// Why this shape (measured on llvmpipe): a texelFetch costs ~25 cycles per 8 lanes, an SSBO
// or shared load ~180, a constant-lane subgroupShuffle ~2. So each lane fetches texels
// (4 consecutive k) of its own rows; one operand ("shuffled", 8 rows: lane r fetches row r)
// reaches every lane by shuffles from constant lanes, the other ("per-lane", CN rows per
// lane: rows c*SG + l) stays in the lane; each lane keeps 8 x CN accumulators. Borders: the
// source address is clamped and the texel replaced by zero with a select, no branch per
// fetch. The channel loop is unrolled UNR times (2 pays with 8 x 2 accumulators; with 8 x 4
// the extra live registers cost more than the loop overhead saved).
//   SWAP = 0: shuffled = 8 output pixels, per-lane = CN*SG output channels (weights);
//   SWAP = 1: shuffled = 8 output channels, per-lane = CN*SG output pixels.
// The host picks SWAP so that the CN*SG rows fetched together do not all fall into the same
// few L1 sets (rows 4 KiB apart thrash a CPU's L1; see conv.c).
// Correct for any subgroup size SG >= 8 (shuffled rows come from lanes 0..7).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int SG = 8;     // subgroup size the pipeline runs with
layout(constant_id = 1) const int HAS_BIAS = 0;
layout(constant_id = 2) const int RELU = 0;
layout(constant_id = 3) const int CN = 2;     // per-lane rows (accumulator columns)
layout(constant_id = 4) const int SWAP = 0;
layout(constant_id = 5) const int UNR = 2;    // channel loop unroll: 1 or 2
#include "gemm_conv.glsl"
layout(binding = 0) uniform samplerBuffer A;
layout(binding = 1) uniform samplerBuffer B;
layout(std430, binding = 2) readonly buffer BiasB { float bias[]; };
layout(std430, binding = 3) writeonly buffer OutB { float outv[]; };

const int NSG = int(gl_WorkGroupSize.x) / SG;
const int NPIX = SWAP != 0 ? CN : 1;          // source pixels this lane fetches
const int NW = SWAP != 0 ? 1 : CN;            // weight rows this lane fetches
const int PIX_SG = SWAP != 0 ? CN * SG : 8;   // output pixels per subgroup
const int COL_SG = SWAP != 0 ? 8 : CN * SG;   // output channels per subgroup

void main() {
  int l = int(gl_SubgroupInvocationID);
  int ry = int(gl_WorkGroupID.z) / pc.BW, rx = int(gl_WorkGroupID.z) % pc.BW;
  int qh = phase_count(pc.HO, pc.BH, ry), qw = phase_count(pc.WO, pc.BW, rx);
  int M = pc.NB * qh * qw;
  int m0 = (tile_m() * NSG + int(gl_SubgroupID)) * PIX_SG;
  if (m0 >= M || qh <= 0 || qw <= 0) return; // whole subgroup: uniform
  int n0 = tile_n() * COL_SG;

  // this lane's source pixels (clamped into range: results of clamped rows are not stored)
  int pb[NPIX], pqy[NPIX], pqx[NPIX];
  for (int i = 0; i < NPIX; i++) {
    int m = min(m0 + (SWAP != 0 ? i * SG + l : (l & 7)), M - 1);
    pb[i] = m / (qh * qw), pqy[i] = (m / qw) % qh, pqx[i] = m % qw;
  }
  int wr[NW];
  for (int j = 0; j < NW; j++)
    wr[j] = min(n0 + (SWAP != 0 ? (l & 7) : j * SG + l), pc.CD - 1) * pc.BROW;

  Taps ty = axis_taps(pc.C0H, pc.C1H, pc.SDH, pc.KH, ry);
  Taps tx = axis_taps(pc.C0W, pc.C1W, pc.SDW, pc.KW, rx);

  float acc[8][CN];
  for (int r = 0; r < 8; r++)
    for (int c = 0; c < CN; c++) acc[r][c] = 0.0;

  int ks = pc.KS4;
  for (int jy = 0; jy < ty.n; jy++) {
    int ky = ty.k0 + jy * ty.kstep;
    for (int jx = 0; jx < tx.n; jx++) {
      int kx = tx.k0 + jx * tx.kstep;
      int ab[NPIX], bb[NW];
      bvec4 av_ok[NPIX];
      for (int i = 0; i < NPIX; i++) {
        int sy = pqy[i] * pc.AH + ty.off0 + jy * ty.offstep;
        int sx = pqx[i] * pc.AW + tx.off0 + jx * tx.offstep;
        av_ok[i] = bvec4(sy >= 0 && sy < pc.HS && sx >= 0 && sx < pc.WS);
        ab[i] = ((pb[i] * pc.HS + clamp(sy, 0, pc.HS - 1)) * pc.WS + clamp(sx, 0, pc.WS - 1)) * ks;
      }
      for (int j = 0; j < NW; j++) bb[j] = wr[j] + (ky * pc.KW + kx) * ks;
// one k-texel: 4 k values x 8 shuffled rows x CN per-lane rows
#define ROW(q, r) { float sr = subgroupShuffle(sv[q], uint(r)); \
      for (int c = 0; c < CN; c++) acc[r][c] = fma(sr, pv[c][q], acc[r][c]); }
#define QUAD(q) ROW(q, 0) ROW(q, 1) ROW(q, 2) ROW(q, 3) ROW(q, 4) ROW(q, 5) ROW(q, 6) ROW(q, 7)
#define STEP(k) { \
      vec4 av[NPIX], bv[NW], pv[CN]; \
      for (int i = 0; i < NPIX; i++) av[i] = mix(vec4(0.0), texelFetch(A, ab[i] + (k)), av_ok[i]); \
      for (int j = 0; j < NW; j++) bv[j] = texelFetch(B, bb[j] + (k)); \
      vec4 sv = SWAP != 0 ? bv[0] : av[0]; \
      for (int c = 0; c < CN; c++) pv[c] = SWAP != 0 ? av[min(c, NPIX - 1)] : bv[min(c, NW - 1)]; \
      QUAD(0) QUAD(1) QUAD(2) QUAD(3) }
      int k = 0;
      if (UNR > 1)
        for (; k + 2 <= ks; k += 2) {
          STEP(k)
          STEP(k + 1)
        }
      for (; k < ks; k++) STEP(k)
    }
  }

  for (int r = 0; r < 8; r++)
    for (int c = 0; c < CN; c++) {
      int m = m0 + (SWAP != 0 ? c * SG + l : r);
      int col = n0 + (SWAP != 0 ? r : c * SG + l);
      if (m >= M || col >= pc.CD4) continue;
      int br = m / (qh * qw), oy = ((m / qw) % qh) * pc.BH + ry, ox = (m % qw) * pc.BW + rx;
      float v = acc[r][c];
      if (HAS_BIAS != 0) v += bias[col];
      if (RELU != 0) v = max(v, 0.0);
      outv[((br * pc.HO + oy) * pc.WO + ox) * pc.CD4 + col] = col < pc.CD ? v : 0.0;
    }
}
