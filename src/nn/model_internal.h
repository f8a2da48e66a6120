/* Private layout of ev_model (src/nn/model*.c). */
#ifndef EVONET_MODEL_INTERNAL_H
#define EVONET_MODEL_INTERNAL_H
#include "evonet/model.h"
#include "evonet/ops/conv_desc.h"
#include "evonet/ops/pool.h"

typedef struct {
  ev_buf *buf;      /* a parameter */
  ev_buf *grad;
  ev_buf *mask;     /* NULL: not masked */
  ev_buf m1, m2;    /* momentum / Adam moments */
  uint64_t n;       /* floats */
} ev_param;

typedef struct {
  ev_tensor y;        /* output (after BN and ReLU) */
  ev_tensor z;        /* BN layers: the conv's output before BN */
  ev_tensor dy;       /* gradient w.r.t. y (training) */
  ev_tensor tmp;      /* second and later consumers' gradient, added into dy */
  int consumers, grads_written;
  ev_buf idx;         /* max-pool argmax */
  ev_conv_desc cd;
  ev_conv_desc cdf;   /* fc layers (kernel = whole input, k > 1): the same layer as a 1x1 conv over the
                         input flattened to k*k*c4(cin) channels (model_run.c: fc_view) */
  bool fc_flat;       /* dense passes run as cdf */
  /* parameters (conv/deconv) */
  ev_buf w, b, mask, gw, gb;
  ev_buf gamma, beta, rmean, rvar, ggamma, gbeta, bn_save;
  uint64_t wn;        /* floats of w (OHWI4) */
  bool bn_folded;     /* inference: batch norm folded into w and b (no BN pass, fused ReLU) */
  bool sparse;        /* inference conv with few live synapses: runs from taps, not w */
  ev_buf taps;        /* sparse: the live synapses packed (evonet/ops/conv_sparse.h) */
} ev_node;

struct ev_model {
  ev_gpu *g;
  ev_net_spec spec;
  int batch, h, w;
  bool training;
  ev_node *nodes;
  ev_tensor input;
  ev_buf target, prob, loss, class_w;
  float class_w_fg;    /* what class_w holds (0: not uploaded yet) */
  ev_buf conv_ws, wgrad_ws, bn_scratch, loss_scratch;
  ev_param *params;
  int n_params;
};

ev_tensor *ev_model_in_tensor(ev_model *m, int layer); /* input -1 = the network input */

/* A max-pool layer's window as the pool ops take it. */
static inline ev_pool_desc ev_layer_pool_desc(const ev_layer *l) {
  return (ev_pool_desc){.kh = l->k, .kw = l->k, .stride_h = l->stride, .stride_w = l->stride,
                        .pad_h = l->pad, .pad_w = l->pad, .ceil_mode = 0};
}

/* Non-overlapping windows: the backward recomputes the argmax from the pool's input, so the
 * forward stores none (no idx buffer) and the input layer's ReLU backward fuses into it. */
static inline bool ev_layer_pool_from_x(const ev_layer *l) {
  ev_pool_desc d = ev_layer_pool_desc(l);
  return ev_maxpool_backward_x_ok(&d);
}
#endif
