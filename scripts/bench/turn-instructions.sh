#!/usr/bin/env bash
# Instructions per agent turn executed by the server in user space, counted by callgrind: the same
# for the same binary and inputs however busy the host is (kernel time is not counted; see
# turn-syscalls.sh for that side).
#
#   scripts/bench/turn-instructions.sh BENCH_BINARY [CLIENTS] [ROW]
#
# Set TURN_INSTRUCTIONS_PROFILE=FILE to keep the callgrind profile (see the end).
#
# BENCH_BINARY is the server bench's executable (`cargo bench -p chatkit-server --bench server
# --no-run` prints its path); CLIENTS defaults to 8, ROW to agent-quick-model. The bench runs its
# usual 1 s warm-up and 5 s measurement with the server under callgrind, which zeroes its counters
# 1 s after the server listens; turns are counted from the profile itself (one history conversion
# per turn), not from the bench's window.
set -euo pipefail

if [[ -n "${TURN_INSTRUCTIONS_DIR:-}" ]]; then
  # Wrapper mode: the bench starts the server as `this-script SERVER_EXE`.
  log="$TURN_INSTRUCTIONS_DIR/server.log"
  (
    while ! grep -q CHATKIT_BENCH_PORT "$log" 2>/dev/null; do sleep 0.01; done
    sleep 1
    callgrind_control -z >/dev/null 2>&1
  ) &
  valgrind --tool=callgrind --callgrind-out-file="$TURN_INSTRUCTIONS_DIR/callgrind.%p" "$@" \
    2>/dev/null | tee "$log"
  exit 0
fi

bench=${1:?usage: $0 BENCH_BINARY [CLIENTS] [ROW]}
clients=${2:-8}
row=${3:-agent-quick-model}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
TURN_INSTRUCTIONS_DIR="$dir" CHATKIT_BENCH_SERVER_WRAPPER="$(realpath "$0")" \
  CHATKIT_BENCH_LOG=warn CHATKIT_BENCH_TURNS="$row" CHATKIT_BENCH_CLIENTS="$clients" \
  "$bench" turns >/dev/null
profile=$(ls "$dir"/callgrind.* | head -n1)
total=$(callgrind_annotate "$profile" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
turns=$(callgrind_annotate --inclusive=yes "$profile" 2>/dev/null \
  | grep -oE "=> .*ThreadItemConverter::to_messages \([0-9,]+x\)" | head -n1 \
  | grep -oE "\([0-9,]+x\)" | tr -d '(),x')
echo "$(basename "$bench") $row, $clients clients: $turns turns, $total instructions, $((total / turns)) per turn"
# The profile itself, for the parts: TURN_INSTRUCTIONS_PROFILE=FILE keeps it, to read with
# `callgrind_annotate --inclusive=yes FILE` (a part's count divided by the turns is its share).
if [[ -n "${TURN_INSTRUCTIONS_PROFILE:-}" ]]; then
  cp "$profile" "$TURN_INSTRUCTIONS_PROFILE"
fi
