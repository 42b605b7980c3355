#!/usr/bin/env bash
# S3 benchmark (not a test): download throughput of a ResNet-50-sized model
# from an S3-compatible server (moto, on loopback) by inferd beside boto3's
# download_file in the same run (target: at least as fast), and start-up to
# first answer from the bucket vs from local disk.
#
#   scripts/s3-bench.sh            # ROUNDS=3
# The model comes from scripts/gen_resnet50.py (under target/, never
# committed); scripts/s3_bench.py prints the tables. Bounded: every server
# start and first answer has a deadline.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/bench-prepare.sh
cargo build --release --locked -q -p inferd-server >&2
exec "$python" scripts/s3_bench.py --inferd target/release/inferd --model "$resnet" \
  --rounds "${ROUNDS:-3}"
