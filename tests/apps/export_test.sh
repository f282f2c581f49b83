#!/bin/bash
# Moving histories (docs/cli.md#journal-export-and-import): `journal export`
# writes the lines of `history --json`; `journal import` appends them to
# another journal with every check of an append, and refuses a bad file
# naming its line, writing nothing. Round trip A -> B -> export is
# byte-identical and every seq's state agrees; an import that stopped (a
# write fault) leaves a prefix that --resume completes; a damaged pipeline is
# never exported silently.
# Usage: export_test.sh DAIRECTOR EXAMPLES_DIR SQL_EXEC [TARGET]
#   TARGET: the empty journal the histories are imported into (default
#   $DAIRECTOR_TEST_PG, a postgresql:// URI, else a fresh SQLite file).
set -u
bin=${1:?dairector binary}
examples=${2:?examples dir}
sql=${3:?sql_exec binary}
source "$(dirname "$0")/lib.sh"
scratch_with_server
target=${4:-${DAIRECTOR_TEST_PG:-$tmp/B.db}}
if [[ $target == postgres* ]]; then  # the tests' cluster: a fresh, empty database of its own
  target=$(pg_database "$target" export) || { bad target_database "cannot create one on $target"; finish; exit 1; }
fi

# same NAME FILE1 FILE2: ok when the files hold the same bytes.
same() { cmp -s "$2" "$3" && ok "$1" || bad "$1" "$(cmp "$2" "$3" 2>&1 | head -1)"; }
# export_to FILE JOURNAL [ARGS...]: `journal export` into FILE; returns its exit code.
export_to() { local out=$1 j=$2; shift 2; "$bin" journal export --journal "$j" "$@" >"$out" 2>"$out.err"; }

# Journal A: the six-stage example to the end (a failure and its re-run, a
# confirmation), and a second pipeline with a rejection, a context change, a
# rollback and a cancel: ten event types.
a=$tmp/A.db
expect run_example 0 "done" -- run "$examples/dairector.json" --yes --journal "$a"
expect run_second 4 "waiting for confirmation" -- run "$examples/dairector.json" --id second --journal "$a"
expect reject_second 0 "confirmation_resolved" -- reject --journal "$a" --id second --note "not yet"
expect invalidate_second 0 "context_changed" -- invalidate idea --journal "$a" --id second --context '{"goal": "v2"}'
expect rollback_second 0 "rolled_back" -- rollback --journal "$a" --id second --to 3
expect cancel_second 0 "stage_cancelled" -- cancel --journal "$a" --id second

export_to "$tmp/a.jsonl" "$a" && ok export_a || bad export_a "exit $?: $(cat "$tmp/a.jsonl.err")"
types=$(grep -o '"type":"[a-z_]*"' "$tmp/a.jsonl" | sort -u | wc -l)
[[ $types -ge 10 ]] && ok export_holds_many_types || bad export_holds_many_types "$types types"
{ "$bin" history --journal "$a" --id dairector --json; "$bin" history --journal "$a" --id second --json; } >"$tmp/histories"
same export_is_history_json "$tmp/a.jsonl" "$tmp/histories"
"$bin" history --journal "$a" --id second --json >"$tmp/second.history"
export_to "$tmp/second.jsonl" "$a" --id second
same export_one_pipeline "$tmp/second.jsonl" "$tmp/second.history"
expect export_unknown_pipeline 2 "no pipeline 'nope'|has no pipeline 'nope'|nope" -- journal export --journal "$a" --id nope

# The round trip.
total=$(wc -l <"$tmp/a.jsonl")
expect import_into_b 0 "imported 2 pipelines \($total events\)" -- journal import "$tmp/a.jsonl" --journal "$target"
export_to "$tmp/b.jsonl" "$target"
same round_trip_byte_identical "$tmp/a.jsonl" "$tmp/b.jsonl"
agree=1
for id in dairector second; do
  cmp -s <("$bin" history --journal "$a" --id $id --json) <("$bin" history --journal "$target" --id $id --json) \
    || { agree=0; bad history_agrees "pipeline $id"; }
  last=$(grep -c "\"pipeline\":\"$id\"" "$tmp/a.jsonl")
  for ((n = 1; n <= last; n++)); do
    "$bin" status --journal "$a" --id $id --json --at $n >"$tmp/sa" 2>&1
    "$bin" status --journal "$target" --id $id --json --at $n >"$tmp/sb" 2>&1
    grep -q "\"seq\": $n" "$tmp/sa" && cmp -s "$tmp/sa" "$tmp/sb" || { agree=0; bad status_agrees "pipeline $id at seq $n"; }
  done
