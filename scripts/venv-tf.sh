#!/usr/bin/env bash
# Creates (or refreshes) the Python venv holding TensorFlow Serving's own client
# (the tensorflow-serving-api package and the TensorFlow it imports its protos from),
# at $INFERD_TF_VENV (default: .venv-tf in the repo root). A venv of its own: TF's
# protos and ovmsclient's bundled copies register the same proto files, so the two
# cannot be imported in one process. Prints the venv's python path on the last line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${INFERD_TF_VENV:-$root/.venv-tf}
requirements=$root/scripts/requirements-tf.txt
stamp=$venv/.requirements.sha
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
  # tensorflow-serving-api asks for the `tensorflow` distribution; tensorflow-cpu
  # provides the same module, so the API is installed without its dependencies.
  grep -v '^tensorflow-serving-api' "$requirements" | "${pip[@]}" -r /dev/stdin >&2
  "${pip[@]}" --no-deps "$(grep '^tensorflow-serving-api' "$requirements")" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
