/* `evonet export`: a network file to ONNX (evonet/export.h), for other runtimes. */
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>

#include "cli.h"
#include "evonet/export.h"

static void usage(void) {
  printf("usage: evonet export --weights FILE --onnx OUT.onnx [--size S]\n\n"
         "Writes the network as ONNX (opset 13): the compacted dense graph as it is, removed synapses\n"
         "as zeros, batch norm folded into the convolutions. Input \"image\" (N, 3, S, S), normalised as\n"
         "evonet does (RGB (v/255 - mean)/std, ImageNet mean and std), N dynamic; output \"probabilities\"\n"
         "(N, classes, S, S), the softmax over the classes (channel 1: the saliency map).\n\n"
         "  --weights FILE      a network file (net.safetensors of train or evolve)\n"
         "  --onnx OUT.onnx     the ONNX file to write (atomically)\n"
         "  --size S            input height and width (default: the network's own, else 128;\n"
         "                      a saliency network's: a multiple of 16)\n");
}

int cmd_export(int argc, char **argv) {
  static const struct option opts[] = {{"weights", required_argument, 0, 'W'},
                                       {"onnx", required_argument, 0, 'o'},
                                       {"size", required_argument, 0, 's'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *weights = NULL, *out = NULL;
  int size = 0, c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'W': weights = optarg; break;
    case 'o': out = optarg; break;
    case 's':
      if (cli_parse_int("export", "--size", optarg, 8, 4096, &size)) return 2;
      break;
    case 'h': usage(); return 0;
    default: return cli_usage_error("export", "unknown option '%s'", cli_bad_option(argc, argv));
    }
  }
  if (optind < argc) return cli_usage_error("export", "unexpected argument '%s'", argv[optind]);
  if (!weights || !out) return cli_usage_error("export", "--weights FILE and --onnx OUT.onnx are both needed");
  if (!ev_onnx_available()) { /* before reading anything: the one thing to do is rebuild */
    ev_export_onnx(NULL, 0, 0, out);
    return cli_error();
  }
  ev_net_weights w = {0};
  ev_status s = ev_weights_load(weights, NULL, &w, NULL);
  if (s == EV_OK && cli_settle_size("export", &w.spec, &size)) {
    ev_weights_free(&w);
    return 2;
  }
  if (s == EV_OK) s = ev_export_onnx(&w, size, size, out);
  if (s == EV_OK) {
    struct stat st;
    printf("wrote %s (%.1f kB, %llu live synapses)\n", out, stat(out, &st) == 0 ? st.st_size / 1e3 : 0.0,
           (unsigned long long)ev_weights_live_synapses(&w));
  }
  ev_weights_free(&w);
  return s == EV_OK ? 0 : cli_error();
}
