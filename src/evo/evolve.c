/* The generations loop: generation 1 is trained (or loaded); each later generation
 * synthesizes K offspring from the current ancestor (different random streams), compacts
 * and trains them, and the fittest by validation max-F (ties: fewer synapses) becomes the
 * next ancestor. Every network lives in its own folder of the run:
 *   OUT/gen1/                    net.safetensors, checkpoint.safetensors
 *   OUT/gen<g>_o<k>/offspring.safetensors  (synthesized, before training; written once)
 *                   net.safetensors, checkpoint.safetensors, eval.json
 * and a finished network's evaluation is stored beside it (eval.json), so re-running the
 * same command after a kill continues from the last finished epoch and repeats nothing. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evo_internal.h"
#include "evonet/io.h"

void ev_evolve_defaults(ev_evolve_options *o) {
  memset(o, 0, sizeof *o);
  o->generations = 4;
  o->offspring = 1;
  o->synth = (ev_synthesis_options){.alpha = 0.4, .granularity = EV_SYNTH_SYNAPSE, .seed = 1, .temperature = 1};
  ev_train_defaults(&o->train);
  /* 1600 training pairs: generation 1 gets 6 epochs, each offspring 2, so four generations
   * fit in ~10 minutes on a 2-core laptop CPU */
  o->train.epochs = 2;
  o->epochs_gen1 = 6;
  o->figure_rows = 6;
  o->width = 0.125;
  o->bn = true; /* batch norm lets sparse newborn offspring train from scratch */
}

int ev_evolve_epochs_of(const ev_evolve_options *o, int gen) {
  if (o->n_gen_epochs <= 0) return o->train.epochs;
  int k = gen - 2 < o->n_gen_epochs ? gen - 2 : o->n_gen_epochs - 1;
  return o->gen_epochs[k < 0 ? 0 : k];
}

static int file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* cJSON's number printing may lose the last bit; a resumed run must read back exactly what
 * the uninterrupted one computed, so doubles are written with 17 significant digits. */
static void add_exact(cJSON *o, const char *key, double v) {
  char buf[40];
  snprintf(buf, sizeof buf, "%.17g", v);
  cJSON_AddRawToObject(o, key, buf);
}

/* eval.json of a trained network: its record (metrics on val and test, sizes, speed): all the
 * report needs, so a resumed run writes the report an uninterrupted one does. */
static ev_status save_record(const char *dir, const ev_gen_record *r) {
  cJSON *o = cJSON_CreateObject();
  add_exact(o, "generation", r->generation);
  add_exact(o, "offspring", r->offspring);
  add_exact(o, "synapses", (double)r->synapses);
  add_exact(o, "params", (double)r->params);
  add_exact(o, "flops", (double)r->flops);
  add_exact(o, "infer_ms", r->infer_ms);
  add_exact(o, "train_seconds", r->train_seconds);
  const ev_metrics_summary *ms[2] = {&r->val, &r->test};
  const char *names[2] = {"val", "test"};
  for (int k = 0; k < 2; k++) {
    cJSON *m = cJSON_AddObjectToObject(o, names[k]);
    add_exact(m, "images", (double)ms[k]->n_images);
    if (ms[k]->classify) {
      add_exact(m, "top1", ms[k]->top1);
      add_exact(m, "top5", ms[k]->top5);
      add_exact(m, "loss", ms[k]->loss);
      add_exact(m, "mean_class_accuracy", ms[k]->mean_class_acc);
      continue;
    }
    add_exact(m, "max_f", ms[k]->max_f);
    add_exact(m, "mean_f", ms[k]->mean_f);
    add_exact(m, "adaptive_f", ms[k]->adaptive_f);
    add_exact(m, "mae", ms[k]->mae);
    add_exact(m, "max_f_threshold", ms[k]->max_f_threshold);
  }
  char *txt = cJSON_Print(o), path[4096];
  cJSON_Delete(o);
  ev_status s = ev_write_file_atomic(ev_path_join(path, sizeof path, dir, "eval.json"), txt, strlen(txt));
  free(txt);
  return s;
}

