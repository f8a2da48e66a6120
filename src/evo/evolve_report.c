/* The evolution's outputs: a line per network, the table, report files and the figures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evo_internal.h"
#include "evonet/io.h"
#include "evonet/model.h"
#include "evonet/train.h"

ev_status ev_evolve_log_record(const ev_evolve_options *o, const ev_gen_record *r) {
  if (o->train.quiet) return EV_OK;
  char who[32];
  if (r->offspring) snprintf(who, sizeof who, "gen %d.%d", r->generation, r->offspring);
  else snprintf(who, sizeof who, "gen %d", r->generation);
  if (r->test.classify) {
    fprintf(stderr, "%s: %llu synapses (%.2fx), val top-1 %.2f %%, test top-1 %.2f %%, top-5 %.2f %%, %.3f ms/image\n",
            who, (unsigned long long)r->synapses, r->efficiency > 0 ? r->efficiency : 1.0, 100 * r->val.top1,
            100 * r->test.top1, 100 * r->test.top5, r->infer_ms);
    return EV_OK;
  }
  fprintf(stderr, "%s: %llu synapses (%.2fx), val max-F %.4f, test max-F %.4f, MAE %.4f, %.2f ms/image\n", who,
          (unsigned long long)r->synapses, r->efficiency > 0 ? r->efficiency : 1.0, r->val.max_f, r->test.max_f,
          r->test.mae, r->infer_ms);
  return EV_OK;
}

/* Saliency maps of one network for the figure's images: maps[row] (S, S). */
static ev_status predict_rows(ev_gpu *g, const char *weights, int S, int rows, const float *x, float *maps) {
  ev_net_weights w;
  EV_TRY(ev_weights_load(weights, NULL, &w, NULL));
  ev_model *m = NULL;
  ev_stream *st = NULL;
  ev_status s = ev_net_infer(&w.spec, S, S);
  if (s == EV_OK) s = ev_model_create(g, &w.spec, rows, S, S, false, &m);
  if (s == EV_OK) s = ev_model_upload(m, &w);
  if (s == EV_OK) s = ev_model_feed(m, x, NULL, rows);
  if (s == EV_OK) s = ev_stream_begin(g, &st);
  if (s == EV_OK) s = ev_model_forward(m, st, false);
  if (s == EV_OK) s = ev_model_predict(m, st);
  if (s == EV_OK) s = ev_stream_submit(st);
  else if (st) ev_stream_abort(st);
  if (s == EV_OK) s = ev_buf_download(g, ev_model_prob(m), 0, maps, (uint64_t)rows * S * S * 4);
  ev_model_destroy(m);
  ev_weights_free(&w);
  return s;
}

/* Classification: the confusion matrix of the last selected generation on the test set. */
static ev_status confusion_of_last(ev_gpu *g, const ev_evolve_options *o, const ev_gen_record *r,
                                   const ev_dataset *test) {
  ev_net_weights w;
  EV_TRY(ev_weights_load(r->weights, NULL, &w, NULL));
  ev_eval_result er;
  ev_status s = ev_evaluate(g, &w, test, o->train.size, o->train.batch, &er);
  char path[4096], title[160];
  snprintf(title, sizeof title, "generation %d, test: top-1 %.2f %%", r->generation, 100 * er.m.top1);
  if (s == EV_OK)
    s = ev_class_confusion_png(ev_path_join(path, sizeof path, o->out_dir, "confusion.png"), &er.cls,
                               (const char *const *)test->cls->class_names, title);
  ev_eval_result_free(&er);
  ev_weights_free(&w);
  return s;
}

