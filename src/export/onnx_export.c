/* ONNX export (evonet/export.h): the network's layers as ONNX nodes, built as protobuf-c
 * messages (generated from third_party/onnx/onnx.proto at build time) and packed once.
 * Every message, string and array of the model lives in one arena freed at the end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/export.h"
#include "evonet/io.h"

#ifndef EVONET_HAVE_ONNX
bool ev_onnx_available(void) { return false; }

ev_status ev_export_onnx(const ev_net_weights *w, int h, int wd, const char *path) {
  (void)w, (void)h, (void)wd, (void)path;
  return ev_fail(EV_ERR_ARG, "this evonet was built without ONNX export: install protobuf-c-compiler and "
                             "libprotobuf-c-dev (tools/install_deps.sh does) and rebuild");
}
#else
#include "onnx.pb-c.h"

enum { OPSET = 13, IR_VERSION = 7 };

typedef struct {
  void **ptrs;
  size_t n, cap;
  bool oom;
  Onnx__NodeProto **nodes;
  size_t n_nodes, cap_nodes;
  Onnx__TensorProto **inits;
  size_t n_inits, cap_inits;
} arena;

static void *take(arena *a, size_t bytes) {
  if (a->oom) return NULL;
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 256;
    void **p = realloc(a->ptrs, cap * sizeof *p);
    if (!p) return a->oom = true, NULL;
    a->ptrs = p, a->cap = cap;
  }
  void *m = calloc(1, bytes ? bytes : 1);
  if (!m) return a->oom = true, NULL;
  return a->ptrs[a->n++] = m;
}

static char *str(arena *a, const char *s) {
  char *d = take(a, strlen(s) + 1);
  return d ? strcpy(d, s) : NULL;
}

/* Appends p to a growable array of pointers (nodes or initializers). */
static bool push(arena *a, void ***arr, size_t *n, size_t *cap, void *p) {
  if (!p || a->oom) return false;
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 64;
    void **q = realloc(*arr, c * sizeof *q);
    if (!q) return a->oom = true, false;
    *arr = q, *cap = c;
  }
  (*arr)[(*n)++] = p;
  return true;
}

static Onnx__AttributeProto *attr(arena *a, Onnx__NodeProto *nd, const char *name,
                                  Onnx__AttributeProto__AttributeType type) {
  Onnx__AttributeProto *at = take(a, sizeof *at);
  Onnx__AttributeProto **list = take(a, (nd->n_attribute + 1) * sizeof *list);
  if (!at || !list) return NULL;
  onnx__attribute_proto__init(at);
  at->name = str(a, name);
  at->has_type = 1, at->type = type;
  if (nd->n_attribute) memcpy(list, nd->attribute, nd->n_attribute * sizeof *list);
  list[nd->n_attribute++] = at;
  nd->attribute = list;
  return at;
}

