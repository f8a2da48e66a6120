#version 450
// Softmax cross-entropy, pass 2: one workgroup sums the chunks' (sum w*l, sum w) in a fixed
// order (each invocation a contiguous run, then invocation 0 over the invocations) and
// writes loss[0] = sum w*l / sum w, part[0] = sum w (the gradient's normaliser), part[1] = sum w*l.
// part: float[4 + 2*chunks]; loss: float[1].
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) buffer Part { float part[]; };
layout(std430, binding = 1) writeonly buffer Loss { float loss[]; };
#include "push/loss.h"
EV_PUSH_BLOCK(softmax_ce_combine)
shared vec2 s_acc[gl_WorkGroupSize.x];
void main() {
  uint t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
  uint per = (chunks + wg - 1) / wg, k0 = min(chunks, t * per), k1 = min(chunks, k0 + per);
  vec2 acc = vec2(0.0);
  for (uint k = k0; k < k1; k++) acc += vec2(part[4 + 2 * k], part[5 + 2 * k]);
  s_acc[t] = acc;
  barrier();
  if (t != 0) return;
  for (uint j = 1; j < wg; j++) acc += s_acc[j];
  part[0] = acc.y;
  part[1] = acc.x;
  loss[0] = acc.x / acc.y;
}
