#!/usr/bin/env bash
# Makes a private CA and certificates for a local or test taskwire (docs/security.md):
#   scripts/make-certs.sh DIR [--client NAME]... [--san NAME]...
# DIR/ca.pem, ca.key         the CA (made once: kept when DIR already has it)
# DIR/server.pem, server.key the scheduler's certificate, for localhost, 127.0.0.1, ::1,
#                            taskwire-scheduler and every --san
# DIR/NAME.pem, NAME.key     a client certificate with subject CN=NAME for each --client
# Running it again re-issues the server and client certificates from the same CA (a
# rotation); each pair is replaced by rename, so a watching scheduler never reads half of it.
# Keys are ECDSA P-256; certificates last 30 days. Needs only openssl.
set -euo pipefail

if [ $# -lt 1 ] || [ "${1:0:1}" = "-" ]; then
  echo "usage: $0 DIR [--client NAME]... [--san NAME]..." >&2
  exit 2
fi
dir=$1
shift
clients=()
sans="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:taskwire-scheduler"
while [ $# -gt 0 ]; do
  case $1 in
    --client) clients+=("$2"); shift 2 ;;
    --san)
      if [[ $2 =~ ^[0-9.]+$ || $2 == *:* ]]; then sans+=",IP:$2"; else sans+=",DNS:$2"; fi
      shift 2 ;;
    *) echo "$0: unknown argument $1" >&2; exit 2 ;;
  esac
done

mkdir -p "$dir"
umask 077
cd "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

if [ ! -f ca.pem ] || [ ! -f ca.key ]; then
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 3650 \
    -subj "/CN=taskwire local CA" 2>/dev/null
fi

# issue NAME SUBJECT EXTENSIONS: NAME.pem and NAME.key, swapped in by rename.
issue() {
  local name=$1 subject=$2 ext=$3
  openssl req "${ec[@]}" -keyout "$name.key.new" -out "$name.csr" -subj "$subject" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
    -days 30 -out "$name.pem.new" -extfile <(printf '%s\n' "$ext") 2>/dev/null
  rm -f "$name.csr"
  chmod 644 "$name.pem.new"
  mv -f "$name.key.new" "$name.key"
  mv -f "$name.pem.new" "$name.pem"
}

issue server "/CN=taskwire-scheduler" \
  "subjectAltName=$sans
extendedKeyUsage=serverAuth"
for name in "${clients[@]}"; do
  issue "$name" "/CN=$name" "extendedKeyUsage=clientAuth"
done
echo "make-certs: $dir: ca.pem, server.pem/key${clients:+, ${clients[*]/%/.pem/key}}"
