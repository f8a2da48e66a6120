/* Host side of batch normalisation (shaders bn_stats, bn_combine, bn_infer_params, bn_affine,
 * bn_bwd_reduce, bn_bwd_combine, bn_bwd_dx) and its C reference. */
#include <math.h>

#include "evonet/ops/batchnorm.h"
#include "push/batchnorm.h"

/* Pixel chunks of the per-channel reductions: enough (chunk, quad) invocations to fill a
 * large GPU (~64k), chunks of at least 16 pixels so each invocation's serial loop amortises
 * its launch. The combine pass then walks `chunks` entries per quad in one workgroup. */
enum { BN_TARGET_INVOCATIONS = 65536, BN_MIN_CHUNK = 16, BN_COMBINE_WG = 64 };

static void bn_plan(uint64_t P, uint32_t Q, uint32_t *L, uint32_t *chunks) {
  uint64_t want = BN_TARGET_INVOCATIONS / Q ? BN_TARGET_INVOCATIONS / Q : 1;
  uint64_t l = ev_div_up(P, want);
  if (l < BN_MIN_CHUNK) l = BN_MIN_CHUNK;
  *L = (uint32_t)l;
  *chunks = ev_div_up(P, l);
}

uint64_t ev_bn_scratch_floats(int n, int h, int w, int c) {
  if (n <= 0 || h <= 0 || w <= 0 || c <= 0) return 0;
  uint32_t L, chunks;
  bn_plan((uint64_t)n * h * w, (uint32_t)ev_c4(c) / 4, &L, &chunks);
  return (uint64_t)chunks * 2 * ev_c4(c);
}

static ev_status check_params(const char *op, const ev_bn_params *p, int c, int need_running) {
  if (!p) return ev_fail(EV_ERR_ARG, "%s: no parameters", op);
  uint64_t c4 = (uint64_t)ev_c4(c);
  EV_TRY(ev_buf_check(op, "gamma", p->gamma, c4 * 4));
  EV_TRY(ev_buf_check(op, "beta", p->beta, c4 * 4));
  if (need_running) {
    EV_TRY(ev_buf_check(op, "running_mean", p->running_mean, c4 * 4));
    EV_TRY(ev_buf_check(op, "running_var", p->running_var, c4 * 4));
  }
  if (!(p->eps > 0) || !(p->momentum >= 0 && p->momentum <= 1))
    return ev_fail(EV_ERR_ARG, "%s: eps %g must be > 0 and momentum %g in [0, 1]", op, p->eps, p->momentum);
  return EV_OK;
}

/* The combine passes keep three vec4/float arrays of the workgroup size in shared memory. */
static uint32_t combine_wg(ev_gpu *g) {
  const ev_caps *c = ev_gpu_caps(g);
  uint32_t wg = BN_COMBINE_WG;
  while (wg > 1 && (wg * 36u > c->max_shared_memory || wg > c->max_workgroup_invocations ||
                    wg > c->max_workgroup_size[0]))
    wg /= 2;
  return wg;
}

/* 2D grid for per-channel element-wise passes: x = channel quad, y = pixel, so no integer
 * division per element (CPU drivers scalarise them) and neighbouring invocations still
 * touch neighbouring texels. lx = the quads rounded up to a power of two, at most wg.
 * Each invocation walks BN_PIXELS_PER_INVOCATION pixels (grid-stride): its per-channel
 * coefficients are storage-buffer loads, each several times the cost of the element's own
 * work on CPU drivers, so they are amortised over many pixels. */
enum { BN_PIXELS_PER_INVOCATION = 32 };
static void quad_grid(ev_gpu *g, uint32_t Q, uint64_t P, uint32_t *lx, uint32_t *ly, uint32_t groups[3]) {
  uint32_t wg = ev_gpu_elementwise_wg(g), x = 1;
  while (x < Q && x < wg) x *= 2;
  *lx = x, *ly = wg / x;
  uint64_t gy = ev_div_up(P, (uint64_t)*ly * BN_PIXELS_PER_INVOCATION), cap = ev_gpu_caps(g)->max_workgroup_count[1];
  /* the shaders take 4 consecutive pixels per iteration: y indexes groups of 4 */
  groups[0] = ev_div_up(Q, x), groups[1] = (uint32_t)(gy < cap ? gy : cap), groups[2] = 1;
}

static ev_status affine(ev_stream *s, ev_tensor *x, ev_buf *save, ev_tensor *y, const ev_act *act) {
  ev_gpu *g = ev_stream_gpu(s);
  ev_push_bn_affine pc = {(uint32_t)((uint64_t)x->n * x->h * x->w), (uint32_t)ev_c4(x->c) / 4};
  uint32_t lx, ly, groups[3];
  quad_grid(g, pc.Q, pc.P, &lx, &ly, groups);
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "bn_affine", .bindings = "trw", .push_size = sizeof pc,
                                                .n_spec = 2, .spec = {ev_act_spec_kind(act), ev_act_spec_alpha(act)},
                                                .local_size_x = lx, .local_size_y = ly}, &p));
  return ev_dispatch(s, p, groups, (ev_buf *[]){&x->buf, save, &y->buf}, &pc);
}

