/* ev_model: the forward and backward schedules over the layer graph.
 * Backward runs in reverse topological order; a layer's output gradient dy is written by
 * its first consumer and, for layers with several consumers, later ones write `tmp` and add
 * it in (deterministic: no atomics). */
#include <string.h>

#include "evonet/ops/basic.h"
#include "evonet/ops/batchnorm.h"
#include "evonet/ops/conv.h"
#include "evonet/ops/conv_sparse.h"
#include "evonet/ops/conv_wgrad.h"
#include "evonet/ops/eltwise.h"
#include "evonet/ops/loss.h"
#include "evonet/ops/optim.h"
#include "evonet/ops/pool.h"
#include "evonet/ops/upsample.h"
#include "model_internal.h"

/* Whether layer j's activation backward is fused into the backward passes of all its
 * consumers: conv and deconv input gradients, pool gradients from x, concat splits. They
 * write dy_j already through it, computed from y_j, the activation's output they read anyway
 * (every kind's backward is a function of y: evonet/ops/act.h). The backward is linear in
 * dy, so the sum of the consumers' parts is the backward of the sum. All or nothing: a
 * partly fused layer would take the fused parts through it twice (harmless for a ReLU's
 * select, wrong for leaky_relu and tanh), so one consumer that cannot fuse unfuses all. */
static const ev_act *act_fused(const ev_model *m, int j) {
  /* the output layer's gradient comes from the loss, not from a consumer */
  if (j < 0 || j == m->spec.output || !ev_act_on(&m->spec.layers[j].act)) return NULL;
  for (int i = 0; i < m->spec.n; i++) {
    const ev_layer *l = &m->spec.layers[i];
    for (int k = 0; k < l->n_in; k++) {
      if (l->in[k] != j) continue;
      int ok = l->op == EV_OP_CONV || l->op == EV_OP_DECONV || l->op == EV_OP_CONCAT || l->op == EV_OP_AVGPOOL ||
               (l->op == EV_OP_MAXPOOL && ev_layer_pool_from_x(l));
      if (!ok || (l->op != EV_OP_CONCAT && k != 0)) return NULL;
    }
  }
  return &m->spec.layers[j].act;
}

static ev_bn_params bn_params(ev_node *nd) {
  return (ev_bn_params){.gamma = &nd->gamma, .beta = &nd->beta, .running_mean = &nd->rmean,
                        .running_var = &nd->rvar, .momentum = 0.1f, .eps = 1e-5f};
}

/* A tensor as the dense conv passes of node nd read or write it: itself, or for an fc layer
 * (nd->fc_flat) a view of the same memory as one pixel of k*k*c4(C) channels. The view is a
 * copy of the tensor's struct, so its texel view is made on the real buffer first (the copy
 * then shares it and never owns one). */
static ev_tensor *fc_view(ev_model *m, const ev_node *nd, ev_tensor *t, ev_tensor *view) {
  if (!nd->fc_flat || !t) return t;
  VkBufferView v;
  if (ev_buf_texel_view(m->g, &t->buf, &v) != EV_OK) return NULL;
  *view = *t;
  view->h = 1, view->w = 1, view->c = nd->cdf.cin;
  return view;
}

static ev_status forward_conv(ev_model *m, ev_stream *s, int i, bool train) {
  const ev_layer *l = &m->spec.layers[i];
  ev_node *nd = &m->nodes[i];
  ev_tensor *x = ev_model_in_tensor(m, l->in[0]);
  /* inference conv with few live synapses (BN, if any, folded into taps and b): one fused pass */
  const ev_act *act = &l->act;
  if (nd->sparse) return ev_conv2d_sparse_forward(s, &nd->cd, x, &nd->taps, &nd->b, act, &nd->y);
  if (nd->bn_folded) { /* inference with batch norm folded into the weights: one fused pass */
    if (l->op == EV_OP_CONV) return ev_conv2d_forward(s, &nd->cd, x, &nd->w, &nd->b, act, &nd->y);
    return ev_deconv2d_forward_act(s, &nd->cd, x, &nd->w, &nd->b, act, &nd->y, &m->conv_ws);
  }
  ev_tensor *pre = l->bn ? &nd->z : &nd->y; /* the convolution's own output */
  const ev_act *conv_act = l->bn ? NULL : act; /* with batch norm the activation follows it */
  if (l->op == EV_OP_CONV) {
    EV_TRY(ev_conv2d_forward(s, &nd->cd, x, &nd->w, &nd->b, conv_act, pre));
  } else {
    EV_TRY(ev_deconv2d_forward_act(s, &nd->cd, x, &nd->w, &nd->b, conv_act, pre, &m->conv_ws));
  }
  if (l->bn) {
    ev_bn_params bp = bn_params(nd);
    if (train) EV_TRY(ev_bn_forward_train_act(s, &bp, &nd->z, &nd->bn_save, &m->bn_scratch, act, &nd->y));
    else EV_TRY(ev_bn_forward_infer_act(s, &bp, &nd->z, &nd->bn_save, act, &nd->y));
  }
  return EV_OK;
}

