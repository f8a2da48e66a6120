/* The conv tile chooser (ev_conv_choose_tiles, src/ops/conv_variant.h) as a pure function of
 * (shape, device caps, tuning), and the EVONET_* tuning table (evonet/tuning.h). No device:
 * caps are made up here.
 *
 * k_golden was printed by the chooser as it was before the tuning struct (commit 97b2a9b,
 * which read the variables with getenv and the host CPU with __builtin_cpu_supports) on a
 * host with AVX-512VL, with the variables of the first column set: the same shapes, caps and
 * overrides must give the same tiles, so the defaults did not change and the overrides win. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/tuning.h"
#include "ops/conv_variant.h"
#include "testutil.h"

static ev_caps cpu_caps(unsigned sg) {
  ev_caps c;
  memset(&c, 0, sizeof c);
  c.is_cpu = 1, c.subgroup_size = sg;
  c.subgroup_ops = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_SHUFFLE_BIT | VK_SUBGROUP_FEATURE_VOTE_BIT;
  c.subgroup_stages = VK_SHADER_STAGE_COMPUTE_BIT;
  c.max_workgroup_size[0] = c.max_workgroup_size[1] = c.max_workgroup_size[2] = 1024;
  c.max_workgroup_invocations = 1024, c.max_shared_memory = 65536;
  return c;
}

static ev_caps gpu_caps(unsigned sg, unsigned inv, unsigned shared) {
  ev_caps c = cpu_caps(sg);
  c.is_cpu = 0, c.max_workgroup_invocations = inv, c.max_shared_memory = shared;
  if (inv < 1024) c.max_workgroup_size[0] = c.max_workgroup_size[1] = inv;
  return c;
}

static ev_caps caps_named(const char *name) {
  if (!strcmp(name, "cpu8")) return cpu_caps(8);   /* lavapipe, 256-bit vectors */
  if (!strcmp(name, "cpu16")) return cpu_caps(16); /* lavapipe, 512-bit vectors */
  if (!strcmp(name, "cpu4")) return cpu_caps(4);   /* too narrow for the cpu kernel */
  if (!strcmp(name, "gpu32")) return gpu_caps(32, 1024, 49152);
  if (!strcmp(name, "gpu_small")) return gpu_caps(32, 128, 16384); /* 8x8 workgroups */
  if (!strcmp(name, "gpu_tiny_shared")) return gpu_caps(32, 1024, 4096);
  fail_msg("no caps '%s'", name);
  return cpu_caps(8);
}

/* m, cd4, brow_bytes, pix_bytes, ktex as plan_gemm (conv.c) passes them */
typedef struct {
  const char *name;
  uint64_t m, cd4, brow, pix, ktex;
} shape;
static const shape k_shapes[] = {
    {"3->8 3x3 @64", 32768, 8, 144, 16, 9},           {"64->64 3x3 @32", 8192, 64, 2304, 256, 144},
    {"256->256 3x3 @16", 2048, 256, 9216, 1024, 576}, {"96->96 1x1 @20", 3200, 96, 384, 384, 24},
    {"32->4 4x4 s2 adj", 2048, 4, 256, 128, 32},
};

static const shape *shape_named(const char *name) {
  for (size_t i = 0; i < sizeof k_shapes / sizeof k_shapes[0]; i++)
    if (!strcmp(k_shapes[i].name, name)) return &k_shapes[i];
  fail_msg("no shape '%s'", name);
  return NULL;
}

