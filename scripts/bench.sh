#!/usr/bin/env bash
# Load benchmark (not run in CI): release builds of phone-entrance and
# pe-caller; for each step of concurrent calls a fresh service with a bench
# config and one `pe-caller load` run; then the box's own limit (`pe-caller
# reflect` + `streams`: RTP echo without SIP/IVR), a realistic-mix run and
# SIPp at 500 and 1,000. Prints one table.
#
#   bash scripts/bench.sh [--quick] [--steps "500 1000 2000 3000 5000"] [--no-sipp] [--no-mix]
#
# Run time: every call holds ramp + PLATEAU seconds, all of a step's calls are
# up together for PLATEAU seconds (default 20, --quick 8); REFLECT_SECONDS per
# reflector step (default 10, --quick 4). Default steps take about 8 minutes,
# --quick about 5 (plus the build).
# Env: PLATEAU, REFLECT_SECONDS, REFLECT_STEPS ("1000 2000 3000 5000 8000"),
#      MAX_RATE (new calls/s, default 200), CARGO_FLAGS (extra cargo flags),
#      PE_BIN / CALLER_BIN (skip the build), BENCH_DIR (keep the work dir),
#      SIP_PORT (26060), HTTP_PORT (28090).
set -euo pipefail

STEPS="500 1000 2000 3000 5000"
PLATEAU=${PLATEAU:-}
REFLECT_SECONDS=${REFLECT_SECONDS:-}
REFLECT_STEPS=${REFLECT_STEPS:-"1000 2000 3000 5000 8000"}
MAX_RATE=${MAX_RATE:-200}
SIPP=1
MIX=1
QUICK=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --steps) STEPS="$2"; shift ;;
        --no-sipp) SIPP=0 ;;
        --no-mix) MIX=0 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [[ $QUICK == 1 ]]; then
    PLATEAU=${PLATEAU:-8}; REFLECT_SECONDS=${REFLECT_SECONDS:-4}; SIPP=0
else
    PLATEAU=${PLATEAU:-20}; REFLECT_SECONDS=${REFLECT_SECONDS:-10}
fi
SIP_PORT=${SIP_PORT:-26060}
HTTP_PORT=${HTTP_PORT:-28090}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [[ -z "${PE_BIN:-}" || -z "${CALLER_BIN:-}" ]]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    # shellcheck disable=SC2086 # CARGO_FLAGS is a list of flags
    (cd "$ROOT" && cargo build --release ${CARGO_FLAGS:-} --workspace --bin phone-entrance --bin pe-caller)
    PE_BIN=${PE_BIN:-$CARGO_TARGET_DIR/release/phone-entrance}
    CALLER_BIN=${CALLER_BIN:-$CARGO_TARGET_DIR/release/pe-caller}
fi

WORK=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$WORK"
# The bench config: no per-number caps (every hold-mode call has one number),
# room for every call.
rm -rf "$WORK/config" && cp -r "$ROOT/sip-config" "$WORK/config"
sed -i -E 's/^(per_number_per_day|red_flags_per_number_per_day|max_pending_callbacks) = .*/\1 = 0/' "$WORK/config/queue.toml"
sed -i -E 's/^max_concurrent_calls = .*/max_concurrent_calls = 20000/' "$WORK/config/sip.toml"

