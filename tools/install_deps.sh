#!/usr/bin/env bash
# Installs what evonet needs from Debian 12's archive; skips packages already present.
# Works as root or through sudo. `--tests` adds what the test suite needs (validation
# layers, cmocka, PyTorch for the cross-checks, ONNX and OpenCV for the export check);
# `--fashion-mnist` adds Debian's dataset-fashion-mnist (30 MB: 70,000 labelled images,
# /usr/share/datasets/fashion-mnist, what `--data fashion-mnist` reads).
#   tools/install_deps.sh [--tests] [--fashion-mnist]
set -euo pipefail

pkgs=(cmake make gcc pkg-config libvulkan-dev libvulkan-volk-dev glslc libstb-dev
      libcjson-dev libjpeg62-turbo-dev zlib1g-dev mesa-vulkan-drivers python3 python3-numpy python3-pil
      protobuf-c-compiler libprotobuf-c-dev)
tests=0
for a in "$@"; do
  case "$a" in
    --tests) tests=1 ;;
    --fashion-mnist) pkgs+=(dataset-fashion-mnist) ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install_deps.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done
if [ "$tests" = 1 ]; then
  pkgs+=(libcmocka-dev vulkan-validationlayers python3-torch python3-onnx python3-opencv)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install_deps.sh: all ${#pkgs[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  run() { "$@"; }
elif command -v sudo >/dev/null 2>&1; then
  run() { sudo "$@"; }
else
  echo "install_deps.sh: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
echo "install_deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
run apt-get update -qq
run apt-get install -y -qq --no-install-recommends "${missing[@]}"
