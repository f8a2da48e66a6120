/* Datasets: layout names, folder scanning, split lists, the pair list and its checks. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/dataset_internal.h"
#include "evonet/io.h"

const char *const ds_split_names[4] = {"all", "train", "val", "test"};

/* ---------------- layout and split names ---------------- */
static const char *const layout_names[] = {"auto", "generic", "msra-b", "hku-is", "duts",
                                           "idx",  "cifar10", "imagefolder"};

const char *ev_layout_name(ev_layout l) {
  return (unsigned)l < sizeof layout_names / sizeof *layout_names ? layout_names[l] : "?";
}

/* Lower case without '-' and '_', so "MSRA-B", "msra_b" and "msrab" are one name. */
static void squash(const char *s, char *out, size_t cap) {
  size_t k = 0;
  for (; *s && k + 1 < cap; s++)
    if (*s != '-' && *s != '_') out[k++] = (char)tolower((unsigned char)*s);
  out[k] = 0;
}

ev_status ev_layout_from_name(const char *name, ev_layout *out) {
  char want[64], have[64];
  squash(name ? name : "", want, sizeof want);
  for (size_t i = 0; i < sizeof layout_names / sizeof *layout_names; i++) {
    squash(layout_names[i], have, sizeof have);
    if (strcmp(want, have) == 0) {
      *out = (ev_layout)i;
      return EV_OK;
    }
  }
  return ev_fail(EV_ERR_ARG,
                 "unknown dataset layout '%s' (expected auto, generic, msra-b, hku-is, duts, "
                 "idx, cifar10 or imagefolder)",
                 name ? name : "");
}

static ev_status split_from_name(const char *name, ds_split *out) {
  if (!name || !*name || strcmp(name, "all") == 0) *out = DS_SPLIT_ALL;
  else if (strcmp(name, "train") == 0) *out = DS_SPLIT_TRAIN;
  else if (strcmp(name, "val") == 0 || strcmp(name, "valid") == 0) *out = DS_SPLIT_VAL;
  else if (strcmp(name, "test") == 0) *out = DS_SPLIT_TEST;
  else return ev_fail(EV_ERR_ARG, "unknown split '%s' (expected train, val, test or all)", name);
  return EV_OK;
}

/* ---------------- file-system helpers ---------------- */
bool ds_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool ds_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

const char *ds_what_is(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return "a folder";
    if (S_ISREG(st.st_mode)) return "a regular file";
    return "a special file (not a regular file or folder)";
  }
  if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) return "a broken symbolic link";
  return NULL;
}

/* Extensions in order of preference when two files share a stem. */
static const char *const image_exts[] = {".jpg", ".jpeg", ".png", ".bmp"};

static int image_ext_rank(const char *name, bool allow_png) {
  size_t n = strlen(name);
  for (int r = 0; r < 4; r++) {
    size_t e = strlen(image_exts[r]);
    if (n > e && strcasecmp(name + n - e, image_exts[r]) == 0)
      return (r == 2 && !allow_png) ? -1 : r;
  }
  return -1;
}

bool ds_is_image_name(const char *name, bool allow_png) {
  return name[0] != '.' && image_ext_rank(name, allow_png) >= 0;
}

const char *ds_find_list(const char *root, const char *const *names, char *buf) {
  for (; *names; names++)
    if (ds_is_file(ev_path_join(buf, DS_PATH_MAX, root, *names))) return buf;
  return NULL;
}

/* ---------------- scanning a folder ---------------- */
typedef struct {
  char *stem, *name; /* name: the file name in the folder */
  int rank;
} entry;

static int entry_cmp(const void *a, const void *b) {
  const entry *x = a, *y = b;
  int c = strcmp(x->stem, y->stem);
  return c ? c : x->rank - y->rank;
}

static void free_entries(entry *e, size_t n) {
  for (size_t i = 0; i < n; i++) free(e[i].stem), free(e[i].name);
  free(e);
}

