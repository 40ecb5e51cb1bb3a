// A webhook receiver for the tests: verifies every delivery with the
// Standard Webhooks reference library (standardwebhooks, from npm, pinned in
// package-lock.json), never with Latchkey's own code, and records what came.
//
//   node receiver.mjs          prints {"port": N} once listening (dual stack
//                              when the machine has IPv6, else 127.0.0.1)
//
// Any path but /_… is a hook. The tests drive it over HTTP:
//   POST /_ctl  {"path": "/h/x", "secrets": ["whsec_…"], "mode": "ok"|"slow"|"fail"|"hang"|"redirect"|"big"}
//               mode for that path from now on: ok answers 204, slow 204
//               after 2 s, fail 503,
//               hang never answers (the socket is dropped after 30 s),
//               redirect 302 to /_redirected (recorded there if followed),
//               big 200 with a 100 KB body
//   GET  /_log?path=/h/x   what arrived there: [{id, timestamp, signature,
//               body, verified: [one boolean per secret], mode, at}]
//   GET  /_trap            {"port", "conns"}: a second, bare TCP listener that
//               counts the connections made to it (and closes them): the
//               tests point refused addresses at it
// The library is found in LATCHKEY_WEBHOOKS_NODE_MODULES (the build's copy,
// installed by tests/webhooks/npm-ci.sh), else ../../build/webhooks/node_modules.
import { createRequire } from 'node:module';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = process.env.LATCHKEY_WEBHOOKS_NODE_MODULES || path.join(here, '..', '..', 'build', 'webhooks', 'node_modules');
const require = createRequire(path.join(path.resolve(modules), 'noop.js'));
const { Webhook } = require('standardwebhooks');

const hooks = new Map(); // path -> {secrets, mode, log}
let trapped = 0;
const trap = net.createServer((sock) => {
  trapped++;
  sock.destroy();
});

function hook(p) {
  if (!hooks.has(p)) hooks.set(p, { secrets: [], mode: 'ok', log: [] });
  return hooks.get(p);
}

// One boolean per secret: does the library accept the delivery with it?
function verify(secrets, body, headers) {
  return secrets.map((s) => {
    try {
      new Webhook(s).verify(body, headers);
      return true;
    } catch {
      return false;
    }
  });
}

function answer(res, status, obj) {
  const text = obj === undefined ? '' : JSON.stringify(obj);
  res.writeHead(status, obj === undefined ? {} : { 'Content-Type': 'application/json' });
  res.end(text);
}

function control(req, res, url, body) {
  if (url.pathname === '/_ctl') {
    const c = JSON.parse(body);
    const h = hook(c.path);
    if (c.secrets) h.secrets = c.secrets;
    if (c.mode) h.mode = c.mode;
    return answer(res, 200, { ok: true });
  }
  if (url.pathname === '/_log') return answer(res, 200, hook(url.searchParams.get('path')).log);
  if (url.pathname === '/_trap') return answer(res, 200, { port: trap.address().port, conns: trapped });
  if (url.pathname === '/_redirected') {
    hook('/_redirected').log.push({ at: Date.now() });
    return answer(res, 204);
  }
  return answer(res, 404, { error: 'no such control' });
}

function deliver(req, res, url, body) {
  const h = hook(url.pathname);
  h.log.push({
    id: req.headers['webhook-id'],
    timestamp: req.headers['webhook-timestamp'],
    signature: req.headers['webhook-signature'],
    contentType: req.headers['content-type'],
    body,
    verified: verify(h.secrets, body, req.headers),
    mode: h.mode,
    at: Date.now(),
  });
  if (h.mode === 'hang') {
    setTimeout(() => res.destroy(), 30000);
    return;
  }
  if (h.mode === 'slow') {
    setTimeout(() => answer(res, 204), 2000);
    return;
  }
  if (h.mode === 'fail') return answer(res, 503, { error: 'told to fail' });
  if (h.mode === 'big') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    return res.end('x'.repeat(100 * 1024));
  }
  if (h.mode === 'redirect') {
    res.writeHead(302, { Location: '/_redirected' });
    return res.end();
  }
  return answer(res, 204);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url, 'http://receiver');
    if (url.pathname.startsWith('/_')) control(req, res, url, body);
    else deliver(req, res, url, body);
  });
});
server.keepAliveTimeout = 60000;

function ready() {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
}
// Dual stack where the machine has IPv6, else IPv4 loopback alone.
function listen(srv, then) {
  srv.once('error', () => srv.listen(0, '127.0.0.1', then));
  srv.listen({ port: 0, host: '::', ipv6Only: false }, then);
}
listen(trap, () => listen(server, ready));
process.on('SIGTERM', () => process.exit(0));