ev_status ev_bn_forward_train(ev_stream *s, const ev_bn_params *prm, ev_tensor *x, ev_buf *save,
                              ev_buf *scratch, ev_tensor *y) {
  return ev_bn_forward_train_act(s, prm, x, save, scratch, NULL, y);
}

ev_status ev_bn_forward_train_act(ev_stream *s, const ev_bn_params *prm, ev_tensor *x, ev_buf *save,
                                  ev_buf *scratch, const ev_act *act, ev_tensor *y) {
  const char *op = "batchnorm";
  EV_TRY(ev_tensor_check_same(op, x, "x", y, "y"));
  EV_TRY(ev_act_check(op, act));
  EV_TRY(check_params(op, prm, x->c, 1));
  uint64_t P = (uint64_t)x->n * x->h * x->w;
  if (P < 2) return ev_fail(EV_ERR_ARG, "%s: training needs more than one value per channel (N*H*W = %llu)", op, (unsigned long long)P);
  EV_TRY(ev_buf_check(op, "save", save, ev_bn_save_floats(x->c) * 4));
  EV_TRY(ev_buf_check(op, "scratch", scratch, ev_bn_scratch_floats(x->n, x->h, x->w, x->c) * 4));
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t Q = (uint32_t)ev_c4(x->c) / 4, L, chunks, wg = ev_gpu_elementwise_wg(g), cwg = combine_wg(g);
  bn_plan(P, Q, &L, &chunks);
  ev_pipeline *ps, *pc;
  ev_push_bn_reduce plan = {(uint32_t)P, Q, L, chunks};
  ev_push_bn_combine cp = {(uint32_t)P, Q, L, chunks, prm->momentum, prm->eps, (uint32_t)x->c};
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "bn_stats", .bindings = "tw", .push_size = sizeof plan,
                                                .local_size_x = wg}, &ps));
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "bn_combine", .bindings = "rrrxxw", .push_size = sizeof cp,
                                                .local_size_x = cwg}, &pc));
  EV_TRY(ev_dispatch(s, ps, (uint32_t[3]){ev_gpu_grid_groups(g, (uint64_t)chunks * Q, wg), 1, 1},
                     (ev_buf *[]){&x->buf, scratch}, &plan));
  EV_TRY(ev_dispatch(s, pc, (uint32_t[3]){Q, 1, 1},
                     (ev_buf *[]){scratch, prm->gamma, prm->beta, prm->running_mean, prm->running_var, save}, &cp));
  return affine(s, x, save, y, act);
}

ev_status ev_bn_forward_infer(ev_stream *s, const ev_bn_params *prm, ev_tensor *x, ev_buf *save, ev_tensor *y) {
  return ev_bn_forward_infer_act(s, prm, x, save, NULL, y);
}

ev_status ev_bn_forward_infer_act(ev_stream *s, const ev_bn_params *prm, ev_tensor *x, ev_buf *save,
                                  const ev_act *act, ev_tensor *y) {
  const char *op = "batchnorm (inference)";
  EV_TRY(ev_tensor_check_same(op, x, "x", y, "y"));
  EV_TRY(ev_act_check(op, act));
  EV_TRY(check_params(op, prm, x->c, 1));
  EV_TRY(ev_buf_check(op, "save", save, ev_bn_save_floats(x->c) * 4));
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_push_bn_infer_params pc = {(uint32_t)ev_c4(x->c) / 4, (uint32_t)x->c, prm->eps};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "bn_infer_params", .bindings = "rrrrw",
                                                .push_size = sizeof pc, .local_size_x = wg}, &p));
  EV_TRY(ev_dispatch(s, p, (uint32_t[3]){ev_div_up(pc.Q, wg), 1, 1},
                     (ev_buf *[]){prm->gamma, prm->beta, prm->running_mean, prm->running_var, save}, &pc));
  return affine(s, x, save, y, act);
}

