// Activations, as evonet/ops/act.h defines them (the same numbering as ev_act_kind).
// A shader that fuses one declares two specialization constants, the kind (int) and alpha
// (float; the host passes ev_act_spec_alpha()'s bits), and calls act_fwd / act_bwd with
// them: after specialization only the chosen kind's code is left. The backward takes the
// activation's OUTPUT y (never its input): relu and leaky_relu select on y > 0 (a NaN y
// takes the other branch), tanh multiplies by 1 - y*y.
#ifndef EV_ACT_GLSL
#define EV_ACT_GLSL

const int ACT_NONE = 0, ACT_RELU = 1, ACT_LEAKY_RELU = 2, ACT_TANH = 3;

float act_fwd(int kind, float alpha, float z) {
  if (kind == ACT_RELU) return max(z, 0.0);
  if (kind == ACT_LEAKY_RELU) return z > 0.0 ? z : alpha * z;
  if (kind == ACT_TANH) return tanh(z);
  return z;
}

vec4 act_fwd(int kind, float alpha, vec4 z) {
  if (kind == ACT_RELU) return max(z, vec4(0.0));
  if (kind == ACT_LEAKY_RELU) return mix(alpha * z, z, greaterThan(z, vec4(0.0)));
  if (kind == ACT_TANH) return tanh(z);
  return z;
}

float act_bwd(int kind, float alpha, float y, float dy) {
  if (kind == ACT_RELU) return y > 0.0 ? dy : 0.0;
  if (kind == ACT_LEAKY_RELU) return y > 0.0 ? dy : alpha * dy;
  if (kind == ACT_TANH) return dy * (1.0 - y * y);
  return dy;
}

vec4 act_bwd(int kind, float alpha, vec4 y, vec4 dy) {
  if (kind == ACT_RELU) return mix(vec4(0.0), dy, greaterThan(y, vec4(0.0))); // a select
  if (kind == ACT_LEAKY_RELU) return mix(alpha * dy, dy, greaterThan(y, vec4(0.0)));
  if (kind == ACT_TANH) return dy * (1.0 - y * y);
  return dy;
}
#endif
