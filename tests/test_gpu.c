/* The Vulkan runtime: transfers, the sub-allocator, pipelines with specialization and push
 * constants, texel-buffer reads, hazard barriers, limits and device choice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <math.h>

#include "evonet/io.h"
#include "evonet/ops/basic.h"
#include "testutil.h"
#include "gpu/gpu_internal.h"
#include "push/eltwise.h"

static void test_roundtrip_odd_sizes(void **state) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed();
  const size_t sizes[] = {1, 3, 4, 5, 13, 255, 1021, 65537, (16u << 20) + 12}; /* bytes */
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k];
    unsigned char *src = malloc(n), *dst = malloc(n);
    for (size_t i = 0; i < n; i++) src[i] = (unsigned char)tu_next(&seed);
    memset(dst, 0xA5, n);
    ev_buf b;
    TU_OK(ev_buf_alloc(g, n, &b));
    TU_OK(ev_buf_upload(g, &b, 0, src, n));
    TU_OK(ev_buf_download(g, &b, 0, dst, n));
    assert_memory_equal(src, dst, n);
    if (n > 3) { /* partial ranges at odd offsets */
      memset(dst, 0, n);
      TU_OK(ev_buf_download(g, &b, 1, dst, n - 3));
      assert_memory_equal(src + 1, dst, n - 3);
    }
    assert_int_equal(ev_buf_download(g, &b, n - 1, dst, 2), EV_ERR_ARG); /* past the end */
    ev_clear_error();
    ev_buf_free(g, &b);
    free(src);
    free(dst);
  }
  tu_gpu_assert_clean();
}

/* Many buffers from shared blocks: no two overlap, each keeps its own contents while its
 * neighbours are written by kernels, freed blocks return to the driver. */
static void test_suballocator(void **state) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed();
  enum { NB = 97 };
  ev_buf b[NB];
  uint32_t n[NB];
  ev_mem_stats before, mid, after;
  ev_gpu_mem_stats(g, &before);
  for (int i = 0; i < NB; i++) {
    n[i] = 1 + (uint32_t)(tu_next(&seed) % 5000); /* floats */
    TU_OK(ev_buf_alloc(g, n[i] * 4ull, &b[i]));
    tu_poison(&b[i]);
  }
  for (int i = 0; i < NB; i++)
    for (int j = i + 1; j < NB; j++)
      if (b[i].buffer == b[j].buffer)
        assert_true(b[i].offset + b[i].size <= b[j].offset || b[j].offset + b[j].size <= b[i].offset);
  ev_gpu_mem_stats(g, &mid);
  assert_int_equal(mid.live_allocs, before.live_allocs + NB);
  assert_true(mid.blocks <= before.blocks + 1); /* 97 small tensors share one block */
  /* each buffer i gets y = 1*x + i through a kernel, x = a random source */
  float *x = malloc(5000 * 4), *y = malloc(5000 * 4);
  tu_fill_uniform(x, 5000, &seed, -1, 1);
  ev_buf src = tu_upload(x, 5000);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  for (int i = 0; i < NB; i++) TU_OK(ev_axpb(s, 1.0f, (float)i, &src, &b[i], n[i]));
  TU_OK(ev_stream_submit(s));
  for (int i = 0; i < NB; i++) {
    tu_download(&b[i], y, n[i]);
    for (uint32_t k = 0; k < n[i]; k++) assert_float_equal(y[k], x[k] + (float)i, 0);
  }
  /* free in a scrambled order, then everything is handed back */
  for (int i = 0; i < NB; i++) ev_buf_free(g, &b[(i * 37) % NB]);
  ev_buf_free(g, &src);
  ev_gpu_mem_stats(g, &after);
  assert_int_equal(after.live_allocs, before.live_allocs);
  assert_int_equal(after.blocks, before.blocks);
  /* a buffer larger than a block gets its own block, exactly at the boundary too */
  ev_buf big;
  TU_OK(ev_buf_alloc(g, 64ull << 20, &big));
  ev_buf big2;
  TU_OK(ev_buf_alloc(g, (64ull << 20) + 4, &big2));
  assert_true(big.buffer != big2.buffer);
  ev_buf_free(g, &big);
  ev_buf_free(g, &big2);
  free(x);
  free(y);
  tu_gpu_assert_clean();
}

