# shellcheck shell=bash
# Shared by tests/run.sh and deploy/demo.sh: sourced, not executed (bash).
#
#   lk_root                  repository root (absolute)
#   lk_ensure_packages       install what deploy/packages.txt lists and is
#                            missing (root: apt-get; otherwise: list + fail)
#   lk_build DIR [ARGS...]   cmake configure + build into DIR (Release unless
#                            ARGS say otherwise); LK_JOBS sets -j (default 2)

lk_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

lk_log() { printf '==> %s\n' "$*" >&2; }

lk_packages() {
    sed -e 's/#.*//' -e 's/[[:space:]]//g' "$lk_root/deploy/packages.txt" | grep -v '^$'
}

# Names that installed packages provide (Provides:), e.g. "npm" from
# NodeSource's nodejs, which conflicts with Debian's npm: such a name counts
# as installed, and apt-get is not asked to replace the package.
lk_provided_names() {
    dpkg-query -W -f='${Status}\t${Provides}\n' 2>/dev/null |
        awk -F '\t' '$1 == "install ok installed" && $2 != "" { print $2 }' |
        tr ',' '\n' | sed -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' | grep -v '^$' | sort -u
}

lk_missing_packages() {
    local p provided
    provided="$(lk_provided_names)"
    for p in $(lk_packages); do
        if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ] &&
            ! printf '%s\n' "$provided" | grep -qxF "$p"; then
            printf '%s\n' "$p"
        fi
    done
}

lk_ensure_packages() {
    local missing rc=0 made_policy=0
    missing="$(lk_missing_packages | tr '\n' ' ')"
    missing="${missing% }"
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        lk_log "missing packages: $missing"
        lk_log "install them as root: apt-get install $missing"
        return 1
    fi
    lk_log "installing: $missing"
    # Keep the packages' services (postgresql, lighttpd, apache2, nginx) from starting.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086 # word splitting of the package list is wanted
    apt-get update -q && apt-get install -y -q --no-install-recommends $missing || rc=$?
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    if [ "$rc" != 0 ]; then
        lk_log "package installation failed (rc $rc)"
        return "$rc"
    fi
    missing="$(lk_missing_packages | tr '\n' ' ')"
    if [ -n "$missing" ]; then
        lk_log "still missing after apt-get: $missing"
        return 1
    fi
}

lk_build() {
    local dir="$1"; shift
    lk_log "configure $dir $*"
    cmake -S "$lk_root" -B "$lk_root/$dir" -DCMAKE_BUILD_TYPE=Release "$@" &&
        lk_log "build $dir" &&
        cmake --build "$lk_root/$dir" -j"${LK_JOBS:-2}"
}
