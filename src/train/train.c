/* The training loop: batches from the prefetching loader, one command stream per step
 * (forward, loss, backward, masked optimiser step), validation and an atomic checkpoint
 * after every epoch, resume from the last finished epoch. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evonet/io.h"
#include "evonet/safetensors.h"
#include "train_internal.h"

typedef struct {
  int epochs_done;
  long step;
  cJSON *history; /* array of per-epoch records */
} train_state;

static char *state_json(const train_state *st, const ev_train_options *o) {
  cJSON *r = cJSON_CreateObject();
  cJSON_AddNumberToObject(r, "epochs_done", st->epochs_done);
  cJSON_AddNumberToObject(r, "step", (double)st->step);
  cJSON_AddNumberToObject(r, "seed", (double)o->seed);
  cJSON_AddStringToObject(r, "optimizer", ev_optimizer_name(o->optimizer));
  cJSON_AddItemToObject(r, "history", cJSON_Duplicate(st->history, 1));
  char *s = cJSON_PrintUnformatted(r);
  cJSON_Delete(r);
  return s;
}

static ev_status save_checkpoint(ev_model *m, ev_net_weights *w, const train_state *st, const ev_train_options *o) {
  char path[4096];
  ev_path_join(path, sizeof path, o->out_dir, "checkpoint.safetensors");
  EV_TRY(ev_model_download(m, w));
  uint64_t n = ev_model_opt_floats(m);
  float *opt = malloc((n ? n : 1) * 4);
  char *js = state_json(st, o);
  ev_status s = opt && js ? ev_model_opt_get(m, opt) : ev_fail(EV_ERR_OOM, "out of memory");
  ev_st_tensor t = {.name = "optimizer.state", .ndim = 1, .shape = {(int64_t)n}, .data = opt, .count = n};
  const char *meta[] = {"evonet.state", js};
  if (s == EV_OK) s = ev_weights_save_ex(path, w, &t, 1, meta, 1);
  free(opt);
  free(js);
  return s;
}

/* Restores weights, optimiser state and progress from out_dir/checkpoint.safetensors. */
static ev_status load_checkpoint(ev_model *m, ev_net_weights *w, train_state *st, const ev_train_options *o,
                                 bool *found) {
  char path[4096];
  ev_path_join(path, sizeof path, o->out_dir, "checkpoint.safetensors");
  struct stat sb;
  *found = stat(path, &sb) == 0;
  if (!*found) return EV_OK;
  ev_net_weights cw;
  char *js = NULL;
  EV_TRY(ev_weights_load(path, &w->spec, &cw, &js));
  ev_status s = EV_OK;
  cJSON *r = js ? cJSON_Parse(js) : NULL;
  const cJSON *ed = cJSON_GetObjectItemCaseSensitive(r, "epochs_done");
  const cJSON *sp = cJSON_GetObjectItemCaseSensitive(r, "step");
  const cJSON *hi = cJSON_GetObjectItemCaseSensitive(r, "history");
  if (!cJSON_IsNumber(ed) || !cJSON_IsNumber(sp) || !cJSON_IsArray(hi))
    s = ev_fail(EV_ERR_FORMAT, "%s has no training state: not a checkpoint", path);
  ev_st_file *f = NULL;
  if (s == EV_OK) s = ev_st_read(path, &f);
  const ev_st_tensor *t = f ? ev_st_find(f, "optimizer.state") : NULL;
  if (s == EV_OK && (!t || t->count != ev_model_opt_floats(m)))
    s = ev_fail(EV_ERR_FORMAT, "%s: its optimizer state does not fit this network", path);
  if (s == EV_OK) s = ev_model_upload(m, &cw);
  if (s == EV_OK) s = ev_model_opt_set(m, t->data);
  if (s == EV_OK) {
    ev_weights_free(w);
    *w = cw;
    memset(&cw, 0, sizeof cw);
    st->epochs_done = ed->valueint;
    st->step = (long)sp->valuedouble;
    cJSON_Delete(st->history);
    st->history = cJSON_Duplicate(hi, 1);
  }
  ev_st_close(f);
  cJSON_Delete(r);
  free(js);
  ev_weights_free(&cw);
  return s;
}

