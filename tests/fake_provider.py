#!/usr/bin/env python3
"""Fake Atlassian-like OAuth 2.0 (3LO) provider for Latchkey tests.

Standard library only.  Serves on loopback:

  Provider:  GET  /authorize                      consent page (HTML)
             POST /authorize/decide               approve / deny -> 302 to redirect_uri
             POST /oauth/token                    JSON or form body, body creds or HTTP Basic
             GET  /oauth/token/accessible-resources
             *    /ex/confluence/{cloud_id}/wiki/...   (see route_confluence;
                  with HTTP Basic: Atlassian API tokens, see route_confluence_basic)
             Confluence's v2 (/wiki/api/v2) and v1 (/wiki/rest/api) routes with a
             seeded wiki per cloud id, checking Atlassian's scopes: tests/fake_confluence.py
  API tokens and personal access tokens (auth types api_key, api_key_per_user):
             *    /site/{host}/wiki/...           an Atlassian Cloud site (Basic email:api_token)
             GET  /_edge/{host}/tenant_info       {"cloudId": ...} of a known site, else 404
             *    /dc/rest/api/...                a Data Center server (Bearer PAT; an unknown
                                                  PAT is the anonymous user, as DC does)
  Admin:     /_fake/...  (JSON in/out; see ADMIN_ROUTES)

All expiry decisions use the fake clock: time.time() + clock_offset.

Usage:
  python3 tests/fake_provider.py --port 0 --ready-file /tmp/port \
      [--host 127.0.0.1] [--client ID:SECRET ...] [--tls-cert PEM --tls-key PEM]
"""

import argparse
import base64
import hashlib
import html
import http.server
import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.parse

import fake_confluence

DEFAULT_SITES = [
    {
        "id": "11111111-1111-4111-8111-111111111111",
        "url": "https://acme.atlassian.net",
        "name": "acme",
    }
]

DEFAULT_CONFIG = {
    "access_token_ttl": 3600,          # seconds, fake clock
    "reuse_leeway": 600,               # seconds a rotated refresh token stays usable
    "omit_refresh_token": False,       # refresh replies carry no refresh_token
    "code_ttl": 600,                   # authorization code lifetime
    "refresh_inactivity": 90 * 86400,  # refresh token expires after this much non-use
    "revoke_on_code_reuse": False,     # code reuse also revokes tokens issued from it
    "auto_approve": False,             # GET /authorize redirects straight back with a code
    "token_reply_override": {},        # token answers: fields replaced, added or (None) left out
}

AVATAR_URL = "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/site.png"
DC_BASE = "https://confluence.example.com"   # _links.base of the Data Center wiki
DC_WIKI = "dc"                               # its key among the wikis
HOLD_TIMEOUT = 120.0          # real seconds before a held request auto-releases
MAX_BODY = 16 * 1024 * 1024   # non-streaming request bodies
PATTERN = bytes(i % 251 for i in range(251)) * 262  # 65762 bytes, aligned to 251
ERR_REFRESH = "Unknown or invalid refresh token."


def _fresh_counters():
    return {
        "authorize_get": 0,
        "authorize_errors": 0,
        "decide": 0,
        "decide_approve": 0,
        "decide_deny": 0,
        "token_requests": 0,
        "token_authorization_code": 0,
        "token_authorization_code_ok": 0,
        "token_authorization_code_rejected": 0,
        "token_refresh": 0,
        "token_refresh_ok": 0,
        "token_refresh_rejected": 0,
        "token_invalid_client": 0,
        "token_styles": {"json": 0, "form": 0, "basic": 0},
        "families_revoked_reuse": 0,
        "resources": 0,
        "api_calls": 0,
        "api_unauthorized": 0,
        "faults_applied": 0,
        "downloads": 0,                     # download/{n} answers begun
        "downloads_completed": 0,           # ... whose n bytes all went out
        "download_aborted": 0,              # ... cut short: the peer went away
        "download_aborted_last_bytes": 0,   # body bytes sent by the last aborted one
        "download_aborted_last_size": 0,    # and the n it was asked for
        "paths": {},
        # API tokens (Basic) at /site/{host}/... and /ex/confluence/... with Basic
        "apikey_calls": 0,
        "apikey_ok": 0,
        "apikey_rejected": 0,
        # personal access tokens (Bearer) at /dc/...
        "pat_calls": 0,
        "pat_ok": 0,
        "pat_anonymous": 0,                 # user/current answered as the anonymous user
        "pat_rejected": 0,                  # other /dc routes answered 401
        # GET /_edge/{host}/tenant_info
        "tenant_info": 0,
        "tenant_info_unknown": 0,
        # Confluence's v1/v2 routes (tests/fake_confluence.py)
        "confluence_calls": 0,
        "confluence_scope_rejected": 0,     # 401 "scope does not match"
    }


class Response:
    """status, headers (list of pairs), body bytes or an iterator of bytes with length.

    on_end(sent, complete), if given, is called once a streamed body is over:
    sent is the body bytes handed to the socket, complete False when the
    peer went away first."""

    def __init__(self, status, body=b"", headers=None, ctype=None, stream=None, length=None,
                 on_end=None):
        self.status = status
        self.headers = list(headers or [])
        if ctype:
            self.headers.append(("Content-Type", ctype))
        self.body = body
        self.stream = stream
        self.length = length
        self.on_end = on_end


def json_resp(status, obj, headers=None):
    body = json.dumps(obj).encode()
    return Response(status, body, headers, "application/json")


def token_error(status, error, desc=None, headers=None):
    obj = {"error": error}
    if desc:
        obj["error_description"] = desc
    h = [("Cache-Control", "no-store"), ("Pragma", "no-cache")] + list(headers or [])
    return json_resp(status, obj, h)


def html_resp(status, title, body_html):
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>"
        "<body>\n%s\n</body></html>\n" % (html.escape(title), body_html)
    )
    return Response(status, page.encode(), None, "text/html; charset=utf-8")


def redirect(location):
    return Response(302, b"", [("Location", location), ("Cache-Control", "no-store")])


def add_query(uri, params):
    q = urllib.parse.urlencode([(k, v) for k, v in params if v is not None])
    if not q:
        return uri
    frag = ""
    if "#" in uri:
        uri, frag = uri.split("#", 1)
        frag = "#" + frag
    sep = "&" if "?" in uri else "?"
    if uri.endswith("?") or uri.endswith("&"):
        sep = ""
    return uri + sep + q + frag


def s256(verifier):
    d = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode()


def first_values(qs):
    """parse_qs result -> dict of first values."""
    return {k: v[0] for k, v in qs.items()}


