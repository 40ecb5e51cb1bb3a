#!/usr/bin/env python3
"""Sanitizer soak (hardening issue): the whole flow and a few hundred token
and proxy requests against the ASan+UBSan build behind lighttpd.

    python3 tests/e2e/asan_soak.py --bin build-asan/bin --dir build-asan/stack-asan
                                   [--procs 2] [--tokens 300] [--refreshes 50]
                                   [--proxies 100] [--keep]

Starts a stack of its own (tests/stack.py up, lighttpd) from the programs in
--bin, which must be the LATCHKEY_SANITIZE build, with

  ASAN_OPTIONS   detect_leaks=1:abort_on_error=0:log_path=DIR/san/asan
                 (after whatever the caller set: ours win)
  UBSAN_OPTIONS  print_stacktrace=1:halt_on_error=1:log_path=DIR/san/ubsan
  LSAN_OPTIONS   suppressions=tests/e2e/lsan.supp (third-party frames only),
                 log_threads=1 (LeakSanitizer's check at exit leaves a trace,
                 so that the soak can tell that it ran in every worker)

so that every sanitizer report of every process -- the six FastCGI
programs, `latchkey migrate` and every other CLI command run here -- lands
in DIR/san/{asan,ubsan}.<pid>, and LeakSanitizer checks each process as it
exits.  Then:

  1. the browser flow: two OAuth accounts through the fake's consent page,
     one through a white-label client, one denied, one replayed callback;
     an API-token account (api_key_per_user) through Latchkey's own form,
     one wrong token first;
  2. --tokens GET /token (every 10th after expiring the token in the
     database, so it refreshes), --refreshes POST /refresh, --proxies
     proxied GETs (some after an expiry: the proxy refreshes), a few uploads
     (fixed-length and chunked) and content writes, four threads at a time;
  3. error paths: unknown and malformed API keys, unknown profiles, routes
     and instances, bad JSON, a body too large, wrong methods, upstream
     faults on the token endpoint and the API;
  4. the CLI: profile/key/connection list and show, link, sweep,
     connection delete, key revoke; a --metrics key scraping GET /metrics;
     `latchkey events` delivering a webhook.test to a local receiver that
     answers 503 then 204 (the retry woken), stopped with SIGTERM (exit 0);
  5. SIGTERM to lighttpd, which passes it on to its FastCGI programs; this
     script is their subreaper (prctl PR_SET_CHILD_SUBREAPER), so when
     lighttpd is gone it collects each program's exit status.

It fails when any report file or log (DIR/san/*, lighttpd.out with the
programs' stderr, lighttpd-error.log, migrate.log) holds "ERROR:
AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:" (UBSan), a
sanitizer SUMMARY, WARNING or fatal error; when a worker that logged
"FastCGI worker ready" did not log "leaving", exited with a status other
than 0 or shows no sign of LeakSanitizer's check at its exit; when a
request that should succeed did not (or an error path answered otherwise
than expected); or when a secret of the run shows up in the stack's logs or
a pg_dump (test_zz_secret_scan's search).

--canary checks the checker: before the stop, gdb makes one token worker
malloc 4242 bytes and drop the pointer; LeakSanitizer must report exactly
that leak when the worker exits (off by default: it needs gdb and ptrace).
Exit status 0 when all is well.  The stack is stopped at the end (logs stay
in DIR); --keep leaves it running for a look (stop it with tests/stack.py
down --dir DIR).
"""

import argparse
import concurrent.futures
import ctypes
import glob
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ROUTES = ("authorize", "callback", "token", "refresh", "proxy", "mcp", "metrics")
# Workers per route: --procs each, but metrics runs one (deploy/lighttpd).
ONE_WORKER = ("metrics",)
SAN_PATTERNS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:",
                b"Sanitizer:DEADLYSIGNAL", b"SUMMARY: ", b"has encountered a fatal error",
                b"WARNING: ")
