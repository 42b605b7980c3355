#!/usr/bin/env bash
# Pipeline benchmark (not a test): a two-model pipeline against the client
# calling the two models in turn (requests/s and p50 at 1 and 8 clients),
# and the server CPU an extra pipeline node costs (identity x4 vs x1).
# Uses the committed test models only; prints markdown tables.
#   scripts/pipeline-bench.sh            # ROUNDS=3 WINDOW_MS=1500 by default
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=$(scripts/venv.sh | tail -n 1)
cargo build --release --locked -q -p inferd-server -p inferd-bench >&2
exec "$python" scripts/pipeline_bench.py --rounds "${ROUNDS:-3}" --window-ms "${WINDOW_MS:-1500}"
