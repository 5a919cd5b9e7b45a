#!/usr/bin/env bash
# Issue 15's benchmark: the PostgreSQL store beside SQLite, and takeover times
# (bench/README.md, "PostgreSQL store and failover"):
#   1. durable no-op throughput: 100,000 echo tasks submitted at once until every result is
#      back (taskwire-bench throughput, the run of bench/run.sh), executor --slots 128, on
#      SQLite and on PostgreSQL with synchronous_commit on and off
#      (--postgres-synchronous-commit); a fresh scheduler, executor and store each run
#   2. chain of 100 no-op links, submit to end, 30 runs after one warm-up
#      (taskwire-bench workflow --shape chain --size 100), executor --slots 64, the same stores;
#      per link = p50 / 100
#   3. takeover: three schedulers on one PostgreSQL with --leader-lease 3, two executors
#      dialling all three (--scheduler a,b,c), a backlog of thread.sleep tasks; kill -9 the
#      leader N times (5) and time kill -> first task dispatched by the new leader (its
#      taskwire_tasks_started_total, /metrics polled every ~20 ms), restarting the killed one on
#      its address each time (it comes back as a standby); min / median / max
# PostgreSQL 15 (Debian's postgresql-15) is started here by tests/e2e/postgres_server.py, on a
# unix socket in a temp directory; each run gets a database of its own.
#
#   bench/postgres.sh [BUILD_DIR]          (default: build/ of this checkout)
#
# Environment knobs:
#   MEASURE          which to run (default throughput,chain,takeover)
#   STORES           stores of 1. and 2., in order (default "sqlite pg-on pg-off": SQLite,
#                    PostgreSQL with synchronous_commit on, with it off)
#   REPEAT           runs per store of 1. and 2. (default 1)
#   THROUGHPUT_TASKS, THROUGHPUT_SLOTS   (default 100000, 128)
#   CHAIN_RUNS, CHAIN_SLOTS              (default 30, 64)
#   KILLS            kill -9 of the leader in 3. (default 5)
#   LEASE            --leader-lease of 3. (default 3)
#   TAKEOVER_SLOTS   each executor's --slots in 3. (default 8)
#   SLEEP_MS         the backlog's thread.sleep in 3. (default 50: a freed slot within 50 ms)
#   SCHEDULER_ARGS   more scheduler flags for every run
#   EXECUTOR_ARGS    more executor flags for every run (3. measures the executors' defaults,
#                    e.g. their reconnect backoff; --max-backoff 0.5 shortens it)
#   QUIET_WAIT       seconds to wait before each measurement for a machine at least 90 % idle
#                    (default 0: the cores are shared; each run reports what others took)
#   KEEP_LOGS=1      keep the work directory (process logs, PostgreSQL's log)
# Every process it starts is stopped by PID on exit (PostgreSQL through postgres_server.py,
# which stops the postmaster by its PID). Time is bounded: each bench run has a deadline and a
# timeout, every wait a bound, and no measurement starts after 8 minutes.
set -euo pipefail

SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${1:-$SRC_DIR/build}
MEASURE=${MEASURE:-throughput,chain,takeover}
STORES=${STORES:-"sqlite pg-on pg-off"}
REPEAT=${REPEAT:-1}
THROUGHPUT_TASKS=${THROUGHPUT_TASKS:-100000}
THROUGHPUT_SLOTS=${THROUGHPUT_SLOTS:-128}
CHAIN_RUNS=${CHAIN_RUNS:-30}
CHAIN_SLOTS=${CHAIN_SLOTS:-64}
KILLS=${KILLS:-5}
LEASE=${LEASE:-3}
TAKEOVER_SLOTS=${TAKEOVER_SLOTS:-8}
SLEEP_MS=${SLEEP_MS:-50}
want() { [[ ",$MEASURE," == *",$1,"* ]]; }

SCHEDULER=$BUILD_DIR/scheduler/taskwire-scheduler
EXECUTOR=$BUILD_DIR/executor/taskwire-executor
BENCH=$BUILD_DIR/bench/taskwire-bench
for bin in "$SCHEDULER" "$EXECUTOR" "$BENCH"; do
  if [ ! -x "$bin" ]; then
    echo "postgres.sh: $bin is missing; build it: ninja -C $BUILD_DIR -j1 taskwire-scheduler taskwire-executor taskwire-bench" >&2
    exit 2
  fi
