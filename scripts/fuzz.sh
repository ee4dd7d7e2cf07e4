#!/usr/bin/env bash
# Runs every fuzz target (fuzz/, cargo-fuzz + libFuzzer) for a bounded time and fails on any
# crash, printing the crashing input's path.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]        (default 60)
#
# Environment:
#   FUZZ_TARGETS="model_from_bytes ..."  run only these targets (default: all of fuzz/fuzz_targets)
#   FUZZ_ASAN=1                           build with AddressSanitizer (needs RUSTC_BOOTSTRAP,
#                                         set here); the default is no sanitizer, on stable
#   FUZZ_JOBS=N                           libFuzzer worker processes per target (default 1)
#
# Each target starts from the committed seeds (fuzz/seeds/TARGET) plus its growing corpus
# (fuzz/corpus/TARGET, git-ignored); crashes land in fuzz/artifacts/TARGET/. Reproduce one
# with `cd fuzz && cargo fuzz run -s none -a TARGET artifacts/TARGET/crash-…`, then turn it
# into a regression test in core/tests or server/tests.
set -euo pipefail

seconds=${1:-60}
cd "$(dirname "$0")/../fuzz"
export PATH="$HOME/.cargo/bin:$PATH"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (cargo install cargo-fuzz, about 2.5 min once)" >&2
    cargo install cargo-fuzz
fi

sanitizer=(-s none)
if [[ "${FUZZ_ASAN:-0}" == 1 ]]; then
    export RUSTC_BOOTSTRAP=1
    sanitizer=(-s address)
fi
# -a: debug assertions and overflow checks on, so an arithmetic overflow is a crash too.
build_flags=("${sanitizer[@]}" -a)

targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
echo "building fuzz targets: $(echo $targets)" >&2
cargo fuzz build "${build_flags[@]}" >&2

status=0
summary=()
for target in $targets; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="artifacts/$target/last-run.log"
    echo "== $target: ${seconds}s" >&2
    jobs=()
    # Several workers: libFuzzer's jobs mode (each job's log is copied into $log at its end).
    if [[ "${FUZZ_JOBS:-1}" -gt 1 ]]; then
        jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
    fi
    set +e
    cargo fuzz run "${build_flags[@]}" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
        "${jobs[@]}" >"$log" 2>&1
    code=$?
    set -e
    rm -f fuzz-*.log
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s += $1} END {print s + 0}')
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | awk '{s += $1} END {print s + 0}')
    crash=$(grep -ho 'Test unit written to [^ ]*' "$log" | sed 's/Test unit written to //' | head -1 || true)
    # In jobs mode the parent may exit 0 although a job crashed.
    if [[ $code -eq 0 ]] && grep -qE 'panicked at|==ERROR|deadly signal|ERROR: libFuzzer' "$log"; then
        code=1
    fi
    if [[ $code -ne 0 || -n "$crash" ]]; then
        status=1
        summary+=("$target: FAILED after $runs executions ($rate exec/s); input: ${crash:-see $log}")
        grep -m1 -A15 -E 'panicked at|ERROR: libFuzzer|==ERROR' "$log" >&2 || tail -30 "$log" >&2
    else
        summary+=("$target: ok, $runs executions in ${seconds}s ($rate exec/s), corpus $(ls "corpus/$target" | wc -l) inputs")
    fi
done

echo
printf '%s\n' "${summary[@]}"
# TAP-style totals (one per target), summed into the test command's last line.
failed=$(printf '%s\n' "${summary[@]}" | grep -c ': FAILED' || true)
echo "# pass $(( ${#summary[@]} - failed ))"
echo "# fail $failed"
exit $status
