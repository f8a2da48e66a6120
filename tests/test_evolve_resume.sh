#!/bin/bash
# kill -9 in the middle of a generation, then the same command: the run finishes with the
# same final table as an uninterrupted run of the same seed. evonet's training is
# bit-deterministic (fixed-order reductions, no float atomics, data order from seed and
# epoch, optimiser state in the checkpoint), so the tables must be identical, not merely close.
#   test_evolve_resume.sh BUILD_DIR
set -eu
evonet="$1/evonet"
tmp=$(mktemp -d /tmp/evonet-resume-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# a small dataset: 24 / 8 / 8 pairs of the built-in one, at 32x32
. "$(dirname "$0")/small_dataset.sh"
small_dataset "$tmp/data" 24 8
run() { "$evonet" evolve --data "$tmp/data" --size 32 --batch 4 --epochs 3 --epochs-gen1 3 --generations 3 --seed 7 \
        --figure-rows 2 --quiet --out "$1"; }

run "$tmp/a" > "$tmp/a.out"

# the same command, killed (SIGKILL) once generation 2 has a checkpoint but is not finished
run "$tmp/b" > /dev/null 2>&1 &
pid=$!
i=0
while [ ! -f "$tmp/b/gen2_o1/checkpoint.safetensors" ] || [ -f "$tmp/b/gen2_o1/net.safetensors" ]; do
  sleep 0.05; i=$((i + 1))
  if ! kill -0 $pid 2>/dev/null; then echo "run finished before it could be killed"; exit 1; fi
  [ $i -lt 6000 ] || { echo "no generation-2 checkpoint appeared"; kill -9 $pid; exit 1; }
done
kill -9 $pid
wait $pid 2>/dev/null || true
[ ! -f "$tmp/b/report.csv" ] || { echo "the killed run already had a report"; exit 1; }
run "$tmp/b" > "$tmp/b.out"

# identical tables, ignoring the timing columns (wall time, ms/image, training seconds)
strip() { cut -d, -f1-7,9-18 "$1"; }
strip "$tmp/a/report.csv" > "$tmp/a.csv"
strip "$tmp/b/report.csv" > "$tmp/b.csv"
# an offspring's file through `summary --weights`: its live synapses are the report's count
live=$("$evonet" summary --weights "$tmp/b/gen2_o1/net.safetensors" | sed -n 's/^live synapses \([0-9,]*\).*/\1/p' | tr -d ,)
want=$(awk -F, '$1 == 2 {print $4; exit}' "$tmp/b/report.csv")
[ -n "$live" ] && [ "$live" = "$want" ] || { echo "summary --weights: live synapses '$live', report says '$want'"; exit 1; }

if cmp -s "$tmp/a.csv" "$tmp/b.csv"; then
  echo "resumed run == uninterrupted run:"; cat "$tmp/a.csv"
  echo "1 passed, 0 failed"
else
  echo "tables differ:"; diff "$tmp/a.csv" "$tmp/b.csv" || true
  echo "0 passed, 1 failed"; exit 1
fi
