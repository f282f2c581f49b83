#!/bin/bash
# README command 2: build and run every test.
#   bash tools/test.sh              Release build in build/
#   bash tools/test.sh --sanitize   ASan + UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
dir=build
flags=(-DCMAKE_BUILD_TYPE=Release)
if [[ "${1:-}" == "--sanitize" ]]; then
  dir=build-asan
  # -O1 (what ASan's authors advise) and line tables only (-g1: enough for
  # its stack traces) build about a third faster than -O2 -g.
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"
         -DDAIRECTOR_SANITIZE=ON -DDAIRECTOR_BENCHMARKS=OFF)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/tools/lsan.supp:print_suppressions=0
fi
cmake -S . -B "$dir" -G Ninja -DDAIRECTOR_TESTS=ON "${flags[@]}"
start=$(date +%s)
cmake --build "$dir" -j"$(nproc)"
built=$(date +%s)
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)"
echo "test.sh ${1:-}: built in $((built - start)) s, tested in $(( $(date +%s) - built )) s"
