"""GET /metrics (SPEC §11): the Prometheus text format for keys made with
--metrics, every gauge equal to the rows it counts, every counter rising
by exactly what the test caused, counts surviving a restart of the web
programs, and a scrape that reads none of the big tables.
"""

import json
import os
import re
import shutil
import subprocess
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t

EXPOSITION = "text/plain; version=0.0.4; charset=utf-8"
# The tables whose size must not matter to a scrape.
BIG_TABLES = ("connections", "links", "flows", "deliveries", "events", "audit_log")
HIST = "latchkey_provider_request_duration_seconds"
SAMPLE = re.compile(r'^([a-z_]+)(?:\{([^}]*)\})? (\S+)$')

METRICS_KEY = None


def setUpModule():
    global METRICS_KEY
    t.restore_fake()
    name = lk.unique("metrics")
    _rc, out, _err = lk.cli("key", "create", "--name", name, "--metrics")
    METRICS_KEY = out.strip()
    f.remember(METRICS_KEY)


def tearDownModule():
    try:
        t.restore_fake()
    finally:
        f.cleanup()


def scrape(key=None, method="GET", timeout=30):
    key = METRICS_KEY if key is None else key
    headers = {"Authorization": "Bearer " + key} if key else {}
    return lk.http(method, "/metrics", headers=headers, timeout=timeout)


