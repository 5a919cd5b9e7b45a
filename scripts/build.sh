#!/usr/bin/env bash
# Configures and builds taskwire with CMake + Ninja.
#   scripts/build.sh              release-like build in build/ (RelWithDebInfo)
#   scripts/build.sh --asan       ASan+UBSan build in build-asan/
#   scripts/build.sh --werror     warnings are errors (CI)
# Extra arguments after -- go to ninja (e.g. -- taskwire-scheduler).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --asan) dir=build-asan; flags+=(-DTASKWIRE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug) ;;
    --werror) flags+=(-DTASKWIRE_WERROR=ON) ;;
    --) shift; break ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
# Two cores and heavy gRPC headers: more jobs only thrash memory and caches.
ninja -C "$dir" -j "${TASKWIRE_JOBS:-$(nproc)}" "$@"
echo "$dir"
