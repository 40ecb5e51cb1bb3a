#!/usr/bin/env node
/*
 * Latchkey's browser flow in a real browser: Debian's Chromium
 * (/usr/bin/chromium, never a downloaded one) driven by playwright-core.
 *
 *   STACK_ENV=DIR/stack.env node tests/browser/flow.test.js
 *
 * The stack comes from tests/stack.py (CTest fixture "stack"); its env file
 * is $STACK_ENV (default REPO/var/stack.env).  Screenshots go to
 * $LK_SCREENSHOT_DIR (default REPO/var/screenshots): CI artifacts, not in git.
 *
 * Why the flow really crosses sites.  Latchkey runs at
 * http://127.0.0.1:LPORT and the profiles made here send the browser to the
 * fake provider as http://localhost:PPORT (same process as PROVIDER_URL,
 * other host name).  Latchkey accepts plain http only for loopback hosts
 * (src/url.c, lk_host_is_loopback: localhost, 127.x, ::1), so a made-up
 * name such as provider.test cannot be used; but a site (for SameSite) is
 * scheme + registrable domain, and for an IP address the address itself:
 * "127.0.0.1" and "localhost" are two different sites.  So the provider's
 * consent page is cross-site, and the provider's 302 back to
 * /callback/{profile} is a cross-site top-level navigation: the flow cookie
 * (SameSite=Lax) must be sent, a SameSite=Strict cookie must not.  The test
 * proves that on the callback request itself: it plants two probe cookies
 * on 127.0.0.1 (one Lax, one Strict) and checks the Cookie header Chromium
 * sent (the Lax probe and the flow cookie present, the Strict probe absent,
 * Sec-Fetch-Site: cross-site).  Chromium's --host-resolver-rules pins
 * "localhost" to 127.0.0.1, where the fake listens (not ::1).
 *
 * Cases: (1) approve: Latchkey's "You're all set" page (desktop and phone
 * screenshots), the connection in PostgreSQL; (2) approve with a
 * redirect_url (a page this test serves): the bot's page gets
 * status=success&profile=…&instance_id=…; (3) deny: the "You declined
 * access" page and no connection.
 */
'use strict';

const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const { chromium } = require('playwright-core');

const REPO = path.resolve(__dirname, '..', '..');
const CHROMIUM = process.env.LK_CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.LK_SCREENSHOT_DIR || path.join(REPO, 'var', 'screenshots');
const PROVIDER_HOST = 'localhost'; // the provider's name as the browser sees it

// ------------------------------------------------------------------ stack env

/* KEY=value lines as written by tests/stack.py (values quoted by shlex.quote). */
function parseEnvFile(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = '';
    const s = m[2];
    for (let i = 0; i < s.length; i++) {
      const c = s[i];
      if (c === "'") {
        const j = s.indexOf("'", i + 1);
        if (j < 0) throw new Error('unbalanced quote in ' + line);
        v += s.slice(i + 1, j);
        i = j;
      } else if (c === '"') {
        const j = s.indexOf('"', i + 1);
        if (j < 0) throw new Error('unbalanced quote in ' + line);
        v += s.slice(i + 1, j);
        i = j;
      } else if (c === '\\' && i + 1 < s.length) {
        v += s[++i];
      } else {
        v += c;
      }
    }
    out[m[1]] = v;
  }
  return out;
}

const envPath = process.env.STACK_ENV || path.join(REPO, 'var', 'stack.env');
let E;
try {
  E = parseEnvFile(fs.readFileSync(envPath, 'utf8'));
} catch (e) {
  console.error(`no running stack: cannot read ${envPath} (${e.message}); start one with ` +
    'tests/stack.py up, or set STACK_ENV');
  process.exit(1);
}
const LATCHKEY_URL = E.LATCHKEY_URL; // http://127.0.0.1:LPORT/latchkey
const PROVIDER_URL = E.PROVIDER_URL; // http://127.0.0.1:PPORT (server-side calls)
const PROVIDER_BROWSER_URL = `http://${PROVIDER_HOST}:${E.PROVIDER_PORT}`;

