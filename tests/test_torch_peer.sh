#!/bin/sh
# tools/torch_peer.py against libevonet.a: the same architecture JSON (byte for byte), the
# same He init (bit for bit), the same metrics (to 1e-9; exact in practice), the same epoch
# order / crop / flip / masks from the data loader (images within JPEG-decoder differences),
# network files readable both ways with masks kept; then the CLI (train, eval, bench) on a
# tiny dataset and its errors.
#   tests/test_torch_peer.sh [BUILD_DIR]      (default: $EVONET_BINARY_DIR or ./build)
# Exit 0 pass, 1 fail, 77 skip (no Debian python3 with torch, or no libevonet.a).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${EVONET_BINARY_DIR:-$SRC/build}}
PY=/usr/bin/python3
PEER="$PY $SRC/tools/torch_peer.py"
DATA=$SRC/assets/data/default
$PY -c "import torch, numpy, PIL" 2>/dev/null || { echo "skip: $PY lacks torch/numpy/PIL"; exit 77; }
[ -f "$BUILD/libevonet.a" ] || { echo "skip: no $BUILD/libevonet.a (build the evonet target)"; exit 77; }
CJSON=$(sed -n 's/^CJSON_LIBRARY:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
[ -n "$CJSON" ] || CJSON=-lcjson
JPEG=$(sed -n 's/^JPEG_LIBRARY_RELEASE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
[ -n "$JPEG" ] || JPEG=-ljpeg
# the helper is built like the library: same compiler, and a sanitizer build's -fsanitize list
# (-DEVONET_SANITIZE), whose runtime the library's instrumented code calls
CC=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
[ -n "$CC" ] && command -v "$CC" > /dev/null || CC=cc
SAN=$(sed -n 's/^EVONET_SANITIZE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
SANFLAGS=
[ -z "$SAN" ] || SANFLAGS="-fsanitize=$SAN -fno-omit-frame-pointer"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# ---------------------------------------------------------------- the C side's answers
cat > "$T/check.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "evonet/data.h"
#include "evonet/metrics.h"
#include "evonet/net.h"
#include "evonet/weights.h"

static int die(void) { fprintf(stderr, "check: %s\n", ev_last_error()); return 1; }

int main(int argc, char **argv) {
  if (argc >= 4 && !strcmp(argv[1], "json")) { /* json W BN: ev_net_to_json of the paper's net */
    ev_net_spec s;
    if (ev_net_saliency_vgg(atof(argv[2]), atoi(argv[3]), &s) != EV_OK) return die();
    char *j = ev_net_to_json(&s);
    printf("%s\n", j);
    free(j), ev_net_free(&s);
    return 0;
  }
  if (argc >= 6 && !strcmp(argv[1], "he")) { /* he W BN SEED OUT: ev_weights_init_he, saved */
    ev_net_spec s;
    ev_net_weights w;
    if (ev_net_saliency_vgg(atof(argv[2]), atoi(argv[3]), &s) != EV_OK || ev_net_infer_channels(&s) != EV_OK ||
        ev_weights_alloc(&s, &w) != EV_OK) return die();
    ev_weights_init_he(&w, strtoull(argv[4], NULL, 10));
    if (ev_weights_save(argv[5], &w, NULL, 0) != EV_OK) return die();
    ev_weights_free(&w), ev_net_free(&s);
    return 0;
  }
  if (argc >= 3 && !strcmp(argv[1], "load")) { /* load FILE: live synapses, sum of weights */
    ev_net_weights w;
    if (ev_weights_load(argv[2], NULL, &w, NULL) != EV_OK) return die();
    double sum = 0;
    for (int i = 0; i < w.spec.n; i++)
      for (uint64_t k = 0; k < ev_layer_weight_count(&w.spec.layers[i]); k++) sum += w.l[i].w[k];
    printf("%llu %.17g\n", (unsigned long long)ev_weights_live_synapses(&w), sum);
    ev_weights_free(&w);
    return 0;
  }
  if (argc >= 3 && !strcmp(argv[1], "metrics")) { /* metrics FILE: int32 n, npix; n x (pred, gt) */
    FILE *f = fopen(argv[2], "rb");
    int hdr[2];
    if (!f || fread(hdr, 4, 2, f) != 2) return 1;
    size_t np = (size_t)hdr[1];
    float *p = malloc(np * 4), *g = malloc(np * 4);
    ev_metrics m;
    ev_metrics_init(&m);
    for (int i = 0; i < hdr[0]; i++) {
      if (fread(p, 4, np, f) != np || fread(g, 4, np, f) != np) return 1;
      ev_metrics_add_image(&m, p, g, np);
    }
    fclose(f);
    ev_metrics_summary r;
    ev_metrics_result(&m, &r);
    printf("{\"mae\": %.17g, \"adaptive_f\": %.17g, \"max_f\": %.17g, \"mean_f\": %.17g, \"max_f_threshold\": %d}\n",
           r.mae, r.adaptive_f, r.max_f, r.mean_f, r.max_f_threshold);
    free(p), free(g);
    return 0;
  }
  if (argc >= 10 && !strcmp(argv[1], "batch")) { /* batch DATA SPLIT S B SEED EPOCH STEP OUT */
    ev_dataset ds;
    if (ev_dataset_open(argv[2], argv[3], EV_LAYOUT_AUTO, &ds) != EV_OK) return die();
    ev_loader_options o = {.batch = atoi(argv[5]), .size = atoi(argv[4]), .augment = 1, .shuffle = 1,
                           .drop_last = 1, .seed = strtoull(argv[6], NULL, 10)};
    ev_batch b;
    if (ev_batch_alloc(&b, o.batch, o.size) != EV_OK ||
        ev_batch_load(&ds, &o, atoll(argv[7]), (size_t)atoll(argv[8]), &b) != EV_OK) return die();
    FILE *f = fopen(argv[9], "wb");
    size_t px = (size_t)o.batch * o.size * o.size;
    fwrite(b.images, 4, px * 4, f);
    fwrite(b.masks, 4, px, f);
    for (int i = 0; i < o.batch; i++) {
      long long v = (long long)b.index[i];
      fwrite(&v, 8, 1, f);
    }
    fclose(f);
    ev_batch_free(&b), ev_dataset_free(&ds);
    return 0;
  }
  fprintf(stderr, "usage: check json|he|load|metrics|batch ...\n");
  return 2;
}
EOF
"$CC" -O2 -std=c11 $SANFLAGS -I"$SRC/include" "$T/check.c" "$BUILD/libevonet.a" $CJSON $JPEG -lz -lm -ldl -lpthread -o "$T/check" ||
  fail "cannot build the C helper against $BUILD/libevonet.a"

# ---------------------------------------------------------------- formats and numbers
cd "$T"
SRC="$SRC" DATA="$DATA" $PY - <<'EOF' || fail "cross-checks against libevonet"
import json, os, subprocess, sys
import numpy as np, torch
sys.path.insert(0, os.path.join(os.environ["SRC"], "tools"))
import torch_common as tc
torch.set_num_threads(1)
C = lambda *a: subprocess.check_output(["./check"] + [str(x) for x in a]).decode()
bad = []

# architecture JSON, byte for byte, and the paper's synapse count
for w in (0.125, 0.3, 1.0):
    for bn in (0, 1):
        if tc.arch_json(tc.saliency_vgg(w, bool(bn))) != C("json", w, bn).strip():
            bad.append(f"architecture JSON differs at width {w} bn {bn}")
if tc.count_synapses(tc.saliency_vgg(1.0)) != 62390208:
    bad.append("width 1 is not 62,390,208 synapses")

# He init, bit for bit (also reads a C-written file)
for w, bn, seed in ((0.125, 0, 7), (0.125, 1, 12345678901234567)):
    C("he", w, bn, seed, "he.st")
    a, b = tc.Net(tc.saliency_vgg(w, bool(bn))), tc.Net(tc.saliency_vgg(w, bool(bn)))
    tc.init_he(a, seed)
    tc.load_weights(b, "he.st")
    n = sum(int((x != y).sum()) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    if n:
        bad.append(f"He init: {n} values differ from ev_weights_init_he (width {w} seed {seed})")

# metrics: random, informative and edge-case maps (constant, NaN, ties, empty/full masks,
# soft masks), at several sizes
rng = np.random.default_rng(3)
def maps(npix):
    out = []
    for i in range(30):
        g = (rng.random(npix) > rng.random()).astype(np.float32)
        k = i % 10
        p = [lambda: rng.random(npix), lambda: rng.normal(size=npix) * 5, lambda: np.zeros(npix),
             lambda: np.ones(npix), lambda: np.full(npix, 0.37), lambda: rng.integers(0, 4, npix) / 3.0,
             lambda: np.where(rng.random(npix) < 0.1, np.nan, rng.random(npix)),
             lambda: g * 0.5 + rng.random(npix) * 0.7, lambda: np.full(npix, -3.0), lambda: rng.random(npix) ** 8][k]()
        if k == 3: g[:] = 0
        if k == 4: g[:] = 1
        if k == 7 and i > 20: g = rng.random(npix).astype(np.float32)
        out.append((p.astype(np.float32), g))
    return out
for npix in (1, 7, 4096, 128 * 128):
    for informative in (False, True):
        cs = maps(npix) if not informative else \
            [(g * 0.5 + rng.random(npix).astype(np.float32) * 0.7, g) for g in
             ((rng.random(npix) < 0.3).astype(np.float32) for _ in range(20))]
        with open("maps.bin", "wb") as f:
            np.array([len(cs), npix], np.int32).tofile(f)
            for p, g in cs:
                p.astype(np.float32).tofile(f), g.astype(np.float32).tofile(f)
        c = json.loads(C("metrics", "maps.bin"))
        m = tc.Metrics()
        for p, g in cs:
            m.add(p, g)
        r = m.result()
        d = max(abs(c[k] - r[k]) for k in ("mae", "adaptive_f", "max_f", "mean_f"))
        if d > 1e-9 or c["max_f_threshold"] != r["max_f_threshold"]:
            bad.append(f"metrics differ from libevonet at {npix} pixels: C {c}, torch {r}")

# data: order, crops, flips and masks as ev_batch_load; images within decoder differences
data = os.environ["DATA"]
for split, S, B, seed, epoch, step in (("train", 128, 8, 7, 0, 0), ("train", 96, 5, 3, 4, 11), ("val", 160, 4, 1, 2, 3)):
    C("batch", data, split, S, B, seed, epoch, step, "b.bin")
    raw, px = open("b.bin", "rb").read(), B * S * S
    ci = np.frombuffer(raw[:px * 16], np.float32).reshape(B, S, S, 4)[..., :3]
    cm = np.frombuffer(raw[px * 16:px * 20], np.float32).reshape(B, S, S)
    cidx = list(np.frombuffer(raw[px * 20:], np.int64))
    it = tc.SalientDataset(data, split, S).batches(B, seed, epoch, augment=True, shuffle=True, drop_last=True)
    for _ in range(step + 1):
        x, m, idx = next(it)
    x = x.numpy().transpose(0, 2, 3, 1)
    if cidx != list(idx): bad.append(f"{split} epoch {epoch} batch {step}: sample order differs")
    if not np.array_equal(cm, m.numpy()): bad.append(f"{split} S {S}: masks differ from the C loader")
    e = np.abs(ci - x)
    if e.max() > 1e-5:  # both decode with libjpeg-turbo and resize alike: only float rounding may differ
        bad.append(f"{split} S {S}: images differ from the C loader by up to {e.max():.3f} (mean {e.mean():.4f})")

print("\n".join(bad) if bad else "cross-checks: json, He init, metrics, loader agree with libevonet")
sys.exit(1 if bad else 0)
EOF

# ---------------------------------------------------------------- the CLI on a tiny dataset
for s in train val test; do
  mkdir -p "$T/tiny/$s/images" "$T/tiny/$s/masks"
  n=16; [ $s = train ] || n=6
  for f in $(ls "$DATA/$s/images" | head -n $n); do
    cp "$DATA/$s/images/$f" "$T/tiny/$s/images/"
    cp "$DATA/$s/masks/${f%.*}.png" "$T/tiny/$s/masks/"
  done
done
# an initial network with half its synapses removed (masks 0), saved by the peer
SRC="$SRC" $PY - <<'EOF' || fail "writing a masked network"
import os, sys, torch
sys.path.insert(0, os.path.join(os.environ["SRC"], "tools"))
import torch_common as tc
net = tc.Net(tc.saliency_vgg(0.0625, True))
tc.init_he(net, 5)
g = torch.Generator().manual_seed(1)
for _, m in net.conv_layers():
    m.mask.copy_((torch.rand(m.mask.shape, generator=g) < 0.5).float())
net.apply_masks()
tc.save_weights(net, "masked.st")
EOF
live=$(./check load masked.st | cut -d' ' -f1)
$PEER train --data tiny --init masked.st --size 64 --epochs 2 --batch 4 --optimizer sgd --lr 0.01 --momentum 0.9 \
  --weight-decay 1e-4 --schedule cosine --warmup-epochs 1 --seed 3 --threads 1 --out out > train.log 2>&1 ||
  { cat train.log; fail "train"; }
grep -q '^epoch 2/2  loss [0-9.]*  lr .*val max-F [0-9.]*  MAE [0-9.]*' train.log || { cat train.log; fail "train: no epoch lines"; }
tail -n1 train.log | $PY -c "import json,sys; d=json.load(sys.stdin); assert d['test']['n_images'] == 6 and d['train_img_s_median'] > 0 and d['infer_img_s'] > 0, d" ||
  { cat train.log; fail "train: bad summary"; }
# masks survive training: removed synapses are exactly 0, C reads the file, same live count
SRC="$SRC" $PY - <<'EOF' || fail "masks after training"
import os, sys
sys.path.insert(0, os.path.join(os.environ["SRC"], "tools"))
import torch_common as tc
_, a = tc.read_network_file("masked.st")
_, b = tc.read_network_file("out/final.safetensors")
for k in a:
    if k.endswith(".mask"):
        w = k[:-len(".mask")] + ".weight"
        assert (a[k] == b[k]).all(), f"{k} changed"
        assert (b[w][b[k] == 0] == 0).all(), f"{w}: a removed synapse is not 0"
        assert not (b[w] == a[w]).all(), f"{w} did not train"
EOF
[ "$(./check load out/final.safetensors | cut -d' ' -f1)" = "$live" ] || fail "live synapses changed in training"
# eval of the saved file gives the train run's test numbers
$PEER eval --data tiny --split test --weights out/final.safetensors --size 64 --threads 1 > eval.log ||
  fail "eval"
$PY - <<'EOF' || fail "eval disagrees with train's final test metrics"
import json
t = json.loads(open("train.log").read().strip().splitlines()[-1])["test"]
e = json.loads(open("eval.log").read())
assert all(abs(t[k] - e[k]) < 1e-6 for k in ("mae", "adaptive_f", "max_f", "mean_f")), (t, e)
EOF
# training from the paper's net by width, then bench
$PEER train --data tiny --width 0.0625 --bn --size 64 --epochs 1 --batch 4 --optimizer adam --lr 1e-3 \
  --schedule step --seed 1 --threads 1 --out out2 > train2.log 2>&1 || { cat train2.log; fail "train --width"; }
$PEER bench --width 0.0625 --size 64 --batch 2 --steps 2 --threads 1 | $PY -c \
  "import json,sys; d=json.load(sys.stdin); assert d['train_img_s'] > 0 and d['infer_img_s'] > 0" || fail "bench"
$PEER bench --arch out/final.safetensors --size 64 --batch 2 --steps 2 --warmup 0 --threads 1 > /dev/null || fail "bench --arch"

# ---------------------------------------------------------------- errors: one line, nonzero
expect_err() { # STATUS PATTERN ARGS...
  st=$1 pat=$2
  shift 2
  set +e
  $PEER "$@" > err.out 2>&1
  rc=$?
  set -e
  [ $rc = "$st" ] || { cat err.out; fail "'$*' exited $rc, expected $st"; }
  [ "$(wc -l < err.out)" = 1 ] || { cat err.out; fail "'$*': not one line"; }
  grep -q "$pat" err.out || { cat err.out; fail "'$*': no '$pat'"; }
}
expect_err 1 "inputs of different sizes" bench --width 0.125 --size 100
expect_err 1 "no pixels left" bench --width 0.125 --size 8
expect_err 1 "cannot open /nonexistent" bench --arch /nonexistent
expect_err 1 "not a readable safetensors" bench --arch "$SRC/README.md"
$PY "$SRC/tools/safetensors_torch.py" vgg16 vgg.st 1
expect_err 1 "not an evonet network" bench --arch vgg.st
expect_err 1 "fit width 1 only" train --data tiny --width 0.0625 --size 64 --epochs 1 --lr 0.1 --out x --init-vgg16 vgg.st
expect_err 1 "no network" bench
expect_err 1 "either --arch or --width" bench --arch masked.st --width 0.125
expect_err 1 "does not exist" train --data /nonexistent --width 0.125 --epochs 1 --lr 0.1 --out x
expect_err 1 "different architecture" train --data tiny --arch he.st --init masked.st --size 64 --epochs 1 --lr 0.1 --out x
expect_err 1 "fewer than one batch" train --data tiny --width 0.0625 --size 64 --epochs 1 --lr 0.1 --batch 99 --out x
expect_err 1 "unknown split" eval --data tiny --split nope --weights masked.st --size 64
expect_err 2 "must be > 0" bench --width 0.125 --batch 0
expect_err 2 "invalid choice" train --data tiny --width 0.125 --epochs 1 --lr 0.1 --out x --optimizer rmsprop
echo "test_torch_peer: all passed"
