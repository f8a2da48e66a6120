/* Shape inference and the counts the paper's tables report (synapses, parameters, FLOPs). */
#include "evonet/net.h"
#include "evonet/ops/conv_desc.h"

/* A concatenation's channels: inputs are within the bound, so the sum fits in an int. */
static ev_status concat_channels(const ev_net_spec *s, ev_layer *l) {
  l->c = 0;
  for (int j = 0; j < l->n_in; j++) l->c += l->in[j] < 0 ? s->in_channels : s->layers[l->in[j]].c;
  if (l->c > EV_NET_MAX_CHANNELS)
    return ev_fail(EV_ERR_FORMAT, "layer %s concatenates %d channels, more than %d", l->name, l->c, EV_NET_MAX_CHANNELS);
  return EV_OK;
}

ev_status ev_net_infer_channels(ev_net_spec *s) {
  for (int i = 0; i < s->n; i++) {
    ev_layer *l = &s->layers[i];
    int c0 = l->in[0] < 0 ? s->in_channels : s->layers[l->in[0]].c;
    if (l->op == EV_OP_CONV || l->op == EV_OP_DECONV) l->cin = c0, l->c = l->out;
    else if (l->op == EV_OP_CONCAT) EV_TRY(concat_channels(s, l));
    else l->c = c0;
  }
  if (s->layers[s->output].c != s->classes)
    return ev_fail(EV_ERR_ARG, "network output %s has %d channels, expected %d classes", s->layers[s->output].name,
                   s->layers[s->output].c, s->classes);
  return EV_OK;
}

/* fc / gap: the window is the whole (square) input. An fc layer's k is its weights' shape,
 * so once set it holds: another input size would need other weights. */
static ev_status full_window(ev_layer *l, int ih, int iw, int h, int w, bool weights) {
  if (ih != iw)
    return ev_fail(EV_ERR_ARG, "layer %s: a %s layer needs a square input, got %dx%d at input %dx%d", l->name,
                   weights ? "fully connected" : "global pooling", ih, iw, h, w);
  if (weights && l->k > 0 && l->k != ih)
    return ev_fail(EV_ERR_ARG, "layer %s: its weights take a %dx%d input, got %dx%d at input %dx%d (the network is "
                   "made for another input size)", l->name, l->k, l->k, ih, iw, h, w);
  l->k = ih, l->stride = 1, l->pad = 0, l->dil = 1;
  return EV_OK;
}

