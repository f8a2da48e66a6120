#!/usr/bin/python3
"""Build evonet's default salient-object segmentation dataset from Debian packages.

Run with Debian's interpreter (it has PIL and numpy):

    /usr/bin/python3 tools/make_dataset.py            # -> assets/data/default

Every sample is a composite: a photographic object cut-out with an alpha
channel (a Tux Paint "stamp") pasted onto a crop of a real photograph.  The
object's alpha, thresholded at 128, is the ground-truth mask.

Sources (fetched with `apt-get download` + unpacked with dpkg-deb, never
installed):
  objects      tuxpaint-stamps-default   usr/share/tuxpaint/stamps/**.png
  train/val bg tuxpaint-data             usr/share/tuxpaint/templates/*.jpg
               plasma-workspace-wallpapers usr/share/wallpapers/<W>/contents/images/*
  test bg      mate-backgrounds          usr/share/backgrounds/mate/nature/*.jpg

Output layout (generic "images/ + masks/ with the same stem"):
  OUT/{train,val,test}/images/<split>_NNNN.jpg   RGB, JPEG quality 90
  OUT/{train,val,test}/masks/<split>_NNNN.png    8-bit grayscale, values 0/255
  OUT/manifest.json                              provenance of every pair
  OUT/licenses/<package>.copyright               copyright files of the sources

Stamp rejection rules (applied in this order; the first rule that fires is the
reason that gets counted).  Thresholds are on the stamp at its native size;
"opaque" means alpha >= 128, "bbox" is the bounding box of the opaque pixels.
  not_png             SVG and other non-PNG stamps are skipped (PIL can't read SVG).
  mirror_duplicate    `<name>_mirror.png` when `<name>.png` exists: it is only the
                      horizontally mirrored copy of another stamp.
  no_alpha            no transparency: >= 99% of pixels opaque (or none opaque).
  tiny                bbox longer side < 64 px (icons, chess pieces, small sprites).
  rectangle           opaque area > 90% of the bbox (cards, signs, flags, tombstones).
  sparse_outline      opaque area < 15% of the bbox (line art, outlines, scattered
                      bits, wire-thin objects).
  low_colour_variance mean per-channel std of the opaque pixels < 12 (silhouettes,
                      solid glyphs).
  grayscale_template  single-channel (L/LA) stamps: Tux Paint tint/colour templates
                      (letters, outlined clothes, shapes) that get painted in the app.
  flat_colour_clipart > 30% of the non-clipped interior pixels have a 4-neighbour
                      gradient <= 2 levels.  Vector clip-art is flat; photographs
                      have texture and noise (clipped pure white/black pixels are
                      left out so over-exposed photos are not punished).
  dark_outline_clipart the 3-px rim of the object is much darker than its inside
                      (rim dark fraction - interior dark fraction > 0.45): the black
                      ink outline of drawings.
  too_elongated       even scaled to fill the frame the object covers < 12% of it
                      (opaque area / (bbox longer side)^2), so the 8% minimum area
                      cannot be met reliably (bassoons, syringes, spades).
  category            the package's own folder tells it is not a photo object:
                      any `cartoon/` folder, `symbols/` (letters, maths, money,
                      chess, shapes), `town/roadsigns/`, `town/flags/`.
  manual              a handful of stamps that pass the automatic rules but are
                      drawings, found by looking at contact sheets (MANUAL_REJECT).

Background rules: JPEG only (every PNG wallpaper in these packages is rendered
artwork; SVG cannot be read), shorter side >= 400 px, one file per picture (the
largest of the resolution variants; the smaller ones are symlinks anyway), for
the two wallpaper packages a vetted list of the wallpapers that are photographs
(PLASMA_PHOTOS; for mate-backgrounds the `nature/` folder - `abstract/` and
`desktop/` are illustrations), and no photo whose subject is a salient object
of its own (BG_DISTRACTORS: a lighthouse, a kite, a ladybird...), since it would
be unlabelled in the mask.

Splits: stamps are grouped (same folder + same first word of the file name,
e.g. gnu-baby/gnu-sitting/gnu-stand, or fireman200b/fireman240a) so
near-duplicate views of one object never straddle two splits; the groups are
shuffled with the seed and dealt out in proportion to --stamp-shares (4:1:1,
the proportions of the 400/100/100 counts the set was first built with), so the
training split can grow (the default is 1600: the same 176 objects and 28
backgrounds in four times as many placements, crops and scales) while val and
test stay exactly as they are.
Within a split every stamp is used about equally often.

Determinism: the output depends only on --seed, --size, the counts and the
package versions (and the Pillow build's resampling code).  Each sample has its
own RNG seeded from (seed, split, index).
"""

