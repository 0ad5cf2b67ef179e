#!/usr/bin/env bash
# Runs the browser client's end-to-end test (tests/browser/run.mjs): headless chromium
# (Debian's /usr/bin/chromium, driven by puppeteer-core) opens the page chat-server serves,
# as alice and bob, beside a scripted chat-client (carol), and checks messages all ways,
# read ticks, typing, a private message, hostile text, and a server restart with catch-up.
#
# Builds nothing: run `cargo build` first. The binaries are ./target/debug/... of this
# checkout unless CHAT_SERVER / CHAT_CLIENT name others; CHROMIUM names the browser.
# Installs the test's npm packages (package-lock.json) if tests/browser/node_modules is
# missing. On failure it prints where the screenshots and console logs are.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CHAT_SERVER=${CHAT_SERVER:-$here/target/debug/chat-server}
export CHAT_CLIENT=${CHAT_CLIENT:-$here/target/debug/chat-client}
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
if [[ ! -d $here/tests/browser/node_modules ]]; then
    npm ci --prefix "$here/tests/browser" --no-audit --no-fund
fi
cd "$here"
exec node tests/browser/run.mjs
