#!/usr/bin/env bash
# Benchmarks of issue 5: fan-out against chat-server and Redis, idle
# connections, transfers, latency under transfer; issue 9's bystander
# beside loads of legal frames; issue 11's history database (start-up,
# reads and search on 3M stored messages, write rate); the cluster's Redis
# backplane (the same fan-out on one plain server, one node with --cluster,
# two nodes). Builds release binaries, starts a fresh chat-server (--port 0)
# and redis-server (a free loopback port) for every run, drives them with
# chat-bench, and writes the report.
#
#   scripts/bench.sh                 full run (< ~12 min): bench/RESULTS.md
#   scripts/bench.sh --quick         short run (< ~1.5 min): target/bench/RESULTS-quick.md
#   scripts/bench.sh [--quick] SECTION...
#                                    only those sections (fanout idle transfer
#                                    latency bystander history cluster):
#                                    target/bench/RESULTS-SECTION[-...][-quick].md,
#                                    never bench/RESULTS.md
#
# Only loopback addresses are used. Everything started here is stopped on
# exit (trap). Environment: BENCH_COMMAND (shown in the report), CARGO,
# BENCH_SECTIONS (sections to run, space-separated, as the arguments).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ALL_SECTIONS="fanout idle transfer latency bystander history cluster"
QUICK=0
SECTIONS=""
for arg in "$@"; do
  case $arg in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *)
      case " $ALL_SECTIONS " in
        *" $arg "*) SECTIONS="$SECTIONS $arg" ;;
        *) echo "unknown section $arg (sections: $ALL_SECTIONS)" >&2; exit 2 ;;
      esac ;;
  esac
done
[ -z "$SECTIONS" ] && SECTIONS=${BENCH_SECTIONS:-}
for sec in $SECTIONS; do
  case " $ALL_SECTIONS " in
    *" $sec "*) ;;
    *) echo "unknown section $sec (sections: $ALL_SECTIONS)" >&2; exit 2 ;;
  esac
done
# Sections in the script's order; all of them when none is named.
PICKED=""
for sec in $ALL_SECTIONS; do
  case " ${SECTIONS:-$ALL_SECTIONS} " in *" $sec "*) PICKED="$PICKED $sec" ;; esac
done
SECTIONS=${PICKED# }
want() { case " $SECTIONS " in *" $1 "*) return 0 ;; esac; return 1; }
CARGO=${CARGO:-cargo}
BIN=$ROOT/target/release
T0=$(date +%s)
LOAD0=$(cut -d" " -f1-3 /proc/loadavg)

if [ $QUICK = 1 ]; then
  SETTINGS="100:10 1000:1 10:10"; REPS=1; VARIANT_REPS=1; WARMUP=0.3; DURATION=1
  FANOUT_BUDGET=40
  IDLE_COUNTS="1000"; RELAY_BYTES=$((256 << 20)); TRANSFER_BYTES=$((256 << 20)); TRANSFER_ROUNDS=1
  RTT_SAMPLES=300
  # Issue 9: every load on one server; short phases, a 64 MiB stored file.
  BYSTANDER_GROUPS="all"
  BYSTANDER_OPTS="--idle-secs 1 --min-load-secs 0.5 --load-secs 1 --file-size 64M --phase-timeout 30"
  BYSTANDER_LIMIT=150
  HISTORY_MESSAGES=200000; HISTORY_SAMPLES=20; HISTORY_WRITE_SECS=2
  CLUSTER_SETTINGS="100:10 1000:1"; CLUSTER_REPS=1
  OUT=$ROOT/target/bench/RESULTS-quick.md
  COMMAND=${BENCH_COMMAND:-scripts/bench.sh --quick}
