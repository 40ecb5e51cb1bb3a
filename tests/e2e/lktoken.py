"""Helpers for the token / refresh / crash end-to-end tests (stdlib only).

Builds on lkstack (the stack) and lkflow (profiles, keys and the real
authorize -> consent -> callback flow).  The fake provider's state is
global to the stack, so every test that changes it (faults, config, sites,
clock, held requests) puts it back in tearDown through restore_fake().
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

import lkassert as lka
import lkflow as f
import lkstack as lk

sys.path.insert(0, os.path.join(lk.REPO, "tests"))
from fake_provider import DEFAULT_CONFIG  # noqa: E402

TOKEN_PATH = "/oauth/token"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# ------------------------------------------------------------------ fake provider

def counters():
    return lk.fake("GET", "/_fake/state")["counters"]


def token_calls():
    """Requests the fake's token endpoint has seen (faults included)."""
    return counters()["paths"].get(TOKEN_PATH, 0)


def fault(**spec):
    """A fault on the token endpoint unless path is given."""
    spec.setdefault("path", TOKEN_PATH)
    return lk.fake("POST", "/_fake/fault", spec)


def restore_fake():
    """Puts back what tests may change at the fake (never its tokens)."""
    lk.fake("POST", "/_fake/fault/clear", {})
    lk.fake("POST", "/_fake/release", {})
    lk.fake("POST", "/_fake/config", {k: v for k, v in DEFAULT_CONFIG.items()})
    f.set_sites([dict(f.DEFAULT_SITE)])


def families():
    return lk.fake("GET", "/_fake/tokens")["families"]


def family_of(access_token):
    """The fake's token family that issued access_token."""
    for fam in families():
        if access_token in fam["access_tokens"]:
            return fam
    raise AssertionError("no family at the fake issued %s…" % access_token[:12])


def last_token_request():
    return lk.fake("GET", "/_fake/last_token_request") or {}


def clock_offset():
    return lk.fake("GET", "/_fake/state")["clock_offset"]


# ------------------------------------------------------------------ Latchkey

def q(**params):
    return urllib.parse.urlencode(params)


def get_token(profile, instance_id, key=None, **params):
    params = dict(params)
    if instance_id is not None:
        params["instance_id"] = instance_id
    return lk.http("GET", "/token/%s?%s" % (profile.name, q(**params)),
                   headers={"Authorization": "Bearer " + (key or profile.key)})


def post_refresh(profile, instance_id, key=None, **fields):
    body = {"instance_id": instance_id}
    body.update(fields)
    return lk.http("POST", "/refresh/" + profile.name, body=body,
                   headers={"Authorization": "Bearer " + (key or profile.key)})


def delete_token(profile, instance_id, key=None):
    return lk.http("DELETE", "/token/%s?%s" % (profile.name, q(instance_id=instance_id)),
                   headers={"Authorization": "Bearer " + (key or profile.key)})


def row(profile, instance_id):
    """The connection row (every column as text), or None."""
    cols = ["id", "access_token", "refresh_token", "token_type", "scope", "status",
            "generation", "refresh_count", "failure_count", "last_error", "last_refreshed_at",
            "metadata", "expires_in"]
    rows = lk.sql(
        "SELECT c.id, c.access_token, c.refresh_token, c.token_type, c.scope, c.status, "
        "c.generation, c.refresh_count, c.failure_count, c.last_error, c.last_refreshed_at, "
        "c.metadata::text, floor(extract(epoch FROM c.expires_at - now()))::bigint "
        "FROM connections c JOIN profiles p ON p.id = c.profile_id "
        "WHERE p.name = :'p1' AND c.instance_id = :'p2'", profile.name, instance_id)
    if not rows:
        return None
    d = dict(zip(cols, rows[0]))
    for k in ("generation", "refresh_count", "failure_count", "expires_in"):
        d[k] = int(d[k])
    d["metadata"] = json.loads(d["metadata"])
    return d