class Provider:
    def __init__(self, cli_clients=None):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.clients = {}
        for cid, secret in cli_clients or []:
            self.clients[cid] = {"client_id": cid, "client_secret": secret, "redirect_uris": []}
        self.held = []
        self.conn_seq = 0  # TCP connections accepted (never reset: ids stay unique)
        # Every secret this fake ever issued or was given (tokens, codes,
        # client secrets, API tokens, PATs): append-only, never cleared by
        # reset, so that a suite-wide secret scan (GET /_fake/issued) still
        # knows the values of tests that reset or revoked them.
        self.issued = []
        for cid, secret in cli_clients or []:
            self.note_issued("client_secret", secret, client_id=cid)
        self.reset_state()

    # -- state -------------------------------------------------------------
    def reset_state(self):
        with self.lock:
            self.counters = _fresh_counters()
            self.faults = []
            self.release_all()
            self.clock_offset = 0.0
            self.config = dict(DEFAULT_CONFIG)
            self.sites = [dict(s) for s in DEFAULT_SITES]
            self.codes = {}
            self.families = {}
            self.refresh_tokens = {}
            self.access_tokens = {}
            self.wikis = {}  # cloud id (or DC_WIKI) -> fake_confluence.Wiki, seeded when first used
            self.last_token_request = None
            self.last_authorize_request = None
            # API tokens: (site host, email, token) -> user; PATs: token -> user;
            # extra tenants: host -> cloud id (besides the hosts of self.sites)
            self.api_tokens = {}
            self.pats = {}
            self.tenants = {}
            self.last_credential_auth = None  # the last Authorization header on these routes

    def now(self):
        return time.time() + self.clock_offset

    def note_issued(self, kind, value, **extra):
        """Appends to the never-reset list of secrets (GET /_fake/issued)."""
        if not isinstance(value, str) or not value:
            return
        with self.lock:
            self.issued.append(dict(extra, kind=kind, value=value))

    def release_all(self):
        with self.lock:
            for ev in self.held:
                ev.set()
            self.held = []
            self.cond.notify_all()

    def count_path(self, path):
        with self.lock:
            p = self.counters["paths"]
            p[path] = p.get(path, 0) + 1

    def bump(self, name, n=1):
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def take_fault(self, path, method):
        with self.lock:
            for f in self.faults:
                fp = f.get("path", "*")
                if fp != "*" and not path.startswith(fp):
                    continue
                fm = f.get("method")
                if fm and fm.upper() != method:
                    continue
                cnt = f.get("count", 1)
                if cnt == 0:
                    continue
                if cnt > 0:
                    f["count"] = cnt - 1
                    if f["count"] == 0:
                        self.faults.remove(f)
                self.counters["faults_applied"] += 1
                return dict(f)
        return None

    def hold(self):
        ev = threading.Event()
        with self.lock:
            self.held.append(ev)
            self.cond.notify_all()
        ev.wait(HOLD_TIMEOUT)
        with self.lock:
            if ev in self.held:
                self.held.remove(ev)
                self.cond.notify_all()

    def wiki(self, key, base, dc=False):
        """The seeded wiki of a cloud id (or DC_WIKI), made when first used."""
        with self.lock:
            if key not in self.wikis:
                self.wikis[key] = fake_confluence.Wiki(base, dc)
            return self.wikis[key]

    def site_by_id(self, cid):
        for s in self.sites:
            if s.get("id") == cid:
                return s
        return None

    # -- API tokens and PATs -------------------------------------------------
    def cloud_id_of_host(self, host):
        """The cloud id of an Atlassian site host (the sites list, then the
        registered tenants), or None."""
        host = (host or "").lower()
        for s in self.sites:
            u = urllib.parse.urlsplit(s.get("url") or "")
            h = (u.hostname or "%s.atlassian.net" % s.get("name", "")).lower()
            if h == host:
                return s.get("id")
        return self.tenants.get(host)

    def host_of_cloud_id(self, cid):
        s = self.site_by_id(cid)
        if s is not None:
            u = urllib.parse.urlsplit(s.get("url") or "")
            return (u.hostname or "%s.atlassian.net" % s.get("name", "")).lower()
        for h, c in self.tenants.items():
            if c == cid:
                return h
        return None

    def api_token_user(self, host, email, token):
        return self.api_tokens.get(((host or "").lower(), email, token))

    # -- tokens ------------------------------------------------------------
    def _new_family(self, client_id, scope, sites):
        fid = "fam_" + secrets.token_hex(8)
        fam = {
            "family_id": fid,
            "client_id": client_id,
            "scope": scope,
            "sites": list(sites),
            "revoked": False,
            "revoked_reason": None,
            "rotations": 0,
            "current_refresh_token": None,
            "refresh_tokens": [],
            "access_tokens": [],
            "created": self.now(),
        }
        self.families[fid] = fam
        return fam

    def _issue_access(self, fam):
        at = "at_" + secrets.token_urlsafe(32)
        now = self.now()
        self.access_tokens[at] = {
            "family": fam["family_id"],
            "issued": now,
            "expires": now + float(self.config["access_token_ttl"]),
        }
        fam["access_tokens"].append(at)
        self.note_issued("access_token", at)
        return at

    def _issue_refresh(self, fam):
        rt = "rt_" + secrets.token_urlsafe(32)
        now = self.now()
        self.refresh_tokens[rt] = {
            "family": fam["family_id"],
            "issued": now,
            "last_used": now,
            "rotated_at": None,
        }
        old = fam["current_refresh_token"]
        if old and self.refresh_tokens[old]["rotated_at"] is None:
            self.refresh_tokens[old]["rotated_at"] = now
        fam["current_refresh_token"] = rt
        fam["refresh_tokens"].append(rt)
        self.note_issued("refresh_token", rt)
        return rt

    def revoke_family(self, fid, reason):
        fam = self.families.get(fid)
        if fam and not fam["revoked"]:
            fam["revoked"] = True
            fam["revoked_reason"] = reason

    def access_grant(self, token):
        """-> family dict for a valid access token, else None (caller holds lock)."""
        rec = self.access_tokens.get(token or "")
        if not rec:
            return None
        fam = self.families.get(rec["family"])
        if not fam or fam["revoked"]:
            return None
        if self.now() >= rec["expires"]:
            return None
        return fam

    def token_reply(self, fam, at, rt):
        body = {
            "access_token": at,
            "expires_in": int(self.config["access_token_ttl"]),
            "token_type": "Bearer",
            "scope": fam["scope"],
        }
        if rt:
            body["refresh_token"] = rt
        # A provider that answers oddly (config token_reply_override): keys
        # set to None are left out, others replace or add fields.
        for k, v in (self.config.get("token_reply_override") or {}).items():
            if v is None:
                body.pop(k, None)
            else:
                body[k] = v
        return json_resp(200, body, [("Cache-Control", "no-store"), ("Pragma", "no-cache")])

    def families_view(self):
        out = []
        now = self.now()
        for fam in self.families.values():
            valid = []
            if not fam["revoked"]:
                valid = [a for a in fam["access_tokens"] if now < self.access_tokens[a]["expires"]]
            out.append({
                "family_id": fam["family_id"],
                "client_id": fam["client_id"],
                "scope": fam["scope"],
                "sites": fam["sites"],
                "current_refresh_token": fam["current_refresh_token"],
                "revoked": fam["revoked"],
                "revoked_reason": fam["revoked_reason"],
                "rotations": fam["rotations"],
                "access_tokens": list(fam["access_tokens"]),
                "access_tokens_valid": valid,
                "refresh_tokens": [
                    dict(token=r, **{k: v for k, v in self.refresh_tokens[r].items() if k != "family"})
                    for r in fam["refresh_tokens"]
                ],
            })
        return out


