/* Host parameters: He init, save/load round trip, architecture checks, VGG16 init. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evonet/io.h"
#include "evonet/safetensors.h"
#include "evonet/weights.h"
#include "testutil.h"

static char g_dir[64];
static int setup(void **state) {
  snprintf(g_dir, sizeof g_dir, "/tmp/evonet-w-XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}
static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  return system(cmd);
}

static void net(double width, bool bn, ev_net_weights *w) {
  ev_net_spec s;
  TU_OK(ev_net_saliency_vgg(width, bn, &s));
  TU_OK(ev_net_infer(&s, 64, 64));
  TU_OK(ev_weights_alloc(&s, w));
  ev_net_free(&s);
}

static void test_he_init_statistics(void **state) {
  ev_net_weights w;
  net(0.25, false, &w);
  ev_weights_init_he(&w, tu_seed());
  int i = ev_net_find(&w.spec, "c4_2"); /* 128 -> 128, 3x3: fan_in 1152 */
  const ev_layer *l = &w.spec.layers[i];
  uint64_t n = ev_layer_weight_count(l);
  double m = 0, v = 0;
  for (uint64_t k = 0; k < n; k++) m += w.l[i].w[k];
  m /= n;
  for (uint64_t k = 0; k < n; k++) v += (w.l[i].w[k] - m) * (w.l[i].w[k] - m);
  double std = sqrt(v / n), want = sqrt(2.0 / (l->cin * 9));
  assert_true(fabs(m) < 0.05 * want);
  assert_true(fabs(std - want) < 0.03 * want);
  assert_int_equal(ev_weights_live_synapses(&w), ev_net_synapses(&w.spec));
  /* a sparse newborn: with 3/4 of each filter removed, the live weights' std doubles */
  for (uint64_t k = 0; k < n; k++) w.l[i].mask[k] = (k % 4 == 0);
  ev_weights_init_he(&w, tu_seed() + 1);
  double v2 = 0;
  uint64_t live = 0;
  for (uint64_t k = 0; k < n; k++) {
    if (w.l[i].mask[k] == 0) assert_true(w.l[i].w[k] == 0);
    else v2 += (double)w.l[i].w[k] * w.l[i].w[k], live++;
  }
  assert_true(fabs(sqrt(v2 / live) - 2 * want) < 0.06 * 2 * want);
  ev_weights_free(&w);
}

static void test_save_load_round_trip(void **state) {
  ev_net_weights a, b;
  net(0.125, true, &a);
  uint64_t seed = tu_seed();
  ev_weights_init_he(&a, seed);
  int i = ev_net_find(&a.spec, "c2_1");
  a.l[i].mask[3] = 0, a.l[i].w[3] = 0;
  tu_fill_uniform(a.l[i].rmean, (size_t)a.spec.layers[i].out, &seed, -1, 1);
  char path[128];
  snprintf(path, sizeof path, "%s/net.safetensors", g_dir);
  const char *meta[] = {"evonet.state", "{\"epoch\": 3}"};
  TU_OK(ev_weights_save(path, &a, meta, 1));
  char *state_json;
  TU_OK(ev_weights_load(path, &a.spec, &b, &state_json));
  assert_string_equal(state_json, "{\"epoch\": 3}");
  free(state_json);
  for (int k = 0; k < a.spec.n; k++) {
    const ev_layer *l = &a.spec.layers[k];
    uint64_t n = ev_layer_weight_count(l);
    if (!n) continue;
    assert_memory_equal(a.l[k].w, b.l[k].w, n * 4);
    assert_memory_equal(a.l[k].mask, b.l[k].mask, n * 4);
    if (l->bn) assert_memory_equal(a.l[k].rmean, b.l[k].rmean, (size_t)l->out * 4);
  }
  assert_int_equal(ev_weights_live_synapses(&b), ev_net_synapses(&a.spec) - 1);
  ev_weights_free(&b);
  /* another architecture is refused when one is expected */
  ev_net_spec other;
  TU_OK(ev_net_saliency_vgg(0.25, true, &other));
  ev_clear_error();
  assert_int_equal(ev_weights_load(path, &other, &b, NULL), EV_ERR_FORMAT);
  assert_non_null(strstr(ev_last_error(), "different architecture"));
  ev_clear_error();
  ev_net_free(&other);
  /* truncated, and a safetensors file that is not a network */
  void *data;
  size_t n;
  TU_OK(ev_read_file(path, &data, &n));
  TU_OK(ev_write_file_atomic(path, data, n / 2));
  assert_int_equal(ev_weights_load(path, NULL, &b, NULL), EV_ERR_FORMAT);
  ev_clear_error();
  free(data);
  float x[4] = {1, 2, 3, 4};
  ev_st_tensor t = {.name = "x", .ndim = 1, .shape = {4}, .data = x, .count = 4};
  TU_OK(ev_st_write(path, &t, 1, NULL, 0));
  assert_int_equal(ev_weights_load(path, NULL, &b, NULL), EV_ERR_FORMAT);
  assert_non_null(strstr(ev_last_error(), "not an evonet network"));
  ev_clear_error();
  ev_weights_free(&a);
}