static void test_spec_and_push_constants(void **state) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed();
  const uint32_t n = 1237;
  float *x = malloc(n * 4), *y = malloc(n * 4), *ref = malloc(n * 4);
  tu_fill_uniform(x, n, &seed, -2, 2);
  ev_buf bx = tu_upload(x, n), by;
  TU_OK(ev_buf_alloc(g, n * 4, &by));
  const float as[2] = {tu_uniform(&seed, 0.5f, 3), tu_uniform(&seed, -3, -0.5f)};
  for (int k = 0; k < 2; k++) { /* two specializations of one shader */
    float b = tu_uniform(&seed, -1, 1);
    tu_poison(&by);
    ev_stream *s;
    TU_OK(ev_stream_begin(g, &s));
    TU_OK(ev_axpb(s, as[k], b, &bx, &by, n));
    TU_OK(ev_stream_submit(s));
    tu_download(&by, y, n);
    ev_axpb_ref(as[k], b, x, ref, n);
    /* exact, to one rounding: a driver may contract a*x+b into one fma (NVIDIA does,
     * lavapipe does not), so either result is right and nothing else is */
    for (uint32_t i = 0; i < n; i++)
      if (y[i] != ref[i] && y[i] != fmaf(as[k], x[i], b))
        fail_msg("axpb[%u] = %.9g, want %.9g (or its fma)", i, y[i], ref[i]);
  }
  ev_buf_free(g, &bx);
  ev_buf_free(g, &by);
  free(x);
  free(y);
  free(ref);
  tu_gpu_assert_clean();
}

static void test_texel_read_and_gemm(void **state) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed();
  const uint32_t n = 4 * 1031; /* odd number of texels */
  float *x = malloc(n * 4), *y = malloc(n * 4);
  tu_fill_uniform(x, n, &seed, -1, 1);
  ev_buf bx = tu_upload(x, n), by;
  TU_OK(ev_buf_alloc(g, n * 4, &by));
  tu_poison(&by);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_copy(s, &bx, &by, n, 1));
  TU_OK(ev_stream_submit(s));
  tu_download(&by, y, n);
  assert_memory_equal(x, y, n * 4);
  /* GEMM through texel buffers at odd M, N */
  const int M = 37, N = 29, K = 52;
  float *a = malloc(M * K * 4), *bt = malloc(N * K * 4), *c = malloc(M * N * 4), *ref = malloc(M * N * 4);
  tu_fill_uniform(a, M * K, &seed, -1, 1);
  tu_fill_uniform(bt, N * K, &seed, -1, 1);
  ev_buf ba = tu_upload(a, M * K), bb = tu_upload(bt, N * K), bc;
  TU_OK(ev_buf_alloc(g, M * N * 4, &bc));
  tu_poison(&bc);
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_gemm_small(s, &ba, &bb, &bc, M, N, K));
  TU_OK(ev_stream_submit(s));
  tu_download(&bc, c, M * N);
  ev_gemm_ref(a, bt, ref, M, N, K);
  assert_true(tu_rel_err(c, ref, M * N) < 1e-6);
  ev_buf_free(g, &bx);
  ev_buf_free(g, &by);
  ev_buf_free(g, &ba);
  ev_buf_free(g, &bb);
  ev_buf_free(g, &bc);
  free(x), free(y), free(a), free(bt), free(c), free(ref);
  tu_gpu_assert_clean();
}

/* A chain of dependent dispatches in one stream, longer than one submission: every step
 * must see the previous one's result (barriers, automatic flushes). */
static void test_dependent_chain_and_reduction(void **state) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed();
  const uint32_t n = 3001;
  const int steps = 1201; /* > the dispatches of one submission */
  float *x = malloc(n * 4), *y = malloc(n * 4);
  tu_fill_uniform(x, n, &seed, -1, 1);
  ev_buf a = tu_upload(x, n), b;
  TU_OK(ev_buf_alloc(g, n * 4, &b));
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  for (int i = 0; i < steps; i++) /* a -> b -> a ...: +1 each step */
    TU_OK(ev_axpb(s, 1.0f, 1.0f, i % 2 ? &b : &a, i % 2 ? &a : &b, n));
  TU_OK(ev_stream_submit(s));
  tu_download(steps % 2 ? &b : &a, y, n);
  for (uint32_t i = 0; i < n; i++) assert_float_equal(y[i], x[i] + steps, 1e-3);
  /* sum reduction of odd length, multi-pass */
  const uint32_t m = 300007;
  float *z = malloc(m * 4), out;
  tu_fill_uniform(z, m, &seed, 0, 1);
  ev_buf bz = tu_upload(z, m), scratch, bo;
  TU_OK(ev_buf_alloc(g, ev_reduce_sum_scratch(m) * 4, &scratch));
  TU_OK(ev_buf_alloc(g, 4, &bo));
  tu_poison(&bo);
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_reduce_sum(s, &bz, m, &scratch, &bo));
  TU_OK(ev_stream_submit(s));
  tu_download(&bo, &out, 1);
  double ref = ev_reduce_sum_ref(z, m);
  assert_true(fabs(out - ref) / ref < 1e-5);
  ev_buf_free(g, &a), ev_buf_free(g, &b), ev_buf_free(g, &bz), ev_buf_free(g, &scratch), ev_buf_free(g, &bo);
  free(x), free(y), free(z);
  tu_gpu_assert_clean();
}

