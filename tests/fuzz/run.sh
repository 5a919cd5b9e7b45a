#!/usr/bin/env bash
# Builds the fuzz targets with clang and libFuzzer (ASan + UBSan, asserts live) in
# build-fuzz/, then runs each on a copy of its seed corpus.
#   tests/fuzz/run.sh                      every target for 60 s each
#   tests/fuzz/run.sh 600 task_spec        one target for 10 minutes
#   tests/fuzz/run.sh -runs=1000000 cli_args executor_link
# TARGET is a corpus name (task_spec, workflow_spec, record_codec, executor_config,
# cli_args, executor_link). The first argument is a time in seconds, or -runs=N.
# The grown corpora go to build-fuzz/corpus/<target>/ (not committed), findings to
# build-fuzz/findings/<target>/, a log per target to build-fuzz/logs/. Exits 1 when a
# target found a crash, a leak, a timeout or a failed check.
# Needs clang-14 and libclang-rt-14-dev (libFuzzer), which scripts/install-deps.sh does
# not install (the normal build replays the corpora with GCC): this script installs the
# runtime when it is missing. Set FUZZ_JOBS for more build jobs, FUZZ_ARGS for more
# libFuzzer flags.
set -euo pipefail
cd "$(dirname "$0")/../.."

ALL=(task_spec workflow_spec record_codec executor_config cli_args executor_link access_file
     fetch_policy)
limit=(-max_total_time=60)
if [ $# -gt 0 ]; then
  case "$1" in
    -runs=*) limit=("$1"); shift ;;
    ''|*[!0-9]*) ;;
    *) limit=(-max_total_time="$1"); shift ;;
  esac
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")
for t in "${targets[@]}"; do
  [ -d "tests/fuzz/corpus/$t" ] || { echo "run.sh: unknown target $t (${ALL[*]})" >&2; exit 2; }
done

if ! command -v clang++-14 >/dev/null ||
   ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "run.sh: installing clang-14 and libclang-rt-14-dev (libFuzzer)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev
fi

dir=build-fuzz
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 -DTASKWIRE_FUZZ=ON >/dev/null
bins=()
for t in "${targets[@]}"; do bins+=("fuzz_$t"); done
nice -n 19 ninja -C "$dir" -j "${FUZZ_JOBS:-1}" "${bins[@]}"

found=0
for t in "${targets[@]}"; do
  corpus="$dir/corpus/$t"
  findings="$dir/findings/$t"
  log="$dir/logs/$t.log"
  mkdir -p "$corpus" "$findings" "$dir/logs"
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  echo "== $t (${limit[*]})"
  set +e
  # shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
  nice -n 19 "$dir/tests/fuzz/fuzz_$t" "${limit[@]}" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$findings/" ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1 | awk '{print $5}')
  echo "   ${execs:-?} executions in ${secs:-?} s (${rate:-?}/s), corpus $(ls "$corpus" | wc -l) inputs"
  if [ $rc -ne 0 ]; then
    found=1
    echo "   FINDING (exit $rc): $(ls "$findings" | tr '\n' ' ')"
    grep -m5 -E 'ERROR:|fuzz: |runtime error|Assertion' "$log" | sed 's/^/   /' || true
    echo "   log: $log"
  fi
done
exit $found
