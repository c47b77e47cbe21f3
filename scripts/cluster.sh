#!/usr/bin/env bash
# A local cluster as in production: PostgreSQL, N phone-entrance nodes on
# 127.0.0.2, 127.0.0.3, ... (their own SIP, HTTP and RTP ports, one database)
# and Kamailio in front (ops/kamailio/kamailio.cfg) on one SIP address.
#
#   scripts/cluster.sh up [--nodes N]   # default 2 nodes; prints the addresses
#   scripts/cluster.sh down             # stops Kamailio, the nodes and PostgreSQL
#
# Environment: PE_BINARY (default $CARGO_TARGET_DIR or target, debug/phone-entrance),
# PE_CLUSTER_DIR (state and logs, default /tmp/pe-cluster), PE_EDGE_PORT (Kamailio's
# UDP port, default 5060), PE_PROBE_INTERVAL (seconds between OPTIONS probes, default 2),
# PE_PG_PORT (default 5434). Each node gets its own node id (host name and a random
# part) in the heartbeat table; that is what the hold leases hang on.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${PE_CLUSTER_DIR:-/tmp/pe-cluster}"
EDGE_PORT="${PE_EDGE_PORT:-5060}"
PROBE="${PE_PROBE_INTERVAL:-2}"
BIN="${PE_BINARY:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/phone-entrance}"
KAMAILIO="${KAMAILIO:-/usr/sbin/kamailio}"

log() { echo "cluster: $*" >&2; }

up() {
    local nodes=2
    while [ $# -gt 0 ]; do
        case "$1" in
            --nodes) nodes="$2"; shift 2 ;;
            *) echo "usage: $0 up [--nodes N]" >&2; exit 2 ;;
        esac
    done
    [ -x "$BIN" ] || { log "no service binary at $BIN: cargo build --bin phone-entrance, or set PE_BINARY"; exit 1; }
    [ -x "$KAMAILIO" ] || { log "kamailio not found at $KAMAILIO: apt-get install kamailio"; exit 1; }
    [ -e "$DIR/edge.pid" ] && { log "already up ($DIR): run '$0 down' first"; exit 1; }
    mkdir -p "$DIR"

    # PostgreSQL: the same throwaway server the tests use, on its own port.
    eval "$(PE_PG_PORT="${PE_PG_PORT:-5434}" PE_PG_DB=pe_cluster bash "$ROOT/.ci/start-postgres.sh")"
    echo "${PE_TEST_POSTGRES_DIR:-}" >"$DIR/pg.dir"
    echo "${PE_TEST_POSTGRES_BIN:-}" >"$DIR/pg.bin"
    local url="$PE_TEST_POSTGRES_URL"

    : >"$DIR/dispatcher.list"
    local i ip sip http
    for i in $(seq 1 "$nodes"); do
        ip="127.0.0.$((i + 1))"
        sip="$ip:5070"
        http="127.0.0.1:$((8080 + i))"
        RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 nohup "$BIN" \
            --config "$ROOT/sip-config" --prompts "$ROOT/prompts" \
            --sip-bind "$sip" --http-bind "$http" --database-url "$url" \
            --rtp-ports "$((20000 + i * 1000))-$((20999 + i * 1000))" \
            >"$DIR/node$i.log" 2>&1 &
        echo $! >"$DIR/node$i.pid"
        echo "1 sip:$sip 0 0" >>"$DIR/dispatcher.list"
        echo "node $i: SIP udp:$sip  HTTP http://$http  RTP $((20000 + i * 1000))-$((20999 + i * 1000))  log $DIR/node$i.log"
    done

    nohup "$KAMAILIO" -DD -E -f "$ROOT/ops/kamailio/kamailio.cfg" -Y "$DIR" -w "$DIR" \
        -A "LISTEN=udp:127.0.0.1:$EDGE_PORT" -A "DS_LIST=\"$DIR/dispatcher.list\"" \
        -A "PROBE_INTERVAL=$PROBE" -A FR_TIMEOUT_MS=3000 \
        >"$DIR/edge.log" 2>&1 &
    echo $! >"$DIR/edge.pid"
    echo "edge (Kamailio): sip:1177@127.0.0.1:$EDGE_PORT  probes every ${PROBE}s  log $DIR/edge.log"
    echo "database: $url"
}

stop_pid() {
    local file="$1" pid
    [ -e "$file" ] || return 0
    pid="$(cat "$file")"
    if kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

down() {
    stop_pid "$DIR/edge.pid"
    local f
    for f in "$DIR"/node*.pid; do
        [ -e "$f" ] && stop_pid "$f"
    done
    if [ -s "$DIR/pg.dir" ] && [ -s "$DIR/pg.bin" ]; then
        local data bin
        data="$(cat "$DIR/pg.dir")/data"
        bin="$(cat "$DIR/pg.bin")"
        if [ "$(id -u)" = 0 ]; then
            runuser -u postgres -- "$bin/pg_ctl" -D "$data" -m fast stop >&2 || true
        else
            "$bin/pg_ctl" -D "$data" -m fast stop >&2 || true
        fi
        rm -f "$DIR/pg.dir" "$DIR/pg.bin"
    fi
    log "down"
}

case "${1:-}" in
    up) shift; up "$@" ;;
    down) down ;;
    *) echo "usage: $0 up [--nodes N] | down" >&2; exit 2 ;;
esac
