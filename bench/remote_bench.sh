#!/usr/bin/env bash
# Runs bench/remote_bench (node store reads over CAF's network layer, raw
# CAF and a raw TCP ping-pong in the same run) with the Erlang/OTP peer: two
# Erlang nodes on 127.0.0.1 (bench/erlang_echo.erl), the same request and
# reply sizes over Erlang distribution, default VM settings. The Erlang
# figures (medians of the same number of runs) go to remote_bench with
# --erlang, which prints them beside the others with the node/Erlang ratios.
#
# The Erlang nodes use a private cookie and an epmd of their own on a free
# port (ERL_EPMD_PORT), so a system epmd, if any, is not touched; the nodes
# and that epmd are stopped on exit. Without `erl`/`erlc`/`epmd`, only
# remote_bench runs and a message says why.
#
#   bench/remote_bench.sh [path/to/remote_bench] [remote_bench args...]
# default: build/bench/remote_bench
#   (scripts/build release --target remote_bench)
# MANTISSA_CAF_TUNE / MANTISSA_NODE_TUNE / MANTISSA_CLIENT_TUNE pass through.
set -euo pipefail
cd "$(dirname "$0")/.."

bench=build/bench/remote_bench
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
  bench=$1
  shift
fi
args=("$@")
[ -x "$bench" ] || { echo "remote_bench.sh: $bench not built (scripts/build release --target remote_bench)" >&2; exit 2; }

# The Erlang run uses the same counts as remote_bench.
requests=20000 inflight=100 runs=3
for ((i = 0; i + 1 < ${#args[@]}; i += 2)); do
  case "${args[i]}" in
    --requests) requests=${args[i + 1]} ;;
    --inflight) inflight=${args[i + 1]} ;;
    --runs) runs=${args[i + 1]} ;;
  esac
done
# The size of the note remote_bench reads (its JSON, printed as "reply:").
reply_bytes=59

skip() {
  echo "remote_bench.sh: Erlang peer skipped: $*" >&2
  exec "$bench" "${args[@]}"
}

for tool in erl erlc epmd python3; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool not found"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mantissa-erlang-XXXXXX")
epmd_pid='' server_pid=''
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && wait "$server_pid" 2>/dev/null || true
  [ -n "$epmd_pid" ] && kill "$epmd_pid" 2>/dev/null || true
  [ -n "$epmd_pid" ] && wait "$epmd_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

erlc -o "$tmp" bench/erlang_echo.erl || skip "erlc failed"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export ERL_EPMD_PORT=$port
epmd -port "$port" -address 127.0.0.1 >/dev/null 2>&1 &
epmd_pid=$!
for _ in $(seq 1 50); do
  epmd -port "$port" -names >/dev/null 2>&1 && break
  sleep 0.1
done
epmd -port "$port" -names >/dev/null 2>&1 || skip "its epmd did not start on port $port"

cookie=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
server=rb_echo_$$@127.0.0.1
common=(-noshell -noinput -setcookie "$cookie" -pa "$tmp"
        -kernel inet_dist_use_interface '{127,0,0,1}')
erl "${common[@]}" -name "$server" -run erlang_echo serve "$reply_bytes" \
  >"$tmp/server.log" 2>&1 &
server_pid=$!

echo "remote_bench.sh: Erlang/OTP $(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().') peer: $requests sequential, $((requests * 5)) with $inflight in flight, $runs runs, two nodes on 127.0.0.1"
out=$(erl "${common[@]}" -name "rb_client_$$@127.0.0.1" \
        -run erlang_echo bench "$server" "$requests" "$inflight" "$runs" 2>&1) \
  || { echo "$out" >&2; skip "the Erlang client failed"; }
echo "$out" | sed 's/^/  /'
read -r _ _ seq p50 p99 pipe < <(echo "$out" | grep '^erlang median ')
# The server halts when the client is done; give it a moment, then stop it.
for _ in $(seq 1 50); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=''
kill "$epmd_pid" 2>/dev/null || true
wait "$epmd_pid" 2>/dev/null || true
epmd_pid=''

"$bench" "${args[@]}" --erlang "$seq,$p50,$p99,$pipe"
