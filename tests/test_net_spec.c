/* Network descriptions: the paper's ancestor, JSON round trips, shape inference, errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/net.h"
#include "testutil.h"

static void test_paper_synapse_count(void **state) {
  ev_net_spec s;
  TU_OK(ev_net_saliency_vgg(1.0, false, &s));
  TU_OK(ev_net_infer(&s, 224, 224));
  uint64_t syn = ev_net_synapses(&s);
  double rel = ((double)syn - 63767232.0) / 63767232.0;
  assert_true(rel > -0.05 && rel < 0.05); /* within ±5% of the paper */
  /* VGG16's conv weights are part of it, exactly */
  uint64_t vgg = 0;
  for (int i = 0; i < s.n; i++)
    if (s.layers[i].name[0] == 'c' && s.layers[i].name[1] >= '1' && s.layers[i].name[1] <= '5' &&
        s.layers[i].name[2] == '_')
      vgg += ev_layer_synapses(&s.layers[i]);
  assert_int_equal(vgg, 14710464);
  /* output: 2 logits at input resolution; c3 at 1/4, c5 at 1/16 */
  assert_int_equal(s.layers[s.output].c, 2);
  assert_int_equal(s.layers[s.output].h, 224);
  assert_int_equal(s.layers[ev_net_find(&s, "c3_3")].h, 56);
  assert_int_equal(s.layers[ev_net_find(&s, "c5_3")].h, 14);
  assert_int_equal(s.layers[ev_net_find(&s, "cat9")].c, 768);
  ev_net_free(&s);
}

static void test_json_round_trip(void **state) {
  ev_net_spec a, b;
  TU_OK(ev_net_saliency_vgg(0.125, true, &a));
  TU_OK(ev_net_infer(&a, 128, 96));
  char *j = ev_net_to_json(&a);
  TU_OK(ev_net_from_json(j, &b));
  TU_OK(ev_net_infer(&b, 128, 96));
  assert_int_equal(a.n, b.n);
  assert_int_equal(a.output, b.output);
  for (int i = 0; i < a.n; i++) assert_memory_equal(&a.layers[i], &b.layers[i], sizeof a.layers[i]);
  char *j2 = ev_net_to_json(&b);
  assert_string_equal(j, j2);
  /* irregular channel counts survive (a compacted offspring) */
  b.layers[0].out = 5;
  b.layers[1].out = 3;
  char *j3 = ev_net_to_json(&b);
  ev_net_spec c;
  TU_OK(ev_net_from_json(j3, &c));
  TU_OK(ev_net_infer(&c, 64, 64));
  assert_int_equal(c.layers[1].cin, 5);
  assert_int_equal(ev_layer_synapses(&c.layers[1]), 5 * 3 * 9);
  free(j), free(j2), free(j3);
  ev_net_free(&a), ev_net_free(&b), ev_net_free(&c);
}

static void expect_format_error(const char *json, const char *words) {
  ev_net_spec s;
  ev_clear_error();
  assert_int_equal(ev_net_from_json(json, &s), EV_ERR_FORMAT);
  if (!strstr(ev_last_error(), words)) fail_msg("error '%s' lacks '%s'", ev_last_error(), words);
  ev_clear_error();
}

