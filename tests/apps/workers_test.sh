#!/bin/bash
# One worker process serving two servers (`worker --connect A,B`), with real
# processes on loopback: two `serve` processes, each on its own journal, both
# with one token file (so one credentials folder), and one worker.
#   - a duplicate or empty address, and --capacity below the number of
#     servers, are refused (exit 2, naming what is wrong);
#   - the worker registers with both, each with its share of --capacity, and
#     runs each server's pipeline;
#   - SIGKILL of server A while a run of A's and a run of B's are on the
#     worker: the worker says it lost A and kills A's run only; B's run carries
#     on and completes, B never loses the worker; the worker keeps trying A;
#   - A started again on its ports and journal: the worker registers again
#     (never through the lost connection's proxy), A records its run
#     interrupted and finishes it on the worker;
#   - a server that refuses the worker (another token) ends it: exit 2,
#     naming that server.
# Usage: workers_test.sh DAIRECTOR
set -u
bin=${1:?dairector binary}
tmp=$(mktemp -d)
export XDG_CONFIG_HOME=$tmp/config  # the default token file, never the home's
declare -A server=() wport=() hport=() starts=()
worker=
source "$(dirname "$0")/lib.sh"
cleanup() {
  # A clean stop: the worker kills its runs' commands (they end by themselves
  # too, after a bounded wait).
  stop_gently "$worker" "${server[@]}"
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

token=$tmp/token
name=multi
all=a,b,c

# start_server A|B: a server on its own journal and the shared token file,
# in the background; waits until it says ready and learns its ports (0 the
# first time: ephemeral; a restart keeps them so that the worker finds it).
start_server() {
  local s=$1
  starts[$s]=$((${starts[$s]:-0} + 1))
  local log=$tmp/$s.${starts[$s]}.log
  "$bin" serve --journal "$tmp/$s.db" --token-file "$token" --listen "127.0.0.1:${wport[$s]:-0}" \
    --http "127.0.0.1:${hport[$s]:-0}" --remote-stages all --workdir "$tmp" --heartbeat-ms 200 \
    --worker-timeout-ms 6000 >"$log" 2>&1 &
  server[$s]=$!
  wait_for 20 grep -q "dairector serve: ready" "$log" || { bad "server_${s}_start" "$(tail -3 "$log")"; return 1; }
  wport[$s]=$(grep -o 'workers on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
  hport[$s]=$(grep -o 'http on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
}
log_of() { echo "$tmp/$1.${starts[$1]}.log"; }
addr() { echo "127.0.0.1:${wport[$1]}"; }

create() {  # SERVER SPEC_FILE ID
  curl -s -m 10 -o /dev/null -w "%{http_code}" -X POST -H "Authorization: Bearer $(head -1 "$token")" \
    -H 'Content-Type: application/json' --data "{\"spec\": $(cat "$2"), \"id\": \"$3\"}" \
    "http://127.0.0.1:${hport[$1]}/pipelines" | grep -q 201 || bad "create_$3" "not created on $1"
}
status() { "$bin" status --journal "$tmp/$1.db" --id "$2" 2>&1; }
history() { "$bin" history --journal "$tmp/$1.db" --id "$2" 2>&1; }
is_done() { status "$1" "$2" | grep -q ": done"; }
count() { history "$1" "$2" | grep -cE -- "$3"; }
in_log() { grep -q -- "$2" "$1"; }
alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! alive "$1"; }
has_lines() { [[ -s $1 && $(wc -l <"$1") -ge $2 ]]; }

# Three builtin stages.
cat >"$tmp/quick.json" <<EOF
{"name": "quick", "stages": [
  {"name": "a", "after": [], "run": {"builtin": "echo"}},
  {"name": "b", "after": ["a"], "run": {"builtin": "echo"}},
  {"name": "c", "after": ["b"], "run": {"builtin": "echo"}}]}
EOF
# Three stages; b appends its process id to NAME.pids, then holds until
# NAME.release exists (at most 60 s, so that nothing outlives the test long).
held_spec() {  # NAME
  cat >"$tmp/$1.json" <<EOF
{"name": "$1", "stages": [
  {"name": "a", "after": [], "run": {"builtin": "echo"}},
  {"name": "b", "after": ["a"], "run": {"command": ["sh", "-c",
     "echo \$\$ >> $tmp/$1.pids; i=0; while [ ! -e $tmp/$1.release ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done; echo '{\"held\": true}'"]}},
  {"name": "c", "after": ["b"], "run": {"builtin": "echo"}}]}
EOF
}

# --- refused at start ----------------------------------------------------------
echo "a-token-of-twenty-chars" >"$token"; chmod 600 "$token"  # serve takes it as is
expect duplicate_address_refused 2 "--connect names 127.0.0.1:7001 twice" -- \
  worker --connect 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7001 --token-file "$token" --stages a
expect empty_address_refused 2 "--connect '127.0.0.1:7001,,127.0.0.1:7002' has an empty address" -- \
  worker --connect 127.0.0.1:7001,,127.0.0.1:7002 --token-file "$token" --stages a
expect capacity_below_servers_refused 2 "--capacity 2 is less than the 3 servers of --connect" -- \
  worker --connect 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 --capacity 2 --token-file "$token" --stages a
expect each_address_checked 2 "--connect '192.0.2.1:7002' is not a loopback address" -- \
  worker --connect 127.0.0.1:7001,192.0.2.1:7002 --token-file "$token" --stages a

# --- two servers, one worker ---------------------------------------------------------
# A makes the token's credentials; B, on the same token file, finds them.
start_server A && start_server B || { finish; exit 1; }
"$bin" worker --connect "$(addr A),$(addr B)" --capacity 5 --token-file "$token" --stages $all --name $name \
  --heartbeat-ms 200 --server-timeout-ms 6000 --backoff-max-ms 500 >"$tmp/worker.log" 2>&1 &
worker=$!
for s in A B; do
  wait_for 20 in_log "$tmp/worker.log" "registered with $(addr $s) as 'worker:$name'" && ok "registered_with_$s" ||
    bad "registered_with_$s" "$(tail -3 "$tmp/worker.log")"
done
# 5 over two servers: 3 for the first named, 2 for the other.
in_log "$tmp/worker.log" "registered with $(addr A) .*capacity 3 (its share of 5)" &&
  in_log "$tmp/worker.log" "registered with $(addr B) .*capacity 2 (its share of 5)" &&
  in_log "$(log_of A)" "worker 'worker:$name' registered .*capacity 3" &&
  in_log "$(log_of B)" "worker 'worker:$name' registered .*capacity 2" && ok "capacity_shared_out" ||
  bad "capacity_shared_out" "$(grep registered "$tmp/worker.log" "$(log_of A)" "$(log_of B)")"

for s in A B; do
  create $s "$tmp/quick.json" quick-$s
  wait_for 30 is_done $s quick-$s && ok "quick_done_on_$s" || bad "quick_done_on_$s" "$(status $s quick-$s)"
  [[ $(count $s quick-$s "worker:$name +stage_completed") -eq 3 && $(count $s quick-$s "stage_completed") -eq 3 ]] &&
    ok "quick_on_${s}_ran_on_the_worker" || bad "quick_on_${s}_ran_on_the_worker" "$(history $s quick-$s)"
done

# --- SIGKILL of A while a run of each server is on the worker -------------------------
held_spec held-a; held_spec held-b
create A "$tmp/held-a.json" held-a
create B "$tmp/held-b.json" held-b
if wait_for 20 has_lines "$tmp/held-a.pids" 1 && wait_for 20 has_lines "$tmp/held-b.pids" 1; then
  run_a=$(head -1 "$tmp/held-a.pids") run_b=$(head -1 "$tmp/held-b.pids")
  kill -KILL "${server[A]}"
  wait "${server[A]}" 2>/dev/null
  wait_for 20 in_log "$tmp/worker.log" "lost the server $(addr A) (" && ok "worker_says_it_lost_A" ||
    bad "worker_says_it_lost_A" "$(tail -3 "$tmp/worker.log")"
  wait_for 20 dead "$run_a" && ok "A_run_killed" || bad "A_run_killed" "process $run_a of A's run still runs"
  alive "$run_b" && ok "B_run_untouched" || bad "B_run_untouched" "process $run_b of B's run is gone"
  wait_for 20 in_log "$tmp/worker.log" "cannot reach the server at $(addr A) " && ok "worker_keeps_trying_A" ||
    bad "worker_keeps_trying_A" "$(tail -3 "$tmp/worker.log")"
  touch "$tmp/held-b.release" "$tmp/held-a.release"  # A's next run ends at once
  wait_for 30 is_done B held-b && ok "B_done_without_A" || bad "B_done_without_A" "$(status B held-b)"
  [[ $(count B held-b "worker:$name +stage_completed +b ") -eq 1 && $(count B held-b "stage_interrupted") -eq 0 ]] &&
    ok "B_run_completed_once_uninterrupted" || bad "B_run_completed_once_uninterrupted" "$(history B held-b)"
  [[ $(wc -l <"$tmp/held-b.pids") -eq 1 ]] && ok "B_run_ran_once" || bad "B_run_ran_once" "$(cat "$tmp/held-b.pids")"
  in_log "$(log_of B)" "worker 'worker:$name' is gone" && bad "B_kept_the_worker" "$(cat "$(log_of B)")" ||
    ok "B_kept_the_worker"

  before=$(history A held-a)
  start_server A
  wait_for 30 in_log "$tmp/worker.log" "registered again with $(addr A) " && ok "registered_again_with_A" ||
    bad "registered_again_with_A" "$(tail -3 "$tmp/worker.log")"
  # CAF hands out the lost gate's dead proxy for a moment after the loss
  # (in about half the runs here): not a registration that waits 10 s on it.
  in_log "$tmp/worker.log" "got no answer" && bad "no_registration_sent_to_the_lost_gate" "$(cat "$tmp/worker.log")" ||
    ok "no_registration_sent_to_the_lost_gate"
  wait_for 30 is_done A held-a && ok "A_done_after_restart" || bad "A_done_after_restart" "$(status A held-a)"
  after=$(history A held-a)
  [[ $after == "$before"* ]] && ok "A_lost_nothing" || bad "A_lost_nothing" "history before the kill is not a prefix"
  [[ $(count A held-a "stage_interrupted +b ") -eq 1 && $(count A held-a "stage_completed +b ") -eq 1 &&
     $(count A held-a "worker:$name +stage_completed +b ") -eq 1 ]] &&
    ok "A_run_interrupted_then_completed_on_the_worker" || bad "A_run_interrupted_then_completed_on_the_worker" "$after"
  [[ $(wc -l <"$tmp/held-a.pids") -eq 2 ]] && ok "A_run_ran_again" || bad "A_run_ran_again" "$(cat "$tmp/held-a.pids")"
  create B "$tmp/quick.json" quick-B2  # B served all along, and still is
  wait_for 30 is_done B quick-B2 && [[ $(count B quick-B2 "worker:$name +stage_completed") -eq 3 ]] &&
    ok "B_still_served" || bad "B_still_served" "$(history B quick-B2)"
  alive "$worker" && ok "worker_still_running" || bad "worker_still_running" "$(tail -3 "$tmp/worker.log")"
else
  bad "held_runs_started" "A: $(status A held-a) B: $(status B held-b)"
fi

# --- a clean stop ----------------------------------------------------------------------
kill -TERM "$worker"
wait "$worker"; rc=$?
[[ $rc -eq 0 ]] && in_log "$tmp/worker.log" "dairector worker: stopped" && ok "worker_stops_cleanly" ||
  bad "worker_stops_cleanly" "exit $rc: $(tail -3 "$tmp/worker.log")"
worker=

# --- a server that refuses the worker ends it ------------------------------------------
# A refuses (another token); the other address has nobody listening, so its
# link is retrying when A's refusal ends the worker.
mkdir -p "$tmp/other" && cp -rp "$tmp/credentials" "$tmp/other/"  # the same credentials, another token
echo "another-token-of-twenty" >"$tmp/other/token"; chmod 600 "$tmp/other/token"
expect refusal_ends_the_worker 2 "the server at $(addr A) refused this worker: registration refused: wrong token" -- \
  worker --connect "127.0.0.1:1,$(addr A)" --token-file "$tmp/other/token" --stages a --name intruder

finish
