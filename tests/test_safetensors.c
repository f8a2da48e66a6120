/* safetensors: round trip, PyTorch reads what evonet writes, bad files are clear errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evonet/io.h"
#include "evonet/safetensors.h"
#include "testutil.h"

static char g_dir[64];

static int setup(void **state) {
  snprintf(g_dir, sizeof g_dir, "/tmp/evonet-st-XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  return system(cmd);
}

static void test_round_trip_and_torch(void **state) {
  uint64_t seed = tu_seed();
  float *a = malloc(13 * 7 * 3 * 3 * 4), *b = malloc(7 * 4), c[1] = {0};
  tu_fill_uniform(a, 13 * 7 * 9, &seed, -1, 1);
  tu_fill_uniform(b, 7, &seed, -1, 1);
  ev_st_tensor t[3] = {{.name = "c1.weight", .ndim = 4, .shape = {7, 13, 3, 3}, .data = a, .count = 7 * 13 * 9},
                       {.name = "c1.bias", .ndim = 1, .shape = {7}, .data = b, .count = 7},
                       {.name = "empty", .ndim = 1, .shape = {0}, .data = c, .count = 0}};
  const char *meta[] = {"architecture", "{\"x\": 1}", "format", "evonet"};
  char path[128];
  snprintf(path, sizeof path, "%s/net.safetensors", g_dir);
  TU_OK(ev_st_write(path, t, 3, meta, 2));
  ev_st_file *f;
  TU_OK(ev_st_read(path, &f));
  assert_int_equal(ev_st_count(f), 3);
  const ev_st_tensor *w = ev_st_find(f, "c1.weight");
  assert_non_null(w);
  assert_int_equal(w->ndim, 4);
  assert_int_equal(w->shape[1], 13);
  assert_memory_equal(w->data, a, w->count * 4);
  assert_memory_equal(ev_st_find(f, "c1.bias")->data, b, 7 * 4);
  assert_string_equal(ev_st_meta(f, "architecture"), "{\"x\": 1}");
  assert_null(ev_st_meta(f, "missing"));
  ev_st_close(f);
  /* PyTorch (a spec-following reader) sees the same shapes and values */
  char cmd[512], line[4096] = "";
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tools/safetensors_torch.py read %s", getenv("EVONET_SOURCE_DIR"), path);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  assert_non_null(fgets(line, sizeof line, p));
  assert_int_equal(pclose(p), 0);
  double sum = 0;
  for (int i = 0; i < 7 * 13 * 9; i++) sum += a[i];
  char *at = strstr(line, "\"c1.weight\": [[7, 13, 3, 3], ");
  assert_non_null(at);
  assert_true(fabs(strtod(at + strlen("\"c1.weight\": [[7, 13, 3, 3], "), NULL) - sum) < 1e-4);
  assert_non_null(strstr(line, "\"architecture\": \"{\\\"x\\\": 1}\""));
  free(a);
  free(b);
}

static void expect_bad(const char *path, const void *data, size_t n, const char *words) {
  TU_OK(ev_write_file_atomic(path, data, n));
  ev_st_file *f = NULL;
  ev_clear_error();
  assert_int_equal(ev_st_read(path, &f), EV_ERR_FORMAT);
  assert_null(f);
  if (!strstr(ev_last_error(), words)) fail_msg("'%s' lacks '%s'", ev_last_error(), words);
  ev_clear_error();
}

/* A file of `hdr` (its 8-byte length first) and `data_bytes` bytes of fresh random data. */
static size_t make_file(unsigned char *buf, size_t cap, const char *hdr, size_t data_bytes, uint64_t *seed) {
  size_t hl = strlen(hdr), n = 8 + hl + data_bytes;
  assert_true(n <= cap);
  memset(buf, 0, 8);
  for (int b = 0; b < 8; b++) buf[b] = (unsigned char)((uint64_t)hl >> (8 * b));
  memcpy(buf + 8, hdr, hl);
  for (size_t i = 0; i < data_bytes; i++) buf[8 + hl + i] = (unsigned char)(1 + tu_next(seed) % 255);
  return n;
}

/* Headers whose numbers would overflow or alias (found by tests/fuzz): refused, with
 * what is wrong; the same layout with honest numbers reads. */
