#!/usr/bin/env bash
# Online administration with --connect against a single running node (not
# a cluster), logged in as the system with the node's own key
# (DATA/node.key): install an offering, add a user with its product, give
# and take products, uninstall refused naming the store that still has one,
# then allowed. The offline commands then see what the node did.
#
#   tests/integration/admin_connect.sh PATH/TO/mantissa
set -euo pipefail

M=${1:?usage: admin_connect.sh PATH/TO/mantissa}
. "$(dirname "$0")/../support/node.sh"
node_tmp admin admin_connect

D=$tmp/data
"$M" init --data "$D" --domain example.com >/dev/null
node_start --data "$D" --http 127.0.0.1:0 --listen 127.0.0.1:0 --no-demo
node_wait_url http
port=$(sed -n 's|.*listening for actors on 127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/out")
[ -n "$port" ] || fail "no actor port in the node's output"
C=(--connect "127.0.0.1:$port" --data "$D")

# expect TEXT COMMAND...: COMMAND succeeds and prints TEXT.
expect() {
  local text=$1 out
  shift
  out=$("$@" 2>&1) || fail "'$*' failed: $out"
  grep -qF -- "$text" <<<"$out" || fail "'$*' did not print '$text': $out"
}
# refused TEXT COMMAND...: COMMAND fails and says TEXT.
refused() {
  local text=$1 out
  shift
  if out=$("$@" 2>&1); then fail "'$*' succeeded: $out"; fi
  grep -qF -- "$text" <<<"$out" || fail "'$*' did not say '$text': $out"
}

expect "installed offering notes 1.0" "$M" offering install notes "${C[@]}"
refused "already installed" "$M" offering install notes "${C[@]}"
refused "no product named" "$M" user add bob@example.com --no-password \
  --product nothing "${C[@]}"
expect "added product notes to alice@example.com" \
  "$M" user add alice@example.com --password-stdin --product notes "${C[@]}" \
  <<<"alice long password"
refused "not part of a cluster" "$M" user add carol@example.com --no-password --node n2 \
  "${C[@]}"
expect "created product plain (notebook)" \
  "$M" product create plain --powerups notebook "${C[@]}"
expect "added product plain to alice@example.com" \
  "$M" user product add alice@example.com plain "${C[@]}"
refused "the store of alice@example.com has product" \
  "$M" offering uninstall notes "${C[@]}"
expect "removed product notes from alice@example.com" \
  "$M" user product remove alice@example.com notes "${C[@]}"
refused "alice@example.com" "$M" offering uninstall notes "${C[@]}"
expect "removed product plain from alice@example.com" \
  "$M" user product remove alice@example.com plain "${C[@]}"
refused "does not have product" \
  "$M" user product remove alice@example.com plain "${C[@]}"
expect "removed product plain" "$M" offering uninstall notes "${C[@]}"

# The account works: alice logs in over HTTP.
login=$(curl -sS --max-time 30 -H 'Content-Type: application/json' \
  "$base/api/login" \
  -d '{"username":"alice@example.com","password":"alice long password"}')
[ -n "$(json_field token "$login")" ] || fail "alice cannot log in: $login"

kill -TERM "$node_pid"
wait "$node_pid" || fail "the node did not stop cleanly"
node_pid=
expect "notes" "$M" offering list --data "$D"
"$M" offering list --data "$D" | grep -q "^notes.*not-installed" \
  || fail "notes is still installed: $("$M" offering list --data "$D")"
[ -z "$("$M" product list --data "$D")" ] || fail "products are left"

# Offline, the same rules: the app store left by the uninstall is used
# again, and the grant recorded offline keeps the offering installed.
# (Each line: expect or refused, the text, the command's arguments.)
while IFS='|' read -r check text args; do
  read -r -a argv <<<"$args"
  $check "$text" "$M" "${argv[@]}" --data "$D" </dev/null
done <<'STEPS'
expect|installed offering notes 1.0|offering install notes
expect|added product notes to alice@example.com|user product add alice@example.com notes
refused|the store of alice@example.com has product 'notes'|offering uninstall notes
expect|removed product notes from alice@example.com|user product remove alice@example.com notes
expect|uninstalled offering notes|offering uninstall notes
STEPS
echo "admin_connect: OK"
