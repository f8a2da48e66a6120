/* Which kernel family the convolution passes want on a device: the register-tiled kernels
 * that spread texel fetches with subgroup shuffles (conv_gemm_shuffle, conv_wgrad_shuffle)
 * on CPU devices, the shared-memory tiled ones (conv_gemm_shared, conv_wgrad_shared)
 * elsewhere. EVONET_CONV_VARIANT=shuffle|shared forces one (tests run both on lavapipe);
 * the earlier names cpu (= shuffle) and gpu (= shared) are still accepted. Each pass still
 * checks it is able to run its choice. */
#ifndef EVONET_CONV_VARIANT_H
#define EVONET_CONV_VARIANT_H
#include <stdlib.h>
#include <string.h>

#include "evonet/gpu.h"

static inline int ev_conv_wants_shuffle_kernel(const ev_caps *c) {
  const char *e = getenv("EVONET_CONV_VARIANT");
  if (e && (!strcmp(e, "shuffle") || !strcmp(e, "cpu"))) return 1;
  if (e && (!strcmp(e, "shared") || !strcmp(e, "gpu"))) return 0;
  return c->is_cpu;
}
#endif
