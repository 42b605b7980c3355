#!/usr/bin/env bash
# Measures, for a release build: binary size, time from exec to /v2/health/ready,
# and idle RSS after start-up. Usage: scripts/measure_startup.sh [inferd args...]
# Default args serve models/config.json. Loopback only; stops the server at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${INFERD_BIN:-$root/target/release/inferd}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc=$(port); rest=$(port)
args=("$@"); [ ${#args[@]} -gt 0 ] || args=(--config_path "$root/models/config.json")
start=$(date +%s%N)
"$bin" "${args[@]}" --port "$grpc" --rest_port "$rest" --grpc_bind_address 127.0.0.1 \
  --rest_bind_address 127.0.0.1 --log_level WARNING &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 3000); do
  if curl -sf "http://127.0.0.1:$rest/v2/health/ready" >/dev/null; then break; fi
  sleep 0.002
done
ready=$(date +%s%N)
sleep 1
echo "binary size:    $(du -h "$bin" | cut -f1) ($(stat -c %s "$bin") bytes; stripped: $(strip -o /tmp/inferd.stripped "$bin" && stat -c %s /tmp/inferd.stripped) bytes)"
echo "time to ready:  $(( (ready - start) / 1000000 )) ms"
echo "idle RSS:       $(awk '/VmRSS/ {print $2 " " $3}' /proc/$pid/status)"