static int load_record(const char *dir, ev_gen_record *r) {
  char path[4096];
  void *data;
  size_t n;
  if (ev_read_file(ev_path_join(path, sizeof path, dir, "eval.json"), &data, &n) != EV_OK) {
    ev_clear_error();
    return 0;
  }
  cJSON *o = cJSON_Parse(data);
  free(data);
  if (!o) return 0;
#define NUM(obj, key) (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(obj, key)) ? cJSON_GetObjectItemCaseSensitive(obj, key)->valuedouble : -1)
  r->synapses = (uint64_t)NUM(o, "synapses");
  r->params = (uint64_t)NUM(o, "params");
  r->flops = (uint64_t)NUM(o, "flops");
  r->infer_ms = NUM(o, "infer_ms");
  r->train_seconds = NUM(o, "train_seconds");
  ev_metrics_summary *ms[2] = {&r->val, &r->test};
  const char *names[2] = {"val", "test"};
  int ok = NUM(o, "synapses") >= 0;
  for (int k = 0; k < 2; k++) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, names[k]);
    ms[k]->n_images = (size_t)NUM(m, "images");
    if (cJSON_GetObjectItemCaseSensitive(m, "top1")) {
      ms[k]->classify = 1;
      ms[k]->top1 = NUM(m, "top1"), ms[k]->top5 = NUM(m, "top5"), ms[k]->loss = NUM(m, "loss");
      ms[k]->mean_class_acc = NUM(m, "mean_class_accuracy");
      ok &= ms[k]->top1 >= 0 && ms[k]->top5 >= 0;
      continue;
    }
    ms[k]->max_f = NUM(m, "max_f");
    ms[k]->mean_f = NUM(m, "mean_f");
    ms[k]->adaptive_f = NUM(m, "adaptive_f");
    ms[k]->mae = NUM(m, "mae");
    ms[k]->max_f_threshold = (int)NUM(m, "max_f_threshold");
    ok &= ms[k]->max_f >= 0 && ms[k]->max_f_threshold >= 0; /* an older eval.json: evaluated again */
  }
#undef NUM
  cJSON_Delete(o);
  return ok;
}

/* Trains (or resumes) the network in dir from `start`, then evaluates it into r. */
static ev_status train_and_eval(ev_gpu *g, ev_net_weights *start, const ev_net_weights *teacher, const char *dir,
                                int epochs, const char *label, const ev_dataset *train, const ev_dataset *val,
                                const ev_dataset *test, const ev_evolve_options *o, ev_gen_record *r) {
  char path[4096];
  ev_path_join(path, sizeof path, dir, "net.safetensors");
  snprintf(r->weights, sizeof r->weights, "%.*s", (int)sizeof r->weights - 1, path);
  if (load_record(dir, r) && file_exists(path)) { /* finished in an earlier run: its trained weights */
    ev_net_weights done;
    EV_TRY(ev_weights_load(path, NULL, &done, NULL));
    ev_weights_free(start);
    *start = done;
    return EV_OK;
  }
  ev_train_options t = o->train;
  t.out_dir = dir;
  t.resume = true;
  t.epochs = epochs;
  t.label = label;
  t.teacher = teacher;
  t.distill = teacher ? (float)o->distill : 0.0f;
  ev_train_result tr;
  EV_TRY(ev_train(g, start, train, val, &t, &tr));
  ev_eval_result ev, et;
  EV_TRY(ev_evaluate(g, start, val, t.size, t.batch, &ev));
  EV_TRY(ev_evaluate(g, start, test, t.size, t.batch, &et));
  r->val = ev.m, r->test = et.m;
  ev_eval_result_free(&ev), ev_eval_result_free(&et);
  r->synapses = et.synapses, r->params = et.params, r->flops = et.flops;
  r->infer_ms = et.infer_ms_per_image; /* timed by the test evaluation's model */
  r->train_seconds = tr.seconds;
  return save_record(dir, r);
}

/* The selected offspring of generation `gen` of the evolved run `run`: which one, from its
 * report.json; the file, from the run's own layout (run/gen<g>_o<k>/), so the run may have been
 * made from another working folder. */