else
  # The diagnostic variants (history on tmpfs, without receipts) run in the
  # first VARIANT_REPS rounds only, to keep the wall time.
  SETTINGS="100:10 1000:1 10:10"; REPS=5; VARIANT_REPS=3; WARMUP=1; DURATION=4
  FANOUT_BUDGET=420   # seconds (build included) after which no new fan-out round starts
  IDLE_COUNTS="1000 5000 10000"; RELAY_BYTES=$((2 << 30)); TRANSFER_BYTES=$((2 << 30)); TRANSFER_ROUNDS=3
  RTT_SAMPLES=2000
  # Issue 9: a fresh server per group of loads (comma-separated), each run
  # with its own idle baseline; a 500 MiB stored file.
  BYSTANDER_GROUPS="receipts,receipts4,history resumes hello neighbour"
  BYSTANDER_OPTS="--idle-secs 3 --min-load-secs 2 --load-secs 3 --file-size 500M --phase-timeout 60"
  BYSTANDER_LIMIT=200
  HISTORY_MESSAGES=3000000; HISTORY_SAMPLES=50; HISTORY_WRITE_SECS=5
  # Section 8: the same load on one plain server, one --cluster node, two
  # nodes; median of CLUSTER_REPS runs each.
  CLUSTER_SETTINGS="100:10 1000:1"; CLUSTER_REPS=3
  OUT=$ROOT/bench/RESULTS.md
  COMMAND=${BENCH_COMMAND:-scripts/bench.sh}
fi
# A run of some sections only never replaces the full report.
if [ "$SECTIONS" != "$ALL_SECTIONS" ]; then
  suffix=""
  [ $QUICK = 1 ] && suffix="-quick"
  OUT=$ROOT/target/bench/RESULTS-${SECTIONS// /-}$suffix.md
  [ -z "${BENCH_COMMAND:-}" ] && COMMAND="$COMMAND $SECTIONS"
fi
WINDOW=32
SIZE=100

mkdir -p "$ROOT/target/bench" "$(dirname "$OUT")"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/chat-bench.XXXXXX")
JSON=$WORK/results.jsonl
: > "$JSON"
FAILED=()
CHAT_PID=""
REDIS_PID=""
NODE_PIDS=()
NODE_DIRS=()

log() { printf '[bench %3ds] %s\n' $(( $(date +%s) - T0 )) "$*"; }

stop_chat() {
  if [ -n "$CHAT_PID" ]; then
    kill "$CHAT_PID" 2>/dev/null
    wait "$CHAT_PID" 2>/dev/null
    CHAT_PID=""
  fi
  [ -n "${CHAT_DATA:-}" ] && rm -rf "$CHAT_DATA" "$CHAT_DATA.out"
  CHAT_DATA=""
}

stop_redis() {
  if [ -n "$REDIS_PID" ]; then
    kill "$REDIS_PID" 2>/dev/null
    wait "$REDIS_PID" 2>/dev/null
    REDIS_PID=""
  fi
}

# stop_nodes: the cluster nodes of section 8 (SIGTERM, then their data).
stop_nodes() {
  local p
  for p in ${NODE_PIDS[@]+"${NODE_PIDS[@]}"}; do kill "$p" 2>/dev/null; done
  for p in ${NODE_PIDS[@]+"${NODE_PIDS[@]}"}; do wait "$p" 2>/dev/null; done
  for p in ${NODE_DIRS[@]+"${NODE_DIRS[@]}"}; do rm -rf "$p" "$p.out"; done
  NODE_PIDS=(); NODE_DIRS=()
}

cleanup() {
  stop_nodes
  stop_chat
  stop_redis
  rm -rf "$WORK"
  [ -n "${TMPFS:-}" ] && rm -rf "$TMPFS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- prerequisites ----
# Many connections: raise the open-file limit for this shell and its children.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open-file limit: $(ulimit -n)"

if ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server (Debian package)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi
HAVE_REDIS=0
command -v redis-server >/dev/null 2>&1 && HAVE_REDIS=1
[ $HAVE_REDIS = 1 ] || log "redis-server unavailable: Redis columns will be missing"

log "building release binaries"
$CARGO build --release --bins --quiet || { echo "build failed" >&2; exit 1; }

# ---- servers ----
# The server's abuse limits (per-address connection cap, message rate) exist
# to stop one client hogging a shared server; here one loopback address
# stands for thousands of users, so they are turned off where the server has
# them. Everything else runs with its defaults.
CHAT_OPTS=()
if "$BIN/chat-server" --help 2>/dev/null | grep -q -- '--msg-rate'; then
  CHAT_OPTS+=(--max-connections 0 --max-connections-per-ip 0 --msg-rate 0)
fi

# launch_chat DATA_DIR [ARGS...]: a chat-server on a free port (--port 0)
# with its data in DATA_DIR and ARGS added; LAUNCHED_PID is its pid (set even
# when it does not start), LAUNCHED_ADDR the address of its `listening on`.
launch_chat() {
  local dir=$1; shift
  # A fresh file per server: reading a shared one could find the previous
  # server's address before the new process has truncated it.
  local out="$dir.out"
  "$BIN/chat-server" --host 127.0.0.1 --port 0 --data-dir "$dir" --log-level warn \
    ${CHAT_OPTS[@]+"${CHAT_OPTS[@]}"} "$@" > "$out" 2>> "$WORK/chat.err" &
  LAUNCHED_PID=$!
  local line=""
  for _ in $(seq 200); do
    line=$(head -n1 "$out" 2>/dev/null)
    case "$line" in "listening on "*) break ;; esac
    sleep 0.05
  done
  case "$line" in
    "listening on "*) LAUNCHED_ADDR=${line#listening on } ;;
    *) echo "chat-server did not start:" >&2; tail -5 "$WORK/chat.err" >&2; return 1 ;;
  esac
}

