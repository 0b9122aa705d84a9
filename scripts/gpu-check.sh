#!/usr/bin/env bash
# Run on the device machine (no toolchain, no network), from the repository root, with .gpu-bundle/
# carried (scripts/gpu-bundle.sh makes it): the device check and the GPU figures, each as JSON in
# $OUT (at most 8 files come back), each step under its own time limit so that the whole fits in
# 8 minutes and one call plus a rerun fit the 15 minutes a session gets. Steps that fail or time
# out are logged and the rest still run. Dry-run it anywhere: OUT=/tmp/gpu-out bash scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu-out}"
mkdir -p "$OUT"
log="$OUT/log.txt"
: >"$log"
say() { echo "$*" | tee -a "$log"; }
start=$(date +%s)

bundle=.gpu-bundle
bin=/tmp/efficient4d-bundle
if [ -f "$bundle/efficient4d.xz" ]; then
  xz -dc "$bundle/efficient4d.xz" >"$bin" && chmod +x "$bin"
else
  say "no $bundle/efficient4d.xz: run scripts/gpu-bundle.sh first"
  exit 1
fi
# The Vulkan loader, where the machine has none.
if ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in "$bundle"/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nvidia_icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then
  export VK_DRIVER_FILES="$nvidia_icd"
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/efficient4d-xdg}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >>"$log" 2>&1

# step NAME SECONDS ARGS...: stdout to $OUT/NAME.json, stderr to the log.
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$bin" "$@" >"$OUT/$name.json" 2>>"$log"
  local rc=$?
  say "$name: exit $rc in $(( $(date +%s) - t0 )) s (limit $limit s)$([ $rc -eq 124 ] && echo ', TIMED OUT')"
}

"$bin" gpu >>"$log" 2>&1
step gpu_check 45 gpu --check --json
step bench_raster 40 bench raster --json
step bench_view 40 bench view --json
step bench_ring 90 bench ring --iters 300 --json
# SyncDreamer-T at full size with random weights: auto (f16 where the adapter has shader-f16), then f32;
# each reports the view batch auto chose and the memory model beside burn's allocator readings.
step bench_generate 80 bench generate --json
step bench_generate_f32 60 bench generate --precision f32 --json
step run_demo 120 run --out /tmp/gpu-demo --budget 60s --json
say "total $(( $(date +%s) - start )) s"
