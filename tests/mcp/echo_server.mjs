// A throwaway MCP server built from the SDK's own McpServer and
// StreamableHTTPServerTransport (stateless, JSON answers), on loopback, to
// prove tests/mcp/client.mjs against the SDK itself (tests/mcp/test_client.py).
// Prints its port on stdout once listening; stops on SIGTERM or stdin EOF.
//   node tests/mcp/echo_server.mjs
// Tools: echo {text} (text and structuredContent), whoami (the request's
// Authorization and X-Instance-Id headers), consent (JSON-RPC -32042 with a
// URL elicitation), broken (isError: true).
import http from 'node:http';
import { sdk } from './client.mjs';

const { McpServer } = sdk.require('@modelcontextprotocol/sdk/server/mcp.js');
const { StreamableHTTPServerTransport } = sdk.require('@modelcontextprotocol/sdk/server/streamableHttp.js');
const { UrlElicitationRequiredError } = sdk.require('@modelcontextprotocol/sdk/types.js');
const { z } = sdk.require('zod');

const CONSENT_URL = 'http://127.0.0.1/authorize/consent-for-tests';

function server() {
  const s = new McpServer({ name: 'latchkey-echo', version: '1.0.0' });
  s.registerTool('echo', {
    title: 'Echo', description: 'Says the text back', inputSchema: { text: z.string() },
    outputSchema: { text: z.string(), length: z.number() }, annotations: { readOnlyHint: true },
  }, async ({ text }) => ({
    content: [{ type: 'text', text }], structuredContent: { text, length: text.length },
  }));
  s.registerTool('whoami', { description: 'The request headers that name the caller' }, async (extra) => {
    const h = extra.requestInfo?.headers ?? {};
    const who = { authorization: h.authorization ?? null, instance: h['x-instance-id'] ?? null };
    return { content: [{ type: 'text', text: JSON.stringify(who) }], structuredContent: who };
  });
  s.registerTool('consent', { description: 'Always needs consent' }, async () => {
    throw new UrlElicitationRequiredError([{ mode: 'url', elicitationId: 'el-1', url: CONSENT_URL,
      message: `Open ${CONSENT_URL} to connect` }], `Consent needed: open ${CONSENT_URL}`);
  });
  s.registerTool('broken', { description: 'A tool error' }, async () => ({
    content: [{ type: 'text', text: 'upstream said 500' }], isError: true,
  }));
  return s;
}

const httpServer = http.createServer(async (req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(405, { Allow: 'POST' }).end();
    return;
  }
  const chunks = [];
  for await (const c of req) chunks.push(c);
  let body;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    res.writeHead(400, { 'Content-Type': 'application/json' })
      .end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
    return;
  }
  const s = server();
  const t = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => { t.close(); s.close(); });
  await s.connect(t);
  await t.handleRequest(req, res, body);
});

httpServer.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${httpServer.address().port}\n`);
});
const stop = () => httpServer.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
