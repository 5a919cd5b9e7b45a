#!/usr/bin/env bash
# The issue's three measurements against fresh local processes (bench/README.md):
#   1. no-op throughput: 100,000 echo tasks submitted at once, until every result is back
#      (once per executor slot count in $SLOTS_LIST, a fresh scheduler + executor each)
#   2. round-trip latency, one task at a time: a Submit that waits for the result, over
#      2,000 tasks (then Submit + WaitTask, two calls, for comparison)
#   3. scheduler resident memory with 1,000,000 queued tasks and no executor, then (durable
#      store) the time a restart over them takes until it serves
#   4. history: scheduler resident memory while 1,000,000 tasks run and finish (rounds of
#      50,000), then the time a restart over that store takes until it serves
#
#   bench/run.sh [BUILD_DIR]          (default: build/ of this checkout)
#
# Environment knobs:
#   SLOTS_LIST       executor slot counts for the throughput runs (default "64 128 256")
#   REPEAT           throughput runs per slot count (default 1)
#   LATENCY_SLOTS    executor slots for the latency runs (default 64)
#   THROUGHPUT_TASKS, LATENCY_TASKS, FILL_TASKS   (default 100000, 2000, 1000000)
#   THROUGHPUT_TYPE  task type of the throughput runs (default echo; sha256 answers a large
#                    payload with a short output)
#   PAYLOAD_BYTES    payload size of the throughput runs (default: one byte, "x")
#   SCHEDULER_ARGS   more scheduler flags, e.g. "--sqlite-synchronous full"
#   HISTORY_ROUNDS, HISTORY_TASKS   rounds and tasks per round of 4. (default 20, 50000: a
#                    bounded backlog, as in steady use; the RSS is that of the work in flight)
#   MEASURE          which to run (default throughput,latency,memory; history on demand)
#   STORE            the scheduler's store: sqlite (the default, a fresh file per run in the
#                    work directory) or memory (not durable)
#   QUIET_WAIT       seconds to wait before each measurement for a machine at least 90 % idle
#                    (default 0: the cores are shared, see the load lines)
#   SECURE=1         TLS on every connection and a bearer token on every call, checked
#                    against an access file (docs/security.md); certificates and tokens are
#                    made in the work directory. Compare with a run without it.
#   KEEP_LOGS=1      keep the work directory (process logs)
# Each measurement reports the CPU that every process used during it, what other work on the
# machine took, and the host's steal time: re-measure when it warns. Every process it starts
# is stopped by PID on exit. Time is bounded: each bench run has a deadline and a timeout, and
# no measurement starts after 7 minutes, so the script ends well under 10 minutes.
set -euo pipefail

BUILD_DIR=${1:-$(cd "$(dirname "$0")/.." && pwd)/build}
SLOTS_LIST=${SLOTS_LIST:-"64 128 256"}
LATENCY_SLOTS=${LATENCY_SLOTS:-64}
THROUGHPUT_TASKS=${THROUGHPUT_TASKS:-100000}
LATENCY_TASKS=${LATENCY_TASKS:-2000}
FILL_TASKS=${FILL_TASKS:-1000000}
REPEAT=${REPEAT:-1}
THROUGHPUT_TYPE=${THROUGHPUT_TYPE:-echo}
PAYLOAD=x
if [ -n "${PAYLOAD_BYTES:-}" ]; then PAYLOAD=$(head -c "$PAYLOAD_BYTES" /dev/zero | tr '\0' x); fi
HISTORY_ROUNDS=${HISTORY_ROUNDS:-20}
HISTORY_TASKS=${HISTORY_TASKS:-50000}
MEASURE=${MEASURE:-throughput,latency,memory}
STORE=${STORE:-sqlite}
want() { [[ ",$MEASURE," == *",$1,"* ]]; }

SCHEDULER=$BUILD_DIR/scheduler/taskwire-scheduler
EXECUTOR=$BUILD_DIR/executor/taskwire-executor
BENCH=$BUILD_DIR/bench/taskwire-bench
for bin in "$SCHEDULER" "$EXECUTOR" "$BENCH"; do
  if [ ! -x "$bin" ]; then
    echo "run.sh: $bin is missing; build it: ninja -C $BUILD_DIR -j1 taskwire-scheduler taskwire-executor taskwire-bench" >&2
    exit 2
  fi
done

