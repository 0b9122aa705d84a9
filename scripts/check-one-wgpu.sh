#!/usr/bin/env bash
# burn, egui-wgpu and our own code must share one wgpu (one Device type): fail if the tree has two.
set -euo pipefail
cd "$(dirname "$0")/.."
dups=$(cargo tree --locked -d -e normal --prefix none 2>/dev/null | grep -E '^(wgpu|wgpu-core|wgpu-hal|wgpu-types|naga) v' | sort -u || true)
if [ -n "$dups" ]; then
  echo "error: more than one version of wgpu/naga in the dependency tree:" >&2
  echo "$dups" >&2
  exit 1
fi
echo "one wgpu: $(cargo tree --locked -e normal --prefix none 2>/dev/null | grep -m1 -E '^wgpu v')"
