#!/bin/bash
# The shipped generation-1 ancestor (assets/ancestors/*/): its bytes are the manifest's sha256,
# it evaluates to the manifest's val and test metrics, and `evonet evolve` on the built-in data
# starts from it (without --ancestor), but trains its own generation 1 elsewhere.
#   test_ancestor.sh BUILD_DIR
set -eu
evonet="$(cd "$1" && pwd)/evonet"
src=$(cd "$(dirname "$0")/.." && pwd)
dir="$src/assets/ancestors/saliency_w0.125_bn_128"
if [ ! -f "$dir/net.safetensors" ] && [ ! -f "$dir/manifest.json" ]; then
  echo "no shipped ancestor in $dir yet: skipped"; exit 77
fi
[ -f "$dir/net.safetensors" ] && [ -f "$dir/manifest.json" ] || { echo "$dir: a network without its manifest or the reverse"; exit 1; }
want=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha256"])' "$dir/manifest.json")
got=$(sha256sum "$dir/net.safetensors" | cut -d' ' -f1)
[ "$want" = "$got" ] || { echo "sha256 $got, manifest says $want"; exit 1; }
cd "$src"
for split in val test; do
  "$evonet" eval --weights "$dir/net.safetensors" --split "$split" --json > "${TMPDIR:-/tmp}/anc_$split.json"
done
/usr/bin/python3 - "$dir/manifest.json" "${TMPDIR:-/tmp}/anc_val.json" "${TMPDIR:-/tmp}/anc_test.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for split, path in (("val", sys.argv[2]), ("test", sys.argv[3])):
    got = json.load(open(path))
    lavapipe = got["device"].startswith("llvmpipe")
    for k in ("max_f", "mean_f", "adaptive_f", "mae"):
        tol = 2e-6 if lavapipe else 2e-3
        assert abs(got[k] - m[split][k]) <= tol, (split, k, got[k], m[split][k])
print("1 passed, 0 failed")
PY
# evolve picks it up on the built-in data only (the first line of its output says so)
tmp=$(mktemp -d /tmp/evonet-anc-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$evonet" evolve --generations 1 --figure-rows 0 --out "$tmp/run" 2> "$tmp/err" > /dev/null
grep -q "generation 1 is the shipped ancestor" "$tmp/err"
/usr/bin/python3 - "$src/tools" "$tmp/run/gen1/net.safetensors" "$dir/net.safetensors" <<'PY'
import sys, torch
sys.path.insert(0, sys.argv[1])
from safetensors_torch import load
a, _ = load(sys.argv[2])
b, _ = load(sys.argv[3])
assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "generation 1 is not the shipped ancestor"
PY
. "$src/tests/small_dataset.sh"
small_dataset "$tmp/data" 8 4
"$evonet" evolve --data "$tmp/data" --size 32 --batch 4 --epochs-gen1 1 --generations 1 --figure-rows 0 \
  --out "$tmp/own" 2> "$tmp/err2" > /dev/null
! grep -q "shipped ancestor" "$tmp/err2"
echo "ancestor: 2 passed, 0 failed"
