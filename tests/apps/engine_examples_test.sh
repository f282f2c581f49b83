#!/bin/bash
# The engine's two examples (docs/embedding.md#the-engine), built by the tree
# and run as a user would run them, checked with the `dairector` program:
#   - quickstart: a durable pipeline with a C++ stage, its confirmation
#     answered; the JSON it prints is what `status --json` says of the
#     journal afterwards; the history has the confirmation by its user;
#   - orders: 12 pipelines on one journal; the first run approves the even
#     ones and leaves the odd ones waiting (exit 4), a second run resumes and
#     finishes them (exit 0): each pipeline created once, each confirmation
#     resolved once, nothing ran twice; a third run finds them all done;
#   - one writer: while `dairector run` holds the journal, the example is
#     refused with the journal's reason and exit 5, and changes nothing.
# Usage: engine_examples_test.sh DAIRECTOR QUICKSTART ORDERS
set -u
bin=${1:?dairector binary}
quickstart=${2:?quickstart example}
orders=${3:?orders example}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
scratch_with_server
holder=
trap 'stop_gently "$holder"; wait 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

# --- quickstart ---------------------------------------------------------------------
"$quickstart" "$tmp/q.db" >"$tmp/q.json" 2>"$tmp/q.err"; rc=$?
[[ $rc == 0 ]] && ok "quickstart_done" || bad "quickstart_done" "exit $rc: $(cat "$tmp/q.err")"
"$bin" status --journal "$tmp/q.db" --json >"$tmp/q.status" 2>&1
python3 - "$tmp/q.json" "$tmp/q.status" <<'PY' && ok "quickstart_json_is_status" || bad "quickstart_json_is_status" "$(head -c 300 "$tmp/q.json")"
import json, sys
printed, status = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert printed == status, (printed, status)
assert printed["stages"][0]["output"] == {"text": "HELLO"}
assert [s["status"] for s in printed["stages"]] == ["completed", "completed"]
PY
"$bin" history --journal "$tmp/q.db" --json >"$tmp/q.history"
grep -q '"by":"user:quickstart".*"type":"confirmation_resolved"\|"type":"confirmation_resolved".*"by":"user:quickstart"' "$tmp/q.history" \
  && ok "quickstart_confirmed_by_its_user" || bad "quickstart_confirmed_by_its_user" "$(grep confirmation "$tmp/q.history")"

# --- orders across runs ------------------------------------------------------------------
"$orders" "$tmp/o.db" >"$tmp/o1.out" 2>&1; rc=$?
[[ $rc == 4 ]] && grep -q "done: 6, waiting: 6" "$tmp/o1.out" && ok "orders_first_run_leaves_6_waiting" \
  || bad "orders_first_run_leaves_6_waiting" "exit $rc: $(tail -2 "$tmp/o1.out")"
"$orders" "$tmp/o.db" >"$tmp/o2.out" 2>&1; rc=$?
[[ $rc == 0 ]] && grep -q "done: 12, waiting: 0" "$tmp/o2.out" && ok "orders_second_run_finishes" \
  || bad "orders_second_run_finishes" "exit $rc: $(tail -2 "$tmp/o2.out")"
wrong=
for n in $(seq 1 12); do
  "$bin" history --journal "$tmp/o.db" --id "order-$n" --json >"$tmp/h.$n" 2>&1 || wrong+=" order-$n:unreadable"
  created=$(grep -c '"type":"pipeline_created"' "$tmp/h.$n")
  resolved=$(grep -c '"type":"confirmation_resolved"' "$tmp/h.$n")
  started=$(grep -c '"type":"stage_started"' "$tmp/h.$n")
  [[ $created == 1 && $resolved == 1 && $started == 2 ]] || wrong+=" order-$n:$created/$resolved/$started"
  "$bin" status --journal "$tmp/o.db" --id "order-$n" --json | grep -Eq "\"total_cents\": *$((n * 1250))[,}]?$" || wrong+=" order-$n:price"
done
[[ -z $wrong ]] && ok "orders_each_once" || bad "orders_each_once" "created/resolved/started:$wrong"
"$orders" "$tmp/o.db" >"$tmp/o3.out" 2>&1; rc=$?
[[ $rc == 0 ]] && grep -q "done: 12, waiting: 0" "$tmp/o3.out" && ok "orders_third_run_all_done" \
  || bad "orders_third_run_all_done" "exit $rc: $(tail -2 "$tmp/o3.out")"

# --- one writer ---------------------------------------------------------------------------
cat >"$tmp/hold.json" <<JSON
{"name": "hold", "stages": [{"name": "hold", "after": [], "run": {"command":
  ["sh", "-c", "cat >/dev/null; while [ ! -e '$tmp/go' ]; do sleep 0.05; done; echo '{}'"]}}]}
JSON

"$bin" run "$tmp/hold.json" --journal "$tmp/o.db" >"$tmp/hold.out" 2>&1 &
holder=$!
wait_for 30 grep -q "stage_started" "$tmp/hold.out" || bad "holder_runs" "$(cat "$tmp/hold.out")"
"$orders" "$tmp/o.db" >"$tmp/o4.out" 2>&1; rc=$?
[[ $rc == 5 ]] && grep -q "owned by another process" "$tmp/o4.out" && ok "second_writer_refused" \
  || bad "second_writer_refused" "exit $rc: $(tail -2 "$tmp/o4.out")"
touch "$tmp/go"
wait "$holder"; rc=$?; holder=
[[ $rc == 0 ]] && ok "holder_finished" || bad "holder_finished" "exit $rc: $(tail -2 "$tmp/hold.out")"
"$bin" history --journal "$tmp/o.db" --id order-1 --json | grep -c '"seq"' >"$tmp/n1"
[[ $(cat "$tmp/n1") == $(grep -c '"seq"' "$tmp/h.1") ]] && ok "refused_changed_nothing" || bad "refused_changed_nothing" "order-1 has $(cat "$tmp/n1") events"

finish
