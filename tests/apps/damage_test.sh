#!/bin/bash
# Damage in a journal, from outside (issue 12, section 6): a pipeline's last
# event deleted leaves no seq gap of its own, only a gap in the journal-wide
# order (pos), and every pipeline whose history ends before it is suspect:
# `history` and `status` exit 5 naming the gap, `resume` refuses and writes
# nothing, `journal check` lists the gap and each damaged pipeline (exit 5;
# 0 on a sound journal). `serve` starts anyway: it serves the healthy
# pipelines, logs the damaged ones and never runs them; `GET /pipelines` shows
# their damage (seq, reason), their own routes answer 503 with the reason and
# the CLI's --server exits 5 with it. A damaged row (a checksum) no longer
# stops `serve` from starting either. A page of the table that cannot be
# read no longer hides the whole journal: the pipelines with rows on it are
# named (from the index), the others read and are served.
# Usage: damage_test.sh DAIRECTOR SQL_EXEC   (SQL_EXEC: tests/apps/sql_exec.cpp)
set -u
bin=${1:?dairector binary}
sql=${2:?sql_exec binary}
source "$(dirname "$0")/lib.sh"
# Format 1 first (journals written before format 2, which keep their
# format): what its damage looks like from outside. Format 2 at the end.
export DAIRECTOR_JOURNAL_FORMAT=1
scratch_with_server

