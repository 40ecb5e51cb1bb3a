#!/usr/bin/env bash
# The one test command: install what is missing (Debian 12, as root), build
# (Release in build/, ASan+UBSan in build-asan/), then run every test of the
# Release build (unit + e2e; CTest fixtures start the e2e stack through
# tests/stack.py), the cluster suite (tests/cluster/run.sh), the unit tests
# and the ASan soak (programs behind lighttpd under load,
# tests/e2e/asan_soak.py) of the sanitizer build, and a bounded run of every
# fuzz target (tests/fuzz/run.sh).
# Exit status: 0 when everything passed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# shellcheck source=SCRIPTDIR/../deploy/common.sh
. deploy/common.sh

start=$(date +%s)
failed=()
passed=()

step() {
    local name="$1"; shift
    lk_log "step: $name"
    if "$@"; then
        passed+=("$name")
        return 0
    fi
    lk_log "step FAILED: $name"
    failed+=("$name")
    return 1
}

summary() {
    local secs=$(( $(date +%s) - start ))
    if [ "${#failed[@]}" -eq 0 ]; then
        echo "run.sh: PASS (${passed[*]}) in ${secs}s"
        exit 0
    fi
    echo "run.sh: FAIL (failed: ${failed[*]}; passed: ${passed[*]:-none}) in ${secs}s"
    exit 1
}

step packages lk_ensure_packages || summary

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# Static checks: clang-format, cppcheck, clang-tidy (tests/lint.sh).
step lint bash tests/lint.sh build-lint
if step build lk_build build; then
    step ctest ctest --test-dir build --output-on-failure --no-tests=error
    # Three web nodes, a primary with a synchronous standby, PgBouncer and
    # the fake provider on network namespaces: storms, kills, a cut-off
    # node, failover (tests/cluster/run.sh; root only, else it skips).
    step cluster bash tests/cluster/run.sh build
fi
if step build-asan lk_build build-asan -DCMAKE_BUILD_TYPE=Debug -DLATCHKEY_SANITIZE=ON; then
    # The unit tests, and the programs behind lighttpd under load (asan.soak).
    step ctest-asan ctest --test-dir build-asan -L 'unit|asan' --output-on-failure --no-tests=error
fi
# libFuzzer targets (build-fuzz/, clang, ASan+UBSan): a fixed seed and number
# of runs each (the same mutations on every machine), two at a time.
step fuzz bash tests/fuzz/run.sh
summary
