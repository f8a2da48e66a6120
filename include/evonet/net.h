/* Network description: a list of layers in topological order, each naming its inputs.
 * The same description serves the paper's saliency network at any width, compacted
 * offspring with irregular channel counts, and other architectures. It is stored as JSON
 * (in the safetensors metadata of every saved network).
 *
 * JSON form: {"input": {"channels": 3}, "classes": 2,
 *             "layers": [{"name": "c1_1", "op": "conv", "in": ["input"], "out": 64,
 *                         "k": 3, "stride": 1, "pad": 1, "dil": 1, "relu": true, "bn": false}, ...],
 *             "output": "score"}
 * ops: conv, deconv (k, stride, pad, dil, out_pad), maxpool (k, stride, pad),
 *      avgpool (k, stride, pad; zero padding counted, like PyTorch's default),
 *      upsample (bilinear to the spatial size of the layer named by "like", or of the input
 *      when "like" is "input"), concat (channels of all inputs in order), add (same shapes),
 *      fc (fully connected: "out" neurons, each with a synapse from every channel x position
 *      of its input; stored as a convolution whose k x k kernel covers the whole input, so
 *      its weights (out, cin, k, k) are PyTorch's Linear weights over the input flattened in
 *      (C, H, W) order, and every conv path (masks, synthesis, compaction, export) applies;
 *      k is found from the input size; the input must be square),
 *      gap (global average pooling: an avgpool whose window is its whole input).
 * "act": "relu" (or the older "relu": true), "leaky_relu" (slope "alpha" for negative inputs,
 * default 0.01, a number > 0) or "tanh" applies that activation (evonet/ops/act.h) after the
 * layer (and its batch norm, "bn": true) on conv, deconv and fc layers; "none" (default) none;
 * "act" wins over "relu". Written back: a ReLU as "relu": true only (what older evonet builds
 * read, and what every file already written says), the others as "act" (with "alpha"). 
 * "task": "saliency" (default): the output layer yields `classes` logits per pixel at the
 * input's resolution; "classification": the output layer is 1x1 and yields `classes` logits
 * per image. "input": {"size": S} fixes the input size (S x S); networks with fc layers need
 * it to know their weights' shapes. */
#ifndef EVONET_NET_H
#define EVONET_NET_H
#include <stdbool.h>
#include <stdint.h>

#include "evonet/ops/act.h"
#include "evonet/status.h"

#define EV_NET_MAX_IN 4
#define EV_NAME_LEN 32
/* Bounds a description must keep: far beyond any real network, they keep every size and
 * count computed from it inside int (shapes) and uint64 (synapses, FLOPs) arithmetic. */
#define EV_NET_MAX_LAYERS 4096
#define EV_NET_MAX_CHANNELS 65536  /* any layer's channels, concatenations included */
#define EV_NET_MAX_KERNEL 256      /* k, stride, pad, dil, out_pad */
#define EV_NET_MAX_SIDE (1 << 20)  /* input and layer height and width */

typedef enum { EV_OP_CONV, EV_OP_DECONV, EV_OP_MAXPOOL, EV_OP_UPSAMPLE, EV_OP_CONCAT, EV_OP_ADD, EV_OP_AVGPOOL } ev_op;
typedef enum { EV_TASK_SALIENCY, EV_TASK_CLASSIFY } ev_task;

typedef struct {
  char name[EV_NAME_LEN];
  ev_op op;
  int n_in;
  int in[EV_NET_MAX_IN]; /* layer indices; -1 = the network input */
  int out;               /* output channels (conv/deconv); derived for the others */
  int k, stride, pad, dil, out_pad;
  ev_act act;            /* applied after the layer (and its batch norm) */
  bool bn;
  bool full;             /* conv: fully connected ("fc"); avgpool: global ("gap"): the window is
                            the whole input (k set by ev_net_infer, or kept from the JSON) */
  int like;              /* upsample: layer whose size to match; -1 = the input */
  /* derived by ev_net_infer (for a given input size): */
  int c, h, w;           /* output shape */
  int cin;               /* conv/deconv: input channels */
} ev_layer;

typedef struct {
  int in_channels, classes;
  ev_task task;
  int in_size;           /* fixed input side ("input": {"size"}), 0 = any */
  int n;
  ev_layer *layers;
  int output;            /* index of the logits layer */
  int in_h, in_w;        /* size ev_net_infer was run for */
} ev_net_spec;

/* The paper's ancestor (section III) at a width multiplier (1.0 = paper, 0.125 = laptop),
 * channel counts rounded to at least 1. bn: batch normalisation after every conv. */
ev_status ev_net_saliency_vgg(double width, bool bn, ev_net_spec *out);

ev_status ev_net_from_json(const char *json, ev_net_spec *out);
/* malloc'd JSON text (compact). */
char *ev_net_to_json(const ev_net_spec *s);
ev_status ev_net_copy(const ev_net_spec *src, ev_net_spec *dst);
void ev_net_free(ev_net_spec *s);
int ev_net_find(const ev_net_spec *s, const char *name); /* -1 if absent */

/* Channels only (cin, c): enough for parameter shapes and counts, with no input size
 * (fc layers' k comes from the JSON or from in_size). */
ev_status ev_net_infer_channels(ev_net_spec *s);
/* Shapes for an h×w input; errors name the layer (e.g. a spatial size that reaches 0, an fc
 * layer whose input is not square or not the size its weights were made for). */
ev_status ev_net_infer(ev_net_spec *s, int h, int w);

/* A layer with weights (synapses): convolution or transposed convolution. */
static inline bool ev_layer_has_weights(const ev_layer *l) { return l->op == EV_OP_CONV || l->op == EV_OP_DECONV; }
/* Per conv/deconv layer: synapses (weights, biases excluded) and parameters. */
static inline uint64_t ev_layer_synapses(const ev_layer *l) {
  return (l->op == EV_OP_CONV || l->op == EV_OP_DECONV) ? (uint64_t)l->cin * l->out * l->k * l->k : 0;
}
uint64_t ev_layer_params(const ev_layer *l); /* weights + bias (+ BN gamma/beta) */
uint64_t ev_layer_flops(const ev_layer *l);  /* multiply-adds x2 per image, after ev_net_infer */
uint64_t ev_net_synapses(const ev_net_spec *s);
uint64_t ev_net_params(const ev_net_spec *s);
uint64_t ev_net_flops(const ev_net_spec *s);
const char *ev_op_name(ev_op op);
/* The layer's op as the JSON names it ("fc" and "gap" for the whole-input conv and avgpool). */
const char *ev_layer_op_name(const ev_layer *l);
#endif
