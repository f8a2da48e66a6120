/* The EVONET_* variables: one table, one parser (evonet/tuning.h). Each parser keeps the
 * exact reading the code had where the variable used to be read with getenv. */
#include "evonet/tuning.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

/* set, not empty and not "0" */
static bool flag(const char *v) { return v && *v && strcmp(v, "0") != 0; }
/* atoi of a set, non-empty value, else dflt */
static int int_or(const char *v, int dflt) { return v && *v ? atoi(v) : dflt; }

static void p_device(ev_tuning *t, const char *v) {
  t->device_set = v != NULL;
  snprintf(t->device, sizeof t->device, "%s", v ? v : "");
}
static void p_validate(ev_tuning *t, const char *v) { t->validate = flag(v); }
static void p_profile(ev_tuning *t, const char *v) { t->profile = flag(v); }
static void p_no_cache(ev_tuning *t, const char *v) { t->no_pipeline_cache = v != NULL; }
static void p_conv_variant(ev_tuning *t, const char *v) {
  /* shuffle / shared name the technique; cpu / gpu are the earlier names of the same kernels */
  bool shuffle = v && (!strcmp(v, "shuffle") || !strcmp(v, "cpu")), shared = v && (!strcmp(v, "shared") || !strcmp(v, "gpu"));
  t->conv_variant = shuffle ? 1 : shared ? 0 : -1;
}
static void p_sparse(ev_tuning *t, const char *v) {
  t->sparse = v && !strcmp(v, "0") ? 0 : v && !strcmp(v, "1") ? 1 : -1;
}
static void p_conv_cn(ev_tuning *t, const char *v) { t->conv_cn = int_or(v, 0); }
static void p_conv_swap(ev_tuning *t, const char *v) { t->conv_swap = int_or(v, -1); }
static void p_conv_ha(ev_tuning *t, const char *v) { t->conv_ha = int_or(v, 0); }
static void p_conv_unroll(ev_tuning *t, const char *v) { t->conv_unroll = int_or(v, 1); }
static void p_conv_gridx(ev_tuning *t, const char *v) { t->conv_gridx = int_or(v, 0); }
static void p_conv_gpu_tile(ev_tuning *t, const char *v) {
  unsigned *x = t->conv_gpu_tile;
  x[0] = x[1] = x[2] = x[3] = 0, x[4] = 4; /* BK4 when only four are given */
  t->conv_gpu_tile_n = v ? sscanf(v, "%u,%u,%u,%u,%u", &x[0], &x[1], &x[2], &x[3], &x[4]) : 0;
  if (t->conv_gpu_tile_n < 0) t->conv_gpu_tile_n = 0; /* EOF: "" */
}
static void p_sparse_pp(ev_tuning *t, const char *v) { t->sparse_pp = int_or(v, 0); }
static void p_sparse_chunk(ev_tuning *t, const char *v) { t->sparse_chunk = int_or(v, 0); }
static void p_wgrad_slice(ev_tuning *t, const char *v) { t->wgrad_slice = int_or(v, 0); }
static void p_wgrad_ns(ev_tuning *t, const char *v) { t->wgrad_ns = int_or(v, 0); }
static void p_wgrad_mode(ev_tuning *t, const char *v) { t->wgrad_mode = v && *v >= '0' && *v <= '2' ? *v - '0' : -1; }

typedef void (*parser)(ev_tuning *t, const char *v);

