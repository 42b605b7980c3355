#!/usr/bin/env bash
# Prints the path of Microsoft's Azurite Blob emulator (pinned) for the
# object-store tests: installed from npm into <repo>/tools/azurite on first
# use (Node.js from the system; no global install).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=3.37.0
prefix="$root/tools/azurite"
binary="$prefix/node_modules/.bin/azurite-blob"
if ! command -v node >/dev/null 2>&1; then
  echo "install-azurite.sh: Node.js (node, npm) is needed; e.g. apt-get install nodejs npm" >&2
  exit 1
fi
if [ ! -x "$binary" ] || [ "$(cat "$prefix/version" 2>/dev/null)" != "$version" ]; then
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "azurite@$version" >&2
  echo "$version" > "$prefix/version"
fi
echo "$binary"