WORK=$(mktemp -d /tmp/taskwire-bench.XXXXXX)
PIDS=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# SIGTERM, then SIGKILL after 10 s. Only PIDs this script started ever get here.
stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "run.sh: pid $pid ignored SIGTERM for 10 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  local rest=()
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || rest+=("$p"); done
  PIDS=("${rest[@]+"${rest[@]}"}")
}

await_file() {  # up to 15 s for a ready file
  for _ in $(seq 1 300); do [ -s "$1" ] && return 0; sleep 0.05; done
  echo "run.sh: $2 did not start; its log:" >&2
  cat "$WORK/$2.log" >&2 || true
  exit 1
}

RUN=0
# SECURE=1: what each process adds to its command line.
SCHED_SEC=() EXEC_SEC=() CLIENT_SEC=()
if [ "${SECURE:-0}" = 1 ]; then
  ROOT=$(cd "$(dirname "$0")/.." && pwd)
  "$ROOT/scripts/make-certs.sh" "$WORK/certs" >/dev/null
  "$ROOT/scripts/new-token.sh" --append "$WORK/certs/access.textproto" bench admin \
    >"$WORK/certs/bench.token" 2>/dev/null
  "$ROOT/scripts/new-token.sh" --append "$WORK/certs/access.textproto" bench-executor executor '*' \
    >"$WORK/certs/executor.token" 2>/dev/null
  SCHED_SEC=(--tls-cert "$WORK/certs/server.pem" --tls-key "$WORK/certs/server.key"
             --auth-file "$WORK/certs/access.textproto")
  EXEC_SEC=(--tls-ca "$WORK/certs/ca.pem" --token-file "$WORK/certs/executor.token")
  CLIENT_SEC=(--tls-ca "$WORK/certs/ca.pem" --token-file "$WORK/certs/bench.token")
fi

SCHED_PID=
SCHED_ADDR=
EXEC_PID=
start_scheduler() {  # [DATA_DIR]: default a fresh one
  RUN=$((RUN + 1))
  local ready=$WORK/scheduler-$RUN.json
  "$SCHEDULER" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --ready-file "$ready" \
    --store "$STORE" --data-dir "${1:-$WORK/data-$RUN}" --max-waiting-tasks $((FILL_TASKS + 1000)) \
    --log-level warn "${SCHED_SEC[@]}" ${SCHEDULER_ARGS:-} >"$WORK/scheduler-$RUN.log" 2>&1 &
  SCHED_PID=$!
  PIDS+=("$SCHED_PID")
  await_file "$ready" "scheduler-$RUN"
  SCHED_ADDR=$(sed -n 's/.*"grpc":"\([^"]*\)".*/\1/p' "$ready")
}

start_executor() {  # slots
  local ready=$WORK/executor-$RUN.json
  "$EXECUTOR" --scheduler "$SCHED_ADDR" --slots "$1" --health-listen '' --metrics-listen '' \
    --ready-file "$ready" --log-level warn "${EXEC_SEC[@]}" >"$WORK/executor-$RUN.log" 2>&1 &
  EXEC_PID=$!
  PIDS+=("$EXEC_PID")
  await_file "$ready" "executor-$RUN"
  # The bench itself waits (ListExecutors) until the executor is linked.
}

stop_all() {
  if [ -n "$EXEC_PID" ]; then stop_pid "$EXEC_PID"; EXEC_PID=; fi
  if [ -n "$SCHED_PID" ]; then stop_pid "$SCHED_PID"; SCHED_PID=; fi
}

# Stops what runs, starts the scheduler again on DATA_DIR and sets restart_ms to the time
# until it serves (its ready file).
time_restart() {  # DATA_DIR
  stop_all
  local start_ns
  start_ns=$(date +%s%N)
  start_scheduler "$1"
  restart_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
}

# CPU jiffies (user + system) a process has used so far; 0 once it is gone.
cpu_jiffies() {
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# Jiffies of the whole machine (all cores): process time (user, nice, system), the rest
# (idle, iowait, and irq/softirq, where the kernel may account loopback TCP work without
# charging it to the processes that caused it), and steal (this VM waiting for the host).
machine_jiffies() { awk '/^cpu / { print $2 + $3 + $4, $5 + $6 + $7 + $8, $9 }' /proc/stat; }
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)

# Idle share of the machine over one second, in percent.
idle_pct() {
  local b0 i0 b1 i1
  read -r b0 i0 _ < <(machine_jiffies); sleep 1; read -r b1 i1 _ < <(machine_jiffies)
  echo $(( 100 * (i1 - i0) / ((b1 - b0) + (i1 - i0) + 1) ))
}

