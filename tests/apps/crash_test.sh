#!/bin/bash
# The crash test with real processes (docs/design.md#the-nine-rules, rules 4, 5 and 8): a pipeline of
# command stages (a -> b, c -> d -> e -> f) is run, `dairector` is SIGKILLed at
# seeded random points and resumed each time until a resume ends by itself.
# After every kill: the history extends the one before it (nothing durable is
# lost), the journal's lock is free, and `status` replays it (invariants hold on
# the recovered state). After every pipeline: each stage completed exactly once,
# each completion belongs to a run that was started (and whose command really
# ran with that run id), seq is 1..N without gaps, every state replays. Stage
# commands run at least once: re-executions are counted, not refused.
# Then a torn journal (the WAL left by a kill, cut by a few bytes) must recover
# without complaint, and a damaged event in the middle must be refused by name.
#
# Usage: crash_test.sh DAIRECTOR [SEED]   (or DAIRECTOR_CRASH_SEED=SEED)
# The seed replays the kill times (bash RANDOM, scaled by a calibration run),
# not the exact interleaving.
# DAIRECTOR_CRASH_KILLS (default 50; the sanitizer build sets fewer: each of
# its processes starts ten times slower) tunes the run; DAIRECTOR_CRASH_KEEP=1
# keeps the scratch folder.
# A kill while a new journal is being created leaves nothing durable: the
# journal reads as holding no pipeline (exit 2) and run starts again.
set -u
bin=${1:?usage: crash_test.sh DAIRECTOR [SEED]}
seed=${2:-${DAIRECTOR_CRASH_SEED:-$(($(od -An -N4 -tu4 /dev/urandom) % 1000000))}}
[[ $bin == /* ]] || bin=$PWD/$bin  # the test works in its scratch folder
[[ -x $bin ]] || { echo "crash_test.sh: $bin is not an executable"; exit 2; }
[[ $seed =~ ^[0-9]+$ ]] || { echo "crash_test.sh: the seed must be a number, not '$seed'"; exit 2; }
echo "seed $seed (replay: crash_test.sh DAIRECTOR $seed)"
RANDOM=$seed
min_kills=${DAIRECTOR_CRASH_KILLS:-50}
max_kills_per_round=25  # then the resume is left to finish, so every round ends
stages=(a b c d e f)

tmp=$(mktemp -d)
live=""  # the dairector now in the background
cleanup() {
  [[ -n $live ]] && kill -KILL "$live" 2>/dev/null
  # A killed dairector leaves its commands behind; each leads its own process
  # group and wrote its pid to its side log (its cwd tells a reused pid apart).
  local log _s _r pid
  for log in "$tmp"/*/side.log; do
    [[ -f $log ]] || continue
    while read -r _s _r pid; do
      [[ $pid =~ ^[0-9]+$ && $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$tmp"/* ]] && kill -KILL -- "-$pid" 2>/dev/null
    done <"$log"
  done
  if [[ ${DAIRECTOR_CRASH_KEEP:-0} == 1 ]]; then echo "scratch folder kept: $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$tmp" || exit 1  # not the rounds' folders: commands must run in their spec's folder

passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1: $2 (seed $seed)"; failed=$((failed + 1)); }

# Each stage: read the input, note "STAGE RUN PID" (RUN '-' when the input
# never came: its dairector died first) in side.log (in the spec's
# folder), sleep 10-50 ms, print {"m":"marker-STAGE-RUN"}. (sh is dash: no
# $RANDOM, the pid varies the sleep.) A JSON string, ready for the spec.
stage_script=$(cat <<'EOF'
"in=$(cat); r=$(printf %s \"$in\" | sed -n 's/.*\"run\": *\\([0-9][0-9]*\\).*/\\1/p'); echo \"$1 ${r:--} $$\" >>side.log; sleep 0.0$(($$ % 5 + 1)); printf '{\"m\":\"marker-%s-%s\"}\\n' \"$1\" \"$r\""
EOF
)
write_spec() {  # write_spec DIR
  stage() { printf '    {"name": "%s", "after": [%s], "run": {"command": ["sh", "-c", %s, "sh", "%s"]}}' "$1" "$2" "$stage_script" "$1"; }
  {
    printf '{"name": "crash", "stages": [\n'
    stage a ""; printf ',\n'
    stage b '"a"'; printf ',\n'
    stage c '"a"'; printf ',\n'
    stage d '"b", "c"'; printf ',\n'
    stage e '"d"'; printf ',\n'
    stage f '"e"'; printf '\n]}\n'
  } >"$1/spec.json"
}

# Checks a pipeline's final history against its side log; prints "ERR ..."
# lines, then "interrupted N". get(KEY) is a field of the line (history --json
# sorts keys; outside the spec and the output each key appears once).
check_history() {  # check_history HISTORY SIDE_LOG
  awk -v stages="${stages[*]}" -v side="$2" '
    function get(key,   re, v) {
      re = "\"" key "\":(\"[^\"]*\"|[0-9]+)"
      if (!match($0, re)) return ""
      v = substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
      gsub(/"/, "", v)
      return v
    }
    function err(m) { print "ERR " m; errors++ }
    BEGIN {
      n = split(stages, st, " ")
      while ((getline l < side) > 0) { split(l, f, " "); ran[f[1] " " f[2]] = 1 }
    }
    {
      seq = get("seq"); type = get("type")
      if (seq != NR) err("line " NR " has seq " seq " (seq must run 1..N without gaps)")
      if (NR == 1) { if (type != "pipeline_created") err("seq 1 is " type ", not pipeline_created"); next }
      stage = get("stage"); run = get("run"); k = stage " run " run
      if (type == "stage_started") {
        if (run != seq) err("seq " seq ": stage_started " k ": a run id is the seq of its start")
        if (k in started) err("seq " seq ": run " run " started twice")
        started[k] = seq; open[k] = seq
      } else if (type == "stage_completed") {
        completed[stage]++
        if (!(k in started)) err("seq " seq ": stage_completed " k " has no earlier stage_started with that stage and run")
        else if (!(k in open)) err("seq " seq ": stage_completed " k ": that run had already ended")
        if (!((stage " " run) in ran)) err("seq " seq ": stage_completed " k ": no command ever ran with that run id")
        if (get("m") != "marker-" stage "-" run) err("seq " seq ": stage_completed " k " carries the output " get("m"))
        delete open[k]
      } else if (type == "stage_interrupted") {
        if (!(k in open)) err("seq " seq ": stage_interrupted " k ": that run was not running")
        delete open[k]; interrupted++
      } else {
        err("seq " seq ": unexpected event " type)
      }
    }
    END {
      for (i = 1; i <= n; i++)
        if (completed[st[i]] != 1) err("stage " st[i] " completed " completed[st[i]] + 0 " times (exactly once expected)")
      for (k in open) err("stage " k " (seq " open[k] ") was started and never completed or interrupted")
      print "interrupted " interrupted + 0
    }' "$1"
}

# The kill windows come from one uninterrupted run, not from constants: a
# slower build (ASan) or a loaded machine takes longer to start and to run,
# and fixed windows then kill every attempt before anything is durable.
# start_ms: until the first stage's command ran (the journal exists and holds
# the pipeline); run_ms: the whole run.
calibrate() {
  local dir="$tmp/calibration" t0 now rc
  mkdir -p "$dir" && write_spec "$dir"
  t0=$(date +%s%N)
  start_ms=""
  "$bin" run "$dir/spec.json" --journal "$dir/j.db" --yes </dev/null >"$dir/out.log" 2>&1 &
  live=$!
  while kill -0 "$live" 2>/dev/null; do
    now=$(date +%s%N)
    [[ -z $start_ms && -s $dir/side.log ]] && start_ms=$(((now - t0) / 1000000))
    ((now - t0 > 120000000000)) && kill -KILL "$live"  # 120 s: it hangs
    sleep 0.005
  done
  { wait "$live"; } 2>/dev/null
  rc=$?
  live=""
  run_ms=$((($(date +%s%N) - t0) / 1000000))
  [[ $rc -eq 0 && -n $start_ms ]] || { bad calibration "an uninterrupted run exited $rc: $(tail -3 "$dir/out.log")"; return 1; }
  echo "calibration: the first command ran after $start_ms ms, the run took $run_ms ms"
}
calibrate || { echo "$passed passed, $failed failed"; exit 1; }

start_s=$SECONDS
rounds=0 kills=0 kills_early=0 resumes=0 reexecs=0 no_input=0 interrupted_total=0 checked_states=0
torn_sample=""  # set once a WAL a kill left behind is copied to torn/intact
last_done=""    # the folder of the last pipeline that ended cleanly

# One pipeline: run, kill, resume, kill, ... until a resume exits 0 by itself.
round() {  # round N; returns 1 after a failure
  local n=$1 dir="$tmp/r$1" mode=run kills_here=0 rc hrc src ms i out
  local j="$tmp/r$1/j.db"
  mkdir -p "$dir" && write_spec "$dir"
  : >"$dir/prev.jsonl"
  while :; do
    if [[ $mode == run ]]; then
      "$bin" run "$dir/spec.json" --journal "$j" --yes </dev/null >>"$dir/out.log" 2>&1 &
    else
      resumes=$((resumes + 1))
      "$bin" resume --journal "$j" --yes </dev/null >>"$dir/out.log" 2>&1 &
    fi
    live=$!
    if ((kills_here < max_kills_per_round)); then
      # One kill in four lands before the first command runs (creating the
      # journal, recovering, recording the interrupted runs); the others
      # anywhere in the first 80% of a whole run (a resume has less to do:
      # later kills would mostly find it finished).
      if ((RANDOM % 4 == 0)); then ms=$((RANDOM % (start_ms + 1)))
      else ms=$((RANDOM % (run_ms * 4 / 5 + 1))); fi
      sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
      kill -KILL "$live" 2>/dev/null
    else  # enough: let it finish (60 s at most)
      for ((i = 0; i < 600; i++)); do kill -0 "$live" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$live" 2>/dev/null
    fi
    { wait "$live"; } 2>/dev/null
    rc=$?
    live=""
    if [[ $rc -eq 137 ]]; then
      kills=$((kills + 1)); kills_here=$((kills_here + 1))
      [[ $kills_here -le $max_kills_per_round ]] ||
        { bad "round $n" "dairector $mode did not finish within 60 s: $(tail -3 "$dir/out.log")"; return 1; }
    elif [[ $rc -ne 0 ]]; then
      if grep -q "owned by" "$dir/out.log"; then
        bad "round $n" "the lock was not released after SIGKILL: dairector $mode exited $rc: $(tail -2 "$dir/out.log")"
      else
        bad "round $n" "dairector $mode exited $rc after $kills_here kills: $(tail -3 "$dir/out.log")"
      fi
      return 1
    fi
    # The owner lock (a POSIX lock: it dies with its process, and a forked
    # command never shares it) is free at once: the resume below would
    # otherwise exit 5 "owned by another process", which fails the round.
    # Nothing durable lost: the history now extends the one before.
    "$bin" history --journal "$j" --json >"$dir/now.jsonl" 2>"$dir/history.err"
    hrc=$?
    if [[ $hrc -ne 0 ]]; then
      if [[ $mode == run && ! -s $dir/prev.jsonl ]] && { [[ ! -e $j ]] || { [[ $hrc -eq 2 ]] && grep -qE "is empty|holds no pipeline" "$dir/history.err"; }; }; then
        kills_early=$((kills_early + 1))  # killed before pipeline_created was durable: run it again
        continue
      fi
      bad "round $n" "history exited $hrc after kill $kills_here ($mode): $(cat "$dir/history.err"); the history before: $(cut -c1-160 "$dir/prev.jsonl" | tail -3)"
      return 1
    fi
    if ! cmp -s -n "$(stat -c%s "$dir/prev.jsonl")" "$dir/prev.jsonl" "$dir/now.jsonl"; then
      bad "round $n" "after kill $kills_here ($mode) the history does not extend the one before (durable events lost or rewritten): $(diff <(cut -c1-200 "$dir/prev.jsonl") <(cut -c1-200 "$dir/now.jsonl") | head -20)"
      return 1
    fi
    mv "$dir/now.jsonl" "$dir/prev.jsonl"
    # The WAL a kill left behind, kept for the torn-tail part (once, when it
    # holds a few events: cutting a WAL that holds only the schema leaves an
    # empty journal, which status rightly calls "empty", exit 2).
    if [[ $rc -eq 137 && -z $torn_sample && -s $j-wal ]] && (($(wc -l <"$dir/prev.jsonl") >= 3)); then
      mkdir -p "$tmp/torn/intact"
      cp "$j" "$j-wal" "$tmp/torn/intact/" && { [[ ! -f $j-shm ]] || cp "$j-shm" "$tmp/torn/intact/"; } && torn_sample=$dir
    fi
    # The recovered state replays and keeps the invariants (exit 5 otherwise).
    out=$("$bin" status --journal "$j" 2>&1)
    src=$?
    if [[ $src -ne 0 && $src -ne 4 ]]; then
      bad "round $n" "status exited $src after kill $kills_here ($mode): $out"
      return 1
    fi
    [[ $rc -eq 0 ]] && break
    mode=resume
  done

  # The finished pipeline.
  local h="$dir/prev.jsonl" events checks errs
  events=$(wc -l <"$h")
  checks=$(check_history "$h" "$dir/side.log")
  errs=$(grep '^ERR ' <<<"$checks")
  if [[ -n $errs ]]; then
    bad "round $n" "the final history ($events events, $kills_here kills) breaks the rules:
$errs
history:
$(grep -v pipeline_created "$h" | cut -c1-200)
side log:
$(cat "$dir/side.log")"
    return 1
  fi
  out=$("$bin" status --journal "$j" --json 2>&1)
  if [[ $(grep -c '"status": "completed"' <<<"$out") -ne ${#stages[@]} ]]; then
    bad "round $n" "the final status does not show every stage completed: $out"
    return 1
  fi
  # Every state on the way replays and keeps the invariants.
  for ((i = 1; i <= events; i++)); do
    out=$("$bin" status --journal "$j" --at "$i" 2>&1) ||
      { bad "round $n" "status --at $i exited $?: $out"; return 1; }
    checked_states=$((checked_states + 1))
  done
  local execs interrupted
  execs=$(wc -l <"$dir/side.log")
  interrupted=$(sed -n 's/^interrupted //p' <<<"$checks")
  reexecs=$((reexecs + execs - ${#stages[@]}))
  no_input=$((no_input + $(awk '$2 == "-"' "$dir/side.log" | wc -l)))
  interrupted_total=$((interrupted_total + interrupted))
  ok "round $n: $kills_here kills, $events events, $interrupted runs interrupted, $((execs - ${#stages[@]})) re-executions"
  last_done=$dir
}

# The amount of work is fixed (kills and rounds), never a time budget: a
# slower machine takes longer, it does not test less. Every round ends (after
# max_kills_per_round the resume is left to finish); CTest's timeout bounds it.
while ((kills < min_kills || rounds < 3)); do
  rounds=$((rounds + 1))
  round "$rounds" || break
done
if ((failed == 0)); then
  if ((kills >= min_kills)); then
    ok "$kills kills (at least $min_kills) in $rounds rounds"
  else
    bad "kills" "only $kills kills in $rounds rounds ($min_kills wanted)"
  fi
fi

# No random kill left a WAL of a few events (possible: the kill times are
# random): one kill at a point fixed by progress, not by time. b and c start
# only after a's completion is durable, so once either command ran the WAL
# holds pipeline_created and a's start and completion.
torn_by_progress() {
  local dir="$tmp/torn-run"
  mkdir -p "$dir" && write_spec "$dir"
  "$bin" run "$dir/spec.json" --journal "$dir/j.db" --yes </dev/null >"$dir/out.log" 2>&1 &
  live=$!
  local deadline=$((SECONDS + 60))
  until grep -sqE '^[bc] ' "$dir/side.log"; do
    ((SECONDS < deadline)) && kill -0 "$live" 2>/dev/null || break
    sleep 0.01
  done
  kill -KILL "$live" 2>/dev/null
  { wait "$live"; } 2>/dev/null
  live=""
  if [[ -s $dir/j.db-wal ]]; then
    mkdir -p "$tmp/torn/intact"
    cp "$dir/j.db" "$dir/j.db-wal" "$tmp/torn/intact/" && { [[ ! -f $dir/j.db-shm ]] || cp "$dir/j.db-shm" "$tmp/torn/intact/"; } &&
      torn_sample=$dir
  fi
}
if ((failed == 0)); then
  [[ -n $torn_sample ]] || torn_by_progress
  if [[ -z $torn_sample ]]; then
    bad torn_wal "a run killed after b or c started left no WAL behind to tear"
  else
    mkdir -p "$tmp/torn/cut"
    cp "$tmp/torn/intact/"* "$tmp/torn/cut/"
    cut_bytes=$((RANDOM % 16 + 1))
    wal_size=$(stat -c%s "$tmp/torn/cut/j.db-wal")
    truncate -s $((wal_size - cut_bytes)) "$tmp/torn/cut/j.db-wal"
    "$bin" history --journal "$tmp/torn/intact/j.db" --json >"$tmp/torn/intact.jsonl" 2>&1
    out=$("$bin" status --journal "$tmp/torn/cut/j.db" 2>&1)
    src=$?
    "$bin" history --journal "$tmp/torn/cut/j.db" --json >"$tmp/torn/cut.jsonl" 2>&1
    hrc=$?
    kept=$(wc -l <"$tmp/torn/cut.jsonl") all=$(wc -l <"$tmp/torn/intact.jsonl")
    if [[ $src -ne 0 && $src -ne 4 ]]; then
      bad torn_wal "status on a WAL cut by $cut_bytes of $wal_size bytes exited $src: $out"
    elif [[ $hrc -ne 0 ]] || ! cmp -s -n "$(stat -c%s "$tmp/torn/cut.jsonl")" "$tmp/torn/cut.jsonl" "$tmp/torn/intact.jsonl"; then
      bad torn_wal "the torn journal's history (exit $hrc) is not a prefix of the intact one: $(tail -2 "$tmp/torn/cut.jsonl" | cut -c1-200)"
    else
      note=""; ((kept == all)) && note=" (the cut frame held no commit)"
      ok "torn_wal: a WAL cut by $cut_bytes of $wal_size bytes keeps $kept of $all events$note, status exits $src"
      # (Its commands run in the folder the journal names, the round's: its
      # side log, already checked, grows.)
      out=$(timeout 60 "$bin" resume --journal "$tmp/torn/cut/j.db" --yes </dev/null 2>&1)
      rc=$?
      st=$("$bin" status --journal "$tmp/torn/cut/j.db" --json 2>&1)
      if [[ $rc -eq 0 && $(grep -c '"status": "completed"' <<<"$st") -eq ${#stages[@]} ]]; then
        ok "torn_wal_resumes: the torn journal resumes to the end"
      else
        bad torn_wal_resumes "resume exited $rc: $(tail -3 <<<"$out")"
      fi
    fi
  fi
fi

# A damaged event in the middle: a finished pipeline (its WAL checkpointed into
# the .db on a clean close), one byte of c's stage_completed body changed.
# status, history and resume refuse it and name its seq; nothing is applied.
if ((failed == 0)) && [[ -n $last_done ]]; then
  d="$tmp/damaged"
  mkdir -p "$d"
  if [[ -s $last_done/j.db-wal ]]; then
    bad damaged_event "a clean close left a WAL of $(stat -c%s "$last_done/j.db-wal") bytes beside the journal"
  else
    cp "$last_done/j.db" "$d/j.db"
    line=$(grep '"stage":"c","type":"stage_completed"' "$last_done/prev.jsonl")
    dseq=$(sed -E 's/.*"seq":([0-9]+).*/\1/' <<<"$line")
    drun=$(sed -E 's/.*"run":([0-9]+).*/\1/' <<<"$line")
    mapfile -t offsets < <(grep -boa "marker-c-$drun\"" "$d/j.db" | cut -d: -f1)
    if [[ -z $dseq || ${#offsets[@]} -eq 0 ]]; then
      bad damaged_event "no \"marker-c-$drun\" (seq '$dseq') in $d/j.db"
    else
      for off in "${offsets[@]}"; do  # marker-c-R -> marker-X-R
        printf X | dd of="$d/j.db" bs=1 seek=$((off + 7)) conv=notrunc status=none
      done
      cp "$d/j.db" "$d/before-resume.db"
      for cmd in status history resume; do
        args=(--journal "$d/j.db")
        [[ $cmd == history ]] && args+=(--json)
        [[ $cmd == resume ]] && args+=(--yes)
        "$bin" "$cmd" "${args[@]}" </dev/null >"$d/$cmd.out" 2>"$d/$cmd.err"
        rc=$?
        if [[ $rc -ne 5 ]]; then
          bad "damaged_event_$cmd" "$cmd exited $rc, 5 expected (c's completion, seq $dseq, damaged at ${#offsets[@]} place(s)): $(tail -3 "$d/$cmd.err")"
        elif ! grep -qE "seq $dseq([^0-9]|$)" "$d/$cmd.err"; then
          bad "damaged_event_$cmd" "$cmd exited 5 but does not name seq $dseq: $(cat "$d/$cmd.err")"
        elif [[ $cmd == history && -s $d/history.out ]]; then
          bad "damaged_event_history" "history printed events of a damaged journal: $(head -c 300 "$d/history.out")"
        elif [[ $cmd == resume ]] && ! cmp -s "$d/j.db" "$d/before-resume.db"; then
          bad "damaged_event_resume" "resume refused (exit 5) but changed the journal file"
        else
          ok "damaged_event_$cmd: exit 5, $(head -1 "$d/$cmd.err" | sed "s|$tmp/||g") (c's completion, damaged at ${#offsets[@]} offset(s))"
        fi
      done
    fi
  fi
fi

echo "summary: seed $seed, $rounds rounds, $kills kills ($kills_early before the pipeline was durable), $resumes resumes, $reexecs re-executions in the side logs ($no_input of them killed before reading their input), $interrupted_total runs recorded as interrupted, $checked_states states replayed, $((SECONDS - start_s)) s"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]] || { echo "replay: crash_test.sh DAIRECTOR $seed"; exit 1; }