# start_chat [PARENT]: a fresh chat-server whose data directory is under
# PARENT (default: the work directory, on the same disk as /tmp).
start_chat() {
  CHAT_DATA=$(mktemp -d "${1:-$WORK}/chat-data.XXXXXX")
  launch_chat "$CHAT_DATA"
  local rc=$?
  CHAT_PID=$LAUNCHED_PID
  CHAT_ADDR=${LAUNCHED_ADDR:-}
  return $rc
}

# start_nodes N: N fresh cluster nodes (n1..nN, fresh data directories) on
# the Redis at REDIS_ADDR; NODE_ADDRS and NODE_PIDLIST are their addresses
# and pids, comma-separated, for chat-bench.
start_nodes() {
  local i dir
  NODE_ADDRS=""; NODE_PIDLIST=""
  for i in $(seq "$1"); do
    dir=$(mktemp -d "$WORK/node-data.XXXXXX")
    NODE_DIRS+=("$dir")
    LAUNCHED_ADDR=""
    launch_chat "$dir" --cluster "redis://$REDIS_ADDR" --node-id "n$i"
    local rc=$?
    NODE_PIDS+=("$LAUNCHED_PID")
    [ $rc = 0 ] || return 1
    NODE_ADDRS="$NODE_ADDRS${NODE_ADDRS:+,}$LAUNCHED_ADDR"
    NODE_PIDLIST="$NODE_PIDLIST${NODE_PIDLIST:+,}$LAUNCHED_PID"
  done
}

start_redis() {
  [ $HAVE_REDIS = 1 ] || return 1
  local port
  for _ in 1 2 3; do
    port=$("$BIN/chat-bench" free-port)
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --daemonize no --maxclients 20000 --logfile "$WORK/redis.log" &
    REDIS_PID=$!
    for _ in $(seq 100); do
      if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
        REDIS_ADDR=127.0.0.1:$port
        return 0
      fi
      kill -0 "$REDIS_PID" 2>/dev/null || break
      sleep 0.05
    done
    stop_redis
  done
  echo "redis-server did not start" >&2
  return 1
}

# run TIMEOUT_SECS NAME chat-bench-args...: run one scenario, note a failure.
run() {
  local limit=$1 name=$2; shift 2
  if ! timeout "$limit" "$BIN/chat-bench" "$@" --json "$JSON"; then
    FAILED+=("$name")
    log "FAILED: $name"
    tail -n 3 "$WORK/chat.err" 2>/dev/null
  fi
}

# History on tmpfs (a diagnostic of sections 1-2 and 5), where there is one.
TMPFS=""
if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(df -T /dev/shm 2>/dev/null | awk 'NR==2{print $2}')" = tmpfs ]; then
  TMPFS=$(mktemp -d /dev/shm/chat-bench.XXXXXX)
