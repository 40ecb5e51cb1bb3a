#!/usr/bin/env bash
# The cluster suite (tests/cluster/suite.py): three web nodes, a PostgreSQL
# primary with a synchronous standby, PgBouncer and the fake provider on
# network namespaces of this machine, and the scenarios of SPEC §12.
#
#   bash tests/cluster/run.sh BUILD_DIR      (as root; BUILD_DIR/bin holds the programs)
#
# Prints "SKIP: ..." and exits 0 where namespaces cannot be made (not root).
# Everything the suite made (processes in its namespaces, the namespaces,
# the bridge, /tmp/lkcluster-*) is removed when it ends, however it ends:
# the suite tears down in a finally, this script once more on exit (a
# suite killed outright), and the next run before it starts. Figures go to
# BUILD_DIR/cluster-figures.json, logs to BUILD_DIR/cluster-logs/.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:?usage: tests/cluster/run.sh BUILD_DIR}"
build="$(cd "$build" && pwd)"
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: the cluster suite needs root (network namespaces)"
    exit 0
fi
trap 'python3 "$here/suite.py" cleanup' EXIT
suite=
trap '[ -n "$suite" ] && kill -TERM "$suite" 2>/dev/null; wait; exit 143' TERM INT HUP
rm -rf "$build/cluster-logs"
python3 "$here/suite.py" --bin "$build/bin" --source "$here/../.." \
    --figures "$build/cluster-figures.json" --logs "$build/cluster-logs" &
suite=$!
wait "$suite"
rc=$?
exit "$rc"