typedef struct {
  const char *env, *caps, *shape;
  int cpu;
  uint32_t lx, ly, tm, tn, bk4, cn, swap, ha, bm, bn;
} golden;
static const golden k_golden[] = {
    {"", "cpu8", "3->8 3x3 @64", 1, 64, 0, 0, 0, 0, 4, 1, 1, 256, 8},
    {"", "cpu8", "64->64 3x3 @32", 1, 64, 0, 0, 0, 0, 4, 0, 4, 256, 32},
    {"", "cpu8", "256->256 3x3 @16", 1, 64, 0, 0, 0, 0, 4, 0, 4, 256, 32},
    {"", "cpu8", "96->96 1x1 @20", 1, 64, 0, 0, 0, 0, 4, 0, 4, 256, 32},
    {"", "cpu8", "32->4 4x4 s2 adj", 1, 64, 0, 0, 0, 0, 4, 1, 1, 256, 8},
    {"", "cpu16", "3->8 3x3 @64", 1, 128, 0, 0, 0, 0, 4, 1, 1, 512, 8},
    {"", "cpu16", "64->64 3x3 @32", 1, 128, 0, 0, 0, 0, 4, 0, 4, 256, 64},
    {"", "cpu16", "256->256 3x3 @16", 1, 128, 0, 0, 0, 0, 4, 0, 4, 256, 64},
    {"", "cpu16", "96->96 1x1 @20", 1, 128, 0, 0, 0, 0, 4, 1, 4, 512, 32},
    {"", "cpu16", "32->4 4x4 s2 adj", 1, 128, 0, 0, 0, 0, 4, 1, 1, 512, 8},
    {"", "cpu4", "3->8 3x3 @64", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"", "cpu4", "64->64 3x3 @32", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"", "cpu4", "256->256 3x3 @16", 0, 16, 16, 4, 4, 8, 0, 0, 0, 64, 64},
    {"", "cpu4", "96->96 1x1 @20", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"", "cpu4", "32->4 4x4 s2 adj", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"", "gpu32", "3->8 3x3 @64", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"", "gpu32", "64->64 3x3 @32", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"", "gpu32", "256->256 3x3 @16", 0, 16, 16, 4, 4, 8, 0, 0, 0, 64, 64},
    {"", "gpu32", "96->96 1x1 @20", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"", "gpu32", "32->4 4x4 s2 adj", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"", "gpu_small", "3->8 3x3 @64", 0, 8, 8, 4, 4, 4, 0, 0, 0, 32, 32},
    {"", "gpu_small", "64->64 3x3 @32", 0, 8, 8, 4, 4, 4, 0, 0, 0, 32, 32},
    {"", "gpu_small", "256->256 3x3 @16", 0, 8, 8, 4, 4, 8, 0, 0, 0, 32, 32},
    {"", "gpu_small", "96->96 1x1 @20", 0, 8, 8, 4, 4, 4, 0, 0, 0, 32, 32},
    {"", "gpu_small", "32->4 4x4 s2 adj", 0, 8, 8, 4, 4, 4, 0, 0, 0, 32, 32},
    {"", "gpu_tiny_shared", "3->8 3x3 @64", 0, 16, 16, 4, 4, 2, 0, 0, 0, 64, 64},
    {"", "gpu_tiny_shared", "64->64 3x3 @32", 0, 16, 16, 4, 4, 2, 0, 0, 0, 64, 64},
    {"", "gpu_tiny_shared", "256->256 3x3 @16", 0, 16, 16, 4, 4, 2, 0, 0, 0, 64, 64},
    {"", "gpu_tiny_shared", "96->96 1x1 @20", 0, 16, 16, 4, 4, 2, 0, 0, 0, 64, 64},
    {"", "gpu_tiny_shared", "32->4 4x4 s2 adj", 0, 16, 16, 4, 4, 2, 0, 0, 0, 64, 64},
    {"EVONET_CONV_CN=2", "cpu8", "3->8 3x3 @64", 1, 64, 0, 0, 0, 0, 2, 1, 1, 128, 8},
    {"EVONET_CONV_CN=2", "cpu8", "64->64 3x3 @32", 1, 64, 0, 0, 0, 0, 2, 0, 1, 64, 16},
    {"EVONET_CONV_CN=2", "cpu8", "256->256 3x3 @16", 1, 64, 0, 0, 0, 0, 2, 0, 1, 64, 16},
    {"EVONET_CONV_CN=2", "cpu8", "96->96 1x1 @20", 1, 64, 0, 0, 0, 0, 2, 0, 1, 64, 16},
    {"EVONET_CONV_CN=2", "cpu8", "32->4 4x4 s2 adj", 1, 64, 0, 0, 0, 0, 2, 1, 1, 128, 8},
    {"EVONET_CONV_CN=2", "cpu16", "3->8 3x3 @64", 1, 128, 0, 0, 0, 0, 2, 1, 1, 256, 8},
    {"EVONET_CONV_CN=2", "cpu16", "64->64 3x3 @32", 1, 128, 0, 0, 0, 0, 2, 0, 1, 64, 32},
    {"EVONET_CONV_CN=2", "cpu16", "256->256 3x3 @16", 1, 128, 0, 0, 0, 0, 2, 0, 1, 64, 32},
    {"EVONET_CONV_CN=2", "cpu16", "96->96 1x1 @20", 1, 128, 0, 0, 0, 0, 2, 0, 1, 64, 32},
    {"EVONET_CONV_CN=2", "cpu16", "32->4 4x4 s2 adj", 1, 128, 0, 0, 0, 0, 2, 1, 1, 256, 8},
    {"EVONET_CONV_VARIANT=gpu", "cpu8", "3->8 3x3 @64", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"EVONET_CONV_VARIANT=gpu", "cpu8", "64->64 3x3 @32", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"EVONET_CONV_VARIANT=gpu", "cpu8", "256->256 3x3 @16", 0, 16, 16, 4, 4, 8, 0, 0, 0, 64, 64},
    {"EVONET_CONV_VARIANT=gpu", "cpu8", "96->96 1x1 @20", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"EVONET_CONV_VARIANT=gpu", "cpu8", "32->4 4x4 s2 adj", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"EVONET_CONV_VARIANT=cpu", "gpu32", "3->8 3x3 @64", 1, 256, 0, 0, 0, 0, 4, 1, 1, 1024, 8},
    {"EVONET_CONV_VARIANT=cpu", "gpu32", "64->64 3x3 @32", 1, 256, 0, 0, 0, 0, 4, 1, 4, 1024, 32},
    {"EVONET_CONV_VARIANT=cpu", "gpu32", "256->256 3x3 @16", 1, 256, 0, 0, 0, 0, 4, 0, 4, 256, 128},
    {"EVONET_CONV_VARIANT=cpu", "gpu32", "96->96 1x1 @20", 1, 256, 0, 0, 0, 0, 4, 1, 4, 1024, 32},
    {"EVONET_CONV_VARIANT=cpu", "gpu32", "32->4 4x4 s2 adj", 1, 256, 0, 0, 0, 0, 4, 1, 1, 1024, 8},
    {"EVONET_CONV_VARIANT=cpu", "gpu_small", "3->8 3x3 @64", 1, 128, 0, 0, 0, 0, 4, 1, 1, 512, 8},
    {"EVONET_CONV_VARIANT=cpu", "gpu_small", "64->64 3x3 @32", 1, 128, 0, 0, 0, 0, 4, 1, 4, 512, 32},
    {"EVONET_CONV_VARIANT=cpu", "gpu_small", "256->256 3x3 @16", 1, 128, 0, 0, 0, 0, 4, 0, 4, 128, 128},
    {"EVONET_CONV_VARIANT=cpu", "gpu_small", "96->96 1x1 @20", 1, 128, 0, 0, 0, 0, 4, 1, 4, 512, 32},
    {"EVONET_CONV_VARIANT=cpu", "gpu_small", "32->4 4x4 s2 adj", 1, 128, 0, 0, 0, 0, 4, 1, 1, 512, 8},
    {"EVONET_CONV_SWAP=1", "cpu8", "3->8 3x3 @64", 1, 64, 0, 0, 0, 0, 4, 1, 1, 256, 8},
    {"EVONET_CONV_SWAP=1", "cpu8", "64->64 3x3 @32", 1, 64, 0, 0, 0, 0, 4, 1, 4, 256, 32},
    {"EVONET_CONV_SWAP=1", "cpu8", "256->256 3x3 @16", 1, 64, 0, 0, 0, 0, 4, 1, 4, 256, 32},
    {"EVONET_CONV_SWAP=1", "cpu8", "96->96 1x1 @20", 1, 64, 0, 0, 0, 0, 4, 1, 4, 256, 32},
    {"EVONET_CONV_SWAP=1", "cpu8", "32->4 4x4 s2 adj", 1, 64, 0, 0, 0, 0, 4, 1, 1, 256, 8},
    {"EVONET_CONV_SWAP=0 EVONET_CONV_HA=2", "cpu8", "3->8 3x3 @64", 1, 64, 0, 0, 0, 0, 4, 0, 2, 128, 32},
    {"EVONET_CONV_SWAP=0 EVONET_CONV_HA=2", "cpu8", "64->64 3x3 @32", 1, 64, 0, 0, 0, 0, 4, 0, 2, 128, 32},
    {"EVONET_CONV_SWAP=0 EVONET_CONV_HA=2", "cpu8", "256->256 3x3 @16", 1, 64, 0, 0, 0, 0, 4, 0, 2, 128, 32},
    {"EVONET_CONV_SWAP=0 EVONET_CONV_HA=2", "cpu8", "96->96 1x1 @20", 1, 64, 0, 0, 0, 0, 4, 0, 2, 128, 32},
    {"EVONET_CONV_SWAP=0 EVONET_CONV_HA=2", "cpu8", "32->4 4x4 s2 adj", 1, 64, 0, 0, 0, 0, 4, 0, 2, 128, 32},
    {"EVONET_CONV_GPU_TILE=8,8,32,16", "gpu32", "3->8 3x3 @64", 0, 32, 16, 8, 8, 4, 0, 0, 0, 128, 256},
    {"EVONET_CONV_GPU_TILE=8,8,32,16", "gpu32", "64->64 3x3 @32", 0, 32, 16, 8, 8, 4, 0, 0, 0, 128, 256},
    {"EVONET_CONV_GPU_TILE=8,8,32,16", "gpu32", "256->256 3x3 @16", 0, 32, 16, 8, 8, 8, 0, 0, 0, 128, 256},
    {"EVONET_CONV_GPU_TILE=8,8,32,16", "gpu32", "96->96 1x1 @20", 0, 32, 16, 8, 8, 4, 0, 0, 0, 128, 256},
    {"EVONET_CONV_GPU_TILE=8,8,32,16", "gpu32", "32->4 4x4 s2 adj", 0, 32, 16, 8, 8, 4, 0, 0, 0, 128, 256},
    {"EVONET_CONV_GPU_TILE=8,8,32,16", "gpu_small", "3->8 3x3 @64", 0, 8, 8, 4, 4, 4, 0, 0, 0, 32, 32},
    {"EVONET_CONV_GPU_TILE=8,8,32,16", "gpu_small", "64->64 3x3 @32", 0, 8, 8, 4, 4, 4, 0, 0, 0, 32, 32},
    {"EVONET_CONV_GPU_TILE=8,8,32,16", "gpu_small", "256->256 3x3 @16", 0, 8, 8, 4, 4, 8, 0, 0, 0, 32, 32},
    {"EVONET_CONV_GPU_TILE=8,8,32,16", "gpu_small", "96->96 1x1 @20", 0, 8, 8, 4, 4, 4, 0, 0, 0, 32, 32},
    {"EVONET_CONV_GPU_TILE=8,8,32,16", "gpu_small", "32->4 4x4 s2 adj", 0, 8, 8, 4, 4, 4, 0, 0, 0, 32, 32},
    {"EVONET_CONV_GPU_TILE=8,4,16,16,2", "gpu32", "3->8 3x3 @64", 0, 16, 16, 8, 4, 2, 0, 0, 0, 128, 64},
    {"EVONET_CONV_GPU_TILE=8,4,16,16,2", "gpu32", "64->64 3x3 @32", 0, 16, 16, 8, 4, 2, 0, 0, 0, 128, 64},
    {"EVONET_CONV_GPU_TILE=8,4,16,16,2", "gpu32", "256->256 3x3 @16", 0, 16, 16, 8, 4, 2, 0, 0, 0, 128, 64},
    {"EVONET_CONV_GPU_TILE=8,4,16,16,2", "gpu32", "96->96 1x1 @20", 0, 16, 16, 8, 4, 2, 0, 0, 0, 128, 64},
    {"EVONET_CONV_GPU_TILE=8,4,16,16,2", "gpu32", "32->4 4x4 s2 adj", 0, 16, 16, 8, 4, 2, 0, 0, 0, 128, 64},
    {"EVONET_CONV_GPU_TILE=8,8,12,16", "gpu32", "3->8 3x3 @64", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"EVONET_CONV_GPU_TILE=8,8,12,16", "gpu32", "64->64 3x3 @32", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"EVONET_CONV_GPU_TILE=8,8,12,16", "gpu32", "256->256 3x3 @16", 0, 16, 16, 4, 4, 8, 0, 0, 0, 64, 64},
    {"EVONET_CONV_GPU_TILE=8,8,12,16", "gpu32", "96->96 1x1 @20", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
    {"EVONET_CONV_GPU_TILE=8,8,12,16", "gpu32", "32->4 4x4 s2 adj", 0, 16, 16, 4, 4, 4, 0, 0, 0, 64, 64},
};

/* "A=1 B=2" into t (over the defaults, on an AVX-512VL host as k_golden was printed) */
static void tuning_of(const char *env, ev_tuning *t) {
  ev_tuning_defaults(t);
  t->host_avx512vl = true;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", env);
  for (char *save = NULL, *kv = strtok_r(buf, " ", &save); kv; kv = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(kv, '=');
    assert_non_null(eq);
    *eq = 0;
    assert_int_equal(ev_tuning_set(t, kv, eq + 1), EV_OK);
  }
}

static void test_golden(void **state) {
  for (size_t i = 0; i < sizeof k_golden / sizeof k_golden[0]; i++) {
    const golden *e = &k_golden[i];
    ev_tuning tu;
    tuning_of(e->env, &tu);
    ev_caps c = caps_named(e->caps);
    const shape *s = shape_named(e->shape);
    ev_conv_tiles t = ev_conv_choose_tiles(&c, &tu, s->m, s->cd4, s->brow, s->pix, s->ktex);
    if (t.cpu != e->cpu || t.lx != e->lx || t.ly != e->ly || t.tm != e->tm || t.tn != e->tn || t.bk4 != e->bk4 ||
        t.cn != e->cn || t.swap != e->swap || t.ha != e->ha || t.bm != e->bm || t.bn != e->bn)
      fail_msg("[%s] %s, %s: got cpu %d lx %u ly %u tm %u tn %u bk4 %u cn %u swap %u ha %u bm %u bn %u", e->env,
               e->caps, e->shape, t.cpu, t.lx, t.ly, t.tm, t.tn, t.bk4, t.cn, t.swap, t.ha, t.bm, t.bn);
  }
}

/* Without AVX-512VL the cpu kernel keeps 8 x 2 rows per lane: the same tiles as forcing
 * EVONET_CONV_CN=2 on a host that has it (rows of k_golden). */
static void test_host_without_avx512(void **state) {
  const char *caps[2] = {"cpu8", "cpu16"};
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < sizeof k_shapes / sizeof k_shapes[0]; i++) {
      ev_caps c = caps_named(caps[k]);
      const shape *s = &k_shapes[i];
      ev_tuning narrow, forced;
      tuning_of("", &narrow);
      narrow.host_avx512vl = false;
      tuning_of("EVONET_CONV_CN=2", &forced);
      ev_conv_tiles a = ev_conv_choose_tiles(&c, &narrow, s->m, s->cd4, s->brow, s->pix, s->ktex);
      ev_conv_tiles b = ev_conv_choose_tiles(&c, &forced, s->m, s->cd4, s->brow, s->pix, s->ktex);
      assert_memory_equal(&a, &b, sizeof a);
      assert_int_equal(a.cn, 2);
    }
}

