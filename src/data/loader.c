/* The prefetching loader: worker threads decode batches into a ring of slots ahead of the
 * caller, in the same order and with the same content as ev_batch_load.
 *
 * Batches are numbered by one sequence over all epochs (seq = epoch offset * per_epoch +
 * step). Slot seq % depth is free for seq once the caller has released seq - depth, so
 * workers never run more than `depth` batches ahead and never touch a batch the caller
 * holds. Workers claim sequence numbers in order but may finish out of order; the caller
 * waits for exactly the one it needs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_internal.h"

typedef struct {
  ev_batch b;
  int64_t seq; /* which batch b holds, once ready */
  int ready;
  ev_status status; /* a worker's failure, with its message and where it was detected */
  char msg[1024], where[256];
} slot;

struct ev_loader {
  const ev_dataset *ds;
  ev_loader_options o;
  size_t per_epoch;
  int depth, nthreads, started;
  slot *slots;
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t cv_ready, cv_space;
  int64_t next_claim, released; /* guarded by mu */
  int stop;
  /* caller side */
  int64_t cur;    /* next sequence number to hand out */
  int holding;    /* the caller holds batch cur - 1 */
  int end_given;  /* the NULL that ends epoch (cur / per_epoch - 1) was returned */
  ev_status failed;
  char fmsg[1024], fwhere[256];
};

static void *worker(void *arg) {
  ev_loader *ld = arg;
  size_t *order = malloc((ld->ds->n ? ld->ds->n : 1) * sizeof *order);
  int64_t order_epoch = 0;
  int have_order = 0;
  pthread_mutex_lock(&ld->mu);
  for (;;) {
    while (!ld->stop && ld->next_claim >= ld->released + ld->depth)
      pthread_cond_wait(&ld->cv_space, &ld->mu);
    if (ld->stop) break;
    int64_t seq = ld->next_claim++;
    pthread_mutex_unlock(&ld->mu);

    int64_t epoch = ld->o.first_epoch + seq / (int64_t)ld->per_epoch;
    size_t step = (size_t)(seq % (int64_t)ld->per_epoch);
    slot *s = &ld->slots[seq % ld->depth];
    ev_clear_error(); /* this thread's own record: its first failure is the message */
    ev_status st;
    if (!order) {
      st = ev_fail(EV_ERR_OOM, "out of memory for an epoch order of %zu", ld->ds->n);
    } else {
      if (!have_order || order_epoch != epoch) {
        ev_epoch_order(ld->ds->n, ld->o.seed, epoch, ld->o.shuffle, order);
        order_epoch = epoch;
        have_order = 1;
      }
      st = ds_batch_fill(ld->ds, &ld->o, epoch, step, order, &s->b);
    }
    if (st != EV_OK) {
      snprintf(s->msg, sizeof s->msg, "%s", ev_last_error());
      snprintf(s->where, sizeof s->where, "%s", ev_last_error_where());
    }

    pthread_mutex_lock(&ld->mu);
    s->status = st;
    s->seq = seq;
    s->ready = 1;
    pthread_cond_broadcast(&ld->cv_ready);
    if (st != EV_OK) break; /* the caller stops at this batch; nothing after it matters */
  }
  pthread_mutex_unlock(&ld->mu);
  free(order);
  return NULL;
}

void ev_loader_close(ev_loader *ld) {
  if (!ld) return;
  pthread_mutex_lock(&ld->mu);
  ld->stop = 1;
  pthread_cond_broadcast(&ld->cv_space);
  pthread_cond_broadcast(&ld->cv_ready);
  pthread_mutex_unlock(&ld->mu);
  for (int i = 0; i < ld->started; i++) pthread_join(ld->threads[i], NULL);
  for (int i = 0; ld->slots && i < ld->depth; i++) ev_batch_free(&ld->slots[i].b);
  pthread_cond_destroy(&ld->cv_ready);
  pthread_cond_destroy(&ld->cv_space);
  pthread_mutex_destroy(&ld->mu);
  free(ld->slots);
  free(ld->threads);
  free(ld);
}