done
PG_BIN=/usr/lib/postgresql/15/bin
PG_SERVER=$SRC_DIR/tests/e2e/postgres_server.py

WORK=$(mktemp -d /tmp/taskwire-bench-pg.XXXXXX)
PIDS=()
PG_PY_PID=''
cleanup() {
  trap - EXIT INT TERM
  # PostgreSQL last, and given the time of its fast shutdown (postgres_server.py waits up
  # to 30 s for it): a SIGKILL of the wrapper would leave the postmaster running.
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do [ "$pid" = "$PG_PY_PID" ] || stop_pid "$pid"; done
  if [ -n "$PG_PY_PID" ]; then stop_pid "$PG_PY_PID" 40; fi
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# SIGTERM, then SIGKILL after LIMIT s (default 10). Only PIDs this script started get here.
stop_pid() {  # PID [LIMIT]
  local pid=$1 limit=${2:-10}
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((limit * 10))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "postgres.sh: pid $pid ignored SIGTERM for $limit s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}
forget_pid() {
  local rest=() p
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do [ "$p" = "$1" ] || rest+=("$p"); done
  PIDS=("${rest[@]+"${rest[@]}"}")
}

await_file() {  # FILE NAME [SECONDS]: up to SECONDS (default 30) for a non-empty file
  local tries=$(( ${3:-30} * 20 ))
  for _ in $(seq 1 "$tries"); do [ -s "$1" ] && return 0; sleep 0.05; done
  echo "postgres.sh: $2 did not start; its log:" >&2
  tail -40 "$WORK/$2.log" >&2 || true
  exit 1
}

json_field() {  # LINE KEY
  sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1" | tr -d '"'
}

# --- PostgreSQL ------------------------------------------------------------------------------
PG_URL='' PG_PID=''
start_postgres() {
  [ -n "$PG_URL" ] && return 0
  /usr/bin/python3 "$PG_SERVER" --dir "$WORK/pg" >"$WORK/pg.url" 2>"$WORK/postgres-server.log" &
  PG_PY_PID=$!
  PIDS+=("$PG_PY_PID")
  for _ in $(seq 1 1200); do  # up to 60 s: initdb, then start-up
    [ -s "$WORK/pg.url" ] && break
    if ! kill -0 "$PG_PY_PID" 2>/dev/null; then
      local rc=0
      wait "$PG_PY_PID" || rc=$?
      forget_pid "$PG_PY_PID"
      if [ "$rc" = 77 ]; then
        echo "postgres.sh: PostgreSQL 15 is not installed: install the Debian package postgresql-15 (scripts/install-deps.sh does)" >&2
      else
        echo "postgres.sh: postgres_server.py exited with $rc:" >&2
        cat "$WORK/postgres-server.log" >&2
      fi
      exit 2
    fi
    sleep 0.05
  done
  PG_URL=$(head -1 "$WORK/pg.url")
  [ -n "$PG_URL" ] || { echo "postgres.sh: PostgreSQL did not start in 60 s" >&2; cat "$WORK/postgres-server.log" >&2; exit 1; }
  PG_PID=$(pgrep -P "$PG_PY_PID" | head -1 || true)  # the postmaster (setpriv execs it)
  echo "postgresql: $("$PG_BIN/psql" -X -A -t -d "$PG_URL" -c 'SHOW server_version') (pid ${PG_PID:-?}), $PG_URL; the server's own synchronous_commit: $("$PG_BIN/psql" -X -A -t -d "$PG_URL" -c 'SHOW synchronous_commit'), fsync: $("$PG_BIN/psql" -X -A -t -d "$PG_URL" -c 'SHOW fsync')"
}
db_url() { echo "postgresql:///$1?${PG_URL#*\?}"; }  # the url of database NAME
new_database() {  # NAME: creates it, prints its url
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$(db_url postgres)" -c "CREATE DATABASE $1" >&2
  db_url "$1"
}

# --- processes -------------------------------------------------------------------------------
RUN=0
LOG_LEVEL=warn  # info for the takeover: its "became the leader" lines
LAST_PID='' LAST_ADDR='' LAST_METRICS=''
launch_scheduler() {  # NAME LISTEN FLAGS...: starts one, waits for its ready file
  local name=$1 listen=$2
  shift 2
  local ready=$WORK/$name.json
  rm -f "$ready"
  # shellcheck disable=SC2086
  "$SCHEDULER" --listen "$listen" --metrics-listen 127.0.0.1:0 --ready-file "$ready" \
    --max-waiting-tasks 1000000 --log-level "$LOG_LEVEL" "$@" ${SCHEDULER_ARGS:-} >>"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  await_file "$ready" "$name" 60
  LAST_ADDR=$(sed -n 's/.*"grpc":"\([^"]*\)".*/\1/p' "$ready")
  LAST_METRICS=$(sed -n 's/.*"metrics":"\([^"]*\)".*/\1/p' "$ready")
}

launch_executor() {  # NAME SCHEDULERS SLOTS
  local ready=$WORK/$1.json
  # shellcheck disable=SC2086
  "$EXECUTOR" --scheduler "$2" --slots "$3" --health-listen '' --metrics-listen '' \
    --ready-file "$ready" --log-level warn ${EXECUTOR_ARGS:-} >"$WORK/$1.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  await_file "$ready" "$1"
}

# "LEADER TERM STARTED" from a scheduler's /metrics (- for a missing gauge; 0 0 0 when it
# does not answer).
scrape() {  # METRICS_ADDRESS
  { curl -s --max-time 1 "http://$1/metrics" || true; } | awk '
    $1 ~ /^taskwire_scheduler_leader(\{|$)/ { l = $2 + 0; hl = 1 }
    $1 ~ /^taskwire_scheduler_leader_term(\{|$)/ { t = $2 + 0; ht = 1 }
    $1 ~ /^taskwire_tasks_started_total(\{|$)/ { s += $2 }
    END { printf "%s %s %d\n", hl ? l : "-", ht ? t : "-", s }'
}
metric_sum() {  # METRICS_ADDRESS NAME
  { curl -s --max-time 2 "http://$1/metrics" || true; } |
    awk -v n="$2" 'index($1, n) == 1 && (length($1) == length(n) || substr($1, length(n) + 1, 1) == "{") { s += $2 } END { printf "%d", s }'
}
wait_leader() {  # METRICS_ADDRESS: up to 30 s for its taskwire_scheduler_leader to say 1
  for _ in $(seq 1 300); do
    read -r l _ _ < <(scrape "$1")
    [ "$l" = 1 ] && return 0
    sleep 0.1
  done
  echo "postgres.sh: the scheduler at $1 did not become the leader in 30 s" >&2
  exit 1
}
wait_executors() {  # METRICS_ADDRESS N: up to 30 s for N linked executors
  for _ in $(seq 1 300); do
    [ "$(metric_sum "$1" taskwire_executors_connected)" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "postgres.sh: fewer than $2 executors linked to $1 after 30 s" >&2
  return 1
}

# How PostgreSQL read the tasks table during a run: a plan that scans it whole per
# statement (seq_tup_read in the millions) explains a slow run.
scan_note() {  # DATABASE
  "$PG_BIN/psql" -X -A -t -F ' ' -d "$(db_url "$1")" -c "SELECT seq_scan, seq_tup_read, idx_scan, n_live_tup, n_dead_tup, last_autoanalyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'tasks'" |
    awk '{ printf "postgres: tasks table: %d sequential scans reading %d rows, %d index scans; %d live and %d dead rows; analyzed by autovacuum: %s\n", $1, $2, $3, $4, $5, $6 == "t" ? "yes" : "no" }'
}

SCHED_PID='' SCHED_ADDR='' EXEC_PID='' SCHED_DB=''
start_store_scheduler() {  # STORE: sqlite, pg-on or pg-off; a fresh store
  RUN=$((RUN + 1))
  SCHED_DB=''
  case $1 in
    sqlite) launch_scheduler "scheduler-$RUN" 127.0.0.1:0 --store sqlite --data-dir "$WORK/data-$RUN" ;;
    pg-on|pg-off)
      start_postgres
      local url
      SCHED_DB=bench_$RUN
      url=$(new_database "$SCHED_DB")
      launch_scheduler "scheduler-$RUN" 127.0.0.1:0 --store postgres --postgres-url "$url" \
        --postgres-synchronous-commit "${1#pg-}"
      ;;
    *) echo "postgres.sh: STORES: unknown '$1' (sqlite, pg-on, pg-off)" >&2; exit 2 ;;
  esac
  SCHED_PID=$LAST_PID SCHED_ADDR=$LAST_ADDR
  if [ "$1" != sqlite ]; then wait_leader "$LAST_METRICS"; fi
}
stop_all() {
  if [ -n "$EXEC_PID" ]; then stop_pid "$EXEC_PID"; EXEC_PID=; fi
  if [ -n "$SCHED_PID" ]; then stop_pid "$SCHED_PID"; SCHED_PID=; fi
  if [ -n "$SCHED_DB" ]; then scan_note "$SCHED_DB" || true; SCHED_DB=; fi
}

store_label() {
  case $1 in
    sqlite) echo "SQLite (synchronous=normal)" ;;
    pg-on) echo "PostgreSQL, synchronous_commit on" ;;
    pg-off) echo "PostgreSQL, synchronous_commit off" ;;
  esac
}