import argparse
import glob
import io
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

try:
    import numpy as np
    from PIL import Image, ImageOps
except ImportError as e:  # pragma: no cover
    sys.exit(f"error: {e}; run with /usr/bin/python3 (Debian's python3-pil and python3-numpy)")

Image.MAX_IMAGE_PIXELS = None  # 5640x3172 wallpapers trip the decompression-bomb warning

STAMP_PKG = "tuxpaint-stamps-default"
TEMPLATE_PKG = "tuxpaint-data"
PLASMA_PKG = "plasma-workspace-wallpapers"
MATE_PKG = "mate-backgrounds"
PACKAGES = [STAMP_PKG, TEMPLATE_PKG, PLASMA_PKG, MATE_PKG]

STAMP_ROOT = "usr/share/tuxpaint/stamps"
TEMPLATE_ROOT = "usr/share/tuxpaint/templates"
PLASMA_ROOT = "usr/share/wallpapers"
MATE_ROOT = "usr/share/backgrounds/mate"

# Only these members are unpacked from the .debs (the stamps package is mostly
# thousands of .ogg sound files we do not need).
WANTED_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".dat", "/copyright")

# --- stamp rule thresholds (see module docstring) ---
MIN_LONG_SIDE = 64
MAX_BBOX_FILL = 0.90
MIN_BBOX_FILL = 0.15
MIN_COLOUR_STD = 12.0
MAX_FLAT_FRACTION = 0.30
MAX_OUTLINE_CONTRAST = 0.45
MIN_REACHABLE_AREA = 0.12
CATEGORY_REJECT_PREFIXES = ("symbols/", "town/roadsigns/", "town/flags/")
MANUAL_REJECT = {
    # Visually reviewed with tuxpaint-stamps-default 2022.06.04-1: drawings
    # (pastel/painted) that are textured enough to pass the flat-colour rule.
    "seasonal/easter/bluebird.png": "drawing",
    "seasonal/easter/bunny-egg.png": "drawing",
    "seasonal/easter/bunny-head.png": "drawing",
    "seasonal/easter/bunny.png": "drawing",
    "seasonal/easter/butterfly.png": "drawing",
    "seasonal/easter/chick-hatched.png": "drawing",
    "seasonal/easter/chick-in-egg.png": "drawing",
    "seasonal/easter/chick.png": "drawing",
    "seasonal/easter/daffodil.png": "drawing",
    "seasonal/halloween/jackolantern_mean.png": "cartoon render",
    "seasonal/hanukkah/holiday_candle.png": "glow sprite, no solid object",
    "seasonal/newyears/confetti.png": "scattered pieces, no single object",
    "seasonal/newyears/fireworks.png": "glow sprite, no solid object",
    "seasonal/newyears/fireworks2.png": "glow sprite, no solid object",
}

