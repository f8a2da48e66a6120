/* Reports: report.json round-trips every number, report.csv and report.md hold the table,
 * the printed table shows the formatted counts; the saliency grid decodes to the size its
 * layout states with cells equal to the resampled inputs; the plot shows both series; the
 * comparison plot shows each method's colour; bad input fails with a message. No GPU.
 * EVONET_TEST_OUT=dir keeps the figures there. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <stb/stb_image.h>

#include "evonet/image.h"
#include "evonet/io.h"
#include "evonet/report.h"
#include "testutil.h"

static char g_dir[256]; /* this run's scratch folder */

static const char *out_path(char *buf, size_t cap, const char *name) {
  const char *keep = getenv("EVONET_TEST_OUT");
  if (keep && keep[0] && ev_mkdirs(keep) == EV_OK) return ev_path_join(buf, cap, keep, name);
  return ev_path_join(buf, cap, g_dir, name);
}

static ev_metrics_summary random_summary(uint64_t *rng) {
  ev_metrics_summary m = {0};
  m.mae = tu_uniform(rng, 0.01f, 0.3f) + (double)tu_uniform(rng, 0, 1) * 1e-9;
  m.adaptive_f = tu_uniform(rng, 0.5f, 0.95f);
  m.max_f = tu_uniform(rng, 0.6f, 0.95f) + (double)tu_uniform(rng, 0, 1) * 1e-11;
  m.mean_f = tu_uniform(rng, 0.4f, 0.9f);
  m.max_f_threshold = (int)(tu_next(rng) % 256);
  m.n_images = 50 + tu_next(rng) % 2000;
  return m;
}

/* Generation 1, then `gens - 1` generations of `k` offspring with one selected each. */
static int random_records(ev_gen_record *r, int gens, int k, uint64_t *rng) {
  int n = 0;
  uint64_t syn0 = 10000000 + tu_next(rng) % 60000000, syn = syn0;
  for (int g = 1; g <= gens; g++) {
    int sel = 1 + (int)(tu_next(rng) % k);
    uint64_t parent = syn;
    for (int o = (g == 1 ? 0 : 1); o <= (g == 1 ? 0 : k); o++) {
      ev_gen_record *x = &r[n++];
      memset(x, 0, sizeof *x);
      x->generation = g, x->offspring = o, x->selected = g == 1 || o == sel;
      x->synapses = g == 1 ? syn0 : (uint64_t)(parent * tu_uniform(rng, 0.2f, 0.45f));
      x->params = x->synapses + tu_next(rng) % 5000;
      x->flops = (uint64_t)x->synapses * (200 + tu_next(rng) % 3000);
      x->efficiency = (double)syn0 / x->synapses;
      x->infer_ms = tu_uniform(rng, 0.5f, 40);
      x->val = random_summary(rng), x->test = random_summary(rng);
      x->train_seconds = tu_uniform(rng, 10, 5000);
      snprintf(x->weights, sizeof x->weights, "runs/x,y \"q\"/gen%d_off%d.safetensors", g, o);
      if (x->selected) syn = x->synapses;
    }
  }
  return n;
}

static ev_run_info random_info(uint64_t *rng) {
  ev_run_info in = {.alpha = 0.4, .offspring_per_gen = 3, .epochs_per_gen = 7, .size = 128,
                    .width = 0.5, .seconds = 3723.5};
  snprintf(in.device, sizeof in.device, "Test device %u", (unsigned)(tu_next(rng) % 1000));
  snprintf(in.granularity, sizeof in.granularity, "synapse");
  snprintf(in.dataset, sizeof in.dataset, "assets/data/default");
  in.seed = tu_next(rng) | (1ull << 63); /* all 64 bits matter */
  return in;
}

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsNumber(v)) fail_msg("report.json: '%s' is not a number", k);
  return v->valuedouble;
}

static void check_summary(const cJSON *o, const ev_metrics_summary *m) {
  assert_true(num(o, "mae") == m->mae && num(o, "adaptive_f") == m->adaptive_f);
  assert_true(num(o, "max_f") == m->max_f && num(o, "mean_f") == m->mean_f);
  assert_true(num(o, "n_images") == (double)m->n_images);
}

