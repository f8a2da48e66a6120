/* Compute pipelines from embedded SPIR-V (specialization + push constants), created once
 * per distinct description, and the on-disk VkPipelineCache. */
#include <stdlib.h>
#include <string.h>

#include "evonet/io.h"
#include "evonet/shaders.h"
#include "gpu_internal.h"

static int same_desc(const ev_pipeline_desc *a, const ev_pipeline_desc *b) {
  return strcmp(a->shader, b->shader) == 0 && strcmp(a->bindings, b->bindings) == 0 &&
         a->push_size == b->push_size && a->n_spec == b->n_spec &&
         memcmp(a->spec, b->spec, a->n_spec * sizeof a->spec[0]) == 0 &&
         a->local_size_x == b->local_size_x && a->local_size_y == b->local_size_y &&
         a->local_size_z == b->local_size_z &&
         a->require_full_subgroups == b->require_full_subgroups;
}

static ev_status create(ev_gpu *g, ev_pipeline *p) {
  const ev_pipeline_desc *d = &p->desc;
  const ev_shader_code *code = ev_shader_find(d->shader);
  if (!code) return ev_fail(EV_ERR_ARG, "no shader named '%s' is built in", d->shader);
  VkDescriptorSetLayoutBinding b[EV_MAX_BINDINGS];
  for (uint32_t i = 0; i < p->n_bindings; i++)
    b[i] = (VkDescriptorSetLayoutBinding){
        .binding = i,
        .descriptorType = p->bindings[i] == 't' ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                                                : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .descriptorCount = 1,
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
  VkDescriptorSetLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                         .bindingCount = p->n_bindings,
                                         .pBindings = b};
  EV_VK(vkCreateDescriptorSetLayout(g->device, &lci, NULL, &p->set_layout));
  VkPushConstantRange pc = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = d->push_size};
  VkPipelineLayoutCreateInfo plci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                     .setLayoutCount = 1,
                                     .pSetLayouts = &p->set_layout,
                                     .pushConstantRangeCount = d->push_size ? 1 : 0,
                                     .pPushConstantRanges = &pc};
  EV_VK(vkCreatePipelineLayout(g->device, &plci, NULL, &p->layout));
  VkShaderModuleCreateInfo smci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = *code->size,
                                   .pCode = code->words};
  VkShaderModule mod;
  EV_VK(vkCreateShaderModule(g->device, &smci, NULL, &mod));

  VkSpecializationMapEntry me[EV_MAX_SPEC + 3];
  uint32_t data[EV_MAX_SPEC + 3], n = 0;
  for (uint32_t i = 0; i < d->n_spec; i++, n++) {
    me[n] = (VkSpecializationMapEntry){.constantID = i, .offset = n * 4, .size = 4};
    data[n] = d->spec[i];
  }
  const uint32_t ls[3] = {d->local_size_x, d->local_size_y, d->local_size_z};
  for (uint32_t i = 0; i < 3; i++)
    if (ls[i]) {
      me[n] = (VkSpecializationMapEntry){.constantID = 100 + i, .offset = n * 4, .size = 4};
      data[n++] = ls[i];
    }
  VkSpecializationInfo si = {.mapEntryCount = n, .pMapEntries = me, .dataSize = n * 4, .pData = data};
  VkComputePipelineCreateInfo ci = {
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .flags = d->require_full_subgroups
                             ? VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT
                             : 0,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = mod,
                .pName = "main",
                .pSpecializationInfo = n ? &si : NULL},
      .layout = p->layout};
  VkResult r = vkCreateComputePipelines(g->device, g->cache, 1, &ci, NULL, &p->pipeline);
  vkDestroyShaderModule(g->device, mod, NULL);
  EV_VK(r);
  return EV_OK;
}

static void destroy_one(ev_gpu *g, ev_pipeline *p) {
  if (p->pipeline) vkDestroyPipeline(g->device, p->pipeline, NULL);
  if (p->layout) vkDestroyPipelineLayout(g->device, p->layout, NULL);
  if (p->set_layout) vkDestroyDescriptorSetLayout(g->device, p->set_layout, NULL);
  free(p);
}

ev_status ev_pipeline_get(ev_gpu *g, const ev_pipeline_desc *d, ev_pipeline **out) {
  *out = NULL;
  if (!d->shader || !d->bindings) return ev_fail(EV_ERR_ARG, "pipeline without shader or bindings");
  for (ev_pipeline *p = g->pipelines; p; p = p->next)
    if (same_desc(&p->desc, d)) {
      *out = p;
      return EV_OK;
    }
  size_t nb = strlen(d->bindings);
  if (nb > EV_MAX_BINDINGS || d->n_spec > EV_MAX_SPEC || d->push_size % 4)
    return ev_fail(EV_ERR_ARG, "bad pipeline description for '%s'", d->shader);
  for (size_t i = 0; i < nb; i++)
    if (!strchr("rwxt", d->bindings[i]))
      return ev_fail(EV_ERR_ARG, "bad binding kind '%c' for '%s'", d->bindings[i], d->shader);
  if (d->push_size > g->caps.max_push_constants_size)
    return ev_fail(EV_ERR_LIMIT, "'%s' needs %u push-constant bytes; device allows %u",
                   d->shader, d->push_size, g->caps.max_push_constants_size);
  uint64_t inv = (uint64_t)(d->local_size_x ? d->local_size_x : 1) *
                 (d->local_size_y ? d->local_size_y : 1) * (d->local_size_z ? d->local_size_z : 1);
  if (inv > g->caps.max_workgroup_invocations || d->local_size_x > g->caps.max_workgroup_size[0] ||
      d->local_size_y > g->caps.max_workgroup_size[1] || d->local_size_z > g->caps.max_workgroup_size[2])
    return ev_fail(EV_ERR_LIMIT, "'%s' workgroup %ux%ux%u exceeds the device's limits", d->shader,
                   d->local_size_x, d->local_size_y, d->local_size_z);
  if (d->require_full_subgroups && !g->caps.subgroup_size_control)
    return ev_fail(EV_ERR_LIMIT, "'%s' needs full subgroups, which '%s' cannot guarantee",
                   d->shader, g->caps.name);
  ev_pipeline *p = calloc(1, sizeof *p);
  if (!p) return ev_fail(EV_ERR_OOM, "out of memory");
  p->desc = *d;
  snprintf(p->name, sizeof p->name, "%s", d->shader);
  snprintf(p->bindings, sizeof p->bindings, "%s", d->bindings);
  p->desc.shader = p->name;
  p->desc.bindings = p->bindings;
  p->n_bindings = (uint32_t)nb;
  ev_status s = create(g, p);
  if (s != EV_OK) {
    destroy_one(g, p);
    return s;
  }
  p->next = g->pipelines;
  g->pipelines = p;
  *out = p;
  return EV_OK;
}

