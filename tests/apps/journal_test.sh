#!/bin/bash
# The journal from the command line (docs/cli.md, issue "durable journal"):
# one owner (a second writer gets exit 5 naming it, readers work beside it),
# control commands on an unowned journal, time travel, the audit trail, and
# write faults (the test seam, and a real one: a file-size limit) that are
# never acknowledged and that `resume` gets past.
# Usage: journal_test.sh DAIRECTOR EXAMPLES_DIR
set -u
bin=${1:?dairector binary}
examples=${2:?examples dir}
tmp=$(mktemp -d)
trap 'kill -KILL $owner 2>/dev/null; pkill -f "sleep 4343" 2>/dev/null; rm -rf "$tmp"' EXIT
owner=
source "$(dirname "$0")/lib.sh"

j=$tmp/example.db
expect run_waits 4 "waiting for confirmation" -- run "$examples/dairector.json" --journal "$j"
expect run_twice_refused 2 "already has pipeline 'dairector'" -- run "$examples/dairector.json" --journal "$j"
expect status_waiting 0 "at seq 6: waiting" -- status --journal "$j"
expect reject_offline 0 "seq 7: confirmation_resolved" -- reject --journal "$j" --note "not yet" --by user:ana
expect confirm_nothing_pending 2 "no confirmation is pending" -- confirm --journal "$j"
expect resume_asks_again 4 "waiting for confirmation" -- resume --journal "$j"
expect confirm_offline 0 "confirmation_resolved" -- confirm --journal "$j" --by user:ana
expect resume_to_the_end 0 "validate +stage_completed" -- resume --journal "$j"
expect status_done 0 ": done" -- status --journal "$j"
expect time_travel 0 "at seq 5 of .*analyze +completed.*slice +pending" -- status --journal "$j" --at 5
expect time_travel_past_the_end 2 "no event with seq 999" -- status --journal "$j" --at 999
expect history_table 0 "user:ana +confirmation_resolved +analyze rejected: not yet" -- history --journal "$j"
seq_now=$("$bin" status --journal "$j" --json | grep -o '"seq": [0-9]*' | grep -o '[0-9]*')
lines=$("$bin" history --journal "$j" --json | wc -l)
[[ -n "$seq_now" && "$lines" -eq "$seq_now" ]] && ok history_json_one_line_per_event \
  || bad history_json_one_line_per_event "$lines lines, seq $seq_now"
expect rollback 0 "rolled_back" -- rollback --journal "$j" --to 5
expect rollback_restores 0 "analyze +completed.*slice +pending" -- status --journal "$j"
"$bin" history --journal "$j" --json | head -n "$lines" >"$tmp/after_rollback"
"$bin" history --journal "$j" --json | head -n "$lines" | cmp -s - "$tmp/after_rollback" \
  && [[ $("$bin" history --journal "$j" --json | wc -l) -eq $((lines + 1)) ]] \
  && ok rollback_appends_never_rewrites || bad rollback_appends_never_rewrites "history changed"
expect invalidate_offline 0 "context_changed" -- invalidate idea --journal "$j" --context '{"goal": "v2"}'
expect invalidate_cascades 0 "analyze +outdated" -- status --journal "$j"
expect unknown_stage 2 "has no stage 'nope'" -- cancel nope --journal "$j"
echo "not a journal" >"$tmp/junk.db"
expect not_a_journal 5 "cannot read it|not a dairector journal|file is not a database" -- status --journal "$tmp/junk.db"
expect no_journal 5 "cannot open journal" -- status --journal "$tmp/missing/none.db"

