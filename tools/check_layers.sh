#!/usr/bin/env bash
# Checks that no file in src/ or include/evonet/ includes a header of a layer it may not use
# (the layers and why: src/README.md). Exit 1, naming file:line and both layers, if one does.
#
#   core < gpu < ops < nn < data < report < train < evo < export < cli
#
# The order is linear, but the check is finer: each layer may include only the layers listed
# in ALLOWED below (data and report, for instance, use core only, not the GPU), so a new
# dependency has to be added here on purpose. Only "quoted" includes are checked; <system>
# headers are not evonet's. A header this script does not know is an error too: add it to
# PUBLIC (include/evonet/) or put it in a layer's folder (src/<layer>/).
# Usage: tools/check_layers.sh [root]   (default: the repository this script lives in)
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"

LAYERS="core gpu ops nn data report train evo export cli"
declare -A ALLOWED=(
  [core]="core"
  [gpu]="core gpu"
  [ops]="core gpu ops"
  [nn]="core gpu ops nn"
  [data]="core data"
  [report]="core data report"
  [train]="core gpu ops nn data report train"
  [evo]="core gpu ops nn data report train evo"
  [export]="core gpu ops nn export"
  [cli]="$LAYERS"
)
# The layer of each public header (include/evonet/): the layer whose src/ folder defines it.
declare -A PUBLIC=(
  [status.h]=core [io.h]=core [clock.h]=core [image_stats.h]=core [tuning.h]=core
  [gpu.h]=gpu [shaders.h]=gpu
  [tensor.h]=ops [philox.h]=ops
  [net.h]=nn [weights.h]=nn [model.h]=nn [safetensors.h]=nn
  [data.h]=data [image.h]=data
  [metrics.h]=report [class_metrics.h]=report [report.h]=report [run_folder.h]=report
  [train.h]=train
  [evolve.h]=evo
  [export.h]=export
)
# Generated headers: the layer that generates and includes them.
declare -A GENERATED=([onnx.pb-c.h]=export)

# layer_of_header <including file> <quoted include>: prints the header's layer or nothing
layer_of_header() {
  local from=$1 inc=$2
  case "$inc" in
    evonet/ops/*) echo ops; return ;;
    evonet/*) echo "${PUBLIC[${inc#evonet/}]:-}"; return ;;
    push/*) [ -f "shaders/include/$inc" ] && echo ops; return ;; # push constants shared with the shaders
  esac
  if [ -n "${GENERATED[$inc]:-}" ]; then echo "${GENERATED[$inc]}"; return; fi
  local dir
  if [ -f "src/$inc" ]; then dir=${inc%%/*}        # "data/dataset_internal.h"
  elif [ -f "$(dirname "$from")/$inc" ]; then       # "gpu_internal.h", next to the file
    dir=$(dirname "$from"); dir=${dir#src/}; dir=${dir%%/*}
  else return; fi
  case " $LAYERS " in *" $dir "*) echo "$dir" ;; esac
}

# layer_of_file <path>: the layer a file of src/ or include/evonet/ belongs to
layer_of_file() {
  local f=$1
  case "$f" in
    include/evonet/ops/*) echo ops ;;
    include/evonet/*) echo "${PUBLIC[${f#include/evonet/}]:-}" ;;
    src/*) local d=${f#src/}; echo "${d%%/*}" ;;
  esac
}

bad=0
files=$(find src include/evonet -name '*.[ch]' | sort)
for f in $files; do
  layer=$(layer_of_file "$f")
  if [ -z "$layer" ] || [ -z "${ALLOWED[$layer]:-}" ]; then
    echo "$f: not in any layer (add it to tools/check_layers.sh)"
    bad=1
    continue
  fi
  while IFS=: read -r line inc; do
    [ -n "$inc" ] || continue
    hl=$(layer_of_header "$f" "$inc")
    if [ -z "$hl" ]; then
      echo "$f:$line: includes \"$inc\", a header in no known layer (add it to tools/check_layers.sh)"
      bad=1
    elif [[ " ${ALLOWED[$layer]} " != *" $hl "* ]]; then
      echo "$f:$line: $layer includes \"$inc\" of layer $hl (allowed: ${ALLOWED[$layer]})"
      bad=1
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
           sed -E 's/^([0-9]+):[^"]*"([^"]+)".*/\1:\2/' || true)
done
if [ "$bad" -ne 0 ]; then
  echo "check_layers: upward or unlisted includes found (layers: src/README.md)"
  exit 1
fi
echo "check_layers: $(echo "$files" | wc -l) files, every include goes to the same or a lower layer"
