#!/usr/bin/env bash
# Silent waits made visible (docs/cli.md#status, docs/http.md#waiting-for-a-worker):
# `serve --remote-stages` with no worker serving a stage: its run shows as
# waiting, with the reason, in `status` (human and --json through --server)
# and GET /pipelines/ID, and the server's log says so once; a worker
# connects, takes it, and the wait is gone ("taken" logged once). A cancel
# during a wait leaves none behind.
set -u
bin=${1:?dairector binary}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
scratch_with_server
worker=
trap 'stop_gently "$worker" "$server"; wait 2>/dev/null; rm -rf "$tmp"' EXIT
export XDG_CONFIG_HOME=$tmp/config  # the default token file, never the home's
cd "$tmp" || exit 1
token=$tmp/token

cat >w.json <<'EOF'
{"name": "w", "stages": [{"name": "plan", "after": [], "run": {"builtin": "echo"}},
  {"name": "execute", "after": ["plan"], "run": {"builtin": "echo"}}]}
EOF
cat >c.json <<'EOF'
{"name": "c", "stages": [{"name": "other", "after": [], "run": {"builtin": "echo"}}]}
EOF
serve_into server --journal s.db --token-file "$token" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
  --remote-stages execute,other --workdir "$tmp"
url="http://127.0.0.1:$port"
auth="Authorization: Bearer $(head -1 "$token")"
st() { "$bin" status --server "$url" --token-file "$token" --id "$@"; }

[[ $(http_create "$port" "$token" w.json w) == 201 ]] || bad "create_w" "not 201"
reason="no connected worker serves stage 'execute'"
wait_for 20 bash -c "curl -s -m 10 -H '$auth' '$url/pipelines/w' | grep -q waiting" || bad "w_waits" "$(curl -s -H "$auth" "$url/pipelines/w")"
python3 - "$(curl -s -m 10 -H "$auth" "$url/pipelines/w")" "$reason" <<'PY' && ok "http_state_waiting" || bad "http_state_waiting" "see above"
import json, re, sys
s = json.loads(sys.argv[1])
plan, execute = s["stages"]
assert "waiting" not in plan, plan
assert execute["status"] == "running", execute           # the journal's status stays
w = execute["waiting"]
assert w["for"] == "worker" and w["reason"] == sys.argv[2], w
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", w["since"]), w
PY
out=$(st w) && grep -q "execute *running *run [0-9]* *attempt 1  waiting for a worker since .*: $reason" <<<"$out" \
  && ok "status_human_waiting" || bad "status_human_waiting" "$out"
out=$(st w --json) && python3 -c "
import json, sys; s = json.loads(sys.argv[1]); assert s['stages'][1]['waiting']['reason'] == sys.argv[2]" "$out" "$reason" \
  && ok "status_json_waiting" || bad "status_json_waiting" "$out"
"$bin" status --journal s.db --id w | grep -q waiting && bad "journal_status_plain" "a journal knows no waits" || ok "journal_status_plain"
waits_line="pipeline 'w' run [0-9]* of stage 'execute' waits for a worker: $reason"
[[ $(grep -c "$waits_line" server.err) == 1 ]] && ok "logged_once" || bad "logged_once" "$(grep waits server.err)"

# A cancel during a wait: gone from the state and the log says it ended.
[[ $(http_create "$port" "$token" c.json c) == 201 ]] || bad "create_c" "not 201"
wait_for 20 bash -c "curl -s -m 10 -H '$auth' '$url/pipelines/c' | grep -q waiting" || bad "c_waits" "$(curl -s -H "$auth" "$url/pipelines/c")"
curl -s -m 10 -H "$auth" -H 'Content-Type: application/json' --data '{}' "$url/pipelines/c/cancel" >/dev/null
wait_for 10 grep -q "pipeline 'c' run [0-9]* of stage 'other' stopped waiting (cancelled or outdated)" server.err \
  && ok "cancel_ends_wait" || bad "cancel_ends_wait" "$(grep "'c'" server.err)"
curl -s -m 10 -H "$auth" "$url/pipelines/c" | grep -q waiting && bad "no_stale_wait" "$(curl -s -H "$auth" "$url/pipelines/c")" || ok "no_stale_wait"

# A worker connects: it takes the run, the wait is gone.
wport=$(grep -o 'workers on 127.0.0.1:[0-9]*' server.err | grep -o '[0-9]*$')
"$bin" worker --connect "127.0.0.1:$wport" --token-file "$token" --name w1 --stages execute,other >worker.log 2>&1 &
worker=$!
done_w() { curl -s -m 10 -H "$auth" "$url/pipelines/w" | python3 -c "
import json, sys; assert json.load(sys.stdin)['stages'][1]['status'] == 'completed'"; }
wait_for 30 done_w \
  && ok "taken_and_done" || bad "taken_and_done" "$(curl -s -H "$auth" "$url/pipelines/w")"
curl -s -m 10 -H "$auth" "$url/pipelines/w" | grep -q waiting && bad "wait_gone_http" "still waiting" || ok "wait_gone_http"
st w | grep -q waiting && bad "wait_gone_status" "$(st w)" || ok "wait_gone_status"
grep -q '"by":"worker:w1"' <(curl -s -H "$auth" "$url/pipelines/w/history") && ok "ran_on_w1" || bad "ran_on_w1" "no worker:w1"
[[ $(grep -c "$waits_line" server.err) == 1 ]] && ok "waiting_line_once" || bad "waiting_line_once" "$(grep waits server.err)"
[[ $(grep -c "pipeline 'w' run [0-9]* of stage 'execute' taken by worker 'worker:w1' after waiting [0-9]* ms" server.err) == 1 ]] \
  && ok "taken_line_once" || bad "taken_line_once" "$(grep "'w'" server.err)"
[[ $(grep -c "pipeline 'c' .* taken" server.err) == 0 ]] && ok "cancelled_never_taken" || bad "cancelled_never_taken" "$(grep "'c'" server.err)"
finish
