#!/bin/bash
# Memory that does not grow with every pipeline ever created (issue 12,
# section 7): a real `serve` gets PIPELINES small pipelines over HTTP (in
# batches, each run to the end), and its resident memory (VmRSS in
# /proc/PID/status) is sampled after every batch. After the warm-up batch,
# the growth per pipeline must stay under BOUND_BYTES (2 KiB): a finished
# pipeline's supervisor and state are released (--evict-after-ms 0) and only
# a summary of it stays. Measured: about 1.3 KB, of which about 0.9 KB is
# SQLite's page cache (the pages the writer touched, 64 MiB at most: it stops
# growing there) and about 0.35 KB the summary (the director's id, name, seq
# and folder; the journal's row count and position). The figures are printed.
# (Before, every pipeline kept 6-9 KB for the life of the server.)
# Usage: memory_test.sh DAIRECTOR [PIPELINES [BOUND_BYTES]]
set -u
bin=${1:?dairector binary}
pipelines=${2:-${DAIRECTOR_MEMORY_PIPELINES:-3500}}
bound=${3:-${DAIRECTOR_MEMORY_BOUND_BYTES:-2048}}
batch=500
source "$(dirname "$0")/lib.sh"
scratch_with_server
((pipelines >= 2 * batch && pipelines % batch == 0)) || { echo "PIPELINES must be a multiple of $batch, at least $((2 * batch))"; exit 2; }

# --sync normal: the test is about memory, not about fsync.
"$bin" serve --journal "$tmp/m.db" --sync normal --listen 127.0.0.1:0 --http 127.0.0.1:0 --token-file "$tmp/token" \
  --workdir "$tmp" --evict-after-ms 0 2>"$tmp/serve.log" &
server=$!
serve_ready "$tmp/serve.log" || { echo "serve did not start: $(cat "$tmp/serve.log")"; exit 1; }
url=http://127.0.0.1:$port
token=$(head -1 "$tmp/token")
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
done_() {
  curl -s --max-time 10 -H "Authorization: Bearer $token" "$url/pipelines/$1" | grep -q '"status":"completed"'
}

# create FROM TO: pipelines pFROM..pTO, over 10 connections at once (each
# answer waits a few ms on the network; side by side they do not add up).
create() {
  local k part curls=()
  for ((k = $1; k <= $2; k++)); do
    part=$((k % 10))
    {
      [[ -s $tmp/batch.$part.cfg ]] && echo next
      printf 'url = "%s/pipelines"\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\n' "$url" "$token"
      printf 'data = "{\\"id\\": \\"p%d\\", \\"spec\\": {\\"name\\": \\"small\\", \\"stages\\": [{\\"name\\": \\"a\\", \\"run\\": {\\"builtin\\": \\"echo\\"}}]}}"\n' "$k"
      printf 'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n'
    } >>"$tmp/batch.$part.cfg"
  done
  for ((part = 0; part < 10; part++)); do
    curl -s --max-time 120 -K "$tmp/batch.$part.cfg" >"$tmp/codes.$part" &
    curls+=($!)
  done
  wait "${curls[@]}"
  cat "$tmp"/codes.* >"$tmp/codes"
  rm -f "$tmp"/batch.*.cfg "$tmp"/codes.*
  [[ $(grep -c '^201$' "$tmp/codes") -eq $(($2 - $1 + 1)) ]]
}

samples=()
for ((from = 1; from <= pipelines; from += batch)); do
  to=$((from + batch - 1))
  create "$from" "$to" || { bad "create_p${from}_to_p${to}" "$(sort "$tmp/codes" | uniq -c | tr '\n' ' ')"; break; }
  wait_for 30 done_ "p$to" || { bad "p${to}_done" "$(curl -s "$url/pipelines/p$to")"; break; }
  samples+=("$to $(rss_kib)")
  echo "after $to pipelines: VmRSS $(rss_kib) KiB ($(grep -E '^Rss(Anon|File):' "/proc/$server/status" | tr -s ' \t' ' ' | tr '\n' ' '))"
done
if ((${#samples[@]} == pipelines / batch)); then
  ok "created_and_finished_$pipelines"
  read -r n0 r0 <<<"${samples[0]}"
  read -r n1 r1 <<<"${samples[-1]}"
  per=$(((r1 - r0) * 1024 / (n1 - n0)))
  echo "growth after the warm-up ($n0 pipelines, $r0 KiB) to $n1 pipelines ($r1 KiB): $per bytes per pipeline (bound $bound)"
  ((per < bound)) && ok "rss_growth_${per}_bytes_per_pipeline_under_$bound" || bad rss_growth "$per bytes per pipeline, bound $bound"
  # Every one of them is still there: listed, and rebuilt when asked for.
  listed=$(curl -s --max-time 30 -H "Authorization: Bearer $token" "$url/pipelines" | grep -o '"pipeline":"p[0-9]*"' | wc -l)
  [[ $listed -eq $pipelines ]] && ok "all_${pipelines}_listed" || bad all_listed "$listed listed"
  done_ p1 && ok first_rebuilt_on_demand || bad first_rebuilt_on_demand "$(curl -s "$url/pipelines/p1")"
fi
finish