# --- the machine -----------------------------------------------------------------------------
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
cpu_jiffies() {  # utime + stime of PID so far; 0 once it is gone
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# PostgreSQL's CPU: the postmaster and its children (the backends) alive at the time.
pg_jiffies() {
  local total=0 p
  [ -n "$PG_PID" ] || { echo 0; return; }
  for p in $PG_PID $(pgrep -P "$PG_PID" || true); do total=$((total + $(cpu_jiffies "$p"))); done
  echo "$total"
}
machine_jiffies() { awk '/^cpu / { print $2 + $3 + $4, $5 + $6 + $7 + $8, $9 }' /proc/stat; }
idle_pct() {
  local b0 i0 b1 i1
  read -r b0 i0 _ < <(machine_jiffies); sleep 1; read -r b1 i1 _ < <(machine_jiffies)
  echo $(( 100 * (i1 - i0) / ((b1 - b0) + (i1 - i0) + 1) ))
}
load_note() {
  local idle waited=0
  idle=$(idle_pct)
  while [ "$idle" -lt 90 ] && [ "$waited" -lt "${QUIET_WAIT:-0}" ]; do
    sleep 4; waited=$((waited + 5)); idle=$(idle_pct)
  done
  echo "machine before: $idle % idle over 1 s (waited $waited s), load average $(cut -d' ' -f1-3 /proc/loadavg), $NCPU cores"
}

# Runs a bench command, keeps its output in BENCH_OUT, and reports the CPU that the
# scheduler, the executor, PostgreSQL, the bench and everything else used meanwhile.
BENCH_OUT='' BENCH_RC=0
measure() {  # TIMEOUT_SECONDS COMMAND...
  local limit=$1
  shift
  local b0 i0 t0 b1 i1 t1 s0 e0 p0 s1 e1 p1 tfile=$WORK/time.$RANDOM
  echo "\$ $*"
  read -r b0 i0 t0 < <(machine_jiffies)
  s0=$(cpu_jiffies "${SCHED_PID:-0}"); e0=$(cpu_jiffies "${EXEC_PID:-0}"); p0=$(pg_jiffies)
  BENCH_RC=0
  BENCH_OUT=$(timeout "$limit" /usr/bin/time -f '%U %S' -o "$tfile" "$@" 2>&1) || BENCH_RC=$?
  s1=$(cpu_jiffies "${SCHED_PID:-0}"); e1=$(cpu_jiffies "${EXEC_PID:-0}"); p1=$(pg_jiffies)
  read -r b1 i1 t1 < <(machine_jiffies)
  grep -v '^{' <<<"$BENCH_OUT" || true
  [ "$BENCH_RC" = 0 ] || echo "postgres.sh: the bench exited with status $BENCH_RC"
  awk -v hz="$HZ" -v n="$NCPU" -v busy=$((b1 - b0)) -v idle=$((i1 - i0)) -v s=$((s1 - s0)) \
      -v e=$((e1 - e0)) -v p=$((p1 - p0)) -v steal=$((t1 - t0)) -v t="$(tail -1 "$tfile" 2>/dev/null)" '
    BEGIN {
      split(t, c, " "); bench = (c[1] + c[2]) * hz
      if (p < 0) p = 0
      wall = (busy + idle + steal) / n / hz
      other = busy - s - e - p - bench; if (other < 0) other = 0
      printf "cpu during the run (%.1f s wall): scheduler %.2f s, executor %.2f s, postgres %.2f s, bench %.2f s, " \
             "everything else %.2f s (%.0f %% of the machine), host steal %.2f s\n",
             wall, s / hz, e / hz, p / hz, bench / hz, other / hz, 100 * other / (busy + idle + 1), steal / hz
      if (other > 0.10 * (busy + idle))
        print "machine: WARNING: other processes used more than 10 % of the cores during this run; re-measure on a quiet machine"
      if (steal > 0.05 * (busy + idle + steal))
        print "machine: WARNING: the host took more than 5 % of this virtual machine time (steal); re-measure"
    }'
}

budget_ok() {
  if [ "$SECONDS" -gt $((480 + ${QUIET_WAIT:-0} * 4)) ]; then
    echo "postgres.sh: 8 minutes passed; skipping the remaining measurements"
    return 1
  fi
}

echo "== taskwire PostgreSQL bench  $(date -Iseconds)  build: $BUILD_DIR  measure: $MEASURE"
for bin in "$SCHEDULER" "$EXECUTOR" "$BENCH"; do
  echo "binary: $bin, built $(date -u -r "$bin" '+%Y-%m-%d %H:%M:%S UTC'), sha256 $(sha256sum "$bin" | cut -c1-12)"
done
echo "machine: $NCPU cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if want throughput || want chain; then
  case " $STORES " in *" pg-"*) start_postgres ;; esac