static void test_bad_descriptions(void **state) {
  expect_format_error("{not json", "not valid JSON");
  expect_format_error("{\"input\":{\"channels\":3},\"layers\":[],\"output\":\"x\"}", "needs");
  expect_format_error("{\"input\":{\"channels\":3},\"layers\":[{\"name\":\"a\",\"op\":\"conv\",\"in\":[\"b\"],"
                      "\"out\":2,\"k\":3}],\"output\":\"a\"}", "not an earlier layer");
  expect_format_error("{\"input\":{\"channels\":3},\"layers\":[{\"name\":\"a\",\"op\":\"magic\",\"in\":[\"input\"]}],"
                      "\"output\":\"a\"}", "unknown op");
  expect_format_error("{\"input\":{\"channels\":3},\"layers\":[{\"name\":\"a\",\"op\":\"conv\",\"in\":[\"input\"],"
                      "\"out\":0,\"k\":3}],\"output\":\"a\"}", "bad convolution");
  expect_format_error("{\"input\":{\"channels\":3},\"layers\":[{\"name\":\"a\",\"op\":\"conv\",\"in\":[\"input\"],"
                      "\"out\":2,\"k\":1},{\"name\":\"a\",\"op\":\"conv\",\"in\":[\"input\"],\"out\":2,\"k\":1}],"
                      "\"output\":\"a\"}", "used twice");
  /* an input too small for the network is a shape error naming the layer */
  ev_net_spec s;
  TU_OK(ev_net_saliency_vgg(0.125, false, &s));
  assert_int_equal(ev_net_infer(&s, 8, 8), EV_ERR_ARG);
  assert_non_null(strstr(ev_last_error(), "layer"));
  ev_clear_error();
  assert_int_equal(ev_net_infer(&s, 120, 120), EV_ERR_ARG); /* not a multiple of 16 */
  ev_clear_error();
  ev_net_free(&s);
  assert_int_equal(ev_net_saliency_vgg(0, false, &s), EV_ERR_ARG);
  ev_clear_error();
}

/* A one-layer conv network on 3 channels whose layer carries `fields` (JSON members). */
static void conv_with(char *out, size_t n, const char *fields) {
  snprintf(out, n, "{\"input\":{\"channels\":3},\"classes\":2,\"layers\":[{\"name\":\"a\",\"op\":\"conv\","
           "\"in\":[\"input\"],%s}],\"output\":\"a\"}", fields);
}

/* Parses, infers channels, then shapes at h x w; expects `code` naming `words`. */
static void expect_infer_error(const char *json, int h, int w, ev_status code, const char *words) {
  ev_net_spec s;
  TU_OK(ev_net_from_json(json, &s));
  ev_status st = ev_net_infer_channels(&s);
  if (st == EV_OK) st = ev_net_infer(&s, h, w);
  assert_int_equal(st, code);
  if (!strstr(ev_last_error(), words)) fail_msg("error '%s' lacks '%s'", ev_last_error(), words);
  ev_clear_error();
  ev_net_free(&s);
}

/* A classification network with fc, avgpool and gap layers: shapes, fc kernels found from the
 * input size, counts, the JSON round trip and the errors that name the layer. */
#define CLS_NET(size, extra)                                                                                   \
  "{\"input\":{\"channels\":1" size "},\"classes\":10,\"task\":\"classification\",\"layers\":["              \
  "{\"name\":\"c1\",\"op\":\"conv\",\"in\":[\"input\"],\"out\":6,\"k\":5,\"pad\":2,\"act\":\"relu\"},"     \
  "{\"name\":\"s2\",\"op\":\"avgpool\",\"in\":[\"c1\"],\"k\":2,\"stride\":2},"                               \
  "{\"name\":\"f3\",\"op\":\"fc\",\"in\":[\"s2\"],\"out\":20,\"bn\":true,\"act\":\"relu\"" extra "},"     \
  "{\"name\":\"f4\",\"op\":\"fc\",\"in\":[\"f3\"],\"out\":10}],\"output\":\"f4\"}"

