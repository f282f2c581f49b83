#!/bin/bash
# Rebuilds the web view's bundle (docs/web.md#rebuilding-the-bundle): web/src
# -> web/dist (index.html, app.js, app.css), with the esbuild pinned in
# web/package-lock.json (`npm ci --prefix web`, tools/deps.sh). The output is
# deterministic: no timestamps, no absolute paths, so that web/dist can be
# checked in and compared.
#   bash tools/web_bundle.sh            rebuild web/dist
#   bash tools/web_bundle.sh --check    rebuild into a temporary folder and fail
#                                       if web/dist differs (CTest web.bundle);
#                                       exit 77 (skipped) without web/node_modules
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
esbuild=$root/web/node_modules/.bin/esbuild
check=0
[[ "${1:-}" == "--check" ]] && check=1
if [[ ! -x $esbuild ]]; then
  if ((check)); then
    echo "SKIP: web/node_modules is absent (run npm ci --prefix web, as tools/deps.sh does), so the bundle cannot be rebuilt here"
    exit 77
  fi
  echo "web_bundle: $esbuild is missing: run npm ci --prefix web (tools/deps.sh does)" >&2
  exit 2
fi

out=$root/web/dist
if ((check)); then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
cd "$root/web"  # paths esbuild may mention are relative to here
common=(--bundle --minify --charset=utf8 --legal-comments=none --log-level=warning)
"$esbuild" src/app.js "${common[@]}" --format=iife --target=es2020 --outfile="$out/app.js"
"$esbuild" src/app.css "${common[@]}" --outfile="$out/app.css"
cp src/index.html "$out/index.html"

if ((check)); then
  if ! diff -r "$root/web/dist" "$out" >/dev/null; then
    echo "FAIL: web/dist does not match web/src: run bash tools/web_bundle.sh and commit web/dist"
    diff -r "$root/web/dist" "$out" | head -20 | cut -c1-200
    exit 1
  fi
  echo "ok   web/dist matches what web/src builds to"
fi