static char *read_text(const char *dir, const char *name) {
  char path[512];
  void *data;
  size_t size;
  TU_OK(ev_read_file(ev_path_join(path, sizeof path, dir, name), &data, &size));
  return data;
}

/* Splits one CSV line (RFC 4180 quoting) in place; returns the number of fields. */
static int csv_fields(char *line, char **field, int cap) {
  int n = 0;
  char *w = line, *p = line;
  while (n < cap) {
    field[n++] = w;
    int quoted = *p == '"';
    if (quoted) p++;
    for (;; p++) {
      if (quoted && *p == '"' && p[1] == '"') *w++ = '"', p++;
      else if (quoted && *p == '"') quoted = 0;
      else if (!quoted && (*p == ',' || *p == 0)) break;
      else *w++ = *p;
    }
    int end = *p == 0;
    *w++ = 0, p++;
    if (end) break;
  }
  return n;
}

static void test_report_files(void **state) {
  uint64_t rng = tu_seed() ^ 0x5151;
  ev_gen_record r[16];
  int n = random_records(r, 4, 3, &rng);
  r[2].infer_ms = NAN; /* not measured: null in JSON, an empty CSV field, '-' in tables */
  ev_run_info info = random_info(&rng);
  char dir[512], plot[600];
  snprintf(dir, sizeof dir, "%s/report", g_dir);
  TU_OK(ev_mkdirs(dir));
  double f[4] = {0.875, 0.876, 0.861, 0.850};
  uint64_t syn[4] = {63767232, 15471797, 3603007, 1333010};
  TU_OK(ev_figure_generations_plot(ev_path_join(plot, sizeof plot, dir, EV_REPORT_PLOT), 4, f,
                                   syn, "plot"));
  TU_OK(ev_report_write(dir, &info, r, n));

  /* JSON: every number back exactly */
  char *text = read_text(dir, EV_REPORT_JSON);
  cJSON *root = cJSON_Parse(text);
  assert_non_null(root);
  const cJSON *run = cJSON_GetObjectItemCaseSensitive(root, "run");
  const cJSON *recs = cJSON_GetObjectItemCaseSensitive(root, "records");
  char seed[32];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)info.seed);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(run, "seed")->valuestring, seed);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(run, "device")->valuestring, info.device);
  assert_true(num(run, "alpha") == info.alpha && num(run, "seconds") == info.seconds);
  assert_int_equal(cJSON_GetArraySize(recs), n);
  for (int i = 0; i < n; i++) {
    const cJSON *o = cJSON_GetArrayItem(recs, i);
    assert_int_equal((int)num(o, "generation"), r[i].generation);
    assert_int_equal((int)num(o, "offspring"), r[i].offspring);
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "selected")), r[i].selected);
    assert_true(num(o, "synapses") == (double)r[i].synapses);
    assert_true(num(o, "params") == (double)r[i].params);
    assert_true(num(o, "flops") == (double)r[i].flops);
    assert_true(num(o, "efficiency") == r[i].efficiency);
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "infer_ms");
    if (isnan(r[i].infer_ms)) assert_true(cJSON_IsNull(ms));
    else assert_true(num(o, "infer_ms") == r[i].infer_ms);
    assert_true(num(o, "train_seconds") == r[i].train_seconds);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "weights")->valuestring, r[i].weights);
    check_summary(cJSON_GetObjectItemCaseSensitive(o, "val"), &r[i].val);
    check_summary(cJSON_GetObjectItemCaseSensitive(o, "test"), &r[i].test);
  }
  cJSON_Delete(root);
  free(text);

  /* CSV: header + one row per record, 20 columns each, values in place */
  text = read_text(dir, EV_REPORT_CSV);
  int lines = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *fld[32];
    assert_int_equal(csv_fields(line, fld, 32), 20);
    if (lines == 0) {
      assert_string_equal(fld[0], "generation");
      assert_string_equal(fld[3], "synapses");
      assert_string_equal(fld[15], "test_max_f");
    } else {
      const ev_gen_record *x = &r[lines - 1];
      assert_int_equal(atoi(fld[0]), x->generation);
      assert_int_equal(atoi(fld[2]), x->selected);
      assert_true(strtoull(fld[3], NULL, 10) == x->synapses);
      assert_true(strtod(fld[15], NULL) == x->test.max_f);
      assert_true(strtod(fld[6], NULL) == x->efficiency);
      if (isnan(x->infer_ms)) assert_string_equal(fld[7], "");
      else assert_true(strtod(fld[7], NULL) == x->infer_ms);
      assert_string_equal(fld[19], x->weights); /* comma and quotes survive */
    }
    lines++;
  }
  assert_int_equal(lines, n + 1);
  free(text);

  /* Markdown: the table, the run, the plot's link (the grid isn't there) */
  text = read_text(dir, EV_REPORT_MD);
  assert_non_null(strstr(text, "| Generation | Number of synapses | Architectural efficiency |"));
  assert_non_null(strstr(text, info.device));
  assert_non_null(strstr(text, "](" EV_REPORT_PLOT ")"));
  assert_null(strstr(text, "](" EV_REPORT_GRID ")"));
  for (int i = 0; i < n; i++) {
    char row[64];
    if (r[i].generation == 1) snprintf(row, sizeof row, "| 1 | ");
    else snprintf(row, sizeof row, "| %d.%d%s | ", r[i].generation, r[i].offspring,
                  r[i].selected ? "\\*" : "");
    assert_non_null(strstr(text, row));
  }
  free(text);
}

