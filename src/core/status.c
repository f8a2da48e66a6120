/* The first error's sentence and where it was detected. */
#include "evonet/status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char g_msg[1024];
static _Thread_local char g_where[256];
static _Thread_local int g_set;

ev_status ev_fail_at(const char *file, int line, ev_status code, const char *fmt, ...) {
  if (g_set) return code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_msg, sizeof g_msg, fmt, ap);
  va_end(ap);
  const char *base = file;
  for (const char *p = file; *p; p++)
    if (*p == '/') base = p + 1;
  snprintf(g_where, sizeof g_where, "%s:%d", base, line);
  g_set = 1;
  return code;
}

const char *ev_last_error(void) { return g_set ? g_msg : ""; }
const char *ev_last_error_where(void) { return g_set ? g_where : ""; }
void ev_clear_error(void) { g_set = 0; g_msg[0] = g_where[0] = 0; }

const char *ev_status_name(ev_status s) {
  switch (s) {
  case EV_OK: return "ok";
  case EV_ERR_ARG: return "bad argument";
  case EV_ERR_NODEVICE: return "no device";
  case EV_ERR_VK: return "Vulkan error";
  case EV_ERR_OOM: return "out of memory";
  case EV_ERR_LIMIT: return "beyond a device limit";
  case EV_ERR_IO: return "I/O error";
  case EV_ERR_FORMAT: return "bad file format";
  case EV_ERR_DEVICE_LOST: return "device lost";
  }
  return "error";
}
