# What the shell tests share: counters, checks with readable failures, and
# bounded polling instead of sleeps. Source it after setting `bin`.
passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# expect NAME WANT_CODE PATTERN -- ARGS...: runs `$bin ARGS`, checks the exit
# code and that the output (stdout and stderr, one line) matches PATTERN.
expect() {
  local name=$1 want=$2 pattern=$3; shift 4
  local out rc
  out=$(timeout 60 "$bin" "$@" </dev/null 2>&1); rc=$?
  [[ $rc -eq $want ]] || { bad "$name" "exit $rc, expected $want: $(tail -3 <<<"$out")"; return 1; }
  tr "\n" " " <<<"$out" | grep -qE -- "$pattern" || { bad "$name" "no /$pattern/ in: $(tail -3 <<<"$out")"; return 1; }
  ok "$name"
}

# wait_for SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds;
# fails after SECONDS. A condition, never a fixed sleep.
wait_for() {
  local limit=$1; shift
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS >= deadline)) && return 1
    sleep 0.05
  done
}

# finish: the summary line and the exit code.
finish() {
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}
