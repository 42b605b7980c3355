#!/usr/bin/env bash
# Engine-choice benchmark (issue: a fast default engine, ONNX Runtime
# concurrency): the `add` model with no backend named beside each engine
# pinned by name, and a ResNet-50-sized model on ONNX Runtime one request at
# a time vs concurrently; see scripts/engine_choice.py. Needs the runtimes
# (installed here) and builds what the tests build.
#   scripts/engine-choice.sh                   # measure and report
#   ROUNDS=5 WINDOW_MS=2000 scripts/engine-choice.sh
#   scripts/engine_choice.py --report target/engine-choice   # report again
# Bounded: every inferd-bench run has --max-duration-s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/bench-prepare.sh
cargo test --release --workspace --locked --no-run -q >&2
exec "$python" scripts/engine_choice.py --model-dir "$resnet"