def set_expiry(profile, instance_id, seconds):
    """expires_at = now() + seconds (negative: already expired), as if the
    token had been had an hour ago: a token refreshed in the last 10 s is
    served whatever min_validity asks (SPEC §5), so time moves on first."""
    lk.sql("UPDATE connections c SET expires_at = now() + make_interval(secs => :'p3'), "
           "last_refreshed_at = LEAST(c.last_refreshed_at, now() - interval '1 hour'), "
           "grant_issued_at = LEAST(c.grant_issued_at, now() - interval '1 hour') "
           "FROM profiles p WHERE p.id = c.profile_id AND p.name = :'p1' AND c.instance_id = :'p2'",
           profile.name, instance_id, str(seconds))


def end_hold_off(profile, instance_id):
    """Moves time past a shared failure's Retry-After (SPEC §5): the next
    caller may ask the provider again."""
    lk.sql("UPDATE connections c SET refresh_retry_at = now() - interval '1 second' "
           "FROM profiles p WHERE p.id = c.profile_id AND p.name = :'p1' AND c.instance_id = :'p2' "
           "AND c.refresh_retry_at IS NOT NULL",
           profile.name, instance_id)


def hold_off(profile, instance_id):
    """(seconds left, answer class) of a connection's shared failure."""
    rows = lk.sql("SELECT ceil(extract(epoch FROM c.refresh_retry_at - now()))::int, "
                  "c.refresh_retry_error FROM connections c JOIN profiles p ON p.id = c.profile_id "
                  "WHERE p.name = :'p1' AND c.instance_id = :'p2'", profile.name, instance_id)
    secs, what = rows[0]
    return (int(secs) if secs not in (None, "") else None, what or None)


def retrying(call, attempts=5):
    """call() again while it answers 503 refresh_in_progress, after its
    Retry-After, as a well-behaved bot does; returns the last answer."""
    for _ in range(attempts):
        r = call()
        if getattr(r, "status", None) != 503 or "refresh_in_progress" not in (r.text or ""):
            return r
        time.sleep(min(2, int(r.headers.get("Retry-After") or "1")))
    return r


def expire(profile, instance_id):
    set_expiry(profile, instance_id, -1)


def audit_rows(profile, instance_id, action="connection.refresh"):
    rows = lk.sql("SELECT id, actor, outcome, detail::text FROM audit_log WHERE profile = :'p1' "
                  "AND instance_id = :'p2' AND action = :'p3' ORDER BY id",
                  profile.name, instance_id, action)
    return [{"id": int(r[0]), "actor": r[1], "outcome": r[2], "detail": json.loads(r[3])}
            for r in rows]


def row_lock_free(conn_id):
    """A SELECT … FOR UPDATE NOWAIT on the row succeeds (and returns it)."""
    e = lk.env()
    penv = dict(os.environ, PGHOST=e["PGHOST"], PGPORT=e["PGPORT"],
                PGDATABASE=e["PGDATABASE"], PGUSER=e["PGUSER"])
    res = subprocess.run([os.path.join(e["PG_BIN"], "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1",
                          "-c", "BEGIN; SELECT id FROM connections WHERE id = %d FOR UPDATE NOWAIT; "
                          "ROLLBACK;" % int(conn_id)],
                         env=penv, capture_output=True, text=True)
    return res.returncode == 0 and str(conn_id) in res.stdout.split()


def backends_in_transaction(app="latchkey-token"):
    return int(lk.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = :'p1' "
                      "AND state LIKE 'idle in transaction%'", app)[0][0])


def connect(profile, **fields):
    """A connection through the real browser flow; returns its instance_id."""
    iid, _resp = f.connect(profile, **fields)
    return iid


def token_of(resp):
    body = lk.json_body(resp)
    f.remember(body.get("access_token"))
    return body["access_token"]


# ------------------------------------------------------------------ processes

def _proc_stat(pid):
    with open("/proc/%d/stat" % pid) as fh:
        s = fh.read()
    return s[s.rindex(")") + 2:].split()


def lighttpd_pid():
    with open(os.path.join(lk.STACK_DIR, "pids.json")) as fh:
        return json.load(fh)["lighttpd"]["pid"]


