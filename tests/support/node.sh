# Shared preamble of the shell tests that run `mantissa start` as a process
# (tests/protocols/*/*.sh, bench/smtp_big.sh). Source it after `set -euo
# pipefail`:
#
#   . "$(dirname "$0")/../../support/node.sh"
#   node_tmp NAME TAG      # $tmp: a fresh directory (mantissa-NAME-XXXXXX),
#                          # removed on exit, the node (if $node_pid runs)
#                          # killed first
#   fail MESSAGE           # TAG: FAILED: MESSAGE, the node's output, exit 1
#   node_site OFFERING     # $D=$tmp/data: a site for example.com (init)
#                          # with OFFERING installed
#   node_start ARGS...     # `$M start ARGS...` in the background, output in
#                          # $tmp/out and $tmp/err, its pid in $node_pid
#   node_wait_url SCHEME   # $base: the SCHEME://host:port it serves, within
#                          # 60 s, or fail
#
# Hooks: NODE_CLEANUP, a command run by the exit trap after the node is
# killed and before $tmp is removed; NODE_FAIL_TAIL, when set, shows only
# that many last lines of the node's stderr on failure (else both whole).

node_tag=node
node_pid=
NODE_CLEANUP=
NODE_FAIL_TAIL=

node_cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
    kill -KILL "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
  if [ -n "$NODE_CLEANUP" ]; then
    $NODE_CLEANUP
  fi
  rm -rf "$tmp"
}

node_tmp() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/mantissa-$1-XXXXXX")
  node_tag=${2:-$1}
  trap node_cleanup EXIT
}

fail() {
  echo "$node_tag: FAILED: $*" >&2
  if [ -n "$NODE_FAIL_TAIL" ]; then
    if [ -f "$tmp/err" ]; then
      echo "--- node stderr (last lines)" >&2
      tail -n "$NODE_FAIL_TAIL" "$tmp/err" >&2
    fi
  elif [ -f "$tmp/out" ]; then
    echo "--- node stdout" >&2; cat "$tmp/out" >&2
    echo "--- node stderr" >&2; cat "$tmp/err" >&2
  fi
  exit 1
}

# node_start ARGS...: starts `$M start ARGS...`. The output files exist
# before anyone reads them (the node opens them in the background).
node_start() {
  : >"$tmp/out"
  : >"$tmp/err"
  "$M" start "$@" >"$tmp/out" 2>"$tmp/err" &
  node_pid=$!
}

# node_wait_url SCHEME [WHAT]: waits for the node's "serving SCHEME://…"
# line and sets $base; fails if the node exits first or after 60 s with
# "the node did not print WHAT within 60 s" (WHAT: "its address").
node_wait_url() {
  base=
  for _ in $(seq 1 600); do
    base=$(sed -n "s|.*serving \\($1://[^/ ]*\\)/.*|\\1|p" "$tmp/out" | head -n 1)
    [ -n "$base" ] && break
    kill -0 "$node_pid" 2>/dev/null || fail "the node exited before serving"
    sleep 0.1
  done
  [ -n "$base" ] || fail "the node did not print ${2:-its address} within 60 s"
}

# node_site OFFERING: `mantissa init` of a site for example.com in
# $D ($tmp/data), and `offering install OFFERING` there.
node_site() {
  D=$tmp/data
  "$M" init --data "$D" --domain example.com >/dev/null
  "$M" offering install "$1" --data "$D" >/dev/null
}

# The value of a top-level JSON member: a string or an integer.
json_field() {
  sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<<"$2" | head -n 1
}