static void test_classification_spec(void **state) {
  ev_net_spec s, b;
  TU_OK(ev_net_from_json(CLS_NET(",\"size\":28", ""), &s));
  assert_int_equal(s.task, EV_TASK_CLASSIFY);
  assert_int_equal(s.in_size, 28);
  int f3 = ev_net_find(&s, "f3"), f4 = ev_net_find(&s, "f4"), s2 = ev_net_find(&s, "s2");
  assert_int_equal(s.layers[f3].op, EV_OP_CONV); /* an fc layer is a conv over its whole input */
  assert_true(s.layers[f3].full);
  assert_int_equal(s.layers[f3].k, 14); /* found from the input size at parse time */
  assert_int_equal(s.layers[f4].k, 1);
  assert_string_equal(ev_layer_op_name(&s.layers[f3]), "fc");
  assert_string_equal(ev_layer_op_name(&s.layers[s2]), "avgpool");
  TU_OK(ev_net_infer(&s, 28, 28));
  assert_int_equal(s.layers[s2].h, 14);
  assert_int_equal(s.layers[f3].h, 1);
  assert_int_equal(s.layers[f4].c, 10);
  assert_int_equal(ev_layer_synapses(&s.layers[f3]), 6ull * 14 * 14 * 20);
  assert_int_equal(ev_net_synapses(&s), 150ull + 6 * 14 * 14 * 20 + 200);
  assert_int_equal(ev_layer_params(&s.layers[f3]), 6ull * 14 * 14 * 20 + 3 * 20); /* + bias, BN */
  /* round trip: fc keeps its kernel, the task and the input size */
  char *j = ev_net_to_json(&s);
  assert_non_null(strstr(j, "\"op\":\"fc\""));
  assert_non_null(strstr(j, "\"task\":\"classification\""));
  TU_OK(ev_net_from_json(j, &b));
  free(j);
  TU_OK(ev_net_infer_channels(&b));
  assert_int_equal(ev_net_synapses(&b), ev_net_synapses(&s));
  assert_int_equal(b.layers[f3].k, 14);
  assert_true(b.layers[f3].full);
  ev_net_free(&b);
  /* another input size: the fc weights were made for 14x14 */
  assert_int_equal(ev_net_infer(&s, 32, 32), EV_ERR_ARG);
  assert_non_null(strstr(ev_last_error(), "layer f3"));
  ev_clear_error();
  ev_net_free(&s);
  /* an fc layer without the input size, a non-square input, a 1x1 output check */
  expect_format_error(CLS_NET("", ""), "layer f3: a fully connected layer needs the input size");
  TU_OK(ev_net_from_json(CLS_NET(",\"size\":28", ""), &s));
  assert_int_equal(ev_net_infer(&s, 28, 24), EV_ERR_ARG);
  assert_non_null(strstr(ev_last_error(), "square"));
  ev_clear_error();
  ev_net_free(&s);
  expect_format_error("{\"input\":{\"channels\":1},\"task\":\"sorting\",\"layers\":[{\"name\":\"a\",\"op\":\"conv\","
                      "\"in\":[\"input\"],\"out\":2}],\"output\":\"a\"}", "task");
  expect_format_error("{\"input\":{\"channels\":1},\"layers\":[{\"name\":\"a\",\"op\":\"conv\","
                      "\"in\":[\"input\"],\"out\":2,\"act\":\"swish\"}],\"output\":\"a\"}", "layer a");
  /* a classification output that is not 1x1 */
  char bad[512];
  snprintf(bad, sizeof bad, "{\"input\":{\"channels\":3},\"classes\":2,\"task\":\"classification\",\"layers\":["
           "{\"name\":\"a\",\"op\":\"conv\",\"in\":[\"input\"],\"out\":2}],\"output\":\"a\"}");
  expect_infer_error(bad, 8, 8, EV_ERR_ARG, "1x1");
  /* gap: any input size, 1x1 out */
  snprintf(bad, sizeof bad, "{\"input\":{\"channels\":3},\"classes\":4,\"task\":\"classification\",\"layers\":["
           "{\"name\":\"a\",\"op\":\"conv\",\"in\":[\"input\"],\"out\":4,\"k\":3,\"pad\":1},"
           "{\"name\":\"g\",\"op\":\"gap\",\"in\":[\"a\"]}],\"output\":\"g\"}");
  TU_OK(ev_net_from_json(bad, &s));
  TU_OK(ev_net_infer_channels(&s));
  TU_OK(ev_net_infer(&s, 9, 9));
  assert_int_equal(s.layers[1].k, 9);
  TU_OK(ev_net_infer(&s, 13, 13));
  assert_int_equal(s.layers[1].h, 1);
  j = ev_net_to_json(&s);
  assert_non_null(strstr(j, "\"op\":\"gap\""));
  free(j);
  ev_net_free(&s);
}

/* Numbers a file can carry stay inside int arithmetic: whole numbers within the bounds,
 * channel sums and layer sizes checked as they grow (found by tests/fuzz). */
