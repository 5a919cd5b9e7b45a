#!/usr/bin/env bash
# Runs taskwire locally: installs the Debian packages, builds, starts a scheduler and two
# executors on loopback (each its own process), submits a short demo with the CLI, and
# keeps everything running until Ctrl-C, which stops them all cleanly.
#   scripts/run.sh              build + demo + keep running
#   scripts/run.sh --secure     the same with TLS and tokens (docs/security.md): a local CA,
#                               certificates and tokens are made in the run's directory
#   scripts/run.sh --no-wait    stop after the demo (used by the tests)
set -euo pipefail
cd "$(dirname "$0")/.."

wait_for_ctrl_c=1
secure=0
for arg in "$@"; do
  case $arg in
    --no-wait) wait_for_ctrl_c=0 ;;
    --secure) secure=1 ;;
    *) echo "usage: $0 [--secure] [--no-wait]" >&2; exit 2 ;;
  esac
done

GRPC_PORT=${TASKWIRE_PORT:-7070}
METRICS_PORT=${TASKWIRE_METRICS_PORT:-9464}

./scripts/install-deps.sh
echo "== building (first time: several minutes on 2 cores)"
./scripts/build.sh -- taskwire-scheduler taskwire-executor taskwire >/dev/null
BIN=build

RUN_DIR=$(mktemp -d /tmp/taskwire-run.XXXXXX)
pids=()
stop_all() {
  trap - EXIT INT TERM
  echo
  echo "== stopping (executors drain first)"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "logs kept in $RUN_DIR"
}
trap stop_all EXIT
trap 'exit 0' INT TERM

await_file() {  # waits up to 15 s for a ready file
  for _ in $(seq 1 300); do [ -s "$1" ] && return 0; sleep 0.05; done
  echo "run.sh: $2 did not start; see $RUN_DIR/$2.log" >&2
  exit 1
}

# Open on loopback by default; --secure: TLS, an access file, a token per role.
scheduler_security=() executor_security=() cli_security=()
if [ "$secure" = 1 ]; then
  CERTS=$RUN_DIR/certs
  echo "== making a local CA, the scheduler's certificate and tokens in $CERTS"
  ./scripts/make-certs.sh "$CERTS" >/dev/null
  ./scripts/new-token.sh --append "$CERTS/access.textproto" demo-admin admin >"$CERTS/admin.token"
  ./scripts/new-token.sh --append "$CERTS/access.textproto" demo-executors executor default \
    >"$CERTS/executor.token"
  ./scripts/new-token.sh --append "$CERTS/access.textproto" demo-user submitter >"$CERTS/user.token"
  scheduler_security=(--tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key"
                      --auth-file "$CERTS/access.textproto")
  executor_security=(--tls-ca "$CERTS/ca.pem" --token-file "$CERTS/executor.token")
  cli_security=(--tls-ca "$CERTS/ca.pem" --token-file "$CERTS/admin.token")
fi

echo "== starting scheduler on 127.0.0.1:$GRPC_PORT"
"$BIN/scheduler/taskwire-scheduler" --listen "127.0.0.1:$GRPC_PORT" \
  --metrics-listen "127.0.0.1:$METRICS_PORT" --ready-file "$RUN_DIR/scheduler.json" \
  --data-dir "$RUN_DIR/data" "${scheduler_security[@]}" 2>"$RUN_DIR/scheduler.log" &
pids+=($!)
await_file "$RUN_DIR/scheduler.json" scheduler

for n in 1 2; do
  "$BIN/executor/taskwire-executor" --scheduler "127.0.0.1:$GRPC_PORT" --id "executor-$n" \
    --slots 4 --config deploy/executor/process-tasks.textproto --fetch-allow 127.0.0.1 \
    --health-listen "127.0.0.1:$((GRPC_PORT + n))" \
    --metrics-listen "127.0.0.1:$((METRICS_PORT + n))" --ready-file "$RUN_DIR/executor-$n.json" \
    "${executor_security[@]}" 2>"$RUN_DIR/executor-$n.log" &
  pids+=($!)
  await_file "$RUN_DIR/executor-$n.json" "executor-$n"
done

export TASKWIRE_SERVER="127.0.0.1:$GRPC_PORT"
tw() { "$BIN/cli/taskwire" "${cli_security[@]}" "$@"; }
# Executors announce themselves right after start; wait until both are linked.
for _ in $(seq 1 200); do
  [ "$(tw executors --json 2>/dev/null | grep -c '"id"')" -ge 2 ] && break
  sleep 0.05
done

echo
echo "== connected executors"
tw executors
demo() {
  echo
  echo "\$ taskwire submit $*"
  tw submit "$@" --wait || echo "(exit code $?: the task did not succeed)"
}
demo sha256 --payload hello
demo echo --payload "taskwire says hi"
demo primes --payload 2000000
demo sleep --payload 300          # on the event loop: holds no thread
demo thread.sleep --payload 300   # the same on a thread: holds one of the 4 slots
demo wc --payload "a process task: the payload is its stdin"
demo py.upper --payload "python3 in a subprocess"
echo
echo "\$ taskwire submit http.get --payload http://127.0.0.1:$METRICS_PORT/metrics --wait   (first lines)"
tw submit http.get --payload "http://127.0.0.1:$METRICS_PORT/metrics" --wait | head -n 16 || true
demo fail --payload "this task fails on purpose"
demo fail --payload "flaky:2:third time lucky" --retries 2 --backoff 200ms
flow() {
  echo
  echo "\$ taskwire $*"
  tw "$@" || echo "(exit code $?: the workflow did not succeed)"
}
flow chain --wait echo:hello echo sha256
flow chord --wait sha256:a sha256:b wc:ccc -- collect
echo
echo "== all tasks"
tw list
if [ "$secure" = 1 ]; then
  echo
  echo "\$ taskwire --token-file user.token list   (a submitter sees only its own tasks: none yet)"
  "$BIN/cli/taskwire" --tls-ca "$CERTS/ca.pem" --token-file "$CERTS/user.token" list
  echo
  echo "\$ taskwire --token not-a-token list   (refused)"
  "$BIN/cli/taskwire" --tls-ca "$CERTS/ca.pem" --token not-a-token list || true
fi

cat <<EOF2

taskwire is running:
  scheduler gRPC   127.0.0.1:$GRPC_PORT   (try: $BIN/cli/taskwire submit sha256 --payload hello --wait)
  metrics          http://127.0.0.1:$METRICS_PORT/metrics (scheduler)
                   http://127.0.0.1:$((METRICS_PORT + 1))/metrics, http://127.0.0.1:$((METRICS_PORT + 2))/metrics (executors)
  store            $RUN_DIR/data (SQLite; restart the scheduler with --data-dir to keep it)
  logs             $RUN_DIR
EOF2
if [ "$secure" = 1 ]; then
  cat <<EOF2
  TLS and tokens   CA $CERTS/ca.pem, access file $CERTS/access.textproto,
                   tokens $CERTS/{admin,user,executor}.token (docs/security.md); try:
                   $BIN/cli/taskwire --tls-ca $CERTS/ca.pem --token-file $CERTS/user.token submit echo --payload hi --wait
EOF2
fi
if [ "$wait_for_ctrl_c" = 1 ]; then
  echo "Press Ctrl-C to stop."
  wait "${pids[0]}"
fi