ev_status ev_model_forward(ev_model *m, ev_stream *s, bool train) {
  if (train && !m->training) return ev_fail(EV_ERR_ARG, "model was created for inference only");
  for (int i = 0; i < m->spec.n; i++) {
    const ev_layer *l = &m->spec.layers[i];
    ev_node *nd = &m->nodes[i];
    ev_tensor *x0 = ev_model_in_tensor(m, l->in[0]);
    switch (l->op) {
    case EV_OP_CONV:
    case EV_OP_DECONV: EV_TRY(forward_conv(m, s, i, train)); break;
    case EV_OP_MAXPOOL: {
      ev_pool_desc pd = ev_layer_pool_desc(l);
      if (ev_layer_pool_from_x(l)) EV_TRY(ev_maxpool_forward_values(s, &pd, x0, &nd->y));
      else EV_TRY(ev_maxpool_forward(s, &pd, x0, &nd->y, &nd->idx));
      break;
    }
    case EV_OP_AVGPOOL: {
      ev_pool_desc pd = ev_layer_pool_desc(l);
      EV_TRY(ev_avgpool_forward(s, &pd, x0, &nd->y));
      break;
    }
    case EV_OP_UPSAMPLE: EV_TRY(ev_upsample_forward(s, x0, &nd->y)); break;
    case EV_OP_CONCAT: {
      ev_tensor *xs[EV_NET_MAX_IN];
      for (int j = 0; j < l->n_in; j++) xs[j] = ev_model_in_tensor(m, l->in[j]);
      EV_TRY(ev_concat_forward(s, xs, l->n_in, &nd->y));
      break;
    }
    case EV_OP_ADD:
      if (l->n_in == 1) {
        EV_TRY(ev_copy(s, &x0->buf, &nd->y.buf, ev_tensor_floats(x0->n, x0->h, x0->w, x0->c), 0));
        break;
      }
      EV_TRY(ev_add(s, x0, ev_model_in_tensor(m, l->in[1]), &nd->y));
      for (int j = 2; j < l->n_in; j++) EV_TRY(ev_add_into(s, &nd->y, ev_model_in_tensor(m, l->in[j])));
      break;
    }
  }
  return EV_OK;
}

/* Where the gradient for layer j's output goes: NULL for the network input (not needed). */
static ev_tensor *grad_dst(ev_model *m, int j, int *pending) {
  *pending = 0;
  if (j < 0) return NULL;
  ev_node *nd = &m->nodes[j];
  if (nd->grads_written++ == 0) return &nd->dy;
  *pending = 1;
  return &nd->tmp;
}

static ev_status grad_done(ev_model *m, ev_stream *s, int j, int pending) {
  return pending ? ev_add_into(s, &m->nodes[j].dy, &m->nodes[j].tmp) : EV_OK;
}

static ev_status backward_conv(ev_model *m, ev_stream *s, int i) {
  const ev_layer *l = &m->spec.layers[i];
  ev_node *nd = &m->nodes[i];
  ev_tensor *g = &nd->dy, *x = ev_model_in_tensor(m, l->in[0]);
  /* in place: dy is not needed again (fused: the consumers wrote it masked) */
  if (ev_act_on(&l->act) && !act_fused(m, i)) EV_TRY(ev_act_backward(s, &l->act, &nd->y, g, g));
  if (l->bn) {
    ev_bn_params bp = bn_params(nd);
    EV_TRY(ev_bn_backward(s, &bp, &nd->z, g, &nd->bn_save, &m->bn_scratch, g, &nd->ggamma, &nd->gbeta));
  }
  ev_tensor xv, dxv;
  if (l->op == EV_OP_CONV && !(x = fc_view(m, nd, x, &xv))) return EV_ERR_VK;
  if (l->op == EV_OP_CONV) EV_TRY(ev_conv2d_backward_weight(s, &nd->cdf, x, g, &nd->gw, &nd->gb, 0, &m->wgrad_ws));
  else EV_TRY(ev_deconv2d_backward_weight(s, &nd->cd, x, g, &nd->gw, &nd->gb, 0, &m->wgrad_ws));
  int pending;
  ev_tensor *dx = grad_dst(m, l->in[0], &pending);
  if (!dx) return EV_OK;
  const ev_act *in_act = act_fused(m, l->in[0]);
  ev_tensor *ym = in_act ? x : NULL; /* x is that activation's output (viewed like dx) */
  if (l->op == EV_OP_CONV && !(dx = fc_view(m, nd, dx, &dxv))) return EV_ERR_VK;
  if (l->op == EV_OP_CONV) EV_TRY(ev_conv2d_backward_data_act(s, &nd->cdf, g, &nd->w, dx, &m->conv_ws, in_act, ym));
  else EV_TRY(ev_deconv2d_backward_data_act(s, &nd->cd, g, &nd->w, dx, in_act, ym));
  return grad_done(m, s, l->in[0], pending);
}

