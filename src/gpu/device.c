/* Opening the chosen device: queue, command pool, memory, pipeline cache; closing it. */
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"

ev_status ev_enumerate_devices(VkInstance inst, VkPhysicalDevice **pds, ev_caps **caps,
                               uint32_t *n);
int ev_device_has_ext(VkPhysicalDevice pd, const char *name);

static ev_status create_device(ev_gpu *g) {
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(g->phys, &nq, NULL);
  VkQueueFamilyProperties qf[16];
  if (nq > 16) nq = 16;
  vkGetPhysicalDeviceQueueFamilyProperties(g->phys, &nq, qf);
  g->queue_family = UINT32_MAX;
  for (uint32_t i = 0; i < nq && g->queue_family == UINT32_MAX; i++)
    if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) g->queue_family = i;
  if (g->queue_family == UINT32_MAX)
    return ev_fail(EV_ERR_NODEVICE, "device '%s' has no compute queue", g->caps.name);
  if (qf[g->queue_family].timestampValidBits == 0) g->caps.timestamps = false;

  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                 .queueFamilyIndex = g->queue_family,
                                 .queueCount = 1,
                                 .pQueuePriorities = &prio};
  const char *exts[4];
  uint32_t n_exts = 0;
  /* a portability-subset implementation (MoltenVK) must have it enabled */
  if (ev_device_has_ext(g->phys, "VK_KHR_portability_subset"))
    exts[n_exts++] = "VK_KHR_portability_subset";
  int v13 = g->caps.api_version >= VK_API_VERSION_1_3;
  if (g->caps.subgroup_size_control && !v13)
    exts[n_exts++] = VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME;
  VkPhysicalDeviceSubgroupSizeControlFeatures sgf = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES,
      .subgroupSizeControl = VK_TRUE,
      .computeFullSubgroups = VK_TRUE};
  VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                            .pNext = g->caps.subgroup_size_control ? &sgf : NULL,
                            .queueCreateInfoCount = 1,
                            .pQueueCreateInfos = &qci,
                            .enabledExtensionCount = n_exts,
                            .ppEnabledExtensionNames = exts};
  EV_VK(vkCreateDevice(g->phys, &dci, NULL, &g->device));
  volkLoadDevice(g->device);
  vkGetDeviceQueue(g->device, g->queue_family, 0, &g->queue);
  VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                 .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                 .queueFamilyIndex = g->queue_family};
  EV_VK(vkCreateCommandPool(g->device, &pci, NULL, &g->cmd_pool));
  return EV_OK;
}

static ev_status check_texel_format(ev_gpu *g) {
  VkFormatProperties fp;
  vkGetPhysicalDeviceFormatProperties(g->phys, VK_FORMAT_R32G32B32A32_SFLOAT, &fp);
  if (!(fp.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT))
    return ev_fail(EV_ERR_NODEVICE, "device '%s' cannot read RGBA32F texel buffers",
                   g->caps.name);
  return EV_OK;
}

static ev_status open_chosen(ev_gpu *g, const char *selector) {
  VkPhysicalDevice *pds = NULL;
  ev_caps *caps = NULL;
  uint32_t n = 0, idx = 0;
  ev_status s = ev_enumerate_devices(g->instance, &pds, &caps, &n);
  if (s == EV_OK) s = ev_choose_device(caps, n, selector, &idx);
  if (s == EV_OK) {
    g->phys = pds[idx];
    g->caps = caps[idx];
    g->index = (int)idx;
  }
  free(pds);
  free(caps);
  EV_TRY(s);
  if (g->caps.api_version < VK_API_VERSION_1_1)
    return ev_fail(EV_ERR_NODEVICE, "device '%s' supports only Vulkan %u.%u; evonet needs 1.1",
                   g->caps.name, VK_API_VERSION_MAJOR(g->caps.api_version),
                   VK_API_VERSION_MINOR(g->caps.api_version));
  vkGetPhysicalDeviceMemoryProperties(g->phys, &g->mem_props);
  EV_TRY(check_texel_format(g));
  EV_TRY(create_device(g));
  EV_TRY(ev_memory_init(g));
  EV_TRY(ev_pipeline_cache_open(g));
  return EV_OK;
}

