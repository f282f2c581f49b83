#!/usr/bin/env bash
# Stage logs end to end (docs/cli.md#logs, docs/http.md#stage-logs): a
# command's standard error is kept for every run, bounded (head, a marker
# of what was dropped, tail), rotated per stage, in files beside the journal
# (0700/0600) whose names never leave the log folder; `dairector logs` and
# GET .../logs give it back, from `run` and from `serve` with a remote
# `dairector worker`; --follow / ?follow=1 see lines written while the
# stage runs (it waits for a file this test creates) and end with the run;
# a run started again after a SIGKILL keeps its own log beside the dead one's.
set -u
bin=${1:?dairector binary}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
scratch_with_server
worker= runner= follower=
trap 'stop_gently "$follower" "$runner" "$worker" "$server"; wait 2>/dev/null; rm -rf "$tmp"' EXIT
export XDG_CONFIG_HOME=$tmp/config  # the default token file, never the home's
cd "$tmp" || exit 1

# talk: known lines, bytes that are not UTF-8, a burst past the head bound
# (1 MiB), and a last line that must survive in the tail.
cat >talk.json <<'EOF'
{"name": "talk", "stages": [{"name": "talk", "after": [], "run": {"command": ["sh", "-c",
  "cat >/dev/null; printf 'line one\\nline two\\n' >&2; printf 'raw \\377\\376 bytes\\n' >&2; head -c 1500000 /dev/zero | tr '\\\\0' x >&2; printf '\\nthe last line\\n' >&2; echo '{}'"]}}]}
EOF
# hold: one line, then waits for the file named by $GO_FILE in its folder, then another.
cat >hold.json <<EOF
{"name": "hold", "stages": [{"name": "hold", "after": [], "run": {"command": ["sh", "-c",
  "cat >/dev/null; echo before >&2; while [ ! -e '$tmp/go' ]; do sleep 0.05; done; echo after >&2; echo '{}'"]}}]}
EOF
# rot: 'say' runs 4 times (check fails 3 times and re-runs it); each run says its run id.
cat >rot.json <<'EOF'
{"name": "rot", "stages": [
  {"name": "say", "after": [], "run": {"command": ["sh", "-c", "grep -o '\"run\": *[0-9]*' >&2; echo '{}'"]}},
  {"name": "check", "after": ["say"], "run": {"builtin": "fail", "times": 3},
   "on_failure": {"rerun": "say", "max_attempts": 4}}]}
EOF

check_talk() {  # NAME FILE: the log of talk, whole
  local f=$2
  [[ $(head -2 "$f") == $'line one\nline two' ]] && ok "$1_first_lines" || bad "$1_first_lines" "$(head -c 100 "$f" | od -c | head -3)"
  grep -qa $'raw \xff\xfe bytes' "$f" && ok "$1_raw_bytes" || bad "$1_raw_bytes" "$(sed -n 3p "$f" | od -c | head -2)"
  grep -qa "bytes of standard error past the first 1048576 were dropped; the last 65536 of them follow" "$f" \
    && ok "$1_marker" || bad "$1_marker" "no marker"
  [[ $(tail -1 "$f") == "the last line" ]] && ok "$1_tail" || bad "$1_tail" "$(tail -c 40 "$f" | od -c | tail -3)"
  local size; size=$(stat -c %s "$f")
  ((size > 1048576 + 65536 && size < 1048576 + 65536 + 512)) && ok "$1_bounded" || bad "$1_bounded" "$size bytes"
}

# --- run: the log beside the journal ---------------------------------------------------
expect run_talk 0 "done" -- run talk.json --journal j.db --yes
expect logs_unknown_stage 2 "pipeline 'talk' has no stage 'nope'" -- logs nope --journal j.db
expect logs_no_such_run 2 "run 99 of stage 'talk' has no log" -- logs talk --journal j.db --run 99
"$bin" logs talk --journal j.db >talk.out 2>talk.err && ok "logs_cli" || bad "logs_cli" "$(cat talk.err)"
check_talk cli talk.out
[[ $(stat -c %a j.db.logs) == 700 && $(stat -c %a j.db.logs/talk) == 700 && $(stat -c %a j.db.logs/talk/talk) == 700 ]] \
  && ok "folders_0700" || bad "folders_0700" "$(stat -c '%a %n' j.db.logs j.db.logs/talk j.db.logs/talk/talk)"
