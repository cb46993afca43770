#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, in a temporary directory, listening on a
# free loopback port only, with trust authentication (nothing but this machine can reach it).
#   eval "$(bash tests/postgres.sh start)"   # exports HOOKGATE_TEST_POSTGRES and HOOKGATE_TEST_PGDATA
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
    # Enough connections for the suites' gateways running side by side (a node's pool holds
    # up to 24); the rest stays PostgreSQL's defaults, durability included.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400 -c shared_buffers=128MB" >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "export HOOKGATE_TEST_POSTGRES=postgres://postgres@127.0.0.1:$port HOOKGATE_TEST_PGDATA=$dir"
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
