#!/bin/bash
# GET /events (docs/http.md#get-events), from outside, with real processes:
# one stream of every pipeline's committed events, ids strictly increasing
# journal-wide positions, every seq of every pipeline exactly once, live and
# from the journal alike; Last-Event-ID (or ?after=) from the middle gives
# exactly the rest; serve SIGKILLed and restarted, a resume with the last id
# seen misses nothing and repeats nothing; 200 open streams (of both kinds)
# hold no thread: GET /pipelines and a POST are answered while all are open,
# and the bound (384) answers 503; on PostgreSQL (DAIRECTOR_TEST_PG) /events
# on a server that owns nothing shows another server's events.
# Every wait polls a condition with a bound (wait_for), never sleeps.
# Usage: events_test.sh DAIRECTOR
set -u
bin=${1:?dairector binary}
here=$(dirname "$0")
source "$here/lib.sh"
tmp=$(mktemp -d)
server= other= holder= curls=() starts=0
cleanup() {
  local p
  touch "$tmp/release"
  for p in "${curls[@]}" $holder; do kill "$p" 2>/dev/null; done
  stop_gently "$server" "$other"
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
token=$tmp/token
echo "a-token-of-twenty-chars" >"$token"; chmod 600 "$token"
auth=(-H "Authorization: Bearer $(head -1 "$token")")

# start NAME JOURNAL [HTTP]: serve in the background until ready; $port, pid in NAME.
start() {
  local var=$1 err=$tmp/$1.$((++starts)).err  # a log of its own: never an earlier run's "ready"
  "$bin" serve --journal "$2" --token-file "$token" --listen 127.0.0.1:0 --http "127.0.0.1:${3:-0}" \
    --workdir "$tmp" 2>"$err" &
  printf -v "$var" %s $!
  serve_ready "$err" || { echo "serve did not start ($SECONDS s): $(cat "$err")"; exit 1; }
}
# follow NAME URL_PATH [LAST_EVENT_ID]: curl -N in the background into $tmp/NAME.
follow() {
  local hdr=()
  [[ $# -gt 2 ]] && hdr=(-H "Last-Event-ID: $3")
  curl -sN "${auth[@]}" "${hdr[@]}" "http://127.0.0.1:$port$2" >"$tmp/$1" 2>/dev/null &
  curls+=($!)
}
events_in() { grep -c '^data: ' "$tmp/$1" 2>/dev/null || echo 0; }
has_events() { [[ $(events_in "$1") -ge $2 ]]; }
# The events the journal holds, from the CLI (history --json of each pipeline).
journal_total() {
  local n=0 p
  for p in "$@"; do n=$((n + $("$bin" history --server "http://127.0.0.1:$port" --token-file "$token" --id "$p" --json | wc -l))); done
  echo "$n"
}
# Whether the pipeline's last stage (d) has completed.
ended() {
  "$bin" history --server "http://127.0.0.1:$port" --token-file "$token" --id "$1" --json |
    grep -q '"stage":"d","type":"stage_completed"'
}

cat >"$tmp/spec.json" <<'JSON'
{"name": "fan", "stages": [
  {"name": "a", "run": {"builtin": "echo"}},
  {"name": "b", "after": ["a"], "run": {"builtin": "echo"}},
  {"name": "c", "after": ["a"], "run": {"builtin": "echo"}},
  {"name": "d", "after": ["b", "c"], "run": {"builtin": "echo"}}]}
JSON

# --- Every pipeline, in order, each event once ---------------------------------
start server "$tmp/j.db"
follow live /events  # open before anything exists: all of it arrives live
wait_for 10 grep -q ": keepalive" "$tmp/live" && ok events_stream_opens || bad events_stream_opens "$(head -c 200 "$tmp/live")"
for p in p1 p2 p3; do [[ $(http_create "$port" "$token" "$tmp/spec.json" "$p") == 201 ]] || bad create "$p"; done
wait_for 20 ended p1 && wait_for 20 ended p2 && wait_for 20 ended p3 || bad pipelines_end "not all completed"
total=$(journal_total p1 p2 p3)
wait_for 10 has_events live "$total" || bad live_stream_has_all "$(events_in live) of $total events"
seqs=()
for p in p1 p2 p3; do seqs+=("$p=$("$bin" history --server "http://127.0.0.1:$port" --token-file "$token" --id "$p" --json | wc -l)"); done
out=$(python3 "$here/sse_tool.py" check "$tmp/live" "${seqs[@]}") && [[ $(events_in live) == "$total" ]] \
  && ok live_events_in_order_each_once || bad live_events_in_order_each_once "$out"
# The same from the journal (a stream opened afterwards), byte for byte.
follow later /events
wait_for 10 has_events later "$total" || bad history_stream_has_all "$(events_in later) of $total"
[[ "$(grep -E '^(id|data): ' "$tmp/later")" == "$(grep -E '^(id|data): ' "$tmp/live")" ]] && ok journal_part_equals_live_part \
  || bad journal_part_equals_live_part "$(diff <(grep -E '^(id|data): ' "$tmp/live") <(grep -E '^(id|data): ' "$tmp/later") | head -5)"
# Each data line is the event exactly as history --json prints it.
"$bin" history --server "http://127.0.0.1:$port" --token-file "$token" --id p2 --json >"$tmp/p2.jsonl"
grep '^data: .*"pipeline":"p2"' "$tmp/later" | sed 's/^data: //' | diff - "$tmp/p2.jsonl" >/dev/null \
  && ok data_is_history_json || bad data_is_history_json "differs from history --json"
[[ $(grep '^id: ' "$tmp/later" | head -1) == "id: 1" && $(grep '^id: ' "$tmp/later" | tail -1) == "id: $total" ]] \
  && ok ids_are_positions || bad ids_are_positions "$(grep '^id: ' "$tmp/later" | sed -n '1p;$p' | tr '\n' ' ')"

# --- Resume from the middle ------------------------------------------------------
mid=$((total / 2))
follow resumed /events "$mid"
follow resumed_q "/events?after=$mid"
rest=$((total - mid))
wait_for 10 has_events resumed "$rest" && wait_for 10 has_events resumed_q "$rest" || bad resume "$(events_in resumed) of $rest"
want=$(grep -E '^(id|data): ' "$tmp/later" | awk -v m="$mid" '/^id: /{on = (substr($0, 5) + 0 > m)} on')
[[ "$(grep -E '^(id|data): ' "$tmp/resumed")" == "$want" ]] && ok last_event_id_resumes_with_exactly_the_rest \
  || bad last_event_id_resumes_with_exactly_the_rest "$(diff <(echo "$want") <(grep -E '^(id|data): ' "$tmp/resumed") | head -5)"
[[ "$(grep -E '^(id|data): ' "$tmp/resumed_q")" == "$want" ]] && ok after_parameter_resumes_too || bad after_parameter_resumes_too "differs"
code=$(curl -s -o "$tmp/answer" -w "%{http_code}" -m 5 "${auth[@]}" -H "Last-Event-ID: soon" "http://127.0.0.1:$port/events")
[[ $code == 400 ]] && ok bad_last_event_id_refused || bad bad_last_event_id_refused "HTTP $code"
code=$(curl -s -o /dev/null -w "%{http_code}" -m 5 "http://127.0.0.1:$port/events")
[[ $code == 401 ]] && ok events_need_the_token || bad events_need_the_token "HTTP $code"
for p in "${curls[@]}"; do kill "$p" 2>/dev/null; done; curls=()

# --- SIGKILL and restart: nothing missing, nothing twice -----------------------
follow before /events
[[ $(http_create "$port" "$token" "$tmp/spec.json" p4) == 201 ]] || bad create p4
wait_for 20 ended p4 || bad p4_ends "not completed"
wait_for 10 has_events before $((total + $(journal_total p4))) || bad before_kill "$(events_in before) events"
kill -KILL "$server"; wait "$server" 2>/dev/null; server=
last=$(grep '^id: ' "$tmp/before" | tail -1 | cut -c5-)
start server "$tmp/j.db" "$port"
follow after_restart /events "$last"
for p in p5 p6; do [[ $(http_create "$port" "$token" "$tmp/spec.json" "$p") == 201 ]] || bad create "$p"; done
wait_for 20 ended p5 && wait_for 20 ended p6 || bad restarted_pipelines_end "not completed"
all=$(journal_total p1 p2 p3 p4 p5 p6)
wait_for 10 has_events after_restart $((all - last)) || bad after_restart "$(events_in after_restart) of $((all - last))"
follow everything /events
wait_for 10 has_events everything "$all" || bad everything "$(events_in everything) of $all"
cat "$tmp/before" "$tmp/after_restart" | grep -E '^(id|data): ' >"$tmp/joined"
seqs=()
for p in p1 p2 p3 p4 p5 p6; do seqs+=("$p=$("$bin" history --server "http://127.0.0.1:$port" --token-file "$token" --id "$p" --json | wc -l)"); done
out=$(python3 "$here/sse_tool.py" check "$tmp/joined" "${seqs[@]}") \
  && [[ "$(cat "$tmp/joined")" == "$(grep -E '^(id|data): ' "$tmp/everything")" ]] \
  && ok resume_after_sigkill_nothing_missing_nothing_twice || bad resume_after_sigkill_nothing_missing_nothing_twice "$out"
for p in "${curls[@]}"; do kill "$p" 2>/dev/null; done; curls=()

# --- 200 open streams hold no thread ----------------------------------------------
# (16 pool threads answer requests: with a thread per stream, the 17th stream
# and every request after it would wait.)
python3 "$here/sse_tool.py" hold "$port" "$(head -1 "$token")" 200 "$tmp/held" "$tmp/release" \
  /events /pipelines/p1/events "/events?after=$((all - 3))" &
holder=$!
wait_for 60 test -s "$tmp/held" || bad streams_open "$(cat "$tmp/held" 2>/dev/null)"
grep -q "^open 200 " "$tmp/held" && ok two_hundred_streams_open || bad two_hundred_streams_open "$(cat "$tmp/held")"
code=$(curl -s -o "$tmp/answer" -w "%{http_code}" -m 10 "${auth[@]}" "http://127.0.0.1:$port/pipelines")
[[ $code == 200 ]] && grep -q '"p6"' "$tmp/answer" && ok list_answered_with_200_streams_open \
  || bad list_answered_with_200_streams_open "HTTP $code"
code=$(curl -s -o /dev/null -w "%{http_code}" -m 10 -X POST "${auth[@]}" -H 'Content-Type: application/json' \
  --data "{\"spec\": $(cat "$tmp/spec.json"), \"id\": \"p7\"}" "http://127.0.0.1:$port/pipelines")
[[ $code == 201 ]] && ok create_answered_with_200_streams_open || bad create_answered_with_200_streams_open "HTTP $code"
touch "$tmp/release"; wait "$holder" 2>/dev/null; holder=; rm -f "$tmp/release" "$tmp/held"
# The bound: 384 streams, the next one is refused; once closed, there is room again.
python3 "$here/sse_tool.py" hold "$port" "$(head -1 "$token")" 384 "$tmp/held" "$tmp/release" /events &
holder=$!
wait_for 60 test -s "$tmp/held" || bad streams_bounded "$(cat "$tmp/held" 2>/dev/null)"
grep -q "^open 384 extra=503" "$tmp/held" && ok streams_bounded || bad streams_bounded "$(cat "$tmp/held")"
touch "$tmp/release"; wait "$holder" 2>/dev/null; holder=
room() { code=$(curl -s -o /dev/null -w "%{http_code}" -m 0.5 "${auth[@]}" "http://127.0.0.1:$port/events"); [[ $code == 200 ]]; }
wait_for 10 room && ok closed_streams_let_go || bad closed_streams_let_go "HTTP $code after the clients closed"
stop_gently "$server"; server=

# --- A cluster: /events on a server that owns nothing -----------------------------
if [[ -n ${DAIRECTOR_TEST_PG:-} ]]; then
  uri=$(pg_database "$DAIRECTOR_TEST_PG" events) || { bad pg_database "cannot create"; finish; exit; }
  start server "$uri"
  owner_port=$port
  "$bin" serve --journal "$uri" --node idle --token-file "$token" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
    --workdir "$tmp" 2>"$tmp/idle.err" &
  other=$!
  serve_ready "$tmp/idle.err" || bad idle_server "$(cat "$tmp/idle.err")"
  follow cluster /events  # on the server that owns nothing
  port=$owner_port
  [[ $(http_create "$port" "$token" "$tmp/spec.json" c1) == 201 ]] || bad create c1
  wait_for 20 ended c1 || bad c1_ends "not completed"
  n=$(journal_total c1)
  wait_for 10 has_events cluster "$n" && out=$(python3 "$here/sse_tool.py" check "$tmp/cluster" "c1=$n") \
    && ok events_on_a_server_that_owns_nothing || bad events_on_a_server_that_owns_nothing "$(events_in cluster) of $n: ${out:-}"
fi
finish