static ev_status train_step(ev_model *m, ev_model *teacher, const ev_train_options *o, float lr, long step,
                            float *loss) {
  ev_stream *s;
  EV_TRY(ev_stream_begin(ev_model_gpu(m), &s));
  ev_step_params sp = {.optimizer = o->optimizer, .lr = lr, .momentum = o->momentum, .weight_decay = o->weight_decay,
                       .beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps, .step = (int)step};
  float fg = o->fg_weight > 0 ? o->fg_weight : 1.0f;
  ev_status st = teacher ? ev_model_distill_target(m, teacher, s, o->distill) : EV_OK;
  if (st == EV_OK) st = ev_model_forward(m, s, true);
  if (st == EV_OK) st = teacher ? ev_model_loss_soft(m, s, fg) : ev_model_loss(m, s, fg);
  if (st == EV_OK) st = ev_model_backward(m, s);
  if (st == EV_OK) st = ev_model_step(m, s, &sp);
  if (st != EV_OK) {
    ev_stream_abort(s);
    return st;
  }
  EV_TRY(ev_stream_submit(s));
  return ev_buf_download(ev_model_gpu(m), ev_model_loss_buf(m), 0, loss, 4);
}

static ev_status run_epochs(ev_gpu *g, ev_model *m, ev_model *teacher, ev_net_weights *w, const ev_dataset *train, const ev_dataset *val,
                            const ev_train_options *o, train_state *st, ev_train_result *res) {
  ev_loader_options lo = {.batch = o->batch, .size = o->size, .augment = o->augment, .shuffle = 1, .drop_last = 1,
                          .seed = o->seed, .first_epoch = st->epochs_done};
  size_t per_epoch = ev_batches_per_epoch(train, &lo);
  if (per_epoch == 0)
    return ev_fail(EV_ERR_ARG, "the training set has %zu images, fewer than one batch of %d", train->n, o->batch);
  ev_loader *ld;
  EV_TRY(ev_loader_open(train, &lo, &ld));
  ev_progress pr;
  ev_progress_init(&pr, o->label, o->quiet);
  const int first_epoch = st->epochs_done; /* st->epochs_done moves on with each checkpoint */
  int cap = (o->epochs - first_epoch) * (int)per_epoch;
  double *rates = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *rates);
  int n_rates = 0;
  ev_status s = rates ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
  double t_start = ev_now();
  for (int e = st->epochs_done; e < o->epochs && s == EV_OK; e++) {
    double loss_sum = 0, t_epoch = ev_now();
    size_t b = 0;
    for (;; b++) {
      const ev_batch *bt;
      if ((s = ev_loader_next(ld, &bt)) != EV_OK || !bt) break;
      double t0 = ev_now();
      float loss = 0;
      s = ev_model_feed_batch(m, bt);
      if (s == EV_OK) s = train_step(m, teacher, o, ev_lr_at(o, e + (double)b / per_epoch), st->step + 1, &loss);
      if (s != EV_OK) break;
      if (!isfinite(loss)) {
        s = ev_fail(EV_ERR_ARG, "the loss became %s at epoch %d, batch %zu: stopping (try a lower --lr); the last "
                                "good checkpoint is kept", isnan(loss) ? "NaN" : "infinite", e + 1, b + 1);
        break;
      }
      st->step++;
      loss_sum += loss;
      double dt = ev_now() - t0;
      rates[n_rates++] = bt->n / dt;
      double done = (double)(e - first_epoch) * per_epoch + b + 1, total = (double)cap;
      double elapsed = ev_now() - t_start;
      ev_progress_batch(&pr, e, o->epochs, b, per_epoch, loss_sum / (b + 1), bt->n / dt,
                        elapsed / done * (total - done));
    }
    if (s != EV_OK) break;
    res->last_loss = b ? loss_sum / b : 0;
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddNumberToObject(rec, "epoch", e + 1);
    cJSON_AddNumberToObject(rec, "loss", res->last_loss);
    cJSON_AddNumberToObject(rec, "seconds", ev_now() - t_epoch);
    if (val) {
      ev_eval_acc acc;
      s = ev_eval_acc_init(&acc, ev_model_spec(m));
      if (s == EV_OK) s = ev_eval_with_model(m, val, o->size, &acc);
      if (s == EV_OK) ev_eval_acc_result(&acc, &res->val);
      ev_eval_acc_free(&acc);
      if (s == EV_OK && res->val.classify) {
        cJSON_AddNumberToObject(rec, "val_top1", res->val.top1);
        cJSON_AddNumberToObject(rec, "val_loss", res->val.loss);
        ev_progress_line(&pr, "epoch %d/%d: loss %.4f, val top-1 %.2f %%, loss %.4f (%.0f s)", e + 1, o->epochs,
                         res->last_loss, 100 * res->val.top1, res->val.loss, ev_now() - t_epoch);
      } else if (s == EV_OK) {
        cJSON_AddNumberToObject(rec, "val_max_f", res->val.max_f);
        cJSON_AddNumberToObject(rec, "val_mae", res->val.mae);
        ev_progress_line(&pr, "epoch %d/%d: loss %.4f, val max-F %.4f, MAE %.4f (%.0f s)", e + 1, o->epochs,
                         res->last_loss, res->val.max_f, res->val.mae, ev_now() - t_epoch);
      }
    } else {
      ev_progress_line(&pr, "epoch %d/%d: loss %.4f (%.0f s)", e + 1, o->epochs, res->last_loss, ev_now() - t_epoch);
    }
    cJSON_AddItemToArray(st->history, rec);
    st->epochs_done = e + 1;
    if (s == EV_OK && o->out_dir) s = save_checkpoint(m, w, st, o);
  }
  ev_loader_close(ld);
  res->train_img_s = ev_median(rates, n_rates);
  free(rates);
  return s;
}

