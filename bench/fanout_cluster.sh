#!/usr/bin/env bash
# How a fan-out count scales with the number of stores and of nodes
# (docs/operations.md, "Fan-out"): node processes on 127.0.0.1, each with
# its share of N user stores (copies of one store with 3 notes, made
# offline before the nodes start; each node claims its files when it
# joins), then `mantissa fanout --type notes.note` through the seed, timed
# end to end (median of --runs). In the same run the baseline: one
# `sqlite3` process per store file doing the same count, two at a time —
# the work without the actors, the network or the collation.
#
#   bench/fanout_cluster.sh [path/to/mantissa] [--stores "1000 5000 10000"]
#                           [--nodes "1 2 3"] [--runs 3]
# default: build/cli/mantissa (scripts/build release --target mantissa)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=build/cli/mantissa
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
  bin=$1
  shift
fi
store_counts="1000 5000 10000" node_counts="1 2 3" runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --stores) store_counts=$2; shift 2 ;;
    --nodes) node_counts=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: bench/fanout_cluster.sh [mantissa] [--stores LIST] [--nodes LIST] [--runs N]" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "fanout_cluster.sh: $bin not built" >&2; exit 2; }
for tool in python3 sqlite3; do
  command -v "$tool" >/dev/null || { echo "fanout_cluster.sh: $tool not found" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mantissa-fanout-cluster-XXXXXX")
pids=()
stop_nodes() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_nodes; rm -rf "$tmp"' EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_serving() {
  for _ in $(seq 1 600); do
    grep -q "serving http://" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "fanout_cluster.sh: a node did not start:" >&2
  cat "$1" >&2
  exit 1
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ms_since() { python3 -c "import time,sys; print(round((time.time()-float(sys.argv[1]))*1000))" "$1"; }

# The template: a store with three notes, made by a node of its own.
"$bin" init --data "$tmp/tpl" --domain example.com >/dev/null
echo 'a template password' | "$bin" user add tpl@example.com --password-stdin \
  --data "$tmp/tpl" >/dev/null
tp=$(free_port) th=$(free_port)
"$bin" start --data "$tmp/tpl" --listen 127.0.0.1:$tp --http 127.0.0.1:$th --no-demo \
  >"$tmp/tpl.log" 2>&1 &
pids+=($!)
wait_serving "$tmp/tpl.log"
python3 - "$th" <<'EOF'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
c.request("POST", "/api/login", json.dumps({"username": "tpl@example.com", "password": "a template password"}))
t = json.loads(c.getresponse().read())["token"]
for i in range(3):
    c.request("POST", "/api/stores/tpl@example.com/items/notes.note",
              json.dumps({"title": f"t{i}"}), {"Authorization": "Bearer " + t})
    c.getresponse().read()
EOF
stop_nodes
template=$tmp/tpl/users/example.com/tpl.sqlite
sqlite3 "$template" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
rm -f "$template-wal" "$template-shm"

printf '%-8s %-6s %-12s %-14s %-12s %s\n' stores nodes "fanout ms" "stores/s" "raw ms" "fanout/raw"
for n_stores in $store_counts; do
  # The baseline: the same count in every file, two processes at a time.
  mkdir -p "$tmp/base"
  for ((i = 0; i < n_stores; i++)); do cp "$template" "$tmp/base/u$i.sqlite"; done
  base=()
  for r in $(seq 1 "$runs"); do
    # Two threads of Python's sqlite3 module (SQLite's C library; the
    # module lets other threads run while SQLite works): open, count,
    # close each file. notes.note version 1 is the table item_notes__note_v1.
    base+=("$(python3 - "$tmp/base" <<'EOF2'
import glob, sqlite3, sys, threading, time
files = sorted(glob.glob(sys.argv[1] + "/*.sqlite"))
total = [0, 0]
def work(k):
    for f in files[k::2]:
        c = sqlite3.connect(f)
        total[k] += c.execute("SELECT count(*) FROM item_notes__note_v1").fetchone()[0]
        c.close()
t0 = time.time()
ts = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
for t in ts: t.start()
for t in ts: t.join()
assert sum(total) == 3 * len(files), total
print(round((time.time() - t0) * 1000))
EOF2
)")
  done
  rm -rf "$tmp/base"
  b=$(printf '%s\n' "${base[@]}" | median)
  for n_nodes in $node_counts; do
    rm -rf "$tmp/c"
    mkdir -p "$tmp/c"
    "$bin" init --data "$tmp/c/n1" --domain example.com >/dev/null
    for ((k = 1; k <= n_nodes; k++)); do
      mkdir -p "$tmp/c/n$k/users/example.com"
    done
    for ((i = 0; i < n_stores; i++)); do
      k=$((i % n_nodes + 1))
      cp "$template" "$tmp/c/n$k/users/example.com/u$i.sqlite"
    done
    seed_port=$(free_port)
    for ((k = 1; k <= n_nodes; k++)); do
      port=$([ $k = 1 ] && echo $seed_port || free_port)
      join=()
      [ $k -gt 1 ] && join=(--join 127.0.0.1:$seed_port --cluster-key "$tmp/c/n1/cluster.key")
      "$bin" start --data "$tmp/c/n$k" --name n$k --listen 127.0.0.1:$port \
        --http 127.0.0.1:$(free_port) --no-demo "${join[@]}" >"$tmp/c/n$k.log" 2>&1 &
      pids+=($!)
      wait_serving "$tmp/c/n$k.log"
    done
    key=$tmp/c/n1/cluster.key
    for _ in $(seq 1 100); do
      up=$("$bin" cluster status --connect 127.0.0.1:$seed_port --key "$key" 2>/dev/null | grep -c ' up ' || true)
      [ "$up" -ge "$n_nodes" ] && break
      sleep 0.2
    done
    times=()
    for r in $(seq 1 "$runs"); do
      t0=$(python3 -c 'import time; print(time.time())')
      out=$("$bin" fanout --type notes.note --connect 127.0.0.1:$seed_port --key "$key" --quiet)
      times+=("$(ms_since "$t0")")
      ok=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["ok"], d["result"])')
      [ "$ok" = "$n_stores $((3 * n_stores))" ] || { echo "fanout_cluster.sh: unexpected result: $ok" >&2; exit 1; }
    done
    stop_nodes
    m=$(printf '%s\n' "${times[@]}" | median)
    printf '%-8s %-6s %-12s %-14s %-12s %s\n' "$n_stores" "$n_nodes" "$m" \
      "$(python3 -c "print(round($n_stores/($m/1000)))")" "$b" \
      "$(python3 -c "print(round($m/$b, 2))")"
  done
done
