/* Helpers shared by the training-op tests (eltwise, pool, upsample, batchnorm, loss, optim):
 * random NHWC-C4 tensors with zero padding, poisoned outputs, float <-> double, error
 * checks against the double-precision references, and a finite-difference gradient check. */
#ifndef EVONET_TRAINOPS_UTIL_H
#define EVONET_TRAINOPS_UTIL_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/tensor.h"
#include "testutil.h"

static inline void *to_xmalloc(size_t bytes) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) fail_msg("out of host memory");
  return p;
}

/* Random (n, h, w, c) NHWC-C4 host tensor in [lo, hi), padding channels zero. */
static inline float *to_rand_act(uint64_t *seed, int n, int h, int w, int c, float lo, float hi) {
  uint64_t npix = (uint64_t)n * h * w;
  int c4 = ev_c4(c);
  float *x = to_xmalloc(npix * c4 * sizeof *x);
  for (uint64_t p = 0; p < npix; p++)
    for (int k = 0; k < c4; k++) x[p * c4 + k] = k < c ? tu_uniform(seed, lo, hi) : 0.0f;
  return x;
}

static inline double *to_double(const float *x, size_t n) {
  double *d = to_xmalloc(n * sizeof *d);
  for (size_t i = 0; i < n; i++) d[i] = x[i];
  return d;
}

static inline float *to_float(const double *x, size_t n) {
  float *f = to_xmalloc(n * sizeof *f);
  for (size_t i = 0; i < n; i++) f[i] = (float)x[i];
  return f;
}

/* A device tensor, poisoned, then (if host != NULL) filled from the NHWC-C4 host array. */
static inline ev_tensor to_tensor(const float *host, int n, int h, int w, int c) {
  ev_tensor t;
  TU_OK(ev_tensor_alloc(tu_gpu(), n, h, w, c, &t));
  tu_poison(&t.buf);
  if (host) TU_OK(ev_buf_upload(tu_gpu(), &t.buf, 0, host, ev_tensor_floats(n, h, w, c) * 4));
  return t;
}

static inline float *to_download(const ev_tensor *t) {
  uint64_t n = ev_tensor_floats(t->n, t->h, t->w, t->c);
  float *x = to_xmalloc(n * sizeof *x);
  tu_download(&t->buf, x, n);
  return x;
}

/* Relative error ||gpu - ref|| / ||ref|| (ref in double); fails above tol. */
static inline double to_check(const char *what, const float *gpu, const double *ref, size_t n, double tol) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(gpu[i]) && isfinite(ref[i])) fail_msg("%s: element %zu is %g, reference %g", what, i, gpu[i], ref[i]);
    double d = gpu[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  double rel = sqrt(num) / (den > 0 ? sqrt(den) : 1.0);
  fprintf(stderr, "  %-44s rel err %.2e (tol %.0e)\n", what, rel, tol);
  if (!(rel <= tol)) fail_msg("%s: relative error %.3e above %.1e", what, rel, tol);
  return rel;
}

/* Every padding channel (c..C4) of an NHWC-C4 array is exactly zero. */
static inline void to_check_padding(const char *what, const float *x, uint64_t npix, int c) {
  int c4 = ev_c4(c);
  for (uint64_t p = 0; p < npix; p++)
    for (int k = c; k < c4; k++)
      if (x[p * c4 + k] != 0.0f) fail_msg("%s: padding channel %d of pixel %llu is %g", what, k, (unsigned long long)p, x[p * c4 + k]);
}

/* Finite differences in double: f(x) is a scalar function of x[0..n); grad its analytic
 * gradient at x. Only entries with use[i] (or all when use == NULL) are perturbed.
 * Fails when max |numeric - analytic| > tol * max(1, max |analytic|). */
typedef double (*to_scalar_fn)(const double *x, void *ctx);
static inline void to_fd_check(const char *what, to_scalar_fn f, void *ctx, double *x, const double *grad,
                               size_t n, const unsigned char *use, double h, double tol) {
  double maxg = 1.0, maxe = 0.0;
  for (size_t i = 0; i < n; i++)
    if (fabs(grad[i]) > maxg) maxg = fabs(grad[i]);
  size_t worst = 0;
  for (size_t i = 0; i < n; i++) {
    if (use && !use[i]) continue;
    double x0 = x[i];
    x[i] = x0 + h;
    double fp = f(x, ctx);
    x[i] = x0 - h;
    double fm = f(x, ctx);
    x[i] = x0;
    double e = fabs((fp - fm) / (2 * h) - grad[i]);
    if (e > maxe) maxe = e, worst = i;
  }
  fprintf(stderr, "  %-44s fd max err %.2e (tol %.0e)\n", what, maxe / maxg, tol);
  if (!(maxe <= tol * maxg)) fail_msg("%s: finite-difference error %.3e at %zu (grad %g)", what, maxe, worst, grad[worst]);
}

#endif
