#version 450
// Weight gradient of conv2d (and of transposed conv, roles exchanged), register-tiled with subgroup
// shuffles over texel fetches (the kernel for CPU Vulkan devices).
//   rows tensor R: (N, Hr, Wr, 4*Rq) NHWC-C4 texels   (conv: dy;  deconv: the deconv's x)
//   cols tensor C: (N, Hc, Wc, 4*Cq) NHWC-C4 texels   (conv: x;   deconv: the deconv's dy)
//   out: (O, kh, kw, 4*Cq) floats, O = rows (OHWI4), one such array per split-K slice
//   out[o][ky][kx][i] = sum over (n, oy, ox) of R[n][oy][ox][o] * C[n][iy][ix][i],
//     iy = oy*sh - ph + ky*dh, ix = ox*sw - pw + kx*dw (terms outside C are zero).
// One subgroup owns one tile: a tap (ky, kx), 4 channels of one tensor (the "shuffled"
// quad, fetched by each lane for its own pixel and spread with subgroupShuffle) times 4*SG
// channels of the other (lane l fetches quad l of the block for every pixel). Each pixel
// step is then one texel fetch per lane and a 4x4 outer product: 16 accumulators per lane.
// The tap's pixels are walked over its valid rectangle only, so no fetch needs a bounds
// check; split-K slices (workgroup y) cut that rectangle's pixel list into chunks.
// SWAP = 1: per-lane blocks are R quads of one tap, the shuffled quad is a C quad (walked
// over the tap's rectangle as above).
// SWAP = 0: lane l of a tile takes entry e = pb*SG + l of the flattened (tap, C quad) list
// (e = tap*Cq + quad), so narrow layers (Cq < SG) still fill every lane; the shuffled
// operand is NS consecutive R quads (4*NS rows, 16*NS accumulators per lane). The pixel walk
// covers the whole R grid and each lane zeroes the taps that fall outside C.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int SG = 8;     // device subgroup size
layout(constant_id = 1) const int SWAP = 0;
layout(constant_id = 2) const int DIRECT = 0; // 1: out is dw itself (no split-K)
layout(constant_id = 3) const int NS = 1;     // shuffled quads per tile (1 or 2)
layout(constant_id = 4) const int MULTI = 0;  // SWAP 0 only: lanes over (tap, C quad)
layout(binding = 0) uniform samplerBuffer R;
layout(binding = 1) uniform samplerBuffer C;
layout(std430, binding = 2) buffer OUT { float o_[]; };
layout(std430, binding = 2) buffer OUT4 { vec4 o4_[]; }; // the same, as vec4 (a vec4 store
                                                         // costs ~2.5 scalar ones on lavapipe)
#include "push/conv.h"
EV_PUSH_BLOCK(wgrad_shuffle)

// first index r in [0, n) with r*s - p + k*d >= 0, and one past the last with < size
void tap_range(int n, int s, int p, int kd, int size, out int lo, out int hi) {
  int off = kd - p; // position of r = 0
  lo = off >= 0 ? 0 : (-off + s - 1) / s;
  hi = size - 1 - off < 0 ? 0 : min(n, (size - 1 - off) / s + 1);
  if (hi < lo) hi = lo;
}

