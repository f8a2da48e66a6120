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
/* Which layout root holds; EV_ERR_FORMAT listing what was expected if none fits. The
 * saliency layouts are tried first, so a classification layout is only found where none of
 * them fits. */
ev_status ds_detect(const char *root, ev_layout *out);

/* ---------------- classification sets (src/data/classes*.c) ----------------
 * Each opener sets out->cls (calloc'd, owned by the dataset) and out->n for `split`; on
 * failure it leaves out->cls as far as it got, which ds_class_set_free releases. */
ev_status ds_open_idx(const char *root, ds_split split, ev_dataset *out);
ev_status ds_open_cifar10(const char *root, ds_split split, ev_dataset *out);
ev_status ds_open_imagefolder(const char *root, ds_split split, ev_dataset *out);
/* Whether root holds each classification layout: train-images-idx3-ubyte[.gz]; data_batch_1.bin
 * in root or root/cifar-10-batches-bin; a split folder (train, val, valid, test) without
 * images/ whose subfolders hold images. */
bool ds_has_idx(const char *root);
bool ds_has_cifar10(const char *root);
bool ds_has_imagefolder(const char *root);
/* The folder of an ImageFolder split: ROOT/train, ROOT/val or ROOT/valid, ROOT/test, written
 * to buf; NULL when it does not exist. */
const char *ds_imagefolder_split_dir(const char *root, ds_split split, char *buf);
/* Frees everything a set holds (n: its samples, for the ImageFolder paths) and the set. */
void ds_class_set_free(ev_class_set *cs, size_t n);

/* Largest file a classification reader takes (a .gz counts decompressed): far above the
 * sets it is for (CIFAR-10 is 180 MB), and it bounds what a corrupt header can ask for. */
#define DS_CLASS_FILE_MAX ((size_t)2 << 30)
/* Reads the whole file (NUL-terminated past *size), decompressing it when it is gzip (zlib reads other files as they
 * are). EV_ERR_IO when it can't be opened or read; EV_ERR_FORMAT when the gzip stream is
 * corrupt or truncated or the content passes DS_CLASS_FILE_MAX, naming the file. */
ev_status ds_read_whole(const char *path, uint8_t **data, size_t *size);
/* Per-channel mean and standard deviation of v/255 over n interleaved pixels of c channels
 * (exact: from a histogram of the byte values, in double). */
void ds_class_stats(const uint8_t *pix, size_t n, int c, float mean[3], float std_[3]);
/* Fills cs->pixels and cs->labels of `split` from an in-memory training file (n_tr images)
 * and test file (n_te; may be NULL for train and val): val = the last floor(n_tr/12) of the
 * training file, train the rest, test the test file, all = training file then test file.
 * cs->h, w, channels must be set. *n_out: the split's size. */
ev_status ds_class_take(ev_class_set *cs, ds_split split, const uint8_t *tr_pix,
                        const int32_t *tr_lab, size_t n_tr, const uint8_t *te_pix,
                        const int32_t *te_lab, size_t n_te, size_t *n_out);
/* cs->class_names from `names` (C strings, count C); EV_ERR_OOM naming `what`. */
ev_status ds_class_names(ev_class_set *cs, const char *const *names, int count, const char *what);
/* The shift pad of a sample resized to S: cs->crop_pad, or S/8 for an ImageFolder (whose
 * images have no stored size; see data.h). */
int ds_class_pad(const ev_class_set *cs, int S);

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
