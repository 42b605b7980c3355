#!/usr/bin/env bash
# Installs the native inference runtimes inferd loads at run time, from their
# PyPI wheels, into a runtimes folder (default: <repo>/runtimes):
#   <dir>/openvino/libs/libopenvino_c.so.<ver>          (OpenVINO backend)
#   <dir>/onnxruntime/capi/libonnxruntime.so.<ver>     (ONNX Runtime backend)
# inferd looks there by default; --openvino_lib / --onnxruntime_lib override.
# Idempotent: does nothing when the pinned versions are already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${INFERD_RUNTIMES_DIR:-$root/runtimes}}
OPENVINO_VERSION=2026.4.1
ONNXRUNTIME_VERSION=1.31.1
stamp="$dir/.installed"
want="openvino==$OPENVINO_VERSION onnxruntime==$ONNXRUNTIME_VERSION"
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "runtimes already installed in $dir"
  exit 0
fi
mkdir -p "$dir"
# --no-deps: only the shared libraries are needed, not numpy & co.
python3 -m pip install --quiet --disable-pip-version-check --no-deps --upgrade \
  --target "$dir" "openvino==$OPENVINO_VERSION" "onnxruntime==$ONNXRUNTIME_VERSION"
echo "$want" > "$stamp"
echo "runtimes installed in $dir:"
ls "$dir"/openvino/libs/libopenvino_c.so* "$dir"/onnxruntime/capi/libonnxruntime.so* 2>/dev/null
