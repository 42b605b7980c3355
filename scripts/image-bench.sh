#!/usr/bin/env bash
# Image benchmark (not a test): how fast inferd turns JPEGs into model inputs,
# beside OpenCV and Pillow on the same files, and what serving a
# ResNet-50-sized model from JPEG requests costs against raw FP32 requests.
#
#   scripts/image-bench.sh                  # both parts
#   PARTS=decode scripts/image-bench.sh     # decode speed only
#
# It generates two photo-like JPEGs (224x224 and 1280x720, quality 90) and
# the ResNet-50-sized model (scripts/gen_resnet50.py) under target/, builds
# the decoder's bench binary and the release binaries, then runs
# scripts/image_bench.py, which prints
#   1. images/s on one core (every decoder pinned to core 0): decode only,
#      and decode + resize to a 224x224 FP32 BGR input; target: inferd at
#      least as fast as OpenCV;
#   2. requests/s and bytes on the wire of JPEG requests vs raw FP32
#      [1,224,224,3] requests to the model (layout NHWC:NCHW), KServe gRPC.
# Settings (environment): PARTS (decode,serve), WINDOW_S (2: seconds per
# measurement), CONCURRENCY (2). Bounded: each inferd-bench run has
# --max-duration-s, the server start a deadline.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/bench-prepare.sh
cargo build --release --locked -q -p inferd-server -p inferd-bench >&2
cargo bench --locked -q -p inferd-image --bench decode --no-run >&2
decode=$(ls -t target/release/deps/decode-* | grep -v '\.d$' | head -n 1)
exec "$python" scripts/image_bench.py --decode-bench "$decode" \
  --inferd target/release/inferd --bench target/release/inferd-bench --model "$resnet" \
  --seconds "${WINDOW_S:-2}" --concurrency "${CONCURRENCY:-2}" \
  --parts "${PARTS:-decode,serve}"
