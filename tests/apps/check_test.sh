#!/bin/bash
# `dairector check` from outside the process: exit codes and messages
# (CONTRACT.md §1, §4). Usage: check_test.sh DAIRECTOR EXAMPLES_DIR
set -u
bin=${1:?dairector binary}
examples=${2:?examples dir}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# expect NAME CODE PATTERN SPEC-TEXT-OR-@FILE
expect() {
  local name=$1 code=$2 pattern=$3 spec=$4 file
  if [[ $spec == @* ]]; then file=${spec#@}; else file=$tmp/$name.json; printf '%s' "$spec" >"$file"; fi
  local out rc
  out=$("$bin" check "$file" 2>&1); rc=$?
  if [[ $rc -ne $code ]]; then
    echo "FAIL $name: exit $rc, expected $code; output: $out"; failed=$((failed + 1)); return
  fi
  if ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL $name: output does not match /$pattern/: $out"; failed=$((failed + 1)); return
  fi
  echo "ok   $name"; passed=$((passed + 1))
}

E='"run": {"builtin": "echo"}'
expect example        0 "^  6 +validate +execute +- "           "@$examples/dairector.json"
expect fan_out_in     0 "^  5 +package +lint,test,docs +publish" "@$examples/release.json"
expect missing_file   2 "cannot open the spec file"              "@$tmp/does-not-exist.json"
expect not_json       2 "not valid JSON.*line 1"                 '{"name": "x", "stages": [}'
expect no_stages      2 "no stages"                              '{"name": "x", "stages": []}'
expect bad_name       2 "bad name 'Bad Name'"                    "{\"name\": \"x\", \"stages\": [{\"name\": \"Bad Name\", $E}]}"
expect duplicate      2 "stage 'a': duplicate stage name"        "{\"name\": \"x\", \"stages\": [{\"name\": \"a\", $E}, {\"name\": \"a\", $E}]}"
expect unknown_after  2 "stage 'a': \"after\" names unknown stage 'ghost'" "{\"name\": \"x\", \"stages\": [{\"name\": \"a\", \"after\": [\"ghost\"], $E}]}"
expect cycle          2 "'a', 'b' form a cycle"                  "{\"name\": \"x\", \"stages\": [{\"name\": \"a\", \"after\": [\"b\"], $E}, {\"name\": \"b\", \"after\": [\"a\"], $E}]}"
expect bad_run        2 "stage 'a': unknown builtin 'teleport'"  '{"name": "x", "stages": [{"name": "a", "run": {"builtin": "teleport"}}]}'
expect no_run         2 "stage 'a': \"run\" is missing"          '{"name": "x", "stages": [{"name": "a"}]}'
expect bad_on_failure 2 "stage 'b': on_failure.rerun 'c' is not upstream" "{\"name\": \"x\", \"stages\": [{\"name\": \"a\", $E}, {\"name\": \"b\", \"after\": [\"a\"], $E, \"on_failure\": {\"rerun\": \"c\", \"max_attempts\": 2}}, {\"name\": \"c\", \"after\": [\"a\"], $E}]}"
expect unknown_field  2 "stage 'a': unknown field 'aftr'"        "{\"name\": \"x\", \"stages\": [{\"name\": \"a\", \"aftr\": [], $E}]}"

out=$("$bin" check 2>&1); rc=$?
if [[ $rc -eq 2 ]]; then echo "ok   usage_error"; passed=$((passed + 1)); else echo "FAIL usage_error: exit $rc: $out"; failed=$((failed + 1)); fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
