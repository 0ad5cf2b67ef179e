#!/usr/bin/env bash
# Runs the browser client's end-to-end test (tests/browser/run.mjs): headless chromium
# (Debian's /usr/bin/chromium, driven by puppeteer-core) opens the page chat-server serves,
# as alice and bob, beside a scripted chat-client (carol), and checks messages all ways,
# read ticks, typing, a private message, hostile text, and a server restart with catch-up.
#
# Builds nothing: run `cargo build` first. The binaries are ./target/debug/... of this
# checkout unless CHAT_SERVER / CHAT_CLIENT name others; CHROMIUM names the browser.
# Installs the test's npm packages (package-lock.json) if tests/browser/node_modules is
# missing or older than the lock file. First tests/browser/names.mjs checks statically how the
# page's scripts (src/web/*.js) share names. On failure it prints where the screenshots and console logs are.
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
# (Again when package-lock.json changed since: npm ci writes node_modules/.package-lock.json.)
if [[ ! -d $here/tests/browser/node_modules || $here/tests/browser/package-lock.json -nt $here/tests/browser/node_modules/.package-lock.json ]]; then
    npm ci --prefix "$here/tests/browser" --no-audit --no-fund
fi
cd "$here"
# How the page's scripts share names (static, under a second), then the page itself.
node tests/browser/names.mjs
exec node tests/browser/run.mjs
