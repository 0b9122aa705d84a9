#!/usr/bin/env bash
# Run here (where the Rust toolchain is): builds what scripts/gpu-check.sh runs on a device machine
# that has no toolchain and no network, into the ignored folder .gpu-bundle/ (at most 60 MiB, the
# device tool carries 64 MiB a call):
#   efficient4d.xz   the release binary, stripped and xz-compressed
#   debs/            the Vulkan loader (libvulkan1), for a machine without one
# Then, with the device tool: carry [".gpu-bundle"], command `bash scripts/gpu-check.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/efficient4d-target}"
bundle=.gpu-bundle
mkdir -p "$bundle/debs"

cargo build --release --locked
bin="$CARGO_TARGET_DIR/release/efficient4d"
strip -o "$bundle/efficient4d" "$bin"
xz -T0 -6 -f "$bundle/efficient4d"

# The loader only: the NVIDIA driver there brings its own ICD. Fetched for amd64 whatever this
# machine is (the device machine is x86-64).
if ! ls "$bundle"/debs/libvulkan1_*.deb >/dev/null 2>&1; then
  lists=$(mktemp -d)
  mkdir -p "$lists/partial"
  apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
  apt-get "${apt_opts[@]}" update -qq
  (cd "$bundle/debs" && apt-get "${apt_opts[@]}" download libvulkan1 >/dev/null)
  rm -rf "$lists"
fi

size=$(du -cb "$bundle"/efficient4d.xz "$bundle"/debs/*.deb | tail -1 | cut -f1)
echo "bundle: $(du -h "$bundle/efficient4d.xz" | cut -f1) binary (from $(du -h "$bin" | cut -f1)), $(ls "$bundle"/debs | wc -l) deb, $((size / 1024 / 1024)) MiB in all"
if [ "$size" -gt $((60 * 1024 * 1024)) ]; then
  echo "error: the bundle is over 60 MiB" >&2
  exit 1
fi
