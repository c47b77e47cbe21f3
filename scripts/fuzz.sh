#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target in fuzz/ once, then runs each
# for SECONDS (default 15) from its committed seeds (fuzz/seeds/<target>/).
# A crash (panic, overflow), a hang or an oversized allocation fails the run;
# the input is left in fuzz/artifacts/<target>/.
# Usage: scripts/fuzz.sh [SECONDS [TARGET...]]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-${FUZZ_SECONDS:-15}}"
shift || true

# Its own target dir: the instrumented build shares nothing with the tests'.
export CARGO_TARGET_DIR="${PE_FUZZ_TARGET_DIR:-$HOME/.cache/pe-fuzz-target}"
# cargo-fuzz needs nightly flags; a machine with only stable gets them unlocked.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    cargo=(cargo +nightly)
else
    export RUSTC_BOOTSTRAP=1
    cargo=(cargo)
fi
if ! "${cargo[@]}" fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# -s none: safe Rust, so no sanitizer; -a: debug assertions (integer overflow).
start=$(date +%s)
"${cargo[@]}" fuzz build -s none -a
echo "fuzz build: $(($(date +%s) - start)) s"

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <("${cargo[@]}" fuzz list)
fi
bin_dir="$CARGO_TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release"
logs=$(mktemp -d)
failed=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    # The first folder takes new inputs; the seeds are only read.
    if "$bin_dir/$t" "fuzz/corpus/$t" "fuzz/seeds/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" >"$logs/$t.log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log")
        echo "fuzz $t: ok, ${execs:-?} execs, ${rate:-?}/s"
    else
        echo "fuzz $t: FAILED (input in fuzz/artifacts/$t/)"
        tail -n 40 "$logs/$t.log"
        failed+=("$t")
    fi
done
rm -rf "$logs"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz failed: ${failed[*]}"
fi
# The plain closing line CI reads: one target is one test.
echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
[ "${#failed[@]}" -eq 0 ]
