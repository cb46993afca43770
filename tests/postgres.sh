#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, in a temporary directory, listening on a
# free loopback port only, with trust authentication (nothing but this machine can reach it).
# It offers TLS with a certificate for 127.0.0.1 from a throwaway CA.
#   eval "$(bash tests/postgres.sh start)"   # exports HOOKGATE_TEST_POSTGRES, HOOKGATE_TEST_PGDATA
#                                            # and HOOKGATE_TEST_POSTGRES_CA (the CA's PEM file)
#   bash tests/postgres.sh stop              # stops it and removes its directory
# PostgreSQL comes from Debian's packages (tests/setup.sh installs it). It refuses to run
# as root, so as root the cluster belongs to the `postgres` user.
set -euo pipefail

bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[[ -x "$bin/postgres" ]] || { echo "[postgres.sh] no PostgreSQL server: run tests/setup.sh" >&2; exit 1; }

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    dir="$(mktemp -d /tmp/hookgate-pg.XXXXXX)"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    tls="$dir/tls"
    mkdir "$tls"
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout "$tls/ca.key" -out "$tls/ca.crt" -days 2 -subj "/CN=hookgate test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
    openssl req "${ec[@]}" -keyout "$tls/server.key" -out "$tls/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
        -out "$tls/server.crt" -days 2 -extfile "$tls/server.ext" 2>/dev/null
    chmod 600 "$tls/server.key"
    [[ $(id -u) -eq 0 ]] && chown -R postgres: "$tls"
    # Enough connections for the suites' gateways running side by side (a node's pool holds
    # up to 24); the rest stays PostgreSQL's defaults, durability included.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400 -c shared_buffers=128MB \
            -c ssl=on -c ssl_cert_file=$tls/server.crt -c ssl_key_file=$tls/server.key" >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "export HOOKGATE_TEST_POSTGRES=postgres://postgres@127.0.0.1:$port HOOKGATE_TEST_PGDATA=$dir HOOKGATE_TEST_POSTGRES_CA=$tls/ca.crt"
    ;;
stop)
    dir="${HOOKGATE_TEST_PGDATA:?not started by tests/postgres.sh}"
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
