#!/usr/bin/env bash
# Stateful-model benchmark (not a test): 64 concurrent sequences of 100
# steps on the accumulator, stateful vs stateless with the client carrying
# the state; prints a markdown table. ROUNDS=3 by default.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=$(scripts/venv.sh | tail -n 1)
cargo build --release --locked -q -p inferd-server >&2
exec "$python" scripts/sequence_bench.py --rounds "${ROUNDS:-3}"
