#!/bin/bash
# Every benchmark in one command (issue 6, first step): builds in Release and
# runs the reducer, the supervisors in memory, the durable journal and the
# worker processes, each beside its baselines in the same process run, and
# writes their JSON into one results file.
#   bash tools/bench.sh            the full runs (~5 min on 2 cores)
#   bash tools/bench.sh --quick    the CI smoke runs (~30 s)
# Output: bench-results/results.json ({"machine": ..., "reducer": ..., "actors":
# ..., "journal": ..., "workers": ...}) and one file per benchmark beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
[[ "${1:-}" == "--quick" ]] && quick=(--quick)
bash tools/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDAIRECTOR_BENCHMARKS=ON >/dev/null
cmake --build build -j"$(nproc)" --target reducer_bench actor_bench journal_bench worker_bench dairector
out=bench-results
mkdir -p "$out"
run() {  # NAME COMMAND...: its JSON (stdout) into $out/NAME.json, its table (stderr) shown
  local name=$1; shift
  echo "== $name: $*" >&2
  "$@" >"$out/$name.json"
}
run reducer ./build/benchmarks/reducer_bench "${quick[@]}"
run actors ./build/benchmarks/actor_bench "${quick[@]}"
# The journal writes on the disk of the current folder: the build folder.
run journal bash -c "cd build && ./benchmarks/journal_bench ${quick[*]}"
run workers ./build/benchmarks/worker_bench "${quick[@]}"
{
  printf '{\n"machine": {"cpu": "%s", "cores": %s, "kernel": "%s", "commit": "%s", "quick": %s},\n' \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//; s/"/\\"/g')" "$(nproc)" "$(uname -r)" \
    "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$([[ ${#quick[@]} -gt 0 ]] && echo true || echo false)"
  printf '"reducer": %s,\n"actors": %s,\n"journal": %s,\n"workers": %s\n}\n' \
    "$(cat "$out/reducer.json")" "$(cat "$out/actors.json")" "$(cat "$out/journal.json")" "$(cat "$out/workers.json")"
} >"$out/results.json"
echo "bench: $out/results.json" >&2
