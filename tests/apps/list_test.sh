#!/bin/bash
# `dairector list` and GET /pipelines (docs/cli.md#list, docs/http.md), from
# outside: every pipeline with its id, name, outcome (active, waiting, done,
# failed, cancelled), seq, created and last change, newest first, as lines or
# JSON Lines; --outcome X and ?outcome=X keep one outcome (an unknown one is
# exit 2 / 400); a server lists from what it holds (resting pipelines too)
# exactly what `list --journal` reads from its journal beside it.
# Usage: list_test.sh DAIRECTOR
set -u
bin=${1:?dairector binary}
source "$(dirname "$0")/lib.sh"
scratch_with_server
export XDG_CONFIG_HOME=$tmp/config  # the default token file, never the home's
runner=
trap 'stop_gently "$runner" "$server"; wait 2>/dev/null; rm -rf "$tmp"' EXIT
j=$tmp/j.db

cat >"$tmp/done.json" <<'JSON'
{"name": "fine", "stages": [{"name": "a", "run": {"builtin": "echo"}}]}
JSON
cat >"$tmp/failed.json" <<'JSON'
{"name": "broken", "stages": [{"name": "a", "run": {"builtin": "fail", "times": 9}}]}
JSON
cat >"$tmp/waiting.json" <<'JSON'
{"name": "asks", "stages": [{"name": "a", "run": {"builtin": "echo"}, "confirm": "go on?"}, {"name": "b", "after": ["a"], "run": {"builtin": "echo"}}]}
JSON
cat >"$tmp/slow.json" <<JSON
{"name": "slow", "stages": [{"name": "a", "run": {"command": ["sh", "-c", "echo \$\$ > '$tmp/started'; exec sleep 600"]}}]}
JSON
# JSON Lines of `list --json ARGS` -> "id:outcome ..." in the order printed.
ids_outcomes() { "$bin" list --json "$@" | python3 -c '
import json, sys
print(" ".join(d["pipeline"] + ":" + str(d["outcome"]) for d in map(json.loads, sys.stdin)))'; }
# Every line has the fields, and the order is newest first (created, then id).
check_lines() {  # NAME FILE
  python3 - "$2" <<'PY' && ok "$1" || bad "$1" "$(head -c 600 "$2")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])] if sys.argv[1].endswith(".jsonl") else json.load(open(sys.argv[1]))
assert rows, "empty"
for r in rows:
    assert sorted(r) == ["created", "last_change", "name", "outcome", "pipeline", "seq"], sorted(r)
    assert r["created"].endswith("Z") and r["last_change"] >= r["created"], r
    assert isinstance(r["seq"], int) and r["seq"] >= 1, r
keys = [(-1 * int(r["created"].replace("-", "").replace(":", "").replace("T", "").replace(".", "").rstrip("Z")), r["pipeline"]) for r in rows]
assert keys == sorted(keys), "not newest first: %s" % [r["pipeline"] for r in rows]
PY
}

# --- a journal with every outcome ------------------------------------------------
expect make_done 0 "done" -- run "$tmp/done.json" --id p-done --journal "$j"
expect make_failed 1 "failed" -- run "$tmp/failed.json" --id p-failed --journal "$j"
expect make_waiting 4 "waiting" -- run "$tmp/waiting.json" --id p-waiting --journal "$j"
# cancelled: Ctrl-C (SIGTERM) while its command runs.
"$bin" run "$tmp/slow.json" --id p-cancelled --journal "$j" >/dev/null 2>&1 &
runner=$!
wait_for 20 test -s "$tmp/started" || bad "slow_started" "its command never ran"
kill -TERM "$runner"; wait "$runner"; rc=$?; runner=
[[ $rc == 3 ]] && ok "make_cancelled" || bad "make_cancelled" "exit $rc"
rm -f "$tmp/started"
# active: the owner SIGKILLed while a stage runs (resume would carry it on).
"$bin" run "$tmp/slow.json" --id p-active --journal "$j" >/dev/null 2>&1 &
runner=$!
wait_for 20 test -s "$tmp/started" || bad "slow_started_again" "its command never ran"
kill -KILL "$runner"; wait "$runner" 2>/dev/null; runner=
kill -KILL "$(cat "$tmp/started")" 2>/dev/null  # its command (exec'd sleep), orphaned: by its own pid

got=$(ids_outcomes --journal "$j")
for want in p-done:done p-failed:failed p-waiting:waiting p-cancelled:cancelled p-active:active; do
  grep -qw -- "$want" <<<"$got" || bad "journal_outcome_$want" "got: $got"
done
ok "journal_lists_every_outcome"
"$bin" list --json --journal "$j" >"$tmp/list.jsonl"
check_lines journal_json_lines_newest_first "$tmp/list.jsonl"
same_order=$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["pipeline"] for l in open(sys.argv[1])))' "$tmp/list.jsonl")
[[ $same_order == "p-active p-cancelled p-waiting p-failed p-done" ]] && ok "newest_first_is_creation_order" \
  || bad "newest_first_is_creation_order" "$same_order"
