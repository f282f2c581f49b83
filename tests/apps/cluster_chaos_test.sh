#!/bin/bash
# Many servers on one PostgreSQL under a storm of faults (docs/cluster.md):
# three servers on a private database, pipelines created all along, servers
# SIGKILLed in a seeded random order and started again under new node names,
# and the database itself restarted every few kills. Then the faults stop
# and everything must settle:
#   - every pipeline whose creation was acknowledged (201) is there and done;
#   - no run completed twice; no run of a stage started twice at once;
#   - the journal checks clean (seq gapless, every history replays).
# Usage: cluster_chaos_test.sh DAIRECTOR PG_CLUSTER_SH
#   DAIRECTOR_CHAOS_SEED=N replays a run (the seed is printed);
#   DAIRECTOR_CHAOS_KILLS=N (default 50; DAIRECTOR_LONG=1: 300);
#   DAIRECTOR_CHAOS_KEEP=1 keeps the scratch folder (logs, database).
set -u
bin=${1:?dairector binary}
pg_cluster=${2:?tools/pg_cluster.sh}
seed=${DAIRECTOR_CHAOS_SEED:-$(( $(date +%s%N) % 1000000 ))}
kills=${DAIRECTOR_CHAOS_KILLS:-50}
[[ -n ${DAIRECTOR_LONG:-} ]] && kills=300
echo "seed $seed, $kills kills (DAIRECTOR_CHAOS_SEED=$seed replays it)"
RANDOM=$seed
tmp=$(mktemp -d)
chmod 711 "$tmp"  # the database server runs as nobody when the test runs as root
export XDG_CONFIG_HOME=$tmp/config
declare -A server=() hport=()
source "$(dirname "$0")/lib.sh"
cleanup() {
  stop_gently "${server[@]}"
  wait 2>/dev/null
  "$pg_cluster" stop "$tmp/pg" >/dev/null 2>&1
  if [[ -n ${DAIRECTOR_CHAOS_KEEP:-} ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
token=$tmp/token
echo "a-token-of-twenty-chars" >"$token"; chmod 600 "$token"
uri=$("$pg_cluster" start "$tmp/pg" 2>"$tmp/pg.err") || { bad private_database "$(cat "$tmp/pg.err")"; finish; exit 1; }
sql() { psql "$uri" -qAtc "$1" 2>/dev/null; }

cat >"$tmp/spec.json" <<EOF
{"name": "storm", "stages": [
  {"name": "a", "after": [], "run": {"command": ["sh", "-c", "sleep 0.2; echo '{\"a\": 1}'"]}},
  {"name": "b", "after": ["a"], "run": {"command": ["sh", "-c", "sleep 0.2; echo '{\"b\": 1}'"]}},
  {"name": "c", "after": ["b"], "run": {"command": ["sh", "-c", "sleep 0.2; echo '{\"c\": 1}'"]}}]}
EOF

generation=0
# start SLOT: a server in slot n1..n3 under a new node name (a killed one's
# name would wait for its lease to run out), until it says ready.
start() {
  local slot=$1
  generation=$((generation + 1))
  local log=$tmp/$slot.$generation.log
  "$bin" serve --journal "$uri" --node "$slot-$generation" --token-file "$token" --listen 127.0.0.1:0 \
    --http 127.0.0.1:0 --workdir "$tmp" --lease-ms 600 >"$log" 2>&1 &
  server[$slot]=$!
  wait_for 30 grep -q "dairector serve: ready" "$log" || { bad "start_$slot" "$(tail -3 "$log")"; return 1; }
  hport[$slot]=$(grep -o 'http on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
}
acked=()
create() {  # SLOT ID [TRY]
  local code
  code=$(http_create "${hport[$1]}" "$token" "$tmp/spec.json" "$2")
  # 409 on a second try: the first one was created after all (its answer was lost).
  [[ $code == 201 || ($code == 409 && ${3:-0} -gt 0) ]] && acked+=("$2")
}
# A pipeline's first stage has completed: the server that hosts it and the
# database both work.
ran() { [[ $(sql "SELECT count(*) FROM dairector.events WHERE pipeline = '$1' AND type = 'stage_completed'") -ge 1 ]]; }

for s in n1 n2 n3; do start $s || { finish; exit 1; }; done
restarts=0
for ((k = 1; k <= kills; k++)); do
  slots=(n1 n2 n3)
  victim=${slots[$((RANDOM % 3))]}
  kill -KILL "${server[$victim]}"
  wait "${server[$victim]}" 2>/dev/null
  if ((k % 10 == 0)); then
    # The database goes away under load, and comes back.
    "$pg_cluster" halt "$tmp/pg" >/dev/null 2>&1 && "$pg_cluster" restart "$tmp/pg" >/dev/null 2>&1 ||
      bad "database_restart_$k" "pg_ctl failed"
    restarts=$((restarts + 1))
  fi
  start "$victim" || break
  # A new pipeline on a random server runs its first stage: the cluster is
  # alive before the next kill (a server may refuse while it is taking over
  # or the database is coming back: another is asked).
  for ((try = 0; try < 5 && ${#acked[@]} < k; try++)); do create "${slots[$((RANDOM % 3))]}" "p-$k" $try; done
  [[ ${#acked[@]} -eq $k ]] || { bad "created_after_kill_$k" "no server acknowledged p-$k"; break; }
  wait_for 30 ran "p-$k" || { bad "progress_after_kill_$k" "p-$k ran nothing (seed $seed)"; break; }
done
ok "storm_of_${kills}_kills_and_${restarts}_database_restarts"

# Settle: every acknowledged pipeline finishes.
done_count() {
  sql "SELECT count(DISTINCT pipeline) FROM dairector.events WHERE type = 'stage_completed' AND body::json->>'stage' = 'c'"
}
all_done() { [[ $(done_count) -ge ${#acked[@]} ]]; }
wait_for 120 all_done && ok "every_acknowledged_pipeline_done" ||
  bad "every_acknowledged_pipeline_done" "$(done_count) of ${#acked[@]} done (seed $seed)"
missing=0
for id in "${acked[@]}"; do
  [[ $(sql "SELECT count(*) FROM dairector.events WHERE pipeline = '$id' AND seq = 1") -eq 1 ]] || missing=$((missing + 1))
done
[[ $missing -eq 0 && ${#acked[@]} -gt 0 ]] && ok "every_acknowledged_creation_kept (${#acked[@]})" ||
  bad "every_acknowledged_creation_kept" "$missing of ${#acked[@]} missing (seed $seed)"
twice=$(sql "SELECT pipeline || ' run ' || (body::json->>'run') FROM dairector.events WHERE type = 'stage_completed'
             GROUP BY pipeline, body::json->>'run' HAVING count(*) > 1")
[[ -z $twice ]] && ok "no_run_completed_twice" || bad "no_run_completed_twice" "$twice (seed $seed)"
# A stage started again while a run of it was still live (neither ended nor interrupted) would be two at once.
overlap=$(sql "WITH e AS (SELECT pipeline, seq, type, body::json->>'stage' AS stage FROM dairector.events
                          WHERE type IN ('stage_started', 'stage_completed', 'stage_failed', 'stage_cancelled', 'stage_interrupted'))
               SELECT pipeline || ' ' || stage FROM (
                 SELECT pipeline, stage, type, lag(type) OVER (PARTITION BY pipeline, stage ORDER BY seq) AS before FROM e) x
               WHERE type = 'stage_started' AND before = 'stage_started' LIMIT 3")
[[ -z $overlap ]] && ok "no_stage_started_twice_at_once" || bad "no_stage_started_twice_at_once" "$overlap (seed $seed)"
"$bin" journal check --journal "$uri" >"$tmp/check.out" 2>&1 && ok "journal_checks_clean" ||
  bad "journal_checks_clean" "$(tail -3 "$tmp/check.out") (seed $seed)"
finish
