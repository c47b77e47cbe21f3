#!/usr/bin/env bash
# PostgreSQL primary + synchronous streaming standby on one machine, and a
# manual failover, to rehearse what the nodes see when the primary dies.
#
#   scripts/pg-failover.sh up        # primary on 127.0.0.1:$PE_PG_PRIMARY_PORT (5441),
#                                    # standby (pg_basebackup -R) on :$PE_PG_STANDBY_PORT (5442)
#   scripts/pg-failover.sh failover  # stops the primary (immediate) and promotes the standby
#   scripts/pg-failover.sh down      # stops both
#
# synchronous_standby_names names the standby and synchronous_commit = on: a
# commit (a registered case) is acknowledged only once the standby has it, so
# promoting the standby loses nothing a caller or nurse was told was saved.
# While the standby is down the primary's commits wait: name two standbys
# ("ANY 1 (s1, s2)") in production. Test server settings: trust auth, loopback.
set -euo pipefail

DIR="${PE_PG_FAILOVER_DIR:-/tmp/pe-pg-failover}"
P1="${PE_PG_PRIMARY_PORT:-5441}"
P2="${PE_PG_STANDBY_PORT:-5442}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -x "$BIN/initdb" ] || { echo "pg-failover: PostgreSQL not found (apt-get install postgresql)" >&2; exit 1; }

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

up() {
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
    as_pg "$BIN/initdb" -D "$DIR/primary" -U postgres --auth=trust -E UTF8 --locale=C >"$DIR/initdb.log"
    cat >>"$DIR/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $P1
unix_socket_directories = '$DIR'
wal_level = replica
max_wal_senders = 5
synchronous_commit = on
max_connections = 200
CONF
    echo "host replication postgres 127.0.0.1/32 trust" >>"$DIR/primary/pg_hba.conf"
    as_pg "$BIN/pg_ctl" -D "$DIR/primary" -l "$DIR/primary.log" -w start >&2
    as_pg "$BIN/createdb" -h 127.0.0.1 -p "$P1" -U postgres pe
    # -R writes primary_conninfo (with our application_name) and standby.signal.
    as_pg "$BIN/pg_basebackup" -D "$DIR/standby" -R -X stream -c fast \
        -d "host=127.0.0.1 port=$P1 user=postgres application_name=standby1"
    echo "port = $P2" >>"$DIR/standby/postgresql.conf"
    as_pg "$BIN/pg_ctl" -D "$DIR/standby" -l "$DIR/standby.log" -w start >&2
    # Synchronous only once the standby streams (else every commit would wait).
    as_pg "$BIN/psql" -qh 127.0.0.1 -p "$P1" -U postgres -d pe \
        -c "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" -c "SELECT pg_reload_conf()" >/dev/null
    echo "primary: postgres://postgres@127.0.0.1:$P1/pe"
    echo "standby: postgres://postgres@127.0.0.1:$P2/pe (synchronous, read-only until promoted)"
}

failover() {
    as_pg "$BIN/pg_ctl" -D "$DIR/primary" -m immediate stop >&2 || true
    as_pg "$BIN/pg_ctl" -D "$DIR/standby" -w promote >&2
    echo "promoted: postgres://postgres@127.0.0.1:$P2/pe takes writes"
}

down() {
    for d in primary standby; do
        [ -d "$DIR/$d" ] && { as_pg "$BIN/pg_ctl" -D "$DIR/$d" -m fast stop >&2 || true; }
    done
    rm -rf "$DIR"
}

case "${1:-}" in
    up) up ;;
    failover) failover ;;
    down) down ;;
    *) echo "usage: $0 up | failover | down" >&2; exit 2 ;;
esac
