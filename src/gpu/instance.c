/* volk, the instance (validation layer + messenger on request), device listing and choice. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"

static int g_volk_ready;

static ev_status load_vulkan(void) {
  if (g_volk_ready) return EV_OK;
  if (volkInitialize() != VK_SUCCESS)
    return ev_fail(EV_ERR_NODEVICE,
                   "no Vulkan loader found (libvulkan.so.1): install libvulkan1 and "
                   "mesa-vulkan-drivers to run on the CPU");
  g_volk_ready = 1;
  return EV_OK;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                 VkDebugUtilsMessageTypeFlagsEXT type,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *d,
                                                 void *user) {
  ev_gpu *g = user;
  const char *kind = "info";
  if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
    kind = "error";
    if (g) __atomic_add_fetch(&g->val_errors, 1, __ATOMIC_RELAXED);
  } else if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    kind = "warning";
    if (g) __atomic_add_fetch(&g->val_warnings, 1, __ATOMIC_RELAXED);
  }
  fprintf(stderr, "evonet: validation %s: %s\n", kind, d && d->pMessage ? d->pMessage : "?");
  return VK_FALSE;
}

static int has_layer(const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return 0;
  VkLayerProperties *p = calloc(n, sizeof *p);
  int found = 0;
  if (p && vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++)
      if (strcmp(p[i].layerName, name) == 0) found = 1;
  free(p);
  return found;
}

static int has_instance_ext(const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS) return 0;
  VkExtensionProperties *p = calloc(n ? n : 1, sizeof *p);
  int found = 0;
  if (p && vkEnumerateInstanceExtensionProperties(NULL, &n, p) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++)
      if (strcmp(p[i].extensionName, name) == 0) found = 1;
  free(p);
  return found;
}

ev_status ev_instance_create(int validate, VkInstance *inst, VkDebugUtilsMessengerEXT *msg,
                             ev_gpu *counter) {
  *inst = VK_NULL_HANDLE;
  *msg = VK_NULL_HANDLE;
  EV_TRY(load_vulkan());
  uint32_t api = VK_API_VERSION_1_1;
  if (vkEnumerateInstanceVersion) {
    uint32_t v = 0;
    EV_VK(vkEnumerateInstanceVersion(&v));
    if (v >= VK_API_VERSION_1_3) api = VK_API_VERSION_1_3;
    else if (v >= VK_API_VERSION_1_2) api = VK_API_VERSION_1_2;
  }
  const char *layers[1];
  const char *exts[2];
  uint32_t n_layers = 0, n_exts = 0;
  if (validate) {
    if (!has_layer("VK_LAYER_KHRONOS_validation"))
      return ev_fail(EV_ERR_NODEVICE, "validation was requested (EVONET_VALIDATE=1) but the "
                                      "layer is not installed: install vulkan-validationlayers");
    layers[n_layers++] = "VK_LAYER_KHRONOS_validation";
    exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
  }
  VkInstanceCreateFlags flags = 0;
  if (has_instance_ext(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
    /* MoltenVK and friends only show up when the application opts in */
    exts[n_exts++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
    flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
  }
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                           .pApplicationName = "evonet",
                           .applicationVersion = VK_MAKE_VERSION(0, 1, 0),
                           .pEngineName = "evonet",
                           .apiVersion = api};
  VkDebugUtilsMessengerCreateInfoEXT mci = {
      .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
      .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
      .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
      .pfnUserCallback = on_message,
      .pUserData = counter};
  VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                             .pNext = validate ? &mci : NULL, /* also covers create/destroy */
                             .flags = flags,
                             .pApplicationInfo = &app,
                             .enabledLayerCount = n_layers,
                             .ppEnabledLayerNames = layers,
                             .enabledExtensionCount = n_exts,
                             .ppEnabledExtensionNames = exts};
  VkResult r = vkCreateInstance(&ci, NULL, inst);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
    return ev_fail(EV_ERR_NODEVICE,
                   "no Vulkan device found: install mesa-vulkan-drivers to run on the CPU");
  EV_VK(r);
  volkLoadInstanceOnly(*inst);
  if (validate) {
    r = vkCreateDebugUtilsMessengerEXT(*inst, &mci, NULL, msg);
    if (r != VK_SUCCESS) {
      vkDestroyInstance(*inst, NULL);
      *inst = VK_NULL_HANDLE;
      EV_VK(r);
    }
  }
  return EV_OK;
}

