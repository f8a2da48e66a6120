/* Datasets of (image, mask) pairs, augmentation, batches and the prefetching loader.
 *
 * Batch format (what the network consumes):
 *   images: float32 (N, S, S, 4), NHWC, channels R,G,B,0 — the 4th channel is padding
 *           (always 0) so a pixel is one 16-byte vector; R,G,B are (v/255 - mean) / std
 *           with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
 *   masks:  float32 (N, S, S) in [0, 1], bilinearly resized, NOT thresholded (consumers
 *           threshold at 0.5, the same as > 128 on the uint8 mask).
 *   index:  (N) the dataset index of each sample (pairs[index[i]]), for naming outputs.
 * Samples past `n` in a partial batch are zeros.
 *
 * Typical training use:
 *   ev_dataset ds; ev_dataset_open("assets/data/default", "train", EV_LAYOUT_AUTO, &ds);
 *   ev_loader *ld; ev_loader_open(&ds, &(ev_loader_options){.batch = 8, .size = 224,
 *                  .augment = 1, .shuffle = 1, .drop_last = 1, .seed = 7}, &ld);
 *   for (epoch...) { const ev_batch *b; while (ev_loader_next(ld, &b) == EV_OK && b) ...; }
 *   ev_loader_close(ld); ev_dataset_free(&ds);
 */
#ifndef EVONET_DATA_H
#define EVONET_DATA_H
#include <stddef.h>
#include <stdint.h>
#include "evonet/image.h"
#include "evonet/status.h"

/* ---------------- datasets ---------------- */
typedef enum {
  EV_LAYOUT_AUTO = 0,
  EV_LAYOUT_GENERIC, /* [ROOT/<split>/]images/<stem>.{jpg,jpeg,png,bmp} + masks/<stem>.png */
  EV_LAYOUT_MSRAB,   /* ROOT/<stem>.jpg + ROOT/<stem>.png, lists train_cvpr2013.txt ... */
  EV_LAYOUT_HKUIS,   /* ROOT/imgs/ + ROOT/gt/, lists trainImgSet.txt ... */
  EV_LAYOUT_DUTS,    /* ROOT/[DUTS-TR/]DUTS-TR-Image/ + DUTS-TR-Mask/ (TE for test) */
  /* classification sets (labelled images; see "classification sets" below) */
  EV_LAYOUT_IDX,         /* MNIST / Fashion-MNIST IDX files: ROOT/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] */
  EV_LAYOUT_CIFAR10,     /* CIFAR-10 binary batches: ROOT/[cifar-10-batches-bin/]data_batch_{1..5}.bin, test_batch.bin */
  EV_LAYOUT_IMAGEFOLDER, /* torchvision's ImageFolder: ROOT/<split>/<class>/<image> */
} ev_layout;

/* "auto", "generic", "msra-b", "hku-is", "duts", "idx", "cifar10", "imagefolder" (case and
 * '-'/'_' insensitive); EV_ERR_ARG naming the unknown name otherwise. */
ev_status ev_layout_from_name(const char *name, ev_layout *out);
const char *ev_layout_name(ev_layout l);

typedef struct {
  char *stem;  /* file name without folder and extension; pairs are sorted by it */
  char *image; /* path of the RGB image */
  char *mask;  /* path of the mask (.png) */
} ev_pair;

/* ---------------- classification sets ----------------
 * Labelled images for per-image classification. IDX and CIFAR-10 files are read whole into
 * memory (uint8, 47 MB for Fashion-MNIST's 60,000 training images); an ImageFolder keeps
 * paths and decodes per sample (in the loader's threads, like the saliency pairs).
 *
 * Splits: IDX and CIFAR-10 ship a training file and a test file; "val" is the last
 * 1/12 of the training file (5,000 of Fashion-MNIST's 60,000, 4,166 of CIFAR's 50,000 ->
 * exactly floor(n/12)), "train" the rest, "test" the test file, "all" train + val + test in
 * that order. ImageFolder: ROOT/train, ROOT/val (or ROOT/valid), ROOT/test folders; the
 * classes are the sorted subfolder names of ROOT/train (of the split itself when ROOT has no
 * train folder); a split's subfolder that is not a class, or an empty class folder, is an
 * error naming it.
 * Normalisation: x = (v/255 - mean[c]) / std[c] with mean/std per channel over ALL images of
 * the training file (IDX, CIFAR: every split normalised alike, whatever split is opened);
 * ImageFolder uses the ImageNet statistics.
 * Errors (one line naming the file): a wrong magic number, a truncated file or one with
 * bytes past its end, image and label files of different counts, a label outside the
 * classes (naming the sample), a CIFAR file whose size is not a whole number of records. */
