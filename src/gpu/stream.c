/* Command streams: many dispatches in one command buffer, a barrier only where a dispatch
 * touches memory an earlier one wrote (or writes memory an earlier one read), one fence
 * wait per submission, optional per-dispatch timestamps. */
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"

ev_status ev_wait_fence(ev_gpu *g, VkFence f);

/* Dispatches per submission: a long training step is cut into several so no single
 * submission runs long enough to trip a desktop GPU's watchdog. */
#define EV_MAX_DISPATCH 512
#define EV_SETS_PER_POOL 256

/* EVONET_PROFILE rows: one per distinct (pipeline, workgroup counts, push constants), so
 * the specialisations and layer shapes of one shader show as separate rows. A side table
 * (profiling only, one thread records at a time) maps each timed dispatch to its row. */
#define EV_PROF_ROWS 1024
#define EV_PROF_PUSH 12
typedef struct {
  const ev_pipeline *p;
  uint32_t groups[3], push_hash, push[EV_PROF_PUSH], n_push;
  uint64_t ns, count;
} prof_row;
static prof_row prof_rows[EV_PROF_ROWS];
static uint32_t prof_n_rows;
typedef struct {
  const ev_stream *s;
  uint32_t row[EV_MAX_DISPATCH];
} prof_map;
static prof_map prof_maps[16];

static prof_map *prof_map_of(const ev_stream *s) {
  for (int i = 0; i < 16; i++)
    if (prof_maps[i].s == s) return &prof_maps[i];
  for (int i = 0; i < 16; i++)
    if (!prof_maps[i].s) {
      prof_maps[i].s = s;
      return &prof_maps[i];
    }
  return NULL;
}

static uint32_t prof_row_of(const ev_pipeline *p, const uint32_t groups[3], const void *push) {
  uint32_t n = p->desc.push_size / 4, h = 2166136261u;
  const uint32_t *w = push;
  for (uint32_t i = 0; i < n; i++) h = (h ^ w[i]) * 16777619u;
  for (uint32_t i = 0; i < prof_n_rows; i++) {
    prof_row *r = &prof_rows[i];
    if (r->p == p && r->push_hash == h && !memcmp(r->groups, groups, sizeof r->groups)) return i;
  }
  if (prof_n_rows == EV_PROF_ROWS) return UINT32_MAX;
  prof_row *r = &prof_rows[prof_n_rows];
  *r = (prof_row){.p = p, .push_hash = h, .n_push = n < EV_PROF_PUSH ? n : EV_PROF_PUSH};
  memcpy(r->groups, groups, sizeof r->groups);
  if (n) memcpy(r->push, w, r->n_push * 4);
  return prof_n_rows++;
}

static ev_status new_pool(ev_stream *s) {
  VkDescriptorPoolSize sizes[2] = {
      {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, EV_SETS_PER_POOL * EV_MAX_BINDINGS},
      {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, EV_SETS_PER_POOL * EV_MAX_BINDINGS}};
  VkDescriptorPoolCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                   .maxSets = EV_SETS_PER_POOL,
                                   .poolSizeCount = 2,
                                   .pPoolSizes = sizes};
  VkDescriptorPool *np = realloc(s->pools, (s->n_pools + 1) * sizeof *np);
  if (!np) return ev_fail(EV_ERR_OOM, "out of memory");
  s->pools = np;
  EV_VK(vkCreateDescriptorPool(s->g->device, &ci, NULL, &s->pools[s->n_pools]));
  s->n_pools++;
  return EV_OK;
}

static ev_status begin_recording(ev_stream *s) {
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  EV_VK(vkBeginCommandBuffer(s->cmd, &bi));
  if (s->queries) vkCmdResetQueryPool(s->cmd, s->queries, 0, 2 * EV_MAX_DISPATCH);
  s->recording = 1;
  s->n_dispatch = 0;
  s->n_reads = s->n_writes = 0;
  s->cur_pool = 0;
  return EV_OK;
}