# --- background rules ---
MIN_BG_SHORT_SIDE = 400
# Wallpapers in plasma-workspace-wallpapers that are photographs (the rest -
# Altai, Autumn, Canopee, Cascade, Cluster, Elarun, Flow, FlyingKonqui,
# Honeywave, IceCold, Kay, Kokkini, MilkyWay, Opal, PastelHills, Patak,
# SafeLanding, Shell, Volna - are paintings/renders).  Reviewed for 4:5.27.5-2.
PLASMA_PHOTOS = {
    "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
    "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "summer_1am",
}
MATE_PHOTO_DIRS = ("nature",)
# Photos whose subject is itself a salient object (it would sit unlabelled next
# to the pasted object and contradict the mask).  Close-ups that fill the frame
# with texture (FreshFlower, YellowFlower, jellyfish) are kept.
BG_DISTRACTORS = {
    PLASMA_PKG: {"Kite"},                                   # a kite in the sky
    TEMPLATE_PKG: {"lighthouse.jpg"},
    MATE_PKG: {"Aqua.jpg", "Garden.jpg", "LadyBird.jpg", "TwoWings.jpg"},
}

# --- composite parameters ---
MIN_AREA = 0.08
MAX_AREA = 0.45
BG_CROP_MIN = 0.35          # crop side as a fraction of the photo's shorter side
JPEG_QUALITY = 90


def log(msg):
    print(msg, flush=True)


def die(msg, code=2):
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


# ---------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------

def deb_field(deb, field):
    return subprocess.run(["dpkg-deb", "-f", deb, field], check=True,
                          capture_output=True, text=True).stdout.strip()


def fetch_package(pkg, cache):
    """Return (version, root dir of the unpacked package) for pkg.

    A .deb already in the cache is reused (so a cache pins the versions);
    otherwise `apt-get download` fetches the candidate version."""
    debs = sorted(glob.glob(os.path.join(cache, f"{pkg}_*.deb")))
    if not debs:
        try:
            r = subprocess.run(["apt-get", "download", pkg], cwd=cache,
                               capture_output=True, text=True)
        except FileNotFoundError:
            die(f"cannot download {pkg}: apt-get not found (needs a Debian/Ubuntu system)")
        debs = sorted(glob.glob(os.path.join(cache, f"{pkg}_*.deb")))
        if r.returncode != 0 or not debs:
            why = (r.stderr.strip().splitlines() or ["unknown failure"])[-1]
            die(f"cannot download {pkg} with 'apt-get download' ({why}); "
                f"try 'apt-get update' first")
    deb = debs[-1]
    try:
        version = deb_field(deb, "Version")
    except subprocess.CalledProcessError:
        die(f"{deb} is not a readable .deb (interrupted download?); delete it and rerun")
    root = os.path.join(cache, "x", f"{pkg}_{version}".replace(":", "%3a"))
    done = os.path.join(root, ".unpacked")
    if not os.path.exists(done):
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        log(f"  unpacking {os.path.basename(deb)}")
        p = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
        with tarfile.open(fileobj=p.stdout, mode="r|") as tf:
            for m in tf:
                if m.isfile() and m.name.lower().endswith(WANTED_SUFFIXES):
                    name = os.path.normpath(m.name)
                    if name.startswith("..") or os.path.isabs(name):
                        continue
                    dst = os.path.join(root, name)
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    with tf.extractfile(m) as src, open(dst, "wb") as out:
                        shutil.copyfileobj(src, out)
        if p.wait() != 0:
            die(f"dpkg-deb could not read {deb}")
        open(done, "w").close()
    return version, root


# ---------------------------------------------------------------------------
# Stamps
# ---------------------------------------------------------------------------

def erode(m, n=1):
    for _ in range(n):
        e = m.copy()
        e[:-1] &= m[1:]
        e[1:] &= m[:-1]
        e[:, :-1] &= m[:, 1:]
        e[:, 1:] &= m[:, :-1]
        m = e
    return m