typedef struct {
  int classes;           /* C >= 2 */
  char **class_names;    /* (C) "0".."9" for IDX, CIFAR-10's names, ImageFolder's folders */
  int h, w;              /* stored image size (IDX 28x28, CIFAR 32x32); 0 for ImageFolder */
  int channels;          /* 1 (IDX: grey) or 3 (RGB) */
  uint8_t *pixels;       /* (n, h, w, channels) HWC, or NULL (ImageFolder) */
  char **paths;          /* ImageFolder: (n) image paths sorted by class then name; else NULL */
  int32_t *labels;       /* (n) in [0, C) */
  float mean[3], std[3]; /* normalisation per channel (first `channels` used) */
  int crop_pad;          /* augmentation: random crop of the image padded by this (IDX 2, CIFAR 4); ImageFolder:
                          * 0 here, as its images have no stored size: batches (ev_batch_load, the loader)
                          * draw its shift with a pad of S/8 of their size S */
  int flip;              /* augmentation: horizontal flips allowed (Fashion-MNIST, CIFAR-10, ImageFolder;
                            not other IDX sets: digits do not mirror) */
  char source[64];       /* what was read, for reports: "fashion-mnist", "mnist", "idx", "cifar10", "imagefolder" */
} ev_class_set;

typedef struct {
  ev_layout layout; /* the layout found (never AUTO) */
  size_t n;
  ev_pair *pairs; /* (n), sorted by stem; NULL for a classification set */
  ev_class_set *cls; /* classification sets: the labelled images (n); NULL for saliency pairs */
} ev_dataset;

/* Whether a dataset holds labelled images (classification) rather than image/mask pairs. */
static inline int ev_dataset_is_classes(const ev_dataset *ds) { return ds->cls != NULL; }

/* Lists the pairs of one split. split: "train", "val" (or "valid"), "test", or NULL/""/
 * "all" for every pair. Splits come from, per layout:
 *   generic: ROOT/<split>/images + masks if that folder exists, else ROOT/images + masks
 *            filtered by ROOT/<split>.txt when that list exists;
 *   MSRA-B:  ROOT/{train,valid,test}_cvpr2013.txt or ROOT/{train,val,test}.txt;
 *   HKU-IS:  ROOT/{train,val,test}ImgSet.txt or ROOT/{train,val,test}.txt;
 *   DUTS:    train = DUTS-TR, test = DUTS-TE, all = both; val is refused (DUTS has none).
 * A list holds one stem or file name per line. Where a layout has no list for the split,
 * the whole folder is the split (so a folder without lists can still be evaluated).
 * Errors (one sentence naming the path): a missing folder, or a root that is a file or a
 * broken link (EV_ERR_IO, saying which); an unknown layout or split (EV_ERR_ARG); no
 * pairs, an image without its mask (or whose mask is a broken link or a folder), a listed
 * stem without an image (EV_ERR_FORMAT). Images are not read here: see ev_dataset_check. */
ev_status ev_dataset_open(const char *root, const char *split, ev_layout layout,
                          ev_dataset *out);
/* Where a short dataset name points: "fashion-mnist" -> the Debian package's folder
 * (/usr/share/datasets/fashion-mnist, package dataset-fashion-mnist), "mnist" -> the same
 * for a local MNIST copy (/usr/share/datasets/mnist); any other root is returned unchanged.
 * ev_dataset_open calls it, so `--data fashion-mnist` is enough. A known name whose folder is
 * missing fails with the package to install (EV_ERR_IO). */
