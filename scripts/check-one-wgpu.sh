#!/usr/bin/env bash
# burn, egui-wgpu and our own code must share one wgpu (one Device type): fail if the tree has two
# versions of wgpu or naga.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=$(cargo tree --locked -e normal --prefix none 2>/dev/null | grep -oE '^(wgpu|naga) v[0-9.]+' | sort -u)
for crate in wgpu naga; do
  count=$(grep -c "^$crate v" <<<"$versions" || true)
  if [ "$count" -ne 1 ]; then
    echo "error: expected exactly one version of $crate in the dependency tree, found:" >&2
    echo "$versions" >&2
    exit 1
  fi
done
echo "one wgpu:" $versions