def classify_stamp(root, rel):
    """Return (reason, stats); reason 'keep' for a usable stamp."""
    path = os.path.join(root, rel)
    if not rel.lower().endswith(".png"):
        return "not_png", {}
    if rel.endswith("_mirror.png") and os.path.exists(path[:-len("_mirror.png")] + ".png"):
        return "mirror_duplicate", {}
    im = Image.open(path)
    mode = im.mode
    A = np.asarray(im.convert("RGBA")).astype(np.int32)
    a, rgb = A[..., 3], A[..., :3]
    op = a >= 128
    n = int(op.sum())
    if (a >= 250).mean() >= 0.99 or n == 0:
        return "no_alpha", {}
    ys, xs = np.nonzero(op)
    bw, bh = int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)
    long_side = max(bw, bh)
    st = {"bbox_long": long_side, "fill": round(n / (bw * bh), 3)}
    if long_side < MIN_LONG_SIDE:
        return "tiny", st
    if st["fill"] > MAX_BBOX_FILL:
        return "rectangle", st
    if st["fill"] < MIN_BBOX_FILL:
        return "sparse_outline", st
    st["colour_std"] = round(float(rgb[op].std(axis=0).mean()), 1)
    if st["colour_std"] < MIN_COLOUR_STD:
        return "low_colour_variance", st
    if mode in ("L", "LA", "I", "I;16"):
        return "grayscale_template", st
    # flatness of the interior, ignoring clipped (pure white / black) pixels
    inner = erode(a == 255)
    mx = rgb.max(-1)
    inner &= (mx < 250) & (mx > 12)
    dx = np.zeros(a.shape, np.int32)
    dy = np.zeros(a.shape, np.int32)
    dx[:, :-1] = np.abs(rgb[:, 1:] - rgb[:, :-1]).max(-1)
    dy[:-1] = np.abs(rgb[1:] - rgb[:-1]).max(-1)
    g = np.maximum(dx, dy)[inner]
    st["flat"] = round(float((g <= 2).mean()), 3) if g.size else 1.0
    if st["flat"] > MAX_FLAT_FRACTION:
        return "flat_colour_clipart", st
    # dark ink outline: rim much darker than the inside
    core = erode(op, 3)
    rim = op & ~core
    dark = mx < 70
    rim_dark = float(dark[rim].mean()) if rim.any() else 0.0
    core_dark = float(dark[core].mean()) if core.any() else 0.0
    st["outline"] = round(rim_dark - core_dark, 3)
    if st["outline"] > MAX_OUTLINE_CONTRAST:
        return "dark_outline_clipart", st
    st["reachable_area"] = round(n / long_side ** 2, 3)
    if st["reachable_area"] < MIN_REACHABLE_AREA:
        return "too_elongated", st
    if "cartoon" in rel.split("/")[:-1] or rel.startswith(CATEGORY_REJECT_PREFIXES):
        return "category", st
    if rel in MANUAL_REJECT:
        return "manual", st
    return "keep", st


def stamp_group(rel):
    """Near-duplicate group key: folder + first alphabetic word of the name."""
    d, f = os.path.split(rel)
    stem = os.path.splitext(f)[0].lower()
    words = re.findall(r"[a-z]+", stem)
    return f"{d}/{words[0] if words else ''}"


def stamp_no_mirror(root, rel):
    dat = os.path.join(root, rel[:-4] + ".dat")
    if os.path.exists(dat):
        with open(dat, errors="replace") as f:
            return "nomirror" in f.read().split()
    return False


# ---------------------------------------------------------------------------
# Backgrounds
# ---------------------------------------------------------------------------

