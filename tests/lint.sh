#!/usr/bin/env bash
# Static checks of the C sources, all of which must be clean:
#   clang-format --dry-run --Werror   the committed .clang-format
#   cppcheck                          warning, style, performance, portability
#   clang-tidy                        the committed .clang-tidy (bugprone, cert,
#                                     clang-analyzer), warnings are errors
# Usage: tests/lint.sh [BUILD_DIR]   (a compile database is made there)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
build="${1:-build-lint}"
passed=0
failed=0
check() {
    local name="$1"; shift
    if "$@"; then
        echo "lint: $name clean"
        passed=$((passed + 1))
    else
        echo "lint: $name FAILED"
        failed=$((failed + 1))
    fi
}

mapfile -t c_files < <(git ls-files -- 'src/*.c' 'src/*.h' 'src/cli/*.c' 'src/cli/*.h' 'cgi-bin/*.c' \
    'tests/unit/*.c' 'tests/fuzz/*.c' 'tests/fuzz/*.h' 'bench/*.c' 2>/dev/null)
if [ "${#c_files[@]}" -eq 0 ]; then
    mapfile -t c_files < <(find src cgi-bin tests/unit tests/fuzz bench -name '*.[ch]' | sort)
fi
mapfile -t lib_files < <(printf '%s\n' "${c_files[@]}" | grep -E '^(src|cgi-bin)/.*\.c$')

check clang-format clang-format --dry-run --Werror "${c_files[@]}"

check cppcheck cppcheck --enable=warning,style,performance,portability --std=c11 --quiet \
    --inline-suppr --library=tests/lint/cppcheck.cfg -I src --suppress=missingIncludeSystem \
    --error-exitcode=1 "${lib_files[@]}"

tidy() {
    cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
        -DLATCHKEY_TESTS=OFF >/dev/null || return 1
    local out
    out="$(clang-tidy -p "$build" --quiet "${lib_files[@]}" 2>&1)"
    local rc=$?
    # clang-tidy counts warnings in headers it then hides: show only findings.
    printf '%s\n' "$out" | grep -E '(warning|error):' || true
    [ "$rc" -eq 0 ] && ! printf '%s\n' "$out" | grep -qE '(warning|error):'
}
check clang-tidy tidy

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