fi

# ---- 1, 2: fan-out ----
# Chat members send a cumulative delivered receipt per read batch, at most
# one per 200 ms, as chat-client does (chat-bench's default); Redis subscribers only read (it has
# no equivalent). Beside each judged chat run: the same over the WebSocket
# (judged against native), and two diagnostics, not judged: chat-server's data
# directory (the history log it fdatasyncs every turn) on tmpfs, which shows
# what waiting for the disk costs, and members sending no receipts, which
# shows what the server's inbound receipt load costs.
if want fanout; then
DIAG_KINDS="chat-norcpt"
[ -n "$TMPFS" ] && DIAG_KINDS="chat-tmpfs chat-norcpt"
for rep in $(seq "$REPS"); do
  KINDS="chat redis chat-ws"
  [ "$rep" -le "$VARIANT_REPS" ] && KINDS="$KINDS $DIAG_KINDS"
  if [ "$rep" -gt 1 ] && [ $(( $(date +%s) - T0 )) -gt $FANOUT_BUDGET ]; then
    log "time budget spent: fan-out stops after $((rep - 1)) round(s)"
    break
  fi
  for s in $SETTINGS; do
    S=${s%%:*}; P=${s##*:}
    for kind in $KINDS; do
      variant=()
      case $kind in
        chat)
          start_chat || { FAILED+=("fanout chat S=$S P=$P"); continue; }
          target=chat; addr=$CHAT_ADDR; pid=$CHAT_PID ;;
        chat-tmpfs)
          start_chat "$TMPFS" || { FAILED+=("fanout chat tmpfs S=$S P=$P"); continue; }
          target=chat; addr=$CHAT_ADDR; pid=$CHAT_PID; variant=(--variant "history on tmpfs") ;;
        chat-norcpt)
          start_chat || { FAILED+=("fanout chat without receipts S=$S P=$P"); continue; }
          target=chat; addr=$CHAT_ADDR; pid=$CHAT_PID
          variant=(--variant "without receipts" --no-receipts) ;;
        chat-ws)
          start_chat || { FAILED+=("fanout chat over WebSocket S=$S P=$P"); continue; }
          target=chat; addr=$CHAT_ADDR; pid=$CHAT_PID
          variant=(--variant "over WebSocket" --websocket) ;;
        redis)
          start_redis || { FAILED+=("fanout redis S=$S P=$P"); continue; }
          target=redis; addr=$REDIS_ADDR; pid=$REDIS_PID ;;
      esac
      log "fan-out $kind S=$S P=$P (run $rep of $REPS)"
      run 120 "fanout $kind S=$S P=$P" fanout --target $target --addr "$addr" --pid "$pid" \
        --members "$S" --publishers "$P" --window $WINDOW --size $SIZE \
        --warmup $WARMUP --duration $DURATION ${variant[@]+"${variant[@]}"}
      stop_chat; stop_redis
    done
  done
done
fi  # fanout

# ---- 3: idle connections ----
if want idle; then
for c in $IDLE_COUNTS; do
  for target in chat redis; do
    if [ $target = chat ]; then
      start_chat || { FAILED+=("idle chat C=$c"); continue; }
      addr=$CHAT_ADDR; pid=$CHAT_PID
    else
      start_redis || { FAILED+=("idle redis C=$c"); continue; }
      addr=$REDIS_ADDR; pid=$REDIS_PID
    fi
    log "idle $target C=$c"
    run 180 "idle $target C=$c" idle --target $target --addr "$addr" --pid "$pid" --count "$c"
    stop_chat; stop_redis
  done
done
fi  # idle

