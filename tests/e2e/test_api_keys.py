"""End-to-end: API tokens and personal access tokens (auth types api_key
and api_key_per_user, SPEC §3 and §5) through lighttpd and the shipped
config, against the fake provider's Atlassian Cloud site routes
(/site/{host}/..., Basic email:api_token), its api.atlassian.com routes
for scoped tokens (/ex/confluence/{cloud_id}/..., the cloud id from
/_edge/{host}/tenant_info) and its Data Center server (/dc/..., Bearer
PAT, an unknown PAT answered as the anonymous user).

Covered: the per-user form (approve, redirect_url, wrong token, five wrong
tries, replay, missing or foreign cookie, the page's headers), scoped tokens,
Data Center PATs, private sites refused on the form and when connecting,
the shared key, /token, /refresh and /proxy for each, proxy_only, the CLI's
set-credential, and that no credential reaches a log, a page, an answer
other than /token and /refresh, or the database in clear.
"""

import base64
import html.parser
import json
import os
import secrets
import socket
import unittest
import urllib.parse

import lkassert as lka
import lkflow as f
import lkstack as lk
import lktoken as t

CLOUD_HOST = "acme.atlassian.net"
CLOUD_ID = f.DEFAULT_SITE["id"]
APP_DONE = "https://app.example.com/done"

# Every credential this module hands out, raw and as its header value.
CREDENTIALS = set()
# Every page or JSON answer this module received that must not hold one.
ANSWERS = []


def setUpModule():
    t.restore_fake()


def tearDownModule():
    f.cleanup()


# ------------------------------------------------------------------ credentials

def b64(s):
    return base64.b64encode(s.encode()).decode()


def basic_header(email, token):
    return "Basic " + b64("%s:%s" % (email, token))


def new_api_token(site=CLOUD_HOST, email=None, register=True):
    """An Atlassian API token (known to the fake unless register=False):
    (email, token)."""
    email = email or "%s@example.com" % lk.unique("u")
    token = "ATATT3x" + secrets.token_urlsafe(24)
    CREDENTIALS.update([token, "%s:%s" % (email, token), b64("%s:%s" % (email, token))])
    f.remember(token, b64("%s:%s" % (email, token)))
    if register:
        lk.fake("POST", "/_fake/api_tokens", {"site": site, "email": email, "token": token,
                                               "display_name": "Test User"})
    return email, token


def new_pat(register=True):
    token = "NjM0" + secrets.token_urlsafe(30).replace("-", "x").replace("_", "y")
    CREDENTIALS.update([token, b64(token)])
    f.remember(token)
    if register:
        lk.fake("POST", "/_fake/pats", {"token": token, "username": lk.unique("dana")})
    return token


def counters():
    return t.counters()


# ------------------------------------------------------------------ profiles

def dc_url():
    return lk.PROVIDER_URL + "/dc"


def make_api_profile(kind, auth_type="api_key_per_user", extra=(), credential=None, site=None,
                     check=True):
    """A profile of auth_type for kind "cloud" (Basic, /site/{host}),
    "scoped" (Basic through /ex/confluence/{cloud_id}) or "dc" (Bearer PAT
    at the fake's /dc); with an API key for it.  Returns an lkflow.Profile
    (client_id and client_secret None), or the CLI's (rc, out, err) when
    check is False and it failed."""
    name = lk.unique("ak")
    pu = lk.PROVIDER_URL
    if kind in ("cloud", "scoped"):
        # the fake stands in for *.atlassian.net and api.atlassian.com on
        # 127.0.0.1, which API-token calls reach only when allowed
        args = ["profile", "add", name, "--template", "atlassian-confluence", "--auth-type", auth_type,
                "--allow-private-sites"]
        if kind == "cloud":
            args += ["--api-base-url", pu + "/site/{site_host}"]
        else:
            args += ["--api-base-url", pu + "/ex/confluence/{cloud_id}",
                     "--tenant-info-url", pu + "/_edge/{site_host}/tenant_info"]
    else:
        args = ["profile", "add", name, "--template", "generic", "--auth-type", auth_type,
                "--allow-http-sites"]
    if auth_type == "api_key_per_user":
        args += ["--callback-url", lk.LATCHKEY_URL + "/callback/" + name, "--allow-redirect", APP_DONE]
    if credential is not None:
        args += ["--credential-file", f.secret_file(credential), "--site", site]
    args += list(extra)
    rc, out, err = lk.cli(*args, check=check)
    if rc != 0:
        return rc, out, err
    key_name, key = f.make_key(name)
    return f.Profile(name, None, None, key, key_name)


# ------------------------------------------------------------------ the form

class CredentialForm(html.parser.HTMLParser):
    """Latchkey's credential page: the form, its inputs, the problem shown."""

    def __init__(self, text):
        super().__init__()
        self.forms = []
        self.inputs = {}  # name -> attrs
        self.problem = None
        self._in_problem = False
        self.feed(text)
        self.action = self.forms[0].get("action") if self.forms else None
        self.method = self.forms[0].get("method") if self.forms else None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append(a)
        elif tag == "input":
            self.inputs[a.get("name")] = a
        elif tag == "p" and "problem" in (a.get("class") or ""):
            self._in_problem = True
            self.problem = ""

    def handle_endtag(self, tag):
        if tag == "p":
            self._in_problem = False

    def handle_data(self, data):
        if self._in_problem:
            self.problem += data

    @property
    def flow(self):
        return (self.inputs.get("flow") or {}).get("value")


class Flow:
    """One browser's walk through an api_key_per_user link."""

    def __init__(self, profile, instance_id=None, browser=None, link=None, **link_fields):
        """A fresh link for instance_id, or link (made for instance_id) opened again."""
        self.profile = profile
        if link:
            self.link, self.instance_id = link, instance_id
        else:
            self.link, self.instance_id = f.new_link(profile, instance_id, **link_fields)
        self.browser = browser or lk.Browser()
        self.page = self.browser.get(self.link)
        assert self.page.status == 200, self.page
        ANSWERS.append(self.page)
        self.form = CredentialForm(self.page.text)
        assert self.form.flow, self.page.text[:800]
        for v in self.browser.jar.values():
            f.remember(v)

    @property
    def cookie_value(self):
        return self.browser.cookie(self.form.flow)

    def data(self, **fields):
        d = {"flow": self.form.flow}
        d.update({k: v for k, v in fields.items() if v is not None})
        return d

    def submit(self, **fields):
        r = self.browser.post(self.form.action, self.data(**fields))
        ANSWERS.append(r)
        return r


def flow_rows(profile):
    return lk.sql("SELECT f.cookie_name, f.attempts FROM flows f JOIN profiles p ON p.id = f.profile_id "
                  "WHERE p.name = :'p1' ORDER BY f.id", profile.name)


