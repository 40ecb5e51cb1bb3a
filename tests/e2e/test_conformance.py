"""End-to-end conformance of the shipped web-server configurations.

The same subset runs against whatever server the stack uses
(LATCHKEY_SERVER in the stack's env file: lighttpd, apache-fcgid,
apache-proxy-fcgi, apache-cgi or nginx; tests/stack.py --server): the
routes of SPEC §2 and the seed-form rewrite, GET /metrics (SPEC §11), the
Authorization header
reaching the programs, the browser flow, /token and /refresh, a refresh
storm, the proxy (raw path, 10 MB up and down, byte-exact, a body over the
cap refused while it arrives), and logs free of query strings and secrets
(on Apache also the log of Debian's stock virtual host, which the stack
serves Latchkey from).  The full suites (test_*.py) run on
lighttpd; this module runs there too.
"""

import collections
import hashlib
import http.client
import json
import os
import re
import socket
import threading
import time
import unittest
import urllib.parse

import lkflow as f
import lkstack as lk
import lktoken as t
from test_proxy import pattern_sha256, raw_request

REDIRECT = "https://bot.example.com/done"
STORM = 10
BIG = 10 * 1024 * 1024 + 7  # 10 MB and a bit: no size is a multiple of a buffer
P = None                     # a profile with the seed form allowed
IID = None                   # a connection of P made through the browser flow
CLOUD_ID = f.DEFAULT_SITE["id"]
MIB = 1024 * 1024


def setUpModule():
    global P, IID
    t.restore_fake()
    P = f.make_profile(allow_redirect=[REDIRECT], direct=True)
    IID = t.connect(P)


def tearDownModule():
    try:
        t.restore_fake()
    finally:
        f.cleanup()


def server():
    return lk.env().get("LATCHKEY_SERVER", "lighttpd")


def proxy_max_body():
    """The stack's cap on /proxy request bodies, the web server's and the
    programs' (proxy_max_body), from stack.env (stacks from before it said
    so used 64 MiB)."""
    return int(lk.env().get("PROXY_MAX_BODY") or 64 * MIB)


def unended_upload(chunked, wait=20.0):
    """POST /proxy with a body larger than the stack's cap that never ends:
    chunked (MiB chunks up to the cap and 4 MiB more, no last chunk) or
    with a Content-Length one byte over the cap (the body stops one byte
    short).  The answer is read while the body is being sent.  Returns
    (status or None, bytes of body sent when the answer came, seconds)."""
    cap = proxy_max_body()
    port = int(lk.WEB_PORT)
    head = ["POST /latchkey/proxy/%s/wiki/upload HTTP/1.1" % P.name,
            "Host: 127.0.0.1:%d" % port, "Authorization: Bearer " + P.key,
            "X-Instance-Id: " + IID, "Content-Type: application/octet-stream",
            "Transfer-Encoding: chunked" if chunked else "Content-Length: %d" % (cap + 1)]
    answer = bytearray()
    answered = threading.Event()
    sent = [0, None]  # bytes of body sent, and that count when the answer came
    s = socket.create_connection(("127.0.0.1", port), timeout=wait + 40)

    def read():
        try:
            while b"\r\n" not in answer:
                data = s.recv(65536)
                if not data:
                    break
                answer.extend(data)
        except OSError:
            pass
        sent[1] = sent[0]
        answered.set()

    t0 = time.monotonic()
    try:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        piece = b"x" * MIB
        frame = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
        limit = cap + 4 * MIB if chunked else cap
        try:
            while sent[0] + len(piece) <= limit and not answered.is_set():
                s.sendall(frame)
                sent[0] += len(piece)
        except OSError:  # the server stopped reading: it has decided
            pass
        got = answered.wait(wait)
    finally:
        s.close()
    if not got:
        return None, None, time.monotonic() - t0
    line = bytes(answer).split(b"\r\n", 1)[0].split()
    status = int(line[1]) if len(line) > 1 and line[1].isdigit() else None
    return status, sent[1], time.monotonic() - t0


def proxy(method, sub, iid=None, headers=None, body=None, key=None):
    hdrs = {"Authorization": "Bearer " + (key or P.key)}
    if iid is not False:
        hdrs["X-Instance-Id"] = iid or IID
    hdrs.update(headers or {})
    return lk.http(method, "/proxy/%s%s" % (P.name, sub), headers=hdrs, body=body, timeout=120)


class Base(t.TokenTestCase):
    def shortDescription(self):  # the server in every line of the report
        return "[%s] %s" % (server(), super().shortDescription() or self._testMethodName)