# One owner: a run in progress owns the journal.
cat >"$tmp/slow.json" <<'EOF'
{"name": "slow", "stages": [{"name": "wait", "run": {"command": ["sh", "-c", "exec sleep 4343"], "timeout_s": 600}}]}
EOF
"$bin" run "$tmp/slow.json" --journal "$tmp/owned.db" </dev/null >"$tmp/owner.out" 2>&1 &
owner=$!
for _ in $(seq 1 200); do grep -qs "stage_started" "$tmp/owner.out" && break; sleep 0.05; done
expect second_writer_refused 5 "owned by another process \(pid $owner on host " -- resume --journal "$tmp/owned.db"
expect control_beside_owner_refused 5 "owned by another process.*|serve" -- cancel --journal "$tmp/owned.db"
expect status_beside_owner 0 "wait +running" -- status --journal "$tmp/owned.db"
expect history_beside_owner 0 "stage_started +wait" -- history --journal "$tmp/owned.db"
kill -KILL $owner; wait $owner 2>/dev/null; owner=
pkill -f "sleep 4343"
expect cancel_after_owner_died 0 "stage_cancelled" -- cancel wait --journal "$tmp/owned.db"

# Faults. The seam: every write past the journal's 3rd event fails, however
# group commit batches them (pipeline_created, a's start and completion are 3).
cat >"$tmp/chain.json" <<'EOF'
{"name": "chain", "stages": [
  {"name": "a", "run": {"command": ["sh", "-c", "cat >/dev/null; echo '{\"a\": 1}'"]}},
  {"name": "b", "after": ["a"], "run": {"command": ["sh", "-c", "cat >/dev/null; echo '{\"b\": 1}'"]}},
  {"name": "c", "after": ["b"], "run": {"command": ["sh", "-c", "cat >/dev/null; echo '{\"c\": 1}'"]}}]}
EOF
out=$(DAIRECTOR_TEST_JOURNAL_FAIL_AFTER_EVENTS=3 timeout 60 "$bin" run "$tmp/chain.json" --journal "$tmp/fault.db" </dev/null 2>&1); rc=$?
[[ $rc -eq 5 ]] && grep -q "injected I/O fault" <<<"$out" && ok fault_is_exit_5 || bad fault_is_exit_5 "exit $rc: $out"
before=$("$bin" history --journal "$tmp/fault.db" --json)
expect resume_after_fault 0 "c +stage_completed" -- resume --journal "$tmp/fault.db"
after=$("$bin" history --journal "$tmp/fault.db" --json)
[[ "${after:0:${#before}}" == "$before" ]] && ok fault_lost_nothing_durable || bad fault_lost_nothing_durable "history changed"
[[ $(grep -c '"type":"stage_completed"' <<<"$after") -eq 3 ]] && ok fault_each_stage_once \
  || bad fault_each_stage_once "$(grep -c stage_completed <<<"$after") completions"

# A real write failure: a file-size limit (the kernel refuses the write with
# EFBIG, as a full disk refuses it with ENOSPC) while big outputs are written.
cat >"$tmp/big.json" <<'EOF'
{"name": "big", "stages": [
  {"name": "a", "run": {"command": ["sh", "-c", "cat >/dev/null; printf '{\"blob\": \"%060000d\"}' 0"]}},
  {"name": "b", "after": ["a"], "run": {"command": ["sh", "-c", "cat >/dev/null; printf '{\"blob\": \"%060000d\"}' 1"]}},
  {"name": "c", "after": ["b"], "run": {"command": ["sh", "-c", "cat >/dev/null; printf '{\"blob\": \"%060000d\"}' 2"]}},
  {"name": "d", "after": ["c"], "run": {"command": ["sh", "-c", "cat >/dev/null; echo '{}'"]}}]}
EOF
out=$( (ulimit -f 150; trap '' XFSZ; timeout 60 "$bin" run "$tmp/big.json" --journal "$tmp/full.db" </dev/null 2>&1) ); rc=$?
if [[ $rc -eq 5 ]] && grep -q "journal failed" <<<"$out"; then
  ok real_write_failure_is_exit_5
  expect status_after_real_failure 0 "pipeline 'big'" -- status --journal "$tmp/full.db"
  expect resume_after_real_failure 0 "d +stage_completed" -- resume --journal "$tmp/full.db"
  n=$("$bin" history --journal "$tmp/full.db" --json | grep -c '"type":"stage_completed"')
  [[ $n -eq 4 ]] && ok real_failure_each_stage_once || bad real_failure_each_stage_once "$n completions"
else
  bad real_write_failure_is_exit_5 "exit $rc: $(tail -3 <<<"$out")"
fi

finish
