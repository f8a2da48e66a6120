/* `evonet compare`: the evolved offspring beside magnitude and random pruning that keep the
 * same number of synapses in every layer, compacted and trained by the same recipe, over
 * several seeds. For each seed s it runs, in OUT/seed<s>/:
 *   evolved/    evonet evolve [options] --seed s
 *   magnitude/  the same recipe from evolved's generation 1, --prune magnitude --like evolved
 *   random/     likewise with --prune random
 * then writes OUT/compare.md (.json, .csv) and OUT/compare.png (test max-F against synapses,
 * one line per method, min-max over seeds). Re-running the same command continues. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "evonet/io.h"
#include "evonet/report.h"

enum { MAX_SEEDS = 16, MAX_GENS = 64, N_METHODS = 3 };
static const char *const METHODS[N_METHODS] = {"evolved", "magnitude", "random"};

typedef struct {
  int n;                        /* generations found */
  double syn[MAX_GENS], f[MAX_GENS], mae[MAX_GENS], vf[MAX_GENS];
} chain;

static void usage(void) {
  printf("usage: evonet compare [--seeds LIST] [--out DIR] [evolve options]\n\n"
         "Runs `evonet evolve` with the given options once per seed, then two baselines from the same\n"
         "generation 1: magnitude pruning (the largest |w| of each layer) and random pruning (a uniform\n"
         "draw), each keeping exactly the evolved offspring's number of synapses in every layer, then\n"
         "compacted and trained by the same recipe. Writes OUT/compare.md (.json, .csv) and\n"
         "OUT/compare.png: test max-F against synapses, one line per method, min-max over seeds.\n\n"
         "  --seeds LIST   comma-separated seeds (default 1,2,3)\n"
         "  --out DIR      output folder (default runs/compare); each run in DIR/seed<s>/<method>\n"
         "  every other option is `evonet evolve`'s (see evonet evolve --help), except --seed,\n"
         "  --prune, --like and --out\n");
}

/* The selected record of every generation in run/report.json, in generation order. */
static ev_status read_chain(const char *run, chain *c) {
  char path[4096];
  void *data;
  size_t n;
  EV_TRY(ev_read_file(ev_path_join(path, sizeof path, run, EV_REPORT_JSON), &data, &n));
  cJSON *o = cJSON_ParseWithLength(data, n), *r;
  free(data);
  memset(c, 0, sizeof *c);
  cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(o, "records")) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(r, "generation");
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "selected")) || !cJSON_IsNumber(g)) continue;
    int k = (int)g->valuedouble - 1;
    if (k < 0 || k >= MAX_GENS) continue;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "test"), *v = cJSON_GetObjectItemCaseSensitive(r, "val");
    c->syn[k] = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "synapses"));
    c->f[k] = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(t, "max_f"));
    c->mae[k] = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(t, "mae"));
    c->vf[k] = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "max_f"));
    if (k + 1 > c->n) c->n = k + 1;
  }
  cJSON_Delete(o);
  return c->n > 0 ? EV_OK : ev_fail(EV_ERR_FORMAT, "%s: no generations in its report", path);
}

/* One `evonet evolve` with the passed options plus `extra` (later flags win). */
static int run_evolve(int npass, char **pass, int nextra, const char **extra) {
  char **av = calloc((size_t)(npass + nextra + 2), sizeof *av);
  if (!av) return cli_usage_error("compare", "out of memory");
  int ac = 0;
  av[ac++] = "evolve";
  for (int i = 0; i < npass; i++) av[ac++] = pass[i];
  for (int i = 0; i < nextra; i++) av[ac++] = (char *)extra[i];
  fflush(stdout);
  int rc = cmd_evolve(ac, av);
  free(av);
  return rc;
}

static double mean_of(const double *v, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += v[i];
  return s / n;
}