elif want takeover; then
  start_postgres
fi
echo

THROUGHPUT_ROWS=() CHAIN_ROWS=()

# --- 1. durable no-op throughput ------------------------------------------------------------
want throughput && for store in $STORES; do
  for rep in $(seq 1 "$REPEAT"); do
    budget_ok || break 2
    echo "== throughput: $THROUGHPUT_TASKS echo tasks, $(store_label "$store"), executor --slots $THROUGHPUT_SLOTS (run $rep/$REPEAT)"
    load_note
    start_store_scheduler "$store"
    launch_executor "executor-$RUN" "$SCHED_ADDR" "$THROUGHPUT_SLOTS"
    EXEC_PID=$LAST_PID
    measure 120 "$BENCH" throughput --server "$SCHED_ADDR" --tasks "$THROUGHPUT_TASKS" --batch 500 \
      --in-flight 4 --type echo --payload x --deadline 90 --json
    line=$(grep '^{' <<<"$BENCH_OUT" | tail -1 || true)
    echo "$line"
    rate=$(json_field "$line" tasks_per_s); submit=$(json_field "$line" submit_tasks_per_s)
    ok=$(json_field "$line" succeeded)
    target=''
    [ "$store" != sqlite ] && target=$(awk -v r="${rate:-0}" 'BEGIN { print (r >= 15000 ? "met" : "missed") }')
    THROUGHPUT_ROWS+=("$(printf '| %-36s | %3s | %10.0f | %10.0f | %13s | %-6s |' "$(store_label "$store")" "$rep" \
      "${rate:-0}" "${submit:-0}" "${ok:-0}/$THROUGHPUT_TASKS" "${target:--}")")
    stop_all
    echo
  done
