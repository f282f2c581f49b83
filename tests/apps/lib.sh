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

# stop_gently PID...: SIGTERM (a clean stop also ends the commands its
# pipelines run), up to 5 s for each to go, then SIGKILL. Empty PIDs are skipped.
stop_gently() {
  local p i
  for p in "$@"; do
    [[ -n $p ]] || continue
    kill -TERM "$p" 2>/dev/null
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null
  done
}

# scratch_with_server: $tmp, a scratch folder, and $server, for the pid of
# a `dairector serve` the test starts (empty until then); at exit the server
# is stopped gently and the folder removed.
scratch_with_server() {
  tmp=$(mktemp -d)
  server=
  trap 'stop_gently "$server"; wait 2>/dev/null; rm -rf "$tmp"' EXIT
}

# serve_ready LOG: waits up to 10 s for `dairector serve` to say ready in LOG
# (its standard error), then sets $port to its HTTP port. Fails if it never does.
serve_ready() {
  wait_for 10 grep -qs "dairector serve: ready" "$1" || return 1
  port=$(grep -o "http on [^ ]*" "$1" | grep -o "[0-9]*$")
}

# serve_into VAR ARGS...: starts `serve ARGS...` in the background (its
# stderr in $tmp/VAR.err), puts its pid in the variable VAR and waits for
# "ready" (serve_ready: sets $port); exits the test if it does not start. A
# restart's log starts empty before anything reads it, so the previous
# server's "ready" is never taken for this one's.
serve_into() {
  local var=$1 err=$tmp/$1.err; shift
  rm -f "$err"
  "$bin" serve "$@" 2>"$err" &
  printf -v "$var" %s $!
  serve_ready "$err" || { echo "serve did not start: $(cat "$err")"; exit 1; }
}

# finish: the summary line and the exit code. After a failure, the last lines
# of every log in the scratch folder (servers' *.err, workers' *.log): a
# failure seen once on a loaded machine must say where things stopped.
finish() {
  echo "$passed passed, $failed failed"
  if [[ $failed -ne 0 && -n ${tmp:-} && -d $tmp ]]; then
    local f
    for f in "$tmp"/*.err "$tmp"/*.log; do
      [[ -f $f ]] || continue
      echo "--- the last 25 lines of ${f#"$tmp"/}:"
      tail -25 "$f"
    done
  fi
  [[ $failed -eq 0 ]]
}

# pg_database BASE_URI NAME: a fresh database on the PostgreSQL server that
# BASE_URI names (the tests' cluster: tools/pg_cluster.sh, CTest fixture
# pg); prints its URI. The cluster goes with everything in it at the end.
pg_database() {
  local base=$1 db="dairector_$2_$$"
  psql -qX "$base" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  psql -qX "$base" -c "CREATE DATABASE $db TEMPLATE template0" >/dev/null || return 1
  sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\1/$db#" <<<"$base"
}

# http_create PORT TOKEN_FILE SPEC_FILE ID [OUT]: POST /pipelines on the
# server at 127.0.0.1:PORT (the body, if OUT is given, into OUT); prints the
# HTTP code ("000" when no answer came within 30 s).
http_create() {
  curl -s -m 30 -o "${5:-/dev/null}" -w "%{http_code}" -X POST -H "Authorization: Bearer $(head -1 "$2")" \
    -H 'Content-Type: application/json' --data "{\"spec\": $(cat "$3"), \"id\": \"$4\"}" \
    "http://127.0.0.1:$1/pipelines"
}
