#!/usr/bin/env bash
# Runs the playground browser test: installs Chromium (Debian packages) and the Node
# dependencies when they are missing, builds the server unless CHATKIT_SERVER_BIN names one,
# then runs `node --test` over e2e/.
#
#   bash e2e/run.sh                      # from anywhere in the repository
#   CHATKIT_SERVER_BIN=target/release/chatkit-server bash e2e/run.sh
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

chromium_path="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$chromium_path" ]]; then
    if [[ "$(id -u)" -ne 0 ]] && ! command -v sudo >/dev/null; then
        echo "e2e: $chromium_path is missing; install the Debian packages chromium and chromium-driver" >&2
        exit 1
    fi
    as_root=()
    [[ "$(id -u)" -ne 0 ]] && as_root=(sudo)
    echo "e2e: installing chromium" >&2
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "e2e: node (20 or later) and npm are required" >&2
    exit 1
fi

# Installed and at the locked version, or installed again.
installed_matches_lock() {
    node -e '
        const fs = require("fs");
        const lock = JSON.parse(fs.readFileSync("e2e/package-lock.json", "utf8"));
        const want = lock.packages["node_modules/playwright-core"].version;
        const have = JSON.parse(fs.readFileSync("e2e/node_modules/playwright-core/package.json", "utf8")).version;
        process.exit(want === have ? 0 : 1);
    ' 2>/dev/null
}
if ! installed_matches_lock; then
    echo "e2e: npm ci" >&2
    # playwright-core ships no browser and downloads none: the Debian Chromium is used.
    (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

if [[ -z "${CHATKIT_SERVER_BIN:-}" ]]; then
    cargo build -p chatkit-server
    export CHATKIT_SERVER_BIN="$repo_root/target/debug/chatkit-server"
fi
export CHROMIUM_PATH="$chromium_path"

exec node --test e2e/
