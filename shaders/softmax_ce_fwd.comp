#version 450
// Softmax cross-entropy, pass 1: per chunk of L pixels, serially, the partial sums
// sum w[t] * (logsumexp(z) - z[t]) and sum w[t]; optionally prob[p] = softmax(z)[1].
// logits: (P, Q) texels (NHWC-C4, C real lanes); target: (P,) float mask (class = t > 0.5),
// int32 bits (TARGET_KIND 1) or, for C == 2, the class-1 probability t of a soft target
// (TARGET_KIND 2: the term is (1-t) w0 (logsumexp(z) - z0) + t w1 (logsumexp(z) - z1), weight
// (1-t) w0 + t w1);
// weights: (C,) float (HAS_W); prob: (P,) float;
// part: float[4 + 2*chunks], this pass writes part[4 + 2k], part[5 + 2k].
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int TARGET_KIND = 0; // 0 mask, 1 index, 2 soft
layout(constant_id = 1) const int HAS_W = 0;
layout(constant_id = 2) const int WRITE_PROB = 0;
layout(binding = 0) uniform samplerBuffer Z; // texel reads: an SSBO load costs several on CPU drivers
layout(std430, binding = 1) readonly buffer T { float target[]; };
layout(std430, binding = 2) readonly buffer Wt { float wt[]; };
layout(std430, binding = 3) writeonly buffer Pr { float prob[]; };
layout(std430, binding = 4) writeonly buffer Part { float part[]; };
#include "push/loss.h"
EV_PUSH_BLOCK(softmax_ce_fwd)

int target_class(uint p) {
  return TARGET_KIND == 1 ? floatBitsToInt(target[p]) : (target[p] > 0.5 ? 1 : 0);
}
// lanes of quad q that are real classes
bvec4 real(uint q) { return lessThan(uvec4(4 * q) + uvec4(0, 1, 2, 3), uvec4(C)); }

float logsumexp(uint p) {
  float m = uintBitsToFloat(0xff800000u);
  for (uint q = 0; q < Q; q++) {
    vec4 v = mix(vec4(m), texelFetch(Z, int(p * Q + q)), real(q));
    m = max(m, max(max(v.x, v.y), max(v.z, v.w)));
  }
  float s = 0.0;
  for (uint q = 0; q < Q; q++) s += dot(mix(vec4(0.0), exp(texelFetch(Z, int(p * Q + q)) - m), real(q)), vec4(1.0));
  return m + log(s);
}

void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint k = gl_GlobalInvocationID.x; k < chunks; k += stride) {
    uint p0 = k * L, p1 = min(P, p0 + L);
    float swl = 0.0, sw = 0.0;
    for (uint p = p0; p < p1; p++) {
      float lse = logsumexp(p);
      if (TARGET_KIND == 2) {
        float t = target[p];
        vec4 z = texelFetch(Z, int(p * Q));
        vec2 w = HAS_W != 0 ? vec2(wt[0], wt[1]) : vec2(1.0);
        vec2 a = w * vec2(1.0 - t, t);
        swl += a.x * (lse - z.x) + a.y * (lse - z.y);
        sw += a.x + a.y;
      } else {
        int t = target_class(p);
        if (t >= 0 && t < int(C)) {
          float w = HAS_W != 0 ? wt[t] : 1.0;
          swl += w * (lse - texelFetch(Z, int(p * Q + uint(t) / 4))[t % 4]);
          sw += w;
        }
      }
      if (WRITE_PROB != 0) prob[p] = exp(texelFetch(Z, int(p * Q)).y - lse);
    }
    part[4 + 2 * k] = swl;
    part[5 + 2 * k] = sw;
  }
}
