#!/usr/bin/env bash
# The course's lessons on taskwire, measured on this machine (docs/course.md):
#   a) I/O-bound: 100 downloads sequentially, on threads, as processes, on the event loop
#   b) CPU-bound: prime counting sequentially, on threads, as processes
#   c) a task queue with a worker: 20 tasks and `taskwire watch`, a chain, a chord
#   d) 10,000 concurrent downloads: the event loop on one thread vs 1,000 threads
#
#   examples/course/run.sh [BUILD_DIR]        (default: build/ of this checkout)
#   LESSONS=a,d examples/course/run.sh        (only some lessons)
#   KEEP_LOGS=1 examples/course/run.sh        (keep the work directory: logs, configs)
#   QUIET_WAIT=120 examples/course/run.sh     (before each lesson, wait up to 120 s for idle cores)
#
# Needs the built binaries (./scripts/build.sh, or ./scripts/run.sh once) and Debian's
# python3-grpcio, python3-protobuf and python3-grpc-tools (./scripts/install-deps.sh).
# Everything runs on 127.0.0.1 (nothing from the internet) and takes about a minute; it is
# stopped at 150 s whatever happens. Every process it starts is stopped by PID at the end.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=$(cd "${1:-$ROOT/build}" 2>/dev/null && pwd) || {
  echo "run.sh: no build directory ${1:-$ROOT/build}; build first: ./scripts/build.sh" >&2
  exit 2
}
PYTHON=/usr/bin/python3

missing=()
for bin in scheduler/taskwire-scheduler executor/taskwire-executor cli/taskwire bench/taskwire-bench; do
  [ -x "$BUILD_DIR/$bin" ] || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "run.sh: missing in $BUILD_DIR: ${missing[*]}" >&2
  echo "  build them: ./scripts/build.sh -- taskwire-scheduler taskwire-executor taskwire taskwire-bench" >&2
  exit 2
fi
if ! "$PYTHON" -c 'import grpc, google.protobuf, grpc_tools' 2>/dev/null; then
  echo "run.sh: $PYTHON lacks grpc, protobuf or grpc_tools; install them: ./scripts/install-deps.sh" >&2
  exit 2
fi
if ! "$BUILD_DIR/executor/taskwire-executor" --help 2>/dev/null | grep -q -- '--event-loop-threads'; then
  echo "run.sh: $BUILD_DIR/executor/taskwire-executor has no event-loop run mode (--event-loop-threads); rebuild it" >&2
  exit 2
fi

WORK=$(mktemp -d /tmp/taskwire-course.XXXXXX)
PY_PID=
# course.py stops what it starts. Should it have been killed before it could (the time
# limit's SIGKILL, or it would not stop), stop what it left by PID: its own list, each
# checked against the process's command line so that no reused PID is hit.
cleanup() {
  trap - EXIT INT TERM
  local sweep=0
  if [ -n "$PY_PID" ] && kill -0 "$PY_PID" 2>/dev/null; then
    kill -TERM "$PY_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PY_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PY_PID" 2>/dev/null; then kill -KILL "$PY_PID" 2>/dev/null || true; sweep=1; fi
  fi
  case "${status:-0}" in 124|137) sweep=1 ;; esac
  if [ "$sweep" = 1 ] && [ -f "$WORK/pids" ]; then
    while read -r pid bin; do
      if kill -0 "$pid" 2>/dev/null && [ "$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1)" = "$bin" ]; then
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done <"$WORK/pids"
  fi
  if [ "${KEEP_LOGS:-0}" != 1 ] && [ "${status:-1}" = 0 ]; then
    rm -rf "$WORK"
  else
    echo "logs in $WORK"
  fi
}
trap cleanup EXIT
trap 'status=130; exit 130' INT TERM

status=0
LIMIT=$((150 + 4 * ${QUIET_WAIT:-0}))  # QUIET_WAIT=N: each lesson may first wait N s for idle cores
timeout --kill-after=10 "$LIMIT" "$PYTHON" "$HERE/course.py" --build "$BUILD_DIR" \
  --lessons "${LESSONS:-a,b,c,d}" --work "$WORK" &
PY_PID=$!
wait "$PY_PID" || status=$?
PY_PID=
if [ "$status" = 124 ]; then echo "run.sh: stopped after $LIMIT s" >&2; fi
exit "$status"
