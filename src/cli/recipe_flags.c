/* The training-recipe flags shared by `train` and `evolve`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

enum { R_SIZE = 300, R_NOAUG, R_EPOCHS, R_BATCH, R_OPT, R_LR, R_MOM, R_WD, R_FG, R_SCHED, R_WARM, R_SEED, R_QUIET };

const struct option cli_recipe_options[] = {
    {"size", 1, 0, R_SIZE},     {"no-augment", 0, 0, R_NOAUG}, {"epochs", 1, 0, R_EPOCHS},
    {"batch", 1, 0, R_BATCH},   {"optimizer", 1, 0, R_OPT},    {"lr", 1, 0, R_LR},
    {"momentum", 1, 0, R_MOM},  {"weight-decay", 1, 0, R_WD},  {"fg-weight", 1, 0, R_FG},
    {"schedule", 1, 0, R_SCHED}, {"warmup", 1, 0, R_WARM},     {"seed", 1, 0, R_SEED},
    {"quiet", 0, 0, R_QUIET},   {0, 0, 0, 0}};

/* The default of --epochs differs: train's 60, evolve's 2 (per offspring). */
const char *cli_recipe_help(int default_epochs) {
  static char text[1024];
  char ep[32];
  snprintf(ep, sizeof ep, "(default %d)", default_epochs);
  snprintf(text, sizeof text,
           "recipe:\n"
           "  --size S            input size (default: the network's own, else 128; saliency: a multiple of 16)\n"
           "  --epochs E          %-22s--batch B     (default 8)\n"
           "  --optimizer NAME    sgd or adam (default adam)\n"
           "  --lr LR             (default 1e-3)        --momentum M  (SGD, default 0.9)\n"
           "  --weight-decay WD   (default 0)           --fg-weight W (salient-class weight, default 1)\n"
           "  --schedule NAME     const, step or cosine (default cosine); --warmup E epochs\n"
           "  --no-augment        no random flips and crops\n"
           "  --seed N            (default 1)           --quiet       no progress output\n",
           ep);
  return text;
}

void cli_recipe_settings(const ev_train_options *o, ev_run_settings *s) {
  ev_settings_double(s, "size", o->size);
  ev_settings_double(s, "epochs", o->epochs);
  ev_settings_double(s, "batch", o->batch);
  ev_settings_text(s, "optimizer", ev_optimizer_name(o->optimizer));
  ev_settings_float(s, "lr", o->lr);
  ev_settings_float(s, "momentum", o->momentum);
  ev_settings_float(s, "weight-decay", o->weight_decay);
  ev_settings_float(s, "fg-weight", o->fg_weight > 0 ? o->fg_weight : 1.0f);
  ev_settings_text(s, "schedule", ev_schedule_name(o->schedule));
  ev_settings_double(s, "warmup", o->warmup_epochs);
  ev_settings_double(s, "seed", (double)o->seed);
  ev_settings_yes_no(s, "augment", o->augment);
}

int cli_recipe_flag(const char *cmd, int code, const char *arg, ev_train_options *o) {
  double d;
  int v;
  switch (code) {
  case R_SIZE:
    /* a saliency network's multiple of 16 is checked once the network is known (cli_settle_size) */
    return cli_parse_int(cmd, "--size", arg, 8, 4096, &o->size) ? -1 : 1;
  case R_NOAUG: o->augment = false; return 1;
  case R_EPOCHS: return cli_parse_int(cmd, "--epochs", arg, 0, 100000, &o->epochs) ? -1 : 1;
  case R_BATCH: return cli_parse_int(cmd, "--batch", arg, 1, 4096, &o->batch) ? -1 : 1;
  case R_OPT:
    if (ev_optimizer_from_name(arg, &o->optimizer) == EV_OK) return 1;
    return cli_usage_error(cmd, "%s", ev_last_error()), -1;
  case R_LR: if (cli_parse_float(cmd, "--lr", arg, 1e-12, 1e9, &d)) return -1; o->lr = (float)d; return 1;
  case R_MOM: if (cli_parse_float(cmd, "--momentum", arg, 0, 0.9999, &d)) return -1; o->momentum = (float)d; return 1;
  case R_WD: if (cli_parse_float(cmd, "--weight-decay", arg, 0, 1, &d)) return -1; o->weight_decay = (float)d; return 1;
  case R_FG: if (cli_parse_float(cmd, "--fg-weight", arg, 1e-3, 1e3, &d)) return -1; o->fg_weight = (float)d; return 1;
  case R_SCHED:
    if (ev_schedule_from_name(arg, &o->schedule) == EV_OK) return 1;
    return cli_usage_error(cmd, "%s", ev_last_error()), -1;
  case R_WARM: return cli_parse_int(cmd, "--warmup", arg, 0, 100000, &o->warmup_epochs) ? -1 : 1;
  case R_SEED: if (cli_parse_int(cmd, "--seed", arg, 0, 2147483647, &v)) return -1; o->seed = (uint64_t)v; return 1;
  case R_QUIET: o->quiet = true; return 1;
  }
  return 0;
}

int cli_merge_options(const struct option *own, struct option *out, int cap) {
  int n = 0;
  for (const struct option *p = own; p->name && n < cap - 1; p++) out[n++] = *p;
  for (const struct option *p = cli_recipe_options; p->name && n < cap - 1; p++) out[n++] = *p;
  memset(&out[n], 0, sizeof out[n]);
  return n;
}
