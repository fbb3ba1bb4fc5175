#!/usr/bin/env bash
# Regenerates chatkit-protocol's golden fixtures from the Python reference (openai-chatkit, pinned in
# requirements.txt). Creates or updates the virtualenv in .venv/ at the repository root (git-ignored)
# and rewrites crates/chatkit-protocol/tests/fixtures/reference{,-inputs,-rejects}/.
# Re-runnable; needs PyPI the first time. Set PYTHON to choose the interpreter (default python3).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/scripts/reference"
venv="$repo/.venv"

if [[ ! -x "$venv/bin/python" ]]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
"$venv/bin/python" "$here/generate_fixtures.py"
