#!/bin/bash
# Knowledge distillation end to end on a tiny dataset: `evolve --distill` (teacher generation 1,
# then the parent) and `train --teacher --distill` run, report what they did, and a run with
# another --distill is a run with other settings. The arithmetic (soft target, blend, teacher
# on the student's batch) is checked against references in test_loss and test_model.
#   test_distill.sh BUILD_DIR
set -eu
evonet="$1/evonet"
tmp=$(mktemp -d /tmp/evonet-distill-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/small_dataset.sh"
small_dataset "$tmp/data" 16 8
fail() { echo "FAIL: $*"; exit 1; }
common="--data $tmp/data --size 32 --batch 4 --epochs 1 --epochs-gen1 1 --generations 3 --inherit --quiet"
"$evonet" evolve $common --distill 0.7 --out "$tmp/first" > /dev/null
grep -q 'distilled from generation 1 (0.7)' "$tmp/first/report.json" || fail "report does not name the distillation"
"$evonet" evolve $common --distill 0.7 --teacher parent --out "$tmp/parent" > /dev/null
grep -q 'distilled from the parent (0.7)' "$tmp/parent/report.json" || fail "report does not name the parent teacher"
[ -f "$tmp/parent/gen3_o1/net.safetensors" ] || fail "generation 3 missing"
set +e
out=$("$evonet" evolve $common --distill 0.2 --out "$tmp/first" 2>&1); rc=$?
set -e
[ $rc -ne 0 ] && printf '%s' "$out" | grep -q -- "--distill 0.7 (now 0.2)" || fail "a changed --distill was not refused: $out"
"$evonet" train --data "$tmp/data" --size 32 --batch 4 --epochs 1 --quiet --out "$tmp/student" \
  --teacher "$tmp/first/gen1/net.safetensors" --distill 0.5 > /dev/null
[ -f "$tmp/student/net.safetensors" ] || fail "train --teacher wrote no network"
echo "distill: all checks passed"