static void test_bounds(void **state) {
  char j[1024], f[256];
  const char *bad[] = {"\"out\":2,\"k\":1e9", "\"out\":2,\"k\":2.5", "\"out\":2,\"k\":\"3\"",
                       "\"out\":70000,\"k\":1", "\"out\":2,\"k\":3,\"pad\":-1", "\"out\":2,\"k\":3,\"dil\":257"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    conv_with(j, sizeof j, bad[i]);
    expect_format_error(j, "must be a whole number from 0 to");
  }
  expect_format_error("{\"input\":{\"chanels\":3},\"layers\":[{\"name\":\"a\",\"op\":\"conv\",\"in\":[\"input\"],"
                      "\"out\":2,\"k\":1}],\"output\":\"a\"}", "input channels and classes");
  expect_format_error("{\"input\":{\"channels\":3},\"classes\":0.5,\"layers\":[{\"name\":\"a\",\"op\":\"conv\","
                      "\"in\":[\"input\"],\"out\":2,\"k\":1}],\"output\":\"a\"}", "input channels and classes");
  /* the largest values parse */
  snprintf(f, sizeof f, "\"out\":2,\"k\":%d,\"pad\":%d,\"dil\":1", EV_NET_MAX_KERNEL, EV_NET_MAX_KERNEL / 2);
  conv_with(j, sizeof j, f);
  ev_net_spec s;
  TU_OK(ev_net_from_json(j, &s));
  ev_net_free(&s);

  /* concatenations doubling past the channel bound: refused, not wrapped */
  expect_infer_error("{\"input\":{\"channels\":3},\"classes\":2,\"layers\":["
                     "{\"name\":\"a\",\"op\":\"conv\",\"in\":[\"input\"],\"out\":40000,\"k\":1},"
                     "{\"name\":\"b\",\"op\":\"concat\",\"in\":[\"a\",\"a\"]},"
                     "{\"name\":\"s\",\"op\":\"conv\",\"in\":[\"b\"],\"out\":2,\"k\":1}],\"output\":\"s\"}",
                     8, 8, EV_ERR_FORMAT, "concatenates 80000 channels");
  /* transposed convolutions growing a layer past 2^20 a side */
  expect_infer_error("{\"input\":{\"channels\":3},\"classes\":2,\"layers\":["
                     "{\"name\":\"a\",\"op\":\"deconv\",\"in\":[\"input\"],\"out\":2,\"k\":256,\"stride\":256},"
                     "{\"name\":\"b\",\"op\":\"deconv\",\"in\":[\"a\"],\"out\":2,\"k\":256,\"stride\":256}],"
                     "\"output\":\"b\"}", 32, 32, EV_ERR_ARG, "a side");
  assert_int_equal(ev_net_infer(&(ev_net_spec){0}, EV_NET_MAX_SIDE + 1, 4), EV_ERR_ARG);
  ev_clear_error();
  /* a window that does not fit even once leaves no pixels (PyTorch's floor rule: a 3-wide
   * stride-2 window on 2 pixels gives 0, not the 1 that C's truncating division gave) */
  conv_with(j, sizeof j, "\"out\":2,\"k\":3,\"stride\":2");
  expect_infer_error(j, 2, 2, EV_ERR_ARG, "no pixels left");
}

/* Activations: "act" names each kind (leaky_relu with an optional "alpha"), the legacy
 * "relu": true still reads, "act" wins; written back, a ReLU is "relu": true only (what older
 * builds read and every existing file says), the others "act" (and "alpha"); bad kinds and
 * slopes are format errors. */
