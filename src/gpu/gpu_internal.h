/* Private state of the Vulkan runtime (src/gpu/ only). */
#ifndef EVONET_GPU_INTERNAL_H
#define EVONET_GPU_INTERNAL_H
#include <stdio.h>

#include "evonet/gpu.h"

/* Checks a VkResult; on failure records "<what> failed: VK_ERROR_..." with file:line and
 * returns the mapped ev_status from the enclosing function. */
#define EV_VK(call)                                                                       \
  do {                                                                                    \
    VkResult ev_vk_r_ = (call);                                                           \
    if (ev_vk_r_ != VK_SUCCESS)                                                           \
      return ev_vk_fail(__FILE__, __LINE__, #call, ev_vk_r_);                             \
  } while (0)

ev_status ev_vk_fail(const char *file, int line, const char *call, VkResult r);
const char *ev_vk_result_name(VkResult r);

/* One large device allocation with one VkBuffer over it; ev_bufs are ranges of it. */
typedef struct ev_range { VkDeviceSize off, size; } ev_range;
struct ev_block {
  VkDeviceMemory memory;
  VkBuffer buffer;
  VkDeviceSize size;
  void *map;               /* persistent mapping on UMA devices */
  ev_range *free;          /* sorted, coalesced free ranges */
  uint32_t n_free, cap_free;
  uint32_t live;
  struct ev_block *next;
};

struct ev_pipeline {
  ev_pipeline_desc desc;
  char name[64];
  char bindings[EV_MAX_BINDINGS + 1];
  uint32_t n_bindings;
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout layout;
  VkPipeline pipeline;
  uint64_t prof_ns, prof_count;  /* EVONET_PROFILE */
  struct ev_pipeline *next;
};

typedef struct {
  VkBuffer buffer;
  VkDeviceSize off, end;
} ev_span;

struct ev_stream {
  ev_gpu *g;
  VkCommandBuffer cmd;
  VkFence fence;
  VkDescriptorPool *pools;
  uint32_t n_pools, cur_pool;
  VkQueryPool queries;          /* profiling timestamps, 2 per dispatch */
  ev_pipeline **timed;          /* pipeline of each timed dispatch */
  uint32_t n_dispatch;          /* dispatches recorded in the open command buffer */
  ev_span *reads, *writes;      /* touched since the last barrier */
  uint32_t n_reads, n_writes, cap_spans;
  int recording;
  struct ev_stream *next_free;
};

struct ev_gpu {
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  VkPhysicalDevice phys;
  VkDevice device;
  VkQueue queue;
  uint32_t queue_family;
  int index;
  ev_caps caps;
  ev_tuning tuning;             /* EVONET_* variables, read at open */
  VkPhysicalDeviceMemoryProperties mem_props;
  uint32_t block_type;          /* memory type of tensor blocks */
  uint32_t staging_type;        /* host-visible type for staging */
  VkDeviceSize align;           /* alignment of every ev_buf offset */
  VkDeviceSize block_size;
  struct ev_block *blocks;
  uint64_t next_id, live_allocs, live_bytes;
  VkCommandPool cmd_pool;
  VkBuffer staging;             /* non-UMA upload/download */
  VkDeviceMemory staging_mem;
  void *staging_map;
  VkDeviceSize staging_size;
  VkPipelineCache cache;
  char cache_path[4096];
  ev_pipeline *pipelines;
  ev_stream *free_streams;
  int profile;
  volatile uint32_t val_errors, val_warnings;
};

ev_status ev_instance_create(int validate, VkInstance *inst, VkDebugUtilsMessengerEXT *msg,
                             ev_gpu *counter);
ev_status ev_read_caps(VkPhysicalDevice pd, ev_caps *c);
ev_status ev_pipeline_cache_open(ev_gpu *g);
void ev_pipeline_cache_save(ev_gpu *g);
void ev_pipelines_destroy(ev_gpu *g);
void ev_streams_destroy(ev_gpu *g);
void ev_memory_destroy(ev_gpu *g);
ev_status ev_memory_init(ev_gpu *g);
/* One-shot command buffer for transfers: begin, (caller records), end+submit+wait. */
ev_status ev_oneshot_begin(ev_gpu *g, VkCommandBuffer *cmd);
ev_status ev_oneshot_end(ev_gpu *g, VkCommandBuffer cmd);
#endif