# Before a measurement: what else runs. With QUIET_WAIT=N, waits up to N s for a machine
# at least 90 % idle (the cores are shared with other work).
load_note() {
  local idle waited=0
  idle=$(idle_pct)
  while [ "$idle" -lt 90 ] && [ "$waited" -lt "${QUIET_WAIT:-0}" ]; do
    sleep 4; waited=$((waited + 5)); idle=$(idle_pct)
  done
  echo "machine before: $idle % idle over 1 s, load average $(cut -d' ' -f1-3 /proc/loadavg), $NCPU cores; busiest processes:"
  top -bn1 -o %CPU | sed -n '8,10p' | awk '{ printf "    %5s %%CPU  %s\n", $9, $12 }'
}

# Runs a bench command and reports the CPU that the scheduler, the executor, the bench and
# everything else on the machine used meanwhile. Sets BENCH_RC.
measure() {  # TIMEOUT_SECONDS COMMAND...
  local limit=$1
  shift
  local b0 i0 t0 b1 i1 t1 s0 e0 s1 e1 tfile=$WORK/time.$RANDOM
  echo "\$ $*"
  read -r b0 i0 t0 < <(machine_jiffies)
  s0=$(cpu_jiffies "${SCHED_PID:-0}"); e0=$(cpu_jiffies "${EXEC_PID:-0}")
  BENCH_RC=0
  timeout "$limit" /usr/bin/time -f '%U %S' -o "$tfile" "$@" || BENCH_RC=$?
  s1=$(cpu_jiffies "${SCHED_PID:-0}"); e1=$(cpu_jiffies "${EXEC_PID:-0}")
  read -r b1 i1 t1 < <(machine_jiffies)
  [ "$BENCH_RC" = 0 ] || echo "run.sh: the bench exited with status $BENCH_RC"
  awk -v hz="$HZ" -v n="$NCPU" -v busy=$((b1 - b0)) -v idle=$((i1 - i0)) \
      -v s=$((s1 - s0)) -v e=$((e1 - e0)) -v steal=$((t1 - t0)) -v t="$(tail -1 "$tfile" 2>/dev/null)" '
    BEGIN {
      split(t, c, " "); bench = (c[1] + c[2]) * hz
      wall = (busy + idle + steal) / n / hz
      other = busy - s - e - bench; if (other < 0) other = 0
      printf "cpu during the run (%.1f s wall): scheduler %.2f s, executor %.2f s, bench %.2f s, " \
             "everything else %.2f s (%.0f %% of the machine), host steal %.2f s\n",
             wall, s / hz, e / hz, bench / hz, other / hz, 100 * other / (busy + idle + 1), steal / hz
      if (other > 0.10 * (busy + idle))
        print "machine: WARNING: other processes used more than 10 % of the cores during this run; re-measure on a quiet machine"
      if (steal > 0.05 * (busy + idle + steal))
        print "machine: WARNING: the host took more than 5 % of this virtual machine time (steal); re-measure"
    }'
}

# False once 7 minutes have passed: no new measurement starts after that.
budget_ok() {
  if [ "$SECONDS" -gt 420 ]; then
    echo "run.sh: 7 minutes passed; skipping the remaining measurements"
    return 1
  fi
}

kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

echo "== taskwire bench  $(date -Iseconds)  store: $STORE  secure: ${SECURE:-0}  build: $BUILD_DIR ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null | sed 's/^$/default: RelWithDebInfo/'))"
echo

# --- 1. throughput -----------------------------------------------------------------------
want throughput && for slots in $SLOTS_LIST; do
  for rep in $(seq 1 "$REPEAT"); do
    budget_ok || break 2
    echo "== throughput: $THROUGHPUT_TASKS $THROUGHPUT_TYPE tasks of ${#PAYLOAD} bytes, executor --slots $slots (run $rep/$REPEAT)"
    load_note
    start_scheduler
    start_executor "$slots"
    measure 90 "$BENCH" throughput "${CLIENT_SEC[@]}" --server "$SCHED_ADDR" --tasks "$THROUGHPUT_TASKS" --batch 500 \
      --in-flight 4 --type "$THROUGHPUT_TYPE" --payload "$PAYLOAD" --deadline 60 --json
    stop_all
    echo
  done
done

# --- 2. latency --------------------------------------------------------------------------
if want latency && budget_ok; then
echo "== latency: $LATENCY_TASKS echo tasks one at a time, executor --slots $LATENCY_SLOTS"
load_note
start_scheduler
start_executor "$LATENCY_SLOTS"
measure 90 "$BENCH" latency "${CLIENT_SEC[@]}" --server "$SCHED_ADDR" --tasks "$LATENCY_TASKS" --warmup 100 --type echo \
  --payload x --deadline 60 --reference-calls 1000 --json
