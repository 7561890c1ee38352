#!/usr/bin/env bash
# Moves a user store of about 100 MB between two node processes on
# 127.0.0.1 (`mantissa store move`, docs/operations.md) and, in the same
# run, copies the same file the plain way: `sqlite3 .backup` to the other
# node's data directory, then sha256sum and sync of the copy — the local
# work of a move without the network, the actors or the switch. Prints each
# run, the medians and the ratio move/plain.
#
#   bench/move_bench.sh [path/to/mantissa] [--mb N] [--runs N]
# default: build/cli/mantissa (scripts/build release --target mantissa)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=build/cli/mantissa
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
  bin=$1
  shift
fi
mb=100 runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --mb) mb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: bench/move_bench.sh [mantissa] [--mb N] [--runs N]" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "move_bench.sh: $bin not built (scripts/build release --target mantissa)" >&2; exit 2; }
for tool in python3 sqlite3 sha256sum; do
  command -v "$tool" >/dev/null || { echo "move_bench.sh: $tool not found" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mantissa-move-bench-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_serving() {  # log file
  for _ in $(seq 1 300); do
    grep -q "serving http://" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "move_bench.sh: a node did not start:" >&2
  cat "$1" >&2
  exit 1
}

p1=$(free_port) p2=$(free_port) h1=$(free_port) h2=$(free_port)
"$bin" init --data "$tmp/n1" --domain example.com >/dev/null
key=$tmp/n1/cluster.key
"$bin" start --data "$tmp/n1" --name n1 --listen 127.0.0.1:$p1 \
  --http 127.0.0.1:$h1 --no-demo >"$tmp/n1.log" 2>&1 &
pids+=($!)
wait_serving "$tmp/n1.log"
"$bin" start --data "$tmp/n2" --name n2 --listen 127.0.0.1:$p2 \
  --http 127.0.0.1:$h2 --join 127.0.0.1:$p1 --cluster-key "$key" \
  >"$tmp/n2.log" 2>&1 &
pids+=($!)
wait_serving "$tmp/n2.log"
for _ in $(seq 1 100); do
  "$bin" cluster status --connect 127.0.0.1:$p1 --key "$key" 2>/dev/null \
    | grep -q '^n2 .* up ' && break
  sleep 0.1
done

user=big@example.com pw='a benchmark password'
echo "$pw" | "$bin" user add $user --password-stdin --node n1 \
  --connect 127.0.0.1:$p1 --key "$key" >/dev/null

echo "move_bench: filling $user with ${mb} MB of notes over HTTP" >&2
python3 - "$h1" "$user" "$pw" "$mb" <<'EOF'
import http.client, json, sys
port, user, pw, mb = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
c = http.client.HTTPConnection("127.0.0.1", port)
c.request("POST", "/api/login", json.dumps({"username": user, "password": pw}))
token = json.loads(c.getresponse().read())["token"]
body = "x" * (256 * 1024)
for i in range(mb * 4):
    c.request("POST", f"/api/stores/{user}/items/notes.note",
              json.dumps({"title": f"n{i}", "body": body}),
              {"Authorization": "Bearer " + token})
    r = c.getresponse(); r.read()
    if r.status != 201:
        sys.exit(f"fill: HTTP {r.status}")
EOF
src=$tmp/n1/users/example.com/big.sqlite
# The store is idle: let it checkpoint so that the file holds the data.
size=$(python3 -c "import os,sys; print(sum(os.path.getsize(p) for p in sys.argv[1:] if os.path.exists(p)))" "$src" "$src-wal")
echo "move_bench: store file + WAL: $((size / 1024 / 1024)) MiB" >&2

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

moves=() pauses=() plains=()
home=n1
for r in $(seq 1 "$runs"); do
  to=$([ $home = n1 ] && echo n2 || echo n1)
  t0=$(date +%s.%N)
  out=$("$bin" store move $user --to $to --connect 127.0.0.1:$p1 --key "$key" --quiet)
  t1=$(date +%s.%N)
  wall=$(python3 -c "print(round(($t1-$t0)*1000,1))")
  bytes=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes"])')
  pause=$(echo "$out" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["pause_ms"],1))')
  moves+=("$wall") pauses+=("$pause")
  echo "run $r: move $home -> $to: $((bytes / 1024 / 1024)) MiB in $wall ms (the command, end to end), writes paused $pause ms"
  # The plain copy of the same store, from its new home back to the
  # other data directory.
  from_file=$tmp/$to/users/example.com/big.sqlite
  mkdir -p "$tmp/plain"
  t0=$(date +%s.%N)
  sqlite3 "$from_file" ".backup '$tmp/plain/big.sqlite'"
  sha256sum "$tmp/plain/big.sqlite" >/dev/null
  sync "$tmp/plain/big.sqlite"
  t1=$(date +%s.%N)
  plain=$(python3 -c "print(round(($t1-$t0)*1000,1))")
  plains+=("$plain")
  rm -f "$tmp/plain/big.sqlite"
  echo "run $r: plain sqlite3 .backup + sha256sum + sync: $plain ms"
  home=$to
done
m=$(printf '%s\n' "${moves[@]}" | median)
p=$(printf '%s\n' "${pauses[@]}" | median)
b=$(printf '%s\n' "${plains[@]}" | median)
echo "median: move $m ms (target <= 3000), pause $p ms (target <= 200), plain copy $b ms, move/plain $(python3 -c "print(round($m/$b,2))")x"