# LSAN_OPTIONS log_threads=1: LeakSanitizer's check at exit writes this
# line (and a few more) to the process's report file -- the proof that it ran.
LSAN_RAN = b"Processing thread"
CANARY_BYTES = 4242
READY_RE = re.compile(rb"latchkey\[(\d+)\] info (\w+): FastCGI worker ready")
LEAVING_RE = re.compile(rb"latchkey\[(\d+)\] info (\w+): leaving")
PR_SET_CHILD_SUBREAPER = 36


def log(msg):
    print("asan-soak: " + msg, file=sys.stderr, flush=True)


class Soak:
    def __init__(self, a):
        self.a = a
        self.dir = os.path.abspath(a.dir)
        self.bin = os.path.abspath(a.bin)
        self.san = os.path.join(self.dir, "san")
        self.problems = []
        self.counts = {}
        self.subreaper = False
        self.exits = {}  # pid -> wait status of the FastCGI programs we reaped
        self.workers = {}  # pid -> route, running when the web server was stopped
        self.canary = None  # --canary: the worker with the leak
        self.lock = threading.Lock()

    def problem(self, msg):
        with self.lock:
            self.problems.append(msg)
        log("PROBLEM: " + msg)

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    # ------------------------------------------------------------ set-up
    def sanitizer_env(self):
        supp = os.path.join(HERE, "lsan.supp")
        asan = ":".join(x for x in (os.environ.get("ASAN_OPTIONS", ""),
                                    "detect_leaks=1", "abort_on_error=0",
                                    "log_path=" + os.path.join(self.san, "asan")) if x)
        ubsan = ":".join(x for x in (os.environ.get("UBSAN_OPTIONS", ""),
                                     "print_stacktrace=1", "halt_on_error=1",
                                     "log_path=" + os.path.join(self.san, "ubsan")) if x)
        lsan = ":".join(x for x in (os.environ.get("LSAN_OPTIONS", ""),
                                    "suppressions=" + supp, "print_suppressions=0",
                                    "log_threads=1") if x)
        return {"ASAN_OPTIONS": asan, "UBSAN_OPTIONS": ubsan, "LSAN_OPTIONS": lsan}

    def check_build(self):
        """The programs must carry ASan (else the soak proves nothing)."""
        with open(os.path.join(self.bin, "token"), "rb") as fh:
            if b"__asan_init" not in fh.read():
                raise SystemExit("asan-soak: %s/token is not an ASan build (configure with "
                                 "-DLATCHKEY_SANITIZE=ON)" % self.bin)

    def up(self):
        os.makedirs(self.san, exist_ok=True)
        for fn in glob.glob(os.path.join(self.san, "*")):
            os.unlink(fn)
        os.chmod(self.san, 0o777)  # the programs may run as another user
        os.environ.update(self.sanitizer_env())
        libc = ctypes.CDLL(None, use_errno=True)
        self.subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        if not self.subreaper:
            log("prctl(PR_SET_CHILD_SUBREAPER) failed: exit statuses unchecked, "
                "'leaving' lines only")
        res = subprocess.run([sys.executable, os.path.join(REPO, "tests", "stack.py"), "up",
                              "--force", "--dir", self.dir, "--bin", self.bin,
                              "--source", REPO, "--procs", str(self.a.procs),
                              "--timeout", "120"],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True)
        sys.stderr.write(res.stderr)
        if res.returncode != 0:
            raise SystemExit("asan-soak: stack.py up failed (rc %d)" % res.returncode)
        os.environ["STACK_ENV"] = os.path.join(self.dir, "stack.env")
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        sys.dont_write_bytecode = True
        sys.path.insert(0, HERE)
        global lk, f, t, ak, scan
        import lkstack as lk  # noqa: E402 - after STACK_ENV is set
        import lkflow as f  # noqa: E402
        import lktoken as t  # noqa: E402
        import test_api_keys as ak  # noqa: E402 - its helpers only
        import test_zz_secret_scan as scan  # noqa: E402 - its search only

    def stack(self, cmd):
        return subprocess.run([sys.executable, os.path.join(REPO, "tests", "stack.py"), cmd,
                               "--dir", self.dir], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True)

    # ------------------------------------------------------------ helpers
    def cli(self, *args, ok=True):
        rc, out, err = lk.cli(*args, check=False)
        self.count("cli")
        if ok and rc != 0:
            self.problem("latchkey %s: rc %d: %s" % (" ".join(map(str, args)), rc, err.strip()))
        return rc, out, err

    def expect(self, what, r, *statuses):
        self.count(what)
        if r.status not in statuses:
            self.problem("%s: %s, not %s: %r" % (what, r.status, statuses, r.body[:300]))
        return r

    def pool(self, jobs):
        """Runs the callables four at a time; exceptions become problems."""
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            for fut in [ex.submit(j) for j in jobs]:
                try:
                    fut.result(timeout=120)
                except Exception as e:  # noqa: BLE001 - reported, the soak goes on
                    self.problem("request failed: %r" % (e,))

    # ------------------------------------------------------------ 1. flows
    def flows(self):
        t.restore_fake()
        self.p = f.make_profile(extra=["--scopes", "read:confluence-content.all read:confluence-space.summary write:confluence-content"])
        self.iids = [t.connect(self.p) for _ in range(2)]
        self.count("connect", 2)
        wl, _ = f.add_client(self.p)
        self.iids.append(f.connect(self.p, client_id=wl)[0])
        self.count("connect")
        # denied at the consent page; a callback replayed
        r = f.complete(lk.Browser(), f.new_link(self.p)[0], decision="deny")
        self.expect("callback denied", r, 403)
        link, _ = f.new_link(self.p)
        b = lk.Browser()
        back = f.consent(b, f.start(b, link))
        self.expect("callback", b.follow(back), 200, 302)
        import urllib.parse
        replay = urllib.parse.urljoin(back.url, back.headers["Location"])
        self.expect("callback replayed", lk.http("GET", replay), 400, 403)
        # an API token through Latchkey's own form (api_key_per_user)
        self.ak = ak.make_api_profile("cloud")
        email, tok = ak.new_api_token()
        fl = ak.Flow(self.ak)
        self.expect("credential form, wrong token",
                    fl.submit(site=ak.CLOUD_HOST, email=email, token=tok + "x"), 422)
        self.expect("credential form", fl.submit(site=ak.CLOUD_HOST, email=email, token=tok), 303)
        self.ak_iid = fl.instance_id
        # a second profile and key, for the CLI and a key that does not fit
        self.p2 = f.make_profile()
        self.iid2 = t.connect(self.p2)

    # ------------------------------------------------------------ 2. load
    def token_job(self, i):
        def job():
            p, iid = (self.p, self.iids[i % len(self.iids)]) if i % 7 else (self.p2, self.iid2)
            if i % 10 == 0:
                t.expire(p, iid)
                self.count("token (after expiry)")
            # A caller over the refresh's bound is told to come back
            # (503 refresh_in_progress, SPEC §5): a bot does, and so do we.
            r = self.expect("token", t.retrying(lambda: t.get_token(p, iid)), 200)
            if r.status == 200:
                f.remember(r.json().get("access_token"))
        return job

    def refresh_job(self, i):
        def job():
            iid = self.iids[i % len(self.iids)]
            r = self.expect("refresh", t.retrying(lambda: t.post_refresh(self.p, iid)), 200)
            if r.status == 200:
                f.remember(r.json().get("access_token"))
        return job

    def proxy(self, method, sub, iid, body=None, headers=None, profile=None):
        p = profile or self.p
        hdrs = {"Authorization": "Bearer " + p.key, "X-Instance-Id": iid}
        hdrs.update(headers or {})
        return lk.http(method, "/proxy/%s%s" % (p.name, sub), headers=hdrs, body=body)

    def proxy_job(self, i):
        subs = ["/wiki/rest/api/space?limit=2", "/wiki/echo/soak/%d?x=1&y=%%20z" % i,
                "/wiki/rest/api/user/current", "/wiki/download/%d" % (1000 + 977 * i)]

        def job():
            iid = self.iids[i % len(self.iids)]
            if i % 25 == 0:
                t.expire(self.p, iid)
                self.count("proxy (after expiry)")
            if i % 10 == 3:
                r = ak.proxy(self.ak, self.ak_iid, "/wiki/echo/soak-ak/%d" % i)
                self.expect("proxy (api token)", r, 200)
                return
            # Concurrent callers over the per-connection bound are told to
            # retry (503 refresh_in_progress, SPEC §5), and do.
            r = t.retrying(lambda: self.proxy("GET", subs[i % len(subs)], iid))
            self.expect("proxy GET", r, 200)
        return job

    def upload_jobs(self):
        iid = self.iids[0]
        jobs = []
        for n in (1, 65536, 1 << 20, 3 << 20):
            jobs.append(lambda n=n: self.expect(
                "proxy upload", self.proxy("POST", "/wiki/upload", iid, body=os.urandom(n),
                                           headers={"Content-Type": "application/octet-stream"}),
                200))
        jobs.append(lambda: self.expect("proxy content write", self.proxy(
            "POST", "/wiki/rest/api/content", iid,
            body={"type": "page", "title": "soak", "space": {"key": "ENG"},
                  "body": {"storage": {"value": "<p>x</p>", "representation": "storage"}}}),
            200))
        jobs.append(self.chunked_upload)
        return jobs

    def chunked_upload(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", int(lk.LIGHTTPD_PORT), timeout=60)
        try:
            c.putrequest("PUT", "/latchkey/proxy/%s/wiki/upload" % self.p.name)
            for k, v in (("Authorization", "Bearer " + self.p.key),
                         ("X-Instance-Id", self.iids[1]), ("Transfer-Encoding", "chunked"),
                         ("Content-Type", "application/octet-stream")):
                c.putheader(k, v)
            c.endheaders()
            for _ in range(8):
                chunk = os.urandom(40000)
                c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            c.send(b"0\r\n\r\n")
            r = c.getresponse()
            r.read()
            self.count("proxy upload (chunked)")
            if r.status != 200:
                self.problem("chunked upload: %s" % r.status)
        finally:
            c.close()

    def load(self):
        a = self.a
        jobs = [self.token_job(i) for i in range(a.tokens)]
        jobs += [self.refresh_job(i) for i in range(a.refreshes)]
        jobs += [self.proxy_job(i) for i in range(a.proxies)]
        jobs += self.upload_jobs()
        random.Random(1).shuffle(jobs)
        self.pool(jobs)

    # ------------------------------------------------------------ 3. errors
    def errors(self):
        p, iid = self.p, self.iids[0]
        bogus = "lk_" + secrets.token_urlsafe(32)
        cases = [
            ("unknown key", "GET", "/token/%s?instance_id=%s" % (p.name, iid),
             {"Authorization": "Bearer " + bogus}, None, (401,)),
            ("malformed key", "GET", "/token/%s?instance_id=%s" % (p.name, iid),
             {"Authorization": "Bearer lk_short"}, None, (401,)),
            ("no key", "GET", "/token/%s?instance_id=%s" % (p.name, iid), {}, None, (401,)),
            ("key of another profile", "GET", "/token/%s?instance_id=%s" % (p.name, iid),
             {"Authorization": "Bearer " + self.p2.key}, None, (403,)),
            ("unknown profile", "GET", "/token/nobody-here?instance_id=x", p.auth, None, (403, 404)),
            ("unknown instance", "GET", "/token/%s?instance_id=nobody" % p.name, p.auth, None, (404,)),
            ("bad query", "GET", "/token/%s?instance_id=%%zz" % p.name, p.auth, None, (400, 422)),
            ("bad route", "GET", "/tokenX/%s" % p.name, p.auth, None, (404,)),
            ("no profile", "GET", "/token/", p.auth, None, (403, 404)),
            ("wrong method", "PUT", "/refresh/%s" % p.name, p.auth, b"{}", (405,)),
            ("bad JSON", "POST", "/refresh/%s" % p.name,
             dict(p.auth, **{"Content-Type": "application/json"}), b"{\"instance_id\": ", (400, 422)),
            ("JSON not an object", "POST", "/refresh/%s" % p.name,
             dict(p.auth, **{"Content-Type": "application/json"}), b"[1,2]", (400, 422)),
            ("body too large", "POST", "/authorize/%s" % p.name,
             dict(p.auth, **{"Content-Type": "application/json"}),
             b"{\"instance_id\": \"" + b"x" * (200 * 1024) + b"\"}", (413,)),
            ("authorize bad body", "POST", "/authorize/%s" % p.name, p.auth,
             {"instance_id": 5}, (422,)),
            ("callback without state", "GET", "/callback/%s?code=abc" % p.name, {}, None,
             (400, 403)),
            ("callback bad path", "GET", "/callback/", {}, None, (404,)),
            ("proxy without instance", "GET", "/proxy/%s/wiki/rest/api/space" % p.name, p.auth,
             None, (422,)),
            ("proxy unknown profile", "GET", "/proxy/nobody-here/wiki/x",
             dict(p.auth, **{"X-Instance-Id": iid}), None, (403, 404)),
            ("proxy bad path", "GET", "/proxy/%s/../etc/passwd" % p.name,
             dict(p.auth, **{"X-Instance-Id": iid}), None, (400, 404, 422)),
            ("proxy upstream 404", "GET", "/proxy/%s/wiki/nothing-here" % p.name,
             dict(p.auth, **{"X-Instance-Id": iid}), None, (404,)),
            ("link unknown", "GET", "/authorize/%s?link=%s" % (p.name, "l" * 43), {}, None,
             (400, 403, 404, 410)),
        ]
        for what, method, path, hdrs, body, want in cases:
            self.expect("error: " + what, lk.http(method, path, headers=hdrs, body=body), *want)
        # upstream trouble: the token endpoint on refresh, the API behind the proxy
        for spec, want in (({"kind": "status", "status": 500}, (502, 503)),
                           ({"kind": "garbage"}, (502, 503)),
                           ({"kind": "drop"}, (502, 503))):
            t.fault(count=-1, **spec)
            t.expire(p, iid)
            self.expect("error: token endpoint %s" % spec["kind"], t.get_token(p, iid), *want)
            t.restore_fake()
            # The failure holds callers off until its Retry-After (SPEC §5):
            # move time past it, as the next check wants a refresh again.
            t.end_hold_off(p, iid)
        for spec, want in (({"kind": "drop"}, (502, 504)), ({"kind": "status", "status": 503},
                                                             (503,))):
            t.fault(path="/ex/confluence/", count=-1, **spec)
            self.expect("error: API %s" % spec["kind"],
                        self.proxy("GET", "/wiki/rest/api/space", iid), *want)
            t.restore_fake()
        # the token works again afterwards
        self.expect("token after faults", t.get_token(p, iid), 200)

    # ------------------------------------------------------------ 4. CLI
    def cli_commands(self):
        self.cli("profile", "list")
        self.cli("profile", "show", self.p.name)
        self.cli("--json", "profile", "show", self.ak.name)
        self.cli("key", "list")
        self.cli("connection", "list")
        self.cli("connection", "list", self.p.name)
        self.cli("--json", "connection", "show", self.p.name, self.iids[0])
        rc, out, _ = self.cli("link", self.p.name, lk.unique("cli-user"))
        f.remember(f.link_of(out.strip()))
        self.cli("sweep")
        self.cli("connection", "delete", self.p2.name, self.iid2)
        self.cli("key", "revoke", self.p2.key_name)
        self.cli("profile", "show", "nobody-here", ok=False)
        self.cli("key", "create", "--name", "x", "--profiles", "", ok=False)
        self.cli("--help", ok=False)
        self.expect("token of a deleted connection", t.get_token(self.p2, self.iid2, key=self.p.key),
                    403, 404)
        self.expect("revoked key", t.get_token(self.p2, self.iid2), 401)
        self.expect("DELETE token", t.delete_token(self.p, self.iids[2]), 200, 204)
        _rc, out, _ = self.cli("key", "create", "--name", lk.unique("scraper"), "--metrics")
        scraper = out.strip()
        for _ in range(3):
            self.expect("metrics scrape", lk.http("GET", "/metrics", headers={"Authorization": "Bearer " + scraper}),
                        200)
        self.expect("error: metrics with a profile key",
                    lk.http("GET", "/metrics", headers={"Authorization": "Bearer " + self.p.key}), 403)

    def deliverer(self):
        """latchkey events under ASan: a webhook to a local receiver that
        answers 503 once, then 204; the retry is woken, then SIGTERM."""
        got = []

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                got.append(self.headers.get("webhook-id"))
                self.send_response(503 if len(got) == 1 else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            self.cli("webhook", "add", "http://127.0.0.1:%d/hook" % srv.server_address[1])
            wid = lk.sql("SELECT max(id) FROM webhooks")[0][0]
            self.cli("webhook", "test", wid)
            e = lk.env()
            d = subprocess.Popen([os.path.join(e["LATCHKEY_BIN"], "latchkey"), "events"],
                                 env=dict(os.environ, LATCHKEY_CONFIG=e["LATCHKEY_CONFIG"]),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 20
            while len(got) < 2 and time.monotonic() < deadline:
                if got:  # the 503: wake the retry now
                    lk.sql("UPDATE deliveries SET next_attempt_at = now() WHERE webhook_id = :'p1'::bigint; "
                           "SELECT pg_notify('latchkey_events', '')", wid)
                time.sleep(0.1)
            d.send_signal(signal.SIGTERM)
            rc = d.wait(timeout=20)
            self.count("webhook deliveries", len(got))
            if len(got) < 2 or got[0] != got[1]:
                self.problem("deliverer: %d deliveries, ids %s (want the same id twice)" % (len(got), got))
            if rc != 0:
                self.problem("latchkey events exited %d after SIGTERM" % rc)
        finally:
            srv.shutdown()

    # ------------------------------------------------------------ 5. stop
    def workers_now(self):
        return {pid: route for route in ROUTES for pid in t.programs(route)}

    def secret_scan(self):
        """test_zz_secret_scan's search, on this stack (lighttpd gone: its
        logs are complete)."""
        values = scan.issued_values()
        found = []
        for fn in scan.log_files():
            with open(fn, "rb") as fh:
                found += scan.hits(os.path.basename(fn), fh.read(), values)
        found += scan.hits("pg_dump", scan.pg_dump(), values)
        self.count("secret values scanned for", len(values))
        for x in found:
            self.problem("secret leak: " + x)

    def stop_web(self):
        with open(os.path.join(self.dir, "pids.json")) as fh:
            web = json.load(fh)["lighttpd"]["pid"]
        self.workers = workers = self.workers_now()
        self.parents = {pid: int(t._proc_stat(pid)[1]) for pid in workers}
        log("stopping lighttpd (pid %d) and its %d FastCGI programs" % (web, len(workers)))
        t0 = time.monotonic()
        os.kill(web, signal.SIGTERM)
        self.wait_gone([web], 30)
        left = self.wait_gone(list(workers), 60)
        for pid in left:
            self.problem("%s worker %d still running 60 s after SIGTERM; killed" % (
                workers[pid], pid))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log("web server and programs gone in %.1fs" % (time.monotonic() - t0))
        if self.subreaper:
            # Workers forked by a route's supervisor are reaped by it: it
            # exits 0 only when every one of them did (LeakSanitizer's
            # reports included), so its status stands for theirs.
            canary_parent = self.parents.get(self.canary)
            for pid, route in sorted(workers.items()):
                if pid in (self.canary, canary_parent):
                    continue  # LeakSanitizer's exit status, checked in its report
                if pid not in self.exits and self.parents.get(pid) in self.exits:
                    continue
                st = self.exits.get(pid)
                if st is None:
                    self.problem("%s worker %d: no exit status (not reaped here)" % (route, pid))
                elif not os.WIFEXITED(st) or os.WEXITSTATUS(st) != 0:
                    self.problem("%s worker %d: %s" % (route, pid, describe(st)))
            self.count("workers exited 0", sum(
                1 for p in workers if self.exits.get(p, self.exits.get(self.parents.get(p))) == 0))

    def wait_gone(self, pids, timeout):
        """Reaps (as subreaper) or waits for pids; returns those still alive."""
        deadline = time.monotonic() + timeout
        left = set(pids)
        while left and time.monotonic() < deadline:
            for pid in list(left):
                try:
                    got, st = os.waitpid(pid, os.WNOHANG)
                    if got == pid:
                        self.exits[pid] = st
                        left.discard(pid)
                        continue
                except ChildProcessError:  # not ours (no subreaper): watch /proc
                    if not os.path.exists("/proc/%d" % pid) or proc_state(pid) == "Z":
                        left.discard(pid)
            time.sleep(0.05)
        return sorted(left)

    # ------------------------------------------------------------ checks
    def check_logs(self):
        out = open(os.path.join(self.dir, "lighttpd.out"), "rb").read()
        ready = {int(m.group(1)): m.group(2).decode() for m in READY_RE.finditer(out)}
        leaving = {int(m.group(1)) for m in LEAVING_RE.finditer(out)}
        self.count("workers started", len(ready))
        self.count("workers left", len(ready.keys() & leaving))
        for pid, route in sorted(ready.items()):
            if pid not in leaving and pid != self.canary:
                self.problem("%s worker %d never logged 'leaving'" % (route, pid))
        want = sum(1 if r in ONE_WORKER else self.a.procs for r in ROUTES)
        if len(ready) != want:
            self.problem("%d workers started, not %d (did some die and get restarted?)" % (len(ready), want))
        # LeakSanitizer ran at the exit of every worker (log_threads=1)
        lsan_ran = 0
        for pid, route in sorted(self.workers.items()):
            try:
                data = open(os.path.join(self.san, "asan.%d" % pid), "rb").read()
            except OSError:
                data = b""
            if LSAN_RAN in data:
                lsan_ran += 1
            else:
                self.problem("%s worker %d: no sign that LeakSanitizer ran at its exit "
                             "(san/asan.%d)" % (route, pid, pid))
        self.count("workers checked by LeakSanitizer at exit", lsan_ran)
        files = [os.path.join(self.dir, fn) for fn in ("lighttpd.out", "lighttpd-error.log",
                                                        "migrate.log")]
        files += sorted(glob.glob(os.path.join(self.san, "*")))
        self.count("sanitizer log files", len(files) - 3)
        for fn in files:
            data = open(fn, "rb").read()
            if self.canary and fn == os.path.join(self.san, "asan.%d" % self.canary):
                data = self.canary_check(data)
            bad = [p.decode() for p in SAN_PATTERNS if p in data]
            if bad:
                self.problem("sanitizer report in %s (%s):\n%s" % (
                    os.path.relpath(fn, self.dir), ", ".join(bad), excerpt(data)))

    def canary_check(self, data):
        """The canary's report must show its leak, and only it; returns the
        report without it."""
        want = b"SUMMARY: AddressSanitizer: %d byte(s) leaked in 1 allocation(s)." % CANARY_BYTES
        if b"Direct leak of %d byte(s)" % CANARY_BYTES in data and want in data:
            self.count("canary leak reported")
            rest = re.sub(rb"(?s)=+\n==\d+==ERROR: LeakSanitizer.*?" + re.escape(want), b"", data)
            return rest
        self.problem("the canary leak (%d bytes in %s worker %d) was not reported:\n%s" % (
            CANARY_BYTES, self.workers.get(self.canary), self.canary, excerpt(data)))
        return data

    def provider_counts(self):
        """The refreshes and API calls really reached the fake."""
        c = t.counters()
        for k in ("token_authorization_code_ok", "token_refresh_ok", "api_calls", "apikey_ok"):
            self.count("provider: " + k, c.get(k, 0))
        # every expiry makes one (a few may coalesce); POST /refresh right
        # after a refresh answers the fresh token without another
        want = (self.a.tokens // 10 + self.a.proxies // 25) // 2
        if c.get("token_refresh_ok", 0) < want:
            self.problem("only %d refreshes reached the provider (expected %d or more)" % (
                c.get("token_refresh_ok", 0), want))

    def inject_canary(self):
        """--canary: a leak of CANARY_BYTES made in one token worker through
        gdb (malloc, pointer dropped), which LeakSanitizer must report when
        the worker exits -- the proof that the whole chain works."""
        pid = t.workers("token")[0]
        try:
            res = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx",
                                  "-ex", "call (void*)malloc(%d)" % CANARY_BYTES,
                                  "-ex", "call (void*)memset($1, 7, %d)" % CANARY_BYTES],
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.problem("--canary: gdb: %s" % e)
            return
        if res.returncode != 0 or "$2 = " not in res.stdout:
            self.problem("--canary: gdb could not make the leak: %s%s" % (res.stdout, res.stderr))
            return
        self.canary = pid
        log("canary: %d bytes leaked in token worker %d" % (CANARY_BYTES, pid))

    def run(self):
        self.check_build()
        t0 = time.monotonic()
        self.up()
        stopped = False
        try:
            steps = (("flows", self.flows), ("load", self.load), ("errors", self.errors),
                     ("cli", self.cli_commands), ("deliverer", self.deliverer))
            for name, fn in steps:
                t1 = time.monotonic()
                try:
                    fn()
                except Exception as e:  # noqa: BLE001 - reported; go on to the stop
                    import traceback
                    self.problem("step %s failed: %s" % (name, traceback.format_exc()))
                    if name == "flows":
                        break
                    del e
                log("%s done in %.1fs" % (name, time.monotonic() - t1))
            if self.a.keep:
                log("--keep: stack left running in %s" % self.dir)
                return
            self.provider_counts()
            if self.a.canary:
                self.inject_canary()
            self.stop_web()
            stopped = True
            self.secret_scan()
        finally:
            if not self.a.keep:
                res = self.stack("down")
                if res.returncode != 0:
                    self.problem("stack.py down: %s" % res.stderr.strip())
                reap_all()
        if stopped:
            self.check_logs()
        log("counts: " + json.dumps(self.counts, sort_keys=True))
        log("%s in %.1fs" % ("FAIL (%d problems)" % len(self.problems) if self.problems
                             else "PASS", time.monotonic() - t0))


def describe(st):
    if os.WIFSIGNALED(st):
        return "killed by signal %d" % os.WTERMSIG(st)
    if os.WIFEXITED(st):
        code = os.WEXITSTATUS(st)
        hint = {23: " (LeakSanitizer found leaks)",
                1: " (a sanitizer report? see san/)"}.get(code, "")
        return "exit status %d%s" % (code, hint)
    return "wait status %d" % st


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            s = fh.read()
        return s[s.rindex(")") + 2:].split()[0]
    except (OSError, ValueError, IndexError):
        return None


def reap_all():
    """Reaps the orphans adopted as subreaper (postgres, the fake) once
    nothing else of ours is running."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def excerpt(data, n=60):
    """The interesting lines of a report: the sanitizer lines and the
    first frames."""
    lines = data.decode("utf-8", "replace").splitlines()
    keep = [ln for ln in lines if "Sanitizer" in ln or "runtime error" in ln or
            re.match(r"\s+#\d+ ", ln) or "Direct leak" in ln or "Indirect leak" in ln]
    return "\n".join("    " + ln for ln in keep[:n])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the ASan build's bin directory")
    ap.add_argument("--dir", required=True, help="stack directory (logs and reports stay)")
    ap.add_argument("--procs", type=int, default=2, help="FastCGI processes per route")
    ap.add_argument("--tokens", type=int, default=300)
    ap.add_argument("--refreshes", type=int, default=50)
    ap.add_argument("--proxies", type=int, default=100)
    ap.add_argument("--keep", action="store_true", help="leave the stack running")
    ap.add_argument("--canary", action="store_true",
                    help="make a leak in one worker with gdb and require LeakSanitizer to "
                    "report it (checks the checker)")
    a = ap.parse_args(argv)
    s = Soak(a)
    s.run()
    return 1 if s.problems else 0


if __name__ == "__main__":
    sys.exit(main())
