#!/usr/bin/env bash
# PostgreSQL transactions and row writes per agent turn, from the server's statistics
# (pg_stat_database) around one run of the bench's agent-postgres row: every statement outside a
# transaction counts as one commit, reads included; only writes flush the WAL.
#
#   scripts/bench/turn-commits.sh BENCH_BINARY [CLIENTS]
#
# Turns are counted as rows inserted / 2 (a user message and an answer per turn), which a new
# thread every 20 turns inflates by about 2.5 %. Needs psql and the bench's database
# (CHATKIT_BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
bench=${1:?usage: $0 BENCH_BINARY [CLIENTS]}
clients=${2:-8}
url=${CHATKIT_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
database=${url##*/}
stats() {
  psql "$url" -Atc "SELECT xact_commit, tup_inserted, tup_updated FROM pg_stat_database
                    WHERE datname = '$database'"
}
ulimit -n "$(ulimit -Hn)"
before=$(stats)
CHATKIT_BENCH_LOG=warn CHATKIT_BENCH_TURNS=agent-postgres CHATKIT_BENCH_CLIENTS="$clients" \
  "$bench" turns >/dev/null 2>&1
sleep 2 # the statistics are flushed about once a second
after=$(stats)
echo "$before $after" | awk -F'[| ]' -v name="$(basename "$bench")" -v clients="$clients" '{
  turns = ($5 - $2) / 2
  printf "%s, %s clients, about %d turns; per turn: transactions %.2f, rows inserted %.2f, rows updated %.2f\n",
    name, clients, turns, ($4 - $1) / turns, ($5 - $2) / turns, ($6 - $3) / turns
}'
