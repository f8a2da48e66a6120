/* `evonet evolve`: the main job — train an ancestor, then synthesize, compact and train
 * offspring for several generations, and report them like the paper's Table 1. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "evonet/evolve.h"

static void usage(void) {
  printf("usage: evonet evolve [options]\n\n"
         "Generation 1 is trained (or --ancestor FILE); generations 2..G are synthesized from the\n"
         "previous generation's synaptic probability model (keep a synapse iff alpha*exp(|w|/Z-1) >= r),\n"
         "dead neurons are removed, the offspring is compacted and trained. Writes OUT/report.md\n"
         "(.json, .csv), OUT/saliency.png (classification: OUT/confusion.png), OUT/generations.png and\n"
         "every network. Re-running the same\n"
         "command after an interruption continues where it stopped; OUT/run.json records the settings\n"
         "that define the results, and a re-run with others stops (--overwrite starts over).\n\n"
         "evolution:\n"
         "  --generations G     total generations, the ancestor included (default 4)\n"
         "  --offspring K       offspring per generation; the fittest by val max-F (classification: val\n"
         "                      top-1) is selected (default 1)\n"
         "  --alpha A           environmental factor (default 0.4, as in the paper)\n"
         "  --granularity G     synapse (default) or filter\n"
         "  --z layer|network   normalise synaptic strength per layer (default) or over the network\n"
         "  --synthesis RULE    paper (default: Eq. 1-4 as written) or budget: alpha is the expected share\n"
         "                      of synapses kept, P(s) = exp(|w|/Z - 1) with Z = T * mean |w|, kept iff\n"
         "                      min(1, c*P(s)) >= r with c set by that share (default --z network)\n"
         "  --temperature T     the budget rule's T (default 1; small: towards magnitude pruning)\n"
         "  --layer-floor F     budget rule, network Z: no layer keeps less than F of its synapses (default 0)\n"
         "  --protect L1,L2,... layers left out of sampling: each offspring keeps their synapses whole\n"
         "                      (default none, as in the paper; e.g. the narrow c1_1,c1_2,c2_1,c2_2,s9,s10,s11)\n"
         "  --prune METHOD      a baseline instead of synthesis: magnitude (largest |w|) or random pruning\n"
         "                      to the per-layer counts of the evolved run --like RUN (see evonet compare)\n"
         "  --inherit           offspring start from the ancestor's surviving weights (default: newborn)\n"
         "  --distill L         offspring learn from (1-L) ground truth + L the teacher's saliency map on the\n"
         "                      same augmented batch (knowledge distillation; default 0: ground truth only)\n"
         "  --teacher WHO       the distillation teacher: first (generation 1, default) or parent\n"
         "  --ancestor FILE     a trained generation-1 network instead of training one (default: on the\n"
         "                      built-in data at width 0.125, 128x128, batch norm, the shipped one, " "assets/" CLI_SHIPPED_ANCESTOR ")\n"
         "  --train-gen1        train generation 1 here even where the shipped ancestor fits\n"
         "  --epochs-gen1 E     epochs of generation 1 (default 6)\n"
         "  --gen-epochs E2,E3,...  epochs of the offspring of generation 2, 3, ... (the last repeats;\n"
         "                      default: --epochs for all): deeper cuts may need longer to recover\n"
         "  --arch SPEC         generation 1's architecture: a JSON file or a shipped spec (lenet5,\n"
         "                      fmnist_vgg, cifar_vgg11, saliency); default the saliency network at --width\n"
         "  --width W           generation 1's width (default 0.125)\n"
         "  --no-bn             no batch normalisation (default: BN after every convolution)\n"
         "data and run:\n"
         "  --data DIR          dataset folder (default: the built-in dataset); --layout NAME\n"
         "  --out DIR           output folder (default runs/evolve)\n"
         "  --overwrite         start over in OUT, even where it holds a run with other settings\n"
         "  --figure-rows N     test images in saliency.png (default 6)\n"
         "  --device N|NAME     Vulkan device (see `evonet devices`)\n"
         "%s(evolve trains each offspring for --epochs)\n", cli_recipe_help(2));
}

/* What a run folder holds (removed by --overwrite); OUT/run.json and OUT/run.lock besides. */
static const char *const k_outputs[] = {"gen[0-9]*", "report.*", "saliency.png*", "generations.png*", "confusion.png*", NULL};

/* The settings that define an evolution's results (OUT/run.json). Not among them, so free to
 * change on a re-run: --generations (more continue the run), --figure-rows, --quiet, --device,
 * --out. Generation 1 is named by its file's content when given or shipped. */
