#!/bin/sh
# Installs tests/browser's pinned dependencies into DIR (the build's
# browser/ directory) with `npm ci`, after checking that the lock file
# fetches nothing from anywhere but the npm registry, with integrity.
# Never downloads a browser (playwright-core has no install script, and
# scripts are off anyway).
#   tests/browser/npm-ci.sh DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?target directory}
lock="$here/package-lock.json"
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
cp "$here/package.json" "$lock" "$dir/"
cd "$dir"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm_config_update_notifier=false \
    npm ci --no-audit --no-fund --ignore-scripts --prefer-offline
