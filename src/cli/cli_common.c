/* Helpers shared by subcommands: number parsing, the default dataset's location, the run folder. */
#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "evonet/io.h"
#include "evonet/weights.h"

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

ev_status cli_load_arch(const char *arch, ev_net_spec *out, char *path_out, size_t cap) {
  char buf[PATH_MAX], rel[300];
  const char *path = arch;
  /* a bare name (no '/', no ".json") is a shipped spec: assets/archs/<name>.json */
  if (!strchr(arch, '/') && !strstr(arch, ".json") && strlen(arch) < 200) {
    snprintf(rel, sizeof rel, "archs/%s.json", arch);
    path = asset_path(rel, buf, sizeof buf);
    if (!exists(path))
      return ev_fail(EV_ERR_IO, "no architecture '%s': neither a file nor one of the shipped specs in %s/assets/archs",
                     arch, EVONET_SOURCE_DIR);
  }
  if (path_out) snprintf(path_out, cap, "%s", path);
  void *data;
  size_t n;
  EV_TRY(ev_read_file(path, &data, &n));
  char *txt = realloc(data, n + 1); /* NUL-terminated for the JSON parser */
  if (!txt) {
    free(data);
    return ev_fail(EV_ERR_OOM, "out of memory");
  }
  txt[n] = 0;
  ev_status s = ev_net_from_json(txt, out);
  free(txt);
  if (s == EV_OK && (s = ev_net_infer_channels(out)) != EV_OK) ev_net_free(out);
  if (s != EV_OK) { /* the spec's own message, prefixed with the file it came from */
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ev_last_error());
    ev_clear_error();
    return ev_fail(s, "%s: %s", path, msg);
  }
  return EV_OK;
}

int cli_settle_size(const char *cmd, const ev_net_spec *spec, int *size) {
  if (*size == 0) *size = spec->in_size > 0 ? spec->in_size : 128;
  if (spec->task == EV_TASK_SALIENCY && *size % 16) /* four 2x2 poolings, then upsampled back */
    return cli_usage_error(cmd, "--size must be a multiple of 16 for a saliency network, got %d", *size);
  return 0;
}

int cli_make_network(const char *cmd, const char *arch, const char *weights, double width, bool bn, int *size,
                     uint64_t seed, ev_net_weights *w, char *arch_path, size_t cap) {
  memset(w, 0, sizeof *w);
  ev_net_spec spec;
  if (weights) {
    if (ev_weights_load(weights, NULL, w, NULL) != EV_OK) return 1;
  } else if (arch) {
    if (cli_load_arch(arch, &spec, arch_path, cap) != EV_OK) return 1;
    ev_status s = ev_weights_alloc(&spec, w);
    ev_net_free(&spec);
    if (s != EV_OK) return 1;
    ev_weights_init_he(w, seed);
  } else { /* the saliency network's shapes need no input size: settled below like any other */
    if (ev_net_saliency_vgg(width, bn, &spec) != EV_OK) return 1;
    int rc = cli_settle_size(cmd, &spec, size);
    ev_net_free(&spec);
    if (rc) return rc;
    return ev_weights_saliency_he(width, bn, *size, seed, w) == EV_OK ? 0 : 1;
  }
  int rc = cli_settle_size(cmd, &w->spec, size);
  if (rc) ev_weights_free(w);
  return rc;
}

ev_status cli_write_confusion(const char *out_dir, const char *split, const ev_class_metrics *cm, const ev_dataset *ds) {
  ev_class_summary r;
  ev_class_metrics_result(cm, &r);
  char path[4096], title[160];
  snprintf(title, sizeof title, "%s: top-1 %.2f %%", split, 100 * r.top1);
  EV_TRY(ev_mkdirs(out_dir));
  return ev_class_confusion_png(ev_path_join(path, sizeof path, out_dir, "confusion.png"), cm,
                                ds->cls ? (const char *const *)ds->cls->class_names : NULL, title);
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
  if (train->pairs || train->cls) ev_dataset_free(train);
  if (val->pairs || val->cls) ev_dataset_free(val);
  if (test->pairs || test->cls) ev_dataset_free(test);
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
