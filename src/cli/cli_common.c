/* Helpers shared by subcommands: number parsing, the default dataset's location, the run folder. */
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

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* assets/<rel> from the working folder, else next to the program (build/evonet ->
 * ../assets/...), else the source tree the program was built from (into buf). */
static const char *asset_path(const char *rel, char *buf, size_t cap) {
  snprintf(buf, cap, "assets/%s", rel);
  if (exists(buf)) return buf;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      int len = snprintf(buf, cap, "%s/../assets/%s", exe, rel);
      if (len > 0 && (size_t)len < cap && exists(buf)) return buf; /* a too-long path is skipped */
    }
  }
  snprintf(buf, cap, "%s/assets/%s", EVONET_SOURCE_DIR, rel);
  return buf;
}

const char *cli_default_data(void) {
  static char path[PATH_MAX];
  return asset_path("data/default", path, sizeof path);
}

const char *cli_shipped_ancestor(void) {
  static char path[PATH_MAX];
  const char *p = asset_path(CLI_SHIPPED_ANCESTOR, path, sizeof path);
  return exists(p) ? p : NULL;
}

ev_status cli_open_splits(const char *data, const char *layout_name, ev_dataset *train, ev_dataset *val,
                          ev_dataset *test) {
  memset(train, 0, sizeof *train), memset(val, 0, sizeof *val), memset(test, 0, sizeof *test);
  ev_layout layout;
  EV_TRY(ev_layout_from_name(layout_name, &layout));
  EV_TRY(ev_dataset_open(data, "train", layout, train));
  ev_dataset *opt[2] = {val, test};
  const char *names[2] = {"val", "test"};
  ev_status s = EV_OK;
  for (int i = 0; i < 2 && s == EV_OK; i++) {
    s = ev_dataset_open(data, names[i], layout, opt[i]);
    /* a split that is not there (its folder missing; DUTS has no val) is optional; one that
     * is there but broken (an image without its mask) is an error, not a silent n = 0 */
    if (s == EV_ERR_IO || s == EV_ERR_ARG) ev_clear_error(), memset(opt[i], 0, sizeof *opt[i]), s = EV_OK;
  }
  /* every file's header before training: a bad file fails now, not in a later epoch */
  if (s == EV_OK) s = ev_dataset_check(train);
  if (s == EV_OK && val->n) s = ev_dataset_check(val);
  if (s == EV_OK && test->n) s = ev_dataset_check(test);
  if (s != EV_OK) cli_free_splits(train, val, test);
  return s;
}

void cli_free_splits(ev_dataset *train, ev_dataset *val, ev_dataset *test) {
  if (train->pairs) ev_dataset_free(train);
  if (val->pairs) ev_dataset_free(val);
  if (test->pairs) ev_dataset_free(test);
}

ev_status cli_take_run_folder(const char *cmd, const char *out, const ev_run_settings *s, const char *const *outputs,
                              bool start_over, bool quiet, ev_run_lock *lock) {
  EV_TRY(ev_run_lock_take(out, lock));
  int swept = 0;
  ev_status st = ev_run_folder_open(out, s, outputs, start_over, &swept);
  if (st != EV_OK) {
    ev_run_lock_release(lock);
    return st;
  }
  if (swept && !quiet)
    fprintf(stderr, "evonet %s: removed %d temporary file%s of an interrupted run in %s\n", cmd, swept,
            swept > 1 ? "s" : "", out);
  return EV_OK;
}
