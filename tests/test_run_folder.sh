#!/bin/bash
# A run folder cannot be silently wrong (include/evonet/run_folder.h). `evolve` again, or
# `train --resume`, with other settings stops with one line naming each difference and its two
# values, exit 1, and changes nothing on disk; the same settings continue (with more generations,
# other figure rows); --overwrite starts over; an older run without run.json is refused; a second
# process gets one line naming the folder and the holder's pid and changes nothing; the lock of a
# process killed with -9 does not stick; `train --resume` without a checkpoint says so.
#   test_run_folder.sh BUILD_DIR
set -u
evonet="$1/evonet"
tmp=$(mktemp -d /tmp/evonet-runfolder-XXXXXX)
holder=
trap '[ -z "$holder" ] || kill -9 $holder 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0 fail=0
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# check CONDITION WHAT: CONDITION (a shell expression; $rc is the last command's status) holds
check() { if eval "$1"; then pass=$((pass + 1)); else bad "$2"; fi; }

# a folder's state: every entry's name, size and modification time, every file's content
snap() { (cd "$1" && find . -printf '%p %s %T@\n' | sort && find . -type f -exec md5sum {} + | sort); }
# refused WORDS DIR -- command...: exit 1, one stderr line holding WORDS, DIR as it was
refused() {
  local words=$1 dir=$2 before rc
  shift 3
  before=$(snap "$dir")
  "$@" > /dev/null 2> "$tmp/err"
  rc=$?
  if [ $rc -eq 1 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -qF -- "$words" "$tmp/err" && [ "$before" = "$(snap "$dir")" ]; then
    pass=$((pass + 1))
  else
    bad "${*: -2} -> exit $rc (want 1, '$words', nothing changed), stderr: $(cat "$tmp/err")"
  fi
}

. "$(dirname "$0")/small_dataset.sh"
small_dataset "$tmp/data" 8 4
cp -r "$tmp/data" "$tmp/data2"
data2=$(realpath "$tmp/data2")
evo=("$evonet" evolve --data "$tmp/data" --size 32 --batch 4 --epochs 1 --epochs-gen1 1 --generations 2 --seed 7
     --figure-rows 1 --quiet)
"${evo[@]}" --out "$tmp/e" > /dev/null || bad "a tiny evolution"
cp "$tmp/e/gen1/net.safetensors" "$tmp/anc.safetensors"

# ---- evolve again with one setting changed: refused, nothing changed ----
refused "--alpha 0.4 (now 0.5)"             "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --alpha 0.5
refused "--seed 7 (now 8)"                  "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --seed 8
refused "--size 32 (now 48)"                "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --size 48
refused "(now $data2)"                      "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --data "$tmp/data2"
refused "--width 0.125 (now 0.25)"          "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --width 0.25
refused "--bn yes (now no)"                 "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --no-bn
refused "--granularity synapse (now filter)" "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --granularity filter
refused "--inherit no (now yes)"            "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --inherit
refused "--epochs 1 (now 2)"                "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --epochs 2
refused "--epochs-gen1 1 (now 2)"           "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --epochs-gen1 2
refused "--offspring 1 (now 2)"             "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --offspring 2
refused "--lr 0.001 (now 0.01)"             "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --lr 0.01
refused "--synthesis paper (now budget)"    "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --synthesis budget
refused "--ancestor none (now $tmp/anc.safetensors)" "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --ancestor "$tmp/anc.safetensors"
refused "--alpha 0.4 (now 0.5), --seed 7 (now 8); the same settings continue it, --overwrite starts over" \
        "$tmp/e" -- "${evo[@]}" --out "$tmp/e" --alpha 0.5 --seed 8
refused "holds an \`evonet evolve\` run" "$tmp/e" -- "$evonet" train --data "$tmp/data" --size 32 --resume --quiet --out "$tmp/e"
cp -a "$tmp/e" "$tmp/old" && rm "$tmp/old/run.json"
refused "holds a run without run.json"       "$tmp/old" -- "${evo[@]}" --out "$tmp/old"

# ---- a second process: refused while the lock is held, nothing changed ----
/usr/bin/python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "r+"); fcntl.lockf(f, fcntl.LOCK_EX); print("locked", flush=True); time.sleep(60)' \
  "$tmp/e/run.lock" > "$tmp/holder.out" &
