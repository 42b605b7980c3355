#!/usr/bin/env bash
# What serving every signature of a SavedModel costs at load: time from exec
# to the version AVAILABLE and the server's RSS then, for a MobileNetV2
# (random weights) saved three ways, in the TensorFlow venv of
# scripts/venv-tf.sh. Ratios against the model with one signature.
# Usage: scripts/signature-load.sh [runs per case, default 3]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${INFERD_BIN:-$root/target/release/inferd}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
python=$("$root/scripts/venv-tf.sh" | tail -n 1)
INFERD_BIN="$bin" exec "$python" "$root/scripts/signature_load.py" "${1:-3}"
