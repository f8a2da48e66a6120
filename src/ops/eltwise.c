/* Host side of the element-wise ops (shaders act_fwd, act_bwd, add, add_into, mul, mul_bwd,
 * concat_fwd, concat_bwd) and their C references. */
#include "evonet/ops/eltwise.h"

#include "push/eltwise.h"

/* One flat vec4 pass: the shader's push constant is the vec4 count (ev_push_flat). */
/* act: the activation's specialization constants (act_fwd, act_bwd), NULL for the others. */
static ev_status flat_pass(ev_stream *s, const char *shader, const char *bindings, ev_tensor *t,
                           ev_buf *const *bufs, const ev_act *act) {
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_push_flat pc = {(uint32_t)(ev_tensor_floats(t->n, t->h, t->w, t->c) / 4)};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = shader, .bindings = bindings, .push_size = sizeof pc,
                                                .n_spec = act ? 2 : 0,
                                                .spec = {ev_act_spec_kind(act), ev_act_spec_alpha(act)},
                                                .local_size_x = wg}, &p));
  return ev_dispatch(s, p, (uint32_t[3]){ev_gpu_grid_groups(g, pc.n4, wg), 1, 1}, bufs, &pc);
}

ev_status ev_act_forward(ev_stream *s, const ev_act *act, ev_tensor *x, ev_tensor *y) {
  EV_TRY(ev_tensor_check_same("activation", x, "x", y, "y"));
  EV_TRY(ev_act_check("activation", act));
  ev_act none = ev_act_make(EV_ACT_NONE);
  return flat_pass(s, "act_fwd", "rw", x, (ev_buf *[]){&x->buf, &y->buf}, act ? act : &none);
}

ev_status ev_act_backward(ev_stream *s, const ev_act *act, ev_tensor *y, ev_tensor *dy, ev_tensor *dx) {
  EV_TRY(ev_tensor_check_same("activation backward", y, "y", dy, "dy"));
  EV_TRY(ev_tensor_check_same("activation backward", y, "y", dx, "dx"));
  EV_TRY(ev_act_check("activation backward", act));
  ev_act none = ev_act_make(EV_ACT_NONE);
  return flat_pass(s, "act_bwd", "rrw", y, (ev_buf *[]){&y->buf, &dy->buf, &dx->buf}, act ? act : &none);
}

ev_status ev_add(ev_stream *s, ev_tensor *a, ev_tensor *b, ev_tensor *out) {
  EV_TRY(ev_tensor_check_same("add", a, "a", b, "b"));
  EV_TRY(ev_tensor_check_same("add", a, "a", out, "out"));
  return flat_pass(s, "add", "rrw", a, (ev_buf *[]){&a->buf, &b->buf, &out->buf}, NULL);
}

ev_status ev_add_into(ev_stream *s, ev_tensor *dst, ev_tensor *src) {
  EV_TRY(ev_tensor_check_same("add_into", dst, "dst", src, "src"));
  if (ev_buf_overlap(&dst->buf, &src->buf))
    return ev_fail(EV_ERR_ARG, "add_into: dst and src overlap (use ev_add for x + x)");
  return flat_pass(s, "add_into", "rx", dst, (ev_buf *[]){&src->buf, &dst->buf}, NULL);
}

ev_status ev_mul(ev_stream *s, ev_tensor *a, ev_tensor *b, ev_tensor *out) {
  EV_TRY(ev_tensor_check_same("mul", a, "a", b, "b"));
  EV_TRY(ev_tensor_check_same("mul", a, "a", out, "out"));
  return flat_pass(s, "mul", "rrw", a, (ev_buf *[]){&a->buf, &b->buf, &out->buf}, NULL);
}

ev_status ev_mul_backward(ev_stream *s, ev_tensor *a, ev_tensor *b, ev_tensor *dy, ev_tensor *da, ev_tensor *db) {
  const char *op = "mul backward";
  EV_TRY(ev_tensor_check_same(op, a, "a", b, "b"));
  EV_TRY(ev_tensor_check_same(op, a, "a", dy, "dy"));
  EV_TRY(ev_tensor_check_same(op, a, "a", da, "da"));
  EV_TRY(ev_tensor_check_same(op, a, "a", db, "db"));
  ev_tensor *in[3] = {a, b, dy}, *out[2] = {da, db};
  for (int j = 0; j < 2; j++)
    for (int i = 0; i < 3; i++)
      if (ev_buf_overlap(&out[j]->buf, &in[i]->buf) || (j && ev_buf_overlap(&da->buf, &db->buf)))
        return ev_fail(EV_ERR_ARG, "%s: da and db must not overlap the inputs or each other", op);
  return flat_pass(s, "mul_bwd", "rrrww", a, (ev_buf *[]){&a->buf, &b->buf, &dy->buf, &da->buf, &db->buf}, NULL);
}

