#version 450
// Implicit-GEMM convolution, register-tiled with subgroup shuffles over texel fetches (the kernel
// for CPU Vulkan devices such as lavapipe); geometry in gemm_conv.glsl.
// src: (NB, HS, WS, 4*KS4) texels; w: (cols, KH, KW, 4*KS4) texels, rows BROW apart;
// bias: CD4/4 texels (float[CD4]); out: (NB, HO, WO, CD4) floats; YM (YMASK): out's shape.
// The activation ACT (act.glsl) is fused: YMASK = 0 applies it to out (forward passes),
// YMASK = 1 its backward from YM, its output (input-gradient passes).
// groups = (m-tiles x column tiles, phases).
//
// Why this shape (measured on llvmpipe): a texelFetch costs ~25 cycles per 8 lanes, an SSBO
// or shared load ~180, a constant-lane subgroupShuffle ~2. So each lane fetches texels
// (4 consecutive k) of its own rows; one operand ("shuffled", SR = 8*HA rows: lane r fetches
// rows r, 8 + r, ...) reaches every lane by shuffles from constant lanes, the other ("per-lane",
// CN rows per lane: rows c*SG + l, or 4l + c, see QCOL) stays in the lane; each lane keeps
// SR x CN accumulators. lavapipe's texel fetch is a call that clobbers every vector
// register, so the accumulators make a round trip to memory per k-texel whatever their
// number: more of them (HA up to 4: 128 with CN = 4) cost no extra spills and spend fewer
// fetches and shuffles per multiply-add (the host weighs that against padding). Borders: the
// source address is clamped and the texel replaced by zero with a select, no branch per
// fetch. The channel loop is unrolled UNR times (2 pays with 8 x 2 accumulators; with 8 x 4
// the extra live registers cost more than the loop overhead saved).
//   SWAP = 0: shuffled = SR output pixels, per-lane = CN*SG output channels (weights);
//   SWAP = 1: shuffled = SR output channels, per-lane = CN*SG output pixels.
// The host picks SWAP so that the CN*SG rows fetched together do not all fall into the same
// few L1 sets (rows 4 KiB apart thrash a CPU's L1; see conv.c).
// Correct for any subgroup size SG >= 8 (shuffled rows come from lanes 0..7).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int SG = 8;     // subgroup size the pipeline runs with
layout(constant_id = 1) const int HAS_BIAS = 0;
layout(constant_id = 2) const int ACT = 0;      // ev_act_kind (act.glsl)
layout(constant_id = 3) const int CN = 2;     // per-lane rows (accumulator columns)
layout(constant_id = 4) const int SWAP = 0;
layout(constant_id = 5) const int UNR = 2;    // channel loop unroll: 1 or 2
layout(constant_id = 6) const int KTX = 0;    // > 0: taps along x (= KW, one phase), loop unrolled
layout(constant_id = 7) const int KSC = 0;    // > 0: texels per tap (= KS4), loop unrolled
layout(constant_id = 8) const int YMASK = 0;  // 1: out := act_bwd(YM, out) (fused activation backward)
layout(constant_id = 9) const int HA = 1;     // shuffled row blocks of 8 (1 to 4)
layout(constant_id = 10) const float ACT_ALPHA = 0.0; // leaky_relu's slope
#include "act.glsl"
#include "gemm_conv.glsl"
layout(binding = 0) uniform samplerBuffer A;
layout(binding = 1) uniform samplerBuffer B;
layout(binding = 2) uniform samplerBuffer BiasT; // float[CD4] as CD4/4 texels
layout(std430, binding = 3) writeonly buffer OutB { float outv[]; };
layout(std430, binding = 3) writeonly buffer OutB4 { vec4 outv4[]; }; // the same, as vec4
layout(binding = 4) uniform samplerBuffer YM; // YMASK: the activation's output, out's shape (texels)

const int NSG = int(gl_WorkGroupSize.x) / SG;
const int SR = 8 * HA;                        // shuffled rows
const int NPIX = SWAP != 0 ? CN : HA;         // source pixels this lane fetches
const int NW = SWAP != 0 ? HA : CN;           // weight rows this lane fetches
const int PIX_SG = SWAP != 0 ? CN * SG : SR;  // output pixels per subgroup
const int COL_SG = SWAP != 0 ? SR : CN * SG;  // output channels per subgroup
// SWAP 0 with CN 4: lane l takes the 4 consecutive output channels 4l .. 4l+3 (instead of
// l, SG+l, ...), so its results for a pixel are one vec4 store and one mask texel
const bool QCOL = SWAP == 0 && CN == 4;