// ------------------------------------------------------------------ helpers

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lk-browser-'));
let counter = 0;

function unique(prefix) {
  return `${prefix}-${process.pid}-${++counter}-${crypto.randomBytes(3).toString('hex')}`;
}

function cli(...args) {
  const res = childProcess.spawnSync(path.join(E.LATCHKEY_BIN, 'latchkey'), args, {
    env: { ...process.env, LATCHKEY_CONFIG: E.LATCHKEY_CONFIG }, encoding: 'utf8', timeout: 60000,
  });
  if (res.status !== 0) {
    throw new Error(`latchkey ${args.join(' ')}: rc ${res.status}\n${res.stdout}${res.stderr}`);
  }
  return res.stdout;
}

/* psql -At against the stack's database; params become psql variables p1, p2, ... */
function sql(query, ...params) {
  const args = ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-F', '\t'];
  params.forEach((p, i) => args.push('-v', `p${i + 1}=${p}`));
  const res = childProcess.spawnSync(path.join(E.PG_BIN, 'psql'), args, {
    input: query, encoding: 'utf8',
    env: { ...process.env, PGHOST: E.PGHOST, PGPORT: E.PGPORT, PGDATABASE: E.PGDATABASE,
      PGUSER: E.PGUSER },
  });
  if (res.status !== 0) throw new Error(`psql failed: ${res.stderr}\nquery: ${query}`);
  return res.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

function request(method, url, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const h = { ...headers };
    if (data) { h['Content-Type'] = 'application/json'; h['Content-Length'] = data.length; }
    const req = http.request(url, { method, headers: h, timeout: 30000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = text ? JSON.parse(text) : null; } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timeout`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function fake(method, p, body) {
  const r = await request(method, PROVIDER_URL + p, { body });
  assert.ok(r.status < 400, `fake ${method} ${p} -> ${r.status} ${r.text.slice(0, 300)}`);
  return r.json;
}

/* A fresh atlassian-confluence profile whose authorization URL names the
 * provider as the browser must see it (another site); the server-side URLs
 * (token, resources) stay on PROVIDER_URL.  Its client is registered at
 * the fake and an API key is made for it: the bot. */
async function makeProfile(allowRedirect = []) {
  const name = unique('pb');
  const clientId = 'lk-browser-client-' + crypto.randomBytes(6).toString('hex');
  const secret = 'lk-browser-secret-' + crypto.randomBytes(16).toString('hex');
  const secretFile = path.join(tmp, name + '.secret');
  fs.writeFileSync(secretFile, secret + '\n', { mode: 0o600 });
  const callback = `${LATCHKEY_URL}/callback/${name}`;
  const args = ['profile', 'add', name, '--template', 'atlassian-confluence',
    '--client-id', clientId, '--client-secret-file', secretFile, '--callback-url', callback,
    '--authorization-url', PROVIDER_BROWSER_URL + '/authorize',
    '--token-url', PROVIDER_URL + '/oauth/token',
    '--resources-url', PROVIDER_URL + '/oauth/token/accessible-resources',
    '--api-base-url', PROVIDER_URL + '/ex/confluence/{cloud_id}'];
  for (const u of allowRedirect) args.push('--allow-redirect', u);
  cli(...args);
  await fake('POST', '/_fake/clients', { client_id: clientId, client_secret: secret,
    redirect_uris: [callback] });
  const key = cli('key', 'create', '--name', unique('kb'), '--profiles', name).trim();
  assert.match(key, /^lk_/);
  return { name, clientId, key, callback };
}

/* The bot's POST /authorize/{profile}: the link it hands to its user. */
async function newLink(profile, fields = {}) {
  const instanceId = unique('user');
  const r = await request('POST', `${LATCHKEY_URL}/authorize/${profile.name}`, {
    headers: { Authorization: 'Bearer ' + profile.key }, body: { instance_id: instanceId, ...fields },
  });
  assert.equal(r.status, 201, r.text);
  const link = r.json.authorization_url;
  assert.ok(link.startsWith(LATCHKEY_URL + '/authorize/'), link);
  return { link, instanceId };
}

function connection(profile, instanceId) {
  return sql("SELECT c.status, c.metadata->>'site_name', c.metadata->>'site_url', " +
    'c.access_token IS NOT NULL, c.refresh_token IS NOT NULL FROM connections c ' +
    "JOIN profiles p ON p.id = c.profile_id WHERE p.name = :'p1' AND c.instance_id = :'p2'",
  profile.name, instanceId);
}

/* A stand-in for the bot's own "done" page, where redirect_url points. */
function botPage() {
  const hits = [];
  const server = http.createServer((req, res) => {
    hits.push({ url: req.url, headers: req.headers });
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    const esc = (x) => x.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    const params = [...new URL(req.url, 'http://bot').searchParams]
      .map(([k, v]) => `<li><code>${esc(k)}</code> = <code>${esc(v)}</code></li>`).join('');
    res.end('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Example bot</title>' +
      '<meta name="viewport" content="width=device-width,initial-scale=1"></head>' +
      '<body style="font:16px/1.5 sans-serif;margin:2rem"><h1>Example bot</h1>' +
      '<p id="done">Back at the bot.</p><p>Latchkey sent these parameters:</p>' +
      `<ul>${params}</ul></body></html>\n`);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, hits, port: server.address().port }));
  });
}

// ------------------------------------------------------------------ browser

let browser;

async function launch() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium package (deploy/packages.txt)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // playwright-core makes a fresh --user-data-dir for every launch (and
    // removes it at close); passing one here is refused by it.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-default-apps', '--disable-extensions',
      // the closed network: no DNS at all, and the provider's name on loopback
      `--host-resolver-rules=MAP ${PROVIDER_HOST} 127.0.0.1`],
    timeout: 60000,
  });
}

/* A fresh context (cookie jar) with the SameSite probes planted on
 * Latchkey's host, and a recorder of every request and CSP complaint. */
async function newPage(viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const host = new URL(LATCHKEY_URL).hostname;
  await context.addCookies([
    { name: 'probe_strict', value: 's', domain: host, path: '/', sameSite: 'Strict' },
    { name: 'probe_lax', value: 'l', domain: host, path: '/', sameSite: 'Lax' },
  ]);
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const requests = [];
  const problems = [];
  page.on('request', (req) => { if (req.isNavigationRequest()) requests.push(req); });
  page.on('console', (msg) => {
    if (/Content.Security.Policy|Refused to/i.test(msg.text())) problems.push(msg.text());
  });
  page.on('pageerror', (err) => problems.push(String(err)));
  return { context, page, requests, problems };
}

async function headersOf(requests, pred) {
  const req = requests.find((r) => pred(new URL(r.url())));
  assert.ok(req, 'no such navigation among ' + requests.map((r) => r.url()).join(', '));
  return req.allHeaders(); // with Cookie and Sec-Fetch-* as sent
}

function cookieNames(header) {
  return (header || '').split(';').map((c) => c.trim().split('=')[0]).filter(Boolean);
}

/* Link → provider consent page (other site) → click → back to Latchkey. */
async function walk(t, profile, link, button) {
  const resp = await t.page.goto(link);
  assert.ok(resp, 'no response for the link');
  await t.page.waitForURL((u) => u.hostname === PROVIDER_HOST && u.pathname === '/authorize');
  assert.equal(new URL(t.page.url()).port, String(E.PROVIDER_PORT));
  // the flow cookie Latchkey set: HttpOnly, SameSite=Lax, on the callback path
  const flow = (await t.context.cookies(profile.callback))
    .filter((c) => c.name.startsWith('lkf_'));
  assert.equal(flow.length, 1, JSON.stringify(flow));
  assert.equal(flow[0].sameSite, 'Lax');
  assert.equal(flow[0].httpOnly, true);
  await t.page.locator('#' + button).click();
  await t.page.waitForURL((u) => u.hostname !== PROVIDER_HOST);
  await t.page.waitForLoadState('load');
  return flow[0].name;
}

/* The callback request was cross-site and carried Lax cookies only. */
async function assertCrossSite(t, flowCookie) {
  const cb = await headersOf(t.requests, (u) => u.pathname.includes('/callback/'));
  const names = cookieNames(cb.cookie);
  assert.equal(cb['sec-fetch-site'], 'cross-site', JSON.stringify(cb));
  assert.ok(names.includes(flowCookie), 'flow cookie not sent: ' + cb.cookie);
  assert.ok(names.includes('probe_lax'), 'Lax probe not sent: ' + cb.cookie);
  assert.ok(!names.includes('probe_strict'), 'Strict probe sent, so not cross-site: ' + cb.cookie);
  // control: the same Strict probe does go with the link, opened directly
  const first = await headersOf(t.requests, (u) => u.pathname.includes('/authorize/'));
  assert.ok(cookieNames(first.cookie).includes('probe_strict'), 'control: ' + first.cookie);
}

/* The page is Latchkey's, styled (so the CSP style hash matched), with no
 * CSP complaints and the headers SPEC §4 asks for. */
async function assertProductPage(t, resp) {
  const h = await resp.allHeaders();
  assert.match(h['content-security-policy'] || '', /default-src 'none'/);
  assert.equal(h['cache-control'], 'no-store');
  assert.equal(h['referrer-policy'], 'no-referrer');
  const bg = await t.page.evaluate(() => getComputedStyle(document.querySelector('main')).backgroundColor);
  assert.equal(bg, 'rgb(255, 255, 255)', 'the page style did not apply (CSP hash?)');
  assert.deepEqual(t.problems, []);
  // nothing wider than a phone's screen
  const overflow = await t.page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, 'the page scrolls sideways');
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, name);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot: ${file}`);
}

/* The same page at a phone's size (390x844 CSS pixels): resized in place,
 * since the page after a flow cannot be loaded again (the flow is used up). */
async function phoneShot(t, name) {
  await t.page.setViewportSize({ width: 390, height: 844 });
  const overflow = await t.page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, 'the page scrolls sideways on a phone');
  await shot(t.page, name);
}

