#!/bin/bash
# `dairector run` from outside the process (docs/protocol.md, docs/cli.md): exit codes,
# --json, Ctrl-C (exit 3, the command's whole process group killed), timeouts,
# garbage output, a failing command's stderr tail. Usage: run_test.sh DAIRECTOR EXAMPLES_DIR
set -u
bin=${1:?dairector binary}
examples=${2:?examples dir}
tmp=$(mktemp -d)
trap 'pkill -f "sleep 4242" 2>/dev/null; rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib.sh"

# check NAME WANT_CODE PATTERN -- ARGS...  (stdin from /dev/null: no terminal)
check() {
  local name=$1 want=$2 pattern=$3; shift 4
  local out rc
  out=$(DAIRECTOR_JOURNAL="$tmp/$name.db" timeout 60 "$bin" "$@" </dev/null 2>&1); rc=$?
  [[ $rc -eq $want ]] || { bad "$name" "exit $rc, expected $want: $(tail -3 <<<"$out")"; return; }
  grep -qE -- "$pattern" <<<"$out" || { bad "$name" "no /$pattern/ in: $(tail -3 <<<"$out")"; return; }
  ok "$name"
}

spec() {  # spec NAME RUN-JSON
  printf '{"name": "t", "stages": [{"name": "first", "run": {"builtin": "echo"}}, {"name": "work", "after": ["first"], "run": %s}]}' "$2" >"$tmp/$1.json"
  echo "$tmp/$1.json"
}

check example_yes 0 "validate +stage_completed" -- run "$examples/dairector.json" --yes
check example_waits 4 "waiting for confirmation: Approve the design" -- run "$examples/dairector.json"
out=$(timeout 60 "$bin" run "$examples/dairector.json" --yes --json --journal "$tmp/json.db" </dev/null 2>/dev/null)
if [[ $(grep -o '"status": "completed"' <<<"$out" | wc -l) -eq 6 ]] && grep -q '"pending_confirmation": null' <<<"$out"; then
  ok json_final_state
else
  bad json_final_state "$out"
fi
check bad_spec 2 "unknown builtin" -- run "$(spec bad '{"builtin": "nope"}')"
check timeout 1 "stage 'work' failed: timed out after 1 s" -- run "$(spec slow '{"command": ["sleep", "4242"], "timeout_s": 1}')"
pgrep -f "sleep 4242" >/dev/null && bad timeout_kills_group "a sleep 4242 survived the timeout" || ok timeout_kills_group
check garbage_output 1 "not one JSON value: 'hello'" -- run "$(spec garbage '{"command": ["echo", "hello"]}')"
check stderr_tail 1 "exited with status 3; stderr: it broke" -- run "$(spec fails '{"command": ["sh", "-c", "echo it broke >&2; exit 3"]}')"

# Ctrl-C while a command (and a child of it) runs: exit 3, the group is gone.
s=$(spec hang '{"command": ["sh", "-c", "sleep 4242 & sleep 4242; wait"], "timeout_s": 600}')
"$bin" run "$s" --journal "$tmp/hang.db" </dev/null >"$tmp/hang.out" 2>&1 &
pid=$!
for _ in $(seq 1 200); do grep -q "work .*stage_started" "$tmp/hang.out" && pgrep -f "sleep 4242" >/dev/null && break; sleep 0.05; done
kill -INT $pid
wait $pid; rc=$?
for _ in $(seq 1 100); do pgrep -f "sleep 4242" >/dev/null || break; sleep 0.05; done
if [[ $rc -eq 3 ]] && grep -q "cancelled" "$tmp/hang.out" && ! pgrep -f "sleep 4242" >/dev/null; then
  ok ctrl_c
else
  bad ctrl_c "exit $rc, sleeps left: $(pgrep -fc 'sleep 4242'), output: $(tail -3 "$tmp/hang.out")"
fi
# On a terminal (a pty from script(1)): the live view redraws in place and each
# confirmation is a prompt. Answer no, then yes: the rejected stage re-runs and
# asks again.
if command -v script >/dev/null; then
  printf 'n\ny\n' | timeout 60 script -qec "$bin run $examples/dairector.json --journal $tmp/tty.db" /dev/null >"$tmp/tty.out" 2>&1; rc=$?
  prompts=$(grep -ao "? Approve the design before slicing? \[y/n\]" "$tmp/tty.out" | wc -l)
  redraws=$(grep -ac $'\x1b\[6A' "$tmp/tty.out")
  if [[ $rc -eq 0 && $prompts -eq 2 && $redraws -gt 0 ]] && grep -aq "validate    completed" "$tmp/tty.out"; then
    ok terminal_live_view_and_prompt
  else
    bad terminal_live_view_and_prompt "exit $rc, $prompts prompts, $redraws redraws: $(tail -3 "$tmp/tty.out" | cat -v)"
  fi
else
  bad terminal_live_view_and_prompt "script(1) (util-linux) is missing"
fi
finish
