#!/usr/bin/env bash
# Creates (or refreshes) the Python venv used by the interop tests and the
# test-model generator, at $INFERD_VENV (default: .venv in the repo root).
# Prints the venv's python path on the last line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${INFERD_VENV:-$root/.venv}
requirements=$root/scripts/requirements.txt
stamp=$venv/.requirements.sha
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
