#!/bin/sh
# tools/torch_peer.py against evonet on classification: the shipped specs' JSON (byte for
# byte) and He init (bit for bit); the batches of IDX (gzip and raw), CIFAR-10 and ImageFolder
# sets, bit for bit, as ev_batch_load makes them (order, shift/flip draws, resizing,
# normalisation statistics, labels); evaluation of a BN network (evonet eval vs peer eval);
# then LeNet-5 trained by both from the same initial weights on a generated IDX set.
#   tests/test_torch_peer_classes.sh [BUILD_DIR]   (default: $EVONET_BINARY_DIR or ./build)
# Exit 0 pass, 1 fail, 77 skip (no Debian python3 with torch, or no libevonet.a / evonet).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${EVONET_BINARY_DIR:-$SRC/build}}
[ -d "$BUILD" ] && BUILD=$(cd "$BUILD" && pwd)
PY=/usr/bin/python3
PEER="$PY $SRC/tools/torch_peer.py"
EVONET=$BUILD/evonet
$PY -c "import torch, numpy, PIL" 2>/dev/null || { echo "skip: $PY lacks torch/numpy/PIL"; exit 77; }
[ -f "$BUILD/libevonet.a" ] && [ -x "$EVONET" ] || { echo "skip: no $BUILD/libevonet.a or $EVONET"; exit 77; }
cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt" 2>/dev/null; }
CJSON=$(cache CJSON_LIBRARY); [ -n "$CJSON" ] || CJSON=-lcjson
JPEG=$(cache JPEG_LIBRARY_RELEASE); [ -n "$JPEG" ] || JPEG=-ljpeg
ZLIB=$(cache ZLIB_LIBRARY_RELEASE); [ -n "$ZLIB" ] || ZLIB=-lz
CC=$(cache CMAKE_C_COMPILER)
[ -n "$CC" ] && command -v "$CC" > /dev/null || CC=cc
SAN=$(cache EVONET_SANITIZE)
SANFLAGS=
[ -z "$SAN" ] || SANFLAGS="-fsanitize=$SAN -fno-omit-frame-pointer"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMP_NUM_THREADS=1 SRC

# ---------------------------------------------------------------- the C side's answers
cat > "$T/check.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "evonet/data.h"
#include "evonet/io.h"
#include "evonet/net.h"
#include "evonet/weights.h"

static int die(void) { fprintf(stderr, "check: %s\n", ev_last_error()); return 1; }

