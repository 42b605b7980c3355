#!/usr/bin/env bash
# Dynamic batching benchmark (not a test): what the server's dynamic batching
# buys, per model, against the same build with it off.
#
#   scripts/batching-bench.sh                     # both MLPs, then ResNet-50
#   PARTS=mlp scripts/batching-bench.sh           # the small MLP only
#   PROTOCOL=kserve-grpc scripts/batching-bench.sh  # over gRPC (default REST binary)
#   scripts/batching_bench.py --report target/batching-bench   # print it again
#
# It
#   1. generates a small MLP and one with 2048-wide hidden layers
#      (scripts/gen_mlp.py) and the ResNet-50-sized
#      model (scripts/gen_resnet50.py) under target/bench-models, random
#      weights, never committed,
#   2. builds what the tests build (one release build),
#   3. runs scripts/batching_bench.py: per model, one inferd per setting
#      (off: no batching; on: max_batch_size 64 and no queue delay; tuned:
#      the same with a queue delay and preferred sizes) started in turn, each
#      measured over KServe REST binary (PROTOCOL) at several concurrencies,
#      settings interleaved in ROUNDS rounds,
#      and
#   4. prints requests/s, p50 and p99 per setting, on÷off and tuned÷off, the
#      mean batch the server ran (its statistics), and whether the targets are
#      met: the MLP at 16 clients at least 3x the requests/s with batching on,
#      and at 1 client a p50 within 5 % of batching off. Results stay in
#      target/batching-bench/results.jsonl.
# Settings (environment): PARTS (mlp,mlp_wide,resnet50), LEVELS (1,4,16,64: the MLP),
# LEVELS_RESNET (1,4,16,64), ROUNDS (3), ROUNDS_RESNET (1), WINDOW_MS (1000),
# WARMUP_MS (500), WINDOW_MS_RESNET (5000), WARMUP_MS_RESNET (3000), MAX_BATCH (64),
# TUNED_DELAY_US (both models; else MLP_DELAY_US 500, RESNET_DELAY_US 20000),
# TUNED_PREFERRED (4,8,16,32,64), PROTOCOL (kserve-rest-binary), BACKEND (the server's own choice), OUT (target/batching-bench).
# Bounded: every inferd-bench run has --max-duration-s and at most 4 windows,
# every server start a deadline.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { printf '\n== %s\n' "$*" >&2; }

say "runtimes, Python venv, models"
scripts/install-runtimes.sh >&2
python=$(scripts/venv.sh | tail -n 1)
mlp=target/bench-models/mlp
wide=target/bench-models/mlp_wide
resnet=target/bench-models/resnet50
parts=,${PARTS:-mlp,mlp_wide,resnet50},
case $parts in *,mlp,*)
  [ -f "$mlp/1/model.onnx" ] || "$python" scripts/gen_mlp.py "$mlp" >&2 ;;
esac
case $parts in *,mlp_wide,*)
  [ -f "$wide/1/model.onnx" ] || "$python" scripts/gen_mlp.py "$wide" 2048 >&2 ;;
esac
case $parts in *,resnet50,*)
  [ -f "$resnet/1/model.onnx" ] || "$python" scripts/gen_resnet50.py "$resnet" >&2 ;;
esac

say "release build (the same one scripts/test.sh makes)"
cargo test --release --workspace --locked --no-run -q >&2
[ -x target/release/inferd ] && [ -x target/release/inferd-bench ] || {
  echo "build did not produce inferd and inferd-bench" >&2; exit 1; }

exec "$python" scripts/batching_bench.py --mlp-dir "$mlp" --wide-dir "$wide" --resnet-dir "$resnet"