void main_tap() {
  int l = int(gl_SubgroupInvocationID);
  // tiles run along x, then z (x is capped at the device's workgroup-count limit)
  int tile = int(gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x) * int(gl_NumSubgroups) + int(gl_SubgroupID);
  if (tile >= tiles) return;
  // tile order: shuffled quad group fastest, so neighbouring tiles share the per-lane data
  int sq = tile % squads, t2 = tile / squads;
  int pb = t2 % pblocks, tap = t2 / pblocks;
  int ky = tap / kw, kx = tap % kw;
  int pquads = SWAP == 0 ? Cq : Rq, squads_all = SWAP == 0 ? Rq : Cq;
  int pq = pb * SG + l;
  int pqc = min(pq, pquads - 1); // idle lanes read a valid quad; their sums are dropped
  int sqk[NS];
  [[unroll]] for (int k = 0; k < NS; k++) sqk[k] = sq * NS + k;

  int oy0, oy1, ox0, ox1;
  tap_range(Hr, sh, ph, ky * dh, Hc, oy0, oy1);
  tap_range(Wr, sw, pw, kx * dw, Wc, ox0, ox1);
  int rh = oy1 - oy0, rw = ox1 - ox0;
  int total = N * rh * rw;
  int q0 = int(gl_WorkGroupID.y) * chunk, q1 = min(total, q0 + chunk);

  float acc[NS][4][4];
  [[unroll]] for (int k = 0; k < NS; k++) [[unroll]] for (int a = 0; a < 4; a++) [[unroll]] for (int c = 0; c < 4; c++) acc[k][a][c] = 0.0;

  if (q0 < q1) {
    // this lane's pixel: q = q0 + l, then + SG per step, as (n, ry, rx) in the rectangle
    int q = q0 + l;
    int rx = q % rw, t = q / rw, ry = t % rh, n = t / rh;
    int stepx = SG % rw, stepy = SG / rw;
    int cshift = (ky * dh - ph) * Wc + kx * dw - pw; // C pixel offset of the tap
    for (; q0 < q1; q0 += SG) {
      bool valid = q < q1;
      int rpix = (n * Hr + oy0 + ry) * Wr + ox0 + rx;
      int cpix = (n * Hc + (oy0 + ry) * sh) * Wc + (ox0 + rx) * sw + cshift;
      // a lane past the slice's end fetches a valid texel and contributes zeros
      vec4 s[NS];
      [[unroll]] for (int k = 0; k < NS; k++) {
        int qk = min(sqk[k], squads_all - 1);
        s[k] = SWAP == 0 ? texelFetch(R, valid ? rpix * Rq + qk : qk)
                         : texelFetch(C, valid ? cpix * Cq + qk : qk);
        if (!valid || sqk[k] >= squads_all) s[k] = vec4(0.0);
      }
      int pbase = valid ? (SWAP == 0 ? cpix * Cq : rpix * Rq) : 0; // texel of quad 0
      // advance this lane's pixel by SG for the next step
      q += SG;
      rx += stepx;
      ry += stepy;
      if (rx >= rw) { rx -= rw; ry++; }
      while (ry >= rh) { ry -= rh; n++; }

      // all fetches first, then all multiply-adds: lavapipe's texel fetch is a call that
      // clobbers every vector register, so the accumulators are reloaded after each call
      vec4 pj[SG];
      [[unroll]] for (int j = 0; j < SG; j++) {
        int b = subgroupShuffle(pbase, uint(j)) + pqc; // pixel j's base, this lane's quad
        pj[j] = SWAP == 0 ? texelFetch(C, b) : texelFetch(R, b);
      }
      [[unroll]] for (int j = 0; j < SG; j++)
        [[unroll]] for (int k = 0; k < NS; k++)
          [[unroll]] for (int a = 0; a < 4; a++) {
            float sa = subgroupShuffle(s[k][a], uint(j));
            [[unroll]] for (int c = 0; c < 4; c++) acc[k][a][c] = fma(sa, pj[j][c], acc[k][a][c]);
          }
    }
  }

  if (pq >= pquads) return;
  int taps = kh * kw, c4 = 4 * Cq;
  int base = DIRECT == 1 ? 0 : int(gl_WorkGroupID.y) * rows * taps * c4;
  // SWAP 0: acc[k][a][c] = out[4*sqk+a][tap][4*pq+c];  SWAP 1: out[4*pq+c][tap][4*sqk+a]:
  // for each (k, row) the 4 columns i are one aligned quad, stored as one vec4
  [[unroll]] for (int k = 0; k < NS; k++) [[unroll]] for (int a = 0; a < 4; a++) {
    int o = SWAP == 0 ? 4 * sqk[k] + a : 4 * pq + a;
    int i0 = SWAP == 0 ? 4 * pq : 4 * sqk[k];
    if (o < rows && sqk[k] < squads_all) {
      int e = (base + (o * taps + tap) * c4 + i0) >> 2;
      vec4 v;
      [[unroll]] for (int c = 0; c < 4; c++) v[c] = SWAP == 0 ? acc[k][a][c] : acc[k][c][a];
      bvec4 keep = lessThan(ivec4(i0) + ivec4(0, 1, 2, 3), ivec4(cols));
      if (DIRECT == 1 && accumulate != 0) v += o4_[e];
      o4_[e] = mix(vec4(0.0), v, keep);
    }
  }
}

