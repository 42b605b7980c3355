#!/usr/bin/env bash
# Builds the container images from ./Containerfile with podman (no Docker
# engine, no registry needed) and runs them with real clients:
#   localhost/inferd:latest  (target full: OpenVINO, ONNX Runtime, tract)
#   localhost/inferd:tract   (target tract-only: the binary alone)
# then prints the images' sizes, what takes the space, and the start-up
# figures of scripts/container_check.py. Exits non-zero on any failure.
#
# Steps: installs podman, buildah, runc and debootstrap from Debian's archive
# when missing (as root); makes a minimal Debian bookworm base image with
# `debootstrap --variant=minbase` + `podman import` (once; INFERD_REBUILD_BASE=1
# makes it again); builds the release binary and the runtimes from the pinned
# wheels; builds both targets from scratch (--no-cache, BINARY_FROM=context:
# no Rust toolchain image can be pulled offline); runs the checks.
#
# Usage: scripts/container.sh   (about 1 minute warm, 3 on a new machine)
# The last step of scripts/test.sh (so of .ci/run); needs root and apt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$root/target/container
base=localhost/inferd-base:bookworm
mkdir -p "$work"

missing=()
for tool in podman buildah runc debootstrap iptables; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[ -x /usr/lib/podman/netavark ] || missing+=(netavark)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing podman and its tools from Debian's archive (missing: ${missing[*]})"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    podman buildah runc debootstrap netavark aardvark-dns iptables catatonit uidmap \
    fuse-overlayfs slirp4netns >/dev/null
fi

# runc: crun refuses this machine's hybrid cgroups; ulimits no higher than the
# host allows.
cat > "$work/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$work/containers.conf

if [ "${INFERD_REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$base"; then
  echo "making $base with debootstrap --variant=minbase"
  rm -rf "$work/rootfs"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs" \
    http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; exit 1; }
  tar -C "$work/rootfs" -c . | podman import --quiet - "$base" >/dev/null
  rm -rf "$work/rootfs"
fi

cargo build --release --workspace --locked  # as scripts/test.sh: nothing to do after it
strip -o "$work/inferd" target/release/inferd
scripts/install-runtimes.sh >/dev/null
scripts/venv.sh >/dev/null
resnet=$root/target/bench-models/resnet50
[ -f "$resnet/1/model.onnx" ] || .venv/bin/python scripts/gen_resnet50.py "$resnet"

build() {
  local target=$1 tag=$2 started
  started=$(date +%s)
  podman build --quiet --pull=never --no-cache --format docker -f Containerfile \
    --build-arg BASE_IMAGE="$base" --build-arg BINARY_FROM=context \
    --target "$target" -t "$tag" . >/dev/null
  echo "built $tag (target $target) in $(( $(date +%s) - started )) s"
}
build tract-only localhost/inferd:tract
build full localhost/inferd:latest
podman image prune -f >/dev/null


size_mb() { podman image inspect --format '{{.Size}}' "$1" | awk '{printf "%.1f", $1 / 1e6}'; }
du_mb() { du -sb "$@" 2>/dev/null | awk '{s += $1} END {printf "%.1f", s / 1e6}'; }
mnt=$(podman image mount localhost/inferd:latest)
libs=$mnt/opt/inferd/runtimes
echo
echo "| image | size, MB (uncompressed) |"
echo "|---|---:|"
echo "| localhost/inferd:tract | $(size_mb localhost/inferd:tract) |"
echo "| localhost/inferd:latest | $(size_mb localhost/inferd:latest) |"
echo
echo "what takes the space in localhost/inferd:latest, MB:"
echo "  inferd binary (stripped):            $(du_mb "$mnt/usr/local/bin/inferd")"
echo "  OpenVINO CPU plugin:                 $(du_mb "$libs"/openvino/libs/libopenvino_intel_cpu_plugin.so)"
echo "  OpenVINO core + C API:               $(du_mb "$libs"/openvino/libs/libopenvino.so.* "$libs"/openvino/libs/libopenvino_c.so.*)"
echo "  OpenVINO frontends (IR, ONNX, TF, TFLite, Paddle): $(du_mb "$libs"/openvino/libs/libopenvino_*_frontend.so.*)"
echo "  OpenVINO AUTO/HETERO/batch, TBB, hwloc: $(du_mb "$libs"/openvino/libs/libopenvino_{auto,auto_batch,hetero}_plugin.so "$libs"/openvino/libs/lib{tbb,hwloc}*)"
echo "  ONNX Runtime:                        $(du_mb "$libs"/onnxruntime/capi)"
echo "  C/C++ libraries, certificates:       $(du_mb "$mnt/lib" "$mnt/lib64" "$mnt/usr/lib" "$mnt/etc")"
podman image unmount localhost/inferd:latest >/dev/null

echo
.venv/bin/python scripts/container_check.py localhost/inferd:latest localhost/inferd:tract "$resnet"