class RoutingTest(Base):
    """Each route reaches its own program; the seed form reaches authorize."""

    def test_each_route_reaches_its_program(self):
        # GET /{route}/{profile} with a key and nothing else: each program
        # answers in its own way (422 for the missing instance_id or
        # X-Instance-Id, 405, a page asking for the link or the state).
        # Through the server, the answer must be the one the program gives
        # when run directly as plain CGI (SPEC §1) -- and all six differ.
        seen = {}
        for route in ("authorize", "callback", "token", "refresh", "proxy", "mcp"):
            with self.subTest(route=route):
                uri = "/%s/%s" % (route, P.name)
                status, hdrs, body = t.cgi(route, "GET", uri, key=P.key)
                r = lk.http("GET", uri, headers=P.auth)
                self.assertEqual((r.status, r.headers.get("Allow"), r.body),
                                 (status, hdrs.get("allow"), body), r)
                seen[route] = (status, hdrs.get("allow"), body)
        self.assertEqual(len(set(seen.values())), 6, seen)

    def test_answers_before_the_body_is_read_arrive_whole(self):
        # 405, 401 and 422 are decided before a program reads the request
        # body.  The answer must still reach the client whole, whatever the
        # server does with the unread body (mod_cgid's socket resets when
        # a program exits without reading its input).
        body = json.dumps({"instance_id": IID, "pad": "x" * 30000})
        hdrs = {"Content-Type": "application/json"}
        for method, path, extra, status, code in (
                ("PUT", "/token/" + P.name, P.auth, 405, "method_not_allowed"),
                ("POST", "/refresh/" + P.name, {}, 401, "unauthorized"),
                ("POST", "/authorize/" + P.name, {}, 401, "unauthorized"),
                ("POST", "/mcp/" + P.name, {}, 401, "unauthorized"),
                ("PUT", "/mcp/" + P.name, P.auth, 405, "method_not_allowed"),
                ("PUT", "/proxy/%s/wiki/echo/x" % P.name, P.auth, 422, "validation_error")):
            with self.subTest(method=method, path=path):
                try:
                    r = lk.http(method, path, headers=dict(hdrs, **extra), body=body)
                except (OSError, ValueError, http.client.HTTPException) as e:  # cut short
                    self.fail("%s %s: the answer was cut off: %r" % (method, path, e))
                self.assertJsonError(r, status, code)

    def test_paths_beside_the_routes_are_404(self):
        for path in ("/tokenx/" + P.name, "/nothing/" + P.name, "/oauth/%s/authorizex" % P.name,
                     "/metricsx", "/metrics/" + P.name):
            with self.subTest(path=path):
                r = lk.http("GET", path + "?instance_id=u", headers=P.auth)
                self.assertEqual(r.status, 404, r)

    def test_seed_form_is_rewritten_onto_authorize(self):
        iid = lk.unique("seed")
        b = lk.Browser()
        r = b.get("/oauth/%s/authorize?%s" % (P.name, urllib.parse.urlencode(
            {"instance_id": iid, "scope": "a,b", "redirect_url": REDIRECT})))
        self.assertEqual(r.status, 302, r)
        loc = r.headers["Location"]
        self.assertTrue(loc.startswith(lk.PROVIDER_URL + "/authorize?"), loc)
        q = f.query(loc)
        f.remember(q["state"], *b.jar.values())
        self.assertEqual(q["scope"], "a b offline_access")  # the query string came along
        self.assertEqual(q["redirect_uri"], P.callback)
        cb = b.follow(f.consent(b, r))
        self.assertEqual(cb.status, 302, cb)
        self.assertEqual(cb.headers["Location"], REDIRECT + "?" + urllib.parse.urlencode(
            [("status", "success"), ("profile", P.name), ("instance_id", iid)]))
        self.assertEqual([c["status"] for c in f.connections(P, iid)], ["active"])
        # The seed form is GET only: the program (not the server) says so.
        r = lk.http("POST", "/oauth/%s/authorize?instance_id=%s" % (P.name, lk.unique("seed")))
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.headers["Allow"], "GET")