// SWAP = 0: lanes over (tap, C quad), NS shuffled R quads.
void main_multi() {
  int l = int(gl_SubgroupInvocationID);
  int tile = int(gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x) * int(gl_NumSubgroups) + int(gl_SubgroupID);
  if (tile >= tiles) return;
  int sg = tile % squads, pb = tile / squads; // squads = R quad groups of NS here
  int taps = kh * kw, nent = taps * Cq;
  int e = pb * SG + l, ec = min(e, nent - 1);
  int tap = ec / Cq, cq = ec - tap * Cq;
  int ky = tap / kw, kx = tap - ky * kw;
  int offy = ky * dh - ph, offx = kx * dw - pw;
  int tapoff = offy * Wc + offx;
  int total = N * Hr * Wr;
  int q0 = int(gl_WorkGroupID.y) * chunk, q1 = min(total, q0 + chunk);

  float acc[NS][4][4];
  [[unroll]] for (int k = 0; k < NS; k++) [[unroll]] for (int a = 0; a < 4; a++) [[unroll]] for (int c = 0; c < 4; c++) acc[k][a][c] = 0.0;
  int rq[NS];
  [[unroll]] for (int k = 0; k < NS; k++) rq[k] = sg * NS + k;

  if (q0 < q1) {
    int q = q0 + l;
    int rx = q % Wr, t = q / Wr, ry = t % Hr, n = t / Hr;
    int stepx = SG % Wr, stepy = SG / Wr;
    for (; q0 < q1; q0 += SG) {
      bool valid = q < q1;
      int rpix = (n * Hr + ry) * Wr + rx;
      vec4 s[NS];
      [[unroll]] for (int k = 0; k < NS; k++) {
        s[k] = texelFetch(R, valid ? rpix * Rq + min(rq[k], Rq - 1) : 0);
        if (!valid || rq[k] >= Rq) s[k] = vec4(0.0);
      }
      // this pixel's C position (tap 0 offsets added per lane); past the end: far outside
      int cy = valid ? ry * sh : -(1 << 20), cx = rx * sw;
      int cbase = (n * Hc + ry * sh) * Wc + cx;
      q += SG;
      rx += stepx;
      ry += stepy;
      if (rx >= Wr) { rx -= Wr; ry++; }
      while (ry >= Hr) { ry -= Hr; n++; }

      vec4 pj[SG]; // fetches first (see main_tap)
      [[unroll]] for (int j = 0; j < SG; j++) {
        int iy = subgroupShuffle(cy, uint(j)) + offy, ix = subgroupShuffle(cx, uint(j)) + offx;
        bool ok = uint(iy) < uint(Hc) && uint(ix) < uint(Wc);
        int b = subgroupShuffle(cbase, uint(j)) + tapoff;
        pj[j] = mix(vec4(0.0), texelFetch(C, ok ? b * Cq + cq : 0), bvec4(ok));
      }
      [[unroll]] for (int j = 0; j < SG; j++)
        [[unroll]] for (int k = 0; k < NS; k++)
          [[unroll]] for (int a = 0; a < 4; a++) {
            float sa = subgroupShuffle(s[k][a], uint(j));
            [[unroll]] for (int c = 0; c < 4; c++) acc[k][a][c] = fma(sa, pj[j][c], acc[k][a][c]);
          }
    }
  }

  if (e >= nent) return;
  int c4 = 4 * Cq;
  int base = DIRECT == 1 ? 0 : int(gl_WorkGroupID.y) * rows * taps * c4;
  [[unroll]] for (int k = 0; k < NS; k++) [[unroll]] for (int a = 0; a < 4; a++) {
    int o = 4 * rq[k] + a;
    if (o < rows) { // columns 4*cq .. 4*cq+3: one vec4
      int ei = (base + (o * taps + tap) * c4 + 4 * cq) >> 2;
      vec4 v = vec4(acc[k][a][0], acc[k][a][1], acc[k][a][2], acc[k][a][3]);
      bvec4 keep = lessThan(ivec4(4 * cq) + ivec4(0, 1, 2, 3), ivec4(cols));
      if (DIRECT == 1 && accumulate != 0) v += o4_[ei];
      o4_[ei] = mix(vec4(0.0), v, keep);
    }
  }
}

void main() {
  if (MULTI != 0) main_multi();
  else main_tap();
}
