#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (the ctest fixture `postgres`, tests/postgres.cmake).
#
#   postgres_server.sh start DIR   initdb into DIR/data and start the server: 127.0.0.1 only, on a free
#                                  port, unix socket in DIR, fsync off, log in DIR/server.log. A test role
#                                  with a generated password (scram) may create databases; its connection
#                                  string is written to DIR/dsn (mode 600). TLS is on, with a server
#                                  certificate for IP 127.0.0.1 only (no DNS name) from a fresh CA,
#                                  DIR/ca.pem, so that sslmode=verify-full can be tested both ways. When the server's user cannot
#                                  reach DIR (a checkout under a private directory), the server's files go
#                                  to a fresh directory under /tmp instead, named in DIR/server_dir.
#   postgres_server.sh stop DIR    stop it (fast shutdown) and remove DIR.
#
# POSTGRES_SERVER_CONF, when set, holds more postgresql.conf lines for the server (the benchmark's
# PROFILE=1 loads pg_stat_statements with it).
#
# PostgreSQL refuses to run as root: as root (CI, containers), the server runs as the `postgres` system
# user that Debian's postgresql package creates; otherwise as the current user. Server binaries come from
# /usr/lib/postgresql/<version>/bin (the newest installed).
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
command=$1
dir=$2
case "$dir" in /*) ;; *) dir="$(pwd)/$dir" ;; esac

role=crosstenant_test

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "postgres_server: no PostgreSQL server in /usr/lib/postgresql/*/bin: install Debian's postgresql" \
       "package (deploy/local/bootstrap.sh does)" >&2
  exit 1
fi

# as_server CMD...: runs CMD as the user that owns the server.
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "postgres_server: running as root, and there is no 'postgres' system user to run the server as" \
         "(Debian's postgresql package creates it)" >&2
    exit 1
  fi
  server_user=postgres
  as_server() { runuser -u postgres -- "$@"; }
else
  server_user=$(id -un)
  as_server() { "$@"; }
fi

# Where the server's own files are: DIR, or the directory named in DIR/server_dir.
server_dir_of() { if [ -f "$dir/server_dir" ]; then cat "$dir/server_dir"; else echo "$dir"; fi; }

stop_server() {
  local server_dir
  server_dir=$(server_dir_of)
  if [ -f "$server_dir/data/postmaster.pid" ]; then
    as_server "$bindir/pg_ctl" stop -D "$server_dir/data" -m fast -w -t 60 >/dev/null 2>&1 || true
  fi
  if [ "$server_dir" != "$dir" ]; then rm -rf "$server_dir"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  stop_server
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 700 "$dir"
  [ "$server_user" = "$(id -un)" ] || chown "$server_user" "$dir"
  # The server's files: in DIR if its user can reach it, else under /tmp (a checkout in a private
  # directory); a unix socket path is limited to 107 bytes, so a deep DIR gets a short one too.
  local server_dir="$dir"
  if ! as_server test -w "$dir" || [ $(( ${#dir} + 20 )) -gt 100 ]; then
    server_dir=$(mktemp -d /tmp/crosstenant-pg.XXXXXX)
    [ "$server_user" = "$(id -un)" ] || chown "$server_user" "$server_dir"
    echo "$server_dir" > "$dir/server_dir"
  fi
  if ! as_server test -w "$server_dir"; then
    echo "postgres_server: the user $server_user cannot write to $server_dir" >&2
    exit 1
  fi
  local socket_dir="$server_dir"

  local password
  password=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

  as_server "$bindir/initdb" -D "$server_dir/data" -U "$server_user" --auth-local=peer \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || {
    echo "postgres_server: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    exit 1
  }

  # TLS: a throwaway CA and a certificate for 127.0.0.1 (an IP SAN only: `host=localhost` must fail
  # verify-full). The key belongs to the server's user, mode 600, as PostgreSQL demands.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=crosstenant test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=crosstenant test postgres" \
    -keyout "$server_dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$dir/server.ext" -out "$server_dir/server.crt" >/dev/null 2>&1
  rm -f "$dir/ca.key" "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
  chmod 600 "$server_dir/server.key"
  chmod 644 "$dir/ca.pem"
  [ "$server_user" = "$(id -un)" ] || chown "$server_user" "$server_dir/server.key" "$server_dir/server.crt"

  local attempt port=""
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    cat > "$server_dir/port.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$socket_dir'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
logging_collector = off
ssl = on
ssl_cert_file = '$server_dir/server.crt'
ssl_key_file = '$server_dir/server.key'
# as docs/deploy.md asks of the orchestrator's database: the tasks table turns over every few seconds
autovacuum_naptime = 10s
${POSTGRES_SERVER_CONF:-}
EOF
    [ "$server_user" = "$(id -un)" ] || chown "$server_user" "$server_dir/port.conf"
    grep -q "^include '$server_dir/port.conf'" "$server_dir/data/postgresql.conf" ||
      echo "include '$server_dir/port.conf'" | as_server tee -a "$server_dir/data/postgresql.conf" >/dev/null
    if as_server "$bindir/pg_ctl" start -D "$server_dir/data" -l "$server_dir/server.log" -w -t 60 >/dev/null 2>&1; then
      break
    fi
    port=""  # most likely the port was taken meanwhile: try another
  done
  if [ -z "$port" ]; then
    echo "postgres_server: the server did not start; its log ($server_dir/server.log):" >&2
    tail -n 30 "$server_dir/server.log" >&2 || true
    exit 1
  fi

  # The test role, over the unix socket as the server's own user (peer authentication). The password
  # goes through stdin, not the command line.
  as_server "$bindir/psql" -h "$socket_dir" -p "$port" -U "$server_user" -d postgres -X -q -v ON_ERROR_STOP=1 \
    >/dev/null <<EOF
CREATE ROLE $role LOGIN CREATEDB PASSWORD '$password';
EOF

  local dsn="host=127.0.0.1 port=$port user=$role password=$password dbname=postgres"
  (umask 077 && printf '%s\n' "$dsn" > "$dir/dsn.tmp")
  chmod 600 "$dir/dsn.tmp"
  mv "$dir/dsn.tmp" "$dir/dsn"
  echo "postgres_server: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port," \
       "data in $server_dir; connection string in $dir/dsn"
}

stop() {
  stop_server
  rm -rf "$dir"
}

case "$command" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
