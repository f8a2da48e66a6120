/* Private to src/data: file-system helpers the layouts share, and the hash behind every
 * "random" choice of the data layer (a pure function of its key, so runs reproduce). */
#ifndef EVONET_DATASET_INTERNAL_H
#define EVONET_DATASET_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evonet/data.h"

#define DS_PATH_MAX 4096

typedef enum { DS_SPLIT_ALL, DS_SPLIT_TRAIN, DS_SPLIT_VAL, DS_SPLIT_TEST } ds_split;
extern const char *const ds_split_names[4]; /* "all", "train", "val", "test" */

/* A growing array of pairs; the layouts append, ev_dataset_open sorts and owns it. */
typedef struct {
  ev_pair *v;
  size_t n, cap;
} ds_pairs;

bool ds_is_dir(const char *path);
bool ds_is_file(const char *path);
/* What `path` is, for an error that names it: "a folder", "a regular file", "a broken
 * symbolic link", "a special file (...)", or NULL when nothing is there. */
const char *ds_what_is(const char *path);
/* 1 if `name` ends in .jpg/.jpeg/.bmp (and .png when allow_png), case-insensitive. */
bool ds_is_image_name(const char *name, bool allow_png);

/* Appends the pairs of one folder pair: every image in img_dir (or only the stems listed
 * in list_path when it is not NULL) with mask_dir/<stem>.png. When img_dir == mask_dir
 * (MSRA-B) .png files are masks, not images. Fails naming an image without its mask or a
 * listed stem without an image. */
ev_status ds_add_folder(ds_pairs *pv, const char *img_dir, const char *mask_dir,
                        const char *list_path);
/* The first of `names` (NULL-terminated) that is a file in root, written to buf, or NULL. */
const char *ds_find_list(const char *root, const char *const *names, char *buf);

/* The layouts (src/data/layouts.c). Each appends the pairs of `split` found under root. */
ev_status ds_open_generic(const char *root, ds_split split, ds_pairs *pv);
ev_status ds_open_msrab(const char *root, ds_split split, ds_pairs *pv);
ev_status ds_open_hkuis(const char *root, ds_split split, ds_pairs *pv);
ev_status ds_open_duts(const char *root, ds_split split, ds_pairs *pv);
/* Which layout root holds; EV_ERR_FORMAT listing what was expected if none fits. */
ev_status ds_detect(const char *root, ev_layout *out);

/* Checks loader options against the dataset (batch, size, at least one batch). */
ev_status ds_check_options(const ev_dataset *ds, const ev_loader_options *o);
/* Fills batch `step` of `epoch` given that epoch's order (see ev_epoch_order); what both
 * ev_batch_load and the loader threads run. */
ev_status ds_batch_fill(const ev_dataset *ds, const ev_loader_options *o, int64_t epoch,
                        size_t step, const size_t *order, ev_batch *b);

/* splitmix64 finaliser: a strong 64-bit mix; keys are chained through it. */
static inline uint64_t ds_mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/* Uniform in [0,1) from the top 24 bits (exact in float). */
static inline float ds_unit(uint64_t z) { return (float)(z >> 40) * (1.0f / 16777216.0f); }
#endif
