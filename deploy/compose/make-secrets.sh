#!/usr/bin/env bash
# Makes the credentials of the secure compose variant (compose.secure.yaml) in
# deploy/compose/secrets/, which git ignores:
#   ca.crt ca.key             a private CA (ca.key signs; it is mounted nowhere)
#   scheduler.crt/.key        the scheduler's server certificate: DNS:scheduler (what the
#                             executors dial), DNS:localhost and IP:127.0.0.1 (the host)
#   executor.token            the executors' bearer token (role executor, any queue)
#   healthcheck.token         a submitter token for the scheduler's health check
#   admin.token               yours, for the CLI on the host (role admin)
#   access/access.textproto   the access file: the tokens' SHA-256, names and roles
# The same openssl commands as docs/security.md. Uses openssl and coreutils only.
#   deploy/compose/make-secrets.sh [--force] [--out DIR]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
new_token="$here/../../scripts/new-token.sh"
out="$here/secrets" force=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) force=1; shift ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: make-secrets.sh [--force] [--out DIR]" >&2; exit 2 ;;
  esac
done
made=(ca.crt ca.key scheduler.crt scheduler.key executor.token healthcheck.token admin.token
      access/access.textproto)
if [[ -e "$out/ca.key" ]]; then
  if [[ -z "$force" ]]; then
    echo "make-secrets.sh: $out already holds a CA; --force makes everything anew" >&2
    exit 1
  fi
  (cd "$out" && rm -f -- "${made[@]}")
elif [[ -d "$out" && -n "$(ls -A -- "$out")" ]]; then
  echo "make-secrets.sh: $out is not empty and holds no CA: not a directory of mine" >&2
  exit 1
fi
# The directory keeps the keys from other users of this machine. The files are
# world-readable because compose bind-mounts each one into the containers, where the
# non-root user (uid 10001) must read it; the directory's mode does not apply there.
mkdir -p "$out/access"
chmod 700 "$out"
chmod 755 "$out/access"
cd "$out"

ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 3650 -subj "/CN=taskwire-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null
openssl req -new "${ec[@]}" -keyout scheduler.key -out scheduler.csr \
  -subj "/CN=taskwire-scheduler" 2>/dev/null
openssl x509 -req -in scheduler.csr -CA ca.crt -CAkey ca.key -days 90 \
  -set_serial "0x$(openssl rand -hex 16)" -out scheduler.crt -extfile <(printf '%s\n' \
    "subjectAltName=DNS:scheduler,DNS:localhost,IP:127.0.0.1" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth") 2>/dev/null
rm scheduler.csr
chmod 600 ca.key
chmod 644 ca.crt scheduler.crt scheduler.key

access=access/access.textproto
"$new_token" --append "$access" compose-executors executor '*' >executor.token 2>/dev/null
"$new_token" --append "$access" healthcheck submitter >healthcheck.token 2>/dev/null
"$new_token" --append "$access" admin admin >admin.token 2>/dev/null
chmod 644 executor.token healthcheck.token admin.token "$access"

echo "make-secrets.sh: wrote $out" >&2
echo "  docker compose -f deploy/compose/compose.yaml -f deploy/compose/compose.secure.yaml up --build" >&2
echo "  taskwire --server localhost:7070 --tls-ca $out/ca.crt --token-file $out/admin.token executors" >&2