def samples(text):
    """{(name, frozenset of label pairs): float} of an exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = frozenset(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def current():
    r = scrape()
    assert r.status == 200, r
    return samples(r.text)


def value(s, name, **labels):
    return s.get((name, frozenset(labels.items())), 0.0)


def real_connections():
    """{(profile, status): count(*)} straight from the table."""
    rows = lk.sql("SELECT p.name, c.status, count(*) FROM connections c "
                  "JOIN profiles p ON p.id = c.profile_id GROUP BY 1, 2")
    return {(p, st): int(n) for p, st, n in rows}


def count(query):
    return int(lk.sql(query)[0][0])


class MetricsAuthTest(unittest.TestCase):

    def test_without_key_is_401_with_www_authenticate(self):
        r = scrape(key="")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"], "unauthorized")
        self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers)

    def test_unknown_key_is_401(self):
        r = scrape(key="lk_" + "A" * 43)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"], "unauthorized")

    def test_profile_key_without_metrics_is_403(self):
        _name, key = f.make_key("*")
        r = scrape(key=key)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["error"], "forbidden")

    def test_other_methods_are_405_with_allow(self):
        for method in ("POST", "PUT", "DELETE"):
            with self.subTest(method=method):
                r = scrape(method=method)
                self.assertEqual(r.status, 405, r)
                self.assertEqual(r.json()["error"], "method_not_allowed")
                self.assertEqual(r.headers.get("Allow"), "GET, HEAD")

    def test_other_paths_are_404(self):
        r = lk.http("GET", "/metrics/x", headers={"Authorization": "Bearer " + METRICS_KEY})
        self.assertEqual(r.status, 404, r)

    def test_key_list_shows_metrics(self):
        _rc, out, _err = lk.cli("--json", "key", "list")
        keys = [k for k in json.loads(out) if k["metrics"]]
        self.assertTrue(keys)


class MetricsFormatTest(unittest.TestCase):

    def test_exposition_type_and_every_series_with_help_and_type(self):
        r = scrape()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["Content-Type"], EXPOSITION)
        want = {"latchkey_connections": "gauge", "latchkey_refreshes_total": "counter",
                HIST: "histogram", "latchkey_webhook_deliveries_pending": "gauge",
                "latchkey_webhook_deliveries_dead": "gauge", "latchkey_links_pending": "gauge",
                "latchkey_flows_pending": "gauge"}
        for name, kind in want.items():
            with self.subTest(name=name):
                self.assertIn("\n# TYPE %s %s\n" % (name, kind), "\n" + r.text)
                self.assertRegex(r.text, r"(?m)^# HELP %s \S" % name)

    def test_promtool_check_metrics(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool not found: install the Debian package prometheus "
                          "(deploy/packages.txt) to lint GET /metrics")
        t.connect(f.make_profile())  # a profile's series, not only the plain ones
        r = scrape()
        res = subprocess.run([promtool, "check", "metrics"], input=r.text, capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr + "\n" + r.text)

    def test_histogram_buckets_are_cumulative(self):
        s = current()
        buckets = [(float(dict(k[1])["le"]), v) for k, v in s.items() if k[0] == HIST + "_bucket"]
        buckets.sort()
        self.assertEqual(buckets[-1][0], float("inf"))
        self.assertEqual([v for _le, v in buckets], sorted(v for _le, v in buckets))
        self.assertEqual(buckets[-1][1], value(s, HIST + "_count"))


class MetricsCountsTest(t.TokenTestCase):

    def assertGaugesTrue(self):
        s = current()
        real = real_connections()
        seen = {(dict(k[1])["profile"], dict(k[1])["status"]): v
                for k, v in s.items() if k[0] == "latchkey_connections"}
        for key, n in real.items():
            self.assertEqual(seen.get(key, 0), n, key)
        for key, n in seen.items():
            self.assertEqual(real.get(key, 0), n, key)
        self.assertEqual(value(s, "latchkey_links_pending"), count("SELECT count(*) FROM links"))
        self.assertEqual(value(s, "latchkey_flows_pending"), count("SELECT count(*) FROM flows"))
        self.assertEqual(value(s, "latchkey_webhook_deliveries_pending"),
                         count("SELECT count(*) FROM deliveries WHERE status = 'pending'"))
        self.assertEqual(value(s, "latchkey_webhook_deliveries_dead"),
                         count("SELECT count(*) FROM deliveries WHERE status = 'dead'"))
        return s

    def test_gauges_equal_their_counts_after_real_actions(self):
        hook = lk.sql("INSERT INTO webhooks (url, secret) VALUES ('https://hooks.example/x', 'x') "
                      "RETURNING id")[0][0]
        try:
            p = f.make_profile()
            a, b, c = t.connect(p), t.connect(p), t.connect(p)
            self.assertGaugesTrue()
            # refresh_failing (provider unavailable) and reauthorization_required
            t.expire(p, a)
            t.fault(kind="status", status=500)
            self.assertEqual(t.get_token(p, a).status, 503)
            fam = t.family_of(self.access(p, b))
            t.expire(p, b)
            lk.fake("POST", "/_fake/revoke", {"family_id": fam["family_id"]})
            self.assertEqual(t.get_token(p, b).status, 409)
            self.assertEqual(t.delete_token(p, c).status, 204)
            f.new_link(p)  # a pending link
            lk.sql("UPDATE deliveries SET status = 'dead' WHERE id = "
                   "(SELECT min(id) FROM deliveries WHERE webhook_id = :'p1')", hook)
            s = self.assertGaugesTrue()
            self.assertEqual(value(s, "latchkey_connections", profile=p.name, status="refresh_failing"), 1)
            self.assertEqual(value(s, "latchkey_connections", profile=p.name,
                                   status="reauthorization_required"), 1)
            self.assertEqual(value(s, "latchkey_connections", profile=p.name, status="active"), 0)
            self.assertGreater(value(s, "latchkey_webhook_deliveries_pending"), 0)
            self.assertGreater(value(s, "latchkey_webhook_deliveries_dead"), 0)
            # A profile deleted takes its connections and its series along.
            lk.sql("DELETE FROM profiles WHERE name = :'p1'", p.name)
            s = self.assertGaugesTrue()
            self.assertFalse([k for k in s if ("profile", p.name) in k[1]])
        finally:
            lk.sql("DELETE FROM webhooks WHERE id = :'p1'", hook)
        self.assertGaugesTrue()

    def access(self, p, iid):
        """The access token the connection holds now (through /token)."""
        r = t.get_token(p, iid, min_validity=0)
        return t.token_of(r)

    def test_refresh_counters_rise_by_what_was_caused(self):
        p = f.make_profile()
        before = current()
        iid = t.connect(p)  # one code exchange
        s = current()
        self.assertEqual(value(s, HIST + "_count") - value(before, HIST + "_count"), 1)
        fam = t.family_of(self.access(p, iid))
        n = 5
        for _ in range(n):
            t.expire(p, iid)
            r = t.get_token(p, iid)
            self.assertEqual(r.status, 200, r)
        t.expire(p, iid)
        t.fault(kind="status", status=500)               # transient_failure
        self.assertEqual(t.post_refresh(p, iid).status, 503)
        t.end_hold_off(p, iid)
        t.fault(kind="garbage")                           # misconfigured (provider_error)
        self.assertEqual(t.post_refresh(p, iid).status, 502)
        t.end_hold_off(p, iid)
        lk.fake("POST", "/_fake/revoke", {"family_id": fam["family_id"]})
        self.assertEqual(t.post_refresh(p, iid).status, 409)  # invalid_grant
        after = current()
        for outcome, want in (("success", n), ("transient_failure", 1), ("misconfigured", 1),
                              ("invalid_grant", 1)):
            with self.subTest(outcome=outcome):
                self.assertEqual(value(after, "latchkey_refreshes_total", profile=p.name, outcome=outcome)
                                 - value(s, "latchkey_refreshes_total", profile=p.name, outcome=outcome), want)
        self.assertEqual(value(after, HIST + "_count") - value(s, HIST + "_count"), n + 3)
        self.assertGreater(value(after, HIST + "_sum"), value(s, HIST + "_sum"))

    def test_counts_survive_a_restart_of_the_web_programs(self):
        p = f.make_profile()
        iid = t.connect(p)
        t.expire(p, iid)
        self.assertEqual(t.get_token(p, iid).status, 200)
        before = current()
        lk.stack("restart-web")
        after = lk.wait_until(lambda: scrape().status == 200 and current(), timeout=30,
                              what="GET /metrics after the restart")
        self.assertEqual(after, before)

    def test_a_scrape_reads_none_of_the_big_tables(self):
        # With every big table locked ACCESS EXCLUSIVE (no read of any kind
        # gets through), a scrape still answers at once: it counts rows
        # kept as changes happen, never the tables themselves.
        e = lk.env()
        penv = dict(os.environ, PGHOST=e["PGHOST"], PGPORT=e["PGPORT"],
                    PGDATABASE=e["PGDATABASE"], PGUSER=e["PGUSER"])
        psql = os.path.join(e["PG_BIN"], "psql") if e.get("PG_BIN") else "psql"
        locker = subprocess.Popen([psql, "-X", "-q", "-At"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=penv)
        try:
            locker.stdin.write("BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n"
                               % ", ".join(BIG_TABLES))
            locker.stdin.flush()
            self.assertEqual(locker.stdout.readline().strip(), "locked")
            r = scrape(timeout=10)
            self.assertEqual(r.status, 200, r)
        finally:
            locker.stdin.write("ROLLBACK;\n")
            locker.stdin.close()
            locker.wait(timeout=30)
            locker.stdout.close()


if __name__ == "__main__":
    unittest.main()
