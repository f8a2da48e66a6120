/* ev_model: allocation, parameter upload/download, optimiser state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/ops/batchnorm.h"
#include "evonet/ops/conv.h"
#include "evonet/ops/conv_sparse.h"
#include "evonet/ops/conv_wgrad.h"
#include "evonet/ops/loss.h"
#include "model_internal.h"

ev_tensor *ev_model_in_tensor(ev_model *m, int j) { return j < 0 ? &m->input : &m->nodes[j].y; }
ev_tensor *ev_model_input(ev_model *m) { return &m->input; }
ev_buf *ev_model_target(ev_model *m) { return &m->target; }
ev_buf *ev_model_prob(ev_model *m) { return &m->prob; }
ev_tensor *ev_model_logits(ev_model *m) { return &m->nodes[m->spec.output].y; }
ev_buf *ev_model_loss_buf(ev_model *m) { return &m->loss; }
int ev_model_batch(const ev_model *m) { return m->batch; }
const ev_net_spec *ev_model_spec(const ev_model *m) { return &m->spec; }


static ev_status alloc_floats(ev_gpu *g, uint64_t n, ev_buf *b) {
  return ev_buf_alloc(g, (n ? (n + 3) / 4 * 4 : 4) * 4, b); /* whole texels */
}

/* conv: OHWI4 with O = out, I = cin. deconv: O = cin (its input), I = out. */
static void conv_dims(const ev_layer *l, int *o, int *i) {
  *o = l->op == EV_OP_CONV ? l->out : l->cin;
  *i = l->op == EV_OP_CONV ? l->cin : l->out;
}

static ev_status add_param(ev_model *m, ev_buf *buf, ev_buf *grad, ev_buf *mask, uint64_t n) {
  ev_param *p = &m->params[m->n_params++];
  memset(p, 0, sizeof *p);
  p->buf = buf, p->grad = grad, p->mask = mask, p->n = n;
  EV_TRY(alloc_floats(m->g, n, &p->m1));
  EV_TRY(alloc_floats(m->g, n, &p->m2));
  return EV_OK;
}