static void attr_ints(arena *a, Onnx__NodeProto *nd, const char *name, const int64_t *v, size_t n) {
  Onnx__AttributeProto *at = attr(a, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  int64_t *d = take(a, n * sizeof *d);
  if (!at || !d) return;
  memcpy(d, v, n * sizeof *d);
  at->n_ints = n, at->ints = d;
}

static void attr_int(arena *a, Onnx__NodeProto *nd, const char *name, int64_t v) {
  Onnx__AttributeProto *at = attr(a, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  if (at) at->has_i = 1, at->i = v;
}

static void attr_float(arena *a, Onnx__NodeProto *nd, const char *name, float v) {
  Onnx__AttributeProto *at = attr(a, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
  if (at) at->has_f = 1, at->f = v;
}

static void attr_str(arena *a, Onnx__NodeProto *nd, const char *name, const char *v) {
  Onnx__AttributeProto *at = attr(a, nd, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
  char *d = str(a, v);
  if (at && d) at->has_s = 1, at->s.data = (uint8_t *)d, at->s.len = strlen(d);
}

/* A node op(inputs) -> output, appended to the graph. in: up to 4 names ("" = omitted). */
static Onnx__NodeProto *node(arena *a, const char *op, const char *name, const char *const *in, size_t n_in,
                             const char *out) {
  Onnx__NodeProto *nd = take(a, sizeof *nd);
  char **ins = take(a, n_in * sizeof *ins), **outs = take(a, sizeof *outs);
  if (!nd || !ins || !outs) return NULL;
  onnx__node_proto__init(nd);
  nd->op_type = str(a, op);
  nd->name = str(a, name);
  for (size_t i = 0; i < n_in; i++) ins[i] = str(a, in[i]);
  outs[0] = str(a, out);
  nd->n_input = n_in, nd->input = ins, nd->n_output = 1, nd->output = outs;
  push(a, (void ***)&a->nodes, &a->n_nodes, &a->cap_nodes, nd);
  return nd;
}

/* A float initializer over v, which the arena owns (raw little-endian data, what every ONNX
 * reader expects; the hosts evonet builds for are little-endian). */
static void init_f32(arena *a, const char *name, const int64_t *dims, size_t nd, float *v) {
  Onnx__TensorProto *t = take(a, sizeof *t);
  int64_t *d = take(a, nd * sizeof *d);
  size_t count = 1;
  for (size_t i = 0; i < nd; i++) count *= (size_t)dims[i];
  if (!t || !d || !v) return;
  onnx__tensor_proto__init(t);
  memcpy(d, dims, nd * sizeof *d);
  t->name = str(a, name);
  t->n_dims = nd, t->dims = d;
  t->has_data_type = 1, t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  t->has_raw_data = 1, t->raw_data.data = (uint8_t *)v, t->raw_data.len = count * 4;
  push(a, (void ***)&a->inits, &a->n_inits, &a->cap_inits, t);
}

/* A float tensor's type: (N, c, h, w) with N symbolic. */
static Onnx__ValueInfoProto *value_info(arena *a, const char *name, int c, int h, int w) {
  Onnx__ValueInfoProto *vi = take(a, sizeof *vi);
  Onnx__TypeProto *tp = take(a, sizeof *tp);
  Onnx__TypeProto__Tensor *tt = take(a, sizeof *tt);
  Onnx__TensorShapeProto *sh = take(a, sizeof *sh);
  Onnx__TensorShapeProto__Dimension **dims = take(a, 4 * sizeof *dims);
  if (!vi || !tp || !tt || !sh || !dims) return NULL;
  onnx__value_info_proto__init(vi);
  onnx__type_proto__init(tp);
  onnx__type_proto__tensor__init(tt);
  onnx__tensor_shape_proto__init(sh);
  const int64_t v[4] = {0, c, h, w};
  for (int i = 0; i < 4; i++) {
    Onnx__TensorShapeProto__Dimension *d = take(a, sizeof *d);
    if (!d) return NULL;
    onnx__tensor_shape_proto__dimension__init(d);
    if (i == 0) d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM, d->dim_param = str(a, "N");
    else d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE, d->dim_value = v[i];
    dims[i] = d;
  }
  sh->n_dim = 4, sh->dim = dims;
  tt->has_elem_type = 1, tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, tt->shape = sh;
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, tp->tensor_type = tt;
  vi->name = str(a, name), vi->type = tp;
  return vi;
}

/* Conv / ConvTranspose with the layer's weights: masked, batch norm folded. */
static ev_status conv_node(arena *a, const ev_layer *l, const ev_layer_weights *p, const char *in, const char *out) {
  uint64_t nw = ev_layer_weight_count(l);
  float *wf = take(a, nw * 4), *bf = take(a, (size_t)l->out * 4);
  if (!wf || !bf) return ev_fail(EV_ERR_OOM, "out of memory");
  if (l->bn) ev_layer_fold_bn(l, p, wf, bf);
  else memcpy(wf, p->w, nw * 4), memcpy(bf, p->b, (size_t)l->out * 4);
  for (uint64_t i = 0; i < nw; i++) wf[i] *= p->mask[i] != 0; /* removed synapses are zeros */
  char wn[EV_NAME_LEN + 16], bn[EV_NAME_LEN + 16];
  snprintf(wn, sizeof wn, "%s.weight", l->name);
  snprintf(bn, sizeof bn, "%s.bias", l->name);
  bool conv = l->op == EV_OP_CONV;
  int64_t wdims[4] = {conv ? l->out : l->cin, conv ? l->cin : l->out, l->k, l->k};
  init_f32(a, wn, wdims, 4, wf);
  init_f32(a, bn, (int64_t[]){l->out}, 1, bf);
  Onnx__NodeProto *nd = node(a, conv ? "Conv" : "ConvTranspose", l->name, (const char *[]){in, wn, bn}, 3, out);
  if (!nd) return ev_fail(EV_ERR_OOM, "out of memory");
  attr_ints(a, nd, "kernel_shape", (int64_t[]){l->k, l->k}, 2);
  attr_ints(a, nd, "strides", (int64_t[]){l->stride, l->stride}, 2);
  attr_ints(a, nd, "pads", (int64_t[]){l->pad, l->pad, l->pad, l->pad}, 4);
  attr_ints(a, nd, "dilations", (int64_t[]){l->dil, l->dil}, 2);
  attr_int(a, nd, "group", 1);
  if (!conv) attr_ints(a, nd, "output_padding", (int64_t[]){l->out_pad, l->out_pad}, 2);
  return EV_OK;
}

/* Resize by whole-number-ratio scales (the half-pixel mapping then equals evonet's, which
 * maps with in/out). */
static ev_status resize_node(arena *a, const ev_layer *l, const ev_layer *src, int in_h, int in_w, const char *in,
                             const char *out) {
  int ih = src ? src->h : in_h, iw = src ? src->w : in_w;
  float sh = (float)l->h / ih, sw = (float)l->w / iw;
  if (!((float)ih * sh == (float)l->h && (float)iw * sw == (float)l->w && (float)ih / l->h == 1.0f / sh &&
        (float)iw / l->w == 1.0f / sw))
    return ev_fail(EV_ERR_ARG, "layer %s: a resize from %dx%d to %dx%d has no exact ONNX scale; not exported", l->name,
                   ih, iw, l->h, l->w);
  char sn[EV_NAME_LEN + 16];
  snprintf(sn, sizeof sn, "%s.scales", l->name);
  float *scales = take(a, 4 * sizeof *scales);
  if (scales) scales[0] = scales[1] = 1, scales[2] = sh, scales[3] = sw;
  init_f32(a, sn, (int64_t[]){4}, 1, scales);
  Onnx__NodeProto *nd = node(a, "Resize", l->name, (const char *[]){in, "", sn}, 3, out);
  if (!nd) return ev_fail(EV_ERR_OOM, "out of memory");
  attr_str(a, nd, "mode", "linear");
  attr_str(a, nd, "coordinate_transformation_mode", "half_pixel");
  return EV_OK;
}

static ev_status build(arena *a, const ev_net_weights *w, int h, int wd, Onnx__ModelProto *m) {
  const ev_net_spec *s = &w->spec;
  for (int i = 0; i < s->n; i++) { /* a layer's output tensor is named for the layer */
    const ev_layer *l = &s->layers[i];
    const char *in[EV_NET_MAX_IN];
    for (int j = 0; j < l->n_in; j++) in[j] = l->in[j] < 0 ? "image" : s->layers[l->in[j]].name;
    /* the activation is a node of its own (Relu, LeakyRelu, Tanh) after the layer's (BN folded
     * into the conv); a ReLU's tensor and node names are those of earlier exports */
    char pre[EV_NAME_LEN + 16], rn[EV_NAME_LEN + 16];
    bool act = ev_act_on(&l->act), relu = l->act.kind == EV_ACT_RELU;
    snprintf(pre, sizeof pre, "%s.%s", l->name, relu ? "pre_relu" : "pre_act");
    snprintf(rn, sizeof rn, "%s.%s", l->name, ev_act_name(l->act.kind));
    const char *out = act ? pre : l->name; /* the node's own output; the activation writes l->name */
    switch (l->op) {
    case EV_OP_CONV:
    case EV_OP_DECONV: EV_TRY(conv_node(a, l, &w->l[i], in[0], out)); break;
    case EV_OP_MAXPOOL: {
      Onnx__NodeProto *nd = node(a, "MaxPool", l->name, in, 1, out);
      if (!nd) return ev_fail(EV_ERR_OOM, "out of memory");
      attr_ints(a, nd, "kernel_shape", (int64_t[]){l->k, l->k}, 2);
      attr_ints(a, nd, "strides", (int64_t[]){l->stride, l->stride}, 2);
      attr_ints(a, nd, "pads", (int64_t[]){l->pad, l->pad, l->pad, l->pad}, 4);
      break;
    }
    case EV_OP_AVGPOOL: { /* count_include_pad = 1: evonet's (and PyTorch's default) divisor k*k */
      Onnx__NodeProto *nd = node(a, "AveragePool", l->name, in, 1, out);
      if (!nd) return ev_fail(EV_ERR_OOM, "out of memory");
      attr_ints(a, nd, "kernel_shape", (int64_t[]){l->k, l->k}, 2);
      attr_ints(a, nd, "strides", (int64_t[]){l->stride, l->stride}, 2);
      attr_ints(a, nd, "pads", (int64_t[]){l->pad, l->pad, l->pad, l->pad}, 4);
      attr_int(a, nd, "count_include_pad", 1);
      break;
    }
    case EV_OP_UPSAMPLE:
      EV_TRY(resize_node(a, l, l->in[0] >= 0 ? &s->layers[l->in[0]] : NULL, h, wd, in[0], out));
      break;
    case EV_OP_CONCAT: {
      Onnx__NodeProto *nd = node(a, "Concat", l->name, in, (size_t)l->n_in, out);
      if (!nd) return ev_fail(EV_ERR_OOM, "out of memory");
      attr_int(a, nd, "axis", 1);
      break;
    }
    case EV_OP_ADD: { /* a chain of binary Adds: every runtime has them */
      const char *acc = in[0];
      for (int j = 1; j < l->n_in; j++) {
        char nm[EV_NAME_LEN + 32];
        if (j + 1 == l->n_in) snprintf(nm, sizeof nm, "%s", out);
        else snprintf(nm, sizeof nm, "%s.partial%d", l->name, j);
        if (!node(a, "Add", nm, (const char *[]){acc, in[j]}, 2, nm)) return ev_fail(EV_ERR_OOM, "out of memory");
        acc = a->nodes[a->n_nodes - 1]->output[0];
      }
      if (l->n_in == 1 && !node(a, "Identity", l->name, in, 1, out)) return ev_fail(EV_ERR_OOM, "out of memory");
      break;
    }
    default: return ev_fail(EV_ERR_ARG, "layer %s: op %s has no ONNX export yet", l->name, ev_op_name(l->op));
    }
    if (act) {
      static const char *const onnx_op[EV_ACT_KINDS] = {"", "Relu", "LeakyRelu", "Tanh"};
      Onnx__NodeProto *nd = node(a, onnx_op[l->act.kind], rn, (const char *[]){pre}, 1, l->name);
      if (!nd) return ev_fail(EV_ERR_OOM, "out of memory");
      if (l->act.kind == EV_ACT_LEAKY_RELU) attr_float(a, nd, "alpha", l->act.alpha);
    }
  }
  const ev_layer *o = &s->layers[s->output];
  if (!node(a, "Softmax", "probabilities", (const char *[]){o->name}, 1, "probabilities"))
    return ev_fail(EV_ERR_OOM, "out of memory");
  attr_int(a, a->nodes[a->n_nodes - 1], "axis", 1);

  Onnx__GraphProto *g = take(a, sizeof *g);
  Onnx__ValueInfoProto **gi = take(a, sizeof *gi), **go = take(a, sizeof *go);
  Onnx__OperatorSetIdProto *op = take(a, sizeof *op), **ops = take(a, sizeof *ops);
  if (!g || !gi || !go || !op || !ops) return ev_fail(EV_ERR_OOM, "out of memory");
  onnx__graph_proto__init(g);
  onnx__operator_set_id_proto__init(op);
  gi[0] = value_info(a, "image", s->in_channels, h, wd);
  go[0] = value_info(a, "probabilities", o->c, o->h, o->w);
  g->name = str(a, "evonet");
  g->n_node = a->n_nodes, g->node = a->nodes;
  g->n_initializer = a->n_inits, g->initializer = a->inits;
  g->n_input = 1, g->input = gi, g->n_output = 1, g->output = go;
  op->domain = str(a, ""), op->has_version = 1, op->version = OPSET;
  ops[0] = op;
  m->has_ir_version = 1, m->ir_version = IR_VERSION;
  m->n_opset_import = 1, m->opset_import = ops;
  m->producer_name = str(a, "evonet");
  m->producer_version = str(a, EVONET_VERSION);
  m->graph = g;
  return a->oom ? ev_fail(EV_ERR_OOM, "out of memory") : EV_OK;
}

bool ev_onnx_available(void) { return true; }

ev_status ev_export_onnx(const ev_net_weights *w, int h, int wd, const char *path) {
  ev_net_spec spec;
  EV_TRY(ev_net_copy(&w->spec, &spec));
  ev_status s = ev_net_infer(&spec, h, wd);
  ev_net_weights view = *w; /* the weights with the shapes inferred for h x wd */
  view.spec = spec;
  arena a = {0};
  Onnx__ModelProto m;
  onnx__model_proto__init(&m);
  if (s == EV_OK) s = build(&a, &view, h, wd, &m);
  uint8_t *buf = NULL;
  size_t n = 0;
  if (s == EV_OK) {
    n = onnx__model_proto__get_packed_size(&m);
    buf = malloc(n ? n : 1);
    s = buf ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
  }
  if (s == EV_OK && onnx__model_proto__pack(&m, buf) != n) s = ev_fail(EV_ERR_IO, "ONNX encoding of %s failed", path);
  if (s == EV_OK) s = ev_write_file_atomic(path, buf, n);
  free(buf);
  for (size_t i = 0; i < a.n; i++) free(a.ptrs[i]);
  free(a.ptrs), free(a.nodes), free(a.inits);
  ev_net_free(&spec);
  return s;
}
#endif