def list_backgrounds(pkg, root):
    """Return sorted list of (rel path, reason) for every candidate image."""
    out = []

    def consider(rel):
        full = os.path.join(root, rel)
        if not rel.lower().endswith((".jpg", ".jpeg")):
            return "not_jpeg"
        if set(rel.split("/")) & BG_DISTRACTORS.get(pkg, set()):
            return "salient_subject"
        w, h = Image.open(full).size
        if min(w, h) < MIN_BG_SHORT_SIDE:
            return "small"
        return "keep"

    if pkg == TEMPLATE_PKG:
        for f in sorted(os.listdir(os.path.join(root, TEMPLATE_ROOT))):
            rel = f"{TEMPLATE_ROOT}/{f}"
            out.append((rel, consider(rel)))
    elif pkg == PLASMA_PKG:
        for wp in sorted(os.listdir(os.path.join(root, PLASMA_ROOT))):
            imgdir = os.path.join(root, PLASMA_ROOT, wp, "contents", "images")
            if not os.path.isdir(imgdir):
                continue
            files = sorted(os.listdir(imgdir))
            best = max(files, key=lambda f: (math.prod(Image.open(os.path.join(imgdir, f)).size), f))
            for f in files:
                rel = f"{PLASMA_ROOT}/{wp}/contents/images/{f}"
                if f != best:
                    out.append((rel, "resolution_variant"))
                elif wp not in PLASMA_PHOTOS:
                    out.append((rel, "not_photo"))
                else:
                    out.append((rel, consider(rel)))
    elif pkg == MATE_PKG:
        base = os.path.join(root, MATE_ROOT)
        for sub in sorted(os.listdir(base)):
            if not os.path.isdir(os.path.join(base, sub)):
                continue
            files = sorted(os.listdir(os.path.join(base, sub)))
            # Elephants.jpg / Elephants_3840x2160.jpg: keep the largest per picture
            by_pic = {}
            for f in files:
                if f.lower().endswith((".jpg", ".jpeg", ".png", ".svg")):
                    key = re.sub(r"_\d+x\d+$", "", os.path.splitext(f)[0])
                    by_pic.setdefault(key, []).append(f)
            for key in sorted(by_pic):
                fs = by_pic[key]
                best = max(fs, key=lambda f: (math.prod(Image.open(os.path.join(base, sub, f)).size)
                                              if not f.endswith(".svg") else 0, f))
                for f in fs:
                    rel = f"{MATE_ROOT}/{sub}/{f}"
                    if f != best:
                        out.append((rel, "resolution_variant"))
                    elif sub not in MATE_PHOTO_DIRS:
                        out.append((rel, "not_photo"))
                    else:
                        out.append((rel, consider(rel)))
    return out


class BackgroundCache:
    """Decoded backgrounds, pre-shrunk so the shorter side is at most max_short."""

    def __init__(self, max_short):
        self.max_short = max_short
        self.cache = {}

    def get(self, full):
        if full not in self.cache:
            im = Image.open(full)
            im = ImageOps.exif_transpose(im).convert("RGB")
            w, h = im.size
            s = self.max_short / min(w, h)
            if s < 1:
                im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)
            self.cache[full] = (im, s if s < 1 else 1.0)
        return self.cache[full]


# ---------------------------------------------------------------------------
# Compositing
# ---------------------------------------------------------------------------

class Stamp:
    def __init__(self, root, rel):
        self.rel = rel
        im = Image.open(os.path.join(root, rel)).convert("RGBA")
        bbox = im.getchannel("A").getbbox()  # tight box of alpha > 0
        self.im = im.crop(bbox)
        a = np.asarray(self.im)[..., 3]
        self.opaque = int((a >= 128).sum())
        self.no_mirror = stamp_no_mirror(root, rel)


