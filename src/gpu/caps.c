/* The caps struct: everything kernels choose tiles from, read from the device. */
#include <string.h>

#include "gpu_internal.h"

static int has_device_ext(VkPhysicalDevice pd, const char *name) {
  uint32_t n = 0;
  if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || !n) return 0;
  VkExtensionProperties p[512];
  if (n > 512) n = 512;
  VkResult r = vkEnumerateDeviceExtensionProperties(pd, NULL, &n, p);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) return 0;
  for (uint32_t i = 0; i < n; i++)
    if (strcmp(p[i].extensionName, name) == 0) return 1;
  return 0;
}

int ev_device_has_ext(VkPhysicalDevice pd, const char *name) { return has_device_ext(pd, name); }

ev_status ev_read_caps(VkPhysicalDevice pd, ev_caps *c) {
  memset(c, 0, sizeof *c);
  VkPhysicalDeviceProperties base;
  vkGetPhysicalDeviceProperties(pd, &base);
  uint32_t api = base.apiVersion;
  if (api < VK_API_VERSION_1_1) {
    /* subgroup properties need 1.1: report what we can, callers refuse such devices */
    snprintf(c->name, sizeof c->name, "%s", base.deviceName);
    c->api_version = api;
    c->type = base.deviceType;
    return EV_OK;
  }
  int v12 = api >= VK_API_VERSION_1_2, v13 = api >= VK_API_VERSION_1_3;
  int ext_sgsc = v13 || has_device_ext(pd, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
  int ext_drv = v12 || has_device_ext(pd, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
  int ext_f16 = v12 || has_device_ext(pd, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);

  VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceSubgroupSizeControlProperties sgsc = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
  VkPhysicalDeviceIDProperties idp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
  VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                    .pNext = &sg};
  sg.pNext = &idp;
  void **tail = &idp.pNext;
  if (ext_drv) { *tail = &drv; tail = &drv.pNext; }
  if (ext_sgsc) { *tail = &sgsc; tail = &sgsc.pNext; }
  vkGetPhysicalDeviceProperties2(pd, &p2);

  VkPhysicalDeviceShaderFloat16Int8Features f16 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
  VkPhysicalDeviceSubgroupSizeControlFeatures sgf = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
  VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  tail = &f2.pNext;
  if (ext_f16) { *tail = &f16; tail = &f16.pNext; }
  if (ext_sgsc) { *tail = &sgf; tail = &sgf.pNext; }
  vkGetPhysicalDeviceFeatures2(pd, &f2);

  const VkPhysicalDeviceLimits *L = &base.limits;
  snprintf(c->name, sizeof c->name, "%s", base.deviceName);
  if (ext_drv) {
    snprintf(c->driver_name, sizeof c->driver_name, "%s", drv.driverName);
    snprintf(c->driver_info, sizeof c->driver_info, "%s", drv.driverInfo);
  }
  c->vendor_id = base.vendorID;
  c->device_id = base.deviceID;
  c->driver_version = base.driverVersion;
  c->api_version = api;
  c->type = base.deviceType;
  memcpy(c->uuid, idp.deviceUUID, VK_UUID_SIZE);
  c->is_cpu = base.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  c->subgroup_size = sg.subgroupSize;
  c->subgroup_ops = sg.supportedOperations;
  c->subgroup_stages = sg.supportedStages;
  c->subgroup_size_control = ext_sgsc && sgf.subgroupSizeControl && sgf.computeFullSubgroups;
  c->min_subgroup_size = ext_sgsc ? sgsc.minSubgroupSize : sg.subgroupSize;
  c->max_subgroup_size = ext_sgsc ? sgsc.maxSubgroupSize : sg.subgroupSize;
  c->max_shared_memory = L->maxComputeSharedMemorySize;
  c->max_storage_buffer_range = L->maxStorageBufferRange;
  c->max_texel_buffer_elements = L->maxTexelBufferElements;
  VkPhysicalDeviceMaintenance3Properties m3 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceProperties2 p2b = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                     .pNext = &m3};
  vkGetPhysicalDeviceProperties2(pd, &p2b);
  c->max_memory_allocation_size = m3.maxMemoryAllocationSize;
  c->max_memory_allocation_count = L->maxMemoryAllocationCount;
  for (int i = 0; i < 3; i++) {
    c->max_workgroup_count[i] = L->maxComputeWorkGroupCount[i];
    c->max_workgroup_size[i] = L->maxComputeWorkGroupSize[i];
  }
  c->max_workgroup_invocations = L->maxComputeWorkGroupInvocations;
  c->max_push_constants_size = L->maxPushConstantsSize;
  c->min_storage_offset_align = L->minStorageBufferOffsetAlignment;
  c->min_texel_offset_align = L->minTexelBufferOffsetAlignment;
  c->timestamp_period_ns = L->timestampPeriod;

  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
  VkQueueFamilyProperties qf[16];
  if (nq > 16) nq = 16;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qf);
  for (uint32_t i = 0; i < nq; i++)
    if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && qf[i].timestampValidBits > 0) {
      c->timestamps = L->timestampPeriod > 0;
      break;
    }

  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties(pd, &mp);
  c->heap_count = mp.memoryHeapCount;
  for (uint32_t i = 0; i < mp.memoryHeapCount; i++) {
    c->heap_size[i] = mp.memoryHeaps[i].size;
    c->heap_device_local[i] = (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
  }
  const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
                                     VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  int mappable_local = 0;
  for (uint32_t i = 0; i < mp.memoryTypeCount; i++)
    if ((mp.memoryTypes[i].propertyFlags & want) == want) mappable_local = 1;
  /* map tensors directly only where device memory is host memory; a discrete GPU's BAR
   * window is slow to read from the host */
  c->uma = mappable_local && (c->is_cpu || c->type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU);
  c->fp16 = ext_f16 && f16.shaderFloat16;
  c->int8 = ext_f16 && f16.shaderInt8;
  return EV_OK;
}