done

# --- 2. chain of 100 -----------------------------------------------------------------------
want chain && for store in $STORES; do
  for rep in $(seq 1 "$REPEAT"); do
    budget_ok || break 2
    echo "== chain of 100 echo links, $CHAIN_RUNS runs, $(store_label "$store"), executor --slots $CHAIN_SLOTS (run $rep/$REPEAT)"
    load_note
    start_store_scheduler "$store"
    launch_executor "executor-$RUN" "$SCHED_ADDR" "$CHAIN_SLOTS"
    EXEC_PID=$LAST_PID
    measure 120 "$BENCH" workflow --server "$SCHED_ADDR" --shape chain --size 100 --runs "$CHAIN_RUNS" \
      --type echo --payload x --deadline 60 --json
    line=$(grep '^{' <<<"$BENCH_OUT" | tail -1 || true)
    echo "$line"
    p50=$(json_field "$line" total_p50_ms); p90=$(json_field "$line" total_p90_ms)
    max=$(json_field "$line" total_max_ms)
    CHAIN_ROWS+=("$(printf '| %-36s | %3s | %8.1f | %8.3f | %8.1f | %8.1f |' "$(store_label "$store")" "$rep" \
      "${p50:-0}" "$(awk -v p="${p50:-0}" 'BEGIN { print p / 100 }')" "${p90:-0}" "${max:-0}")")
    stop_all
    echo
  done
done

