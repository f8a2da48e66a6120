#!/bin/bash
# kill -9 at random moments, then the same command: the run finishes with the same results as
# an uninterrupted run of the same seed. evonet's training is bit-deterministic (fixed-order
# reductions, no float atomics, data order from seed and epoch, optimiser state in the
# checkpoint), so report.json, report.csv, every tensor file and the figures must be identical,
# timings excepted (tests/same_run.py), not merely close; no temporary file may be left over.
# Trial 1 kills once generation 2 has a checkpoint but is not finished and plants temporary files
# of a dead process (removed by the resumed run) and of a live one (kept); the other trials kill
# after a random delay within an uninterrupted run's duration (EVONET_KILL_SEED repeats them).
#   test_evolve_resume.sh BUILD_DIR
set -eu
evonet="$1/evonet"
here=$(dirname "$0")
tmp=$(mktemp -d /tmp/evonet-resume-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trials=4
RANDOM=${EVONET_KILL_SEED:-$$}
echo "kill seed ${EVONET_KILL_SEED:-$$}"

# a small dataset: 16 / 8 / 8 pairs of the built-in one, at 32x32
. "$here/small_dataset.sh"
small_dataset "$tmp/data" 16 8
# (not a shell function: `f &` runs in a subshell, and kill -9 of that would leave evonet running)
run=("$evonet" evolve --data "$tmp/data" --size 32 --batch 4 --epochs 2 --epochs-gen1 1 --generations 3 --seed 7
     --figure-rows 1 --quiet --out "$tmp/run")
now_ms() { date +%s%3N; }

# the uninterrupted run, in the folder every trial uses (the report names its files by path)
t0=$(now_ms)
"${run[@]}" > "$tmp/ref.out"
ms=$(($(now_ms) - t0))
mv "$tmp/run" "$tmp/ref"

pass=0 fail=0
for trial in $(seq 1 $trials); do
  rm -rf "$tmp/run"
  "${run[@]}" > /dev/null 2>&1 &
  pid=$!
  if [ "$trial" = 1 ]; then
    i=0
    while [ ! -f "$tmp/run/gen2_o1/checkpoint.safetensors" ] || [ -f "$tmp/run/gen2_o1/net.safetensors" ]; do
      sleep 0.05; i=$((i + 1))
      if ! kill -0 $pid 2>/dev/null; then echo "trial 1: the run finished before it could be killed"; exit 1; fi
      [ $i -lt 6000 ] || { echo "no generation-2 checkpoint appeared"; kill -9 $pid; exit 1; }
    done
    when="at generation 2's first checkpoint"
  else
    delay=$((200 + (RANDOM * 32768 + RANDOM) % (ms > 300 ? ms - 200 : 100)))
    sleep "$((delay / 1000)).$(printf %03d $((delay % 1000)))"
    when="after $delay ms of $ms"
  fi
  kill -9 $pid 2>/dev/null || true
  wait $pid 2>/dev/null && killed="finished before the kill" || killed=killed
  if [ "$trial" = 1 ]; then
    [ ! -f "$tmp/run/report.csv" ] || { echo "the killed run already had a report"; exit 1; }
    dead=$(sh -c 'echo $$')   # a pid that ran and ended
    touch "$tmp/run/gen1/net.safetensors.tmp.$dead" "$tmp/run/report.json.tmp.$dead" "$tmp/run/live.tmp.$$"
  fi
  "${run[@]}" > /dev/null
  if [ "$trial" = 1 ]; then
    [ -f "$tmp/run/live.tmp.$$" ] || { echo "a live process's temporary file was removed"; fail=$((fail + 1)); }
    rm -f "$tmp/run/live.tmp.$$"
  fi
  if /usr/bin/python3 "$here/same_run.py" "$tmp/ref" "$tmp/run"; then
    pass=$((pass + 1)); echo "trial $trial ($killed $when): identical"
  else
    fail=$((fail + 1)); echo "trial $trial ($killed $when): differs from the uninterrupted run"
  fi
done

# an offspring's file through `summary --weights`: its live synapses are the report's count
live=$("$evonet" summary --weights "$tmp/run/gen2_o1/net.safetensors" | sed -n 's/^live synapses \([0-9,]*\).*/\1/p' | tr -d ,)
want=$(awk -F, '$1 == 2 {print $4; exit}' "$tmp/run/report.csv")
[ -n "$live" ] && [ "$live" = "$want" ] || { echo "summary --weights: live synapses '$live', report says '$want'"; fail=$((fail + 1)); }
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
