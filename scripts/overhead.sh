#!/usr/bin/env bash
# Serving-overhead benchmark: how much of an engine's own throughput inferd
# keeps when requests come over the wire, and what a tiny model costs per
# request.
#
#   scripts/overhead.sh                       # ResNet-50 on OpenVINO, add on tract
#   BACKEND=onnxruntime scripts/overhead.sh   # or tract
#   BEFORE=/tmp/inferd-old scripts/overhead.sh  # also measure an older build, interleaved
#
# It
#   1. generates the ResNet-50-sized ONNX model (random weights, never
#      committed; scripts/gen_resnet50.py) next to the committed tiny `add`,
#   2. builds what the tests build (one release build; the raw-engine bench
#      shares its dependencies),
#   3. runs scripts/overhead.py: the engine in process (benches/raw.rs) and
#      inferd over KServe gRPC and REST binary at concurrency 1, 2, 4, 8 for
#      ResNet-50, then `add` over gRPC, REST JSON and REST binary at 1 and 8
#      with metrics off and on; everything interleaved in ROUNDS rounds so
#      that this shared machine's drift hits every series alike, and
#   4. prints medians, server ÷ raw, and CPU time per request (results stay
#      in target/overhead/results.jsonl; `scripts/overhead.py --report DIR`
#      prints them again).
# Settings (environment): PARTS (resnet,add,identity,identity-1mb: which
# series to measure), BACKEND (openvino), ADD_BACKEND (tract), LEVELS
# (1,2,4,8), ROUNDS (5; ADD_ROUNDS for add and identity: 5), WINDOW_MS (2000), RAW_SECONDS (6), BEFORE (an
# older inferd binary to compare with), OUT (target/overhead).
# Bounded: every inferd-bench run has --max-duration-s, every raw run a fixed
# time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { printf '\n== %s\n' "$*" >&2; }

say "runtimes, Python venv, models"
. scripts/bench-prepare.sh

say "release build (the same one scripts/test.sh makes)"
cargo test --release --workspace --locked --no-run -q >&2
raw_bench=$(cargo bench -q --workspace --locked --bench raw --no-run --message-format=json-render-diagnostics \
  | "$python" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "raw" and m.get("executable"):
        print(m["executable"])')
[ -x target/release/inferd ] && [ -x target/release/inferd-bench ] && [ -x "$raw_bench" ] || {
  echo "build did not produce inferd, inferd-bench and the raw bench" >&2; exit 1; }

exec "$python" scripts/overhead.py --raw-bench "$raw_bench" --model-dir "$resnet"
