#!/bin/bash
# Scale out, with real processes on loopback (issue 5): a server and worker
# processes over CAF's network layer, with mutual TLS and the credentials
# `serve` makes beside the token file (no TLS option: apps.tls tests them).
#   - listeners refuse addresses beyond loopback without --allow-remote;
#   - a worker with a wrong token is refused, logged, and never gets a run;
#   - a server and two workers run the six-stage example;
#   - SIGKILL of the worker running a stage: the run is recorded interrupted,
#     finishes on the other worker, and is completed exactly once;
#   - SIGSTOP (a hung worker): detected by heartbeats, same outcome; the
#     worker reconnects after SIGCONT;
#   - SIGKILL of the server mid-stage, restart: the pipeline continues and
#     the workers register again;
#   - `run --server` (with the server's token): waits (exit 4), --yes to the
#     end (0), Ctrl-C cancels (3), an unreachable server (5), no token (2);
#   - an own PKI (--tls-cert/--tls-key/--tls-ca): a worker signed by the CA
#     runs stages; a plain-TCP one or one signed by another CA never registers.
# Usage: serve_test.sh DAIRECTOR EXAMPLES_DIR
set -u
bin=${1:?dairector binary}
examples=${2:?examples dir}
tmp=$(mktemp -d)
export XDG_CONFIG_HOME=$tmp/config  # the default token file, never the home's
declare -A pids=()
server=
cleanup() {
  { kill -KILL $server "${pids[@]}"; wait; } 2>/dev/null
  pkill -KILL -f "sleep 4747" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"

j=$tmp/server.db
token=$tmp/token
wport=0 hport=0
runs=0  # server starts, for log names

# start_server ARGS...: a server on the journal, in the background; waits
# until it says ready and learns its ports (0 the first time: ephemeral; a
# restart keeps them so that workers find it again).
start_server() {
  runs=$((runs + 1))
  log=$tmp/server.$runs.log
  "$bin" serve --journal "$j" --token-file "$token" --listen 127.0.0.1:$wport --http 127.0.0.1:$hport \
    --remote-stages all --workdir "$examples" --heartbeat-ms 200 --worker-timeout-ms 1500 "$@" >"$log" 2>&1 &
  server=$!
  wait_for 20 grep -q "ready" "$log" || { bad "server_start" "$(tail -3 "$log")"; return 1; }
  wport=$(grep -o 'workers on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
  hport=$(grep -o 'http on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
}

# start_worker NAME STAGES ARGS...: a worker process; waits until registered.
start_worker() {
  local name=$1 stages=$2; shift 2
  "$bin" worker --connect 127.0.0.1:$wport --token-file "$token" --stages "$stages" --name "$name" \
    --heartbeat-ms 200 --server-timeout-ms 1500 "$@" >"$tmp/$name.log" 2>&1 &
  pids[$name]=$!
  wait_for 20 grep -q "registered" "$tmp/$name.log" || { bad "worker_$name" "$(tail -3 "$tmp/$name.log")"; return 1; }
}

url() { echo "http://127.0.0.1:$hport$1"; }
post() {
  curl -s -m 10 -X POST -H "Authorization: Bearer $(head -1 "$token")" -H 'Content-Type: application/json' \
    --data "$2" "$(url "$1")"
}
create() { post /pipelines "{\"spec\": $(cat "$1"), \"id\": \"$2\"}" >/dev/null; }
status() { "$bin" status --journal "$j" --id "$1" 2>&1; }
history() { "$bin" history --journal "$j" --id "$1" 2>&1; }
is_done() { status "$1" | grep -q ": done"; }
is_waiting() { status "$1" | grep -q "waiting for confirmation"; }
count() { history "$1" | grep -cE -- "$2"; }

# A stage that runs until killed the first time (it writes which worker runs
# it to MARK) and ends at once the second time.
marked_spec() {  # NAME MARK
  cat >"$tmp/$1.json" <<EOF
{"name": "$1", "stages": [
  {"name": "a", "after": [], "run": {"builtin": "echo"}},
  {"name": "b", "after": ["a"], "run": {"command": ["sh", "-c",
     "if [ -e $2 ]; then echo '{\"second\": true}'; else echo \"\$DAIRECTOR_WORKER\" > $2.tmp && mv $2.tmp $2; sleep 4747; fi"]}},
  {"name": "c", "after": ["b"], "run": {"builtin": "echo"}}]}
EOF
}

# --- who may listen and connect ---------------------------------------------
expect listen_beyond_loopback_refused 2 "not a loopback address.*--allow-remote" -- \
  serve --journal "$tmp/x.db" --token-file "$tmp/x.token" --listen 0.0.0.0:0
expect http_beyond_loopback_refused 2 "not a loopback address" -- \
  serve --journal "$tmp/x.db" --token-file "$tmp/x.token" --http 0.0.0.0:0
expect connect_beyond_loopback_refused 2 "not a loopback address" -- \
  worker --connect 192.0.2.1:7878 --token-file "$tmp/x.token" --stages a
echo "short" >"$tmp/open.token"; chmod 644 "$tmp/open.token"
expect token_readable_by_others_refused 2 "readable by others" -- \
  worker --connect 127.0.0.1:1 --token-file "$tmp/open.token" --stages a

start_server || { finish; exit 1; }
[[ -s $token && $(stat -c %a "$token") == 600 ]] && ok "token_file_created_0600" || bad "token_file_created_0600" "$(ls -l "$token")"
grep -q "workers on 127.0.0.1:$wport (mutual TLS)" "$log" && [[ -f $tmp/credentials/worker/key.pem ]] &&
  ok "workers_over_mutual_tls_by_default" || bad "workers_over_mutual_tls_by_default" "$(head -1 "$log")"

echo "intruder-with-a-long-wrong-token" >"$tmp/wrong.token"; chmod 600 "$tmp/wrong.token"
expect wrong_token_refused 2 "refused this worker: registration refused: wrong token" -- \
  worker --connect 127.0.0.1:$wport --token-file "$tmp/wrong.token" --stages idea --name intruder
grep -q "refused worker 'worker:intruder'.*wrong token" "$tmp/server.1.log" && ok "wrong_token_logged" ||
  bad "wrong_token_logged" "$(tail -3 "$tmp/server.1.log")"

# --- the six-stage example on two workers --------------------------------------
all=idea,analyze,slice,handoff,execute,validate,a,b,c
start_worker w1 $all
start_worker w2 $all
create "$examples/dairector.json" example
wait_for 30 is_waiting example && ok "example_waits_for_confirmation" || bad "example_waits_for_confirmation" "$(status example)"
post /pipelines/example/confirm '{"by": "user:test"}' >/dev/null
wait_for 30 is_done example && ok "example_done" || bad "example_done" "$(status example)"
completed=$(count example "stage_completed")
on_workers=$(count example "worker:w[12] +stage_completed")
[[ $completed -ge 6 && $completed -eq $on_workers ]] && ok "example_stages_ran_on_the_workers" ||
  bad "example_stages_ran_on_the_workers" "$on_workers of $completed completions by w1/w2"
[[ $(count example "worker:intruder") -eq 0 ]] && ok "intruder_never_ran" || bad "intruder_never_ran" "$(history example)"

# --- SIGKILL of the worker running a stage ------------------------------------
marked_spec killed "$tmp/mark.killed"
create "$tmp/killed.json" killed
if wait_for 20 test -s "$tmp/mark.killed"; then
  victim=$(sed 's/^worker://' "$tmp/mark.killed")
  kill -KILL "${pids[$victim]}"
  wait_for 30 is_done killed && ok "killed_worker_pipeline_done" || bad "killed_worker_pipeline_done" "$(status killed)"
  [[ $(count killed "stage_completed +b ") -eq 1 ]] && ok "killed_worker_stage_completed_once" ||
    bad "killed_worker_stage_completed_once" "$(history killed)"
  [[ $(count killed "stage_interrupted +b ") -eq 1 ]] && ok "killed_worker_run_interrupted" ||
    bad "killed_worker_run_interrupted" "$(history killed)"
  count killed "worker:$victim +stage_completed +b " >/dev/null && bad "killed_worker_finished_elsewhere" "$(history killed)" ||
    ok "killed_worker_finished_elsewhere"
  start_worker "$victim" $all  # two workers again
else
  bad "killed_worker_stage_started" "no marker: $(status killed)"
fi

# --- SIGSTOP: a hung worker is found by heartbeats -----------------------------
marked_spec hung "$tmp/mark.hung"
create "$tmp/hung.json" hung
if wait_for 20 test -s "$tmp/mark.hung"; then
  victim=$(sed 's/^worker://' "$tmp/mark.hung")
  kill -STOP "${pids[$victim]}"
  wait_for 30 is_done hung && ok "hung_worker_pipeline_done" || bad "hung_worker_pipeline_done" "$(status hung)"
  [[ $(count hung "stage_completed +b ") -eq 1 && $(count hung "stage_interrupted +b ") -eq 1 ]] &&
    ok "hung_worker_run_interrupted_and_completed_once" || bad "hung_worker_run_interrupted_and_completed_once" "$(history hung)"
  grep -q "worker 'worker:$victim' is gone" "$tmp/server.1.log" && ok "hung_worker_detected" ||
    bad "hung_worker_detected" "$(tail -3 "$tmp/server.1.log")"
  kill -CONT "${pids[$victim]}"
  wait_for 30 grep -q "registered again" "$tmp/$victim.log" && ok "hung_worker_reconnects_after_sigcont" ||
    bad "hung_worker_reconnects_after_sigcont" "$(tail -3 "$tmp/$victim.log")"
else
  bad "hung_worker_stage_started" "no marker: $(status hung)"
fi

# --- SIGKILL of the server mid-stage, restart ----------------------------------
marked_spec restart "$tmp/mark.restart"
create "$tmp/restart.json" restart
if wait_for 20 test -s "$tmp/mark.restart"; then
  before=$(history restart)
  kill -KILL $server
  wait $server 2>/dev/null
  start_server
  wait_for 30 is_done restart && ok "restarted_server_pipeline_done" || bad "restarted_server_pipeline_done" "$(status restart)"
  after=$(history restart)
  [[ $after == "$before"* ]] && ok "restart_lost_nothing" || bad "restart_lost_nothing" "history before the kill is not a prefix"
  [[ $(count restart "stage_completed +b ") -eq 1 ]] && ok "restart_stage_completed_once" ||
    bad "restart_stage_completed_once" "$after"
  [[ $(count restart "worker:w[12] +stage_completed +b ") -eq 1 ]] && ok "restart_stage_ran_on_a_worker" ||
    bad "restart_stage_ran_on_a_worker" "$after"
  for w in w1 w2; do
    wait_for 30 grep -q "registered again" "$tmp/$w.log" && ok "worker_${w}_reconnected" ||
      bad "worker_${w}_reconnected" "$(tail -3 "$tmp/$w.log")"
  done
  for p in example killed hung; do is_done $p && ok "still_done_$p" || bad "still_done_$p" "$(status $p)"; done
else
  bad "restart_stage_started" "no marker: $(status restart)"
fi

# --- run --server: create, follow the stream, answer, exit like a local run ----
srv=http://127.0.0.1:$hport
expect run_server_waits 4 "confirmation_requested.*waiting for confirmation" -- \
  run "$examples/dairector.json" --server "$srv" --token-file "$token" --id remote-waits
expect run_server_yes 0 "validate +stage_completed.*pipeline 'remote-yes' done" -- \
  run "$examples/dairector.json" --server "$srv" --token-file "$token" --id remote-yes --yes
expect run_server_id_taken 2 "already exists" -- \
  run "$examples/dairector.json" --server "$srv" --token-file "$token" --id remote-yes
XDG_CONFIG_HOME=$tmp/nowhere expect run_server_needs_the_token 2 "needs it, on loopback too \(no token was sent" -- \
  run "$examples/dairector.json" --server "$srv" --id remote-no-token
cat >"$tmp/slow.json" <<EOF
{"name": "slow", "stages": [{"name": "a", "run": {"builtin": "echo"}},
  {"name": "b", "after": ["a"], "run": {"command": ["sleep", "4747"]}}]}
EOF
out=$(timeout --preserve-status -s INT 2 "$bin" run "$tmp/slow.json" --server "$srv" --token-file "$token" 2>&1); rc=$?
[[ $rc -eq 3 ]] && grep -q "pipeline 'slow' cancelled" <<<"$out" && ok "run_server_ctrl_c_cancels" ||
  bad "run_server_ctrl_c_cancels" "exit $rc: $(tail -3 <<<"$out")"
expect run_server_unreachable 5 "cannot reach server" -- \
  run "$examples/dairector.json" --server http://127.0.0.1:1 --token-file "$token"

# A clean stop: exit 0, the journal holds everything.
kill -TERM $server
wait $server; rc=$?
[[ $rc -eq 0 ]] && ok "server_stops_cleanly" || bad "server_stops_cleanly" "exit $rc: $(tail -3 "$tmp/server.$runs.log")"
for w in "${!pids[@]}"; do kill -TERM "${pids[$w]}" 2>/dev/null; done
for w in "${!pids[@]}"; do wait "${pids[$w]}" 2>/dev/null; done
pids=()

# --- an own PKI: certificates signed by one CA ----------------------------------------
certs=$tmp/certs; mkdir -p "$certs"
ca() {  # NAME: a self-signed CA
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$1" \
    -keyout "$certs/$1.key" -out "$certs/$1.pem" 2>/dev/null
}
cert() {  # NAME CA
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
    -keyout "$certs/$1.key" -out "$certs/$1.csr" 2>/dev/null &&
    openssl x509 -req -in "$certs/$1.csr" -CA "$certs/$2.pem" -CAkey "$certs/$2.key" -CAcreateserial -days 2 \
      -out "$certs/$1.pem" 2>/dev/null
}
ca ca && ca other && cert server ca && cert tlsworker ca && cert rogue other
tls() { echo --tls-cert "$certs/$1.pem" --tls-key "$certs/$1.key" --tls-ca "$certs/ca.pem"; }
j=$tmp/tls.db wport=0 hport=0
start_server $(tls server)
grep -q "(mutual TLS)" "$log" && ok "tls_server_listens" || bad "tls_server_listens" "$(tail -3 "$log")"
start_worker tlsworker $all $(tls tlsworker)
create "$tmp/killed.json" over-tls  # its marker exists: b ends at once
wait_for 30 is_done over-tls && ok "tls_pipeline_done" || bad "tls_pipeline_done" "$(status over-tls)"
[[ $(count over-tls "worker:tlsworker +stage_completed") -eq 3 ]] && ok "tls_stages_ran_on_the_worker" ||
  bad "tls_stages_ran_on_the_worker" "$(history over-tls)"
for who in plain rogue; do
  args=(--insecure-plain-tcp); [[ $who == rogue ]] && args=($(tls rogue))
  timeout 3 "$bin" worker --connect 127.0.0.1:$wport --token-file "$token" --stages a --name $who "${args[@]}" \
    >"$tmp/$who.log" 2>&1
  grep -q "cannot reach the server" "$tmp/$who.log" && ! grep -q "registered" "$tmp/$who.log" &&
    ok "tls_refuses_$who" || bad "tls_refuses_$who" "$(tail -3 "$tmp/$who.log")"
done
grep -q "worker:plain\|worker:rogue" "$log" && bad "tls_never_registers_strangers" "$(cat "$log")" ||
  ok "tls_never_registers_strangers"

finish