def composite(rng, size, stamp, bg_im, bg_scale):
    """Return (rgb uint8 HxWx3, mask uint8 HxW, info dict)."""
    # background: random square crop at a random scale, resized to size x size
    W, H = bg_im.size
    short = min(W, H)
    side = max(size, int(round(short * (BG_CROP_MIN + (1 - BG_CROP_MIN) * rng.random()))))
    side = min(side, short)
    cx = rng.randrange(W - side + 1)
    cy = rng.randrange(H - side + 1)
    bg = bg_im.crop((cx, cy, cx + side, cy + side)).resize((size, size), Image.LANCZOS)
    bgf = np.asarray(bg).astype(np.float32)

    obj = stamp.im
    flip = (not stamp.no_mirror) and rng.random() < 0.5
    if flip:
        obj = obj.transpose(Image.FLIP_LEFT_RIGHT)
    ow, oh = obj.size
    max_s = min(size / ow, size / oh)        # object must fit fully inside
    # largest area the object can cover while fully inside the frame; draw the
    # target area uniformly from what is reachable so elongated objects still
    # get varied scales instead of always being maximal
    hi = min(MAX_AREA, 0.97 * stamp.opaque * max_s * max_s / (size * size))
    hi = max(hi, MIN_AREA)
    for attempt in range(50):
        target = MIN_AREA + (hi - MIN_AREA) * rng.random()
        s = min(math.sqrt(target * size * size / stamp.opaque), max_s)
        nw, nh = max(1, min(size, round(ow * s))), max(1, min(size, round(oh * s)))
        # premultiplied alpha so transparent pixels' colours don't bleed in
        small = obj.convert("RGBa").resize((nw, nh), Image.LANCZOS)
        arr = np.asarray(small).astype(np.float32)
        alpha = arr[..., 3]
        area = float((alpha >= 128).sum()) / (size * size)
        if MIN_AREA <= area <= MAX_AREA:
            break
    else:
        return None
    x = rng.randrange(size - nw + 1)
    y = rng.randrange(size - nh + 1)
    out = bgf.copy()
    a = (alpha / 255.0)[..., None]
    out[y:y + nh, x:x + nw] = arr[..., :3] + out[y:y + nh, x:x + nw] * (1.0 - a)
    mask = np.zeros((size, size), np.uint8)
    mask[y:y + nh, x:x + nw] = np.where(alpha >= 128, 255, 0).astype(np.uint8)
    rgb = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    info = {
        "bg_crop_xywh": [round(cx / bg_scale), round(cy / bg_scale),
                         round(side / bg_scale), round(side / bg_scale)],
        "object_flipped": flip,
        "object_scale": round(nw / ow, 4),   # output px per stamp px
        "object_xywh": [x, y, nw, nh],
        "object_area": round(float((mask > 0).mean()), 4),
        "target_area": round(target, 4),
    }
    return rgb, mask, info


# ---------------------------------------------------------------------------

