#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the store tests and prints the shell
# lines to export its URL. Installs Debian's postgresql first if it is missing.
#
#   eval "$(bash .ci/start-postgres.sh)"     # sets PE_TEST_POSTGRES_URL
#   cargo test --lib store::                 # now also runs the PostgreSQL variants
#   "$PE_TEST_POSTGRES_BIN/pg_ctl" -D "$PE_TEST_POSTGRES_DIR/data" stop   # optional
#
# The cluster lives in a fresh temp directory, owned by the `postgres` user when
# run as root (initdb refuses root), listens on 127.0.0.1 and a unix socket in that
# directory, port $PE_PG_PORT (default 5433), trust auth, durability off: it is for
# tests only. If a server already answers on that port it is reused.
# Everything except the export lines goes to stderr.
set -euo pipefail

PORT="${PE_PG_PORT:-5433}"
DB="${PE_PG_DB:-pe_test}"

log() { echo "start-postgres: $*" >&2; }

find_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

BIN="$(find_bin)"
if [ -z "$BIN" ]; then
    log "PostgreSQL not found: installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    BIN="$(find_bin)"
    if [ -z "$BIN" ]; then
        log "postgresql installed but initdb not found under /usr/lib/postgresql/*/bin"
        exit 1
    fi
fi

# Runs a PostgreSQL program as the `postgres` user when we are root.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

URL="postgres://postgres@127.0.0.1:${PORT}/${DB}"

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    log "a server already answers on 127.0.0.1:$PORT: reusing it"
    "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB" 2>/dev/null || true
    echo "export PE_TEST_POSTGRES_URL=$URL"
    exit 0
fi

DIR="$(mktemp -d "${TMPDIR:-/tmp}/pe-postgres.XXXXXX")"
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$DIR"
fi
log "initdb in $DIR/data"
as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --locale=C \
    >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }

log "starting on 127.0.0.1:$PORT (socket in $DIR)"
as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >&2 || { cat "$DIR/server.log" >&2; exit 1; }

as_pg "$BIN/createdb" -h "$DIR" -p "$PORT" -U postgres "$DB"
log "ready: database $DB"

echo "export PE_TEST_POSTGRES_URL=$URL"
echo "export PE_TEST_POSTGRES_DIR=$DIR"
echo "export PE_TEST_POSTGRES_BIN=$BIN"
