/* evonet: the command-line program. `evonet <command> [options]`. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command k_commands[] = {
    {"devices", cmd_devices, "list Vulkan devices and their capabilities"},
    {"selftest", cmd_selftest, "run a few kernels on a device against C references"},
    {"bench", cmd_bench, "time kernels: `evonet bench kernels` (convolution GFLOP/s)"},
    {"evolve", cmd_evolve, "evolve a network over generations (the main job)"},
    {"compare", cmd_compare, "evolved offspring beside magnitude and random pruning, over seeds"},
    {"train", cmd_train, "train the saliency network on a dataset"},
    {"eval", cmd_eval, "evaluate a network: F-beta, MAE, size and speed"},
    {"predict", cmd_predict, "write saliency maps for images"},
    {"export", cmd_export, "write a network as ONNX for other runtimes (OpenCV, ONNX Runtime, ...)"},
    {"summary", cmd_summary, "print a network's layers, shapes, synapses and FLOPs"},
};
#define N_COMMANDS (sizeof k_commands / sizeof k_commands[0])

static void usage(FILE *f) {
  fprintf(f,
          "usage: evonet <command> [options]\n"
          "       evonet --help | --version\n\n"
          "evonet trains convolutional networks with Vulkan compute shaders and evolves them\n"
          "into offspring with far fewer synapses (evolutionary synthesis).\n\n"
          "commands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(f, "  %-10s %s\n", k_commands[i].name, k_commands[i].summary);
  fprintf(f,
          "\n`evonet <command> --help` shows a command's options.\n\n"
          "environment:\n"
          "  EVONET_DEVICE=N|name   device to use (as --device)\n"
          "  EVONET_VALIDATE=1      enable the Vulkan validation layer\n"
          "  EVONET_PROFILE=1       print per-kernel GPU times on exit\n");
}

int cli_error(void) {
  fprintf(stderr, "evonet: %s\n", *ev_last_error() ? ev_last_error() : "unknown error");
  return 1;
}

/* getopt's own messages are off (opterr = 0): an unknown option is reported in one line by
 * the command, naming the option (the argument getopt just stepped over). */
const char *cli_bad_option(int argc, char **argv) {
  int i = optind - 1;
  return i > 0 && i < argc ? argv[i] : "?";
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "evonet%s%s: ", cmd ? " " : "", cmd ? cmd : "");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see `evonet%s%s --help`)\n", cmd ? " " : "", cmd ? cmd : "");
  return 2;
}

ev_status cli_open_gpu(const char *device, ev_gpu **g) {
  ev_gpu_options o = {.device = device};
  return ev_gpu_open(&o, g);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
  int c;
  opterr = 0;
  /* "+": stop at the first non-option, which is the subcommand */
  while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
    switch (c) {
    case 'h': usage(stdout); return 0;
    case 'V': printf("evonet %s\n", EVONET_VERSION); return 0;
    default: return cli_usage_error(NULL, "unknown option '%s'", cli_bad_option(argc, argv));
    }
  }
  if (optind >= argc) {
    usage(stderr);
    return 2;
  }
  const char *name = argv[optind];
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(name, k_commands[i].name) == 0) {
      int at = optind;
      optind = 0; /* glibc: 0 re-initialises getopt for the subcommand's own parse */
      return k_commands[i].run(argc - at, argv + at);
    }
  return cli_usage_error(NULL, "unknown command '%s'", name);
}