# start_server JOURNAL NAME: `serve` in the background, waits for "ready"; sets $server and $url.
start_server() {
  "$bin" serve --journal "$1" --listen 127.0.0.1:0 --http 127.0.0.1:0 --token-file "$tmp/token" \
    --workdir "$tmp" 2>"$tmp/$2.log" &
  server=$!
  serve_ready "$tmp/$2.log" || { bad "$2_starts" "$(tail -3 "$tmp/$2.log")"; return 1; }
  url=http://127.0.0.1:$port
  ok "$2_starts"
}
stop_server() {
  kill -TERM "$server"
  wait "$server"
  local rc=$?
  server=
  [[ $rc -eq 0 ]] && ok "$1_stops" || bad "$1_stops" "exit $rc: $(tail -2 "$tmp/$1.log")"
}
# call METHOD PATH [BODY]: sets $code and $body (the headers every client sends).
call() {
  local args=(-s --max-time 20 -o "$tmp/answer" -w "%{http_code}" -X "$1" -H "Authorization: Bearer $(head -1 "$tmp/token")"
              -H "Content-Type: application/json")
  [[ $# -gt 2 ]] && args+=(--data-binary "$3")
  code=$(curl "${args[@]}" "$url$2")
  body=$(cat "$tmp/answer")
}
check() {  # check NAME METHOD PATH BODY WANT_CODE PATTERN (BODY "-": none)
  if [[ $4 == - ]]; then call "$2" "$3"; else call "$2" "$3" "$4"; fi
  [[ $code == "$5" ]] || { bad "$1" "HTTP $code, expected $5: ${body:0:300}"; return 1; }
  grep -qE -- "$6" <<<"$body" || { bad "$1" "no /$6/ in: ${body:0:300}"; return 1; }
  ok "$1"
}
runs() { [[ -f $tmp/runs.txt ]] && wc -l <"$tmp/runs.txt" || echo 0; }

echo '{"name": "one", "stages": [{"name": "a", "run": {"builtin": "echo"}}]}' >"$tmp/one.json"
cat >"$tmp/two.json" <<'JSON'
{"name": "two", "stages": [
  {"name": "a", "run": {"builtin": "echo"}},
  {"name": "b", "after": ["a"], "run": {"command": ["sh", "-c", "cat >/dev/null; echo ran >>runs.txt; echo '{}'"]}}]}
JSON
j=$tmp/j.db
expect run_early 0 "done" -- run "$tmp/one.json" --journal "$j" --id early
expect run_victim 0 "done" -- run "$tmp/two.json" --journal "$j" --id victim
expect run_later 0 "done" -- run "$tmp/one.json" --journal "$j" --id later
[[ $(runs) -eq 1 ]] && ok victim_ran_once || bad victim_ran_once "runs.txt has $(runs) lines"
cp "$j" "$tmp/sound.db"
expect check_sound 0 "journal .*: no damage \(3 pipelines\)" -- journal check --journal "$j"

# --- a deleted last event: a gap in the journal-wide order ----------------------
last=$("$sql" "$j" "SELECT max(seq) FROM events WHERE pipeline = 'victim'")
pos=$("$sql" "$j" "SELECT pos FROM events WHERE pipeline = 'victim' AND seq = $last")
early_last=$("$sql" "$j" "SELECT max(seq) FROM events WHERE pipeline = 'early'")
"$sql" "$j" "DELETE FROM events WHERE pipeline = 'victim' AND seq = $last" || bad delete_row "sql_exec failed"
echo "deleted victim's last event: seq $last at pos $pos"
expect history_refuses_a_cut_history 5 "pipeline 'victim', event seq $last: its history may be cut short: the event at pos $pos is missing" \
  -- history --journal "$j" --id victim
expect status_refuses_a_cut_history 5 "pipeline 'victim', event seq $last: .*pos $pos is missing" -- status --journal "$j" --id victim
expect status_suspect_before_the_gap 5 "pipeline 'early', event seq $((early_last + 1)): .*pos $pos" -- status --journal "$j" --id early
expect status_after_the_gap 0 "pipeline 'later' at seq 3: done" -- status --journal "$j" --id later
cp "$j" "$tmp/before-resume.db"
expect resume_refuses 5 "pos $pos is missing" -- resume --journal "$j" --id victim --yes
cmp -s "$j" "$tmp/before-resume.db" && [[ $(runs) -eq 1 ]] && ok resume_wrote_and_ran_nothing \
  || bad resume_wrote_and_ran_nothing "the journal changed or b ran again ($(runs) runs)"
expect journal_check_lists_the_damage 5 \
  "^pos $pos: the event at pos $pos is missing; 2 pipelines whose history ends just before it.*pipeline 'early' seq $((early_last + 1)): .*pipeline 'victim' seq $last: .*2 of 3 pipelines damaged, 1 gap" \
  -- journal check --journal "$j"
out=$("$bin" journal check --journal "$j" --json 2>&1); rc=$?
[[ $rc -eq 5 && $(wc -l <<<"$out") -eq 3 ]] && grep -q "^{\"pos_from\":$pos,\"pos_to\":$pos,\"reason\":" <<<"$out" \
  && grep -q "^{\"pipeline\":\"victim\",\"pos_from\":$pos,\"pos_to\":$pos,\"reason\":.*,\"seq\":$last}$" <<<"$out" \
  && ok journal_check_json || bad journal_check_json "exit $rc: $out"
expect journal_check_usage 2 "subcommand is required" -- journal
expect journal_check_missing_file 5 "cannot open journal $tmp/none.db" -- journal check --journal "$tmp/none.db"

# --- serve: the healthy pipelines are served, the damaged ones reported ---------
if start_server "$j" serve_gap; then
  grep -q "pipeline 'victim' is damaged at seq $last: its history may be cut short: the event at pos $pos is missing" "$tmp/serve_gap.log" \
    && grep -q "journal $j: the event at pos $pos is missing" "$tmp/serve_gap.log" \
    && ok serve_logs_the_damage || bad serve_logs_the_damage "$(cat "$tmp/serve_gap.log")"
  check list_shows_the_damage GET /pipelines - 200 \
    "\"damage\":\{\"reason\":\"pipeline 'victim' is damaged in the journal at seq $last: [^\"]*pos $pos[^\"]*\",\"seq\":$last\},\"last_change\":\"[^\"]*\",\"name\":\"\",\"outcome\":null,\"pipeline\":\"victim\""
  grep -qE '"name":"one","outcome":"done","pipeline":"later","seq":3\}' <<<"$body" && ok list_shows_the_healthy || bad list_shows_the_healthy "$body"
  check damaged_state_is_503 GET /pipelines/victim - 503 "^\{\"error\":\"pipeline 'victim' is damaged in the journal at seq $last: "
  check damaged_history_is_503 GET /pipelines/victim/history - 503 "is damaged in the journal"
  check damaged_at_is_503 GET "/pipelines/victim?at=2" - 503 "is damaged in the journal"
  check damaged_events_is_503 GET /pipelines/victim/events - 503 "is damaged in the journal"
  check damaged_cancel_is_503 POST /pipelines/victim/cancel '{}' 503 "is damaged in the journal"
  check damaged_context_is_503 POST /pipelines/victim/stages/a/context '{"context": {"x": 1}}' 503 "is damaged"
  check damaged_id_taken POST /pipelines "{\"id\": \"victim\", \"spec\": $(cat "$tmp/one.json")}" 409 "already exists"
  check healthy_state GET /pipelines/later - 200 '"seq":3'
  expect status_server_damaged 5 "answered 503: pipeline 'victim' is damaged in the journal at seq $last: .*pos $pos" \
    -- status --server "$url" --token-file "$tmp/token" --id victim
  expect history_server_damaged 5 "answered 503: pipeline 'victim' is damaged" -- history --server "$url" --token-file "$tmp/token" --id victim
  expect invalidate_server_damaged 5 "answered 503: pipeline 'victim' is damaged" \
    -- invalidate a --server "$url" --token-file "$tmp/token" --id victim
  expect status_server_healthy 0 "pipeline 'later' at seq 3: done" -- status --server "$url" --token-file "$tmp/token" --id later
  check create_beside_damage POST /pipelines "{\"id\": \"fresh\", \"spec\": $(cat "$tmp/one.json")}" 201 '"pipeline":"fresh"'
  wait_for 10 "$bin" status --server "$url" --token-file "$tmp/token" --id fresh && ok fresh_pipeline_done \
    || bad fresh_pipeline_done "$("$bin" status --server "$url" --token-file "$tmp/token" --id fresh 2>&1)"
  [[ $(runs) -eq 1 ]] && ok damaged_never_run || bad damaged_never_run "b ran $(runs) times"
  stop_server serve_gap
fi
expect victim_still_refused 5 "pos $pos is missing" -- history --journal "$j" --id victim

# --- a damaged row: serve starts all the same -----------------------------------
j2=$tmp/checksum.db
cp "$tmp/sound.db" "$j2"
"$sql" "$j2" "UPDATE events SET by = 'user:mallory' WHERE pipeline = 'early' AND seq = 2" || bad update_row "sql_exec failed"
expect journal_check_checksum 5 "pipeline 'early' seq 2: checksum mismatch.*1 of 3 pipelines damaged, 0 gaps" -- journal check --journal "$j2"
if start_server "$j2" serve_checksum; then
  grep -q "pipeline 'early' is damaged at seq 2: checksum mismatch" "$tmp/serve_checksum.log" && ok serve_logs_the_checksum \
    || bad serve_logs_the_checksum "$(cat "$tmp/serve_checksum.log")"
  check list_shows_the_checksum GET /pipelines - 200 '"damage":\{"reason":"[^"]*seq 2: checksum mismatch[^"]*","seq":2\},"last_change":"[^"]*","name":"","outcome":null,"pipeline":"early"'
  check checksum_state_is_503 GET /pipelines/early - 503 "seq 2: checksum mismatch"
  expect status_server_checksum 5 "seq 2: checksum mismatch" -- status --server "$url" --token-file "$tmp/token" --id early
  check others_served GET /pipelines/victim - 200 '"seq":'"$last"
  stop_server serve_checksum
fi
# --- page-level damage: what can be read still is, what cannot is named --------
j3=$tmp/pages.db
cat >"$tmp/big.json" <<'JSON'
{"name": "big", "stages": [{"name": "a", "run": {"command": ["sh", "-c", "cat >/dev/null; printf '{\"x\": \"%01500d\"}' 0"]}}]}
JSON
for k in $(seq 1 12); do "$bin" run "$tmp/big.json" --journal "$j3" --id "p$k" >/dev/null 2>&1 || bad "run_p$k" "exit $?"; done
page=$("$sql" "$j3" "PRAGMA page_size")
leaf=$("$sql" "$j3" "SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 2")
if [[ -n $leaf && -n $page ]]; then
  head -c "$page" /dev/zero | tr '\0' '\377' | dd of="$j3" bs="$page" seek=$((leaf - 1)) conv=notrunc status=none
  echo "page $leaf of the events table overwritten"
  "$bin" journal check --journal "$j3" >"$tmp/pages.check" 2>&1; rc=$?
  mapfile -t hidden < <(grep -o "^pipeline 'p[0-9]*' seq [0-9]*: cannot be read: its row at pos [0-9]* is on a damaged page" "$tmp/pages.check" \
                          | grep -o "^pipeline 'p[0-9]*'" | grep -o "'p[0-9]*'" | tr -d "'")
  if [[ $rc -eq 5 && ${#hidden[@]} -gt 0 && ${#hidden[@]} -lt 12 ]] \
     && grep -qE "^pos [0-9]+ to [0-9]+: the events at pos [0-9]+ to [0-9]+ are unreadable \(database disk image is malformed\); the index says they belong to ${#hidden[@]} pipelines?" "$tmp/pages.check"; then
    ok "page_check_names_${#hidden[@]}_pipelines"
  else
    bad page_check_names "exit $rc: $(cat "$tmp/pages.check")"
  fi
  healthy=()
  for k in $(seq 1 12); do [[ " ${hidden[*]} " == *" p$k "* ]] || healthy+=("p$k"); done
  [[ ${#hidden[@]} -gt 0 ]] || hidden=(none)  # (named nothing: the checks below fail on it)
  expect page_status_hidden 5 "pipeline '${hidden[0]}', event seq [0-9]+: cannot be read: its row at pos [0-9]+ is on a damaged page" \
    -- status --journal "$j3" --id "${hidden[0]}"
  expect page_status_first_healthy 0 "pipeline '${healthy[0]}' at seq 3: done" -- status --journal "$j3" --id "${healthy[0]}"
  expect page_status_last_healthy 0 "pipeline '${healthy[-1]}' at seq 3: done" -- status --journal "$j3" --id "${healthy[-1]}"
  if start_server "$j3" serve_pages; then
    check page_list_shows_the_damage GET /pipelines - 200 "\"damage\":\{\"reason\":\"pipeline '${hidden[0]}' is damaged in the journal at seq [0-9]+: cannot be read"
    check page_healthy_served GET "/pipelines/${healthy[-1]}" - 200 '"seq":3'
    check page_hidden_is_503 GET "/pipelines/${hidden[0]}" - 503 "damaged page"
    stop_server serve_pages
  fi
else
  bad page_layout "no leaf page of the events table found (dbstat: '$leaf', page size '$page')"
fi

# --- format 2: the chain names exactly the pipeline that lost its event -------
unset DAIRECTOR_JOURNAL_FORMAT
j4=$tmp/v2.db
expect v2_run_early 0 "done" -- run "$tmp/one.json" --journal "$j4" --id early
expect v2_run_victim 0 "done" -- run "$tmp/two.json" --journal "$j4" --id victim
expect v2_run_later 0 "done" -- run "$tmp/one.json" --journal "$j4" --id later
[[ $("$sql" "$j4" "PRAGMA user_version") == 2 ]] && ok v2_is_format_2 || bad v2_is_format_2 "user_version $("$sql" "$j4" "PRAGMA user_version")"
cp "$j4" "$tmp/v2-sound.db"
last=$("$sql" "$j4" "SELECT max(seq) FROM events WHERE pipeline = 'victim'")
pos=$("$sql" "$j4" "SELECT pos FROM events WHERE pipeline = 'victim' AND seq = $last")
"$sql" "$j4" "DELETE FROM events WHERE pipeline = 'victim' AND seq = $last" || bad v2_delete_row "sql_exec failed"
expect v2_history_names_the_row 5 "pipeline 'victim', event seq $last: the event at pos $pos is missing" \
  -- history --journal "$j4" --id victim
expect v2_before_the_gap_not_suspect 0 "pipeline 'early' at seq 3: done" -- status --journal "$j4" --id early
expect v2_resume_refuses 5 "takes no more events|pos $pos is missing" -- resume --journal "$j4" --id victim --yes
expect v2_journal_check 5 \
  "^pos $pos: the event at pos $pos is missing; .*pipeline 'victim' seq $last: the event at pos $pos is missing.*1 of 3 pipelines damaged, 1 gap" \
  -- journal check --journal "$j4"
expect v2_upgrade_is_nothing_to_do 0 "already format 2" -- journal upgrade --journal "$j4"
cp "$j" "$tmp/damaged-v1.db"
expect upgrade_refuses_damage 5 "is damaged .*nothing was changed" -- journal upgrade --journal "$j"
cmp -s "$j" "$tmp/damaged-v1.db" && ok upgrade_changed_nothing || bad upgrade_changed_nothing "the damaged journal changed"

# --- journal upgrade: format 1 to 2, whole ------------------------------------
cp "$tmp/sound.db" "$tmp/up.db"
events=$("$sql" "$tmp/up.db" "SELECT count(*) FROM events")
expect upgrade_v1 0 "upgraded from format 1 to 2 \($events events of 3 pipelines\)" -- journal upgrade --journal "$tmp/up.db"
expect upgraded_check 0 "no damage \(3 pipelines\)" -- journal check --journal "$tmp/up.db"
expect upgraded_status 0 "pipeline 'victim' at seq [0-9]+: done" -- status --journal "$tmp/up.db" --id victim
expect upgraded_run 0 "done" -- run "$tmp/one.json" --journal "$tmp/up.db" --id after
expect upgrade_again 0 "already format 2 \($((events + 3)) events of 4 pipelines\)" -- journal upgrade --journal "$tmp/up.db"
expect upgrade_missing 5 "cannot open journal" -- journal upgrade --journal "$tmp/none.db"
[[ ! -e $tmp/none.db ]] && ok upgrade_made_no_file || bad upgrade_made_no_file "$tmp/none.db exists"
DAIRECTOR_JOURNAL_FORMAT=7 "$bin" run "$tmp/one.json" --journal "$tmp/seven.db" --id x >"$tmp/seven.out" 2>&1; rc=$?
[[ $rc -eq 5 ]] && grep -q "cannot create format 7" "$tmp/seven.out" && ok format_7_refused || bad format_7_refused "exit $rc: $(cat "$tmp/seven.out")"
finish