static void test_activations(void **state) {
  char j[1024];
  const struct { const char *fields; ev_act_kind kind; float alpha; const char *written; } ok[] = {
      {"\"out\":2,\"k\":1", EV_ACT_NONE, 0.0f, NULL},
      {"\"out\":2,\"k\":1,\"relu\":true", EV_ACT_RELU, 0.0f, "\"relu\":true"},
      {"\"out\":2,\"k\":1,\"act\":\"relu\"", EV_ACT_RELU, 0.0f, "\"relu\":true"},
      {"\"out\":2,\"k\":1,\"act\":\"none\",\"relu\":true", EV_ACT_NONE, 0.0f, NULL},
      {"\"out\":2,\"k\":1,\"act\":\"leaky_relu\"", EV_ACT_LEAKY_RELU, 0.01f, "\"act\":\"leaky_relu\",\"alpha\":0.01"},
      {"\"out\":2,\"k\":1,\"act\":\"leaky_relu\",\"alpha\":0.2", EV_ACT_LEAKY_RELU, 0.2f,
       "\"act\":\"leaky_relu\",\"alpha\":0.2"},
      {"\"out\":2,\"k\":1,\"act\":\"tanh\",\"relu\":true", EV_ACT_TANH, 0.0f, "\"act\":\"tanh\""},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    conv_with(j, sizeof j, ok[i].fields);
    ev_net_spec s, t;
    TU_OK(ev_net_from_json(j, &s));
    assert_int_equal(s.layers[0].act.kind, ok[i].kind);
    if (ok[i].kind == EV_ACT_LEAKY_RELU) assert_true(s.layers[0].act.alpha == ok[i].alpha);
    char *out = ev_net_to_json(&s);
    assert_non_null(out);
    if (ok[i].written && !strstr(out, ok[i].written)) fail_msg("%s: '%s' lacks '%s'", ok[i].fields, out, ok[i].written);
    if (ok[i].kind != EV_ACT_LEAKY_RELU && ok[i].kind != EV_ACT_TANH && strstr(out, "\"act\""))
      fail_msg("%s: '%s' writes \"act\"", ok[i].fields, out);
    if (ok[i].kind != EV_ACT_RELU && strstr(out, "\"relu\"")) fail_msg("%s: '%s' writes \"relu\"", ok[i].fields, out);
    TU_OK(ev_net_from_json(out, &t)); /* and reads back the same */
    assert_int_equal(t.layers[0].act.kind, s.layers[0].act.kind);
    assert_true(t.layers[0].act.alpha == s.layers[0].act.alpha);
    free(out), ev_net_free(&s), ev_net_free(&t);
  }
  const struct { const char *fields, *words; } bad[] = {
      {"\"out\":2,\"k\":1,\"act\":\"gelu\"", "'act' must be"},
      {"\"out\":2,\"k\":1,\"act\":true", "'act' must be"},
      {"\"out\":2,\"k\":1,\"act\":\"relu\",\"alpha\":0.1", "'alpha' is the slope"},
      {"\"out\":2,\"k\":1,\"alpha\":0.1", "'alpha' is the slope"},
      {"\"out\":2,\"k\":1,\"act\":\"leaky_relu\",\"alpha\":0", "finite number > 0"},
      {"\"out\":2,\"k\":1,\"act\":\"leaky_relu\",\"alpha\":-0.1", "finite number > 0"},
      {"\"out\":2,\"k\":1,\"act\":\"leaky_relu\",\"alpha\":1e300", "finite number > 0"},
      {"\"out\":2,\"k\":1,\"act\":\"leaky_relu\",\"alpha\":1e-300", "finite number > 0"},
      {"\"out\":2,\"k\":1,\"act\":\"leaky_relu\",\"alpha\":\"0.1\"", "finite number > 0"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    conv_with(j, sizeof j, bad[i].fields);
    expect_format_error(j, bad[i].words);
  }
  /* the names and checks of act.h */
  for (int k = 0; k < EV_ACT_KINDS; k++) assert_int_equal(ev_act_parse(ev_act_name((ev_act_kind)k)), k);
  assert_int_equal(ev_act_parse("Relu"), -1);
  assert_int_equal(ev_act_check("t", &(ev_act){EV_ACT_LEAKY_RELU, 0.0f}), EV_ERR_ARG);
  ev_clear_error();
  assert_int_equal(ev_act_check("t", &(ev_act){EV_ACT_TANH, -1.0f}), EV_OK); /* alpha: leaky only */
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_paper_synapse_count), cmocka_unit_test(test_json_round_trip),
                                     cmocka_unit_test(test_bad_descriptions), cmocka_unit_test(test_bounds),
                                     cmocka_unit_test(test_classification_spec), cmocka_unit_test(test_activations)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
