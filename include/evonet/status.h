/* Errors: functions return ev_status; the first failure records one sentence (with the
 * file:line where it was detected) that the command line prints once. */
#ifndef EVONET_STATUS_H
#define EVONET_STATUS_H

typedef enum {
  EV_OK = 0,
  EV_ERR_ARG = -1,       /* bad argument, shape or flag */
  EV_ERR_NODEVICE = -2,  /* no Vulkan loader / no usable device */
  EV_ERR_VK = -3,        /* a Vulkan call failed */
  EV_ERR_OOM = -4,       /* host or device memory exhausted */
  EV_ERR_LIMIT = -5,     /* request beyond a device limit */
  EV_ERR_IO = -6,        /* file missing, unreadable, unwritable */
  EV_ERR_FORMAT = -7,    /* corrupt or foreign file */
  EV_ERR_DEVICE_LOST = -8,
} ev_status;

/* Record an error (printf-style). Returns `code` so callers can `return ev_fail(...)`.
 * The first message since the last ev_clear_error() is kept; later ones are ignored
 * because the first one is the cause. */
ev_status ev_fail_at(const char *file, int line, ev_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define ev_fail(code, ...) ev_fail_at(__FILE__, __LINE__, (code), __VA_ARGS__)

const char *ev_last_error(void);       /* "" if none */
const char *ev_last_error_where(void); /* "file.c:123" of the first failure */
void ev_clear_error(void);
const char *ev_status_name(ev_status s);

/* Propagate a failing status unchanged. */
#define EV_TRY(expr)                                                                     \
  do {                                                                                   \
    ev_status ev_try_s_ = (expr);                                                        \
    if (ev_try_s_ != EV_OK) return ev_try_s_;                                            \
  } while (0)
#endif
