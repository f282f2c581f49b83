#!/bin/bash
# The pipeline's input given at creation (docs/protocol.md#the-input), from
# outside: `run --input JSON|@FILE`, `run --server ... --input` and "input" in
# the body of POST /pipelines reach every stage's command as "input" (beside
# "inputs", the upstream outputs by name), in process and on a remote worker,
# are recorded in pipeline_created (history --json) and shown by status --json;
# a run without one gives "input": null and records nothing; bad JSON, a file
# that cannot be read and a value past the bounds are exit 2 naming the option
# or the file (400 over HTTP), and nothing is created.
# Usage: inputs_test.sh DAIRECTOR
set -u
bin=${1:?dairector binary}
source "$(dirname "$0")/lib.sh"
scratch_with_server
export XDG_CONFIG_HOME=$tmp/config  # the default token file, never the home's
worker=
trap 'stop_gently "$worker" "$server"; wait 2>/dev/null; rm -rf "$tmp"' EXIT

# a (echo) -> b (a command that keeps its standard input in $tmp/ID.b.json).
spec_for() {  # ID
  cat >"$tmp/$1.json" <<JSON
{"name": "inputs", "stages": [
  {"name": "a", "run": {"builtin": "echo"}},
  {"name": "b", "after": ["a"], "run": {"command": ["sh", "-c", "cat > \"\$0\"; echo '{}'", "$tmp/$1.b.json"]}}]}
JSON
}
# field FILE JQ_EXPR: the compact JSON of EXPR in FILE.
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps(eval(sys.argv[2], {"d": d}), sort_keys=True, separators=(",", ":")))' "$1" "$2"; }
same() {  # NAME GOT WANT
  [[ $2 == "$3" ]] && ok "$1" || bad "$1" "got $2, expected $3"
}

# --- run --input JSON ------------------------------------------------------------
spec_for cli
expect run_with_input 0 "done" -- run "$tmp/cli.json" --id cli --journal "$tmp/j.db" --input '{"topic": "retries", "n": [1, 2]}'
given='{"n":[1,2],"topic":"retries"}'
same command_gets_input "$(field "$tmp/cli.b.json" 'd["input"]')" "$given"
same command_gets_inputs_by_name "$(field "$tmp/cli.b.json" 'sorted(d["inputs"])')" '["a"]'
same echo_output_has_input "$(field "$tmp/cli.b.json" 'd["inputs"]["a"]["input"]')" "$given"
"$bin" history --journal "$tmp/j.db" --id cli --json | head -1 >"$tmp/created.json"
same history_records_input "$(field "$tmp/created.json" '[d["type"], d["input"]]')" "[\"pipeline_created\",$given]"
"$bin" status --journal "$tmp/j.db" --id cli --json >"$tmp/status.json"
same status_shows_input "$(field "$tmp/status.json" 'd["input"]')" "$given"

# --- run without --input: null for the command, nothing recorded --------------------
spec_for none
expect run_without_input 0 "done" -- run "$tmp/none.json" --id none --journal "$tmp/j.db"
same no_input_is_null "$(field "$tmp/none.b.json" 'd["input"]')" null
"$bin" history --journal "$tmp/j.db" --id none --json | head -1 >"$tmp/created.json"
same no_input_not_recorded "$(field "$tmp/created.json" '"input" in d')" false
same no_input_echo_unchanged "$(field "$tmp/none.b.json" 'sorted(d["inputs"]["a"])')" '["context","inputs"]'

# --- --input @FILE ---------------------------------------------------------------
spec_for file
printf '"a string\\twith a tab"\n' >"$tmp/input.json"
expect run_with_input_file 0 "done" -- run "$tmp/file.json" --id file --journal "$tmp/j.db" --input "@$tmp/input.json"
same input_from_file "$(field "$tmp/file.b.json" 'd["input"]')" '"a string\twith a tab"'

