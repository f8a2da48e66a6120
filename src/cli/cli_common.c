/* Helpers shared by subcommands: number parsing, the default dataset's location. */
#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cli_parse_int(const char *cmd, const char *flag, const char *arg, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(arg, &end, 10);
  if (errno || *end || end == arg || v < lo || v > hi) {
    cli_usage_error(cmd, "%s must be an integer in [%d, %d], got '%s'", flag, lo, hi, arg);
    return -1;
  }
  *out = (int)v;
  return 0;
}

int cli_parse_float(const char *cmd, const char *flag, const char *arg, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(arg, &end);
  if (errno || *end || end == arg || !(v >= lo && v <= hi)) {
    cli_usage_error(cmd, "%s must be a number in [%g, %g], got '%s'", flag, lo, hi, arg);
    return -1;
  }
  *out = v;
  return 0;
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* assets/data/default from the working folder, else next to the program (build/evonet ->
 * ../assets/...), else the source tree the program was built from. */
const char *cli_default_data(void) {
  static char path[PATH_MAX];
  if (is_dir("assets/data/default")) return "assets/data/default";
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      int len = snprintf(path, sizeof path, "%s/../assets/data/default", exe);
      if (len > 0 && len < (int)sizeof path && is_dir(path)) return path; /* a too-long path is skipped */
    }
  }
  snprintf(path, sizeof path, "%s/assets/data/default", EVONET_SOURCE_DIR);
  return path;
}

ev_status cli_open_splits(const char *data, const char *layout_name, ev_dataset *train, ev_dataset *val,
                          ev_dataset *test) {
  memset(train, 0, sizeof *train), memset(val, 0, sizeof *val), memset(test, 0, sizeof *test);
  ev_layout layout;
  EV_TRY(ev_layout_from_name(layout_name, &layout));
  EV_TRY(ev_dataset_open(data, "train", layout, train));
  if (ev_dataset_open(data, "val", layout, val) != EV_OK) ev_clear_error(), memset(val, 0, sizeof *val);
  if (ev_dataset_open(data, "test", layout, test) != EV_OK) ev_clear_error(), memset(test, 0, sizeof *test);
  return EV_OK;
}

void cli_free_splits(ev_dataset *train, ev_dataset *val, ev_dataset *test) {
  if (train->pairs) ev_dataset_free(train);
  if (val->pairs) ev_dataset_free(val);
  if (test->pairs) ev_dataset_free(test);
}