/* The table: the order of ev_tuning_vars, with each variable's parser. */
#define VARS(X)                                                                                                        \
  X("EVONET_DEVICE", "N | name",                                                                                       \
    "the device: index in `evonet devices` order or a case-insensitive "                                               \
    "substring of its name (--device wins)",                                                                           \
    0, p_device)                                                                                                       \
  X("EVONET_VALIDATE", "1", "Vulkan validation layer and messenger on (the tests fail on any message)", 0, p_validate) \
  X("EVONET_PROFILE", "1", "per-kernel GPU times printed when the device closes (needs timestamps)", 0, p_profile)     \
  X("EVONET_NO_PIPELINE_CACHE", "(set)",                                                                               \
    "neither load nor save the pipeline cache "                                                                        \
    "($XDG_CACHE_HOME/evonet or ~/.cache/evonet)",                                                                     \
    0, p_no_cache)                                                                                                     \
  X("EVONET_CONV_VARIANT", "shuffle | shared",                                                                         \
    "convolution kernel family: texel+subgroup-shuffle kernels (default on CPU devices) or shared-memory "             \
    "tiles (default elsewhere); cpu and gpu are accepted as the earlier names",                                        \
    0, p_conv_variant)                                                                                                 \
  X("EVONET_SPARSE", "0 | 1",                                                                                          \
    "inference convolutions: 0 always dense, 1 always sparse (live taps only); "                                       \
    "default by live density",                                                                                         \
    0, p_sparse)                                                                                                       \
  X("EVONET_CONV_GPU_TILE", "TM,TN,LX,LY[,BK4]",                                                                       \
    "gpu conv kernel: per-thread block (4 or 8 a side), "                                                              \
    "workgroup, k texels per stage; ignored unless the device allows it",                                              \
    1, p_conv_gpu_tile)                                                                                                \
  X("EVONET_CONV_CN", "2 | 4", "cpu conv kernel: per-lane rows (default 4 with AVX-512VL, else 2)", 1, p_conv_cn)      \
  X("EVONET_CONV_SWAP", "0 | 1", "cpu conv kernel: orientation (default by padded work)", 1, p_conv_swap)              \
  X("EVONET_CONV_HA", "1..4", "cpu conv kernel: shuffled blocks of 8 rows (default by padded work)", 1, p_conv_ha)     \
  X("EVONET_CONV_UNROLL", "0", "cpu conv kernel: keep the tap and texel loops of narrow layers", 1, p_conv_unroll)     \
  X("EVONET_CONV_GRIDX", "N",                                                                                          \
    "dense and sparse conv: at most N workgroups along x (exercises the wrap "                                         \
    "into y)",                                                                                                         \
    1, p_conv_gridx)                                                                                                   \
  X("EVONET_SPARSE_PP", "1..16", "sparse conv: output pixels per invocation (default by size)", 1, p_sparse_pp)        \
  X("EVONET_SPARSE_CHUNK", "8", "sparse conv: at least 8 taps per loop iteration", 1, p_sparse_chunk)                  \
  X("EVONET_WGRAD_SLICE", "P", "weight gradient: P pixels per split-K slice (forces the split path)", 1,               \
    p_wgrad_slice)                                                                                                     \
  X("EVONET_WGRAD_NS", "1..8", "cpu weight-gradient kernel: shuffled quads per tile (default by padding)", 1,          \
    p_wgrad_ns)                                                                                                        \
  X("EVONET_WGRAD_MODE", "0 | 1 | 2",                                                                                  \
    "cpu weight-gradient kernel: lane mapping per-tap C quads, per-tap R "                                             \
    "quads, flattened (tap, C quad) list (default by idle lanes)",                                                     \
    1, p_wgrad_mode)

#define ROW(name, values, what, hook, p) {name, values, what, hook},
const ev_tuning_var ev_tuning_vars[] = {VARS(ROW)};
#undef ROW
#define PARSER(name, values, what, hook, p) p,
static const parser k_parsers[] = {VARS(PARSER)};
#undef PARSER
const int ev_tuning_n_vars = (int)(sizeof ev_tuning_vars / sizeof ev_tuning_vars[0]);

static bool host_avx512vl(void) {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

void ev_tuning_defaults(ev_tuning *t) {
  memset(t, 0, sizeof *t);
  for (int i = 0; i < ev_tuning_n_vars; i++) k_parsers[i](t, NULL);
  t->host_avx512vl = host_avx512vl();
}

void ev_tuning_from_env(ev_tuning *t) {
  ev_tuning_defaults(t);
  for (int i = 0; i < ev_tuning_n_vars; i++) {
    const char *v = getenv(ev_tuning_vars[i].name);
    if (v) k_parsers[i](t, v);
  }
}

ev_status ev_tuning_set(ev_tuning *t, const char *name, const char *value) {
  for (int i = 0; i < ev_tuning_n_vars; i++)
    if (!strcmp(ev_tuning_vars[i].name, name)) {
      k_parsers[i](t, value);
      return EV_OK;
    }
  return ev_fail(EV_ERR_ARG, "unknown tuning variable '%s'", name);
}
