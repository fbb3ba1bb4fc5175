#!/usr/bin/env bash
# System calls per agent turn of the server (thread hand-offs show as futex, eventfd writes and
# epoll waits; SQLite's page reads as pread64), counted by `strace -c` over 2 s of the bench's
# measurement. One model request per turn is one `writev`, which gives the turn count.
#
#   scripts/bench/turn-syscalls.sh BENCH_BINARY [CLIENTS]
#
# strace slows the server, so the counts are per turn, never per second.
set -euo pipefail
bench=${1:?usage: $0 BENCH_BINARY [CLIENTS]}
clients=${2:-8}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
ulimit -n "$(ulimit -Hn)"
CHATKIT_BENCH_LOG=warn CHATKIT_BENCH_TURNS=agent-quick-model CHATKIT_BENCH_CLIENTS="$clients" \
  "$bench" turns >/dev/null 2>&1 &
bench_pid=$!
sleep 3
server_pid=$(pgrep -P "$bench_pid" | head -n1)
timeout -s INT 2 strace -c -f -p "$server_pid" -o "$out" 2>/dev/null || true
wait "$bench_pid"
turns=$(awk '$NF == "writev" {print $4}' "$out")
echo "$(basename "$bench"), $clients clients, $turns turns; per turn:" $(awk -v turns="$turns" \
  '$NF ~ /^(futex|epoll_wait|write|pread64|pwrite64|fcntl|sendto|recvfrom)$/ {printf "%s %.1f, ", $NF, $4 / turns}' "$out")