static void test_limits_are_clear_errors(void **state) {
  ev_gpu *g = tu_gpu();
  const ev_caps *c = ev_gpu_caps(g);
  ev_buf b;
  ev_clear_error();
  assert_int_equal(ev_buf_alloc(g, c->max_storage_buffer_range + 16, &b), EV_ERR_LIMIT);
  assert_non_null(strstr(ev_last_error(), "storage-buffer range"));
  ev_clear_error();
  assert_int_equal(ev_buf_alloc(g, 0, &b), EV_ERR_ARG);
  ev_clear_error();
  /* a dispatch beyond maxComputeWorkGroupCount is refused on the host */
  ev_buf x, y;
  TU_OK(ev_buf_alloc(g, 64, &x));
  TU_OK(ev_buf_alloc(g, 64, &y));
  ev_pipeline *p;
  TU_OK(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "copy", .bindings = "rw", .push_size = sizeof(ev_push_flat),
                                               .local_size_x = 64}, &p));
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  ev_push_flat n4 = {4};
  uint32_t groups[3] = {c->max_workgroup_count[0] + 1u, 1, 1};
  if (c->max_workgroup_count[0] < UINT32_MAX) {
    assert_int_equal(ev_dispatch(s, p, groups, (ev_buf *[]){&x, &y}, &n4), EV_ERR_LIMIT);
    ev_clear_error();
  }
  assert_int_equal(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "no_such_shader", .bindings = "r"}, &p),
                   EV_ERR_ARG);
  ev_clear_error();
  ev_stream_abort(s);
  ev_buf_free(g, &x);
  ev_buf_free(g, &y);
  tu_gpu_assert_clean();
}

static ev_caps fake(const char *name, VkPhysicalDeviceType t) {
  ev_caps c = {0};
  snprintf(c.name, sizeof c.name, "%s", name);
  c.type = t;
  return c;
}

static void test_device_choice(void **state) {
  ev_caps c[4] = {fake("llvmpipe (LLVM 15)", VK_PHYSICAL_DEVICE_TYPE_CPU),
                  fake("Intel(R) UHD Graphics 620", VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU),
                  fake("AMD Radeon RX 7600", VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU),
                  fake("virtio-gpu", VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU)};
  uint32_t i = 99;
  TU_OK(ev_choose_device(c, 4, NULL, &i));
  assert_int_equal(i, 2); /* discrete first */
  TU_OK(ev_choose_device(c, 2, NULL, &i));
  assert_int_equal(i, 1); /* integrated over CPU */
  TU_OK(ev_choose_device(c, 1, NULL, &i));
  assert_int_equal(i, 0); /* a CPU alone is still chosen */
  TU_OK(ev_choose_device((ev_caps[]){c[0], c[3]}, 2, NULL, &i));
  assert_int_equal(i, 1); /* virtual over CPU */
  TU_OK(ev_choose_device(c, 4, "3", &i));
  assert_int_equal(i, 3);
  TU_OK(ev_choose_device(c, 4, "radeon", &i));
  assert_int_equal(i, 2);
  TU_OK(ev_choose_device(c, 4, "LLVMPIPE", &i));
  assert_int_equal(i, 0);
  assert_int_equal(ev_choose_device(c, 4, "7", &i), EV_ERR_ARG);
  assert_non_null(strstr(ev_last_error(), "no device 7"));
  ev_clear_error();
  assert_int_equal(ev_choose_device(c, 4, "nvidia", &i), EV_ERR_ARG);
  ev_clear_error();
  /* the real device list: choosing by index and by name opens that device */
  ev_caps real[16];
  uint32_t n = 0;
  TU_OK(ev_list_devices(real, 16, &n));
  assert_true(n >= 1);
  char name[64];
  snprintf(name, sizeof name, "%.8s", real[n - 1].name);
  ev_gpu *g;
  TU_OK(ev_gpu_open(&(ev_gpu_options){.device = name, .validate = 1}, &g));
  assert_string_equal(ev_gpu_caps(g)->name, real[ev_gpu_index(g)].name);
  assert_int_equal(ev_gpu_validation_errors(g) + ev_gpu_validation_warnings(g), 0);
  ev_gpu_close(g);
  char idx[8];
  snprintf(idx, sizeof idx, "%u", n - 1);
  TU_OK(ev_gpu_open(&(ev_gpu_options){.device = idx, .validate = 1}, &g));
  assert_int_equal(ev_gpu_index(g), (int)n - 1);
  ev_gpu_close(g);
  assert_int_equal(ev_gpu_open(&(ev_gpu_options){.device = "no-such-device-xyz", .validate = 1}, &g),
                   EV_ERR_ARG);
  ev_clear_error();
}

