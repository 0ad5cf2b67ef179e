#!/usr/bin/env bash
# Runs scripts/example_bot.py (the "Writing a client" example of
# docs/PROTOCOL.md) against a real chat-server, driven by a scripted
# chat-client (alice), and checks:
#   (a) "!echo hello" in the room gets "hello" back from the bot;
#   (b) the bot's delivered and read receipts reach alice (her message is read);
#   (c) the server is killed (-9) just after it stored one of the bot's
#       messages whose ack a small proxy swallowed, and restarted on the same
#       port and data directory: the bot comes back by itself with
#       hello.resume, re-sends that message under the same cid (the server
#       answers ack.duplicate with the original id: it is not stored twice),
#       catches up on a request made while it was away (resume.since) and
#       answers a new one.
#
# Builds nothing: run `cargo build` first. The binaries are ./target/debug/...
# of this checkout unless CHAT_SERVER / CHAT_CLIENT name others. Every wait
# has a deadline; the whole run takes a few seconds. Prints
# `example-bot: ok (N s)` or what failed, with every log.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server_bin=${CHAT_SERVER:-$here/target/debug/chat-server}
client_bin=${CHAT_CLIENT:-$here/target/debug/chat-client}
bot=$here/scripts/example_bot.py
for b in "$server_bin" "$client_bin"; do
    if [[ ! -x $b ]]; then
        echo "example-bot: $b not found; run \`cargo build\` first (or set CHAT_SERVER / CHAT_CLIENT)" >&2
        exit 2
    fi
done
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null; then
    echo "example-bot: needs python3 (3.8 or later) on PATH" >&2
    exit 2
fi

WAIT_SECS=10 # for any one thing to happen
tmp=$(mktemp -d "${TMPDIR:-/tmp}/chat-example-bot.XXXXXX")
pids=()      # the proxy, the bot, alice
server_pid=  # the server running now

