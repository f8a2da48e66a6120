#version 450
// Max-pool forward, one invocation per output texel (4 channels of one output pixel).
// Grid: x = texel within an output row (ox*Q + q), y = output row, z = image: one integer
// division per texel (CPU drivers scalarise vector divisions).
// x: (N, H, W, Q) vec4, y: (N, OH, OW, Q) vec4, idx: (N, OH, OW, Q) ivec4 (Q = C4/4).
// idx = iy*W + ix of the first maximum in window order (strict >, NaN wins: PyTorch's rule);
// padding lanes (channel >= C) get y = 0 and idx = -1.
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer X { vec4 x[]; };
layout(std430, binding = 1) writeonly buffer Y { vec4 y[]; };
layout(std430, binding = 2) writeonly buffer I { ivec4 idx[]; };
layout(push_constant) uniform P {
  int N, H, W, Q, OH, OW, C, unused;
  int kh, kw, sh, sw, ph, pw;
};
void main() {
  int oy = int(gl_GlobalInvocationID.y), n = int(gl_GlobalInvocationID.z), row = OW * Q;
  int y0 = oy * sh - ph, y1 = min(y0 + kh, H);
  y0 = max(y0, 0);
  for (int i = int(gl_GlobalInvocationID.x); i < row; i += int(gl_NumWorkGroups.x * gl_WorkGroupSize.x)) {
    int ox = i / Q, q = i - ox * Q;
    int x0 = ox * sw - pw, x1 = min(x0 + kw, W);
    x0 = max(x0, 0);
    vec4 m = vec4(uintBitsToFloat(0xff800000u));  // -inf
    ivec4 a = ivec4(y0 * W + x0);
    for (int iy = y0; iy < y1; iy++)
      for (int ix = x0; ix < x1; ix++) {
        vec4 v = x[((n * H + iy) * W + ix) * Q + q];
        bvec4 take = bvec4(uvec4(greaterThan(v, m)) | uvec4(isnan(v)));
        m = mix(m, v, take);
        a = mix(a, ivec4(iy * W + ix), take);
      }
    bvec4 pad = greaterThanEqual(ivec4(4 * q) + ivec4(0, 1, 2, 3), ivec4(C));
    int o = (n * OH + oy) * row + i;
    y[o] = mix(m, vec4(0.0), pad);
    idx[o] = mix(a, ivec4(-1), pad);
  }
}