static ev_status create_node(ev_model *m, int i, uint64_t *conv_ws, uint64_t *wgrad_ws, uint64_t *bn_scratch) {
  ev_gpu *g = m->g;
  const ev_layer *l = &m->spec.layers[i];
  ev_node *nd = &m->nodes[i];
  EV_TRY(ev_tensor_alloc(g, m->batch, l->h, l->w, l->c, &nd->y));
  if (m->training && nd->consumers > 0) EV_TRY(ev_tensor_alloc(g, m->batch, l->h, l->w, l->c, &nd->dy));
  if (m->training && nd->consumers > 1) EV_TRY(ev_tensor_alloc(g, m->batch, l->h, l->w, l->c, &nd->tmp));
  if (l->op == EV_OP_MAXPOOL && !ev_layer_pool_from_x(l)) /* else the backward needs no argmax */
    EV_TRY(ev_buf_alloc(g, ev_tensor_floats(m->batch, l->h, l->w, l->c) * 4, &nd->idx));
  if (!ev_layer_has_weights(l)) return EV_OK;
  const ev_tensor *x = ev_model_in_tensor(m, l->in[0]);
  nd->cd = (ev_conv_desc){.cin = l->cin, .cout = l->out, .kh = l->k, .kw = l->k, .stride_h = l->stride,
                          .stride_w = l->stride, .pad_h = l->pad, .pad_w = l->pad, .dil_h = l->dil,
                          .dil_w = l->dil, .out_pad_h = l->out_pad, .out_pad_w = l->out_pad};
  int o, in;
  conv_dims(l, &o, &in);
  nd->wn = (uint64_t)o * l->k * l->k * ev_c4(in);
  /* an fc layer's k x k kernel at one output position is a GEMM over k*k*c4(cin) inputs: NHWC-C4
   * memory is already that flat vector and OHWI4 weights that flat row, so the dense passes run
   * it as a 1x1 conv (a k x k implicit GEMM would visit k*k taps per input pixel for one live one) */
  nd->fc_flat = l->full && l->op == EV_OP_CONV && l->k > 1 && x->h == l->k && x->w == l->k;
  nd->cdf = nd->cd;
  if (nd->fc_flat) nd->cdf = (ev_conv_desc){.cin = l->k * l->k * ev_c4(l->cin), .cout = l->out, .kh = 1, .kw = 1,
                                            .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1};
  int xh = nd->fc_flat ? 1 : x->h, xw = nd->fc_flat ? 1 : x->w;
  uint64_t ws = ev_conv_workspace_bytes(&nd->cdf), wg = ev_conv_wgrad_workspace_bytes(ev_gpu_tuning(g), &nd->cdf, m->batch, xh, xw);
  if (l->op == EV_OP_DECONV) /* its weight gradient reads (x, dy) the other way round */
    wg = ev_conv_wgrad_workspace_bytes(ev_gpu_tuning(g), &nd->cd, m->batch, x->h, x->w);
  if (ws > *conv_ws) *conv_ws = ws;
  if (wg > *wgrad_ws) *wgrad_ws = wg;
  EV_TRY(alloc_floats(g, nd->wn, &nd->w));
  EV_TRY(alloc_floats(g, nd->wn, &nd->mask));
  EV_TRY(alloc_floats(g, ev_c4(l->out), &nd->b));
  if (l->bn) {
    EV_TRY(ev_tensor_alloc(g, m->batch, l->h, l->w, l->c, &nd->z));
    ev_buf *bn[4] = {&nd->gamma, &nd->beta, &nd->rmean, &nd->rvar};
    for (int k = 0; k < 4; k++) EV_TRY(alloc_floats(g, ev_c4(l->out), bn[k]));
    EV_TRY(alloc_floats(g, ev_bn_save_floats(l->out), &nd->bn_save));
    uint64_t sc = ev_bn_scratch_floats(m->batch, l->h, l->w, l->out);
    if (sc > *bn_scratch) *bn_scratch = sc;
  }
  if (!m->training) return EV_OK;
  EV_TRY(alloc_floats(g, nd->wn, &nd->gw));
  EV_TRY(alloc_floats(g, ev_c4(l->out), &nd->gb));
  EV_TRY(add_param(m, &nd->w, &nd->gw, &nd->mask, nd->wn));
  EV_TRY(add_param(m, &nd->b, &nd->gb, NULL, ev_c4(l->out)));
  if (l->bn) {
    EV_TRY(alloc_floats(g, ev_c4(l->out), &nd->ggamma));
    EV_TRY(alloc_floats(g, ev_c4(l->out), &nd->gbeta));
    EV_TRY(add_param(m, &nd->gamma, &nd->ggamma, NULL, ev_c4(l->out)));
    EV_TRY(add_param(m, &nd->beta, &nd->gbeta, NULL, ev_c4(l->out)));
  }
  return EV_OK;
}

