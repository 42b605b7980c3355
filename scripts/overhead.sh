#!/usr/bin/env bash
# Serving-overhead benchmark: how much of an engine's own throughput inferd
# keeps when requests come over the wire.
#
#   scripts/overhead.sh            # OpenVINO (BACKEND=onnxruntime or tract also work)
#
# In one run it
#   1. generates the ResNet-50-sized ONNX model (random weights, never
#      committed; scripts/gen_resnet50.py) next to the committed tiny `add`,
#   2. measures the engine in process at concurrency 1, 2, 4, 8 (threads
#      calling it in a closed loop with the server's default engine settings:
#      cargo bench -p inferd-backend --bench raw), before and after step 3,
#   3. starts inferd on loopback and measures the same model with inferd-bench
#      over KServe gRPC and REST binary at the same concurrencies, then `add`
#      over gRPC, REST JSON and REST binary at concurrency 1 and 8, with
#      metrics off and then on,
#   4. prints server ÷ raw per concurrency and the tables for `add`
#      (scripts/overhead_report.py; the JSON files stay in target/overhead).
# Bounded: each inferd-bench run has --max-duration-s, the raw bench a fixed
# time per level.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
backend=${BACKEND:-openvino}
add_backend=${ADD_BACKEND:-$backend}
levels=${LEVELS:-1,2,4,8}
raw_seconds=${RAW_SECONDS:-10}
window_ms=${WINDOW_MS:-4000}
out=${OUT:-$root/target/overhead}
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.jsonl

say() { printf '\n== %s\n' "$*" >&2; }

say "runtimes, Python venv, models"
scripts/install-runtimes.sh >&2
python=$(scripts/venv.sh | tail -n 1)
resnet=target/bench-models/resnet50
[ -f "$resnet/1/model.onnx" ] || "$python" scripts/gen_resnet50.py "$resnet" >&2

say "release build"
cargo build --release -q -p inferd-server -p inferd-bench
cargo bench -q -p inferd-backend --bench raw --no-run 2>/dev/null

raw() {
  say "raw engine ($backend) at $levels, ${raw_seconds} s each"
  cargo bench -q -p inferd-backend --bench raw -- "$resnet/1" "$backend" "$levels" "$raw_seconds" \
    | grep '^{' >> "$out/raw_resnet50.jsonl"
}
# Measured before and after the server runs; the report divides by the
# better of the two (this shared 2-core machine drifts by several percent).
raw

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
config="$out/config.json"
cat > "$config" <<JSON
{"model_config_list": [
  {"config": {"name": "resnet50", "base_path": "$root/$resnet", "backend": "$backend"}},
  {"config": {"name": "add", "base_path": "$root/models/add", "backend": "$add_backend"}}
]}
JSON

server_pid=
start_server() {
  grpc=$(free_port); rest=$(free_port)
  target/release/inferd --config_path "$config" --port "$grpc" --rest_port "$rest" \
    --grpc_bind_address 127.0.0.1 --rest_bind_address 127.0.0.1 \
    --file_system_poll_wait_seconds 0 --log_level WARNING "$@" > "$out/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 300); do
    if curl -sf --noproxy '*' "http://127.0.0.1:$rest/v2/health/ready" > /dev/null; then return; fi
    sleep 0.2
  done
  echo "inferd did not become ready; log:" >&2; cat "$out/server.log" >&2; exit 1
}
stop_server() { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; }
trap stop_server EXIT

bench() { # NAME MODEL PROTOCOL LEVELS WINDOW_MS
  local port=$grpc
  [[ $3 == kserve-rest* ]] && port=$rest
  say "inferd-bench $2 over $3 at $4"
  target/release/inferd-bench --protocol "$3" -u "127.0.0.1:$port" -m "$2" -c "$4" \
    --input-data zero --measurement-interval-ms "$5" --max-duration-s 240 \
    --json "$out/$1.json" >&2
}

start_server
bench resnet50_grpc resnet50 kserve-grpc "$levels" "$window_ms"
bench resnet50_rest_binary resnet50 kserve-rest-binary "$levels" "$window_ms"
for protocol in kserve-grpc kserve-rest kserve-rest-binary; do
  bench "add_${protocol}" add "$protocol" 1,8 2000
done
stop_server

say "the same for add with every metric on"
start_server --metrics_enable --metrics_list ovms_requests_success,ovms_requests_fail,ovms_request_time_us,ovms_inference_time_us,ovms_wait_for_infer_req_time_us,ovms_current_requests,ovms_streams,ovms_infer_req_queue_size,ovms_infer_req_active
for protocol in kserve-grpc kserve-rest kserve-rest-binary; do
  bench "add_${protocol}_metrics" add "$protocol" 1,8 2000
done
stop_server
raw

"$python" scripts/overhead_report.py "$out" "$backend" "$add_backend"
