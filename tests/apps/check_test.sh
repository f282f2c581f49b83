#!/bin/bash
# `dairector check` from outside the process: exit codes and messages
# (docs/spec.md, docs/cli.md). Usage: check_test.sh DAIRECTOR EXAMPLES_DIR
set -u
bin=${1:?dairector binary}
examples=${2:?examples dir}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib.sh"

# check NAME CODE PATTERN SPEC-TEXT-OR-@FILE
check() {
  local name=$1 code=$2 pattern=$3 spec=$4 file
  if [[ $spec == @* ]]; then file=${spec#@}; else file=$tmp/$name.json; printf '%s' "$spec" >"$file"; fi
  local out rc
  out=$("$bin" check "$file" 2>&1); rc=$?
  [[ $rc -eq $code ]] || { bad "$name" "exit $rc, expected $code; output: $out"; return; }
  grep -qE -- "$pattern" <<<"$out" || { bad "$name" "output does not match /$pattern/: $out"; return; }
  ok "$name"
}

E='"run": {"builtin": "echo"}'
check example        0 "^  6 +validate +execute +- "           "@$examples/dairector.json"
check fan_out_in     0 "^  5 +package +lint,test,docs +publish" "@$examples/release.json"
check missing_file   2 "cannot open the spec file"              "@$tmp/does-not-exist.json"
check not_json       2 "not valid JSON.*line 1"                 '{"name": "x", "stages": [}'
check no_stages      2 "no stages"                              '{"name": "x", "stages": []}'
check bad_name       2 "bad name 'Bad Name'"                    "{\"name\": \"x\", \"stages\": [{\"name\": \"Bad Name\", $E}]}"
check duplicate      2 "stage 'a': duplicate stage name"        "{\"name\": \"x\", \"stages\": [{\"name\": \"a\", $E}, {\"name\": \"a\", $E}]}"
check unknown_after  2 "stage 'a': \"after\" names unknown stage 'ghost'" "{\"name\": \"x\", \"stages\": [{\"name\": \"a\", \"after\": [\"ghost\"], $E}]}"
check cycle          2 "'a', 'b' form a cycle"                  "{\"name\": \"x\", \"stages\": [{\"name\": \"a\", \"after\": [\"b\"], $E}, {\"name\": \"b\", \"after\": [\"a\"], $E}]}"
check bad_run        2 "stage 'a': unknown builtin 'teleport'"  '{"name": "x", "stages": [{"name": "a", "run": {"builtin": "teleport"}}]}'
check no_run         2 "stage 'a': \"run\" is missing"          '{"name": "x", "stages": [{"name": "a"}]}'
check bad_on_failure 2 "stage 'b': on_failure.rerun 'c' is not upstream" "{\"name\": \"x\", \"stages\": [{\"name\": \"a\", $E}, {\"name\": \"b\", \"after\": [\"a\"], $E, \"on_failure\": {\"rerun\": \"c\", \"max_attempts\": 2}}, {\"name\": \"c\", \"after\": [\"a\"], $E}]}"
check unknown_field  2 "stage 'a': unknown field 'aftr'"        "{\"name\": \"x\", \"stages\": [{\"name\": \"a\", \"aftr\": [], $E}]}"

out=$("$bin" check 2>&1); rc=$?
[[ $rc -eq 2 ]] && ok "usage_error" || bad "usage_error" "exit $rc: $out"
finish