cleanup() {
    local p
    exec 3>&- 2>/dev/null || true
    for p in $server_pid "${pids[@]}"; do
        kill -9 "$p" 2>/dev/null || true
    done
    for p in $server_pid "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    local f
    echo "example-bot: FAILED: $*" >&2
    for f in "$tmp"/*.log; do
        [[ -e $f ]] || continue
        echo "--- $(basename "$f") ---" >&2
        cat "$f" >&2 || true
    done
    exit 1
}

# wait_for FILE ERE [FROM_LINE]: until a line of FILE (after line FROM_LINE)
# matches the extended regular expression ERE; prints that line.
wait_for() {
    local file=$1 re=$2 from=${3:-0} line
    local deadline=$((SECONDS + WAIT_SECS))
    until line=$(grep -m1 -E -- "$re" < <(tail -n +$((from + 1)) "$file" 2>/dev/null)); do
        ((SECONDS < deadline)) || fail "no line matching /$re/ in $(basename "$file") within ${WAIT_SECS}s"
        sleep 0.05
    done
    printf '%s\n' "$line"
}

lines() { wc -l <"$1"; }

# say LINE: alice types LINE (plain text goes to #lab).
say() { printf '%s\n' "$1" >&3; }

start_server() { # PORT LOG
    "$server_bin" --port "$1" --data-dir "$tmp/data" >"$tmp/$2" 2>&1 &
    server_pid=$!
    wait_for "$tmp/$2" '^listening on ' >/dev/null
}

# The "Writing a client" section of docs/PROTOCOL.md shows the bot verbatim
# (checked once the section is there).
doc=$here/docs/PROTOCOL.md
if grep -q '^## Writing a client' "$doc" &&
    ! awk '/^## Writing a client/{s=1} s&&/^```python/{c=1;next} c&&/^```/{exit} c' "$doc" |
    cmp -s - "$bot"; then
    fail "the python block of \"Writing a client\" in docs/PROTOCOL.md differs from scripts/example_bot.py"
fi

# --- a server, a proxy in front of it for the bot, the bot, alice ------------

start_server 0 server.log
listen=$(grep -m1 '^listening on ' "$tmp/server.log")
port=${listen##*:}

# The proxy passes bytes both ways. Once the bot sends a room_msg containing
# "lost-ack", it drops what the server sends the bot from then on (that
# message's ack among it) and logs "swallowed ack"; the connection is dead
# from there on without either end knowing. While the file "hold" exists it
# closes new connections at once (the bot stays away).
cat >"$tmp/proxy.py" <<'EOF'
import os, socket, struct, sys, threading
upstream, hold = int(sys.argv[1]), sys.argv[2]
listener = socket.create_server(("127.0.0.1", 0))
print("proxy on", listener.getsockname()[1], flush=True)
trap = {"armed": False, "sprung": False}

def split(buf):  # complete frames of buf, and the rest
    out = []
    while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
        end = 4 + struct.unpack(">I", buf[:4])[0]
        out.append(buf[:end])
        buf = buf[end:]
    return out, buf

def pump(src, dst, to_server):
    buf, dropping = b"", False
    try:
        while data := src.recv(65536):
            done, buf = split(buf + data)
            for f in done:
                if to_server and b'"room_msg"' in f and b"lost-ack" in f and not trap["sprung"]:
                    trap["armed"] = True
                if not to_server and trap["armed"]:
                    dropping = True
                if dropping and b'"ack"' in f and not trap["sprung"]:
                    trap["armed"], trap["sprung"] = False, True
                    print("swallowed ack:", f[4:].decode(), flush=True)
                if not dropping:
                    dst.sendall(f)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

while True:
    client, _ = listener.accept()
    try:
        if os.path.exists(hold):
            raise OSError("held")
        server = socket.create_connection(("127.0.0.1", upstream))
    except OSError:
        client.close()
        continue
    threading.Thread(target=pump, args=(client, server, True), daemon=True).start()
    threading.Thread(target=pump, args=(server, client, False), daemon=True).start()
EOF
python3 "$tmp/proxy.py" "$port" "$tmp/hold" >"$tmp/proxy.log" 2>&1 &
pids+=($!)
proxy_port=$(wait_for "$tmp/proxy.log" '^proxy on ')
proxy_port=${proxy_port##* }

python3 "$bot" 127.0.0.1 "$proxy_port" echobot lab >"$tmp/bot.log" 2>&1 &
pids+=($!)
wait_for "$tmp/bot.log" '^connected$' >/dev/null

mkfifo "$tmp/alice.in"
exec 3<>"$tmp/alice.in"
CHAT_RECONNECT_BASE_MS=100 "$client_bin" --name alice --port "$port" --room lab --json \
    <"$tmp/alice.in" >"$tmp/alice.log" 2>&1 &
pids+=($!)
wait_for "$tmp/alice.log" '"event":"joined","room":"lab","members":\["alice","echobot"\]' >/dev/null

# --- (a) !echo, (b) receipts --------------------------------------------------

say '!echo hello'
wait_for "$tmp/alice.log" '"from":"echobot","room":"lab","text":"hello"' >/dev/null
id=$(wait_for "$tmp/bot.log" '^got #[0-9]+ from alice: !echo hello$')
id=${id#got #}
id=${id%% *}
wait_for "$tmp/alice.log" "\"event\":\"delivery\",\"room\":\"lab\",\"ids\":\\[$id\\],\"state\":\"read\"" >/dev/null
echo "example-bot: (a) echo and (b) read receipt for #$id ok"

# --- (c) an ack lost, a kill -9, a restart, a resume ---------------------------

say '!echo lost-ack check'
swallowed=$(wait_for "$tmp/proxy.log" '^swallowed ack:')
lost_cid=$(sed -E 's/.*"cid":"([^"]+)".*/\1/' <<<"$swallowed")
lost_id=$(sed -E 's/.*"id":([0-9]+).*/\1/' <<<"$swallowed")
# The server delivered it as it acked it: alice has it, the bot does not know.
wait_for "$tmp/alice.log" "\"id\":$lost_id,.*\"from\":\"echobot\",\"room\":\"lab\",\"text\":\"lost-ack check\"" >/dev/null
if grep -q "^echoed $lost_cid " "$tmp/bot.log"; then
    fail "the bot saw the ack the proxy was to swallow"
fi

touch "$tmp/hold"
bot_mark=$(lines "$tmp/bot.log")
alice_mark=$(lines "$tmp/alice.log")
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=
wait_for "$tmp/bot.log" '^disconnected' "$bot_mark" >/dev/null
start_server "$port" server2.log

# While the bot is held away, alice asks it something: resume.since brings it.
wait_for "$tmp/alice.log" '"event":"synced",.*"reconnected":true' "$alice_mark" >/dev/null
say '!echo while away'
wait_for "$tmp/alice.log" '"event":"delivery","room":"lab","ids":\[[0-9]+\],"state":"sent"' "$alice_mark" >/dev/null
rm "$tmp/hold"

wait_for "$tmp/bot.log" "^resumed since #[0-9]+, resending \\['$lost_cid'\\]$" "$bot_mark" >/dev/null
dup=$(wait_for "$tmp/bot.log" "^echoed $lost_cid as #[0-9]+ \\(duplicate\\)$" "$bot_mark")
[[ $dup == "echoed $lost_cid as #$lost_id (duplicate)" ]] ||
    fail "the re-sent $lost_cid got \"$dup\", not the original id #$lost_id"
wait_for "$tmp/bot.log" '^got #[0-9]+ from alice: !echo while away$' "$bot_mark" >/dev/null
wait_for "$tmp/alice.log" '"from":"echobot","room":"lab","text":"while away"' "$alice_mark" >/dev/null

say '!echo after restart'
wait_for "$tmp/alice.log" '"from":"echobot","room":"lab","text":"after restart"' "$alice_mark" >/dev/null

# Not doubled: alice got it once, and the room's history holds it once.
say '/history 50'
wait_for "$tmp/alice.log" '"event":"history_end"' >/dev/null
live=$(grep -c '"from":"echobot","room":"lab","text":"lost-ack check"' "$tmp/alice.log" || true)
stored=$(grep '"from":"echobot","room":"lab","text":"lost-ack check"' "$tmp/alice.log" | grep -c '"replay":"history"' || true)
((live - stored == 1)) || fail "alice got the bot's \"lost-ack check\" $((live - stored)) times, not once"
((stored == 1)) || fail "the history of #lab holds the bot's \"lost-ack check\" $stored times, not once"
echo "example-bot: (c) resume after kill -9, $lost_cid re-sent as duplicate of #$lost_id, caught up, not doubled ok"

say '/quit'
echo "example-bot: ok (${SECONDS} s)"
