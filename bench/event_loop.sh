#!/usr/bin/env bash
# Issue 14's benchmark: 10,000 http.get against a local server that answers each request
# after 50 ms, on one executor, in three configurations (bench/README.md, "Event loop"):
#   1. http.get on the event loop, --event-loop-threads 1
#   2. thread.http.get (the thread-pool http.get) with --slots 200
#   3. thread.http.get with --slots 1000
# For each: the wall time (taskwire-bench: first submit to last result), the executor's peak
# thread count (/proc/PID/status Threads, sampled every 20 ms), its peak resident memory
# (VmHWM), and the CPU seconds it used (utime + stime from /proc/PID/stat, before and after).
# Each configuration gets a fresh scheduler (--store memory) and executor; one delay server
# serves them all.
#
#   bench/event_loop.sh [BUILD_DIR]          (default: build/ of this checkout)
#
# Environment knobs:
#   TASKS          tasks per run (default 10000)
#   DELAY_MS       the server's delay per request (default 50)
#   REPEAT         runs per configuration, each on a fresh executor (default 1)
#   ROUNDS         bench runs per executor (default 1; 2 shows a second round that finds the
#                  event loop's connections open: keep-alive)
#   CONFIGS        which to run, in order (default "loop:1 thread:200 thread:1000"; loop:N is
#                  the event loop with N loop threads, thread:N the thread pool with N slots)
#   LOOP_THREAD_SLOTS  the executor's --slots (thread pool) in loop runs (default: its own
#                  default, 8)
#   EXECUTOR_ARGS  more executor flags for every run
#   HTTP_DELAY_SERVER  the delay server binary (default BUILD_DIR/bench/http-delay-server,
#                  else compiled from bench/http_delay_server.cc with g++ into the work dir)
#   QUIET_WAIT     seconds to wait before each run for a machine at least 90 % idle
#                  (default 0: the cores are shared; each run reports what others took)
#   KEEP_LOGS=1    keep the work directory (process logs)
# Every process it starts is stopped by PID on exit; each bench run has a deadline and a
# timeout, and no run starts after 5 minutes (QUIET_WAIT adds its own wait).
set -euo pipefail

BUILD_DIR=${1:-$(cd "$(dirname "$0")/.." && pwd)/build}
TASKS=${TASKS:-10000}
DELAY_MS=${DELAY_MS:-50}
REPEAT=${REPEAT:-1}
ROUNDS=${ROUNDS:-1}
CONFIGS=${CONFIGS:-"loop:1 thread:200 thread:1000"}
SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)

SCHEDULER=$BUILD_DIR/scheduler/taskwire-scheduler
EXECUTOR=$BUILD_DIR/executor/taskwire-executor
BENCH=$BUILD_DIR/bench/taskwire-bench
for bin in "$SCHEDULER" "$EXECUTOR" "$BENCH"; do
  if [ ! -x "$bin" ]; then
    echo "event_loop.sh: $bin is missing; build it: ninja -C $BUILD_DIR -j1 taskwire-scheduler taskwire-executor taskwire-bench" >&2
    exit 2
  fi
done

WORK=$(mktemp -d /tmp/taskwire-event-loop.XXXXXX)
PIDS=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  exec 9>&- || true
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# SIGTERM, then SIGKILL after 10 s. Only PIDs this script started ever get here.
stop_pid() {
  local pid=$1
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "event_loop.sh: pid $pid ignored SIGTERM for 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  local rest=()
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || rest+=("$p"); done
  PIDS=("${rest[@]+"${rest[@]}"}")
}

await_file() {  # up to 15 s for a ready file
  for _ in $(seq 1 300); do [ -s "$1" ] && return 0; sleep 0.05; done
  echo "event_loop.sh: $2 did not start; its log:" >&2
  cat "$WORK/$2.log" >&2 || true
  exit 1
}

# --- the delay server ------------------------------------------------------------------
DELAY_SERVER=${HTTP_DELAY_SERVER:-$BUILD_DIR/bench/http-delay-server}
if [ ! -x "$DELAY_SERVER" ]; then
  DELAY_SERVER=$WORK/http-delay-server
  echo "event_loop.sh: compiling bench/http_delay_server.cc (no $BUILD_DIR/bench/http-delay-server)"
  "${CXX:-g++}" -O2 -std=c++20 -o "$DELAY_SERVER" "$SRC_DIR/bench/http_delay_server.cc"
fi
"$DELAY_SERVER" --port 0 --delay-ms "$DELAY_MS" --ready-file "$WORK/delay.json" \
  >"$WORK/delay.log" 2>&1 &
DELAY_PID=$!
PIDS+=("$DELAY_PID")
await_file "$WORK/delay.json" delay
DELAY_PORT=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$WORK/delay.json")
URL=http://127.0.0.1:$DELAY_PORT/

