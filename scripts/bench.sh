#!/usr/bin/env bash
# Benchmarks of issue 5: fan-out against chat-server and Redis, idle
# connections, transfers, latency under transfer; issue 9's bystander
# beside loads of legal frames; issue 11's history database (start-up,
# reads and search on 3M stored messages, write rate). Builds release binaries,
# starts a fresh chat-server (--port 0) and redis-server (a free loopback
# port) for every run, drives them with chat-bench, and writes the report.
#
#   scripts/bench.sh           full run (< ~10 min): bench/RESULTS.md
#   scripts/bench.sh --quick   short run (< ~1 min): target/bench/RESULTS-quick.md
#
# Only loopback addresses are used. Everything started here is stopped on
# exit (trap). Environment: BENCH_COMMAND (shown in the report), CARGO.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
CARGO=${CARGO:-cargo}
BIN=$ROOT/target/release
T0=$(date +%s)
LOAD0=$(cut -d" " -f1-3 /proc/loadavg)

if [ $QUICK = 1 ]; then
  SETTINGS="100:10 1000:1 10:10"; REPS=1; VARIANT_REPS=1; WARMUP=0.3; DURATION=1
  FANOUT_BUDGET=40
  IDLE_COUNTS="1000"; RELAY_BYTES=$((256 << 20)); TRANSFER_BYTES=$((256 << 20))
  RTT_SAMPLES=300
  # Issue 9: every load on one server; short phases, a 64 MiB stored file.
  BYSTANDER_GROUPS="all"
  BYSTANDER_OPTS="--idle-secs 1 --min-load-secs 0.5 --load-secs 1 --file-size 64M --phase-timeout 30"
  BYSTANDER_LIMIT=150
  HISTORY_MESSAGES=200000; HISTORY_SAMPLES=20; HISTORY_WRITE_SECS=2
  OUT=$ROOT/target/bench/RESULTS-quick.md
  COMMAND=${BENCH_COMMAND:-scripts/bench.sh --quick}
else
  # The diagnostic variants (history on tmpfs, without receipts) run in the
  # first VARIANT_REPS rounds only, to keep the wall time.
  SETTINGS="100:10 1000:1 10:10"; REPS=5; VARIANT_REPS=3; WARMUP=1; DURATION=4
  FANOUT_BUDGET=420   # seconds (build included) after which no new fan-out round starts
  IDLE_COUNTS="1000 5000 10000"; RELAY_BYTES=$((2 << 30)); TRANSFER_BYTES=$((2 << 30))
  RTT_SAMPLES=2000
  # Issue 9: a fresh server per group of loads (comma-separated), each run
  # with its own idle baseline; a 500 MiB stored file.
  BYSTANDER_GROUPS="receipts,receipts4,history resumes hello neighbour"
  BYSTANDER_OPTS="--idle-secs 3 --min-load-secs 2 --load-secs 3 --file-size 500M --phase-timeout 60"
  BYSTANDER_LIMIT=200
  HISTORY_MESSAGES=3000000; HISTORY_SAMPLES=50; HISTORY_WRITE_SECS=5
  OUT=$ROOT/bench/RESULTS.md
  COMMAND=${BENCH_COMMAND:-scripts/bench.sh}
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

cleanup() {
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

# start_chat [PARENT]: a fresh chat-server whose data directory is under
# PARENT (default: the work directory, on the same disk as /tmp).
start_chat() {
  CHAT_DATA=$(mktemp -d "${1:-$WORK}/chat-data.XXXXXX")
  # A fresh file per server: reading a shared one could find the previous
  # server's address before the new process has truncated it.
  local out="$CHAT_DATA.out"
  "$BIN/chat-server" --host 127.0.0.1 --port 0 --data-dir "$CHAT_DATA" --log-level warn \
    ${CHAT_OPTS[@]+"${CHAT_OPTS[@]}"} > "$out" 2>> "$WORK/chat.err" &
  CHAT_PID=$!
  local line=""
  for _ in $(seq 200); do
    line=$(head -n1 "$out" 2>/dev/null)
    case "$line" in "listening on "*) break ;; esac
    sleep 0.05
  done
  case "$line" in
    "listening on "*) CHAT_ADDR=${line#listening on } ;;
    *) echo "chat-server did not start:" >&2; tail -5 "$WORK/chat.err" >&2; return 1 ;;
  esac
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

# ---- 1, 2: fan-out ----
# Chat members send a cumulative delivered receipt per read batch, as
# chat-client does (chat-bench's default); Redis subscribers only read (it has
# no equivalent). Beside each judged chat run: the same over the WebSocket
# (judged against native), and two diagnostics, not judged: chat-server's data
# directory (the history log it fdatasyncs every turn) on tmpfs, which shows
# what waiting for the disk costs, and members sending no receipts, which
# shows what the server's inbound receipt load costs.
TMPFS=""
if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(df -T /dev/shm 2>/dev/null | awk 'NR==2{print $2}')" = tmpfs ]; then
  TMPFS=$(mktemp -d /dev/shm/chat-bench.XXXXXX)
fi
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

# ---- 3: idle connections ----
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

# ---- 4: transfer vs plain relay ----
log "plain relay, $RELAY_BYTES bytes"
run 300 "plain relay" relay --bytes "$RELAY_BYTES"
start_chat && {
  log "relayed transfer through chat-server, $TRANSFER_BYTES bytes"
  run 300 "transfer" transfer --addr "$CHAT_ADDR" --pid "$CHAT_PID" --bytes "$TRANSFER_BYTES"
  stop_chat
}

# ---- 5: chat latency, idle and under transfer ----
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

# ---- 6: a bystander beside loads of legal frames (issue 9) ----
# A client in a room of its own pings every 2 ms while others send receipt
# floods, bogus download resumes, a hello with 110,000 resume rooms, a busy
# neighbouring room and history pages; p50/p99/max against an idle baseline
# measured first on the same server. Every load phase has a deadline
# (--phase-timeout): a stalled server is reported, not waited for.
for loads in $BYSTANDER_GROUPS; do
  start_chat || { FAILED+=("bystander $loads"); continue; }
  log "bystander beside $loads"
  # shellcheck disable=SC2086
  run "$BYSTANDER_LIMIT" "bystander $loads" bystander --addr "$CHAT_ADDR" --pid "$CHAT_PID" \
    --loads "$loads" $BYSTANDER_OPTS
  stop_chat
done

# ---- 7: the history database (issue 11) ----
# chat-bench starts the server itself here (it times the start-up and reads
# the server's own log), on a data directory it fills first.
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
  --meta "bystander (issue 9)=ping every 2 ms; loads on fresh servers grouped as: ${BYSTANDER_GROUPS// / | }; $BYSTANDER_OPTS" \
  ${PROFILE_META[@]+"${PROFILE_META[@]}"} \
  --meta "wall time=${ELAPSED} s" \
  --meta "failed runs=$FAILS"
cp "$JSON" "$(dirname "$OUT")/$(basename "$OUT" .md).jsonl"
log "wrote $OUT"
[ ${#FAILED[@]} -eq 0 ]
