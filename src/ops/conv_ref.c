/* C references for conv2d / transposed conv2d forward and input-gradient passes
 * (see evonet/ops/conv.h for layouts). Two loops serve all four passes, as the GPU does:
 *   gather_fwd: out[p] = sum over taps of src[p*stride - pad + k*dil] . w[out channel][k]
 *   gather_bwd: its adjoint, out[q] = sum over (p, k) with q = p*stride - pad + k*dil.
 * Sums run in double. */
#include <stddef.h>

#include "evonet/ops/conv.h"

/* out (n, ho, wo, c4(rows)) from src (n, hs, ws, c4(cs)) and wt (rows, kh, kw, c4(cs)). */
static void gather_fwd(const ev_conv_desc *d, int n, int hs, int ws, int cs, const float *src,
                       const float *wt, int rows, const float *bias, const ev_act *act, int ho, int wo,
                       float *out) {
  int s4 = ev_c4(cs), r4 = ev_c4(rows);
  for (int b = 0; b < n; b++)
    for (int oy = 0; oy < ho; oy++)
      for (int ox = 0; ox < wo; ox++) {
        float *o = &out[(((size_t)b * ho + oy) * wo + ox) * r4];
        for (int r = 0; r < r4; r++) {
          if (r >= rows) {
            o[r] = 0.0f;
            continue;
          }
          double acc = bias ? bias[r] : 0.0;
          for (int ky = 0; ky < d->kh; ky++) {
            int iy = oy * d->stride_h - d->pad_h + ky * d->dil_h;
            if (iy < 0 || iy >= hs) continue;
            for (int kx = 0; kx < d->kw; kx++) {
              int ix = ox * d->stride_w - d->pad_w + kx * d->dil_w;
              if (ix < 0 || ix >= ws) continue;
              const float *xp = &src[(((size_t)b * hs + iy) * ws + ix) * s4];
              const float *wp = &wt[(((size_t)r * d->kh + ky) * d->kw + kx) * s4];
              for (int i = 0; i < cs; i++) acc += (double)xp[i] * wp[i];
            }
          }
          o[r] = (float)ev_act_fwd_ref(act, acc);
        }
      }
}

/* out (n, ho, wo, c4(cols)) from src (n, hs, ws, c4(cs)) and wt (cs, kh, kw, c4(cols)):
 * out[q] = sum_{p, k : q = p*stride - pad + k*dil} src[p] . wt[.][k][col]. */
static void gather_bwd(const ev_conv_desc *d, int n, int hs, int ws, int cs, const float *src,
                       const float *wt, int cols, const float *bias, int ho, int wo, float *out) {
  int s4 = ev_c4(cs), c4 = ev_c4(cols);
  for (int b = 0; b < n; b++)
    for (int qy = 0; qy < ho; qy++)
      for (int qx = 0; qx < wo; qx++) {
        float *o = &out[(((size_t)b * ho + qy) * wo + qx) * c4];
        for (int c = 0; c < c4; c++) {
          if (c >= cols) {
            o[c] = 0.0f;
            continue;
          }
          double acc = bias ? bias[c] : 0.0;
          for (int ky = 0; ky < d->kh; ky++) {
            int ty = qy + d->pad_h - ky * d->dil_h; /* = py * stride_h */
            if (ty < 0 || ty % d->stride_h) continue;
            int py = ty / d->stride_h;
            if (py >= hs) continue;
            for (int kx = 0; kx < d->kw; kx++) {
              int tx = qx + d->pad_w - kx * d->dil_w;
              if (tx < 0 || tx % d->stride_w) continue;
              int px = tx / d->stride_w;
              if (px >= ws) continue;
              const float *sp = &src[(((size_t)b * hs + py) * ws + px) * s4];
              for (int i = 0; i < cs; i++)
                acc += (double)sp[i] * wt[(((size_t)i * d->kh + ky) * d->kw + kx) * c4 + c];
            }
          }
          o[c] = (float)acc;
        }
      }
}

void ev_conv2d_forward_ref(const ev_conv_desc *d, int n, int h, int w, const float *x,
                           const float *wt, const float *bias, const ev_act *act, float *y) {
  int ho = ev_conv_out_size(h, d->kh, d->stride_h, d->pad_h, d->dil_h);
  int wo = ev_conv_out_size(w, d->kw, d->stride_w, d->pad_w, d->dil_w);
  gather_fwd(d, n, h, w, d->cin, x, wt, d->cout, bias, act, ho, wo, y);
}

void ev_conv2d_backward_data_ref(const ev_conv_desc *d, int n, int h, int w, const float *dy,
                                 const float *wt, float *dx) {
  int ho = ev_conv_out_size(h, d->kh, d->stride_h, d->pad_h, d->dil_h);
  int wo = ev_conv_out_size(w, d->kw, d->stride_w, d->pad_w, d->dil_w);
  gather_bwd(d, n, ho, wo, d->cout, dy, wt, d->cin, NULL, h, w, dx);
}

void ev_deconv2d_forward_ref(const ev_conv_desc *d, int n, int h, int w, const float *x,
                             const float *wt, const float *bias, float *y) {
  int ho = ev_deconv_out_size(h, d->kh, d->stride_h, d->pad_h, d->dil_h, d->out_pad_h);
  int wo = ev_deconv_out_size(w, d->kw, d->stride_w, d->pad_w, d->dil_w, d->out_pad_w);
  gather_bwd(d, n, h, w, d->cin, x, wt, d->cout, bias, ho, wo, y);
}

void ev_deconv2d_backward_data_ref(const ev_conv_desc *d, int n, int h, int w, const float *dy,
                                   const float *wt, float *dx) {
  int ho = ev_deconv_out_size(h, d->kh, d->stride_h, d->pad_h, d->dil_h, d->out_pad_h);
  int wo = ev_deconv_out_size(w, d->kw, d->stride_w, d->pad_w, d->dil_w, d->out_pad_w);
  gather_fwd(d, n, ho, wo, d->cout, dy, wt, d->cin, NULL, NULL, h, w, dx);
}