const char *ev_pipeline_name(const ev_pipeline *p) { return p->name; }

void ev_pipelines_destroy(ev_gpu *g) {
  for (ev_pipeline *p = g->pipelines, *n; p; p = n) {
    n = p->next;
    destroy_one(g, p);
  }
  g->pipelines = NULL;
  if (g->cache) vkDestroyPipelineCache(g->device, g->cache, NULL);
  g->cache = VK_NULL_HANDLE;
}

/* ---- on-disk cache: our header (magic, length, FNV-1a checksum) + the driver's blob, so a
 * truncated, corrupt or foreign file is ignored instead of handed to the driver ---- */
#define CACHE_MAGIC 0x43505645u /* "EVPC" */
typedef struct {
  uint32_t magic, version;
  uint64_t size, checksum;
} cache_header;

static uint64_t fnv1a(const void *data, size_t n) {
  const unsigned char *p = data;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static void cache_path(ev_gpu *g) {
  char dir[3500];
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/evonet", xdg);
  else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/evonet", home);
  else {
    g->cache_path[0] = 0;
    return;
  }
  char uuid[2 * VK_UUID_SIZE + 1];
  for (unsigned i = 0; i < VK_UUID_SIZE; i++) snprintf(uuid + 2 * i, 3, "%02x", g->caps.uuid[i]);
  snprintf(g->cache_path, sizeof g->cache_path, "%s/pipelines-%s-%08x.bin", dir, uuid,
           g->caps.driver_version);
}

/* The driver's own header must name this device, or the blob is not ours to give it. */
static int blob_matches(ev_gpu *g, const unsigned char *blob, size_t n) {
  if (n < 16 + VK_UUID_SIZE) return 0;
  uint32_t hsize, hver, vendor, device;
  memcpy(&hsize, blob, 4);
  memcpy(&hver, blob + 4, 4);
  memcpy(&vendor, blob + 8, 4);
  memcpy(&device, blob + 12, 4);
  return hsize >= 16 + VK_UUID_SIZE && hsize <= n && hver == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
         vendor == g->caps.vendor_id && device == g->caps.device_id;
}

ev_status ev_pipeline_cache_open(ev_gpu *g) {
  cache_path(g);
  void *data = NULL;
  size_t n = 0;
  const void *init = NULL;
  size_t init_n = 0;
  if (g->cache_path[0] && !g->tuning.no_pipeline_cache) {
    ev_status s = ev_read_file(g->cache_path, &data, &n);
    ev_clear_error(); /* a missing cache is normal */
    if (s == EV_OK && n >= sizeof(cache_header)) {
      cache_header h;
      memcpy(&h, data, sizeof h);
      const unsigned char *blob = (const unsigned char *)data + sizeof h;
      if (h.magic == CACHE_MAGIC && h.version == 1 && h.size == n - sizeof h &&
          h.checksum == fnv1a(blob, h.size) && blob_matches(g, blob, h.size)) {
        init = blob;
        init_n = h.size;
      }
    }
  }
  VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                  .initialDataSize = init_n,
                                  .pInitialData = init};
  VkResult r = vkCreatePipelineCache(g->device, &ci, NULL, &g->cache);
  if (r != VK_SUCCESS && init) { /* the driver refused the blob: start empty */
    ci.initialDataSize = 0;
    ci.pInitialData = NULL;
    r = vkCreatePipelineCache(g->device, &ci, NULL, &g->cache);
  }
  free(data);
  EV_VK(r);
  return EV_OK;
}

void ev_pipeline_cache_save(ev_gpu *g) {
  if (!g->cache || !g->cache_path[0] || g->tuning.no_pipeline_cache) return;
  size_t n = 0;
  if (vkGetPipelineCacheData(g->device, g->cache, &n, NULL) != VK_SUCCESS || n == 0) return;
  unsigned char *buf = malloc(sizeof(cache_header) + n);
  if (!buf) return;
  VkResult r = vkGetPipelineCacheData(g->device, g->cache, &n, buf + sizeof(cache_header));
  if (r == VK_SUCCESS) {
    cache_header h = {CACHE_MAGIC, 1, n, fnv1a(buf + sizeof(cache_header), n)};
    memcpy(buf, &h, sizeof h);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", g->cache_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    /* a cache we cannot write only costs compile time next run: not an error */
    if (ev_mkdirs(dir) != EV_OK || ev_write_file_atomic(g->cache_path, buf, sizeof h + n) != EV_OK)
      ev_clear_error();
  }
  free(buf);
}