static void test_print_table(void **state) {
  uint64_t rng = tu_seed() ^ 0x7a7a;
  ev_gen_record r[16];
  int n = random_records(r, 3, 4, &rng);
  ev_run_info info = random_info(&rng);
  r[n - 1].synapses = 1333010, r[n - 1].efficiency = 47.8349;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ev_report_print_table(f, &info, r, n);
  fclose(f);
  if (getenv("EVONET_TEST_OUT")) printf("%s", buf);
  assert_non_null(strstr(buf, "Generation"));
  assert_non_null(strstr(buf, "Number of synapses"));
  assert_non_null(strstr(buf, "1,333,010"));
  assert_non_null(strstr(buf, "47.83x"));
  assert_non_null(strstr(buf, info.device));
  for (int i = 0; i < n; i++) {
    char s[64], digits[32];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)r[i].synapses), o = 0;
    for (int k = 0; k < nd; k++) { /* thousands separators, written out plainly */
      if (k > 0 && (nd - k) % 3 == 0) s[o++] = ',';
      s[o++] = digits[k];
    }
    s[o] = 0;
    assert_non_null(strstr(buf, s));
    snprintf(s, sizeof s, "%.2fx", r[i].efficiency);
    assert_non_null(strstr(buf, s));
    snprintf(s, sizeof s, "%.3f", r[i].test.max_f);
    assert_non_null(strstr(buf, s));
    if (r[i].generation > 1) {
      snprintf(s, sizeof s, "\n%d.%d%s ", r[i].generation, r[i].offspring,
               r[i].selected ? "*" : "");
      assert_non_null(strstr(buf, s));
    }
  }
  free(buf);
}

/* Test pictures: a coloured disc on a gradient; its mask; generation g's map, a blurred
 * disc (g = 0: a constant). */
static void make_row(int S, uint64_t *rng, uint8_t *img, float *gt, float *maps[], int gens,
                     float constant) {
  float cx = tu_uniform(rng, 0.3f, 0.7f) * S, cy = tu_uniform(rng, 0.3f, 0.7f) * S;
  float rad = tu_uniform(rng, 0.15f, 0.3f) * S;
  uint8_t col[3] = {(uint8_t)(tu_next(rng) % 256), (uint8_t)(tu_next(rng) % 256), 40};
  for (int y = 0; y < S; y++)
    for (int x = 0; x < S; x++) {
      float d = sqrtf((x + 0.5f - cx) * (x + 0.5f - cx) + (y + 0.5f - cy) * (y + 0.5f - cy));
      int in = d < rad;
      size_t i = (size_t)y * S + x;
      for (int k = 0; k < 3; k++)
        img[i * 3 + k] = in ? col[k] : (uint8_t)(60 + 120 * x / S + 40 * k * y / S);
      gt[i] = in;
      maps[0][i] = constant;
      for (int g = 1; g < gens; g++) {
        float soft = 1 / (1 + expf((d - rad) / (1.0f + 2.5f * g)));
        maps[g][i] = fminf(fmaxf(soft + tu_uniform(rng, -0.08f, 0.08f) * g, 0), 1);
      }
    }
}

