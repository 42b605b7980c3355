#!/usr/bin/env bash
# The project's test command (README and CI run exactly this):
#   1. format and lint checks,
#   2. the native runtimes (OpenVINO, ONNX Runtime wheels) into runtimes/,
#      so that every backend is exercised (INFERD_REQUIRE_BACKENDS makes a
#      missing one a failure rather than a skip),
#   3. one release build of the workspace (the example custom node cdylib
#      included), then every Rust test from it (integration
#      tests start the real `inferd` binary that this build produces),
#   4. interop tests with the real Python clients, in a venv this script makes
#      (and TensorFlow Serving's own client in a second one: scripts/venv-tf.sh),
#      against that same binary,
#   5. README.md's quick start, run exactly as written,
#   6. the container images: built from ./Containerfile with podman and run
#      with real clients (scripts/container.sh; needs root and apt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (release, all targets, warnings are errors)"
cargo clippy --release --workspace --all-targets --locked -- -D warnings

step "native runtimes"
scripts/install-runtimes.sh
export INFERD_REQUIRE_BACKENDS=${INFERD_REQUIRE_BACKENDS-openvino,onnxruntime,tract}

step "promtool (checks the /metrics output)"
INFERD_PROMTOOL=$(scripts/install-promtool.sh | tail -n 1)
export INFERD_PROMTOOL INFERD_REQUIRE_PROMTOOL=1

step "cargo build --release (the example custom node cdylib, which tests load)"
cargo build --release --workspace --locked

step "cargo test --release (builds target/release/inferd too)"
cargo test --release --workspace --locked

step "Python venv for interop tests"
python=$(scripts/venv.sh | tail -n 1)

step "TensorFlow Serving's own client (tensorflow-serving-api) in a venv of its own"
INFERD_TF_PYTHON=$(scripts/venv-tf.sh | tail -n 1)
export INFERD_TF_PYTHON

step "Azurite (the Azure Blob emulator the object-store tests start)"
INFERD_AZURITE=$(scripts/install-azurite.sh | tail -n 1)
export INFERD_AZURITE

step "interop tests (tritonclient)"
INFERD_BIN="$root/target/release/inferd" "$python" -m pytest -q tests/interop

step "README quick start (scripts/readme-quickstart.sh)"
scripts/readme-quickstart.sh

step "container images (scripts/container.sh)"
scripts/container.sh