# ---- 4: transfer vs plain relay ----
if want transfer; then
# Alternating runs (the machine's load moves): the report takes the median
# of each. Binary chunk frames, as chat-client sends them; base64 JSON ones
# beside them as a diagnostic.
for round in $(seq 1 "$TRANSFER_ROUNDS"); do
  log "plain relay, $RELAY_BYTES bytes (round $round)"
  run 300 "plain relay" relay --bytes "$RELAY_BYTES"
  start_chat && {
    log "relayed transfer through chat-server, $TRANSFER_BYTES bytes (round $round)"
    run 300 "transfer" transfer --addr "$CHAT_ADDR" --pid "$CHAT_PID" --bytes "$TRANSFER_BYTES"
    run 300 "transfer, JSON chunks" transfer --addr "$CHAT_ADDR" --pid "$CHAT_PID" \
      --bytes "$TRANSFER_BYTES" --json-chunks
    stop_chat
  }
done
fi  # transfer

# ---- 5: chat latency, idle and under transfer ----
if want latency; then
start_chat && {
  log "chat round trips, idle and beside 4 transfers"
  run 180 "latency under transfer" latency --addr "$CHAT_ADDR" --pid "$CHAT_PID" \
    --transfers 4 --samples "$RTT_SAMPLES"
  stop_chat
}
if [ -n "$TMPFS" ] && start_chat "$TMPFS"; then
  log "chat round trips, idle and beside 4 transfers, history on tmpfs (diagnostic)"
  run 180 "latency under transfer, tmpfs" latency --addr "$CHAT_ADDR" --pid "$CHAT_PID" \
    --transfers 4 --samples "$RTT_SAMPLES" --variant "history on tmpfs"
  stop_chat
fi
# What the machine alone does to round trips: one plain relay inside
# chat-bench (two busy threads, as the judged load's server loop and
# transfer driver) beside an otherwise idle server.
start_chat && {
  log "chat round trips, idle and beside a plain relay outside the server (diagnostic)"
  run 180 "latency beside a plain relay" latency --addr "$CHAT_ADDR" --pid "$CHAT_PID" \
    --relay-load 1 --samples "$RTT_SAMPLES" --variant "load beside the server"
  stop_chat
}
fi  # latency

# ---- 6: a bystander beside loads of legal frames (issue 9) ----
# A client in a room of its own pings every 2 ms while others send receipt
# floods, bogus download resumes, a hello with 110,000 resume rooms, a busy
# neighbouring room and history pages; p50/p99/max against an idle baseline
# measured first on the same server. Every load phase has a deadline
# (--phase-timeout): a stalled server is reported, not waited for.
if want bystander; then
for loads in $BYSTANDER_GROUPS; do
  start_chat || { FAILED+=("bystander $loads"); continue; }
  log "bystander beside $loads"
  # shellcheck disable=SC2086
  run "$BYSTANDER_LIMIT" "bystander $loads" bystander --addr "$CHAT_ADDR" --pid "$CHAT_PID" \
    --loads "$loads" $BYSTANDER_OPTS
  stop_chat
done
fi  # bystander

# ---- 7: the history database (issue 11) ----
# chat-bench starts the server itself here (it times the start-up and reads
# the server's own log), on a data directory it fills first.
if want history; then
log "history: $HISTORY_MESSAGES stored messages, start-up, reads, search"
run 900 "history start-up" history-startup --server "$BIN/chat-server" \
  --data-dir "$WORK/history-big" --messages "$HISTORY_MESSAGES" --samples "$HISTORY_SAMPLES"
rm -rf "$WORK/history-big"
for p in 1 10; do
  log "history write rate, $p publisher(s)"
  run 120 "history write P=$p" history-write --server "$BIN/chat-server" \
    --data-dir "$WORK/history-write-$p" --publishers "$p" --window $WINDOW \
    --duration "$HISTORY_WRITE_SECS"
  rm -rf "$WORK/history-write-$p"
done
fi  # history

# ---- 8: the cluster's Redis backplane ----
# The same load (S members, P publishers, receipts, W in flight) on (a) one
# chat-server without --cluster, (b) one node with --cluster on a Redis of
# its own, (c) two nodes on one Redis, members and publishers round-robin
# between them. A fresh Redis and fresh nodes for every run. (a) is the
# judged chat run of section 1-2 when this run made it for the same shape;
# otherwise it runs here. chat-bench reads the nodes' CPU, Redis's CPU and
# Redis's INFO commandstats at both ends of the measured interval.
if want cluster; then
if [ $HAVE_REDIS = 0 ]; then
  FAILED+=("cluster: no redis-server")