void main() {
  int l = int(gl_SubgroupInvocationID);
  int ry = int(gl_WorkGroupID.z) / pc.BW, rx = int(gl_WorkGroupID.z) % pc.BW;
  int qh = phase_count(pc.HO, pc.BH, ry), qw = phase_count(pc.WO, pc.BW, rx);
  int M = pc.NB * qh * qw;
  int m0 = (tile_m() * NSG + int(gl_SubgroupID)) * PIX_SG;
  if (m0 >= M || qh <= 0 || qw <= 0) return; // whole subgroup: uniform
  int n0 = tile_n() * COL_SG;

  // this lane's source pixels (clamped into range: results of clamped rows are not stored).
  // Pixel m0 + j -> (batch, qy, qx): one division of the uniform m0, then carries of the
  // small offsets in float (exact: t < qw + 4*CN*SG, far below 2^21), no per-lane division
  // (lavapipe scalarises vector integer division: 8 divs per vector).
  int b0 = m0 / (qh * qw), r0 = m0 - b0 * (qh * qw);
  int y0 = r0 / qw, x0 = r0 - y0 * qw;
  float rqw = 1.0 / float(qw), rqh = 1.0 / float(qh);
  int pb[NPIX], pqy[NPIX], pqx[NPIX];
  for (int i = 0; i < NPIX; i++) {
    int j = min(m0 + (SWAP != 0 ? i * SG + l : i * 8 + (l & 7)), M - 1) - m0;
    int t = x0 + j, cy = int((float(t) + 0.5) * rqw);
    int u = y0 + cy, cb = int((float(u) + 0.5) * rqh);
    pb[i] = b0 + cb, pqy[i] = u - cb * qh, pqx[i] = t - cy * qw;
  }
  int wr[NW];
  for (int j = 0; j < NW; j++)
    wr[j] = min(n0 + (SWAP != 0 ? j * 8 + (l & 7) : QCOL ? 4 * l + j : j * SG + l), pc.CD - 1) * pc.BROW;

  Taps ty = axis_taps_fast(pc.C0H, pc.C1H, pc.SDH, pc.KH, ry, pc.TGH, pc.TINVH);
  Taps tx = axis_taps_fast(pc.C0W, pc.C1W, pc.SDW, pc.KW, rx, pc.TGW, pc.TINVW);

  float acc[SR][CN];
  for (int r = 0; r < SR; r++)
    for (int c = 0; c < CN; c++) acc[r][c] = 0.0;

  // narrow layers: few taps and texels, so loop overhead (~30 cycles an iteration on
  // lavapipe) is a large part of a tap; spec constants let the compiler unroll them
  int ks = KSC > 0 ? KSC : pc.KS4, ntx = KTX > 0 ? KTX : tx.n;
  for (int jy = 0; jy < ty.n; jy++) {
    int ky = ty.k0 + jy * ty.kstep;
    [[unroll]] for (int jx = 0; jx < ntx; jx++) {
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
// one k-texel: 4 k values x SR shuffled rows x CN per-lane rows
#define ROW(q, r) { float sr = subgroupShuffle(sv[(r) >> 3][q], uint((r) & 7)); \
      for (int c = 0; c < CN; c++) acc[r][c] = fma(sr, pv[c][q], acc[r][c]); }
#define QUAD(q) for (int r = 0; r < SR; r++) ROW(q, r)
#define STEP(k) { \
      vec4 av[NPIX], bv[NW], sv[HA], pv[CN]; \
      for (int i = 0; i < NPIX; i++) av[i] = mix(vec4(0.0), texelFetch(A, ab[i] + (k)), av_ok[i]); \
      for (int j = 0; j < NW; j++) bv[j] = texelFetch(B, bb[j] + (k)); \
      for (int h = 0; h < HA; h++) sv[h] = SWAP != 0 ? bv[min(h, NW - 1)] : av[min(h, NPIX - 1)]; \
      for (int c = 0; c < CN; c++) pv[c] = SWAP != 0 ? av[min(c, NPIX - 1)] : bv[min(c, NW - 1)]; \
      QUAD(0) QUAD(1) QUAD(2) QUAD(3) }
      if (KSC > 0) {
        [[unroll]] for (int k = 0; k < KSC; k++) STEP(k)
      } else {
        int k = 0;
        if (UNR > 1)
          for (; k + 2 <= ks; k += 2) {
            STEP(k)
            STEP(k + 1)
          }
        for (; k < ks; k++) STEP(k)
      }
    }
  }

  // output offsets of this lane's pixels (SWAP 0: row r's pixel is lane (r & 7)'s pixel
  // r >> 3, fetched by a constant-lane shuffle); bias through a texel buffer (a per-lane SSBO
  // load costs ~8x more)
  const int NO = SWAP != 0 ? CN : SR;
  int obase[NO];
  for (int i = 0; i < NO; i++) {
    int b = SWAP != 0 ? pb[i] : subgroupShuffle(pb[i >> 3], uint(i & 7));
    int y = SWAP != 0 ? pqy[i] : subgroupShuffle(pqy[i >> 3], uint(i & 7));
    int x = SWAP != 0 ? pqx[i] : subgroupShuffle(pqx[i >> 3], uint(i & 7));
    obase[i] = ((b * pc.HO + y * pc.BH + ry) * pc.WO + x * pc.BW + rx) * pc.CD4;
  }
  float bv[SR][CN];
  for (int r = 0; r < SR; r++)
    for (int c = 0; c < CN; c++) bv[r][c] = 0.0;
  if (HAS_BIAS != 0) {
    int last = pc.CD4 / 4 - 1;
    if (SWAP != 0) { // columns n0 .. n0+SR-1 for every lane
      for (int t = 0; t < SR / 4; t++) {
        vec4 b4 = texelFetch(BiasT, min(n0 / 4 + t, last));
        for (int c = 0; c < CN; c++)
          for (int q = 0; q < 4; q++) bv[4 * t + q][c] = b4[q];
      }
    } else if (QCOL) { // columns n0 + 4l .. n0 + 4l + 3
      vec4 t = texelFetch(BiasT, min((n0 >> 2) + l, last));
      for (int c = 0; c < CN; c++)
        for (int r = 0; r < SR; r++) bv[r][c] = t[c];
    } else { // column n0 + c*SG + l
      for (int c = 0; c < CN; c++) {
        int col = min(n0 + c * SG + l, pc.CD4 - 1);
        vec4 t = texelFetch(BiasT, col >> 2);
        int q = col & 3;
        float v = q == 0 ? t.x : q == 1 ? t.y : q == 2 ? t.z : t.w;
        for (int r = 0; r < SR; r++) bv[r][c] = v;
      }
    }
  }
  // fused activation backward: the activation's output YM at each result (act_bwd reads it)
  float ym[SR][CN];
  for (int r = 0; r < SR; r++)
    for (int c = 0; c < CN; c++) ym[r][c] = 0.0;
  if (YMASK != 0) {
    if (SWAP != 0) { // this lane's pixel c, columns n0 .. n0+SR-1: SR/4 texels
      for (int c = 0; c < CN; c++) {
        int t0 = (obase[c] + n0) >> 2, tl = ((obase[c] + pc.CD4) >> 2) - 1;
        for (int t = 0; t < SR / 4; t++) {
          vec4 y4 = texelFetch(YM, min(t0 + t, tl));
          for (int q = 0; q < 4; q++) ym[4 * t + q][c] = y4[q];
        }
      }
    } else if (QCOL) { // pixel of row r, columns n0 + 4l ..: one texel
      int col0 = min(n0 + 4 * l, pc.CD4 - 4);
      for (int r = 0; r < SR; r++) {
        vec4 y4 = texelFetch(YM, (obase[r] + col0) >> 2);
        for (int c = 0; c < CN; c++) ym[r][c] = y4[c];
      }
    } else { // pixel of row r, column n0 + c*SG + l
      for (int r = 0; r < SR; r++)
        for (int c = 0; c < CN; c++) {
          int col = min(n0 + c * SG + l, pc.CD4 - 1);
          vec4 t = texelFetch(YM, (obase[r] + col) >> 2);
          int q = col & 3;
          ym[r][c] = q == 0 ? t.x : q == 1 ? t.y : q == 2 ? t.z : t.w;
        }
    }
  }
  if (SWAP != 0) { // the lane's SR columns of one pixel: SR/4 vec4 stores (a vec4 store costs
                   // about 2.5 scalar ones on lavapipe, not 4)
    for (int c = 0; c < CN; c++) {
      if (m0 + c * SG + l >= M) continue;
      for (int h = 0; h < SR / 4; h++) {
        int col0 = n0 + 4 * h;
        if (col0 >= pc.CD4) continue;
        vec4 v;
        for (int q = 0; q < 4; q++) {
          float t = acc[4 * h + q][c] + bv[4 * h + q][c];
          t = YMASK != 0 ? act_bwd(ACT, ACT_ALPHA, ym[4 * h + q][c], t) : act_fwd(ACT, ACT_ALPHA, t);
          v[q] = col0 + q < pc.CD ? t : 0.0;
        }
        outv4[(obase[c] + col0) >> 2] = v;
      }
    }
    return;
  }
  if (QCOL) { // the lane's 4 columns of each row's pixel: one vec4 store per row
    int col0 = n0 + 4 * l;
    if (col0 >= pc.CD4) return;
    for (int r = 0; r < SR; r++) {
      if (m0 + r >= M) continue;
      vec4 v;
      for (int c = 0; c < 4; c++) {
        float t = acc[r][c] + bv[r][c];
        t = YMASK != 0 ? act_bwd(ACT, ACT_ALPHA, ym[r][c], t) : act_fwd(ACT, ACT_ALPHA, t);
        v[c] = col0 + c < pc.CD ? t : 0.0;
      }
      outv4[(obase[r] + col0) >> 2] = v;
    }
    return;
  }
  for (int r = 0; r < SR; r++)
    for (int c = 0; c < CN; c++) {
      int m = m0 + r, col = n0 + c * SG + l;
      if (m >= M || col >= pc.CD4) continue;
      float v = acc[r][c] + bv[r][c];
      v = YMASK != 0 ? act_bwd(ACT, ACT_ALPHA, ym[r][c], v) : act_fwd(ACT, ACT_ALPHA, v);
      outv[obase[r] + col] = col < pc.CD ? v : 0.0;
    }
}