static int read_spec(const char *path, ev_net_spec *s) {
  void *data;
  size_t n;
  if (ev_read_file(path, &data, &n) != EV_OK) return 1;
  char *txt = realloc(data, n + 1);
  if (!txt) return 1;
  txt[n] = 0;
  ev_status st = ev_net_from_json(txt, s);
  free(txt);
  return st != EV_OK || ev_net_infer_channels(s) != EV_OK;
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "spec")) { /* spec FILE: ev_net_to_json of a description */
    ev_net_spec s;
    if (read_spec(argv[2], &s)) return die();
    char *j = ev_net_to_json(&s);
    printf("%s\n", j);
    free(j), ev_net_free(&s);
    return 0;
  }
  if (argc >= 5 && !strcmp(argv[1], "he")) { /* he FILE SEED OUT: ev_weights_init_he, saved */
    ev_net_spec s;
    ev_net_weights w;
    if (read_spec(argv[2], &s) || ev_weights_alloc(&s, &w) != EV_OK) return die();
    ev_weights_init_he(&w, strtoull(argv[3], NULL, 10));
    if (ev_weights_save(argv[4], &w, NULL, 0) != EV_OK) return die();
    ev_weights_free(&w), ev_net_free(&s);
    return 0;
  }
  if (argc >= 13 && !strcmp(argv[1], "cls")) { /* cls DATA SPLIT S B SEED EPOCH STEP AUG SHUFFLE DROP OUT */
    ev_dataset ds;
    if (ev_dataset_open(argv[2], argv[3], EV_LAYOUT_AUTO, &ds) != EV_OK) return die();
    const ev_class_set *cs = ds.cls;
    if (!cs) return fprintf(stderr, "check: not a classification set\n"), 1;
    ev_loader_options o = {.batch = atoi(argv[5]), .size = atoi(argv[4]), .augment = atoi(argv[9]),
                           .shuffle = atoi(argv[10]), .drop_last = atoi(argv[11]),
                           .seed = strtoull(argv[6], NULL, 10)};
    ev_batch b;
    if (ev_batch_alloc(&b, o.batch, o.size) != EV_OK ||
        ev_batch_load(&ds, &o, atoll(argv[7]), (size_t)atoll(argv[8]), &b) != EV_OK) return die();
    FILE *f = fopen(argv[12], "wb");
    if (!f) return 1;
    size_t px = (size_t)o.batch * o.size * o.size;
    fwrite(b.images, 4, px * 4, f);
    fwrite(b.labels, 4, (size_t)o.batch, f);
    for (int i = 0; i < o.batch; i++) {
      long long v = (long long)b.index[i];
      fwrite(&v, 8, 1, f);
    }
    fclose(f);
    printf("{\"n\": %zu, \"batch_n\": %d, \"channels\": %d, \"crop_pad\": %d, \"flip\": %d, \"source\": \"%s\", "
           "\"mean\": [%.9g, %.9g, %.9g], \"std\": [%.9g, %.9g, %.9g], \"names\": [",
           ds.n, b.n, cs->channels, cs->crop_pad, cs->flip, cs->source, cs->mean[0], cs->mean[1],
           cs->mean[2], cs->std[0], cs->std[1], cs->std[2]);
    for (int c = 0; c < cs->classes; c++) printf("%s\"%s\"", c ? ", " : "", cs->class_names[c]);
    printf("]}\n");
    ev_batch_free(&b), ev_dataset_free(&ds);
    return 0;
  }
  fprintf(stderr, "usage: check spec|he|cls ...\n");
  return 2;
}
EOF
"$CC" -O2 -std=c11 $SANFLAGS -I"$SRC/include" "$T/check.c" "$BUILD/libevonet.a" $CJSON $JPEG $ZLIB -lm -ldl -lpthread \
  -o "$T/check" || fail "cannot build the C helper against $BUILD/libevonet.a"

# ---------------------------------------------------------------- tiny datasets
cd "$T"
$PY - <<'EOF' || fail "writing the datasets"
import gzip, os
import numpy as np
from PIL import Image
rng = np.random.default_rng(5)
# IDX: 10 classes, each a fixed random template plus noise, learnable in two epochs;
# training file gzip (1,200 images: 1,100 train + 100 val), test file raw (200)
tmpl = rng.random((10, 28, 28)) < 0.25
def idx(n):
    lab = rng.integers(0, 10, n).astype(np.uint8)
    return np.clip(tmpl[lab] * 160.0 + rng.normal(50, 50, (n, 28, 28)), 0, 255).astype(np.uint8), lab
def hdr(magic, *dims):
    return b"".join(int(v).to_bytes(4, "big") for v in (magic,) + dims)
os.makedirs("idx")
img, lab = idx(1200)
with gzip.open("idx/train-images-idx3-ubyte.gz", "wb") as f: f.write(hdr(0x803, 1200, 28, 28) + img.tobytes())
with gzip.open("idx/train-labels-idx1-ubyte.gz", "wb") as f: f.write(hdr(0x801, 1200) + lab.tobytes())
img, lab = idx(200)
open("idx/t10k-images-idx3-ubyte", "wb").write(hdr(0x803, 200, 28, 28) + img.tobytes())
open("idx/t10k-labels-idx1-ubyte", "wb").write(hdr(0x801, 200) + lab.tobytes())
# CIFAR-10: five training batches of 12 random records, a test batch of 10, in the archive's
# subfolder, with a batches.meta.txt of other names (trailing spaces and blank lines)
d = "cifar/cifar-10-batches-bin"
os.makedirs(d)
def rec(n):
    return np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 256, (n, 3072))], 1).astype(np.uint8).tobytes()
