#!/bin/bash
# Input that used to crash or exhaust the process, from outside, at every
# entry point: JSON nested too deep (a spec, a command's output, a chain of
# echo that grows, an HTTP body, --context, a journal row), input too large or
# that never ends (/dev/zero, a FIFO, a huge file), control characters where
# names and messages enter and in what is printed (an old journal that holds
# them prints them escaped), and a key given twice in any JSON from outside.
# Each case failed on 31a5bc6 (a crash, a hang, or input silently accepted).
# Usage: hostile_input_test.sh DAIRECTOR EXAMPLES_DIR
set -u
bin=${1:?dairector binary}
[[ $bin == /* ]] || bin=$PWD/$bin  # the cases run in their scratch folder
examples=${2:?examples dir}
data=$(cd "$(dirname "$0")" && pwd)/data
source "$(dirname "$0")/lib.sh"
scratch_with_server
cd "$tmp" || exit 1
: "$examples"

# nest N [INNER]: N opening brackets, INNER, N closing ones.
nest() { printf '%*s' "$1" '' | tr ' ' '['; printf '%s' "${2:-}"; printf '%*s' "$1" '' | tr ' ' ']'; }
# spec NAME STAGES-JSON: writes NAME.json, prints its path.
spec() { printf '{"name": "%s", "stages": %s}' "$1" "$2" >"$tmp/$1.json"; echo "$tmp/$1.json"; }
E='"run": {"builtin": "echo"}'
# no_raw_control FILE: the file holds no C0 control byte but newline, no DEL
# and no C1 (UTF-8 C2 80..9F).
no_raw_control() { ! LC_ALL=C grep -qP '[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$1"; }

# ---------------------------------------------------------------- too deep

# A spec whose deep part the old code printed (unknown builtin: dumped) crashed `check`.
printf '{"name": "x", "stages": [{"name": "a", "run": {"builtin": %s}}]}' "$(nest 70000)" >"$tmp/deep_spec.json"
expect deep_spec 2 "deep_spec.json nests deeper than 256 arrays and objects" -- check "$tmp/deep_spec.json"

# A command whose output nests 70,000 deep killed `run` with SIGSEGV.
printf '#!/bin/sh\nprintf %%s "%s"\n' "$(nest 70000)" >"$tmp/deep.sh"
chmod +x "$tmp/deep.sh"
deep_run=$(spec deep_run "[{\"name\": \"a\", \"run\": {\"command\": [\"./deep.sh\"]}}, {\"name\": \"b\", \"after\": [\"a\"], $E}]")
expect deep_output 1 "stage 'a' failed: the command's output nests deeper than 248 arrays and objects" \
  -- run "$deep_run" --journal deep.db
expect deep_output_history 0 "stage_failed +a run 2: the command's output nests deeper than 248" \
  -- history --journal deep.db
expect deep_output_resume 1 "pipeline 'deep_run' failed" -- resume --journal deep.db

# echo nests its inputs: a chain of 130 grows 2 levels a stage and must fail
# where it passes the bound (stage 125), not write what cannot be read back.
stages="[{\"name\": \"s1\", $E}"
for ((k = 2; k <= 130; k++)); do stages+=", {\"name\": \"s$k\", \"after\": [\"s$((k - 1))\"], $E}"; done
echo_chain=$(spec echo_chain "$stages]")
expect echo_chain_fails 1 "stage 's125' failed: the output of builtin echo nests deeper than 248 arrays and objects" \
  -- run "$echo_chain" --journal chain.db
expect echo_chain_status 0 "s124 +completed .* s125 +failed" -- status --journal chain.db

# --context: the old code wrote any depth (60,000: an argument is at most 128 KiB).
confirm_spec=$(spec ctl "[{\"name\": \"a\", $E}, {\"name\": \"b\", \"after\": [\"a\"], $E, \"confirm\": \"go?\"}]")
"$bin" run "$confirm_spec" --journal ctl.db >/dev/null 2>&1  # waits for the confirmation: exit 4
expect deep_context 2 "--context nests deeper than 248 arrays and objects" \
  -- invalidate a --journal ctl.db --context "$(nest 60000)"
expect context_past_value_bound 2 "--context nests deeper than 248 arrays and objects" \
  -- invalidate a --journal ctl.db --context "$(nest 249)"
expect context_at_value_bound 0 "seq 7: context_changed" -- invalidate a --journal ctl.db --context "$(nest 248)"

# A journal row deeper than any admitted value (written by the old code):
# damage named by pipeline and seq, exit 5, not a crash or a silent read.
old=$tmp/old.db
cp "$data/old_hostile.db" "$old"
expect deep_row_history 5 "pipeline 'deep', event seq 7: event context_changed: \"context\" nests deeper than 248" \
  -- history --journal "$old" --id deep
expect deep_row_resume 5 "pipeline 'deep', event seq 7" -- resume --journal "$old" --id deep

# ---------------------------------------------------------------- too large, never ending

# /dev/zero grew `check` to 12 GB: bounded here to 1 GB so that a regression
# fails instead of eating the machine. ASan reserves terabytes of address
# space for its shadow memory, so under it the bound is on resident memory.
if ldd "$bin" | grep -q libasan; then
  out=$(ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}hard_rss_limit_mb=1000 timeout -k 5 20 "$bin" check /dev/zero 2>&1); rc=$?
else
  out=$( (ulimit -v 1000000; timeout -k 5 20 "$bin" check /dev/zero) 2>&1); rc=$?
fi
[[ $rc -eq 2 && $out == *"/dev/zero: the spec file is a character device, not a regular file"* ]] \
  && ok dev_zero || bad dev_zero "exit $rc: ${out:0:200}"
mkfifo "$tmp/fifo.json"
out=$(timeout -k 5 20 "$bin" check "$tmp/fifo.json" 2>&1); rc=$?
[[ $rc -eq 2 && $out == *"fifo.json: the spec file is a FIFO, not a regular file"* ]] \
  && ok fifo_spec || bad fifo_spec "exit $rc (124: it hung): ${out:0:200}"
truncate -s 17M "$tmp/huge.json"
expect huge_spec 2 "huge.json: the spec file is larger than 16 MiB" -- check "$tmp/huge.json"
mkfifo -m 600 "$tmp/token.fifo"
out=$(timeout -k 5 20 "$bin" status --server http://127.0.0.1:9 --token-file "$tmp/token.fifo" 2>&1); rc=$?
[[ $rc -eq 2 && $out == *"the token file is a FIFO"* ]] && ok fifo_token || bad fifo_token "exit $rc: ${out:0:200}"

# ---------------------------------------------------------------- control characters

forge=$'user:mallory\n    9  2027-01-01T00:00:00.000Z  user:admin     rolled_back            to seq 1'
"$bin" run "$confirm_spec" --journal cc.db >/dev/null 2>&1
expect by_newline 2 "--by: holds a control character \(\\\\n\) at byte 12" -- confirm --journal cc.db --by "$forge"
expect by_escape 2 "--by: holds a control character \(\\\\x1b\)" -- cancel --journal cc.db --by $'user:\e[2Jx'
expect by_del 2 "--by: holds a control character \(\\\\x7f\)" -- cancel --journal cc.db --by $'user:x\x7f'
expect by_c1 2 "--by: holds a control character \(\\\\u009b\)" -- cancel --journal cc.db --by $'user:\xc2\x9b31m'
expect by_not_utf8 2 "--by: is not valid UTF-8" -- cancel --journal cc.db --by $'user:\xff'
expect note_escape 2 "--note: holds a control character" -- confirm --journal cc.db --note $'ok\e]0;pwned\a'
expect id_newline 2 "--id: holds a control character" -- run "$confirm_spec" --journal cc.db --id $'ctl\n2'
expect worker_name 2 "--name: holds a control character" \
  -- worker --token-file "$tmp/none" --stages a --name $'w1\nforged'
check_confirm=$(spec confirm_cc "[{\"name\": \"a\", $E, \"confirm\": \"ship?\\n    3  forged\"}]")
expect confirm_message 2 "stage 'a': \"confirm\" holds a control character \(\\\\n\)" -- check "$check_confirm"
expect history_untouched 0 "confirmation_requested +b: go\?" -- history --journal cc.db
# Plain text in any script still goes in.
expect by_unicode 0 "seq 7: confirmation_resolved" -- confirm --journal cc.db --by "user:Zoë ✓" --note "日本 ok"
expect by_unicode_history 0 "user:Zoë ✓ +confirmation_resolved +b approved: 日本 ok" -- history --journal cc.db

# An old journal that holds a forged `by` and escape sequences prints them
# escaped: one line for each of its 7 events, no escape sequence reaches the
# terminal.
"$bin" history --journal "$old" --id forged >"$tmp/forged.out" 2>&1; rc=$?
if [[ $rc -eq 0 ]] && [[ $(wc -l <"$tmp/forged.out") -eq 7 ]] && ! grep -q "^    5  2027" "$tmp/forged.out" &&
  grep -qF 'user:mallory\n    5  2027-01-01T00:00:00.000Z  user:admin' "$tmp/forged.out" &&
  grep -qF 'approved: \x1b[31mall good\x1b[0m' "$tmp/forged.out" && no_raw_control "$tmp/forged.out"; then
  ok old_journal_history_escaped
else
  bad old_journal_history_escaped "exit $rc: $(cat -A "$tmp/forged.out" | head -12)"
fi
"$bin" status --journal "$old" --id esc >"$tmp/esc.out" 2>&1; rc=$?
[[ $rc -eq 0 ]] && grep -qF 'stderr: \x1b[2J\x1b[Hscreen cleared\nsecond line' "$tmp/esc.out" && no_raw_control "$tmp/esc.out" \
  && ok old_journal_status_escaped || bad old_journal_status_escaped "exit $rc: $(cat -A "$tmp/esc.out")"

# A command's stderr with escape sequences and bytes that are not UTF-8:
# the old `run` died of an exception writing the event (and hung).
noisy=$(spec noisy '[{"name": "a", "run": {"command": ["sh", "-c", "printf \"\\033[2J\\377\\nboom\" >&2; exit 3"]}}]')
out=$(timeout -k 5 30 "$bin" run "$noisy" --journal noisy.db 2>&1); rc=$?
printf '%s' "$out" >"$tmp/noisy.out"
[[ $rc -eq 1 && $out == *'stderr: \x1b[2J\xff\nboom'* ]] && no_raw_control "$tmp/noisy.out" \
  && ok stderr_escaped || bad stderr_escaped "exit $rc: $(cat -A "$tmp/noisy.out" | tail -3)"
expect stderr_history 0 'stage_failed +a run 2: exited with status 3; stderr: \\x1b\[2J\\xff\\nboom' \
  -- history --journal noisy.db

# ---------------------------------------------------------------- keys given twice

printf '{"name": "x", "stages": [{"name": "a", %s}], "name": "y"}' "$E" >"$tmp/dup.json"
expect dup_top_level 2 "dup.json has the key \"name\" twice in the top-level object" -- check "$tmp/dup.json"
expect dup_nested 2 "dup2.json has the key \"command\" twice in stages\[0\].run" \
  -- check "$(spec dup2 '[{"name": "a", "run": {"command": ["true"], "command": ["false"]}}]')"
printf '#!/bin/sh\necho %s\n' "'{\"ok\": true, \"ok\": false}'" >"$tmp/dup.sh"
chmod +x "$tmp/dup.sh"
expect dup_output 1 "the command's output has the key \"ok\" twice in the top-level object" \
  -- run "$(spec dup_out '[{"name": "a", "run": {"command": ["./dup.sh"]}}]')" --journal dup.db
"$bin" run "$confirm_spec" --journal dupctx.db >/dev/null 2>&1
expect dup_context 2 "--context has the key \"k\" twice in the top-level object" \
  -- invalidate a --journal dupctx.db --context '{"k": 1, "k": 2}'

# ---------------------------------------------------------------- over HTTP

"$bin" serve --journal served.db --listen 127.0.0.1:0 --http 127.0.0.1:0 --token-file "$tmp/token" \
  --workdir "$tmp" 2>"$tmp/serve.err" &
server=$!
serve_ready "$tmp/serve.err" || { echo "serve did not start: $(cat "$tmp/serve.err")"; exit 1; }
url=http://127.0.0.1:$port
# post NAME PATH BODY WANT_CODE PATTERN (BODY @FILE: the file's; the token is
# sent: loopback need not be trusted)
post() {
  local name=$1 path=$2 data=$3 want=$4 pattern=$5 code body
  code=$(curl -s -o "$tmp/answer" -w "%{http_code}" -X POST -H "Content-Type: application/json" \
    -H "Authorization: Bearer $(head -1 "$tmp/token")" --data-binary "$data" "$url$path")
  body=$(cat "$tmp/answer")
  [[ $code == "$want" ]] || { bad "$name" "HTTP $code, expected $want: ${body:0:300}"; return 1; }
  grep -qE -- "$pattern" <<<"$body" || { bad "$name" "no /$pattern/ in: ${body:0:300}"; return 1; }
  ok "$name"
}
get() { curl -s -H "Authorization: Bearer $(head -1 "$tmp/token")" "$url$1"; }
ctl=$(tr -d '\n' <"$confirm_spec")
printf '{"spec": %s}' "$(nest 70000)" >"$tmp/deep_body.json"
post http_deep_body /pipelines "@$tmp/deep_body.json" 400 'the body nests deeper than 256 arrays and objects'
post http_dup_body /pipelines "{\"spec\": $ctl, \"id\": \"one\", \"id\": \"two\"}" 400 \
  'the body has the key \\"id\\" twice in the top-level object'
post http_dup_spec /pipelines "{\"spec\": {\"name\": \"x\", \"name\": \"y\", \"stages\": []}}" 400 'key \\"name\\" twice'
post http_by_newline /pipelines "{\"spec\": $ctl, \"by\": \"user:x\\n    9  forged\"}" 400 \
  '\\"by\\" holds a control character'
post http_create /pipelines "{\"spec\": $ctl, \"id\": \"h1\"}" 201 '"pipeline":"h1"'
wait_for 10 bash -c "curl -s -H 'Authorization: Bearer $(head -1 "$tmp/token")' $url/pipelines/h1 | grep -q '\"pending_confirmation\":{'" \
  || bad http_waits "h1 never asked for its confirmation"
post http_note_escape /pipelines/h1/confirm '{"note": "ok\u001b[2J"}' 400 '\\"note\\" holds a control character'
post http_by_nul /pipelines/h1/reject '{"by": "user:a\u0000b"}' 400 '\\"by\\" holds a control character'
post http_by_c1 /pipelines/h1/cancel '{"by": "user:\u009b31m"}' 400 '\\"by\\" holds a control character'
post http_context_past_bound /pipelines/h1/stages/a/context "{\"context\": $(nest 249)}" 400 \
  'the context nests deeper than 248 arrays and objects'
post http_context_dup /pipelines/h1/stages/a/context '{"context": {"k": 1, "k": 2}}' 400 'key \\"k\\" twice'
# A command whose output nests 70,000 deep crashed `serve`, and every restart
# after it: here the stage fails and the server goes on answering.
deep_spec=$(tr -d '\n' <"$deep_run")
post http_deep_output_create /pipelines "{\"spec\": $deep_spec, \"id\": \"d1\"}" 201 '"pipeline":"d1"'
wait_for 20 bash -c "curl -s -H 'Authorization: Bearer $(head -1 "$tmp/token")' $url/pipelines/d1 | grep -q '\"status\":\"failed\"'" \
  && get /pipelines/d1 | grep -q "the command's output nests deeper than 248 arrays and objects" \
  && get /healthz | grep -q '"ok":true' && ok http_deep_output_fails_the_stage \
  || bad http_deep_output_fails_the_stage "$(get /pipelines/d1 | head -c 300); $(tail -3 "$tmp/serve.err")"
# The CLI reads the server's answers through the same bounded parser.
expect server_status_deep_failure 0 "a +failed .*nests deeper than 248" -- status --server "$url" --id d1 \
  --token-file "$tmp/token"
no_raw_control "$tmp/serve.err" && ok serve_log_escaped || bad serve_log_escaped "$(cat -A "$tmp/serve.err" | tail -3)"

finish
