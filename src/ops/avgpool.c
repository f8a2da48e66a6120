/* Host side of average pooling (shaders avgpool_fwd, avgpool_bwd) and its C reference
 * (PyTorch's AvgPool2d with count_include_pad=True, floor mode; see evonet/ops/pool.h). */
#include "pool_internal.h"

/* ev_pool_check's checks, and floor mode: in ceil mode PyTorch divides a window cut by
 * the input's right/bottom edge by its part inside the padded input, not by kh*kw, which
 * these kernels do not implement. */
static ev_status check_avgpool(const char *op, const ev_pool_desc *d, ev_tensor *x, ev_tensor *y,
                               ev_push_pool *pc) {
  if (d && d->ceil_mode)
    return ev_fail(EV_ERR_ARG, "%s: ceil_mode is not supported (floor mode only)", op);
  return ev_pool_check(op, d, x, y, EV_POOL_NO_IDX, pc);
}

ev_status ev_avgpool_forward(ev_stream *s, const ev_pool_desc *d, ev_tensor *x, ev_tensor *y) {
  ev_push_pool pc;
  EV_TRY(check_avgpool("avgpool", d, x, y, &pc));
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_pipeline *p;
  /* small windows (no padding; floor mode keeps every window inside the input): unrolled */
  int unroll = d->pad_h == 0 && d->pad_w == 0 && pc.kh * pc.kw <= 16;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "avgpool_fwd", .bindings = "tw",
                                                .push_size = sizeof pc, .n_spec = 2,
                                                .spec = {unroll ? pc.kh : 0, unroll ? pc.kw : 0},
                                                .local_size_x = wg}, &p));
  /* x: the texels of an output row (OW*Q), y: output rows, z: images */
  return ev_dispatch(s, p, (uint32_t[3]){ev_gpu_grid_groups(g, (uint64_t)pc.OW * pc.Q, wg), (uint32_t)pc.OH, (uint32_t)pc.N},
                     (ev_buf *[]){&x->buf, &y->buf}, &pc);
}

ev_status ev_avgpool_backward(ev_stream *s, const ev_pool_desc *d, ev_tensor *dy, ev_tensor *x,
                              const ev_act *act, ev_tensor *dx) {
  ev_push_pool pc;
  /* dx has the input's shape, dy the output's (and must not overlap dx) */
  EV_TRY(check_avgpool("avgpool backward", d, dx, dy, &pc));
  EV_TRY(ev_act_check("avgpool backward", act));
  int fused = ev_act_on(act);
  if (fused) { /* x is read only for the fused activation backward; otherwise it may be NULL and is ignored */
    EV_TRY(ev_tensor_check("avgpool backward", "x (for the fused activation)", x));
    if (x->n != dx->n || x->h != dx->h || x->w != dx->w || x->c != dx->c)
      return ev_fail(EV_ERR_ARG, "avgpool backward: x is (%d, %d, %d, %d), expected dx's (%d, %d, %d, %d)",
                     x->n, x->c, x->h, x->w, dx->n, dx->c, dx->h, dx->w);
    if (ev_buf_overlap(&x->buf, &dx->buf))
      return ev_fail(EV_ERR_ARG, "avgpool backward: x and dx overlap");
  }
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  /* global pooling: one window, the whole input (with padding, k = H gives several) */
  int global = pc.kh == pc.H && pc.kw == pc.W && pc.ph == 0 && pc.pw == 0;
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "avgpool_bwd", .bindings = "ttw",
                                                .push_size = sizeof pc, .n_spec = 3,
                                                .spec = {ev_act_spec_kind(act), global, ev_act_spec_alpha(act)},
                                                .local_size_x = wg}, &p));
  /* rows per invocation: on CPU drivers a workgroup costs as much as a few hundred texels,
   * so each covers about 1024 (lavapipe, 2 cores, GAP 28x28x32 N=128 forward + backward:
   * 6.5 ms with one row each, 4.3 ms so; GLOBAL took it from 24 to 6.5); GPUs want the
   * parallelism: one row each */
  uint64_t row = (uint64_t)pc.W * pc.Q;
  pc.rows = 1;
  if (ev_gpu_caps(g)->is_cpu) {
    uint64_t per_row = row < wg ? row : wg, r = ev_div_up(1024, per_row);
    pc.rows = (int32_t)(r < (uint64_t)pc.H ? r : (uint64_t)pc.H);
  }
  /* x: the texels of an input row (W*Q), y: bands of rows, z: images; without an activation the
   * shader reads no x, so dy stands in for it (a binding must be a valid buffer) */
  return ev_dispatch(s, p, (uint32_t[3]){ev_gpu_grid_groups(g, row, wg), ev_div_up(pc.H, pc.rows), (uint32_t)pc.N},
                     (ev_buf *[]){&dy->buf, fused ? &x->buf : &dy->buf, &dx->buf}, &pc);
}

/* ---------------- references (double, NHWC-C4; floor mode) ---------------- */
void ev_avgpool_forward_ref(const ev_pool_desc *d, const double *x, int n, int h, int w, int c, double *y) {
  int oh = ev_pool_out_size(h, d->kh, d->stride_h, d->pad_h, 0);
  int ow = ev_pool_out_size(w, d->kw, d->stride_w, d->pad_w, 0), c4 = ev_c4(c);
  double div = (double)d->kh * d->kw;
  for (int b = 0; b < n; b++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++)
        for (int k = 0; k < c4; k++) {
          size_t o = (((size_t)b * oh + oy) * ow + ox) * c4 + k;
          if (k >= c) {
            y[o] = 0;
            continue;
          }
          int y0 = oy * d->stride_h - d->pad_h, x0 = ox * d->stride_w - d->pad_w;
          int y1 = y0 + d->kh < h ? y0 + d->kh : h, x1 = x0 + d->kw < w ? x0 + d->kw : w;
          if (y0 < 0) y0 = 0;
          if (x0 < 0) x0 = 0;
          double sum = 0;
          for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) sum += x[(((size_t)b * h + iy) * w + ix) * c4 + k];
          y[o] = sum / div;
        }
}

/* A scatter (each output's dy / (kh*kw) to its window), the transpose of the forward;
 * the shader gathers instead. */
void ev_avgpool_backward_ref(const ev_pool_desc *d, const double *dy, const double *x, const ev_act *act, int n,
                             int h, int w, int c, double *dx) {
  int oh = ev_pool_out_size(h, d->kh, d->stride_h, d->pad_h, 0);
  int ow = ev_pool_out_size(w, d->kw, d->stride_w, d->pad_w, 0), c4 = ev_c4(c);
  double div = (double)d->kh * d->kw;
  size_t nx = (size_t)n * h * w * c4;
  for (size_t i = 0; i < nx; i++) dx[i] = 0;
  for (int b = 0; b < n; b++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        int y0 = oy * d->stride_h - d->pad_h, x0 = ox * d->stride_w - d->pad_w;
        int y1 = y0 + d->kh < h ? y0 + d->kh : h, x1 = x0 + d->kw < w ? x0 + d->kw : w;
        if (y0 < 0) y0 = 0;
        if (x0 < 0) x0 = 0;
        for (int k = 0; k < c; k++) {
          double g = dy[(((size_t)b * oh + oy) * ow + ox) * c4 + k] / div;
          for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) dx[(((size_t)b * h + iy) * w + ix) * c4 + k] += g;
        }
      }
  if (ev_act_on(act))
    for (size_t i = 0; i < nx; i++) dx[i] = ev_act_bwd_ref(act, x[i], dx[i]);
}