static void test_saliency_grid(void **state) {
  uint64_t rng = tu_seed() ^ 0x9e9e;
  enum { ROWS = 3, GENS = 4 };
  int S = 40 + (int)(tu_next(&rng) % 40), cell = 90 + (int)(tu_next(&rng) % 40);
  float constant = tu_uniform(&rng, 0.1f, 0.9f);
  uint8_t *img[ROWS];
  float *gt[ROWS], *mapbuf[GENS][ROWS];
  const float *const *mp[GENS];
  for (int r = 0; r < ROWS; r++) {
    img[r] = malloc((size_t)S * S * 3), gt[r] = malloc((size_t)S * S * sizeof(float));
    float *m[GENS];
    for (int g = 0; g < GENS; g++) m[g] = mapbuf[g][r] = malloc((size_t)S * S * sizeof(float));
    make_row(S, &rng, img[r], gt[r], m, GENS, constant);
  }
  for (int g = 0; g < GENS; g++) mp[g] = (const float *const *)mapbuf[g];
  const char *labels[GENS] = {"Constant", "Generation 2", "Generation 3", "Generation 4"};
  char path[512];
  out_path(path, sizeof path, "saliency.png");
  TU_OK(ev_figure_saliency_grid(path, S, ROWS, (const uint8_t *const *)img,
                                (const float *const *)gt, GENS, mp, labels, cell));
  ev_grid_layout L;
  TU_OK(ev_figure_saliency_grid_layout(ROWS, GENS, labels, cell, &L));
  assert_int_equal(L.width, 2 + (GENS + 2) * (cell + 2));
  assert_int_equal(L.height, L.y0 + ROWS * (cell + 2));
  assert_true(L.y0 >= 8 * L.text_scale);
  int w, h, c;
  uint8_t *png = stbi_load(path, &w, &h, &c, 3);
  assert_non_null(png);
  assert_int_equal(w, L.width);
  assert_int_equal(h, L.height);
  float *rs = malloc((size_t)cell * cell * 3 * sizeof *rs);
  for (int r = 0; r < ROWS; r++) {
    int y0 = L.y0 + r * (cell + 2);
#define PIX(x, y, k) png[((size_t)(y) * w + (x)) * 3 + (k)]
    /* image cell: the resampled RGB, rounded */
    ev_resample_u8(img[r], S, S, 3, 0, 0, (float)S, (float)S, cell, cell, rs);
    for (int i = 0; i < cell * cell; i += 7)
      for (int k = 0; k < 3; k++)
        assert_int_equal(PIX(L.x0 + i % cell, y0 + i / cell, k), (int)(rs[i * 3 + k] + 0.5f));
    /* ground-truth cell: the resampled mask as gray */
    ev_resample_f32(gt[r], S, S, 1, 0, 0, (float)S, (float)S, cell, cell, rs);
    int x0 = L.x0 + cell + 2;
    for (int i = 0; i < cell * cell; i += 5)
      for (int k = 0; k < 3; k++)
        assert_int_equal(PIX(x0 + i % cell, y0 + i / cell, k), (int)(rs[i] * 255 + 0.5f));
    /* the constant map's cell is that gray everywhere */
    x0 = L.x0 + 2 * (cell + 2);
    int gray = (int)(constant * 255 + 0.5f);
    for (int y = 0; y < cell; y++)
      for (int x = 0; x < cell; x++) assert_int_equal(PIX(x0 + x, y0 + y, 1), gray);
    /* the gaps are white */
    for (int y = 0; y < cell; y++) assert_int_equal(PIX(x0 - 1, y0 + y, 0), 255);
  }
  /* the headers put ink above the columns */
  int ink = 0;
  for (int y = 0; y < L.y0; y++)
    for (int x = 0; x < w; x++) ink += PIX(x, y, 0) < 128;
  assert_true(ink > 50);
#undef PIX
  free(rs);
  stbi_image_free(png);
  for (int r = 0; r < ROWS; r++) {
    free(img[r]), free(gt[r]);
    for (int g = 0; g < GENS; g++) free(mapbuf[g][r]);
  }
}

