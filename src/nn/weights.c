/* Host-side parameters: allocation, He init, VGG16 init, counting (see evonet/weights.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/safetensors.h"
#include "evonet/weights.h"


uint64_t ev_layer_weight_count(const ev_layer *l) { return ev_layer_has_weights(l) ? ev_layer_synapses(l) : 0; }

void ev_weights_free(ev_net_weights *w) {
  if (w->l)
    for (int i = 0; i < w->spec.n; i++) {
      ev_layer_weights *p = &w->l[i];
      free(p->w), free(p->b), free(p->mask), free(p->gamma), free(p->beta), free(p->rmean), free(p->rvar);
    }
  free(w->l);
  ev_net_free(&w->spec);
  memset(w, 0, sizeof *w);
}

ev_status ev_weights_alloc(const ev_net_spec *spec, ev_net_weights *out) {
  memset(out, 0, sizeof *out);
  EV_TRY(ev_net_copy(spec, &out->spec));
  out->l = calloc((size_t)spec->n, sizeof *out->l);
  if (!out->l) goto oom;
  for (int i = 0; i < spec->n; i++) {
    const ev_layer *l = &spec->layers[i];
    if (!ev_layer_has_weights(l)) continue;
    ev_layer_weights *p = &out->l[i];
    uint64_t n = ev_layer_weight_count(l);
    if (n == 0) return ev_fail(EV_ERR_ARG, "layer %s has no synapses (infer shapes first)", l->name);
    p->w = calloc(n, 4), p->mask = malloc(n * 4), p->b = calloc((size_t)l->out, 4);
    if (!p->w || !p->mask || !p->b) goto oom;
    for (uint64_t k = 0; k < n; k++) p->mask[k] = 1.0f;
    if (l->bn) {
      p->gamma = malloc((size_t)l->out * 4), p->beta = calloc((size_t)l->out, 4);
      p->rmean = calloc((size_t)l->out, 4), p->rvar = malloc((size_t)l->out * 4);
      if (!p->gamma || !p->beta || !p->rmean || !p->rvar) goto oom;
      for (int c = 0; c < l->out; c++) p->gamma[c] = p->rvar[c] = 1.0f;
    }
  }
  return EV_OK;
oom:
  ev_weights_free(out);
  return ev_fail(EV_ERR_OOM, "out of memory for the network's parameters");
}

static float *dup(const float *src, size_t n) {
  if (!src) return NULL;
  float *d = malloc(n * 4);
  if (d) memcpy(d, src, n * 4);
  return d;
}

ev_status ev_weights_copy(const ev_net_weights *src, ev_net_weights *dst) {
  EV_TRY(ev_weights_alloc(&src->spec, dst));
  for (int i = 0; i < src->spec.n; i++) {
    const ev_layer *l = &src->spec.layers[i];
    if (!ev_layer_has_weights(l)) continue;
    uint64_t n = ev_layer_weight_count(l);
    memcpy(dst->l[i].w, src->l[i].w, n * 4);
    memcpy(dst->l[i].mask, src->l[i].mask, n * 4);
    memcpy(dst->l[i].b, src->l[i].b, (size_t)l->out * 4);
    if (l->bn) {
      memcpy(dst->l[i].gamma, src->l[i].gamma, (size_t)l->out * 4);
      memcpy(dst->l[i].beta, src->l[i].beta, (size_t)l->out * 4);
      memcpy(dst->l[i].rmean, src->l[i].rmean, (size_t)l->out * 4);
      memcpy(dst->l[i].rvar, src->l[i].rvar, (size_t)l->out * 4);
    }
  }
  (void)dup;
  return EV_OK;
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double normal(uint64_t *s) { /* Box-Muller */
  double u1 = ((splitmix(s) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
  double u2 = (splitmix(s) >> 11) * (1.0 / 9007199254740992.0);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

ev_status ev_weights_saliency_he(double width, bool bn, int size, uint64_t seed, ev_net_weights *out) {
  ev_net_spec spec;
  EV_TRY(ev_net_saliency_vgg(width, bn, &spec));
  ev_status s = ev_net_infer(&spec, size, size);
  if (s == EV_OK) s = ev_weights_alloc(&spec, out); /* copies the spec */
  if (s == EV_OK) ev_weights_init_he(out, seed);
  ev_net_free(&spec);
  return s;
}

void ev_weights_init_he(ev_net_weights *w, uint64_t seed) {
  for (int i = 0; i < w->spec.n; i++) {
    const ev_layer *l = &w->spec.layers[i];
    if (!ev_layer_has_weights(l)) continue;
    uint64_t s = seed ^ (0x5851f42d4c957f2dull * (uint64_t)(i + 1)); /* one stream per layer */
    double fan_in = (double)(l->op == EV_OP_CONV ? l->cin : l->out) * l->k * l->k;
    /* variance gain^2 / fan_in with PyTorch's calculate_gain: relu 2 (exactly as before the
     * other kinds existed: results must not move), leaky_relu 2 / (1 + alpha^2), tanh (5/3)^2,
     * none 1 (score layers) */
    double a = l->act.alpha, gain2 = l->act.kind == EV_ACT_RELU         ? 2.0
                                     : l->act.kind == EV_ACT_LEAKY_RELU ? 2.0 / (1.0 + a * a)
                                     : l->act.kind == EV_ACT_TANH       ? 25.0 / 9.0
                                                                        : 1.0;
    double std = sqrt(gain2 / fan_in);
    uint64_t n = ev_layer_weight_count(l);
    for (uint64_t k = 0; k < n; k++) w->l[i].w[k] = (float)(std * normal(&s));
    /* A sparse newborn (an offspring) keeps only part of each filter: scale each output
     * channel by sqrt(dense / live synapses) so activations keep the variance He init gives
     * a dense layer; without it the signal shrinks layer after layer and deep sparse
     * offspring cannot start learning. */
    int kk = l->k * l->k, per = l->cin * kk; /* synapses of one output channel */
    for (int o = 0; o < l->out; o++) {
      uint64_t live = 0;
      for (int c = 0; c < l->cin; c++)
        for (int t = 0; t < kk; t++) {
          size_t at = l->op == EV_OP_CONV ? ((size_t)o * l->cin + c) * kk + t : ((size_t)c * l->out + o) * kk + t;
          live += w->l[i].mask[at] != 0.0f;
        }
      float scale = live ? (float)sqrt((double)per / live) : 0.0f;
      for (int c = 0; c < l->cin; c++)
        for (int t = 0; t < kk; t++) {
          size_t at = l->op == EV_OP_CONV ? ((size_t)o * l->cin + c) * kk + t : ((size_t)c * l->out + o) * kk + t;
          w->l[i].w[at] *= scale * w->l[i].mask[at];
        }
    }
    memset(w->l[i].b, 0, (size_t)l->out * 4);
  }
}

uint64_t ev_layer_live_synapses(const ev_net_weights *w, int i) {
  const ev_layer *l = &w->spec.layers[i];
  uint64_t n = ev_layer_weight_count(l), live = 0;
  for (uint64_t k = 0; k < n; k++) live += w->l[i].mask[k] != 0.0f;
  return live;
}

uint64_t ev_weights_live_synapses(const ev_net_weights *w) {
  uint64_t t = 0;
  for (int i = 0; i < w->spec.n; i++) t += ev_layer_live_synapses(w, i);
  return t;
}

ev_status ev_weights_init_vgg16(ev_net_weights *w, const char *path) {
  ev_st_file *f;
  EV_TRY(ev_st_read(path, &f));
  /* torchvision vgg16().features: convs at these indices, pools between stacks */
  static const int idx[13] = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28};
  static const char *names[13] = {"c1_1", "c1_2", "c2_1", "c2_2", "c3_1", "c3_2", "c3_3",
                                  "c4_1", "c4_2", "c4_3", "c5_1", "c5_2", "c5_3"};
  ev_status s = EV_OK;
  for (int k = 0; k < 13 && s == EV_OK; k++) {
    int li = ev_net_find(&w->spec, names[k]);
    if (li < 0) {
      s = ev_fail(EV_ERR_ARG, "--init VGG16: the network has no layer %s", names[k]);
      break;
    }
    const ev_layer *l = &w->spec.layers[li];
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "features.%d.weight", idx[k]);
    snprintf(bn, sizeof bn, "features.%d.bias", idx[k]);
    const ev_st_tensor *tw = ev_st_find(f, wn), *tb = ev_st_find(f, bn);
    if (!tw || !tb) {
      s = ev_fail(EV_ERR_FORMAT, "%s has no %s: not a torchvision VGG16 file", path, tw ? bn : wn);
      break;
    }
    if (tw->ndim != 4 || tw->shape[0] != l->out || tw->shape[1] != l->cin || tw->shape[2] != 3 ||
        tw->shape[3] != 3 || tb->count != (size_t)l->out) {
      s = ev_fail(EV_ERR_FORMAT, "%s: %s is %lldx%lldx%lldx%lld, layer %s needs %dx%dx3x3 (VGG16 weights fit width 1 only)",
                  path, wn, (long long)tw->shape[0], (long long)tw->shape[1], (long long)tw->shape[2],
                  (long long)tw->shape[3], l->name, l->out, l->cin);
      break;
    }
    for (size_t i = 0; i < tw->count; i++) w->l[li].w[i] = tw->data[i] * w->l[li].mask[i];
    memcpy(w->l[li].b, tb->data, (size_t)l->out * 4);
  }
  ev_st_close(f);
  return s;
}

/* y = gamma*(conv(x) + b - mean)/sqrt(var + eps) + beta is a convolution with each output
 * channel's weights scaled by gamma/sqrt(var + eps) and a new bias (eps 1e-5, the training
 * pass's). Output channel o is dim 0 of a conv weight, dim 1 of a transposed one. */
void ev_layer_fold_bn(const ev_layer *l, const ev_layer_weights *p, float *wf, float *bf) {
  int kk = l->k * l->k;
  for (int o = 0; o < l->out; o++) {
    double sc = p->gamma[o] / sqrt((double)p->rvar[o] + 1e-5);
    bf[o] = (float)((p->b[o] - (double)p->rmean[o]) * sc + p->beta[o]);
    for (int c = 0; c < l->cin; c++)
      for (int t = 0; t < kk; t++) {
        size_t at = l->op == EV_OP_CONV ? ((size_t)o * l->cin + c) * kk + t : ((size_t)c * l->out + o) * kk + t;
        wf[at] = (float)(p->w[at] * sc);
      }
  }
}
