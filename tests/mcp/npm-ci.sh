#!/bin/sh
# Installs tests/mcp's pinned dependencies (the official MCP TypeScript SDK)
# into DIR (the build's mcp/ directory) with `npm ci`, after checking that
# the lock file fetches nothing from anywhere but the npm registry, with
# integrity; then checks that the SDK's client and server classes import.
#   tests/mcp/npm-ci.sh DIR
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
npm_config_update_notifier=false npm ci --no-audit --no-fund --ignore-scripts --prefer-offline
node --input-type=module -e '
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { readFileSync } from "node:fs";
const v = JSON.parse(readFileSync("node_modules/@modelcontextprotocol/sdk/package.json", "utf8")).version;
const want = JSON.parse(readFileSync("package.json", "utf8")).dependencies["@modelcontextprotocol/sdk"];
if (v !== want || ![Client, StreamableHTTPClientTransport, McpServer, StreamableHTTPServerTransport].every((c) => typeof c === "function")) {
  console.error("FAIL: @modelcontextprotocol/sdk " + v + " (want " + want + ") lacks the client or server classes");
  process.exit(1);
}
console.log("@modelcontextprotocol/sdk " + v + ": Client, StreamableHTTPClientTransport, McpServer, StreamableHTTPServerTransport");
'