/* Small cells wrap long headers onto more lines; the PNG still matches its layout. */
static void test_grid_wraps_headers(void **state) {
  enum { S = 8 };
  uint8_t img[S * S * 3];
  float gt[S * S], m[S * S];
  memset(img, 90, sizeof img);
  for (int i = 0; i < S * S; i++) gt[i] = (i % 3) == 0, m[i] = 0.25f;
  const uint8_t *ip[1] = {img};
  const float *gp[1] = {gt}, *mp1[1] = {m};
  const float *const *mp[2] = {mp1, mp1};
  ev_grid_layout wide, narrow;
  TU_OK(ev_figure_saliency_grid_layout(1, 2, NULL, 200, &wide));
  TU_OK(ev_figure_saliency_grid_layout(1, 2, NULL, 24, &narrow));
  assert_int_equal(wide.text_scale, 2);
  assert_int_equal(wide.header_lines, 1);
  assert_int_equal(narrow.text_scale, 1);
  assert_true(narrow.header_lines > 1);
  char path[512];
  ev_path_join(path, sizeof path, g_dir, "narrow.png");
  TU_OK(ev_figure_saliency_grid(path, S, 1, ip, gp, 2, mp, NULL, 24));
  int w, h, c;
  uint8_t *png = stbi_load(path, &w, &h, &c, 3);
  assert_non_null(png);
  assert_int_equal(w, narrow.width);
  assert_int_equal(h, narrow.height);
  stbi_image_free(png);
}

static int count_colour(const uint8_t *p, int npix, int r, int g, int b) {
  int k = 0;
  for (int i = 0; i < npix; i++) k += p[3 * i] == r && p[3 * i + 1] == g && p[3 * i + 2] == b;
  return k;
}

static void test_generations_plot(void **state) {
  uint64_t rng = tu_seed() ^ 0x3c3c;
  int n = 2 + (int)(tu_next(&rng) % 6);
  double f[8];
  uint64_t syn[8];
  syn[0] = 20000000 + tu_next(&rng) % 50000000;
  for (int i = 0; i < n; i++) {
    f[i] = tu_uniform(&rng, 0.80f, 0.90f) - 0.01 * i;
    if (i) syn[i] = (uint64_t)(syn[i - 1] * tu_uniform(&rng, 0.25f, 0.4f));
  }
  char path[512];
  out_path(path, sizeof path, "generations.png");
  TU_OK(ev_figure_generations_plot(path, n, f, syn, "Test max-F and synapses per generation"));
  int w, h, c;
  uint8_t *png = stbi_load(path, &w, &h, &c, 3);
  assert_non_null(png);
  assert_int_equal(w, 960);
  assert_int_equal(h, 540);
  int blue = count_colour(png, w * h, 0x1f, 0x77, 0xb4);
  int orange = count_colour(png, w * h, 0xff, 0x7f, 0x0e);
  int white = count_colour(png, w * h, 255, 255, 255), dark = 0;
  for (int i = 0; i < w * h; i++)
    dark += png[3 * i] < 80 && png[3 * i + 1] < 80 && png[3 * i + 2] < 80;
  assert_true(blue > 30 * n && orange > 30 * n); /* lines and markers of both series */
  assert_true(white > w * h / 2 && dark > 2000);  /* a white page with axes and text */
  stbi_image_free(png);
  /* one generation (no line) and a zero count still draw */
  uint64_t zero = 0;
  TU_OK(ev_figure_generations_plot(out_path(path, sizeof path, "generations_one.png"), 1, f,
                                   &zero, NULL));
}

static void expect_fail(ev_status s, ev_status code, const char *words) {
  assert_int_equal(s, code);
  assert_non_null(strstr(ev_last_error(), words));
  ev_clear_error();
}

