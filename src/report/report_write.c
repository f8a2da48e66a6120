/* A report folder: report.json, report.csv and report.md, each written atomically. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evonet/io.h"
#include "evonet/report.h"

/* The shortest of 15, 16 or 17 significant digits that reads back as exactly v; `none`
 * for NaN and infinities. (cJSON's own printing accepts 15 digits that come back within
 * an epsilon, which can lose the last bit.) */
static const char *fmt_double(char buf[40], double v, const char *none) {
  snprintf(buf, 40, "%s", none);
  for (int digits = 15; isfinite(v) && digits <= 17; digits++) {
    snprintf(buf, 40, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) break;
  }
  return buf;
}

/* ---------------- JSON ---------------- */
static int add_num(cJSON *o, const char *k, double v) {
  char buf[40];
  return cJSON_AddRawToObject(o, k, fmt_double(buf, v, "null")) != NULL;
}

static cJSON *summary_json(const ev_metrics_summary *m) {
  cJSON *o = cJSON_CreateObject();
  if (m->classify) {
    int ok = o && add_num(o, "top1", m->top1) && add_num(o, "top5", m->top5) && add_num(o, "loss", m->loss) &&
             add_num(o, "mean_class_accuracy", m->mean_class_acc) && add_num(o, "n_images", (double)m->n_images);
    if (!ok) cJSON_Delete(o);
    return ok ? o : NULL;
  }
  int ok = o && add_num(o, "mae", m->mae) && add_num(o, "adaptive_f", m->adaptive_f) &&
           add_num(o, "max_f", m->max_f) && add_num(o, "mean_f", m->mean_f) &&
           add_num(o, "max_f_threshold", m->max_f_threshold) &&
           add_num(o, "n_images", (double)m->n_images);
  if (!ok) cJSON_Delete(o);
  return ok ? o : NULL;
}

static cJSON *run_json(const ev_run_info *in) {
  char seed[32];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)in->seed);
  cJSON *o = cJSON_CreateObject();
  int ok = o && cJSON_AddStringToObject(o, "device", in->device) &&
           add_num(o, "alpha", in->alpha) &&
           cJSON_AddStringToObject(o, "granularity", in->granularity) &&
           cJSON_AddStringToObject(o, "protect", in->protect) &&
           cJSON_AddStringToObject(o, "rule", in->rule) && cJSON_AddStringToObject(o, "gen_epochs", in->epochs) && cJSON_AddStringToObject(o, "training", in->training) &&
           add_num(o, "offspring_per_gen", in->offspring_per_gen) &&
           add_num(o, "epochs_per_gen", in->epochs_per_gen) && add_num(o, "size", in->size) &&
           add_num(o, "width", in->width) && cJSON_AddStringToObject(o, "arch", in->arch) &&
           cJSON_AddStringToObject(o, "seed", seed) &&
           cJSON_AddStringToObject(o, "dataset", in->dataset) &&
           add_num(o, "seconds", in->seconds);
  if (!ok) cJSON_Delete(o);
  return ok ? o : NULL;
}

static cJSON *record_json(const ev_gen_record *r) {
  cJSON *o = cJSON_CreateObject(), *val = summary_json(&r->val), *test = summary_json(&r->test);
  int ok = o && val && test && add_num(o, "generation", r->generation) &&
           add_num(o, "offspring", r->offspring) &&
           cJSON_AddBoolToObject(o, "selected", r->selected) &&
           add_num(o, "synapses", (double)r->synapses) &&
           add_num(o, "params", (double)r->params) && add_num(o, "flops", (double)r->flops) &&
           add_num(o, "efficiency", r->efficiency) && add_num(o, "infer_ms", r->infer_ms) &&
           add_num(o, "train_seconds", r->train_seconds) &&
           cJSON_AddStringToObject(o, "weights", r->weights);
  if (ok) {
    cJSON_AddItemToObject(o, "val", val); /* cannot fail with both non-NULL */
    cJSON_AddItemToObject(o, "test", test);
    return o;
  }
  cJSON_Delete(o), cJSON_Delete(val), cJSON_Delete(test);
  return NULL;
}

static char *report_json(const ev_run_info *info, const ev_gen_record *r, int n) {
  cJSON *root = cJSON_CreateObject(), *recs = cJSON_CreateArray();
  cJSON *run = info ? run_json(info) : cJSON_CreateNull();
  int ok = root && recs && run;
  for (int i = 0; ok && i < n; i++) {
    cJSON *rec = record_json(&r[i]);
    ok = rec != NULL;
    if (ok) cJSON_AddItemToArray(recs, rec);
  }
  char *text = NULL;
  if (ok) {
    cJSON_AddItemToObject(root, "run", run);
    cJSON_AddItemToObject(root, "records", recs);
    text = cJSON_Print(root);
    cJSON_Delete(root);
  } else {
    cJSON_Delete(root), cJSON_Delete(recs), cJSON_Delete(run);
  }
  return text;
}

