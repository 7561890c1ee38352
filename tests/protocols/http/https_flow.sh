#!/usr/bin/env bash
# HTTPS end to end: `mantissa start --http-cert/--http-key` with a
# self-signed certificate made here; curl logs in over TLS (the session
# cookie is Secure) and reads back a note; plain HTTP to the TLS port is
# closed and logged; then the setting http.certificate alone (no key) is
# refused at start. (A handshake that never completes: server.test.cpp.) The node is
# always killed on exit.
#
#   tests/protocols/http/https_flow.sh PATH/TO/mantissa
set -euo pipefail

M=${1:?usage: https_flow.sh PATH/TO/mantissa}
. "$(dirname "$0")/../../support/node.sh"
node_tmp https https_flow

for tool in openssl curl python3; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/setup installs it)"
done

node_site notes
echo 'alice long password' | "$M" user add alice@example.com --product notes \
  --password-stdin --data "$D" >/dev/null

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1 \
  || fail "cannot make a test certificate"

node_start --data "$D" --http 127.0.0.1:0 --no-demo \
  --http-cert "$tmp/cert.pem" --http-key "$tmp/key.pem"
node_wait_url https 'an https:// address'
port=${base##*:}

C=(curl -sS --max-time 30 --cacert "$tmp/cert.pem")

"${C[@]}" --fail "$base/healthz" >/dev/null || fail "healthz over TLS"
# Without the certificate as a trust anchor, curl refuses the server.
if curl -sS --max-time 30 "$base/healthz" >/dev/null 2>&1; then
  fail "curl accepted a self-signed certificate it was not told to trust"
fi

login=$("${C[@]}" --fail-with-body -D "$tmp/headers" -H 'Content-Type: application/json' \
  "$base/api/login" \
  -d '{"username":"alice@example.com","password":"alice long password"}') \
  || fail "login: $login"
token=$(json_field token "$login")
[ -n "$token" ] || fail "no token in $login"
grep -i '^set-cookie: mantissa_session=' "$tmp/headers" | grep -q '; Secure' \
  || fail "the session cookie is not Secure: $(grep -i set-cookie "$tmp/headers")"

created=$("${C[@]}" --fail-with-body -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' \
  "$base/api/stores/alice@example.com/items/notes.note" \
  -d '{"title":"over TLS","body":"secret"}') || fail "create: $created"
id=$(json_field id "$created")
got=$("${C[@]}" --fail-with-body -H "Authorization: Bearer $token" \
  "$base/api/stores/alice@example.com/items/notes.note/$id") || fail "read: $got"
grep -q '"title":"over TLS"' <<<"$got" || fail "read back: $got"

# Plain HTTP to the TLS port: no HTTP answer, the connection is closed.
if curl -sS --max-time 10 "http://127.0.0.1:$port/healthz" >"$tmp/plain" 2>&1; then
  fail "plain HTTP got an answer from the TLS port: $(cat "$tmp/plain")"
fi

# Keep-alive: two requests on one TLS connection.
two=$("${C[@]}" --fail "$base/healthz" "$base/healthz") || fail "keep-alive"
[ "$(grep -o 'ok' <<<"$two" | wc -l)" -ge 2 ] || fail "keep-alive: $two"

for _ in $(seq 1 50); do
  grep -q "TLS handshake from 127.0.0.1 failed" "$tmp/err" && break
  sleep 0.1
done
grep -q "TLS handshake from 127.0.0.1 failed" "$tmp/err" \
  || fail "no log line for the failed handshake"

kill -TERM "$node_pid"
status=0
wait "$node_pid" || status=$?
node_pid=
[ "$status" -eq 0 ] || fail "the node exited with $status after SIGTERM"

# A certificate without its key is a configuration error.
"$M" config set http.certificate "$tmp/cert.pem" --data "$D" >/dev/null
status=0
"$M" start --data "$D" --http 127.0.0.1:0 --no-demo >"$tmp/out2" 2>"$tmp/err2" || status=$?
[ "$status" -eq 2 ] || fail "start with only http.certificate exited $status"
grep -q "HTTPS" "$tmp/err2" || fail "no HTTPS error: $(cat "$tmp/err2")"
echo "https_flow: ok"
