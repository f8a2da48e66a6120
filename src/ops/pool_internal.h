/* What the max- and average-pooling host code share: the shaders' push block (ev_push_pool,
 * shaders/include/push/pool.h) and the argument check (src/ops/pool.c). Private to src/ops. */
#ifndef EVONET_POOL_INTERNAL_H
#define EVONET_POOL_INTERNAL_H
#include "evonet/gpu.h"
#include "evonet/ops/pool.h"
#include "push/pool.h"

/* idx argument of ev_pool_check when the pass has no argmax buffer */
#define EV_POOL_NO_IDX ((ev_buf *)1)

/* Checks the window, x (input-sized) and y (output-sized, not overlapping x) and idx
 * (unless EV_POOL_NO_IDX); fills the push block (rows = 0). EV_ERR_ARG / EV_ERR_LIMIT with a message. */
ev_status ev_pool_check(const char *op, const ev_pool_desc *d, ev_tensor *x, ev_tensor *y, ev_buf *idx,
                        ev_push_pool *pc);
#endif
