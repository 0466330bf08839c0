#!/usr/bin/env bash
# Install (when missing) and start the real servers the test suite loads into and paces through:
# a PostgreSQL cluster and a redis-server, both on 127.0.0.1, on fixed non-default ports, with
# their data, sockets and logs in one folder owned by the test run. Idempotent and quick when
# they already answer. `make test` calls it before pytest; the pytest fixtures call it again
# (with PIXLEE_SERVICES_NO_INSTALL=1) when a service does not answer.
#
#   scripts/ensure_services.sh          install if needed (apt-get), then start both
#   scripts/ensure_services.sh stop     stop both (the data folder is kept)
#   scripts/ensure_services.sh env      print the settings the tests read
#
# Settings (environment): PIXLEE_SERVICES_DIR (/tmp/pixlee-test-services),
# PIXLEE_TEST_PG_PORT (55432), PIXLEE_TEST_REDIS_PORT (56379), PIXLEE_SERVICES_NO_INSTALL=1
# (never run apt-get). Without apt-get (or root/sudo) nothing is installed: a warning says so and
# the tests that need the missing server are skipped with the reason; with CI=true the script
# fails instead, so CI never hides a missing service.
set -uo pipefail

DIR="${PIXLEE_SERVICES_DIR:-/tmp/pixlee-test-services}"
PG_PORT="${PIXLEE_TEST_PG_PORT:-55432}"
REDIS_PORT="${PIXLEE_TEST_REDIS_PORT:-56379}"
PG_PASSWORD="pixlee-test"  # a throwaway cluster on 127.0.0.1 that only the tests use
PG_DATA="$DIR/pg/data"
PG_SOCKETS="$DIR/pg/sockets"
PG_LOG="$DIR/pg/postgres.log"

say() { echo "ensure_services: $*" >&2; }

problem() {
    # A missing service is a warning locally (the tests skip, saying why) and an error in CI.
    say "WARNING: $*"
    if [[ "${CI:-}" == "true" ]]; then
        say "CI=true: failing rather than letting the tests skip"
        exit 1
    fi
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
    else return 1
    fi
}

pg_bindir() {
    local initdb
    initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    [[ -z "$initdb" ]] && initdb=$(command -v initdb 2>/dev/null)
    [[ -n "$initdb" ]] && dirname "$(readlink -f "$initdb")"
}

have_redis() { command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; }

install_missing() {
    local packages=()
    [[ -z "$(pg_bindir)" ]] && packages+=(postgresql)
    have_redis || packages+=(redis-server)
    [[ ${#packages[@]} -eq 0 ]] && return 0
    if [[ "${PIXLEE_SERVICES_NO_INSTALL:-}" == "1" ]]; then
        problem "${packages[*]} not installed (PIXLEE_SERVICES_NO_INSTALL=1: not installing)"
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        problem "no apt-get here: install ${packages[*]} yourself (PostgreSQL >= 13, Redis >= 6)"
        return 0
    fi
    say "installing ${packages[*]} with apt-get (about a minute, once)"
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root apt-get update -qq </dev/null >"$DIR/apt.log" 2>&1 ||
        ! as_root apt-get install -y -qq --no-install-recommends "${packages[@]}" \
            </dev/null >>"$DIR/apt.log" 2>&1; then
        problem "apt-get install ${packages[*]} failed (needs root or passwordless sudo); see $DIR/apt.log"
    fi
}

# Run a command as the cluster's owner: postgres refuses to run as root.
as_pg_owner() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
    local bindir
    bindir=$(pg_bindir)
    if [[ -z "$bindir" ]]; then
        problem "PostgreSQL is not installed: the Postgres tests will be skipped"
        return 0
    fi
    if as_pg_owner "$bindir/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1; then
        return 0
    fi
    if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir "$DIR/pg" --shell /usr/sbin/nologin postgres
    fi
    mkdir -p "$DIR/pg" "$PG_SOCKETS"
    chmod 755 "$DIR"
    [[ $(id -u) -eq 0 ]] && chown -R postgres "$DIR/pg"
    if [[ ! -s "$PG_DATA/PG_VERSION" ]]; then
        say "creating a PostgreSQL cluster in $PG_DATA"
        # A password over TCP, as a warehouse would ask for (dlt requires one in credentials).
        echo "$PG_PASSWORD" >"$DIR/pg/pwfile"
        [[ $(id -u) -eq 0 ]] && chown postgres "$DIR/pg/pwfile"
        if ! as_pg_owner "$bindir/initdb" -D "$PG_DATA" -U postgres --pwfile="$DIR/pg/pwfile" \
            --auth-local=trust --auth-host=scram-sha-256 --no-locale --encoding=UTF8 \
            >"$DIR/pg/initdb.log" 2>&1; then
            problem "initdb failed; see $DIR/pg/initdb.log"
            return 0
        fi
    fi
    say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    if ! as_pg_owner "$bindir/pg_ctl" start -w -t 60 -D "$PG_DATA" -l "$PG_LOG" \
        -o "-p $PG_PORT -k $PG_SOCKETS -c listen_addresses=127.0.0.1 -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
        >/dev/null 2>&1; then
        problem "PostgreSQL did not start; see $PG_LOG"
    fi
}

start_redis() {
    if ! have_redis; then
        problem "redis-server is not installed: the Redis limiter tests will be skipped"
        return 0
    fi
    if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
        return 0
    fi
    mkdir -p "$DIR/redis"
    say "starting redis-server on 127.0.0.1:$REDIS_PORT"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --dir "$DIR/redis" \
        --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/redis.log" \
        --save "" --appendonly no >/dev/null 2>&1
    for _ in $(seq 1 50); do
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    problem "redis-server did not answer on port $REDIS_PORT; see $DIR/redis/redis.log"
}

stop_all() {
    local bindir
    bindir=$(pg_bindir)
    if [[ -n "$bindir" && -d "$PG_DATA" ]]; then
        as_pg_owner "$bindir/pg_ctl" stop -D "$PG_DATA" -m fast >/dev/null 2>&1 || true
    fi
    if have_redis; then
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    fi
    say "stopped"
}

case "${1:-start}" in
    start)
        mkdir -p "$DIR"
        install_missing
        start_postgres
        start_redis
        ;;
    stop) stop_all ;;
    env)
        echo "PIXLEE_TEST_POSTGRES=postgresql://postgres:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres"
        echo "PIXLEE_TEST_REDIS=redis://127.0.0.1:$REDIS_PORT/0"
        ;;
    *) say "usage: $0 [start|stop|env]"; exit 2 ;;
esac
exit 0
