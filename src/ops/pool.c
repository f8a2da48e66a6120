/* Host side of max-pooling (shaders maxpool_fwd, maxpool_bwd, maxpool_bwd_x) and its C reference;
 * the output size and argument check shared with average pooling (avgpool.c). */
#include <math.h>

#include "pool_internal.h"

static int div_floor(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

int ev_pool_out_size(int in, int k, int stride, int pad, int ceil_mode) {
  if (in <= 0 || k <= 0 || stride <= 0 || pad < 0) return 0;
  int out = div_floor(in + 2 * pad - k + (ceil_mode ? stride - 1 : 0), stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) out--; /* last window starts in the right pad */
  return out;
}

ev_status ev_pool_check(const char *op, const ev_pool_desc *d, ev_tensor *x, ev_tensor *y, ev_buf *idx,
                        ev_push_pool *pc) {
  if (!d) return ev_fail(EV_ERR_ARG, "%s: no pooling descriptor", op);
  if (d->kh < 1 || d->kw < 1 || d->stride_h < 1 || d->stride_w < 1 || d->pad_h < 0 || d->pad_w < 0)
    return ev_fail(EV_ERR_ARG, "%s: kernel %dx%d, stride %dx%d, padding %dx%d: need k >= 1, stride >= 1, pad >= 0",
                   op, d->kh, d->kw, d->stride_h, d->stride_w, d->pad_h, d->pad_w);
  if (d->pad_h > d->kh / 2 || d->pad_w > d->kw / 2)
    return ev_fail(EV_ERR_ARG, "%s: padding %dx%d exceeds half the %dx%d window", op, d->pad_h, d->pad_w,
                   d->kh, d->kw);
  EV_TRY(ev_tensor_check(op, "the input", x));
  EV_TRY(ev_tensor_check(op, "the output", y));
  int oh = ev_pool_out_size(x->h, d->kh, d->stride_h, d->pad_h, d->ceil_mode);
  int ow = ev_pool_out_size(x->w, d->kw, d->stride_w, d->pad_w, d->ceil_mode);
  if (oh < 1 || ow < 1)
    return ev_fail(EV_ERR_ARG, "%s: a %dx%d input is smaller than the %dx%d window", op, x->h, x->w, d->kh, d->kw);
  if (y->n != x->n || y->c != x->c || y->h != oh || y->w != ow)
    return ev_fail(EV_ERR_ARG, "%s: output is (%d, %d, %d, %d), expected (%d, %d, %d, %d)", op, y->n, y->c,
                   y->h, y->w, x->n, x->c, oh, ow);
  uint64_t ibytes = ev_tensor_floats(y->n, y->h, y->w, y->c) * 4;
  if (idx != EV_POOL_NO_IDX) {
    if (!idx || !idx->block || idx->size < ibytes)
      return ev_fail(EV_ERR_ARG, "%s: the argmax buffer needs %llu bytes", op, (unsigned long long)ibytes);
    if (ev_buf_overlap(idx, &y->buf))
      return ev_fail(EV_ERR_ARG, "%s: the argmax buffer overlaps the output", op);
  }
  if (ev_buf_overlap(&x->buf, &y->buf))
    return ev_fail(EV_ERR_ARG, "%s: input and output overlap", op);
  /* the shaders split a row's texel index with a float division: exact below 2^21 */
  if ((uint64_t)(x->w + 1) * (ev_c4(x->c) / 4) >= (1u << 21))
    return ev_fail(EV_ERR_LIMIT, "%s: rows of %d x %d channels are too wide", op, x->w, x->c);
  *pc = (ev_push_pool){x->n, x->h, x->w, ev_c4(x->c) / 4, oh, ow, x->c, 0,
                       d->kh, d->kw, d->stride_h, d->stride_w, d->pad_h, d->pad_w};
  return EV_OK;
}

static ev_status maxpool_forward(ev_stream *s, const ev_pool_desc *d, ev_tensor *x, ev_tensor *y, ev_buf *idx) {
  ev_push_pool pc;
  EV_TRY(ev_pool_check("maxpool", d, x, y, idx ? idx : EV_POOL_NO_IDX, &pc));
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_pipeline *p;
  /* windows all inside the input (no padding, floor mode or exact fit): unrolled */
  int inside = d->pad_h == 0 && d->pad_w == 0 && (pc.OH - 1) * pc.sh + pc.kh <= pc.H &&
               (pc.OW - 1) * pc.sw + pc.kw <= pc.W && pc.kh * pc.kw <= 16;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "maxpool_fwd", .bindings = "tww",
                                                .push_size = sizeof pc, .n_spec = 3,
                                                .spec = {idx != NULL, inside ? pc.kh : 0, inside ? pc.kw : 0},
                                                .local_size_x = wg}, &p));
  /* x: the texels of an output row, y: rows, z: images (limits checked by ev_dispatch);
   * no argmax buffer: bind y in its place (never written) */
  return ev_dispatch(s, p, (uint32_t[3]){ev_gpu_grid_groups(g, (uint64_t)pc.OW * pc.Q, wg), (uint32_t)pc.OH, (uint32_t)pc.N},
                     (ev_buf *[]){&x->buf, &y->buf, idx ? idx : &y->buf}, &pc);
}

ev_status ev_maxpool_forward(ev_stream *s, const ev_pool_desc *d, ev_tensor *x, ev_tensor *y, ev_buf *idx) {
  if (!idx) return ev_fail(EV_ERR_ARG, "maxpool: no argmax buffer (ev_maxpool_forward_values stores none)");
  return maxpool_forward(s, d, x, y, idx);
}

