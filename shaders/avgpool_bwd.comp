#version 450
// Average-pool backward as a gather: one invocation per input texel (n, iy, ix, quad) sums
// dy over the outputs whose window contains (iy, ix) (no atomics, a fixed result), then
//   dx[n, iy, ix, c] = sum / (kh*kw)                      (count_include_pad: always kh*kw)
// and, ACT (act.glsl, not none), dx = act_bwd(x, dx) (x is the output of that activation
// before the pool, so this is its backward fused in). Positions no window covers (floor
// mode) and padding lanes (channel >= C) get 0.
// dy: (N, OH, OW, Q) texels, x: (N, H, W, Q) texels (ACT none: unread; the host binds dy),
// dx: (N, H, W, Q) vec4. Grid: x = texel within an input row (ix*Q + q), y = a band of
// `rows` input rows, z = image. Several rows per invocation: on CPU drivers each workgroup
// costs about as much as a few hundred texels, and a row is often shorter than a workgroup.
// GLOBAL (the window is the whole input: global average pooling): every position lies in
// the one window, dx = dy[n, 0, 0] / (H*W), no window arithmetic.
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int GLOBAL = 0;
layout(constant_id = 2) const float ACT_ALPHA = 0.0;
#include "act.glsl"
layout(std430, binding = 2) writeonly buffer DX { vec4 dx[]; };
layout(binding = 0) uniform samplerBuffer DY;
layout(binding = 1) uniform samplerBuffer X;
#include "push/pool.h"
EV_PUSH_BLOCK(pool)
// first output index o with o*s - p + k - 1 >= i (its window reaches i), clamped at 0
int first_out(int i, int k, int s, int p) {
  int num = i + p - k + 1;
  return num <= 0 ? 0 : (num + s - 1) / s;
}
void main() {
  int n = int(gl_GlobalInvocationID.z), row = W * Q;
  int iy0 = int(gl_GlobalInvocationID.y) * rows, iy1 = min(iy0 + rows, H);
  float rq = 1.0 / float(Q), rk = 1.0 / float(kh * kw);
  for (int i = int(gl_GlobalInvocationID.x); i < row; i += int(gl_NumWorkGroups.x * gl_WorkGroupSize.x)) {
    int ix = int((float(i) + 0.5) * rq), q = i - ix * Q; // exact: i < 2^21 (checked by the host)
    bvec4 pad = greaterThanEqual(ivec4(4 * q) + ivec4(0, 1, 2, 3), ivec4(C));
    int ox0 = 0, ox1 = 0;
    vec4 g = vec4(0.0);
    if (GLOBAL != 0)
      g = texelFetch(DY, n * Q + q) * rk;
    else
      ox0 = first_out(ix, kw, sw, pw), ox1 = min(OW - 1, (ix + pw) / sw);
    for (int iy = iy0; iy < iy1; iy++) {
      if (GLOBAL == 0) {
        int oy0 = first_out(iy, kh, sh, ph), oy1 = min(OH - 1, (iy + ph) / sh);
        vec4 acc = vec4(0.0);
        for (int oy = oy0; oy <= oy1; oy++)
          for (int ox = ox0; ox <= ox1; ox++) acc += texelFetch(DY, ((n * OH + oy) * OW + ox) * Q + q);
        g = acc * rk;
      }
      int o = (n * H + iy) * row + i;
      vec4 v = g;
      if (ACT != ACT_NONE) v = act_bwd(ACT, ACT_ALPHA, texelFetch(X, o), v);
      dx[o] = mix(v, vec4(0.0), pad);
    }
  }
}