static ev_status backward_concat(ev_model *m, ev_stream *s, int i) {
  const ev_layer *l = &m->spec.layers[i];
  ev_tensor *dxs[EV_NET_MAX_IN], *ys[EV_NET_MAX_IN];
  ev_act acts[EV_NET_MAX_IN];
  int first = 0, later = 0;
  for (int j = 0; j < l->n_in; j++) {
    int k = l->in[j];
    if (k < 0) return ev_fail(EV_ERR_ARG, "layer %s: concatenating the network input is not supported", l->name);
    dxs[j] = &m->nodes[k].dy;
    const ev_act *a = act_fused(m, k);
    ys[j] = a ? &m->nodes[k].y : NULL;
    acts[j] = a ? *a : ev_act_make(EV_ACT_NONE);
    if (m->nodes[k].grads_written++ == 0) first++;
    else later++;
  }
  if (later == 0) return ev_concat_backward_act(s, &m->nodes[i].dy, dxs, ys, acts, l->n_in, 0);
  if (first == 0) return ev_concat_backward_act(s, &m->nodes[i].dy, dxs, ys, acts, l->n_in, 1);
  return ev_fail(EV_ERR_ARG, "layer %s: inputs that also feed other layers are not supported yet", l->name);
}

ev_status ev_model_backward(ev_model *m, ev_stream *s) {
  if (!m->training) return ev_fail(EV_ERR_ARG, "model was created for inference only");
  for (int i = 0; i < m->spec.n; i++) m->nodes[i].grads_written = 0;
  m->nodes[m->spec.output].grads_written = 1; /* the loss wrote the logits' gradient */
  for (int i = m->spec.n - 1; i >= 0; i--) {
    const ev_layer *l = &m->spec.layers[i];
    ev_node *nd = &m->nodes[i];
    if (nd->grads_written == 0) continue; /* feeds nothing that reaches the loss */
    int pending;
    ev_tensor *dx;
    switch (l->op) {
    case EV_OP_CONV:
    case EV_OP_DECONV: EV_TRY(backward_conv(m, s, i)); break;
    case EV_OP_MAXPOOL: {
      ev_pool_desc pd = ev_layer_pool_desc(l);
      if ((dx = grad_dst(m, l->in[0], &pending))) {
        if (ev_layer_pool_from_x(l))
          EV_TRY(ev_maxpool_backward_x(s, &pd, ev_model_in_tensor(m, l->in[0]), &nd->dy, dx, act_fused(m, l->in[0])));
        else EV_TRY(ev_maxpool_backward(s, &pd, &nd->dy, &nd->idx, dx));
        EV_TRY(grad_done(m, s, l->in[0], pending));
      }
      break;
    }
    case EV_OP_AVGPOOL: {
      ev_pool_desc pd = ev_layer_pool_desc(l);
      if ((dx = grad_dst(m, l->in[0], &pending))) {
        const ev_act *fused = act_fused(m, l->in[0]);
        EV_TRY(ev_avgpool_backward(s, &pd, &nd->dy, fused ? ev_model_in_tensor(m, l->in[0]) : NULL, fused, dx));
        EV_TRY(grad_done(m, s, l->in[0], pending));
      }
      break;
    }
    case EV_OP_UPSAMPLE:
      if ((dx = grad_dst(m, l->in[0], &pending))) {
        EV_TRY(ev_upsample_backward(s, &nd->dy, dx));
        EV_TRY(grad_done(m, s, l->in[0], pending));
      }
      break;
    case EV_OP_CONCAT: EV_TRY(backward_concat(m, s, i)); break;
    case EV_OP_ADD:
      for (int j = 0; j < l->n_in; j++) {
        int k = l->in[j];
        if (k < 0) continue;
        if (m->nodes[k].grads_written++ == 0)
          EV_TRY(ev_copy(s, &nd->dy.buf, &m->nodes[k].dy.buf, ev_tensor_floats(nd->dy.n, nd->dy.h, nd->dy.w, nd->dy.c), 0));
        else EV_TRY(ev_add_into(s, &m->nodes[k].dy, &nd->dy));
      }
      break;
    }
  }
  return EV_OK;
}