static void test_header_numbers(void **state) {
  uint64_t seed = tu_seed();
  char path[128], name[300];
  snprintf(path, sizeof path, "%s/num.safetensors", g_dir);
  unsigned char buf[1024];
  const struct { const char *hdr, *words; } bad[] = {
      {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,16]}}", "bad shape"},
      {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,16]}}", "bad shape"},
      {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}",
       "more elements than the file holds"},
      {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0.5,16.5]}}", "outside the file"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", "share bytes 8..16"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    expect_bad(path, buf, make_file(buf, sizeof buf, bad[i].hdr, 32, &seed), bad[i].words);
  char hdr[512];
  memset(name, 'n', 200);
  name[200] = '\0';
  snprintf(hdr, sizeof hdr, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", name);
  expect_bad(path, buf, make_file(buf, sizeof buf, hdr, 16, &seed), "longer than 127 bytes");

  /* adjacent tensors, an empty one at a boundary, out of order in the header: all fine */
  size_t n = make_file(buf, sizeof buf,
                       "{\"c\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[16,32]},"
                       "\"e\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[16,16]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 32, &seed);
  unsigned char *data = buf + n - 32; /* finite values: a NaN or Inf is refused (below) */
  for (int i = 0; i < 4; i++) {
    float v = tu_uniform(&seed, -1e30f, 1e30f);
    memcpy(data + 4 * i, &v, 4);
  }
  for (int i = 0; i < 2; i++) {
    double v = tu_uniform(&seed, -1e30f, 1e30f);
    memcpy(data + 16 + 8 * i, &v, 8);
  }
  TU_OK(ev_write_file_atomic(path, buf, n));
  ev_st_file *f;
  TU_OK(ev_st_read(path, &f));
  const ev_st_tensor *a = ev_st_find(f, "a"), *c = ev_st_find(f, "c"), *e = ev_st_find(f, "e");
  assert_true(a && c && e);
  assert_int_equal(e->count, 0);
  for (int i = 0; i < 4; i++) {
    float v;
    memcpy(&v, data + 4 * i, 4);
    assert_memory_equal(&a->data[i], &v, 4);
  }
  for (int i = 0; i < 2; i++) {
    double v;
    memcpy(&v, data + 16 + 8 * i, 8);
    assert_true(c->data[i] == (float)v);
  }
  ev_st_close(f);
}

static void test_bad_files(void **state) {
  uint64_t seed = tu_seed();
  char path[128], good[128];
  snprintf(path, sizeof path, "%s/bad.safetensors", g_dir);
  snprintf(good, sizeof good, "%s/good.safetensors", g_dir);
  float x[64];
  tu_fill_uniform(x, 64, &seed, -1, 1);
  ev_st_tensor t = {.name = "w", .ndim = 2, .shape = {8, 8}, .data = x, .count = 64};
  TU_OK(ev_st_write(good, &t, 1, NULL, 0));
  unsigned char *buf;
  size_t n;
  TU_OK(ev_read_file(good, (void **)&buf, &n));
  expect_bad(path, buf, n - 5, "outside the file");     /* truncated data */
  expect_bad(path, buf, 20, "truncated or not");        /* truncated header */
  expect_bad(path, "\x89PNG\r\n\x1a\n0000000000000000", 24, "truncated or not"); /* foreign */
  unsigned char *junk = malloc(n);
  memcpy(junk, buf, n);
  junk[8] = '#'; /* header no longer JSON */
  expect_bad(path, junk, n, "bad header");
  const char *hdr = "{\"w\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
  unsigned char tmp[128] = {0};
  tmp[0] = (unsigned char)strlen(hdr);
  memcpy(tmp + 8, hdr, strlen(hdr));
  expect_bad(path, tmp, 8 + strlen(hdr) + 2, "unsupported dtype");
  const char *hdr2 = "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}";
  memset(tmp, 0, sizeof tmp);
  tmp[0] = (unsigned char)strlen(hdr2);
  memcpy(tmp + 8, hdr2, strlen(hdr2));
  expect_bad(path, tmp, 8 + strlen(hdr2) + 8, "bytes for 3 elements");
  ev_st_file *f;
  ev_clear_error();
  assert_int_equal(ev_st_read("/nonexistent/x.safetensors", &f), EV_ERR_IO);
  ev_clear_error();
  free(junk);
  free(buf);
}

/* A NaN or Inf anywhere, in any dtype (an F64 too large for float included), is refused
 * naming the tensor and the element; the same file with a finite value there reads. */
static void test_non_finite(void **state) {
  uint64_t seed = tu_seed();
  char path[128], hdr[256];
  snprintf(path, sizeof path, "%s/nan.safetensors", g_dir);
  const struct { const char *dtype; int es; uint64_t bits; const char *words; } bad[] = {
      {"F32", 4, 0x7fc00000u, "NaN"}, {"F32", 4, 0xff800000u, "-Inf"},
      {"F64", 8, 0x7e37e43c8800759cull /* 1e300 */, "+Inf"}, {"F16", 2, 0x7c00u, "+Inf"},
      {"BF16", 2, 0xffc1u, "NaN"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    int count = 2 + (int)(tu_next(&seed) % 30), at = (int)(tu_next(&seed) % (uint64_t)count);
    snprintf(hdr, sizeof hdr, "{\"ok\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"layer.weight\":{\"dtype\":\"%s\",\"shape\":[%d],\"data_offsets\":[8,%d]}}",
             bad[k].dtype, count, 8 + count * bad[k].es);
    unsigned char buf[1024] = {0};
    size_t hl = strlen(hdr), n = 8 + hl + 8 + (size_t)count * bad[k].es;
    for (int b = 0; b < 8; b++) buf[b] = (unsigned char)((uint64_t)hl >> (8 * b));
    memcpy(buf + 8, hdr, hl);
    unsigned char *d = buf + 8 + hl;
    float one = tu_uniform(&seed, -1, 1);
    memcpy(d, &one, 4);
    for (int i = 0; i < count; i++) /* small finite values of each dtype: random low bits */
      for (int b = 0; b < bad[k].es - 1; b++) d[8 + i * bad[k].es + b] = (unsigned char)tu_next(&seed);
    for (int b = 0; b < bad[k].es; b++) d[8 + at * bad[k].es + b] = (unsigned char)(bad[k].bits >> (8 * b));
    char words[96];
    snprintf(words, sizeof words, "tensor layer.weight holds a non-finite value (%s at element %d)", bad[k].words, at);
    expect_bad(path, buf, n, words);
    memset(d + 8 + at * bad[k].es, 0, (size_t)bad[k].es); /* 0.0: reads */
    TU_OK(ev_write_file_atomic(path, buf, n));
    ev_st_file *f;
    TU_OK(ev_st_read(path, &f));
    assert_true(ev_st_find(f, "layer.weight")->data[at] == 0.0f);
    ev_st_close(f);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_trip_and_torch), cmocka_unit_test(test_bad_files),
                                     cmocka_unit_test(test_header_numbers), cmocka_unit_test(test_non_finite)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