ev_status ev_model_create(ev_gpu *g, const ev_net_spec *spec, int batch, int h, int w, bool training, ev_model **out) {
  *out = NULL;
  if (batch < 1) return ev_fail(EV_ERR_ARG, "batch size %d must be positive", batch);
  if (training && batch * h * w < 2) return ev_fail(EV_ERR_ARG, "training needs more than one pixel per batch");
  ev_model *m = calloc(1, sizeof *m);
  if (!m) return ev_fail(EV_ERR_OOM, "out of memory");
  m->g = g, m->batch = batch, m->h = h, m->w = w, m->training = training;
  ev_status s = ev_net_copy(spec, &m->spec);
  if (s == EV_OK) s = ev_net_infer(&m->spec, h, w);
  if (s == EV_OK) {
    m->nodes = calloc((size_t)m->spec.n, sizeof *m->nodes);
    m->params = calloc((size_t)m->spec.n * 4 + 1, sizeof *m->params);
    if (!m->nodes || !m->params) s = ev_fail(EV_ERR_OOM, "out of memory");
  }
  if (s == EV_OK) {
    for (int i = 0; i < m->spec.n; i++)
      for (int j = 0; j < m->spec.layers[i].n_in; j++)
        if (m->spec.layers[i].in[j] >= 0) m->nodes[m->spec.layers[i].in[j]].consumers++;
    m->nodes[m->spec.output].consumers++; /* the loss */
    s = ev_tensor_alloc(g, batch, h, w, m->spec.in_channels, &m->input);
  }
  uint64_t conv_ws = 0, wgrad_ws = 0, bn_scratch = 0;
  for (int i = 0; s == EV_OK && i < m->spec.n; i++) s = create_node(m, i, &conv_ws, &wgrad_ws, &bn_scratch);
  uint64_t pix = (uint64_t)batch * h * w;
  if (s == EV_OK) s = alloc_floats(g, pix, &m->target);
  if (s == EV_OK) s = alloc_floats(g, pix, &m->prob);
  if (s == EV_OK) s = alloc_floats(g, 4, &m->loss);
  if (s == EV_OK) s = alloc_floats(g, 4, &m->class_w);
  if (s == EV_OK) s = alloc_floats(g, ev_softmax_ce_scratch_floats(batch, h, w), &m->loss_scratch);
  if (s == EV_OK) s = ev_buf_alloc(g, conv_ws ? conv_ws : 16, &m->conv_ws);
  if (s == EV_OK && training) s = ev_buf_alloc(g, wgrad_ws ? wgrad_ws : 16, &m->wgrad_ws);
  if (s == EV_OK) s = alloc_floats(g, bn_scratch, &m->bn_scratch);
  if (s != EV_OK) {
    ev_model_destroy(m);
    return s;
  }
  *out = m;
  return EV_OK;
}

void ev_model_destroy(ev_model *m) {
  if (!m) return;
  ev_gpu *g = m->g;
  for (int i = 0; m->nodes && i < m->spec.n; i++) {
    ev_node *nd = &m->nodes[i];
    ev_tensor_free(g, &nd->y), ev_tensor_free(g, &nd->z), ev_tensor_free(g, &nd->dy), ev_tensor_free(g, &nd->tmp);
    ev_buf *bufs[] = {&nd->idx, &nd->w, &nd->b, &nd->mask, &nd->gw, &nd->gb, &nd->gamma, &nd->beta,
                      &nd->rmean, &nd->rvar, &nd->ggamma, &nd->gbeta, &nd->bn_save, &nd->taps};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) ev_buf_free(g, bufs[k]);
  }
  for (int i = 0; m->params && i < m->n_params; i++) ev_buf_free(g, &m->params[i].m1), ev_buf_free(g, &m->params[i].m2);
  ev_tensor_free(g, &m->input);
  ev_buf *bufs[] = {&m->target, &m->prob, &m->loss, &m->class_w, &m->conv_ws, &m->wgrad_ws, &m->bn_scratch, &m->loss_scratch};
  for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) ev_buf_free(g, bufs[k]);
  free(m->nodes);
  free(m->params);
  ev_net_free(&m->spec);
  free(m);
}

static ev_status check_same(const ev_model *m, const ev_net_weights *w) {
  if (w->spec.n != m->spec.n) return ev_fail(EV_ERR_ARG, "weights belong to another architecture");
  for (int i = 0; i < m->spec.n; i++)
    if (ev_layer_weight_count(&w->spec.layers[i]) != ev_layer_weight_count(&m->spec.layers[i]))
      return ev_fail(EV_ERR_ARG, "weights of layer %s do not fit the model", m->spec.layers[i].name);
  return EV_OK;
}

/* Pads a per-channel array to C4 with zeros and uploads it. */
static ev_status upload_vec(ev_gpu *g, ev_buf *b, const float *v, int c) {
  float *tmp = calloc((size_t)ev_c4(c), 4);
  if (!tmp) return ev_fail(EV_ERR_OOM, "out of memory");
  memcpy(tmp, v, (size_t)c * 4);
  ev_status s = ev_buf_upload(g, b, 0, tmp, (uint64_t)ev_c4(c) * 4);
  free(tmp);
  return s;
}

