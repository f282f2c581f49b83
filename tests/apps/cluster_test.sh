#!/bin/bash
# Many servers on one PostgreSQL journal (docs/cluster.md), with real
# processes: `serve` processes sharing one database, workers serving them all,
# SIGKILL and SIGSTOP. Each story has a database of its own in the cluster the
# test suite started ($DAIRECTOR_TEST_PG, tools/pg_cluster.sh).
#   failover   three servers, two workers, many pipelines of sleeping stages;
#              SIGKILL of the server that owns the most: every pipeline
#              finishes on the others, every acknowledged creation is there,
#              no run has two completions, the journal checks clean (seq
#              gapless, every history replays);
#   zombie     SIGSTOP of an owner mid-stage until another took its pipeline
#              over and finished the stage; SIGCONT: none of its appends
#              lands (the interrupted run never completes), it says it gave
#              the pipeline up, and the journal checks clean;
#   handover   a clean stop (SIGTERM) hands its pipelines over at once, long
#              before its lease would run out;
#   names      a second live server under a name in use is refused (exit 2);
#              GET /cluster lists the servers;
#   example    the README's walk-through: the shipped example run with
#              `run --server` on two servers and two workers;
#   database   PostgreSQL (a private one: tools/pg_cluster.sh) stopped under a
#              server mid-run: a change is answered 503 at once, no stage
#              starts; started again: the server carries on by itself, the
#              pipeline finishes, nothing acknowledged is lost;
#   hang       the same PostgreSQL frozen (SIGSTOP of all its processes) under
#              a server mid-run: a change is answered 503 within the journal's
#              answer timeout instead of hanging; thawed: the server carries
#              on, nothing acknowledged is lost, no run completes twice.
# Usage: cluster_test.sh DAIRECTOR PG_CLUSTER_SH EXAMPLES
#   (DAIRECTOR_LONG=1: 200 pipelines; else DAIRECTOR_CLUSTER_PIPELINES, default 60)
set -u
bin=${1:?dairector binary}
pg_cluster=${2:?tools/pg_cluster.sh}
examples=${3:?the examples folder}
base=${DAIRECTOR_TEST_PG:?a PostgreSQL URI (CTest sets it through the pg fixture)}
tmp=$(mktemp -d)
export XDG_CONFIG_HOME=$tmp/config
declare -A server=() hport=() wport=()
workers=()
source "$(dirname "$0")/lib.sh"
cleanup() {
  for p in "${server[@]}"; do kill -CONT "$p" 2>/dev/null; done
  stop_gently "${workers[@]}" "${server[@]}"
  wait 2>/dev/null
  [[ -d $tmp/pg ]] && "$pg_cluster" stop "$tmp/pg" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
token=$tmp/token
echo "a-token-of-twenty-chars" >"$token"; chmod 600 "$token"
pipelines=${DAIRECTOR_CLUSTER_PIPELINES:-60}  # the sanitizer build asks for fewer
[[ -n ${DAIRECTOR_LONG:-} ]] && pipelines=200

database() { pg_database "$base" "cluster_$1"; }  # a fresh database; prints its URI
sql() { psql "$uri" -qAtc "$1"; }

# start_server NAME [OPTIONS...]: a server on $uri, in the background, until ready.
start_server() {
  local s=$1; shift
  local log=$tmp/$s.log
  "$bin" serve --journal "$uri" --node "$s" --token-file "$token" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
    --workdir "${workdir:-$tmp}" --heartbeat-ms 200 --worker-timeout-ms 1500 "$@" >>"$log" 2>&1 &
  server[$s]=$!
  wait_for 30 grep -q "dairector serve: ready" "$log" || { bad "server_${s}_start" "$(tail -3 "$log")"; return 1; }
  wport[$s]=$(grep -o 'workers on 127.0.0.1:[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  hport[$s]=$(grep -o 'http on 127.0.0.1:[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
}
in_log() { grep -q -- "$2" "$tmp/$1.log"; }
http() {  # SERVER METHOD PATH [BODY]
  curl -s -m 10 -X "$2" -H "Authorization: Bearer $(head -1 "$token")" -H 'Content-Type: application/json' \
    ${4:+--data "$4"} "http://127.0.0.1:${hport[$1]}$3"
}
create() { http_create "${hport[$1]}" "$token" "$2" "$3" "${4:-}"; }  # SERVER SPEC_FILE ID [OUT]: prints the HTTP code
# How many pipelines have completed their last stage `c`.
finished() { sql "SELECT count(DISTINCT pipeline) FROM dairector.events WHERE type = 'stage_completed' AND body::json->>'stage' = 'c'"; }
all_finished() { [[ $(finished) -eq $1 ]]; }
# Runs completed more than once: must be none.
twice_completed() {
  sql "SELECT pipeline || ' run ' || (body::json->>'run') FROM dairector.events WHERE type = 'stage_completed'
       GROUP BY pipeline, body::json->>'run' HAVING count(*) > 1"
}
journal_clean() { "$bin" journal check --journal "$uri" >"$tmp/check.out" 2>&1; }
stop_all() {
  stop_gently "${workers[@]}" "${server[@]}"
  wait 2>/dev/null
  server=() workers=()
}

# b holds until the failover story releases it (at most 60 s), so that no
# pipeline can finish before the kill, however fast the machine.
cat >"$tmp/sleepy.json" <<EOF
{"name": "sleepy", "stages": [
  {"name": "a", "after": [], "run": {"command": ["sh", "-c", "sleep 0.1; echo '{\"a\": 1}'"]}},
  {"name": "b", "after": ["a"], "run": {"command": ["sh", "-c",
     "i=0; while [ ! -e $tmp/sleepy.release ] && [ \$i -lt 1200 ]; do sleep 0.05; i=\$((i + 1)); done; echo '{\"b\": 1}'"]}},
  {"name": "c", "after": ["b"], "run": {"command": ["sh", "-c", "sleep 0.1; echo '{\"c\": 1}'"]}}]}
EOF

# --- failover ----------------------------------------------------------------------
uri=$(database failover) || { bad database "cannot create one in $base"; finish; exit 1; }
for s in n1 n2 n3; do start_server $s --lease-ms 1000 --remote-stages all || { finish; exit 1; }; done
connect=127.0.0.1:${wport[n1]},127.0.0.1:${wport[n2]},127.0.0.1:${wport[n3]}
for w in w1 w2; do
  "$bin" worker --connect "$connect" --capacity 12 --token-file "$token" --stages a,b,c --name $w \
    --heartbeat-ms 200 --server-timeout-ms 1500 --backoff-max-ms 300 >"$tmp/$w.log" 2>&1 &
  workers+=($!)
done
acked=0
for ((k = 0; k < pipelines; k++)); do
  s=n$((k % 3 + 1))
  [[ $(create $s "$tmp/sleepy.json" p-$k) == 201 ]] && acked=$((acked + 1))
done
[[ $acked -eq $pipelines ]] && ok "all_created" || bad "all_created" "$acked of $pipelines acknowledged"
# The server that owns the most, while they run.
victim=$(sql "SELECT node FROM dairector.owners GROUP BY node ORDER BY count(*) DESC, node LIMIT 1")
owned_by_victim=$(sql "SELECT count(*) FROM dairector.owners WHERE node = '$victim'")
[[ -n $victim && $(finished) -lt $pipelines ]] && ok "kill_while_running" ||
  bad "kill_while_running" "victim '$victim', finished $(finished) of $pipelines before the kill"
some_b_running() { [[ $(sql "SELECT count(*) FROM dairector.events WHERE type = 'stage_started' AND body::json->>'stage' = 'b'") -ge 3 ]]; }
wait_for 60 some_b_running || bad "some_b_running" "no stage b started"
kill -KILL "${server[$victim]}"
wait "${server[$victim]}" 2>/dev/null
unset "server[$victim]"
touch "$tmp/sleepy.release"
wait_for 120 all_finished "$pipelines" && ok "every_pipeline_finished" ||
  bad "every_pipeline_finished" "$(finished) of $pipelines finished"
victim_owns_nothing() { [[ $(sql "SELECT count(*) FROM dairector.owners WHERE node = '$victim'") -eq 0 ]]; }
wait_for 20 victim_owns_nothing && ok "victim_owns_nothing" ||
  bad "victim_owns_nothing" "it still owns some of its $owned_by_victim pipelines"
took=0
for s in "${!server[@]}"; do grep -c "took over pipeline" "$tmp/$s.log" >/dev/null && took=$((took + $(grep -c "took over pipeline" "$tmp/$s.log"))); done
[[ $took -ge $owned_by_victim ]] && ok "the_others_took_over" || bad "the_others_took_over" "$took takeovers for $owned_by_victim"
[[ $(sql "SELECT count(DISTINCT pipeline) FROM dairector.events WHERE type = 'pipeline_created'") -eq $acked ]] &&
  ok "every_acknowledged_creation_kept" || bad "every_acknowledged_creation_kept" "created rows differ from $acked"
[[ -z $(twice_completed) ]] && ok "no_run_completed_twice" || bad "no_run_completed_twice" "$(twice_completed | head -3)"
journal_clean && ok "failover_journal_checks_clean" || bad "failover_journal_checks_clean" "$(tail -3 "$tmp/check.out")"
stop_all

# --- zombie ------------------------------------------------------------------------
uri=$(database zombie) || { bad database "cannot create one"; finish; exit 1; }
cat >"$tmp/held.json" <<EOF
{"name": "held", "stages": [
  {"name": "a", "after": [], "run": {"builtin": "echo"}},
  {"name": "b", "after": ["a"], "run": {"command": ["sh", "-c",
     "echo \$\$ >> $tmp/held.pids; i=0; while [ ! -e $tmp/held.release ] && [ \$i -lt 600 ]; do sleep 0.05; i=\$((i + 1)); done; echo '{\"held\": true}'"]}},
  {"name": "c", "after": ["b"], "run": {"builtin": "echo"}}]}
EOF
start_server z1 --lease-ms 1000 && start_server z2 --lease-ms 1000 || { finish; exit 1; }
[[ $(create z1 "$tmp/held.json" zombie) == 201 ]] || bad "zombie_created" "not created"
has_line() { [[ -s $tmp/held.pids ]]; }
wait_for 30 has_line && ok "zombie_stage_running" || bad "zombie_stage_running" "no run of b started"
first_run=$(sql "SELECT body::json->>'run' FROM dairector.events WHERE type = 'stage_started' AND body::json->>'stage' = 'b' ORDER BY seq LIMIT 1")
kill -STOP "${server[z1]}"
wait_for 30 in_log z2 "took over pipeline 'zombie'" && ok "zombie_taken_over" || bad "zombie_taken_over" "$(tail -3 "$tmp/z2.log")"
started_twice() { [[ $(sql "SELECT count(*) FROM dairector.events WHERE type = 'stage_started' AND body::json->>'stage' = 'b'") -ge 2 ]]; }
wait_for 30 started_twice && ok "zombie_b_started_again" || bad "zombie_b_started_again" "b was not started again"
touch "$tmp/held.release"  # both runs of b end: the new owner's and the paused one's command
done_c() { [[ $(sql "SELECT count(*) FROM dairector.events WHERE type = 'stage_completed' AND body::json->>'stage' = 'c'") -eq 1 ]]; }
wait_for 30 done_c && ok "zombie_finished_by_the_new_owner" || bad "zombie_finished_by_the_new_owner" "c not completed"
last_before=$(sql "SELECT max(seq) FROM dairector.events WHERE pipeline = 'zombie'")
kill -CONT "${server[z1]}"
wait_for 30 in_log z1 "lost its lease\|another server owns them now" && ok "zombie_gives_up" ||
  bad "zombie_gives_up" "$(tail -3 "$tmp/z1.log")"
# What the paused server would have written: its run's completion. It must not land.
[[ $(sql "SELECT count(*) FROM dairector.events WHERE type = 'stage_completed' AND body::json->>'run' = '$first_run' AND pipeline = 'zombie'") -eq 0 ]] &&
  ok "zombie_run_never_completed" || bad "zombie_run_never_completed" "run $first_run completed"
[[ $(sql "SELECT max(seq) FROM dairector.events WHERE pipeline = 'zombie'") -eq $last_before ]] &&
  ok "nothing_appended_after_the_takeover_by_the_zombie" || bad "nothing_appended_after_the_takeover_by_the_zombie" "seq moved from $last_before"
kill -0 "${server[z1]}" 2>/dev/null && ok "zombie_still_serves" || bad "zombie_still_serves" "it died"
journal_clean && ok "zombie_journal_checks_clean" || bad "zombie_journal_checks_clean" "$(tail -3 "$tmp/check.out")"
stop_all

# --- handover and names ------------------------------------------------------------
uri=$(database handover) || { bad database "cannot create one"; finish; exit 1; }
start_server h1 --lease-ms 60000 && start_server h2 --lease-ms 60000 || { finish; exit 1; }
cat >"$tmp/quick.json" <<EOF
{"name": "quick", "stages": [{"name": "a", "after": [], "run": {"builtin": "echo"}}]}
EOF
cat >"$tmp/asks.json" <<EOF
{"name": "asks", "stages": [
  {"name": "a", "after": [], "run": {"builtin": "echo"}, "confirm": "Go on?"},
  {"name": "b", "after": ["a"], "run": {"builtin": "echo"}}]}
EOF
[[ $(create h1 "$tmp/quick.json" handed) == 201 ]] || bad "handover_created" "not created"
[[ $(create h1 "$tmp/asks.json" asks) == 201 ]] || bad "asks_created" "not created"
code=$(create h2 "$tmp/asks.json" asks)
[[ $code == 409 ]] && ok "an_id_another_server_owns_is_409" || bad "an_id_another_server_owns_is_409" "HTTP $code"
# Any server answers: h2 reads what h1 owns, and carries a change to it.
pending() { http h2 GET /pipelines/asks | grep -q '"pending_confirmation":{'; }
wait_for 20 pending && ok "a_non_owner_reads_the_state" || bad "a_non_owner_reads_the_state" "$(http h2 GET /pipelines/asks)"
http h2 GET /pipelines/asks/history | grep -q '"type":"confirmation_requested"' && ok "a_non_owner_reads_the_history" ||
  bad "a_non_owner_reads_the_history" "$(http h2 GET /pipelines/asks/history | head -c 300)"
http h2 GET /pipelines | grep -q '"pipeline":"asks"' && ok "a_non_owner_lists_it" || bad "a_non_owner_lists_it" "$(http h2 GET /pipelines)"
answer=$(http h2 POST /pipelines/asks/confirm '{"by": "user:ana"}')
grep -q '"pending_confirmation":null' <<<"$answer" && ok "a_change_is_carried_to_the_owner" ||
  bad "a_change_is_carried_to_the_owner" "$answer"
resolved_by_ana() { sql "SELECT body FROM dairector.events WHERE pipeline = 'asks' AND type = 'confirmation_resolved'" | grep -q 'user:ana'; }
resolved_by_ana && ok "the_owner_recorded_it" || bad "the_owner_recorded_it" "no confirmation_resolved by user:ana"
# A stream from the non-owner: every event once, in order, after Last-Event-ID.
asks_done() { [[ $(sql "SELECT count(*) FROM dairector.events WHERE pipeline = 'asks' AND type = 'stage_completed'") -eq 2 ]]; }
wait_for 20 asks_done || bad "asks_done" "b did not complete"
curl -s -m 3 -N -H "Authorization: Bearer $(head -1 "$token")" -H "Last-Event-ID: 2" \
  "http://127.0.0.1:${hport[h2]}/pipelines/asks/events" >"$tmp/stream.out" 2>/dev/null
ids=$(grep -o '^id: [0-9]*' "$tmp/stream.out" | grep -o '[0-9]*' | tr '\n' ' ')
last=$(sql "SELECT max(seq) FROM dairector.events WHERE pipeline = 'asks'")
[[ $ids == "$(seq -s ' ' 3 "$last") " ]] && ok "a_non_owner_streams_after_last_event_id" ||
  bad "a_non_owner_streams_after_last_event_id" "ids '$ids', last seq $last"
nodes=$(http h2 GET /cluster)
grep -q '"node":"h1"' <<<"$nodes" && grep -q '"node":"h2"' <<<"$nodes" && grep -q '"live":true' <<<"$nodes" &&
  ok "cluster_lists_the_servers" || bad "cluster_lists_the_servers" "$nodes"
expect name_in_use_refused 2 "node name 'h1' is held by a live server" -- \
  serve --journal "$uri" --node h1 --lease-ms 1000 --token-file "$token" --listen 127.0.0.1:0 --http 127.0.0.1:0
kill -TERM "${server[h1]}"
wait "${server[h1]}" 2>/dev/null
unset "server[h1]"
wait_for 20 in_log h2 "took over pipeline 'handed'" && ok "clean_stop_hands_over_at_once" ||
  bad "clean_stop_hands_over_at_once" "$(tail -3 "$tmp/h2.log")"
stop_all

# --- the README's example on two servers and two workers ------------------------------
uri=$(database example) || { bad database "cannot create one"; finish; exit 1; }
workdir=$examples
start_server e1 --remote-stages all && start_server e2 --remote-stages all || { finish; exit 1; }
workdir=
for w in w1 w2; do
  "$bin" worker --connect "127.0.0.1:${wport[e1]},127.0.0.1:${wport[e2]}" --name $w --token-file "$token" \
    --stages idea,analyze,slice,handoff,execute,validate --heartbeat-ms 200 >"$tmp/e-$w.log" 2>&1 &
  workers+=($!)
done
registered() { grep -q "registered with 127.0.0.1:${wport[e1]}" "$tmp/e-$1.log" && grep -q "registered with 127.0.0.1:${wport[e2]}" "$tmp/e-$1.log"; }
wait_for 30 registered w1 && wait_for 30 registered w2 || bad "example_workers_registered" "$(tail -3 "$tmp/e-w1.log")"
expect example_runs_on_the_cluster 0 "validate" -- run "$examples/dairector.json" --yes \
  --server "http://127.0.0.1:${hport[e2]}" --token-file "$token"
[[ $(sql "SELECT count(*) FROM dairector.events WHERE type = 'stage_completed' AND by LIKE 'worker:w_'") -ge 6 ]] &&
  ok "example_ran_on_the_workers" || bad "example_ran_on_the_workers" "$(sql "SELECT by, type FROM dairector.events")"
stop_all

# --- the database goes away and comes back -------------------------------------------
chmod 711 "$tmp"  # the database server runs as nobody when the test runs as root: it must reach $tmp/pg
uri=$("$pg_cluster" start "$tmp/pg" 2>"$tmp/pg.err") || { bad private_database "$(cat "$tmp/pg.err")"; finish; exit 1; }
rm -f "$tmp/held.pids" "$tmp/held.release"
start_server d1 --lease-ms 2000 || { finish; exit 1; }
[[ $(create d1 "$tmp/held.json" away) == 201 ]] || bad "away_created" "not created"
wait_for 30 has_line && ok "away_stage_running" || bad "away_stage_running" "no run of b started"
acked_before=$(sql "SELECT count(*) FROM dairector.events WHERE pipeline = 'away'")
"$pg_cluster" halt "$tmp/pg" || bad "database_halted" "pg_ctl stop failed"
code=$(create d1 "$tmp/quick.json" while-away "$tmp/away.out")
[[ $code == 503 ]] && ok "a_change_while_away_is_503" || bad "a_change_while_away_is_503" "HTTP $code: $(cat "$tmp/away.out")"
grep -q "postgres" "$tmp/away.out" && ! grep -q "password" "$tmp/away.out" && ok "the_503_says_why" ||
  bad "the_503_says_why" "$(cat "$tmp/away.out")"
touch "$tmp/held.release"  # b's command ends while the database is away
"$pg_cluster" restart "$tmp/pg" || bad "database_restarted" "pg_ctl start failed"
away_done() { [[ $(sql "SELECT count(*) FROM dairector.events WHERE pipeline = 'away' AND type = 'stage_completed' AND body::json->>'stage' = 'c'") -eq 1 ]]; }
wait_for 60 away_done && ok "the_server_carries_on" || bad "the_server_carries_on" "$(tail -5 "$tmp/d1.log")"
[[ $(sql "SELECT count(*) FROM dairector.events WHERE pipeline = 'away'") -ge $acked_before ]] &&
  ok "nothing_acknowledged_lost" || bad "nothing_acknowledged_lost" "fewer events than $acked_before"
[[ $(sql "SELECT count(*) FROM dairector.events WHERE pipeline = 'while-away'") -eq 0 ]] &&
  ok "the_refused_creation_left_nothing" || bad "the_refused_creation_left_nothing" "while-away has events"
journal_clean && ok "database_journal_checks_clean" || bad "database_journal_checks_clean" "$(tail -3 "$tmp/check.out")"
stop_all

# --- the database hangs, then answers again --------------------------------------------
# Every process of the server stopped (SIGSTOP): connections stay open and
# nothing answers, unlike a server that went away. With a 1 s lease the
# journal gives the database 2 s; the change must be refused (503), not hang.
rm -f "$tmp/held.pids" "$tmp/held.release"
start_server d2 --lease-ms 1000 || { finish; exit 1; }
[[ $(create d2 "$tmp/held.json" frozen) == 201 ]] || bad "frozen_created" "not created"
wait_for 30 has_line && ok "frozen_stage_running" || bad "frozen_stage_running" "no run of b started"
acked_before=$(sql "SELECT count(*) FROM dairector.events WHERE pipeline = 'frozen'")
"$pg_cluster" freeze "$tmp/pg" || bad "database_frozen" "could not stop its processes"
code=$(create d2 "$tmp/quick.json" while-frozen "$tmp/frozen.out")
[[ $code == 503 ]] && ok "a_change_while_it_hangs_is_503" || bad "a_change_while_it_hangs_is_503" "HTTP $code: $(cat "$tmp/frozen.out")"
touch "$tmp/held.release"  # b's command ends while the database hangs
"$pg_cluster" thaw "$tmp/pg" || bad "database_thawed" "could not continue its processes"
frozen_done() { [[ $(sql "SELECT count(*) FROM dairector.events WHERE pipeline = 'frozen' AND type = 'stage_completed' AND body::json->>'stage' = 'c'") -eq 1 ]]; }
wait_for 60 frozen_done && ok "the_server_carries_on_after_the_hang" || bad "the_server_carries_on_after_the_hang" "$(tail -5 "$tmp/d2.log")"
[[ $(sql "SELECT count(*) FROM dairector.events WHERE pipeline = 'frozen'") -ge $acked_before ]] &&
  ok "nothing_acknowledged_lost_in_the_hang" || bad "nothing_acknowledged_lost_in_the_hang" "fewer events than $acked_before"
[[ $(sql "SELECT count(*) FROM dairector.events WHERE pipeline = 'while-frozen'") -eq 0 ]] &&
  ok "the_refused_creation_left_nothing_in_the_hang" || bad "the_refused_creation_left_nothing_in_the_hang" "while-frozen has events"
[[ -z $(twice_completed) ]] && ok "no_run_completed_twice_in_the_hang" || bad "no_run_completed_twice_in_the_hang" "$(twice_completed)"
journal_clean && ok "hang_journal_checks_clean" || bad "hang_journal_checks_clean" "$(tail -3 "$tmp/check.out")"
stop_all
finish