ev_status ev_gpu_open(const ev_gpu_options *opt, ev_gpu **out) {
  *out = NULL;
  ev_gpu *g = calloc(1, sizeof *g);
  if (!g) return ev_fail(EV_ERR_OOM, "out of memory");
  ev_tuning_from_env(&g->tuning); /* the one place the EVONET_* variables are read */
  int validate = opt && opt->validate ? opt->validate > 0 : g->tuning.validate;
  const char *sel = opt && opt->device ? opt->device : g->tuning.device_set ? g->tuning.device : NULL;
  g->profile = g->tuning.profile;
  ev_status s = ev_instance_create(validate, &g->instance, &g->messenger, g);
  if (s == EV_OK) s = open_chosen(g, sel);
  if (s != EV_OK) {
    ev_gpu_close(g);
    return s;
  }
  if (g->profile && !g->caps.timestamps)
    fprintf(stderr, "evonet: EVONET_PROFILE ignored: '%s' has no compute timestamps\n",
            g->caps.name);
  *out = g;
  return EV_OK;
}

void ev_gpu_close(ev_gpu *g) {
  if (!g) return;
  if (g->device) {
    (void)vkDeviceWaitIdle(g->device); /* best effort: a lost device still gets torn down */
    if (g->profile) ev_gpu_print_profile(g, stderr);
    ev_streams_destroy(g);
    ev_pipeline_cache_save(g);
    ev_pipelines_destroy(g);
    ev_memory_destroy(g);
    if (g->cmd_pool) vkDestroyCommandPool(g->device, g->cmd_pool, NULL);
    vkDestroyDevice(g->device, NULL);
  }
  if (g->messenger) vkDestroyDebugUtilsMessengerEXT(g->instance, g->messenger, NULL);
  if (g->instance) vkDestroyInstance(g->instance, NULL);
  free(g);
}

const ev_caps *ev_gpu_caps(const ev_gpu *g) { return &g->caps; }
int ev_gpu_index(const ev_gpu *g) { return g->index; }
const ev_tuning *ev_gpu_tuning(const ev_gpu *g) { return &g->tuning; }
ev_tuning *ev_gpu_tuning_mut(ev_gpu *g) { return &g->tuning; }
uint32_t ev_gpu_validation_errors(const ev_gpu *g) { return g->val_errors; }
uint32_t ev_gpu_validation_warnings(const ev_gpu *g) { return g->val_warnings; }

ev_status ev_oneshot_begin(ev_gpu *g, VkCommandBuffer *cmd) {
  VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                    .commandPool = g->cmd_pool,
                                    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                    .commandBufferCount = 1};
  EV_VK(vkAllocateCommandBuffers(g->device, &ai, cmd));
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VkResult r = vkBeginCommandBuffer(*cmd, &bi);
  if (r != VK_SUCCESS) vkFreeCommandBuffers(g->device, g->cmd_pool, 1, cmd);
  EV_VK(r);
  return EV_OK;
}

/* Waits in slices so a hung device is reported instead of blocking forever. */
ev_status ev_wait_fence(ev_gpu *g, VkFence f) {
  const uint64_t slice = 10ull * 1000 * 1000 * 1000; /* 10 s */
  for (int i = 0; i < 60; i++) {                      /* 10 minutes */
    VkResult r = vkWaitForFences(g->device, 1, &f, VK_TRUE, slice);
    if (r == VK_SUCCESS) return EV_OK;
    if (r != VK_TIMEOUT) EV_VK(r);
  }
  return ev_fail(EV_ERR_DEVICE_LOST, "the device did not finish a submission in 10 minutes");
}

ev_status ev_oneshot_end(ev_gpu *g, VkCommandBuffer cmd) {
  VkFence fence = VK_NULL_HANDLE;
  ev_status s = EV_OK;
  VkResult r = vkEndCommandBuffer(cmd);
  VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  if (r == VK_SUCCESS) r = vkCreateFence(g->device, &fci, NULL, &fence);
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                     .commandBufferCount = 1,
                     .pCommandBuffers = &cmd};
  if (r == VK_SUCCESS) r = vkQueueSubmit(g->queue, 1, &si, fence);
  if (r != VK_SUCCESS) s = ev_vk_fail(__FILE__, __LINE__, "vkQueueSubmit(transfer)", r);
  else s = ev_wait_fence(g, fence);
  if (fence) vkDestroyFence(g->device, fence, NULL);
  vkFreeCommandBuffers(g->device, g->cmd_pool, 1, &cmd);
  return s;
}