static ev_status write_outputs(const char *out, int ns, const long *seeds, chain ch[][N_METHODS]) {
  int gens = ch[0][0].n;
  for (int s = 0; s < ns; s++)
    for (int m = 0; m < N_METHODS; m++)
      if (ch[s][m].n < gens) gens = ch[s][m].n;
  char path[4096];
  /* CSV: one row per run and generation */
  size_t cap = 256 + (size_t)ns * N_METHODS * gens * 128;
  char *csv = malloc(cap), *md = malloc(cap + 4096);
  if (!csv || !md) {
    free(csv), free(md);
    return ev_fail(EV_ERR_OOM, "out of memory");
  }
  size_t l = (size_t)snprintf(csv, cap, "method,seed,generation,synapses,test_max_f,test_mae,val_max_f\n");
  for (int m = 0; m < N_METHODS; m++)
    for (int s = 0; s < ns; s++)
      for (int g = 0; g < gens; g++)
        l += (size_t)snprintf(csv + l, cap - l, "%s,%ld,%d,%.0f,%.17g,%.17g,%.17g\n", METHODS[m], seeds[s], g + 1,
                              ch[s][m].syn[g], ch[s][m].f[g], ch[s][m].mae[g], ch[s][m].vf[g]);
  ev_status st = ev_write_file_atomic(ev_path_join(path, sizeof path, out, "compare.csv"), csv, l);
  /* JSON and Markdown: per method and generation, mean and min-max over seeds */
  cJSON *root = cJSON_CreateObject(), *sj = cJSON_AddArrayToObject(root, "seeds"), *mj = cJSON_AddArrayToObject(root, "methods");
  for (int s = 0; s < ns; s++) cJSON_AddItemToArray(sj, cJSON_CreateNumber((double)seeds[s]));
  size_t k = (size_t)snprintf(md, cap, "# Evolved offspring beside magnitude and random pruning\n\n"
                                       "Same generation 1, same per-layer synapse counts, same training recipe; "
                                       "%d seed%s. Test max-F and MAE: mean (min-max over seeds).\n\n"
                                       "| method | generation | synapses (mean) | test max-F | test MAE | val max-F |\n"
                                       "|---|---:|---:|---|---|---:|\n",
                              ns, ns > 1 ? "s" : "");
  static double sm[N_METHODS][MAX_GENS], fm[N_METHODS][MAX_GENS], flo[N_METHODS][MAX_GENS], fhi[N_METHODS][MAX_GENS];
  for (int m = 0; m < N_METHODS; m++) {
    cJSON *one = cJSON_CreateObject(), *ga = cJSON_AddArrayToObject(one, "generations");
    cJSON_AddStringToObject(one, "method", METHODS[m]);
    cJSON_AddItemToArray(mj, one);
    for (int g = 0; g < gens; g++) {
      double syn[MAX_SEEDS], f[MAX_SEEDS], mae[MAX_SEEDS], vf[MAX_SEEDS], lo = INFINITY, hi = -INFINITY, mlo = INFINITY,
             mhi = -INFINITY;
      for (int s = 0; s < ns; s++) {
        syn[s] = ch[s][m].syn[g], f[s] = ch[s][m].f[g], mae[s] = ch[s][m].mae[g], vf[s] = ch[s][m].vf[g];
        lo = fmin(lo, f[s]), hi = fmax(hi, f[s]), mlo = fmin(mlo, mae[s]), mhi = fmax(mhi, mae[s]);
      }
      sm[m][g] = mean_of(syn, ns), fm[m][g] = mean_of(f, ns), flo[m][g] = lo, fhi[m][g] = hi;
      cJSON *e = cJSON_CreateObject();
      cJSON_AddNumberToObject(e, "generation", g + 1);
      cJSON_AddItemToObject(e, "synapses", cJSON_CreateDoubleArray(syn, ns));
      cJSON_AddItemToObject(e, "test_max_f", cJSON_CreateDoubleArray(f, ns));
      cJSON_AddItemToObject(e, "test_mae", cJSON_CreateDoubleArray(mae, ns));
      cJSON_AddItemToObject(e, "val_max_f", cJSON_CreateDoubleArray(vf, ns));
      cJSON_AddItemToArray(ga, e);
      char cnt[32];
      ev_fmt_count(cnt, sizeof cnt, (uint64_t)llround(sm[m][g]));
      k += (size_t)snprintf(md + k, cap + 4096 - k, "| %s | %d | %s | %.3f (%.3f-%.3f) | %.3f (%.3f-%.3f) | %.3f |\n",
                            METHODS[m], g + 1, cnt, fm[m][g], lo, hi, mean_of(mae, ns), mlo, mhi, mean_of(vf, ns));
    }
  }
  k += (size_t)snprintf(md + k, cap + 4096 - k, "\n![test max-F against synapses](compare.png)\n\nRuns: seed<s>/<method>/report.md.\n");
  char *js = cJSON_Print(root);
  cJSON_Delete(root);
  if (st == EV_OK) st = js ? ev_write_file_atomic(ev_path_join(path, sizeof path, out, "compare.json"), js, strlen(js))
                           : ev_fail(EV_ERR_OOM, "out of memory");
  free(js);
  if (st == EV_OK) st = ev_write_file_atomic(ev_path_join(path, sizeof path, out, "compare.md"), md, k);
  ev_compare_series ser[N_METHODS];
  static const char *labels[N_METHODS] = {"evolved", "magnitude pruning", "random pruning"};
  for (int m = 0; m < N_METHODS; m++)
    ser[m] = (ev_compare_series){.label = labels[m], .n = gens, .synapses = sm[m], .f_mean = fm[m], .f_lo = flo[m], .f_hi = fhi[m]};
  char title[128];
  snprintf(title, sizeof title, "Test max-F against synapses (%d seed%s)", ns, ns > 1 ? "s" : "");
  if (st == EV_OK)
    st = ev_figure_compare_plot(ev_path_join(path, sizeof path, out, "compare.png"), N_METHODS, ser, fm[0][0],
                                "generation 1", title);
  if (st == EV_OK) fwrite(md, 1, k, stdout);
  free(csv), free(md);
  return st;
}

