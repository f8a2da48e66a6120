/* `evonet devices`: every Vulkan device with the caps kernels choose tiles from. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static void print_caps(uint32_t i, const ev_caps *c, int chosen) {
  printf("%s[%u] %s\n", chosen ? "*" : " ", i, c->name);
  printf("    type            %s%s\n", ev_device_type_name(c->type), c->is_cpu ? " (CPU kernels)" : "");
  printf("    vendor/device   0x%04x / 0x%04x\n", c->vendor_id, c->device_id);
  printf("    driver          %s %s (version 0x%08x)\n", c->driver_name[0] ? c->driver_name : "?",
         c->driver_info, c->driver_version);
  printf("    Vulkan          %u.%u.%u\n", VK_API_VERSION_MAJOR(c->api_version),
         VK_API_VERSION_MINOR(c->api_version), VK_API_VERSION_PATCH(c->api_version));
  if (c->api_version < VK_API_VERSION_1_1) {
    printf("    (Vulkan 1.1 is required: this device cannot be used)\n");
    return;
  }
  static const char *ops[] = {"basic", "vote", "arithmetic", "ballot", "shuffle", "shuffle_relative",
                              "clustered", "quad"};
  printf("    subgroup        %u lanes (%u..%u%s); ops:", c->subgroup_size, c->min_subgroup_size,
         c->max_subgroup_size, c->subgroup_size_control ? ", size control" : "");
  for (int b = 0; b < 8; b++)
    if (c->subgroup_ops & (1u << b)) printf(" %s", ops[b]);
  printf("\n");
  printf("    shared memory   %u KiB\n", c->max_shared_memory / 1024);
  printf("    storage range   %.0f MiB; texel buffer %llu texels\n",
         (double)c->max_storage_buffer_range / (1 << 20),
         (unsigned long long)c->max_texel_buffer_elements);
  printf("    allocation      max %.0f MiB, max count %u\n",
         (double)c->max_memory_allocation_size / (1 << 20), c->max_memory_allocation_count);
  printf("    workgroups      count %u x %u x %u, size %u x %u x %u, %u invocations\n",
         c->max_workgroup_count[0], c->max_workgroup_count[1], c->max_workgroup_count[2],
         c->max_workgroup_size[0], c->max_workgroup_size[1], c->max_workgroup_size[2],
         c->max_workgroup_invocations);
  printf("    timestamps      %s", c->timestamps ? "yes" : "no");
  if (c->timestamps) printf(" (period %.3g ns)", c->timestamp_period_ns);
  printf("\n    memory heaps   ");
  for (uint32_t h = 0; h < c->heap_count; h++)
    printf(" %.1f GiB%s", (double)c->heap_size[h] / (1 << 30), c->heap_device_local[h] ? " (device-local)" : "");
  printf("%s\n", c->uma ? "; unified with the host" : "");
  printf("    fp16 / int8     %s / %s\n", c->fp16 ? "yes" : "no", c->int8 ? "yes" : "no");
}

/* The EVONET_* variables (evonet/tuning.h), with the value each has here. */
static int print_env(void) {
  printf("EVONET_* environment variables (read when a device opens):\n");
  for (int pass = 0; pass < 2; pass++) {
    printf("\n%s\n", pass ? "test and benchmark hooks:" : "settings:");
    for (int i = 0; i < ev_tuning_n_vars; i++) {
      const ev_tuning_var *v = &ev_tuning_vars[i];
      if (v->test_hook != (pass == 1)) continue;
      const char *now = getenv(v->name);
      printf("  %-25s %-18s %s%s%s%s\n", v->name, v->values, v->what, now ? " [set: '" : "", now ? now : "",
             now ? "']" : "");
    }
  }
  return 0;
}

int cmd_devices(int argc, char **argv) {
  static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {"env", no_argument, 0, 'e'}, {0, 0, 0, 0}};
  int c, env = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == 'h') {
      printf("usage: evonet devices [--env]\n\nLists the Vulkan devices; '*' marks the one evonet would "
             "use (EVONET_DEVICE or --device on other commands change it).\n"
             "--env lists the EVONET_* environment variables instead, with what each does.\n");
      return 0;
    }
    if (c == 'e') {
      env = 1;
      continue;
    }
    return cli_usage_error("devices", "unknown option '%s'", cli_bad_option(argc, argv));
  }
  if (env) return optind < argc ? cli_usage_error("devices", "unexpected argument '%s'", argv[optind]) : print_env();
  if (optind < argc) return cli_usage_error("devices", "unexpected argument '%s'", argv[optind]);
  ev_caps caps[16];
  uint32_t n = 0, chosen = 0;
  if (ev_list_devices(caps, 16, &n) != EV_OK) return cli_error();
  if (n > 16) n = 16;
  ev_tuning tu;
  ev_tuning_from_env(&tu);
  if (ev_choose_device(caps, n, tu.device_set ? tu.device : NULL, &chosen) != EV_OK) return cli_error();
  for (uint32_t i = 0; i < n; i++) print_caps(i, &caps[i], i == chosen);
  return 0;
}
