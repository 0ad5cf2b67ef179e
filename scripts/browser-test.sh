#!/usr/bin/env bash
# Runs the browser client's end-to-end tests: tests/browser/names.mjs (a static check of how the
# page's scripts, src/web/*.js, share names), tests/browser/run.mjs (headless chromium, driven
# by puppeteer-core, opens the page chat-server serves, as alice and bob, beside a scripted
# chat-client, carol: messages all ways, read ticks, typing, calls, files, a network drop, a
# server restart with catch-up, ...) and tests/browser/large.mjs (200 MiB from a page to a
# chat-client and back, the page's copy a browser download: same SHA-256, chat-server's memory
# flat, the tab's renderer too; prints the time each way and the memory figures). Ends with
# the total "N passed, N failed".
#
# Builds nothing: run `cargo build` first. The binaries are $CARGO_TARGET_DIR/debug/... (else
# ./target/debug/...) unless CHAT_SERVER / CHAT_CLIENT name others; `make test` passes the
# release build's, with which large.mjs takes about 16 s (more in a debug build).
# CHROMIUM names the browser; CHAT_BROWSER_LARGE_MB sets the size of large.mjs's files
# (default 200; 0 skips it). Installs the test's npm packages (package-lock.json) if
# tests/browser/node_modules is missing or older than the lock file. On failure each runner
# prints where its screenshots and logs are.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
export CHAT_SERVER=${CHAT_SERVER:-$target/debug/chat-server}
export CHAT_CLIENT=${CHAT_CLIENT:-$target/debug/chat-client}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
for b in "$CHAT_SERVER" "$CHAT_CLIENT"; do
    if [[ ! -x $b ]]; then
        echo "browser-test: $b not found; run \`cargo build\` first (or set CHAT_SERVER / CHAT_CLIENT)" >&2
        exit 2
    fi
done
for tool in node npm; do
    command -v "$tool" >/dev/null || { echo "browser-test: $tool not found (apt-get install nodejs npm; .ci/run does)" >&2; exit 2; }
done
[[ -x $CHROMIUM ]] || { echo "browser-test: $CHROMIUM not found (apt-get install chromium; .ci/run does)" >&2; exit 2; }
# (npm ci writes node_modules/.package-lock.json: a lock file newer than it has changed since.)
if [[ ! -d $here/tests/browser/node_modules || $here/tests/browser/package-lock.json -nt $here/tests/browser/node_modules/.package-lock.json ]]; then
    npm ci --prefix "$here/tests/browser" --no-audit --no-fund
fi
cd "$here"
echo "browser-test: $CHAT_SERVER, $CHAT_CLIENT, $CHROMIUM"

# Runs one runner, its output shown as it comes, and adds its closing counts to the totals.
passed=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
runner() {
    local start=$SECONDS
    echo "browser-test: node $1"
    node "$1" | tee "$out" # a failure stops here (pipefail, errexit)
    local counts
    counts=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$out" | tail -1 | grep -oE '[0-9]+ passed, [0-9]+ failed')
    passed=$((passed + ${counts%% passed*}))
    failed=$((failed + $(echo "$counts" | sed -E 's/.* ([0-9]+) failed/\1/')))
    echo "browser-test: $1 took $((SECONDS - start)) s"
}
runner tests/browser/names.mjs
runner tests/browser/run.mjs
if [[ ${CHAT_BROWSER_LARGE_MB:-200} != 0 ]]; then
    runner tests/browser/large.mjs
fi
echo "$passed passed, $failed failed"
