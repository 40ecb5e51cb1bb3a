"""End-to-end: `latchkey sweep` (SPEC §5) against the fake provider.

The sweep keeps idle refresh tokens alive.  A refresh that the provider
fails (5xx) while the stored access token is still valid leaves the
connection usable (lk_refresh answers the old token with refresh_failed),
but the refresh token was not kept alive: the sweep must count it as
failed, exit non-zero, and never as refreshed.

The database is shared with the other test modules: each test makes its
connection the most idle of all (--limit 1 then picks it alone), and
puts it back to fresh afterwards.
"""

import json
import os
import subprocess
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t

IDLE_DAYS = 80


def setUpModule():
    t.restore_fake()


def tearDownModule():
    try:
        t.restore_fake()
    finally:
        f.cleanup()


class SweepTest(t.TokenTestCase):

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def idle_connection(self, days):
        """A connection whose last refresh is days old (the oldest of all)
        and whose access token is still valid for an hour."""
        iid = t.connect(self.p)
        lk.sql("UPDATE connections c SET last_refreshed_at = now() - make_interval(days => :'p3'::int), "
               "grant_issued_at = now() - make_interval(days => :'p3'::int) FROM profiles p "
               "WHERE p.id = c.profile_id AND p.name = :'p1' AND c.instance_id = :'p2'",
               self.p.name, iid, str(days))
        t.set_expiry(self.p, iid, 3600)
        return iid

    def tearDown(self):
        # Whatever happened, none of this profile's connections stays the
        # most idle one for the next sweep (here or in another module).
        lk.sql("UPDATE connections c SET last_refreshed_at = now(), grant_issued_at = now() "
               "FROM profiles p WHERE p.id = c.profile_id AND p.name = :'p1'", self.p.name)
        super().tearDown()

    def sweep(self):
        return lk.cli("--json", "sweep", "--idle-days", str(IDLE_DAYS), "--limit", "1", check=False, timeout=90)

    def test_refuses_numbers_that_are_not_whole_and_in_range(self):
        for bad in ("5x", "+5", " 5", "", "3651", "-1", "99999999999999999999"):
            with self.subTest(value=bad):
                rc, out, err = lk.cli("sweep", "--idle-days", bad, check=False, timeout=30)
                self.assertEqual(rc, 1)
                self.assertEqual(out, "")
                self.assertIn("out of range", err)

    def test_failed_refresh_of_a_valid_token_counts_as_failed(self):
        iid = self.idle_connection(9000)
        before = t.row(self.p, iid)
        t.fault(kind="status", status=503, count=1)
        c0 = t.counters()
        rc, out, err = self.sweep()
        c1 = t.counters()  # the fault answers before the fake's token route counts
        self.assertEqual(c1["paths"].get(t.TOKEN_PATH, 0) - c0["paths"].get(t.TOKEN_PATH, 0), 1, (out, err))
        self.assertEqual(c1["faults_applied"] - c0["faults_applied"], 1)
        report = json.loads(out)
        mine = {"profile": self.p.name, "instance_id": iid}
        self.assertEqual(report["refreshed"], [], report)
        self.assertEqual(report["skipped"], [], report)
        self.assertEqual(len(report["failed"]), 1, report)
        failed = report["failed"][0]
        self.assertEqual({k: failed[k] for k in mine}, mine)
        self.assertEqual(failed["error"], "provider_unavailable")
        self.assertEqual(rc, 1, (out, err))
        # nothing was rotated: the old tokens stay stored
        after = t.row(self.p, iid)
        self.assertEqual(after["generation"], before["generation"])
        self.assertEqual(after["refresh_token"], before["refresh_token"])
        self.assertEqual(after["access_token"], before["access_token"])

    def test_failed_refresh_in_text_output(self):
        iid = self.idle_connection(9100)
        t.fault(kind="status", status=500, count=1)
        rc, out, err = lk.cli("sweep", "--idle-days", str(IDLE_DAYS), "--limit", "1", check=False, timeout=90)
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("refreshed 0, skipped 0, failed 1", out)
        self.assertIn("failed: %s/%s: provider_unavailable" % (self.p.name, iid), out)

    def test_successful_refresh_counts_as_refreshed(self):
        iid = self.idle_connection(9200)
        before = t.row(self.p, iid)
        rc, out, err = self.sweep()
        self.assertEqual(rc, 0, (out, err))
        report = json.loads(out)
        self.assertEqual(report["refreshed"], [{"profile": self.p.name, "instance_id": iid}], report)
        self.assertEqual(report["failed"], [], report)
        after = t.row(self.p, iid)
        self.assertEqual(after["generation"], before["generation"] + 1)
        self.assertEqual(after["status"], "active")

    def idle_set(self, n, base):
        """n connections idle base, base - 1, ... days (the oldest of all,
        in that order), each access token still valid for an hour."""
        return [self.idle_connection(base - i) for i in range(n)]

    def make_idle_again(self, iids, base):
        for i, iid in enumerate(iids):
            lk.sql("UPDATE connections c SET last_refreshed_at = now() - make_interval(days => :'p3'::int), "
                   "grant_issued_at = now() - make_interval(days => :'p3'::int) FROM profiles p "
                   "WHERE p.id = c.profile_id AND p.name = :'p1' AND c.instance_id = :'p2'",
                   self.p.name, iid, str(base - i))

    def sweep_n(self, limit, parallel):
        rc, out, err = lk.cli("--json", "sweep", "--idle-days", str(IDLE_DAYS), "--limit", str(limit),
                              "--parallel", str(parallel), check=False, timeout=90)
        self.assertEqual(rc, 0, (out, err))
        return json.loads(out)

    def test_parallel_refreshes_each_once_and_reports_as_serial(self):
        iids = self.idle_set(8, 9400)
        gens = {iid: t.row(self.p, iid)["generation"] for iid in iids}
        expected = [{"profile": self.p.name, "instance_id": iid} for iid in iids]
        calls = t.token_calls()
        serial = self.sweep_n(8, 1)
        self.assertEqual(t.token_calls() - calls, 8)
        self.assertEqual(serial["refreshed"], expected, serial)
        self.make_idle_again(iids, 9400)
        calls = t.token_calls()
        parallel = self.sweep_n(8, 4)
        self.assertEqual(t.token_calls() - calls, 8)
        self.assertEqual({k: parallel[k] for k in ("refreshed", "skipped", "failed")},
                         {k: serial[k] for k in ("refreshed", "skipped", "failed")})
        for iid in iids:
            self.assertEqual(t.row(self.p, iid)["generation"], gens[iid] + 2)

    def test_two_parallel_sweeps_at_once_refresh_each_once(self):
        iids = self.idle_set(8, 9500)
        gens = {iid: t.row(self.p, iid)["generation"] for iid in iids}
        t.fault(kind="delay", delay=0.2, count=8)  # the two sweeps overlap
        e = lk.env()
        cmd = [os.path.join(e["LATCHKEY_BIN"], "latchkey"), "--json", "sweep", "--idle-days", str(IDLE_DAYS),
               "--limit", "8", "--parallel", "4"]
        cenv = dict(os.environ, LATCHKEY_CONFIG=e["LATCHKEY_CONFIG"])
        calls = t.token_calls()
        procs = [subprocess.Popen(cmd, env=cenv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=90) for p in procs]
        for p, (out, err) in zip(procs, outs):
            self.assertEqual(p.returncode, 0, (out, err))
        reports = [json.loads(out) for out, _ in outs]
        self.assertEqual(t.token_calls() - calls, 8)
        refreshed = [r["instance_id"] for rep in reports for r in rep["refreshed"]]
        self.assertEqual(sorted(refreshed), sorted(iids))
        for rep in reports:
            self.assertEqual(rep["failed"], [], rep)
            self.assertEqual(len(rep["refreshed"]) + len(rep["skipped"]), 8, rep)
        for iid in iids:
            self.assertEqual(t.row(self.p, iid)["generation"], gens[iid] + 1)

    def test_refuses_parallel_out_of_range(self):
        for bad in ("0", "65", "x"):
            with self.subTest(value=bad):
                rc, out, err = lk.cli("sweep", "--parallel", bad, check=False, timeout=30)
                self.assertEqual(rc, 1)
                self.assertEqual(out, "")
                self.assertIn("out of range", err)


if __name__ == "__main__":
    unittest.main()
