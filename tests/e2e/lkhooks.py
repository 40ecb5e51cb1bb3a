"""Helpers for the webhook tests: the receiver (tests/webhooks/receiver.mjs,
which verifies with the Standard Webhooks reference library from npm),
deliverers (`latchkey events` processes), webhooks and events.

The receiver finds the library in LATCHKEY_WEBHOOKS_NODE_MODULES (set by
tests/CMakeLists.txt to the build's copy; e2e.webhooks_deps installs it).
Deliverers log to STACK_DIR/events-*.log, which the suite's secret scan
reads too.
"""

import json
import os
import signal
import subprocess
import time

import lkstack as lk

RECEIVER = os.path.join(lk.REPO, "tests", "webhooks", "receiver.mjs")


class Receiver:
    """One receiver process; each hook path has its secrets and mode."""

    def __init__(self):
        self.proc = subprocess.Popen(["node", RECEIVER], stdout=subprocess.PIPE, text=True,
                                     env=dict(os.environ))
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("the webhook receiver did not start (is e2e.webhooks_deps installed?)")
        self.port = json.loads(line)["port"]
        self.base = "http://127.0.0.1:%d" % self.port

    def url(self, path):
        return self.base + path

    def ctl(self, path, secrets=None, mode=None):
        body = {"path": path}
        if secrets is not None:
            body["secrets"] = secrets
        if mode is not None:
            body["mode"] = mode
        r = lk.http("POST", self.base + "/_ctl", body=json.dumps(body).encode())
        assert r.status == 200, r

    def log(self, path):
        r = lk.http("GET", self.base + "/_log?path=" + path, timeout=60)
        return json.loads(r.body)

    def trap(self):
        """(port, connections so far) of the bare TCP listener."""
        o = json.loads(lk.http("GET", self.base + "/_trap").body)
        return o["port"], o["conns"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()


_logs = 0


class Deliverer:
    """A `latchkey events` process with the stack's configuration."""

    def __init__(self):
        global _logs
        _logs += 1
        e = lk.env()
        self.log_path = os.path.join(e["STACK_DIR"], "events-%d-%d.log" % (os.getpid(), _logs))
        self.log_fh = open(self.log_path, "ab")
        self.proc = subprocess.Popen([os.path.join(e["LATCHKEY_BIN"], "latchkey"), "events"],
                                     env=dict(os.environ, LATCHKEY_CONFIG=e["LATCHKEY_CONFIG"]),
                                     stdout=self.log_fh, stderr=subprocess.STDOUT)

    @property
    def pid(self):
        return self.proc.pid

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self, timeout=15):
        """SIGTERM; the exit status (0 expected)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.log_fh.close()
        return rc

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log_fh.close()

    def text(self):
        with open(self.log_path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")


def add_webhook(url, profiles, events=None):
    """latchkey webhook add: (id, secret)."""
    args = ["--json", "webhook", "add", url, "--profiles", profiles]
    if events:
        args += ["--events", events]
    _, out, _ = lk.cli(*args)
    o = json.loads(out)
    return o["id"], o["secret"]


def remove_webhook(wid):
    lk.cli("webhook", "remove", wid, check=False)


def emit(profile, n=1, streams=1, type="connection.created"):
    """n events through latchkey_event (sql/008) in one transaction, spread
    over streams instances (u0, u1, ...) in turn; data carries seq 1..n.
    Their msg_ids, in order."""
    rows = lk.sql(
        "CREATE TEMP TABLE ev AS SELECT latchkey_event(:'p1', :'p2', 'u' || (g % :'p3'::int), "
        "jsonb_build_object('profile', :'p2', 'instance_id', 'u' || (g % :'p3'::int), "
        "'status', 'active', 'seq', g)) AS id FROM generate_series(1, :'p4'::int) g; "
        "SELECT e.msg_id FROM ev JOIN events e ON e.id = ev.id ORDER BY e.id",
        type, profile, str(streams), str(n))
    return [r[0] for r in rows]


def deliveries(wid):
    """(status, attempts, last_status, last_error) per delivery of webhook wid, in id order."""
    return lk.sql("SELECT status, attempts, last_status, last_error FROM deliveries "
                  "WHERE webhook_id = :'p1'::bigint ORDER BY id", wid)


def wake_now(wid):
    """Moves every pending retry of wid to now and wakes the deliverers."""
    lk.sql("UPDATE deliveries SET next_attempt_at = now() WHERE webhook_id = :'p1'::bigint "
           "AND status = 'pending'; SELECT pg_notify('latchkey_events', '')", wid)


def wait_status(wid, status, n=1, timeout=20):
    def done():
        rows = deliveries(wid)
        return len(rows) >= n and all(r[0] == status for r in rows)
    lk.wait_until(done, timeout=timeout, interval=0.1, what="%d deliveries %s" % (n, status))


def wait_arrivals(recv, path, n, timeout=20):
    return lk.wait_until(lambda: (lambda log: log if len(log) >= n else None)(recv.log(path)),
                         timeout=timeout, interval=0.1, what="%d arrivals at %s" % (n, path))


def now():
    return time.time()