/* The kernel family: the cpu kernel needs 8..128 lanes for conv, 1..64 for the weight
 * gradient (conv_variant.h says why); an override wins only where the kernel can run. */
static void test_use_cpu_kernel(void **state) {
  ev_tuning tu;
  tuning_of("", &tu);
  ev_caps c8 = cpu_caps(8), c4 = cpu_caps(4), c128 = cpu_caps(128), g32 = gpu_caps(32, 1024, 49152);
  assert_true(ev_conv_use_shuffle_kernel(&c8, &tu, 8, 128));
  assert_false(ev_conv_use_shuffle_kernel(&c4, &tu, 8, 128));
  assert_true(ev_conv_use_shuffle_kernel(&c4, &tu, 1, 64));
  assert_true(ev_conv_use_shuffle_kernel(&c128, &tu, 8, 128));
  assert_false(ev_conv_use_shuffle_kernel(&c128, &tu, 1, 64));
  assert_false(ev_conv_use_shuffle_kernel(&g32, &tu, 8, 128));
  tuning_of("EVONET_CONV_VARIANT=cpu", &tu);
  assert_true(ev_conv_use_shuffle_kernel(&g32, &tu, 8, 128));
  g32.subgroup_ops = VK_SUBGROUP_FEATURE_BASIC_BIT; /* no shuffle: not able */
  assert_false(ev_conv_use_shuffle_kernel(&g32, &tu, 8, 128));
  tuning_of("EVONET_CONV_VARIANT=gpu", &tu);
  assert_false(ev_conv_use_shuffle_kernel(&c8, &tu, 8, 128));
  tuning_of("EVONET_CONV_VARIANT=other", &tu); /* not cpu|gpu: the device's choice */
  assert_true(ev_conv_use_shuffle_kernel(&c8, &tu, 8, 128));
}