/* The images of `dir`, sorted by stem, one per stem (the preferred extension wins). */
static ev_status scan_images(const char *dir, bool allow_png, entry **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  DIR *d = opendir(dir);
  if (!d) return ev_fail(EV_ERR_IO, "cannot open folder %s: %s", dir, strerror(errno));
  entry *v = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!ds_is_image_name(de->d_name, allow_png)) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 256;
      entry *nv = realloc(v, cap * sizeof *v);
      if (!nv) goto oom;
      v = nv;
    }
    char *name = strdup(de->d_name), *stem = strdup(de->d_name);
    if (!name || !stem) {
      free(name), free(stem);
      goto oom;
    }
    *strrchr(stem, '.') = 0;
    v[n++] = (entry){.stem = stem, .name = name, .rank = image_ext_rank(name, allow_png)};
  }
  closedir(d);
  if (n) qsort(v, n, sizeof *v, entry_cmp); /* qsort(NULL, 0) is undefined */
  size_t k = 0; /* keep the first (best-ranked) of each stem */
  for (size_t i = 0; i < n; i++) {
    if (k && strcmp(v[k - 1].stem, v[i].stem) == 0) {
      free(v[i].stem), free(v[i].name);
      continue;
    }
    v[k++] = v[i];
  }
  *out = v;
  *n_out = k;
  return EV_OK;
oom:
  closedir(d);
  free_entries(v, n);
  return ev_fail(EV_ERR_OOM, "out of memory listing %s", dir);
}

/* ---------------- split lists ---------------- */
static int str_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The stems of a list file: one stem or file name per line (folders and an image
 * extension are dropped, blank lines and '#' comments skipped), sorted and unique. */
static ev_status read_list(const char *path, char ***out, size_t *n_out) {
  char *text;
  size_t size;
  EV_TRY(ev_read_file(path, (void **)&text, &size));
  size_t cap = 1;
  for (size_t i = 0; i < size; i++) cap += text[i] == '\n' || text[i] == '\r';
  char **v = calloc(cap, sizeof *v);
  if (!v) {
    free(text);
    return ev_fail(EV_ERR_OOM, "out of memory reading %s", path);
  }
  size_t n = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\r\n", &save); line;
       line = strtok_r(NULL, "\r\n", &save)) {
    while (isspace((unsigned char)*line)) line++;
    char *end = line + strlen(line);
    while (end > line && isspace((unsigned char)end[-1])) *--end = 0;
    if (!*line || *line == '#') continue;
    char *slash = strrchr(line, '/');
    if (slash) line = slash + 1;
    char *dot = strrchr(line, '.');
    if (dot && ds_is_image_name(line, true)) *dot = 0;
    if (!*line) continue;
    if (!(v[n++] = strdup(line))) {
      for (size_t i = 0; i < n; i++) free(v[i]);
      free(v), free(text);
      return ev_fail(EV_ERR_OOM, "out of memory reading %s", path);
    }
  }
  free(text);
  qsort(v, n, sizeof *v, str_cmp);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k && strcmp(v[k - 1], v[i]) == 0) free(v[i]);
    else v[k++] = v[i];
  }
  *out = v;
  *n_out = k;
  return EV_OK;
}

/* ---------------- pairs ---------------- */
static ev_status push_pair(ds_pairs *pv, const char *stem, const char *image,
                           const char *mask) {
  if (pv->n == pv->cap) {
    size_t cap = pv->cap ? pv->cap * 2 : 256;
    ev_pair *nv = realloc(pv->v, cap * sizeof *nv);
    if (!nv) return ev_fail(EV_ERR_OOM, "out of memory listing %s", image);
    pv->v = nv;
    pv->cap = cap;
  }
  ev_pair p = {strdup(stem), strdup(image), strdup(mask)};
  if (!p.stem || !p.image || !p.mask) {
    free(p.stem), free(p.image), free(p.mask);
    return ev_fail(EV_ERR_OOM, "out of memory listing %s", image);
  }
  pv->v[pv->n++] = p;
  return EV_OK;
}