ev_status ev_train(ev_gpu *g, ev_net_weights *w, const ev_dataset *train, const ev_dataset *val,
                   const ev_train_options *o, ev_train_result *res) {
  memset(res, 0, sizeof *res);
  if (o->epochs < 0 || o->batch < 1 || o->size < 1 || !(o->lr > 0))
    return ev_fail(EV_ERR_ARG, "bad training options (epochs %d, batch %d, size %d, lr %g)", o->epochs, o->batch,
                   o->size, o->lr);
  if (o->out_dir) EV_TRY(ev_mkdirs(o->out_dir));
  double t0 = ev_now();
  ev_net_spec spec;
  EV_TRY(ev_net_copy(&w->spec, &spec));
  ev_net_spec tspec = {0};
  ev_model *m = NULL, *teacher = NULL;
  train_state st = {.history = cJSON_CreateArray()};
  bool found = false;
  /* the weight's range and the 2-class networks are checked where they are used
   * (ev_distill_target, ev_model_distill_target), before the first step changes anything */
  bool distill = o->distill > 0;
  ev_status s = distill && !o->teacher ? ev_fail(EV_ERR_ARG, "distillation needs a teacher") : EV_OK;
  if (s == EV_OK) s = ev_net_infer(&spec, o->size, o->size);
  if (s == EV_OK) s = ev_check_task(&spec, train);
  if (s == EV_OK && val) s = ev_check_task(&spec, val);
  if (s == EV_OK && distill) s = ev_net_copy(&o->teacher->spec, &tspec);
  if (s == EV_OK && distill) s = ev_net_infer(&tspec, o->size, o->size);
  if (s == EV_OK && distill) s = ev_model_create(g, &tspec, o->batch, o->size, o->size, false, &teacher);
  if (s == EV_OK && distill) s = ev_model_upload(teacher, o->teacher);
  if (s == EV_OK) s = ev_model_create(g, &spec, o->batch, o->size, o->size, true, &m);
  if (s == EV_OK) s = ev_model_upload(m, w);
  if (s == EV_OK) s = ev_model_opt_zero(m);
  if (s == EV_OK && o->resume && o->out_dir) s = load_checkpoint(m, w, &st, o, &found);
  if (s == EV_OK && st.epochs_done < o->epochs) s = run_epochs(g, m, teacher, w, train, val, o, &st, res);
  if (s == EV_OK) s = ev_model_download(m, w);
  if (s == EV_OK && o->out_dir) {
    char path[4096], *js = state_json(&st, o);
    const char *meta[] = {"evonet.state", js};
    s = ev_weights_save(ev_path_join(path, sizeof path, o->out_dir, "net.safetensors"), w, meta, 1);
    free(js);
  }
  res->epochs_done = st.epochs_done;
  res->seconds = ev_now() - t0;
  cJSON_Delete(st.history);
  ev_model_destroy(m);
  ev_model_destroy(teacher);
  ev_net_free(&spec);
  ev_net_free(&tspec);
  return s;
}
