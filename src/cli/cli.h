/* Subcommands of the evonet program: each returns the process exit status. */
#ifndef EVONET_CLI_H
#define EVONET_CLI_H
#include "evonet/gpu.h"

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
  const char *summary;
} cli_command;

int cmd_devices(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_summary(int argc, char **argv);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);

/* Parse a flag's number; on error print a usage line and return -1. */
int cli_parse_int(const char *cmd, const char *flag, const char *arg, int lo, int hi, int *out);
int cli_parse_float(const char *cmd, const char *flag, const char *arg, double lo, double hi, double *out);
/* Training-recipe flags shared by train and evolve: their getopt table and help text; a
 * handler returning 1 (handled), 0 (not a recipe flag) or -1 (bad value, message printed). */
#include <getopt.h>
#include "evonet/train.h"
#include "evonet/run_folder.h"
extern const struct option cli_recipe_options[];
/* The recipe part of --help, with the command's own default of --epochs. */
const char *cli_recipe_help(int default_epochs);
int cli_recipe_flag(const char *cmd, int code, const char *arg, ev_train_options *o);
/* The recipe's settings that define a run's results, for its manifest (evonet/run_folder.h). */
void cli_recipe_settings(const ev_train_options *o, ev_run_settings *s);
/* own options followed by the recipe options, NULL-terminated, into out[cap]. */
int cli_merge_options(const struct option *own, struct option *out, int cap);
int cmd_evolve(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cli_bench_train(int argc, char **argv);
/* Opens DATA's train split (required) and its val and test splits (optional: n = 0 if
 * absent; an error if present but broken), then checks every file's header
 * (ev_dataset_check). On error nothing is left open. */
#include "evonet/data.h"
ev_status cli_open_splits(const char *data, const char *layout, ev_dataset *train, ev_dataset *val, ev_dataset *test);
void cli_free_splits(ev_dataset *train, ev_dataset *val, ev_dataset *test);
/* The built-in dataset's folder. */
const char *cli_default_data(void);
/* The generation-1 network shipped for the main job (trained by `evonet train` with its
 * defaults on the built-in dataset; manifest.json beside it), or NULL when it is not there. */
#define CLI_SHIPPED_ANCESTOR "ancestors/saliency_w0.125_bn_128/net.safetensors"
const char *cli_shipped_ancestor(void);

/* --arch: a network description (JSON, evonet/net.h) from a file, or a shipped one by name
 * (lenet5, fmnist_vgg, cifar_vgg11, saliency: assets/archs/<name>.json), channels inferred.
 * A bad spec fails with one line naming the file and the layer. path_out (optional) gets the
 * file read. */
#include "evonet/net.h"
ev_status cli_load_arch(const char *arch, ev_net_spec *out, char *path_out, size_t cap);
/* The input size a command runs at: *size 0 (no --size) becomes the network's own ("input"
 * size) or 128; a saliency network needs a multiple of 16. Returns 0, or 2 after printing a
 * usage error. */
int cli_settle_size(const char *cmd, const ev_net_spec *spec, int *size);

/* The network a command starts from: --weights FILE (loaded), --arch SPEC (He-initialised
 * from seed), else the saliency network at width/bn; *size settled (cli_settle_size).
 * Returns 0, 1 (error recorded: print with cli_error) or 2 (usage error printed). */
#include "evonet/weights.h"
int cli_make_network(const char *cmd, const char *arch, const char *weights, double width, bool bn, int *size,
                     uint64_t seed, ev_net_weights *w, char *arch_path, size_t cap);
/* Classification: OUT/confusion.png of a split's evaluation (class names from the dataset). */
#include "evonet/class_metrics.h"
ev_status cli_write_confusion(const char *out_dir, const char *split, const ev_class_metrics *cm, const ev_dataset *ds);

/* Prints "evonet: <last error>" (one line) and returns 1. */
int cli_error(void);
/* The command-line word getopt just rejected (for "unknown option 'X'"). */
const char *cli_bad_option(int argc, char **argv);
/* Prints "evonet: <message>" and returns 2 (usage errors). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Locks the run folder `out` and makes it the run of `s` (ev_run_lock_take, ev_run_folder_open);
 * a note on stderr (unless quiet) when temporary files of a killed process were removed. On
 * success the caller releases `lock` when the command ends. */
ev_status cli_take_run_folder(const char *cmd, const char *out, const ev_run_settings *s, const char *const *outputs,
                              bool start_over, bool quiet, ev_run_lock *lock);
/* Opens the device named by --device (or EVONET_DEVICE / the default rule). */
ev_status cli_open_gpu(const char *device, ev_gpu **g);
#endif