ev_status ev_bn_backward(ev_stream *s, const ev_bn_params *prm, ev_tensor *x, ev_tensor *dy, ev_buf *save,
                         ev_buf *scratch, ev_tensor *dx, ev_buf *dgamma, ev_buf *dbeta) {
  const char *op = "batchnorm backward";
  EV_TRY(ev_tensor_check_same(op, x, "x", dy, "dy"));
  EV_TRY(ev_tensor_check_same(op, x, "x", dx, "dx"));
  EV_TRY(check_params(op, prm, x->c, 0));
  uint64_t P = (uint64_t)x->n * x->h * x->w, c4 = (uint64_t)ev_c4(x->c);
  EV_TRY(ev_buf_check(op, "save", save, ev_bn_save_floats(x->c) * 4));
  EV_TRY(ev_buf_check(op, "scratch", scratch, ev_bn_scratch_floats(x->n, x->h, x->w, x->c) * 4));
  EV_TRY(ev_buf_check(op, "dgamma", dgamma, c4 * 4));
  EV_TRY(ev_buf_check(op, "dbeta", dbeta, c4 * 4));
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t Q = (uint32_t)c4 / 4, L, chunks, wg = ev_gpu_elementwise_wg(g), cwg = combine_wg(g);
  bn_plan(P, Q, &L, &chunks);
  ev_pipeline *pr, *pc, *pd;
  ev_push_bn_reduce rp = {(uint32_t)P, Q, L, chunks};
  ev_push_bn_bwd_combine cp = {(uint32_t)P, Q, L, chunks, (uint32_t)x->c};
  ev_push_bn_bwd_dx dp = {(uint32_t)P, Q, (float)(1.0 / (double)P)};
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "bn_bwd_reduce", .bindings = "ttrw", .push_size = sizeof rp,
                                                .local_size_x = wg}, &pr));
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "bn_bwd_combine", .bindings = "rrww", .push_size = sizeof cp,
                                                .local_size_x = cwg}, &pc));
  uint32_t lx, ly, dgroups[3];
  quad_grid(g, Q, P, &lx, &ly, dgroups);
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "bn_bwd_dx", .bindings = "ttrrrw", .push_size = sizeof dp,
                                                .local_size_x = lx, .local_size_y = ly}, &pd));
  EV_TRY(ev_dispatch(s, pr, (uint32_t[3]){ev_gpu_grid_groups(g, (uint64_t)chunks * Q, wg), 1, 1},
                     (ev_buf *[]){&x->buf, &dy->buf, save, scratch}, &rp));
  EV_TRY(ev_dispatch(s, pc, (uint32_t[3]){Q, 1, 1}, (ev_buf *[]){scratch, save, dgamma, dbeta}, &cp));
  return ev_dispatch(s, pd, dgroups,
                     (ev_buf *[]){&x->buf, &dy->buf, save, dgamma, dbeta, &dx->buf}, &dp);
}

/* ---------------- references ---------------- */
void ev_bn_forward_train_ref(const double *x, int n, int h, int w, int c, const double *gamma,
                             const double *beta, double *running_mean, double *running_var,
                             double momentum, double eps, double *y, double *mean, double *invstd) {
  int c4 = ev_c4(c);
  size_t P = (size_t)n * h * w;
  for (int k = 0; k < c4; k++) {
    if (k >= c) {
      mean[k] = invstd[k] = 0;
      for (size_t p = 0; p < P; p++) y[p * c4 + k] = 0;
      continue;
    }
    double s = 0, ss = 0;
    for (size_t p = 0; p < P; p++) s += x[p * c4 + k];
    double m = s / P;
    for (size_t p = 0; p < P; p++) ss += (x[p * c4 + k] - m) * (x[p * c4 + k] - m);
    double var = ss / P; /* biased: normalises */
    mean[k] = m, invstd[k] = 1.0 / sqrt(var + eps);
    for (size_t p = 0; p < P; p++) y[p * c4 + k] = (x[p * c4 + k] - m) * invstd[k] * gamma[k] + beta[k];
    if (running_mean) running_mean[k] = (1 - momentum) * running_mean[k] + momentum * m;
    if (running_var) running_var[k] = (1 - momentum) * running_var[k] + momentum * ss / (P - 1); /* unbiased */
  }
}

void ev_bn_forward_infer_ref(const double *x, int n, int h, int w, int c, const double *gamma,
                             const double *beta, const double *running_mean, const double *running_var,
                             double eps, double *y) {
  int c4 = ev_c4(c);
  size_t P = (size_t)n * h * w;
  for (size_t p = 0; p < P; p++)
    for (int k = 0; k < c4; k++)
      y[p * c4 + k] = k < c ? (x[p * c4 + k] - running_mean[k]) / sqrt(running_var[k] + eps) * gamma[k] + beta[k] : 0;
}

void ev_bn_backward_ref(const double *x, const double *dy, int n, int h, int w, int c, const double *gamma,
                        const double *mean, const double *invstd, double *dx, double *dgamma, double *dbeta) {
  int c4 = ev_c4(c);
  size_t P = (size_t)n * h * w;
  for (int k = 0; k < c4; k++) {
    double sdy = 0, sdyx = 0;
    for (size_t p = 0; p < P && k < c; p++) {
      sdy += dy[p * c4 + k];
      sdyx += dy[p * c4 + k] * (x[p * c4 + k] - mean[k]) * invstd[k];
    }
    dbeta[k] = sdy, dgamma[k] = sdyx;
    /* dx = gamma * invstd / P * (P * dy - sum dy - xhat * sum dy*xhat) */
    for (size_t p = 0; p < P; p++) {
      double xhat = (x[p * c4 + k] - mean[k]) * invstd[k];
      dx[p * c4 + k] = k < c ? gamma[k] * invstd[k] * (dy[p * c4 + k] - (sdy + xhat * sdyx) / P) : 0;
    }
  }
}
