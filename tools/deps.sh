#!/bin/bash
# Installs the Debian packages Dairector needs, only those missing.
# Nothing is downloaded at build or run time beyond these packages (and the
# web view's npm packages, pinned in web/package-lock.json: `npm ci`, below).
#   bash tools/deps.sh [EXTRA...]   EXTRA: more packages for one job (tools/bench.sh: gnuplot-nox)
set -euo pipefail
packages=(
  g++ cmake ninja-build pkg-config
  libcaf-dev nlohmann-json3-dev libboost-test-dev libsqlite3-dev zlib1g-dev libcli11-dev libcpp-httplib-dev
  libssl-dev openssl curl  # TLS between server and workers (headers of CAF's OpenSSL module); certificates and HTTP in the tests
  postgresql libpq-dev  # the PostgreSQL journal backend (libpq) and the private server its tests start
  python3-jsonschema  # the docs tests: a real JSON Schema validator holds docs/spec.schema.json to `dairector check`
  chromium  # the web view's browser tests
  "$@"
)
# npm rebuilds and checks the web view's bundle (web/, tools/web_bundle.sh);
# a Node.js from elsewhere (nodesource's carries its own npm) is kept.
command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all ${#packages[@]} packages present"
else
  echo "deps: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The web view's npm packages, exactly as web/package-lock.json pins them
# (the C++ build does not need them: it embeds the checked-in web/dist).
npm ci --prefix "$(dirname "$0")/../web" --no-audit --no-fund
# The browser tests' driver (playwright-core, pinned in tests/web/package-lock.json;
# it drives Debian's chromium above and downloads no browser of its own).
npm ci --prefix "$(dirname "$0")/../tests/web" --no-audit --no-fund