holder=$!
for i in $(seq 100); do grep -qs locked "$tmp/holder.out" && break; sleep 0.1; done
refused "$tmp/e is in use by another evonet (pid $holder)" "$tmp/e" -- "${evo[@]}" --out "$tmp/e"
refused "$tmp/e is in use by another evonet (pid $holder)" "$tmp/e" -- "$evonet" train --data "$tmp/data" --size 32 --quiet --out "$tmp/e"
kill -9 $holder; wait $holder 2>/dev/null; holder=

# ---- allowed changes continue the run; --overwrite starts over ----
sum=$(md5sum < "$tmp/e/gen2_o1/net.safetensors")
"${evo[@]}" --out "$tmp/e" --generations 3 --figure-rows 2 > /dev/null 2> "$tmp/err"; rc=$?
check '[ $rc -eq 0 ] && [ "$(grep -c "\"generation\"" "$tmp/e/report.json")" -eq 3 ] && [ "$sum" = "$(md5sum < "$tmp/e/gen2_o1/net.safetensors")" ]' \
      "more generations and figure rows did not continue the run: $(cat "$tmp/err")"
"${evo[@]}" --out "$tmp/e" --alpha 0.5 --overwrite --generations 1 > /dev/null 2> "$tmp/err"; rc=$?
check '[ $rc -eq 0 ] && [ ! -e "$tmp/e/gen2_o1" ] && [ ! -e "$tmp/e/gen3_o1" ] && grep -q "\"alpha\":	\"0.5\"" "$tmp/e/run.json" && grep -q "\"alpha\":	0.5" "$tmp/e/report.json"' \
      "--overwrite did not start over: $(cat "$tmp/err")"

# ---- train --resume ----
tr=("$evonet" train --data "$tmp/data" --size 32 --batch 4 --epochs 1 --quiet)
"${tr[@]}" --out "$tmp/t" > /dev/null || bad "a tiny training"
refused "--size 32 (now 48)"        "$tmp/t" -- "${tr[@]}" --out "$tmp/t" --resume --size 48
refused "--lr 0.001 (now 0.01)"     "$tmp/t" -- "${tr[@]}" --out "$tmp/t" --resume --lr 0.01
refused "(now $data2)"              "$tmp/t" -- "${tr[@]}" --out "$tmp/t" --resume --data "$tmp/data2"
refused "--optimizer adam (now sgd)" "$tmp/t" -- "${tr[@]}" --out "$tmp/t" --resume --optimizer sgd
refused "--seed 1 (now 3)"          "$tmp/t" -- "${tr[@]}" --out "$tmp/t" --resume --seed 3
"${tr[@]}" --out "$tmp/t" --resume > /dev/null 2> "$tmp/err"; rc=$?
check '[ $rc -eq 0 ] && [ ! -s "$tmp/err" ]' "train --resume with the same settings: $(cat "$tmp/err")"
"${tr[@]}" --out "$tmp/t2" --resume > /dev/null 2> "$tmp/err"; rc=$?
check '[ $rc -eq 0 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q "no checkpoint in $tmp/t2" "$tmp/err"' \
      "train --resume without a checkpoint gave no note: $(cat "$tmp/err")"

# ---- a real evonet holds the folder; killed with -9, its lock does not stick ----
"${tr[@]}" --epochs 100000 --out "$tmp/h" > /dev/null 2>&1 &
holder=$!
for i in $(seq 300); do [ -f "$tmp/h/checkpoint.safetensors" ] && break; sleep 0.1; done
timeout 60 "${tr[@]}" --out "$tmp/h" --resume --epochs 100000 > /dev/null 2> "$tmp/err"; rc=$?
check '[ $rc -eq 1 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -qF "$tmp/h is in use by another evonet (pid $holder)" "$tmp/err"' \
      "a second train beside a running one (pid $holder): $(cat "$tmp/err")"
kill -9 $holder; wait $holder 2>/dev/null; holder=
timeout 60 "${tr[@]}" --out "$tmp/h" --resume --epochs 100000 --lr 0.01 > /dev/null 2> "$tmp/err"; rc=$?
check '[ $rc -eq 1 ] && grep -qF -- "--lr 0.001 (now 0.01)" "$tmp/err"' "after kill -9: $(cat "$tmp/err")"
"${tr[@]}" --out "$tmp/h" > /dev/null 2> "$tmp/err"; rc=$?
check '[ $rc -eq 0 ]' "the lock of a killed train stuck: $(cat "$tmp/err")"

# ---- help ----
check '"$evonet" evolve --help | grep -q -- "--epochs E *(default 2)"' "evolve --help: --epochs default"
check '"$evonet" train --help | grep -q -- "--epochs E *(default 60)"' "train --help: --epochs default"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
