#!/usr/bin/env bash
# evonet export: generation 1 and an evolved (compacted) offspring of a tiny run, and the
# shipped ancestor at 128x128, written as ONNX, pass onnx.checker and give evonet's own
# probabilities in OpenCV's dnn module within 1e-4 on random inputs and on real test images;
# bad input is one line and a nonzero exit, with nothing written.
#   tests/test_export.sh [BUILD_DIR]     exit 0 pass, 1 fail, 77 skip (no python3-onnx /
#                                        python3-opencv, or a build without protobuf-c)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${EVONET_BINARY_DIR:-$SRC/build}}
evonet=$BUILD/evonet
ref=$BUILD/tests/onnx_ref
PY=/usr/bin/python3
$PY -c "import onnx, cv2, numpy" 2>/dev/null || { echo "skip: $PY lacks onnx / cv2 (python3-onnx, python3-opencv)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if "$evonet" export --weights x --onnx "$tmp/x.onnx" 2>&1 | grep -q "built without ONNX"; then
  echo "skip: this build has no ONNX export (protobuf-c missing)"; exit 77
fi
fail() { echo "FAIL: $*"; exit 1; }
. "$SRC/tests/small_dataset.sh"
small_dataset "$tmp/data" 16 8

check() { # weights size label
  "$evonet" export --weights "$1" --onnx "$tmp/$3.onnx" --size "$2" >/dev/null
  "$ref" "$1" "$2" "$tmp/$3.rand" random 3 $RANDOM >/dev/null
  $PY "$SRC/tools/onnx_check.py" "$tmp/$3.onnx" "$tmp/$3.rand" || fail "$3 on random inputs"
  "$ref" "$1" "$2" "$tmp/$3.real" data "$tmp/data" test 4 >/dev/null
  $PY "$SRC/tools/onnx_check.py" "$tmp/$3.onnx" "$tmp/$3.real" || fail "$3 on real images"
}

# a tiny evolution: generation 1 trained here, generation 2 synthesized and compacted
"$evonet" evolve --data "$tmp/data" --size 32 --batch 4 --epochs-gen1 1 --epochs 1 --generations 2 --inherit \
  --synthesis budget --alpha 0.3 --out "$tmp/run" --quiet >/dev/null
check "$tmp/run/gen1/net.safetensors" 32 gen1
check "$tmp/run/gen2_o1/net.safetensors" 32 gen2
s1=$(stat -c %s "$tmp/gen1.onnx") s2=$(stat -c %s "$tmp/gen2.onnx")
[ "$s2" -lt "$s1" ] || fail "the compacted offspring's ONNX file ($s2 bytes) is not smaller than generation 1's ($s1)"
echo "ok: generation 2's file is $s2 bytes, generation 1's $s1"
anc=$SRC/assets/ancestors/saliency_w0.125_bn_128/net.safetensors
if [ -f "$anc" ]; then check "$anc" 128 ancestor; fi

# bad input: one line, nonzero, nothing written
expect() { # code pattern -- command...
  local code=$1 pat=$2; shift 3
  set +e; out=$("$@" 2>&1); rc=$?; set -e
  [ "$rc" = "$code" ] || fail "'$*' exited $rc, expected $code: $out"
  [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "'$*' printed more than one line: $out"
  printf '%s' "$out" | grep -q -- "$pat" || fail "'$*' said '$out', expected '$pat'"
}
echo "not a network" > "$tmp/junk.safetensors"
expect 1 "junk.safetensors" -- "$evonet" export --weights "$tmp/junk.safetensors" --onnx "$tmp/junk.onnx"
[ ! -e "$tmp/junk.onnx" ] || fail "a file was written for a bad network"
expect 1 "no-such-dir" -- "$evonet" export --weights "$tmp/run/gen1/net.safetensors" --onnx "$tmp/no-such-dir/x.onnx"
expect 2 "multiple of 16" -- "$evonet" export --weights "$tmp/run/gen1/net.safetensors" --onnx "$tmp/x.onnx" --size 24
expect 2 "are both needed" -- "$evonet" export --weights "$tmp/run/gen1/net.safetensors"
cp "$tmp/gen1.onnx" "$tmp/keep.onnx"
expect 1 "junk.safetensors" -- "$evonet" export --weights "$tmp/junk.safetensors" --onnx "$tmp/keep.onnx"
cmp -s "$tmp/gen1.onnx" "$tmp/keep.onnx" || fail "a failed export changed the existing file"
ls "$tmp" | grep -q '\.tmp\.' && fail "a temporary file was left behind"
echo "export: all checks passed"
