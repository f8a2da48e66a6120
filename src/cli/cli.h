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
int cmd_summary(int argc, char **argv);

/* Prints "evonet: <last error>" (one line) and returns 1. */
int cli_error(void);
/* Prints "evonet: <message>" and returns 2 (usage errors). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Opens the device named by --device (or EVONET_DEVICE / the default rule). */
ev_status cli_open_gpu(const char *device, ev_gpu **g);
#endif
