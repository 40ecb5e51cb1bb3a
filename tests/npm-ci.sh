#!/bin/sh
# Installs the pinned dependencies of a test client (tests/browser,
# tests/mcp) into DIR (the build's copy) with `npm ci`, after checking that
# the lock file fetches nothing from anywhere but the npm registry, with
# sha512 integrity. Scripts are off: nothing is downloaded but the packages
# (playwright-core never fetches a browser).
#   tests/npm-ci.sh SRC DIR      SRC: the folder with package.json and its lock
set -eu
src=$(cd "${1:?source directory}" && pwd)
dir=${2:?target directory}
lock="$src/package-lock.json"
bad=$(grep '"resolved"' "$lock" | grep -v '"resolved": "https://registry\.npmjs\.org/' || true)
if [ -n "$bad" ]; then
    echo "FAIL: package-lock.json fetches from elsewhere than registry.npmjs.org:" >&2
    echo "$bad" >&2
    exit 1
fi
if [ "$(grep -c '"resolved"' "$lock")" != "$(grep -c '"integrity": "sha512-' "$lock")" ]; then
    echo "FAIL: package-lock.json: a package without sha512 integrity" >&2
    exit 1
fi
mkdir -p "$dir"
cp "$src/package.json" "$lock" "$dir/"
cd "$dir"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm_config_update_notifier=false \
    npm ci --no-audit --no-fund --ignore-scripts --prefer-offline
