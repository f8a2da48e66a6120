/* C references for the weight and bias gradients of conv2d and transposed conv2d
 * (see evonet/ops/conv_wgrad.h for layouts). Sums run in double. */
#include "evonet/ops/conv_wgrad.h"

/* dw[o][ky][kx][i] (+)= sum_{b,ry,rx} r[b][ry][rx][o] * c[b][ry*sh-ph+ky*dh][rx*sw-pw+kx*dw][i]
 * r: (n, hr, wr, c4(rows)), c: (n, hc, wc, c4(cols)), dw: (rows, kh, kw, c4(cols)). */
static void wgrad_ref(const ev_conv_desc *d, int n, int hr, int wr, int rows, const float *r,
                      int hc, int wc, int cols, const float *c, float *dw, int accumulate) {
  int r4 = ev_c4(rows), c4 = ev_c4(cols);
  for (int o = 0; o < rows; o++)
    for (int ky = 0; ky < d->kh; ky++)
      for (int kx = 0; kx < d->kw; kx++)
        for (int i = 0; i < c4; i++) {
          float *out = &dw[((o * d->kh + ky) * d->kw + kx) * c4 + i];
          if (i >= cols) { /* padded entries are zero, accumulate or not */
            *out = 0.0f;
            continue;
          }
          double acc = 0;
          for (int b = 0; b < n; b++)
            for (int ry = 0; ry < hr; ry++) {
              int cy = ry * d->stride_h - d->pad_h + ky * d->dil_h;
              if (cy < 0 || cy >= hc) continue;
              for (int rx = 0; rx < wr; rx++) {
                int cx = rx * d->stride_w - d->pad_w + kx * d->dil_w;
                if (cx < 0 || cx >= wc) continue;
                acc += (double)r[(((size_t)b * hr + ry) * wr + rx) * r4 + o] *
                       c[(((size_t)b * hc + cy) * wc + cx) * c4 + i];
              }
            }
          *out = (float)((accumulate ? *out : 0.0) + acc);
        }
}

/* dbias[ch] (+)= sum over pixels of g[pixel][ch]; g: (pixels, c4(chans)). */
static void bias_ref(int pixels, int chans, const float *g, float *dbias, int accumulate) {
  int c4 = ev_c4(chans);
  for (int ch = 0; ch < c4; ch++) {
    double acc = 0;
    for (int p = 0; ch < chans && p < pixels; p++) acc += g[(size_t)p * c4 + ch];
    dbias[ch] = ch < chans ? (float)((accumulate ? dbias[ch] : 0.0) + acc) : 0.0f;
  }
}

void ev_conv2d_backward_weight_ref(const ev_conv_desc *d, int n, int h, int w, const float *x,
                                   const float *dy, float *dw, float *dbias, int accumulate) {
  int ho = ev_conv_out_size(h, d->kh, d->stride_h, d->pad_h, d->dil_h);
  int wo = ev_conv_out_size(w, d->kw, d->stride_w, d->pad_w, d->dil_w);
  /* rows: dy's output channels, taps read x */
  wgrad_ref(d, n, ho, wo, d->cout, dy, h, w, d->cin, x, dw, accumulate);
  if (dbias) bias_ref(n * ho * wo, d->cout, dy, dbias, accumulate);
}

void ev_deconv2d_backward_weight_ref(const ev_conv_desc *d, int n, int h, int w, const float *x,
                                     const float *dy, float *dw, float *dbias, int accumulate) {
  int ho = ev_deconv_out_size(h, d->kh, d->stride_h, d->pad_h, d->dil_h, d->out_pad_h);
  int wo = ev_deconv_out_size(w, d->kw, d->stride_w, d->pad_w, d->dil_w, d->out_pad_w);
  /* the deconv's output pixel (iy*sh-ph+ky*dh, ix*sw-pw+kx*dw) received x[iy][ix][ci]*W[ci][ky][kx][co] */
  wgrad_ref(d, n, h, w, d->cin, x, ho, wo, d->cout, dy, dw, accumulate);
  if (dbias) bias_ref(n * ho * wo, d->cout, dy, dbias, accumulate);
}
