// Latchkey's MCP test client: the official MCP TypeScript SDK's Client and
// StreamableHTTPClientTransport, with the bot key (Authorization: Bearer)
// and the instance (X-Instance-Id) sent on every request through
// requestInit.  Used as a module (connect) and from Python tests as a CLI:
//
//   node tests/mcp/client.mjs call URL KEY INSTANCE TOOL JSONARGS
//   node tests/mcp/client.mjs list URL KEY INSTANCE
//   node tests/mcp/client.mjs ping URL KEY INSTANCE
//
// KEY or INSTANCE "-" leaves that header out.  Prints one JSON object on
// stdout: {"ok": true, "result": ...} (exit 0), or {"ok": false, "error":
// {"code", "message", "data", "name"}} (exit 1: the server's JSON-RPC error,
// or the transport's, e.g. an HTTP status, with code null).  Exit 2: usage.
// Options (before the command): --header "Name: value" (repeatable),
// --protocol-version V (the version the client asks for in initialize),
// --timeout MS.
//
// The SDK comes from the build's mcp/node_modules (tests/mcp/npm-ci.sh):
// LATCHKEY_MCP_NODE_MODULES names it, else ../../build/mcp/node_modules
// and ./node_modules beside this file are tried.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function sdkRequire() {
  const dirs = [process.env.LATCHKEY_MCP_NODE_MODULES, path.join(here, '..', '..', 'build', 'mcp', 'node_modules'),
    path.join(here, 'node_modules')].filter(Boolean);
  const dir = dirs.find((d) => existsSync(path.join(d, '@modelcontextprotocol', 'sdk', 'package.json')));
  if (!dir) {
    throw new Error('@modelcontextprotocol/sdk not installed (tests/mcp/npm-ci.sh DIR; LATCHKEY_MCP_NODE_MODULES=DIR/node_modules)');
  }
  return createRequire(path.join(dir, 'anchor.js'));
}

const req = sdkRequire();
export const { Client } = req('@modelcontextprotocol/sdk/client/index.js');
export const { StreamableHTTPClientTransport, StreamableHTTPError } = req('@modelcontextprotocol/sdk/client/streamableHttp.js');
export const sdk = { require: req, version: req('@modelcontextprotocol/sdk/package.json').version };

// Connects to url as the bot with key for instance: {client, listTools, callTool, ping, close}.
export async function connect(url, key, instance, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (instance) headers['X-Instance-Id'] = instance;
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: 'latchkey-tests', version: '1.0.0' },
    { capabilities: { elicitation: { url: {} } } });
  if (opts.protocolVersion) {
    // The SDK asks for its newest version; a test may ask for another.
    const { LATEST_PROTOCOL_VERSION } = req('@modelcontextprotocol/sdk/types.js');
    const send = transport.send.bind(transport);
    transport.send = (msg, o) => send(msg.method === 'initialize' && msg.params?.protocolVersion === LATEST_PROTOCOL_VERSION
      ? { ...msg, params: { ...msg.params, protocolVersion: opts.protocolVersion } } : msg, o);
  }
  const ropts = opts.timeout ? { timeout: opts.timeout } : undefined;
  await client.connect(transport, ropts);
  return {
    client,
    transport,
    listTools: async () => (await client.listTools(undefined, ropts)).tools,
    callTool: (name, args) => client.callTool({ name, arguments: args ?? {} }, undefined, ropts),
    ping: () => client.ping(ropts),
    close: () => client.close(),
  };
}

// An error as JSON: a JSON-RPC error keeps its code and data.
export function errorJson(e) {
  const http = e instanceof StreamableHTTPError;
  const rpc = !http && typeof e?.code === 'number';
  const message = rpc && typeof e.message === 'string' ? e.message.replace(/^MCP error -?\d+: /, '') : String(e?.message ?? e);
  return { code: rpc ? e.code : null, message, data: e?.data ?? null, name: http ? 'StreamableHTTPError' : e?.name ?? 'Error',
    http_status: http ? e.code ?? null : null };
}

function parseArgs(argv) {
  const o = { headers: {} };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--header' && i + 1 < argv.length) {
      const [k, ...v] = argv[++i].split(':');
      o.headers[k.trim()] = v.join(':').trim();
    } else if (a === '--protocol-version' && i + 1 < argv.length) {
      o.protocolVersion = argv[++i];
    } else if (a === '--timeout' && i + 1 < argv.length) {
      o.timeout = Number(argv[++i]);
    } else {
      rest.push(a);
    }
  }
  return [o, rest];
}

async function main(argv) {
  const [opts, [cmd, url, key, instance, tool, json]] = parseArgs(argv);
  const arity = { call: 5, list: 3, ping: 3 };
  if (!(cmd in arity) || [url, key, instance, tool, json].slice(0, arity[cmd]).some((x) => x === undefined)) {
    process.stderr.write('usage: client.mjs [--header "N: v"] [--protocol-version V] [--timeout MS] ' +
      '(call URL KEY INSTANCE TOOL JSONARGS | list URL KEY INSTANCE | ping URL KEY INSTANCE)\n');
    return 2;
  }
  let args;
  if (cmd === 'call') {
    try {
      args = JSON.parse(json);
    } catch (e) {
      process.stderr.write(`JSONARGS is not JSON: ${e.message}\n`);
      return 2;
    }
  }
  let conn;
  let out;
  try {
    conn = await connect(url, key === '-' ? null : key, instance === '-' ? null : instance, opts);
    const result = cmd === 'call' ? await conn.callTool(tool, args) : cmd === 'list' ? await conn.listTools() : await conn.ping();
    out = { ok: true, result, protocolVersion: conn.transport.protocolVersion ?? null };
  } catch (e) {
    out = { ok: false, error: errorJson(e) };
  } finally {
    await conn?.close().catch(() => {});
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return out.ok ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((rc) => { process.exitCode = rc; }, (e) => {
    process.stdout.write(`${JSON.stringify({ ok: false, error: errorJson(e) })}\n`);
    process.exitCode = 1;
  });
}
