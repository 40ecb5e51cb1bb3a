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


if __name__ == "__main__":
    unittest.main()
