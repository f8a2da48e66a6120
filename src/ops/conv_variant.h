/* Kernel family and tile choice of the convolution passes (conv.c, conv_wgrad.c): the
 * register-tiled kernels that spread texel fetches with subgroup shuffles (conv_gemm_shuffle,
 * conv_wgrad_shuffle) on CPU devices, the shared-memory tiled ones (conv_gemm_shared,
 * conv_wgrad_shared) elsewhere; EVONET_CONV_VARIANT=shuffle|shared (ev_tuning.conv_variant;
 * the earlier names cpu and gpu are still accepted) forces one (tests run both on lavapipe).
 * Each pass still checks it is able to run its choice. Everything here is a function of
 * (shape, device caps, tuning) only. */
#ifndef EVONET_CONV_VARIANT_H
#define EVONET_CONV_VARIANT_H
#include <stdint.h>

#include "evonet/gpu.h"

static inline int ev_conv_wants_shuffle_kernel(const ev_caps *c, const ev_tuning *t) {
  if (t->conv_variant >= 0) return t->conv_variant;
  return c->is_cpu;
}

/* Whether a pass runs its subgroup-shuffle kernel: wanted (above) and able, i.e. the
 * device has basic + shuffle subgroup ops in compute shaders and a subgroup size in
 * [min_sg, max_sg] that fits one workgroup. The bounds are the kernels':
 *   - conv_gemm_shuffle (conv.c: min 8, max 128): shuffled rows come from lanes 0..7, so it
 *     needs at least 8 lanes; per-lane state does not grow with the subgroup, so any size
 *     Vulkan allows (at most 128) works;
 *   - conv_wgrad_shuffle (conv_wgrad.c: min 1, max 64): any size works (a lane per pixel), but
 *     every lane keeps one fetched texel of each lane (`vec4 pj[SG]`, unrolled over SG), so
 *     registers and code grow with the subgroup: capped at 64.
 * The workgroup checks were conv.c's; for conv_wgrad's sizes (<= 64) they always hold, as
 * Vulkan guarantees maxComputeWorkGroupSize[0] and maxComputeWorkGroupInvocations >= 128. */
static inline int ev_conv_use_shuffle_kernel(const ev_caps *c, const ev_tuning *t, uint32_t min_sg, uint32_t max_sg) {
  VkSubgroupFeatureFlags need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
  int able = (c->subgroup_ops & need) == need && (c->subgroup_stages & VK_SHADER_STAGE_COMPUTE_BIT) &&
             c->subgroup_size >= min_sg && c->subgroup_size <= max_sg && c->subgroup_size <= c->max_workgroup_size[0] &&
             c->subgroup_size <= c->max_workgroup_invocations;
  return ev_conv_wants_shuffle_kernel(c, t) && able;
}

/* The tiles of the conv forward / input-gradient implicit GEMM (conv.c). */
typedef struct {
  int cpu;
  uint32_t lx, ly, tm, tn, bk4; /* gpu variant tiles; cpu: lx = workgroup size */
  uint32_t cn, swap, ha;        /* cpu variant: per-lane rows, orientation, shuffled blocks of 8 */
  uint32_t bm, bn;              /* output pixels / channels per workgroup */
} ev_conv_tiles;

/* m: output pixels (largest phase), cd4: padded output channels; brow_bytes: stride of
 * weight rows; pix_bytes: stride of consecutive source pixels; ktex: k texels of a phase
 * (about taps * channel texels). A pure function (tests/test_conv_tiles.c). */
ev_conv_tiles ev_conv_choose_tiles(const ev_caps *c, const ev_tuning *tu, uint64_t m, uint64_t cd4, uint64_t brow_bytes,
                                   uint64_t pix_bytes, uint64_t ktex);
#endif