# --- 3. takeover ---------------------------------------------------------------------------
TAKEOVER_ROWS=() TAKEOVER_MS=()
if want takeover && budget_ok; then
  echo "== takeover: 3 schedulers, --leader-lease $LEASE, 2 executors (--slots $TAKEOVER_SLOTS each), backlog of thread.sleep $SLEEP_MS ms; kill -9 the leader $KILLS times"
  load_note
  RUN=$((RUN + 1))
  LOG_LEVEL=info
  url=$(new_database "bench_$RUN")
  HA_PID=() HA_ADDR=() HA_METRICS=() HA_NAME=()
  for i in 0 1 2; do
    HA_NAME[i]=ha-$RUN-$i
    launch_scheduler "${HA_NAME[i]}" 127.0.0.1:0 --store postgres --postgres-url "$url" --leader-lease "$LEASE"
    HA_PID[i]=$LAST_PID HA_ADDR[i]=$LAST_ADDR HA_METRICS[i]=$LAST_METRICS
  done
  ADDRS=$(IFS=,; echo "${HA_ADDR[*]}")
  HA_ARGS=(--store postgres --postgres-url "$url" --leader-lease "$LEASE")

  find_leader() {  # sets LEADER (index) and LEADER_TERM; up to 30 s
    local i l t
    for _ in $(seq 1 300); do
      for i in 0 1 2; do
        read -r l t _ < <(scrape "${HA_METRICS[i]}")
        if [ "$l" = 1 ]; then LEADER=$i LEADER_TERM=$t; return 0; fi
      done
      sleep 0.1
    done
    echo "postgres.sh: no leader among $ADDRS for 30 s" >&2
    exit 1
  }
  find_leader
  echo "schedulers: $ADDRS; leader: ${HA_NAME[LEADER]} (term $LEADER_TERM)"
  launch_executor "executor-$RUN-a" "$ADDRS" "$TAKEOVER_SLOTS"
  HA_EXECUTORS=("$LAST_PID")
  launch_executor "executor-$RUN-b" "$ADDRS" "$TAKEOVER_SLOTS"
  HA_EXECUTORS+=("$LAST_PID")
  wait_executors "${HA_METRICS[LEADER]}" 2
  BACKLOG=$((TAKEOVER_SLOTS * 2 * 12000 / SLEEP_MS))  # about 12 s of work per kill
  fill() {  # TASKS: queue a backlog through the leader
    timeout 90 "$BENCH" fill --server "$ADDRS" --tasks "$1" --batch 1000 --in-flight 1 \
      --type thread.sleep --payload "$SLEEP_MS" --deadline 60 2>&1 | grep -v 'will not stay queued' || true
  }
  fill $((BACKLOG * 2))

  for k in $(seq 1 "$KILLS"); do
    budget_ok || break
    find_leader
    old=$LEADER old_term=$LEADER_TERM
    depth=$(metric_sum "${HA_METRICS[old]}" taskwire_queue_depth)
    if [ "$depth" -lt "$BACKLOG" ]; then fill "$BACKLOG"; fi
    declare -A base=()
    for i in 0 1 2; do
      [ "$i" = "$old" ] && continue
      read -r _ _ base[$i] < <(scrape "${HA_METRICS[i]}")
    done
    t0=$(date +%s%N)
    kill -KILL "${HA_PID[old]}"
    wait "${HA_PID[old]}" 2>/dev/null || true
    forget_pid "${HA_PID[old]}"
    new='' leader_ms='' dispatch_ms='' new_term=''
    while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 30000 ]; do
      for i in 0 1 2; do
        [ "$i" = "$old" ] && continue
        read -r l t s < <(scrape "${HA_METRICS[i]}")
        now=$(date +%s%N)
        if [ "$l" = 1 ] && [ -z "$new" ]; then new=$i new_term=$t leader_ms=$(( (now - t0) / 1000000 )); fi
        if [ "$i" = "$new" ] && [ "$s" -gt "${base[$i]}" ]; then dispatch_ms=$(( (now - t0) / 1000000 )); break 2; fi
      done
      sleep 0.02
    done
    if [ -z "$dispatch_ms" ]; then
      echo "kill $k: ${HA_NAME[old]} (term $old_term) killed; no dispatch by a new leader within 30 s (leader: ${new:+${HA_NAME[new]}} after ${leader_ms:-?} ms)"
      TAKEOVER_ROWS+=("$(printf '| %d | %-10s | %-10s | %5s | %9s | %11s |' "$k" "${HA_NAME[old]}" "${new:+${HA_NAME[new]}}" "${new_term:--}" "${leader_ms:--}" "> 30000")")
      break
    fi
    echo "kill $k: ${HA_NAME[old]} (term $old_term) killed; ${HA_NAME[new]} leader (term $new_term) after $leader_ms ms, first dispatch after $dispatch_ms ms"
    TAKEOVER_ROWS+=("$(printf '| %d | %-10s | %-10s | %5s | %9s | %11s |' "$k" "${HA_NAME[old]}" "${HA_NAME[new]}" "$new_term" "$leader_ms" "$dispatch_ms")")
    TAKEOVER_MS+=("$dispatch_ms")
    # The killed one again, on its address with the same flags: a standby.
    launch_scheduler "${HA_NAME[old]}" "${HA_ADDR[old]}" "${HA_ARGS[@]}"
    HA_PID[old]=$LAST_PID HA_METRICS[old]=$LAST_METRICS
    read -r l _ _ < <(scrape "${HA_METRICS[old]}")
    [ "$l" = 1 ] && echo "postgres.sh: WARNING: the restarted ${HA_NAME[old]} says it is the leader"
    wait_executors "${HA_METRICS[new]}" 2 || true
  done
  for pid in "${HA_EXECUTORS[@]}" "${HA_PID[@]}"; do stop_pid "$pid"; done
  LOG_LEVEL=warn
  echo