/* An inference conv runs sparse (conv_sparse: only the live taps) instead of the dense
 * implicit GEMM when its live synapses are at most 1/SPARSE_RATIO of the weights the dense
 * kernel really multiplies: k*k*c4(cin)*c4(cout), channels padded to quads. Why not
 * live/weights <= 1/8: measured on lavapipe (one thread; 168 layers of generations 1-4 and
 * of generation 1 thinned to 1/8..1/64), the sparse pass costs ~0.8 ns per live synapse
 * and output pixel, the dense one ~0.04 ns per padded weight (a ratio of 20-22) plus a
 * per-pixel overhead that dominates narrow layers. So a 64->64 layer at density 1/8 runs
 * 2.7x slower sparse while a 3->2 one at 1/18 runs 2.7x faster: density <= 1/8 chose wrong
 * in 33 of the 168 layers (+19% time over the best choice), this rule in 9 (+0.4%, the
 * worst a 20 us layer 1.7x slower). EVONET_SPARSE=0 forces dense, =1 sparse (tests). */
#define SPARSE_RATIO 20

static bool want_sparse(const ev_tuning *t, const ev_layer *l, uint64_t live) {
  if (t->sparse >= 0) return t->sparse == 1;
  return live * SPARSE_RATIO <= (uint64_t)l->k * l->k * ev_c4(l->cin) * ev_c4(l->out);
}

/* Inference conv layers: decide dense or sparse from the live density and, if sparse,
 * pack the weights the pass really uses (wsrc: BN-folded or plain, PyTorch layout) into
 * taps. A re-upload repacks into a fresh buffer (the live count may have changed). */
static ev_status upload_sparse(ev_model *m, int i, const float *wsrc, const float *mask) {
  const ev_layer *l = &m->spec.layers[i];
  ev_node *nd = &m->nodes[i];
  ev_buf_free(m->g, &nd->taps);
  nd->sparse = false;
  if (m->training || l->op != EV_OP_CONV) return EV_OK;
  uint64_t live = ev_conv_sparse_live(&nd->cd, mask);
  if (!want_sparse(ev_gpu_tuning(m->g), l, live)) return EV_OK;
  uint64_t n = (uint64_t)l->out + live; /* headers + taps (ev_conv_sparse_texels) */
  float *t = malloc(n * 16);
  if (!t) return ev_fail(EV_ERR_OOM, "out of memory");
  ev_status s = ev_conv_sparse_pack(&nd->cd, wsrc, mask, t);
  if (s == EV_OK) s = ev_buf_alloc(m->g, n * 16, &nd->taps);
  if (s == EV_OK) s = ev_buf_upload(m->g, &nd->taps, 0, t, n * 16);
  free(t);
  nd->sparse = s == EV_OK;
  return s;
}

ev_status ev_model_upload(ev_model *m, const ev_net_weights *w) {
  EV_TRY(check_same(m, w));
  for (int i = 0; i < m->spec.n; i++) {
    const ev_layer *l = &m->spec.layers[i];
    if (!ev_layer_has_weights(l)) continue;
    ev_node *nd = &m->nodes[i];
    int o, in;
    conv_dims(l, &o, &in);
    nd->bn_folded = l->bn && !m->training;
    const float *wsrc = w->l[i].w, *bsrc = w->l[i].b;
    float *tmp = malloc(nd->wn * 4), *wf = NULL, *bf = NULL;
    if (tmp && nd->bn_folded) {
      wf = malloc(ev_layer_weight_count(l) * 4), bf = malloc((size_t)l->out * 4);
      if (wf && bf) ev_layer_fold_bn(l, &w->l[i], wf, bf), wsrc = wf, bsrc = bf;
    }
    ev_status s = tmp && (!nd->bn_folded || (wf && bf)) ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
    if (s == EV_OK) {
      ev_oihw_to_ohwi4(wsrc, tmp, o, in, l->k, l->k);
      s = ev_buf_upload(m->g, &nd->w, 0, tmp, nd->wn * 4);
    }
    if (s == EV_OK) {
      ev_oihw_to_ohwi4(w->l[i].mask, tmp, o, in, l->k, l->k);
      s = ev_buf_upload(m->g, &nd->mask, 0, tmp, nd->wn * 4);
    }
    if (s == EV_OK) s = upload_vec(m->g, &nd->b, bsrc, l->out);
    if (s == EV_OK) s = upload_sparse(m, i, wsrc, w->l[i].mask);
    free(tmp), free(wf), free(bf);
    EV_TRY(s);
    if (nd->bn_folded) continue; /* no batch-norm pass at inference */
    if (l->bn) {
      EV_TRY(upload_vec(m->g, &nd->gamma, w->l[i].gamma, l->out));
      EV_TRY(upload_vec(m->g, &nd->beta, w->l[i].beta, l->out));
      EV_TRY(upload_vec(m->g, &nd->rmean, w->l[i].rmean, l->out));
      EV_TRY(upload_vec(m->g, &nd->rvar, w->l[i].rvar, l->out));
    }
  }
  return EV_OK;
}

