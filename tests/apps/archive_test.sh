#!/bin/bash
# `dairector archive` (docs/cli.md#archive), from outside: finished histories
# move from the journal to a JSON Lines file that `journal import` restores
# exactly (the same lines as `journal export`); a waiting or active pipeline
# named by --id is refused and nothing moves; --finished-before compares with
# the last event's time; a bad date is exit 2; the journal stays sound (no
# gap where the archived events were) and positions are never given twice; a
# journal held by a running serve is exit 5; SIGKILL between the durable file
# and the delete (a test seam) loses nothing, and archive run again completes.
# Usage: archive_test.sh DAIRECTOR SQL_EXEC
set -u
bin=${1:?dairector binary}
sql_exec=${2:?sql_exec (tests/apps/sql_exec.cpp)}
source "$(dirname "$0")/lib.sh"
scratch_with_server
export XDG_CONFIG_HOME=$tmp/config  # the default token file, never the home's
j=$tmp/j.db
cd "$tmp" || exit 1

cat >done.json <<'JSON'
{"name": "fine", "stages": [{"name": "a", "run": {"builtin": "echo"}}, {"name": "b", "after": ["a"], "run": {"builtin": "echo"}}]}
JSON
cat >failed.json <<'JSON'
{"name": "broken", "stages": [{"name": "a", "run": {"builtin": "fail", "times": 9}}]}
JSON
cat >waiting.json <<'JSON'
{"name": "asks", "stages": [{"name": "a", "run": {"builtin": "echo"}, "confirm": "go on?"}]}
JSON
ids() { "$bin" list --json --journal "$j" | python3 -c 'import json,sys; print(" ".join(sorted(json.loads(l)["pipeline"] for l in sys.stdin)))'; }
sound() { "$bin" journal check --journal "$j" >/dev/null 2>&1; }

expect make_old 0 "done" -- run done.json --id old --journal "$j"
expect make_failed 1 "failed" -- run failed.json --id bust --journal "$j"
expect make_waiting 4 "waiting" -- run waiting.json --id asks --journal "$j"
"$bin" journal export --journal "$j" --id old >old.export.jsonl
"$bin" journal export --journal "$j" --id bust >bust.export.jsonl

# --- refusals: nothing moves ------------------------------------------------------
expect waiting_refused 2 "pipeline 'asks' is waiting: only finished pipelines" -- archive --journal "$j" --id old --id asks --to x.jsonl
expect unknown_refused 2 "no pipeline 'nope'" -- archive --journal "$j" --id nope --to x.jsonl
[[ ! -e x.jsonl && $(ids) == "asks bust old" ]] && ok "refusal_moves_nothing" || bad "refusal_moves_nothing" "$(ids)"
for d in 2026-13-01 yesterday 2026-11-01T25:00:00Z 2026-11-1; do
  expect "bad_date_$d" 2 "--finished-before must be a date" -- archive --journal "$j" --finished-before "$d"
done
expect no_selection 2 "say which pipelines" -- archive --journal "$j"

# --- by id: the file is journal export's lines, and it imports back ----------------
expect archive_by_id 0 "archived 1 pipelines \(5 events\) to one.jsonl" -- archive --journal "$j" --id old --to one.jsonl
cmp -s one.jsonl old.export.jsonl && ok "archive_is_export_format" || bad "archive_is_export_format" "$(diff one.jsonl old.export.jsonl | head -3)"
[[ $(ids) == "asks bust" ]] && ok "archived_gone_from_journal" || bad "archived_gone_from_journal" "$(ids)"
sound && ok "journal_sound_after_archive" || bad "journal_sound_after_archive" "$("$bin" journal check --journal "$j" 2>&1)"
expect never_overwritten 5 "never overwritten" -- archive --journal "$j" --id bust --to one.jsonl
# Positions: a new pipeline's events come after every archived one.
max_before=$("$sql_exec" "$j" "SELECT max(pos_to) FROM archived")
expect make_after 0 "done" -- run done.json --id after --journal "$j"
min_new=$("$sql_exec" "$j" "SELECT min(pos) FROM events WHERE pipeline = 'after'")
((min_new > max_before)) && ok "positions_never_reused" || bad "positions_never_reused" "new $min_new <= archived $max_before"
expect archive_last 0 "archived 1 pipelines" -- archive --journal "$j" --id after --to last.jsonl
expect make_after_last 0 "done" -- run done.json --id later --journal "$j"
last_archived=$("$sql_exec" "$j" "SELECT max(pos_to) FROM archived")
first_later=$("$sql_exec" "$j" "SELECT min(pos) FROM events WHERE pipeline = 'later'")
((first_later > last_archived)) && ok "positions_never_reused_after_the_tail" || bad "positions_never_reused_after_the_tail" "$first_later <= $last_archived"
expect import_restores 0 "imported 1 pipeline \(5 events\)" -- journal import one.jsonl --journal "$j"
"$bin" journal export --journal "$j" --id old >old.again.jsonl
cmp -s old.again.jsonl old.export.jsonl && ok "round_trip_exact" || bad "round_trip_exact" "$(diff old.again.jsonl old.export.jsonl | head -3)"
sound && ok "journal_sound_after_import" || bad "journal_sound_after_import" "$("$bin" journal check --journal "$j" 2>&1)"