def split_stamps(stamps, counts, seed):
    """Deal near-duplicate groups of stamps to splits in proportion to counts (the shares)."""
    groups = {}
    for rel in stamps:
        groups.setdefault(stamp_group(rel), []).append(rel)
    keys = sorted(groups)
    random.Random(f"{seed}/stamp-split").shuffle(keys)
    total = sum(counts.values())
    want = {k: len(stamps) * v / total for k, v in counts.items() if v > 0}
    got = {k: 0 for k in want}
    out = {k: [] for k in counts}
    order = list(want)
    for key in keys:
        # the split that is furthest below its share (ties: train, val, test)
        k = max(order, key=lambda k: (want[k] - got[k]) / want[k])
        out[k].extend(sorted(groups[key]))
        got[k] += len(groups[key])
    for k in out:
        out[k].sort()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(here), "assets", "data", "default"),
                    help="output directory (default: assets/data/default)")
    ap.add_argument("--train", type=int, default=1600)
    ap.add_argument("--val", type=int, default=100)
    ap.add_argument("--test", type=int, default=100)
    ap.add_argument("--stamp-shares", default="4:1:1",
                    help="train:val:test shares of the objects (default 4:1:1); independent "
                         "of the image counts, so a larger --train keeps val and test as they are")
    ap.add_argument("--size", type=int, default=128, help="output images are SIZE x SIZE")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "evonet-dataset-cache"),
                    help="where the .debs are downloaded and unpacked "
                         "(default: /tmp/evonet-dataset-cache); reused between runs")
    args = ap.parse_args()
    counts = {"train": args.train, "val": args.val, "test": args.test}
    if min(counts.values()) < 0 or sum(counts.values()) == 0:
        die("image counts must be >= 0 and not all 0")
    try:
        shares = [float(x) for x in args.stamp_shares.split(":")]
        if len(shares) != 3 or min(shares) < 0:
            raise ValueError
    except ValueError:
        die("--stamp-shares must be three non-negative numbers, e.g. 4:1:1")
    shares = {k: (v if counts[k] else 0) for k, v in zip(("train", "val", "test"), shares)}
    if sum(shares.values()) == 0:
        die("--stamp-shares gives no objects to the splits that have images")
    if args.size < 32:
        die("--size must be >= 32")
    t0 = time.time()

    cache = os.path.abspath(args.cache)
    os.makedirs(cache, exist_ok=True)
    log(f"packages (cache {cache}):")
    versions, roots = {}, {}
    for pkg in PACKAGES:
        versions[pkg], roots[pkg] = fetch_package(pkg, cache)
        log(f"  {pkg} {versions[pkg]}")

    # ---- stamps ----
    sroot = os.path.join(roots[STAMP_PKG], STAMP_ROOT)
    rels = sorted(os.path.relpath(os.path.join(d, f), sroot).replace(os.sep, "/")
                  for d, _, fs in os.walk(sroot) for f in fs
                  if f.lower().endswith((".png", ".svg")))
    reasons = {}
    stamp_stats = {}
    for rel in rels:
        reason, st = classify_stamp(sroot, rel)
        reasons.setdefault(reason, []).append(rel)
        stamp_stats[rel] = st
    kept = reasons.get("keep", [])
    order = ["keep", "not_png", "mirror_duplicate", "no_alpha", "tiny", "rectangle",
             "sparse_outline", "low_colour_variance", "grayscale_template",
             "flat_colour_clipart", "dark_outline_clipart", "too_elongated",
             "category", "manual"]
    log(f"stamps: {len(rels)} files, {len(kept)} kept, {len(rels) - len(kept)} rejected")
    for r in order:
        if r != "keep":
            log(f"  rejected {r:22s} {len(reasons.get(r, [])):4d}")
    if not kept:
        die("no usable stamps")

    # ---- backgrounds ----
    bgs = {"trainval": [], "test": []}
    bg_reasons = {}
    for pkg, which in ((TEMPLATE_PKG, "trainval"), (PLASMA_PKG, "trainval"), (MATE_PKG, "test")):
        for rel, reason in list_backgrounds(pkg, roots[pkg]):
            bg_reasons.setdefault(f"{pkg}:{reason}", []).append(rel)
            if reason == "keep":
                bgs[which].append((pkg, rel))
    log(f"backgrounds: {len(bgs['trainval'])} train/val, {len(bgs['test'])} test")
    for k in sorted(bg_reasons):
        log(f"  {k:45s} {len(bg_reasons[k]):4d}")
    for which, need in (("trainval", counts["train"] + counts["val"]), ("test", counts["test"])):
        if need and not bgs[which]:
            die(f"no usable {which} backgrounds")

    # ---- splits ----
    splits = split_stamps(kept, shares, args.seed)
    for k in counts:
        if counts[k] and not splits[k]:
            die(f"not enough stamps to give the {k} split any")
        log(f"  {k:5s}: {counts[k]:5d} images from {len(splits[k]):3d} stamps "
            f"({len({stamp_group(r) for r in splits[k]})} groups)")

    # ---- output to a temp dir next to OUT, renamed into place at the end ----
    out = os.path.abspath(args.out)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-", dir=parent)
    try:
        bgcache = BackgroundCache(max(512, 6 * args.size))
        stamp_objs = {}
        records = []
        for split in ("train", "val", "test"):
            n = counts[split]
            if n == 0:
                continue
            os.makedirs(os.path.join(tmp, split, "images"))
            os.makedirs(os.path.join(tmp, split, "masks"))
            pool_bg = bgs["test" if split == "test" else "trainval"]
            # balanced use: walk through freshly shuffled copies of the lists
            seq_rng = random.Random(f"{args.seed}/{split}/sequence")
            st_seq, bg_seq = [], []
            while len(st_seq) < n:
                s = list(splits[split]); seq_rng.shuffle(s); st_seq += s
            while len(bg_seq) < n:
                b = list(pool_bg); seq_rng.shuffle(b); bg_seq += b
            width = max(4, len(str(n)))
            for i in range(n):
                rng = random.Random(f"{args.seed}/{split}/{i}")
                rel = st_seq[i]
                if rel not in stamp_objs:
                    stamp_objs[rel] = Stamp(sroot, rel)
                bpkg, brel = bg_seq[i]
                bg_im, bg_scale = bgcache.get(os.path.join(roots[bpkg], brel))
                res = composite(rng, args.size, stamp_objs[rel], bg_im, bg_scale)
                if res is None:
                    die(f"could not place {rel} within {MIN_AREA}-{MAX_AREA} of the image")
                rgb, mask, info = res
                stem = f"{split}_{i + 1:0{width}d}"
                Image.fromarray(rgb, "RGB").save(os.path.join(tmp, split, "images", stem + ".jpg"),
                                                 quality=JPEG_QUALITY)
                Image.fromarray(mask, "L").save(os.path.join(tmp, split, "masks", stem + ".png"),
                                                optimize=True)
                records.append({
                    "split": split, "stem": stem,
                    "image": f"{split}/images/{stem}.jpg", "mask": f"{split}/masks/{stem}.png",
                    "object": {"package": STAMP_PKG, "version": versions[STAMP_PKG],
                               "path": f"{STAMP_ROOT}/{rel}"},
                    "background": {"package": bpkg, "version": versions[bpkg], "path": brel},
                    **info,
                })
            log(f"  wrote {n} {split} pairs")

        # licences of the sources travel with the data
        os.makedirs(os.path.join(tmp, "licenses"))
        for pkg in PACKAGES:
            src = os.path.join(roots[pkg], "usr/share/doc", pkg, "copyright")
            if os.path.exists(src):
                shutil.copyfile(src, os.path.join(tmp, "licenses", f"{pkg}.copyright"))

        manifest = {
            "description": "Composites of Tux Paint photo stamps (alpha = mask) on photographs; "
                           "built by tools/make_dataset.py",
            "command": " ".join(["/usr/bin/python3", "tools/make_dataset.py"] + sys.argv[1:]),
            "argv": sys.argv[1:],
            "seed": args.seed, "size": args.size, "counts": counts,
            "mask_threshold": 128, "object_area_range": [MIN_AREA, MAX_AREA],
            "jpeg_quality": JPEG_QUALITY,
            "packages": versions,
            "pillow": Image.__version__, "numpy": np.__version__,
            "stamps": {
                "total": len(rels), "kept": len(kept),
                "rejected": {r: len(reasons.get(r, [])) for r in order if r != "keep"},
                "splits": {k: [f"{STAMP_ROOT}/{r}" for r in v] for k, v in splits.items()},
                "rejected_files": {r: reasons.get(r, []) for r in order if r != "keep"},
            },
            "backgrounds": {
                "trainval": [f"{p}:{r}" for p, r in bgs["trainval"]],
                "test": [f"{p}:{r}" for p, r in bgs["test"]],
            },
            "pairs": records,
        }
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")

        os.chmod(tmp, 0o755)
        old = None
        if os.path.lexists(out):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.old-", dir=parent)
            os.rename(out, os.path.join(old, "d"))
        os.rename(tmp, out)
        tmp = None
        if old:
            shutil.rmtree(old)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    nbytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    log(f"done: {out} ({nbytes / 1e6:.2f} MB, {sum(counts.values())} pairs) in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
