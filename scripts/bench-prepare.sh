#!/usr/bin/env bash
# What the ResNet-50 benchmarks share: the native runtimes, the Python venv,
# and the ResNet-50-sized model (scripts/gen_resnet50.py, under target/,
# never committed). Prints the venv's python, then the model folder, on the
# last two lines.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-runtimes.sh >&2
python=$(scripts/venv.sh | tail -n 1)
resnet=target/bench-models/resnet50
[ -f "$resnet/1/model.onnx" ] || "$python" scripts/gen_resnet50.py "$resnet" >&2
echo "$python"
echo "$resnet"