static void test_bad_input(void **state) {
  uint64_t rng = tu_seed() ^ 0x0bad;
  ev_gen_record r[8];
  int n = random_records(r, 2, 2, &rng);
  ev_run_info info = random_info(&rng);
  ev_clear_error();
  expect_fail(ev_report_write(g_dir, &info, r, 0), EV_ERR_ARG, "no generation records");
  expect_fail(ev_report_write(g_dir, &info, NULL, n), EV_ERR_ARG, "no generation records");
  /* a folder under a regular file can't be made, whoever runs the test */
  char file[512], dir[600];
  ev_path_join(file, sizeof file, g_dir, "plain_file");
  TU_OK(ev_write_file_atomic(file, "x", 1));
  ev_path_join(dir, sizeof dir, file, "report");
  assert_true(ev_report_write(dir, &info, r, n) == EV_ERR_IO);
  assert_non_null(strstr(ev_last_error(), "plain_file"));
  ev_clear_error();
  double f = 0.5;
  uint64_t s = 100;
  expect_fail(ev_figure_generations_plot(dir, 0, &f, &s, "t"), EV_ERR_ARG, "0 generations");
  double nan_f = NAN;
  expect_fail(ev_figure_generations_plot(file, 1, &nan_f, &s, "t"), EV_ERR_ARG, "not finite");
  char png[700];
  ev_path_join(png, sizeof png, dir, "plot.png");
  assert_true(ev_figure_generations_plot(png, 1, &f, &s, "t") == EV_ERR_IO);
  ev_clear_error();
  uint8_t img[16 * 16 * 3] = {0};
  float gt[16 * 16] = {0};
  const uint8_t *ip[1] = {img};
  const float *gp[1] = {gt}, *mp1[1] = {gt};
  const float *const *mp[1] = {mp1};
  expect_fail(ev_figure_saliency_grid(png, 16, 0, ip, gp, 1, mp, NULL, 32), EV_ERR_ARG, "0 rows");
  expect_fail(ev_figure_saliency_grid(png, 16, 1, ip, gp, 1, mp, NULL, 4), EV_ERR_ARG, "cell size");
  expect_fail(ev_figure_saliency_grid(png, 16, 1, ip, gp, 1, NULL, NULL, 32), EV_ERR_ARG, "maps");
  assert_true(ev_figure_saliency_grid(png, 16, 1, ip, gp, 1, mp, NULL, 32) == EV_ERR_IO);
  ev_clear_error();
  /* the table with nothing in it says so */
  char *buf = NULL;
  size_t len = 0;
  FILE *mf = open_memstream(&buf, &len);
  ev_report_print_table(mf, NULL, r, 0);
  fclose(mf);
  assert_non_null(strstr(buf, "no generation records"));
  free(buf);
}

/* Three methods with known points: each colour is drawn, an unused one is not; six series
 * with long labels (two legend rows) at shared synapse counts and a reference line draw too;
 * bad series fail with a message. */