/* Device parameters (or their gradients) into host arrays in PyTorch's layouts. */
static ev_status download_set(ev_model *m, ev_net_weights *w, bool grads) {
  EV_TRY(check_same(m, w));
  if (!m->training) return ev_fail(EV_ERR_ARG, "an inference model holds folded parameters: nothing to download");
  for (int i = 0; i < m->spec.n; i++) {
    const ev_layer *l = &m->spec.layers[i];
    if (!ev_layer_has_weights(l)) continue;
    ev_node *nd = &m->nodes[i];
    int o, in;
    conv_dims(l, &o, &in);
    float *tmp = malloc(nd->wn * 4);
    if (!tmp) return ev_fail(EV_ERR_OOM, "out of memory");
    ev_status s = ev_buf_download(m->g, grads ? &nd->gw : &nd->w, 0, tmp, nd->wn * 4);
    if (s == EV_OK) ev_ohwi4_to_oihw(tmp, w->l[i].w, o, in, l->k, l->k);
    free(tmp);
    EV_TRY(s);
    uint64_t bytes = (uint64_t)l->out * 4;
    EV_TRY(ev_buf_download(m->g, grads ? &nd->gb : &nd->b, 0, w->l[i].b, bytes));
    if (l->bn) {
      EV_TRY(ev_buf_download(m->g, grads ? &nd->ggamma : &nd->gamma, 0, w->l[i].gamma, bytes));
      EV_TRY(ev_buf_download(m->g, grads ? &nd->gbeta : &nd->beta, 0, w->l[i].beta, bytes));
      if (!grads) {
        EV_TRY(ev_buf_download(m->g, &nd->rmean, 0, w->l[i].rmean, bytes));
        EV_TRY(ev_buf_download(m->g, &nd->rvar, 0, w->l[i].rvar, bytes));
      }
    }
  }
  return EV_OK;
}

ev_status ev_model_download(ev_model *m, ev_net_weights *w) { return download_set(m, w, false); }
ev_status ev_model_download_grads(ev_model *m, ev_net_weights *g) { return download_set(m, g, true); }

uint64_t ev_model_opt_floats(const ev_model *m) {
  uint64_t t = 0;
  for (int i = 0; i < m->n_params; i++) t += 2 * m->params[i].n;
  return t;
}

ev_status ev_model_opt_get(ev_model *m, float *dst) {
  for (int i = 0; i < m->n_params; i++) {
    ev_param *p = &m->params[i];
    EV_TRY(ev_buf_download(m->g, &p->m1, 0, dst, p->n * 4));
    EV_TRY(ev_buf_download(m->g, &p->m2, 0, dst + p->n, p->n * 4));
    dst += 2 * p->n;
  }
  return EV_OK;
}

ev_status ev_model_opt_set(ev_model *m, const float *src) {
  for (int i = 0; i < m->n_params; i++) {
    ev_param *p = &m->params[i];
    EV_TRY(ev_buf_upload(m->g, &p->m1, 0, src, p->n * 4));
    EV_TRY(ev_buf_upload(m->g, &p->m2, 0, src + p->n, p->n * 4));
    src += 2 * p->n;
  }
  return EV_OK;
}

