#!/bin/bash
# An answer means durable, with real processes: what `serve` acknowledges
# survives a SIGKILL that follows the acknowledgement at once.
# - POST /pipelines answered 201, the server SIGKILLed the moment the status
#   line arrives (a raw connection: no client teardown in between), restarted
#   on the same journal: the pipeline is there. Five times.
# - POST /pipelines/ID/confirm answered 200, SIGKILLed likewise, restarted:
#   the confirmation_resolved is in the history. Five times.
# - A journal that fails (the fault seam): the creation is answered 503 with
#   the journal's error, never 201, and `run --server` exits 5; a confirm
#   whose event cannot be written is 503, and `confirm --server` exits 5.
# Waits poll a condition (wait_for), never sleep for a state.
# Usage: durable_test.sh DAIRECTOR
set -u
bin=${1:?dairector binary}
tmp=$(mktemp -d)
server=
cleanup() {
  [[ -n $server ]] && kill -KILL "$server" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"
tries=5

# start_server ARGS...: starts `serve` on a fresh port, waits for "ready",
# sets $server, $port, $url and $token.
starts=0
start_server() {
  local err=$tmp/serve.$((++starts)).err  # a file of its own: never an earlier server's "ready"
  "$bin" serve --listen 127.0.0.1:0 --http 127.0.0.1:0 --token-file "$tmp/token" --workdir "$tmp" "$@" 2>"$err" &
  server=$!
  serve_ready "$err" || { echo "serve did not start: $(cat "$err")"; exit 1; }
  url=http://127.0.0.1:$port
  token=$(cat "$tmp/token")
}
# kill_server: SIGKILL, and reaped.
kill_server() {
  kill -KILL "$server" 2>/dev/null
  wait "$server" 2>/dev/null
  server=
}

# call METHOD PATH [BODY]: sets $code and $body (the headers every request needs).
call() {
  local method=$1 path=$2; shift 2
  local args=(-s -o "$tmp/answer" -w "%{http_code}" -X "$method" -H "Authorization: Bearer $token")
  [[ $# -gt 0 ]] && args+=(-H "Content-Type: application/json" --data-binary "$1")
  code=$(curl "${args[@]}" "$url$path")
  body=$(cat "$tmp/answer")
}
history_has() { call GET "/pipelines/$1/history"; grep -q "$2" <<<"$body"; }
pending() { call GET "/pipelines/$1"; grep -q '"pending_confirmation":{' <<<"$body"; }

# post_then_kill PATH BODY: POSTs on a raw connection, reads the status line
# and SIGKILLs the server as soon as it is there. Sets $code.
post_then_kill() {
  local path=$1 data=$2 line=
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'POST %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$path" "$port" "$token" "${#data}" "$data" >&3
  read -r -t 30 line <&3
  kill -KILL "$server" 2>/dev/null
  exec 3<&-
  wait "$server" 2>/dev/null
  server=
  code=$(awk '{print $2}' <<<"$line")
}

# Nothing completes by itself here (a long builtin sleep): no completion's
# commit comes to the rescue of a creation or a confirmation.
hold='{"name": "hold", "stages": [{"name": "wait", "run": {"builtin": "sleep", "ms": 600000}}]}'
gate='{"name": "gate", "stages": [
  {"name": "a", "run": {"builtin": "echo"}, "confirm": "Go on?"},
  {"name": "b", "after": ["a"], "run": {"builtin": "sleep", "ms": 600000}}]}'
gate=$(tr -d '\n' <<<"$gate")

# 1. A creation answered 201 survives the SIGKILL right after it.
j=$tmp/created.db
lost=()
for ((i = 1; i <= tries; i++)); do
  start_server --journal "$j"
  post_then_kill /pipelines "{\"spec\": $hold, \"id\": \"hold-$i\"}"
  [[ $code == 201 ]] || { bad "create_$i" "HTTP '$code', expected 201"; continue; }
  start_server --journal "$j"
  call GET "/pipelines/hold-$i"
  if [[ $code == 200 ]]; then ok "created_$i survives a SIGKILL right after its 201"
  else lost+=("$i"); bad "created_$i" "HTTP $code after the restart: the acknowledged pipeline was lost"; fi
  kill_server
done

# 2. A confirmation answered 200 survives the SIGKILL right after it.
j=$tmp/confirmed.db
for ((i = 1; i <= tries; i++)); do
  start_server --journal "$j"
  call POST /pipelines "{\"spec\": $gate, \"id\": \"gate-$i\"}"
  [[ $code == 201 ]] || { bad "gate_$i" "HTTP $code: $body"; kill_server; continue; }
  wait_for 10 pending "gate-$i" || { bad "gate_$i" "no confirmation pending: $body"; kill_server; continue; }
  post_then_kill "/pipelines/gate-$i/confirm" '{"by": "user:ana"}'
  [[ $code == 200 ]] || { bad "confirm_$i" "HTTP '$code', expected 200"; continue; }
  start_server --journal "$j"
  if history_has "gate-$i" '"type":"confirmation_resolved"'; then
    ok "confirmed_$i survives a SIGKILL right after its 200"
  else
    bad "confirmed_$i" "no confirmation_resolved after the restart: the acknowledged confirm was lost"
  fi
  kill_server
done

# 3. A journal that fails answers its error, never a success. The seam fails
# every write past the journal's Nth event, whatever the batching: with N = 1,
# the first creation's two events (created, its stage started) are in one
# failed commit, or the start fails after them, so every creation after it
# is refused (the journal takes no more writes after a failure).
DAIRECTOR_TEST_JOURNAL_FAIL_AFTER_EVENTS=1 start_server --journal "$tmp/fault.db"
call POST /pipelines "{\"spec\": $hold, \"id\": \"first\"}"
[[ $code == 201 || $code == 503 ]] || bad first_create_under_fault "HTTP $code: $body"
call POST /pipelines "{\"spec\": $hold, \"id\": \"never\"}"
[[ $code == 503 ]] && grep -q "injected I/O fault" <<<"$body" && ok create_fault_is_503 \
  || bad create_fault_is_503 "HTTP $code: $body"
echo "$hold" >"$tmp/hold.json"
expect run_server_fault_is_exit_5 5 "injected I/O fault" -- run "$tmp/hold.json" --server "$url" --token-file "$tmp/token"
kill_server
# created, a started, a completed, confirmation requested: 4 events; the 5th fails.
DAIRECTOR_TEST_JOURNAL_FAIL_AFTER_EVENTS=4 start_server --journal "$tmp/fault-confirm.db"
call POST /pipelines "{\"spec\": $gate, \"id\": \"gate\"}"
[[ $code == 201 ]] || bad fault_gate "HTTP $code: $body"
wait_for 10 history_has gate '"type":"confirmation_requested"' || bad fault_gate "no confirmation requested: $body"
expect confirm_server_fault_is_exit_5 5 "injected I/O fault" -- confirm --server "$url" --id gate --token-file "$tmp/token"
call POST /pipelines/gate/reject '{}'
[[ $code == 503 ]] && ok reject_after_fault_is_503 || bad reject_after_fault_is_503 "HTTP $code: $body"
kill_server

finish
