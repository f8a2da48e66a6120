/* Which kernel family the convolution passes want on a device: the texel-buffer + shuffle
 * kernels on CPU devices, shared-memory tiles elsewhere; EVONET_CONV_VARIANT=cpu|gpu forces
 * one (tests run both on lavapipe). Each pass still checks it is able to run its choice. */
#ifndef EVONET_CONV_VARIANT_H
#define EVONET_CONV_VARIANT_H
#include <stdlib.h>
#include <string.h>

#include "evonet/gpu.h"

static inline int ev_conv_wants_cpu_kernel(const ev_caps *c) {
  const char *e = getenv("EVONET_CONV_VARIANT");
  if (e && !strcmp(e, "cpu")) return 1;
  if (e && !strcmp(e, "gpu")) return 0;
  return c->is_cpu;
}
#endif