done
[[ $agree -eq 1 ]] && ok every_seq_agrees
# Back from the target into SQLite (both ways when the target is PostgreSQL).
expect import_back 0 "imported 2 pipelines" -- journal import "$tmp/b.jsonl" --journal "$tmp/C.db"
export_to "$tmp/c.jsonl" "$tmp/C.db"
same back_byte_identical "$tmp/a.jsonl" "$tmp/c.jsonl"
# Standard input, which cannot be read twice: copied aside by the first pass.
out=$(cat "$tmp/a.jsonl" | "$bin" journal import - --journal "$tmp/D.db" 2>&1) && grep -q "from standard input" <<<"$out" \
  && ok import_stdin || bad import_stdin "$out"
export_to "$tmp/d.jsonl" "$tmp/D.db"
same stdin_byte_identical "$tmp/a.jsonl" "$tmp/d.jsonl"

# Refused, naming the line, and nothing written: B's export stays as it was.
cp "$tmp/b.jsonl" "$tmp/b_before.jsonl"
unchanged() {
  export_to "$tmp/now.jsonl" "$target" && cmp -s "$tmp/now.jsonl" "$tmp/b_before.jsonl" && ok "$1_writes_nothing" \
    || bad "$1_writes_nothing" "the target changed: $(head -c 300 "$tmp/now.jsonl.err")"
}
refused() {  # refused NAME FILE PATTERN
  expect "$1" 2 "$3" -- journal import "$2" --journal "$target"
  unchanged "$1"
}
refused import_twice "$tmp/a.jsonl" "line 1: journal .* already has pipeline 'dairector'; nothing was imported"
# The same histories under new ids: a file B takes, once it is not damaged.
m=$tmp/m.jsonl
sed 's/"pipeline":"dairector"/"pipeline":"moved"/; s/"pipeline":"second"/"pipeline":"moved2"/' "$tmp/a.jsonl" >"$m"
n=$(wc -l <"$m")
n1=$(grep -c '"pipeline":"moved"' "$m")
head -c -30 "$m" >"$tmp/cut.jsonl"
refused truncated_last_line "$tmp/cut.jsonl" "line $n does not end with a newline"
sed '5s/"seq":5,/"seq":7,/' "$m" >"$tmp/forged.jsonl"
refused forged_seq "$tmp/forged.jsonl" "line 5: seq 7 of pipeline 'moved' does not follow seq 4"
{ sed -n 1,4p "$m"; sed -n 6p "$m"; sed -n 5p "$m"; sed -n '7,$p' "$m"; } >"$tmp/swapped.jsonl"
refused reordered_pair "$tmp/swapped.jsonl" "line 5: seq 6 of pipeline 'moved' does not follow seq 4"
{ sed -n 1,5p "$m"; sed -n "$((n1 + 1))p" "$m"; sed -n "6,\$p" "$m"; } >"$tmp/created_inside.jsonl"
refused pipeline_created_inside_another "$tmp/created_inside.jsonl" \
  "line 7: an event of pipeline 'moved' \(begun at line 1\) after pipeline 'moved2' began at line 6"
{ sed -n 1,5p "$m"; sed -n 1p "$m" | sed 's/"seq":1,/"seq":6,/'; sed -n "6,\$p" "$m"; } >"$tmp/created_late.jsonl"
refused pipeline_created_not_first "$tmp/created_late.jsonl" \
  "line 6: pipeline_created of pipeline 'moved' has seq 6: it must be the pipeline's first event"
sed '3s/"run":2,/"run":99,/' "$m" >"$tmp/no_replay.jsonl"
refused history_does_not_replay "$tmp/no_replay.jsonl" \
  "line 3: pipeline 'moved': journal history does not replay: event seq 3 \\(stage_completed\\)"
sed '4s/.*/this is not an event/' "$m" >"$tmp/garbage.jsonl"
refused garbage "$tmp/garbage.jsonl" "line 4 is not valid JSON"
sed '4s/.*/{"v": 1, "seq": 4}/' "$m" >"$tmp/not_event.jsonl"
refused not_an_event "$tmp/not_event.jsonl" "line 4 is not an event"
sed '4s/"by":"system",/"by":"system","by":"user:x",/' "$m" >"$tmp/twice.jsonl"
refused key_twice "$tmp/twice.jsonl" "line 4 has the key \"by\" twice"
{ sed -n 1p "$m"; head -c 67200000 /dev/zero | tr '\0' ' '; echo; sed -n '2,$p' "$m"; } >"$tmp/long.jsonl"
refused overlong_line "$tmp/long.jsonl" "line 2 is longer than [0-9]+ bytes"
rm -f "$tmp/long.jsonl"
cat "$m" "$m" >"$tmp/doubled.jsonl"
refused pipeline_twice_in_file "$tmp/doubled.jsonl" "line $((n + 1)): pipeline 'moved' begins a second time \(first at line 1\)"
# A damaged line in the *second* pipeline: the first, sound, is not written either.
sed "$((n1 + 3))s/\"seq\":3,/\"seq\":4,/" "$m" >"$tmp/late_damage.jsonl"
refused damage_in_second_pipeline "$tmp/late_damage.jsonl" "line $((n1 + 3)): seq 4 of pipeline 'moved2'"
# The control: undamaged, the same file is taken, after what B held.
expect import_moved 0 "imported 2 pipelines" -- journal import "$m" --journal "$target"
export_to "$tmp/now.jsonl" "$target"
cat "$tmp/a.jsonl" "$m" >"$tmp/both.jsonl"
same import_appends_in_order "$tmp/both.jsonl" "$tmp/now.jsonl"

