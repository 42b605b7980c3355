# Sourced by the ResNet-50 benchmarks (`. scripts/bench-prepare.sh`, from the
# repository root, under `set -euo pipefail`): installs the native runtimes
# and the Python venv, generates the ResNet-50-sized model when missing
# (scripts/gen_resnet50.py, under target/, never committed), and sets
# `python` (the venv's) and `resnet` (the model folder).
scripts/install-runtimes.sh >&2
python=$(scripts/venv.sh | tail -n 1)
resnet=target/bench-models/resnet50
[ -f "$resnet/1/model.onnx" ] || "$python" scripts/gen_resnet50.py "$resnet" >&2
