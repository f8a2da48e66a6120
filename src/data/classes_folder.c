/* torchvision's ImageFolder: ROOT/<split>/<class>/<image>. Only paths are kept here; the
 * images are decoded per sample (ev_class_sample), in the loader's threads. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_internal.h"
#include "evonet/io.h"

/* ImageNet statistics, as for the saliency pairs: photographs of unknown origin. */
static const float k_mean[3] = {0.485f, 0.456f, 0.406f};
static const float k_std[3] = {0.229f, 0.224f, 0.225f};

const char *ds_imagefolder_split_dir(const char *root, ds_split split, char *buf) {
  static const char *const names[4][3] = {{NULL}, {"train", NULL}, {"val", "valid", NULL}, {"test", NULL}};
  for (const char *const *n = names[split]; *n; n++)
    if (ds_is_dir(ev_path_join(buf, DS_PATH_MAX, root, *n))) return buf;
  return NULL;
}

/* ---------------- listing ---------------- */
typedef struct {
  char **v;
  size_t n, cap;
} names;

static void free_names(names *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  *l = (names){0};
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in dir of its subfolders (dirs) or of its image files (!dirs); hidden
 * entries skipped. */
static ev_status list_dir(const char *dir, bool dirs, names *out) {
  *out = (names){0};
  DIR *d = opendir(dir);
  if (!d) return ev_fail(EV_ERR_IO, "cannot open folder %s: %s", dir, strerror(errno));
  struct dirent *de;
  char path[DS_PATH_MAX];
  ev_status s = EV_OK;
  while (s == EV_OK && (de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    if (dirs ? !ds_is_dir(ev_path_join(path, sizeof path, dir, de->d_name))
             : !ds_is_image_name(de->d_name, true))
      continue;
    if (out->n == out->cap) {
      size_t cap = out->cap ? out->cap * 2 : 64;
      char **nv = realloc(out->v, cap * sizeof *nv);
      if (!nv) {
        s = ev_fail(EV_ERR_OOM, "out of memory listing %s", dir);
        break;
      }
      out->v = nv, out->cap = cap;
    }
    if (!(out->v[out->n] = strdup(de->d_name))) s = ev_fail(EV_ERR_OOM, "out of memory listing %s", dir);
    else out->n++;
  }
  closedir(d);
  if (s != EV_OK) free_names(out);
  else if (out->n) qsort(out->v, out->n, sizeof *out->v, name_cmp);
  return s;
}

static bool has_images(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return false;
  bool found = false;
  struct dirent *de;
  while (!found && (de = readdir(d))) found = ds_is_image_name(de->d_name, true);
  closedir(d);
  return found;
}

/* A split folder of class folders: no images/ (the generic layout's), and a subfolder with
 * images. */
static bool is_class_split(const char *dir) {
  char sub[DS_PATH_MAX];
  if (!ds_is_dir(dir) || ds_is_dir(ev_path_join(sub, sizeof sub, dir, "images"))) return false;
  DIR *d = opendir(dir);
  if (!d) return false;
  bool found = false;
  struct dirent *de;
  while (!found && (de = readdir(d)))
    found = de->d_name[0] != '.' && ds_is_dir(ev_path_join(sub, sizeof sub, dir, de->d_name)) &&
            has_images(sub);
  closedir(d);
  return found;
}

bool ds_has_imagefolder(const char *root) {
  static const char *const splits[] = {"train", "val", "valid", "test"};
  char dir[DS_PATH_MAX];
  for (size_t i = 0; i < sizeof splits / sizeof *splits; i++)
    if (is_class_split(ev_path_join(dir, sizeof dir, root, splits[i]))) return true;
  return false;
}

/* ---------------- the set ---------------- */
typedef struct {
  char **paths;
  int32_t *labels;
  size_t n, cap;
} samples;

static ev_status push_sample(samples *v, const char *path, int32_t label) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 256;
    char **np = realloc(v->paths, cap * sizeof *np);
    if (np) v->paths = np;
    int32_t *nl = realloc(v->labels, cap * sizeof *nl);
    if (nl) v->labels = nl;
    if (!np || !nl) return ev_fail(EV_ERR_OOM, "out of memory listing %s", path);
    v->cap = cap;
  }
  if (!(v->paths[v->n] = strdup(path))) return ev_fail(EV_ERR_OOM, "out of memory listing %s", path);
  v->labels[v->n++] = label;
  return EV_OK;
}