/* ---------------- CSV ---------------- */
/* A field quoted (RFC 4180) when it holds a comma, quote or line break. */
static void csv_string(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void csv_summary(FILE *f, const ev_metrics_summary *m) {
  char a[40], b[40], c[40], d[40];
  if (m->classify) {
    fprintf(f, "%s,%s,%s,%s,%zu,", fmt_double(a, m->top1, ""), fmt_double(b, m->top5, ""), fmt_double(c, m->loss, ""),
            fmt_double(d, m->mean_class_acc, ""), m->n_images);
    return;
  }
  fprintf(f, "%s,%s,%s,%s,%zu,", fmt_double(a, m->mae, ""), fmt_double(b, m->adaptive_f, ""),
          fmt_double(c, m->max_f, ""), fmt_double(d, m->mean_f, ""), m->n_images);
}

static void report_csv(FILE *f, const ev_gen_record *r, int n) {
  if (n > 0 && r[0].test.classify)
    fputs("generation,offspring,selected,synapses,params,flops,efficiency,infer_ms,"
          "val_top1,val_top5,val_loss,val_mean_class_accuracy,val_n_images,"
          "test_top1,test_top5,test_loss,test_mean_class_accuracy,test_n_images,"
          "train_seconds,weights\n",
          f);
  else
    fputs("generation,offspring,selected,synapses,params,flops,efficiency,infer_ms,"
          "val_mae,val_adaptive_f,val_max_f,val_mean_f,val_n_images,"
          "test_mae,test_adaptive_f,test_max_f,test_mean_f,test_n_images,"
          "train_seconds,weights\n",
          f);
  for (int i = 0; i < n; i++) {
    char a[40], b[40];
    fprintf(f, "%d,%d,%d,%llu,%llu,%llu,%s,%s,", r[i].generation, r[i].offspring,
            r[i].selected ? 1 : 0, (unsigned long long)r[i].synapses,
            (unsigned long long)r[i].params, (unsigned long long)r[i].flops,
            fmt_double(a, r[i].efficiency, ""), fmt_double(b, r[i].infer_ms, ""));
    csv_summary(f, &r[i].val);
    csv_summary(f, &r[i].test);
    fprintf(f, "%s,", fmt_double(a, r[i].train_seconds, ""));
    csv_string(f, r[i].weights);
    fputc('\n', f);
  }
}

/* ---------------- the folder ---------------- */
static void report_md(FILE *f, const char *dir, const ev_run_info *info,
                      const ev_gen_record *r, int n) {
  ev_report_print_markdown(f, info, r, n);
  static const char *const fig[][2] = {
      {EV_REPORT_PLOT, "score (max-F or top-1) and synapses per generation"},
      {EV_REPORT_GRID, "saliency maps per generation (Figure 4)"},
      {EV_REPORT_CONFUSION, "confusion matrix of the last generation on the test set"}};
  int header = 0;
  for (size_t i = 0; i < sizeof fig / sizeof fig[0]; i++) {
    char path[4096];
    struct stat st;
    if (stat(ev_path_join(path, sizeof path, dir, fig[i][0]), &st) != 0) continue;
    if (!header++) fprintf(f, "\n## Figures\n");
    fprintf(f, "\n![%s](%s)\n", fig[i][1], fig[i][0]);
  }
}

/* Writes text atomically to dir/name; NULL text means formatting ran out of memory. */
static ev_status write_text(const char *dir, const char *name, const char *text, size_t len) {
  char path[4096];
  ev_path_join(path, sizeof path, dir, name);
  if (!text) return ev_fail(EV_ERR_OOM, "out of memory formatting %s", path);
  return ev_write_file_atomic(path, text, len);
}

ev_status ev_report_write(const char *dir, const ev_run_info *info, const ev_gen_record *r,
                          int n) {
  if (!dir || !dir[0]) return ev_fail(EV_ERR_ARG, "report: no output folder given");
  if (!r || n <= 0)
    return ev_fail(EV_ERR_ARG, "report: no generation records to write (n = %d)", n);
  if (strlen(dir) > 3000) return ev_fail(EV_ERR_ARG, "report: folder name too long");
  EV_TRY(ev_mkdirs(dir));

  char *json = report_json(info, r, n);
  ev_status st = write_text(dir, EV_REPORT_JSON, json, json ? strlen(json) : 0);
  cJSON_free(json);
  EV_TRY(st);

  for (int md = 0; md < 2; md++) { /* CSV, then Markdown, through a memory stream */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return ev_fail(EV_ERR_OOM, "report: out of memory");
    if (md) report_md(f, dir, info, r, n);
    else report_csv(f, r, n);
    int bad = ferror(f);
    fclose(f);
    st = write_text(dir, md ? EV_REPORT_MD : EV_REPORT_CSV, bad ? NULL : buf, len);
    free(buf);
    EV_TRY(st);
  }
  return EV_OK;
}
