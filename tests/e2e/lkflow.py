"""Helpers for the browser-flow end-to-end tests (standard library only).

Builds on lkstack: a fresh profile per test (made with the CLI, its client
registered at the fake provider, and an API key for it), the bot's
POST /authorize/{profile}, and the browser's walk through the fake's real
consent page.  Every secret a test handles (client secrets, API keys,
links, states, codes, cookie values, verifiers) is recorded in SECRETS so
that a module can check at its end that none of them reached a log file or
the database in clear (assert_no_leaks).
"""

import html.parser
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import urllib.parse

import lkstack as lk

# Every secret value seen by the tests of this process.
SECRETS = set()

ATLASSIAN_SCOPES = ["read:space:confluence", "read:page:confluence", "write:page:confluence",
                    "read:comment:confluence", "write:comment:confluence", "read:label:confluence",
                    "write:label:confluence", "read:content-details:confluence", "offline_access"]

SITE_A = {"id": "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa", "url": "https://alpha.atlassian.net",
          "name": "alpha"}
SITE_B = {"id": "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb", "url": "https://beta.atlassian.net",
          "name": "beta"}
DEFAULT_SITE = {"id": "11111111-1111-4111-8111-111111111111", "url": "https://acme.atlassian.net",
                "name": "acme"}

_tmp = None


def tmpdir():
    global _tmp
    if _tmp is None:
        _tmp = tempfile.mkdtemp(prefix="lk-e2e-flow-")
    return _tmp


def cleanup():
    global _tmp
    if _tmp:
        shutil.rmtree(_tmp, ignore_errors=True)
        _tmp = None


def remember(*values):
    for v in values:
        if v:
            SECRETS.add(v)


def secret_file(value):
    fd, path = tempfile.mkstemp(dir=tmpdir(), prefix="secret-")
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return path


class Profile:
    """One profile with its own provider client and API key."""

    def __init__(self, name, client_id, client_secret, key, key_name):
        self.name = name
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = key
        self.key_name = key_name
        self.callback = lk.LATCHKEY_URL + "/callback/" + name

    @property
    def auth(self):
        return {"Authorization": "Bearer " + self.key}

    def sql_id(self):
        return lk.sql("SELECT id FROM profiles WHERE name = :'p1'", self.name)[0][0]


def make_key(profiles, instances=None, name=None):
    """latchkey key create; returns (name, key)."""
    name = name or lk.unique("key")
    args = ["key", "create", "--name", name, "--profiles", profiles]
    if instances:
        args += ["--instances", instances]
    _rc, out, _err = lk.cli(*args)
    key = out.strip()
    assert key.startswith("lk_"), out
    remember(key)
    return name, key


def make_profile(allow_redirect=(), direct=False, register=True, extra=()):
    """A fresh atlassian-confluence profile against the fake provider."""
    name = lk.unique("p")
    client_id = "lk-test-client-" + secrets.token_hex(6)
    client_secret = "lk-test-client-secret-" + secrets.token_hex(16)
    remember(client_secret)
    pu = lk.PROVIDER_URL
    args = ["profile", "add", name, "--template", "atlassian-confluence",
            "--client-id", client_id, "--client-secret-file", secret_file(client_secret),
            "--callback-url", lk.LATCHKEY_URL + "/callback/" + name,
            "--authorization-url", pu + "/authorize",
            "--token-url", pu + "/oauth/token",
            "--resources-url", pu + "/oauth/token/accessible-resources",
            "--api-base-url", pu + "/ex/confluence/{cloud_id}"]
    for u in allow_redirect:
        args += ["--allow-redirect", u]
    if direct:
        args.append("--allow-direct-authorize")
    args += list(extra)
    lk.cli(*args)
    if register:
        lk.fake("POST", "/_fake/clients", {
            "client_id": client_id, "client_secret": client_secret,
            "redirect_uris": [lk.LATCHKEY_URL + "/callback/" + name]})
    key_name, key = make_key(name)
    return Profile(name, client_id, client_secret, key, key_name)


def add_client(profile, callback=None):
    """A white-label client of profile, registered at the fake."""
    cid = "lk-test-wl-" + secrets.token_hex(6)
    csec = "lk-test-wl-secret-" + secrets.token_hex(16)
    remember(csec)
    cb = callback or profile.callback
    lk.cli("client", "add", profile.name, "--client-id", cid,
           "--client-secret-file", secret_file(csec), "--callback-url", cb)
    lk.fake("POST", "/_fake/clients", {"client_id": cid, "client_secret": csec,
                                        "redirect_uris": [cb]})
    return cid, csec


