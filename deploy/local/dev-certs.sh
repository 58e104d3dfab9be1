#!/usr/bin/env bash
# Creates a development CA and the certificates the local mesh uses for mTLS, in DIR (default
# deploy/local/.certs). Existing files are kept while they are valid for at least another day, so
# running it again is instant.
#
#   ca.pem ca.key                      the development CA (trust it with --tls-ca / ca files)
#   server.pem server.key              every server of the mesh (SANs: localhost, 127.0.0.1, ::1 and the
#                                      Kubernetes service names)
#   client-<name>.pem client-<name>.key  client identities: orchestrator, worker, migratectl, reader (a
#                                      read-only observer; roles: deploy/local/config/*.yaml)
#   emulator.pem emulator.key          the tenant emulator (SANs: the Microsoft hosts of every cloud the
#                                      connector supports, localhost, 127.0.0.1)
#   emulator-signing.key               RSA key the emulator signs tokens with (--signing-key; optional)
#   migration-app.pem migration-app.key  an RSA app certificate for client assertions against the emulator
#                                      (registered on the migration apps of deploy/local/emulator-seed.yaml)
set -euo pipefail

dir=${1:-"$(cd "$(dirname "$0")" && pwd)/.certs"}
mkdir -p "$dir"
cd "$dir"
umask 077

valid() { [ -s "$1" ] && openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1; }

if ! valid ca.pem; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=crosstenant development CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  rm -f server.pem client-*.pem emulator.pem
  echo "dev-certs: created CA in $dir"
fi

issue() {  # issue NAME CN EXTENDED_KEY_USAGE SAN
  local name=$1 cn=$2 eku=$3 san=$4
  valid "$name.pem" && return 0
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$name.key" -out "$name.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$eku" "$san" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 397 \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
  echo "dev-certs: issued $name ($cn)"
}

services="tenant-connector orchestrator worker"
san="DNS:localhost,IP:127.0.0.1,IP:::1"
for s in $services; do san="$san,DNS:$s,DNS:$s.crosstenant.svc,DNS:$s.crosstenant.svc.cluster.local"; done
issue server "crosstenant server" serverAuth "$san"
for client in orchestrator worker migratectl reader; do
  issue "client-$client" "$client" clientAuth "DNS:$client,URI:spiffe://crosstenant/$client"
done
# The tenant emulator answers for Microsoft's hostnames: commercial, US Government (GCC High, DoD) and
# China (21Vianet) clouds.
emulator_san="DNS:login.microsoftonline.com,DNS:login.windows.net,DNS:login.microsoft.com,DNS:sts.windows.net"
emulator_san="$emulator_san,DNS:graph.microsoft.com,DNS:*.sharepoint.com"
emulator_san="$emulator_san,DNS:login.microsoftonline.us,DNS:graph.microsoft.us,DNS:dod-graph.microsoft.us"
emulator_san="$emulator_san,DNS:*.sharepoint.us,DNS:*.sharepoint-mil.us"
emulator_san="$emulator_san,DNS:login.chinacloudapi.cn,DNS:login.partner.microsoftonline.cn"
emulator_san="$emulator_san,DNS:microsoftgraph.chinacloudapi.cn,DNS:*.sharepoint.cn"
emulator_san="$emulator_san,DNS:localhost,IP:127.0.0.1"
issue emulator "tenant emulator" serverAuth "$emulator_san"

# A self-signed RSA certificate for an app registration (client assertions are RS256/PS256, so RSA).
if ! valid migration-app.pem; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 397 -subj "/CN=crosstenant migration app" \
    -keyout migration-app.key -out migration-app.pem 2>/dev/null
  echo "dev-certs: issued migration-app (RSA, for client assertions)"
fi
if [ ! -s emulator-signing.key ]; then
  openssl genrsa -out emulator-signing.key 2048 2>/dev/null
  echo "dev-certs: created emulator-signing.key (RSA, token signing)"
fi
chmod 644 ./*.pem