def conn_row(profile, instance_id):
    """The connection row, or None (lktoken.row wants an expiry; these have none)."""
    cols = ["id", "access_token", "refresh_token", "token_type", "scope", "status", "expires_at",
            "metadata", "refresh_count"]
    rows = lk.sql(
        "SELECT c.id, c.access_token, c.refresh_token, c.token_type, c.scope, c.status, c.expires_at, "
        "c.metadata::text, c.refresh_count FROM connections c JOIN profiles p ON p.id = c.profile_id "
        "WHERE p.name = :'p1' AND c.instance_id = :'p2'", profile.name, instance_id)
    if not rows:
        return None
    d = dict(zip(cols, rows[0]))
    d["metadata"] = json.loads(d["metadata"])
    return d


def token(profile, iid, **params):
    return t.get_token(profile, iid, **params)


def proxy(profile, iid, sub, method="GET", body=None, headers=None):
    hdrs = {"Authorization": "Bearer " + profile.key, "X-Instance-Id": iid}
    hdrs.update(headers or {})
    r = lk.http(method, "/proxy/%s%s" % (profile.name, sub), headers=hdrs, body=body)
    return r


# ------------------------------------------------------------------ tests

class ApiKeyCase(lka.Asserts, unittest.TestCase):
    def tearDown(self):
        t.restore_fake()

    def answered(self, r):
        ANSWERS.append(r)  # for ZzNoLeaksTest

    def assertFormAgain(self, r, flow, message):
        self.assertPage(r, 422)
        form = CredentialForm(r.text)
        self.assertEqual(form.flow, flow.form.flow)
        self.assertEqual(form.action, flow.form.action)
        self.assertIsNotNone(form.problem, r.text[:800])
        self.assertIn(message, form.problem)
        self.assertNotIn("value", form.inputs["token"])  # the token is never echoed
        return form

    def assertNoConnection(self, profile, iid):
        self.assertIsNone(conn_row(profile, iid))

    def assertApiToken(self, r, kind, credential, api_base_url=None):
        """A /token or /refresh answer for an API token or PAT."""
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        body = r.json()
        if kind == "basic":
            self.assertEqual(body["token_type"], "Basic")
            self.assertEqual(body["authorization"], "Basic " + b64(credential))
            self.assertNotIn("access_token", body)
        else:
            self.assertEqual(body["token_type"], "Bearer")
            self.assertEqual(body["authorization"], "Bearer " + credential)
            self.assertEqual(body["access_token"], credential)
        self.assertNotIn("refresh_token", body)
        self.assertIsNone(body["expires_at"])
        if api_base_url is not None:
            self.assertEqual(body["api_base_url"], api_base_url)
        return body


