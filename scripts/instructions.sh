#!/usr/bin/env bash
# Instructions the server executes per request, counted by callgrind: a
# deterministic complement to overhead.sh's CPU time on a noisy machine.
# Starts inferd (and, with BEFORE, an older binary) under valgrind serving the
# tiny `add` model on tract, sends warm-up requests, zeroes the counters,
# sends REQUESTS more over REST JSON, REST binary (a connection each, and
# keep-alive) and gRPC (tritonclient),
# and prints instructions per request and now ÷ before.
#
#   scripts/instructions.sh
#   BEFORE=/tmp/inferd-old scripts/instructions.sh
#
# Needs valgrind (Debian: apt-get install valgrind). Settings: REQUESTS
# (1000), WARMUP (200), BEFORE. Bounded: each client sends a fixed count.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
python=$(scripts/venv.sh | tail -n 1)
requests=${REQUESTS:-1000}
warmup=${WARMUP:-200}
[ -x target/release/inferd ] || cargo build --release --locked -p inferd-server >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/config.json" <<JSON
{"model_config_list": [{"config": {"name": "add", "base_path": "$root/models/add", "backend": "tract"}}]}
JSON

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# measure NAME BINARY: prints "NAME MODE INSTRUCTIONS" per mode.
measure() {
  local name=$1 binary=$2 grpc rest pid
  grpc=$(free_port); rest=$(free_port)
  valgrind --tool=callgrind --callgrind-out-file="$work/$name.%p" \
    "$binary" --config_path "$work/config.json" --port "$grpc" --rest_port "$rest" \
    --grpc_bind_address 127.0.0.1 --rest_bind_address 127.0.0.1 \
    --file_system_poll_wait_seconds 0 --log_level WARNING >"$work/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$rest/v2/health/ready" >/dev/null && break
    sleep 0.2
  done
  for mode in json binary keepalive grpc; do
    "$python" scripts/instructions_client.py "$mode" "$rest" "$grpc" "$warmup"
    callgrind_control -z "$pid" >/dev/null 2>&1
    "$python" scripts/instructions_client.py "$mode" "$rest" "$grpc" "$requests"
    rm -f "$work/$name.$pid".*
    callgrind_control -d "$pid" >/dev/null 2>&1
    local dump
    for _ in $(seq 50); do
      dump=$(ls "$work/$name.$pid".* 2>/dev/null | head -n 1 || true)
      [ -n "$dump" ] && grep -q '^totals:' "$dump" && break
      sleep 0.2
    done
    echo "$name $mode $(awk '/^totals:/ {print $2}' "$dump")"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

{
  measure now target/release/inferd
  if [ -n "${BEFORE:-}" ]; then measure before "$BEFORE"; fi
} > "$work/counts"
"$python" - "$work/counts" "$requests" <<'PY'
import sys
counts = {}
for line in open(sys.argv[1]):
    name, mode, total = line.split()
    counts[(name, mode)] = int(total) / int(sys.argv[2])
print(f"{'mode':<9} {'now instr/req':>14} {'before':>10} {'now÷before':>10}")
for mode in ("json", "binary", "keepalive", "grpc"):
    now, before = counts.get(("now", mode)), counts.get(("before", mode))
    rest = f" {before:>10,.0f} {now / before:10.3f}" if before else ""
    print(f"{mode:<9} {now:>14,.0f}{rest}")
PY