class AuthorizationHeaderTest(Base):
    """The web server hands Authorization to the programs (SPEC §8a)."""

    def test_key_reaches_every_bot_route(self):
        link, _iid = f.new_link(P)                        # POST /authorize: 201
        self.assertTrue(f.link_of(link))
        self.assertToken(t.get_token(P, IID))
        self.assertEqual(proxy("GET", "/wiki/echo/auth").status, 200)

    def test_missing_or_wrong_key_is_401(self):
        for hdrs in ({}, {"Authorization": "Bearer lk_" + "0" * 40}):
            for method, path, body in (("GET", "/token/%s?instance_id=%s" % (P.name, IID), None),
                                       ("POST", "/refresh/" + P.name, {"instance_id": IID}),
                                       ("POST", "/authorize/" + P.name, {"instance_id": "u"}),
                                       ("GET", "/proxy/%s/wiki/echo/x" % P.name, None),
                                       ("POST", "/mcp/" + P.name,
                                        {"jsonrpc": "2.0", "id": 1, "method": "ping"})):
                with self.subTest(method=method, path=path, key=bool(hdrs)):
                    r = lk.http(method, path, headers=dict(hdrs, **{"X-Instance-Id": IID}),
                                body=body)
                    self.assertJsonError(r, 401, "unauthorized")
                    self.assertTrue(r.headers["WWW-Authenticate"].startswith("Bearer"), r)


def mcp(msg, headers=None, key=True):
    hdrs = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if key:
        hdrs["Authorization"] = "Bearer " + P.key
    hdrs.update(headers or {})
    return lk.http("POST", "/mcp/" + P.name, headers=hdrs, body=msg)


