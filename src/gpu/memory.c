/* Device memory: tensors are ranges of large blocks (one VkDeviceMemory + one VkBuffer
 * each), so thousands of tensors never approach maxMemoryAllocationCount. On UMA devices
 * (lavapipe, integrated GPUs) blocks are mapped and transfers are memcpy; elsewhere a
 * staging buffer carries them in chunks. */
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"

#define EV_BLOCK_BYTES (64ull << 20)
#define EV_STAGING_BYTES (16ull << 20)

static const VkBufferUsageFlags k_usage =
    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
    VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;

static int find_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t bits,
                     VkMemoryPropertyFlags want) {
  for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
    if ((bits & (1u << i)) && (mp->memoryTypes[i].propertyFlags & want) == want) return (int)i;
  return -1;
}

static VkDeviceSize lcm_pow2ish(VkDeviceSize a, VkDeviceSize b) { return a > b ? a : b; }

/* Creates buffer + memory of `size` bytes of memory type chosen by `want` (first match of
 * the list), mapping it if host-visible. */
static ev_status make_buffer(ev_gpu *g, VkDeviceSize size, VkBufferUsageFlags usage,
                             const VkMemoryPropertyFlags *wants, int n_wants, VkBuffer *buf,
                             VkDeviceMemory *mem, void **map) {
  *buf = VK_NULL_HANDLE;
  *mem = VK_NULL_HANDLE;
  *map = NULL;
  VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                            .size = size,
                            .usage = usage,
                            .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  EV_VK(vkCreateBuffer(g->device, &bci, NULL, buf));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(g->device, *buf, &req);
  int type = -1;
  for (int i = 0; i < n_wants && type < 0; i++) type = find_type(&g->mem_props, req.memoryTypeBits, wants[i]);
  if (type < 0) {
    vkDestroyBuffer(g->device, *buf, NULL);
    *buf = VK_NULL_HANDLE;
    return ev_fail(EV_ERR_NODEVICE, "device '%s' has no suitable memory type", g->caps.name);
  }
  VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                             .allocationSize = req.size,
                             .memoryTypeIndex = (uint32_t)type};
  VkResult r = vkAllocateMemory(g->device, &ai, NULL, mem);
  if (r == VK_SUCCESS) r = vkBindBufferMemory(g->device, *buf, *mem, 0);
  if (r == VK_SUCCESS &&
      (g->mem_props.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
    r = vkMapMemory(g->device, *mem, 0, VK_WHOLE_SIZE, 0, map);
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(g->device, *buf, NULL);
    if (*mem) vkFreeMemory(g->device, *mem, NULL);
    *buf = VK_NULL_HANDLE;
    *mem = VK_NULL_HANDLE;
    *map = NULL;
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
      return ev_fail(EV_ERR_OOM,
                     "the device is out of memory allocating %.1f MiB; try a smaller batch, "
                     "input size or network width", (double)size / (1 << 20));
    EV_VK(r);
  }
  return EV_OK;
}

ev_status ev_memory_init(ev_gpu *g) {
  const ev_caps *c = &g->caps;
  g->align = 16;
  g->align = lcm_pow2ish(g->align, c->min_storage_offset_align);
  g->align = lcm_pow2ish(g->align, c->min_texel_offset_align);
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(g->phys, &p);
  g->align = lcm_pow2ish(g->align, p.limits.nonCoherentAtomSize);
  g->block_size = EV_BLOCK_BYTES;
  if (c->max_memory_allocation_size && g->block_size > c->max_memory_allocation_size)
    g->block_size = c->max_memory_allocation_size;
  if (!c->uma) {
    const VkMemoryPropertyFlags w[2] = {
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
            VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT};
    g->staging_size = EV_STAGING_BYTES;
    EV_TRY(make_buffer(g, g->staging_size,
                       VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT, w, 2,
                       &g->staging, &g->staging_mem, &g->staging_map));
  }
  return EV_OK;
}

static void block_destroy(ev_gpu *g, struct ev_block *b) {
  if (b->buffer) vkDestroyBuffer(g->device, b->buffer, NULL);
  if (b->memory) vkFreeMemory(g->device, b->memory, NULL); /* unmaps implicitly */
  free(b->free);
  free(b);
}

void ev_memory_destroy(ev_gpu *g) {
  for (struct ev_block *b = g->blocks, *n; b; b = n) {
    n = b->next;
    block_destroy(g, b);
  }
  g->blocks = NULL;
  if (g->staging) vkDestroyBuffer(g->device, g->staging, NULL);
  if (g->staging_mem) vkFreeMemory(g->device, g->staging_mem, NULL);
  g->staging = VK_NULL_HANDLE;
  g->staging_mem = VK_NULL_HANDLE;
}

