#!/usr/bin/env bash
# Prints the path of a `promtool` (Prometheus's metrics linter) for the
# metrics tests: the one on PATH if there is one, else the binary unpacked
# from Debian's `prometheus` package into <repo>/tools (no root needed, no
# service installed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if command -v promtool >/dev/null 2>&1; then
  command -v promtool
  exit 0
fi
unpacked="$root/tools/prometheus/usr/bin/promtool"
if [ ! -x "$unpacked" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download prometheus >&2)
  mkdir -p "$root/tools/prometheus"
  dpkg-deb -x "$work"/prometheus_*.deb "$root/tools/prometheus"
fi
echo "$unpacked"