logfile=$(ls j.db.logs/talk/talk/*.log)
[[ $(stat -c %a $logfile) == 600 ]] && ok "file_0600" || bad "file_0600" "$(stat -c '%a %n' $logfile)"
cmp -s talk.out $logfile && ok "cli_is_the_file" || bad "cli_is_the_file" "differs"

# A hostile id stays inside the folder.
evil="../../dairector-escape-$$/.."
expect run_hostile_id 0 "done" -- run talk.json --journal j.db --yes --id "$evil"
[[ -z $(find "$tmp" -path "$tmp/j.db.logs" -prune -o -name '*.log' -print) && ! -e ../dairector-escape-$$ \
   && ! -e ../../dairector-escape-$$ && $(ls j.db.logs | wc -l) == 2 ]] \
  && ok "hostile_id_inside" || bad "hostile_id_inside" "$(find "$tmp" -name '*.log')"
"$bin" logs talk --journal j.db --id "$evil" >hostile.out 2>&1 && cmp -s hostile.out talk.out \
  && ok "hostile_id_logs" || bad "hostile_id_logs" "$(head -c 200 hostile.out)"

# Rotation: 4 runs of 'say', 2 kept, the newest.
expect run_rot 0 "" -- run rot.json --journal j.db --yes --id rot --log-runs 2
runs=$(ls j.db.logs/rot/say | sort -n | tr '\n' ' ')
all=$(grep -o '"run":[0-9]*' <("$bin" history --journal j.db --id rot --json) | head -0; "$bin" history --journal j.db --id rot | grep "stage_started *say" | grep -o "run [0-9]*" | grep -o "[0-9]*" | tr '\n' ' ')
set -- $all
[[ $# == 4 && $runs == "$3.log $4.log " ]] && ok "rotation_keeps_newest" || bad "rotation_keeps_newest" "kept '$runs' of runs '$all'"
[[ $("$bin" logs say --journal j.db --id rot) == "\"run\": $4" || $("$bin" logs say --journal j.db --id rot) == "\"run\":$4" ]] \
  && ok "latest_is_default" || bad "latest_is_default" "$("$bin" logs say --journal j.db --id rot)"
expect rotated_away 2 "run $1 of stage 'say' has no log" -- logs say --journal j.db --id rot --run "$1"

# --- follow, and a run started again after a crash -------------------------------------
"$bin" run hold.json --journal j.db --yes --id hold >run.out 2>&1 &
runner=$!
wait_for 20 bash -c "grep -qs before j.db.logs/hold/hold/*.live" || bad "hold_started" "$(cat run.out)"
"$bin" logs hold --journal j.db --id hold --follow >follow.out 2>&1 &
follower=$!
wait_for 10 grep -q before follow.out && ok "follow_sees_early_lines" || bad "follow_sees_early_lines" "$(cat follow.out)"
kill -KILL "$runner"; wait "$runner" 2>/dev/null; runner=
first=$(ls j.db.logs/hold/hold/)
touch go
wait_for 10 grep -q "stopped before the run ended" j.db.logs/hold/hold/* 2>/dev/null || true
"$bin" resume --journal j.db --id hold --yes >resume.out 2>&1 && ok "resumed" || bad "resumed" "$(cat resume.out)"
ls j.db.logs/hold/hold/ >runs.out
[[ $(wc -l <runs.out) == 2 ]] && ok "restart_own_log" || bad "restart_own_log" "$(cat runs.out) (first: $first)"
old=$(head -1 runs.out); new=$(tail -1 runs.out)
grep -q "the process writing this log stopped before the run ended" "j.db.logs/hold/hold/$old" \
  && ok "dead_run_marked" || bad "dead_run_marked" "$(cat "j.db.logs/hold/hold/$old")"
[[ $(cat "j.db.logs/hold/hold/$new") == $'before\nafter' ]] && ok "new_run_whole" || bad "new_run_whole" "$(cat "j.db.logs/hold/hold/$new")"
# The follower of the dead run ends once the resumed server ended that log.
wait_for 10 bash -c "! kill -0 $follower" && ok "follow_ends" || bad "follow_ends" "still running"
follower=

# A follower from the start sees the line written after it began, then ends with the run.
rm -f go
"$bin" run hold.json --journal j.db --yes --id hold2 >run2.out 2>&1 &
runner=$!
wait_for 20 bash -c "grep -qs before j.db.logs/hold2/hold/*.live" || bad "hold2_started" "$(cat run2.out)"
"$bin" logs hold --journal j.db --id hold2 --follow >follow2.out 2>&1 &
follower=$!
wait_for 10 grep -q before follow2.out || bad "follow2_before" "$(cat follow2.out)"
touch go
wait_for 20 bash -c "! kill -0 $follower" && ok "follow_ends_with_run" || bad "follow_ends_with_run" "still running"
[[ $(cat follow2.out) == $'before\nafter' ]] && ok "follow_sees_later_lines" || bad "follow_sees_later_lines" "$(cat follow2.out)"
wait "$runner"; runner= follower=

# --- serve and a remote worker -------------------------------------------------------------
rm -f go
token=$tmp/token
serve_into server --journal s.db --token-file "$token" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
  --remote-stages all --workdir "$tmp" --log-dir "$tmp/slogs"
url="http://127.0.0.1:$port"
wport=$(grep -o 'workers on 127.0.0.1:[0-9]*' "$tmp/server.err" | grep -o '[0-9]*$')
"$bin" worker --connect "127.0.0.1:$wport" --token-file "$token" --name w1 --stages talk,hold >worker.log 2>&1 &
worker=$!
wait_for 20 grep -q "registered" worker.log || bad "worker_start" "$(tail -3 worker.log)"
auth="Authorization: Bearer $(head -1 "$token")"
state() { curl -s -m 10 -H "$auth" "$url/pipelines/$1"; }
[[ $(http_create "$port" "$token" talk.json t1) == 201 ]] || bad "create_t1" "not 201"
wait_for 30 bash -c "curl -s -m 10 -H '$auth' '$url/pipelines/t1' | grep -q '\"status\":\"completed\"'" \
  || bad "t1_done" "$(state t1)"
grep -q '"by":"worker:w1"' <(curl -s -H "$auth" "$url/pipelines/t1/history") && ok "ran_remote" || bad "ran_remote" "not on w1"
code=$(curl -s -m 10 -o http.out -w '%{http_code} %{content_type}' -H "$auth" "$url/pipelines/t1/stages/talk/logs")
[[ $code == "200 text/plain" ]] && ok "http_logs_200" || bad "http_logs_200" "$code"
check_talk http http.out
cmp -s http.out talk.out && ok "remote_log_same_bytes" || bad "remote_log_same_bytes" "differs"
f=$(ls slogs/t1/talk/*.log)
[[ $(stat -c %a slogs) == 700 && $(stat -c %a $f) == 600 ]] && ok "server_files_private" || bad "server_files_private" "$(stat -c '%a %n' slogs $f)"
"$bin" logs talk --server "$url" --token-file "$token" --id t1 >cli_server.out 2>&1 && cmp -s cli_server.out talk.out \
  && ok "cli_server" || bad "cli_server" "$(head -c 200 cli_server.out)"
for q in "t1/stages/nope/logs" "nope/stages/talk/logs" "t1/stages/talk/logs?run=99"; do
  code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "$auth" "$url/pipelines/$q")
  [[ $code == 404 ]] && ok "http_404 $q" || bad "http_404 $q" "$code"
done
expect cli_server_unknown_stage 2 "no stage 'nope'" -- logs nope --server "$url" --token-file "$token" --id t1

# Follow over HTTP (an event stream) and through the CLI, while the remote run waits.
[[ $(http_create "$port" "$token" hold.json h1) == 201 ]] || bad "create_h1" "not 201"
wait_for 30 bash -c "ls slogs/h1/hold/*.live && grep -q before slogs/h1/hold/*.live" || bad "h1_started" "$(state h1)"
curl -s -N -m 60 -H "$auth" "$url/pipelines/h1/stages/hold/logs?follow=1" >sse.out &
curler=$!
"$bin" logs hold --server "$url" --token-file "$token" --id h1 --follow >follow3.out 2>&1 &
follower=$!
wait_for 10 grep -q before follow3.out && ok "cli_server_follow_early" || bad "cli_server_follow_early" "$(cat follow3.out)"
wait_for 10 grep -q before sse.out && ok "sse_early" || bad "sse_early" "$(cat sse.out)"
touch go
wait_for 30 bash -c "! kill -0 $follower" && ok "cli_server_follow_ends" || bad "cli_server_follow_ends" "still running"
[[ $(cat follow3.out) == $'before\nafter' ]] && ok "cli_server_follow_whole" || bad "cli_server_follow_whole" "$(cat follow3.out)"
wait_for 30 bash -c "! kill -0 $curler" && ok "sse_ends" || bad "sse_ends" "still open"
grep -q '^data: {"text":"after\\n"}' sse.out && grep -q '^event: end' sse.out && ok "sse_frames" || bad "sse_frames" "$(cat sse.out)"
follower=

# A worker killed mid-run: the server runs it again (a new run id) on the next
# worker; the dead run's log, left open, is ended when the new run's begins.
sed "s#$tmp/go#$tmp/go2#" hold.json >hold2.json
[[ $(http_create "$port" "$token" hold2.json h2) == 201 ]] || bad "create_h2" "not 201"
wait_for 30 bash -c "grep -qs before slogs/h2/hold/*.live" || bad "h2_started" "$(state h2)"
kill -KILL "$worker"; wait "$worker" 2>/dev/null
"$bin" worker --connect "127.0.0.1:$wport" --token-file "$token" --name w2 --stages hold >worker2.log 2>&1 &
worker=$!
wait_for 30 bash -c "[[ \$(ls slogs/h2/hold | wc -l) == 2 ]] && grep -qs before slogs/h2/hold/*.live" \
  || bad "h2_again" "$(ls slogs/h2/hold) $(state h2)"  # finish prints the server's and workers' logs
touch go2
wait_for 30 bash -c "[[ \$(ls slogs/h2/hold/*.log | wc -l) == 2 ]]" || bad "h2_done" "$(ls slogs/h2/hold)"
old=$(ls slogs/h2/hold | sort -n | head -1); new=$(ls slogs/h2/hold | sort -n | tail -1)
grep -q "this run's log ended before the run did (a newer run started)" "slogs/h2/hold/$old" \
  && ok "dead_workers_log_ended" || bad "dead_workers_log_ended" "$(cat "slogs/h2/hold/$old")"
[[ $(cat "slogs/h2/hold/$new") == $'before\nafter' ]] && ok "rerun_log_whole" || bad "rerun_log_whole" "$(cat "slogs/h2/hold/$new")"
finish