static void stream_free(ev_gpu *g, ev_stream *s) {
  for (int i = 0; i < 16; i++)
    if (prof_maps[i].s == s) prof_maps[i].s = NULL;
  for (uint32_t i = 0; i < s->n_pools; i++) vkDestroyDescriptorPool(g->device, s->pools[i], NULL);
  if (s->queries) vkDestroyQueryPool(g->device, s->queries, NULL);
  if (s->fence) vkDestroyFence(g->device, s->fence, NULL);
  if (s->cmd) vkFreeCommandBuffers(g->device, g->cmd_pool, 1, &s->cmd);
  free(s->pools);
  free(s->timed);
  free(s->reads);
  free(s->writes);
  free(s);
}

static ev_status stream_create(ev_gpu *g, ev_stream **out) {
  ev_stream *s = calloc(1, sizeof *s);
  if (!s) return ev_fail(EV_ERR_OOM, "out of memory");
  s->g = g;
  *out = s;
  VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                    .commandPool = g->cmd_pool,
                                    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                    .commandBufferCount = 1};
  EV_VK(vkAllocateCommandBuffers(g->device, &ai, &s->cmd));
  VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  EV_VK(vkCreateFence(g->device, &fci, NULL, &s->fence));
  if (g->profile && g->caps.timestamps) {
    VkQueryPoolCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                 .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                 .queryCount = 2 * EV_MAX_DISPATCH};
    EV_VK(vkCreateQueryPool(g->device, &qci, NULL, &s->queries));
    s->timed = calloc(EV_MAX_DISPATCH, sizeof *s->timed);
    if (!s->timed) return ev_fail(EV_ERR_OOM, "out of memory");
  }
  s->cap_spans = 64;
  s->reads = malloc(s->cap_spans * sizeof *s->reads);
  s->writes = malloc(s->cap_spans * sizeof *s->writes);
  if (!s->reads || !s->writes) return ev_fail(EV_ERR_OOM, "out of memory");
  return new_pool(s);
}

ev_status ev_stream_begin(ev_gpu *g, ev_stream **out) {
  *out = NULL;
  ev_stream *s = g->free_streams;
  if (s) {
    g->free_streams = s->next_free;
  } else {
    ev_status st = stream_create(g, &s);
    if (st != EV_OK) {
      if (s) stream_free(g, s);
      return st;
    }
  }
  ev_status st = begin_recording(s);
  if (st != EV_OK) {
    stream_free(g, s);
    return st;
  }
  *out = s;
  return EV_OK;
}

void ev_streams_destroy(ev_gpu *g) {
  for (ev_stream *s = g->free_streams, *n; s; s = n) {
    n = s->next_free;
    stream_free(g, s);
  }
  g->free_streams = NULL;
}

static int overlaps(const ev_span *list, uint32_t n, const ev_span *x) {
  for (uint32_t i = 0; i < n; i++)
    if (list[i].buffer == x->buffer && list[i].off < x->end && x->off < list[i].end) return 1;
  return 0;
}

static ev_status push_span(ev_stream *s, ev_span **list, uint32_t *n, ev_span x) {
  if (overlaps(*list, *n, &x)) return EV_OK;
  if (*n == s->cap_spans) { /* both lists share the capacity */
    uint32_t cap = 2 * s->cap_spans;
    ev_span *r = realloc(s->reads, cap * sizeof *r);
    if (r) s->reads = r;
    ev_span *w = realloc(s->writes, cap * sizeof *w);
    if (w) s->writes = w;
    if (!r || !w) return ev_fail(EV_ERR_OOM, "out of memory");
    s->cap_spans = cap;
  }
  (*list)[(*n)++] = x;
  return EV_OK;
}

static ev_status alloc_set(ev_stream *s, ev_pipeline *p, VkDescriptorSet *set) {
  for (;;) {
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = s->pools[s->cur_pool],
                                      .descriptorSetCount = 1,
                                      .pSetLayouts = &p->set_layout};
    VkResult r = vkAllocateDescriptorSets(s->g->device, &ai, set);
    if (r == VK_SUCCESS) return EV_OK;
    if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) EV_VK(r);
    if (++s->cur_pool == s->n_pools) EV_TRY(new_pool(s));
  }
}

