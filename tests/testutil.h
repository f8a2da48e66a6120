/* Shared test helpers: one validated device per test program, fresh random data, poison,
 * and error norms. Every test that opens the GPU ends with tu_gpu_assert_clean(). */
#ifndef EVONET_TESTUTIL_H
#define EVONET_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "evonet/gpu.h"

/* The device of this test program, opened on first use with validation on (EVONET_DEVICE
 * or the default choice). Fails the test if no device opens. */
ev_gpu *tu_gpu(void);
/* Sets one EVONET_* tuning variable of this program's device (evonet/tuning.h) as if the
 * environment held `value` when it opened (NULL: as if unset): the tests switch kernel
 * variants and test hooks on the open device with it. */
void tu_tune(const char *name, const char *value);
/* Fails the test if any validation message arrived since the device was opened. */
void tu_gpu_assert_clean(void);
/* Closes the device (call from main after the group ran) and checks messages again. */
int tu_gpu_finish(int rc);

/* Seed for this run: EVONET_TEST_SEED or time^pid, printed once so a failure reproduces. */
uint64_t tu_seed(void);
uint64_t tu_next(uint64_t *state);              /* splitmix64 */
float tu_uniform(uint64_t *state, float lo, float hi);
void tu_fill_uniform(float *x, size_t n, uint64_t *state, float lo, float hi);

/* Poison: a quiet NaN pattern, so a kernel that skips an output element is caught. */
#define TU_POISON_WORD 0x7fc0dead
void tu_poison(ev_buf *b);

/* ||a-b|| / max(||b||, tiny) and max |a-b|. NaN anywhere returns +inf. */
double tu_rel_err(const float *a, const float *b, size_t n);
double tu_max_abs_err(const float *a, const float *b, size_t n);

/* Upload a host array into a fresh device buffer (size = n floats rounded up to 4). */
ev_buf tu_upload(const float *x, size_t n);
/* Removes a file or a folder tree (links not followed); nothing there is fine. */
void tu_rm_rf(const char *path);
/* A fresh empty folder root/name written to out (4096 bytes), for one test's files. */
char *tu_fresh_dir(const char *root, const char *name, char *out);
void tu_download(const ev_buf *b, float *x, size_t n);

/* Asserts that `call` returned EV_OK, printing the recorded error otherwise. */
#define TU_OK(call)                                                                       \
  do {                                                                                    \
    ev_status tu_s_ = (call);                                                             \
    if (tu_s_ != EV_OK) fail_msg("%s -> %s: %s (%s)", #call, ev_status_name(tu_s_),       \
                                 ev_last_error(), ev_last_error_where());                 \
  } while (0)
/* Asserts that `call` failed with EV_ERR_ARG and recorded a message (printed); clears it. */
#define TU_EXPECT_ARG(call)                                                                \
  do {                                                                                     \
    ev_clear_error();                                                                      \
    ev_status tu_s_ = (call);                                                              \
    if (tu_s_ != EV_ERR_ARG) fail_msg("%s returned %s, expected EV_ERR_ARG", #call, ev_status_name(tu_s_)); \
    if (!ev_last_error()[0]) fail_msg("%s failed without a message", #call);              \
    print_message("  rejected: %s\n", ev_last_error());                                   \
    ev_clear_error();                                                                      \
  } while (0)
#endif