/* The table's parsers keep the readings the variables had where they were read. */
static void test_tuning_table(void **state) {
  ev_tuning t;
  ev_tuning_defaults(&t);
  assert_false(t.device_set);
  assert_false(t.validate || t.profile || t.no_pipeline_cache);
  assert_int_equal(t.conv_variant, -1);
  assert_int_equal(t.sparse, -1);
  assert_int_equal(t.conv_swap, -1);
  assert_int_equal(t.conv_unroll, 1);
  assert_int_equal(t.wgrad_mode, -1);
  assert_int_equal(t.conv_gpu_tile_n, 0);
  assert_int_equal(t.wgrad_slice + t.wgrad_ns + t.sparse_pp + t.sparse_chunk + t.conv_gridx + t.conv_cn + t.conv_ha, 0);
  assert_int_equal(ev_tuning_set(&t, "EVONET_VALIDATE", "0"), EV_OK);
  assert_false(t.validate);
  assert_int_equal(ev_tuning_set(&t, "EVONET_VALIDATE", "1"), EV_OK);
  assert_true(t.validate);
  assert_int_equal(ev_tuning_set(&t, "EVONET_NO_PIPELINE_CACHE", ""), EV_OK); /* set at all */
  assert_true(t.no_pipeline_cache);
  assert_int_equal(ev_tuning_set(&t, "EVONET_DEVICE", ""), EV_OK);
  assert_true(t.device_set);
  assert_string_equal(t.device, "");
  assert_int_equal(ev_tuning_set(&t, "EVONET_DEVICE", NULL), EV_OK);
  assert_false(t.device_set);
  assert_int_equal(ev_tuning_set(&t, "EVONET_SPARSE", "1"), EV_OK);
  assert_int_equal(t.sparse, 1);
  assert_int_equal(ev_tuning_set(&t, "EVONET_SPARSE", "yes"), EV_OK);
  assert_int_equal(t.sparse, -1);
  assert_int_equal(ev_tuning_set(&t, "EVONET_CONV_SWAP", ""), EV_OK); /* empty: unset */
  assert_int_equal(t.conv_swap, -1);
  assert_int_equal(ev_tuning_set(&t, "EVONET_WGRAD_MODE", "2"), EV_OK);
  assert_int_equal(t.wgrad_mode, 2);
  assert_int_equal(ev_tuning_set(&t, "EVONET_CONV_GPU_TILE", "8,8,32,16"), EV_OK);
  assert_int_equal(t.conv_gpu_tile_n, 4);
  assert_int_equal(t.conv_gpu_tile[4], 4);
  assert_int_equal(ev_tuning_set(&t, "EVONET_CONV_GPU_TILE", ""), EV_OK);
  assert_int_equal(t.conv_gpu_tile_n, 0);
  assert_int_equal(ev_tuning_set(&t, "EVONET_NO_SUCH", "1"), EV_ERR_ARG);
  ev_clear_error();
  /* every row has a name, values and a description; names unique */
  for (int i = 0; i < ev_tuning_n_vars; i++) {
    assert_true(!strncmp(ev_tuning_vars[i].name, "EVONET_", 7));
    assert_true(ev_tuning_vars[i].values[0] && ev_tuning_vars[i].what[0]);
    for (int j = 0; j < i; j++) assert_true(strcmp(ev_tuning_vars[i].name, ev_tuning_vars[j].name));
  }
  /* from the environment */
  setenv("EVONET_WGRAD_SLICE", "16", 1);
  ev_tuning_from_env(&t);
  unsetenv("EVONET_WGRAD_SLICE");
  assert_int_equal(t.wgrad_slice, 16);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_golden),
      cmocka_unit_test(test_host_without_avx512),
      cmocka_unit_test(test_use_cpu_kernel),
      cmocka_unit_test(test_tuning_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
