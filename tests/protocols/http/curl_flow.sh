#!/usr/bin/env bash
# End to end with curl, as a person would do it: set a site up offline, start
# `mantissa start` on a free port, log in, create a note, share it with
# everyone, read its page anonymously (HTML and JSON), then stop the node
# with SIGTERM and expect exit status 0. The node is always killed on exit.
#
#   tests/protocols/http/curl_flow.sh PATH/TO/mantissa
set -euo pipefail

M=${1:?usage: curl_flow.sh PATH/TO/mantissa}
. "$(dirname "$0")/../../support/node.sh"
node_tmp curl curl_flow

node_site notes
echo 'alice long password' | "$M" user add alice@example.com --product notes \
  --password-stdin --data "$D" >/dev/null

node_start --data "$D" --http 127.0.0.1:0 --no-demo
node_wait_url http

curl_json() {
  curl -sS --max-time 30 --fail-with-body -H 'Content-Type: application/json' "$@"
}

login=$(curl_json "$base/api/login" \
  -d '{"username":"alice@example.com","password":"alice long password"}') \
  || fail "login: $login"
token=$(json_field token "$login")
[ -n "$token" ] || fail "no token in the login answer: $login"
auth=(-H "Authorization: Bearer $token")

note=$(curl_json "${auth[@]}" \
  "$base/api/stores/alice@example.com/items/notes.note" \
  -d '{"title":"Hello <world>","body":"shared with everyone & more"}') \
  || fail "create a note: $note"
id=$(json_field id "$note")
[ -n "$id" ] || fail "no id in the created note: $note"

share=$(curl_json "${auth[@]}" "$base/api/stores/alice@example.com/shares" \
  -d "{\"type\":\"notes.note\",\"item\":$id,\"role\":\"everyone\",\"interfaces\":[\"read\"]}") \
  || fail "share the note: $share"
sid=$(json_field share_id "$share")
[ -n "$sid" ] || fail "no share_id in: $share"

# Anonymous: no token, no cookie.
page=$(curl -sS --max-time 30 --fail-with-body -D "$tmp/headers" \
  "$base/users/alice/$sid") || fail "the shared page: $page"
grep -qF '<h1>Hello &lt;world&gt;</h1>' <<<"$page" \
  || fail "the page does not show the escaped title: $page"
grep -qF 'shared with everyone &amp; more' <<<"$page" \
  || fail "the page does not show the escaped body: $page"
grep -qi "^content-security-policy: default-src 'none'" "$tmp/headers" \
  || fail "no Content-Security-Policy on the page"
shared=$(curl -sS --max-time 30 --fail-with-body -H 'Accept: application/json' \
  "$base/users/alice/$sid") || fail "the share as JSON: $shared"
[ "$(json_field share_id "$shared")" = "$sid" ] \
  || fail "the JSON share answer names another share: $shared"
# Not shared: 404.
status=$(curl -s -o /dev/null -w '%{http_code}' "$base/users/alice/nosuchshare")
[ "$status" = 404 ] || fail "an unknown share answers $status, not 404"

kill -TERM "$node_pid"
code=0
wait "$node_pid" || code=$?
node_pid=
[ "$code" -eq 0 ] || fail "the node exited with status $code after SIGTERM"
grep -q 'mantissa: stopped' "$tmp/out" || fail "the node did not say it stopped"
echo "curl_flow: passed"
