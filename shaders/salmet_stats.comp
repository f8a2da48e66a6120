#version 450
// Per-image statistics of the salient-object metrics (include/evonet/ops/sal_metrics.h): one
// workgroup per image (looping when there are more images than groups). Phases: min/max of P;
// S per pixel (exact division), histograms of q = int(S*255) inside/outside G and double-float
// sums of S; the adaptive threshold test. The C reference ev_salmet_stats_ref performs the same
// operations in the same order: thread t owns pixels t, t+64, ...; trees halve 32, 16, ..., 1.
// pred: pixel p of image n at pred[(n*npix + p) * p_stride]; gt likewise with g_stride
// out: (n_images, 528) uint (layout in sal_metrics.h)
layout(local_size_x = 64) in;  // fixed: the summation order is part of the definition
layout(std430, binding = 0) readonly buffer Pr { float pred[]; };
layout(std430, binding = 1) readonly buffer Gt { float gt[]; };
layout(std430, binding = 2) writeonly buffer Out { uint rec[]; };
#include "push/sal_metrics.h"
EV_PUSH_BLOCK(salmet_stats)

shared uint hist[512];         // fg then bg
shared float lo_s[64], hi_s[64];
shared vec4 sum_s[64];         // (fg.h, fg.l, bg.h, bg.l)
shared uint adp_tp, adp_fp;

// ---- exact division: IEEE a / b, 0 < a <= b finite; below 2^-126: 0 (ev_salmet_div) ----
float div_rn(float a, float b) {
  uint ab = floatBitsToUint(a), bb = floatBitsToUint(b);
  int ea = int(ab >> 23), eb = int(bb >> 23);
  uint ma = ab & 0x7fffffu, mb = bb & 0x7fffffu;
  if (ea == 0) { int sh = 23 - findMSB(ma); ma <<= sh; ea = 1 - sh; } else ma |= 0x800000u;
  if (eb == 0) { int sh = 23 - findMSB(mb); mb <<= sh; eb = 1 - sh; } else mb |= 0x800000u;
  int sh = ma < mb ? 24 : 23, e = ea - eb + 127 - (sh - 23);
  // any estimate within +-100 of the quotient will do: the remainder below corrects it exactly
  float est = float(ma) / float(mb) * (sh == 24 ? 16777216.0 : 8388608.0);
  uint q = uint(est);
  int rem = int((ma << sh) - q * mb);  // wraps mod 2^32; the true value is small: exact
  while (rem < 0) { q--; rem += int(mb); }
  while (rem >= int(mb)) { q++; rem -= int(mb); }
  uint twice = 2u * uint(rem);
  if (twice > mb || (twice == mb && (q & 1u) != 0u)) q++;
  if (q == 0x1000000u) { q = 0x800000u; e++; }
  if (e <= 0) return 0.0;
  return uintBitsToFloat(uint(e) << 23 | (q & 0x7fffffu));
}

float norm(float p, float mn, float range) {
  if (range > 0.0) {
    if (floatBitsToUint(range) == 0x7f800000u) return 0.0;
    precise float d = p - mn;
    if (!(d > 0.0)) return 0.0;
    return div_rn(d, range);
  }
  float s = p;
  if (!(s >= 0.0)) s = 0.0;
  if (s > 1.0) s = 1.0;
  return s;
}

// ---- double-float arithmetic, every operation precise (the C in sal_metrics.c) ----
vec2 two_sum(float a, float b) {
  precise float s = a + b, bb = s - a, t = s - bb;
  precise float e1 = a - t, e2 = b - bb, e = e1 + e2;
  return vec2(s, e);
}
vec2 fast_two_sum(float a, float b) {
  precise float s = a + b, t = s - a, e = b - t;
  return vec2(s, e);
}
vec2 df_add_f(vec2 a, float x) {
  vec2 s = two_sum(a.x, x);
  precise float e = s.y + a.y;
  return fast_two_sum(s.x, e);
}
vec2 df_add(vec2 a, vec2 b) {
  vec2 s = two_sum(a.x, b.x), t = two_sum(a.y, b.y);
  precise float c = s.y + t.x;
  vec2 v = fast_two_sum(s.x, c);
  precise float w = t.y + v.y;
  return fast_two_sum(v.x, w);
}
vec2 split(float a) {
  precise float c = 4097.0 * a, t = c - a, hi = c - t, lo = a - hi;
  return vec2(hi, lo);
}
vec2 two_prod(float a, float b) {
  vec2 as = split(a), bs = split(b);
  precise float p = a * b;
  precise float e = as.x * bs.x;
  e = e - p;
  precise float t = as.x * bs.y;
  e = e + t;
  t = as.y * bs.x;
  e = e + t;
  t = as.y * bs.y;
  e = e + t;
  return vec2(p, e);
}
bool adaptive(float s, float n, vec2 sum) {
  if (s >= 1.0) return true;
  precise vec2 m2 = -2.0 * sum;  // exact
  vec2 d = df_add(two_prod(s, n), m2);
  return d.x >= 0.0;
}

