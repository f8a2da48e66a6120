/* VkResult names and the sentence each failure becomes. */
#include "gpu_internal.h"

const char *ev_vk_result_name(VkResult r) {
  switch (r) {
#define N(x) case x: return #x;
    N(VK_SUCCESS) N(VK_NOT_READY) N(VK_TIMEOUT) N(VK_EVENT_SET) N(VK_EVENT_RESET)
    N(VK_INCOMPLETE) N(VK_ERROR_OUT_OF_HOST_MEMORY) N(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    N(VK_ERROR_INITIALIZATION_FAILED) N(VK_ERROR_DEVICE_LOST) N(VK_ERROR_MEMORY_MAP_FAILED)
    N(VK_ERROR_LAYER_NOT_PRESENT) N(VK_ERROR_EXTENSION_NOT_PRESENT)
    N(VK_ERROR_FEATURE_NOT_PRESENT) N(VK_ERROR_INCOMPATIBLE_DRIVER)
    N(VK_ERROR_TOO_MANY_OBJECTS) N(VK_ERROR_FORMAT_NOT_SUPPORTED) N(VK_ERROR_FRAGMENTED_POOL)
    N(VK_ERROR_UNKNOWN) N(VK_ERROR_OUT_OF_POOL_MEMORY) N(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    N(VK_ERROR_FRAGMENTATION) N(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
    N(VK_PIPELINE_COMPILE_REQUIRED)
#undef N
  default: return "VK_RESULT_UNKNOWN";
  }
}

ev_status ev_vk_fail(const char *file, int line, const char *call, VkResult r) {
  /* strip the argument list: "vkCreateBuffer(g->device, ...)" -> "vkCreateBuffer" */
  char fn[64];
  size_t i = 0;
  for (; call[i] && call[i] != '(' && i + 1 < sizeof fn; i++) fn[i] = call[i];
  fn[i] = 0;
  switch (r) {
  case VK_ERROR_DEVICE_LOST:
    return ev_fail_at(file, line, EV_ERR_DEVICE_LOST,
                      "the GPU stopped responding (%s: VK_ERROR_DEVICE_LOST); the driver reset "
                      "it - results since the last checkpoint are lost", fn);
  case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    return ev_fail_at(file, line, EV_ERR_OOM,
                      "the device is out of memory (%s: VK_ERROR_OUT_OF_DEVICE_MEMORY); try a "
                      "smaller batch, input size or network width", fn);
  case VK_ERROR_OUT_OF_HOST_MEMORY:
    return ev_fail_at(file, line, EV_ERR_OOM,
                      "the host is out of memory (%s: VK_ERROR_OUT_OF_HOST_MEMORY)", fn);
  default:
    return ev_fail_at(file, line, EV_ERR_VK, "%s failed: %s", fn, ev_vk_result_name(r));
  }
}
