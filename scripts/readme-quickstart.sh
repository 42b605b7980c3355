#!/usr/bin/env bash
# Runs README.md's quick start exactly as written, so that the README cannot
# drift from what works: the first ```sh block under "## Quick start" starts
# the server (its `cargo run` line), the second is run once the server is
# ready, and its answer must carry the sums the README's request asks for.
# Exits non-zero, with the server's log, when any step fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# The lines of the Nth ```sh block (1-based) of the Quick start section.
block() {
  awk -v want="$1" '
    /^## / { in_section = ($0 == "## Quick start") }
    in_section && /^```sh$/ { n++; inside = (n == want); next }
    inside && /^```$/ { inside = 0; next }
    inside { print }
  ' README.md
}

serve=$(block 1 | grep -m1 '^cargo run ' || true)
client=$(block 2)
if [ -z "$serve" ] || [ -z "$client" ]; then
  echo "README.md: no quick start found (a \`cargo run\` block and a client block under '## Quick start')" >&2
  exit 1
fi
port=$(sed -nE 's/.*--rest_port[ =]([0-9]+).*/\1/p' <<<"$serve")
if [ -z "$port" ]; then
  echo "README.md: the quick start's server command has no --rest_port" >&2
  exit 1
fi

log=$(mktemp)
echo "+ $serve"
setsid bash -c "$serve" >"$log" 2>&1 &
server=$!
stop() {
  kill -TERM -- "-$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
trap stop EXIT

# The first run may compile; later ones start in milliseconds.
deadline=$((SECONDS + ${QUICKSTART_TIMEOUT_SECONDS:-1800}))
until curl -sf "localhost:$port/v2/health/ready" >/dev/null; do
  if ! kill -0 "$server" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    echo "the quick start's server did not become ready; its output:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  sleep 0.5
done

echo "+ (the README's client commands)"
answer=$(bash -c "$client")
echo "$answer"
# a = 1..16 plus b = 1 gives sum = 2..17; the metadata names the model.
expected='"data":[2.0,3.0,4.0,5.0,6.0,7.0,8.0,9.0,10.0,11.0,12.0,13.0,14.0,15.0,16.0,17.0]'
if ! grep -q '"name":"add"' <<<"$answer" || ! grep -qF "$expected" <<<"$answer"; then
  echo "the quick start's answer lacks the model metadata or the expected sums ($expected)" >&2
  tail -n 20 "$log" >&2
  exit 1
fi
echo "README quick start: ok"