else
for rep in $(seq "$CLUSTER_REPS"); do
  for s in $CLUSTER_SETTINGS; do
    S=${s%%:*}; P=${s##*:}
    KINDS="cluster1 cluster2"
    if ! want fanout || [[ " $SETTINGS " != *" $s "* ]]; then
      KINDS="plain $KINDS"
    fi
    for kind in $KINDS; do
      name="cluster $kind S=$S P=$P"
      extra=()
      case $kind in
        plain)
          start_chat || { FAILED+=("$name"); stop_chat; continue; }
          addrs=$CHAT_ADDR; pids=$CHAT_PID ;;
        cluster*)
          start_redis || { FAILED+=("$name"); continue; }
          start_nodes "${kind#cluster}" || { FAILED+=("$name"); stop_nodes; stop_redis; continue; }
          addrs=$NODE_ADDRS; pids=$NODE_PIDLIST
          extra=(--redis-pid "$REDIS_PID" --redis-addr "$REDIS_ADDR") ;;
      esac
      log "$name (run $rep of $CLUSTER_REPS)"
      run 180 "$name" fanout --target chat --addr "$addrs" --pid "$pids" \
        --members "$S" --publishers "$P" --window $WINDOW --size $SIZE \
        --warmup $WARMUP --duration $DURATION ${extra[@]+"${extra[@]}"}
      stop_nodes; stop_chat; stop_redis
    done
  done
done
fi
fi  # cluster

# ---- report ----
PROFILE_META=()
[ $QUICK = 0 ] && [ -f "$ROOT/bench/PROFILE.md" ] && \
  PROFILE_META=(--meta "where the server spends its time=[PROFILE.md](PROFILE.md) (callgrind, perf, heaptrack; written by hand)")
REDIS_VERSION=$( (redis-server --version 2>/dev/null || echo "not installed") | head -n1)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
ELAPSED=$(( $(date +%s) - T0 ))
FAILS="none"
[ ${#FAILED[@]} -gt 0 ] && FAILS=$(IFS=';'; echo "${FAILED[*]}")
"$BIN/chat-bench" report --in "$JSON" --out "$OUT" \
  --meta "command=\`$COMMAND\`" \
  --meta "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')" \
  --meta "cores (nproc)=$(nproc)" \
  --meta "CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
  --meta "kernel=$(uname -r)" \
  --meta "load average at start=$LOAD0" \
  --meta "chat-server=release build of $COMMIT; options: ${CHAT_OPTS[*]:-defaults} (abuse limits off: one loopback address stands for every user); fresh process and data dir (on $(df -T "$WORK" | awk 'NR==2{print $2}')) per run" \
  --meta "Redis=$REDIS_VERSION, --save '' --appendonly no, fresh process per run" \
  --meta "fan-out settings=S:P = $SETTINGS; W=$WINDOW; ${SIZE}-byte messages; ${WARMUP} s warm-up + ${DURATION} s measured; up to $REPS runs each (diagnostic variants $VARIANT_REPS) as time allows, median shown; chat members send delivered receipts as chat-client does" \
  --meta "sections run=$SECTIONS" \
  --meta "cluster (section 8)=S:P = $CLUSTER_SETTINGS; up to $CLUSTER_REPS runs each, median shown; nodes with --cluster on a fresh redis-server (--save '' --appendonly no) per run, the same chat-server options; two nodes: members and publishers round-robin" \
  --meta "bystander (issue 9)=ping every 2 ms; loads on fresh servers grouped as: ${BYSTANDER_GROUPS// / | }; $BYSTANDER_OPTS" \
  ${PROFILE_META[@]+"${PROFILE_META[@]}"} \
  --meta "wall time=${ELAPSED} s" \
  --meta "failed runs=$FAILS"
cp "$JSON" "$(dirname "$OUT")/$(basename "$OUT" .md).jsonl"
log "wrote $OUT"
[ ${#FAILED[@]} -eq 0 ]
