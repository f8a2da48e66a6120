/* `evonet train`: train the saliency network, a network from a spec file (--arch) or a saved
 * network on a dataset. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "evonet/io.h"
#include "evonet/train.h"

static void usage(void) {
  printf("usage: evonet train [options]\n\n"
         "Trains the paper's saliency network (or --arch SPEC, or --weights FILE) and writes\n"
         "OUT/net.safetensors, a checkpoint after every epoch (OUT/checkpoint.safetensors) and the test\n"
         "metrics (classification: also OUT/confusion.png). OUT/run.json\n"
         "records the settings that define the result: --resume continues only with the same ones.\n\n"
         "network:\n"
         "  --width W           width multiplier (default 0.125; 1 = the paper's network)\n"
         "  --no-bn             no batch normalisation (default: BN after every convolution;\n"
         "                      --bn is accepted and changes nothing)\n"
         "  --arch SPEC         a network description (JSON file, or a shipped one: lenet5, fmnist_vgg,\n"
         "                      cifar_vgg11, saliency), He-initialised from --seed\n"
         "  --weights FILE      start from a saved network (its architecture and weights)\n"
         "  --init FILE         initialise c1-c5 from torchvision VGG16 weights (safetensors, width 1)\n"
         "  --save-init FILE    also write the initial weights (to train a peer from the same start)\n"
         "  --teacher FILE      knowledge distillation: learn from (1-L) ground truth + L this network's\n"
         "  --distill L         saliency map on the same augmented batch (L default 0.5 with --teacher)\n"
         "data:\n"
         "  --data DIR          dataset folder (default: the built-in dataset); fashion-mnist is Debian's\n"
         "                      dataset-fashion-mnist package\n"
         "  --layout NAME       auto, generic, msra-b, hku-is, duts, idx, cifar10 or imagefolder (default auto)\n"
         "%s"
         "run:\n"
         "  --out DIR           output folder (default runs/train)\n"
         "  --resume            continue from OUT/checkpoint.safetensors (default: start over in OUT)\n"
         "  --overwrite         start over even with --resume\n"
         "  --device N|NAME     Vulkan device (see `evonet devices`)\n",
         cli_recipe_help(60));
}

/* What a run folder holds (removed when train starts over); OUT/run.json and OUT/run.lock besides.
 * The settings of OUT/run.json are the network's (--width, --bn, --weights, --init), the data
 * (--data, --layout), --teacher, --distill and the recipe; --device, --quiet and --save-init may
 * change on --resume. */
static const char *const k_outputs[] = {"checkpoint.safetensors*", "net.safetensors*", "confusion.png*", NULL};

enum { O_ARCH = 255, O_WIDTH = 256, O_BN, O_NOBN, O_WEIGHTS, O_INIT, O_SAVE_INIT, O_TEACHER, O_DISTILL, O_DATA, O_LAYOUT, O_OUT, O_RESUME, O_OVERWRITE, O_DEVICE, O_HELP };