static void run_settings(const ev_evolve_options *o, const char *data, const char *layout, const char *arch,
                         ev_run_settings *s) {
  static const char *const makers[] = {"no", "magnitude", "random"};
  ev_settings_init(s, "evolve");
  ev_settings_folder(s, "data", data);
  ev_settings_text(s, "layout", layout);
  ev_settings_file(s, "ancestor", o->ancestor);
  ev_settings_file(s, "arch", arch);
  ev_settings_double(s, "width", o->width);
  ev_settings_yes_no(s, "bn", o->bn);
  if (o->ancestor) ev_settings_text(s, "epochs-gen1", "none (--ancestor)"); /* not trained here */
  else ev_settings_double(s, "epochs-gen1", o->epochs_gen1 > 0 ? o->epochs_gen1 : o->train.epochs);
  char list[256] = "";
  for (int i = 0, k = 0; i < o->n_gen_epochs && k < (int)sizeof list; i++)
    k += snprintf(list + k, sizeof list - (size_t)k, "%s%d", i ? "," : "", o->gen_epochs[i]);
  ev_settings_text(s, "gen-epochs", o->n_gen_epochs ? list : "none");
  ev_settings_double(s, "offspring", o->offspring);
  ev_settings_double(s, "alpha", o->synth.alpha);
  ev_settings_text(s, "granularity", o->synth.granularity == EV_SYNTH_FILTER ? "filter" : "synapse");
  ev_settings_text(s, "z", o->synth.z_network ? "network" : "layer");
  ev_settings_text(s, "synthesis", o->synth.rule == EV_RULE_BUDGET ? "budget" : "paper");
  ev_settings_double(s, "temperature", o->synth.temperature);
  ev_settings_double(s, "layer-floor", o->synth.layer_floor);
  ev_settings_text(s, "protect", o->synth.protect && *o->synth.protect ? o->synth.protect : "none");
  ev_settings_text(s, "prune", makers[o->maker]);
  ev_settings_folder(s, "like", o->like_run);
  ev_settings_yes_no(s, "inherit", o->inherit);
  ev_settings_double(s, "distill", o->distill);
  ev_settings_text(s, "teacher", o->teacher == EV_TEACHER_PARENT ? "parent" : "first");
  cli_recipe_settings(&o->train, s);
}

enum { E_ARCH = 255, E_GENS = 256, E_OFF, E_ALPHA, E_GRAN, E_Z, E_RULE, E_TEMP, E_FLOOR, E_GENEP, E_PRUNE, E_LIKE, E_TRAIN1, E_PROTECT, E_INHERIT, E_DISTILL, E_TEACHER, E_ANC, E_EP1, E_WIDTH, E_BN, E_NOBN, E_DATA, E_LAYOUT, E_OUT,
       E_OVERWRITE, E_ROWS, E_DEVICE, E_HELP };