def post_link(profile, body, key=None, raw=None, headers=None):
    """The bot's POST /authorize/{profile}."""
    hdrs = {"Authorization": "Bearer " + (key or profile.key)}
    hdrs.update(headers or {})
    if raw is not None:
        hdrs.setdefault("Content-Type", "application/json")
    r = lk.http("POST", "/authorize/" + profile.name, headers=hdrs,
                body=raw if raw is not None else body)
    if r.status == 201:
        remember(link_of(r.json()["authorization_url"]))
    return r


def new_link(profile, instance_id=None, **fields):
    """A link for instance_id (fresh one by default): (link_url, instance_id)."""
    iid = instance_id or lk.unique("user")
    body = {"instance_id": iid}
    body.update(fields)
    r = post_link(profile, body)
    assert r.status == 201, r
    return r.json()["authorization_url"], iid


def link_of(url):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("link", [None])[0]


def query(url):
    """First values of url's query string."""
    return {k: v[0] for k, v in urllib.parse.parse_qs(
        urllib.parse.urlsplit(url).query, keep_blank_values=True).items()}


class ConsentForm(html.parser.HTMLParser):
    """The fake provider's consent page: hidden inputs and site boxes."""

    def __init__(self, text):
        super().__init__()
        self.action = None
        self.hidden = []
        self.sites = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input" and a.get("type") == "hidden":
            self.hidden.append((a["name"], a.get("value", "")))
        elif tag == "input" and a.get("type") == "checkbox" and a.get("name") == "site":
            self.sites.append(a["value"])


def start(browser, link_url):
    """Browser opens the link: Latchkey's 302 to the provider."""
    r = browser.get(link_url)
    assert r.status == 302, r
    loc = r.headers["Location"]
    remember(query(loc).get("state"))
    for v in browser.jar.values():
        remember(v)
    return r


def consent(browser, to_provider, decision="approve", sites=None):
    """Follows Latchkey's 302 to the consent page and submits it; returns
    the provider's 302 back to the callback (not followed).  sites: the
    site ids left checked (None: as the page has them, all checked)."""
    page = browser.follow(to_provider)
    assert page.status == 200, page
    form = ConsentForm(page.text)
    assert form.action == "/authorize/decide", page.text[:500]
    data = list(form.hidden) + [("decision", decision)]
    for s in (form.sites if sites is None else sites):
        data.append(("site", s))
    back = browser.post(urllib.parse.urljoin(page.url, form.action),
                        urllib.parse.urlencode(data))
    assert back.status == 302, back
    q = query(back.headers["Location"])
    remember(q.get("code"), q.get("state"))
    return back


def complete(browser, link_url, decision="approve", sites=None):
    """Link → provider → consent → callback; returns the callback response."""
    r = start(browser, link_url)
    back = consent(browser, r, decision, sites)
    resp = browser.follow(back)
    remember_verifier()
    return resp


def connect(profile, instance_id=None, **fields):
    """A completed connection through a fresh link: (instance_id, callback response)."""
    link, iid = new_link(profile, instance_id, **fields)
    b = lk.Browser()
    resp = complete(b, link)
    assert resp.status in (200, 302), resp
    return iid, resp


def connections(profile, instance_id=None):
    """Connection rows of profile as dicts."""
    cols = ["id", "instance_id", "client_id", "access_token", "refresh_token", "token_type",
            "scope", "expires_at", "metadata", "status", "generation"]
    q = ("SELECT c.id, c.instance_id, c.client_id, c.access_token, c.refresh_token, c.token_type, "
         "c.scope, c.expires_at, c.metadata::text, c.status, c.generation FROM connections c "
         "JOIN profiles p ON p.id = c.profile_id WHERE p.name = :'p1'")
    params = [profile.name]
    if instance_id is not None:
        q += " AND c.instance_id = :'p2'"
        params.append(instance_id)
    rows = lk.sql(q + " ORDER BY c.id", *params)
    out = []
    for r in rows:
        d = dict(zip(cols, r))
        d["metadata"] = json.loads(d["metadata"])
        d["generation"] = int(d["generation"])
        out.append(d)
    return out


def count(table, profile):
    return int(lk.sql("SELECT count(*) FROM %s t JOIN profiles p ON p.id = t.profile_id "
                      "WHERE p.name = :'p1'" % table, profile.name)[0][0])


