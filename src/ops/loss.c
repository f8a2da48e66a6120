/* Host side of the softmax cross-entropy (shaders softmax_ce_fwd, softmax_ce_combine,
 * softmax_ce_bwd) and its C reference. */
#include <math.h>

#include "evonet/ops/loss.h"
#include "push/loss.h"

/* Pixel chunks: up to CE_MAX_CHUNKS invocations in pass 1, at least CE_MIN_CHUNK pixels
 * each; the combine workgroup then walks chunks / CE_COMBINE_WG entries per invocation. */
enum { CE_MAX_CHUNKS = 16384, CE_MIN_CHUNK = 32, CE_COMBINE_WG = 64, CE_HEADER = 4 };

static void ce_plan(uint64_t P, uint32_t *L, uint32_t *chunks) {
  uint64_t l = ev_div_up(P, CE_MAX_CHUNKS);
  if (l < CE_MIN_CHUNK) l = CE_MIN_CHUNK;
  *L = (uint32_t)l;
  *chunks = ev_div_up(P, l);
}

uint64_t ev_softmax_ce_scratch_floats(int n, int h, int w) {
  if (n <= 0 || h <= 0 || w <= 0) return 0;
  uint32_t L, chunks;
  ce_plan((uint64_t)n * h * w, &L, &chunks);
  return CE_HEADER + 2ull * chunks;
}

ev_status ev_softmax_ce(ev_stream *s, ev_tensor *z, ev_buf *target, ev_target_kind kind,
                        ev_buf *class_weights, ev_buf *scratch, ev_buf *loss, ev_tensor *dz, ev_buf *prob) {
  EV_TRY(ev_tensor_check("softmax_ce", "the logits", z));
  if (z->c < 2) return ev_fail(EV_ERR_ARG, "softmax_ce: %d class; at least 2 are needed", z->c);
  if (kind != EV_TARGET_MASK && kind != EV_TARGET_INDEX && kind != EV_TARGET_SOFT)
    return ev_fail(EV_ERR_ARG, "softmax_ce: unknown target kind %d", (int)kind);
  if (kind == EV_TARGET_SOFT && z->c != 2)
    return ev_fail(EV_ERR_ARG, "softmax_ce: a soft target needs 2 classes, not %d", z->c);
  uint64_t P = (uint64_t)z->n * z->h * z->w;
  EV_TRY(ev_buf_check("softmax_ce", "the target", target, P * 4));
  if (class_weights) EV_TRY(ev_buf_check("softmax_ce", "the class weights", class_weights, (uint64_t)z->c * 4));
  EV_TRY(ev_buf_check("softmax_ce", "the scratch", scratch, ev_softmax_ce_scratch_floats(z->n, z->h, z->w) * 4));
  EV_TRY(ev_buf_check("softmax_ce", "the loss", loss, 4));
  if (prob) EV_TRY(ev_buf_check("softmax_ce", "the probability map", prob, P * 4));
  if (dz) {
    EV_TRY(ev_tensor_check("softmax_ce", "the logit gradient", dz));
    if (dz->n != z->n || dz->h != z->h || dz->w != z->w || dz->c != z->c)
      return ev_fail(EV_ERR_ARG, "softmax_ce: logits (%d, %d, %d, %d) and their gradient (%d, %d, %d, %d) differ",
                     z->n, z->c, z->h, z->w, dz->n, dz->c, dz->h, dz->w);
  }
  ev_gpu *g = ev_stream_gpu(s);
  const ev_caps *caps = ev_gpu_caps(g);
  uint32_t wg = ev_gpu_elementwise_wg(g), cwg = CE_COMBINE_WG, L, chunks, Q = (uint32_t)ev_c4(z->c) / 4;
  while (cwg > 1 && (cwg * 8u > caps->max_shared_memory || cwg > caps->max_workgroup_invocations ||
                     cwg > caps->max_workgroup_size[0]))
    cwg /= 2;
  ce_plan(P, &L, &chunks);
  uint32_t has_w = class_weights != NULL, idx = (uint32_t)kind;
  ev_buf *wbuf = has_w ? class_weights : target; /* unused binding: any readable buffer */
  ev_push_softmax_ce_fwd pcf = {(uint32_t)P, Q, (uint32_t)z->c, L, chunks};
  ev_push_softmax_ce_combine pcc = {chunks};
  ev_push_softmax_ce_bwd pcb = {(uint32_t)P, Q, (uint32_t)z->c};
  ev_pipeline *pf, *pc, *pb;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "softmax_ce_fwd", .bindings = "trrww", .push_size = sizeof pcf,
                                                .n_spec = 3, .spec = {idx, has_w, prob != NULL},
                                                .local_size_x = wg}, &pf));
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "softmax_ce_combine", .bindings = "xw", .push_size = sizeof pcc,
                                                .local_size_x = cwg}, &pc));
  /* without a probability map, pass 1 binds the scratch twice (WRITE_PROB = 0 never writes it) */
  EV_TRY(ev_dispatch(s, pf, (uint32_t[3]){ev_gpu_grid_groups(g, chunks, wg), 1, 1},
                     (ev_buf *[]){&z->buf, target, wbuf, prob ? prob : scratch, scratch}, &pcf));
  EV_TRY(ev_dispatch(s, pc, (uint32_t[3]){1, 1, 1}, (ev_buf *[]){scratch, loss}, &pcc));
  if (!dz) return EV_OK;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "softmax_ce_bwd", .bindings = "trrrw", .push_size = sizeof pcb,
                                                .n_spec = 2, .spec = {idx, has_w}, .local_size_x = wg}, &pb));
  return ev_dispatch(s, pb, (uint32_t[3]){ev_gpu_grid_groups(g, P, wg), 1, 1},
                     (ev_buf *[]){&z->buf, target, wbuf, scratch, &dz->buf}, &pcb);
}

