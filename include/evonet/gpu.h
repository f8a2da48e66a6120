/* evonet's portable Vulkan runtime: device choice, caps, memory, pipelines, streams.
 *
 * Typical use:
 *   ev_gpu *g; ev_gpu_open(&(ev_gpu_options){0}, &g);
 *   ev_buf x; ev_buf_alloc(g, bytes, &x); ev_buf_upload(g, &x, 0, host, bytes);
 *   ev_pipeline *p; ev_pipeline_get(g, &(ev_pipeline_desc){.shader="copy", .bindings="rw",
 *                                  .push_size=8, .local_size_x=64}, &p);
 *   ev_stream *s; ev_stream_begin(g, &s);
 *   ev_dispatch(s, p, (uint32_t[3]){groups,1,1}, (const ev_buf*[]){&x,&y}, &push);
 *   ev_stream_submit(s);   // submit, wait, and end the stream
 */
#ifndef EVONET_GPU_H
#define EVONET_GPU_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <volk.h>
#include "evonet/status.h"
#include "evonet/tuning.h"

/* ---------------- capabilities (read from the device, never assumed) ---------------- */
typedef struct {
  char name[256];
  char driver_name[256], driver_info[256];
  uint32_t vendor_id, device_id, driver_version, api_version;
  VkPhysicalDeviceType type;
  uint8_t uuid[VK_UUID_SIZE];
  bool is_cpu;                      /* lavapipe/swiftshader: choose CPU-friendly kernels */
  uint32_t subgroup_size;
  VkSubgroupFeatureFlags subgroup_ops; /* VK_SUBGROUP_FEATURE_*_BIT */
  VkShaderStageFlags subgroup_stages;
  bool subgroup_size_control;        /* VK_EXT_subgroup_size_control / 1.3 */
  uint32_t min_subgroup_size, max_subgroup_size;
  uint32_t max_shared_memory;        /* maxComputeSharedMemorySize, bytes */
  uint64_t max_storage_buffer_range; /* bytes */
  uint64_t max_texel_buffer_elements;
  uint64_t max_memory_allocation_size;
  uint32_t max_memory_allocation_count;
  uint32_t max_workgroup_count[3], max_workgroup_size[3], max_workgroup_invocations;
  uint32_t max_push_constants_size;
  uint64_t min_storage_offset_align, min_texel_offset_align;
  bool timestamps;                   /* compute queue supports timestamps */
  float timestamp_period_ns;
  uint32_t heap_count;
  uint64_t heap_size[VK_MAX_MEMORY_HEAPS];
  bool heap_device_local[VK_MAX_MEMORY_HEAPS];
  bool fp16, int8;                   /* shaderFloat16 / shaderInt8 arithmetic */
  bool uma;                          /* device-local memory the host can map */
} ev_caps;

const char *ev_device_type_name(VkPhysicalDeviceType t);

/* ---------------- instance and device ---------------- */
typedef struct ev_gpu ev_gpu;

typedef struct {
  const char *device;   /* "N" (index) or a case-insensitive substring of the name;
                           NULL: EVONET_DEVICE, else discrete > integrated > virtual > CPU */
  int validate;         /* 1: validation layer + messenger; -1: off; 0: EVONET_VALIDATE */
} ev_gpu_options;

ev_status ev_gpu_open(const ev_gpu_options *opt, ev_gpu **out);
void ev_gpu_close(ev_gpu *g); /* waits idle, saves the pipeline cache, prints the profile */
const ev_caps *ev_gpu_caps(const ev_gpu *g);
int ev_gpu_index(const ev_gpu *g); /* index of the chosen device in ev_list_devices order */
/* The EVONET_* settings read when the device opened (evonet/tuning.h); kernels and tile
 * choices take them from here. The mutable one is for tests and benchmarks that switch a
 * kernel variant on an open device (ev_tuning_set). */
const ev_tuning *ev_gpu_tuning(const ev_gpu *g);
ev_tuning *ev_gpu_tuning_mut(ev_gpu *g);

/* Validation messages counted since open (the tests fail on any). */
uint32_t ev_gpu_validation_errors(const ev_gpu *g);
uint32_t ev_gpu_validation_warnings(const ev_gpu *g);

/* All physical devices (for `evonet devices`): fills up to `max` caps, returns count via n. */
ev_status ev_list_devices(ev_caps *caps, uint32_t max, uint32_t *n);
/* Which index the default rule / a selector string would choose among `caps`. */
ev_status ev_choose_device(const ev_caps *caps, uint32_t n, const char *selector, uint32_t *index);

/* ---------------- memory ---------------- */
/* A range of a device buffer. Tensors are sub-allocated from large blocks, so `offset` is
 * usually nonzero; kernels see exactly [offset, offset+size). */