static ev_status enumerate(VkInstance inst, VkPhysicalDevice **pds, uint32_t *n) {
  *pds = NULL;
  *n = 0;
  EV_VK(vkEnumeratePhysicalDevices(inst, n, NULL));
  if (*n == 0)
    return ev_fail(EV_ERR_NODEVICE,
                   "no Vulkan device found: install mesa-vulkan-drivers to run on the CPU");
  *pds = calloc(*n, sizeof **pds);
  if (!*pds) return ev_fail(EV_ERR_OOM, "out of memory");
  VkResult r = vkEnumeratePhysicalDevices(inst, n, *pds);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
    free(*pds);
    *pds = NULL;
    EV_VK(r);
  }
  return EV_OK;
}

ev_status ev_enumerate_devices(VkInstance inst, VkPhysicalDevice **pds, ev_caps **caps,
                               uint32_t *n) {
  *caps = NULL;
  EV_TRY(enumerate(inst, pds, n));
  *caps = calloc(*n, sizeof **caps);
  if (!*caps) return ev_fail(EV_ERR_OOM, "out of memory");
  for (uint32_t i = 0; i < *n; i++) EV_TRY(ev_read_caps((*pds)[i], &(*caps)[i]));
  return EV_OK;
}

ev_status ev_list_devices(ev_caps *out, uint32_t max, uint32_t *n) {
  VkInstance inst;
  VkDebugUtilsMessengerEXT msg;
  EV_TRY(ev_instance_create(0, &inst, &msg, NULL));
  VkPhysicalDevice *pds = NULL;
  ev_caps *caps = NULL;
  ev_status s = ev_enumerate_devices(inst, &pds, &caps, n);
  if (s == EV_OK)
    for (uint32_t i = 0; i < *n && i < max; i++) out[i] = caps[i];
  free(pds);
  free(caps);
  vkDestroyInstance(inst, NULL);
  return s;
}

static int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
  case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
  default: return 0;
  }
}

static int contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
      i++;
    if (i == n) return 1;
  }
  return n == 0;
}

ev_status ev_choose_device(const ev_caps *caps, uint32_t n, const char *sel, uint32_t *index) {
  if (n == 0)
    return ev_fail(EV_ERR_NODEVICE,
                   "no Vulkan device found: install mesa-vulkan-drivers to run on the CPU");
  if (!sel || !*sel) {
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++) /* ties keep the lower index */
      if (type_rank(caps[i].type) > type_rank(caps[best].type)) best = i;
    *index = best;
    return EV_OK;
  }
  int all_digits = 1;
  for (const char *p = sel; *p; p++)
    if (!isdigit((unsigned char)*p)) all_digits = 0;
  if (all_digits) {
    unsigned long i = strtoul(sel, NULL, 10);
    if (i >= n)
      return ev_fail(EV_ERR_ARG, "no device %lu: there %s %u device%s (see `evonet devices`)",
                     i, n == 1 ? "is" : "are", n, n == 1 ? "" : "s");
    *index = (uint32_t)i;
    return EV_OK;
  }
  for (uint32_t i = 0; i < n; i++)
    if (contains_nocase(caps[i].name, sel)) {
      *index = i;
      return EV_OK;
    }
  return ev_fail(EV_ERR_ARG, "no device matches '%s' (see `evonet devices`)", sel);
}

const char *ev_device_type_name(VkPhysicalDeviceType t) {
  switch (t) {
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
  case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
  default: return "other";
  }
}
