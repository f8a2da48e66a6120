/* What the max- and average-pooling host code share: the shaders' push block and the
 * argument check (src/ops/pool.c). Private to src/ops. */
#ifndef EVONET_POOL_INTERNAL_H
#define EVONET_POOL_INTERNAL_H
#include "evonet/gpu.h"
#include "evonet/ops/pool.h"

/* Push constants of every pooling shader (maxpool_*.comp, avgpool_*.comp); Q = C4/4.
 * rows: avgpool_bwd's input rows per invocation (ev_pool_check sets 0; the others ignore it). */
typedef struct {
  int32_t N, H, W, Q, OH, OW, C, rows;
  int32_t kh, kw, sh, sw, ph, pw;
} ev_pool_push;

/* idx argument of ev_pool_check when the pass has no argmax buffer */
#define EV_POOL_NO_IDX ((ev_buf *)1)

/* Checks the window, x (input-sized) and y (output-sized, not overlapping x) and idx
 * (unless EV_POOL_NO_IDX); fills the push block. EV_ERR_ARG / EV_ERR_LIMIT with a message. */
ev_status ev_pool_check(const char *op, const ev_pool_desc *d, ev_tensor *x, ev_tensor *y, ev_buf *idx,
                        ev_pool_push *pc);
#endif
