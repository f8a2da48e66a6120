#version 450
// Split-K reduction of the weight gradient, in a fixed order (deterministic, no atomics).
//   part: (splits, total4) vec4 partial sums, each slice in dw's OHWI4 layout
//   dw:   (total4,) vec4 = (accumulate ? dw : 0) + sum over slices; entries i >= cols := 0
//   total4 = O * kh * kw * c4 / 4, c4 = 4 * cq
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer PART { vec4 part[]; };
layout(std430, binding = 1) buffer DW { vec4 dw[]; };
#include "push/conv.h"
EV_PUSH_BLOCK(wgrad_reduce)
void main() {
  uint e = gl_GlobalInvocationID.x;
  if (e >= total4) return;
  vec4 s = vec4(0.0);
  for (uint k = 0; k < splits; k++) s += part[k * total4 + e];
  uint ilo = (e % cq) * 4;
  bvec4 keep = (lessThan(uvec4(ilo) + uvec4(0, 1, 2, 3), uvec4(cols)));
  if (accumulate != 0) s += dw[e];
  dw[e] = mix(vec4(0.0), s, keep); // a select: NaN in dropped lanes stays out
}