static ev_status load_like(const char *run, int gen, ev_net_weights *out) {
  char path[4096];
  void *data;
  size_t n;
  EV_TRY(ev_read_file(ev_path_join(path, sizeof path, run, "report.json"), &data, &n));
  cJSON *o = cJSON_ParseWithLength(data, n);
  free(data);
  const cJSON *recs = cJSON_GetObjectItemCaseSensitive(o, "records"), *r;
  int k = 0;
  cJSON_ArrayForEach(r, recs) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(r, "generation"), *sel = cJSON_GetObjectItemCaseSensitive(r, "selected"),
                *off = cJSON_GetObjectItemCaseSensitive(r, "offspring");
    if (cJSON_IsNumber(g) && g->valuedouble == gen && cJSON_IsTrue(sel) && cJSON_IsNumber(off)) k = (int)off->valuedouble;
  }
  char weights[4200];
  snprintf(weights, sizeof weights, "%s/gen%d_o%d/net.safetensors", run, gen, k);
  ev_status s = k > 0 ? ev_weights_load(weights, NULL, out, NULL)
                      : ev_fail(EV_ERR_FORMAT, "%s: no selected offspring of generation %d in its report.json", run, gen);
  cJSON_Delete(o);
  return s;
}

/* The offspring's starting network: synthesized (or pruned like the evolved run's), compacted,
 * (re)initialised; written once. */
static ev_status make_offspring(ev_gpu *g, const ev_net_weights *anc, const char *dir, int gen, int k,
                                const ev_evolve_options *o, ev_net_weights *child, ev_compact_stats *cs) {
  char path[4096];
  ev_path_join(path, sizeof path, dir, "offspring.safetensors");
  memset(cs, 0, sizeof *cs);
  if (file_exists(path)) return ev_weights_load(path, NULL, child, NULL);
  ev_synthesis_options so = o->synth;
  so.generation = (uint32_t)gen;
  so.offspring = (uint32_t)k;
  ev_net_weights sampled;
  if (o->maker == EV_MAKE_EVOLVE) {
    EV_TRY(ev_synthesize(g, anc, &so, &sampled));
  } else {
    ev_net_weights like;
    if (!o->like_run) return ev_fail(EV_ERR_ARG, "a pruning baseline needs the evolved run whose counts it copies");
    EV_TRY(load_like(o->like_run, gen, &like));
    ev_status s = ev_prune_like(g, anc, &like, o->maker == EV_MAKE_RANDOM ? EV_PRUNE_RANDOM : EV_PRUNE_MAGNITUDE,
                                o->synth.seed, (uint32_t)gen, &sampled);
    ev_weights_free(&like);
    EV_TRY(s);
  }
  ev_status s = ev_compact(&sampled, child, cs);
  ev_weights_free(&sampled);
  EV_TRY(s);
  if (!o->inherit) /* a newborn: fresh weights on the offspring's architecture and mask */
    ev_weights_init_he(child, o->synth.seed * 1000003ull + (uint64_t)gen * 101 + (uint64_t)k);
  EV_TRY(ev_mkdirs(dir));
  return ev_weights_save(path, child, NULL, 0);
}