void main() {
  uint t = gl_LocalInvocationID.x;
  for (uint img = gl_WorkGroupID.x; img < n_images; img += gl_NumWorkGroups.x) {  // uniform
    uint pbase = img * npix;
    for (uint k = t; k < 512u; k += 64u) hist[k] = 0u;
    if (t == 0u) { adp_tp = 0u; adp_fp = 0u; }
    // min and max, ignoring NaN as the CPU does (a NaN never compares less or greater)
    float lo = uintBitsToFloat(0x7f800000u), hi = -lo;
    for (uint p = t; p < npix; p += 64u) {
      float v = pred[(pbase + p) * p_stride];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    lo_s[t] = lo;
    hi_s[t] = hi;
    barrier();
    for (uint h = 32u; h > 0u; h >>= 1) {
      if (t < h) {
        if (lo_s[t + h] < lo_s[t]) lo_s[t] = lo_s[t + h];
        if (hi_s[t + h] > hi_s[t]) hi_s[t] = hi_s[t + h];
      }
      barrier();
    }
    float mn = lo_s[0], mx = hi_s[0];
    precise float range = mx - mn;
    if (!(mx > mn)) range = 0.0;
    // histograms and the sums of S over G and outside it
    vec2 fg = vec2(0.0), bg = vec2(0.0);
    for (uint p = t; p < npix; p += 64u) {
      float s = norm(pred[(pbase + p) * p_stride], mn, range);
      precise float s255 = s * 255.0;
      uint q = min(uint(int(s255)), 255u);
      if (gt[(pbase + p) * g_stride] > 0.5) {
        atomicAdd(hist[q], 1u);
        fg = df_add_f(fg, s);
      } else {
        atomicAdd(hist[256u + q], 1u);
        bg = df_add_f(bg, s);
      }
    }
    sum_s[t] = vec4(fg, bg);
    barrier();
    for (uint h = 32u; h > 0u; h >>= 1) {
      if (t < h) {
        vec4 a = sum_s[t], b = sum_s[t + h];
        sum_s[t] = vec4(df_add(a.xy, b.xy), df_add(a.zw, b.zw));
      }
      barrier();
    }
    vec4 tot = sum_s[0];
    vec2 sum = df_add(tot.xy, tot.zw);
    // the adaptive threshold
    uint tp = 0u, fp = 0u;
    for (uint p = t; p < npix; p += 64u) {
      float s = norm(pred[(pbase + p) * p_stride], mn, range);
      if (!adaptive(s, float(npix), sum)) continue;
      if (gt[(pbase + p) * g_stride] > 0.5) tp++;
      else fp++;
    }
    atomicAdd(adp_tp, tp);
    atomicAdd(adp_fp, fp);
    barrier();
    uint r = img * 528u;
    for (uint k = t; k < 512u; k += 64u) rec[r + k] = hist[k];
    if (t == 0u) {
      rec[r + 512u] = adp_tp;
      rec[r + 513u] = adp_fp;
      rec[r + 514u] = floatBitsToUint(mn);
      rec[r + 515u] = floatBitsToUint(mx);
      rec[r + 516u] = floatBitsToUint(tot.x);
      rec[r + 517u] = floatBitsToUint(tot.y);
      rec[r + 518u] = floatBitsToUint(tot.z);
      rec[r + 519u] = floatBitsToUint(tot.w);
    }
    if (t >= 520u - 512u && t < 528u - 512u) rec[r + 512u + t] = 0u;
    barrier();  // shared memory is reused by the next image
  }
}