RUN=0
SCHED_PID='' SCHED_ADDR='' EXEC_PID=''
start_scheduler() {
  local ready=$WORK/scheduler-$RUN.json
  "$SCHEDULER" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --ready-file "$ready" \
    --store memory --log-level warn >"$WORK/scheduler-$RUN.log" 2>&1 &
  SCHED_PID=$!
  PIDS+=("$SCHED_PID")
  await_file "$ready" "scheduler-$RUN"
  SCHED_ADDR=$(sed -n 's/.*"grpc":"\([^"]*\)".*/\1/p' "$ready")
}

start_executor() {  # FLAGS...
  local ready=$WORK/executor-$RUN.json
  # shellcheck disable=SC2086
  "$EXECUTOR" --scheduler "$SCHED_ADDR" --health-listen '' --metrics-listen '' \
    --fetch-allow 127.0.0.1 --ready-file "$ready" --log-level warn "$@" ${EXECUTOR_ARGS:-} \
    >"$WORK/executor-$RUN.log" 2>&1 &
  EXEC_PID=$!
  PIDS+=("$EXEC_PID")
  await_file "$ready" "executor-$RUN"
  # The bench waits (ListExecutors) until the executor is linked.
}

stop_all() {
  stop_sampler
  if [ -n "$EXEC_PID" ]; then stop_pid "$EXEC_PID"; EXEC_PID=; fi
  if [ -n "$SCHED_PID" ]; then stop_pid "$SCHED_PID"; SCHED_PID=; fi
}

