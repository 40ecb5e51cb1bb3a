"""Helpers for the end-to-end tests (standard library only).

The stack is started by tests/stack.py; its env file is found through
$STACK_ENV (default: REPO/var/stack.env).  Values are read lazily, so
importing this module never fails; the first use does if there is no stack.

    import lkstack as lk
    st, hdrs, body = lk.http("GET", "/token/confluence?instance_id=u",
                             headers={"Authorization": "Bearer " + key})
    lk.sql("SELECT name FROM profiles WHERE name = :'p1'", "confluence")
    rc, out, err = lk.cli("key", "create", "--name", lk.unique("bot"))
    lk.fake("POST", "/_fake/clients", {"client_id": "c", "client_secret": "s"})
    b = lk.Browser(); r = b.get(link); r = b.follow(r)

Module attributes LATCHKEY_URL, PROVIDER_URL, STACK_DIR, ... (any key of
the env file) are looked up on first access.
"""

import http.client as httpclient
import itertools
import json
import os
import secrets
import shlex
import subprocess
import sys
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_env = None


def env():
    """The stack's env file as a dict (loaded once)."""
    global _env
    if _env is None:
        path = os.environ.get("STACK_ENV") or os.path.join(REPO, "var", "stack.env")
        try:
            with open(path) as fh:
                text = fh.read()
        except OSError as e:
            raise RuntimeError("no running stack: cannot read %s (%s); start one with "
                               "tests/stack.py up, or set STACK_ENV" % (path, e)) from None
        _env = {}
        for line in text.splitlines():
            words = shlex.split(line, comments=True)
            if words and "=" in words[0]:
                k, _, v = words[0].partition("=")
                _env[k] = v
    return _env


def __getattr__(name):  # PEP 562: lk.LATCHKEY_URL etc.
    if name.isupper():
        try:
            return env()[name]
        except KeyError:
            pass
    raise AttributeError(name)


# ------------------------------------------------------------------ HTTP

class Response(tuple):
    """(status, headers, body), with attributes too.

    headers is case-insensitive (http.client.HTTPMessage: headers["x"],
    headers.get_all("x")); set_cookies lists the raw Set-Cookie values."""

    def __new__(cls, status, headers, body, url):
        self = super().__new__(cls, (status, headers, body))
        self.status, self.headers, self.body, self.url = status, headers, body, url
        self.set_cookies = headers.get_all("Set-Cookie") or []
        return self

    def json(self):
        return json_body(self)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %s %s %r>" % (self.status, self.url, self.body[:200])


def _url(url):
    """Absolute URL; a bare path is taken relative to LATCHKEY_URL."""
    if url.startswith("/"):
        return env()["LATCHKEY_URL"] + url
    return url


def http(method, url, headers=None, body=None, cookies=None, timeout=30):
    """One request, redirects NOT followed.  body: bytes, str, or a
    dict/list (sent as JSON).  cookies: dict name -> value for a Cookie
    header.  A path starting with "/" is relative to LATCHKEY_URL."""
    url = _url(url)
    u = urllib.parse.urlsplit(url)
    hdrs = dict(headers or {})
    lower = {k.lower() for k in hdrs}
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        if "content-type" not in lower:
            hdrs["Content-Type"] = "application/json"
    elif isinstance(body, str):
        body = body.encode()
    if cookies:
        hdrs["Cookie"] = "; ".join("%s=%s" % kv for kv in cookies.items())
    conn_cls = httpclient.HTTPSConnection if u.scheme == "https" else httpclient.HTTPConnection
    conn = conn_cls(u.hostname, u.port, timeout=timeout)
    try:
        target = (u.path or "/") + ("?" + u.query if u.query else "")
        conn.request(method, target, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.msg, data, url)
    finally:
        conn.close()


def json_body(resp):
    """The response body parsed as JSON (AssertionError if it is not)."""
    body = resp[2] if isinstance(resp, tuple) else resp
    try:
        return json.loads(body)
    except ValueError:
        raise AssertionError("not JSON (status %s): %r" % (
            resp[0] if isinstance(resp, tuple) else "?", body[:500])) from None


# ------------------------------------------------------------------ SQL

NULL = "\x01NULL\x01"