/* Appends the images of split folder `dir`, class by class, each class's by name. */
static ev_status add_split(const char *dir, const ev_class_set *cs, const char *class_dir,
                           samples *v) {
  names sub, imgs;
  EV_TRY(list_dir(dir, true, &sub));
  ev_status s = EV_OK;
  char cdir[DS_PATH_MAX], path[DS_PATH_MAX];
  for (size_t i = 0; s == EV_OK && i < sub.n; i++) {
    ev_path_join(cdir, sizeof cdir, dir, sub.v[i]);
    char **hit = bsearch(&sub.v[i], cs->class_names, (size_t)cs->classes, sizeof *cs->class_names,
                         name_cmp);
    if (!hit) {
      s = ev_fail(EV_ERR_FORMAT, "class folder %s is not one of the %d classes of %s", cdir,
                  cs->classes, class_dir);
      break;
    }
    s = list_dir(cdir, false, &imgs);
    if (s == EV_OK && imgs.n == 0)
      s = ev_fail(EV_ERR_FORMAT, "class folder %s holds no images (.jpg, .jpeg, .png, .bmp)", cdir);
    for (size_t k = 0; s == EV_OK && k < imgs.n; k++)
      s = push_sample(v, ev_path_join(path, sizeof path, cdir, imgs.v[k]),
                      (int32_t)(hit - cs->class_names));
    free_names(&imgs);
  }
  free_names(&sub);
  return s;
}

ev_status ds_open_imagefolder(const char *root, ds_split split, ev_dataset *out) {
  char class_dir[DS_PATH_MAX], dir[DS_PATH_MAX];
  /* the classes: ROOT/train's subfolders, else the split's own (else the first split's) */
  if (!ds_imagefolder_split_dir(root, DS_SPLIT_TRAIN, class_dir)) {
    bool found = false;
    for (int sp = split == DS_SPLIT_ALL ? DS_SPLIT_VAL : (int)split; !found && sp <= DS_SPLIT_TEST;
         sp++) {
      found = ds_imagefolder_split_dir(root, (ds_split)sp, class_dir) != NULL;
      if (split != DS_SPLIT_ALL) break;
    }
    if (!found)
      return split == DS_SPLIT_ALL
                 ? ev_fail(EV_ERR_IO, "missing folders %s/train, val and test for the imagefolder "
                                      "layout", root)
                 : ev_fail(EV_ERR_IO, "missing folder %s/%s for the imagefolder layout", root,
                           ds_split_names[split]);
  }
  ev_class_set *cs = calloc(1, sizeof *cs);
  if (!cs) return ev_fail(EV_ERR_OOM, "out of memory opening %s", root);
  out->cls = cs;
  snprintf(cs->source, sizeof cs->source, "imagefolder");
  cs->channels = 3, cs->crop_pad = 0, cs->flip = 1;
  memcpy(cs->mean, k_mean, sizeof k_mean);
  memcpy(cs->std, k_std, sizeof k_std);
  names classes;
  EV_TRY(list_dir(class_dir, true, &classes));
  cs->class_names = classes.v; /* owned by the set from here on */
  cs->classes = (int)classes.n;
  if (classes.n < 2)
    return ev_fail(EV_ERR_FORMAT, "%s holds %zu class folders; a classification needs at least 2",
                   class_dir, classes.n);
  samples v = {0};
  ev_status s = EV_OK;
  for (int sp = DS_SPLIT_TRAIN; s == EV_OK && sp <= DS_SPLIT_TEST; sp++) {
    if (split != DS_SPLIT_ALL && sp != (int)split) continue;
    if (!ds_imagefolder_split_dir(root, (ds_split)sp, dir)) {
      if (split == DS_SPLIT_ALL) continue;
      s = ev_fail(EV_ERR_IO, "missing folder %s/%s for the imagefolder layout", root,
                  ds_split_names[sp]);
      break;
    }
    s = add_split(dir, cs, class_dir, &v);
  }
  /* the training folder's classes must each hold images, wherever the split is taken from */
  for (int c = 0; s == EV_OK && c < cs->classes; c++) {
    ev_path_join(dir, sizeof dir, class_dir, cs->class_names[c]);
    if (!has_images(dir))
      s = ev_fail(EV_ERR_FORMAT, "class folder %s holds no images (.jpg, .jpeg, .png, .bmp)", dir);
  }
  cs->paths = v.paths;
  cs->labels = v.labels;
  out->n = v.n;
  return s;
}