ev_status ev_distill_target(ev_stream *s, ev_buf *mask, ev_buf *teacher, float lambda, ev_buf *y, uint32_t n) {
  if (!(lambda >= 0 && lambda <= 1)) return ev_fail(EV_ERR_ARG, "distill_target: lambda %g is not in [0, 1]", lambda);
  EV_TRY(ev_buf_check("distill_target", "the mask", mask, (uint64_t)n * 4));
  EV_TRY(ev_buf_check("distill_target", "the teacher's probabilities", teacher, (uint64_t)n * 4));
  EV_TRY(ev_buf_check("distill_target", "the distillation target", y, (uint64_t)n * 4));
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_push_distill_target pc = {n, lambda};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "distill_target", .bindings = "rrw", .push_size = sizeof pc,
                                                .local_size_x = wg}, &p));
  return ev_dispatch(s, p, (uint32_t[3]){ev_gpu_grid_groups(g, n, wg), 1, 1}, (ev_buf *[]){mask, teacher, y}, &pc);
}

void ev_distill_target_ref(const float *mask, const float *teacher, float lambda, float *y, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) y[i] = (1.0f - lambda) * (mask[i] > 0.5f ? 1.0f : 0.0f) + lambda * teacher[i];
}

/* ---------------- reference ---------------- */
void ev_mask_to_class(const float *mask, int32_t *cls, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) cls[i] = mask[i] > 0.5f ? 1 : 0;
}

double ev_softmax_ce_ref(const double *logits, int n, int h, int w, int c, const int32_t *cls,
                         const double *class_weights, double *dlogits, double *prob) {
  int c4 = ev_c4(c);
  size_t P = (size_t)n * h * w;
  double swl = 0, sw = 0;
  for (size_t p = 0; p < P; p++) {
    const double *z = logits + p * c4;
    double m = z[0], s = 0;
    for (int k = 1; k < c; k++) m = z[k] > m ? z[k] : m;
    for (int k = 0; k < c; k++) s += exp(z[k] - m);
    double lse = m + log(s);
    int t = cls[p];
    if (t >= 0 && t < c) {
      double wt = class_weights ? class_weights[t] : 1.0;
      swl += wt * (lse - z[t]);
      sw += wt;
    }
    if (prob) prob[p] = exp(z[1] - lse);
  }
  if (dlogits)
    for (size_t p = 0; p < P; p++) {
      const double *z = logits + p * c4;
      int t = cls[p];
      double scale = t >= 0 && t < c ? (class_weights ? class_weights[t] : 1.0) / sw : 0.0;
      double m = z[0], s = 0;
      for (int k = 1; k < c; k++) m = z[k] > m ? z[k] : m;
      for (int k = 0; k < c; k++) s += exp(z[k] - m);
      double lse = m + log(s);
      for (int k = 0; k < c4; k++) dlogits[p * c4 + k] = k < c ? scale * (exp(z[k] - lse) - (k == t)) : 0.0;
    }
  return swl / sw;
}

double ev_softmax_ce_soft_ref(const double *logits, int n, int h, int w, const double *t, const double *class_weights,
                              double *dlogits, double *prob) {
  size_t P = (size_t)n * h * w;
  double swl = 0, sw = 0;
  for (size_t p = 0; p < P; p++) {
    const double *z = logits + p * 4;
    double m = z[0] > z[1] ? z[0] : z[1], lse = m + log(exp(z[0] - m) + exp(z[1] - m));
    double a0 = (1 - t[p]) * (class_weights ? class_weights[0] : 1), a1 = t[p] * (class_weights ? class_weights[1] : 1);
    swl += a0 * (lse - z[0]) + a1 * (lse - z[1]);
    sw += a0 + a1;
    if (prob) prob[p] = exp(z[1] - lse);
  }
  if (dlogits)
    for (size_t p = 0; p < P; p++) {
      const double *z = logits + p * 4;
      double m = z[0] > z[1] ? z[0] : z[1], lse = m + log(exp(z[0] - m) + exp(z[1] - m));
      double a0 = (1 - t[p]) * (class_weights ? class_weights[0] : 1), a1 = t[p] * (class_weights ? class_weights[1] : 1);
      dlogits[p * 4 + 0] = ((a0 + a1) * exp(z[0] - lse) - a0) / sw;
      dlogits[p * 4 + 1] = ((a0 + a1) * exp(z[1] - lse) - a1) / sw;
      dlogits[p * 4 + 2] = dlogits[p * 4 + 3] = 0.0;
    }
  return swl / sw;
}
