#!/usr/bin/env bash
# Paired A/B of two builds of taskwire on this (noisy) machine: runs the same bench/run.sh
# measurement on A and B alternately (A B, B A, A B, ...), prints each pair and the median
# of the B/A ratios. Only a change whose ratios sit on one side of 1 round after round is
# real; a single run of each tells nothing here (runs of one build differ by ±20 %).
#
#   bench/compare.sh A B [ROUNDS]         (default 3 rounds)
#
# A and B are git revisions (each is checked out in a worktree under $COMPARE_DIR and its
# scheduler, executor and bench are built there, once per commit: ~10 minutes on 2 cores)
# or build directories that already hold those three binaries.
#
# Environment knobs:
#   MEASURE     throughput (default: tasks/s, higher is better) or latency (round trip p50
#               and p99 in ms, lower is better)
#   SLOTS       executor slots for throughput (default 128)
#   STORE       sqlite (default) or memory, as bench/run.sh
#   COMPARE_DIR where revisions are built (default /tmp/taskwire-compare)
# Other bench/run.sh knobs (THROUGHPUT_TASKS, LATENCY_TASKS, ...) pass through.
set -euo pipefail

if [ $# -lt 2 ]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
A=$1
B=$2
ROUNDS=${3:-3}
MEASURE=${MEASURE:-throughput}
export SLOTS_LIST=${SLOTS:-128}
export STORE=${STORE:-sqlite}
COMPARE_DIR=${COMPARE_DIR:-/tmp/taskwire-compare}
HERE=$(cd "$(dirname "$0")/.." && pwd)
case $MEASURE in throughput|latency) ;; *) echo "compare.sh: MEASURE=$MEASURE: throughput or latency" >&2; exit 2 ;; esac

# A build directory with the three binaries for $1 (a build directory or a revision).
build_of() {
  local rev=$1
  if [ -x "$rev/scheduler/taskwire-scheduler" ]; then
    echo "$rev"
    return
  fi
  local sha
  sha=$(git -C "$HERE" rev-parse --verify "$rev^{commit}") || { echo "compare.sh: $rev is neither a build directory nor a revision" >&2; exit 2; }
  local tree=$COMPARE_DIR/$sha
  if [ ! -x "$tree/build/bench/taskwire-bench" ]; then
    mkdir -p "$COMPARE_DIR"
    [ -d "$tree" ] || git -C "$HERE" worktree add --detach "$tree" "$sha" >&2
    echo "compare.sh: building $rev ($sha) in $tree/build" >&2
    cmake -S "$tree" -B "$tree/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
    ninja -C "$tree/build" taskwire-scheduler taskwire-executor taskwire-bench >&2
  fi
  echo "$tree/build"
}

BUILD_A=$(build_of "$A")
BUILD_B=$(build_of "$B")

# One figure per run: throughput's tasks/s, or latency's "p50 p99".
run_once() {  # BUILD_DIR
  local out
  out=$(MEASURE=$MEASURE "$HERE/bench/run.sh" "$1" 2>&1) || { echo "$out" >&2; echo "compare.sh: bench/run.sh failed on $1" >&2; exit 1; }
  if [ "$MEASURE" = throughput ]; then
    echo "$out" | sed -n 's/.*"tasks_per_s":\([0-9.]*\).*/\1/p' | head -1
  else
    echo "$out" | sed -n 's/.*"rt_p50_ms":\([0-9.]*\).*"rt_p99_ms":\([0-9.]*\).*/\1 \2/p' | head -1
  fi
}

echo "== compare: $MEASURE, A=$A ($BUILD_A), B=$B ($BUILD_B), $ROUNDS rounds, store $STORE$([ "$MEASURE" = throughput ] && echo ", $SLOTS_LIST slots")"
RATIOS=()
for round in $(seq 1 "$ROUNDS"); do
  # Alternate who goes first, so that a drift of the machine does not favour one side.
  if [ $((round % 2)) = 1 ]; then a=$(run_once "$BUILD_A"); b=$(run_once "$BUILD_B")
  else b=$(run_once "$BUILD_B"); a=$(run_once "$BUILD_A"); fi
  ratio=$(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { printf "%.3f", (a > 0 ? b / a : 0) }')
  RATIOS+=("$ratio")
  echo "round $round: A $a   B $b   B/A $ratio$([ "$MEASURE" = latency ] && echo " (p50)")"
done
median=$(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
echo "median B/A: $median ($([ "$MEASURE" = throughput ] && echo "above 1: B is faster" || echo "below 1: B answers sooner"))"
