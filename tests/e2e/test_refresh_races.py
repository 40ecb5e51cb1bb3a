"""End-to-end: single-flight refresh (SPEC §5) under concurrency, and
refresh-token rotation.

100 callers at once through lighttpd (4 FastCGI processes per route, so
most of them queue in the web server) on one expired connection must cost
the provider exactly one refresh call, and all get the same new token: at
once, or (callers beyond the per-connection bound of SPEC §5, while the
refresh is in flight) after a 503 refresh_in_progress and its Retry-After,
as a well-behaved bot retries.
"""

import collections
import json
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t

N = 100
PROVIDER_DELAY = 0.5


def tearDownModule():
    try:
        t.restore_fake()
    finally:
        f.cleanup()


class StormTest(t.TokenTestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def storm(self, calls):
        """Expires a fresh connection, slows the provider down, runs calls
        (each taking the instance id) at once; returns (iid, old token,
        results)."""
        iid = t.connect(self.p)
        old = t.token_of(t.get_token(self.p, iid))
        t.expire(self.p, iid)
        before = t.row(self.p, iid)
        t.fault(kind="delay", delay=PROVIDER_DELAY, count=-1)
        c0 = t.counters()
        results = t.concurrently([lambda fn=fn: t.retrying(lambda: fn(iid)) for fn in calls],
                                 timeout=90)
        c1 = t.counters()
        errors = [r for r in results if not isinstance(r, tuple) or r[0] != 200]
        self.assertEqual(errors, [], collections.Counter(
            getattr(r, "status", type(r).__name__) for r in errors))
        self.assertEqual(c1["token_refresh"] - c0["token_refresh"], 1, "provider refresh calls")
        self.assertEqual(c1["token_refresh_ok"] - c0["token_refresh_ok"], 1)
        self.assertEqual(c1["families_revoked_reuse"], c0["families_revoked_reuse"])
        tokens = collections.Counter(r.json()["access_token"] for r in results)
        self.assertEqual(len(tokens), 1, tokens)
        new = next(iter(tokens))
        f.remember(new)
        self.assertNotEqual(new, old)
        fam = t.family_of(new)
        self.assertEqual(fam["access_tokens"][-1], new)
        self.assertEqual(fam["rotations"], 1)
        self.assertFalse(fam["revoked"])
        after = t.row(self.p, iid)
        self.assertEqual(after["generation"], before["generation"] + 1)
        self.assertEqual(after["refresh_count"], before["refresh_count"] + 1)
        self.assertEqual(after["status"], "active")
        self.assertEqual(len([a for a in t.audit_rows(self.p, iid) if a["outcome"] == "ok"]), 1)
        self.assertEqual(t.backends_in_transaction(), 0)
        return iid, new

    def test_100_token_calls_cost_one_refresh(self):
        self.storm([lambda iid: t.get_token(self.p, iid)] * N)

    def test_token_calls_with_min_validity_3000_cost_one_refresh(self):
        # After the refresh every waiter holds 3600 s > 3000: still one call.
        self.storm([lambda iid: t.get_token(self.p, iid, min_validity=3000)] * N)

    def test_mixed_token_and_refresh_calls_cost_one_refresh(self):
        calls = [lambda iid: t.get_token(self.p, iid), lambda iid: t.post_refresh(self.p, iid)]
        self.storm(calls * (N // 2))

    def test_100_refresh_calls_cost_one_refresh(self):
        self.storm([lambda iid: t.post_refresh(self.p, iid)] * N)

    def test_storm_on_a_fresh_token_costs_nothing(self):
        iid = t.connect(self.p)
        old = t.token_of(t.get_token(self.p, iid))
        c0 = t.counters()["token_requests"]
        results = t.concurrently([lambda: t.get_token(self.p, iid)] * N)
        self.assertEqual({r.status for r in results}, {200})
        self.assertEqual({r.json()["access_token"] for r in results}, {old})
        self.assertEqual(t.counters()["token_requests"], c0)

    def test_sweep_racing_with_token_calls(self):
        iid = t.connect(self.p)
        old = t.token_of(t.get_token(self.p, iid))
        # Idle for 3000 days and expired: both the sweep and every /token
        # call want to refresh it.  The database is shared with the other
        # test modules, so the sweep must pick this connection only: it is
        # the oldest (--limit 1), and nothing else is idle for 80 days.
        lk.sql("UPDATE connections c SET last_refreshed_at = now() - interval '3000 days', "
               "grant_issued_at = now() - interval '3000 days' "
               "FROM profiles p WHERE p.id = c.profile_id AND p.name = :'p1' "
               "AND c.instance_id = :'p2'", self.p.name, iid)
        t.expire(self.p, iid)
        t.fault(kind="delay", delay=PROVIDER_DELAY, count=-1)
        c0 = t.counters()
        sweep = []

        def run_sweep(_iid):
            sweep.append(lk.cli("--json", "sweep", "--idle-days", "80", "--limit", "1",
                                check=False, timeout=90))
        calls = [run_sweep] + [lambda i: t.retrying(lambda: t.get_token(self.p, i))] * (N - 1)
        results = t.concurrently([lambda fn=fn: fn(iid) for fn in calls], timeout=90)
        rc, out, err = sweep[0]
        self.assertEqual(rc, 0, (out, err))
        report = json.loads(out)
        mine = {"profile": self.p.name, "instance_id": iid}
        self.assertIn(mine, report["refreshed"] + report["skipped"], report)
        self.assertEqual(len(report["refreshed"] + report["skipped"]), 1, report)
        answers = results[1:]
        self.assertEqual({getattr(r, "status", None) for r in answers}, {200}, answers[:3])
        tokens = {r.json()["access_token"] for r in answers}
        self.assertEqual(len(tokens), 1, tokens)
        self.assertNotIn(old, tokens)
        c1 = t.counters()
        self.assertEqual(c1["token_refresh"] - c0["token_refresh"], 1, "provider refresh calls")
        self.assertEqual(c1["families_revoked_reuse"], c0["families_revoked_reuse"])
        fam = t.family_of(tokens.pop())
        self.assertEqual(fam["rotations"], 1)
        self.assertFalse(fam["revoked"])
        row = t.row(self.p, iid)
        self.assertEqual(row["status"], "active")
        self.assertEqual(row["refresh_count"], 1)
        actors = [a["actor"] for a in t.audit_rows(self.p, iid)]
        self.assertEqual(len(actors), 1, actors)


class RotationTest(t.TokenTestCase):
    """Sequential forced refreshes rotate the refresh token each time, and
    Latchkey always holds the family's current one (SPEC §5)."""

    ROUNDS = 10

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def age(self, iid):
        """A forced refresh right after another is coalesced with it: move
        the last refresh a minute back, as if the bot came back later."""
        lk.sql("UPDATE connections c SET last_refreshed_at = now() - interval '1 minute', "
               "grant_issued_at = LEAST(grant_issued_at, now() - interval '1 minute') "
               "FROM profiles p WHERE p.id = c.profile_id AND p.name = :'p1' "
               "AND c.instance_id = :'p2'", self.p.name, iid)

    def test_ten_rotations(self):
        iid = t.connect(self.p)
        first = t.token_of(t.get_token(self.p, iid))
        fam_id = t.family_of(first)["family_id"]
        c0 = t.counters()
        seen = {first}
        for i in range(self.ROUNDS):
            self.age(iid)
            before = t.row(self.p, iid)
            body = self.assertToken(t.post_refresh(self.p, iid))
            self.assertNotIn(body["access_token"], seen, "round %d" % i)
            seen.add(body["access_token"])
            after = t.row(self.p, iid)
            self.assertEqual(after["generation"], before["generation"] + 1)
            self.assertNotEqual(after["refresh_token"], before["refresh_token"])
        fam = t.family_of(body["access_token"])
        self.assertEqual(fam["family_id"], fam_id)
        self.assertEqual(fam["rotations"], self.ROUNDS)
        self.assertFalse(fam["revoked"])
        self.assertEqual(len(fam["refresh_tokens"]), self.ROUNDS + 1)
        # Latchkey holds the current refresh token: the next refresh
        # presents exactly it, and it works.
        current = fam["current_refresh_token"]
        self.age(iid)
        last = self.assertToken(t.post_refresh(self.p, iid))["access_token"]
        self.assertEqual(t.last_token_request()["params"]["refresh_token"], current)
        fam = t.family_of(last)
        self.assertEqual(fam["rotations"], self.ROUNDS + 1)
        self.assertFalse(fam["revoked"])
        c1 = t.counters()
        self.assertEqual(c1["token_refresh_ok"] - c0["token_refresh_ok"], self.ROUNDS + 1)
        self.assertEqual(c1["token_refresh_rejected"], c0["token_refresh_rejected"])
        self.assertEqual(c1["families_revoked_reuse"], c0["families_revoked_reuse"])
        self.assertEqual(len(t.audit_rows(self.p, iid)), self.ROUNDS + 1)

    def test_refresh_right_after_a_refresh_is_coalesced(self):
        iid = t.connect(self.p)
        self.age(iid)
        a = self.assertToken(t.post_refresh(self.p, iid))["access_token"]
        c0 = t.counters()["token_requests"]
        b = self.assertToken(t.post_refresh(self.p, iid))["access_token"]
        self.assertEqual(a, b)
        self.assertEqual(t.counters()["token_requests"], c0)
        # ... unless time has moved on (set_expiry: an hour later, 30 s left).
        t.set_expiry(self.p, iid, 30)
        c = self.assertToken(t.post_refresh(self.p, iid))["access_token"]
        self.assertNotEqual(c, b)
        self.assertEqual(t.counters()["token_requests"], c0 + 1)


if __name__ == "__main__":
    unittest.main()