for b in range(1, 6): open(f"{d}/data_batch_{b}.bin", "wb").write(rec(12))
open(f"{d}/test_batch.bin", "wb").write(rec(10))
open(f"{d}/batches.meta.txt", "w").write("\n".join(f"thing {c} " for c in range(10)) + "\n\n")
# ImageFolder: PNGs of random sizes, grey and RGB, class folders made out of order
for sp, n in (("train", 5), ("val", 2), ("test", 3)):
    for c in ("b", "a", "c"):
        os.makedirs(f"folder/{sp}/{c}")
        for i in range(n):
            w, h = int(rng.integers(9, 41)), int(rng.integers(9, 41))
            a = rng.integers(0, 256, (h, w, 3) if i % 2 else (h, w)).astype(np.uint8)
            Image.fromarray(a).save(f"folder/{sp}/{c}/im{i}.png")
EOF

# ---------------------------------------------------------------- formats and batches
SRC="$SRC" $PY - <<'EOF' || fail "cross-checks against libevonet"
import json, os, subprocess, sys
import numpy as np, torch
sys.path.insert(0, os.path.join(os.environ["SRC"], "tools"))
import torch_common as tc
torch.set_num_threads(1)
C = lambda *a: subprocess.check_output(["./check"] + [str(x) for x in a]).decode()
bad = []
archs = os.path.join(os.environ["SRC"], "assets", "archs")
# the shipped specs: ev_net_to_json byte for byte (act folded into relu, fc k found), and
# cifar_vgg11 without its input size (its fc after gap needs none: k = 1)
a = json.load(open(os.path.join(archs, "cifar_vgg11.json")))
del a["input"]["size"]
json.dump(a, open("nosize.json", "w"))
for name in ("lenet5", "fmnist_cnn", "fmnist_vgg", "cifar_vgg11", "nosize"):
    path = os.path.join(archs, name + ".json") if name != "nosize" else "nosize.json"
    if tc.arch_json(tc.normalize_arch(json.load(open(path)))) != C("spec", path).strip():
        bad.append(f"{name}: architecture JSON differs from ev_net_to_json")
