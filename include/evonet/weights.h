/* A network's parameters on the host, in PyTorch's layouts, so files are readable by
 * PyTorch and evolution (sampling results, compaction) works on plain arrays:
 *   conv   weight (out, cin, k, k)    transposed conv weight (cin, out, k, k)
 *   bias (out); mask like weight (1 keep, 0 removed synapse); batch norm gamma, beta,
 *   running mean, running var (out each).
 * Saved as safetensors: "<layer>.weight", ".bias", ".mask", ".bn.weight", ".bn.bias",
 * ".bn.running_mean", ".bn.running_var", with the architecture JSON in the metadata
 * ("evonet.architecture") and any caller metadata. */
#ifndef EVONET_WEIGHTS_H
#define EVONET_WEIGHTS_H
#include "evonet/net.h"

typedef struct {
  float *w, *b, *mask;
  float *gamma, *beta, *rmean, *rvar; /* NULL without batch norm */
} ev_layer_weights;

typedef struct {
  ev_net_spec spec;      /* owned copy */
  ev_layer_weights *l;   /* one per layer; all NULL for layers without parameters */
} ev_net_weights;

/* Allocates zeroed parameters for `spec` (copied), masks all ones, BN gamma 1, var 1. */
ev_status ev_weights_alloc(const ev_net_spec *spec, ev_net_weights *out);
void ev_weights_free(ev_net_weights *w);
ev_status ev_weights_copy(const ev_net_weights *src, ev_net_weights *dst);
/* He (Kaiming) normal init from a seed: std sqrt(2/fan_in) before a ReLU, sqrt(1/fan_in)
 * for score layers; fan_in = cin*k*k (conv), out*k*k (transposed, PyTorch's convention).
 * Masked synapses are 0, and each output channel is scaled by sqrt(its synapses / its live
 * synapses), so a sparse offspring starts with the activation scale of a dense network. */
void ev_weights_init_he(ev_net_weights *w, uint64_t seed);
/* The paper's saliency network (ev_net_saliency_vgg) at `width`, shapes for a size x size
 * input, He-initialised from `seed`: generation 1 of `train`, `evolve` and `bench train`. */
ev_status ev_weights_saliency_he(double width, bool bn, int size, uint64_t seed, ev_net_weights *out);
/* Loads torchvision VGG16 conv weights (features.0.weight ... features.28.bias) into the
 * layers c1_1 ... c5_3; shapes must match the network at its width. */
ev_status ev_weights_init_vgg16(ev_net_weights *w, const char *path);

ev_status ev_weights_save(const char *path, const ev_net_weights *w, const char *const *meta_kv, int n_meta);
/* The same with extra tensors (e.g. optimiser state in a checkpoint) written beside them. */
ev_status ev_weights_save_ex(const char *path, const ev_net_weights *w, const void *extra /* ev_st_tensor[] */,
                             int n_extra, const char *const *meta_kv, int n_meta);
/* Reads a network file; the architecture comes from its metadata. If `expect` is not NULL
 * the file must describe the same architecture (a clear error otherwise). *meta_json
 * (optional) receives a malloc'd copy of the metadata value "evonet.state" if present. */
ev_status ev_weights_load(const char *path, const ev_net_spec *expect, ev_net_weights *out, char **state_json);

uint64_t ev_layer_live_synapses(const ev_net_weights *w, int layer); /* mask != 0 */
uint64_t ev_weights_live_synapses(const ev_net_weights *w);
/* Batch norm folded into a conv/deconv layer with bn (inference: the BN pass disappears and
 * the ReLU fuses into the convolution): wf (the weight's size, PyTorch layout) and bf (out)
 * receive the folded weights and bias. */
void ev_layer_fold_bn(const ev_layer *l, const ev_layer_weights *p, float *wf, float *bf);
/* Sizes of a layer's arrays (0 if the layer has no parameters). */
uint64_t ev_layer_weight_count(const ev_layer *l);
#endif