ev_status ev_net_infer(ev_net_spec *s, int h, int w) {
  if (h < 1 || w < 1 || h > EV_NET_MAX_SIDE || w > EV_NET_MAX_SIDE)
    return ev_fail(EV_ERR_ARG, "input size %dx%d is not between 1 and %d", h, w, EV_NET_MAX_SIDE);
  s->in_h = h, s->in_w = w;
  for (int i = 0; i < s->n; i++) {
    ev_layer *l = &s->layers[i];
    int ic[EV_NET_MAX_IN], ih[EV_NET_MAX_IN], iw[EV_NET_MAX_IN];
    for (int j = 0; j < l->n_in; j++) {
      int k = l->in[j];
      ic[j] = k < 0 ? s->in_channels : s->layers[k].c;
      ih[j] = k < 0 ? h : s->layers[k].h;
      iw[j] = k < 0 ? w : s->layers[k].w;
    }
    switch (l->op) {
    case EV_OP_CONV:
      l->cin = ic[0], l->c = l->out;
      if (l->full) EV_TRY(full_window(l, ih[0], iw[0], h, w, true));
      l->h = ev_conv_out_size(ih[0], l->k, l->stride, l->pad, l->dil);
      l->w = ev_conv_out_size(iw[0], l->k, l->stride, l->pad, l->dil);
      break;
    case EV_OP_DECONV:
      l->cin = ic[0], l->c = l->out;
      l->h = ev_deconv_out_size(ih[0], l->k, l->stride, l->pad, l->dil, l->out_pad);
      l->w = ev_deconv_out_size(iw[0], l->k, l->stride, l->pad, l->dil, l->out_pad);
      break;
    case EV_OP_AVGPOOL:
      if (l->full) EV_TRY(full_window(l, ih[0], iw[0], h, w, false));
      /* fall through */
    case EV_OP_MAXPOOL:
      l->c = ic[0];
      l->h = ev_conv_out_size(ih[0], l->k, l->stride, l->pad, 1);
      l->w = ev_conv_out_size(iw[0], l->k, l->stride, l->pad, 1);
      break;
    case EV_OP_UPSAMPLE:
      l->c = ic[0];
      l->h = l->like < 0 ? h : s->layers[l->like].h;
      l->w = l->like < 0 ? w : s->layers[l->like].w;
      break;
    case EV_OP_CONCAT:
    case EV_OP_ADD:
      l->c = ic[0], l->h = ih[0], l->w = iw[0];
      for (int j = 0; j < l->n_in; j++) {
        if (ih[j] != ih[0] || iw[j] != iw[0])
          return ev_fail(EV_ERR_ARG, "layer %s: inputs of different sizes (%dx%d vs %dx%d) at input %dx%d",
                         l->name, ih[0], iw[0], ih[j], iw[j], h, w);
        if (l->op == EV_OP_ADD && ic[j] != ic[0])
          return ev_fail(EV_ERR_ARG, "layer %s: adding %d and %d channels", l->name, ic[0], ic[j]);
      }
      if (l->op == EV_OP_CONCAT) EV_TRY(concat_channels(s, l));
      break;
    }
    /* inputs within the bounds keep these sizes inside int; the check keeps the next layer's */
    if (l->h < 1 || l->w < 1)
      return ev_fail(EV_ERR_ARG, "layer %s has no pixels left at input %dx%d; use a larger input size",
                     l->name, h, w);
    if (l->h > EV_NET_MAX_SIDE || l->w > EV_NET_MAX_SIDE)
      return ev_fail(EV_ERR_ARG, "layer %s would be %dx%d pixels at input %dx%d, more than %d a side", l->name,
                     l->h, l->w, h, w, EV_NET_MAX_SIDE);
  }
  const ev_layer *o = &s->layers[s->output];
  if (s->task == EV_TASK_CLASSIFY) {
    if (o->c != s->classes || o->h != 1 || o->w != 1)
      return ev_fail(EV_ERR_ARG, "network output %s is %dx%dx%d, expected %d classes at 1x1 (classification) for "
                     "input %dx%d", o->name, o->c, o->h, o->w, s->classes, h, w);
    return EV_OK;
  }
  if (o->c != s->classes || o->h != h || o->w != w)
    return ev_fail(EV_ERR_ARG, "network output %s is %dx%dx%d, expected %d classes at %dx%d", o->name,
                   o->c, o->h, o->w, s->classes, h, w);
  return EV_OK;
}

uint64_t ev_layer_params(const ev_layer *l) {
  if (l->op != EV_OP_CONV && l->op != EV_OP_DECONV) return 0;
  return ev_layer_synapses(l) + (uint64_t)l->out * (l->bn ? 3 : 1); /* bias (+ gamma, beta) */
}

uint64_t ev_layer_flops(const ev_layer *l) {
  switch (l->op) {
  case EV_OP_CONV: return 2ull * l->cin * l->out * l->k * l->k * l->h * l->w;
  case EV_OP_DECONV: /* every input pixel scatters a k×k×out patch */
    return 2ull * l->cin * l->out * l->k * l->k * (uint64_t)((l->h + l->stride - 1) / l->stride) *
           ((l->w + l->stride - 1) / l->stride);
  default: return 0; /* pooling, resizing and concatenation move data: not counted */
  }
}

#define SUM_OVER_LAYERS(fn)                                                                       \
  uint64_t t = 0;                                                                                 \
  for (int i = 0; i < s->n; i++) t += fn(&s->layers[i]);                                          \
  return t;
uint64_t ev_net_synapses(const ev_net_spec *s) { SUM_OVER_LAYERS(ev_layer_synapses) }
uint64_t ev_net_params(const ev_net_spec *s) { SUM_OVER_LAYERS(ev_layer_params) }
uint64_t ev_net_flops(const ev_net_spec *s) { SUM_OVER_LAYERS(ev_layer_flops) }