PE_PID=
REFL_PID=
stop_service() {
    if [[ -n "$PE_PID" ]]; then kill "$PE_PID" 2>/dev/null || true; wait "$PE_PID" 2>/dev/null || true; PE_PID=; fi
}
cleanup() {
    stop_service
    if [[ -n "$REFL_PID" ]]; then kill "$REFL_PID" 2>/dev/null || true; wait "$REFL_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

start_service() { # $1: log name
    rm -f "$WORK/bench.db"*
    "$PE_BIN" --config "$WORK/config" --prompts "$ROOT/prompts" \
        --sip-bind "127.0.0.1:$SIP_PORT" --http-bind "127.0.0.1:$HTTP_PORT" \
        --database-url "sqlite:$WORK/bench.db" --rtp-ports 20000-39999 \
        >"$WORK/service-$1.log" 2>&1 &
    PE_PID=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "the service did not start: $WORK/service-$1.log" >&2
    tail -n 20 "$WORK/service-$1.log" >&2
    exit 1
}

# key=value from a `bench:` line.
field() { sed -n 's/^bench: //p' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

echo "== work dir $WORK; steps: $STEPS; plateau ${PLATEAU}s"
declare -a ROWS
SERVICE_CLEAN=
for C in $STEPS; do
    RATE=$(( C / 10 > MAX_RATE ? MAX_RATE : (C / 10 > 20 ? C / 10 : 20) ))
    RAMP=$(( (C + RATE - 1) / RATE ))
    HOLD=$(( RAMP + PLATEAU ))
    start_service "$C"
    echo "== $C calls at $RATE/s, each up ${HOLD}s"
    set +e
    "$CALLER_BIN" load --server "127.0.0.1:$SIP_PORT" --calls "$C" --rate "$RATE" \
        --duration "${HOLD}s" --workers 2 --service-pid "$PE_PID" \
        --metrics "http://127.0.0.1:$HTTP_PORT/metrics" >"$WORK/load-$C.txt" 2>&1
    set -e
    stop_service
    f() { field "$WORK/load-$C.txt" "$1"; }
    ROWS+=("$(printf '%6s %6s %7s/%-7s %7s/%-7s %8s/%-6s %8s/%-7s %9s %8s/%-8s %6s %6s %6s %6s' \
        "$C" "$(f failed)" "$(f inv_p50_ms)" "$(f inv_p99_ms)" "$(f bye_p50_ms)" "$(f bye_p99_ms)" \
        "$(f svc_skipped_pct)" "$(f gen_missing_pct)" "$(f gap_p99_ms)" "$(f gap_max_ms)" \
        "$(f gen_late_ticks)" "$(f digits_svc)" "$(f digits_sent)" \
        "$(f svc_cpu_pct)" "$(f gen_cpu_pct)" "$(f machine_cpu_pct)" "$(f rss_per_call_kb)")")
    grep -q '^bench:' "$WORK/load-$C.txt" || { echo "no figures from pe-caller:"; tail -n 5 "$WORK/load-$C.txt"; }
    # Clean as for the reflector: no failed call, < 0.1 % frames skipped, gap p99 < 25 ms.
    if awk -v f="$(f failed)" -v s="$(f svc_skipped_pct)" -v g="$(f gap_p99_ms)" \
        'BEGIN { exit !(f == "0" && s != "-" && s + 0 < 0.1 && g != "-" && g + 0 < 25) }'; then
        SERVICE_CLEAN=$C
    fi
done

echo "== the box's own limit: RTP reflector, steps $REFLECT_STEPS, ${REFLECT_SECONDS}s each"
"$CALLER_BIN" reflect --bind 127.0.0.1 --ports 10000-19999 --threads 2 >"$WORK/reflect.txt" 2>&1 &
REFL_PID=$!
sleep 1
"$CALLER_BIN" streams --target 127.0.0.1 --ports 10000-19999 \
    --streams "$(echo "$REFLECT_STEPS" | tr ' ' ',')" --duration "${REFLECT_SECONDS}s" \
    --reflector-pid "$REFL_PID" | tee "$WORK/streams.txt"
kill "$REFL_PID" 2>/dev/null || true; wait "$REFL_PID" 2>/dev/null || true; REFL_PID=
LIMIT=$(sed -n 's/^highest clean: \([0-9]*\) streams/\1/p' "$WORK/streams.txt")

if [[ $MIX == 1 ]]; then
    MIX_CALLS=$([[ $QUICK == 1 ]] && echo 200 || echo 500)
    echo "== realistic mix: $MIX_CALLS calls at 20/s (seed 1177)"
    start_service mix
    "$CALLER_BIN" load --server "127.0.0.1:$SIP_PORT" --calls "$MIX_CALLS" --rate 20 \
        --mix realistic --seed 1177 --workers 2 --service-pid "$PE_PID" \
        --metrics "http://127.0.0.1:$HTTP_PORT/metrics" | grep -v '^bench:' | tee "$WORK/mix.txt" || true
    stop_service
fi

SIPP_LINES=()
if [[ $SIPP == 1 ]] && command -v sipp >/dev/null; then
    for C in 500 1000; do
        echo "== SIPp: $C concurrent (tests/interop/sipp/bench.sh)"
        PE_BIN="$PE_BIN" BENCH_DIR="$WORK/sipp-$C" SIP_PORT=$((SIP_PORT + 1)) HTTP_PORT=$((HTTP_PORT + 1)) \
            bash "$ROOT/tests/interop/sipp/bench.sh" "$C" "$C" "$((C / 10))" >"$WORK/sipp-$C.txt" 2>&1 || true
        SIPP_LINES+=("SIPp $C concurrent: $(grep -m1 '^calls:' "$WORK/sipp-$C.txt" || echo 'no summary') | $(grep -m1 '^INVITE -> 200' "$WORK/sipp-$C.txt" || true)")
    done
fi

echo
echo "== pe-caller load vs phone-entrance (release); work dir $WORK"
echo "skipped % = service pe_media_skipped_frames / generator frames missing by RTP timestamp;"
echo "gap = RTP inter-arrival at the generator; CPU = % of one core; machine = % of all cores"
printf '%6s %6s %15s %15s %15s %16s %9s %17s %6s %6s %6s %6s\n' \
    calls failed "INVITE p50/p99" "BYE p50/p99" "skipped svc/gen" "gap p99/max ms" "gen late" "digits svc/sent" \
    "svcCPU" "genCPU" "mach%" "kB/call"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
if [[ -n "$LIMIT" ]]; then
    echo "reflector (no SIP/IVR) highest clean: $LIMIT streams (< 0.1 % lost/late, gap p99 < 25 ms)"
    if [[ -n "$SERVICE_CLEAN" ]]; then
        echo "service highest clean step: $SERVICE_CLEAN calls = $(( SERVICE_CLEAN * 100 / LIMIT )) % of the reflector's"
    else
        echo "service: no clean step"
    fi
else
    echo "reflector: no clean step (see $WORK/streams.txt)"
fi
for l in "${SIPP_LINES[@]}"; do echo "$l"; done
