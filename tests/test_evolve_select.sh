#!/bin/bash
# Natural selection: with --offspring 3, every generation after the first reports 3
# offspring, exactly one is selected, it has the best validation max-F of its generation
# (ties: fewer synapses), and the next generation descends from it (fewer synapses).
#   test_evolve_select.sh BUILD_DIR
set -eu
evonet="$1/evonet"
tmp=$(mktemp -d /tmp/evonet-select-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/small_dataset.sh"
small_dataset "$tmp/data" 16 8
"$evonet" evolve --data "$tmp/data" --size 32 --batch 4 --epochs 1 --epochs-gen1 1 --generations 3 --offspring 3 \
  --figure-rows 2 --quiet --out "$tmp/run" > /dev/null
/usr/bin/python3 - "$tmp/run/report.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 1 + 2 * 3, f"{len(rows)} records"
prev_syn = int(rows[0]["synapses"])
for g in (2, 3):
    gen = [r for r in rows if int(r["generation"]) == g]
    assert len(gen) == 3
    sel = [r for r in gen if r["selected"] in ("1", "true", "True")]
    assert len(sel) == 1, f"generation {g}: {len(sel)} selected"
    best = max(gen, key=lambda r: (float(r["val_max_f"]), -int(r["synapses"])))
    assert sel[0] is best, f"generation {g}: selected {sel[0]['offspring']}, best {best['offspring']}"
    assert all(int(r["synapses"]) < prev_syn for r in gen)
    prev_syn = int(sel[0]["synapses"])
print("1 passed, 0 failed")
PY
