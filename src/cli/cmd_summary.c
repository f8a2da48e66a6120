/* `evonet summary`: layers, shapes, synapses, parameters and FLOPs per image. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "evonet/net.h"
#include "evonet/report.h"
#include "evonet/weights.h"

/* w: a network file's weights (NULL for a bare spec): adds the live synapses (mask != 0),
 * which is what an offspring's compacted but still partly masked layers really hold. */
static void print_summary(const ev_net_spec *s, const ev_net_weights *w) {
  printf("%-8s %-9s %-22s %16s %14s %14s%s\n", "layer", "op", "output (C x H x W)", "synapses", "params", "MFLOPs",
         w ? "  live synapses" : "");
  for (int i = 0; i < s->n; i++) {
    const ev_layer *l = &s->layers[i];
    char shape[40], syn[32], par[32], live[32] = "";
    snprintf(shape, sizeof shape, "%d x %d x %d", l->c, l->h, l->w);
    ev_fmt_count(syn, sizeof syn, ev_layer_synapses(l));
    ev_fmt_count(par, sizeof par, ev_layer_params(l));
    if (w && ev_layer_synapses(l)) ev_fmt_count(live, sizeof live, ev_layer_live_synapses(w, i));
    printf("%-8s %-9s %-22s %16s %14s %14.1f", l->name, ev_layer_op_name(l), shape, ev_layer_synapses(l) ? syn : "",
           ev_layer_params(l) ? par : "", ev_layer_flops(l) / 1e6);
    if (w) printf("  %13s", live);
    printf("\n");
  }
  char syn[32], par[32];
  ev_fmt_count(syn, sizeof syn, ev_net_synapses(s));
  ev_fmt_count(par, sizeof par, ev_net_params(s));
  printf("\nsynapses %s  parameters %s  %.3f GFLOPs per %dx%d image\n", syn, par, ev_net_flops(s) / 1e9, s->in_h,
         s->in_w);
  if (w) {
    char live[32];
    ev_fmt_count(live, sizeof live, ev_weights_live_synapses(w));
    printf("live synapses %s (the rest are masked: exactly zero, counted by FLOPs as dense)\n", live);
  }
}

/* The network description as --arch reads it. */
static int print_json(const ev_net_spec *s) {
  char *txt = ev_net_to_json(s);
  if (!txt) return ev_fail(EV_ERR_OOM, "out of memory"), cli_error();
  printf("%s\n", txt);
  free(txt);
  return 0;
}

int cmd_summary(int argc, char **argv) {
  static const struct option opts[] = {{"width", required_argument, 0, 'w'},
                                       {"size", required_argument, 0, 's'},
                                       {"bn", no_argument, 0, 'b'},
                                       {"weights", required_argument, 0, 'W'},
                                       {"arch", required_argument, 0, 'a'},
                                       {"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  double width = 0.125;
  int size = 0, bn = 0, c, json = 0;
  const char *weights = NULL, *arch = NULL;
  while ((c = getopt_long(argc, argv, "w:s:bW:h", opts, NULL)) != -1) {
    switch (c) {
    case 'w':
      /* the range ev_net_saliency_vgg takes, as train and evolve parse it */
      if (cli_parse_float("summary", "--width", optarg, 1e-3, 4, &width)) return 2;
      break;
    case 's':
      if (cli_parse_int("summary", "--size", optarg, 1, EV_NET_MAX_SIDE, &size)) return 2;
      break;
    case 'a': arch = optarg; break;
    case 'j': json = 1; break;
    case 'b': bn = 1; break;
    case 'W': weights = optarg; break;
    case 'h':
      printf("usage: evonet summary [--width W] [--size S] [--bn] [--json]\n       evonet summary --arch SPEC [--size S] [--json]\n"
             "       evonet summary --weights FILE [--size S] [--json]\n\n"
             "Prints the saliency network's layers, output shapes, synapses (conv/deconv/fc weights,\nbiases excluded), "
             "parameters and FLOPs for an SxS input; with --arch, those of a network\ndescription (a JSON file or a "
             "shipped spec: lenet5, fmnist_vgg, cifar_vgg11, saliency); with\n--weights, those of a saved network (any "
             "generation's offspring) and its live synapses per\nlayer. --json prints the network description instead "
             "(the --arch format).\n"
             "Defaults: width 0.125 (laptop size; 1 = the paper's), size: the network's own input size, else 128.\n");
      return 0;
    default: return cli_usage_error("summary", "unknown option '%s'", cli_bad_option(argc, argv));
    }
  }
  if (optind < argc) return cli_usage_error("summary", "unexpected argument '%s'", argv[optind]);
  if (weights && arch) return cli_usage_error("summary", "give --weights or --arch, not both");
  if (weights) {
    ev_net_weights w;
    if (ev_weights_load(weights, NULL, &w, NULL) != EV_OK) return cli_error();
    int rc = cli_settle_size("summary", &w.spec, &size);
    if (rc || ev_net_infer(&w.spec, size, size) != EV_OK) {
      ev_weights_free(&w);
      return rc ? rc : cli_error();
    }
    if (json) {
      int r = print_json(&w.spec);
      ev_weights_free(&w);
      return r;
    }
    printf("%s, input %dx%d\n\n", weights, size, size);
    print_summary(&w.spec, &w);
    ev_weights_free(&w);
    return 0;
  }
  ev_net_spec s;
  if (arch ? cli_load_arch(arch, &s, NULL, 0) != EV_OK : ev_net_saliency_vgg(width, bn, &s) != EV_OK) return cli_error();
  int rc = cli_settle_size("summary", &s, &size);
  if (rc || ev_net_infer(&s, size, size) != EV_OK) {
    ev_net_free(&s);
    return rc ? rc : cli_error();
  }
  if (json || arch) {
    int r = json ? print_json(&s) : 0;
    if (!json) {
      printf("%s (%s), input %dx%d\n\n", arch, s.task == EV_TASK_CLASSIFY ? "classification" : "saliency", size, size);
      print_summary(&s, NULL);
    }
    ev_net_free(&s);
    return r;
  }
  printf("saliency network (the paper's ancestor), width %g%s, input %dx%d\n\n", width, bn ? ", batch norm" : "", size, size);
  print_summary(&s, NULL);
  ev_net_free(&s);
  return 0;
}