class McpTest(Base):
    """POST /mcp/{profile} (SPEC §10) through the server: stateless
    Streamable HTTP, one JSON answer per request."""

    def test_get_and_delete_are_405(self):
        for method in ("GET", "DELETE"):
            with self.subTest(method=method):
                r = lk.http(method, "/mcp/" + P.name,
                            headers=dict(P.auth, Accept="text/event-stream"))
                self.assertJsonError(r, 405, "method_not_allowed")
                self.assertEqual(r.headers["Allow"], "POST")

    def test_no_key_is_401(self):
        r = mcp({"jsonrpc": "2.0", "id": 1, "method": "ping"}, key=False)
        self.assertJsonError(r, 401, "unauthorized")
        self.assertTrue(r.headers["WWW-Authenticate"].startswith("Bearer"), r)

    def test_initialize_then_a_notification(self):
        r = mcp({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                            "clientInfo": {"name": "conformance", "version": "1"}}},
                headers={"Origin": lk.MCP_ORIGIN})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["Content-Type"], "application/json")
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        self.assertIsNone(r.headers.get("Mcp-Session-Id"))
        res = r.json()["result"]
        self.assertEqual((res["protocolVersion"], res["serverInfo"]["name"]), ("2025-06-18", "latchkey"))
        r = mcp({"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers={"MCP-Protocol-Version": "2025-06-18", "X-Instance-Id": IID})
        self.assertEqual((r.status, r.body), (202, b""), r)
        r = mcp({"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                headers={"MCP-Protocol-Version": "2025-06-18", "X-Instance-Id": IID})
        self.assertEqual(r.status, 200, r)
        self.assertIsInstance(r.json()["result"]["tools"], list)

    def test_a_foreign_origin_is_403(self):
        r = mcp({"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={"Origin": "https://evil.example"})
        self.assertJsonError(r, 403, "forbidden")


class MetricsTest(Base):
    """GET /metrics (SPEC §11) through the server: the exposition text for
    a key made with --metrics, SPEC §7's errors for anyone else."""

    @classmethod
    def setUpClass(cls):
        _rc, out, _err = lk.cli("key", "create", "--name", lk.unique("metrics"), "--metrics")
        cls.key = out.strip()
        f.remember(cls.key)

    def test_scrape_with_a_metrics_key(self):
        r = lk.http("GET", "/metrics", headers={"Authorization": "Bearer " + self.key})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        self.assertIn("# TYPE latchkey_connections gauge\n", r.text)
        self.assertRegex(r.text, r'(?m)^latchkey_connections\{profile="%s",status="active"\} [1-9]' % P.name)
        self.assertIn("# TYPE latchkey_provider_request_duration_seconds histogram\n", r.text)

    def test_no_key_is_401_as_the_program_answers(self):
        status, hdrs, body = t.cgi("metrics", "GET", "/metrics")
        r = lk.http("GET", "/metrics")
        self.assertJsonError(r, 401, "unauthorized")
        self.assertTrue(r.headers["WWW-Authenticate"].startswith("Bearer"), r)
        self.assertEqual((r.status, r.body), (status, body))
        self.assertEqual(hdrs.get("www-authenticate"), r.headers["WWW-Authenticate"])

    def test_a_key_without_metrics_is_403(self):
        r = lk.http("GET", "/metrics", headers=P.auth)
        self.assertJsonError(r, 403, "forbidden")

    def test_post_is_405(self):
        r = lk.http("POST", "/metrics", headers={"Authorization": "Bearer " + self.key}, body={})
        self.assertJsonError(r, 405, "method_not_allowed")
        self.assertEqual(r.headers["Allow"], "GET, HEAD")


class BrowserFlowTest(Base):
    def test_link_consent_callback_stores_the_connection(self):
        link, iid = f.new_link(P)
        b = lk.Browser()
        r = f.start(b, link)
        self.assertTrue(r.headers["Location"].startswith(lk.PROVIDER_URL + "/authorize?"))
        self.assertEqual(len(r.set_cookies), 1, r)          # the flow cookie came through
        cb = b.follow(f.consent(b, r))
        f.remember_verifier()
        self.assertEqual(cb.status, 200, cb)
        self.assertEqual(cb.headers["Cache-Control"], "no-store")
        rows = f.connections(P, iid)
        self.assertEqual([(x["status"], x["metadata"]["cloud_id"]) for x in rows],
                         [("active", CLOUD_ID)])

    def test_refused_consent_ends_cleanly(self):
        link, iid = f.new_link(P, redirect_url=REDIRECT)
        b = lk.Browser()
        cb = f.complete(b, link, decision="deny")
        self.assertEqual(cb.status, 302, cb)
        self.assertEqual(f.query(cb.headers["Location"]).get("error"), "access_denied")
        self.assertEqual(f.connections(P, iid), [])


class TokenRefreshTest(Base):
    def test_token_then_forced_refresh(self):
        iid = t.connect(P)
        first = self.assertToken(t.get_token(P, iid))
        self.assertEqual(first["profile"], P.name)
        self.assertEqual(first["instance_id"], iid)
        t.expire(P, iid)
        lk.sql("UPDATE connections c SET last_refreshed_at = now() - interval '5 minutes' "
               "FROM profiles p WHERE p.id = c.profile_id AND p.name = :'p1' "
               "AND c.instance_id = :'p2'", P.name, iid)
        c0 = t.counters()
        second = self.assertToken(t.post_refresh(P, iid))
        self.assertNotEqual(second["access_token"], first["access_token"])
        self.assertEqual(t.counters()["token_refresh"] - c0["token_refresh"], 1)
        again = self.assertToken(t.get_token(P, iid))
        self.assertEqual(again["access_token"], second["access_token"])

    def test_refresh_storm_costs_one_provider_refresh(self):
        iid = t.connect(P)
        old = t.token_of(t.get_token(P, iid))
        t.expire(P, iid)
        before = t.row(P, iid)
        t.fault(kind="delay", delay=0.5, count=-1)
        c0 = t.counters()
        # Callers over the per-connection bound (SPEC §5) are told 503
        # refresh_in_progress with a Retry-After, and retry as bots do.
        calls = [lambda: t.retrying(lambda: t.get_token(P, iid)),
                 lambda: t.retrying(lambda: t.post_refresh(P, iid))] * (STORM // 2)
        results = t.concurrently(calls, timeout=90)
        c1 = t.counters()
        errors = [r for r in results if not isinstance(r, tuple) or r[0] != 200]
        self.assertEqual(errors, [], collections.Counter(
            getattr(r, "status", type(r).__name__) for r in errors))
        self.assertEqual(c1["token_refresh"] - c0["token_refresh"], 1, "provider refresh calls")
        self.assertEqual(c1["families_revoked_reuse"], c0["families_revoked_reuse"])
        tokens = {r.json()["access_token"] for r in results}
        self.assertEqual(len(tokens), 1, tokens)
        f.remember(*tokens)
        self.assertNotIn(old, tokens)
        after = t.row(P, iid)
        self.assertEqual(after["generation"], before["generation"] + 1)
        self.assertEqual(after["status"], "active")


class ProxyTest(Base):
    def test_get_passes_raw_path_query_and_token(self):
        sub = "/wiki/echo/a%2Fb/c%20d"
        r = proxy("GET", sub + "?x=1&y=%20z+q&empty=&x=2")
        self.assertEqual(r.status, 200, r)
        e = r.json()
        self.assertEqual(e["method"], "GET")
        self.assertEqual(e["raw_target"], "/ex/confluence/%s%s?x=1&y=%%20z+q&empty=&x=2"
                         % (CLOUD_ID, sub))
        current = self.assertToken(t.get_token(P, IID))["access_token"]
        self.assertEqual(e["headers"]["authorization"], "Bearer " + current)
        self.assertNotIn(P.key, json.dumps(e))

    def test_10mb_download_is_byte_exact(self):
        r = proxy("GET", "/wiki/download/%d" % BIG)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.body), BIG)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), pattern_sha256(BIG))

    def test_10mb_upload_is_byte_exact(self):
        data = os.urandom(BIG)
        r = proxy("PUT", "/wiki/upload", body=data,
                  headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    def test_10mb_chunked_upload_is_byte_exact(self):
        # No Content-Length: the server streams (or collects) a chunked body.
        chunks = [os.urandom(65536 + 17 * i) for i in range(150)]
        data = b"".join(chunks)
        self.assertGreater(len(data), 10 * 1000 * 1000)
        st, _hdrs, body = raw_request(
            "POST", "/latchkey/proxy/%s/wiki/upload" % P.name,
            {"Authorization": "Bearer " + P.key, "X-Instance-Id": IID,
             "Content-Type": "application/octet-stream"}, chunks, encode_chunked=True,
            timeout=120)
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(json.loads(body), {"bytes": len(data),
                                            "sha256": hashlib.sha256(data).hexdigest()})

    def test_body_over_the_cap_is_refused_before_it_ends(self):
        # The server caps /proxy bodies at proxy_max_body: a larger body,
        # chunked or announced, earns 413 while it is still arriving (the
        # body below never ends), rather than being spooled to the end.
        for chunked in (True, False):
            with self.subTest(chunked=chunked):
                status, sent, secs = unended_upload(chunked)
                self.assertIsNotNone(sent, "no answer while the body was still arriving: "
                                     "nothing caps it, all of it is awaited")
                self.assertEqual(status, 413, "answer after %s bytes, %.1fs" % (sent, secs))


class ZLogTest(Base):
    """Last (classes run in name order): everything above is in the logs."""

    def test_access_log_has_paths_without_query_strings(self):
        f.settle_logs()
        with open(os.path.join(lk.STACK_DIR, "access.log"), errors="replace") as fh:
            lines = [x for x in fh if "/latchkey/" in x]
        self.assertTrue(any("/latchkey/callback/" + P.name in x for x in lines), lines[-5:])
        self.assertEqual([x for x in lines if "?" in x], [])

    def test_no_secret_in_logs_or_database(self):
        f.check_no_leaks(self, P.key_name)

    def test_stock_debian_vhost_logs_no_link_code_or_state(self):
        # Apache stacks serve Latchkey from Debian's stock default virtual
        # host (tests/stack.py), whose "CustomLog ... combined" logs the
        # request line and the Referer.  After the browser flows above and
        # a link, a code and a state of our own (the state also in a
        # Referer, as a provider's consent page sends it), none may be in
        # that log or the other stock ones; the rest of the site is still
        # logged as the stock format does.
        if not server().startswith("apache-"):
            self.skipTest("Debian's stock virtual host: Apache stacks only")
        base = "http://127.0.0.1:%d" % int(lk.WEB_PORT)
        marks = {k: lk.unique(k) for k in ("link", "code", "state", "keep")}
        consent = "%s/authorize?state=%s" % (lk.PROVIDER_URL, marks["state"])
        lk.http("GET", "/authorize/%s?link=%s" % (P.name, marks["link"]))
        lk.http("GET", "/callback/%s?%s" % (P.name, urllib.parse.urlencode(
            {"code": marks["code"], "state": marks["state"]})), headers={"Referer": consent})
        elsewhere = "https://example.com/from?ref=" + marks["keep"]
        lk.http("GET", "%s/elsewhere?keep=%s" % (base, marks["keep"]),
                headers={"Referer": elsewhere})
        f.settle_logs()
        logs = {}
        for fn in ("debian-access.log", "debian-other_vhosts_access.log", "debian-error.log"):
            with open(os.path.join(lk.STACK_DIR, fn), errors="replace") as fh:
                logs[fn] = fh.read()
        combined = re.compile(r'^\S+ \S+ \S+ \[[^]]+\] "(\S+) (\S+) (\S+)" \d{3} \S+ "(.*)" "(.*)"$')
        lines = [combined.match(x) for x in logs["debian-access.log"].splitlines()]
        self.assertNotIn(None, lines, logs["debian-access.log"][-2000:])
        ours = [m.groups() for m in lines if m.group(2).startswith("/latchkey/")]
        self.assertIn(("GET", "/latchkey/callback/" + P.name, "HTTP/1.1", "-", "-"), ours)
        self.assertEqual([x for x in ours if "?" in x[1] or x[3] != "-"], [])
        self.assertIn(("GET", "/elsewhere?keep=" + marks["keep"], "HTTP/1.1", elsewhere, "-"),
                      [m.groups() for m in lines])
        for fn, text in logs.items():
            for word in ("link=", "code=", "state=", marks["link"], marks["code"]):
                self.assertEqual([x for x in text.splitlines() if word in x], [], fn)


if __name__ == "__main__":
    unittest.main()
