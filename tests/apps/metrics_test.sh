#!/bin/bash
# GET /metrics (docs/http.md#metrics) against a real `serve` with a real
# worker process running every stage:
#   - the strict reader (prom_check.py) refuses broken expositions, so that
#     its verdict on the server's means something;
#   - /metrics needs the token and answers text/plain; version=0.0.4; every
#     scrape parses (TYPE for every sample, cumulative buckets ending with
#     le="+Inf" equal to _count, escaped label values);
#   - every event type of docs/events.md appears, 0 before anything ran; one
#     worker connected;
#   - the six-stage example, run on the worker and confirmed over HTTP:
#     pipelines{outcome="waiting"} is 1 while it waits, then "done" is 1;
#     each transitions_total{type} grew by exactly that type's count in the
#     pipeline's history; the commit histogram's _count grew;
#   - http_requests_total counts GET /pipelines/{id} by its template (never
#     the id) exactly as often as it was called; an unknown path is "other";
#   - runs_in_flight is 1 while a command stage runs, 0 once it ended; the
#     backlog is 0 at rest;
#   - finished pipelines rest at once (--evict-after-ms 0): "done" counts them
#     from what the director keeps, and so after a restart, when they are
#     known from the journal without being rebuilt; counters start again at 0.
# With `postgresql` (and DAIRECTOR_TEST_PG, the CTest fixture pg): a server on
# a PostgreSQL journal whose URI carries a password; the metrics move as a
# pipeline runs and the password never appears in them.
# Usage: metrics_test.sh DAIRECTOR EXAMPLES_DIR [postgresql]
set -u
bin=${1:?dairector binary}
examples=${2:?examples dir}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
scratch_with_server
worker=
trap 'stop_gently "$worker" "$server"; wait 2>/dev/null; rm -rf "$tmp"' EXIT
export XDG_CONFIG_HOME=$tmp/config  # the default token file, never the home's
check=$here/prom_check.py
docs=$here/../../docs
token=$tmp/token

auth() { echo "Authorization: Bearer $(head -1 "$token")"; }
n=0
# scrape: the parsed samples of one scrape into $tmp/scrape.N (fails if it does not parse).
scrape() {
  n=$((n + 1))
  curl -s -m 10 -H "$(auth)" "$url/metrics" >"$tmp/raw.$n" && python3 "$check" <"$tmp/raw.$n" >"$tmp/scrape.$n" 2>"$tmp/why.$n"
}
# val KEY: a sample's value in the last scrape (empty if absent).
val() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$tmp/scrape.$n"; }
# is KEY VALUE: a fresh scrape shows KEY at VALUE (for wait_for).
is() { scrape && [[ $(val "$1") == "$2" ]]; }

if [[ ${3:-} == postgresql ]]; then
  secret=s3cret-metrics-pw
  db=$(pg_database "${DAIRECTOR_TEST_PG:?the CTest fixture pg}" metrics) || { bad "database" "cannot create"; finish; exit 1; }
  "$bin" serve --journal "$db&password=$secret" --token-file "$token" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
    --node m1 --workdir "$examples" >"$tmp/server.log" 2>&1 &
  server=$!
  serve_ready "$tmp/server.log" || { bad "server_start" "$(tail -3 "$tmp/server.log")"; finish; exit 1; }
  url="http://127.0.0.1:$port"
  [[ $(http_create "$port" "$token" "$examples/release.json" rel) == 201 ]] || bad "create" "not 201"
  wait_for 30 is 'dairector_pipelines{outcome="waiting"}' 1 && ok "pg_waiting_is_1" || bad "pg_waiting_is_1" "$(cat "$tmp/why.$n")"
  # transitions_total counts *committed* events, and a start event (stage_started,
  # confirmation_requested) reaches memory before the disk: "waiting" can be seen
  # before package's start is committed. So wait for the commit itself.
  committed() { scrape && [[ $(val 'dairector_transitions_total{type="stage_started"}') -ge 5 ]] \
    && [[ $(val 'dairector_transitions_total{type="confirmation_requested"}') -ge 1 ]]; }
  wait_for 30 committed && ok "pg_transitions_moved" || bad "pg_transitions_moved" "$(grep transitions "$tmp/scrape.$n")"
  [[ $(val dairector_journal_commit_seconds_count) -ge 1 ]] && ok "pg_commits_timed" || bad "pg_commits_timed" "none"
  ! grep -q "$secret" "$tmp"/raw.* && ok "pg_no_password" || bad "pg_no_password" "$(grep "$secret" "$tmp"/raw.* | head -3)"
  finish
  exit
fi

