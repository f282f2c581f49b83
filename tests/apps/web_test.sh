#!/bin/bash
# The web view's serving and signing in (docs/web.md, docs/http.md#the-web-view),
# from outside with curl against a real `serve`:
#   - GET / and /assets/* answer the embedded bundle, byte for byte web/dist,
#     without a token, with their Content-Type, Cache-Control, ETag (304) and a
#     strict Content-Security-Policy; unknown paths stay 404 (401 without a
#     token: nothing is learned without one);
#   - POST /session: the right token sets an HttpOnly, SameSite=Strict cookie
#     holding a random session id (not the token, a new one each time); a
#     wrong token 401 and no cookie; the rules for changes hold for it (no
#     JSON content type or a foreign Origin: 403);
#   - the cookie is accepted wherever the token is: GET /pipelines, a POST
#     with JSON from the same Origin; refused with a foreign Origin or a form
#     content type (403, nothing changed); a made-up cookie is 401;
#   - POST /session/end clears the cookie and forgets the id (401 after),
#     other sessions stay; the table is bounded (the oldest of 257 goes);
#   - the cookie is ID.ISSUED_MS.MAC (HMAC keyed by the token): a restarted
#     server accepts a session opened before it started, until it is ended;
#     a new token ends them all;
#   - a session expires (a server with DAIRECTOR_TEST_SESSION_SECONDS=1).
# Waits poll a condition (wait_for), never sleep for a state.
# Usage: web_test.sh DAIRECTOR EXAMPLES_DIR WEB_DIST_DIR
set -u
bin=${1:?dairector binary}
examples=${2:?examples dir}
dist=${3:?web/dist}
tmp=$(mktemp -d)
export XDG_CONFIG_HOME=$tmp/config
server= short=
cleanup() {
  stop_gently "$short" "$server"  # lib.sh
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"


serve_into server --journal "$tmp/web.db" --listen 127.0.0.1:0 --http 127.0.0.1:0 --token-file "$tmp/token"
base=http://127.0.0.1:$port
token=$(head -1 "$tmp/token")
same_origin=$base

# fetch NAME ARGS...: curl ARGS; the body in $tmp/NAME.body, the headers in
# $tmp/NAME.head; prints the HTTP code.
fetch() {
  local name=$1; shift
  curl -s -m 30 -o "$tmp/$name.body" -D "$tmp/$name.head" -w "%{http_code}" "$@"
}
# header NAME FIELD: the value of header FIELD in $tmp/NAME.head (last one).
header() { grep -i "^$2:" "$tmp/$1.head" | tail -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
# check NAME GOT WANT [DETAIL]
check() { [[ "$2" == "$3" ]] && ok "$1" || bad "$1" "got '$2', expected '$3'${4:+: $4}"; }

echo "== static files: no token needed, the embedded bundle"
check "GET / without a token" "$(fetch index "$base/")" 200
check "GET / is HTML" "$(header index Content-Type)" "text/html; charset=utf-8"
cmp -s "$tmp/index.body" "$dist/index.html" && ok "GET / answers web/dist/index.html byte for byte" ||
  bad "GET / body" "differs from $dist/index.html"
csp=$(header index Content-Security-Policy)
[[ $csp == *"default-src 'self'"* && $csp == *"script-src 'self'"* && $csp != *unsafe* && $csp == *"frame-ancestors 'none'"* ]] &&
  ok "a strict Content-Security-Policy (self only, no unsafe-*, not framed)" || bad "CSP" "'$csp'"
check "nosniff" "$(header index X-Content-Type-Options)" nosniff
check "Cache-Control of the page" "$(header index Cache-Control)" no-cache
grep -q '<script[^>]*src="/assets/app.js"' "$tmp/index.body" && ! grep -qE '<script>|<script [^>]*>[^<]' "$tmp/index.body" &&
  ok "the page loads /assets/app.js and has no inline script" || bad "index.html" "no external script, or an inline one"
for asset in app.js:text/javascript app.css:text/css; do
  name=${asset%%:*} type=${asset#*:}
  check "GET /assets/$name without a token" "$(fetch "$name" "$base/assets/$name")" 200
  check "/assets/$name Content-Type" "$(header "$name" Content-Type)" "$type; charset=utf-8"
  check "/assets/$name Cache-Control" "$(header "$name" Cache-Control)" no-cache
  [[ -n $(header "$name" Content-Security-Policy) ]] && ok "/assets/$name has the CSP" || bad "/assets/$name CSP" missing
  cmp -s "$tmp/$name.body" "$dist/$name" && ok "/assets/$name is web/dist/$name byte for byte" ||
    bad "/assets/$name body" "differs from $dist/$name"
done
! grep -qE 'https?://[a-z]' "$dist/index.html" "$dist/app.css" && ok "nothing in the page or its style names another host" ||
  bad "other hosts" "$(grep -oE 'https?://[a-z][^"'"'"' )]*' "$dist/index.html" "$dist/app.css" | head -3)"
etag=$(header app.js ETag)
check "an unchanged asset is 304 (ETag)" "$(fetch etag -H "If-None-Match: $etag" "$base/assets/app.js")" 304
check "HEAD /" "$(curl -s -m 30 -o /dev/null -w '%{http_code}' -I "$base/")" 200
check "/assets/index.html is not a second address of the page" \
  "$(fetch x -H "Authorization: Bearer $token" "$base/assets/index.html")" 404
check "an unknown asset with a token: 404" "$(fetch x -H "Authorization: Bearer $token" "$base/assets/nope.js")" 404
check "an unknown path with a token: 404" "$(fetch x -H "Authorization: Bearer $token" "$base/nope")" 404
check "an unknown asset without a token: 401" "$(fetch x "$base/assets/nope.js")" 401
check "GET /pipelines without a token or cookie: 401" "$(fetch x "$base/pipelines")" 401
check "a foreign Host is refused for the page too (421)" "$(fetch x -H 'Host: evil.example' "$base/")" 421

echo "== POST /session"
json=(-H 'Content-Type: application/json')
check "a wrong token: 401" "$(fetch wrong "${json[@]}" --data '{"token": "not-the-token"}' "$base/session")" 401
grep -q '"error":"wrong token' "$tmp/wrong.body" && ok "a wrong token says so in JSON" || bad "wrong token body" "$(cat "$tmp/wrong.body")"
[[ -z $(header wrong Set-Cookie) ]] && ok "a wrong token sets no cookie" || bad "wrong token cookie" "$(header wrong Set-Cookie)"
check "no token field: 400" "$(fetch x "${json[@]}" --data '{"tok": "x"}' "$base/session")" 400
check "a token that is not a string: 400" "$(fetch x "${json[@]}" --data '{"token": 7}' "$base/session")" 400
check "not JSON: 400" "$(fetch x "${json[@]}" --data '{"token": ' "$base/session")" 400
check "signing in by a form (no JSON content type): 403" \
  "$(fetch x -H 'Content-Type: application/x-www-form-urlencoded' --data "token=$token" "$base/session")" 403
check "signing in from a foreign Origin: 403" \
  "$(fetch x "${json[@]}" -H 'Origin: http://evil.example' --data "{\"token\": \"$token\"}" "$base/session")" 403
check "the right token: 200" \
  "$(fetch signin "${json[@]}" -H "Origin: $same_origin" --data "{\"token\": \"$token\"}" "$base/session")" 200
set_cookie=$(header signin Set-Cookie)
session=$(sed -n 's/^dairector_session=\([^;]*\);.*/\1/p' <<<"$set_cookie")
[[ $session =~ ^[0-9a-f]{64}\.[0-9]+\.[0-9a-f]{64}$ ]] && ok "the cookie holds a session: ID.ISSUED_MS.MAC" ||
  bad "session cookie" "'$set_cookie'"
for attr in HttpOnly SameSite=Strict Path=/ Max-Age=43200; do
  [[ "; $set_cookie;" == *"; $attr;"* ]] && ok "the cookie is $attr" || bad "cookie $attr" "'$set_cookie'"
done
[[ $session != "$token" && $set_cookie != *"$token"* ]] && ok "the cookie is not the token" || bad "cookie" "carries the token"
fetch signin2 "${json[@]}" --data "{\"token\": \"$token\"}" "$base/session" >/dev/null
session2=$(header signin2 Set-Cookie | sed -n 's/^dairector_session=\([^;]*\);.*/\1/p')
[[ -n $session2 && $session2 != "$session" ]] && ok "each sign-in gets its own random id" || bad "second id" "'$session2'"

echo "== the cookie in place of the token"
cookie=(-H "Cookie: other=1; dairector_session=$session")
check "GET /pipelines with the cookie" "$(fetch x "${cookie[@]}" "$base/pipelines")" 200
spec=$(cat "$examples/dairector.json")
check "POST /pipelines with the cookie, JSON and the same Origin: 201" \
  "$(fetch create "${cookie[@]}" "${json[@]}" -H "Origin: $same_origin" --data "{\"spec\": $spec, \"id\": \"by-cookie\"}" "$base/pipelines")" 201
check "GET /pipelines/by-cookie with the cookie" "$(fetch x "${cookie[@]}" "$base/pipelines/by-cookie")" 200
check "a change with the cookie from a foreign Origin: 403" \
  "$(fetch foreign "${cookie[@]}" "${json[@]}" -H 'Origin: http://evil.example' --data "{\"spec\": $spec, \"id\": \"from-evil\"}" "$base/pipelines")" 403
check "a change with the cookie by a form: 403" \
  "$(fetch x "${cookie[@]}" -H 'Content-Type: text/plain' --data "{\"spec\": $spec, \"id\": \"from-form\"}" "$base/pipelines")" 403
check "nothing was made by them" "$(fetch x "${cookie[@]}" "$base/pipelines/from-evil")$(fetch x "${cookie[@]}" "$base/pipelines/from-form")" 404404
check "a cancel with the cookie from the same Origin: 200" \
  "$(fetch x "${cookie[@]}" "${json[@]}" -H "Origin: $same_origin" --data '{}' "$base/pipelines/by-cookie/cancel")" 200
check "a made-up session id: 401" "$(fetch madeup -H "Cookie: dairector_session=${session//[0-9]/a}" "$base/pipelines")" 401
grep -q "not signed in" "$tmp/madeup.body" && ok "a made-up session is told to sign in again" || bad "made-up body" "$(cat "$tmp/madeup.body")"
check "the token as the cookie: 401" "$(fetch x -H "Cookie: dairector_session=$token" "$base/pipelines")" 401
id_part=${session%%.*} rest=${session#*.}
check "a session's MAC with another issue time: 401" \
  "$(fetch x -H "Cookie: dairector_session=$id_part.1${rest#*.}" "$base/pipelines")" 401

echo "== POST /session/end"
check "/session/end from a foreign Origin: 403" \
  "$(fetch x "${cookie[@]}" "${json[@]}" -H 'Origin: http://evil.example' --data '{}' "$base/session/end")" 403
check "the session lives on after that" "$(fetch x "${cookie[@]}" "$base/pipelines")" 200
check "/session/end: 200" "$(fetch end "${cookie[@]}" "${json[@]}" -H "Origin: $same_origin" --data '{}' "$base/session/end")" 200
cleared=$(header end Set-Cookie)
[[ $cleared == "dairector_session=;"* && $cleared == *"Max-Age=0"* ]] && ok "/session/end clears the cookie" ||
  bad "cleared cookie" "'$cleared'"
check "the ended session is forgotten: 401" "$(fetch x "${cookie[@]}" "$base/pipelines")" 401
check "another session stays" "$(fetch x -H "Cookie: dairector_session=$session2" "$base/pipelines")" 200

echo "== the table is bounded (256): the oldest goes"
# (One curl for all 256, on one connection: a process each is slow on a busy machine.)
for ((i = 0; i < 256; i++)); do printf 'url = "%s"\noutput = "/dev/null"\n' "$base/session"; done >"$tmp/many.curl"
curl -s -m 60 "${json[@]}" --data "{\"token\": \"$token\"}" -K "$tmp/many.curl"
check "the oldest session went when 256 more signed in" "$(fetch x -H "Cookie: dairector_session=$session2" "$base/pipelines")" 401
fetch last "${json[@]}" --data "{\"token\": \"$token\"}" "$base/session" >/dev/null
last=$(header last Set-Cookie | sed -n 's/^dairector_session=\([^;]*\);.*/\1/p')
check "the newest works" "$(fetch x -H "Cookie: dairector_session=$last" "$base/pipelines")" 200

echo "== a restart keeps the sessions opened before it (an open page reconnects)"
stop_gently "$server"
wait "$server" 2>/dev/null
# (A journal of its own: what is tested is the sessions, and a new journal
# does not wait for the old server's stage commands to end.)
serve_into server --journal "$tmp/web2.db" --listen 127.0.0.1:0 --http 127.0.0.1:0 --token-file "$tmp/token"
base=http://127.0.0.1:$port
check "a session opened before the restart works after it" "$(fetch x -H "Cookie: dairector_session=$last" "$base/pipelines")" 200
check "... and can be ended" "$(fetch x -H "Cookie: dairector_session=$last" "${json[@]}" --data '{}' "$base/session/end")" 200
check "... and then is refused" "$(fetch x -H "Cookie: dairector_session=$last" "$base/pipelines")" 401
fetch keep "${json[@]}" --data "{\"token\": \"$token\"}" "$base/session" >/dev/null
keep=$(header keep Set-Cookie | sed -n 's/^dairector_session=\([^;]*\);.*/\1/p')
check "a session opened after the restart works" "$(fetch x -H "Cookie: dairector_session=$keep" "$base/pipelines")" 200
(umask 077 && echo another-token-of-the-server >"$tmp/token2")
stop_gently "$server"
wait "$server" 2>/dev/null
serve_into server --journal "$tmp/web3.db" --listen 127.0.0.1:0 --http 127.0.0.1:0 --token-file "$tmp/token2"
base=http://127.0.0.1:$port
check "a new token ends every session" "$(fetch x -H "Cookie: dairector_session=$keep" "$base/pipelines")" 401

echo "== a session expires"
DAIRECTOR_TEST_SESSION_SECONDS=1 serve_into short --journal "$tmp/short.db" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
  --token-file "$tmp/token"
short_base=http://127.0.0.1:$port
fetch s "${json[@]}" --data "{\"token\": \"$token\"}" "$short_base/session" >/dev/null
[[ $(header s Set-Cookie) == *"Max-Age=1"* ]] && ok "the cookie's Max-Age is the session's lifetime" || bad "Max-Age" "$(header s Set-Cookie)"
short_cookie=$(header s Set-Cookie | sed -n 's/^dairector_session=\([^;]*\);.*/\1/p')
expired() { [[ $(curl -s -m 30 -o /dev/null -w '%{http_code}' -H "Cookie: dairector_session=$short_cookie" "$short_base/pipelines") == 401 ]]; }
# (The first request may land before or after the second is over: it is not
# asserted, only that the session ends within the bound.)
wait_for 10 expired && ok "the session expired" || bad "expiry" "the session still works after 10 s"
check "the token still works there" "$(fetch x -H "Authorization: Bearer $token" "$short_base/pipelines")" 200

finish