static ev_status model_loss(ev_model *m, ev_stream *s, float fg_weight, ev_target_kind kind) {
  ev_buf *cw = NULL;
  bool classify = m->spec.task == EV_TASK_CLASSIFY;
  if (classify && kind != EV_TARGET_MASK) return ev_fail(EV_ERR_ARG, "distillation needs a 2-class saliency network");
  if (classify) kind = EV_TARGET_INDEX; /* one label per image at the 1x1 output */
  if (fg_weight != 1.0f) {
    if (classify) return ev_fail(EV_ERR_ARG, "a salient-class weight needs a saliency network");
    if (m->spec.classes != 2) return ev_fail(EV_ERR_ARG, "a salient-class weight needs a 2-class network");
    if (m->class_w_fg != fg_weight) { /* small upload, only when the weight changes */
      float w[4] = {1.0f, fg_weight, 0, 0};
      EV_TRY(ev_buf_upload(m->g, &m->class_w, 0, w, sizeof w));
      m->class_w_fg = fg_weight;
    }
    cw = &m->class_w;
  }
  ev_node *out = &m->nodes[m->spec.output];
  return ev_softmax_ce(s, &out->y, &m->target, kind, cw, &m->loss_scratch, &m->loss,
                       m->training ? &out->dy : NULL, classify ? NULL : &m->prob);
}

ev_status ev_model_loss(ev_model *m, ev_stream *s, float fg_weight) {
  return model_loss(m, s, fg_weight, EV_TARGET_MASK);
}

ev_status ev_model_loss_soft(ev_model *m, ev_stream *s, float fg_weight) {
  return model_loss(m, s, fg_weight, EV_TARGET_SOFT); /* ev_softmax_ce refuses other than 2 classes */
}

ev_status ev_model_distill_target(ev_model *m, ev_model *teacher, ev_stream *s, float lambda) {
  ev_tensor *x = &m->input, *tx = &teacher->input;
  if (tx->n != x->n || tx->h != x->h || tx->w != x->w || tx->c != x->c)
    return ev_fail(EV_ERR_ARG, "the teacher's input (%d, %d, %d, %d) differs from the student's (%d, %d, %d, %d)",
                   tx->n, tx->c, tx->h, tx->w, x->n, x->c, x->h, x->w);
  if (m->spec.classes != 2 || teacher->spec.classes != 2 || m->spec.task != EV_TASK_SALIENCY ||
      teacher->spec.task != EV_TASK_SALIENCY)
    return ev_fail(EV_ERR_ARG, "distillation needs 2-class saliency networks");
  EV_TRY(ev_copy(s, &x->buf, &tx->buf, ev_tensor_floats(x->n, x->h, x->w, x->c), 0));
  EV_TRY(ev_model_forward(teacher, s, false));
  EV_TRY(ev_model_predict(teacher, s));
  uint32_t n = (uint32_t)((uint64_t)x->n * x->h * x->w);
  return ev_distill_target(s, &m->target, &teacher->prob, lambda, &m->target, n);
}

ev_status ev_model_predict(ev_model *m, ev_stream *s) {
  if (m->spec.task == EV_TASK_CLASSIFY) return EV_OK; /* the logits rank the classes */
  ev_node *out = &m->nodes[m->spec.output];
  return ev_softmax_ce(s, &out->y, &m->target, EV_TARGET_MASK, NULL, &m->loss_scratch, &m->loss, NULL, &m->prob);
}

ev_status ev_model_step(ev_model *m, ev_stream *s, const ev_step_params *p) {
  if (!m->training) return ev_fail(EV_ERR_ARG, "model was created for inference only");
  for (int i = 0; i < m->n_params; i++) {
    ev_param *q = &m->params[i];
    if (p->optimizer == 0) {
      ev_sgd_params sp = {.lr = p->lr, .momentum = p->momentum, .weight_decay = p->weight_decay};
      EV_TRY(ev_sgd_step(s, &sp, q->buf, q->grad, &q->m1, q->mask, q->n));
    } else {
      ev_adam_params ap = {.lr = p->lr, .beta1 = p->beta1, .beta2 = p->beta2, .eps = p->eps,
                           .weight_decay = p->weight_decay, .step = p->step};
      EV_TRY(ev_adam_step(s, &ap, q->buf, q->grad, &q->m1, &q->m2, q->mask, q->n));
    }
  }
  return EV_OK;
}