// ------------------------------------------------------------------ cases

const cases = [];
function test(name, fn) { cases.push({ name, fn }); }

test('approve: the success page, and the connection is stored', async () => {
  const profile = await makeProfile();
  const { link, instanceId } = await newLink(profile);
  const t = await newPage();
  try {
    let cbResp;
    t.page.on('response', (r) => { if (r.url().includes('/callback/')) cbResp = r; });
    const flowCookie = await walk(t, profile, link, 'approve');
    assert.equal(new URL(t.page.url()).origin, new URL(LATCHKEY_URL).origin);
    assert.ok(new URL(t.page.url()).pathname.startsWith(`/latchkey/callback/${profile.name}`));
    assert.equal(cbResp.status(), 200);
    await assertCrossSite(t, flowCookie);
    await assertProductPage(t, cbResp);

    assert.match(await t.page.title(), /Connected/);
    const h1 = await t.page.locator('h1').innerText();
    assert.equal(h1.replace('\u2019', "'"), "You're all set");
    const text = await t.page.locator('main').innerText();
    assert.match(text, /Atlassian Confluence/, 'what was connected: ' + text);
    assert.match(text, /acme/, 'which site: ' + text);
    assert.match(text, /close this (window|tab)/i, 'what to do next: ' + text);
    // the flow cookie was cleared by the callback
    const left = (await t.context.cookies(profile.callback))
      .filter((c) => c.name === flowCookie);
    assert.deepEqual(left, []);
    await shot(t.page, 'success.png');
    await phoneShot(t, 'success-phone.png');
  } finally {
    await t.context.close();
  }
  const rows = connection(profile, instanceId);
  assert.equal(rows.length, 1, 'connection rows: ' + JSON.stringify(rows));
  assert.deepEqual(rows[0], ['active', 'acme', 'https://acme.atlassian.net', 't', 't']);
});