# An import that stopped (the journal's fault seam fails every write past
# 10,000 events: the second transaction of a 12,001-event pipeline) leaves
# a prefix of the file; --resume completes it, and again does nothing.
big=$tmp/big.jsonl
sed -n 1p "$tmp/a.jsonl" | sed 's/"pipeline":"dairector"/"pipeline":"big"/' >"$big"
awk 'BEGIN { for (s = 2; s <= 12001; s++)
  printf "{\"at\":\"2027-01-01T00:00:00.000Z\",\"by\":\"user:test\",\"context\":{\"n\":%d},\"pipeline\":\"big\",\"seq\":%d,"\
         "\"stage\":\"idea\",\"type\":\"context_changed\",\"v\":1}\n", s, s }' >>"$big"
e=$tmp/E.db
out=$(DAIRECTOR_TEST_JOURNAL_FAIL_AFTER_EVENTS=10000 "$bin" journal import "$big" --journal "$e" 2>&1); rc=$?
[[ $rc -eq 5 ]] && grep -q "injected I/O fault.*up to line 10000 is in the journal" <<<"$out" && ok import_fault_is_exit_5 \
  || bad import_fault_is_exit_5 "exit $rc: $out"
export_to "$tmp/e.jsonl" "$e"
head -n 10000 "$big" >"$tmp/big_prefix"
same fault_leaves_a_prefix "$tmp/big_prefix" "$tmp/e.jsonl"
expect import_after_fault_refused 2 "already has pipeline 'big'" -- journal import "$big" --journal "$e"
expect resume_completes 0 "imported 1 pipeline \(2001 events\)" -- journal import "$big" --journal "$e" --resume
export_to "$tmp/e.jsonl" "$e"
same resumed_byte_identical "$big" "$tmp/e.jsonl"
expect resume_again_nothing 0 "imported 0 pipelines \(0 events\).*1 already there whole" -- \
  journal import "$big" --journal "$e" --resume
sed '2s/"n":2}/"n":-2}/' "$big" >"$tmp/other_big.jsonl"
expect resume_other_history_refused 2 "line 2: journal .*'s pipeline 'big' differs from the file at seq 2" -- \
  journal import "$tmp/other_big.jsonl" --journal "$e" --resume
export_to "$tmp/e2.jsonl" "$e"
same resume_refusal_writes_nothing "$big" "$tmp/e2.jsonl"

# A damaged pipeline is not exported silently: export stops before it (exit
# 5, naming it); --skip-damaged exports the others whole and still exits 5.
cp "$a" "$tmp/F.db"
"$sql" "$tmp/F.db" "UPDATE events SET by = 'user:mallory' WHERE pipeline = 'dairector' AND seq = 4" \
  || bad damage_row "sql_exec failed"
export_to "$tmp/f.jsonl" "$tmp/F.db"; rc=$?
[[ $rc -eq 5 && ! -s $tmp/f.jsonl ]] && grep -q "pipeline 'dairector', event seq 4: checksum mismatch" "$tmp/f.jsonl.err" \
  && ok export_damaged_exit_5 || bad export_damaged_exit_5 "exit $rc: $(cat "$tmp/f.jsonl.err")"
export_to "$tmp/f.jsonl" "$tmp/F.db" --skip-damaged; rc=$?
[[ $rc -eq 5 ]] && grep -q "pipeline 'dairector', event seq 4" "$tmp/f.jsonl.err" \
  && grep -q "skipped 1 damaged of 2 pipelines" "$tmp/f.jsonl.err" && ok skip_damaged_names_it \
  || bad skip_damaged_names_it "exit $rc: $(cat "$tmp/f.jsonl.err")"
same skip_damaged_exports_the_rest "$tmp/second.history" "$tmp/f.jsonl"

finish