# --- the reader is strict ------------------------------------------------------------
refused() {  # NAME TEXT: the reader must refuse TEXT
  if printf '%b' "$2" | python3 "$check" >/dev/null 2>&1; then bad "reader_refuses_$1" "accepted: $2"; else ok "reader_refuses_$1"; fi
}
good='# TYPE a_total counter\na_total{x="q\\"\\\\\\n"} 1\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n'
if printf '%b' "$good" | python3 "$check" >/dev/null; then ok "reader_accepts_good"; else bad "reader_accepts_good" "refused"; fi
refused no_type 'a_total 1\n'
refused counter_name '# TYPE a counter\na 1\n'
refused bad_escape '# TYPE a gauge\na{x="\\q"} 1\n'
refused twice '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n'
refused not_cumulative '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 3\nh_count 1\n'
refused no_inf '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 3\nh_count 1\n'
refused inf_not_count '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 3\n'
refused interleaved '# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x="1"} 1\n'

# --- a server and a worker --------------------------------------------------------------
start_server() {  # LOG
  "$bin" serve --journal "$tmp/j.db" --token-file "$token" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
    --remote-stages all --workdir "$examples" --evict-after-ms 0 >"$1" 2>&1 &
  server=$!
  serve_ready "$1" || { bad "server_start" "$(tail -3 "$1")"; finish; exit 1; }
  url="http://127.0.0.1:$port"
}
start_server "$tmp/server.log"
wport=$(grep -o 'workers on 127.0.0.1:[0-9]*' "$tmp/server.log" | grep -o '[0-9]*$')
"$bin" worker --connect "127.0.0.1:$wport" --token-file "$token" --name w1 \
  --stages idea,analyze,slice,handoff,execute,validate,hold >"$tmp/worker.log" 2>&1 &
worker=$!
wait_for 20 grep -q "registered" "$tmp/worker.log" || bad "worker_start" "$(tail -3 "$tmp/worker.log")"

get() { curl -s -m 10 -H "$(auth)" "$url$1"; }
post() { curl -s -m 10 -H "$(auth)" -H 'Content-Type: application/json' --data "$2" "$url$1"; }

code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 "$url/metrics")
[[ $code == 401 ]] && ok "metrics_needs_token" || bad "metrics_needs_token" "HTTP $code"
type=$(curl -s -o /dev/null -w '%{content_type}' -m 10 -H "$(auth)" "$url/metrics")
[[ $type == "text/plain; version=0.0.4; charset=utf-8" ]] && ok "content_type" || bad "content_type" "$type"

if scrape; then ok "scrape_parses"; else bad "scrape_parses" "$(cat "$tmp/why.$n")"; fi
before=$n
types=$(sed -n '/^## Event types/,/^## /s/^### \([a-z_]*\)$/\1/p' "$docs/events.md")
[[ $(wc -w <<<"$types") -ge 12 ]] || bad "event_types_read" "docs/events.md lists: $types"
missing=
for t in $types; do [[ $(val "dairector_transitions_total{type=\"$t\"}") == 0 ]] || missing+=" $t"; done
[[ -z $missing ]] && ok "every_event_type_at_0" || bad "every_event_type_at_0" "not 0 or absent:$missing"
wait_for 10 is dairector_workers_connected 1 && ok "one_worker_connected" || bad "one_worker_connected" "$(val dairector_workers_connected)"

# --- the six-stage example on the worker -----------------------------------------------------
[[ $(http_create "$port" "$token" "$examples/dairector.json" demo) == 201 ]] || bad "create" "not 201"
wait_for 30 is 'dairector_pipelines{outcome="waiting"}' 1 && ok "waiting_is_1" || bad "waiting_is_1" "$(grep pipelines "$tmp/scrape.$n")"
post /pipelines/demo/confirm '{"note": "go"}' >/dev/null
wait_for 30 is 'dairector_pipelines{outcome="done"}' 1 && ok "done_is_1" || bad "done_is_1" "$(grep pipelines "$tmp/scrape.$n")"
[[ $(val 'dairector_pipelines{outcome="waiting"}') == 0 ]] && ok "waiting_back_to_0" || bad "waiting_back_to_0" "$(val 'dairector_pipelines{outcome="waiting"}')"
after=$n
get /pipelines/demo/history >"$tmp/history.json"
grep -q '"by":"worker:w1"' "$tmp/history.json" && ok "ran_on_the_worker" || bad "ran_on_the_worker" "no worker:w1 in the history"
# Each type grew by exactly its count in the history (the only pipeline here).
wrong=$(python3 - "$tmp/history.json" "$tmp/scrape.$before" "$tmp/scrape.$after" $types <<'EOF'
import json, sys
history = json.load(open(sys.argv[1]))
def load(p):
    return dict(line.rstrip("\n").split("\t") for line in open(p))
s0, s1 = load(sys.argv[2]), load(sys.argv[3])
for t in sys.argv[4:]:
    k = 'dairector_transitions_total{type="%s"}' % t
    want = sum(1 for e in history if e["type"] == t)
    got = int(s1[k]) - int(s0[k])
    if got != want:
        print(f"{t}: grew by {got}, the history has {want}")
EOF
)
[[ -z $wrong ]] && ok "transitions_grew_by_the_history" || bad "transitions_grew_by_the_history" "$wrong"
started=$(val 'dairector_transitions_total{type="stage_started"}')
[[ $started -ge 7 ]] && ok "stage_started_moved" || bad "stage_started_moved" "$started"
count0=$(awk -F'\t' '$1 == "dairector_journal_commit_seconds_count" { print $2 }' "$tmp/scrape.$before")
count1=$(val dairector_journal_commit_seconds_count)
[[ $count1 -gt $count0 ]] && ok "commit_histogram_count_grew" || bad "commit_histogram_count_grew" "$count0 -> $count1"