# He init bit for bit (fc layers, BN)
for name, seed in (("lenet5", 7), ("fmnist_cnn", 12345678901234567)):
    path = os.path.join(archs, name + ".json")
    C("he", path, seed, "he.st")
    arch = tc.normalize_arch(json.load(open(path)))
    a, b = tc.Net(arch), tc.Net(arch)
    tc.init_he(a, seed)
    tc.load_weights(b, "he.st")
    n = sum(int((x != y).sum()) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    if n:
        bad.append(f"{name}: He init: {n} values differ from ev_weights_init_he")
# batches: ev_batch_load against ClassDataset.batches, exactly (order, labels, the shift and
# flip draws, bilinear resizing, per-channel statistics and the float normalisation)
cases = (("idx", "train", 28, 32, 1, 0, 0, 1, 1, 1), ("idx", "train", 28, 16, 9, 3, 40, 1, 1, 1),
         ("idx", "val", 32, 16, 3, 1, 2, 1, 1, 1), ("idx", "test", 28, 64, 1, 0, 3, 0, 0, 0),
         ("cifar", "train", 32, 8, 3, 1, 2, 1, 1, 1), ("cifar", "all", 24, 8, 3, 1, 8, 1, 1, 0),
         ("folder", "train", 24, 4, 3, 1, 2, 1, 1, 1), ("folder", "val", 16, 4, 3, 1, 1, 1, 1, 0),
         ("folder", "test", 40, 9, 0, 0, 0, 0, 0, 0))
for data, split, S, B, seed, epoch, step, aug, shuf, drop in cases:
    what = f"{data} {split} S {S} seed {seed} epoch {epoch} batch {step}"
    meta = json.loads(C("cls", data, split, S, B, seed, epoch, step, aug, shuf, drop, "b.bin"))
    raw, px = open("b.bin", "rb").read(), B * S * S
    ci = np.frombuffer(raw[:px * 16], np.float32).reshape(B, S, S, 4)
    cl = np.frombuffer(raw[px * 16:px * 16 + 4 * B], np.int32)
    cidx = list(np.frombuffer(raw[px * 16 + 4 * B:], np.int64))
    ds = tc.ClassDataset(data, split, S)
    it = ds.batches(B, seed, epoch, augment=bool(aug), shuffle=bool(shuf), drop_last=bool(drop))
    for _ in range(step + 1):
        x, y, idx = next(it)
    n, c = len(idx), ds.channels
    x = x.numpy().transpose(0, 2, 3, 1)
    if meta["n"] != len(ds) or meta["batch_n"] != n: bad.append(f"{what}: {meta['n']} images / batch of {meta['batch_n']} in C, {len(ds)} / {n} here")
    if cidx[:n] != list(idx): bad.append(f"{what}: sample order differs")
    if not np.array_equal(cl[:n], y.numpy()): bad.append(f"{what}: labels differ")
    if not np.array_equal(np.array(meta["mean"], np.float32), ds.mean) or \
            not np.array_equal(np.array(meta["std"], np.float32), ds.std):
        bad.append(f"{what}: statistics differ: C {meta['mean']} {meta['std']}, peer {ds.mean} {ds.std}")
    if meta["names"] != ds.class_names or meta["crop_pad"] != ds.crop_pad or meta["channels"] != c:
        bad.append(f"{what}: class names, pad or channels differ: C {meta}")
    if not np.array_equal(ci[:n, ..., :c], x):
        bad.append(f"{what}: images differ from ev_batch_load by up to {np.abs(ci[:n, ..., :c] - x).max():g}")
print("\n".join(bad) if bad else "cross-checks: spec JSON, He init, IDX/CIFAR-10/ImageFolder batches agree with libevonet")
sys.exit(1 if bad else 0)
EOF

# ---------------------------------------------------------------- evaluation of a BN network
# fmnist_cnn with random weights and BN running statistics (so eval mode matters), evaluated
# by both on the IDX test file: the same predictions, the loss to float rounding
SRC="$SRC" $PY - <<'EOF' || fail "writing a BN network"
import json, os, sys, torch
sys.path.insert(0, os.path.join(os.environ["SRC"], "tools"))
import torch_common as tc
net = tc.Net(tc.normalize_arch(json.load(open(os.path.join(os.environ["SRC"], "assets/archs/fmnist_cnn.json")))))
tc.init_he(net, 3)
g = torch.Generator().manual_seed(2)
with torch.no_grad():
    for _, m in net.conv_layers():
        m.conv.bias.copy_(torch.randn(m.conv.bias.shape, generator=g) * 0.1)
        if hasattr(m, "bn"):
            for t, lo in ((m.bn.weight, 0.5), (m.bn.running_var, 0.2)):
                t.copy_(lo + torch.rand(t.shape, generator=g))
            for t in (m.bn.bias, m.bn.running_mean):
                t.copy_(torch.randn(t.shape, generator=g) * 0.3)
tc.save_weights(net, "bn.st")
EOF
"$EVONET" eval --weights bn.st --data idx --split test --json > bn_ev.json 2> bn_ev.err || { cat bn_ev.err; fail "evonet eval"; }
$PEER eval --weights bn.st --data idx --split test --threads 1 > bn_pe.json || fail "peer eval"
$PY - <<'EOF' || fail "evaluation of a BN network differs"
import json
e, p = json.load(open("bn_ev.json")), json.load(open("bn_pe.json"))
assert e["images"] == p["n_images"] == 200, (e, p)
assert (e["top1"], e["top5"]) == (p["top1"], p["top5"]), (e["top1"], e["top5"], p["top1"], p["top5"])
assert [c["accuracy"] for c in e["classes"]] == [c["accuracy"] for c in p["classes"]], "per-class accuracy differs"
assert abs(e["loss"] - p["loss"]) < 1e-5 * max(1.0, e["loss"]), (e["loss"], p["loss"])
print(f"eval of a BN net: top-1 {p['top1']:.3f} both, loss {e['loss']:.7f} (evonet) vs {p['loss']:.7f} (peer)")
EOF

# ---------------------------------------------------------------- training, both sides
# LeNet-5 (no BN), the same initial weights (evonet --save-init), data order, shifts/flips and
# recipe: the runs differ only in float rounding (GPU vs CPU summation order). Measured: the
# epoch losses agree to ~1e-8, the weights to ~1e-6 after 68 steps, the same predictions.
# A prediction can only flip where two logits lie within that noise of each other, so the
# test allows 1 % of the 200 test images (2) and loss differences of 1e-4 (100x the noise).
agree() { # EVONET_OUT PEER_OUT
  $PY - "$1" "$2" <<'EOF'
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["SRC"], "tools"))
import torch_common as tc
ev, pe = sys.argv[1], sys.argv[2]
_, meta = tc.read_safetensors(f"{ev}/net.safetensors")
eh = json.loads(meta["evonet.state"])["history"]
pj = json.load(open(f"{pe}/summary.json"))
ps, ph = pj["summary"], pj["epochs"]
er = json.load(open(f"{ev}/test.json"))
for a, b in zip(eh, ph):
    print(f"  epoch {a['epoch']}: loss {a['loss']:.8f} / {b['loss']:.8f}, val top-1 {a['val_top1']:.4f} / "
          f"{b['val']['top1']:.4f}, val loss {a['val_loss']:.8f} / {b['val']['loss']:.8f}")
    assert abs(a["loss"] - b["loss"]) < 1e-4 and abs(a["val_loss"] - b["val"]["loss"]) < 1e-4, "losses differ"
    assert abs(a["val_top1"] - b["val"]["top1"]) <= 0.02 + 1e-9, "val top-1 differs"
