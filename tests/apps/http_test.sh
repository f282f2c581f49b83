#!/bin/bash
# The HTTP control API and the CLI's --server (CONTRACT.md §6), from outside:
# a pipeline driven over HTTP from creation through a confirmation to the end;
# the event stream (each event of /history once, in seq order, `id:` = seq;
# Last-Event-ID resumes; closed clients are let go); every endpoint's answers
# and errors; bearer tokens for clients not on loopback; status, history and
# the control commands with --server print what they print on the journal;
# exit 5 when no server answers; a clean stop on SIGTERM with a stream open.
# Waits poll a condition (wait_for, at most 10 s), never sleep for a state.
# Usage: http_test.sh DAIRECTOR EXAMPLES_DIR
set -u
bin=${1:?dairector binary}
examples=${2:?examples dir}
tmp=$(mktemp -d)
server= remote= streams=()
cleanup() {
  local p i
  for p in "${streams[@]}"; do kill "$p" 2>/dev/null; done
  # SIGTERM first: a clean stop also kills the commands its pipelines run.
  for p in $remote $server; do
    kill -TERM "$p" 2>/dev/null
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"

# start_server NAME ARGS...: starts `serve`, waits for "ready", sets $port
# and the pid in the variable NAME.
start_server() {
  local var=$1 err=$tmp/$1.err; shift
  "$bin" serve "$@" 2>"$err" &
  printf -v "$var" %s $!
  wait_for 10 grep -qs "dairector serve: ready" "$err" || { echo "serve did not start: $(cat "$err")"; exit 1; }
  port=$(grep -o "http on [^ ]*" "$err" | grep -o "[0-9]*$")
}

# call METHOD PATH [BODY]: sets $code and $body.
call() {
  local method=$1 path=$2; shift 2
  local args=(-s -o "$tmp/answer" -w "%{http_code}" -X "$method" "${extra[@]}")
  [[ $# -gt 0 ]] && args+=(-H "Content-Type: application/json" --data-binary "$1")
  code=$(curl "${args[@]}" "$url$path")
  body=$(cat "$tmp/answer")
}
extra=()

# check NAME METHOD PATH BODY WANT_CODE PATTERN (BODY "-": none)
check() {
  local name=$1 method=$2 path=$3 data=$4 want=$5 pattern=$6
  if [[ $data == - ]]; then call "$method" "$path"; else call "$method" "$path" "$data"; fi
  [[ $code == "$want" ]] || { bad "$name" "HTTP $code, expected $want: ${body:0:300}"; return 1; }
  grep -qE -- "$pattern" <<<"$body" || { bad "$name" "no /$pattern/ in: ${body:0:300}"; return 1; }
  ok "$name"
}

seq_of() { call GET "/pipelines/$1"; grep -o '"seq":[0-9]*' <<<"$body" | head -1 | grep -o "[0-9]*"; }
state_has() { call GET "/pipelines/$1"; grep -qE -- "$2" <<<"$body"; }
# stream NAME PIPELINE [LAST_EVENT_ID]: curl -N in the background into $tmp/NAME.
stream() {
  local hdr=()
  [[ $# -gt 2 ]] && hdr=(-H "Last-Event-ID: $3")
  curl -sN "${hdr[@]}" "$url/pipelines/$2/events" >"$tmp/$1" 2>/dev/null &
  streams+=($!)
}
stream_has() { grep -qx "id: $2" "$tmp/$1"; }
stop_stream() { kill "${streams[-1]}" 2>/dev/null; wait "${streams[-1]}" 2>/dev/null; unset 'streams[-1]'; }

cat >"$tmp/flow.json" <<'EOF'
{"name": "flow", "stages": [
  {"name": "idea",    "run": {"builtin": "echo"}},
  {"name": "analyze", "after": ["idea"],    "run": {"builtin": "echo"}, "confirm": "Approve the design?"},
  {"name": "slice",   "after": ["analyze"], "run": {"builtin": "sleep", "ms": 50}},
  {"name": "ship",    "after": ["slice"],   "run": {"builtin": "echo"}}]}
EOF
cat >"$tmp/slow.json" <<'EOF'
{"name": "slow", "stages": [{"name": "wait", "run": {"command": ["sh", "-c", "exec sleep 4343"], "timeout_s": 600}}]}
EOF
flow=$(tr -d '\n' <"$tmp/flow.json")
j=$tmp/served.db
start_server server --journal "$j" --listen 127.0.0.1:0 --http 127.0.0.1:0 --token-file "$tmp/token" --workdir "$tmp"
url=http://127.0.0.1:$port

# Liveness, an empty server, and errors before any pipeline exists.
check healthz GET /healthz - 200 '^\{"ok":true\}$'
check list_empty GET /pipelines - 200 '^\[\]$'
expect status_no_pipeline 2 "hosts no pipeline" -- status --server "$url"
check unknown_pipeline_state GET /pipelines/nope - 404 '^\{"error":"no pipeline .nope.'
check unknown_pipeline_events GET /pipelines/nope/events - 404 '"error"'
check unknown_path GET /nope - 404 '^\{"error":"no such path: /nope"\}$'
check wrong_method DELETE /pipelines - 405 '"error":"DELETE is not allowed'
check wrong_method_on_control GET /pipelines/nope/confirm - 405 '"error"'

# Creation: bad bodies and specs are refused (400) and create nothing.
check create_malformed_json POST /pipelines '{"spec": ' 400 '^\{"error":"the body is not valid JSON'
check create_not_an_object POST /pipelines '[1, 2]' 400 'must be a JSON object'
check create_spec_wrong_type POST /pipelines '{"spec": "flow.json"}' 400 'needs \\"spec\\"'
check create_unknown_field POST /pipelines "{\"spec\": $flow, \"nme\": 1}" 400 'unknown field \\"nme\\"'
check create_bad_spec POST /pipelines \
  '{"spec": {"name": "x", "stages": [{"name": "a", "after": ["b"], "run": {"builtin": "echo"}},
                                     {"name": "b", "after": ["a"], "run": {"builtin": "echo"}}]}}' \
  400 "'a', 'b' form a cycle"
check create_bad_id POST /pipelines "{\"spec\": $flow, \"id\": \"../x\"}" 400 '\\"id\\" must be'
check create_id_wrong_type POST /pipelines "{\"spec\": $flow, \"id\": 7}" 400 '\\"id\\" must be a string'
deep=$(printf '[%.0s' $(seq 1 300))
check create_too_deep POST /pipelines "{\"spec\": $deep}" 400 'nests deeper than 256'
head -c $((17 << 20)) /dev/zero | tr '\0' ' ' >"$tmp/big"
code=$(curl -s -o "$tmp/answer" -w "%{http_code}" -H "Expect:" -X POST --data-binary @"$tmp/big" "$url/pipelines")
[[ $code == 413 ]] && grep -q '"error":"the body is larger than 16 MiB"' "$tmp/answer" && ok body_too_large \
  || bad body_too_large "HTTP $code: $(head -c 200 "$tmp/answer")"
check list_still_empty GET /pipelines - 200 '^\[\]$'

# Creation, then the live stream from the first event on.
check create POST /pipelines "{\"spec\": $flow}" 201 '^\{"pipeline":"flow"\}$'
stream first flow
check create_existing_id POST /pipelines "{\"spec\": $flow}" 409 "pipeline 'flow' already exists"
check create_with_id POST /pipelines "{\"spec\": $flow, \"id\": \"flow-2\"}" 201 '"pipeline":"flow-2"'
check list GET /pipelines - 200 '^\[\{"name":"flow","pipeline":"flow","seq":[0-9]+\},\{"name":"flow","pipeline":"flow-2","seq":'
expect pick_among_many 2 'hosts 2 pipelines \(flow, flow-2\): choose one with --id' -- status --server "$url"

wait_for 10 state_has flow '"pending_confirmation":\{"message":"Approve the design\?"' && ok waits_for_confirmation \
  || bad waits_for_confirmation "${body:0:300}"
check state_json GET /pipelines/flow - 200 '^\{"name":"flow",.*"pipeline":"flow","seq":[0-9]+,"stages":\[\{"attempt":1,"name":"idea"'

# The CLI on the server prints what it prints on the journal (read beside the owner).
for args in "status" "status --json" "status --at 3" "history" "history --json"; do
  # shellcheck disable=SC2086
  from_server=$("$bin" $args --server "$url" --id flow 2>&1); rc=$?
  # shellcheck disable=SC2086
  from_journal=$("$bin" $args --journal "$j" --id flow 2>&1)
  [[ $rc -eq 0 && "$from_server" == "$from_journal" && -n "$from_server" ]] && ok "same_output: $args" \
    || bad "same_output: $args" "exit $rc; server: $(head -3 <<<"$from_server") / journal: $(head -3 <<<"$from_journal")"
done
expect status_waiting 0 "at seq [0-9]+: waiting.*waiting for confirmation on 'analyze': Approve the design\?" -- \
  status --server "$url" --id flow
DAIRECTOR_SERVER=$url "$bin" status --id flow 2>&1 | grep -q "pipeline 'flow' at seq" \
  && ok server_from_environment || bad server_from_environment "DAIRECTOR_SERVER was not used"

# Time travel over HTTP.
check state_at GET '/pipelines/flow?at=3' - 200 '"seq":3,'
check state_at_zero GET '/pipelines/flow?at=0' - 400 'at must be a seq \(1 or more\)'
check state_at_junk GET '/pipelines/flow?at=3x' - 400 'at must be a seq'
check state_at_past_the_end GET '/pipelines/flow?at=999' - 404 'no event with seq 999 \(the history ends at [0-9]+\)'
expect status_at_past_the_end 2 "no event with seq 999" -- status --server "$url" --id flow --at 999

# Confirmation: body errors, then approval by a named user.
check confirm_unknown_pipeline POST /pipelines/nope/confirm '{}' 404 "no pipeline 'nope'"
check confirm_malformed POST /pipelines/flow/confirm '{"note": ' 400 'not valid JSON'
check confirm_note_wrong_type POST /pipelines/flow/confirm '{"note": 3}' 400 '\\"note\\" must be a string'
check confirm_by_empty POST /pipelines/flow/confirm '{"by": ""}' 400 '\\"by\\" must not be empty'
check confirm POST /pipelines/flow/confirm '{"note": "looks right", "by": "user:ana"}' 200 \
  '"pending_confirmation":null,"pipeline":"flow"'
wait_for 10 state_has flow '"name":"ship",.*"status":"completed"\}\]\}$' && ok runs_to_the_end \
  || bad runs_to_the_end "${body:0:300}"
check confirm_nothing_pending POST /pipelines/flow/confirm '{}' 409 '^\{"error":"no confirmation is pending"\}$'
check reject_nothing_pending POST /pipelines/flow/reject '{"note": "x"}' 409 'no confirmation is pending'
expect confirm_nothing_pending_cli 2 "dairector confirm: no confirmation is pending" -- confirm --server "$url" --id flow
expect history_records_who 0 "user:ana +confirmation_resolved +analyze approved: looks right" -- \
  history --server "$url" --id flow
expect status_done 0 "pipeline 'flow' at seq [0-9]+: done" -- status --server "$url" --id flow

# The stream: every event of the history once, in seq order, `id:` = seq, `data:` = the event.
last=$(seq_of flow)
wait_for 10 stream_has first "$last" && ok stream_reaches_the_end || bad stream_reaches_the_end "no id: $last"
stop_stream
"$bin" history --json --server "$url" --id flow >"$tmp/history.jsonl"
grep '^id: ' "$tmp/first" | sed 's/^id: //' >"$tmp/first.ids"
seq 1 "$last" | cmp -s - "$tmp/first.ids" && ok stream_each_event_once_in_order \
  || bad stream_each_event_once_in_order "ids: $(tr '\n' ' ' <"$tmp/first.ids")"
grep '^data: ' "$tmp/first" | sed 's/^data: //' | cmp -s - "$tmp/history.jsonl" && ok stream_data_is_history \
  || bad stream_data_is_history "data lines differ from history --json"
grep -vE '^(id: [0-9]+|data: \{.*\}|: keepalive|)$' "$tmp/first" | head -3 >"$tmp/odd"
[[ ! -s "$tmp/odd" ]] && ok stream_is_well_formed || bad stream_is_well_formed "$(cat "$tmp/odd")"
call GET /pipelines/flow/history
[[ $code == 200 && "$body" == "[$(paste -sd, "$tmp/history.jsonl")]" ]] && ok history_is_an_array_of_events \
  || bad history_is_an_array_of_events "HTTP $code: ${body:0:200}"
check history_unknown_pipeline GET /pipelines/nope/history - 404 "no pipeline 'nope'"

# Last-Event-ID resumes right after that seq, then goes on live.
stream resumed flow 5
wait_for 10 stream_has resumed "$last" || bad last_event_id_resumes "no id: $last"
grep '^id: ' "$tmp/resumed" | sed 's/^id: //' | tr '\n' ' ' >"$tmp/resumed.ids"
[[ "$(cat "$tmp/resumed.ids")" == "$(seq -s ' ' 6 "$last") " ]] && ok last_event_id_resumes \
  || bad last_event_id_resumes "ids: $(cat "$tmp/resumed.ids")"
code=$(curl -s -o "$tmp/answer" -w "%{http_code}" -H "Last-Event-ID: soon" "$url/pipelines/flow/events")
[[ $code == 400 ]] && grep -q 'Last-Event-ID must be a seq' "$tmp/answer" && ok last_event_id_malformed \
  || bad last_event_id_malformed "HTTP $code: $(cat "$tmp/answer")"

# Context change: the cascade re-runs what is downstream; the stream sees it live.
before=$(seq_of flow)
check context_unknown_stage POST /pipelines/flow/stages/nope/context '{"context": {}}' 404 "pipeline 'flow' has no stage 'nope'"
check context_wrong_field POST /pipelines/flow/stages/idea/context '{"ctx": {}}' 400 'unknown field'
check context POST /pipelines/flow/stages/idea/context '{"context": {"goal": "v2"}, "by": "user:bob"}' 200 \
  '"name":"analyze","output":.*"status":"(outdated|running|completed)"'
wait_for 10 state_has flow '"pending_confirmation":\{"message":"Approve the design\?"' && ok context_cascades_to_confirmation \
  || bad context_cascades_to_confirmation "${body:0:300}"
expect context_recorded 0 "user:bob +context_changed +idea \{\"goal\":\"v2\"\}.*stage_started +analyze" -- \
  history --server "$url" --id flow
now=$(seq_of flow)
wait_for 10 stream_has resumed "$now" && ok stream_goes_on_live || bad stream_goes_on_live "no id: $now (was $before)"
stop_stream
grep '^id: ' "$tmp/resumed" | sed 's/^id: //' | cmp -s - <(seq 6 "$now") && ok stream_live_each_once \
  || bad stream_live_each_once "ids: $(grep '^id: ' "$tmp/resumed" | tr '\n' ' ')"

# Reject over the CLI: the stage runs again and asks again; default `by`.
expect reject_cli 0 "^seq [0-9]+: confirmation_resolved \(pipeline 'flow'\)" -- \
  reject --server "$url" --id flow --note "not yet" --by user:eve
expect rejected_recorded 0 "user:eve +confirmation_resolved +analyze rejected: not yet" -- history --server "$url" --id flow
wait_for 10 state_has flow '"pending_confirmation":\{' && ok asks_again_after_reject || bad asks_again_after_reject "${body:0:300}"
check reject_default_by POST /pipelines/flow/reject '{}' 200 '"pipeline":"flow"'
expect default_by_is_user_http 0 "user:http +confirmation_resolved +analyze rejected" -- history --server "$url" --id flow
wait_for 10 state_has flow '"pending_confirmation":\{' || bad asks_again_after_reject "${body:0:300}"
expect invalidate_cli 0 "context_changed \(pipeline 'flow'\)" -- invalidate idea --server "$url" --id flow --by user:bob
expect invalidate_keeps_context 0 'user:bob +context_changed +idea \{"goal":"v2"\}' -- history --server "$url" --id flow
expect invalidate_bad_context 2 "--context is not valid JSON" -- invalidate idea --server "$url" --id flow --context '{'
expect invalidate_unknown_stage 2 "has no stage 'nope'" -- invalidate nope --server "$url" --id flow
wait_for 10 state_has flow '"pending_confirmation":\{' || bad waits_again "${body:0:300}"

# Rollback.
check rollback_missing_to POST /pipelines/flow/rollback '{}' 400 'needs \\"to\\"'
check rollback_to_zero POST /pipelines/flow/rollback '{"to": 0}' 400 'needs \\"to\\"'
check rollback_to_text POST /pipelines/flow/rollback '{"to": "3"}' 400 'needs \\"to\\"'
check rollback_past_the_end POST /pipelines/flow/rollback '{"to": 99999}' 404 'no event with seq 99999'
check rollback POST /pipelines/flow/rollback '{"to": 3}' 200 '"pipeline":"flow"'
expect rollback_recorded 0 "rolled_back +to seq 3" -- history --server "$url" --id flow
wait_for 10 state_has flow '"pending_confirmation":\{' || bad waits_after_rollback "${body:0:300}"
expect rollback_cli 0 "^seq [0-9]+: rolled_back \(pipeline 'flow'\)" -- rollback --to 2 --server "$url" --id flow

# Cancel: one running stage, a stage that does not run, the whole pipeline.
check create_slow POST /pipelines "$(printf '{"spec": %s}' "$(tr -d '\n' <"$tmp/slow.json")")" 201 '"pipeline":"slow"'
wait_for 10 state_has slow '"name":"wait",[^}]*"status":"running"' && ok slow_runs || bad slow_runs "${body:0:300}"
check cancel_unknown_stage POST /pipelines/slow/cancel '{"stage": "nope"}' 404 "pipeline 'slow' has no stage 'nope'"
check cancel_stage_empty POST /pipelines/slow/cancel '{"stage": ""}' 400 'must name a stage'
check cancel_stage POST /pipelines/slow/cancel '{"stage": "wait", "by": "user:ana"}' 200 \
  '"name":"wait",[^}]*"status":"cancelled"'
check cancel_not_running POST /pipelines/slow/cancel '{"stage": "wait"}' 409 '"error":'
check cancel_pipeline POST /pipelines/flow-2/cancel '{}' 200 '"pipeline":"flow-2"'
expect cancelled_recorded 0 "stage_cancelled" -- history --server "$url" --id flow-2
expect cancel_cli_unknown_stage 2 "has no stage 'nope'" -- cancel nope --server "$url" --id flow

# The CLI's own errors.
expect unreachable_server 5 "cannot reach server http://127.0.0.1:1: " -- status --server http://127.0.0.1:1
expect unreachable_server_control 5 "cannot reach server" -- confirm --server http://127.0.0.1:1 --id flow
expect bad_server_url 2 "--server must look like http://HOST:PORT" -- history --server ftp://x
expect server_and_journal_exclusive 2 "excludes" -- status --server "$url" --journal "$j"
expect unknown_pipeline_cli 2 "no pipeline 'nope'" -- history --server "$url" --id nope

# Event streams are bounded (12); closed clients are noticed and let go.
all_streaming() { local i; for i in $(seq 1 12); do stream_has "many$i" 1 || return 1; done; }
for i in $(seq 1 12); do stream "many$i" flow; done
wait_for 10 all_streaming || bad streams_bounded "12 streams did not all start"
code=$(curl -s -o "$tmp/answer" -w "%{http_code}" -m 5 "$url/pipelines/flow/events")
[[ $code == 503 ]] && grep -q "already serves 12 event streams" "$tmp/answer" && ok streams_bounded \
  || bad streams_bounded "HTTP $code: $(head -c 200 "$tmp/answer")"
for _ in $(seq 1 12); do stop_stream; done
room() { code=$(curl -s -o /dev/null -w "%{http_code}" -m 0.5 "$url/pipelines/flow/events"); [[ $code == 200 ]]; }
wait_for 10 room && ok closed_streams_let_go || bad closed_streams_let_go "HTTP $code after the clients closed"

# Clients not on loopback need the token (a second server on this host's own
# non-loopback address, so that the client's address is not loopback).
addr=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.[0-9.]+$' | grep -v '^127\.' | head -1)
if [[ -n "$addr" ]]; then
  loop_port=$port loop_url=$url
  start_server remote --journal "$tmp/remote.db" --listen 127.0.0.1:0 --http "$addr:0" --allow-remote \
    --token-file "$tmp/token"
  url=http://$addr:$port
  check remote_without_token GET /healthz - 401 '^\{"error":"this client is not on loopback'
  extra=(-H "Authorization: Bearer wrong-token-of-some-length")
  check remote_wrong_token GET /pipelines - 401 '"error"'
  extra=(-H "Authorization: Bearer $(cat "$tmp/token")")
  check remote_with_token GET /pipelines - 200 '^\[\]$'
  extra=()
  expect remote_cli_without_token 2 "not on loopback" -- status --server "$url"
  expect remote_cli_with_token 2 "hosts no pipeline" -- status --server "$url" --token-file "$tmp/token"
  kill -TERM "$remote"; wait "$remote"; rc=$?; remote=
  [[ $rc -eq 0 ]] && ok remote_server_stops || bad remote_server_stops "exit $rc"
  url=$loop_url port=$loop_port
else
  echo "skip remote_* (this host has no non-loopback IPv4 address)"
fi

# A clean stop on SIGTERM, with a stream open: the stream ends, the server exits 0.
stream last flow
wait_for 10 grep -q "^id: 1$" "$tmp/last" || bad stream_before_stop "nothing streamed"
kill -TERM "$server"
gone() { ! kill -0 "$server" 2>/dev/null; }
if wait_for 10 gone; then
  wait "$server"; rc=$?; server=
  [[ $rc -eq 0 ]] && ok stops_cleanly_with_a_stream_open || bad stops_cleanly_with_a_stream_open "exit $rc"
else
  bad stops_cleanly_with_a_stream_open "still running 10 s after SIGTERM"
fi
ended() { ! kill -0 "${streams[-1]}" 2>/dev/null; }
wait_for 10 ended && ok stream_ends_with_the_server || bad stream_ends_with_the_server "curl still connected"
expect history_after_stop 0 "rolled_back" -- history --journal "$j" --id flow

finish