def sql(query, *params, check=True):
    """Run query with psql against the stack's database; rows as lists of
    str (None for NULL).  Parameters are psql variables p1, p2, ... so use
    :'p1' (literal) or :"p1" (identifier) in the query (None is passed as
    an empty string: use NULLIF(:'p1', '') for NULL).  Several statements
    are allowed; rows of all of them are returned.  Values may hold
    newlines but not tabs (the field separator)."""
    e = env()
    penv = dict(os.environ, PGHOST=e["PGHOST"], PGPORT=e["PGPORT"],
                PGDATABASE=e["PGDATABASE"], PGUSER=e["PGUSER"])
    psql = os.path.join(e["PG_BIN"], "psql") if e.get("PG_BIN") else "psql"
    cmd = [psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-F", "\t", "-0",
           "-P", "null=" + NULL]
    for i, p in enumerate(params, 1):
        cmd += ["-v", "p%d=%s" % (i, "" if p is None else p)]
    res = subprocess.run(cmd, input=query, env=penv, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise AssertionError("psql failed (rc %d): %s\nquery: %s" % (
            res.returncode, res.stderr.strip(), query))
    out = res.stdout
    if out.endswith("\n"):
        out = out[:-1]
    rows = [r for r in out.split("\0") if r != ""]
    return [[None if f == NULL else f for f in r.split("\t")] for r in rows]


# ------------------------------------------------------------------ CLI

def cli(*args, input=None, check=True, extra_env=None, timeout=60):
    """Run LATCHKEY_BIN/latchkey with the stack's config: (rc, out, err)."""
    e = env()
    cenv = dict(os.environ, LATCHKEY_CONFIG=e["LATCHKEY_CONFIG"])
    cenv.update(extra_env or {})
    res = subprocess.run([os.path.join(e["LATCHKEY_BIN"], "latchkey")] + [str(a) for a in args],
                         input=input, env=cenv, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError("latchkey %s: rc %d\nstdout: %s\nstderr: %s" % (
            " ".join(map(str, args)), res.returncode, res.stdout, res.stderr))
    return res.returncode, res.stdout, res.stderr


def stack(cmd, *args):
    """tests/stack.py CMD --dir STACK_DIR ARGS (e.g. "restart-pg", "--mode",
    "immediate"; "stop-web"; "start-web")."""
    res = subprocess.run([sys.executable, os.path.join(REPO, "tests", "stack.py"), cmd,
                          "--dir", env()["STACK_DIR"]] + list(args),
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise AssertionError("stack.py %s failed: %s" % (cmd, res.stderr))


# ------------------------------------------------------------------ fake provider

def fake(method, path, body=None, check=True):
    """Fake provider admin API: JSON in, parsed JSON out.  path may be
    "/_fake/clients" or just "clients"."""
    if not path.startswith("/"):
        path = "/_fake/" + path
    r = http(method, env()["PROVIDER_URL"] + path, body=body if body is not None else None)
    if check and r.status >= 400:
        raise AssertionError("fake %s %s -> %s %r" % (method, path, r.status, r.body[:500]))
    return json.loads(r.body) if r.body.strip() else None


# ------------------------------------------------------------------ browser

class Browser:
    """A minimal cookie-keeping browser.  Cookies are kept per host (ports
    share cookies, as in real browsers), honour Path, Max-Age (<= 0 deletes)
    and Expires in the past; Secure cookies are refused over http (as
    browsers do) and listed in .refused.  Redirects are not followed: call
    follow(resp) for one step.  SameSite is not modelled."""

    def __init__(self):
        self.jar = {}  # (host, path, name) -> value
        self.refused = []
        self.last = None

    def cookie(self, name, host=None):
        for (h, _p, n), v in self.jar.items():
            if n == name and (host is None or h == host):
                return v
        return None

    def _store(self, url, header):
        u = urllib.parse.urlsplit(url)
        parts = [p.strip() for p in header.split(";")]
        name, _, value = parts[0].partition("=")
        attrs = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            attrs[k.strip().lower()] = v.strip()
        if "secure" in attrs and u.scheme != "https":
            self.refused.append(header)
            return
        path = attrs.get("path") or ""
        if not path.startswith("/"):  # default-path (RFC 6265 5.1.4)
            d = u.path or "/"
            path = d[:d.rindex("/")] or "/"
        key = (u.hostname, path, name.strip())
        expired = False
        if "max-age" in attrs:
            try:
                expired = int(attrs["max-age"]) <= 0
            except ValueError:
                pass
        elif attrs.get("expires"):
            try:
                from email.utils import parsedate_to_datetime
                expired = parsedate_to_datetime(attrs["expires"]).timestamp() <= time.time()
            except (TypeError, ValueError):
                pass
        if expired:
            self.jar.pop(key, None)
        else:
            self.jar[key] = value.strip()

    def _matching(self, url):
        u = urllib.parse.urlsplit(url)
        path = u.path or "/"
        out = {}
        # longer paths first, as browsers order them
        for (h, p, n), v in sorted(self.jar.items(), key=lambda kv: -len(kv[0][1])):
            if h != u.hostname:
                continue
            if path == p or (path.startswith(p) and (p.endswith("/") or path[len(p)] == "/")):
                out.setdefault(n, v)
        return out

    def request(self, method, url, headers=None, body=None):
        url = _url(url)
        r = http(method, url, headers=headers, body=body, cookies=self._matching(url))
        for sc in r.set_cookies:
            self._store(url, sc)
        self.last = r
        return r

    def get(self, url, headers=None):
        return self.request("GET", url, headers)

    def post(self, url, data=None, headers=None):
        """data: dict (sent form-urlencoded), bytes or str."""
        hdrs = dict(headers or {})
        if isinstance(data, dict):
            data = urllib.parse.urlencode(data)
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        return self.request("POST", url, hdrs, data)

    def follow(self, resp=None):
        """GET the Location of resp (default: the last response)."""
        resp = resp or self.last
        loc = resp.headers.get("Location")
        if not loc:
            raise AssertionError("no Location in %r" % (resp,))
        return self.get(urllib.parse.urljoin(resp.url, loc))


# ------------------------------------------------------------------ misc

_counter = itertools.count(1)


def unique(prefix="t"):
    """A fresh lowercase name, valid as a profile name or instance id."""
    return "%s-%d-%d-%s" % (prefix, os.getpid(), next(_counter), secrets.token_hex(3))


def wait_until(fn, timeout=10, interval=0.05, what=None):
    """Poll fn() until it returns something truthy (returned); AssertionError
    after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        res = fn()
        if res:
            return res
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (
                timeout, what or getattr(fn, "__name__", "condition")))
        time.sleep(interval)