ev_status ev_dataset_resolve(const char *root, char *buf, size_t cap, const char **out);
/* Opens every image and mask and reads its header (ev_image_info: no decoding), in pair
 * order, stopping at the first bad file with one sentence naming it: EV_ERR_IO for a file
 * that is missing, unreadable, not a regular file or a broken link; EV_ERR_FORMAT for a
 * corrupt header, a truncated file, or a mask whose size differs from its image (naming
 * both sizes). Cheap: run it before training so a bad file fails in seconds, not in a
 * later epoch (or never, when it falls in a dropped last batch). */
ev_status ev_dataset_check(const ev_dataset *ds);
void ev_dataset_free(ev_dataset *ds);

/* ---------------- one sample ---------------- */
/* Augmentation of one sample: crop box of side `scale` × (image side), placed at
 * (ox, oy) ∈ [0,1]² of the free range, then resized to S×S, then mirrored if `flip`;
 * then a colour change per pixel (0..255 RGB, before normalisation): chroma c = rgb - grey
 * (grey = mean of r, g, b) turned by `hue` about the grey axis and scaled by `sat`, then
 * v = ((grey + c' - 128) * contrast + 128) * bright, clamped to 0..255. The background
 * photographs of a test set can be of colours the training set never shows; the colour
 * change makes the network look at the object's boundary and texture instead. */
typedef struct {
  float scale;  /* 0.75..1 when drawn; 1 = whole image */
  float ox, oy; /* box origin = (ox * (w - scale*w), oy * (h - scale*h)) */
  int flip;     /* horizontal mirror after resizing */
  float hue;    /* radians, -pi/6..pi/6 when drawn */
  float sat, contrast, bright; /* 0.6..1.4, 0.75..1.25, 0.75..1.25 when drawn; 1 = none */
} ev_aug;

#define EV_AUG_NONE \
  ((ev_aug){.scale = 1.0f, .ox = 0.0f, .oy = 0.0f, .flip = 0, .hue = 0.0f, .sat = 1.0f, .contrast = 1.0f, .bright = 1.0f})

/* Deterministic augmentation of dataset sample `index` in `epoch`: the same triple gives
 * the same crop, flip and colours on every run, so a resumed run sees the same data. */
ev_aug ev_aug_draw(uint64_t seed, int64_t epoch, size_t index);

/* Normalised network input from an RGB image: x (S, S, 4) as in the batch format.
 * aug NULL = whole image, no flip. */
void ev_input_from_image(const ev_image *rgb, int S, const ev_aug *aug, float *x);
/* Mask in [0,1] from a gray image: m (S, S). */
void ev_mask_from_image(const ev_image *gray, int S, const ev_aug *aug, float *m);

/* Decodes pair p and fills x (S, S, 4) normalised and m (S, S) (m may be NULL).
 * EV_ERR_FORMAT naming the file if a file doesn't decode or the sizes differ. */
ev_status ev_sample_load(const ev_pair *p, int S, const ev_aug *aug, float *x, float *m);
/* The same pair for figures: un-normalised RGB rgb (S, S, 3) uint8 (rounded), and the
 * mask m (S, S) in [0,1] (m may be NULL). No augmentation. */
ev_status ev_sample_load_rgb8(const ev_pair *p, int S, uint8_t *rgb, float *m);

/* Classification augmentation: the S×S input shifted by (dx, dy) pixels (a random crop of
 * the image padded by crop_pad on each side with zero-valued pixels, i.e. value 0 before
 * normalisation) and mirrored if flip. Drawn as ev_aug_draw's hash h = mix(mix(mix(seed) ^
 * epoch) ^ index): dx = mix(h ^ 11) % (2 pad + 1) - pad, dy = mix(h ^ 12) % (2 pad + 1) - pad,
 * flip = flip_allowed ? mix(h ^ 13) >> 63 : 0 (mix = splitmix64's finaliser, ds_mix). */