class Handler(http.server.BaseHTTPRequestHandler):
    # Headers and body go out in separate sends: without this, Nagle's
    # algorithm and delayed ACKs add ~40 ms to every reused connection.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server_version = "FakeAtlassian/1.0"
    sys_version = ""

    # quiet: no per-request lines; errors still go to stderr
    def log_request(self, code="-", size="-"):
        pass

    def log_message(self, fmt, *args):
        sys.stderr.write("fake_provider: %s\n" % (fmt % args))

    @property
    def P(self):
        return self.server.provider

    def setup(self):
        super().setup()
        with self.P.lock:
            self.P.conn_seq += 1
            self.conn_id = self.P.conn_seq
        self.conn_requests = 0  # requests read on this TCP connection so far

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    # -- body handling -----------------------------------------------------
    def iter_body(self):
        if self._body_started:
            return
        self._body_started = True
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunked body")
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise ValueError("bad chunk size")
                if size == 0:
                    while True:
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    return
                remaining = size
                while remaining:
                    data = self.rfile.read(min(remaining, 65536))
                    if not data:
                        raise ConnectionError("eof in chunk")
                    remaining -= len(data)
                    yield data
                self.rfile.readline(3)
        else:
            cl = self.headers.get("Content-Length")
            n = int(cl) if cl else 0
            if n < 0:
                raise ValueError("bad content-length")
            while n > 0:
                data = self.rfile.read(min(n, 65536))
                if not data:
                    raise ConnectionError("eof in body")
                n -= len(data)
                yield data

    def read_body(self):
        if self._body is None:
            parts, total = [], 0
            for chunk in self.iter_body():
                total += len(chunk)
                if total > MAX_BODY:
                    raise ValueError("body too large")
                parts.append(chunk)
            self._body = b"".join(parts)
        return self._body

    def drain_body(self):
        for _ in self.iter_body():
            pass

    # -- output --------------------------------------------------------------
    def send(self, resp):
        sent = 0
        try:
            self.send_response(resp.status)
            names = set()
            for k, v in resp.headers:
                self.send_header(k, v)
                names.add(k.lower())
            if resp.stream is not None:
                length = resp.length
            else:
                length = len(resp.body)
            if resp.status != 204 and resp.status >= 200:
                self.send_header("Content-Length", str(length))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if resp.stream is not None:
                for chunk in resp.stream:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            elif resp.body and resp.status != 204:
                self.wfile.write(resp.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
            if resp.on_end:
                resp.on_end(sent, False)
            return
        if resp.on_end:
            resp.on_end(sent, True)

    def drop(self):
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def fault_response(self, f):
        kind = f.get("kind")
        extra = [(k, str(v)) for k, v in (f.get("headers") or {}).items()]
        if f.get("retry_after") is not None:
            extra.append(("Retry-After", str(f["retry_after"])))
        body = f.get("body")
        if kind == "garbage":
            if body is None:
                body = "<html><body>502 garbage \x00 not json {{{</body></html>"
            ctype = f.get("content_type", "application/json")
            return Response(int(f.get("status", 200)), body.encode("utf-8", "replace"), extra, ctype)
        status = int(f.get("status", 500))
        if body is None:
            ctype = "application/json"
            b = json.dumps({"error": "server_error",
                            "error_description": "injected fault %d" % status}).encode()
        else:
            b = body.encode("utf-8", "replace")
            try:
                json.loads(body)
                ctype = "application/json"
            except ValueError:
                ctype = "text/plain; charset=utf-8"
            ctype = f.get("content_type", ctype)
        return Response(status, b, extra, ctype)

    def apply_terminal_fault(self, f):
        """status / garbage / drop; returns True if the request was answered."""
        kind = f.get("kind")
        if kind == "drop":
            self.drop()
            return True
        if kind in ("status", "garbage"):
            self.send(self.fault_response(f))
            return True
        return False

    # -- dispatch ------------------------------------------------------------
    def dispatch(self):
        self.conn_requests += 1
        self._body = None
        self._body_started = False
        method = self.command
        u = urllib.parse.urlsplit(self.path)
        path = u.path
        self._url = u
        admin = path == "/_fake" or path.startswith("/_fake/")
        fault = None
        if not admin:
            self.P.count_path(path)
            fault = self.P.take_fault(path, method)
        try:
            when = (fault or {}).get("when", "before")
            if fault and when == "before":
                if fault.get("delay"):
                    time.sleep(float(fault["delay"]))
                if fault.get("kind") == "hold":
                    self.P.hold()
                elif fault.get("kind") in ("status", "garbage", "drop"):
                    if fault.get("kind") != "drop" or fault.get("drain", True):
                        self.drain_body()
                    self.apply_terminal_fault(fault)
                    return
            if admin:
                resp = self.route_admin(method, path)
            else:
                resp = self.route(method, path)
            self.drain_body()  # no-op if the handler already read it
            if fault and when == "after":
                if fault.get("delay"):
                    time.sleep(float(fault["delay"]))
                if fault.get("kind") == "hold":
                    self.P.hold()
                elif self.apply_terminal_fault(fault):
                    return
            self.send(resp)
        except (ValueError, ConnectionError) as e:
            self.close_connection = True
            if isinstance(e, ConnectionError):
                return
            self.send(json_resp(400, {"error": "invalid_request", "error_description": str(e)}))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def route(self, method, path):
        if path == "/authorize":
            if method != "GET":
                return json_resp(405, {"error": "method_not_allowed"})
            return self.authorize_get()
        if path == "/authorize/decide":
            if method != "POST":
                return json_resp(405, {"error": "method_not_allowed"})
            return self.authorize_decide()
        if path == "/oauth/token":
            if method != "POST":
                return json_resp(405, {"error": "method_not_allowed"})
            return self.token()
        if path == "/oauth/token/accessible-resources":
            return self.accessible_resources()
        if path.startswith("/ex/confluence/") and self.basic_credential() is not None:
            return self.route_confluence_basic(method, path)
        if path.startswith("/ex/confluence/"):
            return self.route_confluence(method, path)
        if path.startswith("/site/"):
            return self.route_site(method, path)
        if path.startswith("/_edge/"):
            return self.tenant_info(method, path)
        if path == "/dc" or path.startswith("/dc/"):
            return self.route_dc(method, path)
        return json_resp(404, {"code": 404, "message": "Not Found"})

    # -- authorize -------------------------------------------------------------
    def _check_client_redirect(self, params):
        cid = params.get("client_id", "")
        ruri = params.get("redirect_uri", "")
        with self.P.lock:
            client = self.P.clients.get(cid)
            if client is None:
                return "Unknown client_id"
            if not ruri:
                return "Missing redirect_uri"
            if client["redirect_uris"] and ruri not in client["redirect_uris"]:
                return "redirect_uri is not registered for this client"
        return None

    def authorize_get(self):
        params = first_values(urllib.parse.parse_qs(self._url.query, keep_blank_values=True))
        P = self.P
        with P.lock:
            P.counters["authorize_get"] += 1
            P.last_authorize_request = dict(params)
        err = self._check_client_redirect(params)
        if err:
            P.bump("authorize_errors")
            return html_resp(400, "Something went wrong",
                             "<h1>Something went wrong</h1><p id=\"error\">%s</p>" % html.escape(err))
        ruri = params["redirect_uri"]
        state = params.get("state")
        if params.get("response_type") != "code":
            P.bump("authorize_errors")
            return redirect(add_query(ruri, [("error", "unsupported_response_type"),
                                             ("error_description", "response_type must be code"),
                                             ("state", state)]))
        ccm = params.get("code_challenge_method")
        if params.get("code_challenge") and ccm not in (None, "", "S256", "plain"):
            P.bump("authorize_errors")
            return redirect(add_query(ruri, [("error", "invalid_request"),
                                             ("error_description", "unsupported code_challenge_method"),
                                             ("state", state)]))
        with P.lock:
            auto = P.config.get("auto_approve")
            sites = [dict(s) for s in P.sites]
        if auto:
            return self._approve(params, [s["id"] for s in sites])
        hidden = "\n".join(
            '<input type="hidden" name="%s" value="%s">' % (html.escape(k), html.escape(v))
            for k, v in params.items())
        scopes = "\n".join("<li class=\"scope\">%s</li>" % html.escape(s)
                           for s in params.get("scope", "").split() if s)
        site_boxes = "\n".join(
            '<li><label><input type="checkbox" name="site" value="%s" checked> %s (%s)</label></li>'
            % (html.escape(s["id"]), html.escape(s.get("name", "")), html.escape(s.get("url", "")))
            for s in sites)
        body = (
            "<h1>Authorize access</h1>\n"
            "<p><span id=\"client\">%s</span> is requesting access to your Atlassian account.</p>\n"
            "<h2>Scopes</h2><ul id=\"scopes\">%s</ul>\n"
            "<form method=\"POST\" action=\"/authorize/decide\">\n%s\n"
            "<h2>Sites</h2><ul id=\"sites\">%s</ul>\n"
            "<button name=\"decision\" value=\"approve\" id=\"approve\">Accept</button>\n"
            "<button name=\"decision\" value=\"deny\" id=\"deny\">Cancel</button>\n"
            "</form>"
            % (html.escape(params.get("client_id", "")), scopes, hidden, site_boxes))
        return html_resp(200, "Authorize %s" % params.get("client_id", ""), body)

    def authorize_decide(self):
        ctype = (self.headers.get("Content-Type") or "").lower()
        raw = self.read_body().decode("utf-8", "replace")
        if "json" in ctype:
            try:
                obj = json.loads(raw or "{}")
            except ValueError:
                obj = {}
            qs = {k: (v if isinstance(v, list) else [v]) for k, v in obj.items()}
        else:
            qs = urllib.parse.parse_qs(raw, keep_blank_values=True)
        params = first_values(qs)
        P = self.P
        P.bump("decide")
        err = self._check_client_redirect(params)
        if err:
            return html_resp(400, "Something went wrong",
                             "<h1>Something went wrong</h1><p id=\"error\">%s</p>" % html.escape(err))
        ruri = params["redirect_uri"]
        if params.get("decision", "approve") != "approve":
            P.bump("decide_deny")
            return redirect(add_query(ruri, [("error", "access_denied"),
                                             ("error_description", "User did not authorize the request"),
                                             ("state", params.get("state"))]))
        if params.get("response_type", "code") != "code":
            return redirect(add_query(ruri, [("error", "unsupported_response_type"),
                                             ("state", params.get("state"))]))
        P.bump("decide_approve")
        with P.lock:
            known = [s["id"] for s in P.sites]
        chosen = [s for s in qs.get("site", []) if s in known]
        if not chosen:
            chosen = known
        return self._approve(params, chosen)

    def _approve(self, params, sites):
        P = self.P
        code = secrets.token_urlsafe(24)
        with P.lock:
            P.codes[code] = {
                "client_id": params.get("client_id"),
                "redirect_uri": params.get("redirect_uri"),
                "scope": params.get("scope", ""),
                "sites": list(sites),
                "code_challenge": params.get("code_challenge") or None,
                "code_challenge_method": params.get("code_challenge_method") or
                ("plain" if params.get("code_challenge") else None),
                "expires": P.now() + float(P.config["code_ttl"]),
                "used": False,
                "family": None,
            }
            P.note_issued("code", code)
        return redirect(add_query(params["redirect_uri"],
                                  [("code", code), ("state", params.get("state"))]))

    # -- token endpoint --------------------------------------------------------
    def token(self):
        P = self.P
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        raw = self.read_body()
        P.bump("token_requests")
        params = {}
        body_style = "form"
        parse_error = None
        text = raw.decode("utf-8", "replace")
        if ctype == "application/json" or ctype.endswith("+json") or (
                not ctype and text.lstrip().startswith("{")):
            body_style = "json"
            try:
                obj = json.loads(text) if text.strip() else {}
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
                params = {k: (v if isinstance(v, str) else json.dumps(v) if v is not None else None)
                          for k, v in obj.items()}
                params = {k: v for k, v in params.items() if v is not None}
            except ValueError:
                parse_error = "body is not a JSON object"
        else:
            params = first_values(urllib.parse.parse_qs(text, keep_blank_values=True))

        auth = self.headers.get("Authorization") or ""
        basic = None
        if auth[:6].lower() == "basic ":
            try:
                dec = base64.b64decode(auth[6:].strip(), validate=False).decode("utf-8")
                u, _, pw = dec.partition(":")
                basic = (urllib.parse.unquote_plus(u), urllib.parse.unquote_plus(pw))
            except Exception:
                basic = ("", "")
        style = "basic" if basic is not None else body_style
        with P.lock:
            P.counters["token_styles"][style] += 1
            P.last_token_request = {
                "style": style,
                "body_style": body_style,
                "content_type": self.headers.get("Content-Type"),
                "grant_type": params.get("grant_type"),
                "client_id": basic[0] if basic else params.get("client_id"),
                "params": dict(params),
                "basic": list(basic) if basic else None,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "raw_body": text,
            }
        if parse_error:
            return token_error(400, "invalid_request", parse_error)
        grant = params.get("grant_type")
        if not grant:
            return token_error(400, "invalid_request", "Missing grant_type")

        if basic is not None:
            cid, csecret = basic
        else:
            cid, csecret = params.get("client_id"), params.get("client_secret")
        with P.lock:
            client = P.clients.get(cid or "")
            if client is None or csecret is None or not secrets.compare_digest(
                    client["client_secret"].encode(), csecret.encode()):
                P.counters["token_invalid_client"] += 1
                hdrs = [("WWW-Authenticate", 'Basic realm="fake"')] if basic is not None else None
                return token_error(401, "invalid_client", "Client authentication failed", hdrs)

        if grant == "authorization_code":
            return self.grant_code(cid, params)
        if grant == "refresh_token":
            return self.grant_refresh(cid, params)
        return token_error(400, "unsupported_grant_type", "Unsupported grant type: %s" % grant)

    def grant_code(self, cid, params):
        P = self.P
        with P.lock:
            P.counters["token_authorization_code"] += 1
            code = params.get("code")
            if not code:
                P.counters["token_authorization_code_rejected"] += 1
                return token_error(400, "invalid_request", "Missing code")

            def bad(desc):
                P.counters["token_authorization_code_rejected"] += 1
                return token_error(400, "invalid_grant", desc)

            rec = P.codes.get(code)
            if rec is None:
                return bad("Invalid authorization code")
            if rec["used"]:
                if P.config.get("revoke_on_code_reuse") and rec["family"]:
                    P.revoke_family(rec["family"], "code_reuse")
                return bad("Authorization code already used")
            if P.now() >= rec["expires"]:
                return bad("Authorization code expired")
            if rec["client_id"] != cid:
                return bad("Authorization code was issued to another client")
            if params.get("redirect_uri") != rec["redirect_uri"]:
                return bad("redirect_uri mismatch")
            if rec["code_challenge"]:
                ver = params.get("code_verifier")
                if not ver:
                    return bad("Missing code_verifier")
                if rec["code_challenge_method"] == "S256":
                    ok = s256(ver) == rec["code_challenge"]
                else:
                    ok = ver == rec["code_challenge"]
                if not ok:
                    return bad("Invalid code_verifier")
            rec["used"] = True
            fam = P._new_family(cid, rec["scope"], rec["sites"])
            rec["family"] = fam["family_id"]
            at = P._issue_access(fam)
            rt = None
            if "offline_access" in rec["scope"].split():
                rt = P._issue_refresh(fam)
            P.counters["token_authorization_code_ok"] += 1
            return P.token_reply(fam, at, rt)

    def grant_refresh(self, cid, params):
        P = self.P
        with P.lock:
            P.counters["token_refresh"] += 1
            rt = params.get("refresh_token")
            if not rt:
                P.counters["token_refresh_rejected"] += 1
                return token_error(400, "invalid_request", "Missing refresh_token")

            def reject():
                P.counters["token_refresh_rejected"] += 1
                return token_error(403, "invalid_grant", ERR_REFRESH)

            rec = P.refresh_tokens.get(rt)
            if rec is None:
                return reject()
            fam = P.families[rec["family"]]
            if fam["revoked"] or fam["client_id"] != cid:
                return reject()
            now = P.now()
            if now - rec["last_used"] > float(P.config["refresh_inactivity"]):
                return reject()
            if rec["rotated_at"] is not None and now - rec["rotated_at"] > float(P.config["reuse_leeway"]):
                P.revoke_family(fam["family_id"], "refresh_token_reuse")
                P.counters["families_revoked_reuse"] += 1
                return reject()
            rec["last_used"] = now
            at = P._issue_access(fam)
            new_rt = None
            if not P.config.get("omit_refresh_token"):
                new_rt = P._issue_refresh(fam)
                fam["rotations"] += 1
            P.counters["token_refresh_ok"] += 1
            return P.token_reply(fam, at, new_rt)

    # -- resource APIs ---------------------------------------------------------
    def bearer(self):
        auth = self.headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        return None

    def unauthorized(self):
        self.P.bump("api_unauthorized")
        return json_resp(401, {"code": 401, "message": "Unauthorized"},
                         [("WWW-Authenticate", 'Bearer realm="fake"')])

    def accessible_resources(self):
        P = self.P
        with P.lock:
            P.counters["resources"] += 1
            fam = P.access_grant(self.bearer())
            if fam is None:
                return self.unauthorized()
            scopes = [s for s in fam["scope"].split() if s != "offline_access"]
            out = []
            for sid in fam["sites"]:
                s = P.site_by_id(sid)
                if s is None:
                    continue
                out.append({
                    "id": s["id"],
                    "url": s.get("url", "https://%s.atlassian.net" % s.get("name", "site")),
                    "name": s.get("name", ""),
                    "scopes": scopes,
                    "avatarUrl": s.get("avatarUrl", AVATAR_URL),
                })
            return json_resp(200, out)

    def route_confluence(self, method, path):
        P = self.P
        rest = path[len("/ex/confluence/"):]
        cloud_id, _, sub = rest.partition("/")
        sub = "/" + sub
        with P.lock:
            P.counters["api_calls"] += 1
            fam = P.access_grant(self.bearer())
            if fam is None:
                return self.unauthorized()
            if P.site_by_id(cloud_id) is None:
                return json_resp(404, {"code": 404, "message": "Site not found"})
            if cloud_id not in fam["sites"]:
                return self.unauthorized()
        with P.lock:
            site_url = (P.site_by_id(cloud_id) or {}).get("url") or "https://%s.atlassian.net" % cloud_id
        wiki = self.confluence_api(method, sub, cloud_id, site_url + "/wiki", set(fam["scope"].split()))
        if wiki is not None:
            return wiki
        if sub == "/wiki/rest/api/user/current" and method == "GET":
            return json_resp(200, {"type": "known", "accountId": "5b10a2844c20165700ede21g",
                                   "accountType": "atlassian", "displayName": "Fake User",
                                   "publicName": "Fake User"})
        if sub.startswith("/wiki/download/") and method == "GET":
            try:
                n = int(sub[len("/wiki/download/"):])
                if n < 0:
                    raise ValueError
            except ValueError:
                return json_resp(400, {"code": 400, "message": "bad size"})
            P.bump("downloads")

            def on_end(sent, complete):
                with P.lock:
                    if complete:
                        P.counters["downloads_completed"] += 1
                    else:
                        P.counters["download_aborted"] += 1
                        P.counters["download_aborted_last_bytes"] = sent
                        P.counters["download_aborted_last_size"] = n
            return Response(200, headers=[("Content-Type", "application/octet-stream")],
                            stream=self._download(n), length=n, on_end=on_end)
        if sub == "/wiki/upload" and method in ("POST", "PUT"):
            h = hashlib.sha256()
            count = 0
            for chunk in self.iter_body():
                h.update(chunk)
                count += len(chunk)
            self._body = b""
            return json_resp(200, {"bytes": count, "sha256": h.hexdigest()})
        if sub == "/wiki/echo" or sub.startswith("/wiki/echo/"):
            body = self.read_body()
            return json_resp(200, {
                "method": method,
                "path": path,
                "raw_target": self.path,
                "query": self._url.query,
                "query_params": urllib.parse.parse_qs(self._url.query, keep_blank_values=True),
                "headers": {k.lower(): ", ".join(self.headers.get_all(k)) for k in self.headers.keys()},
                "header_list": [[k, v] for k, v in self.headers.items()],
                "body_bytes": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
                # The TCP connection this request came on: a per-process id,
                # the peer's port, and how many requests it has carried
                # (this one included) -- keep-alive shows as requests > 1.
                "tcp_connection": {"id": self.conn_id, "peer_port": self.client_address[1],
                               "requests": self.conn_requests},
            }, [("Set-Cookie", "upstream=1"), ("X-Upstream", "yes")])
        if sub == "/wiki/redirect":
            return redirect("http://127.0.0.1:1/elsewhere")
        return json_resp(404, {"code": 404, "message": "No route for %s %s" % (method, sub)})

    # -- API tokens (Atlassian Cloud, Basic) and PATs (Data Center, Bearer) ----
    def basic_credential(self):
        """(email, token) of an HTTP Basic Authorization header, or None."""
        auth = self.headers.get("Authorization") or ""
        if auth[:6].lower() != "basic ":
            return None
        try:
            raw = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return ("", "")
        email, sep, token = raw.partition(":")
        return (email, token) if sep else ("", "")

    def _note_auth(self):
        with self.P.lock:
            self.P.last_credential_auth = self.headers.get("Authorization")

    def basic_unauthorized(self):
        self.P.bump("apikey_rejected")
        return json_resp(401, {"code": 401, "message": "Client must be authenticated to access this resource."},
                         [("WWW-Authenticate", 'Basic realm="fake"')])

    def echo_resp(self, method, path, extra=None):
        body = self.read_body()
        obj = {
            "method": method,
            "path": path,
            "raw_target": self.path,
            "query": self._url.query,
            "headers": {k.lower(): ", ".join(self.headers.get_all(k)) for k in self.headers.keys()},
            "body_bytes": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        obj.update(extra or {})
        return json_resp(200, obj)

    def cloud_api(self, method, path, sub, host, user):
        """The Confluence routes an API token reaches, on a site or through
        api.atlassian.com."""
        if sub == "/wiki/rest/api/user/current" and method == "GET":
            return json_resp(200, {"type": "known", "accountId": user["accountId"],
                                   "accountType": "atlassian", "displayName": user["displayName"],
                                   "publicName": user["displayName"], "email": user["email"]})
        with self.P.lock:
            key = self.P.cloud_id_of_host(host) or host
        wiki = self.confluence_api(method, sub, key, "https://%s/wiki" % host, None)
        if wiki is not None:
            return wiki
        if sub == "/wiki/echo" or sub.startswith("/wiki/echo/"):
            return self.echo_resp(method, path, {"site": host, "user": user["accountId"]})
        return json_resp(404, {"code": 404, "message": "No route for %s %s" % (method, sub)})

    def route_site(self, method, path):
        """/site/{host}/...: an Atlassian Cloud site, as https://{host}/..."""
        P = self.P
        host, _, sub = path[len("/site/"):].partition("/")
        sub = "/" + sub
        self._note_auth()
        P.bump("apikey_calls")
        cred = self.basic_credential()
        with P.lock:
            user = P.api_token_user(host, *cred) if cred else None
        if user is None:
            return self.basic_unauthorized()
        P.bump("apikey_ok")
        return self.cloud_api(method, path, sub, host.lower(), user)

    def route_confluence_basic(self, method, path):
        """/ex/confluence/{cloud_id}/... with an API token (scoped tokens
        only work through api.atlassian.com)."""
        P = self.P
        cloud_id, _, sub = path[len("/ex/confluence/"):].partition("/")
        sub = "/" + sub
        self._note_auth()
        P.bump("apikey_calls")
        with P.lock:
            host = P.host_of_cloud_id(cloud_id)
            user = P.api_token_user(host, *self.basic_credential()) if host else None
        if host is None:
            return json_resp(404, {"code": 404, "message": "Site not found"})
        if user is None:
            return self.basic_unauthorized()
        P.bump("apikey_ok")
        return self.cloud_api(method, path, sub, host, user)

    def tenant_info(self, method, path):
        """GET /_edge/{host}/tenant_info (unauthenticated, as on a real site)."""
        P = self.P
        host, _, rest = path[len("/_edge/"):].partition("/")
        if rest != "tenant_info" or method != "GET":
            return json_resp(404, {"code": 404, "message": "Not Found"})
        P.bump("tenant_info")
        with P.lock:
            cid = P.cloud_id_of_host(host)
        if cid is None:
            P.bump("tenant_info_unknown")
            return json_resp(404, {"code": 404, "message": "Site not found"})
        return json_resp(200, {"cloudId": cid})

    def route_dc(self, method, path):
        """/dc/...: a Confluence Data Center server with personal access tokens."""
        P = self.P
        sub = path[len("/dc"):] or "/"
        self._note_auth()
        P.bump("pat_calls")
        tok = self.bearer()
        with P.lock:
            user = P.pats.get(tok) if tok else None
        if sub == "/rest/api/user/current" and method == "GET":
            if user is None:
                # Data Center answers a bad or missing PAT as the anonymous user.
                P.bump("pat_anonymous")
                return json_resp(200, {"type": "anonymous", "profilePicture": {
                    "path": "/images/icons/profilepics/anonymous.svg"}, "displayName": "Anonymous"})
            P.bump("pat_ok")
            return json_resp(200, {"type": "known", "username": user["username"], "userKey": user["userKey"],
                                   "displayName": user["displayName"]})
        if user is None:
            P.bump("pat_rejected")
            return json_resp(401, {"statusCode": 401, "message": "This resource requires authentication."},
                             [("WWW-Authenticate", 'OAuth realm="fake"')])
        P.bump("pat_ok")
        wiki = self.confluence_api(method, sub, DC_WIKI, DC_BASE, None, dc=True)
        if wiki is not None:
            return wiki
        if sub == "/rest/api/echo" or sub.startswith("/rest/api/echo/"):
            return self.echo_resp(method, path, {"user": user["username"]})
        return json_resp(404, {"statusCode": 404, "message": "No route for %s %s" % (method, sub)})

    @staticmethod
    def _download(n):
        while n > 0:
            chunk = PATTERN if n >= len(PATTERN) else PATTERN[:n]
            n -= len(chunk)
            yield chunk

    def confluence_api(self, method, sub, key, base, scopes, dc=False):
        """Confluence's v1/v2 routes (fake_confluence.handle) on the wiki of
        key; scopes None for an unscoped credential.  None: not one of them."""
        P = self.P
        prefixes = ("/rest/api/",) if dc else ("/wiki/api/v2/", "/wiki/rest/api/")
        if not (sub + "/").startswith(prefixes):
            return None
        raw = self.read_body()
        with P.lock:
            out = fake_confluence.handle(lambda: P.wiki(key, base, dc), method, sub, self._url.query, raw,
                                         scopes, P.now(), dc)
            if out is None:
                return None
            P.counters["confluence_calls"] += 1
            status, obj, headers = out
            if obj == fake_confluence.SCOPE_MISMATCH:
                P.counters["confluence_scope_rejected"] += 1
            body = b"" if obj is None else json.dumps(obj).encode()
        return Response(status, body, headers, None if obj is None else "application/json")

    # -- admin -----------------------------------------------------------------
    def route_admin(self, method, path):
        P = self.P
        data = {}
        if method in ("POST", "PUT"):
            raw = self.read_body()
            if raw.strip():
                try:
                    data = json.loads(raw.decode("utf-8"))
                except ValueError:
                    return json_resp(400, {"error": "bad json"})
                if not isinstance(data, dict):
                    return json_resp(400, {"error": "expected object"})
        handler = ADMIN_ROUTES.get((method, path.rstrip("/")))
        if handler is None:
            return json_resp(404, {"error": "no admin route %s %s" % (method, path)})
        with P.lock:
            return handler(P, data)


# ------------------------------------------------------------------ admin
# One function per admin switch (/_fake/...), each called under the
# provider's lock with the provider and the request's JSON object ({} for
# GET); ADMIN_ROUTES maps (method, path) to it.

def admin_state(P, data):
    """GET /_fake/state"""
    return json_resp(200, {
        "counters": P.counters,
        "clock_offset": P.clock_offset,
        "now": P.now(),
        "config": P.config,
        "held": len(P.held),
        "faults": P.faults,
        "sites": P.sites,
        "clients": list(P.clients.values()),
    })


def admin_reset(P, data):
    """POST /_fake/reset"""
    clients = P.clients
    P.reset_state()
    P.clients = {} if data.get("all") else clients
    return json_resp(200, {"ok": True})


def admin_clients(P, data):
    """POST /_fake/clients"""
    cid = data.get("client_id")
    if not cid or not isinstance(data.get("client_secret"), str):
        return json_resp(400, {"error": "client_id and client_secret required"})
    P.clients[cid] = {"client_id": cid, "client_secret": data["client_secret"],
                      "redirect_uris": list(data.get("redirect_uris") or [])}
    P.note_issued("client_secret", data["client_secret"], client_id=cid)
    return json_resp(200, P.clients[cid])


def admin_sites(P, data):
    """POST /_fake/sites"""
    sites = data.get("sites")
    if not isinstance(sites, list) or not all(isinstance(s, dict) and s.get("id") for s in sites):
        return json_resp(400, {"error": "sites must be a list of {id,url,name}"})
    P.sites = [dict(s) for s in sites]
    return json_resp(200, {"sites": P.sites})


def admin_clock(P, data):
    """POST /_fake/clock"""
    if "offset" in data:
        P.clock_offset = float(data["offset"])
    if "advance" in data:
        P.clock_offset += float(data["advance"])
    return json_resp(200, {"clock_offset": P.clock_offset, "now": P.now()})


def admin_config(P, data):
    """POST /_fake/config"""
    unknown = [k for k in data if k not in DEFAULT_CONFIG]
    if unknown:
        return json_resp(400, {"error": "unknown config keys", "keys": unknown})
    P.config.update(data)
    return json_resp(200, {"config": P.config})


def admin_fault(P, data):
    """POST /_fake/fault"""
    kind = data.get("kind")
    if kind not in ("status", "delay", "drop", "garbage", "hold"):
        return json_resp(400, {"error": "kind must be status|delay|drop|garbage|hold"})
    if data.get("when", "before") not in ("before", "after"):
        return json_resp(400, {"error": "when must be before|after"})
    f = dict(data)
    f.setdefault("path", "*")
    f.setdefault("when", "before")
    f["count"] = int(f.get("count", 1))
    P.faults.append(f)
    return json_resp(200, {"faults": P.faults})


def admin_fault_clear(P, data):
    """POST /_fake/fault/clear"""
    P.faults = []
    return json_resp(200, {"ok": True})


def admin_held(P, data):
    """GET /_fake/held"""
    return json_resp(200, {"held": len(P.held)})


def admin_release(P, data):
    """POST /_fake/release"""
    n = data.get("count")
    n = len(P.held) if n is None or int(n) < 0 else int(n)
    rel = P.held[:n]
    P.held = P.held[n:]
    for ev in rel:
        ev.set()
    P.cond.notify_all()
    return json_resp(200, {"released": len(rel), "held": len(P.held)})


def admin_wait_held(P, data):
    """POST /_fake/wait_held"""
    n = int(data.get("count", 1))
    ok = P.cond.wait_for(lambda: len(P.held) >= n, float(data.get("timeout", 10)))
    return json_resp(200 if ok else 408, {"held": len(P.held)})


def admin_issued(P, data):
    """GET /_fake/issued"""
    # [{"kind": access_token|refresh_token|code|client_secret|
    #   api_token|pat, "value": ..., (client_id | email, site)}],
    # in order, since the fake started (reset keeps it)
    return json_resp(200, {"issued": list(P.issued)})


def admin_tokens(P, data):
    """GET /_fake/tokens"""
    return json_resp(200, {"families": P.families_view(),
                           "codes": [dict(code=c, **r) for c, r in P.codes.items()]})


def admin_revoke(P, data):
    """POST /_fake/revoke"""
    fid = data.get("family_id")
    if not fid and data.get("refresh_token") in P.refresh_tokens:
        fid = P.refresh_tokens[data["refresh_token"]]["family"]
    if not fid and data.get("access_token") in P.access_tokens:
        fid = P.access_tokens[data["access_token"]]["family"]
    if not fid or fid not in P.families:
        return json_resp(404, {"error": "unknown token"})
    P.revoke_family(fid, "admin")
    return json_resp(200, {"revoked": fid})


def admin_last_token_request(P, data):
    """GET /_fake/last_token_request"""
    return json_resp(200, P.last_token_request)


def admin_last_authorize_request(P, data):
    """GET /_fake/last_authorize_request"""
    return json_resp(200, P.last_authorize_request)


def admin_api_tokens(P, data):
    """POST /_fake/api_tokens"""
    # {"site": "acme.atlassian.net", "email": ..., "token": ...,
    #  "display_name"?, "account_id"?}: an Atlassian API token
    site, email, tok = data.get("site"), data.get("email"), data.get("token")
    if not all(isinstance(v, str) and v for v in (site, email, tok)) or ":" in email:
        return json_resp(400, {"error": "site, email and token required (no ':' in email)"})
    user = {"email": email,
            "accountId": data.get("account_id") or "acc-" + secrets.token_hex(6),
            "displayName": data.get("display_name") or email.split("@")[0]}
    P.api_tokens[(site.lower(), email, tok)] = user
    P.note_issued("api_token", tok, email=email, site=site.lower())
    return json_resp(200, dict(user, site=site.lower()))


def admin_api_tokens_revoke(P, data):
    """POST /_fake/api_tokens/revoke"""
    n = 0
    for k in list(P.api_tokens):
        if k[2] == data.get("token"):
            del P.api_tokens[k]
            n += 1
    return json_resp(200 if n else 404, {"revoked": n})


def admin_pats(P, data):
    """POST /_fake/pats"""
    # {"token": ..., "username": ..., "display_name"?}: a Data Center PAT
    tok, username = data.get("token"), data.get("username")
    if not all(isinstance(v, str) and v for v in (tok, username)):
        return json_resp(400, {"error": "token and username required"})
    user = {"username": username, "userKey": "key-" + hashlib.sha256(
        username.encode()).hexdigest()[:16], "displayName": data.get("display_name") or username}
    P.pats[tok] = user
    P.note_issued("pat", tok)
    return json_resp(200, user)


def admin_pats_revoke(P, data):
    """POST /_fake/pats/revoke"""
    gone = P.pats.pop(data.get("token"), None)
    return json_resp(200 if gone else 404, {"revoked": 1 if gone else 0})


def admin_tenants(P, data):
    """POST /_fake/tenants"""
    # {"host": "extra.atlassian.net", "cloud_id": ...}: one more site
    # that tenant_info knows (besides the hosts of the sites list)
    host, cid = data.get("host"), data.get("cloud_id")
    if not all(isinstance(v, str) and v for v in (host, cid)):
        return json_resp(400, {"error": "host and cloud_id required"})
    P.tenants[host.lower()] = cid
    return json_resp(200, {"tenants": P.tenants})


def admin_credentials(P, data):
    """GET /_fake/credentials"""
    return json_resp(200, {
        "api_tokens": [dict(u, site=k[0], token=k[2]) for k, u in P.api_tokens.items()],
        "pats": [dict(u, token=k) for k, u in P.pats.items()],
        "tenants": P.tenants,
        "last_authorization": P.last_credential_auth})


def _admin_wiki(P, data):
    """The wiki named by data["cloud_id"] (a cloud id, a site host or "dc"),
    seeded when first used; None when unknown."""
    key = data.get("cloud_id") or DEFAULT_SITES[0]["id"]
    if key == DC_WIKI:
        return P.wiki(key, DC_BASE, True)
    site = P.site_by_id(key)
    host = P.host_of_cloud_id(key) or (key if "." in key else None)
    if key not in P.wikis and site is None and host is None:
        return None
    url = (site or {}).get("url") or "https://%s" % host
    return P.wiki(key, url + "/wiki")


def admin_confluence(P, data):
    """GET /_fake/confluence"""
    # {"wikis": {cloud id | host | "dc": {"base", "spaces", "content": {id: item}}}}:
    # every wiki used so far, each item with all its stored versions
    return json_resp(200, {"wikis": {k: w.view() for k, w in P.wikis.items()}})


def admin_confluence_reset(P, data):
    """POST /_fake/confluence/reset"""
    # {"cloud_id"?}: that wiki (else every wiki) back to the seeded data
    if data.get("cloud_id"):
        P.wikis.pop(data["cloud_id"], None)
    else:
        P.wikis = {}
    return json_resp(200, {"ok": True})


def admin_confluence_content(P, data):
    """POST /_fake/confluence/content"""
    # {"cloud_id"?, "id" | "title"}: one item as stored (trashed ones too),
    # {"id", "type", "status", "title", "spaceKey", "parentId", "labels",
    #  "versions": [{"number", "title", "body", "when", "message"}]}
    w = _admin_wiki(P, data)
    items = list(w.items.values()) if w else []
    hit = [i for i in items if i["id"] == str(data.get("id")) or i["title"] == data.get("title")]
    if not hit:
        return json_resp(404, {"error": "no such content"})
    return json_resp(200, hit[-1])


def admin_confluence_page(P, data):
    """POST /_fake/confluence/page"""
    # {"cloud_id"?, "space_key", "title", "body", "parent_id"?, "type"?
    # (page|blogpost|comment)}: stored as version 1, as if made in Confluence
    w = _admin_wiki(P, data)
    sp = w.space_by_key(data.get("space_key") or "") if w else None
    ctype = data.get("type") or "page"
    if sp is None or ctype not in ("page", "blogpost", "comment") or not isinstance(data.get("title"), str) \
            or not isinstance(data.get("body"), str):
        return json_resp(400, {"error": "a known cloud_id and space_key, title and body required"})
    parent = data.get("parent_id") or (sp["homepageId"] if ctype == "page" else None)
    return json_resp(200, w.create(ctype, sp, data["title"], data["body"], parent, P.now()))


ADMIN_ROUTES = {
    ("GET", "/_fake/state"): admin_state,
    ("POST", "/_fake/reset"): admin_reset,
    ("POST", "/_fake/clients"): admin_clients,
    ("POST", "/_fake/sites"): admin_sites,
    ("POST", "/_fake/clock"): admin_clock,
    ("POST", "/_fake/config"): admin_config,
    ("POST", "/_fake/fault"): admin_fault,
    ("POST", "/_fake/fault/clear"): admin_fault_clear,
    ("GET", "/_fake/held"): admin_held,
    ("POST", "/_fake/release"): admin_release,
    ("POST", "/_fake/wait_held"): admin_wait_held,
    ("GET", "/_fake/issued"): admin_issued,
    ("GET", "/_fake/tokens"): admin_tokens,
    ("POST", "/_fake/revoke"): admin_revoke,
    ("GET", "/_fake/last_token_request"): admin_last_token_request,
    ("GET", "/_fake/last_authorize_request"): admin_last_authorize_request,
    ("POST", "/_fake/api_tokens"): admin_api_tokens,
    ("POST", "/_fake/api_tokens/revoke"): admin_api_tokens_revoke,
    ("POST", "/_fake/pats"): admin_pats,
    ("POST", "/_fake/pats/revoke"): admin_pats_revoke,
    ("POST", "/_fake/tenants"): admin_tenants,
    ("GET", "/_fake/credentials"): admin_credentials,
    ("GET", "/_fake/confluence"): admin_confluence,
    ("POST", "/_fake/confluence/reset"): admin_confluence_reset,
    ("POST", "/_fake/confluence/content"): admin_confluence_content,
    ("POST", "/_fake/confluence/page"): admin_confluence_page,
}


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, BrokenPipeError, socket.timeout)):
            return
        super().handle_error(request, client_address)