ev_status ev_dispatch(ev_stream *s, ev_pipeline *p, const uint32_t groups[3], ev_buf *const *bufs,
                      const void *push) {
  ev_gpu *g = s->g;
  if (!s->recording) return ev_fail(EV_ERR_ARG, "dispatch on a stream that is not recording");
  for (int i = 0; i < 3; i++) {
    if (groups[i] == 0)
      return ev_fail(EV_ERR_ARG, "'%s': empty dispatch (a zero-sized tensor?)", p->name);
    if (groups[i] > g->caps.max_workgroup_count[i])
      return ev_fail(EV_ERR_LIMIT, "'%s' needs %u workgroups along %c; the device allows %u",
                     p->name, groups[i], "xyz"[i], g->caps.max_workgroup_count[i]);
  }
  if (s->n_dispatch == EV_MAX_DISPATCH) EV_TRY(ev_stream_flush(s));

  VkDescriptorSet set;
  EV_TRY(alloc_set(s, p, &set));
  VkWriteDescriptorSet w[EV_MAX_BINDINGS];
  VkDescriptorBufferInfo bi[EV_MAX_BINDINGS];
  VkBufferView views[EV_MAX_BINDINGS];
  int need_barrier = 0;
  for (uint32_t i = 0; i < p->n_bindings; i++) {
    ev_buf *b = bufs[i];
    if (!b || !b->block)
      return ev_fail(EV_ERR_ARG, "'%s': binding %u has no buffer", p->name, i);
    char k = p->bindings[i];
    w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                  .dstSet = set,
                                  .dstBinding = i,
                                  .descriptorCount = 1};
    if (k == 't') {
      EV_TRY(ev_buf_texel_view(g, b, &views[i]));
      w[i].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
      w[i].pTexelBufferView = &views[i];
    } else {
      bi[i] = (VkDescriptorBufferInfo){b->buffer, b->offset, b->size};
      w[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      w[i].pBufferInfo = &bi[i];
    }
    ev_span sp = {b->buffer, b->offset, b->offset + b->size};
    int reads = k != 'w', writes = k == 'w' || k == 'x';
    if (reads && overlaps(s->writes, s->n_writes, &sp)) need_barrier = 1;
    if (writes && (overlaps(s->writes, s->n_writes, &sp) || overlaps(s->reads, s->n_reads, &sp)))
      need_barrier = 1;
  }
  vkUpdateDescriptorSets(g->device, p->n_bindings, w, 0, NULL);
  if (need_barrier) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    vkCmdPipelineBarrier(s->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    s->n_reads = s->n_writes = 0;
  }
  for (uint32_t i = 0; i < p->n_bindings; i++) {
    ev_buf *b = bufs[i];
    char k = p->bindings[i];
    ev_span sp = {b->buffer, b->offset, b->offset + b->size};
    if (k != 'w') EV_TRY(push_span(s, &s->reads, &s->n_reads, sp));
    if (k == 'w' || k == 'x') EV_TRY(push_span(s, &s->writes, &s->n_writes, sp));
  }
  vkCmdBindPipeline(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
  vkCmdBindDescriptorSets(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
  if (p->desc.push_size)
    vkCmdPushConstants(s->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, p->desc.push_size, push);
  if (s->queries) {
    vkCmdWriteTimestamp(s->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, s->queries, 2 * s->n_dispatch);
    s->timed[s->n_dispatch] = p;
    prof_map *pm = prof_map_of(s);
    if (pm) pm->row[s->n_dispatch] = prof_row_of(p, groups, push);
  }
  vkCmdDispatch(s->cmd, groups[0], groups[1], groups[2]);
  if (s->queries)
    vkCmdWriteTimestamp(s->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, s->queries,
                        2 * s->n_dispatch + 1);
  s->n_dispatch++;
  return EV_OK;
}

static ev_status collect_times(ev_stream *s) {
  if (!s->queries || s->n_dispatch == 0) return EV_OK;
  uint64_t *t = malloc(2 * s->n_dispatch * sizeof *t);
  if (!t) return ev_fail(EV_ERR_OOM, "out of memory");
  VkResult r = vkGetQueryPoolResults(s->g->device, s->queries, 0, 2 * s->n_dispatch,
                                     2 * s->n_dispatch * sizeof *t, t, sizeof *t,
                                     VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
  if (r == VK_SUCCESS)
    for (uint32_t i = 0; i < s->n_dispatch; i++) {
      double ns = (double)(t[2 * i + 1] - t[2 * i]) * s->g->caps.timestamp_period_ns;
      s->timed[i]->prof_ns += (uint64_t)(ns > 0 ? ns : 0);
      s->timed[i]->prof_count++;
      prof_map *pm = prof_map_of(s);
      if (pm && pm->row[i] < prof_n_rows) {
        prof_rows[pm->row[i]].ns += (uint64_t)(ns > 0 ? ns : 0);
        prof_rows[pm->row[i]].count++;
      }
    }
  free(t);
  EV_VK(r);
  return EV_OK;
}

/* End, submit, wait; the command buffer and pools are reset for reuse either way. */
static ev_status submit_wait(ev_stream *s) {
  ev_gpu *g = s->g;
  s->recording = 0;
  VkResult r = vkEndCommandBuffer(s->cmd);
  ev_status st = EV_OK;
  if (r != VK_SUCCESS) st = ev_vk_fail(__FILE__, __LINE__, "vkEndCommandBuffer", r);
  if (st == EV_OK && s->n_dispatch > 0) {
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &s->cmd};
    r = vkQueueSubmit(g->queue, 1, &si, s->fence);
    if (r != VK_SUCCESS) st = ev_vk_fail(__FILE__, __LINE__, "vkQueueSubmit", r);
    if (st == EV_OK) st = ev_wait_fence(g, s->fence);
    if (st == EV_OK) st = collect_times(s);
    if (st == EV_OK) {
      r = vkResetFences(g->device, 1, &s->fence);
      if (r != VK_SUCCESS) st = ev_vk_fail(__FILE__, __LINE__, "vkResetFences", r);
    }
  }
  if (st == EV_OK) {
    r = vkResetCommandBuffer(s->cmd, 0);
    if (r != VK_SUCCESS) st = ev_vk_fail(__FILE__, __LINE__, "vkResetCommandBuffer", r);
  }
  for (uint32_t i = 0; st == EV_OK && i < s->n_pools; i++) {
    r = vkResetDescriptorPool(g->device, s->pools[i], 0);
    if (r != VK_SUCCESS) st = ev_vk_fail(__FILE__, __LINE__, "vkResetDescriptorPool", r);
  }
  return st;
}

ev_status ev_stream_flush(ev_stream *s) {
  EV_TRY(submit_wait(s));
  return begin_recording(s);
}

static void release(ev_stream *s, int reusable) {
  ev_gpu *g = s->g;
  if (reusable) {
    s->next_free = g->free_streams;
    g->free_streams = s;
  } else {
    (void)vkDeviceWaitIdle(g->device); /* best effort before freeing in-flight objects */
    stream_free(g, s);
  }
}

ev_status ev_stream_submit(ev_stream *s) {
  ev_status st = submit_wait(s);
  release(s, st == EV_OK);
  return st;
}

void ev_stream_abort(ev_stream *s) {
  if (!s) return;
  /* a recording command buffer cannot be reused without a reset: free the stream */
  release(s, 0);
}

void ev_gpu_print_profile(const ev_gpu *g, void *stream) {
  FILE *f = stream;
  uint64_t total = 0;
  for (ev_pipeline *p = g->pipelines; p; p = p->next) total += p->prof_ns;
  if (!total) return;
  fprintf(f, "\nevonet profile on %s (GPU timestamps)\n", g->caps.name);
  fprintf(f, "%-28s %10s %12s %12s %7s\n", "kernel", "calls", "total ms", "mean us", "share");
  /* print in descending total time: selection over the short list */
  const ev_pipeline *done[512];
  int n_done = 0;
  for (;;) {
    const ev_pipeline *best = NULL;
    for (const ev_pipeline *p = g->pipelines; p; p = p->next) {
      int seen = 0;
      for (int i = 0; i < n_done; i++) seen |= done[i] == p;
      if (!seen && p->prof_count && (!best || p->prof_ns > best->prof_ns)) best = p;
    }
    if (!best || n_done == 512) break;
    done[n_done++] = best;
    fprintf(f, "%-28s %10llu %12.3f %12.1f %6.1f%%\n", best->name,
            (unsigned long long)best->prof_count, best->prof_ns / 1e6,
            best->prof_ns / 1e3 / best->prof_count, 100.0 * best->prof_ns / total);
  }
  fprintf(f, "%-28s %10s %12.3f\n", "total", "", total / 1e6);
  /* the same time split by specialisation, workgroups and push constants (sizes) */
  fprintf(f, "\nby dispatch shape: kernel{spec} groups [first push constants]\n");
  uint64_t tot2 = 0;
  for (uint32_t i = 0; i < prof_n_rows; i++) tot2 += prof_rows[i].ns;
  static char done2[EV_PROF_ROWS], labs[EV_PROF_ROWS][256];
  static uint64_t ns2[EV_PROF_ROWS], count2[EV_PROF_ROWS];
  memset(done2, 0, sizeof done2);
  for (uint32_t k = 0; k < prof_n_rows; k++) {
    const prof_row *r = &prof_rows[k];
    char *lab = labs[k];
    int ours = 0; /* rows of another (closed) device's pipelines are not printed */
    for (const ev_pipeline *q = g->pipelines; q && !ours; q = q->next) ours = q == r->p;
    ns2[k] = 0, count2[k] = 0;
    if (!ours) continue;
    int o = snprintf(lab, 256, "%s{", r->p->name);
    for (uint32_t i = 0; i < r->p->desc.n_spec && o < 200; i++)
      o += snprintf(lab + o, 256 - o, "%s%u", i ? "," : "", r->p->desc.spec[i]);
    o += snprintf(lab + o, 256 - o, "} %ux%ux%u [", r->groups[0], r->groups[1], r->groups[2]);
    /* sizes only: stop at the first word that looks like a float (an lr, a step) */
    for (uint32_t i = 0; i < r->n_push && o < 250 && (int)r->push[i] > -(1 << 20) && (int)r->push[i] < (1 << 24); i++)
      o += snprintf(lab + o, 256 - o, "%s%d", i ? " " : "", (int)r->push[i]);
    snprintf(lab + o, 256 - o, "]");
    ns2[k] = r->ns, count2[k] = r->count;
    for (uint32_t j = 0; j < k; j++) /* same label: one row */
      if (count2[j] && !strcmp(labs[j], lab)) {
        ns2[j] += ns2[k], count2[j] += count2[k];
        count2[k] = 0;
        break;
      }
  }
  for (;;) {
    int best = -1;
    for (uint32_t i = 0; i < prof_n_rows; i++)
      if (!done2[i] && count2[i] && (best < 0 || ns2[i] > ns2[best])) best = (int)i;
    if (best < 0 || !tot2) break;
    done2[best] = 1;
    fprintf(f, "%-78s %6llu %10.3f %10.1f %5.1f%%\n", labs[best], (unsigned long long)count2[best],
            ns2[best] / 1e6, ns2[best] / 1e3 / count2[best], 100.0 * ns2[best] / tot2);
  }
  prof_n_rows = 0; /* printed when the device closes: its pipelines go with it */
}

ev_gpu *ev_stream_gpu(const ev_stream *s) { return s->g; }

uint32_t ev_gpu_elementwise_wg(const ev_gpu *g) {
  uint32_t wg = 64, sg = g->caps.subgroup_size ? g->caps.subgroup_size : 1;
  if (wg < sg) wg = sg;
  if (wg > g->caps.max_workgroup_invocations) wg = g->caps.max_workgroup_invocations;
  if (wg > g->caps.max_workgroup_size[0]) wg = g->caps.max_workgroup_size[0];
  return wg;
}

uint32_t ev_gpu_grid_groups(const ev_gpu *g, uint64_t total, uint32_t wg) {
  uint64_t n = ev_div_up(total, wg), cap = g->caps.max_workgroup_count[0];
  return (uint32_t)(n < cap ? n : cap);
}
