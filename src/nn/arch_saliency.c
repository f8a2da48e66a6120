/* The paper's first-generation ancestor (section III): VGG16 stacks c1-c5; c6, c7, c8 on
 * c3, c4, c5; deconvolutions d1, d2 on c7, c8; c9 on concat(c6, d1, d2); c10 and c11 (two
 * convs each, 512 and 384 channels) on c5; the three branches combined into 2-class logits
 * at input resolution.
 *
 * The paper lost its kernel sizes; these choices give 62,390,208 synapses at width 1
 * (-2.2% of the paper's 63,767,232):
 *   c1-c5  3x3 pad 1 (VGG16), 2x2 max-pool between stacks; c3 is at 1/4, c4 1/8, c5 1/16
 *   c6, c7, c8      3x3, 256 / 512 / 512 channels
 *   d1 (on c7)      4x4 stride 2 -> 256 channels at 1/4;  d2 (on c8) 8x8 stride 4 -> 256 at 1/4
 *   c9              3x3, 384 channels, on concat(c6, d1, d2) (768 channels, 1/4)
 *   c10             7x7 -> 512, then 3x3 -> 384 (global context at 1/16)
 *   c11             the same at dilation 2 (a wider receptive field)
 *   s9, s10, s11    1x1 -> 2-class scores; s10, s11 resized to c9's size and added to s9;
 *                   the sum is resized (bilinear) to the input: the softmax's logits.
 * Input sides must be multiples of 16. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/net.h"

typedef struct {
  ev_net_spec *s;
  int cap;
  bool bn;
} builder;

static int add(builder *b, const char *name, ev_op op, int n_in, const int *in) {
  if (b->s->n == b->cap) return -1;
  ev_layer *l = &b->s->layers[b->s->n];
  memset(l, 0, sizeof *l);
  snprintf(l->name, sizeof l->name, "%s", name);
  l->op = op;
  l->n_in = n_in;
  for (int i = 0; i < n_in; i++) l->in[i] = in[i];
  l->k = l->stride = l->dil = 1;
  l->like = -1;
  return b->s->n++;
}

static int conv(builder *b, const char *name, int in, int out, int k, int dil, bool relu) {
  int i = add(b, name, EV_OP_CONV, 1, &in);
  ev_layer *l = &b->s->layers[i];
  l->out = out, l->k = k, l->dil = dil, l->pad = dil * (k - 1) / 2, l->act = ev_act_make(relu ? EV_ACT_RELU : EV_ACT_NONE);
  l->bn = b->bn && relu; /* score layers stay plain */
  return i;
}

static int deconv(builder *b, const char *name, int in, int out, int k, int stride) {
  int i = add(b, name, EV_OP_DECONV, 1, &in);
  ev_layer *l = &b->s->layers[i];
  l->out = out, l->k = k, l->stride = stride, l->pad = (k - stride) / 2, l->bn = b->bn;
  l->act = ev_act_make(EV_ACT_RELU);
  return i;
}

static int pool(builder *b, const char *name, int in) {
  int i = add(b, name, EV_OP_MAXPOOL, 1, &in);
  b->s->layers[i].k = 2, b->s->layers[i].stride = 2;
  return i;
}

static int upsample(builder *b, const char *name, int in, int like) {
  int i = add(b, name, EV_OP_UPSAMPLE, 1, &in);
  b->s->layers[i].like = like;
  return i;
}

ev_status ev_net_saliency_vgg(double width, bool bn, ev_net_spec *out) {
  memset(out, 0, sizeof *out);
  if (!(width > 0 && width <= 4)) return ev_fail(EV_ERR_ARG, "width multiplier %g must be in (0, 4]", width);
  builder b = {out, 48, bn};
  out->layers = calloc((size_t)b.cap, sizeof *out->layers);
  if (!out->layers) return ev_fail(EV_ERR_OOM, "out of memory");
  out->in_channels = 3;
  out->classes = 2;
#define C(x) ((int)fmax(1.0, floor((x) * width + 0.5)))
  /* VGG16 */
  static const int stack_n[5] = {2, 2, 3, 3, 3}, stack_c[5] = {64, 128, 256, 512, 512};
  int x = -1, ends[5];
  char name[EV_NAME_LEN];
  for (int s = 0; s < 5; s++) {
    if (s > 0) {
      snprintf(name, sizeof name, "pool%d", s);
      x = pool(&b, name, x);
    }
    for (int j = 0; j < stack_n[s]; j++) {
      snprintf(name, sizeof name, "c%d_%d", s + 1, j + 1);
      x = conv(&b, name, x, C(stack_c[s]), 3, 1, true);
    }
    ends[s] = x;
  }
  int c6 = conv(&b, "c6", ends[2], C(256), 3, 1, true);
  int c7 = conv(&b, "c7", ends[3], C(512), 3, 1, true);
  int c8 = conv(&b, "c8", ends[4], C(512), 3, 1, true);
  int d1 = deconv(&b, "d1", c7, C(256), 4, 2);
  int d2 = deconv(&b, "d2", c8, C(256), 8, 4);
  int cat = add(&b, "cat9", EV_OP_CONCAT, 3, (int[]){c6, d1, d2});
  int c9 = conv(&b, "c9", cat, C(384), 3, 1, true);
  int c10 = conv(&b, "c10_1", ends[4], C(512), 7, 1, true);
  c10 = conv(&b, "c10_2", c10, C(384), 3, 1, true);
  int c11 = conv(&b, "c11_1", ends[4], C(512), 7, 2, true);
  c11 = conv(&b, "c11_2", c11, C(384), 3, 2, true);
  int s9 = conv(&b, "s9", c9, 2, 1, 1, false);
  int s10 = conv(&b, "s10", c10, 2, 1, 1, false);
  int s11 = conv(&b, "s11", c11, 2, 1, 1, false);
  int u10 = upsample(&b, "u10", s10, c9);
  int u11 = upsample(&b, "u11", s11, c9);
  int sum = add(&b, "fuse", EV_OP_ADD, 3, (int[]){s9, u10, u11});
  out->output = upsample(&b, "score", sum, -1);
#undef C
  if (out->output < 0) {
    ev_net_free(out);
    return ev_fail(EV_ERR_ARG, "internal: saliency network has too many layers");
  }
  return EV_OK;
}
