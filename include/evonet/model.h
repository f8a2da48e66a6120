/* A network on the device for a fixed batch and input size: parameters (OHWI4 weights,
 * masks, biases, batch norm), activations, gradients and optimiser state, and the
 * forward / loss / backward / step schedule recorded into one command stream. */
#ifndef EVONET_MODEL_H
#define EVONET_MODEL_H
#include <stdbool.h>

#include "evonet/gpu.h"
#include "evonet/tensor.h"
#include "evonet/weights.h"

typedef struct ev_model ev_model;

typedef struct {
  int optimizer;          /* 0 = SGD with momentum, 1 = Adam (ev_optimizer values) */
  float lr, momentum, weight_decay, beta1, beta2, eps;
  int step;               /* 1-based step count (Adam's bias correction) */
} ev_step_params;

/* `spec` must have been inferred for (h, w). training: allocate gradients and optimiser state. */
ev_status ev_model_create(ev_gpu *g, const ev_net_spec *spec, int batch, int h, int w, bool training,
                          ev_model **out);
void ev_model_destroy(ev_model *m);
ev_status ev_model_upload(ev_model *m, const ev_net_weights *w);   /* host -> device */
ev_status ev_model_download(ev_model *m, ev_net_weights *w);       /* device -> host */
/* The gradients of the last backward, in the layout of `g` (allocated like the weights):
 * g.w = dL/dW, g.b = dL/db, g.gamma / g.beta = dL/dgamma / dL/dbeta. */
ev_status ev_model_download_grads(ev_model *m, ev_net_weights *g);
/* Optimiser state (momentum / Adam moments) as flat host arrays, for checkpoints:
 * n_floats() tells the total; get/set copy all of it in a fixed order. */
uint64_t ev_model_opt_floats(const ev_model *m);
ev_status ev_model_opt_get(ev_model *m, float *dst);
ev_status ev_model_opt_set(ev_model *m, const float *src);
ev_status ev_model_opt_zero(ev_model *m);

ev_tensor *ev_model_input(ev_model *m);  /* (N, H, W, in_channels) NHWC-C4 */
ev_buf *ev_model_target(ev_model *m);    /* saliency: (N, H, W) float mask in [0,1]; classification: (N) int32 labels */
ev_buf *ev_model_prob(ev_model *m);      /* saliency: (N, H, W) salient-class probability (after loss/predict) */
ev_tensor *ev_model_logits(ev_model *m); /* the output layer: (N, H, W, classes) NHWC-C4; classification: H = W = 1 */
ev_buf *ev_model_loss_buf(ev_model *m);  /* 1 float: mean loss of the last ev_model_loss */
int ev_model_batch(const ev_model *m);
const ev_net_spec *ev_model_spec(const ev_model *m); /* inferred for the model's input size */
ev_gpu *ev_model_gpu(const ev_model *m);
/* Uploads n <= batch images (n, H, W, 4) and masks (n, H, W); the rest of the batch is zeroed
 * so a partial batch gives the same results for its images as a full one would. */
ev_status ev_model_feed(ev_model *m, const float *images, const float *masks, int n);
/* Classification networks: n <= batch images (n, H, W, 4) and their labels (n, in [0, classes));
 * the rest of the batch gets zero images and label 0. */
ev_status ev_model_feed_labels(ev_model *m, const float *images, const int32_t *labels, int n);
/* Random input in [-2, 2] (benchmarks). */
ev_status ev_fill_random_input(ev_model *m, uint64_t seed);

ev_status ev_model_forward(ev_model *m, ev_stream *s, bool train);
/* Softmax cross-entropy on the logits vs the target (per pixel: the mask; classification:
 * per image, the label); writes loss, prob (saliency) and (training) the logits' gradient.
 * fg_weight: weight of the salient class (1 = unweighted; 2-class saliency networks only). */
ev_status ev_model_loss(ev_model *m, ev_stream *s, float fg_weight);
/* The same with the target read as a soft one: the class-1 probability per pixel (after
 * ev_distill_target; 2-class networks). */
ev_status ev_model_loss_soft(ev_model *m, ev_stream *s, float fg_weight);
/* Knowledge distillation: the teacher (same batch and input size, an inference model) runs on
 * m's current input, and m's target becomes (1 - lambda) * [mask > 0.5] + lambda * the teacher's
 * probability, for ev_model_loss_soft. */
ev_status ev_model_distill_target(ev_model *m, ev_model *teacher, ev_stream *s, float lambda);
/* Softmax probabilities only (inference; saliency: into prob; classification: nothing to do,
 * the logits rank the classes). */
ev_status ev_model_predict(ev_model *m, ev_stream *s);
ev_status ev_model_backward(ev_model *m, ev_stream *s);
ev_status ev_model_step(ev_model *m, ev_stream *s, const ev_step_params *p);
#endif
