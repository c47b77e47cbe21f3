#!/usr/bin/env bash
# The DESIGN.md section 6 benchmark with SIPp: N concurrent IVR calls (answer,
# ~10 s greeting, one RFC 4733 digit, x3, hang up; PCMU both ways) against a
# release build of phone-entrance. Prints SIPp's final statistics and the
# service's counters. Not run in CI.
#
#   tests/interop/sipp/bench.sh [CONCURRENT=100] [TOTAL=CONCURRENT*3] [RATE=CONCURRENT/10 per s]
#
# Env: PE_BIN (skip the build and use this binary), SIPP_EXTRA (more sipp flags),
#      BENCH_DIR (keep the work dir), SIP_PORT (default 25060), HTTP_PORT (28080).
# SIPp plays each call's RTP in its own thread; past ~1,000 concurrent calls
# SIPp, not the service, is the bottleneck (use `pe-caller load` there).
set -euo pipefail

CONCURRENT=${1:-100}
TOTAL=${2:-$((CONCURRENT * 3))}
RATE=${3:-$(( CONCURRENT / 10 > 0 ? CONCURRENT / 10 : 1 ))}
SIP_PORT=${SIP_PORT:-25060}
HTTP_PORT=${HTTP_PORT:-28080}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)

command -v sipp >/dev/null || { echo "sipp not installed (apt-get install -y sip-tester)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed for make_call_pcap.py" >&2; exit 2; }

if [[ -z "${PE_BIN:-}" ]]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/pe-target}
    (cd "$ROOT" && cargo build --release --bin phone-entrance)
    PE_BIN="$CARGO_TARGET_DIR/release/phone-entrance"
fi

WORK=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$WORK"
cp "$HERE/ivr_call.xml" "$WORK/"
python3 "$HERE/make_call_pcap.py" "$WORK/ivr_call.pcap"

# Each call plays its pcap in a thread and the service needs RTP ports.
ulimit -n 65536 2>/dev/null || true

"$PE_BIN" --config "$ROOT/sip-config" --prompts "$ROOT/prompts" \
    --sip-bind "127.0.0.1:$SIP_PORT" --http-bind "127.0.0.1:$HTTP_PORT" \
    --database-url "sqlite:$WORK/bench.db" --rtp-ports 20000-30000 \
    >"$WORK/service.log" 2>&1 &
PE_PID=$!
cleanup() { kill "$PE_PID" 2>/dev/null || true; wait "$PE_PID" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 50); do
    curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done

echo "== $TOTAL calls, at most $CONCURRENT at once, $RATE new calls/s; work dir $WORK"
START=$(date +%s)
set +e
(cd "$WORK" && sipp "127.0.0.1:$SIP_PORT" -sf ivr_call.xml -i 127.0.0.1 -mi 127.0.0.1 \
    -m "$TOTAL" -l "$CONCURRENT" -r "$RATE" -nostdin -timeout 600s \
    -trace_err -trace_stat -stf stats.csv -fd 5 \
    ${SIPP_EXTRA:-} >sipp_screen.txt 2>sipp_stderr.txt)
SIPP_RC=$?
set -e
END=$(date +%s)

# SIPp prints its final screen on exit: the statistics block.
sed -n '/Start Time/,/Test Terminated/p' "$WORK/sipp_screen.txt" | tail -n 60
echo "== sipp exit code $SIPP_RC ($((END - START)) s); summary from stats.csv"
python3 - "$WORK/stats.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
last = dict(zip(rows[0], rows[-1]))
fails = {k: v for k, v in last.items() if k.startswith("Failed") and k.endswith("(C)") and v.strip() not in ("", "0")}
print(f"calls: {last.get('SuccessfulCall(C)')} successful, {last.get('FailedCall(C)')} failed {fails or ''}")
print(f"retransmissions: {last.get('Retransmissions(C)')}, dead-call messages: {last.get('DeadCallMsgs(C)')}")
print("INVITE -> 200 (ms): " + ", ".join(
    f"{k.split('_', 1)[1]}: {v}" for k, v in last.items() if k.startswith("ResponseTimeRepartitioninvite_")))
print(f"mean call length: {last.get('CallLength(C)')}")
PY
echo "== service counters"
curl -fs "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^pe_(calls|digits|ivr_outcomes|rtp_timeouts)' || true
if [[ -s "$(ls "$WORK"/*_errors.log 2>/dev/null | head -1)" ]]; then
    echo "== first SIPp errors ($(ls "$WORK"/*_errors.log))"
    head -n 20 "$WORK"/*_errors.log
fi
exit "$SIPP_RC"