def set_sites(sites):
    lk.fake("POST", "/_fake/sites", {"sites": sites})


def fake_secrets():
    """Every token and code the fake provider has issued."""
    st = lk.fake("GET", "/_fake/tokens")
    out = set()
    for fam in st["families"]:
        out.update(fam["access_tokens"])
        out.update(r["token"] for r in fam["refresh_tokens"])
    out.update(c["code"] for c in st["codes"])
    return out


def remember_verifier():
    last = lk.fake("GET", "/_fake/last_token_request") or {}
    remember((last.get("params") or {}).get("code_verifier"))


def leaks(values):
    """Where any of values appears: in STACK_DIR/*.log or a pg_dump."""
    values = [v for v in values if v and len(v) >= 8]
    found = []
    sd = lk.STACK_DIR
    for fn in sorted(os.listdir(sd)):
        if not fn.endswith((".log", ".out")) or fn == "provider.log":
            continue
        with open(os.path.join(sd, fn), "rb") as fh:
            data = fh.read().decode("utf-8", "replace")
        found += ["%s: %s" % (fn, v[:24] + "…") for v in values if v in data]
    e = lk.env()
    penv = dict(os.environ, PGHOST=e["PGHOST"], PGPORT=e["PGPORT"], PGDATABASE=e["PGDATABASE"],
                PGUSER=e["PGUSER"])
    dump = subprocess.run([os.path.join(e["PG_BIN"], "pg_dump"), "--data-only"], env=penv,
                          capture_output=True, text=True, check=True).stdout
    found += ["pg_dump: %s" % (v[:24] + "…") for v in values if v in dump]
    return found


def settle_logs():
    """Waits until lighttpd has written the access log up to now: a request
    with a unique path must show up in it.  lighttpd buffers the log and
    writes it on a timer (seconds late) or when its buffer fills: two
    requests with long paths fill it at once.  Returns the mark."""
    mark = "/latchkey/settle-" + secrets.token_hex(8)
    base = lk.LATCHKEY_URL.rsplit("/latchkey", 1)[0] + mark
    lk.http("GET", base + "/" + "x" * 6000)
    lk.http("GET", base + "/" + "y" * 6000)
    path = os.path.join(lk.STACK_DIR, "access.log")

    def written():
        with open(path, errors="replace") as fh:
            return mark in fh.read()
    lk.wait_until(written, timeout=15, what="the access log to catch up")
    return mark


def check_no_leaks(tc, canary_key_name):
    """Fails tc when a secret of this process (or any token or code the
    fake issued) appears in STACK_DIR/*.log or in a pg_dump.  The search
    itself is checked on values that must be found: the access log's
    settle mark, and canary_key_name (an API key's name, stored in clear)."""
    mark = settle_logs()
    found = leaks([mark, canary_key_name])
    tc.assertTrue(any(x.startswith("access.log: ") for x in found), found)
    tc.assertTrue(any(x.startswith("pg_dump: ") for x in found), found)
    values = SECRETS | fake_secrets()
    tc.assertGreater(len(values), 3)
    tc.assertEqual(leaks(values), [])


def provider_answers(answer, sites=None):
    """The next code exchange is answered with answer (a dict, as a provider
    may send it: without refresh_token or expires_in), and the resources
    call that follows with sites (default: DEFAULT_SITE).  Both are faults
    of the fake (its own token endpoint always sends both), used up by one
    callback; the access token in answer is remembered as a secret."""
    remember(answer.get("access_token"), answer.get("refresh_token"))
    resources = [{"id": s["id"], "url": s["url"], "name": s["name"],
                  "scopes": ["read:confluence-content.all"], "avatarUrl": "https://example.com/a.png"}
                 for s in (sites or [DEFAULT_SITE])]
    lk.fake("POST", "/_fake/fault", {"path": "/oauth/token", "method": "POST", "kind": "status",
                                     "status": 200, "body": json.dumps(answer)})
    lk.fake("POST", "/_fake/fault", {"path": "/oauth/token/accessible-resources", "method": "GET",
                                     "kind": "status", "status": 200, "body": json.dumps(resources)})


def seconds_left(profile, instance_id):
    """Whole seconds until the connection's expires_at (None: never)."""
    v = lk.sql("SELECT round(extract(epoch FROM c.expires_at - now())) FROM connections c "
               "JOIN profiles p ON p.id = c.profile_id WHERE p.name = :'p1' AND c.instance_id = :'p2'",
               profile.name, instance_id)[0][0]
    return None if v is None else int(float(v))