ev_status ev_evolve(ev_gpu *g, const ev_dataset *train, const ev_dataset *val, const ev_dataset *test,
                    const ev_evolve_options *o) {
  if (o->generations < 1 || o->offspring < 1)
    return ev_fail(EV_ERR_ARG, "need at least 1 generation and 1 offspring per generation");
  EV_TRY(ev_mkdirs(o->out_dir));
  double t0 = ev_now();
  int cap = 1 + (o->generations - 1) * o->offspring, n = 0;
  ev_gen_record *rec = calloc((size_t)cap, sizeof *rec);
  if (!rec) return ev_fail(EV_ERR_OOM, "out of memory");
  ev_net_weights anc = {0};
  char dir[4096], label[64];
  ev_status s = EV_OK;
  /* generation 1 (a bad --protect list is reported before it trains, not at generation 2) */
  snprintf(dir, sizeof dir, "%s/gen1", o->out_dir);
  ev_gen_record *r = &rec[n++];
  r->generation = 1, r->selected = true;
  if (o->ancestor) s = ev_weights_load(o->ancestor, NULL, &anc, NULL);
  else if (o->arch && (s = ev_weights_alloc(o->arch, &anc)) == EV_OK) ev_weights_init_he(&anc, o->synth.seed);
  else if (!o->arch)
    s = ev_weights_saliency_he(o->width > 0 ? o->width : 0.125, o->bn, o->train.size, o->synth.seed, &anc);
  if (s == EV_OK) s = ev_synth_check_protect(&anc.spec, o->synth.protect);
  if (s == EV_OK && o->ancestor) { /* a copy in the run folder, evaluated, not trained */
    char p[4096];
    s = ev_mkdirs(dir);
    if (s == EV_OK) s = ev_weights_save(ev_path_join(p, sizeof p, dir, "net.safetensors"), &anc, NULL, 0);
    if (s == EV_OK) s = train_and_eval(g, &anc, NULL, dir, 0, "gen 1", train, val, test, o, r);
  } else if (s == EV_OK)
    s = train_and_eval(g, &anc, NULL, dir, o->epochs_gen1 > 0 ? o->epochs_gen1 : o->train.epochs, "gen 1", train, val,
                       test, o, r);
  if (s == EV_OK && (s = ev_evolve_log_record(o, r)) == EV_OK) {}
  uint64_t syn1 = r->synapses;
  r->efficiency = 1.0;
  ev_net_weights first = {0}; /* the distillation teacher EV_TEACHER_FIRST */
  bool distill = o->distill > 0;
  if (s == EV_OK && distill && o->teacher == EV_TEACHER_FIRST) s = ev_weights_copy(&anc, &first);
  for (int gen = 2; gen <= o->generations && s == EV_OK; gen++) {
    int best = -1;
    ev_net_weights best_w = {0};
    for (int k = 1; k <= o->offspring && s == EV_OK; k++) {
      snprintf(dir, sizeof dir, "%s/gen%d_o%d", o->out_dir, gen, k);
      snprintf(label, sizeof label, o->offspring > 1 ? "gen %d.%d" : "gen %d", gen, k);
      ev_net_weights child;
      ev_compact_stats cs;
      s = make_offspring(g, &anc, dir, gen, k, o, &child, &cs);
      if (s != EV_OK) break;
      r = &rec[n++];
      r->generation = gen, r->offspring = k;
      const ev_net_weights *teacher = !distill ? NULL : o->teacher == EV_TEACHER_FIRST ? &first : &anc;
      s = train_and_eval(g, &child, teacher, dir, ev_evolve_epochs_of(o, gen), label, train, val, test, o, r);
      r->efficiency = r->synapses ? (double)syn1 / r->synapses : 0;
      if (s == EV_OK) s = ev_evolve_log_record(o, r);
      /* natural selection: validation max-F (classification: top-1), ties to fewer synapses */
      double score = ev_metrics_score(&r->val), best_score = best < 0 ? 0 : ev_metrics_score(&rec[best].val);
      if (s == EV_OK && (best < 0 || score > best_score || (score == best_score && r->synapses < rec[best].synapses))) {
        best = n - 1;
        ev_weights_free(&best_w);
        best_w = child;
      } else {
        ev_weights_free(&child);
      }
    }
    if (s == EV_OK) {
      rec[best].selected = true;
      ev_weights_free(&anc);
      anc = best_w;
    } else {
      ev_weights_free(&best_w);
    }
  }
  /* after a resume the wall time of this invocation misses the earlier ones: the recorded
   * training times of all networks are the better figure then */
  double wall = ev_now() - t0, trained = 0;
  for (int i = 0; i < n; i++) trained += rec[i].train_seconds > 0 ? rec[i].train_seconds : 0;
  if (s == EV_OK) s = ev_evolve_report(g, o, rec, n, test, wall > trained ? wall : trained);
  ev_weights_free(&anc);
  ev_weights_free(&first);
  free(rec);
  return s;
}
