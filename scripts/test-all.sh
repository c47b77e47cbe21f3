#!/usr/bin/env bash
# Every check and test, on a fresh Debian machine with the Rust toolchain:
# installs what the tests need (SIP peers, PostgreSQL), starts a throwaway
# PostgreSQL cluster, then runs fmt, clippy, the whole test suite and a short
# fuzz run of every parser (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pe-target}"
export CARGO_TERM_COLOR=never
# A missing SIP peer, browser or PostgreSQL fails its test instead of printing SKIPPED.
export CI="${CI:-true}"

# Debian packages: independent SIP peers for interop tests, PostgreSQL, Chromium.
need=()
command -v baresip >/dev/null 2>&1 || need+=(baresip)
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-venv)
# Headless Chromium for the staff pages; node/npm bring playwright-core.
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# Kamailio as the SIP edge in front of two nodes (tests/cluster.rs).
[ -x /usr/sbin/kamailio ] || need+=(kamailio)
if [ "${#need[@]}" -gt 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# pjsua2 (PJSIP's Python bindings) is not in Debian: a venv from PyPI.
VENV="${PE_VENV:-$HOME/.cache/pe-venv}"
if ! "$VENV/bin/python" -c 'import pjsua2' >/dev/null 2>&1; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q pjsua2-python
fi
export PJSUA2_PYTHON="$VENV/bin/python"

# The PostgreSQL packages start a cluster on 5432 we do not use; ours is throwaway.
eval "$(bash .ci/start-postgres.sh)"
export PE_TEST_POSTGRES_URL

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Call tests wait on audio, not CPU: run more of them at once.
# --no-fail-fast: one failing file must not hide the others.
cargo test --workspace --locked --no-fail-fast -- --test-threads 6
# The parsers of outside input, fuzzed briefly from their seeds (fuzz/).
bash scripts/fuzz.sh "${PE_FUZZ_SECONDS:-15}"
