#version 450
// Softmax cross-entropy, pass 3: dz[p][c] = w[t]/sum_w * (softmax(z_p)[c] - [c == t]),
// zero for ignored pixels (t outside [0, C)) and in padding lanes. sum_w = part[0].
// A soft target (TARGET_KIND 2, C == 2), a = (w0 (1-t), w1 t): dz = (sum(a) softmax(z) - a) / sum_w.
// logits: (P, Q) texels, dz: (P, Q) vec4; target: (P,) float or int32 bits; weights: (C,) float; part: float[].
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int TARGET_KIND = 0; // 0 mask, 1 index, 2 soft
layout(constant_id = 1) const int HAS_W = 0;
layout(binding = 0) uniform samplerBuffer Z; // texel reads: an SSBO load costs several on CPU drivers
layout(std430, binding = 1) readonly buffer T { float target[]; };
layout(std430, binding = 2) readonly buffer Wt { float wt[]; };
layout(std430, binding = 3) readonly buffer Part { float part[]; };
layout(std430, binding = 4) writeonly buffer DZ { vec4 dz[]; };
#include "push/loss.h"
EV_PUSH_BLOCK(softmax_ce_bwd)

int target_class(uint p) {
  return TARGET_KIND == 1 ? floatBitsToInt(target[p]) : (target[p] > 0.5 ? 1 : 0);
}
bvec4 real(uint q) { return lessThan(uvec4(4 * q) + uvec4(0, 1, 2, 3), uvec4(C)); }

void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  float inv_sw = 1.0 / part[0];
  for (uint p = gl_GlobalInvocationID.x; p < P; p += stride) {
    float m = uintBitsToFloat(0xff800000u);
    for (uint q = 0; q < Q; q++) {
      vec4 v = mix(vec4(m), texelFetch(Z, int(p * Q + q)), real(q));
      m = max(m, max(max(v.x, v.y), max(v.z, v.w)));
    }
    float s = 0.0;
    for (uint q = 0; q < Q; q++) s += dot(mix(vec4(0.0), exp(texelFetch(Z, int(p * Q + q)) - m), real(q)), vec4(1.0));
    if (TARGET_KIND == 2) {
      float t = target[p];
      vec4 e = mix(vec4(0.0), exp(texelFetch(Z, int(p * Q)) - m) / s, real(0));
      vec2 a = (HAS_W != 0 ? vec2(wt[0], wt[1]) : vec2(1.0)) * vec2(1.0 - t, t);
      dz[p * Q] = inv_sw * ((a.x + a.y) * e - vec4(a, 0.0, 0.0));
      continue;
    }
    int t = target_class(p);
    bool valid = t >= 0 && t < int(C);
    float scale = valid ? (HAS_W != 0 ? wt[t] : 1.0) * inv_sw : 0.0;
    for (uint q = 0; q < Q; q++) {
      vec4 e = mix(vec4(0.0), exp(texelFetch(Z, int(p * Q + q)) - m) / s, real(q));
      vec4 onehot = vec4(equal(ivec4(4 * q) + ivec4(0, 1, 2, 3), ivec4(t)));
      dz[p * Q + q] = scale * (e - onehot);
    }
  }
}
