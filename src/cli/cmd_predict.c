/* `evonet predict`: saliency maps (PNG, at each image's own size) for images or folders. */
#include <dirent.h>
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

int cmd_predict(int argc, char **argv) {
  static const struct option opts[] = {{"weights", 1, 0, 'w'}, {"out", 1, 0, 'o'}, {"size", 1, 0, 's'},
                                       {"device", 1, 0, 'D'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  const char *weights = NULL, *out = NULL, *device = NULL;
  int size = 128, c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'w': weights = optarg; break;
    case 'o': out = optarg; break;
    case 's':
      if (cli_parse_int("predict", "--size", optarg, 16, 4096, &size)) return 2;
      if (size % 16) return cli_usage_error("predict", "--size must be a multiple of 16, got %d", size);
      break;
    case 'D': device = optarg; break;
    case 'h':
      printf("usage: evonet predict --weights FILE --out DIR [--size 128] [--device N|NAME] IMAGE|FOLDER...\n\n"
             "Writes one saliency map per image as OUT/<stem>.png (8-bit gray, the salient-class\n"
             "probability x 255, at the image's own size). Inputs that would write the same\n"
             "map (a.jpg and a.png, one name in two folders, an image given twice) are refused\n"
             "before anything is written: predict them into separate --out folders.\n");
      return 0;
    default: return cli_usage_error("predict", "unknown option '%s'", cli_bad_option(argc, argv));
    }
  }
  if (!weights || !out) return cli_usage_error("predict", "--weights FILE and --out DIR are required");
  if (optind >= argc) return cli_usage_error("predict", "give at least one image or folder");
  char **list = NULL;
  int n = 0;
  ev_net_weights w = {0};
  ev_gpu *g = NULL;
  ev_model *m = NULL;
  const int B = 4;
  float *x = malloc((size_t)B * size * size * 4 * 4), *prob = malloc((size_t)B * size * size * 4);
  int sizes[2 * 4];
  ev_status s = x && prob ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
  if (s == EV_OK) s = collect(argv + optind, argc - optind, &list, &n);
  if (s == EV_OK) s = check_names(list, n, out);
  if (s == EV_OK) s = ev_mkdirs(out);
  if (s == EV_OK) s = ev_weights_load(weights, NULL, &w, NULL);
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