# --- --finished-before: by the last event's time ------------------------------------
expect none_before_2000 0 "nothing to archive" -- archive --journal "$j" --finished-before 2000-01-01
expect before_2999 0 "archived 3 pipelines" -- archive --journal "$j" --finished-before 2999-01-01T00:00:00Z --to all.jsonl
[[ $(ids) == "asks" ]] && ok "waiting_kept" || bad "waiting_kept" "$(ids)"
default=$(cd "$tmp" && "$bin" archive --journal "$j" --id asks 2>&1); rc=$?
[[ $rc == 2 ]] && ok "waiting_never_archived" || bad "waiting_never_archived" "exit $rc: $default"

# --- a server holds the journal: exit 5 ------------------------------------------------
expect make_kept 1 "failed" -- run failed.json --id kept --journal "$j"
serve_into server --journal "$j" --token-file "$tmp/token" --listen 127.0.0.1:0 --http 127.0.0.1:0 --workdir "$tmp"
expect locked_by_serve 5 "owned by another process" -- archive --journal "$j" --id kept --to locked.jsonl
[[ ! -e locked.jsonl ]] && ok "locked_writes_no_file" || bad "locked_writes_no_file" "locked.jsonl exists"
stop_gently "$server"; server=

# --- over HTTP: POST /archive on the server that holds the journal ---------------------
serve_into server --journal "$tmp/s.db" --token-file "$tmp/token" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
  --workdir "$tmp" --evict-after-ms 0 --archive-dir "$tmp/arch"
url="http://127.0.0.1:$port"
post_archive() {  # BODY: sets $code and $body
  code=$(curl -s -m 30 -o "$tmp/answer" -w "%{http_code}" -X POST -H "Authorization: Bearer $(head -1 "$tmp/token")" \
    -H 'Content-Type: application/json' --data-binary "$1" "$url/archive")
  body=$(cat "$tmp/answer")
}
get_code() { curl -s -m 30 -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $(head -1 "$tmp/token")" "$url$1"; }
[[ $(http_create "$port" "$tmp/token" done.json h-done) == 201 ]] || bad "http_create_done" "not 201"
[[ $(http_create "$port" "$tmp/token" waiting.json h-asks) == 201 ]] || bad "http_create_waiting" "not 201"
listed_as() { curl -s -H "Authorization: Bearer $(head -1 "$tmp/token")" "$url/pipelines?outcome=$2" | grep -q "\"$1\""; }
wait_for 20 listed_as h-done done || bad "http_done" "h-done never done"
wait_for 20 listed_as h-asks waiting || bad "http_waiting" "h-asks never waiting"
post_archive '{"ids": ["h-asks"]}'
[[ $code == 409 ]] && grep -q "is waiting: only finished" <<<"$body" && ok "http_waiting_refused_409" || bad "http_waiting_refused_409" "HTTP $code $body"
post_archive '{"finished_before": "someday"}'
[[ $code == 400 ]] && ok "http_bad_date_400" || bad "http_bad_date_400" "HTTP $code $body"
# A finished pipeline may still be live (resting takes a moment): 503, retry.
archived_h_done() { post_archive '{"ids": ["h-done"]}'; [[ $code == 200 ]]; }
wait_for 20 archived_h_done && ok "http_archive_200" || bad "http_archive_200" "HTTP $code $body"
file=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["pipelines"] == ["h-done"] and d["events"] == 5, d; print(d["file"])' "$body") \
  && [[ $file == "$tmp/arch/archive-"*Z.jsonl && -s $file ]] && ok "http_archive_answer" || bad "http_archive_answer" "$body"
[[ $(get_code /pipelines/h-done) == 404 && $(get_code /pipelines/h-done/history) == 404 ]] && ok "http_forgotten_404" \
  || bad "http_forgotten_404" "GET /pipelines/h-done answers $(get_code /pipelines/h-done)"
[[ $(get_code /pipelines/h-asks) == 200 ]] && ok "http_others_kept" || bad "http_others_kept" "h-asks gone"
stop_gently "$server"; server=
"$bin" journal check --journal "$tmp/s.db" >/dev/null 2>&1 && ok "http_journal_sound" || bad "http_journal_sound" "damaged"
expect http_archive_imports 0 "imported 1 pipeline \(5 events\)" -- journal import "$file" --journal "$tmp/s.db"

# --- SIGKILL between the durable file and the delete ----------------------------------
"$bin" journal export --journal "$j" --id kept >kept.export.jsonl
(DAIRECTOR_TEST_ARCHIVE_KILL=after_file exec "$bin" archive --journal "$j" --id kept --to crash.jsonl >/dev/null 2>&1)
rc=$?
[[ $rc == 137 ]] && ok "killed_at_the_seam" || bad "killed_at_the_seam" "exit $rc"
cmp -s crash.jsonl kept.export.jsonl && ok "file_whole_after_kill" || bad "file_whole_after_kill" "$(wc -l <crash.jsonl 2>&1)"
[[ $(ids) == *kept* ]] && sound && ok "journal_keeps_it_after_kill" || bad "journal_keeps_it_after_kill" "$(ids)"
expect rerun_completes 0 "archived 1 pipelines" -- archive --journal "$j" --id kept --to crash2.jsonl
cmp -s crash2.jsonl kept.export.jsonl && [[ $(ids) != *kept* ]] && sound && ok "rerun_moves_it" || bad "rerun_moves_it" "$(ids)"

finish
