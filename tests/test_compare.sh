#!/bin/bash
# evonet compare as a user runs it: two seeds of a tiny evolution with the budget rule, then
# magnitude and random pruning from the same generation 1 (--gen-epochs: 1 epoch at generation
# 2, none at 3, in every run). Checks that every baseline
# offspring has the evolved offspring's per-layer synapse counts before training (neuron
# removal may take a few more: never more than the evolved), that the tables and the plot
# exist, and that the same command again gives the same table (it continues, repeats nothing).
#   test_compare.sh BUILD_DIR
set -eu
evonet="$1/evonet"
tmp=$(mktemp -d /tmp/evonet-compare-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/small_dataset.sh"
small_dataset "$tmp/data" 16 8
args=(--data "$tmp/data" --size 32 --batch 4 --gen-epochs 1,0 --epochs-gen1 1 --generations 3 --inherit
      --synthesis budget --alpha 0.3 --temperature 0.1 --figure-rows 1 --quiet --seeds 3,4 --out "$tmp/cmp")
"$evonet" compare "${args[@]}" > /dev/null
for f in compare.md compare.json compare.csv compare.png; do [ -s "$tmp/cmp/$f" ] || { echo "no $f"; exit 1; }; done
cp "$tmp/cmp/compare.csv" "$tmp/first.csv"
"$evonet" compare "${args[@]}" > /dev/null
cmp "$tmp/first.csv" "$tmp/cmp/compare.csv"
"$evonet" summary --weights "$tmp/cmp/seed3/evolved/gen1/net.safetensors" > /dev/null
/usr/bin/python3 - "$tmp/cmp" "$(dirname "$0")/../tools" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[2])
from safetensors_torch import load  # the tools' reader: (tensors, metadata)
root = sys.argv[1]
def live(path):
    t, _ = load(path)
    return {k[:-5]: int((v > 0.5).sum()) for k, v in t.items() if k.endswith(".mask")}
c = json.load(open(f"{root}/compare.json"))
for m in ("evolved", "magnitude", "random"):  # --gen-epochs reached every run
    assert json.load(open(f"{root}/seed3/{m}/report.json"))["run"]["gen_epochs"] == "1, 0"
assert c["seeds"] == [3, 4] and [m["method"] for m in c["methods"]] == ["evolved", "magnitude", "random"]
checked = 0
for seed in (3, 4):
    for g in (2, 3):
        ev = live(f"{root}/seed{seed}/evolved/gen{g}_o1/offspring.safetensors")
        evt = live(f"{root}/seed{seed}/evolved/gen{g}_o1/net.safetensors")
        assert ev == evt, "training changed the evolved masks"
        for m in ("magnitude", "random"):
            b = live(f"{root}/seed{seed}/{m}/gen{g}_o1/offspring.safetensors")
            assert set(b) == set(ev)
            for k in ev:
                assert b[k] <= ev[k], (seed, g, m, k, b[k], ev[k])
            # before neuron removal the counts are equal: what removal took is small
            assert sum(b.values()) >= 0.9 * sum(ev.values()), (seed, g, m, sum(b.values()), sum(ev.values()))
            checked += 1
assert checked == 8
print("1 passed, 0 failed")
PY