int cmd_evolve(int argc, char **argv) {
  static const struct option own[] = {
      {"arch", 1, 0, E_ARCH}, {"generations", 1, 0, E_GENS}, {"offspring", 1, 0, E_OFF}, {"alpha", 1, 0, E_ALPHA},
      {"granularity", 1, 0, E_GRAN}, {"z", 1, 0, E_Z}, {"synthesis", 1, 0, E_RULE}, {"prune", 1, 0, E_PRUNE}, {"train-gen1", 0, 0, E_TRAIN1}, {"like", 1, 0, E_LIKE}, {"temperature", 1, 0, E_TEMP}, {"layer-floor", 1, 0, E_FLOOR}, {"gen-epochs", 1, 0, E_GENEP}, {"protect", 1, 0, E_PROTECT}, {"inherit", 0, 0, E_INHERIT}, {"distill", 1, 0, E_DISTILL}, {"teacher", 1, 0, E_TEACHER}, {"ancestor", 1, 0, E_ANC},
      {"epochs-gen1", 1, 0, E_EP1}, {"width", 1, 0, E_WIDTH}, {"bn", 0, 0, E_BN}, {"no-bn", 0, 0, E_NOBN}, {"data", 1, 0, E_DATA},
      {"layout", 1, 0, E_LAYOUT}, {"out", 1, 0, E_OUT}, {"overwrite", 0, 0, E_OVERWRITE}, {"figure-rows", 1, 0, E_ROWS}, {"device", 1, 0, E_DEVICE},
      {"help", 0, 0, E_HELP}, {0, 0, 0, 0}};
  struct option opts[64];
  cli_merge_options(own, opts, 64);
  ev_evolve_options o;
  ev_evolve_defaults(&o);
  optind = 0; /* getopt starts afresh: evonet compare calls this command several times */
  o.out_dir = "runs/evolve";
  const char *data = NULL, *layout = "auto", *device = NULL, *arch = NULL;
  int c, r, z_given = 0, train_gen1 = 0, ep1_given = 0, width_given = 0, bn_given = 0;
  o.train.size = 0; /* the network's own unless --size */
  bool overwrite = false;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case E_GENS: if (cli_parse_int("evolve", "--generations", optarg, 1, 1000, &o.generations)) return 2; break;
    case E_OFF: if (cli_parse_int("evolve", "--offspring", optarg, 1, 1000, &o.offspring)) return 2; break;
    case E_ALPHA: if (cli_parse_float("evolve", "--alpha", optarg, 1e-6, 1e6, &o.synth.alpha)) return 2; break;
    case E_GRAN:
      if (!strcmp(optarg, "synapse")) o.synth.granularity = EV_SYNTH_SYNAPSE;
      else if (!strcmp(optarg, "filter")) o.synth.granularity = EV_SYNTH_FILTER;
      else return cli_usage_error("evolve", "--granularity must be synapse or filter, got '%s'", optarg);
      break;
    case E_Z:
      z_given = 1;
      if (!strcmp(optarg, "layer")) o.synth.z_network = false;
      else if (!strcmp(optarg, "network")) o.synth.z_network = true;
      else return cli_usage_error("evolve", "--z must be layer or network, got '%s'", optarg);
      break;
    case E_RULE:
      if (!strcmp(optarg, "paper")) o.synth.rule = EV_RULE_PAPER;
      else if (!strcmp(optarg, "budget")) o.synth.rule = EV_RULE_BUDGET;
      else return cli_usage_error("evolve", "--synthesis must be paper or budget, got '%s'", optarg);
      break;
    case E_FLOOR: if (cli_parse_float("evolve", "--layer-floor", optarg, 0, 1, &o.synth.layer_floor)) return 2; break;
    case E_GENEP: {
      o.n_gen_epochs = 0;
      for (const char *p = optarg; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 100000 || o.n_gen_epochs == 16 || (*end && *end != ','))
          return cli_usage_error("evolve", "--gen-epochs must be up to 16 comma-separated epoch counts, got '%s'", optarg);
        o.gen_epochs[o.n_gen_epochs++] = (int)v;
        p = *end ? end + 1 : end;
      }
      if (!o.n_gen_epochs) return cli_usage_error("evolve", "--gen-epochs is empty");
      break;
    }
    case E_TEMP: if (cli_parse_float("evolve", "--temperature", optarg, 1e-3, 1e3, &o.synth.temperature)) return 2; break;
    case E_PRUNE:
      if (!strcmp(optarg, "magnitude")) o.maker = EV_MAKE_MAGNITUDE;
      else if (!strcmp(optarg, "random")) o.maker = EV_MAKE_RANDOM;
      else return cli_usage_error("evolve", "--prune must be magnitude or random, got '%s'", optarg);
      break;
    case E_LIKE: o.like_run = optarg; break;
    case E_TRAIN1: train_gen1 = 1; break;
    case E_PROTECT: o.synth.protect = optarg; break;
    case E_INHERIT: o.inherit = true; break;
    case E_DISTILL: if (cli_parse_float("evolve", "--distill", optarg, 0, 1, &o.distill)) return 2; break;
    case E_TEACHER:
      if (!strcmp(optarg, "first")) o.teacher = EV_TEACHER_FIRST;
      else if (!strcmp(optarg, "parent")) o.teacher = EV_TEACHER_PARENT;
      else return cli_usage_error("evolve", "--teacher must be first or parent, got '%s'", optarg);
      break;
    case E_ANC: o.ancestor = optarg; break;
    case E_ARCH: arch = optarg; break;
    case E_EP1:
      ep1_given = 1;
      if (cli_parse_int("evolve", "--epochs-gen1", optarg, 0, 100000, &o.epochs_gen1)) return 2;
      break;
    case E_WIDTH: width_given = 1; if (cli_parse_float("evolve", "--width", optarg, 1e-3, 4, &o.width)) return 2; break;
    case E_BN: bn_given = 1, o.bn = true; break;
    case E_NOBN: bn_given = 1, o.bn = false; break;
    case E_DATA: data = optarg; break;
    case E_LAYOUT: layout = optarg; break;
    case E_OUT: o.out_dir = optarg; break;
    case E_OVERWRITE: overwrite = true; break;
    case E_ROWS: if (cli_parse_int("evolve", "--figure-rows", optarg, 0, 64, &o.figure_rows)) return 2; break;
    case E_DEVICE: device = optarg; break;
    case E_HELP: usage(); return 0;
    default:
      if ((r = cli_recipe_flag("evolve", c, optarg, &o.train)) < 0) return 2;
      if (r == 0) return cli_usage_error("evolve", "unknown option '%s'", cli_bad_option(argc, argv));
    }
  }
  if (optind < argc) return cli_usage_error("evolve", "unexpected argument '%s'", argv[optind]);
  o.synth.seed = o.train.seed;
  if (o.synth.rule == EV_RULE_BUDGET && !z_given) o.synth.z_network = true;
  if (o.synth.rule == EV_RULE_BUDGET && o.synth.layer_floor > 0 && o.synth.layer_floor >= o.synth.alpha && o.synth.alpha < 1)
    return cli_usage_error("evolve", "--layer-floor %g must be below --alpha %g", o.synth.layer_floor, o.synth.alpha);
  if (o.maker != EV_MAKE_EVOLVE && !o.like_run)
    return cli_usage_error("evolve", "--prune needs --like RUN: the evolved run whose per-layer counts it keeps");
  if (o.synth.rule == EV_RULE_BUDGET && o.synth.alpha > 1)
    return cli_usage_error("evolve", "--synthesis budget reads --alpha as a share of synapses: at most 1, got %g", o.synth.alpha);
  if (arch && (o.ancestor || width_given || bn_given))
    return cli_usage_error("evolve", "--arch fixes generation 1's network: drop --ancestor/--width/--bn/--no-bn");
  /* generation 1's network settles the input size (and a saliency one its multiple of 16) */
  ev_net_weights first;
  char arch_path[4096] = "";
  int made = cli_make_network("evolve", arch, o.ancestor, o.width, o.bn, &o.train.size, o.synth.seed, &first, arch_path,
                              sizeof arch_path);
  if (made) return made == 2 ? 2 : cli_error();
  ev_net_spec arch_spec = {0};
  ev_status s = arch ? ev_net_copy(&first.spec, &arch_spec) : EV_OK;
  char anc_label[4200] = "";
  if (!arch && o.ancestor && first.spec.task == EV_TASK_CLASSIFY) /* not the saliency network at a width */
    snprintf(anc_label, sizeof anc_label, "the architecture of %s", o.ancestor);
  ev_weights_free(&first);
  if (s != EV_OK) return cli_error();
  o.arch = arch ? &arch_spec : NULL;
  o.arch_label = arch ? arch_path : anc_label[0] ? anc_label : NULL;
  /* generation 1 of the main job is shipped: trained once by `evonet train` (60 epochs, far
   * beyond the main job's time budget); used where the run matches what it was trained for */
  const char *shipped = cli_shipped_ancestor();
  if (!arch && !o.ancestor && !train_gen1 && !ep1_given && !data && shipped && o.width == 0.125 && o.bn && o.train.size == 128) {
    o.ancestor = shipped;
    if (!o.train.quiet)
      fprintf(stderr, "evonet evolve: generation 1 is the shipped ancestor %s (its manifest.json says how it was "
                      "trained; --train-gen1 trains one here)\n", shipped);
  }
  if (!data) data = cli_default_data();
  o.data_label = data;
  ev_dataset train, val, test;
  if (cli_open_splits(data, layout, &train, &val, &test) != EV_OK) {
    ev_net_free(&arch_spec);
    return cli_error();
  }
  if (!val.n || !test.n) s = ev_fail(EV_ERR_ARG, "%s needs val and test splits for selection and the report", data);
  ev_run_settings set;
  run_settings(&o, data, layout, arch ? arch_path : NULL, &set);
  ev_run_lock lock = {.fd = -1};
  if (s == EV_OK) s = cli_take_run_folder("evolve", o.out_dir, &set, k_outputs, overwrite, o.train.quiet, &lock);
  ev_settings_free(&set);
  ev_gpu *g = NULL;
  if (s == EV_OK) s = cli_open_gpu(device, &g);
  if (s == EV_OK) {
    if (!o.train.quiet)
      fprintf(stderr, "evonet evolve: %d generations x %d offspring, alpha %g, %s granularity, on %s; %zu/%zu/%zu images; output %s\n",
            o.generations, o.offspring, o.synth.alpha, o.synth.granularity == EV_SYNTH_FILTER ? "filter" : "synapse",
            ev_gpu_caps(g)->name, train.n, val.n, test.n, o.out_dir);
    s = ev_evolve(g, &train, &val, &test, &o);
  }
  int rc = s == EV_OK ? 0 : cli_error();
  ev_net_free(&arch_spec);
  cli_free_splits(&train, &val, &test);
  ev_gpu_close(g);
  ev_run_lock_release(&lock);
  return rc;
}