ev_status ev_loader_open(const ev_dataset *ds, const ev_loader_options *o, ev_loader **out) {
  *out = NULL;
  EV_TRY(ds_check_options(ds, o));
  int nthreads = o->threads > 0 ? o->threads : 2;
  if (nthreads > 64) nthreads = 64;
  int depth = o->depth > 0 ? o->depth : nthreads + 1;
  ev_loader *ld = calloc(1, sizeof *ld);
  if (!ld) return ev_fail(EV_ERR_OOM, "out of memory for a data loader");
  ld->ds = ds;
  ld->o = *o;
  ld->per_epoch = ev_batches_per_epoch(ds, o);
  ld->depth = depth;
  ld->nthreads = nthreads;
  pthread_mutex_init(&ld->mu, NULL);
  pthread_cond_init(&ld->cv_ready, NULL);
  pthread_cond_init(&ld->cv_space, NULL);
  ld->slots = calloc((size_t)depth, sizeof *ld->slots);
  ld->threads = calloc((size_t)nthreads, sizeof *ld->threads);
  if (!ld->slots || !ld->threads) {
    ev_loader_close(ld);
    return ev_fail(EV_ERR_OOM, "out of memory for a data loader");
  }
  for (int i = 0; i < depth; i++) {
    ev_status s = ev_batch_alloc(&ld->slots[i].b, o->batch, o->size);
    if (s != EV_OK) {
      ev_loader_close(ld);
      return s;
    }
  }
  for (int i = 0; i < nthreads; i++) {
    if (pthread_create(&ld->threads[i], NULL, worker, ld) != 0) {
      ev_loader_close(ld);
      return ev_fail(EV_ERR_OOM, "cannot start data loader thread %d of %d", i + 1,
                     nthreads);
    }
    ld->started++;
  }
  *out = ld;
  return EV_OK;
}

/* Records the saved failure again in the caller's thread, with the worker's file:line. */
static ev_status refail(ev_loader *ld) {
  char file[256];
  snprintf(file, sizeof file, "%s", ld->fwhere);
  char *colon = strrchr(file, ':');
  int line = colon ? atoi(colon + 1) : 0;
  if (colon) *colon = 0;
  return ev_fail_at(*file ? file : "loader.c", line, ld->failed, "%s", ld->fmsg);
}

ev_status ev_loader_next(ev_loader *ld, const ev_batch **out) {
  *out = NULL;
  if (ld->failed != EV_OK) return refail(ld);
  pthread_mutex_lock(&ld->mu);
  if (ld->holding) { /* the caller is done with the previous batch: its slot is free */
    ld->slots[(ld->cur - 1) % ld->depth].ready = 0;
    ld->released++;
    ld->holding = 0;
    pthread_cond_broadcast(&ld->cv_space);
  }
  if (ld->cur > 0 && ld->cur % (int64_t)ld->per_epoch == 0 && !ld->end_given) {
    ld->end_given = 1;
    pthread_mutex_unlock(&ld->mu);
    return EV_OK; /* *out = NULL: end of epoch */
  }
  ld->end_given = 0;
  slot *s = &ld->slots[ld->cur % ld->depth];
  while (!(s->ready && s->seq == ld->cur)) pthread_cond_wait(&ld->cv_ready, &ld->mu);
  pthread_mutex_unlock(&ld->mu);
  if (s->status != EV_OK) {
    ld->failed = s->status;
    snprintf(ld->fmsg, sizeof ld->fmsg, "%s", s->msg);
    snprintf(ld->fwhere, sizeof ld->fwhere, "%s", s->where);
    return refail(ld);
  }
  ld->holding = 1;
  ld->cur++;
  *out = &s->b;
  return EV_OK;
}
