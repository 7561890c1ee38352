#!/usr/bin/env bash
# Streamed backups (`mantissa backup --connect`, docs/operations.md) against
# the same-machine path (`mantissa backup --data`: the node writes the
# copies) and against plain `sqlite3 .backup` of the same store files (the
# copies the first backup of the run made: the node holds its own files
# locked), in the same run, on one node process on 127.0.0.1. The site has one large
# user store (about --mb MB of notes, written over HTTP) and --users small
# ones. Prints each run, the medians and the ratios.
#
#   bench/backup_stream_bench.sh [path/to/mantissa] [--mb N] [--users N] [--runs N]
# default: build/cli/mantissa (scripts/build release --target mantissa)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=build/cli/mantissa
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
  bin=$1
  shift
fi
mb=100 users=20 runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --mb) mb=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: bench/backup_stream_bench.sh [mantissa] [--mb N] [--users N] [--runs N]" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "backup_stream_bench.sh: $bin not built (scripts/build release --target mantissa)" >&2; exit 2; }
for tool in python3 sqlite3 curl; do
  command -v "$tool" >/dev/null || { echo "backup_stream_bench.sh: $tool not found" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mantissa-backup-bench-XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }

D=$tmp/site
"$bin" init --data "$D" --domain example.com >/dev/null
echo 'a long password' | "$bin" user add big@example.com --password-stdin --data "$D" >/dev/null
for i in $(seq 1 "$users"); do
  echo 'a long password' | "$bin" user add "u$i@example.com" --password-stdin --data "$D" >/dev/null
done
port=$(free_port) http=$(free_port)
"$bin" start --data "$D" --listen 127.0.0.1:$port --http 127.0.0.1:$http \
  --no-demo >"$tmp/node.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  grep -q "serving http://" "$tmp/node.log" && break
  sleep 0.1
done
grep -q "serving http://" "$tmp/node.log" || { cat "$tmp/node.log" >&2; exit 1; }

# The large store: notes of 256 KiB, written over HTTP.
token=$(curl -s -X POST "http://127.0.0.1:$http/api/login" \
  -d '{"username":"big@example.com","password":"a long password"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
python3 -c 'import json; print(json.dumps({"title":"n","body":"x"*262144}))' >"$tmp/note.json"
for _ in $(seq 1 $((mb * 4))); do
  curl -s -f -o /dev/null -X POST -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' --data-binary @"$tmp/note.json" \
    "http://127.0.0.1:$http/api/stores/big@example.com/items/notes.note"
done
files=$(cd "$D" && ls site.sqlite users/*/*.sqlite apps/*.sqlite 2>/dev/null || true)
bytes=$(cd "$D" && du -cb $files | tail -1 | cut -f1)
echo "site: $(echo "$files" | wc -l) stores, $((bytes / 1048576)) MiB"

declare -a t_direct t_stream t_plain
for r in $(seq 1 "$runs"); do
  a=$(now)
  "$bin" backup --data "$D" --to "$tmp/direct-$r" >/dev/null 2>&1
  b=$(now)
  "$bin" backup --connect 127.0.0.1:$port --key "$D/node.key" \
    --to "$tmp/stream-$r" >/dev/null 2>&1
  c=$(now)
  for f in $files; do
    mkdir -p "$tmp/plain-$r/$(dirname "$f")"
    sqlite3 "$tmp/direct-$r/$f" ".backup '$tmp/plain-$r/$f'"
  done
  d=$(now)
  t_direct+=("$(echo "$b - $a" | bc)")
  t_stream+=("$(echo "$c - $b" | bc)")
  t_plain+=("$(echo "$d - $c" | bc)")
  printf 'run %d: --data (node writes) %.2f s, --connect (streamed) %.2f s, sqlite3 .backup %.2f s\n' \
    "$r" "${t_direct[-1]}" "${t_stream[-1]}" "${t_plain[-1]}"
  rm -rf "$tmp/direct-$r" "$tmp/stream-$r" "$tmp/plain-$r"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
md=$(median "${t_direct[@]}") ms=$(median "${t_stream[@]}") mp=$(median "${t_plain[@]}")
mib=$(echo "$bytes / 1048576" | bc -l)
printf 'median: --data %.2f s (%.0f MiB/s), --connect %.2f s (%.0f MiB/s), sqlite3 .backup %.2f s (%.0f MiB/s)\n' \
  "$md" "$(echo "$mib / $md" | bc -l)" "$ms" "$(echo "$mib / $ms" | bc -l)" "$mp" "$(echo "$mib / $mp" | bc -l)"
printf 'ratios: streamed/--data %.2fx, streamed/sqlite3 %.2fx, --data/sqlite3 %.2fx\n' \
  "$(echo "$ms / $md" | bc -l)" "$(echo "$ms / $mp" | bc -l)" "$(echo "$md / $mp" | bc -l)"
