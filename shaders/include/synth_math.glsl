// The synthesis decision, operation for operation the C in src/ops/synth.c (ev_synth_*):
// only fp32 +, -, * (correctly rounded in Vulkan), each `precise` (NoContraction: never fused
// into an fma), constants given as bit patterns, no denormal anywhere. See ops/synth.h.
#ifndef EV_SYNTH_MATH_GLSL
#define EV_SYNTH_MATH_GLSL

const uint SYNTH_FLT_MIN_BITS = 0x00800000u;  // 2^-126
const uint SYNTH_RECIP_LO = 0x0d800000u;      // 2^-100
const uint SYNTH_RECIP_HI = 0x71800000u;      // 2^100

// |w| as float bits, 0 below FLT_MIN: integer ops only, so a device that flushes denormals
// and one that keeps them read the same value. Positive floats order like their bits.
uint synth_abs_bits(float w) {
  uint b = floatBitsToUint(w) & 0x7fffffffu;
  return b < SYNTH_FLT_MIN_BITS ? 0u : b;
}
float synth_abs(float w) { return uintBitsToFloat(synth_abs_bits(w)); }

// ~1/z: 4 Newton steps from a bit-trick seed (relative error 12% -> 2e-2 -> 2e-4 -> 6e-8 ->
// rounding). 0 when z is outside [2^-100, 2^100] (tested on the bits: NaN-proof).
float synth_recip(float z) {
  uint b = floatBitsToUint(z);
  if (b < SYNTH_RECIP_LO || b > SYNTH_RECIP_HI) return 0.0;
  precise float y = uintBitsToFloat(0x7EF311C3u - b);
  for (int k = 0; k < 4; k++) {
    precise float e = z * y;
    e = 2.0 - e;
    y = y * e;
  }
  return y;
}

// ~exp(t) for |t| <= 0.5: Horner on the degree-8 Taylor polynomial (coefficients 1/n! rounded
// to float, written as bits so no decimal parsing is involved).
float synth_exp_poly(float t) {
  const uint c[9] = uint[9](0x3f800000u, 0x3f800000u, 0x3f000000u, 0x3e2aaaabu, 0x3d2aaaabu,
                            0x3c088889u, 0x3ab60b61u, 0x39500d01u, 0x37d00d01u);
  precise float p = uintBitsToFloat(c[8]);
  for (int n = 7; n >= 0; n--) {
    p = p * t;
    p = p + uintBitsToFloat(c[n]);
  }
  return p;
}

// keep iff K * exp_poly(a*R - 0.5) >= r   (alpha * exp(a/Z - 1) >= r; K = alpha * e^-0.5).
bool synth_keep(float a, float R, float K, float r) {
  precise float t = a * R;
  t = t - 0.5;
  precise float e = synth_exp_poly(t);
  precise float p = K * e;
  return p >= r;
}

// ~exp(y) for y < 0 (0 below -86), as ev_synth_exp_neg: Cody-Waite reduction with exact
// steps, the polynomial, and 2^k made from bits.
float synth_exp_neg(float y) {
  if (!(y >= -86.0)) return 0.0;
  precise float k = y * uintBitsToFloat(0x3fb8aa3bu);
  k = k + 0.5;
  k = floor(k);
  precise float h = k * uintBitsToFloat(0x3f317200u);
  precise float l = k * uintBitsToFloat(0x35bfbe8eu);
  precise float f = y - h;
  f = f - l;
  precise float p = synth_exp_poly(f);
  precise float r = p * uintBitsToFloat(uint(int(k) + 127) << 23);
  return r;
}

// The budget rule: keep iff min(1, exp(a*inv_t - shift)) >= r.
bool synth_keep_budget(float a, float inv_t, float shift, float r) {
  precise float y = a * inv_t;
  y = y - shift;
  if (y >= 0.0) return true;
  return synth_exp_neg(y) >= r;
}
#endif
