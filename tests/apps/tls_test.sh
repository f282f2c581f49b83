#!/bin/bash
# Mutual TLS on the worker port by default (issue 17, item 1), with real
# processes on loopback and no TLS option on the legitimate side:
#   - `serve` makes the credentials folder beside the default token file
#     (folders 0700, files 0600, a private CA whose key is not kept, a
#     serverAuth and a clientAuth certificate with random serials);
#   - a worker finds its credential by default, or in a copied folder through
#     --credentials; two such workers run the six-stage example;
#   - refused before any message, and never registered: a TLS client without
#     a certificate, with another CA's, with the server's own certificate
#     (serverAuth only), and a plain-TCP worker; a worker refuses a server
#     that presents the worker certificate; a healthy worker stays connected
#     through all of it (one connection's TLS error must not close another);
#   - refused at start, exit 2: a worker without credentials, an incomplete
#     folder (the missing file named), a key readable by others, a file that
#     is not a key, contradicting options, --insecure-plain-tcp beyond
#     loopback; on loopback it works and logs the WARNING once;
#   - a credentials folder deleted under a running server changes nothing.
# Usage: tls_test.sh DAIRECTOR EXAMPLES_DIR
set -u
bin=${1:?dairector binary}
examples=${2:?examples dir}
tmp=$(mktemp -d)
export XDG_CONFIG_HOME=$tmp/config  # the default token file and credentials, never the home's
home=$XDG_CONFIG_HOME/dairector
creds=$home/credentials
declare -A pids=()
servers=()
cleanup() {
  { kill -KILL "${servers[@]}" "${pids[@]}"; wait; } 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"

# start_server NAME ARGS...: a server logging to $tmp/NAME.log; waits until
# ready and sets $wport and $hport (and $server).
start_server() {
  local name=$1; shift
  "$bin" serve --journal "$tmp/$name.db" --listen 127.0.0.1:0 --http 127.0.0.1:0 --remote-stages all \
    --workdir "$examples" "$@" >"$tmp/$name.log" 2>&1 &
  server=$!
  servers+=("$server")
  wait_for 20 grep -q "ready" "$tmp/$name.log" || { bad "server_$name" "$(tail -3 "$tmp/$name.log")"; return 1; }
  wport=$(grep -o 'workers on 127.0.0.1:[0-9]*' "$tmp/$name.log" | grep -o '[0-9]*$')
  hport=$(grep -o 'http on 127.0.0.1:[0-9]*' "$tmp/$name.log" | grep -o '[0-9]*$')
}

# start_worker NAME PORT ARGS...: a worker process for stages of the example.
start_worker() {
  local name=$1 port=$2; shift 2
  "$bin" worker --connect 127.0.0.1:$port --stages idea,analyze,slice,handoff,execute,validate --name "$name" "$@" \
    >"$tmp/$name.log" 2>&1 &
  pids[$name]=$!
}

# refused_worker NAME PORT ARGS...: a worker that must fail to connect: waits
# for its first refused attempt, stops it, and checks it never registered.
refused_worker() {
  local name=$1 port=$2; shift 2
  start_worker "$name" "$port" "$@"
  wait_for 20 grep -q "cannot reach the server" "$tmp/$name.log"; local seen=$?
  stop_gently "${pids[$name]}"
  unset "pids[$name]"
  [[ $seen -eq 0 ]] && ! grep -q "registered" "$tmp/$name.log" && ok "refuses_worker_$name" && refusals=$((refusals + 1)) ||
    bad "refuses_worker_$name" "$(tail -3 "$tmp/$name.log")"
}
refusals=0

# refused_tls NAME ALERT ARGS...: `openssl s_client` ARGS against the worker
# port; -ign_eof keeps it reading until the server's verdict arrives.
refused_tls() {
  local name=$1 alert=$2; shift 2
  local out
  out=$(timeout 20 openssl s_client -ign_eof -connect 127.0.0.1:$wport "$@" </dev/null 2>&1)
  grep -q "alert $alert" <<<"$out" && ok "refuses_tls_$name" && refusals=$((refusals + 1)) ||
    bad "refuses_tls_$name" "$(tail -3 <<<"$out")"
}

# --- plain TCP only on loopback ------------------------------------------------
mkdir -p "$tmp/x"
expect plain_tcp_serve_beyond_loopback_refused 2 "insecure-plain-tcp is for loopback only.*0.0.0.0" -- \
  serve --journal "$tmp/x.db" --token-file "$tmp/x/token" --listen 0.0.0.0:0 --allow-remote --insecure-plain-tcp
expect plain_tcp_worker_beyond_loopback_refused 2 "insecure-plain-tcp is for loopback only.*192.0.2.1" -- \
  worker --connect 192.0.2.1:7878 --allow-remote --token-file "$tmp/x/token" --stages a --insecure-plain-tcp

# --- what serve makes, with no option ------------------------------------------
start_server main || { finish; exit 1; }
grep -q "workers on 127.0.0.1:$wport (mutual TLS)" "$tmp/main.log" && ok "default_is_mutual_tls" ||
  bad "default_is_mutual_tls" "$(head -3 "$tmp/main.log")"
modes=$(cd "$home" && find credentials -printf '%m %p\n' | sort -k2 | tr '\n' ' ')
want="700 credentials 700 credentials/server 600 credentials/server/ca.pem 600 credentials/server/cert.pem "
want+="600 credentials/server/key.pem 700 credentials/worker 600 credentials/worker/ca.pem "
want+="600 credentials/worker/cert.pem 600 credentials/worker/key.pem "
# Made in a hidden sibling and renamed into place: nothing of it is left.
[[ $modes == "$want" ]] && ! ls -A "$home" | grep -q "^\.credentials" && ok "credentials_made_with_modes" ||
  bad "credentials_made_with_modes" "$modes; $(ls -A "$home")"
text() { openssl x509 -in "$1" -noout -text 2>&1 | tr '\n' ' ' | tr -s ' '; }
ca_text=$(text "$creds/server/ca.pem")
grep -q "Basic Constraints: critical CA:TRUE.*Key Usage: critical Certificate Sign" <<<"$ca_text" &&
  grep -q "prime256v1" <<<"$ca_text" && ok "ca_is_a_p256_ca" || bad "ca_is_a_p256_ca" "$ca_text"
grep -q "Extended Key Usage: TLS Web Server Authentication " <<<"$(text "$creds/server/cert.pem")" &&
  grep -q "Extended Key Usage: TLS Web Client Authentication " <<<"$(text "$creds/worker/cert.pem")" &&
  ok "server_serves_worker_is_a_client" || bad "server_serves_worker_is_a_client" "$(text "$creds/worker/cert.pem")"
cmp -s "$creds/server/ca.pem" "$creds/worker/ca.pem" && ! grep -lq "PRIVATE" "$creds"/*/ca.pem "$creds"/*/cert.pem &&
  ok "ca_key_not_kept" || bad "ca_key_not_kept" "$(ls -R "$creds")"

# Another server with its own folder (--credentials): another CA, another serial.
main_wport=$wport main_hport=$hport
start_server other --token-file "$tmp/other/token" --credentials "$tmp/other/creds"
[[ -f $tmp/other/creds/worker/key.pem && ! -e $tmp/other/credentials ]] && ok "serve_credentials_option" ||
  bad "serve_credentials_option" "$(ls -R "$tmp/other")"
serial() { openssl x509 -in "$1" -noout -serial; }
[[ $(serial "$creds/server/ca.pem") != "$(serial "$tmp/other/creds/server/ca.pem")" ]] && ok "random_serials" ||
  bad "random_serials" "$(serial "$creds/server/ca.pem")"
stop_gently "$server"
wport=$main_wport hport=$main_hport

# --- who is refused on the connection, while a healthy worker is connected -----
start_worker healthy $wport
wait_for 20 grep -q "registered" "$tmp/healthy.log" && grep -q "(mutual TLS)" "$tmp/main.log" &&
  ok "default_worker_registers_over_mutual_tls" || bad "default_worker_registers_over_mutual_tls" "$(tail -3 "$tmp/healthy.log")"
refused_tls no_certificate "certificate required" -CAfile "$creds/worker/ca.pem"
refused_tls no_certificate_tls12 "handshake failure" -tls1_2 -CAfile "$creds/worker/ca.pem"
refused_tls another_ca "unknown ca" -cert "$tmp/other/creds/worker/cert.pem" -key "$tmp/other/creds/worker/key.pem"
refused_tls server_certificate "unsupported certificate" -cert "$creds/server/cert.pem" -key "$creds/server/key.pem"
refused_worker rogue $wport --credentials "$tmp/other/creds/worker"
# A plain-TCP client (before mutual TLS, any worker was one).
plain_tcp=--insecure-plain-tcp; "$bin" worker --help | grep -q -- "$plain_tcp" || plain_tcp=
refused_worker plain $wport $plain_tcp
cp -r "$creds/server" "$tmp/as-worker"  # the server's serverAuth certificate, presented by a worker
refused_worker servercert $wport --credentials "$tmp/as-worker"
registered=$(grep -o "worker '[^']*' registered" "$tmp/main.log" | sort -u | tr '\n' ' ')
[[ $registered == "worker 'worker:healthy' registered " ]] && ok "strangers_never_register" ||
  bad "strangers_never_register" "$registered"
# Through all seven refusals, one connection's TLS error must not close
# another: two stages in a row on the healthy worker, right after the last
# refusal and before any new handshake (which would empty OpenSSL's error
# queue and hide it). A connection closed by the first result is known to the
# registry before it is asked for the second stage's worker.
cat >"$tmp/two.json" <<EOF
{"name": "two", "stages": [{"name": "idea", "run": {"builtin": "echo"}},
  {"name": "analyze", "after": ["idea"], "run": {"builtin": "echo"}}]}
EOF
out=$(timeout 60 "$bin" run "$tmp/two.json" --server "http://127.0.0.1:$hport" --id after-refusals 2>&1) ||
  bad "after_refusals_run" "$out"
[[ $refusals -eq 7 ]] && ! grep -q "lost the server" "$tmp/healthy.log" && ! grep -q "'worker:healthy' is gone" "$tmp/main.log" &&
  ok "healthy_worker_undisturbed" || bad "healthy_worker_undisturbed" "$refusals refusals; $(cat "$tmp/healthy.log")"

# A worker checks the server too: one presenting the worker certificate
# (clientAuth only) is refused by the default worker.
mkdir -p "$tmp/swapped" && cp -r "$creds/worker" "$tmp/swapped/server"
start_server swapped --token-file "$home/token" --credentials "$tmp/swapped"  # the same token: only TLS stands in the way
refused_worker fooled $wport
grep -q "ready" "$tmp/swapped.log" && ! grep -q "registered" "$tmp/swapped.log" && ok "fooled_never_registers" ||
  bad "fooled_never_registers" "$(cat "$tmp/swapped.log")"
stop_gently "$server"
wport=$main_wport hport=$main_hport

# --- a worker credential copied to "another host" -------------------------------
mkdir -p "$tmp/host2" && cp "$home/token" "$tmp/host2/token" && cp -r "$creds/worker" "$tmp/host2/wcreds"
expect worker_without_credentials_refused 2 "no worker credentials at $tmp/host2/credentials/worker.*--credentials" -- \
  worker --connect 127.0.0.1:$wport --token-file "$tmp/host2/token" --stages a
start_worker copied $wport --token-file "$tmp/host2/token" --credentials "$tmp/host2/wcreds"
wait_for 20 grep -q "registered" "$tmp/copied.log" && ok "copied_credentials_register" ||
  bad "copied_credentials_register" "$(tail -3 "$tmp/copied.log")"

# Two workers, with default-found and with copied credentials, run the six-stage example.
out=$(timeout 120 "$bin" run "$examples/dairector.json" --server "http://127.0.0.1:$hport" --id example --yes 2>&1); rc=$?
history=$("$bin" history --server "http://127.0.0.1:$hport" --id example 2>&1)
completed=$(grep -c "stage_completed" <<<"$history")
on_workers=$(grep -cE "worker:(healthy|copied) +stage_completed" <<<"$history")
[[ $rc -eq 0 && $completed -ge 6 && $completed -eq $on_workers ]] && grep -q "registered" "$tmp/copied.log" &&
  ok "example_on_two_tls_workers" || bad "example_on_two_tls_workers" "exit $rc, $on_workers of $completed: $history"

# --- refused at start -------------------------------------------------------------
cp -r "$creds/worker" "$tmp/partial" && rm "$tmp/partial/cert.pem"
expect incomplete_worker_folder_refused 2 "credentials folder $tmp/partial is incomplete: cert.pem is missing" -- \
  worker --connect 127.0.0.1:$wport --credentials "$tmp/partial" --stages a
mkdir -p "$tmp/partial-server" && cp -r "$creds/worker" "$tmp/partial-server/worker"
expect incomplete_server_folder_refused 2 "credentials folder $tmp/partial-server/server is incomplete: ca.pem is missing" -- \
  serve --journal "$tmp/p.db" --listen 127.0.0.1:0 --http 127.0.0.1:0 --credentials "$tmp/partial-server"
cp -r "$creds/worker" "$tmp/loose" && chmod 644 "$tmp/loose/key.pem"
expect loose_worker_key_refused 2 "key file $tmp/loose/key.pem is readable by group or others; .chmod 600" -- \
  worker --connect 127.0.0.1:$wport --credentials "$tmp/loose" --stages a
cp -r "$creds" "$tmp/loose-server" && chmod 640 "$tmp/loose-server/server/key.pem"
expect loose_server_key_refused 2 "key file $tmp/loose-server/server/key.pem is readable by group or others" -- \
  serve --journal "$tmp/l.db" --listen 127.0.0.1:0 --http 127.0.0.1:0 --credentials "$tmp/loose-server"
cp -r "$creds/worker" "$tmp/garbled" && echo "not a key" >"$tmp/garbled/key.pem"
expect garbled_key_refused 2 "$tmp/garbled/key.pem holds no unencrypted PEM private key" -- \
  worker --connect 127.0.0.1:$wport --credentials "$tmp/garbled" --stages a
cp -r "$creds/worker" "$tmp/mixed" && cp "$tmp/other/creds/worker/key.pem" "$tmp/mixed/key.pem"
expect mismatched_key_refused 2 "$tmp/mixed/key.pem is not the key of the certificate" -- \
  worker --connect 127.0.0.1:$wport --credentials "$tmp/mixed" --stages a
expect credentials_and_own_pki_refused 2 "name two different sets of certificates" -- \
  worker --connect 127.0.0.1:$wport --credentials "$tmp/host2/wcreds" --tls-cert a --tls-key b --tls-ca c --stages a
expect plain_tcp_and_credentials_refused 2 "insecure-plain-tcp uses no certificates" -- \
  worker --connect 127.0.0.1:$wport --credentials "$tmp/host2/wcreds" --insecure-plain-tcp --stages a

# --- plain TCP on loopback: works, and says so ---------------------------------------
warning="WARNING: plain TCP on the worker port: any local user can connect to it and act as a worker; drop --insecure-plain-tcp to use mutual TLS"
start_server plain-server --token-file "$tmp/plain/token" --insecure-plain-tcp
grep -q "(plain TCP)" "$tmp/plain-server.log" && [[ $(grep -cF "dairector serve: $warning" "$tmp/plain-server.log") -eq 1 ]] &&
  ok "plain_tcp_serve_warns" || bad "plain_tcp_serve_warns" "$(cat "$tmp/plain-server.log")"
start_worker plainworker $wport --token-file "$tmp/plain/token" --insecure-plain-tcp
wait_for 20 grep -q "registered" "$tmp/plainworker.log" &&
  [[ $(grep -cF "dairector worker: $warning" "$tmp/plainworker.log") -eq 1 ]] && ok "plain_tcp_worker_warns_and_registers" ||
  bad "plain_tcp_worker_warns_and_registers" "$(cat "$tmp/plainworker.log")"
cp -r "$creds/worker" "$tmp/plain/wcreds"
refused_worker tls-to-plain $wport --token-file "$tmp/plain/token" --credentials "$tmp/plain/wcreds"

# CAF loads the credentials again for every connection: a folder deleted
# under a running server changes nothing (it used to abort at the next one).
rm -rf "$creds"
start_worker after-delete $main_wport --token-file "$tmp/host2/token" --credentials "$tmp/host2/wcreds"
wait_for 20 grep -q "registered" "$tmp/after-delete.log" && ok "deleted_credentials_change_nothing" ||
  bad "deleted_credentials_change_nothing" "$(tail -2 "$tmp/after-delete.log"; tail -2 "$tmp/main.log")"

finish
