#!/usr/bin/env bash
# Builds the cargo-fuzz targets and runs each one for a share of a fixed time budget, starting from
# the checked-in corpus (new inputs go to a scratch directory, never into fuzz/corpus). A crash,
# an input slower than 5 s or an allocation over the limits fails the run; libFuzzer leaves the
# input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz-smoke.sh [total-seconds]   # default 180, the build included
#
# Longer runs on demand: cargo +nightly fuzz run <target> fuzz/corpus/<target> -- -max_total_time=3600
set -euo pipefail
cd "$(dirname "$0")/.."

budget=${1:-180}
started=$(date +%s)
targets=(chatkit_request sse_decoder widget_diff jwt chat_completions_stream responses_stream mcp_schema)

# libFuzzer's instrumentation needs a nightly toolchain; the rest of the workspace stays on stable.
# A machine that has none and cannot fetch one cannot run libFuzzer at all: say so loudly and stop
# (the checked-in corpus is still replayed on stable by `cargo test`, crates/fuzz-harness).
if ! rustup toolchain list | grep -q '^nightly'; then
  if ! rustup toolchain install nightly --profile minimal; then
    echo "FUZZ SMOKE NOT RUN: no nightly toolchain on this machine and none could be installed" >&2
    exit 0
  fi
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
# The instrumented build of ~260 crates takes tens of minutes cold on 2 cores and seconds warm, so
# it lives in a cache outside the checkout that survives fresh clones on the same machine.
export CARGO_TARGET_DIR="${CHATKIT_FUZZ_TARGET_DIR:-$HOME/.cache/chatkit-rs/fuzz-target}"
mkdir -p "$CARGO_TARGET_DIR"
started=$(date +%s)

(cd fuzz && cargo +nightly fuzz build --debug-assertions)
built=$(date +%s)
echo "fuzz targets built in $((built - started)) s"

remaining=$((budget - (built - started)))
per_target=$((remaining / ${#targets[@]}))
if ((per_target < 5)); then
  echo "the build left ${remaining} s of the ${budget} s budget; running each target 5 s anyway" >&2
  per_target=5
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  echo "== fuzz $target for ${per_target} s"
  if ! (cd fuzz && cargo +nightly fuzz run --debug-assertions "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$per_target" -timeout=5 -rss_limit_mb=1024 -malloc_limit_mb=256 \
    -max_len=65536 -print_final_stats=1) >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  # Executions, coverage (cov: edges, ft: features) and peak memory, for docs/TESTING.md.
  grep -E 'DONE|^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
done
echo "fuzz smoke done in $(($(date +%s) - started)) s"