static const entry *find_stem(const entry *v, size_t n, const char *stem) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(v[mid].stem, stem);
    if (c == 0) return &v[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

ev_status ds_add_folder(ds_pairs *pv, const char *img_dir, const char *mask_dir,
                        const char *list_path) {
  bool side_by_side = strcmp(img_dir, mask_dir) == 0;
  if (!ds_is_dir(img_dir)) return ev_fail(EV_ERR_IO, "missing folder %s", img_dir);
  if (!ds_is_dir(mask_dir)) return ev_fail(EV_ERR_IO, "missing mask folder %s", mask_dir);
  entry *imgs;
  size_t n_imgs;
  EV_TRY(scan_images(img_dir, !side_by_side, &imgs, &n_imgs));
  char **list = NULL;
  size_t n_list = 0;
  ev_status s = list_path ? read_list(list_path, &list, &n_list) : EV_OK;
  size_t n = list_path ? n_list : n_imgs;
  char image[DS_PATH_MAX], mask[DS_PATH_MAX], name[1024];
  for (size_t i = 0; s == EV_OK && i < n; i++) {
    const entry *e = list_path ? find_stem(imgs, n_imgs, list[i]) : &imgs[i];
    if (!e) {
      s = ev_fail(EV_ERR_FORMAT, "'%s' is listed in %s but has no image in %s", list[i],
                  list_path, img_dir);
      break;
    }
    ev_path_join(image, sizeof image, img_dir, e->name);
    snprintf(name, sizeof name, "%s.png", e->stem);
    ev_path_join(mask, sizeof mask, mask_dir, name);
    if (!ds_is_file(mask)) {
      const char *what = ds_what_is(mask);
      s = what ? ev_fail(EV_ERR_FORMAT, "mask %s of image %s is %s", mask, image, what)
               : ev_fail(EV_ERR_FORMAT, "image %s has no mask (expected %s)", image, mask);
      break;
    }
    s = push_pair(pv, e->stem, image, mask);
  }
  for (size_t i = 0; i < n_list; i++) free(list[i]);
  free(list);
  free_entries(imgs, n_imgs);
  return s;
}

/* ---------------- the dataset ---------------- */
static int pair_cmp(const void *a, const void *b) {
  const ev_pair *x = a, *y = b;
  int c = strcmp(x->stem, y->stem);
  return c ? c : strcmp(x->image, y->image);
}

/* Where the short names of ev_dataset_resolve point, and the package that fills them. */
static const struct {
  const char *name, *dir, *how;
} known_sets[] = {
    {"fashion-mnist", "/usr/share/datasets/fashion-mnist",
     "install the Debian package dataset-fashion-mnist"},
    {"mnist", "/usr/share/datasets/mnist",
     "put MNIST's IDX files there, or use fashion-mnist (Debian package dataset-fashion-mnist)"},
};

ev_status ev_dataset_resolve(const char *root, char *buf, size_t cap, const char **out) {
  *out = root;
  if (!root) return EV_OK;
  for (size_t i = 0; i < sizeof known_sets / sizeof *known_sets; i++) {
    if (strcmp(root, known_sets[i].name) != 0) continue;
    if (!ds_is_dir(known_sets[i].dir))
      return ev_fail(EV_ERR_IO, "dataset '%s' is not installed: %s does not exist (%s)", root,
                     known_sets[i].dir, known_sets[i].how);
    if ((size_t)snprintf(buf, cap, "%s", known_sets[i].dir) >= cap)
      return ev_fail(EV_ERR_ARG, "a buffer of %zu bytes is too small for %s", cap, known_sets[i].dir);
    *out = buf;
  }
  return EV_OK;
}

/* A classification set's split: the layout's reader fills out->cls and out->n. */
static ev_status open_classes(const char *root, ds_split split, ev_layout layout, ev_dataset *out) {
  ev_status s = layout == EV_LAYOUT_IDX       ? ds_open_idx(root, split, out)
                : layout == EV_LAYOUT_CIFAR10 ? ds_open_cifar10(root, split, out)
                                              : ds_open_imagefolder(root, split, out);
  if (s == EV_OK && out->n == 0)
    s = ev_fail(EV_ERR_FORMAT, "dataset %s (%s layout, split %s) has no images", root,
                ev_layout_name(layout), ds_split_names[split]);
  out->layout = layout;
  if (s != EV_OK) ev_dataset_free(out);
  return s;
}

ev_status ev_dataset_open(const char *root_name, const char *split_name, ev_layout layout,
                          ev_dataset *out) {
  *out = (ev_dataset){0};
  char resolved[DS_PATH_MAX];
  const char *root;
  EV_TRY(ev_dataset_resolve(root_name, resolved, sizeof resolved, &root));
  if (!root) return ev_fail(EV_ERR_ARG, "no dataset folder given");
  ds_split split = DS_SPLIT_ALL;
  EV_TRY(split_from_name(split_name, &split));
  if ((unsigned)layout > EV_LAYOUT_IMAGEFOLDER)
    return ev_fail(EV_ERR_ARG, "unknown dataset layout number %d", (int)layout);
  if (!ds_is_dir(root)) {
    const char *what = ds_what_is(root);
    return what ? ev_fail(EV_ERR_IO, "dataset %s is %s, not a folder", root, what)
                : ev_fail(EV_ERR_IO, "dataset folder %s does not exist", root);
  }
  if (layout == EV_LAYOUT_AUTO) EV_TRY(ds_detect(root, &layout));
  if (layout >= EV_LAYOUT_IDX) return open_classes(root, split, layout, out);
  ds_pairs pv = {0};
  ev_status s = EV_OK;
  switch (layout) {
  case EV_LAYOUT_GENERIC: s = ds_open_generic(root, split, &pv); break;
  case EV_LAYOUT_MSRAB: s = ds_open_msrab(root, split, &pv); break;
  case EV_LAYOUT_HKUIS: s = ds_open_hkuis(root, split, &pv); break;
  case EV_LAYOUT_DUTS: s = ds_open_duts(root, split, &pv); break;
  default: break; /* AUTO was resolved; classification layouts returned above */
  }
  if (s == EV_OK && pv.n == 0)
    s = ev_fail(EV_ERR_FORMAT, "dataset %s (%s layout, split %s) has no image/mask pairs",
                root, ev_layout_name(layout), ds_split_names[split]);
  out->layout = layout;
  out->pairs = pv.v;
  out->n = pv.n;
  if (s != EV_OK) {
    ev_dataset_free(out);
    return s;
  }
  qsort(out->pairs, out->n, sizeof *out->pairs, pair_cmp);
  return EV_OK;
}

ev_status ev_dataset_check(const ev_dataset *ds) {
  if (ds->cls) { /* IDX and CIFAR-10 were read and checked whole by ev_dataset_open */
    int w, h;
    for (size_t i = 0; ds->cls->paths && i < ds->n; i++) EV_TRY(ev_image_info(ds->cls->paths[i], &w, &h));
    return EV_OK;
  }
  for (size_t i = 0; i < ds->n; i++) {
    const ev_pair *p = &ds->pairs[i];
    int w, h, mw, mh;
    EV_TRY(ev_image_info(p->image, &w, &h));
    EV_TRY(ev_image_info(p->mask, &mw, &mh));
    if (w != mw || h != mh)
      return ev_fail(EV_ERR_FORMAT, "mask %s is %dx%d but its image %s is %dx%d", p->mask,
                     mw, mh, p->image, w, h);
  }
  return EV_OK;
}

void ev_dataset_free(ev_dataset *ds) {
  ds_class_set_free(ds->cls, ds->n);
  for (size_t i = 0; ds->pairs && i < ds->n; i++)
    free(ds->pairs[i].stem), free(ds->pairs[i].image), free(ds->pairs[i].mask);
  free(ds->pairs);
  *ds = (ev_dataset){0};
}