int cmd_train(int argc, char **argv) {
  static const struct option own[] = {
      {"arch", 1, 0, O_ARCH}, {"width", 1, 0, O_WIDTH}, {"bn", 0, 0, O_BN}, {"no-bn", 0, 0, O_NOBN}, {"weights", 1, 0, O_WEIGHTS}, {"init", 1, 0, O_INIT},
      {"save-init", 1, 0, O_SAVE_INIT}, {"teacher", 1, 0, O_TEACHER}, {"distill", 1, 0, O_DISTILL}, {"data", 1, 0, O_DATA}, {"layout", 1, 0, O_LAYOUT}, {"out", 1, 0, O_OUT},
      {"resume", 0, 0, O_RESUME}, {"overwrite", 0, 0, O_OVERWRITE}, {"device", 1, 0, O_DEVICE}, {"help", 0, 0, O_HELP}, {0, 0, 0, 0}};
  struct option opts[64];
  cli_merge_options(own, opts, 64);
  ev_train_options o;
  ev_train_defaults(&o);
  o.out_dir = "runs/train";
  o.size = 0; /* the network's own unless --size */
  double width = 0.125;
  int bn = 1, bn_set = 0, c, r;
  bool overwrite = false;
  double distill = -1;
  const char *teacher = NULL;
  const char *arch = NULL, *weights = NULL, *init = NULL, *save_init = NULL, *data = NULL, *layout = "auto", *device = NULL;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case O_ARCH: arch = optarg; break;
    case O_WIDTH: if (cli_parse_float("train", "--width", optarg, 1e-3, 4, &width)) return 2; break;
    case O_BN: bn = 1, bn_set = 1; break;
    case O_NOBN: bn = 0, bn_set = 1; break;
    case O_WEIGHTS: weights = optarg; break;
    case O_INIT: init = optarg; break;
    case O_SAVE_INIT: save_init = optarg; break;
    case O_TEACHER: teacher = optarg; break;
    case O_DISTILL: if (cli_parse_float("train", "--distill", optarg, 0, 1, &distill)) return 2; break;
    case O_DATA: data = optarg; break;
    case O_LAYOUT: layout = optarg; break;
    case O_OUT: o.out_dir = optarg; break;
    case O_RESUME: o.resume = true; break;
    case O_OVERWRITE: overwrite = true; break;
    case O_DEVICE: device = optarg; break;
    case O_HELP: usage(); return 0;
    default:
      if ((r = cli_recipe_flag("train", c, optarg, &o)) < 0) return 2;
      if (r == 0) return cli_usage_error("train", "unknown option '%s'", cli_bad_option(argc, argv));
    }
  }
  if (optind < argc) return cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
  if (weights && (init || bn_set || width != 0.125 || arch))
    return cli_usage_error("train", "--weights fixes the network: drop --arch/--width/--bn/--no-bn/--init");
  if (arch && (init || bn_set || width != 0.125))
    return cli_usage_error("train", "--arch fixes the network: drop --width/--bn/--no-bn/--init");
  if (distill >= 0 && !teacher) return cli_usage_error("train", "--distill needs --teacher FILE");
  if (!data) data = cli_default_data();

  ev_dataset train, val, test;
  ev_net_weights w = {0};
  char arch_path[4096] = "";
  int made = cli_make_network("train", arch, weights, width, bn, &o.size, o.seed, &w, arch_path, sizeof arch_path);
  if (made) return made == 2 ? 2 : cli_error();
  if (cli_open_splits(data, layout, &train, &val, &test) != EV_OK) {
    ev_weights_free(&w);
    return cli_error();
  }
  ev_gpu *g = NULL;
  ev_status s = EV_OK;
  if (s == EV_OK && init) s = ev_weights_init_vgg16(&w, init);
  if (s == EV_OK) s = ev_net_infer(&w.spec, o.size, o.size);
  ev_net_weights tw = {0};
  if (s == EV_OK && teacher) {
    s = ev_weights_load(teacher, NULL, &tw, NULL);
    o.teacher = &tw;
    o.distill = distill >= 0 ? (float)distill : 0.5f;
  }
  ev_run_settings set;
  ev_settings_init(&set, "train");
  ev_settings_folder(&set, "data", data);
  ev_settings_text(&set, "layout", layout);
  ev_settings_file(&set, "weights", weights);
  ev_settings_file(&set, "arch", arch ? arch_path : NULL);
  ev_settings_double(&set, "width", width);
  ev_settings_yes_no(&set, "bn", bn);
  ev_settings_file(&set, "init", init);
  ev_settings_file(&set, "teacher", teacher);
  ev_settings_float(&set, "distill", o.distill);
  cli_recipe_settings(&o, &set);
  ev_run_lock lock = {.fd = -1};
  /* without --resume train starts over: an old checkpoint beside the new manifest would be
   * continued by a later --resume */
  if (s == EV_OK) s = cli_take_run_folder("train", o.out_dir, &set, k_outputs, !o.resume || overwrite, o.quiet, &lock);
  ev_settings_free(&set);
  if (s == EV_OK && o.resume && !overwrite) {
    char ck[4096];
    struct stat sb;
    if (stat(ev_path_join(ck, sizeof ck, o.out_dir, "checkpoint.safetensors"), &sb) != 0)
      fprintf(stderr, "evonet train: no checkpoint in %s: --resume starts from epoch 1\n", o.out_dir);
  }
  if (s == EV_OK && save_init) s = ev_weights_save(save_init, &w, NULL, 0);
  if (s == EV_OK) s = cli_open_gpu(device, &g);
  ev_train_result res;
  if (s == EV_OK) {
    if (!o.quiet)
      fprintf(stderr, "evonet train: %s, %zu train / %zu val images at %dx%d, %llu synapses, %s lr %g (%s), %d epochs of batch %d\n",
            ev_gpu_caps(g)->name, train.n, val.n, o.size, o.size, (unsigned long long)ev_weights_live_synapses(&w),
            ev_optimizer_name(o.optimizer), o.lr, ev_schedule_name(o.schedule), o.epochs, o.batch);
    s = ev_train(g, &w, &train, val.n ? &val : NULL, &o, &res);
  }
  if (s == EV_OK && test.n) {
    ev_eval_result er;
    s = ev_evaluate(g, &w, &test, o.size, o.batch, &er);
    if (s == EV_OK && er.m.classify) {
      printf("test (%zu images): top-1 %.2f %%  top-5 %.2f %%  loss %.4f  mean class accuracy %.2f %%  |  %.1f train "
             "img/s, %.3f ms/image inference\n", er.m.n_images, 100 * er.m.top1, 100 * er.m.top5, er.m.loss,
             100 * er.m.mean_class_acc, res.train_img_s, er.infer_ms_per_image);
      s = cli_write_confusion(o.out_dir, "test", &er.cls, &test);
    } else if (s == EV_OK)
      printf("test (%zu images): max-F %.4f  mean-F %.4f  adaptive-F %.4f  MAE %.4f  |  %.1f train img/s, %.2f ms/image inference\n",
             er.m.n_images, er.m.max_f, er.m.mean_f, er.m.adaptive_f, er.m.mae, res.train_img_s, er.infer_ms_per_image);
    ev_eval_result_free(&er);
  }
  if (s == EV_OK) printf("network: %s/net.safetensors (%d epochs, %.0f s)\n", o.out_dir, res.epochs_done, res.seconds);
  int rc = s == EV_OK ? 0 : cli_error();
  ev_weights_free(&w);
  ev_weights_free(&tw);
  cli_free_splits(&train, &val, &test);
  ev_gpu_close(g);
  ev_run_lock_release(&lock);
  return rc;
}