typedef struct ev_buf {
  VkBuffer buffer;
  VkDeviceSize offset, size;
  void *host;                 /* mapped pointer on UMA devices, else NULL */
  VkBufferView texel_view;    /* RGBA32F view, created on first texel use */
  struct ev_block *block;
  uint64_t id;                /* unique per allocation: hazard tracking */
} ev_buf;

/* size in bytes, > 0; the range is usable as storage buffer and as RGBA32F texel buffer.
 * Errors: EV_ERR_LIMIT beyond maxStorageBufferRange, EV_ERR_OOM when the device is full. */
ev_status ev_buf_alloc(ev_gpu *g, VkDeviceSize size, ev_buf *out);
void ev_buf_free(ev_gpu *g, ev_buf *b); /* safe on a zeroed ev_buf */
ev_status ev_buf_upload(ev_gpu *g, ev_buf *b, VkDeviceSize offset, const void *src, VkDeviceSize n);
ev_status ev_buf_download(ev_gpu *g, const ev_buf *b, VkDeviceSize offset, void *dst, VkDeviceSize n);
ev_status ev_buf_fill(ev_gpu *g, ev_buf *b, uint32_t word); /* every 32-bit word := word */
/* Usable RGBA32F texel view of the buffer's whole range (size must be a multiple of 16). */
ev_status ev_buf_texel_view(ev_gpu *g, ev_buf *b, VkBufferView *view);
/* Whether two ranges share memory (ops refuse an output that overlaps an input). NULL: no. */
static inline int ev_buf_overlap(const ev_buf *a, const ev_buf *b) {
  return a && b && a->buffer == b->buffer && a->offset < b->offset + b->size && b->offset < a->offset + a->size;
}

typedef struct {
  uint64_t blocks, block_bytes, live_allocs, live_bytes;
} ev_mem_stats;
void ev_gpu_mem_stats(const ev_gpu *g, ev_mem_stats *s);

/* ---------------- pipelines ---------------- */
/* bindings: one char per binding, in binding order:
 *   'r' storage buffer read by the kernel, 'w' written, 'x' read and written,
 *   't' uniform texel buffer (RGBA32F) read.
 * spec: specialization constants with constant_id 0..n_spec-1 (32-bit each).
 * local_size_x/y/z: if nonzero, given to the shader as constant_id 100/101/102
 *   (declare `layout(local_size_x_id = 100, ...) in;`). */
#define EV_MAX_BINDINGS 8
#define EV_MAX_SPEC 16
typedef struct {
  const char *shader;
  const char *bindings;
  uint32_t push_size; /* bytes, multiple of 4 */
  uint32_t n_spec;
  uint32_t spec[EV_MAX_SPEC];
  uint32_t local_size_x, local_size_y, local_size_z;
  bool require_full_subgroups; /* VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS */
} ev_pipeline_desc;

typedef struct ev_pipeline ev_pipeline;
/* Created once per distinct desc and kept by the ev_gpu (do not free). */
ev_status ev_pipeline_get(ev_gpu *g, const ev_pipeline_desc *d, ev_pipeline **out);
const char *ev_pipeline_name(const ev_pipeline *p);

/* ---------------- command streams ---------------- */
typedef struct ev_stream ev_stream;
ev_status ev_stream_begin(ev_gpu *g, ev_stream **out);
/* Record one dispatch. `bufs` has one entry per binding char of the pipeline. A barrier is
 * recorded only if this dispatch touches a buffer written (or writes one read) since the
 * last barrier. Group counts are checked against the device limits. */
ev_status ev_dispatch(ev_stream *s, ev_pipeline *p, const uint32_t groups[3],
                      ev_buf *const *bufs, const void *push);
/* Submit what was recorded, wait for it, and keep the stream open for more. Very long
 * streams are split automatically so no single submission trips a GPU watchdog. */
ev_status ev_stream_flush(ev_stream *s);
/* Submit, wait and release the stream (also on error). */
ev_status ev_stream_submit(ev_stream *s);
/* Release without submitting. */
void ev_stream_abort(ev_stream *s);
ev_gpu *ev_stream_gpu(const ev_stream *s);
/* Workgroup size for simple element-wise kernels on this device (a multiple of the
 * subgroup size, within the device's limits). */
uint32_t ev_gpu_elementwise_wg(const ev_gpu *g);
/* Workgroups along x for `total` invocations of `wg` each, capped at the device's x limit
 * (kernels loop over the rest with a grid stride). */
uint32_t ev_gpu_grid_groups(const ev_gpu *g, uint64_t total, uint32_t wg);

/* Convenience: ceil(a/b). */
static inline uint32_t ev_div_up(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }

/* Profiling (EVONET_PROFILE=1): per-pipeline accumulated GPU time, printed by ev_gpu_close. */
void ev_gpu_print_profile(const ev_gpu *g, void *FILE_stream);
#endif