/* Shared shape checks of concat forward/backward: k inputs of one N, H, W whose channels
 * sum to y's. Fills the channel offsets. */
static ev_status check_concat(const char *op, ev_tensor *const *xs, int k, ev_tensor *y, int *off) {
  if (!xs || k < 1 || k > EV_CONCAT_MAX)
    return ev_fail(EV_ERR_ARG, "%s: %d inputs; 1 to %d are supported", op, k, EV_CONCAT_MAX);
  EV_TRY(ev_tensor_check(op, "the output", y));
  int sum = 0;
  for (int i = 0; i < k; i++) {
    EV_TRY(ev_tensor_check(op, "an input", xs[i]));
    if (xs[i]->n != y->n || xs[i]->h != y->h || xs[i]->w != y->w)
      return ev_fail(EV_ERR_ARG, "%s: input %d is (%d, %d, %d, %d) but the output has N, H, W = %d, %d, %d",
                     op, i, xs[i]->n, xs[i]->c, xs[i]->h, xs[i]->w, y->n, y->h, y->w);
    if (ev_buf_overlap(&xs[i]->buf, &y->buf))
      return ev_fail(EV_ERR_ARG, "%s: input %d overlaps the concatenated tensor", op, i);
    off[i] = sum;
    sum += xs[i]->c;
  }
  if (sum != y->c)
    return ev_fail(EV_ERR_ARG, "%s: the inputs have %d channels in all, the output %d", op, sum, y->c);
  return EV_OK;
}

ev_status ev_concat_forward(ev_stream *s, ev_tensor *const *xs, int k, ev_tensor *y) {
  int off[EV_CONCAT_MAX];
  EV_TRY(check_concat("concat", xs, k, y, off));
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_push_concat_fwd pc = {
      (uint32_t)((uint64_t)y->n * y->h * y->w), (uint32_t)(ev_c4(y->c) / 4), (uint32_t)y->c, 0};
  ev_buf *bufs[5];
  for (int i = 0; i < 4; i++) {
    int j = i < k ? i : 0; /* unused slots repeat input 0 (never read: off = cout) */
    pc.off[i] = i < k ? off[i] : y->c;
    pc.c4in[i] = ev_c4(xs[j]->c);
    bufs[i] = &xs[j]->buf;
  }
  bufs[4] = &y->buf;
  uint32_t aligned = 1; /* every offset a multiple of 4: output quads are input quads */
  for (int i = 0; i < k; i++) aligned &= (off[i] % 4 == 0);
  if (aligned && (uint64_t)pc.npix * pc.qout < (1u << 21)) { /* one pass per input, texel reads */
    ev_pipeline *p;
    EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "concat_fwd_q", .bindings = "tw",
                                                  .push_size = sizeof(ev_push_concat_fwd_q), .local_size_x = wg}, &p));
    for (int i = 0; i < k; i++) {
      ev_push_concat_fwd_q qp = {(int32_t)pc.npix, ev_c4(xs[i]->c) / 4, (int32_t)pc.qout, off[i] / 4};
      EV_TRY(ev_dispatch(s, p, (uint32_t[3]){ev_gpu_grid_groups(g, (uint64_t)pc.npix * qp.qin, wg), 1, 1},
                         (ev_buf *[]){&xs[i]->buf, &y->buf}, &qp));
    }
    return EV_OK;
  }
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "concat_fwd", .bindings = "rrrrw",
                                                .push_size = sizeof pc, .n_spec = 1, .spec = {aligned},
                                                .local_size_x = wg}, &p));
  return ev_dispatch(s, p, (uint32_t[3]){ev_gpu_grid_groups(g, (uint64_t)pc.npix * pc.qout, wg), 1, 1}, bufs, &pc);
}

ev_status ev_concat_backward(ev_stream *s, ev_tensor *dy, ev_tensor *const *dxs, int k, int accumulate) {
  return ev_concat_backward_act(s, dy, dxs, NULL, NULL, k, accumulate);
}

