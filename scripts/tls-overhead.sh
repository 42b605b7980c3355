#!/usr/bin/env bash
# TLS cost benchmark (not a test): the tiny `add` model over KServe gRPC and
# REST binary, 1 and 8 clients, plain vs TLS, interleaved in one run; prints
# requests/s, p99, server CPU per request and TLS ÷ plain.
#
#   scripts/tls-overhead.sh            # ROUNDS (3), WINDOW_MS (2000)
#   scripts/tls_overhead.py --report   # print the last run again
# Bounded: every inferd-bench run has --max-duration-s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=$(scripts/venv.sh | tail -n 1)
cargo build --release --workspace --locked -q >&2
exec "$python" scripts/tls_overhead.py "$@"
