#version 450
// Weight transpose for the adjoint conv passes (conv backward-data, deconv forward):
// w: (O, T, I4) floats (OHWI4, T = kh*kw taps), read as texels;
// wt: (I, ROW4) texels with wt[i][t*O4 + o] = w[o][t][i] (o < O), 0 for o in [O, O4);
// ROW4 >= T*O4/4 (rows padded so they do not alias in a CPU's L1; the pad is never read).
// One invocation moves a 4 x 4 block (4 o x 4 i at one tap): 4 texel reads, 4 vec4 writes.
layout(local_size_x_id = 100) in;
layout(binding = 0) uniform samplerBuffer W;
layout(std430, binding = 1) writeonly buffer WT { vec4 wt[]; };
#include "push/conv.h"
EV_PUSH_BLOCK(conv_wtranspose)
void main() {
  int idx = int(gl_GlobalInvocationID.x);
  if (idx >= I4T * T * O4T) return;
  int ob = idx % O4T, t = (idx / O4T) % T, ib = idx / (O4T * T);
  vec4 r[4];
  for (int j = 0; j < 4; j++) {
    int o = ob * 4 + j;
    r[j] = o < O ? texelFetch(W, (o * T + t) * I4T + ib) : vec4(0.0);
  }
  for (int q = 0; q < 4; q++) {
    int i = ib * 4 + q;
    if (i < I) wt[i * ROW4 + t * O4T + ob] = vec4(r[0][q], r[1][q], r[2][q], r[3][q]);
  }
}