echo
echo "== latency, for comparison: the same with two calls, Submit then WaitTask"
measure 90 "$BENCH" latency "${CLIENT_SEC[@]}" --server "$SCHED_ADDR" --tasks "$LATENCY_TASKS" --warmup 100 --type echo \
  --payload x --deadline 60 --wait waittask --json
stop_all
echo
fi

# --- 3. memory with 1,000,000 queued tasks -------------------------------------------------
if want memory && budget_ok; then
echo "== memory: $FILL_TASKS queued tasks, no executor"
load_note
start_scheduler
rss0=$(kib "$SCHED_PID" VmRSS)
measure 150 "$BENCH" fill "${CLIENT_SEC[@]}" --server "$SCHED_ADDR" --tasks "$FILL_TASKS" --batch 10000 --in-flight 2 \
  --type nobody.serves.this --payload x --deadline 120 --json
sleep 1  # let the allocator settle
rss=$(kib "$SCHED_PID" VmRSS)
hwm=$(kib "$SCHED_PID" VmHWM)
metrics=$(sed -n 's/.*"metrics":"\([^"]*\)".*/\1/p' "$WORK/scheduler-$RUN.json")
depth=$(curl -s --max-time 10 "http://$metrics/metrics" |
        awk '/^taskwire_queue_depth/ { s += $2 } END { printf "%d", s }' || echo 0)
per_task=$(( (rss - rss0) * 1024 / FILL_TASKS ))
echo "scheduler memory: VmRSS $((rss / 1024)) MiB, VmHWM $((hwm / 1024)) MiB with $depth tasks queued (taskwire_queue_depth); $((rss0 / 1024)) MiB before the fill"
echo "  $per_task bytes per queued task (VmRSS growth / tasks); target VmRSS <= 1024 MiB: $([ "$rss" -le 1048576 ] && echo met || echo MISSED)"
echo "{\"mode\":\"memory\",\"tasks\":$FILL_TASKS,\"queued\":$depth,\"vmrss_kib\":$rss,\"vmhwm_kib\":$hwm,\"idle_vmrss_kib\":$rss0,\"bytes_per_task\":$per_task}"
if [ "$STORE" != memory ] && budget_ok; then
  # The same store again: how long a restart takes until it serves the queued tasks.
  time_restart "$WORK/data-$RUN"
  echo "restart over $FILL_TASKS queued tasks: serving after $restart_ms ms (ready file), VmRSS $(( $(kib "$SCHED_PID" VmRSS) / 1024 )) MiB"
  echo "{\"mode\":\"restart\",\"queued\":$FILL_TASKS,\"restart_ms\":$restart_ms}"
fi
stop_all
echo
fi
echo "== done  $(date -Iseconds)"

# --- 4. history: memory while tasks finish, and a restart over them --------------------------
if want history && budget_ok; then
echo "== history: $HISTORY_ROUNDS rounds of $HISTORY_TASKS echo tasks through one scheduler, executor --slots 128"
load_note
DATA=$WORK/history-data
start_scheduler "$DATA"
start_executor 128
echo "scheduler VmRSS before: $(( $(kib "$SCHED_PID" VmRSS) / 1024 )) MiB"
for round in $(seq 1 "$HISTORY_ROUNDS"); do
  budget_ok || break
  measure 150 "$BENCH" throughput "${CLIENT_SEC[@]}" --server "$SCHED_ADDR" --tasks "$HISTORY_TASKS" --batch 500 \
    --in-flight 4 --type echo --payload x --deadline 120
  sleep 1  # let the allocator settle
  echo "after round $round ($((round * HISTORY_TASKS)) tasks finished): scheduler VmRSS $(( $(kib "$SCHED_PID" VmRSS) / 1024 )) MiB, VmHWM $(( $(kib "$SCHED_PID" VmHWM) / 1024 )) MiB"
done
time_restart "$DATA"
echo "restart over $((HISTORY_ROUNDS * HISTORY_TASKS)) finished tasks: serving after $restart_ms ms (ready file), VmRSS $(( $(kib "$SCHED_PID" VmRSS) / 1024 )) MiB"
echo "{\"mode\":\"history\",\"finished\":$((HISTORY_ROUNDS * HISTORY_TASKS)),\"restart_ms\":$restart_ms}"
stop_all
echo
fi
