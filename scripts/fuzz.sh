#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) for a given time and
# prints executions, coverage and peak memory per target. Not part of
# .ci/run: a 10-minute run per target is the release check.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 600, all)
#   JOBS=2 scripts/fuzz.sh 600                           targets side by side
#
# Needs a nightly toolchain (`rustup toolchain install nightly`); installs
# cargo-fuzz from crates.io when missing. New corpus entries go to
# fuzz/corpus/<target> (not committed; the seeds are fuzz/seeds/<target>),
# crashes to fuzz/artifacts/<target>; logs to target/fuzz-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=()
    for file in fuzz/fuzz_targets/*.rs; do
        targets+=("$(basename "$file" .rs)")
    done
fi
jobs=${JOBS:-1}

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz.sh: needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

logs=target/fuzz-logs
mkdir -p "$logs"
(cd fuzz && cargo +nightly fuzz build --release)

# The targets are built once above and run directly: `cargo fuzz run` would
# rebuild them whenever the sources change during a long run.
bin_dir=fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release

run_one() {
    local target=$1
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    # -rss_limit_mb: an input that makes a parser allocate beyond this is a
    # finding; -timeout: one input taking longer than this is a hang.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0} \
        "$bin_dir/$target" "fuzz/corpus/$target" "fuzz/seeds/$target" \
        -artifact_prefix="fuzz/artifacts/$target/" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 >"$logs/$target.log" 2>&1
}

status=0
running=0
for target in "${targets[@]}"; do
    echo "fuzzing $target for ${seconds}s"
    run_one "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || status=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
done

printf '%-14s %12s %10s %8s %8s %10s %s\n' target executions exec/s cov features peak_MB result
for target in "${targets[@]}"; do
    log="$logs/$target.log"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    last=$(grep -E '#[0-9]+.*cov: [0-9]+' "$log" | tail -n 1 || true)
    cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || echo '?')
    ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || echo '?')
    if grep -qE 'ERROR: libFuzzer|ERROR: AddressSanitizer|ERROR: LeakSanitizer|panicked at|SUMMARY:' "$log"; then
        result="FINDING (see $log and fuzz/artifacts/$target)"
        status=1
    else
        result=clean
    fi
    printf '%-14s %12s %10s %8s %8s %10s %s\n' "$target" "$execs" "$rate" "$cov" "$ft" "$rss" "$result"
done
exit $status
