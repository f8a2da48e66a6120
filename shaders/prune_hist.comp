#version 450
// One radix-selection step of the pruning baselines (ops/prune.h): a 256-bin histogram of one
// 8-bit digit over the live synapses that match what is already fixed.
// PHASE 0: digit (key >> shift) & 255 of the synapses whose key has the prefix bits `pre`
//          above `shift` (key & ~((256 << shift) - 1) == pre; shift 24 matches all).
// PHASE 1: digit (e >> shift) & 255 of the synapses with key == kfix whose index e has the
//          prefix `pre` above `shift`.
// w, anc: (O, kh, kw, I4) float; hist: (256,) uint, zeroed by the host
#include "philox.glsl"
#include "synth_math.glsl"
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer W { float w[]; };
layout(std430, binding = 1) readonly buffer A { float anc[]; };
layout(std430, binding = 2) buffer Hist { uint hist[]; };
#include "push/prune.h"
EV_PUSH_BLOCK(prune_hist)
shared uint local_hist[256];
#include "prune_key.glsl"
void main() {
  bool phase1 = (flags & 4u) != 0u;
  for (uint b = gl_LocalInvocationID.x; b < 256u; b += gl_WorkGroupSize.x) local_hist[b] = 0u;
  barrier();
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  uint hi_mask = shift >= 24u ? 0u : ~((256u << shift) - 1u);
  for (uint e = gl_GlobalInvocationID.x; e < total; e += stride) {
    uint key;
    if (!prune_key(e, key)) continue;
    uint v = phase1 ? e : key;
    if (phase1 && key != kfix) continue;
    if ((v & hi_mask) != pre) continue;
    atomicAdd(local_hist[(v >> shift) & 255u], 1u);
  }
  barrier();
  for (uint b = gl_LocalInvocationID.x; b < 256u; b += gl_WorkGroupSize.x)
    if (local_hist[b] != 0u) atomicAdd(hist[b], local_hist[b]);
}