test('approve with redirect_url: back to the bot with status=success', async () => {
  const bot = await botPage();
  try {
    const done = `http://127.0.0.1:${bot.port}/done`;
    const profile = await makeProfile([done]);
    const { link, instanceId } = await newLink(profile, { redirect_url: done + '?from=latchkey' });
    const t = await newPage();
    try {
      const flowCookie = await walk(t, profile, link, 'approve');
      await t.page.waitForURL((u) => u.port === String(bot.port));
      const u = new URL(t.page.url());
      assert.equal(u.pathname, '/done');
      assert.equal(u.searchParams.get('from'), 'latchkey');
      assert.equal(u.searchParams.get('status'), 'success');
      assert.equal(u.searchParams.get('profile'), profile.name);
      assert.equal(u.searchParams.get('instance_id'), instanceId);
      assert.equal(u.searchParams.get('error'), null);
      assert.equal(await t.page.locator('#done').innerText(), 'Back at the bot.');
      await assertCrossSite(t, flowCookie);
      // Referrer-Policy: no-referrer on Latchkey's redirect
      const hits = bot.hits.filter((h) => h.url.startsWith('/done')); // not /favicon.ico
      assert.equal(hits.length, 1, JSON.stringify(bot.hits.map((h) => h.url)));
      assert.equal(hits[0].headers.referer, undefined);
      await shot(t.page, 'redirect.png');
    } finally {
      await t.context.close();
    }
    assert.equal(connection(profile, instanceId).length, 1);
  } finally {
    bot.server.close();
  }
});

