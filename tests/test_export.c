/* ONNX export's contract without a runtime (tests/test_export.sh runs the files in OpenCV):
 * the file is written atomically and holds the model's parts (producer, opset, the tensor
 * names the header promises, every layer's weights); a resize with no exact ONNX scale and
 * an unwritable path are one-line errors that write nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evonet/export.h"
#include "evonet/io.h"
#include "testutil.h"

static void tiny(const char *json, ev_net_weights *w, uint64_t seed) {
  ev_net_spec s;
  TU_OK(ev_net_from_json(json, &s));
  TU_OK(ev_net_infer(&s, 32, 32));
  TU_OK(ev_weights_alloc(&s, w));
  ev_weights_init_he(w, seed);
  ev_net_free(&s);
}

static const char *k_ok =
    "{\"input\": {\"channels\": 3}, \"classes\": 2, \"layers\": ["
    "{\"name\": \"a\", \"op\": \"conv\", \"in\": [\"input\"], \"out\": 5, \"k\": 3, \"pad\": 1, \"relu\": true, \"bn\": true},"
    "{\"name\": \"p\", \"op\": \"maxpool\", \"in\": [\"a\"], \"k\": 2, \"stride\": 2},"
    "{\"name\": \"d\", \"op\": \"deconv\", \"in\": [\"p\"], \"out\": 3, \"k\": 4, \"stride\": 2, \"pad\": 1,"
    " \"act\": \"leaky_relu\", \"alpha\": 0.2},"
    "{\"name\": \"b\", \"op\": \"conv\", \"in\": [\"p\"], \"out\": 3, \"k\": 1, \"act\": \"tanh\"},"
    "{\"name\": \"u\", \"op\": \"upsample\", \"in\": [\"b\"], \"like\": \"input\"},"
    "{\"name\": \"cat\", \"op\": \"concat\", \"in\": [\"d\", \"u\"]},"
    "{\"name\": \"s\", \"op\": \"conv\", \"in\": [\"cat\"], \"out\": 2, \"k\": 1},"
    "{\"name\": \"s2\", \"op\": \"conv\", \"in\": [\"u\"], \"out\": 2, \"k\": 1},"
    "{\"name\": \"sum\", \"op\": \"add\", \"in\": [\"s\", \"s2\"]}], \"output\": \"sum\"}";

static bool has(const char *hay, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (!memcmp(hay + i, needle, k)) return true;
  return false;
}

static void test_writes_the_model(void **state) {
  if (!ev_onnx_available()) skip();
  ev_net_weights w;
  tiny(k_ok, &w, tu_seed());
  char dir[] = "/tmp/evonet-export-XXXXXX", path[256];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/m.onnx", dir);
  TU_OK(ev_export_onnx(&w, 32, 32, path));
  void *data;
  size_t n;
  TU_OK(ev_read_file(path, &data, &n));
  const char *want[] = {"evonet", "image", "probabilities", "a.weight", "a.bias", "d.weight", "u.scales",
                        "Conv", "ConvTranspose", "MaxPool", "Resize", "Concat", "Add", "Relu", "Softmax", "half_pixel",
                        "LeakyRelu", "alpha", "d.leaky_relu", "Tanh", "b.tanh", "a.pre_relu"};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    if (!has(data, n, want[i])) fail_msg("the ONNX file lacks '%s'", want[i]);
  /* weights are raw float32: at least every live synapse's 4 bytes are in the file */
  assert_true(n > ev_weights_live_synapses(&w) * 4);
  free(data);
  unlink(path), rmdir(dir);
  ev_weights_free(&w);
}

static void test_refuses_what_it_cannot_write(void **state) {
  if (!ev_onnx_available()) skip();
  /* 32 -> pool 3/2 -> 15 -> resized back to 32: no whole-number scale */
  const char *odd =
      "{\"input\": {\"channels\": 3}, \"classes\": 2, \"layers\": ["
      "{\"name\": \"a\", \"op\": \"conv\", \"in\": [\"input\"], \"out\": 2, \"k\": 3, \"pad\": 1},"
      "{\"name\": \"p\", \"op\": \"maxpool\", \"in\": [\"a\"], \"k\": 3, \"stride\": 2},"
      "{\"name\": \"back\", \"op\": \"upsample\", \"in\": [\"p\"], \"like\": \"input\"}], \"output\": \"back\"}";
  ev_net_weights w;
  tiny(odd, &w, tu_seed());
  char dir[] = "/tmp/evonet-export-XXXXXX", path[256];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/m.onnx", dir);
  assert_int_equal(ev_export_onnx(&w, 32, 32, path), EV_ERR_ARG);
  assert_non_null(strstr(ev_last_error(), "layer back"));
  assert_null(strchr(ev_last_error(), '\n'));
  ev_clear_error();
  struct stat st;
  assert_int_not_equal(stat(path, &st), 0); /* nothing written */
  ev_weights_free(&w);
  tiny(k_ok, &w, tu_seed());
  snprintf(path, sizeof path, "%s/no/such/dir/m.onnx", dir);
  assert_int_not_equal(ev_export_onnx(&w, 32, 32, path), EV_OK);
  ev_clear_error();
  rmdir(dir);
  ev_weights_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_writes_the_model),
                                     cmocka_unit_test(test_refuses_what_it_cannot_write)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
