#!/usr/bin/env bash
# Runs every test: installs the Debian packages, builds (warnings as errors), checks the
# lock annotations with clang (scripts/check-thread-safety.sh), runs the whole suite (unit,
# in-process integration, end-to-end with the real binaries, the Python client), then
# builds again with ASan+UBSan and runs the suite there too.
#   scripts/test.sh            everything
#   scripts/test.sh --fast     skip the sanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."

asan=1
[ "${1:-}" = "--fast" ] && asan=0

./scripts/install-deps.sh

run_suite() {
  local dir=$1
  echo "== tests in $dir"
  ctest --test-dir "$dir" --output-on-failure --timeout 300 -j 2
}

# The build's output is shown only when it fails.
build_quietly() {
  local log
  log=$(mktemp)
  if ! ./scripts/build.sh "$@" >"$log" 2>&1; then
    tail -n 100 "$log"
    rm -f "$log"
    echo "test.sh: the build failed (scripts/build.sh $*)" >&2
    return 1
  fi
  rm -f "$log"
}

build_quietly --werror
./scripts/check-thread-safety.sh build
run_suite build

if [ "$asan" = 1 ]; then
  build_quietly --asan --werror
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan
fi
echo "== all tests passed"
