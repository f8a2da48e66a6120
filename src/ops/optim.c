/* Host side of the masked optimiser steps (shaders sgd, adam) and their C references. */
#include <math.h>

#include "evonet/ops/optim.h"
#include "evonet/tensor.h"
#include "push/optim.h"

/* bufs[0..k): the arrays of one step; the written ones (first nw) must not overlap any other. */
static ev_status check_step(const char *op, uint64_t n, ev_buf *const *bufs, const char *const *names, int k, int nw) {
  if (n == 0) return ev_fail(EV_ERR_ARG, "%s: empty parameter (n = 0)", op);
  if (n >= (1ull << 32) - 4) return ev_fail(EV_ERR_LIMIT, "%s: %llu floats exceed 32-bit indexing", op, (unsigned long long)n);
  for (int i = 0; i < k; i++)
    if (bufs[i] || i < k - 1) EV_TRY(ev_buf_check(op, names[i], bufs[i], n * 4)); /* the mask (last) is optional */
  for (int i = 0; i < nw; i++)
    for (int j = 0; j < k; j++)
      if (j != i && ev_buf_overlap(bufs[i], bufs[j]))
        return ev_fail(EV_ERR_ARG, "%s: %s and %s share memory", op, names[i], names[j]);
  return EV_OK;
}

/* Whole quads and every array viewable as RGBA32F texels: the texel-read kernels. */
static int texel_ok(ev_gpu *g, uint64_t n, ev_buf *const *bufs, int k) {
  if (n % 4 || n / 4 > ev_gpu_caps(g)->max_texel_buffer_elements) return 0;
  for (int i = 0; i < k; i++)
    if (bufs[i] && bufs[i]->size % 16) return 0;
  return 1;
}

ev_status ev_sgd_step(ev_stream *s, const ev_sgd_params *p, ev_buf *w, ev_buf *grad, ev_buf *buf,
                      ev_buf *mask, uint64_t n) {
  if (!p) return ev_fail(EV_ERR_ARG, "sgd: no parameters");
  EV_TRY(check_step("sgd", n, (ev_buf *[]){w, buf, grad, mask}, (const char *[]){"the weight", "the momentum", "the gradient", "the mask"}, 4, 2));
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_pipeline *pl;
  ev_push_sgd pc = {(uint32_t)n, p->lr, p->momentum, p->weight_decay};
  if (texel_ok(g, n, (ev_buf *[]){w, grad, buf, mask}, 4)) {
    EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "sgd_q", .bindings = "ttttww", .push_size = sizeof pc,
                                                  .n_spec = 1, .spec = {mask != NULL}, .local_size_x = wg}, &pl));
    return ev_dispatch(s, pl, (uint32_t[3]){ev_gpu_grid_groups(g, n / 4, wg), 1, 1},
                       (ev_buf *[]){w, grad, buf, mask ? mask : grad, w, buf}, &pc);
  }
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "sgd", .bindings = "xrxr", .push_size = sizeof pc, .n_spec = 1,
                                                .spec = {mask != NULL}, .local_size_x = wg}, &pl));
  /* without a mask the shader never reads binding 3: bind the gradient there */
  return ev_dispatch(s, pl, (uint32_t[3]){ev_gpu_grid_groups(g, ev_div_up(n, 4), wg), 1, 1},
                     (ev_buf *[]){w, grad, buf, mask ? mask : grad}, &pc);
}

ev_status ev_adam_step(ev_stream *s, const ev_adam_params *p, ev_buf *w, ev_buf *grad, ev_buf *m, ev_buf *v,
                       ev_buf *mask, uint64_t n) {
  if (!p) return ev_fail(EV_ERR_ARG, "adam: no parameters");
  if (p->step < 1) return ev_fail(EV_ERR_ARG, "adam: step %d; the first step is 1", p->step);
  if (!(p->beta1 >= 0 && p->beta1 < 1 && p->beta2 >= 0 && p->beta2 < 1 && p->eps >= 0))
    return ev_fail(EV_ERR_ARG, "adam: betas (%g, %g) must lie in [0, 1) and eps %g >= 0", p->beta1, p->beta2, p->eps);
  EV_TRY(check_step("adam", n, (ev_buf *[]){w, m, v, grad, mask},
                    (const char *[]){"the weight", "the first moment", "the second moment", "the gradient", "the mask"}, 5, 3));
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_pipeline *pl;
  /* bias corrections in double, as PyTorch computes them in Python floats */
  double bc1 = 1.0 - pow(p->beta1, p->step), bc2 = 1.0 - pow(p->beta2, p->step);
  ev_push_adam pc = {
      (uint32_t)n, (float)(p->lr / bc1), (float)sqrt(bc2), p->beta1, (float)(1.0 - p->beta1),
      p->beta2, (float)(1.0 - p->beta2), p->eps, p->weight_decay};
  if (texel_ok(g, n, (ev_buf *[]){w, grad, m, v, mask}, 5)) {
    EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "adam_q", .bindings = "tttttwww", .push_size = sizeof pc,
                                                  .n_spec = 1, .spec = {mask != NULL}, .local_size_x = wg}, &pl));
    return ev_dispatch(s, pl, (uint32_t[3]){ev_gpu_grid_groups(g, n / 4, wg), 1, 1},
                       (ev_buf *[]){w, grad, m, v, mask ? mask : grad, w, m, v}, &pc);
  }
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "adam", .bindings = "xrxxr", .push_size = sizeof pc, .n_spec = 1,
                                                .spec = {mask != NULL}, .local_size_x = wg}, &pl));
  return ev_dispatch(s, pl, (uint32_t[3]){ev_gpu_grid_groups(g, ev_div_up(n, 4), wg), 1, 1},
                     (ev_buf *[]){w, grad, m, v, mask ? mask : grad}, &pc);
}

/* ---------------- references ---------------- */
void ev_sgd_step_ref(const ev_sgd_params *p, float *w, const float *grad, float *buf, const float *mask, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    int keep = !mask || mask[i] > 0.5f;
    float g = grad[i] + p->weight_decay * w[i];
    buf[i] = keep ? p->momentum * buf[i] + g : 0.0f;
    w[i] = keep ? w[i] - p->lr * buf[i] : 0.0f;
  }
}

void ev_adam_step_ref(const ev_adam_params *p, float *w, const float *grad, float *m, float *v, const float *mask,
                      uint64_t n) {
  double bc1 = 1.0 - pow(p->beta1, p->step), bc2 = 1.0 - pow(p->beta2, p->step);
  float step_size = (float)(p->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
  float omb1 = (float)(1.0 - p->beta1), omb2 = (float)(1.0 - p->beta2);
  for (uint64_t i = 0; i < n; i++) {
    int keep = !mask || mask[i] > 0.5f;
    float g = grad[i] + p->weight_decay * w[i];
    m[i] = keep ? p->beta1 * m[i] + omb1 * g : 0.0f;
    v[i] = keep ? p->beta2 * v[i] + omb2 * g * g : 0.0f;
    float denom = sqrtf(v[i]) / bc2_sqrt + p->eps;
    w[i] = keep ? w[i] - step_size * (m[i] / denom) : 0.0f;
  }
}