int cmd_compare(int argc, char **argv) {
  const char *out = "runs/compare", *seed_list = "1,2,3";
  char **pass = calloc((size_t)argc + 1, sizeof *pass);
  int npass = 0;
  if (!pass) return cli_usage_error("compare", "out of memory");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage();
      free(pass);
      return 0;
    }
    if (!strcmp(a, "--seeds") || !strcmp(a, "--out")) {
      if (i + 1 >= argc) {
        free(pass);
        return cli_usage_error("compare", "%s needs a value", a);
      }
      *(a[2] == 's' ? &seed_list : &out) = argv[++i];
    } else if (!strncmp(a, "--seeds=", 8)) seed_list = a + 8;
    else if (!strncmp(a, "--out=", 6)) out = a + 6;
    else if (!strcmp(a, "--seed") || !strcmp(a, "--prune") || !strcmp(a, "--like") || !strncmp(a, "--seed=", 7) ||
             !strncmp(a, "--prune=", 8) || !strncmp(a, "--like=", 7)) {
      free(pass);
      return cli_usage_error("compare", "%s is set by compare itself (use --seeds)", a);
    } else pass[npass++] = argv[i];
  }
  long seeds[MAX_SEEDS];
  int ns = 0;
  for (const char *p = seed_list; *p;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 0 || ns == MAX_SEEDS || (*end && *end != ',')) {
      free(pass);
      return cli_usage_error("compare", "--seeds must be up to %d comma-separated whole numbers, got '%s'", MAX_SEEDS, seed_list);
    }
    seeds[ns++] = v;
    p = *end ? end + 1 : end;
  }
  if (ns == 0) {
    free(pass);
    return cli_usage_error("compare", "--seeds is empty");
  }
  static chain ch[MAX_SEEDS][N_METHODS];
  int rc = 0;
  for (int s = 0; s < ns && rc == 0; s++) {
    char seed[32], dir[N_METHODS][4096], anc[4200];
    snprintf(seed, sizeof seed, "%ld", seeds[s]);
    for (int m = 0; m < N_METHODS; m++) snprintf(dir[m], sizeof dir[m], "%s/seed%ld/%s", out, seeds[s], METHODS[m]);
    snprintf(anc, sizeof anc, "%s/gen1/net.safetensors", dir[0]);
    fprintf(stderr, "evonet compare: seed %ld: evolved\n", seeds[s]);
    const char *ev[] = {"--seed", seed, "--out", dir[0]};
    rc = run_evolve(npass, pass, 4, ev);
    for (int m = 1; m < N_METHODS && rc == 0; m++) {
      fprintf(stderr, "evonet compare: seed %ld: %s pruning\n", seeds[s], METHODS[m]);
      const char *bl[] = {"--seed", seed, "--offspring", "1", "--ancestor", anc, "--prune", METHODS[m], "--like", dir[0],
                          "--out", dir[m]};
      rc = run_evolve(npass, pass, 12, bl);
    }
    for (int m = 0; m < N_METHODS && rc == 0; m++)
      if (read_chain(dir[m], &ch[s][m]) != EV_OK) rc = cli_error();
  }
  free(pass);
  if (rc) return rc;
  return write_outputs(out, ns, seeds, ch) == EV_OK ? 0 : cli_error();
}
