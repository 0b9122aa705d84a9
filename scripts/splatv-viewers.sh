#!/usr/bin/env bash
# Our .splatv in the browser viewers that read it, compared with our own render of the same camera and
# time (silhouette IoU, PSNR on the object): splaTV (antimatter15/splaTV's index.html + hybrid.js at a
# pinned commit; not on a package registry, so pass a checkout of it, which is read, never copied into
# this repository) and gsplat.js (npm `gsplat`, a pinned version). Headless Chromium (Debian's
# `chromium`), WebGL2 on SwiftShader; nothing is fetched but the npm package (cached after the first run).
#
#   scripts/splatv-viewers.sh CHECKPOINT SPLATV_CHECKOUT [--json]
#
# EFFICIENT4D selects the binary (default: target/release/efficient4d, or under CARGO_TARGET_DIR);
# EFFICIENT4D_VIEWERS_SAVE=DIR keeps every capture and our render as PNGs.
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,10p "$0"; exit 2; }
ckpt=$1 splatv_repo=$2
shift 2
SPLATV_COMMIT=8b313fe
GSPLAT_VERSION=1.2.9
cd "$(dirname "$0")/.."
bin=${EFFICIENT4D:-${CARGO_TARGET_DIR:-target}/release/efficient4d}

work=$(mktemp -d -t efficient4d-viewers.XXXXXX)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

# splaTV at its pinned commit (works on a checkout or a bare clone).
for f in index.html hybrid.js; do git -C "$splatv_repo" show "$SPLATV_COMMIT:$f" > "$work/$f"; done
# gsplat.js from npm, pinned, cached.
cache=${XDG_CACHE_HOME:-$HOME/.cache}/efficient4d/gsplat-$GSPLAT_VERSION
if [ ! -f "$cache/node_modules/gsplat/dist/index.es.js" ]; then
  npm install --prefix "$cache" --no-audit --no-fund --silent "gsplat@$GSPLAT_VERSION"
fi
cp -r "$cache/node_modules/gsplat/dist" "$work/gsplat"
cp scripts/splatv-viewers/gsplat.html "$work/"
"$bin" export "$ckpt" --out "$work/model.splatv" >&2

# ES modules and fetch() need http://, not file://: a loopback server for the page's folder.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$work" "$port" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null && break; sleep 0.1; done

"$bin" bench viewers --serve "http://127.0.0.1:$port" --model "$ckpt" "$@"