# --- requests by route template ------------------------------------------------------------------
k='dairector_http_requests_total{code="200",method="GET",route="/pipelines/{id}"}'
scrape
r0=$(val "$k")
for _ in 1 2 3; do get /pipelines/demo >/dev/null; done
get /no/such/path >/dev/null
scrape
r1=$(val "$k")
[[ $((r1 - ${r0:-0})) -eq 3 ]] && ok "requests_by_template" || bad "requests_by_template" "${r0:-0} -> $r1"
grep -q 'route="[^"]*demo' "$tmp/scrape.$n" && bad "no_raw_path" "$(grep demo "$tmp/scrape.$n")" || ok "no_raw_path"
[[ $(val 'dairector_http_requests_total{code="404",method="GET",route="other"}') -ge 1 ]] && ok "unknown_path_is_other" \
  || bad "unknown_path_is_other" "$(grep other "$tmp/scrape.$n")"
[[ $(val 'dairector_http_requests_total{code="401",method="GET",route="/metrics"}') -ge 1 ]] && ok "refusals_counted" \
  || bad "refusals_counted" "$(grep 401 "$tmp/scrape.$n")"

# --- runs in flight ------------------------------------------------------------------------------
cat >"$tmp/hold.json" <<EOF
{"name": "hold", "stages": [{"name": "hold", "after": [], "run": {"command":
  ["sh", "-c", "cat >/dev/null; while [ ! -e '$tmp/go' ]; do sleep 0.05; done; echo '{}'"]}}]}
EOF
[[ $(http_create "$port" "$token" "$tmp/hold.json" hold) == 201 ]] || bad "create_hold" "not 201"
wait_for 30 is dairector_runs_in_flight 1 && ok "run_in_flight" || bad "run_in_flight" "$(val dairector_runs_in_flight)"
[[ $(val 'dairector_pipelines{outcome="active"}') == 1 ]] && ok "active_is_1" || bad "active_is_1" "$(grep pipelines "$tmp/scrape.$n")"
touch "$tmp/go"
wait_for 30 is 'dairector_pipelines{outcome="done"}' 2 && ok "hold_done" || bad "hold_done" "$(grep pipelines "$tmp/scrape.$n")"
[[ $(val dairector_runs_in_flight) == 0 ]] && ok "no_run_in_flight" || bad "no_run_in_flight" "$(val dairector_runs_in_flight)"
wait_for 10 is dairector_journal_backlog_events 0 && ok "backlog_0_at_rest" || bad "backlog_0_at_rest" "$(val dairector_journal_backlog_events)"
up=$(grep -c 'dairector_metrics_source_up{source="[a-z]*"}	1' "$tmp/scrape.$n")
[[ $up == 3 ]] && ok "every_source_up" || bad "every_source_up" "$(grep source_up "$tmp/scrape.$n")"
grep -q "$tmp" "$tmp/raw.$n" && bad "no_paths_in_metrics" "the scratch folder appears" || ok "no_paths_in_metrics"

# --- a restart: both finished pipelines rest, known from the journal ----------------------------
stop_gently "$server"
start_server "$tmp/server.2.log"
scrape
[[ $(val 'dairector_pipelines{outcome="done"}') == 2 ]] && ok "done_after_restart" || bad "done_after_restart" "$(grep pipelines "$tmp/scrape.$n")"
[[ $(val 'dairector_transitions_total{type="stage_started"}') == 0 ]] && ok "counters_restart_at_0" \
  || bad "counters_restart_at_0" "$(val 'dairector_transitions_total{type="stage_started"}')"

finish