for o in active waiting done failed cancelled; do
  [[ $(ids_outcomes --journal "$j" --outcome "$o") == "p-$o:$o" ]] && ok "journal_outcome_filter_$o" \
    || bad "journal_outcome_filter_$o" "$(ids_outcomes --journal "$j" --outcome "$o")"
done
expect unknown_outcome_refused 2 "--outcome must be one of active, waiting, done, failed, cancelled" -- \
  list --journal "$j" --outcome finished
expect plain_lines 0 "p-waiting +asks +waiting +seq 4 +created 20[0-9-]+T.*last change" -- list --journal "$j"
seq_done=$("$bin" history --journal "$j" --id p-done --json | tail -1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["seq"], d["at"])')
grep -q "\"seq\":${seq_done% *}" <(grep p-done "$tmp/list.jsonl") && grep -q "\"last_change\":\"${seq_done#* }\"" <(grep p-done "$tmp/list.jsonl") \
  && ok "seq_and_last_change_are_the_last_event" || bad "seq_and_last_change_are_the_last_event" "$(grep p-done "$tmp/list.jsonl") vs $seq_done"

# --- over HTTP: a server's list, resting pipelines included ----------------------------
token=$tmp/token
serve_into server --journal "$tmp/s.db" --token-file "$token" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
  --workdir "$tmp" --evict-after-ms 0
url="http://127.0.0.1:$port"
get() { code=$(curl -s -m 30 -o "$tmp/answer" -w "%{http_code}" -H "Authorization: Bearer $(head -1 "$token")" "$url$1"); }
for p in done failed waiting; do
  [[ $(http_create "$port" "$token" "$tmp/$p.json" "h-$p") == 201 ]] || bad "http_create_$p" "not 201"
done
wait_for 20 bash -c "[[ \$(curl -s -H 'Authorization: Bearer $(head -1 "$token")' '$url/pipelines?outcome=done') == *h-done* ]]" \
  || bad "http_done" "never listed done"
wait_for 20 bash -c "[[ \$(curl -s -H 'Authorization: Bearer $(head -1 "$token")' '$url/pipelines?outcome=failed') == *h-failed* ]]" \
  || bad "http_failed" "never listed failed"
wait_for 20 bash -c "[[ \$(curl -s -H 'Authorization: Bearer $(head -1 "$token")' '$url/pipelines?outcome=waiting') == *h-waiting* ]]" \
  || bad "http_waiting" "never listed waiting"
# Finished pipelines rest at once (--evict-after-ms 0): listed from the director, not rebuilt.
get /pipelines
[[ $code == 200 ]] && cp "$tmp/answer" "$tmp/http.json" && check_lines http_fields_newest_first "$tmp/http.json" || bad "http_list" "HTTP $code"
get "/pipelines?outcome=waiting"
[[ $code == 200 && $(python3 -c 'import json,sys; print([d["pipeline"] for d in json.load(open(sys.argv[1]))])' "$tmp/answer") == "['h-waiting']" ]] \
  && ok "http_outcome_filter" || bad "http_outcome_filter" "HTTP $code $(cat "$tmp/answer")"
get "/pipelines?outcome=finished"
[[ $code == 400 ]] && grep -q "must be one of" "$tmp/answer" && ok "http_unknown_outcome_400" || bad "http_unknown_outcome_400" "HTTP $code"
# The server's list is what the journal beside it says, field for field.
"$bin" list --json --server "$url" --token-file "$token" >"$tmp/server.jsonl"
"$bin" list --json --journal "$tmp/s.db" >"$tmp/journal.jsonl"
diff "$tmp/server.jsonl" "$tmp/journal.jsonl" >/dev/null && ok "server_list_equals_journal_list" \
  || bad "server_list_equals_journal_list" "$(diff "$tmp/server.jsonl" "$tmp/journal.jsonl" | head -5)"
expect server_outcome_filter 0 "h-failed" -- list --server "$url" --token-file "$token" --outcome failed
expect server_unknown_outcome 2 "must be one of" -- list --server "$url" --token-file "$token" --outcome nope

finish