fi

# --- summary ---------------------------------------------------------------------------------
echo "== summary  $(date -Iseconds)  ($NCPU cores; build $BUILD_DIR)"
if [ "${#THROUGHPUT_ROWS[@]}" -gt 0 ]; then
  echo "durable no-op throughput: $THROUGHPUT_TASKS echo tasks, SubmitBatch 500 x 4 in flight, executor --slots $THROUGHPUT_SLOTS (target: PostgreSQL >= 15,000 tasks/s)"
  printf '| %-36s | %3s | %10s | %10s | %13s | %-6s |\n' store run "tasks/s" "submit/s" succeeded target
  printf '| %-36s | %3s | %10s | %10s | %13s | %-6s |\n' --- --- --- --- --- ---
  printf '%s\n' "${THROUGHPUT_ROWS[@]}"
  echo
fi
if [ "${#CHAIN_ROWS[@]}" -gt 0 ]; then
  echo "chain of 100 echo links, submit to end, $CHAIN_RUNS runs after a warm-up, executor --slots $CHAIN_SLOTS"
  printf '| %-36s | %3s | %8s | %8s | %8s | %8s |\n' store run "p50 ms" "per link" "p90 ms" "max ms"
  printf '| %-36s | %3s | %8s | %8s | %8s | %8s |\n' --- --- --- --- --- ---
  printf '%s\n' "${CHAIN_ROWS[@]}"
  echo
fi
if [ "${#TAKEOVER_ROWS[@]}" -gt 0 ]; then
  echo "takeover: kill -9 of the leader -> first task dispatched by the new leader, --leader-lease $LEASE (target <= 5 s)"
  printf '| %s | %-10s | %-10s | %5s | %9s | %11s |\n' '#' killed "new leader" term "leader ms" "dispatch ms"
  printf '| %s | %-10s | %-10s | %5s | %9s | %11s |\n' --- --- --- --- --- ---
  printf '%s\n' "${TAKEOVER_ROWS[@]}"
  if [ "${#TAKEOVER_MS[@]}" -gt 0 ]; then
    sorted=$(printf '%s\n' "${TAKEOVER_MS[@]}" | sort -n)
    n=$(wc -l <<<"$sorted")
    min=$(head -1 <<<"$sorted"); max=$(tail -1 <<<"$sorted")
    median=$(awk -v n="$n" '{ v[NR] = $1 } END { print (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }' <<<"$sorted")
    echo "kill -> first dispatch over $n kills: min $min ms, median $median ms, max $max ms; target <= 5000 ms: $([ "$max" -le 5000 ] && echo met || echo "MISSED (max)")"
    echo "{\"mode\":\"takeover\",\"lease_s\":$LEASE,\"kills\":$n,\"min_ms\":$min,\"median_ms\":$median,\"max_ms\":$max}"
  fi
  echo
fi
echo "Where the numbers go: bench/README.md, section \"PostgreSQL store and failover (issue 15)\": the"
echo "throughput and chain tables beside SQLite's (with the date, the build's commit and the load"
echo "lines above), and the takeover line (min / median / max of $KILLS kills, lease $LEASE s)."