ev_status ev_concat_backward_act(ev_stream *s, ev_tensor *dy, ev_tensor *const *dxs, ev_tensor *const *ys,
                                 const ev_act *acts, int k, int accumulate) {
  int off[EV_CONCAT_MAX];
  EV_TRY(check_concat("concat backward", dxs, k, dy, off));
  for (int i = 0; ys && acts && i < k; i++)
    if (ys[i] && ev_act_on(&acts[i])) {
      EV_TRY(ev_act_check("concat backward", &acts[i]));
      EV_TRY(ev_tensor_check_same("concat backward", ys[i], "an activation output", dxs[i], "its gradient"));
    }
  for (int i = 0; i < k; i++)
    for (int j = 0; j < i; j++)
      if (ev_buf_overlap(&dxs[i]->buf, &dxs[j]->buf))
        return ev_fail(EV_ERR_ARG, "concat backward: gradients %d and %d share memory", j, i);
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  uint32_t npix = (uint32_t)((uint64_t)dy->n * dy->h * dy->w);
  for (int i = 0; i < k; i++) { /* one pass per input: each reads its slice of dy once */
    ev_pipeline *p;
    const ev_act *act = ys && acts && ys[i] && ev_act_on(&acts[i]) ? &acts[i] : NULL;
    ev_tensor *ym = act ? ys[i] : NULL; /* unused: bind dy (never read) */
    uint32_t kind = ev_act_spec_kind(act), alpha = ev_act_spec_alpha(act);
    if (off[i] % 4 == 0 && (uint64_t)npix * ev_c4(dy->c) / 4 < (1u << 21)) { /* texel reads */
      EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "concat_bwd_q", .bindings = "tttw",
                                                    .push_size = sizeof(ev_push_concat_bwd_q), .n_spec = 3,
                                                    .spec = {accumulate ? 1u : 0u, kind, alpha},
                                                    .local_size_x = wg}, &p));
      ev_push_concat_bwd_q qp = {(int32_t)npix, ev_c4(dxs[i]->c) / 4, ev_c4(dy->c) / 4, off[i] / 4, dxs[i]->c};
      /* unused inputs: bind dy (never read) */
      EV_TRY(ev_dispatch(s, p, (uint32_t[3]){ev_gpu_grid_groups(g, (uint64_t)npix * qp.qin, wg), 1, 1},
                         (ev_buf *[]){&dy->buf, ym ? &ym->buf : &dy->buf, accumulate ? &dxs[i]->buf : &dy->buf,
                                      &dxs[i]->buf}, &qp));
      continue;
    }
    EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "concat_bwd", .bindings = accumulate ? "rxr" : "rwr",
                                                  .push_size = sizeof(ev_push_concat_bwd), .n_spec = 4,
                                                  .spec = {accumulate ? 1u : 0u, off[i] % 4 == 0, kind, alpha},
                                                  .local_size_x = wg}, &p));
    ev_push_concat_bwd pc = {npix, (uint32_t)ev_c4(dxs[i]->c) / 4,
                                                          (uint32_t)dxs[i]->c, (uint32_t)off[i],
                                                          (uint32_t)ev_c4(dy->c)};
    EV_TRY(ev_dispatch(s, p, (uint32_t[3]){ev_gpu_grid_groups(g, (uint64_t)npix * pc.qin, wg), 1, 1},
                       (ev_buf *[]){&dy->buf, &dxs[i]->buf, ym ? &ym->buf : &dy->buf}, &pc));
  }
  return EV_OK;
}

/* ---------------- references ---------------- */
void ev_add_ref(const double *a, const double *b, double *out, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void ev_mul_ref(const double *a, const double *b, double *out, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}

void ev_mul_backward_ref(const double *a, const double *b, const double *dy, double *da, double *db, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) da[i] = dy[i] * b[i], db[i] = dy[i] * a[i];
}

void ev_concat_forward_ref(const double *const *xs, const int *c, int k, uint64_t npix, double *y) {
  int cout = 0;
  for (int i = 0; i < k; i++) cout += c[i];
  int c4out = ev_c4(cout);
  for (uint64_t p = 0; p < npix; p++) {
    double *yp = y + p * c4out;
    int o = 0;
    for (int i = 0; i < k; i++)
      for (int ch = 0; ch < c[i]; ch++) yp[o++] = xs[i][p * ev_c4(c[i]) + ch];
    for (; o < c4out; o++) yp[o] = 0.0;
  }
}

void ev_concat_backward_ref(const double *dy, const int *c, int k, uint64_t npix, double *const *dxs,
                            int accumulate) {
  int cout = 0;
  for (int i = 0; i < k; i++) cout += c[i];
  int c4out = ev_c4(cout);
  for (uint64_t p = 0; p < npix; p++) {
    int o = 0;
    for (int i = 0; i < k; i++) {
      double *dx = dxs[i] + p * ev_c4(c[i]);
      for (int ch = 0; ch < ev_c4(c[i]); ch++) {
        double v = ch < c[i] ? dy[p * c4out + o + ch] : 0.0;
        dx[ch] = accumulate ? dx[ch] + v : v;
      }
      o += c[i];
    }
  }
}
