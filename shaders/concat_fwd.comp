#version 450
// Channel concatenation of up to 4 NHWC-C4 tensors, packed densely (input padding dropped).
// x_s: (npix, c4in[s]) float, y: (npix, qout) vec4 with qout*4 = C4(cout), cout = sum cin.
// Output channel ch comes from input s = last s with off[s] <= ch, channel ch - off[s];
// unused inputs have off[s] = cout so they are never chosen. Padding lanes of y are zero.
// ALIGNED (every off[s] % 4 == 0): each output quad is exactly one input quad (the last
// input's zero padding lands in y's padding), so a plain vec4 copy. Otherwise lane by lane.
// The choice is a specialization constant: a per-quad branch costs 3x on CPU drivers.
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int ALIGNED = 0;
layout(std430, binding = 0) readonly buffer X0 { float x0[]; };
layout(std430, binding = 1) readonly buffer X1 { float x1[]; };
layout(std430, binding = 2) readonly buffer X2 { float x2[]; };
layout(std430, binding = 3) readonly buffer X3 { float x3[]; };
// the same buffers seen as vec4 (aliasing one binding is allowed for storage buffers)
layout(std430, binding = 0) readonly buffer V0 { vec4 v0[]; };
layout(std430, binding = 1) readonly buffer V1 { vec4 v1[]; };
layout(std430, binding = 2) readonly buffer V2 { vec4 v2[]; };
layout(std430, binding = 3) readonly buffer V3 { vec4 v3[]; };
layout(std430, binding = 4) writeonly buffer Y { vec4 y[]; };
#include "push/eltwise.h"
EV_PUSH_BLOCK(concat_fwd)
float fetch(int s, uint i) {
  if (s == 0) return x0[i];
  if (s == 1) return x1[i];
  if (s == 2) return x2[i];
  return x3[i];
}
vec4 fetch4(int s, uint i) {
  if (s == 0) return v0[i];
  if (s == 1) return v1[i];
  if (s == 2) return v2[i];
  return v3[i];
}
int source(int ch) { return ch >= off.w ? 3 : ch >= off.z ? 2 : ch >= off.y ? 1 : 0; }
void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x, total = npix * qout;
  for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
    uint p = i / qout, q = i - p * qout;
    int ch0 = int(q) * 4;
    vec4 v = vec4(0.0);
    if (ALIGNED != 0) {
      int s = source(ch0);
      v = fetch4(s, p * uint(c4in[s] / 4) + uint((ch0 - off[s]) / 4));
    } else {
      for (int j = 0; j < 4; j++) {
        int ch = ch0 + j, s = source(ch);
        if (ch < int(cout)) v[j] = fetch(s, p * uint(c4in[s]) + uint(ch - off[s]));
      }
    }
    y[i] = v;
  }
}
