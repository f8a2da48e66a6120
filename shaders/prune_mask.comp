#version 450
// The pruning baselines' mask (ops/prune.h): child = 1 for a live synapse with key > kfix, or
// key == kfix and index e <= efix; 0 elsewhere, padding included. flags bit 3: keep every
// live synapse; bit 4: keep none.
// w, anc, child: (O, kh, kw, I4) float
#include "philox.glsl"
#include "synth_math.glsl"
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer W { float w[]; };
layout(std430, binding = 1) readonly buffer A { float anc[]; };
layout(std430, binding = 2) writeonly buffer C { float child[]; };
#include "push/prune.h"
EV_PUSH_BLOCK(prune_mask)
#include "prune_key.glsl"
void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint a = gl_GlobalInvocationID.x; a < nall; a += stride) {  // every OHWI4 entry
    uint i = a % I4, t = a / I4, kx = t % kw;
    t /= kw;
    uint ky = t % kh, o = t / kh;
    bool keep = false;
    if (i < I && (flags & 16u) == 0u) {
      uint e = ((o * I + i) * kh + ky) * kw + kx, key;
      if (prune_key(e, key)) keep = (flags & 8u) != 0u || key > kfix || (key == kfix && e <= efix);
    }
    child[a] = keep ? 1.0 : 0.0;
  }
}
