/* The four saliency layouts and the auto-detection of every layout. Each turns (root, split) into the
 * folder pairs and split lists it has, and lets ds_add_folder do the listing. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "data/dataset_internal.h"
#include "evonet/io.h"

/* ---------------- generic: [ROOT/<split>/]images + masks ---------------- */
/* Appends ROOT/<sub>/images + ROOT/<sub>/masks (sub may be ""), with an optional list. */
static ev_status add_images_masks(const char *root, const char *sub, const char *list,
                                  ds_pairs *pv) {
  char base[DS_PATH_MAX], img[DS_PATH_MAX], mask[DS_PATH_MAX];
  if (*sub) ev_path_join(base, sizeof base, root, sub);
  else snprintf(base, sizeof base, "%s", root);
  ev_path_join(img, sizeof img, base, "images");
  ev_path_join(mask, sizeof mask, base, "masks");
  if (!ds_is_dir(mask))
    return ev_fail(EV_ERR_IO, "missing folder %s: the generic layout needs masks/ beside "
                              "images/", mask);
  return ds_add_folder(pv, img, mask, list);
}

static bool has_split_folder(const char *root, ds_split split) {
  char sub[64], dir[DS_PATH_MAX];
  snprintf(sub, sizeof sub, "%s/images", ds_split_names[split]);
  return ds_is_dir(ev_path_join(dir, sizeof dir, root, sub));
}

ev_status ds_open_generic(const char *root, ds_split split, ds_pairs *pv) {
  char dir[DS_PATH_MAX], list[DS_PATH_MAX], name[64];
  if (split != DS_SPLIT_ALL && has_split_folder(root, split))
    return add_images_masks(root, ds_split_names[split], NULL, pv);
  if (ds_is_dir(ev_path_join(dir, sizeof dir, root, "images"))) {
    snprintf(name, sizeof name, "%s.txt", ds_split_names[split]);
    const char *names[] = {name, NULL};
    const char *lp = split != DS_SPLIT_ALL ? ds_find_list(root, names, list) : NULL;
    return add_images_masks(root, "", lp, pv);
  }
  if (split == DS_SPLIT_ALL) { /* "all" of a split-folder dataset: every split folder */
    bool any = false;
    for (int s = DS_SPLIT_TRAIN; s <= DS_SPLIT_TEST; s++) {
      if (!has_split_folder(root, (ds_split)s)) continue;
      EV_TRY(add_images_masks(root, ds_split_names[s], NULL, pv));
      any = true;
    }
    if (any) return EV_OK;
  }
  if (split == DS_SPLIT_ALL)
    return ev_fail(EV_ERR_IO, "missing folder %s/images for the generic layout", root);
  return ev_fail(EV_ERR_IO, "missing folder %s/%s/images (or %s/images) for the generic "
                            "layout", root, ds_split_names[split], root);
}

/* ---------------- MSRA-B: <stem>.jpg + <stem>.png side by side ---------------- */
static const char *const msrab_lists[4][3] = {
    {NULL},
    {"train_cvpr2013.txt", "train.txt", NULL},
    {"valid_cvpr2013.txt", "val.txt", NULL},
    {"test_cvpr2013.txt", "test.txt", NULL},
};

ev_status ds_open_msrab(const char *root, ds_split split, ds_pairs *pv) {
  char list[DS_PATH_MAX];
  const char *lp = split != DS_SPLIT_ALL ? ds_find_list(root, msrab_lists[split], list) : NULL;
  return ds_add_folder(pv, root, root, lp);
}

/* ---------------- HKU-IS: imgs/ + gt/ ---------------- */
static const char *const hkuis_lists[4][3] = {
    {NULL},
    {"trainImgSet.txt", "train.txt", NULL},
    {"valImgSet.txt", "val.txt", NULL},
    {"testImgSet.txt", "test.txt", NULL},
};

ev_status ds_open_hkuis(const char *root, ds_split split, ds_pairs *pv) {
  char img[DS_PATH_MAX], gt[DS_PATH_MAX], list[DS_PATH_MAX];
  ev_path_join(img, sizeof img, root, "imgs");
  ev_path_join(gt, sizeof gt, root, "gt");
  const char *lp = split != DS_SPLIT_ALL ? ds_find_list(root, hkuis_lists[split], list) : NULL;
  return ds_add_folder(pv, img, gt, lp);
}

