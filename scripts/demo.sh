#!/usr/bin/env bash
# A server and three scripted clients (alice, bob, carol) holding a short
# conversation across two rooms (#general and #dev) and a private message,
# synchronised with /wait; then checks what each of them saw.
#
# With DEMO_NODES=N (N > 1) the server is a cluster: a redis-server of its
# own on a free loopback port and N chat-server nodes (`--cluster`), with
# alice, bob and carol each on another node (node 1, 2, 3, ...).
#
# Builds nothing: run `cargo build` first (`make scripts-test` does). The
# binaries are taken from $CHAT_BIN_DIR (default: target/debug of this
# checkout). Every step is bounded: this never hangs.
#
# Prints `demo: N passed, M failed` and exits non-zero if anything failed.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin_dir=${CHAT_BIN_DIR:-$here/target/debug}
server_bin=$bin_dir/chat-server
client_bin=$bin_dir/chat-client
for b in "$server_bin" "$client_bin"; do
    if [[ ! -x $b ]]; then
        echo "demo: $b not found; run \`cargo build\` first (or set CHAT_BIN_DIR)" >&2
        exit 2
    fi
done

# Seconds allowed for the server to start, for one client to log in, for a
# client's /wait, and for a whole client run.
START_SECS=10
WAIT_SECS=15
CLIENT_SECS=30

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chat-demo.XXXXXX")
pids=()

cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE TEXT SECS: until a line of FILE contains TEXT (fixed string).
wait_for() {
    local file=$1 text=$2 secs=$3
    local deadline=$((SECONDS + secs))
    until grep -qF -- "$text" "$file" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "${what:-demo}: timed out after ${secs}s waiting for \"$text\" in $(basename "$file")" >&2
            return 1
        fi
        sleep 0.05
    done
}

show() {
    local f
    for f in "$@"; do
        echo "--- $(basename "$f") ---" >&2
        cat "$f" >&2 || true
    done
}

# --- server ------------------------------------------------------------------

nodes=${DEMO_NODES:-1}
what=demo
cluster_args=()
if ((nodes > 1)); then
    what="demo ($nodes nodes)"
    redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$tmp" >"$tmp/redis.out" 2>&1 &
    pids+=("$!")
    deadline=$((SECONDS + START_SECS))
    until [[ $(redis-cli -p "$redis_port" ping 2>/dev/null) == PONG ]]; do
        if ((SECONDS >= deadline)); then
            show "$tmp/redis.out"
            echo "$what: redis-server did not start; 0 passed, 1 failed"
            exit 1
        fi
        sleep 0.05
    done
    cluster_args=(--cluster "redis://127.0.0.1:$redis_port")
fi

