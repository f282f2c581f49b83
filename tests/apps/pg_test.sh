#!/bin/bash
# The command line on a PostgreSQL journal (docs/cli.md#postgresql-journal), one
# process at a time: `run --yes` of the six-stage example, `history`, `status
# --json` and `journal check`, with the same audit trail as on SQLite; a run
# left waiting for a confirmation carried on by `resume`; a URI that cannot be
# used exits 5 with libpq's reason and never shows its password.
# Usage: pg_test.sh DAIRECTOR EXAMPLES_DIR, with DAIRECTOR_TEST_PG set (CTest's fixture pg).
set -u
bin=${1:?dairector binary}
examples=${2:?examples dir}
base=${DAIRECTOR_TEST_PG:?DAIRECTOR_TEST_PG is not set: ctest starts the cluster (pg.start)}
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
host=$(sed -E 's/.*[?&]host=([^&]*).*/\1/' <<<"$base")

new_db() { pg_database "$base" "cli_$1"; }  # a fresh database; prints its URI

# The trail's shape: who, what, which stage, in a stable order (stages run side by side).
shape() { awk '{print $3, $4, $5}' | sort; }

uri=$(new_db run) || { bad create_database "psql could not create a database on $base"; finish; exit; }
cd "$tmp" || exit 1
expect run_yes 0 "validate +stage_completed" -- run "$examples/dairector.json" --yes --journal "$uri"
timeout 60 "$bin" run "$examples/dairector.json" --yes --journal "$tmp/j.db" </dev/null >/dev/null 2>&1
pg_trail=$(timeout 60 "$bin" history --journal "$uri" </dev/null 2>&1)
sqlite_trail=$(timeout 60 "$bin" history --journal "$tmp/j.db" </dev/null 2>&1)
if [[ -n $pg_trail && $(shape <<<"$pg_trail") == $(shape <<<"$sqlite_trail") ]]; then
  ok history_same_trail_as_sqlite
else
  bad history_same_trail_as_sqlite "$(diff <(shape <<<"$pg_trail") <(shape <<<"$sqlite_trail") | head -5)"
fi
out=$(timeout 60 "$bin" status --json --journal "$uri" </dev/null 2>&1)
if [[ $(grep -o '"status": "completed"' <<<"$out" | wc -l) -eq 6 ]] && grep -q '"pending_confirmation": null' <<<"$out"; then
  ok status_json
else
  bad status_json "$(head -c 300 <<<"$out")"
fi
expect journal_check 0 "no damage \(1 pipelines\)" -- journal check --journal "$uri"
expect run_twice_refused 2 "already has pipeline" -- run "$examples/dairector.json" --yes --journal "$uri"
# list reads PostgreSQL too (seq and times from one aggregate); archive is SQLite's only, for now:
# refused before any file is written.
expect list_on_postgresql 0 "dairector +dairector +done +seq [0-9]+ +created 20" -- list --journal "$uri"
expect archive_not_on_postgresql 5 "archive is not supported on it yet" -- archive --journal "$uri" --id dairector --to "$tmp/pg-archive.jsonl"
[[ ! -e $tmp/pg-archive.jsonl ]] && ok "archive_refused_writes_no_file" || bad "archive_refused_writes_no_file" "file written"

# Waiting for a confirmation (exit 4), then resumed by another process, which takes the pipeline over.
expect run_waits 4 "waiting for confirmation" -- run "$examples/dairector.json" --id waits --journal "$uri"
expect resume_yes 0 "validate +stage_completed" -- resume --id waits --yes --journal "$uri"
timeout 60 "$bin" run "$examples/dairector.json" --id waits --journal "$tmp/w.db" </dev/null >/dev/null 2>&1
timeout 60 "$bin" resume --id waits --yes --journal "$tmp/w.db" </dev/null >/dev/null 2>&1
out=$(timeout 60 "$bin" history --id waits --journal "$uri" </dev/null 2>&1)
sqlite_trail=$(timeout 60 "$bin" history --id waits --journal "$tmp/w.db" </dev/null 2>&1)
if grep -q "confirmation_resolved  analyze approved" <<<"$out" && [[ $(shape <<<"$out") == $(shape <<<"$sqlite_trail") ]]; then
  ok resumed_history_same_as_sqlite
else
  bad resumed_history_same_as_sqlite "$(diff <(shape <<<"$out") <(shape <<<"$sqlite_trail") | head -5)"
fi
owner=$(psql -qXAt "${uri}" -c "SELECT epoch FROM dairector.owners WHERE pipeline = 'waits'" 2>&1)
[[ $owner == 2 ]] && ok resume_took_the_pipeline || bad resume_took_the_pipeline "epoch '$owner', expected 2"

# A URI that cannot be used: exit 5, libpq's reason, never the password
# (libpq itself quotes a password it cannot decode).
check_refusal() {  # NAME REASON SECRET URI
  local out rc
  out=$(timeout 60 "$bin" history --journal "$4" </dev/null 2>&1); rc=$?
  if [[ $rc -eq 5 ]] && grep -q -- "$2" <<<"$out" && ! grep -qF -- "$3" <<<"$out"; then
    ok "$1"
  else
    bad "$1" "exit $rc: $out"
  fi
}
check_refusal unreachable_socket "No such file or directory" "hunter2" \
  "postgresql://dairector:hunter2@/postgres?host=$tmp/nowhere"
check_refusal undecodable_password "percent-encoded" "pa%zzss" "postgresql://dairector:pa%zzss@/postgres?host=$host"
check_refusal password_in_query "does not exist" "s3cret" "postgres:///nope?host=$host&user=dairector&password=s3cret"
check_refusal unknown_role "role" "hunter2" "postgresql://nobody_here:hunter2@/postgres?host=$host"
finish
