#!/bin/bash
# README command 1: install what is missing, build (Release), run the main job.
#   bash tools/setup.sh            everything
#   bash tools/setup.sh --no-run   install and build only
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
[[ "${1:-}" == "--no-run" ]] && exit 0
echo
echo "== the main job: the six-stage example pipeline =="
./build/apps/dairector check examples/dairector.json
# A fresh journal each time (a journal keeps a pipeline id once it has run).
rm -f build/example.db build/example.db-wal build/example.db-shm build/example.db.lock
./build/apps/dairector run examples/dairector.json --yes --journal build/example.db
echo
echo "== its journal: the audit trail =="
./build/apps/dairector history --journal build/example.db
