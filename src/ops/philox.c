/* Philox4x32-10: the synthesis random numbers and a GPU fill (shader synth_philox). The
 * generator itself is inline in include/evonet/philox.h. */
#include "evonet/philox.h"
#include "push/synth.h"

float ev_synth_uniform(uint64_t seed, uint32_t generation, uint32_t offspring, uint32_t layer,
                       uint32_t stream, uint32_t index) {
  uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  uint32_t ctr[4] = {index >> 2, layer | stream << 24, generation, offspring}, w[4];
  ev_philox4x32_10(ctr, key, w);
  return ev_philox_unit(w[index & 3]);
}

ev_status ev_philox_fill(ev_stream *s, const uint32_t key[2], const uint32_t ctr[4], uint32_t n,
                         ev_buf *out) {
  ev_gpu *g = ev_stream_gpu(s);
  if (n == 0) return ev_fail(EV_ERR_ARG, "philox fill of 0 blocks");
  if (out->size < (uint64_t)n * 16)
    return ev_fail(EV_ERR_ARG, "philox fill of %u blocks needs %llu bytes; the buffer has %llu", n,
                   (unsigned long long)n * 16, (unsigned long long)out->size);
  uint32_t wg = ev_gpu_elementwise_wg(g), groups = ev_div_up(n, wg);
  uint32_t cap = ev_gpu_caps(g)->max_workgroup_count[0];
  if (groups > cap) groups = cap; /* the shader loops over the rest */
  ev_push_synth_philox pc = {{ctr[0], ctr[1], ctr[2], ctr[3]}, {key[0], key[1]}, n};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "synth_philox", .bindings = "w",
                                                .push_size = sizeof pc, .local_size_x = wg}, &p));
  return ev_dispatch(s, p, (uint32_t[3]){groups, 1, 1}, (ev_buf *[]){out}, &pc);
}

void ev_philox_fill_ref(const uint32_t key[2], const uint32_t ctr[4], uint32_t n, uint32_t *out) {
  for (uint32_t j = 0; j < n; j++) {
    uint32_t c[4] = {ctr[0] + j, ctr[1], ctr[2], ctr[3]};
    ev_philox4x32_10(c, key, out + 4 * (size_t)j);
  }
}
