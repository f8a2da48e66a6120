/* Fuzz target: a dataset image (JPEG, PNG or BMP) decoded as the data loader decodes it,
 * to RGB and to a one-channel mask, after the header check the dataset check does. */
#include <stdint.h>
#include <stdlib.h>

#include "evonet/image.h"
#include "evonet/status.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_write_file(data, size);
  int w, h;
  if (ev_image_info(path, &w, &h) == EV_OK) {
    /* Sizes over 2^20 pixels are valid up to EV_IMAGE_MAX_PIXELS, but each takes seconds
     * under the sanitizers: left out so the fuzzer explores the decoders instead (the
     * limit itself is tested in test_data). */
    if ((uint64_t)w * (uint64_t)h > (1u << 20)) return 0;
  } else if (!ev_last_error()[0]) {
    abort();
  }
  ev_clear_error();
  for (int c = 1; c <= 3; c += 2) {
    ev_image im;
    if (ev_image_load(path, c, &im) == EV_OK) {
      if (im.w <= 0 || im.h <= 0 || im.c != c) abort();
      ev_image_free(&im);
    } else if (!ev_last_error()[0]) {
      abort();
    }
    ev_clear_error();
  }
  return 0;
}
