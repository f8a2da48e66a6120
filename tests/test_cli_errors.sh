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
# every dataset file is checked before training starts, a bad one named in one line:
# a dataset path that is a file
echo "not a dataset" > "$tmp/data.txt"
expect 1 "is a regular file, not a folder" -- "$evonet" train --data "$tmp/data.txt" --quiet
# a training image that is a broken link
mk "$tmp/dangling"; f=$(ls "$tmp/dangling/train/images" | tail -1)
rm "$tmp/dangling/train/images/$f" && ln -s "$tmp/gone.jpg" "$tmp/dangling/train/images/$f"
expect 1 "$f: a broken symbolic link" -- "$evonet" train --data "$tmp/dangling" --size 32 --batch 4 --epochs 1 --quiet --out "$tmp/o3"
# a val mask that is a broken link: an error, not a val split silently left out
mk "$tmp/valbroken"; m=$(ls "$tmp/valbroken/val/masks" | head -1)
rm "$tmp/valbroken/val/masks/$m" && ln -s "$tmp/gone.png" "$tmp/valbroken/val/masks/$m"
expect 1 "$m of image .* is a broken symbolic link" -- "$evonet" train --data "$tmp/valbroken" --size 32 --batch 4 --epochs 1 --quiet --out "$tmp/o4"
# a test image cut short (header intact): refused before training, so nothing is written
mk "$tmp/cuttest"; f=$(ls "$tmp/cuttest/test/images" | head -1); p="$tmp/cuttest/test/images/$f"
head -c $(( $(stat -c %s "$p") - 2 - RANDOM % 50 )) "$p" > "$tmp/cut.jpg" && mv "$tmp/cut.jpg" "$p"
expect 1 "$f: the file ends before the image does" -- "$evonet" train --data "$tmp/cuttest" --size 32 --batch 4 --epochs 1 --quiet --out "$tmp/o5"
[ ! -e "$tmp/o5/net.safetensors" ] && [ ! -e "$tmp/o5/checkpoint.safetensors" ] && pass=$((pass + 1)) ||
  { echo "FAIL: a run with a truncated test image trained before failing"; fail=$((fail + 1)); }
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
# predict: two inputs with one map name (a.jpg, a.png) are refused before anything is written
mkdir -p "$tmp/same"
cp "$tmp/data/test/images/test_0001.jpg" "$tmp/same/a.jpg"
/usr/bin/python3 -c "from PIL import Image; Image.open('$tmp/same/a.jpg').save('$tmp/same/a.png')"
expect 1 "a.jpg and .*a.png would both be written to $tmp/maps_same/a.png" -- "$evonet" predict --weights "$tmp/run/net.safetensors" --size 32 --out "$tmp/maps_same" "$tmp/same"
[ ! -e "$tmp/maps_same" ] && pass=$((pass + 1)) || { echo "FAIL: predict wrote before refusing"; fail=$((fail + 1)); }
expect 1 "a.jpg is given twice" -- "$evonet" predict --weights "$tmp/run/net.safetensors" --size 32 --out "$tmp/maps_same" "$tmp/same/a.jpg" "$tmp/same/a.jpg"
# a network file with a NaN weight: refused on load, naming the tensor
name=$(/usr/bin/python3 - "$tmp/run/net.safetensors" "$tmp/nan.safetensors" <<'PY'
import json, random, struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
hl = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + hl])
name = random.choice(sorted(k for k in h if k != '__metadata__'))
lo, hi = h[name]['data_offsets']
at = 8 + hl + lo + 4 * random.randrange((hi - lo) // 4)
b[at:at + 4] = struct.pack('<f', random.choice([float('nan'), float('inf'), -float('inf')]))
open(sys.argv[2], 'wb').write(b)
print(name)
PY
)
expect 1 "tensor $name holds a non-finite value" -- "$evonet" summary --weights "$tmp/nan.safetensors"
# summary's flags: usage errors (exit 2) like every other command's
expect 2 "--width must be"         -- "$evonet" summary --width 1e6
expect 2 "--size must be"          -- "$evonet" summary --size 2097152
# error paths free what they allocated (valgrind, where installed; a sanitizer build checks
# leaks itself, and valgrind cannot run its binaries)
if command -v valgrind > /dev/null && ! grep -qs '^EVONET_SANITIZE:[A-Z]*=.\+' "$1/CMakeCache.txt"; then
  vg="valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99"
  expect 1 "no such file" -- $vg "$evonet" predict --weights "$tmp/run/net.safetensors" --size 32 --out "$tmp/maps_vg" "$tmp/data/test/images" "$tmp/none.jpg"
  expect 2 "--size must be"        -- $vg "$evonet" summary --size 2097152
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