def make_server(host="127.0.0.1", port=0, clients=None, tls=None):
    """tls: (certificate file, key file) to serve https (the cluster suite's
    provider, on an address that is not loopback), else http."""
    cls = Server
    if ":" in host:
        class Server6(cls):
            address_family = socket.AF_INET6
        cls = Server6
    if tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)

        class TLSServer(cls):
            def get_request(self):
                # The handshake happens on the handler's thread, at its
                # first read: a slow client holds up no other.
                sock, peer = self.socket.accept()
                return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), peer
        cls = TLSServer
    srv = cls((host, port), Handler)
    srv.provider = Provider(clients)
    return srv


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Atlassian OAuth 2.0 (3LO) provider")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--ready-file")
    ap.add_argument("--client", action="append", default=[], metavar="ID:SECRET")
    ap.add_argument("--tls-cert", help="serve https with this certificate (PEM) ...")
    ap.add_argument("--tls-key", help="... and this key")
    args = ap.parse_args(argv)
    clients = []
    for c in args.client:
        cid, sep, secret = c.partition(":")
        if not sep or not cid:
            ap.error("--client must be ID:SECRET")
        clients.append((cid, secret))
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    srv = make_server(args.host, args.port, clients, tls)
    port = srv.server_address[1]

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.ready_file:
        tmp = "%s.tmp.%d" % (args.ready_file, os.getpid())
        with open(tmp, "w") as fh:
            fh.write("%d\n" % port)
        os.replace(tmp, args.ready_file)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.provider.release_all()
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
