#!/usr/bin/env bash
# Checks the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations, which only clang
# understands (the builds use GCC): every source file of the services and libraries is
# compiled with clang-14 -fsyntax-only -Wthread-safety -Werror, with the flags CMake gave it.
#   scripts/check-thread-safety.sh [BUILD_DIR]     (default build; needs its compile_commands.json)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
command -v clang++-14 >/dev/null || { echo "check-thread-safety: clang++-14 is missing (scripts/install-deps.sh)" >&2; exit 2; }
[ -f "$dir/compile_commands.json" ] || { echo "check-thread-safety: no $dir/compile_commands.json: build first (scripts/build.sh)" >&2; exit 2; }

/usr/bin/python3 - "$dir/compile_commands.json" <<'PY'
import json, os, shlex, subprocess, sys
from concurrent.futures import ThreadPoolExecutor

root = os.getcwd()
entries = [e for e in json.load(open(sys.argv[1]))
           if e["file"].startswith(root + "/") and e["file"].endswith(".cc")
           and "/tests/" not in e["file"] and "/build" not in e["file"][len(root):]]

def check(e):
    args = shlex.split(e["command"]) if "command" in e else e["arguments"]
    flags = [a for a in args[1:] if a.startswith(("-I", "-D", "-std=", "-isystem"))]
    cmd = ["clang++-14", "-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety",
           "-Wno-unknown-warning-option", *flags, e["file"]]
    r = subprocess.run(cmd, cwd=e["directory"], capture_output=True, text=True)
    return e["file"][len(root) + 1:], r.returncode, r.stderr

failed = 0
with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
    for name, rc, err in pool.map(check, entries):
        if rc != 0:
            failed += 1
            print(f"== {name}\n{err}", end="")
print(f"check-thread-safety: {len(entries)} files, {failed} with findings")
sys.exit(1 if failed else 0)
PY