# --- measuring a process ------------------------------------------------------------------
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
cpu_jiffies() {  # utime + stime of PID so far; 0 once it is gone
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
machine_busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
status_field() {  # PID FIELD: the number after "FIELD:" in /proc/PID/status
  awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# A fifo held open read-write on fd 9: `read -t 0.02 -u 9` then waits 20 ms without a fork,
# so the sampler costs next to nothing.
mkfifo "$WORK/tick"
exec 9<>"$WORK/tick"

SAMPLER_PID=
start_sampler() {  # PID OUTFILE: peak Threads of PID, every 20 ms, written after each change
  local pid=$1 out=$2
  (
    peak=0
    while [ -r "/proc/$pid/status" ]; do
      while read -r key value _; do
        if [ "$key" = Threads: ]; then
          if [ "$value" -gt "$peak" ]; then peak=$value; echo "$peak" >"$out"; fi
          break
        fi
      done <"/proc/$pid/status" 2>/dev/null || break
      read -r -t 0.02 -u 9 _ || true
    done
  ) &
  SAMPLER_PID=$!
  PIDS+=("$SAMPLER_PID")
}
stop_sampler() {
  if [ -n "$SAMPLER_PID" ]; then stop_pid "$SAMPLER_PID"; SAMPLER_PID=; fi
}

json_field() {  # LINE KEY
  sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1" | tr -d '"'
}

# Idle share of the machine over one second, in percent.
idle_pct() {
  local b0 t0 b1 t1
  read -r b0 t0 < <(machine_busy_jiffies); sleep 1; read -r b1 t1 < <(machine_busy_jiffies)
  echo $(( 100 - 100 * (b1 - b0) / (t1 - t0 + 1) ))
}
# Before a run: what else runs. With QUIET_WAIT=N, waits up to N s for a quiet machine.
load_note() {
  local idle waited=0
  idle=$(idle_pct)
  while [ "$idle" -lt 90 ] && [ "$waited" -lt "${QUIET_WAIT:-0}" ]; do
    sleep 4; waited=$((waited + 5)); idle=$(idle_pct)
  done
  echo "machine before: $idle % idle over 1 s (waited $waited s), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

ROWS=()
budget_ok() {
  if [ "$SECONDS" -gt $((300 + ${QUIET_WAIT:-0} * 3)) ]; then
    echo "event_loop.sh: 5 minutes passed; skipping the remaining runs"
    return 1
  fi
}

echo "== taskwire event-loop bench  $(date -Iseconds)  build: $BUILD_DIR"
echo "delay server: $URL, $DELAY_MS ms per request (pid $DELAY_PID); $NCPU cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for bin in "$SCHEDULER" "$EXECUTOR" "$BENCH"; do
  echo "binary: $bin, built $(date -u -r "$bin" '+%Y-%m-%d %H:%M:%S UTC'), sha256 $(sha256sum "$bin" | cut -c1-12)"
done
echo

for config in $CONFIGS; do
  kind=${config%%:*}
  n=${config#*:}
  case $kind in
    loop)
      type=http.get
      flags=(--event-loop-threads "$n")
      [ -n "${LOOP_THREAD_SLOTS:-}" ] && flags+=(--slots "$LOOP_THREAD_SLOTS")
      label="event loop, $n loop thread(s)"
      ;;
    thread)
      type=thread.http.get
      flags=(--slots "$n")
      label="thread pool, $n slots"
      ;;
    *) echo "event_loop.sh: CONFIGS: unknown '$config' (loop:N or thread:N)" >&2; exit 2 ;;
  esac
  for rep in $(seq 1 "$REPEAT"); do
    budget_ok || break 2
    RUN=$((RUN + 1))
    echo "== $TASKS $type, $label (run $rep/$REPEAT)"
    load_note
    start_scheduler
    start_executor "${flags[@]}"
    idle_threads=$(status_field "$EXEC_PID" Threads)
    idle_rss=$(status_field "$EXEC_PID" VmRSS)
    peak_file=$WORK/threads-$RUN
    echo "$idle_threads" >"$peak_file"
    start_sampler "$EXEC_PID" "$peak_file"
    for round in $(seq 1 "$ROUNDS"); do
      e0=$(cpu_jiffies "$EXEC_PID"); s0=$(cpu_jiffies "$SCHED_PID"); d0=$(cpu_jiffies "$DELAY_PID")
      read -r mb0 mt0 < <(machine_busy_jiffies)
      echo "\$ taskwire-bench throughput --server $SCHED_ADDR --tasks $TASKS --batch 500 --in-flight 4 --type $type --payload $URL --deadline 60 --json"
      rc=0
      out=$(timeout 90 "$BENCH" throughput --server "$SCHED_ADDR" --tasks "$TASKS" --batch 500 \
              --in-flight 4 --type "$type" --payload "$URL" --deadline 60 --json 2>&1) || rc=$?
      e1=$(cpu_jiffies "$EXEC_PID"); s1=$(cpu_jiffies "$SCHED_PID"); d1=$(cpu_jiffies "$DELAY_PID")
      read -r mb1 mt1 < <(machine_busy_jiffies)
      grep -v '^{' <<<"$out" || true
      [ "$rc" = 0 ] || echo "event_loop.sh: the bench exited with status $rc"
      line=$(grep '^{' <<<"$out" | tail -1 || true)
      wall=$(json_field "$line" elapsed_s); ok=$(json_field "$line" succeeded)
      failed=$(json_field "$line" failed); missing=$(json_field "$line" missing)
      peak=$(cat "$peak_file")
      hwm=$(status_field "$EXEC_PID" VmHWM)
      exec_cpu=$(awk -v j=$((e1 - e0)) -v hz="$HZ" 'BEGIN { printf "%.2f", j / hz }')
      sched_cpu=$(awk -v j=$((s1 - s0)) -v hz="$HZ" 'BEGIN { printf "%.2f", j / hz }')
      delay_cpu=$(awk -v j=$((d1 - d0)) -v hz="$HZ" 'BEGIN { printf "%.2f", j / hz }')
      other=$(awk -v b=$((mb1 - mb0)) -v t=$((mt1 - mt0)) -v x=$((e1 - e0 + s1 - s0 + d1 - d0)) \
                'BEGIN { o = b - x; if (o < 0) o = 0; printf "%.0f", 100 * o / (t + 1) }')
      if [ "$kind" = loop ]; then model="loop threads $n"; else model="thread slots $n"; fi
      echo "executor: threads $idle_threads idle, peak $peak; VmRSS idle $((idle_rss / 1024)) MiB, VmHWM $((hwm / 1024)) MiB; CPU $exec_cpu s (scheduler $sched_cpu s, delay server $delay_cpu s; everything else ~$other % of the machine, bench included)"
      echo "{\"mode\":\"event_loop_bench\",\"type\":\"$type\",\"config\":\"$config\",\"round\":$round,\"tasks\":$TASKS,\"delay_ms\":$DELAY_MS,\"elapsed_s\":${wall:-null},\"succeeded\":${ok:-0},\"failed\":${failed:-0},\"missing\":${missing:-null},\"threads_idle\":$idle_threads,\"threads_peak\":$peak,\"vmhwm_kib\":$hwm,\"idle_vmrss_kib\":$idle_rss,\"executor_cpu_s\":$exec_cpu,\"scheduler_cpu_s\":$sched_cpu,\"delay_server_cpu_s\":$delay_cpu}"
      ROWS+=("$(printf '| %-16s | %-17s | %5s | %-7s | %-11s | %12s | %12s | %9s | %8s | %9s | %5s |' \
        "$type" "$model" "$round" "$(awk -v w="${wall:-0}" 'BEGIN { printf "%.3f s", w }')" "${ok:-0}/$TASKS" "$idle_threads" "$peak" \
        "$((hwm / 1024)) MiB" "$exec_cpu s" "$sched_cpu s" "$other %")")
    done
    stop_all
    echo
  done
done

echo "== summary: $TASKS tasks against a $DELAY_MS ms server, one executor ($(date -Iseconds))"
printf '| %-16s | %-17s | %5s | %-7s | %-11s | %12s | %12s | %9s | %8s | %9s | %5s |\n' \
  type model round "wall s" succeeded "threads idle" "threads peak" VmHWM "exec CPU" "sched CPU" other
printf '| %-16s | %-17s | %5s | %-7s | %-11s | %12s | %12s | %9s | %8s | %9s | %5s |\n' \
  --- --- --- --- --- --- --- --- --- --- ---
for row in "${ROWS[@]+"${ROWS[@]}"}"; do echo "$row"; done
echo "(threads: the executor's count when idle and its peak during the run; VmHWM: its peak RSS;"
echo " CPU: seconds of user + system time during the run; other: the rest of the machine's busy time)"
