"""Self-test of tests/fake_provider.py (stdlib unittest only).

Run from the repository root:
    python3 -m unittest tests/e2e/test_fake_provider.py -v
"""

import base64
import hashlib
import html.parser
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(os.path.dirname(HERE), "fake_provider.py")

CLIENT_ID = "client-one"
CLIENT_SECRET = "secret-one"
REDIRECT = "http://127.0.0.1:9999/callback"
SITE = "11111111-1111-4111-8111-111111111111"
SCOPE = "read:confluence-content.all read:confluence-space.summary write:confluence-content offline_access"


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class FormParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hidden = []
        self.sites = []
        self.form_action = None
        self.buttons = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.form_action = (a.get("method"), a.get("action"))
        elif tag == "input" and a.get("type") == "hidden":
            self.hidden.append((a["name"], a.get("value", "")))
        elif tag == "input" and a.get("type") == "checkbox" and a.get("name") == "site":
            self.sites.append((a["value"], "checked" in a))
        elif tag == "button":
            self.buttons.append((a.get("id"), a.get("name"), a.get("value")))


class FakeProviderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fakeprov")
        ready = os.path.join(cls.tmp, "port")
        cls.proc = subprocess.Popen(
            [sys.executable, FAKE, "--port", "0", "--ready-file", ready, "--client", "cli-client:cli:secret"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while not os.path.exists(ready):
            if time.time() > deadline or cls.proc.poll() is not None:
                cls.proc.kill()
                raise RuntimeError("fake provider did not start: %r" % (cls.proc.communicate(),))
            time.sleep(0.02)
        with open(ready) as fh:
            cls.port = int(fh.read().strip())

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        try:
            out, err = cls.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
            raise
        assert cls.proc.returncode == 0, (cls.proc.returncode, err)
        assert b"at_" not in err and b"rt_" not in err, err

    # -- helpers -------------------------------------------------------------
    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def req(self, method, path, body=None, headers=None, js=None, form=None, conn=None):
        headers = dict(headers or {})
        if js is not None:
            body = json.dumps(js).encode()
            headers.setdefault("Content-Type", "application/json")
        elif form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        c = conn or self.conn()
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            return r.status, r, data
        finally:
            if conn is None:
                c.close()

    def jreq(self, method, path, **kw):
        st, r, data = self.req(method, path, **kw)
        return st, r, (json.loads(data) if data else None)

    def admin(self, path, obj=None):
        if obj is None:
            st, _, data = self.jreq("GET", "/_fake/" + path)
        else:
            st, _, data = self.jreq("POST", "/_fake/" + path, js=obj)
        self.assertLess(st, 300, data)
        return data

    def setUp(self):
        self.admin("reset", {})
        self.admin("clients", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                               "redirect_uris": [REDIRECT]})

    def authorize(self, client_id=CLIENT_ID, redirect_uri=REDIRECT, scope=SCOPE, challenge=None,
                  decision="approve", sites=None, state="st-123"):
        q = {"audience": "api.atlassian.com", "client_id": client_id, "scope": scope,
             "redirect_uri": redirect_uri, "state": state, "response_type": "code", "prompt": "consent"}
        if challenge:
            q.update(code_challenge=challenge, code_challenge_method="S256")
        st, r, data = self.req("GET", "/authorize?" + urllib.parse.urlencode(q))
        self.assertEqual(st, 200, data)
        p = FormParser()
        p.feed(data.decode())
        self.assertEqual(p.form_action, ("POST", "/authorize/decide"))
        form = list(p.hidden) + [("decision", decision)]
        for sid in (sites if sites is not None else [s for s, checked in p.sites if checked]):
            form.append(("site", sid))
        st, r, _ = self.req("POST", "/authorize/decide", form=form)
        self.assertEqual(st, 302)
        loc = r.getheader("Location")
        self.assertTrue(loc.startswith(redirect_uri), loc)
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))

    def get_tokens(self, style="json", client_id=CLIENT_ID, secret=CLIENT_SECRET, scope=SCOPE, sites=None):
        verifier, challenge = pkce_pair()
        qs = self.authorize(client_id=client_id, challenge=challenge, scope=scope, sites=sites)
        st, body = self.exchange(qs["code"], verifier, style=style, client_id=client_id, secret=secret)
        self.assertEqual(st, 200, body)
        return body

    def token_call(self, params, style="json", client_id=CLIENT_ID, secret=CLIENT_SECRET):
        params = dict(params)
        headers = {}
        if style == "basic":
            cred = "%s:%s" % (urllib.parse.quote_plus(client_id), urllib.parse.quote_plus(secret))
            headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
        else:
            params.update(client_id=client_id, client_secret=secret)
        if style == "json":
            st, _, body = self.jreq("POST", "/oauth/token", js=params, headers=headers)
        else:
            st, _, body = self.jreq("POST", "/oauth/token", form=params, headers=headers)
        return st, body

    def exchange(self, code, verifier, **kw):
        return self.token_call({"grant_type": "authorization_code", "code": code,
                                "redirect_uri": REDIRECT, "code_verifier": verifier}, **kw)

    def refresh(self, rt, **kw):
        return self.token_call({"grant_type": "refresh_token", "refresh_token": rt}, **kw)

    def bearer(self, at):
        return {"Authorization": "Bearer " + at}

    # -- authorize -----------------------------------------------------------
    def test_consent_page_and_errors(self):
        st, r, data = self.req("GET", "/authorize?" + urllib.parse.urlencode({
            "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
            "scope": "read:<b>", "state": "s"}))
        self.assertEqual(st, 200)
        page = data.decode()
        self.assertIn('id="approve"', page)
        self.assertIn('id="deny"', page)
        self.assertIn("read:&lt;b&gt;", page)
        self.assertIn(SITE, page)
        st, r, data = self.req("GET", "/authorize?client_id=nope&redirect_uri=x&response_type=code")
        self.assertEqual(st, 400)
        self.assertIn("text/html", r.getheader("Content-Type"))
        st, r, _ = self.req("GET", "/authorize?" + urllib.parse.urlencode({
            "client_id": CLIENT_ID, "redirect_uri": "http://evil/cb", "response_type": "code"}))
        self.assertEqual(st, 400)
        self.assertIsNone(r.getheader("Location"))
        st, r, _ = self.req("GET", "/authorize?" + urllib.parse.urlencode({
            "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "token", "state": "zz"}))
        self.assertEqual(st, 302)
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.getheader("Location")).query))
        self.assertEqual(q, {"error": "unsupported_response_type",
                             "error_description": "response_type must be code", "state": "zz"})

    def test_deny(self):
        qs = self.authorize(decision="deny", state="abc")
        self.assertEqual(qs["error"], "access_denied")
        self.assertEqual(qs["state"], "abc")
        self.assertNotIn("code", qs)

    def test_redirect_with_query(self):
        ruri = "http://127.0.0.1:9999/cb?x=1"
        self.admin("clients", {"client_id": "c2", "client_secret": "s2", "redirect_uris": [ruri]})
        qs = self.authorize(client_id="c2", redirect_uri=ruri)
        self.assertEqual(qs["x"], "1")
        self.assertIn("code", qs)

    # -- token exchange -------------------------------------------------------
    def test_pkce_exchange_all_styles(self):
        for style in ("json", "form", "basic"):
            with self.subTest(style=style):
                tok = self.get_tokens(style=style)
                self.assertTrue(tok["access_token"].startswith("at_"))
                self.assertTrue(tok["refresh_token"].startswith("rt_"))
                self.assertEqual(tok["expires_in"], 3600)
                self.assertEqual(tok["token_type"], "Bearer")
                self.assertEqual(tok["scope"], SCOPE)
                last = self.admin("last_token_request")
                self.assertEqual(last["style"], style)
                self.assertEqual(last["params"]["redirect_uri"], REDIRECT)
                self.assertIn("code_verifier", last["params"])
        c = self.admin("state")["counters"]
        self.assertEqual(c["token_styles"], {"json": 1, "form": 1, "basic": 1})
        self.assertEqual(c["token_authorization_code"], 3)
        self.assertEqual(c["paths"]["/oauth/token"], 3)

    def test_basic_auth_is_form_urlencoded(self):
        cid, sec = "we ird:id", "p&ss:w+rd %"
        self.admin("clients", {"client_id": cid, "client_secret": sec, "redirect_uris": [REDIRECT]})
        tok = self.get_tokens(style="basic", client_id=cid, secret=sec)
        self.assertIn("access_token", tok)

    def test_cli_client(self):
        tok = self.get_tokens(client_id="cli-client", secret="cli:secret", style="form")
        self.assertIn("access_token", tok)

    def test_no_offline_access_no_refresh_token(self):
        tok = self.get_tokens(scope="read:confluence-content.all")
        self.assertNotIn("refresh_token", tok)

    def test_wrong_verifier_and_single_use(self):
        verifier, challenge = pkce_pair()
        code = self.authorize(challenge=challenge)["code"]
        st, body = self.exchange(code, "wrong-" + verifier)
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))
        st, body = self.token_call({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))
        st, body = self.exchange(code, verifier)
        self.assertEqual(st, 200, body)
        st, body = self.exchange(code, verifier)
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))

    def test_code_expiry_and_redirect_mismatch(self):
        verifier, challenge = pkce_pair()
        code = self.authorize(challenge=challenge)["code"]
        st, body = self.token_call({"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": REDIRECT + "x", "code_verifier": verifier})
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))
        self.admin("clock", {"advance": 601})
        st, body = self.exchange(code, verifier)
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))

    def test_client_and_grant_errors(self):
        st, body = self.token_call({"grant_type": "refresh_token", "refresh_token": "x"}, secret="bad")
        self.assertEqual((st, body["error"]), (401, "invalid_client"))
        st, body = self.token_call({"grant_type": "refresh_token", "refresh_token": "x"},
                                   style="basic", client_id="unknown")
        self.assertEqual((st, body["error"]), (401, "invalid_client"))
        st, body = self.token_call({"grant_type": "password"})
        self.assertEqual((st, body["error"]), (400, "unsupported_grant_type"))
        st, body = self.token_call({})
        self.assertEqual((st, body["error"]), (400, "invalid_request"))
        st, body = self.token_call({"grant_type": "refresh_token"})
        self.assertEqual((st, body["error"]), (400, "invalid_request"))
        st, body = self.refresh("rt_unknown")
        self.assertEqual((st, body["error"]), (403, "invalid_grant"))

    # -- refresh rotation ------------------------------------------------------
    def test_refresh_rotation_and_reuse(self):
        tok = self.get_tokens()
        rt1 = tok["refresh_token"]
        st, t2 = self.refresh(rt1, style="form")
        self.assertEqual(st, 200, t2)
        rt2 = t2["refresh_token"]
        self.assertNotEqual(rt1, rt2)
        self.assertNotEqual(tok["access_token"], t2["access_token"])
        fam = self.admin("tokens")["families"][0]
        self.assertEqual(fam["current_refresh_token"], rt2)
        self.assertEqual(fam["rotations"], 1)
        # reuse of rt1 within leeway is accepted and rotates again
        self.admin("clock", {"advance": 300})
        st, t3 = self.refresh(rt1)
        self.assertEqual(st, 200, t3)
        rt3 = t3["refresh_token"]
        self.assertNotIn(rt3, (rt1, rt2))
        self.assertEqual(self.admin("tokens")["families"][0]["current_refresh_token"], rt3)
        # after the leeway, reuse of rt1 kills the family
        self.admin("clock", {"advance": 301})
        st, body = self.refresh(rt1)
        self.assertEqual(st, 403)
        self.assertEqual(body, {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."})
        st, body = self.refresh(rt3)
        self.assertEqual((st, body["error"]), (403, "invalid_grant"))
        fam = self.admin("tokens")["families"][0]
        self.assertTrue(fam["revoked"])
        self.assertEqual(fam["access_tokens_valid"], [])
        st, _, _ = self.req("GET", "/oauth/token/accessible-resources", headers=self.bearer(t3["access_token"]))
        self.assertEqual(st, 401)
        c = self.admin("state")["counters"]
        self.assertEqual((c["token_refresh"], c["token_refresh_ok"], c["token_refresh_rejected"]), (4, 2, 2))

    def test_refresh_inactivity_and_omit(self):
        tok = self.get_tokens()
        self.admin("config", {"omit_refresh_token": True})
        st, body = self.refresh(tok["refresh_token"])
        self.assertEqual(st, 200)
        self.assertNotIn("refresh_token", body)
        st, body = self.refresh(tok["refresh_token"])
        self.assertEqual(st, 200)
        self.admin("clock", {"advance": 91 * 86400})
        st, body = self.refresh(tok["refresh_token"])
        self.assertEqual((st, body["error"]), (403, "invalid_grant"))

    def test_admin_revoke(self):
        tok = self.get_tokens()
        self.admin("revoke", {"refresh_token": tok["refresh_token"]})
        st, _ = self.refresh(tok["refresh_token"])
        self.assertEqual(st, 403)

    # -- resources -------------------------------------------------------------
    def test_accessible_resources_and_expiry(self):
        tok = self.get_tokens()
        st, _, body = self.jreq("GET", "/oauth/token/accessible-resources", headers=self.bearer(tok["access_token"]))
        self.assertEqual(st, 200)
        self.assertEqual(len(body), 1)
        self.assertEqual(body[0]["id"], SITE)
        self.assertEqual(body[0]["url"], "https://acme.atlassian.net")
        self.assertIn("read:confluence-content.all", body[0]["scopes"])
        st, _, body = self.jreq("GET", "/oauth/token/accessible-resources")
        self.assertEqual((st, body), (401, {"code": 401, "message": "Unauthorized"}))
        self.admin("clock", {"advance": 3601})
        st, _, _ = self.jreq("GET", "/oauth/token/accessible-resources", headers=self.bearer(tok["access_token"]))
        self.assertEqual(st, 401)
        self.assertEqual(self.admin("state")["counters"]["resources"], 3)

    def test_site_selection(self):
        s2 = "22222222-2222-4222-8222-222222222222"
        self.admin("sites", {"sites": [{"id": SITE, "url": "https://acme.atlassian.net", "name": "acme"},
                                       {"id": s2, "url": "https://beta.atlassian.net", "name": "beta"}]})
        tok = self.get_tokens(sites=[s2])
        st, _, body = self.jreq("GET", "/oauth/token/accessible-resources", headers=self.bearer(tok["access_token"]))
        self.assertEqual([s["id"] for s in body], [s2])
        st, _, _ = self.jreq("GET", "/ex/confluence/%s/wiki/rest/api/space" % SITE, headers=self.bearer(tok["access_token"]))
        self.assertEqual(st, 401)
        st, _, _ = self.jreq("GET", "/ex/confluence/%s/wiki/rest/api/space" % s2, headers=self.bearer(tok["access_token"]))
        self.assertEqual(st, 200)

    def test_confluence_routes(self):
        at = self.get_tokens()["access_token"]
        base = "/ex/confluence/%s/wiki" % SITE
        st, _, body = self.jreq("GET", base + "/rest/api/space?limit=2")
        self.assertEqual(st, 401)
        st, _, body = self.jreq("GET", base + "/rest/api/space?limit=2", headers=self.bearer(at))
        self.assertEqual(st, 200)
        self.assertEqual(body["limit"], 2)
        self.assertEqual([(s["key"], s["name"], s["type"]) for s in body["results"]],
                         [("ENG", "Engineering", "global"), ("OPS", "Operations", "global")])
        st, _, _ = self.jreq("GET", "/ex/confluence/nope/wiki/rest/api/space", headers=self.bearer(at))
        self.assertEqual(st, 404)
        st, _, body = self.jreq("GET", base + "/rest/api/user/current", headers=self.bearer(at))
        self.assertIn("accountId", body)
        # content CRUD
        st, _, body = self.jreq("POST", base + "/rest/api/content", headers=self.bearer(at),
                                js={"type": "page", "title": "T", "space": {"key": "ENG"}})
        cid = body["id"]
        self.assertEqual((st, body["title"]), (200, "T"))
        st, _, body = self.jreq("PUT", base + "/rest/api/content/" + cid, headers=self.bearer(at),
                                js={"title": "U", "version": {"number": 2}})
        self.assertEqual((st, body["title"], body["id"]), (200, "U", cid))
        st, _, body = self.jreq("GET", base + "/rest/api/content/" + cid, headers=self.bearer(at))
        self.assertEqual(body["title"], "U")
        st, _, _ = self.req("DELETE", base + "/rest/api/content/" + cid, headers=self.bearer(at))
        self.assertEqual(st, 204)
        st, _, _ = self.req("GET", base + "/rest/api/content/" + cid, headers=self.bearer(at))
        self.assertEqual(st, 404)
        # download
        n = 200000
        st, r, data = self.req("GET", base + "/download/%d" % n, headers=self.bearer(at))
        self.assertEqual((st, int(r.getheader("Content-Length")), len(data)), (200, n, n))
        self.assertEqual(data, bytes(i % 251 for i in range(n)))
        # upload, chunked and content-length
        payload = os.urandom(300000)
        c = self.conn()
        c.request("PUT", base + "/upload", body=iter([payload[:1000], payload[1000:]]),
                  headers=self.bearer(at), encode_chunked=True)
        r = c.getresponse()
        body = json.loads(r.read())
        self.assertEqual(body, {"bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()})
        # keep-alive: same connection, content-length upload
        c.request("POST", base + "/upload", body=payload, headers=self.bearer(at))
        r = c.getresponse()
        self.assertEqual(json.loads(r.read())["bytes"], len(payload))
        c.close()
        # echo
        st, r, body = self.jreq("GET", base + "/echo/a%2Fb?x=1&y=2",
                                headers=dict(self.bearer(at), **{"X-Custom": "v", "Cookie": "c=1"}))
        self.assertEqual(body["path"], "/ex/confluence/%s/wiki/echo/a%%2Fb" % SITE)
        self.assertEqual(body["query"], "x=1&y=2")
        self.assertEqual(body["headers"]["x-custom"], "v")
        self.assertEqual(body["headers"]["cookie"], "c=1")
        self.assertEqual(r.getheader("Set-Cookie"), "upstream=1")
        self.assertEqual(r.getheader("X-Upstream"), "yes")
        st, r, _ = self.req("GET", base + "/redirect", headers=self.bearer(at))
        self.assertEqual((st, r.getheader("Location")), (302, "http://127.0.0.1:1/elsewhere"))
        self.assertGreaterEqual(self.admin("state")["counters"]["api_calls"], 10)

    def test_download_counts_completed_and_aborted(self):
        at = self.get_tokens()["access_token"]
        base = "/ex/confluence/%s/wiki" % SITE
        c0 = self.admin("state")["counters"]
        self.assertEqual((c0["downloads"], c0["downloads_completed"], c0["download_aborted"],
                          c0["download_aborted_last_bytes"], c0["download_aborted_last_size"]),
                         (0, 0, 0, 0, 0))
        st, _, data = self.req("GET", base + "/download/1000", headers=self.bearer(at))
        self.assertEqual((st, len(data)), (200, 1000))
        c = self.admin("state")["counters"]
        self.assertEqual((c["downloads"], c["downloads_completed"], c["download_aborted"]), (1, 1, 0))
        # A reader that goes away after 1 MB of 1 GB.
        n = 1 << 30
        conn = self.conn()
        conn.request("GET", base + "/download/%d" % n, headers=self.bearer(at))
        r = conn.getresponse()
        self.assertEqual((r.status, int(r.getheader("Content-Length"))), (200, n))
        got = 0
        while got < 1 << 20:
            got += len(r.read(65536))
        conn.sock.shutdown(2)
        conn.close()
        deadline = time.time() + 10
        while True:
            c = self.admin("state")["counters"]
            if c["download_aborted"] or time.time() > deadline:
                break
            time.sleep(0.02)
        self.assertEqual((c["downloads"], c["downloads_completed"], c["download_aborted"]), (2, 1, 1))
        self.assertEqual(c["download_aborted_last_size"], n)
        self.assertGreaterEqual(c["download_aborted_last_bytes"], got)
        self.assertLess(c["download_aborted_last_bytes"], 256 << 20)
        self.admin("reset", {})
        self.assertEqual(self.admin("state")["counters"]["download_aborted"], 0)

    def test_echo_reports_the_tcp_connection(self):
        at = self.get_tokens()["access_token"]
        path = "/ex/confluence/%s/wiki/echo/conn" % SITE
        c = self.conn()
        try:
            seen = []
            for _ in range(3):
                st, _, body = self.jreq("GET", path, headers=self.bearer(at), conn=c)
                self.assertEqual(st, 200)
                seen.append(body["tcp_connection"])
            port = c.sock.getsockname()[1]
        finally:
            c.close()
        self.assertEqual([s["requests"] for s in seen], [1, 2, 3])
        self.assertEqual({s["id"] for s in seen}, {seen[0]["id"]})
        self.assertEqual({s["peer_port"] for s in seen}, {port})
        st, _, other = self.jreq("GET", path, headers=self.bearer(at))  # a connection of its own
        self.assertEqual(other["tcp_connection"]["requests"], 1)
        self.assertGreater(other["tcp_connection"]["id"], seen[0]["id"])

    # -- faults ----------------------------------------------------------------
    def test_fault_status_and_retry_after(self):
        self.admin("fault", {"path": "/oauth/token", "kind": "status", "status": 500})
        self.admin("fault", {"path": "/oauth/token", "kind": "status", "status": 429, "retry_after": 7})
        st, body = self.refresh("rt_x")
        self.assertEqual(st, 500)
        st, r, _ = self.req("POST", "/oauth/token", form={"grant_type": "x"})
        self.assertEqual((st, r.getheader("Retry-After")), (429, "7"))
        st, body = self.refresh("rt_x")
        self.assertEqual(st, 403)  # faults consumed
        self.admin("fault", {"path": "*", "kind": "status", "status": 503, "count": -1, "body": "down"})
        for _ in range(3):
            st, _, data = self.req("GET", "/oauth/token/accessible-resources")
            self.assertEqual((st, data), (503, b"down"))
        self.assertEqual(self.admin("state")["counters"]["resources"], 0)
        self.admin("fault/clear", {})
        st, _, _ = self.req("GET", "/oauth/token/accessible-resources")
        self.assertEqual(st, 401)

    def test_fault_drop_and_garbage(self):
        self.admin("fault", {"path": "/oauth/token", "kind": "drop"})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.refresh("rt_x")
        self.admin("fault", {"path": "/oauth/token", "kind": "garbage"})
        st, r, data = self.req("POST", "/oauth/token", form={"grant_type": "refresh_token"})
        self.assertEqual(st, 200)
        with self.assertRaises(ValueError):
            json.loads(data)
        self.assertEqual(self.refresh("rt_x")[0], 403)

    def test_fault_delay(self):
        self.admin("fault", {"path": "/oauth/token/accessible", "kind": "delay", "delay": 0.3})
        t0 = time.time()
        st, _, _ = self.req("GET", "/oauth/token/accessible-resources")
        self.assertEqual(st, 401)
        self.assertGreaterEqual(time.time() - t0, 0.29)

    def _threaded(self, fn):
        result = {}

        def run():
            try:
                result["value"] = fn()
            except Exception as e:  # pragma: no cover
                result["error"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t, result

    def test_fault_hold_before_and_release(self):
        tok = self.get_tokens()
        self.admin("fault", {"path": "/oauth/token", "kind": "hold", "when": "before"})
        t, result = self._threaded(lambda: self.refresh(tok["refresh_token"]))
        self.admin("wait_held", {"count": 1, "timeout": 5})
        self.assertEqual(self.admin("held"), {"held": 1})
        fam = self.admin("tokens")["families"][0]
        self.assertEqual(fam["rotations"], 0)  # not processed yet
        self.assertTrue(t.is_alive())
        self.assertEqual(self.admin("release", {})["released"], 1)
        t.join(5)
        self.assertFalse(t.is_alive())
        self.assertEqual(result["value"][0], 200)
        self.assertEqual(self.admin("held"), {"held": 0})

    def test_fault_hold_after(self):
        tok = self.get_tokens()
        self.admin("fault", {"path": "/oauth/token", "kind": "hold", "when": "after"})
        t, result = self._threaded(lambda: self.refresh(tok["refresh_token"]))
        self.admin("wait_held", {"count": 1, "timeout": 5})
        fam = self.admin("tokens")["families"][0]
        self.assertEqual(fam["rotations"], 1)  # processed, answer not yet sent
        self.assertNotEqual(fam["current_refresh_token"], tok["refresh_token"])
        self.admin("release", {"count": 1})
        t.join(5)
        self.assertEqual(result["value"][0], 200)
        self.assertEqual(result["value"][1]["refresh_token"], fam["current_refresh_token"])

    def test_fault_drop_after_processing(self):
        tok = self.get_tokens()
        self.admin("fault", {"path": "/oauth/token", "kind": "drop", "when": "after"})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.refresh(tok["refresh_token"])
        self.assertEqual(self.admin("tokens")["families"][0]["rotations"], 1)
        st, body = self.refresh(tok["refresh_token"])  # within leeway -> still OK
        self.assertEqual(st, 200)

    # -- Confluence v2 / v1 (tests/fake_confluence.py) -------------------------
    WIKI = "/ex/confluence/%s/wiki" % SITE
    CONSTRUCTS, ENG_HOME, RUNBOOK, BIG, BLOG = "65538", "65537", "65539", "65540", "65543"
    MISMATCH = {"code": 401, "message": "Unauthorized; scope does not match"}

    def at(self, scope):
        tok = self.get_tokens(scope=scope)
        self.assertEqual(tok["scope"], scope)   # the token carries what was consented
        return tok["access_token"]

    def wiki(self, method, sub, at, js=None):
        st, r, body = self.jreq(method, self.WIKI + sub, headers=self.bearer(at), js=js)
        return st, body, r

    def test_confluence_v2_wants_granular_scopes(self):
        classic = self.at("read:confluence-content.all read:confluence-space.summary write:confluence-content")
        page = self.at("read:page:confluence")
        for at, sub, want in [(classic, "/api/v2/pages/65538", 401), (page, "/api/v2/pages/65538", 200),
                              (page, "/api/v2/spaces", 401), (page, "/api/v2/pages/65538/footer-comments", 401),
                              (page, "/api/v2/pages/65538/labels", 401), (page, "/api/v2/blogposts/65543", 401)]:
            st, body, _ = self.wiki("GET", sub, at)
            self.assertEqual(st, want, (sub, body))
            if want == 401:
                self.assertEqual(body, self.MISMATCH)
        st, body, _ = self.wiki("POST", "/api/v2/pages", page, {"spaceId": "98306", "title": "x",
                                                                 "body": {"representation": "storage", "value": ""}})
        self.assertEqual((st, body), (401, self.MISMATCH))
        st, _, _ = self.wiki("DELETE", "/api/v2/pages/65539", self.at("write:page:confluence"))
        self.assertEqual(st, 401)
        st, _, _ = self.wiki("DELETE", "/api/v2/pages/65539", self.at("delete:page:confluence"))
        self.assertEqual(st, 204)
        self.assertEqual(self.admin("state")["counters"]["confluence_scope_rejected"], 7)
        # an expired or unknown token is plain 401, before any scope check
        self.admin("clock", {"advance": 3601})
        st, body, _ = self.wiki("GET", "/api/v2/pages/65538", page)
        self.assertEqual((st, body), (401, {"code": 401, "message": "Unauthorized"}))

    def test_confluence_v1_takes_classic_or_granular(self):
        get = "/rest/api/content/65538?expand=body.storage,version"
        for scope, want in [("read:confluence-content.summary", 200), ("read:confluence-content.all", 200),
                            ("read:content-details:confluence", 200), ("read:page:confluence", 401),
                            ("write:confluence-content", 401)]:
            st, body, _ = self.wiki("GET", get, self.at(scope))
            self.assertEqual(st, want, (scope, body))
        doc = {"type": "page", "title": "New", "space": {"key": "ENG"},
               "body": {"storage": {"value": "<p>n</p>", "representation": "storage"}}}
        for scope, want in [("write:confluence-content", 200), ("write:content:confluence", 401),
                            ("read:content-details:confluence write:content:confluence", 200),
                            ("write:page:confluence", 401)]:
            st, body, _ = self.wiki("POST", "/rest/api/content", self.at(scope), dict(doc, title=scope))
            self.assertEqual(st, want, (scope, body))
        for scope, sub, want in [("search:confluence", "/rest/api/content/search?cql=type%3Dpage", 200),
                                 ("read:content-details:confluence", "/rest/api/search?cql=type%3Dpage", 200),
                                 ("read:confluence-content.all", "/rest/api/content/search?cql=type%3Dpage", 401),
                                 ("read:confluence-space.summary", "/rest/api/space/ENG", 200),
                                 ("read:space:confluence", "/rest/api/space", 401),
                                 ("read:label:confluence", "/rest/api/content/65538/label", 200),
                                 ("read:confluence-content.summary", "/rest/api/content/65538/label", 200),
                                 ("read:label:confluence", "/rest/api/content/65538/child/comment", 401)]:
            st, body, _ = self.wiki("GET", sub, self.at(scope))
            self.assertEqual(st, want, (scope, sub, body))
        st, body, _ = self.wiki("POST", "/rest/api/content/65538/label", self.at("write:label:confluence"),
                                [{"prefix": "global", "name": "x"}])
        self.assertEqual((st, body), (401, self.MISMATCH))

    def test_confluence_seeded_shapes(self):
        at = self.at("read:page:confluence read:space:confluence read:comment:confluence read:label:confluence")
        st, page, _ = self.wiki("GET", "/api/v2/pages/%s?body-format=storage" % self.CONSTRUCTS, at)
        self.assertEqual(st, 200, page)
        self.assertEqual((page["id"], page["title"], page["spaceId"], page["parentId"], page["version"]["number"],
                          page["status"]), (self.CONSTRUCTS, "Architecture Overview", "98306", self.ENG_HOME, 1,
                                            "current"))
        self.assertEqual(page["_links"]["base"], "https://acme.atlassian.net/wiki")
        self.assertEqual(page["_links"]["webui"], "/spaces/ENG/pages/65538/Architecture+Overview")
        value = page["body"]["storage"]["value"]
        self.assertEqual(page["body"]["storage"]["representation"], "storage")
        for construct in ("<h1>", "<h2>", "<strong>", "<em>", "<a href=", "<ul><li>one<ul>", "<ol>", "<table>",
                          'ac:name="code"', "<![CDATA[", "<ri:url", "<ri:attachment", 'ac:name="toc"',
                          'ac:name="info"', "&amp;"):
            self.assertIn(construct, value)
        st, page, _ = self.wiki("GET", "/api/v2/pages/%s" % self.CONSTRUCTS, at)
        self.assertEqual(page["body"], {})
        st, big, _ = self.wiki("GET", "/api/v2/pages/%s?body-format=storage" % self.BIG, at)
        self.assertGreaterEqual(len(big["body"]["storage"]["value"].encode()), 50 * 1024)
        st, body, r = self.wiki("GET", "/api/v2/spaces?keys=ENG,DOCS&limit=1", at)
        self.assertEqual([s["key"] for s in body["results"]], ["ENG"])
        self.assertEqual(body["results"][0]["id"], "98306")
        nxt = body["_links"]["next"]
        self.assertEqual(r.getheader("Link"), '<%s>; rel="next"' % nxt)
        st, _, body = self.jreq("GET", "/ex/confluence/%s%s" % (SITE, nxt), headers=self.bearer(at))
        self.assertEqual(([s["key"] for s in body["results"]], "next" in body["_links"]), (["DOCS"], False))
        st, body, _ = self.wiki("GET", "/api/v2/spaces/98308", at)
        self.assertEqual((st, body["key"], body["homepageId"]), (200, "DOCS", "65541"))
        st, body, _ = self.wiki("GET", "/api/v2/pages?space-id=98308", at)
        self.assertEqual([p["title"] for p in body["results"]], ["Documentation Home", "Style Guide"])
        st, body, _ = self.wiki("GET", "/api/v2/pages?title=On-call%20Runbook", at)
        self.assertEqual([p["id"] for p in body["results"]], [self.RUNBOOK])
        st, body, _ = self.wiki("GET", "/api/v2/pages/%s/children" % self.ENG_HOME, at)
        self.assertEqual([p["title"] for p in body["results"]], ["Architecture Overview", "On-call Runbook",
                                                                 "Big Page"])
        st, body, _ = self.wiki("GET", "/api/v2/pages/%s/footer-comments?body-format=storage" % self.CONSTRUCTS, at)
        self.assertEqual([c["body"]["storage"]["value"] for c in body["results"]],
                         ["<p>Looks good to me.</p>", "<p>What about the cache?</p>"])
        self.assertEqual(body["results"][0]["pageId"], self.CONSTRUCTS)
        st, body, _ = self.wiki("GET", "/api/v2/pages/%s/labels" % self.CONSTRUCTS, at)
        self.assertEqual([lb["name"] for lb in body["results"]], ["architecture", "design"])
        st, body, _ = self.wiki("GET", "/api/v2/pages/999", at)
        self.assertEqual((st, body["errors"][0]["status"], body["errors"][0]["code"]), (404, 404, "NOT_FOUND"))

    def test_confluence_v2_writes_and_version_conflict(self):
        at = self.at("read:page:confluence write:page:confluence delete:page:confluence read:comment:confluence "
                     "write:comment:confluence write:blogpost:confluence read:blogpost:confluence")
        st, page, _ = self.wiki("POST", "/api/v2/pages", at, {
            "spaceId": "98306", "status": "current", "title": "Made", "parentId": self.RUNBOOK,
            "body": {"representation": "storage", "value": "<p>v1</p>"}})
        self.assertEqual((st, page["version"]["number"], page["parentId"]), (200, 1, self.RUNBOOK), page)
        pid = page["id"]
        upd = {"id": pid, "status": "current", "title": "Made 2",
               "body": {"representation": "storage", "value": "<p>v2</p>"}, "version": {"number": 1}}
        st, body, _ = self.wiki("PUT", "/api/v2/pages/" + pid, at, upd)
        self.assertEqual(st, 409, body)
        self.assertEqual(body["errors"][0]["status"], 409)
        self.assertIn("Current version is: 1", body["errors"][0]["title"])
        upd["version"] = {"number": 2, "message": "second"}
        st, body, _ = self.wiki("PUT", "/api/v2/pages/" + pid, at, upd)
        self.assertEqual((st, body["version"]["number"], body["title"]), (200, 2, "Made 2"))
        st, body, _ = self.wiki("PUT", "/api/v2/pages/" + pid, at, dict(upd, version={"number": 2}))
        self.assertEqual(st, 409)
        st, body, _ = self.wiki("PUT", "/api/v2/pages/" + pid, at, {"id": pid, "title": "t"})
        self.assertEqual((st, body["errors"][0]["status"]), (400, 400))
        stored = self.admin("confluence/content", {"cloud_id": SITE, "id": pid})
        self.assertEqual([(v["number"], v["title"], v["body"], v["message"]) for v in stored["versions"]],
                         [(1, "Made", "<p>v1</p>", ""), (2, "Made 2", "<p>v2</p>", "second")])
        st, body, _ = self.wiki("GET", "/api/v2/pages/%s/children" % self.RUNBOOK, at)
        self.assertEqual([p["id"] for p in body["results"]], [pid])
        st, c, _ = self.wiki("POST", "/api/v2/footer-comments", at,
                             {"pageId": pid, "body": {"representation": "storage", "value": "<p>hi</p>"}})
        self.assertEqual((st, c["pageId"]), (201, pid))
        st, body, _ = self.wiki("GET", "/api/v2/pages/%s/footer-comments" % pid, at)
        self.assertEqual([x["id"] for x in body["results"]], [c["id"]])
        st, b, _ = self.wiki("POST", "/api/v2/blogposts", at, {
            "spaceId": "98308", "status": "current", "title": "News",
            "body": {"representation": "storage", "value": "<p>n</p>"}})
        self.assertEqual(st, 200, b)
        st, body, _ = self.wiki("GET", "/api/v2/blogposts/%s?body-format=storage" % b["id"], at)
        self.assertEqual((body["title"], body["spaceId"], body["body"]["storage"]["value"]), ("News", "98308", "<p>n</p>"))
        st, _, _ = self.wiki("GET", "/api/v2/pages/" + b["id"], at)
        self.assertEqual(st, 404)   # a blog post is not a page
        st, _, _ = self.wiki("DELETE", "/api/v2/pages/" + pid, at)
        self.assertEqual(st, 204)
        st, _, _ = self.wiki("GET", "/api/v2/pages/" + pid, at)
        self.assertEqual(st, 404)
        self.assertEqual(self.admin("confluence/content", {"cloud_id": SITE, "id": pid})["status"], "trashed")
        st, _, _ = self.wiki("POST", "/api/v2/pages", at, {"spaceId": "1", "title": "x",
                                                           "body": {"representation": "storage", "value": ""}})
        self.assertEqual(st, 400)

    def test_confluence_v1_content_cql_labels(self):
        at = self.at("read:confluence-content.all write:confluence-content read:confluence-space.summary "
                     "search:confluence")
        st, c, _ = self.wiki("GET", "/rest/api/content/%s?expand=body.storage,version,space,ancestors"
                             % self.CONSTRUCTS, at)
        self.assertEqual((c["type"], c["space"]["key"], c["version"]["number"], c["ancestors"][0]["id"]),
                         ("page", "ENG", 1, self.ENG_HOME))
        self.assertIn('ac:name="toc"', c["body"]["storage"]["value"])
        st, body, _ = self.wiki("PUT", "/rest/api/content/" + self.CONSTRUCTS, at, {"type": "page", "title": "A"})
        self.assertEqual(st, 400, body)
        st, body, _ = self.wiki("PUT", "/rest/api/content/" + self.CONSTRUCTS, at,
                                {"type": "page", "title": "A", "version": {"number": 3}})
        self.assertEqual((st, body["statusCode"]), (409, 409))
        self.assertIn("Current version is: 1", body["message"])
        st, body, _ = self.wiki("PUT", "/rest/api/content/" + self.CONSTRUCTS, at, {
            "type": "page", "title": "Architecture Overview", "version": {"number": 2},
            "body": {"storage": {"value": "<p>new</p>", "representation": "storage"}}})
        self.assertEqual((st, body["version"]["number"], body["body"]["storage"]["value"]), (200, 2, "<p>new</p>"))
        st, child, _ = self.wiki("POST", "/rest/api/content", at, {
            "type": "page", "title": "Child", "space": {"key": "ENG"}, "ancestors": [{"id": self.RUNBOOK}],
            "body": {"storage": {"value": "<p>c</p>", "representation": "storage"}}})
        self.assertEqual((st, child["ancestors"][-1]["id"]), (200, self.RUNBOOK))
        st, body, _ = self.wiki("GET", "/rest/api/content/%s/child/page" % self.RUNBOOK, at)
        self.assertEqual([x["id"] for x in body["results"]], [child["id"]])
        st, cm, _ = self.wiki("POST", "/rest/api/content", at, {
            "type": "comment", "container": {"id": child["id"], "type": "page"},
            "body": {"storage": {"value": "<p>nice</p>", "representation": "storage"}}})
        self.assertEqual((st, cm["container"]["id"]), (200, child["id"]))
        st, body, _ = self.wiki("GET", "/rest/api/content/%s/child/comment?expand=body.storage" % child["id"], at)
        self.assertEqual([x["body"]["storage"]["value"] for x in body["results"]], ["<p>nice</p>"])
        st, body, _ = self.wiki("POST", "/rest/api/content/%s/label" % child["id"], at,
                                [{"prefix": "global", "name": "alpha"}, {"prefix": "global", "name": "beta"}])
        self.assertEqual((st, [x["name"] for x in body["results"]]), (200, ["alpha", "beta"]))
        st, body, _ = self.wiki("GET", "/rest/api/content/%s/label" % child["id"], at)
        self.assertEqual(body["size"], 2)
        st, _, _ = self.wiki("POST", "/rest/api/content/%s/label" % child["id"], at, [{"name": "two words"}])
        self.assertEqual(st, 400)
        # CQL
        q = urllib.parse.quote
        for cql, titles in [('type=page and space=DOCS', ["Documentation Home", "Style Guide"]),
                            ('type = page AND title ~ "runbook"', ["On-call Runbook"]),
                            ('text ~ "dashboard"', ["On-call Runbook"]),
                            ('space = ENG and type = blogpost', ["Release notes 1.0"]),
                            ('type in (page, blogpost) and space = "DOCS" order by created desc',
                             ["Documentation Home", "Style Guide"]),
                            ('title = "Child"', ["Child"])]:
            st, body, _ = self.wiki("GET", "/rest/api/content/search?cql=" + q(cql), at)
            self.assertEqual((st, [x["title"] for x in body["results"]]), (200, titles), cql)
            self.assertEqual(body["cqlQuery"], cql)
        st, body, _ = self.wiki("GET", "/rest/api/search?cql=" + q('text ~ "cache"'), at)
        self.assertEqual([x["content"]["type"] for x in body["results"]], ["comment"])
        st, body, _ = self.wiki("GET", "/rest/api/content/search?limit=1&cql=" + q("type=page and space=DOCS"), at)
        self.assertEqual((body["size"], body["totalSize"]), (1, 2))
        self.assertIn("start=1", body["_links"]["next"])
        for bad in ["creator = currentUser()", "type=page or space=ENG", "", "text = x"]:
            st, body, _ = self.wiki("GET", "/rest/api/content/search?cql=" + q(bad), at)
            self.assertEqual(st, 400, bad)
            self.assertIn("Could not parse cql", body["message"])
        st, body, _ = self.wiki("GET", "/rest/api/space/DOCS", at)
        self.assertEqual((st, body["key"], body["name"]), (200, "DOCS", "Documentation"))
        st, body, _ = self.wiki("GET", "/rest/api/space/NOPE", at)
        self.assertEqual((st, body["statusCode"]), (404, 404))
        st, _, _ = self.wiki("DELETE", "/rest/api/content/" + child["id"], at)
        self.assertEqual(st, 204)
        st, body, _ = self.wiki("GET", "/rest/api/content/" + child["id"], at)
        self.assertEqual((st, body["message"]), (404, "Content not found"))

    def test_confluence_admin_reset_and_dump(self):
        at = self.at("write:page:confluence read:page:confluence")
        upd = {"id": self.RUNBOOK, "status": "current", "title": "Changed",
               "body": {"representation": "storage", "value": "<p>x</p>"}, "version": {"number": 2}}
        self.assertEqual(self.wiki("PUT", "/api/v2/pages/" + self.RUNBOOK, at, upd)[0], 200)
        dump = self.admin("confluence")["wikis"][SITE]
        self.assertEqual(dump["content"][self.RUNBOOK]["title"], "Changed")
        self.assertEqual(len(dump["content"][self.RUNBOOK]["versions"]), 2)
        made = self.admin("confluence/page", {"cloud_id": SITE, "space_key": "DOCS", "title": "Seeded",
                                              "body": "<p>s</p>"})
        st, body, _ = self.wiki("GET", "/api/v2/pages/%s?body-format=storage" % made["id"], at)
        self.assertEqual((body["title"], body["parentId"], body["body"]["storage"]["value"]),
                         ("Seeded", "65541", "<p>s</p>"))
        self.assertEqual(self.admin("confluence/content", {"title": "Seeded"})["id"], made["id"])
        self.admin("confluence/reset", {"cloud_id": SITE})
        st, body, _ = self.wiki("GET", "/api/v2/pages/" + self.RUNBOOK, at)
        self.assertEqual((body["title"], body["version"]["number"]), ("On-call Runbook", 1))
        self.assertEqual(self.wiki("GET", "/api/v2/pages/" + made["id"], at)[0], 404)
        self.wiki("PUT", "/api/v2/pages/" + self.RUNBOOK, at, upd)
        self.admin("reset", {})   # the whole fake's reset resets the wikis too
        self.assertEqual(self.admin("confluence")["wikis"], {})
        st, _, _ = self.jreq("POST", "/_fake/confluence/content", js={"cloud_id": "unknown", "id": "1"})
        self.assertEqual(st, 404)

    def test_confluence_faults(self):
        at = self.at("read:page:confluence")
        path = self.WIKI + "/api/v2/pages/" + self.CONSTRUCTS
        self.admin("fault", {"path": self.WIKI + "/api/v2/pages", "kind": "status", "status": 429,
                             "retry_after": 7, "count": 1})
        st, r, _ = self.req("GET", path, headers=self.bearer(at))
        self.assertEqual((st, r.getheader("Retry-After")), (429, "7"))
        self.assertEqual(self.req("GET", path, headers=self.bearer(at))[0], 200)
        self.admin("fault", {"path": self.WIKI + "/rest/api/content", "method": "PUT", "kind": "status",
                             "status": 503, "count": 1})
        st, _, _ = self.req("PUT", self.WIKI + "/rest/api/content/1", headers=self.bearer(at), js={})
        self.assertEqual(st, 503)
        self.admin("fault", {"path": path, "kind": "drop", "count": 1})
        with self.assertRaises((http.client.HTTPException, ConnectionError)):
            self.req("GET", path, headers=self.bearer(at))
        self.assertEqual(self.admin("state")["counters"]["faults_applied"], 3)
        # a fault "after" the route ran answers in its place
        self.admin("fault", {"path": path, "kind": "status", "status": 502, "when": "after", "count": 1})
        self.assertEqual(self.req("GET", path, headers=self.bearer(at))[0], 502)

    def test_confluence_api_tokens_and_pats(self):
        self.admin("api_tokens", {"site": "acme.atlassian.net", "email": "ann@example.com", "token": "ATATT-c"})
        basic = self.basic("ann@example.com", "ATATT-c")
        for base in ("/site/acme.atlassian.net/wiki", self.WIKI):   # API tokens carry no scopes
            st, _, body = self.jreq("GET", base + "/api/v2/pages/65538?body-format=storage", headers=basic)
            self.assertEqual((st, body["title"]), (200, "Architecture Overview"))
            st, _, body = self.jreq("GET", base + "/rest/api/content/search?cql=type%3Dblogpost", headers=basic)
            self.assertEqual([x["title"] for x in body["results"]], ["Release notes 1.0"])
        st, _, _ = self.jreq("GET", "/site/acme.atlassian.net/wiki/api/v2/pages/65538",
                             headers=self.basic("ann@example.com", "wrong"))
        self.assertEqual(st, 401)
        self.admin("pats", {"token": "pat-c", "username": "dana"})
        st, _, body = self.jreq("GET", "/dc/rest/api/content/65538?expand=body.storage,version",
                                headers=self.bearer("pat-c"))
        self.assertEqual((st, body["_links"]["webui"]), (200, "/display/ENG/Architecture+Overview"))
        self.assertIn('ac:name="code"', body["body"]["storage"]["value"])
        st, _, body = self.jreq("PUT", "/dc/rest/api/content/65538", headers=self.bearer("pat-c"),
                                js={"type": "page", "title": "DC", "version": {"number": 2}})
        self.assertEqual((st, body["title"]), (200, "DC"))
        self.assertEqual(self.admin("confluence/content", {"cloud_id": "dc", "id": "65538"})["title"], "DC")
        st, _, _ = self.jreq("GET", "/dc/rest/api/content/65538", headers=self.bearer("nope"))
        self.assertEqual(st, 401)
        st, _, _ = self.jreq("GET", "/dc/wiki/api/v2/pages/65538", headers=self.bearer("pat-c"))
        self.assertEqual(st, 404)   # Data Center has no v2

    # -- API tokens (Basic) and personal access tokens (Bearer) --------------
    def basic(self, email, token):
        return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (email, token)).encode()).decode()}

    def test_api_token_site_routes(self):
        u = self.admin("api_tokens", {"site": "Acme.atlassian.net", "email": "ann@example.com",
                                      "token": "ATATT-one", "display_name": "Ann"})
        self.assertEqual(u["site"], "acme.atlassian.net")
        base = "/site/acme.atlassian.net/wiki/rest/api"
        st, _, body = self.jreq("GET", base + "/user/current", headers=self.basic("ann@example.com", "ATATT-one"))
        self.assertEqual(st, 200, body)
        self.assertEqual((body["type"], body["displayName"], body["accountId"]), ("known", "Ann", u["accountId"]))
        # wrong token, wrong email, other site, no header, garbage, a Bearer: all 401
        for path, hdrs in [(base, self.basic("ann@example.com", "ATATT-two")),
                           (base, self.basic("bob@example.com", "ATATT-one")),
                           ("/site/other.atlassian.net/wiki/rest/api", self.basic("ann@example.com", "ATATT-one")),
                           (base, {}), (base, {"Authorization": "Basic !!!"}),
                           (base, {"Authorization": "Bearer ATATT-one"})]:
            st, r, body = self.jreq("GET", path + "/user/current", headers=hdrs)
            self.assertEqual(st, 401, (path, hdrs))
            self.assertIn("Basic", r.getheader("WWW-Authenticate"))
        st, _, body = self.jreq("GET", base + "/space", headers=self.basic("ann@example.com", "ATATT-one"))
        self.assertEqual((st, body["size"]), (200, 3))
        st, _, body = self.jreq("POST", "/site/acme.atlassian.net/wiki/echo/x?q=1", js={"a": 1},
                                headers=self.basic("ann@example.com", "ATATT-one"))
        self.assertEqual((st, body["method"], body["query"], body["site"]), (200, "POST", "q=1", "acme.atlassian.net"))
        self.assertEqual(body["headers"]["authorization"], self.basic("ann@example.com", "ATATT-one")["Authorization"])
        c = self.admin("state")["counters"]
        self.assertEqual((c["apikey_calls"], c["apikey_ok"], c["apikey_rejected"]), (9, 3, 6))
        creds = self.admin("credentials")
        self.assertEqual(creds["last_authorization"], self.basic("ann@example.com", "ATATT-one")["Authorization"])
        self.assertEqual(creds["api_tokens"][0]["token"], "ATATT-one")
        st, _, _ = self.jreq("POST", "/_fake/api_tokens/revoke", js={"token": "ATATT-one"})
        self.assertEqual(st, 200)
        st, _, _ = self.jreq("GET", base + "/user/current", headers=self.basic("ann@example.com", "ATATT-one"))
        self.assertEqual(st, 401)
        st, _, _ = self.jreq("POST", "/_fake/api_tokens", js={"site": "a", "email": "x:y", "token": "t"})
        self.assertEqual(st, 400)

    def test_scoped_api_token_through_ex_confluence(self):
        self.admin("api_tokens", {"site": "acme.atlassian.net", "email": "ann@example.com", "token": "scoped"})
        base = "/ex/confluence/%s/wiki/rest/api" % SITE
        st, _, body = self.jreq("GET", base + "/user/current", headers=self.basic("ann@example.com", "scoped"))
        self.assertEqual((st, body["type"]), (200, "known"))
        st, _, _ = self.jreq("GET", base + "/user/current", headers=self.basic("ann@example.com", "nope"))
        self.assertEqual(st, 401)
        st, _, _ = self.jreq("GET", "/ex/confluence/unknown-id/wiki/rest/api/user/current",
                             headers=self.basic("ann@example.com", "scoped"))
        self.assertEqual(st, 404)
        st, _, body = self.jreq("GET", base + "/space", headers=self.basic("ann@example.com", "scoped"))
        self.assertEqual((st, body["size"]), (200, 3))
        st, _, body = self.jreq("GET", "/ex/confluence/%s/wiki/echo/e" % SITE,
                                headers=self.basic("ann@example.com", "scoped"))
        self.assertEqual((st, body["site"]), (200, "acme.atlassian.net"))
        # a registered tenant is reachable by its cloud id too
        self.admin("tenants", {"host": "extra.atlassian.net", "cloud_id": "22222222-aaaa"})
        self.admin("api_tokens", {"site": "extra.atlassian.net", "email": "e@example.com", "token": "t2"})
        st, _, body = self.jreq("GET", "/ex/confluence/22222222-aaaa/wiki/rest/api/user/current",
                                headers=self.basic("e@example.com", "t2"))
        self.assertEqual(st, 200, body)
        # OAuth bearer tokens still work on the same routes
        at = self.get_tokens()["access_token"]
        st, _, _ = self.jreq("GET", base + "/space", headers=self.bearer(at))
        self.assertEqual(st, 200)
        c = self.admin("state")["counters"]
        self.assertEqual((c["apikey_ok"], c["apikey_rejected"]), (4, 1))

    def test_tenant_info(self):
        st, _, body = self.jreq("GET", "/_edge/acme.atlassian.net/tenant_info")
        self.assertEqual((st, body), (200, {"cloudId": SITE}))
        st, _, body = self.jreq("GET", "/_edge/ACME.atlassian.net/tenant_info")
        self.assertEqual((st, body), (200, {"cloudId": SITE}))
        st, _, _ = self.jreq("GET", "/_edge/nobody.atlassian.net/tenant_info")
        self.assertEqual(st, 404)
        self.admin("sites", {"sites": [{"id": "s-beta", "url": "https://beta.atlassian.net", "name": "beta"}]})
        st, _, body = self.jreq("GET", "/_edge/beta.atlassian.net/tenant_info")
        self.assertEqual((st, body), (200, {"cloudId": "s-beta"}))
        self.admin("tenants", {"host": "gamma.atlassian.net", "cloud_id": "s-gamma"})
        st, _, body = self.jreq("GET", "/_edge/gamma.atlassian.net/tenant_info")
        self.assertEqual((st, body), (200, {"cloudId": "s-gamma"}))
        st, _, _ = self.jreq("GET", "/_edge/gamma.atlassian.net/other")
        self.assertEqual(st, 404)
        c = self.admin("state")["counters"]
        self.assertEqual((c["tenant_info"], c["tenant_info_unknown"]), (5, 1))

    def test_data_center_pats(self):
        u = self.admin("pats", {"token": "pat-one", "username": "dana", "display_name": "Dana"})
        self.assertEqual(u["username"], "dana")
        st, _, body = self.jreq("GET", "/dc/rest/api/user/current", headers=self.bearer("pat-one"))
        self.assertEqual((st, body["type"], body["username"], body["userKey"]), (200, "known", "dana", u["userKey"]))
        # an unknown PAT (or none) is the anonymous user, with 200, as Data Center does
        for hdrs in [self.bearer("pat-two"), {}, self.basic("dana", "pat-one")]:
            st, _, body = self.jreq("GET", "/dc/rest/api/user/current", headers=hdrs)
            self.assertEqual((st, body["type"]), (200, "anonymous"))
            self.assertNotIn("username", body)
        st, _, body = self.jreq("GET", "/dc/rest/api/space", headers=self.bearer("pat-one"))
        self.assertEqual((st, body["size"]), (200, 3))
        st, _, _ = self.jreq("GET", "/dc/rest/api/space", headers=self.bearer("pat-two"))
        self.assertEqual(st, 401)
        st, _, body = self.jreq("PUT", "/dc/rest/api/echo/z?k=v", js={"x": 1}, headers=self.bearer("pat-one"))
        self.assertEqual((st, body["method"], body["path"], body["user"]), (200, "PUT", "/dc/rest/api/echo/z", "dana"))
        self.assertEqual(body["headers"]["authorization"], "Bearer pat-one")
        c = self.admin("state")["counters"]
        self.assertEqual((c["pat_calls"], c["pat_ok"], c["pat_anonymous"], c["pat_rejected"]), (7, 3, 3, 1))
        st, _, _ = self.jreq("POST", "/_fake/pats/revoke", js={"token": "pat-one"})
        self.assertEqual(st, 200)
        st, _, body = self.jreq("GET", "/dc/rest/api/user/current", headers=self.bearer("pat-one"))
        self.assertEqual(body["type"], "anonymous")
        self.admin("reset", {})
        self.assertEqual(self.admin("credentials")["pats"], [])

    def test_reset_and_state(self):
        self.get_tokens()
        self.admin("clock", {"offset": 50})
        self.admin("reset", {})
        s = self.admin("state")
        self.assertEqual(s["clock_offset"], 0)
        self.assertEqual(s["counters"]["token_requests"], 0)
        self.assertEqual(s["held"], 0)
        self.assertEqual(self.admin("tokens")["families"], [])
        self.assertIn(CLIENT_ID, [c["client_id"] for c in s["clients"]])
        self.admin("reset", {"all": True})
        self.assertEqual(self.admin("state")["clients"], [])

    def test_issued_secrets_survive_reset(self):
        tokens = self.get_tokens()
        self.admin("reset", {"all": True})
        issued = self.admin("issued")
        values = {i["value"] for i in (issued["issued"] if isinstance(issued, dict) else issued)}
        self.assertIn(tokens["access_token"], values)
        self.assertIn(tokens["refresh_token"], values)
        self.assertIn(CLIENT_SECRET, values)


if __name__ == "__main__":
    unittest.main()