test('deny: the declined page, and nothing is stored', async () => {
  const profile = await makeProfile();
  const { link, instanceId } = await newLink(profile);
  const t = await newPage();
  try {
    let cbResp;
    t.page.on('response', (r) => { if (r.url().includes('/callback/')) cbResp = r; });
    const flowCookie = await walk(t, profile, link, 'deny');
    assert.ok(new URL(t.page.url()).pathname.startsWith(`/latchkey/callback/${profile.name}`));
    assert.equal(cbResp.status(), 403);
    await assertCrossSite(t, flowCookie);
    await assertProductPage(t, cbResp);
    assert.match(await t.page.title(), /declined/i);
    assert.equal(await t.page.locator('h1').innerText(), 'You declined access');
    const text = await t.page.locator('main').innerText();
    assert.match(text, /nothing was connected/i, text);
    assert.match(text, /new link/, 'what to do next: ' + text);
    await shot(t.page, 'denied.png');
    await phoneShot(t, 'denied-phone.png');
  } finally {
    await t.context.close();
  }
  assert.equal(connection(profile, instanceId).length, 0);
});

// ------------------------------------------------------------------ runner

async function main() {
  const t0 = Date.now();
  let failed = 0;
  try {
    browser = await launch();
    console.log(`chromium ${browser.version()} (${CHROMIUM}); latchkey ${LATCHKEY_URL}; ` +
      `provider as ${PROVIDER_BROWSER_URL}`);
    for (const c of cases) {
      const t = Date.now();
      try {
        await c.fn();
        console.log(`ok - ${c.name} (${Date.now() - t} ms)`);
      } catch (e) {
        failed++;
        console.log(`not ok - ${c.name} (${Date.now() - t} ms)\n${e.stack || e}`);
      }
    }
  } finally {
    if (browser) await browser.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`${cases.length - failed}/${cases.length} passed in ${Date.now() - t0} ms`);
  return failed ? 1 : 0;
}

main().then((rc) => { process.exitCode = rc; }, (e) => {
  console.error(e.stack || e);
  process.exitCode = 1;
});
