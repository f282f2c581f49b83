#!/bin/bash
# Retries end to end (docs/spec.md#retry-run-the-stage-again, docs/cli.md#retry,
# docs/http.md#requests), with real processes:
# 1. run.retry survives a crash: `dairector run` is SIGKILLed while a retry
#    waits; `resume` starts the stage no sooner than the recorded due time
#    (retry_scheduled's at + delay_ms), the history before the kill is a
#    prefix of the one after (nothing acknowledged lost), every seq once, each
#    stage completed once. A resume after the due time starts it at once.
# 2. `dairector retry` on a journal: a failed pipeline retried goes on to
#    done; refusals exit 2 with their reason.
# 3. Over HTTP and with --server: a cancelled stage retried goes on to done;
#    409 under a pending confirmation and for a running stage, 404 for an
#    unknown stage.
# Waits poll a condition (lib.sh's wait_for), never sleep for a state.
# Usage: retry_test.sh DAIRECTOR
set -u
bin=${1:?usage: retry_test.sh DAIRECTOR}
[[ $bin == /* ]] || bin=$PWD/$bin
source "$(dirname "$0")/lib.sh"
scratch_with_server
export XDG_CONFIG_HOME=$tmp/config
runner=
trap 'kill -KILL $runner 2>/dev/null; stop_gently "$server"; wait 2>/dev/null; rm -rf "$tmp"' EXIT

now_ms() { date +%s%3N; }
# ms since the epoch of an ISO time like 2026-11-22T04:20:33.123Z
ms_of() { python3 -c 'import sys,datetime; t=datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc); print(int(t.timestamp()*1000))' "$1"; }
# jq-free: the field of the last history line of TYPE for STAGE
field() {  # field HISTORY_FILE TYPE STAGE KEY [nth: -1 = last]
  python3 - "$@" <<'PY'
import json, sys
path, typ, stage, key = sys.argv[1:5]
nth = int(sys.argv[5]) if len(sys.argv) > 5 else -1
rows = [json.loads(l) for l in open(path) if l.strip()]
hits = [r for r in rows if r["type"] == typ and r.get("stage") == stage]
print(hits[nth][key] if hits and -len(hits) <= nth < len(hits) else "")
PY
}
history_of() { "$bin" history --json --journal "$1" >"$2" 2>/dev/null; }
has_retry_scheduled() { history_of "$1" "$tmp/h.now" && grep -q '"type":"retry_scheduled"' "$tmp/h.now"; }

# ---------------------------------------------------------------- 1. crash
# `a` fails on its first run (a count file in the spec's folder), then
# succeeds; its retry waits 2 to 4 s (equal jitter of 4000 ms).
crash_spec() {  # crash_spec DIR
  mkdir -p "$1"
  cat >"$1/spec.json" <<'JSON'
{"name": "retrying", "stages": [
  {"name": "a", "run": {"command": ["sh", "-c", "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n >count; cat >/dev/null; [ $n -ge 2 ] || { echo 'first run fails' >&2; exit 1; }; echo \"{\\\"n\\\": $n}\""],
   "retry": {"max_attempts": 3, "backoff_ms": 4000, "backoff_max_ms": 4000}}},
  {"name": "b", "after": ["a"], "run": {"builtin": "echo"}}]}
JSON
}

# Runs until a retry waits, SIGKILLs the run; leaves the history in $dir/before.
run_until_retry_waits() {  # DIR
  local dir=$1
  "$bin" run "$dir/spec.json" --journal "$dir/j.db" </dev/null >"$dir/run.out" 2>&1 &
  runner=$!
  wait_for 20 has_retry_scheduled "$dir/j.db" || { bad crash_retry_scheduled "no retry_scheduled: $(cat "$dir/run.out")"; return 1; }
  kill -KILL "$runner"; wait "$runner" 2>/dev/null; runner=
  history_of "$dir/j.db" "$dir/before"
  ok "crash_killed_while_the_retry_waits ($(wc -l <"$dir/before") events)"
}

check_recovered() {  # DIR NAME: after resume, the history checks
  local dir=$1 name=$2
  history_of "$dir/j.db" "$dir/after"
  local n_before
  n_before=$(wc -l <"$dir/before")
  if head -n "$n_before" "$dir/after" | cmp -s - "$dir/before"; then ok "${name}_nothing_acknowledged_lost"; else bad "${name}_nothing_acknowledged_lost" "the history before the kill is not a prefix"; fi
  python3 - "$dir/after" <<'PY' && ok "${name}_each_seq_once_each_stage_completed_once" || bad "${name}_each_seq_once_each_stage_completed_once" "see above"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
seqs = [r["seq"] for r in rows]
assert seqs == list(range(1, len(rows) + 1)), f"seqs {seqs}"
done = [r["stage"] for r in rows if r["type"] == "stage_completed"]
assert sorted(done) == ["a", "b"], f"completed {done}"
PY
}

d1=$tmp/crash
crash_spec "$d1"
if run_until_retry_waits "$d1"; then
  expect status_says_retry_at 0 "a +failed .*retry at 20[0-9-]+T" -- status --journal "$d1/j.db"
  sched_at=$(ms_of "$(field "$d1/before" retry_scheduled a at)")
  delay=$(field "$d1/before" retry_scheduled a delay_ms)
  due=$((sched_at + delay))
  expect crash_resume_runs_to_done 0 "done" -- resume --journal "$d1/j.db"
  history_of "$d1/j.db" "$d1/after"
  started=$(ms_of "$(field "$d1/after" stage_started a at)")
  if ((started >= due)); then ok "crash_retry_started_not_sooner (${started} >= ${due}, delay ${delay} ms)"
  else bad crash_retry_started_not_sooner "started at $started, due at $due"; fi
  check_recovered "$d1" crash
fi

# A resume after the due time starts the retry at once.
d2=$tmp/late
crash_spec "$d2"
if run_until_retry_waits "$d2"; then
  sched_at=$(ms_of "$(field "$d2/before" retry_scheduled a at)")
  delay=$(field "$d2/before" retry_scheduled a delay_ms)
  due=$((sched_at + delay))
  past_due() { (($(now_ms) > due + 200)); }
  wait_for 10 past_due
  launched=$(now_ms)
  expect late_resume_runs_to_done 0 "done" -- resume --journal "$d2/j.db"
  history_of "$d2/j.db" "$d2/after"
  started=$(ms_of "$(field "$d2/after" stage_started a at)")
  # At once: well before another backoff (at least 2000 ms) could pass.
  if ((started >= due && started - launched < 1500)); then ok "late_resume_starts_the_retry_at_once ($((started - launched)) ms after launch)"
  else bad late_resume_starts_the_retry_at_once "started $((started - launched)) ms after the resume was launched (due $due)"; fi
  check_recovered "$d2" late
fi

# ---------------------------------------------------------------- 2. retry on a journal
d3=$tmp/journal
mkdir -p "$d3"
cat >"$d3/spec.json" <<'JSON'
{"name": "flaky", "stages": [
  {"name": "a", "run": {"builtin": "fail", "times": 1}},
  {"name": "b", "after": ["a"], "run": {"builtin": "echo"}}]}
JSON
expect journal_run_fails 1 "stage 'a' failed" -- run "$d3/spec.json" --journal "$d3/j.db"
expect journal_retry_of_a_pending_stage_refused 2 "stage 'b' is pending: only a failed or cancelled stage can be retried" -- retry b --journal "$d3/j.db"
expect journal_retry_of_an_unknown_stage_refused 2 "has no stage 'zz'" -- retry zz --journal "$d3/j.db"
expect journal_retry_appends_retry_requested 0 "seq [0-9]+: retry_requested" -- retry a --journal "$d3/j.db" --by user:ana
expect journal_resume_after_retry_is_done 0 "done" -- resume --journal "$d3/j.db"
expect journal_retry_of_a_completed_stage_refused 2 "stage 'a' is completed: there is nothing to retry" -- retry a --journal "$d3/j.db"
history_of "$d3/j.db" "$d3/h"
[[ $(field "$d3/h" retry_requested a by) == user:ana ]] && ok journal_retry_recorded_by_its_user || bad journal_retry_recorded_by_its_user "$(grep retry_requested "$d3/h")"

# ---------------------------------------------------------------- 3. HTTP and --server
d4=$tmp/http
mkdir -p "$d4"
# a waits for the file `go` (in the server's workdir); c asks a confirmation.
cat >"$d4/spec.json" <<'JSON'
{"name": "gated", "stages": [
  {"name": "a", "run": {"command": ["sh", "-c", "cat >/dev/null; while [ ! -f go ]; do sleep 0.05; done; echo '{}'"]}},
  {"name": "b", "after": ["a"], "run": {"builtin": "echo"}},
  {"name": "c", "run": {"builtin": "echo"}, "confirm": "Go on?"}]}
JSON
serve_into server --journal "$d4/s.db" --listen 127.0.0.1:0 --http 127.0.0.1:0 --workdir "$d4"
url=http://127.0.0.1:$port
token=$XDG_CONFIG_HOME/dairector/token
call() {  # call METHOD PATH [BODY]: sets $code and $body
  local args=(-s -m 30 -o "$tmp/answer" -w "%{http_code}" -X "$1" -H "Authorization: Bearer $(head -1 "$token")")
  [[ $1 != GET ]] && args+=(-H "Content-Type: application/json" --data-binary "${3:-{\}}")
  code=$(curl "${args[@]}" "$url$2"); body=$(cat "$tmp/answer")
}
want() {  # want NAME CODE PATTERN
  [[ $code == "$2" ]] || { bad "$1" "HTTP $code, expected $2: ${body:0:300}"; return 1; }
  grep -qE -- "$3" <<<"$body" && ok "$1" || bad "$1" "no /$3/ in ${body:0:300}"
}
stage_is() {  # stage_is STAGE STATUS
  call GET /pipelines/g1
  python3 -c 'import json,sys; s=json.loads(sys.argv[1]); st={x["name"]:x["status"] for x in s["stages"]}; sys.exit(0 if st[sys.argv[2]]==sys.argv[3] else 1)' "$body" "$1" "$2"
}
pending() { call GET /pipelines/g1; grep -q '"pending_confirmation":{' <<<"$body"; }
[[ $(http_create "$port" "$token" "$d4/spec.json" g1) == 201 ]] && ok http_created || bad http_created "not 201"
wait_for 10 pending && wait_for 10 stage_is a running || bad http_setup "no confirmation pending with a running"
call POST /pipelines/g1/stages/a/retry '{"by": "user:ana"}'
want http_retry_under_a_pending_confirmation_is_409 409 "blocked: waiting for confirmation: Go on\\?"
call POST /pipelines/g1/confirm
want http_confirm 200 '"pipeline":"g1"'
call POST /pipelines/g1/stages/a/retry
want http_retry_of_a_running_stage_is_409 409 "stage 'a' is running \\(run [0-9]+\\): there is nothing to retry"
call POST /pipelines/g1/stages/zz/retry
want http_retry_of_an_unknown_stage_is_404 404 "has no stage 'zz'"
call POST /pipelines/g1/stages/a/retry '{"nope": 1}'
want http_retry_with_an_unknown_field_is_400 400 'unknown field \\"nope\\"'
expect server_cancel_stage 0 "stage_cancelled" -- cancel a --server "$url" --id g1
expect server_retry_of_an_unknown_stage_exits_2 2 "has no stage 'zz'" -- retry zz --server "$url" --id g1
expect server_retry_of_the_cancelled_stage 0 "seq [0-9]+: retry_requested .*the server carries the pipeline on" -- retry a --server "$url" --id g1
wait_for 10 stage_is a running && ok server_retried_stage_runs_again || bad server_retried_stage_runs_again "$body"
call POST /pipelines/g1/cancel '{"stage": "a"}'
want http_cancel_stage 200 '"status":"cancelled"'
call POST /pipelines/g1/stages/a/retry '{"by": "user:bo"}'
want http_retry_of_a_cancelled_stage_is_200 200 '"name":"a"'
wait_for 10 stage_is a running || bad http_retried_stage_runs "$body"
touch "$d4/go"
wait_for 10 stage_is b completed && ok http_cancelled_stage_retried_goes_on_to_done || bad http_cancelled_stage_retried_goes_on_to_done "$body"
call GET /pipelines/g1/history
grep -qE '"by":"user:bo","pipeline":"g1","seq":[0-9]+,"stage":"a","type":"retry_requested"' <<<"$body" && ok http_retry_recorded || bad http_retry_recorded "${body:0:400}"

finish
