#!/bin/bash
# Bad input to the commands a user runs: each case must exit nonzero with exactly one line
# on stderr ("evonet: ..."), naming the problem, and must not destroy what was written.
#   test_cli_errors.sh BUILD_DIR
set -u
evonet="$1/evonet"
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/evonet-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

# expect CODE WORDS -- command...: exit status CODE, one stderr line containing WORDS
expect() {
  local code=$1 words=$2; shift 3
  "$@" > "$tmp/out" 2> "$tmp/err"
  local rc=$? lines
  lines=$(grep -vc '^\[' "$tmp/err")   # progress lines start with "[" only on terminals
  if [ $rc -eq "$code" ] && [ "$lines" -eq 1 ] && grep -q -- "$words" "$tmp/err"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $* -> exit $rc (want $code), stderr:"; cat "$tmp/err"
  fi
}

# small datasets at 32x32
. "$(dirname "$0")/small_dataset.sh"
mk() { small_dataset "$1" 8 8; }
mk "$tmp/data"
small="--data $tmp/data --size 32 --batch 4 --quiet"

expect 2 "--epochs must be"        -- "$evonet" train --epochs abc
expect 2 "unknown option '--no-such-flag'" -- "$evonet" train --no-such-flag
expect 2 "multiple of 16"          -- "$evonet" train --size 100
expect 2 "--alpha must be"         -- "$evonet" evolve --alpha -1
expect 2 "--granularity must be"   -- "$evonet" evolve --granularity neuron
expect 2 "--synthesis must be"     -- "$evonet" evolve --synthesis darwin
expect 2 "--temperature must be"   -- "$evonet" evolve --synthesis budget --temperature 0
expect 2 "--layer-floor 0.3 must"  -- "$evonet" evolve --synthesis budget --alpha 0.3 --layer-floor 0.3
expect 2 "a share of synapses"     -- "$evonet" evolve --synthesis budget --alpha 2
expect 2 "--gen-epochs must be"    -- "$evonet" evolve --gen-epochs 2,,3
expect 2 "--teacher must be first or parent" -- "$evonet" evolve --distill 0.5 --teacher grandma
expect 2 "--distill"                -- "$evonet" evolve --distill 1.5
expect 2 "--distill needs --teacher" -- "$evonet" train --distill 0.5
expect 2 "--prune needs --like"    -- "$evonet" evolve --prune magnitude
expect 2 "--prune must be"         -- "$evonet" evolve --prune largest --like x
expect 2 "set by compare itself"   -- "$evonet" compare --seed 3
expect 2 "--seeds must be"         -- "$evonet" compare --seeds 1,x
expect 1 "report.json"             -- "$evonet" evolve $small --generations 2 --epochs-gen1 1 --prune random --like "$tmp/nothing" --out "$tmp/evo_like"
expect 1 "no-such-dir"             -- "$evonet" train --data "$tmp/no-such-dir" --quiet
mkdir -p "$tmp/empty/images" "$tmp/empty/masks"
expect 1 "no"                      -- "$evonet" train --data "$tmp/empty" --quiet
# a corrupt image, named in the error
mk "$tmp/corrupt"; f=$(ls "$tmp/corrupt/train/images" | head -1)
head -c 300 "$src/assets/data/default/train/images/$f" > "$tmp/corrupt/train/images/$f"
expect 1 "$f"                      -- "$evonet" train --data "$tmp/corrupt" --size 32 --batch 4 --epochs 1 --quiet --out "$tmp/o1"
# a mask of another size than its image
mk "$tmp/badmask"; m=$(ls "$tmp/badmask/train/masks" | head -1)
/usr/bin/python3 -c "from PIL import Image; Image.new('L',(50,40)).save('$tmp/badmask/train/masks/$m')"
expect 1 "50"                      -- "$evonet" train --data "$tmp/badmask" --size 32 --batch 4 --epochs 1 --quiet --out "$tmp/o2"
# an output folder that cannot be made
touch "$tmp/file"
expect 1 "cannot create folder"    -- "$evonet" train $small --epochs 1 --out "$tmp/file/out"
# a --protect list naming no convolution layer: refused before generation 1 trains for hours
expect 1 "--protect: 'c99'"        -- "$evonet" evolve $small --protect c1_1,c99 --epochs-gen1 100000 --out "$tmp/evo"
# missing, truncated and foreign network files
expect 1 "cannot open"             -- "$evonet" eval --weights "$tmp/none.safetensors" --data "$tmp/data" --size 32
"$evonet" train $small --no-bn --epochs 1 --out "$tmp/run" > /dev/null 2>&1 || { echo "FAIL: training a tiny run"; fail=$((fail + 1)); }
head -c 1000 "$tmp/run/net.safetensors" > "$tmp/trunc.safetensors"
expect 1 "truncated"               -- "$evonet" eval --weights "$tmp/trunc.safetensors" --data "$tmp/data" --size 32
expect 1 "not a safetensors"       -- "$evonet" eval --weights "$src/assets/data/default/test/masks/test_0001.png" --data "$tmp/data" --size 32
expect 1 "cannot open"             -- "$evonet" summary --weights "$tmp/none.safetensors"
expect 1 "truncated"               -- "$evonet" summary --weights "$tmp/trunc.safetensors"
# resuming with another architecture is refused and the checkpoint is left alone
sum=$(md5sum < "$tmp/run/checkpoint.safetensors")
expect 1 "--width 0.125 (now 0.25)" -- "$evonet" train $small --no-bn --width 0.25 --epochs 2 --resume --out "$tmp/run"
[ "$sum" = "$(md5sum < "$tmp/run/checkpoint.safetensors")" ] && pass=$((pass + 1)) || { echo "FAIL: checkpoint changed"; fail=$((fail + 1)); }
# a diverging loss stops with a clear message and writes no checkpoint of the diverged weights;
# without batch norm, which would keep even lr 1e9 finite (a resume may not change --lr: its own run)
expect 1 "the loss became"         -- "$evonet" train $small --no-bn --epochs 3 --optimizer sgd --lr 1e9 --out "$tmp/nan"
[ ! -e "$tmp/nan/checkpoint.safetensors" ] && [ "$sum" = "$(md5sum < "$tmp/run/checkpoint.safetensors")" ] && pass=$((pass + 1)) || { echo "FAIL: a checkpoint after NaN"; fail=$((fail + 1)); }
# predict: missing image, and a working run writes one map per image at its own size
expect 1 "no such file"            -- "$evonet" predict --weights "$tmp/run/net.safetensors" --size 32 --out "$tmp/maps" "$tmp/none.jpg"
if "$evonet" predict --weights "$tmp/run/net.safetensors" --size 32 --out "$tmp/maps" "$tmp/data/test/images" > /dev/null 2>&1 &&
   [ "$(ls "$tmp/maps" | wc -l)" -eq 8 ] &&
   /usr/bin/python3 -c "from PIL import Image; import sys; sys.exit(Image.open('$tmp/maps/test_0001.png').size != (128, 128))"; then
  pass=$((pass + 1))
else
  echo "FAIL: predict"; fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