static ev_status figures(ev_gpu *g, const ev_evolve_options *o, const ev_gen_record *rec, int n,
                         const ev_dataset *test) {
  int S = o->train.size, rows = o->figure_rows < (int)test->n ? o->figure_rows : (int)test->n;
  int gens = 0;
  const ev_gen_record *sel[256];
  for (int i = 0; i < n && gens < 256; i++)
    if (rec[i].selected) sel[gens++] = &rec[i];
  char path[4096];
  /* the plot: selected line of descent */
  double maxf[256];
  uint64_t syn[256];
  for (int i = 0; i < gens; i++) maxf[i] = ev_metrics_score(&sel[i]->test), syn[i] = sel[i]->synapses;
  bool classify = gens > 0 && sel[0]->test.classify;
  EV_TRY(ev_figure_generations_plot(ev_path_join(path, sizeof path, o->out_dir, "generations.png"), gens, maxf, syn,
                                    classify ? "Test top-1 accuracy and synapses per generation"
                                             : "Test max-F and synapses per generation"));
  if (classify) return confusion_of_last(g, o, sel[gens - 1], test);
  if (rows < 1) return EV_OK;
  size_t img = (size_t)S * S;
  uint8_t *rgb = malloc(rows * img * 3);
  float *gt = malloc(rows * img * 4), *x = malloc(rows * img * 16), *maps = malloc((size_t)gens * rows * img * 4);
  const uint8_t **ip = malloc(rows * sizeof *ip);
  const float **gp = malloc(rows * sizeof *gp), **mp = malloc((size_t)gens * rows * sizeof *mp);
  const float *const **mpp = malloc((size_t)gens * sizeof *mpp);
  char(*labels)[32] = malloc((size_t)gens * sizeof *labels);
  const char **lp = malloc((size_t)gens * sizeof *lp);
  ev_status s = rgb && gt && x && maps && ip && gp && mp && mpp && labels && lp ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
  for (int r = 0; r < rows && s == EV_OK; r++) {
    ev_aug none = EV_AUG_NONE;
    s = ev_sample_load_rgb8(&test->pairs[r], S, rgb + r * img * 3, gt + r * img);
    if (s == EV_OK) s = ev_sample_load(&test->pairs[r], S, &none, x + r * img * 4, gt + r * img);
    ip[r] = rgb + r * img * 3, gp[r] = gt + r * img;
  }
  for (int k = 0; k < gens && s == EV_OK; k++) {
    s = predict_rows(g, sel[k]->weights, S, rows, x, maps + (size_t)k * rows * img);
    for (int r = 0; r < rows; r++) mp[k * rows + r] = maps + ((size_t)k * rows + r) * img;
    mpp[k] = mp + k * rows;
    snprintf(labels[k], sizeof labels[k], "Generation %d", sel[k]->generation);
    lp[k] = labels[k];
  }
  if (s == EV_OK)
    s = ev_figure_saliency_grid(ev_path_join(path, sizeof path, o->out_dir, "saliency.png"), S, rows, ip, gp, gens,
                                mpp, lp, S);
  free(rgb), free(gt), free(x), free(maps), free(ip), free(gp), free(mp), free(mpp), free(labels), free(lp);
  return s;
}

ev_status ev_evolve_report(ev_gpu *g, const ev_evolve_options *o, const ev_gen_record *rec, int n,
                           const ev_dataset *test, double seconds) {
  ev_run_info info = {.alpha = o->synth.alpha, .offspring_per_gen = o->offspring, .epochs_per_gen = o->train.epochs,
                      .size = o->train.size, .width = o->width, .seed = o->synth.seed, .seconds = seconds};
  snprintf(info.device, sizeof info.device, "%s", ev_gpu_caps(g)->name);
  snprintf(info.granularity, sizeof info.granularity, "%s", o->synth.granularity == EV_SYNTH_FILTER ? "filter" : "synapse");
  snprintf(info.protect, sizeof info.protect, "%s", o->synth.protect ? o->synth.protect : "");
  if (o->maker != EV_MAKE_EVOLVE)
    snprintf(info.rule, sizeof info.rule, "%s pruning to the per-layer counts of %s",
             o->maker == EV_MAKE_RANDOM ? "random" : "magnitude", o->like_run ? o->like_run : "-");
  else if (o->synth.rule == EV_RULE_BUDGET)
    snprintf(info.rule, sizeof info.rule, "budget rule, temperature %g, %s Z, layer floor %g", o->synth.temperature,
             o->synth.z_network ? "network" : "layer", o->synth.z_network ? o->synth.layer_floor : 0.0);
  else
    snprintf(info.rule, sizeof info.rule, "paper Eq. 1-4, %s Z", o->synth.z_network ? "network" : "layer");
  for (int gen = 2, k = 0; gen <= o->generations && o->n_gen_epochs > 0; gen++)
    k += snprintf(info.epochs + k, sizeof info.epochs - (size_t)k, "%s%d", gen > 2 ? ", " : "", ev_evolve_epochs_of(o, gen)),
    k = k < (int)sizeof info.epochs ? k : (int)sizeof info.epochs - 1;
  int k = snprintf(info.training, sizeof info.training, "%s, %s lr %g",
                   o->inherit ? "inherited weights" : "newborn (fresh init)", ev_optimizer_name(o->train.optimizer),
                   (double)o->train.lr);
  if (o->distill > 0 && k > 0 && k < (int)sizeof info.training)
    snprintf(info.training + k, sizeof info.training - (size_t)k, ", distilled from %s (%g)",
             o->teacher == EV_TEACHER_PARENT ? "the parent" : "generation 1", o->distill);
  snprintf(info.dataset, sizeof info.dataset, "%s", o->data_label ? o->data_label : "");
  snprintf(info.arch, sizeof info.arch, "%s", o->arch_label ? o->arch_label : "");
  EV_TRY(figures(g, o, rec, n, test));
  EV_TRY(ev_report_write(o->out_dir, &info, rec, n));
  ev_report_print_table(stdout, &info, rec, n);
  printf("\nreport: %s/report.md (also .json, .csv); figures: %s/%s, %s/generations.png\n", o->out_dir, o->out_dir,
         test->cls ? "confusion.png" : "saliency.png", o->out_dir);
  return EV_OK;
}
