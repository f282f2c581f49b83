#!/bin/bash
# The HTTP control API and the CLI's --server (docs/http.md), from outside:
# a pipeline driven over HTTP from creation through a confirmation to the end;
# the event stream (each event of /history once, in seq order, `id:` = seq;
# Last-Event-ID resumes; closed clients are let go); every endpoint's answers
# and errors; who may call (the token on every request but GET /healthz, on
# loopback too; the Host must name the server; a change needs
# `Content-Type: application/json` and no foreign Origin: a cross-site form
# creates nothing); requests framed before they reach a thread (411, 431,
# 100 Continue, pipelining); 32 clients sending one byte a second do not stop
# others from being answered and are cut off with 408; a port in use is an
# error; status, history and the control commands with --server (the token
# from the default file) print what they print on the journal; exit 5 when no
# server answers; a clean stop on SIGTERM with a stream open.
# Waits poll a condition (wait_for, at most 10 s), never sleep for a state.
# Usage: http_test.sh DAIRECTOR EXAMPLES_DIR
set -u
bin=${1:?dairector binary}
examples=${2:?examples dir}
tmp=$(mktemp -d)
# The default token file of serve, worker and --server is under here, never
# in the home of whoever runs the tests.
export XDG_CONFIG_HOME=$tmp/config
server= remote= named= streams=() slow_pids=()
cleanup() {
  local p
  for p in "${streams[@]}" "${slow_pids[@]}"; do kill "$p" 2>/dev/null; done
  stop_gently "$remote" "$named" "$server"  # lib.sh
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"


# call METHOD PATH [BODY]: sets $code and $body. Sends the token ($auth) and,
# unless the method only reads, `Content-Type: application/json`.
call() {
  local method=$1 path=$2; shift 2
  local args=(-s -o "$tmp/answer" -w "%{http_code}" -X "$method" "${auth[@]}")
  [[ $method != GET && $method != HEAD ]] && args+=(-H "Content-Type: application/json")
  [[ $# -gt 0 ]] && args+=(--data-binary "$1")
  code=$(curl "${args[@]}" "$url$path")
  body=$(cat "$tmp/answer")
}
auth=()

# raw NAME WANT_CODE PATTERN CURL_ARGS...: one request exactly as the
# arguments say (nothing added); the answer's headers go to $tmp/headers.
raw() {
  local name=$1 want=$2 pattern=$3; shift 3
  code=$(curl -s -m 10 -D "$tmp/headers" -o "$tmp/answer" -w "%{http_code}" "$@")
  body=$(cat "$tmp/answer")
  [[ $code == "$want" ]] || { bad "$name" "HTTP $code, expected $want: ${body:0:300}"; return 1; }
  grep -qE -- "$pattern" <<<"$body" || { bad "$name" "no /$pattern/ in: ${body:0:300}"; return 1; }
  ok "$name"
}

# over_tcp TEXT: sends TEXT (printf %b) on one connection and reads what the
# server answers until it closes (at most 10 s) into $answer.
over_tcp() {
  local fd
  exec {fd}<>"/dev/tcp/127.0.0.1/$port"
  printf '%b' "$1" >&"$fd"
  answer=$(timeout 10 cat <&"$fd")
  exec {fd}<&-
}

# check NAME METHOD PATH BODY WANT_CODE PATTERN (BODY "-": none)
check() {
  local name=$1 method=$2 path=$3 data=$4 want=$5 pattern=$6
  if [[ $data == - ]]; then call "$method" "$path"; else call "$method" "$path" "$data"; fi
  [[ $code == "$want" ]] || { bad "$name" "HTTP $code, expected $want: ${body:0:300}"; return 1; }
  grep -qE -- "$pattern" <<<"$body" || { bad "$name" "no /$pattern/ in: ${body:0:300}"; return 1; }
  ok "$name"
}

seq_of() { call GET "/pipelines/$1"; grep -o '"seq":[0-9]*' <<<"$body" | head -1 | grep -o "[0-9]*"; }
state_has() { call GET "/pipelines/$1"; grep -qE -- "$2" <<<"$body"; }
# stream NAME PIPELINE [LAST_EVENT_ID]: curl -N in the background into $tmp/NAME.
stream() {
  local hdr=()
  [[ $# -gt 2 ]] && hdr=(-H "Last-Event-ID: $3")
  curl -sN "${auth[@]}" "${hdr[@]}" "$url/pipelines/$2/events" >"$tmp/$1" 2>/dev/null &
  streams+=($!)
}
stream_has() { grep -qx "id: $2" "$tmp/$1"; }
stop_stream() { kill "${streams[-1]}" 2>/dev/null; wait "${streams[-1]}" 2>/dev/null; unset 'streams[-1]'; }

cat >"$tmp/flow.json" <<'EOF'
{"name": "flow", "stages": [
  {"name": "idea",    "run": {"builtin": "echo"}},
  {"name": "analyze", "after": ["idea"],    "run": {"builtin": "echo"}, "confirm": "Approve the design?"},
  {"name": "slice",   "after": ["analyze"], "run": {"builtin": "sleep", "ms": 50}},
  {"name": "ship",    "after": ["slice"],   "run": {"builtin": "echo"}}]}
EOF
cat >"$tmp/slow.json" <<'EOF'
{"name": "slow", "stages": [{"name": "wait", "run": {"command": ["sh", "-c", "exec sleep 4343"], "timeout_s": 600}}]}
EOF
flow=$(tr -d '\n' <"$tmp/flow.json")
j=$tmp/served.db
# No --token-file: serve makes the default one.
serve_into server --journal "$j" --listen 127.0.0.1:0 --http 127.0.0.1:0 --workdir "$tmp"
url=http://127.0.0.1:$port
token_file=$XDG_CONFIG_HOME/dairector/token
[[ $(stat -c %a "$token_file") == 600 && $(stat -c %a "$(dirname "$token_file")") == 700 ]] &&
  ok default_token_file_created || bad default_token_file_created "$(ls -la "$(dirname "$token_file")")"
token=$(head -1 "$token_file")

# --- Who may call -------------------------------------------------------------
# Every request but GET /healthz needs the token, on loopback too.
raw healthz_without_token 200 '^\{"ok":true\}$' "$url/healthz"
raw no_token_on_loopback 401 'every request but GET /healthz needs it, on loopback too' "$url/pipelines"
grep -qi '^WWW-Authenticate: Bearer' "$tmp/headers" && ok asks_for_bearer || bad asks_for_bearer "$(cat "$tmp/headers")"
raw wrong_token 401 '^\{"error":"wrong token' -H "Authorization: Bearer wrong-token-of-some-length" "$url/pipelines"
raw token_scheme_in_any_case 200 '^\[\]$' -H "Authorization: bEaReR $token" "$url/pipelines"
raw events_need_the_token 401 'needs it' "$url/pipelines/nope/events"
raw post_needs_the_token 401 'needs it' -H "Content-Type: application/json" -d '{}' "$url/pipelines/nope/confirm"
auth=(-H "Authorization: Bearer $token")

# A cross-site page's form (the issue's report: 201, and the command ran):
# text/plain, no token. Then each check on its own, with the token.
evil="{\"spec\": {\"name\": \"evil\", \"stages\": [{\"name\": \"a\", \"run\": {\"command\": [\"touch\", \"$tmp/pwned\"]}}]}}"
raw cross_site_form_refused 401 '"error"' -H "Content-Type: text/plain" -H "Origin: http://attacker.example" \
  --data-binary "$evil" "$url/pipelines"
raw text_plain_refused 403 'POST needs `Content-Type: application/json`, not .text/plain.' "${auth[@]}" \
  -H "Content-Type: text/plain" --data-binary "$evil" "$url/pipelines"
raw no_content_type_refused 403 'application/json`, and none was sent' "${auth[@]}" -H "Content-Type:" \
  --data-binary "$evil" "$url/pipelines"
raw json_lookalike_refused 403 'not .application/json-patch\+json.' "${auth[@]}" \
  -H "Content-Type: application/json-patch+json" --data-binary "$evil" "$url/pipelines"
raw foreign_origin_refused 403 "Origin 'http://attacker.example' is not this server's own" "${auth[@]}" \
  -H "Content-Type: application/json" -H "Origin: http://attacker.example" --data-binary "$evil" "$url/pipelines"
raw null_origin_refused 403 "Origin 'null' is not" "${auth[@]}" -H "Content-Type: application/json" -H "Origin: null" \
  --data-binary "$evil" "$url/pipelines"
raw other_local_app_origin_refused 403 "Origin 'http://127.0.0.1:1' is not" "${auth[@]}" \
  -H "Content-Type: application/json" -H "Origin: http://127.0.0.1:1" --data-binary "$evil" "$url/pipelines"
call GET /pipelines/evil
[[ $code == 404 && ! -e $tmp/pwned ]] && ok refused_posts_create_nothing || bad refused_posts_create_nothing "HTTP $code"
# What passes: JSON with parameters, in any case; the server's own origin.
raw json_with_charset_passes 404 "no pipeline 'nope'" "${auth[@]}" -H "Content-Type: Application/JSON; charset=utf-8" \
  -d '{}' "$url/pipelines/nope/confirm"
raw own_origin_passes 404 "no pipeline 'nope'" "${auth[@]}" -H "Content-Type: application/json" \
  -H "Origin: http://localhost:$port" -d '{}' "$url/pipelines/nope/confirm"
# A body over 8 KiB is refused for what is wrong with it (httplib said "413
# larger than 16 MiB" for a form), for any content type; as JSON it is read.
head -c 9000 /dev/zero | tr '\0' a >"$tmp/form"
raw large_form_says_content_type 403 'not .application/x-www-form-urlencoded.' "${auth[@]}" \
  --data-binary @"$tmp/form" "$url/pipelines"
raw large_multipart_says_content_type 403 'not .multipart/form-data' "${auth[@]}" -F "spec=<$tmp/form" "$url/pipelines"
printf '{"spec": "%s"}' "$(cat "$tmp/form")" >"$tmp/form.json"
raw large_json_is_read 400 'needs \\"spec\\"' "${auth[@]}" -H "Content-Type: application/json" \
  --data-binary @"$tmp/form.json" "$url/pipelines"
# The Host must name this server: a DNS-rebinding page presents its own name.
raw rebound_name_refused 421 "Host 'rebind.example:$port' does not name this server; it answers to 127.0.0.1:$port" \
  "${auth[@]}" --resolve "rebind.example:$port:127.0.0.1" "http://rebind.example:$port/pipelines"
raw host_other_port_refused 421 'does not name this server' "${auth[@]}" -H "Host: 127.0.0.1:1" "$url/pipelines"
raw host_missing_refused 421 'no Host header' "${auth[@]}" -H "Host:" "$url/pipelines"
raw host_localhost_passes 200 '^\[' "${auth[@]}" -H "Host: LocalHost:$port" "$url/pipelines"
raw host_v6_loopback_passes 200 '^\[' "${auth[@]}" -H "Host: [::1]:$port" "$url/pipelines"
# The CLI sends the token of --token-file, by default the file serve made.
expect cli_default_token 2 "hosts no pipeline" -- status --server "$url"
echo "wrong-token-of-some-length" >"$tmp/wrong.token"; chmod 600 "$tmp/wrong.token"
expect cli_wrong_token 2 "wrong token" -- status --server "$url" --token-file "$tmp/wrong.token"
expect cli_missing_token_file 2 "cannot read token file $tmp/missing" -- status --server "$url" --token-file "$tmp/missing"
XDG_CONFIG_HOME=$tmp/nowhere expect cli_no_default_token 2 \
  "needs it, on loopback too \(no token was sent: $tmp/nowhere/dairector/token does not exist; pass --token-file" -- \
  status --server "$url"
# A worker finds the default token file too.
wport=$(grep -o "workers on [^ ]*" "$tmp/server.err" | grep -o "[0-9]*$")
"$bin" worker --connect "127.0.0.1:$wport" --stages nothing --name default-token >"$tmp/worker.log" 2>&1 &
worker=$!
wait_for 10 grep -q "registered" "$tmp/worker.log" && ok worker_default_token || bad worker_default_token "$(cat "$tmp/worker.log")"
kill -TERM "$worker"; wait "$worker" 2>/dev/null

# --- --http-host: names clients may use besides the address -------------------
expect http_host_malformed 2 "--http-host 'a b' is not NAME or NAME:PORT" -- \
  serve --journal "$tmp/named.db" --listen 127.0.0.1:0 --http 127.0.0.1:0 --http-host 'a b'
serve_into named --journal "$tmp/named.db" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
  --http-host dairector.test --http-host proxy.test:8443
raw http_host_any_port 200 '^\[' "${auth[@]}" -H "Host: dairector.test:1234" "http://127.0.0.1:$port/pipelines"
raw http_host_its_port 200 '^\[' "${auth[@]}" -H "Host: proxy.test:8443" "http://127.0.0.1:$port/pipelines"
raw http_host_other_port 421 'proxy.test:8443' "${auth[@]}" -H "Host: proxy.test:$port" "http://127.0.0.1:$port/pipelines"
raw http_host_is_own_origin 404 "no pipeline 'nope'" "${auth[@]}" -H "Content-Type: application/json" \
  -H "Origin: https://dairector.test" -d '{}' "http://127.0.0.1:$port/pipelines/nope/confirm"
kill -TERM "$named"; wait "$named" 2>/dev/null; named=
port=${url##*:}

# --- Requests are framed before a thread sees them -----------------------------
host="Host: 127.0.0.1:$port\r\nAuthorization: Bearer $token"
over_tcp "POST /pipelines HTTP/1.1\r\n$host\r\nContent-Type: application/json\r\n\r\n"
grep -q '^HTTP/1.1 411 .*a POST needs a body with a Content-Length' <<<"$(tr -d '\r' <<<"$answer" | tr '\n' ' ')" &&
  ok post_without_length_411 || bad post_without_length_411 "${answer:0:300}"
over_tcp "POST /pipelines HTTP/1.1\r\n$host\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
grep -q '^HTTP/1.1 411 .*chunked' <<<"$(tr -d '\r' <<<"$answer" | tr '\n' ' ')" && ok chunked_411 || bad chunked_411 "${answer:0:300}"
over_tcp "GET /pipelines HTTP/1.1\r\n$host\r\nX-Big: $(head -c 70000 /dev/zero | tr '\0' a)\r\n\r\n"
grep -q '^HTTP/1.1 431 .*larger than 64 KiB' <<<"$(tr -d '\r' <<<"$answer" | tr '\n' ' ')" && ok head_too_large_431 ||
  bad head_too_large_431 "${answer:0:300}"
# Pipelined on one connection, a refused body skipped: 403, 200, 200.
over_tcp "POST /pipelines HTTP/1.1\r\n$host\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot json!\
GET /pipelines HTTP/1.1\r\n$host\r\n\r\nGET /healthz HTTP/1.1\r\n$host\r\nConnection: close\r\n\r\n"
[[ "$(grep -o '^HTTP/1.1 [0-9]*' <<<"$answer" | tr '\n' ' ')" == "HTTP/1.1 403 HTTP/1.1 200 HTTP/1.1 200 " ]] &&
  ok pipelined_requests || bad pipelined_requests "$(grep '^HTTP' <<<"$answer" | tr '\n' ' ')"
# Expect: 100-continue is answered by the gate before the body comes.
exec {fd}<>"/dev/tcp/127.0.0.1/$port"
printf '%b' "POST /pipelines/nope/confirm HTTP/1.1\r\n$host\r\nContent-Type: application/json\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n" >&"$fd"
IFS= read -r -t 10 -u "$fd" line
printf '{}' >&"$fd"
answer=$(timeout 10 cat <&"$fd"); exec {fd}<&-
[[ $line == $'HTTP/1.1 100 Continue\r' ]] && [[ $(grep -c '^HTTP/1.1 ' <<<"$answer") -eq 1 ]] &&
  grep -q "^HTTP/1.1 404 " <<<"$answer" && ok expect_100_continue || bad expect_100_continue "$line / ${answer:0:200}"

# Liveness, an empty server, and errors before any pipeline exists.
check healthz GET /healthz - 200 '^\{"ok":true\}$'
check list_empty GET /pipelines - 200 '^\[\]$'
expect status_no_pipeline 2 "hosts no pipeline" -- status --server "$url"
check unknown_pipeline_state GET /pipelines/nope - 404 '^\{"error":"no pipeline .nope.'
check unknown_pipeline_events GET /pipelines/nope/events - 404 '"error"'
check unknown_path GET /nope - 404 '^\{"error":"no such path: /nope"\}$'
check wrong_method DELETE /pipelines - 405 '"error":"DELETE is not allowed'
check wrong_method_on_control GET /pipelines/nope/confirm - 405 '"error"'

# Creation: bad bodies and specs are refused (400) and create nothing.
check create_malformed_json POST /pipelines '{"spec": ' 400 '^\{"error":"the body is not valid JSON'
check create_not_an_object POST /pipelines '[1, 2]' 400 'must be a JSON object'
check create_spec_wrong_type POST /pipelines '{"spec": "flow.json"}' 400 'needs \\"spec\\"'
check create_unknown_field POST /pipelines "{\"spec\": $flow, \"nme\": 1}" 400 'unknown field \\"nme\\"'
check create_bad_spec POST /pipelines \
  '{"spec": {"name": "x", "stages": [{"name": "a", "after": ["b"], "run": {"builtin": "echo"}},
                                     {"name": "b", "after": ["a"], "run": {"builtin": "echo"}}]}}' \
  400 "'a', 'b' form a cycle"
check create_bad_id POST /pipelines "{\"spec\": $flow, \"id\": \"../x\"}" 400 '\\"id\\" must be'
check create_id_wrong_type POST /pipelines "{\"spec\": $flow, \"id\": 7}" 400 '\\"id\\" must be a string'
deep=$(printf '[%.0s' $(seq 1 300))
check create_too_deep POST /pipelines "{\"spec\": $deep}" 400 'nests deeper than 256'
head -c $((17 << 20)) /dev/zero | tr '\0' ' ' >"$tmp/big"
code=$(curl -s -o "$tmp/answer" -w "%{http_code}" "${auth[@]}" -H "Content-Type: application/json" -H "Expect:" -X POST \
  --data-binary @"$tmp/big" "$url/pipelines")
[[ $code == 413 ]] && grep -q '"error":"the body is larger than 16 MiB"' "$tmp/answer" && ok body_too_large \
  || bad body_too_large "HTTP $code: $(head -c 200 "$tmp/answer")"
check list_still_empty GET /pipelines - 200 '^\[\]$'

# Creation, then the live stream from the first event on.
check create POST /pipelines "{\"spec\": $flow}" 201 '^\{"pipeline":"flow"\}$'
stream first flow
check create_existing_id POST /pipelines "{\"spec\": $flow}" 409 "pipeline 'flow' already exists"
check create_with_id POST /pipelines "{\"spec\": $flow, \"id\": \"flow-2\"}" 201 '"pipeline":"flow-2"'
# Newest first (docs/http.md): flow-2 was created after flow.
check list GET /pipelines - 200 '^\[\{"created":"[^"]+","last_change":"[^"]+","name":"flow","outcome":"[a-z]+","pipeline":"flow-2","seq":[0-9]+\},\{"created":"[^"]+","last_change":"[^"]+","name":"flow","outcome":"[a-z]+","pipeline":"flow","seq":'
expect pick_among_many 2 'hosts 2 pipelines \(flow-2, flow\): choose one with --id' -- status --server "$url"

wait_for 10 state_has flow '"pending_confirmation":\{"message":"Approve the design\?"' && ok waits_for_confirmation \
  || bad waits_for_confirmation "${body:0:300}"
check state_json GET /pipelines/flow - 200 '^\{"name":"flow",.*"pipeline":"flow","seq":[0-9]+,"stages":\[\{"attempt":1,"name":"idea"'

# The CLI on the server prints what it prints on the journal (read beside the owner).
for args in "status" "status --json" "status --at 3" "history" "history --json"; do
  # shellcheck disable=SC2086
  from_server=$("$bin" $args --server "$url" --id flow 2>&1); rc=$?
  # shellcheck disable=SC2086
  from_journal=$("$bin" $args --journal "$j" --id flow 2>&1)
  [[ $rc -eq 0 && "$from_server" == "$from_journal" && -n "$from_server" ]] && ok "same_output: $args" \
    || bad "same_output: $args" "exit $rc; server: $(head -3 <<<"$from_server") / journal: $(head -3 <<<"$from_journal")"
done
expect status_waiting 0 "at seq [0-9]+: waiting.*waiting for confirmation on 'analyze': Approve the design\?" -- \
  status --server "$url" --id flow
DAIRECTOR_SERVER=$url "$bin" status --id flow 2>&1 | grep -q "pipeline 'flow' at seq" \
  && ok server_from_environment || bad server_from_environment "DAIRECTOR_SERVER was not used"

# Time travel over HTTP.
check state_at GET '/pipelines/flow?at=3' - 200 '"seq":3,'
check state_at_zero GET '/pipelines/flow?at=0' - 400 'at must be a seq \(1 or more\)'
check state_at_junk GET '/pipelines/flow?at=3x' - 400 'at must be a seq'
check state_at_past_the_end GET '/pipelines/flow?at=999' - 404 'no event with seq 999 \(the history ends at [0-9]+\)'
expect status_at_past_the_end 2 "no event with seq 999" -- status --server "$url" --id flow --at 999

# Confirmation: body errors, then approval by a named user.
check confirm_unknown_pipeline POST /pipelines/nope/confirm '{}' 404 "no pipeline 'nope'"
check confirm_malformed POST /pipelines/flow/confirm '{"note": ' 400 'not valid JSON'
check confirm_note_wrong_type POST /pipelines/flow/confirm '{"note": 3}' 400 '\\"note\\" must be a string'
check confirm_by_empty POST /pipelines/flow/confirm '{"by": ""}' 400 '\\"by\\" must not be empty'
check confirm POST /pipelines/flow/confirm '{"note": "looks right", "by": "user:ana"}' 200 \
  '"pending_confirmation":null,"pipeline":"flow"'
wait_for 10 state_has flow '"name":"ship",.*"status":"completed"\}\]\}$' && ok runs_to_the_end \
  || bad runs_to_the_end "${body:0:300}"
check confirm_nothing_pending POST /pipelines/flow/confirm '{}' 409 '^\{"error":"no confirmation is pending"\}$'
check reject_nothing_pending POST /pipelines/flow/reject '{"note": "x"}' 409 'no confirmation is pending'
expect confirm_nothing_pending_cli 2 "dairector confirm: no confirmation is pending" -- confirm --server "$url" --id flow
expect history_records_who 0 "user:ana +confirmation_resolved +analyze approved: looks right" -- \
  history --server "$url" --id flow
expect status_done 0 "pipeline 'flow' at seq [0-9]+: done" -- status --server "$url" --id flow

# The stream: every event of the history once, in seq order, `id:` = seq, `data:` = the event.
last=$(seq_of flow)
wait_for 10 stream_has first "$last" && ok stream_reaches_the_end || bad stream_reaches_the_end "no id: $last"
stop_stream
"$bin" history --json --server "$url" --id flow >"$tmp/history.jsonl"
grep '^id: ' "$tmp/first" | sed 's/^id: //' >"$tmp/first.ids"
seq 1 "$last" | cmp -s - "$tmp/first.ids" && ok stream_each_event_once_in_order \
  || bad stream_each_event_once_in_order "ids: $(tr '\n' ' ' <"$tmp/first.ids")"
grep '^data: ' "$tmp/first" | sed 's/^data: //' | cmp -s - "$tmp/history.jsonl" && ok stream_data_is_history \
  || bad stream_data_is_history "data lines differ from history --json"
grep -vE '^(id: [0-9]+|data: \{.*\}|: keepalive|)$' "$tmp/first" | head -3 >"$tmp/odd"
[[ ! -s "$tmp/odd" ]] && ok stream_is_well_formed || bad stream_is_well_formed "$(cat "$tmp/odd")"
call GET /pipelines/flow/history
[[ $code == 200 && "$body" == "[$(paste -sd, "$tmp/history.jsonl")]" ]] && ok history_is_an_array_of_events \
  || bad history_is_an_array_of_events "HTTP $code: ${body:0:200}"
check history_unknown_pipeline GET /pipelines/nope/history - 404 "no pipeline 'nope'"

# Last-Event-ID resumes right after that seq, then goes on live.
stream resumed flow 5
wait_for 10 stream_has resumed "$last" || bad last_event_id_resumes "no id: $last"
grep '^id: ' "$tmp/resumed" | sed 's/^id: //' | tr '\n' ' ' >"$tmp/resumed.ids"
[[ "$(cat "$tmp/resumed.ids")" == "$(seq -s ' ' 6 "$last") " ]] && ok last_event_id_resumes \
  || bad last_event_id_resumes "ids: $(cat "$tmp/resumed.ids")"
code=$(curl -s -o "$tmp/answer" -w "%{http_code}" "${auth[@]}" -H "Last-Event-ID: soon" "$url/pipelines/flow/events")
[[ $code == 400 ]] && grep -q 'Last-Event-ID must be a seq' "$tmp/answer" && ok last_event_id_malformed \
  || bad last_event_id_malformed "HTTP $code: $(cat "$tmp/answer")"

# Context change: the cascade re-runs what is downstream; the stream sees it live.
before=$(seq_of flow)
check context_unknown_stage POST /pipelines/flow/stages/nope/context '{"context": {}}' 404 "pipeline 'flow' has no stage 'nope'"
check context_wrong_field POST /pipelines/flow/stages/idea/context '{"ctx": {}}' 400 'unknown field'
check context POST /pipelines/flow/stages/idea/context '{"context": {"goal": "v2"}, "by": "user:bob"}' 200 \
  '"name":"analyze","output":.*"status":"(outdated|running|completed)"'
wait_for 10 state_has flow '"pending_confirmation":\{"message":"Approve the design\?"' && ok context_cascades_to_confirmation \
  || bad context_cascades_to_confirmation "${body:0:300}"
expect context_recorded 0 "user:bob +context_changed +idea \{\"goal\":\"v2\"\}.*stage_started +analyze" -- \
  history --server "$url" --id flow
now=$(seq_of flow)
wait_for 10 stream_has resumed "$now" && ok stream_goes_on_live || bad stream_goes_on_live "no id: $now (was $before)"
stop_stream
grep '^id: ' "$tmp/resumed" | sed 's/^id: //' | cmp -s - <(seq 6 "$now") && ok stream_live_each_once \
  || bad stream_live_each_once "ids: $(grep '^id: ' "$tmp/resumed" | tr '\n' ' ')"

# Reject over the CLI: the stage runs again and asks again; default `by`.
expect reject_cli 0 "^seq [0-9]+: confirmation_resolved \(pipeline 'flow'\)" -- \
  reject --server "$url" --id flow --note "not yet" --by user:eve
expect rejected_recorded 0 "user:eve +confirmation_resolved +analyze rejected: not yet" -- history --server "$url" --id flow
wait_for 10 state_has flow '"pending_confirmation":\{' && ok asks_again_after_reject || bad asks_again_after_reject "${body:0:300}"
check reject_default_by POST /pipelines/flow/reject '{}' 200 '"pipeline":"flow"'
expect default_by_is_user_http 0 "user:http +confirmation_resolved +analyze rejected" -- history --server "$url" --id flow
wait_for 10 state_has flow '"pending_confirmation":\{' || bad asks_again_after_reject "${body:0:300}"
expect invalidate_cli 0 "context_changed \(pipeline 'flow'\)" -- invalidate idea --server "$url" --id flow --by user:bob
expect invalidate_keeps_context 0 'user:bob +context_changed +idea \{"goal":"v2"\}' -- history --server "$url" --id flow
expect invalidate_bad_context 2 "--context is not valid JSON" -- invalidate idea --server "$url" --id flow --context '{'
expect invalidate_unknown_stage 2 "has no stage 'nope'" -- invalidate nope --server "$url" --id flow
wait_for 10 state_has flow '"pending_confirmation":\{' || bad waits_again "${body:0:300}"

# Rollback.
check rollback_missing_to POST /pipelines/flow/rollback '{}' 400 'needs \\"to\\"'
check rollback_to_zero POST /pipelines/flow/rollback '{"to": 0}' 400 'needs \\"to\\"'
check rollback_to_text POST /pipelines/flow/rollback '{"to": "3"}' 400 'needs \\"to\\"'
check rollback_past_the_end POST /pipelines/flow/rollback '{"to": 99999}' 404 'no event with seq 99999'
check rollback POST /pipelines/flow/rollback '{"to": 3}' 200 '"pipeline":"flow"'
expect rollback_recorded 0 "rolled_back +to seq 3" -- history --server "$url" --id flow
wait_for 10 state_has flow '"pending_confirmation":\{' || bad waits_after_rollback "${body:0:300}"
expect rollback_cli 0 "^seq [0-9]+: rolled_back \(pipeline 'flow'\)" -- rollback --to 2 --server "$url" --id flow

# Cancel: one running stage, a stage that does not run, the whole pipeline.
check create_slow POST /pipelines "$(printf '{"spec": %s}' "$(tr -d '\n' <"$tmp/slow.json")")" 201 '"pipeline":"slow"'
wait_for 10 state_has slow '"name":"wait",[^}]*"status":"running"' && ok slow_runs || bad slow_runs "${body:0:300}"
check cancel_unknown_stage POST /pipelines/slow/cancel '{"stage": "nope"}' 404 "pipeline 'slow' has no stage 'nope'"
check cancel_stage_empty POST /pipelines/slow/cancel '{"stage": ""}' 400 'must name a stage'
check cancel_stage POST /pipelines/slow/cancel '{"stage": "wait", "by": "user:ana"}' 200 \
  '"name":"wait",[^}]*"status":"cancelled"'
check cancel_not_running POST /pipelines/slow/cancel '{"stage": "wait"}' 409 '"error":'
check cancel_pipeline POST /pipelines/flow-2/cancel '{}' 200 '"pipeline":"flow-2"'
expect cancelled_recorded 0 "stage_cancelled" -- history --server "$url" --id flow-2
expect cancel_cli_unknown_stage 2 "has no stage 'nope'" -- cancel nope --server "$url" --id flow

# The CLI's own errors.
expect unreachable_server 5 "cannot reach server http://127.0.0.1:1: " -- status --server http://127.0.0.1:1
expect unreachable_server_control 5 "cannot reach server" -- confirm --server http://127.0.0.1:1 --id flow
expect bad_server_url 2 "--server must look like http://HOST:PORT" -- history --server ftp://x
expect server_and_journal_exclusive 2 "excludes" -- status --server "$url" --journal "$j"
expect unknown_pipeline_cli 2 "no pipeline 'nope'" -- history --server "$url" --id nope

# (The bound on event streams and closed clients let go: events_test.sh.)

# --- Slow clients hold no thread ----------------------------------------------
# 32 connections (more than the 16 threads) each send a request head one byte
# a second (its end is 100 s away). While all of them are still open, other
# requests are answered; then the server cuts each off with 408 (a request
# must arrive whole within 10 s). The client's pace comes from `read -t 1`,
# which also sees the server's answer or close.
slow=$tmp/slow; mkdir -p "$slow"
slow_client() {  # I: one connection; files I.sent (bytes so far), I.answer, I.done
  local i=$1 k line got rc fd
  trap '' PIPE
  exec {fd}<>"/dev/tcp/127.0.0.1/$port" || { echo "no connection" >"$slow/$i.answer"; echo >"$slow/$i.done"; return; }
  local text
  text=$(printf 'GET /pipelines HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nX-Slow: %s\r\n\r\n' "$port" "$(head -c 60 /dev/zero | tr '\0' x)")
  for ((k = 0; k < ${#text}; k++)); do
    printf '%s' "${text:k:1}" >&"$fd" 2>/dev/null || break
    echo $((k + 1)) >"$slow/$i.sent"
    IFS= read -r -t 1 -u "$fd" line; rc=$?
    got+=$line  # read keeps what it had when its time ran out
    ((rc > 128)) && continue
    [[ $rc -eq 0 ]] && echo "$got" >"$slow/$i.answer" || echo "closed: ${got:-nothing}" >"$slow/$i.answer"
    break
  done
  exec {fd}<&-
  echo >"$slow/$i.done"
}
count_of() { find "$slow" -name "*.$1" | wc -l; }
all_sending() { [[ $(count_of sent) -eq 32 ]]; }
all_done() { [[ $(count_of done) -eq 32 ]]; }
for i in $(seq 1 32); do slow_client "$i" & slow_pids+=($!); done
wait_for 10 all_sending || bad slow_clients_connect "$(count_of sent) of 32 are sending"
answered=0
for path in /pipelines /pipelines/flow /pipelines/flow/history; do
  code=$(curl -s -o /dev/null -w "%{http_code}" -m 10 "${auth[@]}" "$url$path")
  [[ $code == 200 ]] && answered=$((answered + 1))
done
expect cli_answered_beside_slow_clients 0 "pipeline 'flow' at seq" -- status --server "$url" --id flow
check post_answered_beside_slow_clients POST /pipelines/nope/confirm '{}' 404 "no pipeline 'nope'"
still_open=$((32 - $(count_of done)))
[[ $answered -eq 3 && $still_open -eq 32 ]] && ok others_answered_while_slow_clients_send ||
  bad others_answered_while_slow_clients_send "$answered of 3 answered; $still_open of 32 slow connections still open"
if wait_for 40 all_done; then
  cut=$(cat "$slow"/*.answer | grep -c '^HTTP/1.1 408 Request Timeout')
  [[ $cut -eq 32 ]] && ok slow_clients_cut_off_with_408 ||
    bad slow_clients_cut_off_with_408 "$cut of 32: $(sort "$slow"/*.answer | uniq -c | head -3)"
else
  bad slow_clients_cut_off_with_408 "$(count_of done) of 32 ended within 40 s"
fi
slow_pids=()

# --- A port in use is an error, not a second server ------------------------------
expect http_port_in_use 2 "cannot listen for HTTP on 127.0.0.1:$port: Address already in use" -- \
  serve --journal "$tmp/second.db" --listen 127.0.0.1:0 --http "127.0.0.1:$port"
expect worker_port_in_use 2 "cannot listen for workers on 127.0.0.1:$wport: Address already in use" -- \
  serve --journal "$tmp/third.db" --listen "127.0.0.1:$wport" --http 127.0.0.1:0
check still_answering GET /pipelines/flow - 200 '"pipeline":"flow"'

# --- Beyond loopback (--allow-remote): the same rules -----------------------------
# On this host's own non-loopback address: the Host must be that address.
loop_port=$port loop_url=$url
addr=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.[0-9.]+$' | grep -v '^127\.' | head -1)
if [[ -n "$addr" ]]; then
  serve_into remote --journal "$tmp/remote.db" --listen 127.0.0.1:0 --http "$addr:0" --allow-remote
  url=http://$addr:$port
  raw remote_healthz_without_token 200 '^\{"ok":true\}$' "$url/healthz"
  raw remote_without_token 401 'needs it' "$url/pipelines"
  raw remote_wrong_token 401 '"error":"wrong token' -H "Authorization: Bearer wrong-token-of-some-length" "$url/pipelines"
  check remote_with_token GET /pipelines - 200 '^\[\]$'
  raw remote_loopback_name_refused 421 "it answers to $addr:$port \(" "${auth[@]}" -H "Host: localhost:$port" "$url/pipelines"
  XDG_CONFIG_HOME=$tmp/nowhere expect remote_cli_without_token 2 "no token was sent" -- status --server "$url"
  expect remote_cli_with_token 2 "hosts no pipeline" -- status --server "$url" --token-file "$token_file"
  kill -TERM "$remote"; wait "$remote"; rc=$?; remote=
  [[ $rc -eq 0 ]] && ok remote_server_stops || bad remote_server_stops "exit $rc"
else
  echo "skip remote_* (this host has no non-loopback IPv4 address)"
fi
# On every address (0.0.0.0): any address literal with its port, and
# localhost; a name only through --http-host (DNS can re-point names, not
# addresses).
serve_into remote --journal "$tmp/wild.db" --listen 127.0.0.1:0 --http 0.0.0.0:0 --allow-remote
raw wildcard_address_passes 200 '^\[\]$' "${auth[@]}" "http://127.0.0.1:$port/pipelines"
raw wildcard_localhost_passes 200 '^\[\]$' "${auth[@]}" -H "Host: localhost:$port" "http://127.0.0.1:$port/pipelines"
raw wildcard_name_refused 421 "it answers to any of this host's addresses:$port, localhost:$port " "${auth[@]}" \
  -H "Host: rebind.example:$port" "http://127.0.0.1:$port/pipelines"
kill -TERM "$remote"; wait "$remote"; remote=
url=$loop_url port=$loop_port

# A clean stop on SIGTERM, with a stream open: the stream ends, the server exits 0.
stream last flow
wait_for 10 grep -q "^id: 1$" "$tmp/last" || bad stream_before_stop "nothing streamed"
kill -TERM "$server"
gone() { ! kill -0 "$server" 2>/dev/null; }
if wait_for 10 gone; then
  wait "$server"; rc=$?; server=
  [[ $rc -eq 0 ]] && ok stops_cleanly_with_a_stream_open || bad stops_cleanly_with_a_stream_open "exit $rc"
else
  bad stops_cleanly_with_a_stream_open "still running 10 s after SIGTERM"
fi
ended() { ! kill -0 "${streams[-1]}" 2>/dev/null; }
wait_for 10 ended && ok stream_ends_with_the_server || bad stream_ends_with_the_server "curl still connected"
expect history_after_stop 0 "rolled_back" -- history --journal "$j" --id flow

finish