# --- bad --input: exit 2, a sentence naming it, nothing created --------------------
spec_for bad
expect bad_json_named 2 "--input is not valid JSON" -- run "$tmp/bad.json" --id bad --journal "$tmp/j.db" --input '{"topic":'
expect missing_file_named 2 "nope.json: cannot open the --input file" -- run "$tmp/bad.json" --id bad --journal "$tmp/j.db" --input "@$tmp/nope.json"
expect directory_refused 2 "the --input file is a directory" -- run "$tmp/bad.json" --id bad --journal "$tmp/j.db" --input "@$tmp"
python3 -c 'print("[" * 300 + "]" * 300)' >"$tmp/deep.json"
expect deep_input_refused 2 "the --input file .*deep" -- run "$tmp/bad.json" --id bad --journal "$tmp/j.db" --input "@$tmp/deep.json"
printf '{"k": 1, "k": 2}' >"$tmp/twice.json"
expect duplicate_key_refused 2 "twice|more than once|duplicate" -- run "$tmp/bad.json" --id bad --journal "$tmp/j.db" --input "@$tmp/twice.json"
[[ ! -e $tmp/bad.b.json ]] && ! "$bin" history --journal "$tmp/j.db" --id bad >/dev/null 2>&1 \
  && ok "bad_input_creates_nothing" || bad "bad_input_creates_nothing" "pipeline 'bad' exists"

# --- over HTTP: "input" in POST /pipelines, and run --server --input -----------------
token=$tmp/token
serve_into server --journal "$tmp/s.db" --token-file "$token" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
  --workdir "$tmp" --remote-stages b
wport=$(grep -o 'workers on 127.0.0.1:[0-9]*' "$tmp/server.err" | grep -o '[0-9]*$')
"$bin" worker --connect "127.0.0.1:$wport" --token-file "$token" --name w1 --stages b >"$tmp/worker.log" 2>&1 &
worker=$!
url="http://127.0.0.1:$port"
post() {  # BODY: sets $code and $body
  code=$(curl -s -m 30 -o "$tmp/answer" -w "%{http_code}" -X POST -H "Authorization: Bearer $(head -1 "$token")" \
    -H 'Content-Type: application/json' --data-binary "$1" "$url/pipelines")
  body=$(cat "$tmp/answer")
}
get() { curl -s -m 30 -H "Authorization: Bearer $(head -1 "$token")" "$url$1"; }
spec_for web
post "{\"spec\": $(cat "$tmp/web.json"), \"id\": \"web\", \"input\": {\"question\": \"line\\nbreak\"}}"
same http_create_with_input "$code" 201
wait_for 20 test -s "$tmp/web.b.json" || bad "http_remote_worker_ran" "no input file: $(tail -3 "$tmp/worker.log")"
same http_remote_command_gets_input "$(field "$tmp/web.b.json" 'd["input"]')" '{"question":"line\nbreak"}'
get /pipelines/web/history >"$tmp/history.json"
same http_history_records_input "$(field "$tmp/history.json" 'd[0]["input"]')" '{"question":"line\nbreak"}'
get /pipelines/web >"$tmp/state.json"
same http_state_shows_input "$(field "$tmp/state.json" 'd["input"]')" '{"question":"line\nbreak"}'
deep=$(python3 -c 'print("[" * 252 + "]" * 252)')
spec_for web2
post "{\"spec\": $(cat "$tmp/web2.json"), \"id\": \"web2\", \"input\": $deep}"
[[ $code == 400 ]] && grep -q '"input' <<<"$body" && ok "http_deep_input_400" || bad "http_deep_input_400" "HTTP $code: ${body:0:200}"
[[ $(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $(head -1 "$token")" "$url/pipelines/web2") == 404 ]] \
  && ok "http_bad_input_creates_nothing" || bad "http_bad_input_creates_nothing" "web2 exists"
spec_for srv
expect run_server_with_input 0 "done" -- run "$tmp/srv.json" --id srv --server "$url" --token-file "$token" --input '[true, null]'
same run_server_command_gets_input "$(field "$tmp/srv.b.json" 'd["input"]')" '[true,null]'
expect run_server_bad_input 2 "--input is not valid JSON" -- run "$tmp/srv.json" --id srv2 --server "$url" --token-file "$token" --input 'nope'

finish