ev_status ev_maxpool_forward_values(ev_stream *s, const ev_pool_desc *d, ev_tensor *x, ev_tensor *y) {
  return maxpool_forward(s, d, x, y, NULL);
}

ev_status ev_maxpool_backward(ev_stream *s, const ev_pool_desc *d, ev_tensor *dy, ev_buf *idx, ev_tensor *dx) {
  ev_push_pool pc;
  EV_TRY(ev_pool_check("maxpool backward", d, dx, dy, idx, &pc));
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "maxpool_bwd", .bindings = "rrw",
                                                .push_size = sizeof pc, .local_size_x = wg}, &p));
  /* x: the texels of an input row, y: rows, z: images */
  return ev_dispatch(s, p, (uint32_t[3]){ev_gpu_grid_groups(g, (uint64_t)pc.W * pc.Q, wg), (uint32_t)pc.H, (uint32_t)pc.N},
                     (ev_buf *[]){&dy->buf, idx, &dx->buf}, &pc);
}

int ev_maxpool_backward_x_ok(const ev_pool_desc *d) {
  return d && d->kh == d->stride_h && d->kw == d->stride_w && d->pad_h == 0 && d->pad_w == 0;
}

ev_status ev_maxpool_backward_x(ev_stream *s, const ev_pool_desc *d, ev_tensor *x, ev_tensor *dy,
                                ev_tensor *dx, const ev_act *act) {
  if (!ev_maxpool_backward_x_ok(d))
    return ev_fail(EV_ERR_ARG, "maxpool backward from x: needs kernel = stride and no padding");
  ev_push_pool pc;
  EV_TRY(ev_pool_check("maxpool backward", d, x, dy, EV_POOL_NO_IDX, &pc));
  EV_TRY(ev_act_check("maxpool backward", act));
  EV_TRY(ev_tensor_check("maxpool backward", "dx", dx));
  if (dx->n != x->n || dx->h != x->h || dx->w != x->w || dx->c != x->c)
    return ev_fail(EV_ERR_ARG, "maxpool backward: dx is (%d, %d, %d, %d), expected x's (%d, %d, %d, %d)",
                   dx->n, dx->c, dx->h, dx->w, x->n, x->c, x->h, x->w);
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_pipeline *p;
  /* the windows tile the input exactly: unrolled */
  int exact = pc.OH * pc.sh == pc.H && pc.OW * pc.sw == pc.W && pc.kh * pc.kw <= 16;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "maxpool_bwd_x", .bindings = "ttw",
                                                .push_size = sizeof pc, .n_spec = 4,
                                                .spec = {ev_act_spec_kind(act), exact ? pc.kh : 0, exact ? pc.kw : 0,
                                                         ev_act_spec_alpha(act)},
                                                .local_size_x = wg}, &p));
  uint64_t row = (uint64_t)ev_div_up(pc.W, pc.sw) * pc.Q;
  return ev_dispatch(s, p, (uint32_t[3]){ev_gpu_grid_groups(g, row, wg), (uint32_t)ev_div_up(pc.H, pc.sh), (uint32_t)pc.N},
                     (ev_buf *[]){&x->buf, &dy->buf, &dx->buf}, &pc);
}

/* ---------------- references ---------------- */
void ev_maxpool_forward_ref(const ev_pool_desc *d, const double *x, int n, int h, int w, int c,
                            double *y, int32_t *idx) {
  int oh = ev_pool_out_size(h, d->kh, d->stride_h, d->pad_h, d->ceil_mode);
  int ow = ev_pool_out_size(w, d->kw, d->stride_w, d->pad_w, d->ceil_mode), c4 = ev_c4(c);
  for (int b = 0; b < n; b++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++)
        for (int k = 0; k < c4; k++) {
          size_t o = (((size_t)b * oh + oy) * ow + ox) * c4 + k;
          if (k >= c) {
            y[o] = 0, idx[o] = -1;
            continue;
          }
          int y0 = oy * d->stride_h - d->pad_h, x0 = ox * d->stride_w - d->pad_w;
          int y1 = y0 + d->kh < h ? y0 + d->kh : h, x1 = x0 + d->kw < w ? x0 + d->kw : w;
          if (y0 < 0) y0 = 0;
          if (x0 < 0) x0 = 0;
          double m = -INFINITY;
          int32_t a = y0 * w + x0;
          for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) {
              double v = x[(((size_t)b * h + iy) * w + ix) * c4 + k];
              if (v > m || isnan(v)) m = v, a = iy * w + ix;
            }
          y[o] = m, idx[o] = a;
        }
}

void ev_maxpool_backward_ref(const ev_pool_desc *d, const double *dy, const int32_t *idx, int n, int h,
                             int w, int c, double *dx) {
  int oh = ev_pool_out_size(h, d->kh, d->stride_h, d->pad_h, d->ceil_mode);
  int ow = ev_pool_out_size(w, d->kw, d->stride_w, d->pad_w, d->ceil_mode), c4 = ev_c4(c);
  for (size_t i = 0; i < (size_t)n * h * w * c4; i++) dx[i] = 0;
  for (int b = 0; b < n; b++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++)
        for (int k = 0; k < c; k++) {
          size_t o = (((size_t)b * oh + oy) * ow + ox) * c4 + k;
          dx[((size_t)b * h * w + idx[o]) * c4 + k] += dy[o];
        }
}