static ev_status block_new(ev_gpu *g, VkDeviceSize size, struct ev_block **out) {
  struct ev_block *b = calloc(1, sizeof *b);
  if (!b) return ev_fail(EV_ERR_OOM, "out of memory");
  const VkMemoryPropertyFlags uma = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
                                    VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                    VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  const VkMemoryPropertyFlags w[2] = {g->caps.uma ? uma : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                                      VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT};
  ev_status s = make_buffer(g, size, k_usage, w, 2, &b->buffer, &b->memory, &b->map);
  if (s != EV_OK) {
    free(b);
    return s;
  }
  if (!g->caps.uma) b->map = NULL; /* never read device memory through a BAR window */
  b->size = size;
  b->cap_free = 8;
  b->free = malloc(b->cap_free * sizeof *b->free);
  if (!b->free) {
    block_destroy(g, b);
    return ev_fail(EV_ERR_OOM, "out of memory");
  }
  b->free[0] = (ev_range){0, size};
  b->n_free = 1;
  b->next = g->blocks;
  g->blocks = b;
  *out = b;
  return EV_OK;
}

/* First fit inside one block; ranges are kept aligned, so offsets stay aligned. */
static int block_take(struct ev_block *b, VkDeviceSize size, VkDeviceSize *off) {
  for (uint32_t i = 0; i < b->n_free; i++) {
    if (b->free[i].size < size) continue;
    *off = b->free[i].off;
    b->free[i].off += size;
    b->free[i].size -= size;
    if (b->free[i].size == 0) {
      memmove(&b->free[i], &b->free[i + 1], (b->n_free - i - 1) * sizeof *b->free);
      b->n_free--;
    }
    b->live++;
    return 1;
  }
  return 0;
}

static ev_status block_give(struct ev_block *b, VkDeviceSize off, VkDeviceSize size) {
  uint32_t i = 0;
  while (i < b->n_free && b->free[i].off < off) i++;
  int merge_prev = i > 0 && b->free[i - 1].off + b->free[i - 1].size == off;
  int merge_next = i < b->n_free && off + size == b->free[i].off;
  if (merge_prev && merge_next) {
    b->free[i - 1].size += size + b->free[i].size;
    memmove(&b->free[i], &b->free[i + 1], (b->n_free - i - 1) * sizeof *b->free);
    b->n_free--;
  } else if (merge_prev) {
    b->free[i - 1].size += size;
  } else if (merge_next) {
    b->free[i].off = off;
    b->free[i].size += size;
  } else {
    if (b->n_free == b->cap_free) {
      ev_range *nf = realloc(b->free, 2 * b->cap_free * sizeof *nf);
      if (!nf) return ev_fail(EV_ERR_OOM, "out of memory");
      b->free = nf;
      b->cap_free *= 2;
    }
    memmove(&b->free[i + 1], &b->free[i], (b->n_free - i) * sizeof *b->free);
    b->free[i] = (ev_range){off, size};
    b->n_free++;
  }
  b->live--;
  return EV_OK;
}

ev_status ev_buf_alloc(ev_gpu *g, VkDeviceSize size, ev_buf *out) {
  memset(out, 0, sizeof *out);
  const ev_caps *c = &g->caps;
  if (size == 0) return ev_fail(EV_ERR_ARG, "cannot allocate an empty (zero-byte) buffer");
  if (size > c->max_storage_buffer_range)
    return ev_fail(EV_ERR_LIMIT,
                   "a %.1f MiB tensor is larger than this device's storage-buffer range "
                   "(%.1f MiB on '%s'); use a smaller batch or input size",
                   (double)size / (1 << 20), (double)c->max_storage_buffer_range / (1 << 20),
                   c->name);
  VkDeviceSize sz = (size + g->align - 1) / g->align * g->align;
  struct ev_block *blk = NULL;
  VkDeviceSize off = 0;
  for (struct ev_block *b = g->blocks; b && !blk; b = b->next)
    if (block_take(b, sz, &off)) blk = b;
  if (!blk) {
    VkDeviceSize bs = sz > g->block_size ? sz : g->block_size;
    if (c->max_memory_allocation_size && bs > c->max_memory_allocation_size)
      return ev_fail(EV_ERR_LIMIT, "a %.1f MiB tensor exceeds this device's largest allocation",
                     (double)size / (1 << 20));
    EV_TRY(block_new(g, bs, &blk));
    if (!block_take(blk, sz, &off)) return ev_fail(EV_ERR_OOM, "allocator inconsistency");
  }
  out->buffer = blk->buffer;
  out->offset = off;
  out->size = size;
  out->host = blk->map ? (char *)blk->map + off : NULL;
  out->block = blk;
  out->id = ++g->next_id;
  g->live_allocs++;
  g->live_bytes += sz;
  return EV_OK;
}

