#version 450
#extension GL_EXT_control_flow_attributes : require
// Max-pool backward for non-overlapping windows (kernel = stride, no padding), the argmax
// recomputed from the forward's input x exactly as maxpool_fwd picks it (first maximum in
// window order, strict >, NaN wins), so the forward need not store it. Optionally fused
// with the backward of the activation ACT (act.glsl) of the layer that produced x (x is that
// activation's output):
//   dx[n, iy, ix, c] = dy[n, iy/sh, ix/sw, c] if (iy, ix) is its window's argmax, else 0;
//                      ACT: act_bwd(x[n, iy, ix, c], that) at the argmax; rows/columns no
//                      window covers (floor mode) get 0.
// x, dx: (N, H, W, Q); dy: (N, OH, OW, Q) (texels; dx an SSBO of vec4).
// One invocation per window cell and quad: it fetches its window once and writes all of
// the cell's sh x sw input texels. Cells cover the input: ceil(H/sh) x ceil(W/sw); those
// past the last window write zeros. Grid: x = (cell column, quad), y = cell row, z = image.
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int ACT = 0;
layout(constant_id = 1) const int KHC = 0;  // > 0: the window's size (= stride), loops unrolled;
layout(constant_id = 2) const int KWC = 0;  //      only when the windows tile the input exactly
layout(constant_id = 3) const float ACT_ALPHA = 0.0;
#include "act.glsl"
layout(binding = 0) uniform samplerBuffer X;
layout(binding = 1) uniform samplerBuffer DY;
layout(std430, binding = 2) writeonly buffer DX { vec4 dx[]; };
#include "push/pool.h"
EV_PUSH_BLOCK(pool)
void main() {
  int oy = int(gl_GlobalInvocationID.y), n = int(gl_GlobalInvocationID.z);
  int cols = (W + sw - 1) / sw, row = cols * Q;
  int y0 = oy * sh;
  float rq = 1.0 / float(Q);
  for (int i = int(gl_GlobalInvocationID.x); i < row; i += int(gl_NumWorkGroups.x * gl_WorkGroupSize.x)) {
    int ox = int((float(i) + 0.5) * rq), q = i - ox * Q; // exact: i < 2^21
    int x0 = ox * sw;
    if (KHC > 0) { // every cell is a full window inside the input
      vec4 m = vec4(uintBitsToFloat(0xff800000u));
      ivec4 a = ivec4(0);
      [[unroll]] for (int j = 0; j < KHC * KWC; j++) {
        vec4 v = texelFetch(X, ((n * H + y0 + j / KWC) * W + x0 + j % KWC) * Q + q);
        bvec4 take = bvec4(uvec4(greaterThan(v, m)) | uvec4(isnan(v)));
        m = mix(m, v, take);
        a = mix(a, ivec4(j), take);
      }
      vec4 g = texelFetch(DY, ((n * OH + oy) * OW + ox) * Q + q);
      // the activation's output at the argmax is the window's maximum m
      if (ACT != ACT_NONE) g = act_bwd(ACT, ACT_ALPHA, m, g);
      [[unroll]] for (int j = 0; j < KHC * KWC; j++)
        dx[((n * H + y0 + j / KWC) * W + x0 + j % KWC) * Q + q] = mix(vec4(0.0), g, equal(a, ivec4(j)));
    } else {
      bool win = oy < OH && ox < OW;
      int y1 = min(y0 + kh, H), x1 = min(x0 + kw, W);
      vec4 m = vec4(uintBitsToFloat(0xff800000u)), g = vec4(0.0);
      ivec4 a = ivec4(-1);
      if (win) {
        a = ivec4(y0 * W + x0);
        for (int yy = y0; yy < y1; yy++)
          for (int xx = x0; xx < x1; xx++) {
            vec4 v = texelFetch(X, ((n * H + yy) * W + xx) * Q + q);
            bvec4 take = bvec4(uvec4(greaterThan(v, m)) | uvec4(isnan(v)));
            m = mix(m, v, take);
            a = mix(a, ivec4(yy * W + xx), take);
          }
        g = texelFetch(DY, ((n * OH + oy) * OW + ox) * Q + q);
        if (ACT != ACT_NONE) g = act_bwd(ACT, ACT_ALPHA, m, g);
      }
      int ye = min(y0 + sh, H), xe = min(x0 + sw, W);
      for (int iy = y0; iy < ye; iy++)
        for (int ix = x0; ix < xe; ix++)
          dx[((n * H + iy) * W + ix) * Q + q] = mix(vec4(0.0), g, equal(a, ivec4(iy * W + ix)));
    }
  }
}
