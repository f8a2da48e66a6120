/* Progress on stderr: a redrawn bar on a terminal, a plain line every few seconds otherwise. */
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evonet/train.h"

void ev_progress_init(ev_progress *p, const char *label, bool quiet) {
  memset(p, 0, sizeof *p);
  p->f = stderr;
  p->tty = isatty(fileno(stderr));
  p->quiet = quiet;
  p->t0 = p->last_print = ev_now();
  snprintf(p->label, sizeof p->label, "%s%s", label ? label : "", label && *label ? " " : "");
}

static void fmt_time(char *out, size_t cap, double s) {
  int t = (int)(s + 0.5);
  if (t >= 3600) snprintf(out, cap, "%dh%02dm", t / 3600, t / 60 % 60);
  else snprintf(out, cap, "%dm%02ds", t / 60, t % 60);
}

void ev_progress_batch(ev_progress *p, int epoch, int epochs, size_t batch, size_t batches, double loss,
                       double img_s, double eta_s) {
  if (p->quiet) return;
  double now = ev_now();
  char eta[16];
  fmt_time(eta, sizeof eta, eta_s);
  if (p->tty) {
    if (now - p->last_print < 0.1 && batch + 1 < batches) return;
    const int W = 24;
    int fill = batches ? (int)((double)(batch + 1) / batches * W) : W;
    char bar[32];
    for (int i = 0; i < W; i++) bar[i] = i < fill ? '#' : '.';
    bar[W] = 0;
    fprintf(p->f, "\r%sepoch %d/%d [%s] %zu/%zu loss %.4f %.1f img/s ETA %s   ", p->label, epoch + 1, epochs, bar,
            batch + 1, batches, loss, img_s, eta);
    if (batch + 1 == batches) fprintf(p->f, "\n");
  } else {
    if (now - p->last_print < 10 && batch + 1 < batches) return;
    fprintf(p->f, "%sepoch %d/%d batch %zu/%zu loss %.4f %.1f img/s ETA %s\n", p->label, epoch + 1, epochs, batch + 1,
            batches, loss, img_s, eta);
  }
  fflush(p->f);
  p->last_print = now;
}

void ev_progress_line(ev_progress *p, const char *fmt, ...) {
  if (p->quiet) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(p->f, "%s", p->label);
  vfprintf(p->f, fmt, ap);
  va_end(ap);
  fprintf(p->f, "\n");
  fflush(p->f);
}