ev_status ev_model_opt_zero(ev_model *m) {
  for (int i = 0; i < m->n_params; i++) {
    EV_TRY(ev_buf_fill(m->g, &m->params[i].m1, 0));
    EV_TRY(ev_buf_fill(m->g, &m->params[i].m2, 0));
  }
  return EV_OK;
}

ev_gpu *ev_model_gpu(const ev_model *m) { return m->g; }

/* Uploads n images and their targets (tgt_floats 4-byte values each), zeroing the rest of the batch. */
static ev_status feed(ev_model *m, const float *images, const void *targets, uint64_t pix, int n) {
  if (n < 1 || n > m->batch) return ev_fail(EV_ERR_ARG, "%d images do not fit a batch of %d", n, m->batch);
  /* batches hold 4 floats per pixel: up to 4 channels, the unused ones zero */
  if (m->spec.in_channels > 4)
    return ev_fail(EV_ERR_ARG, "the network takes %d channels, images have at most 4", m->spec.in_channels);
  uint64_t img = (uint64_t)m->h * m->w * 4;
  EV_TRY(ev_buf_upload(m->g, &m->input.buf, 0, images, n * img * 4));
  if (targets) EV_TRY(ev_buf_upload(m->g, &m->target, 0, targets, n * pix * 4));
  if (n < m->batch) {
    float *zero = calloc((m->batch - n) * (img > pix ? img : pix), 4);
    if (!zero) return ev_fail(EV_ERR_OOM, "out of memory");
    ev_status s = ev_buf_upload(m->g, &m->input.buf, n * img * 4, zero, (m->batch - n) * img * 4);
    if (s == EV_OK) s = ev_buf_upload(m->g, &m->target, n * pix * 4, zero, (m->batch - n) * pix * 4);
    free(zero);
    EV_TRY(s);
  }
  return EV_OK;
}

ev_status ev_model_feed(ev_model *m, const float *images, const float *masks, int n) {
  if (m->spec.task != EV_TASK_SALIENCY) return ev_fail(EV_ERR_ARG, "a classification network takes labels, not masks");
  return feed(m, images, masks, (uint64_t)m->h * m->w, n);
}

ev_status ev_model_feed_labels(ev_model *m, const float *images, const int32_t *labels, int n) {
  if (m->spec.task != EV_TASK_CLASSIFY) return ev_fail(EV_ERR_ARG, "a saliency network takes masks, not labels");
  for (int i = 0; labels && i < n; i++)
    if (labels[i] < 0 || labels[i] >= m->spec.classes)
      return ev_fail(EV_ERR_ARG, "label %d of image %d is not one of the network's %d classes", labels[i], i,
                     m->spec.classes);
  return feed(m, images, labels, 1, n);
}

ev_status ev_fill_random_input(ev_model *m, uint64_t seed) {
  uint64_t n = ev_tensor_floats(m->batch, m->h, m->w, m->spec.in_channels), pix = (uint64_t)m->batch * m->h * m->w;
  float *x = malloc(n * 4), *t = malloc(pix * 4);
  if (!x || !t) {
    free(x), free(t);
    return ev_fail(EV_ERR_OOM, "out of memory");
  }
  int c4 = ev_c4(m->spec.in_channels);
  for (uint64_t i = 0; i < n; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (int)(i % c4) < m->spec.in_channels ? (float)((seed >> 40) * (4.0 / 16777216.0)) - 2.0f : 0.0f;
  }
  for (uint64_t i = 0; i < pix; i++) t[i] = (float)((i / 7) % 2);
  if (m->spec.task == EV_TASK_CLASSIFY) /* labels: int32 class indices, one per image */
    for (uint64_t i = 0; i < pix; i++) {
      int32_t c = (int32_t)((i * 7 + 3) % (uint64_t)m->spec.classes);
      memcpy(&t[i], &c, 4);
    }
  ev_status s = ev_buf_upload(m->g, &m->input.buf, 0, x, n * 4);
  if (s == EV_OK) s = ev_buf_upload(m->g, &m->target, 0, t, pix * 4);
  free(x), free(t);
  return s;
}
