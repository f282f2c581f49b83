#!/bin/sh
# The pure core (libdairector) never includes CAF and never reads a clock or a
# random source, and never a database (the journal backends are in journal/):
# time, ids and who-did-it are arguments (docs/design.md#layers).
# Fails listing every offending line.
set -u
dir=${1:?usage: check_purity.sh LIBDAIRECTOR_DIR}
pattern='#include *<(caf/|sqlite3.h|libpq)|std::chrono::(system|steady|high_resolution)_clock|<random>|\brand\(|\bsrand\(|\btime\(|gettimeofday|clock_gettime|getpid\(|random_device'
if grep -rnE "$pattern" "$dir"; then
  echo "FAIL: the lines above break the purity of libdairector" >&2
  exit 1
fi
echo "libdairector is pure: no CAF, clock, random source or database"
