#!/usr/bin/env bash
# Makes a taskwire bearer token and its access-file entry (docs/security.md).
#
#   scripts/new-token.sh [--append ACCESS_FILE] NAME ROLE [QUEUES [TYPES]]
#
# ROLE: submitter | admin | executor (or ROLE_SUBMITTER ...). QUEUES and TYPES are
# comma-separated; QUEUES is required for executors ("*": any queue), TYPES limits the task
# types an executor may announce (none: any). Submitters and admins take neither.
#
# The token (64 hex digits from `openssl rand -hex 32`) goes to stdout, once: give it to
# the client (--token-file, a Kubernetes or compose secret); it is not stored anywhere.
# The entry, which holds only the token's SHA-256, goes to stderr, or is appended to
# ACCESS_FILE with --append. The scheduler re-reads its --auth-file when it changes.
#
# Revoke: delete the entry from the access file; the scheduler drops it at its next reload
# (--reload-interval, 10 s by default) and the token is refused with UNAUTHENTICATED.
set -euo pipefail

usage() {
  echo "usage: new-token.sh [--append ACCESS_FILE] NAME ROLE [QUEUES [TYPES]]" >&2
  sed -n '6,8p' "$0" | sed 's/^# \{0,1\}/  /' >&2
  exit 2
}

append=""
if [[ "${1:-}" == "--append" ]]; then
  [[ $# -ge 2 ]] || usage
  append="$2"
  shift 2
fi
[[ $# -ge 2 && $# -le 4 ]] || usage
name="$1" role="$2" queues="${3:-}" types="${4:-}"

# Names and queue/type names end up inside a text-format string: keep them plain.
plain='^[A-Za-z0-9_.:@*/-]+$'
[[ "$name" =~ $plain ]] || { echo "new-token.sh: bad NAME '$name' (letters, digits, _.:@/-)" >&2; exit 2; }

case "${role^^}" in
  SUBMITTER | ROLE_SUBMITTER) role=ROLE_SUBMITTER ;;
  ADMIN | ROLE_ADMIN) role=ROLE_ADMIN ;;
  EXECUTOR | ROLE_EXECUTOR) role=ROLE_EXECUTOR ;;
  *) echo "new-token.sh: ROLE must be submitter, admin or executor, not '$role'" >&2; exit 2 ;;
esac
if [[ "$role" == ROLE_EXECUTOR && -z "$queues" ]]; then
  echo "new-token.sh: an executor needs QUEUES (comma-separated, or '*' for any)" >&2
  exit 2
fi
if [[ "$role" != ROLE_EXECUTOR && -n "$queues$types" ]]; then
  echo "new-token.sh: QUEUES and TYPES are for executors only" >&2
  exit 2
fi

# `field "a,b"` -> one `field: "a"` line per comma-separated item.
repeated() {
  local field="$1" list="$2" item
  local -a items
  IFS=',' read -r -a items <<<"$list"
  for item in "${items[@]}"; do
    [[ -z "$item" ]] && continue
    [[ "$item" =~ $plain ]] || { echo "new-token.sh: bad $field '$item'" >&2; exit 2; }
    printf '  %s: "%s"\n' "$field" "$item"
  done
}

token="$(openssl rand -hex 32)"
digest="$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)"
entry="$(
  printf '# %s, added %s\n' "$name" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf 'entry {\n'
  printf '  name: "%s"\n' "$name"
  printf '  role: %s\n' "$role"
  printf '  token_sha256: "%s"\n' "$digest"
  repeated queues "$queues"
  repeated task_types "$types"
  printf '}\n'
)"

if [[ -n "$append" ]]; then
  # Write a new file and rename it over the old one, so that the scheduler never reads a
  # half-written access file; the new file keeps the old one's mode (or 0600).
  dir="$(dirname -- "$append")"
  tmp="$(mktemp "$dir/.access.XXXXXX")"
  trap 'rm -f -- "$tmp"' EXIT
  if [[ -e "$append" ]]; then
    cat -- "$append" >"$tmp"
    chmod --reference="$append" -- "$tmp"
  else
    chmod 600 -- "$tmp"
  fi
  printf '%s\n' "$entry" >>"$tmp"
  mv -f -- "$tmp" "$append"
  trap - EXIT
  echo "new-token.sh: appended the entry for $name to $append" >&2
else
  printf '%s\n' "$entry" >&2
fi
printf '%s\n' "$token"
