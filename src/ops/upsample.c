/* Host side of the bilinear resize (shaders upsample_fwd, upsample_bwd) and its C reference. */
#include "evonet/ops/upsample.h"
#include "push/upsample.h"

/* small: (N, H, W, C) source side, big: (N, OH, OW, C) destination side of the forward */
static ev_status check_up(const char *op, ev_tensor *small, ev_tensor *big, ev_push_upsample *pc) {
  EV_TRY(ev_tensor_check(op, "the input", small));
  EV_TRY(ev_tensor_check(op, "the output", big));
  if (small->n != big->n || small->c != big->c)
    return ev_fail(EV_ERR_ARG, "%s: input (%d, %d, %d, %d) and output (%d, %d, %d, %d) differ in N or C", op,
                   small->n, small->c, small->h, small->w, big->n, big->c, big->h, big->w);
  if (ev_buf_overlap(&small->buf, &big->buf))
    return ev_fail(EV_ERR_ARG, "%s: input and output overlap", op);
  /* the shaders split a row's texel index with a float division: exact below 2^21 */
  if ((uint64_t)big->w * (ev_c4(big->c) / 4) >= (1u << 21))
    return ev_fail(EV_ERR_LIMIT, "%s: rows of %d x %d channels are too wide", op, big->w, big->c);
  *pc = (ev_push_upsample){small->n, small->h, small->w, ev_c4(small->c) / 4, big->h, big->w,
                  (float)small->h / (float)big->h, (float)small->w / (float)big->w};
  return EV_OK;
}

ev_status ev_upsample_forward(ev_stream *s, ev_tensor *x, ev_tensor *y) {
  ev_push_upsample pc;
  EV_TRY(check_up("upsample", x, y, &pc));
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "upsample_fwd", .bindings = "tw",
                                                .push_size = sizeof pc, .local_size_x = wg}, &p));
  /* x: the texels of one output row, y: rows, z: images (limits checked by ev_dispatch) */
  return ev_dispatch(s, p, (uint32_t[3]){ev_gpu_grid_groups(g, (uint64_t)pc.OW * pc.Q, wg), (uint32_t)pc.OH, (uint32_t)pc.N},
                     (ev_buf *[]){&x->buf, &y->buf}, &pc);
}

ev_status ev_upsample_backward(ev_stream *s, ev_tensor *dy, ev_tensor *dx) {
  ev_push_upsample pc;
  EV_TRY(check_up("upsample backward", dx, dy, &pc));
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "upsample_bwd", .bindings = "tw",
                                                .push_size = sizeof pc, .local_size_x = wg}, &p));
  /* x: the texels of an input row, y: rows, z: images */
  return ev_dispatch(s, p, (uint32_t[3]){ev_gpu_grid_groups(g, (uint64_t)pc.W * pc.Q, wg), (uint32_t)pc.H, (uint32_t)pc.N},
                     (ev_buf *[]){&dy->buf, &dx->buf}, &pc);
}

/* ---------------- references ---------------- */
/* PyTorch's source index and weights along one axis (fp32, as in the CPU kernel). */
static void taps(int o, int in, int out, int *i0, int *i1, double *l0, double *l1) {
  float scale = (float)in / (float)out;
  float src = scale * ((float)o + 0.5f) - 0.5f;
  if (src < 0) src = 0;
  *i0 = (int)src;
  *i1 = *i0 + (*i0 < in - 1 ? 1 : 0);
  float lam = src - (float)*i0;
  *l1 = lam, *l0 = 1.0f - lam;
}

void ev_upsample_forward_ref(const double *x, int n, int h, int w, int c, int oh, int ow, double *y) {
  int c4 = ev_c4(c);
  for (int b = 0; b < n; b++)
    for (int oy = 0; oy < oh; oy++) {
      int y0, y1;
      double ly0, ly1;
      taps(oy, h, oh, &y0, &y1, &ly0, &ly1);
      for (int ox = 0; ox < ow; ox++) {
        int x0, x1;
        double lx0, lx1;
        taps(ox, w, ow, &x0, &x1, &lx0, &lx1);
        const double *r0 = x + ((size_t)b * h + y0) * w * c4, *r1 = x + ((size_t)b * h + y1) * w * c4;
        double *o = y + (((size_t)b * oh + oy) * ow + ox) * c4;
        for (int k = 0; k < c4; k++)
          o[k] = ly0 * (lx0 * r0[x0 * c4 + k] + lx1 * r0[x1 * c4 + k]) +
                 ly1 * (lx0 * r1[x0 * c4 + k] + lx1 * r1[x1 * c4 + k]);
      }
    }
}

void ev_upsample_backward_ref(const double *dy, int n, int h, int w, int c, int oh, int ow, double *dx) {
  int c4 = ev_c4(c);
  for (size_t i = 0; i < (size_t)n * h * w * c4; i++) dx[i] = 0;
  for (int b = 0; b < n; b++)
    for (int oy = 0; oy < oh; oy++) {
      int y0, y1;
      double ly0, ly1;
      taps(oy, h, oh, &y0, &y1, &ly0, &ly1);
      for (int ox = 0; ox < ow; ox++) {
        int x0, x1;
        double lx0, lx1;
        taps(ox, w, ow, &x0, &x1, &lx0, &lx1);
        const double *g = dy + (((size_t)b * oh + oy) * ow + ox) * c4;
        double *r0 = dx + ((size_t)b * h + y0) * w * c4, *r1 = dx + ((size_t)b * h + y1) * w * c4;
        for (int k = 0; k < c4; k++) { /* the four taps, as PyTorch's backward scatters them */
          r0[x0 * c4 + k] += ly0 * lx0 * g[k];
          r0[x1 * c4 + k] += ly0 * lx1 * g[k];
          r1[x0 * c4 + k] += ly1 * lx0 * g[k];
          r1[x1 * c4 + k] += ly1 * lx1 * g[k];
        }
      }
    }
}
