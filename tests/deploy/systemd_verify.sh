#!/usr/bin/env bash
# `systemd-analyze verify` on deploy/systemd/, every template instantiated
# for the six programs, with the install paths (/usr/lib/latchkey/cgi-bin,
# /usr/bin/latchkey) replaced by the build's, since verify insists that
# ExecStart= binaries exist.  Warnings (unknown keys, bad values) count as
# failures.  Works without systemd as PID 1 (containers): verify only loads
# the files.  Exit 77 (skipped) when systemd-analyze is not installed.
#
#   tests/deploy/systemd_verify.sh SOURCE_DIR BIN_DIR WORK_DIR
set -uo pipefail
src=${1:?source dir} bin=${2:?bin dir} work=${3:?work dir}
units_src="$src/deploy/systemd"

if ! command -v systemd-analyze >/dev/null; then
    echo "SKIP: systemd-analyze not found (Debian package systemd)"
    exit 77
fi
case "$bin" in *[[:space:]\|]*) echo "FAIL: build path must not hold blanks or '|': $bin"; exit 1;; esac
for p in latchkey authorize callback token refresh proxy mcp metrics; do
    [ -x "$bin/$p" ] || { echo "FAIL: $bin/$p not built"; exit 1; }
done

rm -rf "$work" && mkdir -p "$work/root/etc" || exit 1
cp "$units_src"/*.service "$units_src"/*.socket "$units_src"/*.timer "$work"/ || exit 1
sed -i -e "s|/usr/lib/latchkey/cgi-bin/|$bin/|g" -e "s|/usr/bin/latchkey|$bin/latchkey|g" \
    "$work"/*.service "$work"/*.socket "$work"/*.timer || exit 1
if grep -n '/usr/lib/latchkey\|/usr/bin/latchkey' "$work"/*.service; then
    echo "FAIL: install paths left after substitution"; exit 1
fi

units=()
for p in authorize callback token refresh proxy mcp metrics; do
    units+=("$work/latchkey-fcgi@$p.socket" "$work/latchkey-fcgi@$p.service")
done
units+=("$work/latchkey-sweep.service" "$work/latchkey-sweep.timer" "$work/latchkey-events.service")
rc=0
systemd-analyze --version | head -1
out=$(cd "$work" && SYSTEMD_LOG_LEVEL=info systemd-analyze verify --man=no "${units[@]}" 2>&1) || rc=$?
if [ "$rc" != 0 ] || [ -n "$out" ]; then
    printf '%s\n' "$out"
    echo "FAIL: systemd-analyze verify (rc $rc, output above)"
    exit 1
fi
echo "ok: systemd-analyze verify, ${#units[@]} units"

# The hardening the units promise (a unit that loses one fails here).
for f in "$work"/latchkey-fcgi@.service "$work"/latchkey-sweep.service; do
    for want in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
                PrivateDevices=yes ProtectKernelTunables=yes ProtectKernelModules=yes \
                ProtectKernelLogs=yes ProtectControlGroups=yes \
                'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' User=latchkey \
                ReadOnlyPaths=/etc/latchkey Environment=LATCHKEY_CONFIG=/etc/latchkey/latchkey.conf; do
        grep -qxF "$want" "$f" || { echo "FAIL: $(basename "$f") lacks $want"; exit 1; }
    done
done
for want in StandardInput=socket StandardOutput=journal; do
    grep -qxF "$want" "$work/latchkey-fcgi@.service" || { echo "FAIL: latchkey-fcgi@.service lacks $want"; exit 1; }
done
grep -qxF Accept=no "$work/latchkey-fcgi@.socket" || { echo "FAIL: socket lacks Accept=no"; exit 1; }
echo "ok: hardening keys present"

# The sysusers file, against an empty root (creates nothing on this machine).
if command -v systemd-sysusers >/dev/null; then
    out=$(systemd-sysusers --dry-run --root="$work/root" "$units_src/latchkey.sysusers" 2>&1) || {
        printf '%s\n' "$out"; echo "FAIL: systemd-sysusers --dry-run"; exit 1; }
    case "$out" in *"Creating user 'latchkey'"*) echo "ok: sysusers creates user latchkey";;
        *) printf '%s\n' "$out"; echo "FAIL: sysusers does not create latchkey"; exit 1;; esac
fi
rm -rf "$work"
