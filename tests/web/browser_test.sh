#!/bin/bash
# The web view's stories in headless Chromium (tests/web/stories.mjs).
#   browser_test.sh DAIRECTOR_BIN EXAMPLES_DIR [SCREENSHOT_DIR]
# Needs Node.js, Debian's chromium and tests/web/node_modules (tools/deps.sh
# installs all three). Where one is missing it skips (exit 77), except under
# CI=true, where a missing piece is a failure: CI must run these stories.
set -u
here=$(cd "$(dirname "$0")" && pwd)
missing=""
command -v node >/dev/null || missing="node"
[[ -x ${CHROMIUM:-/usr/bin/chromium} ]] || missing="$missing chromium"
[[ -d $here/node_modules/playwright-core ]] || missing="$missing tests/web/node_modules (npm ci --prefix tests/web)"
if [[ -n $missing ]]; then
  echo "browser tests need:$missing (bash tools/deps.sh installs them)"
  [[ ${CI:-} == true ]] && exit 1
  exit 77
fi
exec node "$here/stories.mjs" "$@"