typedef struct {
  int dx, dy, flip;
} ev_class_aug;
#define EV_CLASS_AUG_NONE ((ev_class_aug){0, 0, 0})
ev_class_aug ev_class_aug_draw(const ev_class_set *cs, uint64_t seed, int64_t epoch, size_t index);
/* Sample i as network input x (S, S, 4), channels past cs->channels zero: the image resized
 * to S×S (bilinear, ev_resample_u8, when its size differs; ImageFolder images are decoded and
 * resized here), then out(y, x) = in(y + dy, x + dx) (0 outside), then mirrored if flip, then
 * normalised. Writes the label to *label. EV_ERR_FORMAT naming the file if an image does not
 * decode. */
ev_status ev_class_sample(const ev_class_set *cs, size_t i, int S, const ev_class_aug *aug, float *x,
                          int32_t *label);
/* The same image for figures: un-normalised (S, S, 3) uint8, grey repeated, no augmentation. */
ev_status ev_class_sample_rgb8(const ev_class_set *cs, size_t i, int S, uint8_t *rgb);

/* ---------------- batches ---------------- */
typedef struct {
  int n;          /* real samples in this batch (< cap only for a kept last batch) */
  int cap;        /* N, the batch size */
  int size;       /* S */
  int64_t epoch;  /* which epoch and which batch of it */
  size_t step;
  float *images;  /* (N, S, S, 4) */
  float *masks;   /* (N, S, S); saliency pairs */
  int32_t *labels; /* (N) class indices; classification sets (past n: 0) */
  size_t *index;  /* (N) dataset indices; past n: 0 */
} ev_batch;

ev_status ev_batch_alloc(ev_batch *b, int cap, int size);
void ev_batch_free(ev_batch *b);

typedef struct {
  int batch;           /* N >= 1 */
  int size;            /* S >= 1: samples are resized to S×S */
  int augment;         /* random crop + flip from ev_aug_draw (training); 0 for eval */
  int shuffle;         /* epoch order shuffled from (seed, epoch); 0: dataset order */
  int drop_last;       /* 1: drop the last partial batch (training); 0: keep it (eval) */
  uint64_t seed;
  int64_t first_epoch; /* epoch of the loader's first batch (resume) */
  int threads;         /* decoding threads; 0: 2 */
  int depth;           /* batches decoded ahead; 0: threads + 1 */
} ev_loader_options;

/* Batches per epoch: n/N rounded down (drop_last) or up. */
size_t ev_batches_per_epoch(const ev_dataset *ds, const ev_loader_options *o);
/* The epoch's sample order: (n) a permutation of 0..n-1 (identity without shuffle). */
void ev_epoch_order(size_t n, uint64_t seed, int64_t epoch, int shuffle, size_t *order);
/* Loads batch `step` of `epoch` directly, in the calling thread: exactly what the loader
 * yields for the same options. b must be allocated with cap = o->batch, size = o->size. */
ev_status ev_batch_load(const ev_dataset *ds, const ev_loader_options *o, int64_t epoch,
                        size_t step, ev_batch *b);

/* ---------------- prefetching loader ---------------- */
/* Background threads decode the next batches while the caller trains on the current one.
 * Epochs follow each other from first_epoch on. ev_loader_next gives the next batch,
 * valid until the next call, or *out = NULL once at the end of each epoch (the call after
 * that starts the next epoch). An error in a decoding thread (e.g. a corrupt image) is
 * returned by the ev_loader_next that reaches that batch, with the thread's message, and
 * by every call after it. `ds` must outlive the loader. */
typedef struct ev_loader ev_loader;

ev_status ev_loader_open(const ev_dataset *ds, const ev_loader_options *o, ev_loader **out);
ev_status ev_loader_next(ev_loader *ld, const ev_batch **out);
/* Stops and joins the threads (mid-epoch is fine) and frees everything. NULL is a no-op. */
void ev_loader_close(ev_loader *ld);
#endif