print(f"  test top-1 {er['top1']:.4f} / {ps['top1']:.4f}, top-5 {er['top5']:.4f} / {ps['top5']:.4f}, "
      f"loss {er['loss']:.8f} / {ps['loss']:.8f}")
assert abs(er["top1"] - ps["top1"]) <= 0.01 + 1e-9 and abs(er["top5"] - ps["top5"]) <= 0.01 + 1e-9, "test top-k differs"
assert abs(er["loss"] - ps["loss"]) < 1e-4, "test loss differs"
assert ps["top1"] > 0.4, "LeNet-5 did not learn the tiny set (the comparison would say little)"
EOF
}
run_both() { # NAME EVONET-NETWORK-ARGS -- RECIPE...
  name=$1 net=$2
  shift 2
  "$EVONET" train $net --data idx --out "ev_$name" --quiet "$@" > "ev_$name.log" 2>&1 ||
    { cat "ev_$name.log"; fail "evonet train ($name)"; }
  "$EVONET" eval --weights "ev_$name/net.safetensors" --data idx --split test --json > "ev_$name/test.json" ||
    fail "evonet eval ($name)"
  [ -f init.st ] || fail "evonet train --save-init wrote nothing"
  $PEER train --init init.st --data idx --out "pe_$name" --threads 1 "$@" > "pe_$name.log" 2>&1 ||
    { cat "pe_$name.log"; fail "peer train ($name)"; }
  echo "$name (evonet / peer):"
  agree "ev_$name" "pe_$name" || { cat "ev_$name.log" "pe_$name.log"; fail "$name: evonet and the peer disagree"; }
}
run_both adam "--arch lenet5 --save-init init.st" --epochs 2 --batch 32 --optimizer adam --lr 2e-3 --schedule cosine --seed 1
# SGD with momentum, weight decay, warm-up and the step schedule, from a network with a
# third of its synapses removed: removed synapses stay exactly 0 on both sides
SRC="$SRC" $PY - <<'EOF' || fail "masking the initial network"
import os, sys, torch
sys.path.insert(0, os.path.join(os.environ["SRC"], "tools"))
import torch_common as tc
arch, _ = tc.read_network_file("init.st")
net = tc.Net(arch)
tc.load_weights(net, "init.st")
g = torch.Generator().manual_seed(4)
for _, m in net.conv_layers():
    m.mask.copy_((torch.rand(m.mask.shape, generator=g) > 0.33).float())