class PerUserFormTest(ApiKeyCase):
    """api_key_per_user: the browser enters its credential on Latchkey's form."""

    @classmethod
    def setUpClass(cls):
        cls.cloud = make_api_profile("cloud")
        cls.scoped = make_api_profile("scoped")
        cls.dc = make_api_profile("dc", extra=["--allow-private-sites"])

    def test_form_page_headers_and_content(self):
        fl = Flow(self.cloud)
        r = fl.page
        self.assertPage(r, 200)
        csp = r.headers["Content-Security-Policy"]
        self.assertIn("form-action 'self'", csp)
        self.assertIn("default-src 'none'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertEqual(r.headers["X-Frame-Options"], "DENY")
        # the form posts to the profile's callback, carrying only the flow's public id
        self.assertEqual(fl.form.method, "post")
        self.assertEqual(fl.form.action, lk.LATCHKEY_URL + "/callback/" + self.cloud.name)
        self.assertRegex(fl.form.flow, r"^lkf_[0-9a-f]{16}$")
        self.assertEqual(sorted(fl.form.inputs), ["email", "flow", "site", "token"])
        self.assertEqual(fl.form.inputs["token"]["type"], "password")
        self.assertEqual([k for k, a in fl.form.inputs.items() if a.get("type") == "hidden"], ["flow"])
        # the cookie binds the flow: named by the flow id, its value never in the page
        cookies = [c for c in r.set_cookies if c.startswith(fl.form.flow + "=")]
        self.assertEqual(len(cookies), 1, r.set_cookies)
        attrs = [a.strip().lower() for a in cookies[0].split(";")]
        self.assertIn("httponly", attrs)
        self.assertIn("samesite=lax", attrs)
        self.assertIn("path=/latchkey/callback/" + self.cloud.name, attrs)
        self.assertTrue(fl.cookie_value)
        self.assertNotIn(fl.cookie_value, r.text)
        # neither the link nor anything like a state or a provider redirect
        self.assertNotIn(f.link_of(fl.link), r.text)
        self.assertNotIn("state", r.text.lower())
        self.assertNotIn("link=", r.text)
        self.assertIsNone(r.headers.get("Location"))
        # a Data Center profile asks for the server and a PAT, no email
        dc = Flow(self.dc)
        self.assertEqual(sorted(dc.form.inputs), ["flow", "site", "token"])
        self.assertEqual(dc.form.inputs["site"]["type"], "url")
        # a link that names the site does not ask for it
        named = Flow(self.cloud, site=CLOUD_HOST)
        self.assertEqual(sorted(named.form.inputs), ["email", "flow", "token"])

    def test_cloud_approve(self):
        email, tok = new_api_token()
        before = counters()
        fl = Flow(self.cloud)
        r = fl.submit(site="https://ACME.atlassian.net/", email=email, token=tok)
        self.assertEqual(r.status, 303, r)
        self.assertEqual(r.headers["Location"], fl.form.action + "?connected=1")
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        cleared = [c for c in r.set_cookies if c.startswith(fl.form.flow + "=")]
        self.assertEqual(len(cleared), 1, r.set_cookies)
        self.assertIn("max-age=0", cleared[0].lower())
        self.assertIsNone(fl.cookie_value)
        page = fl.browser.follow(r)
        self.assertPage(page, 200, "connected")
        # the provider checked it once, with Basic
        after = counters()
        self.assertEqual(after["apikey_ok"] - before["apikey_ok"], 1)
        self.assertEqual(lk.fake("GET", "/_fake/credentials")["last_authorization"], basic_header(email, tok))
        # stored sealed, as Basic, with its site; the link and the flow are used up
        row = conn_row(self.cloud, fl.instance_id)
        self.assertEqual(row["token_type"], "Basic")
        self.assertTrue(row["access_token"].startswith("lk1."), row["access_token"])
        self.assertIsNone(row["refresh_token"])
        self.assertEqual(row["status"], "active")
        self.assertIsNone(row["expires_at"])
        self.assertEqual(row["refresh_count"], "0")
        self.assertEqual(row["metadata"]["site_url"], "https://acme.atlassian.net")
        self.assertEqual(row["metadata"]["site_name"], "acme")
        self.assertNotIn("cloud_id", row["metadata"])
        self.assertEqual(flow_rows(self.cloud), [])
        self.assertEqual(f.count("links", self.cloud), 0)
        # /token: the ready header value; /refresh: the same
        base = lk.PROVIDER_URL + "/site/acme.atlassian.net"
        body = self.assertApiToken(token(self.cloud, fl.instance_id), "basic", "%s:%s" % (email, tok), base)
        self.assertEqual(body["metadata"]["site_url"], "https://acme.atlassian.net")
        self.assertApiToken(t.post_refresh(self.cloud, fl.instance_id), "basic", "%s:%s" % (email, tok), base)
        # site= may name the connection's one site, and nothing else
        self.assertApiToken(token(self.cloud, fl.instance_id, site="ACME.atlassian.net"), "basic",
                            "%s:%s" % (email, tok), base)
        r = token(self.cloud, fl.instance_id, site="beta.atlassian.net")
        self.assertJsonError(r, 422, "validation_error")
        self.assertEqual(r.json()["detail"][0]["loc"], ["query", "site"])
        r = proxy(self.cloud, fl.instance_id, "/wiki/echo/x", headers={"X-Site": "beta.atlassian.net"})
        self.assertJsonError(r, 422, "validation_error")
        r = proxy(self.cloud, fl.instance_id, "/wiki/echo/x", headers={"X-Site": CLOUD_HOST})
        self.assertEqual(r.status, 200, r)
        # /proxy injects it
        r = proxy(self.cloud, fl.instance_id, "/wiki/echo/hello?x=1")
        self.assertEqual(r.status, 200, r)
        echo = r.json()
        self.assertEqual(echo["headers"]["authorization"], basic_header(email, tok))
        self.assertEqual(echo["path"], "/site/acme.atlassian.net/wiki/echo/hello")
        self.assertEqual(echo["site"], "acme.atlassian.net")
        r = proxy(self.cloud, fl.instance_id, "/wiki/rest/api/space")
        self.assertEqual((r.status, r.json()["size"]), (200, 3))
        self.assertEqual(t.counters()["token_requests"], before["token_requests"])

    def test_cloud_approve_with_redirect_url(self):
        email, tok = new_api_token()
        fl = Flow(self.cloud, redirect_url=APP_DONE + "/x?keep=1")
        r = fl.submit(site=CLOUD_HOST, email=email, token=tok)
        self.assertEqual(r.status, 303, r)
        loc = r.headers["Location"]
        self.assertTrue(loc.startswith(APP_DONE + "/x?"), loc)
        self.assertEqual(f.query(loc), {"keep": "1", "status": "success", "profile": self.cloud.name,
                                        "instance_id": fl.instance_id})
        self.assertEqual(conn_row(self.cloud, fl.instance_id)["token_type"], "Basic")

    def test_reconnect_replaces_the_credential(self):
        email, tok = new_api_token()
        fl = Flow(self.cloud)
        self.assertEqual(fl.submit(site=CLOUD_HOST, email=email, token=tok).status, 303)
        first = conn_row(self.cloud, fl.instance_id)
        email2, tok2 = new_api_token()
        fl2 = Flow(self.cloud, fl.instance_id)
        self.assertEqual(fl2.submit(site=CLOUD_HOST, email=email2, token=tok2).status, 303)
        second = conn_row(self.cloud, fl.instance_id)
        self.assertEqual(first["id"], second["id"])
        self.assertNotEqual(first["access_token"], second["access_token"])
        self.assertApiToken(token(self.cloud, fl.instance_id), "basic", "%s:%s" % (email2, tok2))

    def test_scoped_token_resolves_the_cloud_id(self):
        email, tok = new_api_token()
        before = counters()
        fl = Flow(self.scoped)
        r = fl.submit(site=CLOUD_HOST, email=email, token=tok)
        self.assertEqual(r.status, 303, r)
        after = counters()
        self.assertEqual(after["tenant_info"] - before["tenant_info"], 1)
        # the check went through api.atlassian.com's route for that cloud id
        path = "/ex/confluence/%s/wiki/rest/api/user/current" % CLOUD_ID
        self.assertEqual(after["paths"].get(path, 0) - before["paths"].get(path, 0), 1)
        row = conn_row(self.scoped, fl.instance_id)
        self.assertEqual(row["metadata"]["cloud_id"], CLOUD_ID)
        self.assertEqual(row["metadata"]["site_url"], "https://acme.atlassian.net")
        base = lk.PROVIDER_URL + "/ex/confluence/" + CLOUD_ID
        body = self.assertApiToken(token(self.scoped, fl.instance_id), "basic", "%s:%s" % (email, tok), base)
        self.assertEqual(body["metadata"]["cloud_id"], CLOUD_ID)
        r = proxy(self.scoped, fl.instance_id, "/wiki/echo/s")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["path"], "/ex/confluence/%s/wiki/echo/s" % CLOUD_ID)
        self.assertEqual(r.json()["headers"]["authorization"], basic_header(email, tok))
        # no cloud id without tenant_info: tenant_info is asked when connecting only
        self.assertEqual(counters()["tenant_info"], after["tenant_info"])

    def test_scoped_token_extra_tenant_and_unknown_site(self):
        host = lk.unique("t") + ".atlassian.net"
        cid = "cccccccc-3333-4333-8333-" + secrets.token_hex(6)
        lk.fake("POST", "/_fake/tenants", {"host": host, "cloud_id": cid})
        email, tok = new_api_token(site=host)
        fl = Flow(self.scoped)
        # a site tenant_info does not know: form again, nothing stored, no check made
        before = counters()
        r = fl.submit(site="nobody-here.atlassian.net", email=email, token=tok)
        self.assertFormAgain(r, fl, "could not be reached")
        self.assertEqual(counters()["apikey_calls"], before["apikey_calls"])
        self.assertNoConnection(self.scoped, fl.instance_id)
        r = fl.submit(site=host, email=email, token=tok)
        self.assertEqual(r.status, 303, r)
        self.assertEqual(conn_row(self.scoped, fl.instance_id)["metadata"]["cloud_id"], cid)
        self.assertEqual(token(self.scoped, fl.instance_id).json()["api_base_url"],
                         lk.PROVIDER_URL + "/ex/confluence/" + cid)

    def test_dc_pat(self):
        pat = new_pat()
        before = counters()
        fl = Flow(self.dc)
        # a PAT the server does not know is answered as the anonymous user: refused
        wrong = new_pat(register=False)
        r = fl.submit(site=dc_url(), token=wrong)
        form = self.assertFormAgain(r, fl, "did not accept")
        self.assertEqual(form.inputs["site"]["value"], dc_url())
        self.assertEqual(counters()["pat_anonymous"] - before["pat_anonymous"], 1)
        self.assertNoConnection(self.dc, fl.instance_id)
        r = fl.submit(site=dc_url() + "/", token=pat)
        self.assertEqual(r.status, 303, r)
        self.assertEqual(counters()["pat_ok"] - before["pat_ok"], 1)
        row = conn_row(self.dc, fl.instance_id)
        self.assertEqual(row["token_type"], "Bearer")
        self.assertTrue(row["access_token"].startswith("lk1."))
        self.assertEqual(row["metadata"]["site_url"], dc_url())
        self.assertNotIn("cloud_id", row["metadata"])
        self.assertApiToken(token(self.dc, fl.instance_id), "bearer", pat, dc_url())
        self.assertApiToken(t.post_refresh(self.dc, fl.instance_id), "bearer", pat, dc_url())
        r = proxy(self.dc, fl.instance_id, "/rest/api/space")
        self.assertEqual((r.status, r.json()["size"]), (200, 3), r)
        r = proxy(self.dc, fl.instance_id, "/rest/api/echo/p", method="POST", body=b'{"a":1}',
                  headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["headers"]["authorization"], "Bearer " + pat)
        self.assertEqual(r.json()["body_bytes"], 7)
        user = [u for u in lk.fake("GET", "/_fake/credentials")["pats"] if u["token"] == pat][0]
        self.assertEqual(r.json()["user"], user["username"])

    def test_upstream_401_is_passed_back_without_refresh(self):
        pat = new_pat()
        fl = Flow(self.dc)
        self.assertEqual(fl.submit(site=dc_url(), token=pat).status, 303)
        lk.fake("POST", "/_fake/pats/revoke", {"token": pat})
        before = counters()
        r = proxy(self.dc, fl.instance_id, "/rest/api/space")
        self.assertEqual(r.status, 401, r)
        after = counters()
        self.assertEqual(after["pat_rejected"] - before["pat_rejected"], 1)   # one call, no retry
        self.assertEqual(after["token_requests"], before["token_requests"])
        self.assertEqual(conn_row(self.dc, fl.instance_id)["status"], "active")

    def test_wrong_token_then_right_one(self):
        email, tok = new_api_token()
        fl = Flow(self.cloud)
        before = counters()
        wrong = "ATATT3x" + secrets.token_urlsafe(24)
        CREDENTIALS.add(wrong)
        f.remember(wrong)
        r = fl.submit(site=CLOUD_HOST, email=email, token=wrong)
        form = self.assertFormAgain(r, fl, "The site did not accept this token")
        self.assertEqual(form.inputs["email"]["value"], email)
        self.assertEqual(form.inputs["site"]["value"], CLOUD_HOST)
        self.assertNotIn(wrong, r.text)
        self.assertEqual(counters()["apikey_rejected"] - before["apikey_rejected"], 1)
        self.assertNoConnection(self.cloud, fl.instance_id)
        self.assertEqual(flow_rows(self.cloud)[-1], [fl.form.flow, "1"])
        self.assertEqual(r.headers["Content-Security-Policy"], fl.page.headers["Content-Security-Policy"])
        # a look-alike site is refused before anything is sent
        r = fl.submit(site="acme.atlassian.net.evil.com", email=email, token=tok)
        self.assertFormAgain(r, fl, "yourname.atlassian.net")
        self.assertEqual(counters()["apikey_calls"] - before["apikey_calls"], 1)
        # still usable: the right token now connects
        r = fl.submit(site=CLOUD_HOST, email=email, token=tok)
        self.assertEqual(r.status, 303, r)
        self.assertApiToken(token(self.cloud, fl.instance_id), "basic", "%s:%s" % (email, tok))

    def test_malformed_input_is_not_sent_to_the_provider(self):
        email, tok = new_api_token()
        fl = Flow(self.cloud)
        before = counters()
        cases = [({"site": CLOUD_HOST, "email": "", "token": tok}, "Enter the email"),
                 ({"site": CLOUD_HOST, "email": email}, "Enter the email"),
                 ({"site": CLOUD_HOST, "email": email, "token": "has space"}, "Enter the email"),
                 ({"site": "http://acme.atlassian.net", "email": email, "token": tok}, "yourname.atlassian.net"),
                 ({"email": email, "token": tok}, "Enter the address")]
        for i, (fields, msg) in enumerate(cases[:4]):
            r = fl.submit(**fields)
            self.assertFormAgain(r, fl, msg)
        self.assertEqual(counters()["apikey_calls"], before["apikey_calls"])
        self.assertNoConnection(self.cloud, fl.instance_id)
        # a fifth bad try ends the flow
        r = fl.submit(**cases[4][0])
        self.assertPage(r, 403, "Too many tries")

    def test_five_wrong_tries_burn_the_flow(self):
        email, tok = new_api_token()
        fl = Flow(self.cloud, redirect_url=APP_DONE)
        for i in range(4):
            r = fl.submit(site=CLOUD_HOST, email=email, token="wrong-%d" % i)
            self.assertFormAgain(r, fl, "did not accept")
            self.assertEqual(flow_rows(self.cloud)[-1], [fl.form.flow, str(i + 1)])
        r = fl.submit(site=CLOUD_HOST, email=email, token="wrong-4")
        # the fifth ends it: to the app with an error, the cookie cleared, the flow gone
        self.assertEqual(r.status, 303, r)
        q = f.query(r.headers["Location"])
        self.assertEqual((q["status"], q["error"]), ("error", "forbidden"))
        self.assertTrue(any(c.startswith(fl.form.flow + "=") and "max-age=0" in c.lower()
                            for c in r.set_cookies), r.set_cookies)
        self.assertNotIn(fl.form.flow, [row[0] for row in flow_rows(self.cloud)])
        # even the right token is refused now (the cookie is kept by hand)
        r = lk.http("POST", fl.form.action, body=urllib.parse.urlencode(fl.data(
            site=CLOUD_HOST, email=email, token=tok)),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            cookies={fl.form.flow: fl.page.set_cookies[0].split(";")[0].split("=", 1)[1]})
        self.assertPage(r, 403, "could not be matched to your browser")
        self.assertNoConnection(self.cloud, fl.instance_id)
        # the link is not used up: a new flow from it still works
        fl2 = Flow(self.cloud, fl.instance_id, link=fl.link)
        self.assertEqual(fl2.submit(site=CLOUD_HOST, email=email, token=tok).status, 303)

    def test_replayed_form_after_success(self):
        email, tok = new_api_token()
        fl = Flow(self.cloud)
        cookie = fl.cookie_value
        data = urllib.parse.urlencode(fl.data(site=CLOUD_HOST, email=email, token=tok))
        self.assertEqual(fl.submit(site=CLOUD_HOST, email=email, token=tok).status, 303)
        row = conn_row(self.cloud, fl.instance_id)
        before = counters()
        # the same post again, with the old cookie: the flow is gone
        r = lk.http("POST", fl.form.action, body=data, cookies={fl.form.flow: cookie},
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertPage(r, 403, "could not be matched to your browser")
        self.assertIsNone(r.headers.get("Location"))
        # with another token too: nothing is replaced, nobody is asked
        email2, tok2 = new_api_token()
        r = lk.http("POST", fl.form.action, body=urllib.parse.urlencode(fl.data(
            site=CLOUD_HOST, email=email2, token=tok2)), cookies={fl.form.flow: cookie},
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertPage(r, 403, "could not be matched to your browser")
        self.assertEqual(conn_row(self.cloud, fl.instance_id)["access_token"], row["access_token"])
        self.assertEqual(counters()["apikey_calls"], before["apikey_calls"])
        self.assertEqual(t.audit_rows(self.cloud, fl.instance_id, "connection.authorize")[-1]["outcome"], "ok")

    def test_missing_cookie(self):
        email, tok = new_api_token()
        fl = Flow(self.cloud)
        before = counters()
        r = lk.http("POST", fl.form.action, body=urllib.parse.urlencode(fl.data(
            site=CLOUD_HOST, email=email, token=tok)),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertPage(r, 403, "could not be matched to your browser", "cookie was lost")
        self.assertIsNone(r.headers.get("Location"))
        self.assertNoConnection(self.cloud, fl.instance_id)
        self.assertEqual(counters()["apikey_calls"], before["apikey_calls"])
        # the flow is untouched (no try counted): its own browser still connects
        self.assertEqual(flow_rows(self.cloud)[-1], [fl.form.flow, "0"])
        self.assertEqual(fl.submit(site=CLOUD_HOST, email=email, token=tok).status, 303)

    def test_foreign_or_forged_cookie(self):
        email, tok = new_api_token()
        victim = Flow(self.cloud)
        attacker = Flow(self.cloud)
        before = counters()
        # the attacker's browser posts the victim's flow id: it has no cookie of that name
        r = attacker.browser.post(victim.form.action, victim.data(site=CLOUD_HOST, email=email, token=tok))
        self.assertPage(r, 403, "could not be matched to your browser")
        # a cookie of the right name with the attacker's own value
        r = lk.http("POST", victim.form.action, body=urllib.parse.urlencode(victim.data(
            site=CLOUD_HOST, email=email, token=tok)),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            cookies={victim.form.flow: attacker.cookie_value})
        self.assertPage(r, 403, "could not be matched to your browser")
        # a flow of another profile
        other = Flow(self.dc)
        r = other.browser.post(victim.form.action, other.data(site=CLOUD_HOST, email=email, token=tok))
        self.assertPage(r, 403, "could not be matched to your browser")
        # no flow id, or a state-like value
        for bad in [{}, {"flow": ""}, {"flow": "lkf_zz"}, {"flow": secrets.token_urlsafe(32)}]:
            r = victim.browser.post(victim.form.action, dict(bad, site=CLOUD_HOST, email=email, token=tok))
            self.assertPage(r, 403, "could not be matched to your browser")
        self.assertEqual(counters()["apikey_calls"], before["apikey_calls"])
        self.assertNoConnection(self.cloud, victim.instance_id)
        self.assertNoConnection(self.cloud, attacker.instance_id)
        self.assertEqual(victim.submit(site=CLOUD_HOST, email=email, token=tok).status, 303)

    def test_expired_flow(self):
        email, tok = new_api_token()
        fl = Flow(self.cloud)
        lk.sql("UPDATE flows SET expires_at = now() - interval '1 second' WHERE cookie_name = :'p1'", fl.form.flow)
        before = counters()
        r = fl.submit(site=CLOUD_HOST, email=email, token=tok)
        self.assertPage(r, 410, "expired")
        self.assertNotIn(fl.form.flow, [row[0] for row in flow_rows(self.cloud)])
        self.assertEqual(counters()["apikey_calls"], before["apikey_calls"])
        self.assertNoConnection(self.cloud, fl.instance_id)

    def test_connected_page_and_oauth_profiles(self):
        r = lk.http("GET", "/callback/%s?connected=1" % self.cloud.name)
        self.assertPage(r, 200, "connected")
        # a cloud id is no site a person can enter: refused when linking
        r = f.post_link(self.cloud, {"instance_id": lk.unique("u"), "site": "11111111-1111-4111-8111-111111111111"})
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.json()["detail"][0]["loc"], ["body", "site"])
        # the form is only for api_key_per_user profiles
        oauth = f.make_profile()
        r = lk.http("POST", "/callback/" + oauth.name, body="flow=lkf_0123456789abcdef",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 405, r)
        # and the landing page is only theirs: OAuth sign-ins come back with a state
        r = lk.http("GET", "/callback/%s?connected=1" % oauth.name)
        self.assertEqual(r.status, 400, r)


class PrivateSiteTest(ApiKeyCase):
    """Data Center sites on private or loopback addresses: refused on the
    form by name, and when connecting whatever the name."""

    @classmethod
    def setUpClass(cls):
        cls.dc = make_api_profile("dc")   # --allow-http-sites only

    def private_alias(self, which=0):
        """A name (not an address literal) that resolves to 127.0.0.1 only,
        where the fake listens, so that only the address check stops a call.
        which: 0 for the first such name, 1 for another one."""
        names = [socket.gethostname()]
        try:
            with open("/etc/hosts") as fh:
                for line in fh:
                    words = line.split("#")[0].split()
                    if words and words[0] == "127.0.0.1":
                        names += words[1:]
        except OSError:
            pass
        found = []
        for name in names:
            if name.lower().rstrip(".") == "localhost" or name in found:
                continue
            try:
                addrs = {ai[4][0] for ai in socket.getaddrinfo(name, None, socket.AF_INET)}
            except OSError:
                continue
            if addrs == {"127.0.0.1"}:
                found.append(name)
        if len(found) <= which:
            self.skipTest("no name (%d) here resolves to 127.0.0.1 only" % which)
        return found[which]

    def test_form_refuses_private_site(self):
        pat = new_pat()
        fl = Flow(self.dc)
        before = counters()
        for s in [dc_url(), dc_url().replace("127.0.0.1", "localhost"),
                  dc_url().replace("127.0.0.1", "127.1"), dc_url().replace("127.0.0.1", "[::1]")]:
            r = fl.submit(site=s, token=pat)
            self.assertFormAgain(r, fl, "private or local network")
        self.assertEqual(counters()["pat_calls"], before["pat_calls"])
        self.assertNoConnection(self.dc, fl.instance_id)
        r = fl.submit(site=dc_url(), token=pat)
        self.assertPage(r, 403, "Too many tries")
        self.assertNoConnection(self.dc, fl.instance_id)

    def test_form_refuses_a_name_that_resolves_to_a_private_address(self):
        alias = self.private_alias()
        pat = new_pat()
        fl = Flow(self.dc)
        before = counters()
        site = "http://%s:%s/dc" % (alias, lk.PROVIDER_PORT)
        r = fl.submit(site=site, token=pat)
        # the name passes, the connection is refused: the check could not be made
        self.assertFormAgain(r, fl, "could not be reached")
        self.assertEqual(counters()["pat_calls"], before["pat_calls"])
        self.assertNoConnection(self.dc, fl.instance_id)

    def test_set_credential_and_proxy_refused_when_connecting(self):
        alias = self.private_alias()
        pat = new_pat()
        iid = lk.unique("u")
        site = "http://%s:%s/dc" % (alias, lk.PROVIDER_PORT)
        before = counters()
        # an address literal is refused by name
        rc, _out, err = lk.cli("connection", "set-credential", self.dc.name, iid, "--credential-file",
                               f.secret_file(pat), "--site", dc_url(), "--no-check", check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("private", err)
        # a name is refused when connecting: the check cannot be made ...
        rc, _out, err = lk.cli("connection", "set-credential", self.dc.name, iid, "--credential-file",
                               f.secret_file(pat), "--site", site, check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("could not be asked", err)
        self.assertNoConnection(self.dc, iid)
        # ... and without the check it is stored, but the proxy will not connect
        lk.cli("connection", "set-credential", self.dc.name, iid, "--credential-file",
               f.secret_file(pat), "--site", site, "--no-check")
        self.assertEqual(conn_row(self.dc, iid)["metadata"]["site_url"], site)
        for _ in range(3):  # each worker process, whatever it connected to before
            r = proxy(self.dc, iid, "/rest/api/space")
            self.assertJsonError(r, 502, "upstream_error")
        self.assertEqual(counters()["pat_calls"], before["pat_calls"])
        log = ""
        for fn in ("lighttpd-error.log", "lighttpd.out"):  # the programs' stderr
            with open(os.path.join(lk.STACK_DIR, fn), errors="replace") as fh:
                log += fh.read()
        self.assertRegex(log, r"warn proxy: refused to connect to a private or local address")
        self.assertNotIn(pat, log)
        # /token still hands it out (nothing is sent anywhere)
        self.assertApiToken(token(self.dc, iid), "bearer", pat, site)


class ZyConnectionReuseTest(ApiKeyCase):
    """The connect-time address check must hold for every request, also when
    libcurl could reuse a kept-alive connection that a profile allowed to
    reach private addresses opened to the same host and port.  Runs after
    the other classes (name order) and uses its own host name: the proxy
    workers keep such connections for minutes."""

    def test_private_host_not_reached_through_a_kept_alive_connection(self):
        alias = PrivateSiteTest.private_alias(self, 1)
        pat = new_pat()
        site = "http://%s:%s/dc" % (alias, lk.PROVIDER_PORT)
        allowed = make_api_profile("dc", extra=["--allow-private-sites"])
        denied = make_api_profile("dc")
        for p, extra in ((allowed, ()), (denied, ("--no-check",))):
            lk.cli("connection", "set-credential", p.name, "u", "--credential-file", f.secret_file(pat),
                   "--site", site, *extra)
        statuses = []
        for _ in range(4):  # every worker gets a kept-alive connection to alias:port
            self.assertEqual(proxy(allowed, "u", "/rest/api/space").status, 200)
            statuses.append(proxy(denied, "u", "/rest/api/space").status)
        self.assertEqual(statuses, [502] * 4)


class SharedKeyTest(ApiKeyCase):
    """api_key: one credential on the profile, set by the CLI from a file."""

    def test_cloud_shared_key(self):
        email, tok = new_api_token()
        cred = "%s:%s" % (email, tok)
        before = counters()
        p = make_api_profile("cloud", "api_key", credential=cred, site="https://acme.atlassian.net/")
        self.assertEqual(counters()["apikey_ok"] - before["apikey_ok"], 1)  # checked when added
        rc, out, _err = lk.cli("profile", "show", p.name)
        show = json.loads(out)
        self.assertEqual((show["auth_type"], show["credential_type"], show["has_credential"], show["site"]),
                         ("api_key", "basic", True, "https://acme.atlassian.net"))
        self.assertNotIn(tok, out)
        base = lk.PROVIDER_URL + "/site/acme.atlassian.net"
        for iid in ("anyone", lk.unique("u"), "ünïcode user"):
            body = self.assertApiToken(token(p, iid), "basic", cred, base)
            self.assertEqual(body["instance_id"], iid)
            self.assertEqual(body["profile"], p.name)
            self.assertApiToken(t.post_refresh(p, iid), "basic", cred, base)
            r = proxy(p, urllib.parse.quote(iid) if not iid.isascii() else iid, "/wiki/echo/shared")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["headers"]["authorization"], basic_header(email, tok))
        # nothing is stored per instance, and there is nothing to authorize
        self.assertEqual(f.count("connections", p), 0)
        r = f.post_link(p, {"instance_id": "anyone"})
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.json()["detail"][0]["loc"], ["path", "profile"])
        self.assertEqual(int(lk.sql("SELECT count(*) FROM profiles WHERE name = :'p1' AND credential LIKE 'lk1.%'",
                                    p.name)[0][0]), 1)

    def test_dc_shared_pat(self):
        pat = new_pat()
        p = make_api_profile("dc", "api_key", credential=pat, site=dc_url(), extra=["--allow-private-sites"])
        self.assertApiToken(token(p, "x"), "bearer", pat, dc_url())
        r = proxy(p, "x", "/rest/api/echo/e")
        self.assertEqual((r.status, r.json()["headers"]["authorization"]), (200, "Bearer " + pat))

    def test_profile_add_checks_the_credential(self):
        email, tok = new_api_token(register=False)
        res = make_api_profile("cloud", "api_key", credential="%s:%s" % (email, tok), site=CLOUD_HOST,
                               check=False)
        self.assertIsInstance(res, tuple)
        self.assertIn("did not accept", res[2])
        self.assertNotIn(tok, res[1] + res[2])
        # a PAT the server answers as anonymous is refused too
        pat = new_pat(register=False)
        res = make_api_profile("dc", "api_key", credential=pat, site=dc_url(),
                               extra=["--allow-private-sites"], check=False)
        self.assertIsInstance(res, tuple)
        self.assertIn("did not accept", res[2])
        # a private site without --allow-private-sites
        res = make_api_profile("dc", "api_key", credential=new_pat(), site=dc_url(), check=False)
        self.assertIsInstance(res, tuple)
        self.assertIn("private", res[2])
        # a credential of the wrong shape
        res = make_api_profile("cloud", "api_key", credential="no-colon", site=CLOUD_HOST, check=False)
        self.assertIsInstance(res, tuple)
        self.assertIn("email:api_token", res[2])
        # --no-check stores it unchecked
        before = counters()
        p = make_api_profile("cloud", "api_key", credential="%s:%s" % (email, tok), site=CLOUD_HOST,
                             extra=["--no-check"])
        self.assertEqual(counters()["apikey_calls"], before["apikey_calls"])
        self.assertApiToken(token(p, "u"), "basic", "%s:%s" % (email, tok))
        # and the site answers 401, passed back as is
        r = proxy(p, "u", "/wiki/rest/api/space")
        self.assertEqual(r.status, 401, r)

    def test_proxy_only(self):
        email, tok = new_api_token()
        p = make_api_profile("cloud", "api_key", credential="%s:%s" % (email, tok), site=CLOUD_HOST,
                             extra=["--proxy-only"])
        self.assertJsonError(token(p, "u"), 403, "forbidden")
        self.assertJsonError(t.post_refresh(p, "u"), 403, "forbidden")
        r = proxy(p, "u", "/wiki/echo/po")
        self.assertEqual((r.status, r.json()["headers"]["authorization"]), (200, basic_header(email, tok)))
        # per user, too
        pu = make_api_profile("dc", extra=["--allow-private-sites", "--proxy-only"])
        pat = new_pat()
        fl = Flow(pu)
        self.assertEqual(fl.submit(site=dc_url(), token=pat).status, 303)
        self.assertJsonError(token(pu, fl.instance_id), 403, "forbidden")
        self.assertJsonError(t.post_refresh(pu, fl.instance_id), 403, "forbidden")
        r = proxy(pu, fl.instance_id, "/rest/api/echo/po")
        self.assertEqual((r.status, r.json()["headers"]["authorization"]), (200, "Bearer " + pat))


class GenericApiKeyTest(ApiKeyCase):
    """A generic (non-Atlassian) API-key profile: its API base URL alone
    names the provider -- no site, no Atlassian check path, its private
    address its admin's choice as for OAuth -- and its pages name it, never
    "OAuth 2.0 provider" (SPEC §3).  The fake's Data Center routes stand in
    for any bearer-token API."""

    def add_generic(self, credential, *extra, auth_type="api_key", check=True):
        name = lk.unique("gk")
        args = ["profile", "add", name, "--template", "generic", "--auth-type", auth_type,
                "--api-base-url", lk.PROVIDER_URL + "/dc/rest/api"]
        if credential is not None:
            args += ["--credential-file", f.secret_file(credential)]
        res = lk.cli(*(args + list(extra)), check=check)
        if res[0] != 0:
            return res
        key_name, key = f.make_key(name)
        return f.Profile(name, None, None, key, key_name)

    def test_base_url_alone_for_cli_token_and_proxy(self):
        pat = new_pat()
        before = counters()
        p = self.add_generic(pat)  # no --site, no --check-path, no --allow-private-sites
        after = counters()
        # nothing Atlassian was asked of it (no /rest/api/user/current)
        self.assertEqual(after["pat_calls"], before["pat_calls"])
        _rc, out, _err = lk.cli("profile", "show", p.name)
        show = json.loads(out)
        self.assertEqual((show["auth_type"], show["credential_type"], show["has_credential"]),
                         ("api_key", "bearer", True))
        self.assertIsNone(show.get("site"))
        self.assertIsNone(show.get("check_path"))
        self.assertEqual(show["api_base_url"], lk.PROVIDER_URL + "/dc/rest/api")
        self.assertEqual(show["display_name"], p.name)
        self.assertNotIn("OAuth", out)
        self.assertNotIn(pat, out)
        base = lk.PROVIDER_URL + "/dc/rest/api"
        for iid in ("anyone", lk.unique("u")):
            body = self.assertApiToken(token(p, iid), "bearer", pat, base)
            self.assertEqual(body["metadata"], {})
            self.assertApiToken(t.post_refresh(p, iid), "bearer", pat, base)
            r = proxy(p, iid, "/echo/generic?x=1")
            self.assertEqual(r.status, 200, r)
            e = r.json()
            self.assertEqual(e["path"], "/dc/rest/api/echo/generic")
            self.assertEqual(e["query"], "x=1")
            self.assertEqual(e["headers"]["authorization"], "Bearer " + pat)
        self.assertEqual(f.count("connections", p), 0)

    def test_check_path_when_given_is_asked_and_judged(self):
        pat = new_pat()
        before = counters()
        # /dc/rest/api + /user/current: the fake answers a known PAT
        p = self.add_generic(pat, "--check-path", "/user/current")
        self.assertEqual(counters()["pat_ok"] - before["pat_ok"], 1)
        self.assertApiToken(token(p, "u"), "bearer", pat)
        # an unknown one: refused (answered as the anonymous user)
        res = self.add_generic(new_pat(register=False), "--check-path", "/user/current", check=False)
        self.assertIsInstance(res, tuple)
        self.assertIn("did not accept", res[2])
        # 401 from the provider: refused too
        res = self.add_generic(new_pat(register=False), "--check-path", "/space", check=False)
        self.assertIsInstance(res, tuple)
        self.assertIn("did not accept", res[2])

    def test_site_still_required_when_the_base_url_names_it(self):
        name = lk.unique("gk")
        rc, _out, err = lk.cli("profile", "add", name, "--template", "generic", "--auth-type", "api_key",
                               "--credential-file", f.secret_file(new_pat()), check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("--site", err)
        self.assertIn("{site_url}", err)

    def test_per_user_profile_needs_no_site_when_the_base_url_names_none(self):
        # api_key_per_user with a provider's own base URL: the form asks for
        # the token only, the check path given is asked, and /token and
        # /proxy use the base URL alone.
        name = lk.unique("gu")
        base = lk.PROVIDER_URL + "/dc/rest/api"
        lk.cli("profile", "add", name, "--template", "generic", "--auth-type", "api_key_per_user",
               "--api-base-url", base, "--check-path", "/user/current",
               "--callback-url", lk.LATCHKEY_URL + "/callback/" + name, "--allow-redirect", APP_DONE)
        key_name, key = f.make_key(name)
        p = f.Profile(name, None, None, key, key_name)
        fl = Flow(p)
        self.assertNotIn("site", fl.form.inputs)
        self.assertIn("token", fl.form.inputs)
        pat = new_pat()
        before = counters()
        r = fl.submit(token=pat)
        self.assertEqual(r.status, 303, r)
        self.assertEqual(counters()["pat_ok"] - before["pat_ok"], 1)
        body = self.assertApiToken(token(p, fl.instance_id), "bearer", pat, base)
        self.assertEqual(body["metadata"], {})
        r = proxy(p, fl.instance_id, "/echo/per-user")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["path"], "/dc/rest/api/echo/per-user")
        self.assertEqual(r.json()["headers"]["authorization"], "Bearer " + pat)
        # a token the provider does not know is refused on the form
        fl2 = Flow(p)
        r = fl2.submit(token=new_pat(register=False))
        self.assertFormAgain(r, fl2, "did not accept")
        # the CLI stores one without --site, and refuses a --site it cannot use
        other = new_pat()
        lk.cli("connection", "set-credential", name, "cli-user", "--credential-file", f.secret_file(other))
        self.assertApiToken(token(p, "cli-user"), "bearer", other, base)
        rc, _out, err = lk.cli("connection", "set-credential", name, "cli-user2", "--credential-file",
                               f.secret_file(other), "--site", "https://x.example", check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("names no site", err)

    def test_pages_name_the_profile_not_an_oauth_provider(self):
        # the Data Center recipe (generic, per user): the form and the
        # success page say the profile's name
        pu = make_api_profile("dc", extra=["--allow-private-sites"])
        fl = Flow(pu)
        self.assertPage(fl.page, 200, "Connect your %s account" % pu.name)
        self.assertNotIn("OAuth", fl.page.text)
        r = fl.submit(site=dc_url(), token=new_pat())
        self.assertEqual(r.status, 303, r)
        done = fl.browser.follow(r)
        self.assertPage(done, 200, pu.name)
        self.assertNotIn("OAuth", done.text)
        # a display name given is the one shown
        named = make_api_profile("dc", extra=["--allow-private-sites", "--display-name", "Team Wiki"])
        self.assertPage(Flow(named).page, 200, "Connect your Team Wiki account")

    def test_profile_stored_with_the_oauth_name_is_shown_under_its_own(self):
        pu = make_api_profile("dc", extra=["--allow-private-sites"])
        lk.sql("UPDATE profiles SET display_name = 'OAuth 2.0 provider' WHERE name = :'p1'", pu.name)
        fl = Flow(pu)
        self.assertPage(fl.page, 200, "Connect your %s account" % pu.name)
        self.assertNotIn("OAuth", fl.page.text)


class TenantInfoAddressTest(ApiKeyCase):
    """The Data Center / scoped-token cloud id lookup (tenant_info) goes
    through the same connect-time private-address check as every other call
    to a site (SPEC §8a): without --allow-private-sites, the fake's loopback
    tenant_info is never reached."""

    def test_tenant_info_refused_on_a_private_address(self):
        email, tok = new_api_token()
        before = counters()
        res = make_api_profile("scoped", "api_key", credential="%s:%s" % (email, tok), site=CLOUD_HOST,
                               check=False)
        # make_api_profile("scoped") allows private sites: this one must not
        self.assertNotIsInstance(res, tuple, res)
        self.assertEqual(counters()["tenant_info"] - before["tenant_info"], 1)
        name = lk.unique("ak")
        pu = lk.PROVIDER_URL
        before = counters()
        rc, out, err = lk.cli("profile", "add", name, "--template", "atlassian-confluence", "--auth-type",
                              "api_key", "--api-base-url", pu + "/ex/confluence/{cloud_id}",
                              "--tenant-info-url", pu + "/_edge/{site_host}/tenant_info",
                              "--credential-file", f.secret_file("%s:%s" % (email, tok)), "--site", CLOUD_HOST,
                              check=False)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("could not be asked", err)
        self.assertNotIn(tok, out + err)
        after = counters()
        self.assertEqual(after["tenant_info"], before["tenant_info"])
        self.assertEqual(after["apikey_calls"], before["apikey_calls"])

    def test_tenant_info_refused_on_the_form(self):
        p = make_api_profile("scoped", extra=())
        lk.sql("UPDATE profiles SET allow_private_sites = false WHERE name = :'p1'", p.name)
        email, tok = new_api_token()
        fl = Flow(p)
        before = counters()
        r = fl.submit(site=CLOUD_HOST, email=email, token=tok)
        self.assertFormAgain(r, fl, "could not be reached")
        after = counters()
        self.assertEqual(after["tenant_info"], before["tenant_info"])
        self.assertNoConnection(p, fl.instance_id)


class SetCredentialTest(ApiKeyCase):
    """latchkey connection set-credential PROFILE INSTANCE --credential-file F --site S."""

    @classmethod
    def setUpClass(cls):
        cls.cloud = make_api_profile("cloud")

    def set_cred(self, profile, iid, cred, site=CLOUD_HOST, *extra):
        return lk.cli("connection", "set-credential", profile.name, iid, "--credential-file",
                      f.secret_file(cred), "--site", site, *extra, check=False)

    def test_set_credential(self):
        email, tok = new_api_token()
        iid = lk.unique("u")
        rc, out, err = self.set_cred(self.cloud, iid, "%s:%s" % (email, tok))
        self.assertEqual(rc, 0, err)
        self.assertNotIn(tok, out + err)
        self.assertEqual(conn_row(self.cloud, iid)["token_type"], "Basic")
        self.assertApiToken(token(self.cloud, iid), "basic", "%s:%s" % (email, tok))
        r = proxy(self.cloud, iid, "/wiki/echo/c")
        self.assertEqual(r.json()["headers"]["authorization"], basic_header(email, tok))
        rc, out, _ = lk.cli("connection", "show", self.cloud.name, iid)
        self.assertNotIn(tok, out)
        self.assertNotIn(b64("%s:%s" % (email, tok)), out)
        self.assertEqual(json.loads(out)["status"], "active")

    def test_set_credential_refuses_a_bad_one_unless_no_check(self):
        email, tok = new_api_token(register=False)
        iid = lk.unique("u")
        rc, out, err = self.set_cred(self.cloud, iid, "%s:%s" % (email, tok))
        self.assertNotEqual(rc, 0)
        self.assertIn("did not accept", err)
        self.assertNotIn(tok, out + err)
        self.assertNoConnection(self.cloud, iid)
        rc, _, err = self.set_cred(self.cloud, iid, "no-colon")
        self.assertNotEqual(rc, 0)
        self.assertIn("email:api_token", err)
        rc, _, err = self.set_cred(self.cloud, iid, "%s:%s" % (email, tok), "acme.example.com")
        self.assertNotEqual(rc, 0)
        self.assertIn("atlassian.net", err)
        before = counters()
        rc, _, err = self.set_cred(self.cloud, iid, "%s:%s" % (email, tok), CLOUD_HOST, "--no-check")
        self.assertEqual(rc, 0, err)
        self.assertEqual(counters()["apikey_calls"], before["apikey_calls"])
        self.assertApiToken(token(self.cloud, iid), "basic", "%s:%s" % (email, tok))

    def test_set_credential_needs_a_per_user_profile(self):
        oauth = f.make_profile()
        email, tok = new_api_token()
        rc, _, err = self.set_cred(oauth, "u", "%s:%s" % (email, tok))
        self.assertNotEqual(rc, 0)
        self.assertIn("api_key_per_user", err)
        rc, _, err = self.set_cred(f.Profile("no-such-profile-x", None, None, "", ""), "u", "a:b")
        self.assertNotEqual(rc, 0)


class ZzNoLeaksTest(unittest.TestCase):
    """Runs last (name order): no credential in logs, pages, answers or the database."""

    def test_no_credential_anywhere(self):
        values = {v for v in CREDENTIALS if len(v) >= 8}
        self.assertGreater(len(values), 10)
        # pages and answers other than /token and /refresh (proxied echoes are the fake's)
        for r in ANSWERS:
            if "/token/" in r.url or "/refresh/" in r.url or "/proxy/" in r.url:
                continue
            for v in values:
                self.assertNotIn(v.encode(), r.body, r.url)
                self.assertNotIn(v, " ".join(r.set_cookies), r.url)
                self.assertNotIn(v, r.headers.get("Location") or "", r.url)
        # logs (access, error, programs' stderr) and a pg_dump: the search is
        # shown to work on values that must be found
        name = lk.sql("SELECT name FROM api_keys ORDER BY id DESC LIMIT 1")[0][0]
        f.check_no_leaks(self, name)
        self.assertEqual(f.leaks(values), [])


if __name__ == "__main__":
    unittest.main()
