#version 450
// dx = dy * [y > 0], y = the forward's output (so no need to keep its input).
// y, dy, dx: (n4,) vec4 (an NHWC-C4 tensor); dx may be dy's buffer (in place).
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer Yb { vec4 y[]; };
layout(std430, binding = 1) readonly buffer DY { vec4 dy[]; };
layout(std430, binding = 2) writeonly buffer DX { vec4 dx[]; };
layout(push_constant) uniform P { uint n4; };
void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < n4; i += stride)
    dx[i] = mix(vec4(0.0), dy[i], greaterThan(y[i], vec4(0.0)));  // select, not multiply
}
