#!/bin/bash
# A stage's processes never outlive its run (issue 12), with real processes.
# The stage commands start a child in a session of its own (setsid), which
# leaves the command's process group; the test finds every process by the
# pid files the commands write.
#   - Ctrl-C of `run`: exit 3 at once, the escaped child is gone;
#   - timeout_s 1: the stage fails by timeout, the escaped child is gone;
#   - a command that closes its stdout and stderr still times out;
#   - the command's own process exits 0 with its output while the escaped
#     child holds stdout: the run completes and the child is killed;
#   - kill -9 of `run`: the command and the escaped child are gone;
#   - the run holds the journal's lock file open, not the command; `resume`
#     right after kill -9 never runs the stage beside the dead owner's run
#     of it, and completes it once;
#   - a run of a dead owner that still holds the lock (flock(1) stands in):
#     `resume` says it waits, starts nothing meanwhile, then carries on;
#   - `serve` with one command slot: a cancelled stage frees it at once;
#   - kill -9 of `dairector worker`: its command and the escaped child are gone.
# Usage: process_test.sh DAIRECTOR
set -u
bin=${1:?dairector binary}
tmp=$(mktemp -d)
declare -a started=()  # every dairector this test started in the background
cleanup() {
  { kill -KILL "${started[@]}"; wait; } 2>/dev/null
  pkill -KILL -f "sleep 4848" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"

# escape.sh DIR MODE, the stage command: a child in its own session writes
# DIR/escaped.pid and sleeps. MODE hang: the command writes DIR/main.pid and
# sleeps too; run again after a recovery (DIR/main.pid exists) it notes in
# DIR/overlap which of the first run's processes are still alive, then ends
# at once. MODE done: once the child runs, the command prints its output and
# exits 0 (the child still holds its stdout).
cat >"$tmp/escape.sh" <<'EOF'
d=$1
put() { echo "$2" >"$d/$1.tmp" && mv "$d/$1.tmp" "$d/$1"; }
if [ "$2" = hang ] && [ -e "$d/main.pid" ]; then
  for p in main escaped; do kill -0 "$(cat "$d/$p.pid")" 2>/dev/null && echo "$p" >>"$d/overlap"; done
  touch "$d/again"
  echo '{"again": true}'
  exit 0
fi
setsid sh -c 'echo $$ >"$1/escaped.pid.tmp" && mv "$1/escaped.pid.tmp" "$1/escaped.pid"; exec sleep 4848' sh "$d" &
if [ "$2" = done ]; then
  while [ ! -e "$d/escaped.pid" ]; do sleep 0.01; done
  echo '{"done": true}'
  exit 0
fi
put main.pid $$
exec sleep 4848
EOF

# spec NAME MODE TIMEOUT_S [STAGE]: a one-stage pipeline (its stage STAGE,
# else "work") running escape.sh in its own folder $tmp/NAME; prints the
# spec's path.
spec() {
  mkdir -p "$tmp/$1"
  printf '{"name": "%s", "stages": [{"name": "%s", "run": {"command": ["sh", "%s", "%s", "%s"], "timeout_s": %s}}]}' \
    "$1" "${4:-work}" "$tmp/escape.sh" "$tmp/$1" "$2" "$3" >"$tmp/$1.json"
  echo "$tmp/$1.json"
}

gone() { ! kill -0 "$(cat "$1")" 2>/dev/null; }  # the process in pid file $1 is gone
both_gone() { gone "$1/main.pid" && gone "$1/escaped.pid"; }

# background DIR ARGS...: `dairector ARGS` in the background, its pid in
# DIR/pid, its exit code in DIR/rc once it ends, its output in DIR/out.
background() {
  local d=$1; shift
  ( "$bin" "$@" </dev/null >"$d/out" 2>&1 & echo $! >"$d/pid"; wait $!; echo $? >"$d/rc.tmp"; mv "$d/rc.tmp" "$d/rc" ) &
  started+=($!)
  wait_for 10 test -s "$d/pid"
  started+=("$(cat "$d/pid")")
}
ended() { test -s "$1/rc"; }
history() { "$bin" history --journal "$1" 2>&1; }

# --- Ctrl-C: the escaped child goes too, and `run` does not wait for it -------
s=$(spec cancel hang 600); d=$tmp/cancel
background "$d" run "$s" --journal "$d/j.db"
if wait_for 20 test -s "$d/escaped.pid" && wait_for 20 test -s "$d/main.pid"; then
  kill -INT "$(cat "$d/pid")"
  if wait_for 20 ended "$d"; then
    [[ $(cat "$d/rc") -eq 3 ]] && grep -q "cancelled" "$d/out" && ok "ctrl_c_exits_3" ||
      bad "ctrl_c_exits_3" "exit $(cat "$d/rc"): $(tail -2 "$d/out")"
  else
    bad "ctrl_c_exits_3" "run still running 20 s after Ctrl-C: $(tail -2 "$d/out")"
  fi
  wait_for 10 both_gone "$d" && ok "ctrl_c_kills_escaped_child" || bad "ctrl_c_kills_escaped_child" "still alive"
else
  bad "ctrl_c_command_started" "$(tail -2 "$d/out")"
fi

# --- timeout: the stage fails by timeout, the escaped child is gone -----------
s=$(spec timeout hang 1); d=$tmp/timeout
expect timeout_fails_the_stage 1 "stage 'work' failed: timed out after 1 s" -- run "$s" --journal "$d/j.db"
# (A child that had not written its pid by the timeout was killed before it could.)
if [[ -e $d/escaped.pid ]]; then
  wait_for 10 gone "$d/escaped.pid" && ok "timeout_kills_escaped_child" || bad "timeout_kills_escaped_child" "still alive"
else
  ok "timeout_kills_escaped_child (it never ran)"
fi

# --- timeout of a command that closed its stdout and stderr -------------------
printf '{"name": "closed", "stages": [{"name": "work", "run": {"command": ["sh", "-c", "exec >&- 2>&-; exec sleep 4848"], "timeout_s": 1}}]}' >"$tmp/closed.json"
expect closed_pipes_still_time_out 1 "stage 'work' failed: timed out after 1 s" -- run "$tmp/closed.json" --journal "$tmp/closed.db"

# --- the command exits 0 while the escaped child holds its stdout --------------
s=$(spec done done 600); d=$tmp/done
background "$d" run "$s" --journal "$d/j.db"
if wait_for 20 ended "$d"; then
  [[ $(cat "$d/rc") -eq 0 ]] && grep -q "work .*stage_completed" "$d/out" && ok "exit_0_completes_despite_held_stdout" ||
    bad "exit_0_completes_despite_held_stdout" "exit $(cat "$d/rc"): $(tail -2 "$d/out")"
  wait_for 10 gone "$d/escaped.pid" && ok "exit_0_kills_escaped_child" || bad "exit_0_kills_escaped_child" "still alive"
else
  bad "exit_0_completes_despite_held_stdout" "run still running after 20 s: $(tail -2 "$d/out")"
fi

# --- kill -9 of `run`: its command and the escaped child die with it -----------
s=$(spec killed hang 600); d=$tmp/killed
background "$d" run "$s" --journal "$d/j.db"
if wait_for 20 test -s "$d/escaped.pid" && wait_for 20 test -s "$d/main.pid"; then
  kill -KILL "$(cat "$d/pid")"
  wait_for 10 both_gone "$d" && ok "sigkill_of_run_kills_its_commands" || bad "sigkill_of_run_kills_its_commands" "still alive"
else
  bad "sigkill_command_started" "$(tail -2 "$d/out")"
fi

# --- recovery never starts a stage beside a run of the dead owner -------------
# The run (its shepherd, not the owner itself) holds the journal's lock file
# open, the command does not. `resume` right after kill -9: when the command
# runs again, nothing of the first run is alive.
holds_lock() { ls -l "/proc/$1/fd" 2>/dev/null | grep -q "$2"; }
s=$(spec resumed hang 600); d=$tmp/resumed; mkdir -p "$d/r"
background "$d" run "$s" --journal "$d/j.db"
if wait_for 20 test -s "$d/escaped.pid" && wait_for 20 test -s "$d/main.pid"; then
  shepherd=$(ps -o ppid= -p "$(cat "$d/main.pid")" | tr -d ' ')
  [[ $shepherd != "$(cat "$d/pid")" ]] && holds_lock "$shepherd" "$d/j.db.lock" && ! holds_lock "$(cat "$d/main.pid")" "$d/j.db.lock" &&
    ok "the_run_holds_the_owner_lock_not_the_command" || bad "the_run_holds_the_owner_lock_not_the_command" "$(ls -l "/proc/$shepherd/fd")"
  kill -KILL "$(cat "$d/pid")"
  background "$d/r" resume --journal "$d/j.db"
  if wait_for 20 ended "$d/r"; then
    [[ $(cat "$d/r/rc") -eq 0 ]] && ok "resume_after_sigkill_done" || bad "resume_after_sigkill_done" "exit $(cat "$d/r/rc"): $(tail -3 "$d/r/out")"
  else
    bad "resume_after_sigkill_done" "resume still running after 20 s: $(tail -3 "$d/r/out")"
  fi
  [[ -e $d/again && ! -e $d/overlap ]] && ok "stage_never_ran_twice_at_once" ||
    bad "stage_never_ran_twice_at_once" "alive when it ran again: $(cat "$d/overlap" 2>/dev/null)"
  h=$(history "$d/j.db")
  [[ $(grep -cE "stage_completed +work" <<<"$h") -eq 1 && $(grep -cE "stage_interrupted +work" <<<"$h") -eq 1 ]] &&
    ok "resumed_stage_completed_once" || bad "resumed_stage_completed_once" "$h"
else
  bad "resume_command_started" "$(tail -2 "$d/out")"
fi

# --- recovery waits while a run of the dead owner holds the lock ---------------
# A run that takes its time to die is stood in for by flock(1) on the lock
# file, as the shepherd holds it: `resume` says what it waits for, starts
# nothing meanwhile, and carries on once it is released.
s=$(spec waited hang 600); d=$tmp/waited; mkdir -p "$d/r"
background "$d" run "$s" --journal "$d/j.db"
if wait_for 20 test -s "$d/escaped.pid" && wait_for 20 test -s "$d/main.pid"; then
  kill -KILL "$(cat "$d/pid")"
  wait_for 10 both_gone "$d"
  ( exec 9<>"$d/j.db.lock"; flock -x 9; touch "$d/held"; exec sleep 4848 ) &
  holder=$!; started+=($holder)
  wait_for 10 test -e "$d/held"
  background "$d/r" resume --journal "$d/j.db"
  if wait_for 20 grep -q "waiting for the stage commands .* to end" "$d/r/out"; then
    ok "resume_says_what_it_waits_for"
    [[ ! -e $d/again ]] && ok "resume_starts_nothing_while_it_waits" || bad "resume_starts_nothing_while_it_waits" "the stage ran"
  else
    bad "resume_says_what_it_waits_for" "$(tail -3 "$d/r/out")"
  fi
  kill -KILL $holder
  if wait_for 20 ended "$d/r"; then
    [[ $(cat "$d/r/rc") -eq 0 && -e $d/again ]] && ok "resume_carries_on_once_released" ||
      bad "resume_carries_on_once_released" "exit $(cat "$d/r/rc"): $(tail -3 "$d/r/out")"
  else
    bad "resume_carries_on_once_released" "resume still running after 20 s: $(tail -3 "$d/r/out")"
  fi
else
  bad "waited_command_started" "$(tail -2 "$d/out")"
fi

# --- serve: a cancelled stage frees its command slot ---------------------------
# (Stage "far" runs only on workers, the others in the server.)
d=$tmp/serve; mkdir -p "$d/a" "$d/b"
background "$d" serve --journal "$d/j.db" --token-file "$d/token" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
  --command-limit 1 --workdir "$d" --remote-stages far
if wait_for 20 grep -q "ready" "$d/out"; then
  url=http://127.0.0.1:$(grep -o 'http on 127.0.0.1:[0-9]*' "$d/out" | grep -o '[0-9]*$')
  s=$(spec held hang 600)
  background "$d/a" run "$s" --server "$url" --token-file "$d/token" --id held
  if wait_for 20 test -s "$tmp/held/escaped.pid" && wait_for 20 test -s "$tmp/held/main.pid"; then
    expect serve_cancel 0 "stage_cancelled" -- cancel --server "$url" --token-file "$d/token" --id held
    printf '{"name": "next", "stages": [{"name": "work", "run": {"command": ["sh", "-c", "echo {}"]}}]}' >"$tmp/next.json"
    background "$d/b" run "$tmp/next.json" --server "$url" --token-file "$d/token" --id next
    if wait_for 20 ended "$d/b"; then
      [[ $(cat "$d/b/rc") -eq 0 ]] && ok "cancel_frees_the_command_slot" ||
        bad "cancel_frees_the_command_slot" "exit $(cat "$d/b/rc"): $(tail -2 "$d/b/out")"
    else
      bad "cancel_frees_the_command_slot" "the next stage did not run within 20 s: $(tail -2 "$d/b/out")"
    fi
    wait_for 10 both_gone "$tmp/held" && ok "serve_cancel_kills_escaped_child" || bad "serve_cancel_kills_escaped_child" "still alive"
  else
    bad "serve_command_started" "$(tail -2 "$d/a/out")"
  fi

  # --- kill -9 of a worker: its commands die with it ----------------------------
  wport=$(grep -o 'workers on 127.0.0.1:[0-9]*' "$d/out" | grep -o '[0-9]*$')
  mkdir -p "$d/w"
  background "$d/w" worker --connect "127.0.0.1:$wport" --token-file "$d/token" --stages far --name w
  if wait_for 20 grep -q "registered" "$d/w/out"; then
    s=$(spec remote hang 600 far)
    mkdir -p "$d/c"
    background "$d/c" run "$s" --server "$url" --token-file "$d/token" --id remote
    if wait_for 20 test -s "$tmp/remote/escaped.pid" && wait_for 20 test -s "$tmp/remote/main.pid"; then
      kill -KILL "$(cat "$d/w/pid")"
      wait_for 10 both_gone "$tmp/remote" && ok "sigkill_of_worker_kills_its_commands" ||
        bad "sigkill_of_worker_kills_its_commands" "still alive"
    else
      bad "worker_command_started" "$(tail -2 "$d/c/out") $(tail -2 "$d/w/out")"
    fi
  else
    bad "worker_registered" "$(tail -2 "$d/w/out")"
  fi
else
  bad "serve_started" "$(tail -2 "$d/out")"
fi
finish
