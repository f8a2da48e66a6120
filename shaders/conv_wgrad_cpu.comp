#version 450
// Weight gradient of conv2d (and of transposed conv, roles exchanged), CPU-device design.
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
// SWAP = 0: per-lane blocks are C quads, the shuffled quad is an R quad; SWAP = 1: reverse.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int SG = 8;     // device subgroup size
layout(constant_id = 1) const int SWAP = 0;
layout(constant_id = 2) const int DIRECT = 0; // 1: out is dw itself (no split-K)
layout(binding = 0) uniform samplerBuffer R;
layout(binding = 1) uniform samplerBuffer C;
layout(std430, binding = 2) buffer OUT { float o_[]; };
layout(push_constant) uniform P {
  int N, Hr, Wr, Rq, Hc, Wc, Cq;
  int rows, cols;        // real channel counts of R (O) and C (I)
  int kh, kw, sh, sw, ph, pw, dh, dw;
  int pblocks, squads;   // per-lane blocks of SG quads, shuffled quads
  int chunk, accumulate; // pixels per split-K slice; DIRECT only: add into out
  int tiles;
};

// first index r in [0, n) with r*s - p + k*d >= 0, and one past the last with < size
void tap_range(int n, int s, int p, int kd, int size, out int lo, out int hi) {
  int off = kd - p; // position of r = 0
  lo = off >= 0 ? 0 : (-off + s - 1) / s;
  hi = size - 1 - off < 0 ? 0 : min(n, (size - 1 - off) / s + 1);
  if (hi < lo) hi = lo;
}

void main() {
  int l = int(gl_SubgroupInvocationID);
  // tiles run along x, then z (x is capped at the device's workgroup-count limit)
  int tile = int(gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x) * int(gl_NumSubgroups) + int(gl_SubgroupID);
  if (tile >= tiles) return;
  // tile order: shuffled quad fastest, so neighbouring tiles share the per-lane block data
  int sq = tile % squads, t2 = tile / squads;
  int pb = t2 % pblocks, tap = t2 / pblocks;
  int ky = tap / kw, kx = tap % kw;
  int pquads = SWAP == 0 ? Cq : Rq;
  int pq = pb * SG + l;
  int pqc = min(pq, pquads - 1); // idle lanes read a valid quad; their sums are dropped

  int oy0, oy1, ox0, ox1;
  tap_range(Hr, sh, ph, ky * dh, Hc, oy0, oy1);
  tap_range(Wr, sw, pw, kx * dw, Wc, ox0, ox1);
  int rh = oy1 - oy0, rw = ox1 - ox0;
  int total = N * rh * rw;
  int q0 = int(gl_WorkGroupID.y) * chunk, q1 = min(total, q0 + chunk);

  float acc[4][4];
  [[unroll]] for (int a = 0; a < 4; a++) [[unroll]] for (int c = 0; c < 4; c++) acc[a][c] = 0.0;

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
      vec4 s = SWAP == 0 ? texelFetch(R, valid ? rpix * Rq + sq : sq)
                         : texelFetch(C, valid ? cpix * Cq + sq : sq);
      if (!valid) s = vec4(0.0);
      int pbase = valid ? (SWAP == 0 ? cpix * Cq : rpix * Rq) : 0; // texel of quad 0
      // advance this lane's pixel by SG for the next step
      q += SG;
      rx += stepx;
      ry += stepy;
      if (rx >= rw) { rx -= rw; ry++; }
      while (ry >= rh) { ry -= rh; n++; }

      [[unroll]] for (int j = 0; j < SG; j++) {
        int b = subgroupShuffle(pbase, uint(j)) + pqc; // pixel j's base, this lane's quad
        vec4 p = SWAP == 0 ? texelFetch(C, b) : texelFetch(R, b);
        [[unroll]] for (int a = 0; a < 4; a++) {
          float sa = subgroupShuffle(s[a], uint(j));
          [[unroll]] for (int c = 0; c < 4; c++) acc[a][c] = fma(sa, p[c], acc[a][c]);
        }
      }
    }
  }

  if (pq >= pquads) return;
  int taps = kh * kw, c4 = 4 * Cq;
  int base = DIRECT == 1 ? 0 : int(gl_WorkGroupID.y) * rows * taps * c4;
  [[unroll]] for (int a = 0; a < 4; a++) [[unroll]] for (int c = 0; c < 4; c++) {
    // SWAP 0: acc[a][c] = out[4*sq+a][tap][4*pq+c];  SWAP 1: out[4*pq+c][tap][4*sq+a]
    int o = SWAP == 0 ? 4 * sq + a : 4 * pq + c;
    int i = SWAP == 0 ? 4 * pq + c : 4 * sq + a;
    if (o < rows) {
      int e = base + (o * taps + tap) * c4 + i;
      float v = i < cols ? acc[a][c] : 0.0;
      if (DIRECT == 1 && accumulate != 0) v += i < cols ? o_[e] : 0.0;
      o_[e] = v;
    }
  }
}
