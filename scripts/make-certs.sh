#!/usr/bin/env bash
# Makes what `newsdedup serve --tls-cert/--tls-key` (and mutual TLS) need,
# for trying TLS out or for a private deployment: a certificate authority,
# a server certificate it signs, and a client certificate it signs.
#
# Usage: scripts/make-certs.sh DIR [NAME ...]
#   DIR    where to write ca.pem, server.pem/.key, client.pem/.key (created)
#   NAME   host names or IP addresses the server is reached by (besides
#          127.0.0.1 and localhost, always included)
#   DAYS   environment: validity in days (default 365)
#
# Then:
#   newsdedup serve --tls-cert DIR/server.pem --tls-key DIR/server.key ...
#   newsdedup client --tls-ca DIR/ca.pem ...   (clients trust the CA)
# For mutual TLS add --tls-client-ca DIR/ca.pem to serve, and
# --tls-cert DIR/client.pem --tls-key DIR/client.key to the client.
# Keys are written readable by their owner only. A public deployment
# should use certificates from its own CA or a public one instead.
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
  [ $# -lt 1 ] && exit 2 || exit 0
fi
dir="$1"
shift
days="${DAYS:-365}"
san="IP:127.0.0.1,DNS:localhost"
for name in "$@"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then
    san="$san,IP:$name"
  else
    san="$san,DNS:$name"
  fi
done
mkdir -p "$dir"
cd "$dir"
umask 077
key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${key[@]}" -keyout ca.key -out ca.pem -days "$days" \
  -subj /CN=newsdedup-ca 2>/dev/null
printf 'subjectAltName=%s\n' "$san" > server.ext
openssl req "${key[@]}" -keyout server.key -out server.csr \
  -subj /CN=newsdedup-server 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -out server.pem -days "$days" -extfile server.ext 2>/dev/null
openssl req "${key[@]}" -keyout client.key -out client.csr \
  -subj /CN=newsdedup-client 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -out client.pem -days "$days" 2>/dev/null
rm -f server.csr client.csr server.ext
chmod 644 ca.pem server.pem client.pem
echo "wrote $(pwd)/{ca,server,client}.pem and their keys (server names: $san)"
