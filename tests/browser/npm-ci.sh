#!/bin/sh
# Installs tests/browser's pinned dependencies (playwright-core) into DIR
# (the build's browser/ directory): tests/npm-ci.sh does the checks.
#   tests/browser/npm-ci.sh DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec sh "$here/../npm-ci.sh" "$here" "${1:?target directory}"
