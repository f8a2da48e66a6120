#!/bin/bash
# Classification end to end on tiny generated datasets (tests/make_class_data.py) in the three
# formats: summary/train/eval/predict/evolve/export with --arch, the reports and figures, and
# one-line errors for bad specs and bad data. The arithmetic is checked elsewhere (test_pool,
# test_class_metrics, test_classes, test_evolve, test_net_spec, torch_xcheck).
#   test_classify.sh BUILD_DIR
set -eu
evonet="$1/evonet"
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/evonet-classify-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# expect RC WORDS -- CMD...: exit status RC and one line on stderr containing WORDS
expect() {
  local rc=$1 words=$2
  shift 3
  set +e
  out=$("$@" 2>&1 >/dev/null); got=$?
  set -e
  [ "$got" = "$rc" ] || fail "$* exited $got, expected $rc: $out"
  printf '%s' "$out" | grep -qF -- "$words" || fail "$*: '$out' lacks '$words'"
  [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "$*: more than one line: $out"
}
py=/usr/bin/python3
$py "$src/tests/make_class_data.py" idx "$tmp/idx" 480 120 --gz
$py "$src/tests/make_class_data.py" cifar "$tmp/cifar" 24 40
$py "$src/tests/make_class_data.py" folder "$tmp/folder" 16 24
cat > "$tmp/small3.json" <<'JSON'
{"input": {"channels": 3}, "classes": 3, "task": "classification",
 "layers": [
  {"name": "c1", "op": "conv", "in": ["input"], "out": 8, "k": 3, "pad": 1, "bn": true, "act": "relu"},
  {"name": "p1", "op": "maxpool", "in": ["c1"], "k": 2, "stride": 2},
  {"name": "c2", "op": "conv", "in": ["p1"], "out": 12, "k": 3, "pad": 1, "act": "relu"},
  {"name": "g", "op": "gap", "in": ["c2"]},
  {"name": "fc", "op": "fc", "in": ["g"], "out": 3}
 ],
 "output": "fc"}
JSON
sed 's/"classes": 3/"classes": 10/; s/"out": 3}/"out": 10}/; s/"channels": 3}/"channels": 3, "size": 32}/' \
  "$tmp/small3.json" > "$tmp/small10.json"

# ---- specs
"$evonet" summary --arch lenet5 | grep -q "synapses 61,470" || fail "lenet5 summary"
"$evonet" summary --arch lenet5 --json > "$tmp/lenet5.json"
"$evonet" summary --arch "$tmp/lenet5.json" | grep -q "synapses 61,470" || fail "summary --json does not round-trip"
for a in fmnist_cnn fmnist_vgg cifar_vgg11 saliency; do "$evonet" summary --arch $a > /dev/null || fail "shipped spec $a"; done
sed 's/"k": 5, "act"/"k": 0, "act"/' "$src/assets/archs/lenet5.json" > "$tmp/bad.json"
expect 1 "layer c3" -- "$evonet" summary --arch "$tmp/bad.json"
expect 1 "no architecture 'lenet6'" -- "$evonet" summary --arch lenet6
expect 2 "--arch fixes the network" -- "$evonet" train --arch lenet5 --width 0.5 --data "$tmp/idx"

# ---- IDX (gzip): train, eval, predict, the confusion matrix
common="--data $tmp/idx --batch 16 --lr 3e-3 --quiet"
"$evonet" train --arch lenet5 $common --epochs 2 --out "$tmp/t" --save-init "$tmp/init.safetensors" > "$tmp/train.txt"
grep -q "top-1" "$tmp/train.txt" || fail "train printed no accuracy: $(cat "$tmp/train.txt")"
[ -s "$tmp/t/confusion.png" ] || fail "train wrote no confusion.png"
top1=$(sed -n 's/.*top-1 \([0-9.]*\) %.*/\1/p' "$tmp/train.txt")
$py -c "import sys; sys.exit(0 if float('$top1') > 30 else 1)" || fail "lenet5 learnt nothing on the bar images: $top1 %"
"$evonet" eval --weights "$tmp/t/net.safetensors" --data "$tmp/idx" --json --confusion "$tmp/c.png" > "$tmp/eval.json"
$py - "$tmp/eval.json" "$top1" <<'PY' || fail "eval --json disagrees with train's test line"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["images"] == 120 and len(e["confusion"]) == 10 and len(e["classes"]) == 10, e
assert abs(100 * e["top1"] - float(sys.argv[2])) < 0.006, (e["top1"], sys.argv[2])
PY
[ -s "$tmp/c.png" ] || fail "eval --confusion wrote nothing"
"$evonet" predict --weights "$tmp/t/net.safetensors" --data "$tmp/idx" --out "$tmp/pred" > /dev/null
$py - "$tmp/pred/predictions.csv" "$tmp/eval.json" <<'PY' || fail "predict disagrees with eval"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
e = json.load(open(sys.argv[2]))
assert len(rows) == 120
acc = sum(r["label"] == r["predicted"] for r in rows) / len(rows)
assert abs(acc - e["top1"]) < 1e-9, (acc, e["top1"])
PY
expect 2 "needs --data" -- "$evonet" predict --weights "$tmp/t/net.safetensors" --out "$tmp/p2" "$tmp/c.png"
"$evonet" train --arch lenet5 $common --epochs 2 --out "$tmp/t" --resume > /dev/null || fail "resume of a finished run"

# ---- evolve through fc and avgpool
"$evonet" evolve --arch lenet5 $common --epochs-gen1 2 --epochs 1 --generations 3 --inherit \
  --synthesis budget --alpha 0.3 --temperature 0.1 --out "$tmp/e" > "$tmp/evolve.txt"
grep -q "Top-1 %" "$tmp/evolve.txt" || fail "evolve's table has no accuracy column"
$py - "$tmp/e/report.json" <<'PY' || fail "evolve report"
import json, sys
r = json.load(open(sys.argv[1]))["records"]
assert len(r) == 3 and all("top1" in x["test"] for x in r), r
assert r[2]["synapses"] < r[0]["synapses"] / 5, [x["synapses"] for x in r]
PY
[ -s "$tmp/e/confusion.png" ] && [ -s "$tmp/e/generations.png" ] || fail "evolve figures missing"
"$evonet" eval --weights "$tmp/e/gen3_o1/net.safetensors" --data "$tmp/idx" > /dev/null || fail "eval of a compacted offspring"

# ---- CIFAR-10 binary batches and an ImageFolder
"$evonet" train --arch "$tmp/small10.json" --data "$tmp/cifar" --epochs 1 --batch 8 --quiet --out "$tmp/tc" > "$tmp/c.txt"
grep -q "test (40 images): top-1" "$tmp/c.txt" || fail "cifar: $(cat "$tmp/c.txt")"
"$evonet" train --arch "$tmp/small3.json" --data "$tmp/folder" --size 24 --epochs 1 --batch 8 --quiet --out "$tmp/tf" > "$tmp/f.txt"
grep -q "test (12 images): top-1" "$tmp/f.txt" || fail "imagefolder: $(cat "$tmp/f.txt")"
"$evonet" predict --weights "$tmp/tf/net.safetensors" --data "$tmp/folder" --size 24 --out "$tmp/pf" \
  "$tmp/folder/test/bee" > /dev/null
[ "$(wc -l < "$tmp/pf/predictions.csv")" = 5 ] || fail "predict on image files"

# ---- ONNX export (avgpool, fc; gap) checked by OpenCV against evonet's softmax, where the build has it
if "$evonet" export --weights "$tmp/e/gen3_o1/net.safetensors" --onnx "$tmp/l.onnx" > /dev/null 2>&1; then
  for net in "e/gen3_o1:28:l" "tc:32:c"; do
    IFS=: read -r dir size name <<< "$net"
    "$evonet" export --weights "$tmp/$dir/net.safetensors" --onnx "$tmp/$name.onnx" > /dev/null
    "$1/tests/onnx_ref" "$tmp/$dir/net.safetensors" "$size" "$tmp/$name.r" random 4 7
    set +e; $py "$src/tools/onnx_check.py" "$tmp/$name.onnx" "$tmp/$name.r"; rc=$?; set -e
    [ $rc = 0 ] || [ $rc = 77 ] || fail "ONNX export of $dir"
  done
fi

# ---- bad data: one line, nonzero, nothing written
cp -r "$tmp/idx" "$tmp/bad_idx"
printf 'XXXX' | dd of="$tmp/bad_idx/t10k-labels-idx1-ubyte.gz" bs=1 seek=0 conv=notrunc 2>/dev/null
expect 1 "t10k-labels" -- "$evonet" train --arch lenet5 --data "$tmp/bad_idx" --epochs 1 --quiet --out "$tmp/x1"
mkdir "$tmp/folder/train/dog"
expect 1 "dog" -- "$evonet" train --arch "$tmp/small3.json" --data "$tmp/folder" --size 24 --epochs 1 --quiet --out "$tmp/x2"
rmdir "$tmp/folder/train/dog"
expect 1 "10 classes and the dataset 3" -- "$evonet" train --arch lenet5 --data "$tmp/folder" --size 28 --epochs 1 --quiet --out "$tmp/x3"
expect 1 "labelled images" -- "$evonet" train --arch lenet5 --data "$src/assets/data/default" --epochs 1 --quiet --out "$tmp/x4"
[ ! -e "$tmp/x1/net.safetensors" ] && [ ! -e "$tmp/x3/net.safetensors" ] || fail "a refused run wrote a network"
echo "classify: all checks passed"