static void test_compare_plot(void **state) {
  static const double syn[4] = {2e6, 6e5, 2e5, 6e4};
  static const double mean[3][4] = {{0.85, 0.84, 0.82, 0.78},
                                    {0.85, 0.83, 0.78, 0.70},
                                    {0.85, 0.80, 0.72, 0.60}};
  static const double lo[3][4] = {{0.83, 0.82, 0.79, 0.74},
                                  {0.84, 0.81, 0.75, 0.66},
                                  {0.84, 0.77, 0.68, 0.52}};
  static const double hi[3][4] = {{0.87, 0.86, 0.84, 0.81},
                                  {0.86, 0.85, 0.80, 0.73},
                                  {0.86, 0.82, 0.75, 0.66}};
  static const char *labels[3] = {"evolved (budget rule)", "magnitude pruning", "random pruning"};
  ev_compare_series s[6];
  for (int k = 0; k < 3; k++)
    s[k] = (ev_compare_series){labels[k], 4, syn, mean[k], lo[k], hi[k]};
  char path[512];
  out_path(path, sizeof path, "compare.png");
  TU_OK(ev_figure_compare_plot(path, 3, s, 0.86, "dense ancestor",
                               "Test max-F against synapses, mean of 3 seeds"));
  int w, h, c;
  uint8_t *png = stbi_load(path, &w, &h, &c, 3);
  assert_non_null(png);
  assert_int_equal(w, 960);
  assert_int_equal(h, 540);
  static const uint8_t col[6][3] = {{0x1f, 0x77, 0xb4}, {0xff, 0x7f, 0x0e}, {0x2c, 0xa0, 0x2c},
                                    {0xd6, 0x27, 0x28}, {0x94, 0x67, 0xbd}, {0x8c, 0x56, 0x4b}};
  for (int k = 0; k < 3; k++) /* line, bars, markers and legend of each series */
    assert_true(count_colour(png, w * h, col[k][0], col[k][1], col[k][2]) > 30 * 4);
  assert_int_equal(count_colour(png, w * h, col[3][0], col[3][1], col[3][2]), 0);
  assert_true(count_colour(png, w * h, 110, 110, 110) > 300); /* the dashed line, its label */
  int white = count_colour(png, w * h, 255, 255, 255), dark = 0;
  for (int i = 0; i < w * h; i++)
    dark += png[3 * i] < 80 && png[3 * i + 1] < 80 && png[3 * i + 2] < 80;
  assert_true(white > w * h / 2 && dark > 2000);
  stbi_image_free(png);

  /* six series at the same counts, long labels, no reference line, no title */
  static const char *long_labels[6] = {"evolved (budget rule)", "evolved (paper Eq. 1-4)",
                                       "magnitude pruning", "random pruning",
                                       "gradient saliency pruning", "SNIP at initialisation"};
  for (int k = 0; k < 6; k++)
    s[k] = (ev_compare_series){long_labels[k], 4, syn, mean[k % 3], lo[k % 3], hi[k % 3]};
  out_path(path, sizeof path, "compare_six.png");
  TU_OK(ev_figure_compare_plot(path, 6, s, 0, NULL, NULL));
  png = stbi_load(path, &w, &h, &c, 3);
  assert_non_null(png);
  assert_int_equal(w, 960);
  assert_int_equal(h, 540);
  for (int k = 0; k < 6; k++)
    assert_true(count_colour(png, w * h, col[k][0], col[k][1], col[k][2]) > 30);
  stbi_image_free(png);
  /* one point, one series, all at one synapse count */
  double one = 1000, f = 0.5;
  ev_compare_series single = {NULL, 1, &one, &f, &f, &f};
  TU_OK(ev_figure_compare_plot(out_path(path, sizeof path, "compare_one.png"), 1, &single, 0.9,
                               "ref", "one"));

  /* bad input */
  out_path(path, sizeof path, "compare_bad.png");
  ev_clear_error();
  for (int k = 0; k < 3; k++)
    s[k] = (ev_compare_series){labels[k], 4, syn, mean[k], lo[k], hi[k]};
  expect_fail(ev_figure_compare_plot(path, 0, s, 0, NULL, "t"), EV_ERR_ARG, "0 series");
  expect_fail(ev_figure_compare_plot(path, 7, s, 0, NULL, "t"), EV_ERR_ARG, "7 series");
  expect_fail(ev_figure_compare_plot(NULL, 3, s, 0, NULL, "t"), EV_ERR_ARG, "missing path");
  expect_fail(ev_figure_compare_plot(path, 3, NULL, 0, NULL, "t"), EV_ERR_ARG, "missing path");
  double zero_syn[4] = {2e6, 6e5, 0, 6e4};
  s[1].synapses = zero_syn;
  expect_fail(ev_figure_compare_plot(path, 3, s, 0, NULL, "t"), EV_ERR_ARG,
              "synapses of series 2 point 3");
  s[1].synapses = syn;
  double nan_mean[4] = {0.85, NAN, 0.82, 0.78};
  s[2].f_mean = nan_mean;
  expect_fail(ev_figure_compare_plot(path, 3, s, 0, NULL, "t"), EV_ERR_ARG, "not finite");
  s[2].f_mean = mean[2];
  s[0].n = 0;
  expect_fail(ev_figure_compare_plot(path, 3, s, 0, NULL, "t"), EV_ERR_ARG, "0 points");
  s[0].n = 4;
  expect_fail(ev_figure_compare_plot(path, 3, s, NAN, "ref", "t"), EV_ERR_ARG, "reference");
  TU_OK(ev_figure_compare_plot(path, 3, s, NAN, NULL, "t")); /* no line: ref_f unused */
}

static int setup(void **state) {
  snprintf(g_dir, sizeof g_dir, "/tmp/evonet_test_report.XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report_files),     cmocka_unit_test(test_print_table),
      cmocka_unit_test(test_saliency_grid),    cmocka_unit_test(test_grid_wraps_headers),
      cmocka_unit_test(test_generations_plot), cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_compare_plot),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
