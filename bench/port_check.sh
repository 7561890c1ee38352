#!/usr/bin/env bash
# What the actor port's checks cost (docs/benchmarks.md, "The actor port's
# checks"): bench/remote_bench built from BASE (a commit before the door,
# the guard and the capabilities; default 91289cc) and from this checkout,
# run in turns in the same session, so that both see the same machine. Each
# round runs the base binary, then the new one (each --runs 1 of
# remote_bench: its node store read over the port, sequential p50 and
# pipelined round trips/s); the script prints every round and the medians,
# and the new/base ratios.
#
#   bench/port_check.sh [--base REV] [--rounds R] [remote_bench args...]
#
# Needs the release build of this checkout (scripts/build release --target
# remote_bench). BASE is checked out as a git worktree under build-base/src
# and built into build-base/ (the first time only; ccache shares most of
# the objects). Both binaries run with the same remote_bench arguments
# (default --requests 20000).
set -euo pipefail
cd "$(dirname "$0")/.."

base=91289cc
rounds=5
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -gt 0 ] || args=(--requests 20000)

new=build/bench/remote_bench
[ -x "$new" ] || { echo "port_check.sh: $new not built (scripts/build release --target remote_bench)" >&2; exit 2; }

src=build-base/src
if [ ! -d "$src" ]; then
  echo "port_check.sh: checking out $base into $src" >&2
  git worktree add --detach "$src" "$base" >/dev/null
fi
if [ "$(git -C "$src" rev-parse HEAD)" != "$(git rev-parse "$base^{commit}")" ]; then
  git -C "$src" checkout --detach -q "$base"
fi
if [ ! -f build-base/build.ninja ]; then
  cmake -S "$src" -B build-base -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMANTISSA_SANITIZERS= -DMANTISSA_BUILD_TESTS=OFF >/dev/null
fi
echo "port_check.sh: building remote_bench of $base" >&2
cmake --build build-base --target remote_bench >/dev/null
old=build-base/bench/remote_bench

# "node store read ... N/s p50 X us p99 Y us M/s" -> "X M"
figures() {
  grep 'node store read' | sed -E 's/.*p50 +([0-9]+) us.* ([0-9]+)\/s$/\1 \2/'
}

median() {
  sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'
}

printf 'round  base p50  new p50   base pipelined/s  new pipelined/s\n'
: > /tmp/port_check.$$
for ((i = 1; i <= rounds; i++)); do
  b=$("$old" --runs 1 "${args[@]}" 2>&1 | figures)
  n=$("$new" --runs 1 "${args[@]}" 2>&1 | figures)
  [ -n "$b" ] && [ -n "$n" ] || { echo "port_check.sh: a run printed no node figures" >&2; exit 1; }
  set -- $b $n
  printf '%5d  %5s us  %5s us  %16s  %15s\n' "$i" "$1" "$3" "$2" "$4"
  echo "$1 $2 $3 $4" >> /tmp/port_check.$$
done
bp=$(awk '{print $1}' /tmp/port_check.$$ | median)
bt=$(awk '{print $2}' /tmp/port_check.$$ | median)
np=$(awk '{print $3}' /tmp/port_check.$$ | median)
nt=$(awk '{print $4}' /tmp/port_check.$$ | median)
rm -f /tmp/port_check.$$
printf 'median %5s us  %5s us  %16s  %15s\n' "$bp" "$np" "$bt" "$nt"
awk -v bp="$bp" -v np="$np" -v bt="$bt" -v nt="$nt" 'BEGIN {
  printf "new/base: p50 %.3fx (goal <= 1.05), pipelined %.3fx (goal >= 0.95)\n", np / bp, nt / bt
}'
printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