void ev_buf_free(ev_gpu *g, ev_buf *b) {
  if (!b || !b->block) return;
  if (b->texel_view) vkDestroyBufferView(g->device, b->texel_view, NULL);
  VkDeviceSize sz = (b->size + g->align - 1) / g->align * g->align;
  struct ev_block *blk = b->block;
  (void)block_give(blk, b->offset, sz); /* only fails on host OOM: the range then leaks */
  g->live_allocs--;
  g->live_bytes -= sz;
  if (blk->live == 0) { /* hand whole empty blocks back to the driver */
    struct ev_block **pp = &g->blocks;
    while (*pp && *pp != blk) pp = &(*pp)->next;
    if (*pp) *pp = blk->next;
    block_destroy(g, blk);
  }
  memset(b, 0, sizeof *b);
}

void ev_gpu_mem_stats(const ev_gpu *g, ev_mem_stats *s) {
  memset(s, 0, sizeof *s);
  for (struct ev_block *b = g->blocks; b; b = b->next) {
    s->blocks++;
    s->block_bytes += b->size;
  }
  s->live_allocs = g->live_allocs;
  s->live_bytes = g->live_bytes;
}

static ev_status check_range(const ev_buf *b, VkDeviceSize off, VkDeviceSize n, const char *op) {
  if (!b->block) return ev_fail(EV_ERR_ARG, "%s of an unallocated buffer", op);
  if (off > b->size || n > b->size - off)
    return ev_fail(EV_ERR_ARG, "%s of %llu bytes at %llu is outside a %llu-byte buffer", op,
                   (unsigned long long)n, (unsigned long long)off, (unsigned long long)b->size);
  return EV_OK;
}

ev_status ev_buf_upload(ev_gpu *g, ev_buf *b, VkDeviceSize off, const void *src, VkDeviceSize n) {
  EV_TRY(check_range(b, off, n, "upload"));
  if (b->host) {
    memcpy((char *)b->host + off, src, n);
    return EV_OK;
  }
  for (VkDeviceSize done = 0; done < n;) {
    VkDeviceSize chunk = n - done < g->staging_size ? n - done : g->staging_size;
    memcpy(g->staging_map, (const char *)src + done, chunk);
    VkCommandBuffer cmd;
    EV_TRY(ev_oneshot_begin(g, &cmd));
    VkBufferCopy r = {.srcOffset = 0, .dstOffset = b->offset + off + done, .size = chunk};
    vkCmdCopyBuffer(cmd, g->staging, b->buffer, 1, &r);
    EV_TRY(ev_oneshot_end(g, cmd));
    done += chunk;
  }
  return EV_OK;
}

ev_status ev_buf_download(ev_gpu *g, const ev_buf *b, VkDeviceSize off, void *dst, VkDeviceSize n) {
  EV_TRY(check_range(b, off, n, "download"));
  if (b->host) {
    memcpy(dst, (const char *)b->host + off, n);
    return EV_OK;
  }
  for (VkDeviceSize done = 0; done < n;) {
    VkDeviceSize chunk = n - done < g->staging_size ? n - done : g->staging_size;
    VkCommandBuffer cmd;
    EV_TRY(ev_oneshot_begin(g, &cmd));
    VkBufferCopy r = {.srcOffset = b->offset + off + done, .dstOffset = 0, .size = chunk};
    vkCmdCopyBuffer(cmd, b->buffer, g->staging, 1, &r);
    EV_TRY(ev_oneshot_end(g, cmd));
    memcpy((char *)dst + done, g->staging_map, chunk);
    done += chunk;
  }
  return EV_OK;
}

ev_status ev_buf_fill(ev_gpu *g, ev_buf *b, uint32_t word) {
  EV_TRY(check_range(b, 0, b->size, "fill"));
  VkDeviceSize words = b->size / 4;
  if (b->host) {
    uint32_t *p = b->host;
    for (VkDeviceSize i = 0; i < words; i++) p[i] = word;
    return EV_OK;
  }
  if (words == 0) return EV_OK;
  VkCommandBuffer cmd;
  EV_TRY(ev_oneshot_begin(g, &cmd));
  vkCmdFillBuffer(cmd, b->buffer, b->offset, words * 4, word);
  return ev_oneshot_end(g, cmd);
}

ev_status ev_buf_texel_view(ev_gpu *g, ev_buf *b, VkBufferView *view) {
  if (!b->texel_view) {
    if (b->size % 16)
      return ev_fail(EV_ERR_ARG, "a texel-buffer view needs a multiple of 16 bytes, got %llu",
                     (unsigned long long)b->size);
    if (b->size / 16 > g->caps.max_texel_buffer_elements)
      return ev_fail(EV_ERR_LIMIT,
                     "a %.1f MiB tensor exceeds this device's texel-buffer size (%llu texels)",
                     (double)b->size / (1 << 20),
                     (unsigned long long)g->caps.max_texel_buffer_elements);
    VkBufferViewCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
                                 .buffer = b->buffer,
                                 .format = VK_FORMAT_R32G32B32A32_SFLOAT,
                                 .offset = b->offset,
                                 .range = b->size};
    EV_VK(vkCreateBufferView(g->device, &ci, NULL, &b->texel_view));
  }
  *view = b->texel_view;
  return EV_OK;
}
