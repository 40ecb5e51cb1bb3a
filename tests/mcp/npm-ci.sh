#!/bin/sh
# Installs tests/mcp's pinned dependencies (the official MCP TypeScript SDK)
# into DIR (the build's mcp/ directory) with tests/npm-ci.sh (which checks
# the lock file); then checks that the SDK's client and server classes
# import at the pinned version.
#   tests/mcp/npm-ci.sh DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?target directory}
sh "$here/../npm-ci.sh" "$here" "$dir"
cd "$dir"
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
