/* Push constants of salmet_stats (push.h explains the scheme). */
#ifndef EV_PUSH_SAL_METRICS_H
#define EV_PUSH_SAL_METRICS_H
#include "push/push.h"

#define EV_PUSH_salmet_stats(F) F(uint, n_images) F(uint, npix) F(uint, p_stride) F(uint, g_stride)
EV_PUSH_STRUCT(salmet_stats)
#endif
