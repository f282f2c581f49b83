#!/bin/bash
# The performance report in one command (issue 6): builds in Release, runs every
# benchmark (reducer, supervisors in memory, durable journal, worker processes,
# cost growth, many servers on PostgreSQL), each beside its baselines in the
# same process run, and writes
# one results file plus a markdown report with gnuplot charts.
#   bash tools/bench.sh              the full runs (~16 min on 2 cores)
#   bash tools/bench.sh --quick      smoke sizes (~1 min of runs; large points "not run")
#   bash tools/bench.sh --publish    also copy the results and charts into
#                                    docs/performance/ and regenerate the README's
#                                    performance section from them
# Output: bench-results/results.json ({"machine": ..., "reducer": ..., "actors":
# ..., "journal": ..., "history": ..., "workers": ..., "growth": ..., "cluster": ...}), one file per benchmark
# beside it, bench-results/report.md and its PNG charts.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
publish=false
for a in "$@"; do
  case "$a" in
    --quick) quick=(--quick) ;;
    --publish) publish=true ;;
    *) echo "usage: bash tools/bench.sh [--quick] [--publish]" >&2; exit 2 ;;
  esac
done
bash tools/deps.sh gnuplot-nox
# cluster_bench's PostgreSQL: a private cluster on the build folder's disk
# (not /tmp, which may be tmpfs: fsync would cost nothing), stopped at the end.
pg_dir=build/bench-pg
trap 'bash tools/pg_cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true' EXIT
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDAIRECTOR_BENCHMARKS=ON >/dev/null
cmake --build build -j"$(nproc)" --target reducer_bench actor_bench journal_bench history_bench worker_bench \
  growth_bench cluster_bench bench_report dairector
out=bench-results
mkdir -p "$out"
run() {  # NAME COMMAND...: its JSON (stdout) into $out/NAME.json, its table (stderr) shown
  local name=$1; shift
  echo "== $name: $*" >&2
  "$@" >"$out/$name.json"
}
run reducer ./build/benchmarks/reducer_bench "${quick[@]}"
run actors ./build/benchmarks/actor_bench "${quick[@]}"
# The journals write on the disk of the current folder: the build folder.
run journal bash -c "cd build && ./benchmarks/journal_bench ${quick[*]}"
run history bash -c "cd build && ./benchmarks/history_bench ${quick[*]}"
run workers ./build/benchmarks/worker_bench "${quick[@]}"
run growth bash -c "cd build && ./benchmarks/growth_bench ${quick[*]}"
pg_uri=$(bash tools/pg_cluster.sh start "$pg_dir")
run cluster bash -c "cd build && ./benchmarks/cluster_bench ${quick[*]} --pg '$pg_uri' --dairector ./apps/dairector"
bash tools/pg_cluster.sh stop "$pg_dir"
json_string() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
{
  printf '{\n"machine": {"cpu": "%s", "cores": %s, "kernel": "%s", "commit": "%s", "date": "%s", "quick": %s,\n' \
    "$(json_string "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')")" "$(nproc)" \
    "$(uname -r)" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$(date -u +%Y-%m-%dT%H:%MZ)" \
    "$([[ ${#quick[@]} -gt 0 ]] && echo true || echo false)"
  printf '  "load_average": "%s", "command": "%s", "results": "%s"},\n' "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$(json_string "bash tools/bench.sh${*:+ $*}")" "$out/results.json"
  for name in reducer actors journal history workers growth cluster; do
    printf '"%s": %s%s\n' "$name" "$(cat "$out/$name.json")" "$([[ $name == cluster ]] || echo ,)"
  done
  printf '}\n'
} >"$out/results.json"
./build/benchmarks/bench_report "$out/results.json" "$out"
if $publish; then
  docs=docs/performance
  mkdir -p "$docs"
  cp "$out/results.json" "$docs/results.json"
  ./build/benchmarks/bench_report "$docs/results.json" "$docs" --readme README.md --images "$docs/"
  rm -f "$docs"/*.dat "$docs"/*.gp
  echo "bench: published into $docs/ and README.md" >&2
fi
echo "bench: $out/results.json, $out/report.md" >&2