def programs(route):
    """pids of this stack's FastCGI processes for route: what lighttpd
    started running LATCHKEY_BIN/route (one per route, on one socket), and
    the workers it forked that accept on that socket (other stacks sharing
    the binaries are left alone)."""
    parent = lighttpd_pid()
    exe = os.path.realpath(os.path.join(lk.LATCHKEY_BIN, route))
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        try:
            st = _proc_stat(pid)
            with open("/proc/%d/cmdline" % pid, "rb") as fh:
                argv0 = fh.read().split(b"\0")[0].decode("utf-8", "replace")
        except (OSError, ValueError, IndexError):
            continue
        if st[0] != "Z" and os.path.realpath(argv0) == exe:
            procs[pid] = int(st[1])
    top = {pid for pid, ppid in procs.items() if ppid == parent}
    return sorted(pid for pid, ppid in procs.items() if pid in top or ppid in top)


def workers(route):
    """pids of the processes that serve route's requests: the workers of
    its supervisor (or lighttpd's children themselves when they fork none)."""
    progs = programs(route)
    parent = lighttpd_pid()
    forked = [pid for pid in progs if int(_proc_stat(pid)[1]) != parent]
    return forked or progs


def kill_workers(route):
    """SIGKILL every worker of route (its supervisor starts new ones);
    returns the pids killed."""
    pids = workers(route)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def pg_running():
    try:
        with open(os.path.join(lk.STACK_DIR, "pg", "postmaster.pid")) as fh:
            pid = int(fh.readline())
        _proc_stat(pid)
        return True
    except (OSError, ValueError):
        return False


# ------------------------------------------------------------------ concurrency

def concurrently(calls, timeout=60):
    """Runs every callable of calls in its own thread, all released at once;
    returns their results (or exceptions) in order."""
    results = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i, fn):
        try:
            barrier.wait(timeout)
            results[i] = fn()
        except Exception as e:  # noqa: BLE001 - reported by the caller
            results[i] = e
    threads = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        raise AssertionError("concurrent calls still running after %ss" % timeout)
    return results


class Background:
    """Calls fn() in a loop on a thread until stop(); collects (t, result)."""

    def __init__(self, fn, pause=0.02):
        self.fn, self.pause = fn, pause
        self.results = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.results.append(self.fn())
            except Exception as e:  # noqa: BLE001 - reported by the caller
                self.results.append(e)
            self._stop.wait(self.pause)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        self._t.join(60)


# ------------------------------------------------------------------ base class

class TokenTestCase(lka.Asserts, unittest.TestCase):

    def tearDown(self):
        restore_fake()

    def assertRetryAfter(self, r, value=None):
        ra = r.headers.get("Retry-After")
        self.assertIsNotNone(ra, r)
        self.assertRegex(ra, r"^[1-9][0-9]*$")
        if value is not None:
            self.assertEqual(ra, str(value))

    def assertToken(self, r):
        """A 200 token answer; returns its body."""
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["Content-Type"], "application/json")
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        body = r.json()
        f.remember(body["access_token"])
        return body


# ------------------------------------------------------------------ plain CGI

def cgi(route, method, uri, key=None, body=b""):
    """Runs LATCHKEY_BIN/route once as plain CGI (SPEC §1), for requests a
    web server would refuse before they reach the program (control
    characters in the query).  Returns (status, headers dict, body)."""
    e = lk.env()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LATCHKEY_CONFIG": e["LATCHKEY_CONFIG"],
           "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": method,
           "REQUEST_URI": "/latchkey" + uri, "SERVER_PROTOCOL": "HTTP/1.1",
           "CONTENT_LENGTH": str(len(body))}
    if key:
        env["HTTP_AUTHORIZATION"] = "Bearer " + key
    res = subprocess.run([os.path.join(e["LATCHKEY_BIN"], route)], input=body, env=env,
                         capture_output=True, timeout=30)
    head, _, payload = res.stdout.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    status = int(headers.get("status", "200").split()[0])
    return status, headers, payload
