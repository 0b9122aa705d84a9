#!/usr/bin/env bash
# Our .splatv in the browser viewers that read it, compared with our own render of the same camera and
# time (silhouette IoU, PSNR on the object): splaTV (antimatter15/splaTV's index.html + hybrid.js at a
# pinned commit; not on a package registry, so pass a checkout of it, which is read, never copied into
# this repository) and gsplat.js (npm `gsplat`, a pinned version, cached), beside our HTML player.
# Headless Chromium (Debian's `chromium`), WebGL2 on SwiftShader; `efficient4d bench viewers` serves
# the pages on 127.0.0.1 and does the comparing.
#
#   scripts/splatv-viewers.sh CHECKPOINT SPLATV_CHECKOUT [--json]
#
# EFFICIENT4D selects the binary (default: target/release/efficient4d, or under CARGO_TARGET_DIR);
# EFFICIENT4D_VIEWERS_SAVE=DIR keeps every capture and our render as PNGs.
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,12p "$0"; exit 2; }
ckpt=$1 splatv_repo=$2
shift 2
SPLATV_COMMIT=8b313fe
cd "$(dirname "$0")/.."
# The version .ci/run installs for tests/html_player.rs (defined there only).
GSPLAT_VERSION=$(sed -n 's/^GSPLAT_VERSION=//p' .ci/run)
bin=${EFFICIENT4D:-${CARGO_TARGET_DIR:-target}/release/efficient4d}

work=$(mktemp -d -t efficient4d-viewers.XXXXXX)
trap 'rm -rf "$work"' EXIT
# splaTV at its pinned commit (a checkout or a bare clone).
for f in index.html hybrid.js; do git -C "$splatv_repo" show "$SPLATV_COMMIT:$f" > "$work/$f"; done
# gsplat.js from npm, pinned, cached.
cache=${XDG_CACHE_HOME:-$HOME/.cache}/efficient4d/gsplat-$GSPLAT_VERSION
if [ ! -f "$cache/node_modules/gsplat/dist/index.es.js" ]; then
  npm install --prefix "$cache" --no-audit --no-fund --silent "gsplat@$GSPLAT_VERSION"
fi
"$bin" bench viewers --model "$ckpt" --splatv-viewer "$work" --gsplat "$cache/node_modules/gsplat/dist" "$@"
