/* `evonet predict`: saliency maps (PNG, at each image's own size) for images or folders; for a
 * classification network, the classes of images or of a dataset split (OUT/predictions.csv). */
#include <dirent.h>
#include <math.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "evonet/data.h"
#include "evonet/image.h"
#include "evonet/io.h"
#include "evonet/model.h"
#include "evonet/train.h"

static int has_image_ext(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return 0;
  const char *exts[] = {".jpg", ".jpeg", ".png", ".bmp", ".JPG", ".JPEG", ".PNG"};
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
    if (!strcmp(dot, exts[i])) return 1;
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void free_list(char **list, int n) {
  for (int i = 0; i < n; i++) free(list[i]);
  free(list);
}

/* Appends a copy of `path` to list[*k], growing it. */
static ev_status push(char ***list, int *k, int *cap, const char *path) {
  if (*k == *cap) {
    char **nl = realloc(*list, (size_t)*cap * 2 * sizeof *nl);
    if (!nl) return ev_fail(EV_ERR_OOM, "out of memory listing images");
    *list = nl, *cap *= 2;
  }
  if (!((*list)[*k] = strdup(path))) return ev_fail(EV_ERR_OOM, "out of memory listing images");
  (*k)++;
  return EV_OK;
}

/* Expands arguments (files, folders) into a list of image paths (each folder's sorted). */
static ev_status collect(char **args, int n, char ***out, int *count) {
  int cap = 64, k = 0;
  char **list = malloc((size_t)cap * sizeof *list);
  if (!list) return ev_fail(EV_ERR_OOM, "out of memory");
  ev_status s = EV_OK;
  for (int i = 0; i < n && s == EV_OK; i++) {
    struct stat st;
    if (stat(args[i], &st) != 0) {
      s = ev_fail(EV_ERR_IO, "cannot open %s: no such file or folder", args[i]);
      break;
    }
    int start = k;
    if (S_ISDIR(st.st_mode)) {
      DIR *d = opendir(args[i]);
      if (!d) {
        s = ev_fail(EV_ERR_IO, "cannot read folder %s", args[i]);
        break;
      }
      struct dirent *e;
      char p[4096];
      while (s == EV_OK && (e = readdir(d)))
        if (has_image_ext(e->d_name)) s = push(&list, &k, &cap, ev_path_join(p, sizeof p, args[i], e->d_name));
      closedir(d);
      qsort(list + start, (size_t)(k - start), sizeof *list, cmp_str);
    } else {
      s = push(&list, &k, &cap, args[i]);
    }
  }
  if (s == EV_OK && k == 0) s = ev_fail(EV_ERR_ARG, "no images found in the given files or folders");
  if (s != EV_OK) {
    free_list(list, k);
    return s;
  }
  *out = list;
  *count = k;
  return EV_OK;
}

/* The map's file name for image `src`: its stem + ".png", into out[cap]. */
static const char *map_name(const char *src, char *out, size_t cap) {
  const char *base = strrchr(src, '/');
  base = base ? base + 1 : src;
  const char *dot = strrchr(base, '.');
  int len = dot ? (int)(dot - base) : (int)strlen(base);
  snprintf(out, cap, "%.*s.png", len, base);
  return out;
}

typedef struct {
  char name[1024];
  const char *src;
} named;

static int cmp_named(const void *a, const void *b) {
  const named *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : strcmp(x->src, y->src);
}

/* Two inputs whose maps would have one file name (a.jpg and a.png, or a.jpg in two folders,
 * or one image given twice) are refused before anything is written: the second map would
 * replace the first while the count still said both were written. */
static ev_status check_names(char **list, int n, const char *out_dir) {
  named *v = malloc((size_t)n * sizeof *v);
  if (!v) return ev_fail(EV_ERR_OOM, "out of memory");
  for (int i = 0; i < n; i++) map_name(list[i], v[i].name, sizeof v[i].name), v[i].src = list[i];
  qsort(v, (size_t)n, sizeof *v, cmp_named);
  ev_status s = EV_OK;
  for (int i = 1; i < n && s == EV_OK; i++) {
    if (strcmp(v[i - 1].name, v[i].name)) continue;
    char path[4096];
    ev_path_join(path, sizeof path, out_dir, v[i].name);
    s = strcmp(v[i - 1].src, v[i].src)
            ? ev_fail(EV_ERR_ARG, "%s and %s would both be written to %s: predict them into separate --out folders",
                      v[i - 1].src, v[i].src, path)
            : ev_fail(EV_ERR_ARG, "%s is given twice (its map %s would be written twice)", v[i].src, path);
  }
  free(v);
  return s;
}

static ev_status write_map(const char *out_dir, const char *src, const float *prob, int S, int w, int h) {
  float *full = malloc((size_t)w * h * sizeof *full);
  uint8_t *pix = malloc((size_t)w * h);
  if (!full || !pix) {
    free(full), free(pix);
    return ev_fail(EV_ERR_OOM, "out of memory");
  }
  ev_resample_f32(prob, S, S, 1, 0, 0, (float)S, (float)S, w, h, full); /* back to the image's size */
  for (int i = 0; i < w * h; i++) {
    float v = full[i] * 255.0f + 0.5f;
    pix[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
  }
  char name[1024], path[4096];
  ev_status s = ev_png_write(ev_path_join(path, sizeof path, out_dir, map_name(src, name, sizeof name)), pix, w, h, 1);
  free(full), free(pix);
  return s;
}

/* A classification input from an image file: its pixels in the dataset's channels, resized to
 * S x S, normalised with the dataset's statistics (what the network was trained on). */
static ev_status class_input(const char *path, const ev_class_set *cs, int S, float *x) {
  ev_image im;
  EV_TRY(ev_image_load(path, cs->channels, &im));
  int c = cs->channels;
  float *tmp = malloc((size_t)S * S * c * sizeof *tmp);
  if (!tmp) {
    ev_image_free(&im);
    return ev_fail(EV_ERR_OOM, "out of memory");
  }
  ev_resample_u8(im.pix, im.w, im.h, c, 0, 0, (float)im.w, (float)im.h, S, S, tmp);
  for (size_t p = 0; p < (size_t)S * S; p++) {
    for (int k = 0; k < 4; k++) x[p * 4 + k] = 0.0f;
    for (int k = 0; k < c && k < 3; k++) x[p * 4 + k] = (tmp[p * c + k] / 255.0f - cs->mean[k]) / cs->std[k];
  }
  free(tmp);
  ev_image_free(&im);
  return EV_OK;
}

/* One CSV row per input: its name, the label (dataset samples) and the top classes by
 * softmax probability. */
static void class_row(FILE *f, const char *name, int label, const float *logits, int C, const ev_class_set *cs) {
  double mx = logits[0], sum = 0;
  for (int k = 1; k < C; k++) mx = logits[k] > mx ? logits[k] : mx;
  for (int k = 0; k < C; k++) sum += exp(logits[k] - mx);
  int top[5], nt = C < 5 ? C : 5;
  for (int t = 0; t < nt; t++) { /* ties: the lower class first, as the metrics rank them */
    int b = -1;
    for (int k = 0; k < C; k++) {
      int used = 0;
      for (int u = 0; u < t; u++) used |= top[u] == k;
      if (!used && (b < 0 || logits[k] > logits[b])) b = k;
    }
    top[t] = b;
  }
  fprintf(f, "\"%s\",", name);
  if (label >= 0) fprintf(f, "%d,\"%s\",", label, cs->class_names[label]);
  else fprintf(f, ",,");
  fprintf(f, "%d,\"%s\",%.6f,", top[0], cs->class_names[top[0]], exp(logits[top[0]] - mx) / sum);
  for (int t = 0; t < nt; t++) fprintf(f, "%s%d", t ? " " : "", top[t]);
  fprintf(f, "\n");
}

/* Classification: the images given, or (none given) every sample of the dataset split, through
 * the network in batches; OUT/predictions.csv written atomically. */
static ev_status predict_classes(ev_gpu *g, const ev_net_weights *w, const ev_dataset *ds, char **list, int n,
                                 const char *out, int size, int *rows) {
  const ev_class_set *cs = ds->cls;
  const int B = 64, C = w->spec.classes, c4 = ev_c4(C);
  int total = n ? n : (int)ds->n;
  ev_model *m = NULL;
  float *x = malloc((size_t)B * size * size * 4 * 4), *lg = malloc((size_t)B * c4 * 4);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ev_status s = x && lg && f ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
  if (s == EV_OK) s = ev_model_create(g, &w->spec, B, size, size, false, &m);
  if (s == EV_OK) s = ev_model_upload(m, w);
  if (s == EV_OK) fprintf(f, "input,label,label_name,predicted,predicted_name,probability,top5\n");
  for (int i0 = 0; s == EV_OK && i0 < total; i0 += B) {
    int k = total - i0 < B ? total - i0 : B;
    for (int j = 0; j < k && s == EV_OK; j++) {
      float *xj = x + (size_t)j * size * size * 4;
      s = n ? class_input(list[i0 + j], cs, size, xj) : ev_class_sample(cs, (size_t)(i0 + j), size, NULL, xj, NULL);
    }
    ev_stream *st = NULL;
    if (s == EV_OK) s = ev_model_feed_labels(m, x, NULL, k);
    if (s == EV_OK) s = ev_stream_begin(g, &st);
    if (s == EV_OK) s = ev_model_forward(m, st, false);
    if (s == EV_OK) s = ev_stream_submit(st);
    else if (st) ev_stream_abort(st);
    if (s == EV_OK) s = ev_buf_download(g, &ev_model_logits(m)->buf, 0, lg, (uint64_t)k * c4 * 4);
    for (int j = 0; j < k && s == EV_OK; j++) {
      char name[32];
      snprintf(name, sizeof name, "%d", i0 + j);
      class_row(f, n ? list[i0 + j] : name, n ? -1 : cs->labels[i0 + j], lg + (size_t)j * c4, C, cs);
    }
  }
  if (f) fclose(f);
  char path[4096];
  if (s == EV_OK) s = ev_mkdirs(out);
  if (s == EV_OK) s = ev_write_file_atomic(ev_path_join(path, sizeof path, out, "predictions.csv"), text, len);
  *rows = total;
  free(text), free(x), free(lg);
  ev_model_destroy(m);
  return s;
}

static int classify_command(ev_net_weights *w, const char *data, const char *split, const char *layout_name,
                            const char *device, char **list, int n, const char *out, int size) {
  if (!data)
    return cli_usage_error("predict", "a classification network needs --data DIR: the dataset it was trained on "
                                      "(its class names and input statistics)");
  if (cli_settle_size("predict", &w->spec, &size)) return 2;
  ev_layout layout;
  ev_dataset ds = {0};
  ev_gpu *g = NULL;
  int rows = 0;
  ev_status s = ev_layout_from_name(layout_name, &layout);
  if (s == EV_OK) s = ev_dataset_open(data, n ? "all" : split, layout, &ds);
  if (s == EV_OK) s = ev_check_task(&w->spec, &ds);
  if (s == EV_OK) s = ev_net_infer(&w->spec, size, size);
  if (s == EV_OK) s = cli_open_gpu(device, &g);
  if (s == EV_OK) s = predict_classes(g, w, &ds, list, n, out, size, &rows);
  if (s == EV_OK) printf("wrote %d prediction%s to %s/predictions.csv\n", rows, rows == 1 ? "" : "s", out);
  int rc = s == EV_OK ? 0 : cli_error();
  if (ds.pairs || ds.cls) ev_dataset_free(&ds);
  ev_gpu_close(g);
  return rc;
}

int cmd_predict(int argc, char **argv) {
  static const struct option opts[] = {{"weights", 1, 0, 'w'}, {"out", 1, 0, 'o'}, {"size", 1, 0, 's'},
                                       {"device", 1, 0, 'D'}, {"help", 0, 0, 'h'}, {"data", 1, 0, 'd'},
                                       {"split", 1, 0, 'p'}, {"layout", 1, 0, 'l'}, {0, 0, 0, 0}};
  const char *weights = NULL, *out = NULL, *device = NULL, *data = NULL, *split = "test", *layout_name = "auto";
  int size = 0, c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'w': weights = optarg; break;
    case 'o': out = optarg; break;
    case 's':
      if (cli_parse_int("predict", "--size", optarg, 8, 4096, &size)) return 2;
      break;
    case 'd': data = optarg; break;
    case 'p': split = optarg; break;
    case 'l': layout_name = optarg; break;
    case 'D': device = optarg; break;
    case 'h':
      printf("usage: evonet predict --weights FILE --out DIR [--size S] [--device N|NAME] IMAGE|FOLDER...\n"
             "       evonet predict --weights FILE --out DIR --data DIR [--split test] [IMAGE|FOLDER...]\n\n"
             "Saliency networks: writes one saliency map per image as OUT/<stem>.png (8-bit gray, the\n"
             "salient-class probability x 255, at the image's own size). Inputs that would write the same\n"
             "map (a.jpg and a.png, one name in two folders, an image given twice) are refused\n"
             "before anything is written: predict them into separate --out folders.\n"
             "Classification networks: writes OUT/predictions.csv (input, label, predicted class, its\n"
             "probability, the top 5) for the images given, or for every sample of --split of --data\n"
             "when none are given. --data names the dataset the network was trained on: its class names\n"
             "and input statistics (images are resized to S x S and normalised like it).\n");
      return 0;
    default: return cli_usage_error("predict", "unknown option '%s'", cli_bad_option(argc, argv));
    }
  }
  if (!weights || !out) return cli_usage_error("predict", "--weights FILE and --out DIR are required");
  if (optind >= argc && !data) return cli_usage_error("predict", "give at least one image or folder");
  char **list = NULL;
  int n = 0;
  ev_net_weights w = {0};
  ev_gpu *g = NULL;
  ev_model *m = NULL;
  const int B = 4;
  float *x = malloc(16), *prob = malloc(16); /* sized once the network settles the input size */
  int sizes[2 * 4];
  ev_status s = x && prob ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
  if (s == EV_OK && optind < argc) s = collect(argv + optind, argc - optind, &list, &n);
  if (s == EV_OK) s = ev_weights_load(weights, NULL, &w, NULL);
  if (s == EV_OK && w.spec.task == EV_TASK_CLASSIFY) {
    int rc = classify_command(&w, data, split, layout_name, device, list, n, out, size);
    free_list(list, n);
    free(x), free(prob);
    ev_weights_free(&w);
    return rc;
  }
  if (s == EV_OK && data) s = ev_fail(EV_ERR_ARG, "--data is for classification networks; %s is a saliency network", weights);
  if (s == EV_OK && cli_settle_size("predict", &w.spec, &size)) {
    free_list(list, n);
    free(x), free(prob);
    ev_weights_free(&w);
    return 2;
  }
  if (s == EV_OK && !(x = realloc(x, (size_t)B * size * size * 4 * 4))) s = ev_fail(EV_ERR_OOM, "out of memory");
  if (s == EV_OK && !(prob = realloc(prob, (size_t)B * size * size * 4))) s = ev_fail(EV_ERR_OOM, "out of memory");
  if (s == EV_OK) s = check_names(list, n, out);
  if (s == EV_OK) s = ev_mkdirs(out);
  if (s == EV_OK) s = ev_net_infer(&w.spec, size, size);
  if (s == EV_OK) s = cli_open_gpu(device, &g);
  if (s == EV_OK) s = ev_model_create(g, &w.spec, B, size, size, false, &m);
  if (s == EV_OK) s = ev_model_upload(m, &w);
  for (int i0 = 0; s == EV_OK && i0 < n; i0 += B) {
    int k = n - i0 < B ? n - i0 : B;
    for (int j = 0; j < k && s == EV_OK; j++) {
      ev_image im;
      s = ev_image_load(list[i0 + j], 3, &im);
      if (s != EV_OK) break;
      ev_aug none = EV_AUG_NONE;
      ev_input_from_image(&im, size, &none, x + (size_t)j * size * size * 4);
      sizes[2 * j] = im.w, sizes[2 * j + 1] = im.h;
      ev_image_free(&im);
    }
    ev_stream *st = NULL;
    if (s == EV_OK) s = ev_model_feed(m, x, NULL, k);
    if (s == EV_OK) s = ev_stream_begin(g, &st);
    if (s == EV_OK) s = ev_model_forward(m, st, false);
    if (s == EV_OK) s = ev_model_predict(m, st);
    if (s == EV_OK) s = ev_stream_submit(st);
    else if (st) ev_stream_abort(st);
    if (s == EV_OK) s = ev_buf_download(g, ev_model_prob(m), 0, prob, (uint64_t)k * size * size * 4);
    for (int j = 0; j < k && s == EV_OK; j++)
      s = write_map(out, list[i0 + j], prob + (size_t)j * size * size, size, sizes[2 * j], sizes[2 * j + 1]);
  }
  int rc = 0;
  if (s == EV_OK) printf("wrote %d saliency map%s to %s\n", n, n == 1 ? "" : "s", out);
  else rc = cli_error();
  free_list(list, n);
  free(x), free(prob);
  ev_model_destroy(m);
  ev_weights_free(&w);
  ev_gpu_close(g);
  return rc;
}
