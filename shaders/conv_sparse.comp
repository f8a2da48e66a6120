#version 450
#extension GL_EXT_control_flow_attributes : require
// Sparse conv2d forward (evonet/ops/conv_sparse.h): each output channel sums only its live
// taps, read from a packed list. A workgroup of L lanes covers a block of L*PP consecutive
// output pixels (n, oy, ox over all images): lane l takes pixels l, L + l, ..., and computes
// their 4 channels of quad q. Grid: x = pixel block, wrapping into y beyond the device's x
// limit; z = output channel quad q.
// x: (N, H, W, QI) texels; taps: CO headers (start, count, 0, 0) then (dy, dx, ci, w)
// texels; bias: QO texels; y: (N, HO, WO, QO) vec4.
// Why this shape (measured on lavapipe, where a texel fetch costs ~25 cycles per 8 lanes and
// an SSBO load ~190, a vector integer division several fetches):
//  - consecutive lanes take consecutive pixels of the same channel quad, so every lane of a
//    subgroup walks the same tap list (uniform loop bounds, no divergence);
//  - a tap's texel is fetched once for PP pixels (1 + 1/PP fetches per term), headers and
//    bias once per PP pixels;
//  - pixels of all images in one range, so small deep layers (8x8) fill PP passes too;
//  - (n, oy, ox) from float multiplies where exact (FDIV: N*HO*WO < 2^21), not divisions;
//  - no loop over pixels: lavapipe ends an invocation's loops after 65535 iterations in
//    total (its infinite-loop guard), so the only loops are the tap walks, CHUNK taps per
//    iteration where a quad has more taps than that (the host picks CHUNK).
// Borders: the address is clamped and the term dropped with a select, no branch per tap.
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int HAS_BIAS = 0;
layout(constant_id = 1) const int ACT = 0;      // ev_act_kind (act.glsl), applied after the bias
layout(constant_id = 2) const int PP = 1;    // pixels per invocation
layout(constant_id = 3) const int FDIV = 1;  // 1: pixel -> (n, oy, ox) by float reciprocals
layout(constant_id = 4) const int CHUNK = 1; // taps per loop iteration
layout(constant_id = 5) const float ACT_ALPHA = 0.0;
#include "act.glsl"
layout(binding = 0) uniform samplerBuffer X;
layout(binding = 1) uniform samplerBuffer T;
layout(binding = 2) uniform samplerBuffer Bias;
layout(std430, binding = 3) writeonly buffer Y { vec4 y[]; };
#include "push/conv.h"
EV_PUSH_BLOCK(conv_sparse)

void main() {
  int q = int(gl_WorkGroupID.z), L = int(gl_WorkGroupSize.x);
  int block = int(gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x);
  int hw = HO * WO, total = N * hw, p0 = block * L * PP + int(gl_LocalInvocationID.x);
  if (uint(block) * uint(L * PP) >= uint(total)) return; // the last row of a wrapped grid
  // tap ranges of this quad's 4 channels (the same for every lane)
  ivec4 t0 = ivec4(0), t1 = ivec4(0);
  [[unroll]] for (int j = 0; j < 4; j++)
    if (4 * q + j < CO) {
      vec4 h = texelFetch(T, 4 * q + j);
      t0[j] = int(h.x);
      t1[j] = min(t0[j] + int(h.y), NT);
    }
  vec4 b = HAS_BIAS != 0 ? texelFetch(Bias, q) : vec4(0.0);
  float rhw = 1.0 / float(hw), rwo = 1.0 / float(WO);
  int x0[PP], by[PP], bx[PP]; // x0: the texel of the pixel's image's origin
  [[unroll]] for (int u = 0; u < PP; u++) {
    int p = p0 + u * L; // exact float quotients: p < 2^21
    int n = FDIV != 0 ? int((float(p) + 0.5) * rhw) : p / hw, r = p - n * hw;
    int oy = FDIV != 0 ? int((float(r) + 0.5) * rwo) : r / WO, ox = r - oy * WO;
    x0[u] = n * H * W * QI;
    by[u] = p < total ? oy * sh - ph : -1 << 30; // a pixel past the end reads nothing
    bx[u] = ox * sw - pw;
  }
  vec4 acc[PP];
  [[unroll]] for (int j = 0; j < 4; j++) {
    float a[PP];
    [[unroll]] for (int u = 0; u < PP; u++) a[u] = 0.0;
    for (int k = t0[j]; k < t1[j]; k += CHUNK)
      [[unroll]] for (int c = 0; c < CHUNK; c++) {
        bool in_range = CHUNK == 1 || k + c < t1[j]; // folds away for CHUNK 1
        vec4 t = texelFetch(T, in_range ? k + c : k);
        int dy = int(t.x), dx = int(t.y), ci = int(t.z), c4 = ci >> 2, cl = ci & 3;
        [[unroll]] for (int u = 0; u < PP; u++) {
          int iy = by[u] + dy, ix = bx[u] + dx;
          bool ok = in_range && uint(iy) < uint(H) && uint(ix) < uint(W);
          float v = texelFetch(X, ok ? x0[u] + (iy * W + ix) * QI + c4 : 0)[cl];
          a[u] += ok ? v * t.w : 0.0;
        }
      }
    [[unroll]] for (int u = 0; u < PP; u++) acc[u][j] = b[j] + a[u];
  }
  bvec4 pad = greaterThanEqual(ivec4(4 * q) + ivec4(0, 1, 2, 3), ivec4(CO));
  [[unroll]] for (int u = 0; u < PP; u++) {
    vec4 r = act_fwd(ACT, ACT_ALPHA, acc[u]);
    if (p0 + u * L < total) y[(p0 + u * L) * QO + q] = mix(r, vec4(0.0), pad);
  }
}