/* ---------------- DUTS: DUTS-TR-Image/ + DUTS-TR-Mask/, DUTS-TE-... ---------------- */
/* Finds ROOT/DUTS-<part>-Image or ROOT/DUTS-<part>/DUTS-<part>-Image (how the archives
 * unpack) and its -Mask sibling. */
static bool duts_dirs(const char *root, const char *part, char *img, char *mask) {
  char sub[64];
  snprintf(sub, sizeof sub, "DUTS-%s-Image", part);
  if (!ds_is_dir(ev_path_join(img, DS_PATH_MAX, root, sub))) {
    snprintf(sub, sizeof sub, "DUTS-%s/DUTS-%s-Image", part, part);
    if (!ds_is_dir(ev_path_join(img, DS_PATH_MAX, root, sub))) return false;
  }
  snprintf(mask, DS_PATH_MAX, "%s", img);
  memcpy(mask + strlen(mask) - strlen("Image"), "Mask", sizeof "Mask");
  return true;
}

ev_status ds_open_duts(const char *root, ds_split split, ds_pairs *pv) {
  char img[DS_PATH_MAX], mask[DS_PATH_MAX];
  if (split == DS_SPLIT_VAL)
    return ev_fail(EV_ERR_ARG, "the DUTS layout has no val split (DUTS-TR is train, "
                               "DUTS-TE is test): %s", root);
  bool any = false;
  const char *parts[2] = {"TR", "TE"};
  for (int i = 0; i < 2; i++) {
    if (split == DS_SPLIT_TRAIN && i != 0) continue;
    if (split == DS_SPLIT_TEST && i != 1) continue;
    if (!duts_dirs(root, parts[i], img, mask)) {
      if (split == DS_SPLIT_ALL) continue;
      return ev_fail(EV_ERR_IO, "missing folder %s/DUTS-%s-Image for the DUTS %s split", root,
                     parts[i], ds_split_names[split]);
    }
    EV_TRY(ds_add_folder(pv, img, mask, NULL));
    any = true;
  }
  if (!any)
    return ev_fail(EV_ERR_IO, "missing folders %s/DUTS-TR-Image and DUTS-TE-Image", root);
  return EV_OK;
}

/* ---------------- detection ---------------- */
static bool has_image_file(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return false;
  bool found = false;
  struct dirent *de;
  while (!found && (de = readdir(d))) found = ds_is_image_name(de->d_name, false);
  closedir(d);
  return found;
}

ev_status ds_detect(const char *root, ev_layout *out) {
  char a[DS_PATH_MAX], b[DS_PATH_MAX], list[DS_PATH_MAX];
  bool generic = ds_is_dir(ev_path_join(a, sizeof a, root, "images"));
  for (int s = DS_SPLIT_TRAIN; s <= DS_SPLIT_TEST; s++)
    generic = generic || has_split_folder(root, (ds_split)s);
  if (generic) *out = EV_LAYOUT_GENERIC;
  else if (ds_is_dir(ev_path_join(a, sizeof a, root, "imgs")) &&
           ds_is_dir(ev_path_join(b, sizeof b, root, "gt")))
    *out = EV_LAYOUT_HKUIS;
  else if (duts_dirs(root, "TR", a, b) || duts_dirs(root, "TE", a, b))
    *out = EV_LAYOUT_DUTS;
  else if (ds_find_list(root, msrab_lists[DS_SPLIT_TRAIN], list) ||
           ds_find_list(root, msrab_lists[DS_SPLIT_TEST], list) || has_image_file(root))
    *out = EV_LAYOUT_MSRAB;
  /* classification layouts only where no saliency layout fits, so those are found as before */
  else if (ds_has_idx(root))
    *out = EV_LAYOUT_IDX;
  else if (ds_has_cifar10(root))
    *out = EV_LAYOUT_CIFAR10;
  else if (ds_has_imagefolder(root))
    *out = EV_LAYOUT_IMAGEFOLDER;
  else
    return ev_fail(EV_ERR_FORMAT,
                   "cannot tell the layout of dataset folder %s: expected images/ + masks/, "
                   "imgs/ + gt/, DUTS-TR-Image/, <stem>.jpg + <stem>.png side by side, "
                   "train-images-idx3-ubyte[.gz] (IDX), data_batch_1.bin (CIFAR-10) or "
                   "train/<class>/<image> (imagefolder)",
                   root);
  return EV_OK;
}
