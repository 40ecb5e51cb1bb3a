#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz/: clang, ASan+UBSan, coverage)
# and runs each one, JOBS at a time (default 2),
# against a scratch copy of its seed corpus (tests/fuzz/corpus/<target>/ is
# never written to). Prints per target its executions, coverage ("cov:" of
# libFuzzer's last stats line) and the path of any crash input; the last
# line says "N passed, N failed". Exit status 1 on any finding.
#
#   tests/fuzz/run.sh              # CI: a fixed number of runs each
#   tests/fuzz/run.sh 600 4        # a longer run: 600 s each, four at a time
#   LK_FUZZ_TARGETS="proxy redirect" tests/fuzz/run.sh 60
#   LK_FUZZ_SEED=0 tests/fuzz/run.sh 600   # a random seed (libFuzzer's 0)
#
# CI's run (no SECONDS) is the same on every machine: seed 1 and a fixed
# number of executions per target (runs_for below, about 20 s here), with
# 120 s as a cap that a slower machine may hit and then runs a prefix of
# the same sequence. So a red run is a regression to replay, not a roll of
# the dice, and a run that passed here passes there. Longer runs with a
# random seed look further; whatever they find becomes a seed under
# corpus/<target>/regress_* and a unit test.
#
# Replay a crash input: build-fuzz/fuzz/fuzz_<target> <file>
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
root=$(pwd)

secs="${1:-120}"
jobs="${2:-2}"
fixed_runs=$([ -z "${1:-}" ] && echo 1 || echo 0)
case "$secs$jobs" in *[!0-9]*) echo "usage: tests/fuzz/run.sh [SECONDS] [JOBS]" >&2; exit 2 ;; esac
[ "$jobs" -ge 1 ] || jobs=1
[ "$secs" -ge 1 ] || secs=1 # 0 would mean "no limit" to libFuzzer

build="$root/build-fuzz"
corpus="$root/tests/fuzz/corpus"
# Every tests/fuzz/fuzz_<target>.c, or the ones named.
if [ -z "${LK_FUZZ_TARGETS:-}" ]; then
    for f in "$root"/tests/fuzz/fuzz_*.c; do
        f="${f##*/fuzz_}"
        LK_FUZZ_TARGETS="${LK_FUZZ_TARGETS:-} ${f%.c}"
    done
fi
targets="$LK_FUZZ_TARGETS"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if ! command -v clang >/dev/null; then
    echo "fuzz: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/lk-fuzz.XXXXXX")
logs="$build/fuzz-logs"
artifacts="$build/fuzz-artifacts"
mkdir -p "$logs" "$artifacts"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        pkill -TERM -P "$p" 2>/dev/null # the fuzzer that run_one started
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> fuzz: configure and build $build" >&2
if ! cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
        -DLATCHKEY_FUZZ=ON -DLATCHKEY_TESTS=OFF >"$work/configure.log" 2>&1; then
    cat "$work/configure.log" >&2
    echo "fuzz: configure failed (libFuzzer needs clang and libclang-rt-14-dev)" >&2
    exit 1
fi
cmake --build "$build" --target fuzz -j"${LK_JOBS:-2}" || { echo "fuzz: build failed" >&2; exit 1; }

# CI's executions for target $1: about 20 s each on this 2-core machine.
runs_for() {
    case "$1" in
    md_read | md_write) echo 40000 ;;
    config) echo 60000 ;;
    unseal) echo 300000 ;;
    *) echo 500000 ;;
    esac
}

# One target: fuzz a scratch copy of its corpus; write one result line.
run_one() {
    local t="$1" bin="$build/fuzz/fuzz_$1" scratch="$work/$1" log="$logs/$1.log"
    local art="$artifacts/$1" rc execs cov found why
    mkdir -p "$scratch" "$art"
    if [ ! -x "$bin" ]; then
        echo "FAIL $t: no binary $bin" >"$work/$t.result"
        return
    fi
    if [ -d "$corpus/$t" ]; then
        cp -- "$corpus/$t"/* "$scratch"/
    else
        echo "fuzz: $t has no seed corpus ($corpus/$t/)" >&2
    fi
    local limit=()
    [ "$fixed_runs" = 1 ] && limit=(-runs="$(runs_for "$t")")
    "$bin" -max_total_time="$secs" "${limit[@]}" -seed="${LK_FUZZ_SEED:-1}" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$art/" "$scratch" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
    found=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tr '\n' ' ')
    if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
        printf 'PASS %-13s execs %-9s cov %s\n' "$t" "${execs:-?}" "${cov:-?}" >"$work/$t.result"
    else
        why=$(grep -m1 -E 'invariant failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY:' \
            "$log")
        printf 'FAIL %-13s execs %-9s cov %s rc %s artifact %s\n     %s\n     log %s\n' "$t" "${execs:-?}" \
            "${cov:-?}" "$rc" "${found:-none}" "${why:-see the log}" "$log" >"$work/$t.result"
    fi
}

if [ "$fixed_runs" = 1 ]; then
    echo "==> fuzz: $(echo "$targets" | wc -w) targets, a fixed number of runs each (cap ${secs}s), $jobs at a time" >&2
else
    echo "==> fuzz: $(echo "$targets" | wc -w) targets, ${secs}s each, $jobs at a time" >&2
fi
for t in $targets; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    run_one "$t" &
    pids+=("$!")
done
wait
pids=()

passed=0
failed=0
for t in $targets; do
    if [ -f "$work/$t.result" ]; then
        cat "$work/$t.result"
    else
        echo "FAIL $t: no result"
    fi
    if grep -q '^PASS' "$work/$t.result" 2>/dev/null; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