static void test_vgg16_init(void **state) {
  char path[128], cmd[512];
  snprintf(path, sizeof path, "%s/vgg16.safetensors", g_dir);
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tools/safetensors_torch.py vgg16 %s 7", getenv("EVONET_SOURCE_DIR"), path);
  assert_int_equal(system(cmd), 0);
  ev_st_file *f;
  TU_OK(ev_st_read(path, &f));
  ev_net_weights w;
  net(1.0, false, &w);
  TU_OK(ev_weights_init_vgg16(&w, path));
  int i = ev_net_find(&w.spec, "c3_2"); /* torchvision features.12 */
  const ev_st_tensor *tw = ev_st_find(f, "features.12.weight"), *tb = ev_st_find(f, "features.12.bias");
  assert_memory_equal(w.l[i].w, tw->data, tw->count * 4);
  assert_memory_equal(w.l[i].b, tb->data, tb->count * 4);
  ev_weights_free(&w);
  /* a narrower network cannot take VGG16's weights: a clear error */
  net(0.125, false, &w);
  ev_clear_error();
  assert_int_equal(ev_weights_init_vgg16(&w, path), EV_ERR_FORMAT);
  assert_non_null(strstr(ev_last_error(), "width 1 only"));
  ev_clear_error();
  ev_weights_free(&w);
  ev_st_close(f);
}

/* A network file with one NaN or Inf weight is refused on load, naming the tensor. */
static void test_non_finite_refused(void **state) {
  ev_net_weights a, b;
  net(0.125, true, &a);
  uint64_t seed = tu_seed();
  ev_weights_init_he(&a, seed);
  char path[128], want[128];
  snprintf(path, sizeof path, "%s/nan.safetensors", g_dir);
  const float bad[3] = {NAN, INFINITY, -INFINITY};
  for (int k = 0; k < 3; k++) {
    int i; /* a random layer with parameters, and a random one of its tensors */
    do i = (int)(tu_next(&seed) % (uint64_t)a.spec.n);
    while (!ev_layer_weight_count(&a.spec.layers[i]));
    const ev_layer *l = &a.spec.layers[i];
    int which = (int)(tu_next(&seed) % 3);
    if (which == 2 && !l->bn) which = 0; /* score layers have no batch norm */
    float *t = which == 0 ? a.l[i].w : which == 1 ? a.l[i].b : a.l[i].rvar;
    size_t n = which == 0 ? ev_layer_weight_count(l) : (size_t)l->out, at = tu_next(&seed) % n;
    float keep = t[at];
    t[at] = bad[k];
    TU_OK(ev_weights_save(path, &a, NULL, 0));
    t[at] = keep;
    snprintf(want, sizeof want, "tensor %s.%s holds a non-finite value", l->name,
             which == 0 ? "weight" : which == 1 ? "bias" : "bn.running_var");
    ev_clear_error();
    assert_int_equal(ev_weights_load(path, NULL, &b, NULL), EV_ERR_FORMAT);
    if (!strstr(ev_last_error(), want)) fail_msg("'%s' lacks '%s'", ev_last_error(), want);
    ev_clear_error();
  }
  TU_OK(ev_weights_save(path, &a, NULL, 0)); /* restored: loads */
  TU_OK(ev_weights_load(path, &a.spec, &b, NULL));
  ev_weights_free(&b);
  ev_weights_free(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_he_init_statistics), cmocka_unit_test(test_save_load_round_trip),
                                     cmocka_unit_test(test_vgg16_init), cmocka_unit_test(test_non_finite_refused)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