net.apply_masks()
tc.save_weights(net, "init.st")
EOF
run_both sgd "--weights init.st" --epochs 2 --batch 32 --optimizer sgd --lr 0.02 --momentum 0.9 --weight-decay 1e-4 \
  --schedule step --warmup 1 --seed 5
SRC="$SRC" $PY - <<'EOF' || fail "masks after training"
import os, sys
sys.path.insert(0, os.path.join(os.environ["SRC"], "tools"))
import torch_common as tc
_, a = tc.read_network_file("init.st")
for f in ("ev_sgd/net.safetensors", "pe_sgd/final.safetensors"):
    _, b = tc.read_network_file(f)
    for k in a:
        if k.endswith(".mask"):
            w = k[:-len(".mask")] + ".weight"
            assert (a[k] == b[k]).all(), f"{f}: {k} changed"
            assert (b[w][b[k] == 0] == 0).all(), f"{f}: {w}: a removed synapse is not 0"
EOF

# ---------------------------------------------------------------- the CLI
grep -q '^epoch 2/2  loss [0-9.]*  lr .*  val top-1 [0-9.]* %  loss [0-9.]*  train' pe_adam.log || { cat pe_adam.log; fail "no epoch lines"; }
grep -q '^test (200 images): top-1 [0-9.]* %  top-5 [0-9.]* %' pe_adam.log || { cat pe_adam.log; fail "no test line"; }
$PEER eval --data idx --split test --weights pe_adam/final.safetensors --batch 32 --threads 1 > eval.json || fail "eval"
$PY -c "import json; a = json.load(open('pe_adam/summary.json'))['summary']; b = json.load(open('eval.json'))
assert abs(a['top1'] - b['top1']) < 1e-12 and abs(a['loss'] - b['loss']) < 1e-6, (a, b)" || fail "eval differs from train's test"
$PEER bench --arch lenet5 --batch 4 --steps 2 --threads 1 | $PY -c \
  "import json,sys; d=json.load(sys.stdin); assert d['task'] == 'classification' and d['size'] == 28 and d['train_img_s'] > 0" ||
  fail "bench lenet5"
expect_err() { # PATTERN ARGS...
  pat=$1
  shift
  set +e
  $PEER "$@" > err.out 2>&1
  rc=$?
  set -e
  [ $rc = 1 ] && [ "$(wc -l < err.out)" = 1 ] && grep -q "$pat" err.out || { cat err.out; fail "'$*': expected one line with '$pat'"; }
}
expect_err "takes 3 input channels and the dataset's images have 1" train --arch cifar_vgg11 --data idx --epochs 1 --lr 0.1 --out x
expect_err "saliency network needs images with masks" train --width 0.125 --size 32 --data idx --epochs 1 --lr 0.1 --out x
expect_err "weights take a 5x5 input" bench --arch lenet5 --size 32
expect_err "no architecture 'nope'" bench --arch nope
echo "test_torch_peer_classes: all passed"