declare -A node_host node_port
for ((i = 1; i <= nodes; i++)); do
    node_args=()
    if ((nodes > 1)); then node_args=("${cluster_args[@]}" --node-id "node$i"); fi
    "$server_bin" --port 0 --data-dir "$tmp/data$i" "${node_args[@]}" \
        >"$tmp/server$i.out" 2>"$tmp/server$i.err" &
    pids+=("$!")
    if ! wait_for "$tmp/server$i.out" "listening on " "$START_SECS"; then
        show "$tmp/server$i.out" "$tmp/server$i.err"
        echo "$what: 0 passed, 1 failed"
        exit 1
    fi
    listen=$(grep -m1 '^listening on ' "$tmp/server$i.out")
    addr=${listen#listening on }
    node_host[$i]=${addr%:*}
    node_port[$i]=${addr##*:}
done

# --- the conversation ----------------------------------------------------------
# Each /wait looks at the lines after the one the previous /wait matched, so
# every script waits for things in an order the others' scripts guarantee.

cat >"$tmp/alice.in" <<EOF
/wait carol joined #general $WAIT_SECS
hello everyone
/wait #general <bob> hi alice $WAIT_SECS
/wait #general <carol> hey alice $WAIT_SECS
/join dev
/msg bob come to #dev, secret plans
/wait bob joined #dev $WAIT_SECS
/wait private <bob> on my way $WAIT_SECS
dev: the build is red
/wait #dev <bob> dev: on it $WAIT_SECS
/switch general
wrapping up in general
/wait #general <carol> bye all $WAIT_SECS
EOF

cat >"$tmp/bob.in" <<EOF
/wait #general <alice> hello everyone $WAIT_SECS
hi alice
/wait private <alice> come to #dev $WAIT_SECS
/join dev
/msg alice on my way
/wait #dev <alice> dev: the build is red $WAIT_SECS
dev: on it
/wait #general <alice> wrapping up $WAIT_SECS
/wait #general <carol> bye all $WAIT_SECS
EOF

cat >"$tmp/carol.in" <<EOF
/wait #general <bob> hi alice $WAIT_SECS
hey alice
/wait #general <alice> wrapping up $WAIT_SECS
bye all
EOF

declare -A client_pid client_node
client_node=([alice]=1 [bob]=2 [carol]=3)
start_client() {
    local name=$1
    local n=$(((${client_node[$name]} - 1) % nodes + 1))
    timeout "$CLIENT_SECS" "$client_bin" --name "$name" --host "${node_host[$n]}" --port "${node_port[$n]}" \
        <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    client_pid[$name]=$!
    pids+=("$!")
}

# One after the other, so that everyone's join notices arrive in a known order.
startup_ok=1
for name in alice bob carol; do
    start_client "$name"
    if ! wait_for "$tmp/$name.out" "* you joined #general" "$WAIT_SECS"; then
        startup_ok=0
        break
    fi
done

declare -A status
for name in alice bob carol; do
    status[$name]=none
    if [[ -n ${client_pid[$name]:-} ]]; then
        if wait "${client_pid[$name]}"; then
            status[$name]=0
        else
            status[$name]=$?
        fi
    fi
done

# --- checks --------------------------------------------------------------------

passed=0
failed=0
ok() {
    passed=$((passed + 1))
}
fail() {
    failed=$((failed + 1))
    echo "$what: FAIL: $*" >&2
}
# saw NAME TEXT: NAME printed a line containing TEXT.
saw() {
    if grep -qF -- "$2" "$tmp/$1.out"; then ok; else fail "$1 did not see \"$2\""; fi
}
# not_saw NAME TEXT: NAME printed no line containing TEXT.
not_saw() {
    if grep -qF -- "$2" "$tmp/$1.out"; then
        fail "$1 saw \"$2\": $(grep -F -- "$2" "$tmp/$1.out" | head -1)"
    else
        ok
    fi
}

if ((startup_ok)); then ok; else fail "the clients did not all log in"; fi
for name in alice bob carol; do
    if [[ ${status[$name]} == 0 ]]; then ok; else fail "$name exited with status ${status[$name]}"; fi
done

# Everyone in #general saw the #general conversation.
saw bob "#general <alice> hello everyone"
saw carol "#general <alice> hello everyone"
saw alice "#general <bob> hi alice"
saw alice "#general <carol> hey alice"
saw carol "#general <alice> wrapping up in general"
saw bob "#general <carol> bye all"
# #dev is alice and bob only.
saw bob "#dev <alice> dev: the build is red"
saw alice "#dev <bob> dev: on it"
not_saw carol "#dev"
not_saw carol "dev:"
# The private messages reached only their recipient.
saw bob "private <alice> come to #dev, secret plans"
saw alice "private <bob> on my way"
not_saw carol "secret plans"
not_saw carol "on my way"
not_saw carol "private"
not_saw alice "secret plans"
# Receipts: both readers read alice's first message; bob read her private one.
saw alice "read by 2 of 2 in #general"
saw alice "read by bob"

if ((failed > 0)); then
    show "$tmp/alice.out" "$tmp/alice.err" "$tmp/bob.out" "$tmp/bob.err" \
        "$tmp/carol.out" "$tmp/carol.err" "$tmp"/server*.err
fi
echo "$what: $passed passed, $failed failed"
((failed == 0))