/* A corrupt, truncated or foreign pipeline cache is ignored, and a good one is written back. */
static void test_pipeline_cache_files(void **state) {
  char dir[] = "/tmp/evonet-cache-XXXXXX";
  assert_non_null(mkdtemp(dir));
  setenv("XDG_CACHE_HOME", dir, 1);
  ev_gpu *g;
  TU_OK(ev_gpu_open(&(ev_gpu_options){.validate = 1}, &g));
  ev_pipeline *p;
  TU_OK(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "copy", .bindings = "rw", .push_size = sizeof(ev_push_flat),
                                               .local_size_x = 32}, &p));
  ev_gpu_close(g);
  char sub[600], path[1200] = "";
  snprintf(sub, sizeof sub, "%s/evonet", dir);
  char cmd[1400];
  snprintf(cmd, sizeof cmd, "ls %s/pipelines-*.bin 2>/dev/null | head -1", sub);
  FILE *f = popen(cmd, "r");
  assert_non_null(f);
  assert_non_null(fgets(path, sizeof path, f));
  pclose(f);
  path[strcspn(path, "\n")] = 0;
  void *data;
  size_t n;
  TU_OK(ev_read_file(path, &data, &n));
  assert_true(n > 32);
  const size_t cuts[] = {7, n / 2};
  for (int k = 0; k < 3; k++) {
    unsigned char *bad = malloc(n);
    memcpy(bad, data, n);
    size_t len = n;
    if (k < 2) len = cuts[k];                 /* truncated */
    else for (size_t i = 24; i < n; i += 7) bad[i] ^= 0x5a; /* corrupt body */
    TU_OK(ev_write_file_atomic(path, bad, len));
    free(bad);
    TU_OK(ev_gpu_open(&(ev_gpu_options){.validate = 1}, &g));
    TU_OK(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "copy", .bindings = "rw", .push_size = sizeof(ev_push_flat),
                                                 .local_size_x = 32}, &p));
    assert_int_equal(ev_gpu_validation_errors(g) + ev_gpu_validation_warnings(g), 0);
    ev_gpu_close(g);
  }
  free(data);
  TU_OK(ev_read_file(path, &data, &n)); /* rewritten whole */
  assert_true(n > 32);
  free(data);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
  unsetenv("XDG_CACHE_HOME");
}

/* The messenger really counts: an invalid call on a private device must be reported. */
static void test_validation_is_live(void **state) {
  ev_gpu *g;
  TU_OK(ev_gpu_open(&(ev_gpu_options){.validate = 1}, &g));
  VkBufferCreateInfo bad = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                            .size = 0, /* invalid: size must be > 0 */
                            .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT};
  VkBuffer b = VK_NULL_HANDLE;
  fprintf(stderr, "[ an intentional validation error follows ]\n");
  VkResult r = vkCreateBuffer(g->device, &bad, NULL, &b); /* result irrelevant: the layer reports */
  if (r == VK_SUCCESS && b) vkDestroyBuffer(g->device, b, NULL);
  assert_true(ev_gpu_validation_errors(g) >= 1);
  ev_gpu_close(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_odd_sizes),      cmocka_unit_test(test_suballocator),
      cmocka_unit_test(test_spec_and_push_constants),  cmocka_unit_test(test_texel_read_and_gemm),
      cmocka_unit_test(test_dependent_chain_and_reduction), cmocka_unit_test(test_limits_are_clear_errors),
      cmocka_unit_test(test_device_choice),            cmocka_unit_test(test_pipeline_cache_files),
      cmocka_unit_test(test_validation_is_live),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
