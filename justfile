# chatkit-rs: one entry point for humans. `just` lists the recipes.
# CI (.ci/run) calls the same commands.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Run the server: embedded SQLite, built-in demo model, no configuration needed.
run *ARGS:
    cargo run -p chatkit-server -- {{ARGS}}

# Run every test (needs PostgreSQL at 127.0.0.1:5432, see README).
test:
    cargo test --workspace

# Only the tests that talk to PostgreSQL (set CHATKIT_TEST_DATABASE_URL to point elsewhere).
test-pg:
    cargo test --workspace postgres

# Format the code.
fmt:
    cargo fmt --all

# Format check and clippy with warnings as errors, as CI runs them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Build the docs.
doc:
    cargo doc --workspace --no-deps

# Run the benchmarks; results go into docs/BENCHMARKS.md by hand, with the command.
bench:
    cargo bench --workspace

# The server benchmarks only (latency, memory, turns through the fake model); see docs/BENCHMARKS.md.
bench-server *ARGS:
    ulimit -n "$(ulimit -Hn)" && cargo bench -p chatkit-server --bench server -- {{ARGS}}

# Regenerate the golden fixtures from the Python reference (creates .venv).
fixtures:
    bash scripts/reference/regenerate-fixtures.sh

# Everything CI runs.
ci:
    bash .ci/run

# Fuzz every target for a share of SECONDS (nightly + cargo-fuzz; see docs/TESTING.md).
fuzz SECONDS="180":
    scripts/fuzz-smoke.sh {{SECONDS}}
