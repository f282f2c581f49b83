#!/bin/bash
# GET /openapi.json (docs/http.md#the-api-description), both ways:
#   - docs/openapi.json is OpenAPI 3.1 by the rules that can be checked
#     offline (openapi_check.py structure), and the server answers exactly it;
#   - every route the server dispatches (its route table, `serve --list-routes`)
#     is described, and every described operation is a route;
#   - every described operation, called on a real server with the document's
#     own examples, answers one of its documented statuses and content types
#     (never 405, never 404 "no such path");
#   - the checks can fail: a route left out of a copy of the document, a
#     broken $ref and an undocumented status are each found.
# Usage: openapi_test.sh DAIRECTOR DOCS_OPENAPI_JSON
set -u
bin=${1:?dairector binary}
doc=${2:?docs/openapi.json}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
scratch_with_server
export XDG_CONFIG_HOME=$tmp/config  # the default token file, never the home's
check=$here/openapi_check.py


# expect_ok NAME COMMAND...: COMMAND succeeds (its output shown if not).
expect_ok() {
  local name=$1 out; shift
  if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi
}
# expect_fails NAME PATTERN COMMAND...: COMMAND fails saying PATTERN.
expect_fails() {
  local name=$1 pattern=$2 out; shift 2
  if out=$("$@" 2>&1); then bad "$name" "passed"; elif grep -q -- "$pattern" <<<"$out"; then ok "$name"; else bad "$name" "$out"; fi
}

expect_ok "structure" python3 "$check" structure "$doc"
"$bin" serve --list-routes >"$tmp/routes" || bad "list_routes" "exit $?"
[[ $(wc -l <"$tmp/routes") -ge 14 ]] || bad "list_routes" "$(cat "$tmp/routes")"
expect_ok "every_route_described" python3 "$check" routes "$doc" <"$tmp/routes"

# The checks find what they are for (on copies of the document).
python3 - "$doc" "$tmp" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
out = sys.argv[2]
d = json.loads(json.dumps(doc)); del d["paths"]["/pipelines/{id}/history"]
json.dump(d, open(out + "/no_history.json", "w"))
d = json.loads(json.dumps(doc)); d["paths"]["/pipelines"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["items"]["$ref"] = "#/components/schemas/Nope"
json.dump(d, open(out + "/bad_ref.json", "w"))
d = json.loads(json.dumps(doc)); del d["paths"]["/pipelines"]["post"]["responses"]["201"]
d["paths"]["/pipelines"]["post"]["requestBody"]["content"]["application/json"]["example"]["id"] = "example2"  # a new one: 201
json.dump(d, open(out + "/no_201.json", "w"))
d = json.loads(json.dumps(doc)); d["paths"]["/pipelines/{id}/cancel"]["post"]["parameters"] = []
json.dump(d, open(out + "/no_id.json", "w"))
PY
expect_fails "finds_a_route_not_described" "GET /pipelines/{id}/history is a route of the server, not described" \
  python3 "$check" routes "$tmp/no_history.json" <"$tmp/routes"
expect_fails "finds_a_bad_ref" "does not resolve" python3 "$check" structure "$tmp/bad_ref.json"
expect_fails "finds_an_undeclared_path_parameter" "path parameters declared" python3 "$check" structure "$tmp/no_id.json"

"$bin" serve --journal "$tmp/j.db" --listen 127.0.0.1:0 --http 127.0.0.1:0 --workdir "$tmp" >"$tmp/server.log" 2>&1 &
server=$!
serve_ready "$tmp/server.log" || { bad "server_start" "$(tail -3 "$tmp/server.log")"; finish; exit 1; }
token=$(head -1 "$XDG_CONFIG_HOME/dairector/token")

code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 "http://127.0.0.1:$port/openapi.json")
[[ $code == 401 ]] && ok "openapi_needs_token" || bad "openapi_needs_token" "HTTP $code"
curl -s -m 10 -H "Authorization: Bearer $token" "http://127.0.0.1:$port/openapi.json" >"$tmp/served.json"
cmp -s "$tmp/served.json" "$doc" && ok "serves_the_document" || bad "serves_the_document" "differs from $doc"

if live=$(python3 "$check" live "$doc" "$port" "$token" 2>&1); then
  ok "every_operation_answers"
else
  bad "every_operation_answers" "$live"
fi
expect_fails "finds_an_undocumented_status" "201 is not a documented status" \
  python3 "$check" live "$tmp/no_201.json" "$port" "$token"

# The example pipeline runs builtins, which keep no log (404, documented):
# a pipeline whose 'fetch' is a command has one, and GET .../logs is called
# live on it, plain and followed (copies of the document that name it).
cat >"$tmp/logged.json" <<'EOF'
{"name": "logged", "stages": [{"name": "fetch", "after": [],
  "run": {"command": ["sh", "-c", "cat >/dev/null; echo fetched >&2; echo '{}'"]}}]}
EOF
[[ $(http_create "$port" "$XDG_CONFIG_HOME/dairector/token" "$tmp/logged.json" logged) == 201 ]] || bad "create_logged" "not 201"
logs_url="http://127.0.0.1:$port/pipelines/logged/stages/fetch/logs"
wait_for 30 bash -c "[[ \$(curl -s -H 'Authorization: Bearer $token' '$logs_url') == fetched ]]" \
  && ok "a_log_exists" || bad "a_log_exists" "$(curl -s -H "Authorization: Bearer $token" "$logs_url")"
for follow in 0 1; do
  python3 - "$doc" "$tmp/logs_$follow.json" "$follow" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["components"]["parameters"]["id"]["example"] = "logged"
d["paths"] = {"/pipelines/{id}/stages/{stage}/logs": d["paths"]["/pipelines/{id}/stages/{stage}/logs"]}
for p in d["paths"]["/pipelines/{id}/stages/{stage}/logs"]["get"]["parameters"]:
    if p.get("name") == "follow": p["example"] = sys.argv[3]
    if p.get("name") == "run": p["example"] = 2  # the first stage's first run (run 1 is the pipeline's creation)
ok = d["paths"]["/pipelines/{id}/stages/{stage}/logs"]["get"]["responses"]["200"]
d["paths"]["/pipelines/{id}/stages/{stage}/logs"]["get"]["responses"] = {"200": ok}  # nothing else will do
json.dump(d, open(sys.argv[2], "w"))
PY
  if out=$(python3 "$check" live "$tmp/logs_$follow.json" "$port" "$token" 2>&1); then ok "logs_live_follow_$follow"; else bad "logs_live_follow_$follow" "$out"; fi
done

finish
