"""End-to-end: crash safety of the refresh (SPEC §5) and database outages.

- A FastCGI worker SIGKILLed while it holds the connection's row lock and
  waits for the provider (before, or after the provider rotated the
  refresh token): the lock goes with it, a new worker is started, the
  connection survives and the provider's token family is not revoked (the
  lost rotation is covered by the provider's reuse leeway; beyond it the
  user must consent again, and Latchkey says so).
- PostgreSQL restarted during traffic, and stopped: 503
  database_unavailable with Retry-After, never 500; service comes back.

Waits use deadlines, never fixed sleeps.
"""

import collections
import os
import threading
import time
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t

DEADLINE = 30


def tearDownModule():
    try:
        t.restore_fake()
    finally:
        f.cleanup()


class WorkerKillTest(t.TokenTestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def setUp(self):
        self.offset = t.clock_offset()
        self.iid = t.connect(self.p)
        self.old = t.token_of(t.get_token(self.p, self.iid))
        self.fam = t.family_of(self.old)
        self.rt0 = self.fam["current_refresh_token"]
        t.expire(self.p, self.iid)
        self.before = t.row(self.p, self.iid)
        self.c0 = t.counters()

    def tearDown(self):
        lk.fake("POST", "/_fake/clock", {"offset": self.offset})
        super().tearDown()

    def kill_while_held(self, when):
        """GET /token on the expired connection, held at the provider
        (when: before/after it processes the refresh); SIGKILLs every token
        worker; returns what the caller got.  Checks that the row lock was
        held during the hold and is gone right after the kill."""
        t.fault(kind="hold", when=when, count=1)
        got = {}
        th = threading.Thread(target=lambda: got.setdefault("r", t.get_token(self.p, self.iid)),
                              daemon=True)
        th.start()
        held = lk.fake("POST", "/_fake/wait_held", {"count": 1, "timeout": 10})
        self.assertEqual(held["held"], 1)
        cid = self.before["id"]
        self.assertFalse(t.row_lock_free(cid), "the refreshing worker must hold the row lock")
        self.assertEqual(t.backends_in_transaction(), 1)
        old_workers = t.workers("token")
        self.assertTrue(old_workers)
        self.assertEqual(t.kill_workers("token"), old_workers)
        # The killed worker's session ends: its transaction rolls back and
        # the lock is free, while the provider still holds the request.
        lk.wait_until(lambda: t.row_lock_free(cid), DEADLINE, what="the row lock to go")
        self.assertEqual(t.backends_in_transaction(), 0)
        self.assertEqual(lk.fake("GET", "/_fake/held")["held"], 1)
        th.join(DEADLINE)
        self.assertFalse(th.is_alive())
        # The caller gets the web server's error for a dead backend (not a
        # token); lighttpd answers it itself.
        self.assertGreaterEqual(got["r"].status, 500, got["r"])
        self.assertNotIn(b"access_token", got["r"].body)
        # The row is as it was: nothing committed.
        now = t.row(self.p, self.iid)
        for k in ("access_token", "refresh_token", "generation", "status"):
            self.assertEqual(now[k], self.before[k], k)
        # New workers are started (by the route's supervisor).
        new = lk.wait_until(lambda: len(t.workers("token")) == len(old_workers) and t.workers("token"),
                            DEADLINE, what="new token workers")
        self.assertFalse(set(new) & set(old_workers))
        return got["r"]

    def release_and_settle(self):
        """Releases the held request and waits until the provider has
        finished with it (its answer goes to a dead socket)."""
        processed = t.counters()["token_refresh"]
        lk.fake("POST", "/_fake/release", {})
        lk.wait_until(lambda: lk.fake("GET", "/_fake/held")["held"] == 0, DEADLINE)
        return processed

    def test_kill_before_provider_answers(self):
        self.kill_while_held("before")
        self.assertEqual(t.counters()["token_refresh"], self.c0["token_refresh"],
                         "held before the provider processed it")
        self.release_and_settle()
        # The released request reaches the provider's token code now (a
        # real provider may or may not finish it); wait until it did.
        lk.wait_until(lambda: t.counters()["token_refresh"] == self.c0["token_refresh"] + 1,
                      DEADLINE, what="the provider to finish the orphaned request")
        body = self.assertToken(t.get_token(self.p, self.iid))
        self.assertNotEqual(body["access_token"], self.old)
        # Latchkey presented the refresh token it had committed.
        self.assertEqual(t.last_token_request()["params"]["refresh_token"], self.rt0)
        self.assertConnectionHealthy(body["access_token"], rotations=2)

    def test_kill_after_provider_rotated(self):
        self.kill_while_held("after")
        # The provider rotated; the new refresh token died with the worker.
        fam = t.family_of(self.old)
        self.assertEqual(fam["rotations"], 1)
        self.assertNotEqual(fam["current_refresh_token"], self.rt0)
        self.release_and_settle()
        # The next call presents the old refresh token, which the provider
        # still accepts within its reuse leeway.
        body = self.assertToken(t.get_token(self.p, self.iid))
        self.assertEqual(t.last_token_request()["params"]["refresh_token"], self.rt0)
        self.assertConnectionHealthy(body["access_token"], rotations=2)

    def test_kill_after_rotation_beyond_reuse_leeway_needs_consent(self):
        self.kill_while_held("after")
        self.release_and_settle()
        # Ten minutes and a bit later the old refresh token is a replay:
        # the provider revokes the family, Latchkey asks for consent.
        lk.fake("POST", "/_fake/clock", {"advance": 601})
        r = t.get_token(self.p, self.iid)
        self.assertJsonError(r, 409, "reauthorization_required")
        self.assertEqual(t.counters()["families_revoked_reuse"],
                         self.c0["families_revoked_reuse"] + 1)
        self.assertEqual(t.row(self.p, self.iid)["status"], "reauthorization_required")

    def assertConnectionHealthy(self, token, rotations):
        now = t.row(self.p, self.iid)
        self.assertEqual(now["id"], self.before["id"])
        self.assertEqual(now["status"], "active")
        self.assertEqual(now["generation"], self.before["generation"] + 1)
        self.assertNotEqual(now["refresh_token"], self.before["refresh_token"])
        fam = t.family_of(token)
        self.assertEqual(fam["family_id"], self.fam["family_id"])
        self.assertFalse(fam["revoked"])
        self.assertEqual(fam["rotations"], rotations)
        self.assertIn(token, fam["access_tokens_valid"])
        c1 = t.counters()
        self.assertEqual(c1["families_revoked_reuse"], self.c0["families_revoked_reuse"])
        self.assertTrue(t.row_lock_free(now["id"]))
        # And the refresh after that presents what Latchkey now holds.
        t.expire(self.p, self.iid)
        again = self.assertToken(t.get_token(self.p, self.iid))
        self.assertEqual(t.last_token_request()["params"]["refresh_token"],
                         fam["current_refresh_token"])
        self.assertFalse(t.family_of(again["access_token"])["revoked"])


class WebServerRestartTest(t.TokenTestCase):
    """The web server restarted under traffic: its FastCGI workers finish
    the request in hand (a refresh commits before anyone is answered), new
    workers connect to PostgreSQL again, and no token is lost."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def test_restart_during_traffic_loses_nothing(self):
        fresh = t.connect(self.p)
        stale = t.connect(self.p)
        before = t.token_of(t.get_token(self.p, fresh))

        def call(iid, expire):
            def go():
                if expire:
                    t.expire(self.p, iid)  # every call refreshes: a write transaction
                try:
                    return t.get_token(self.p, iid)
                except OSError as e:  # the web server is down for a moment
                    return e
            return go
        with t.Background(call(fresh, False)) as a, t.Background(call(stale, True), pause=0.05) as b:
            lk.wait_until(lambda: len(a.results) > 3 and len(b.results) > 2, DEADLINE)
            lk.stack("restart-web")
            n = (len(a.results), len(b.results))
            lk.wait_until(lambda: len(a.results) > n[0] + 3 and len(b.results) > n[1] + 2, DEADLINE)
        for r in a.results + b.results:
            if isinstance(r, Exception):
                continue
            # 200, or the web server's own answer while its workers restart;
            # never a failure of ours.
            self.assertIn(r.status, (200, 502, 503), r.text[:200])
        for iid in (fresh, stale):
            row = t.row(self.p, iid)
            self.assertEqual(row["status"], "active")
            body = self.assertToken(t.get_token(self.p, iid))
            self.assertFalse(t.family_of(body["access_token"])["revoked"])
        self.assertEqual(t.token_of(t.get_token(self.p, fresh)), before)
        self.assertEqual(t.backends_in_transaction(), 0)


class DatabaseOutageTest(t.TokenTestCase):
    """PostgreSQL restarted or stopped under Latchkey (SPEC §5, §7)."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def tearDown(self):
        # Whatever happened, leave PostgreSQL running for the next tests.
        if not t.pg_running():
            lk.stack("start-pg")
        super().tearDown()

    def assertOutageAnswer(self, r):
        if isinstance(r, Exception):
            self.fail("request failed: %r" % (r,))
        if r.status == 200:
            return "ok"
        self.assertJsonError(r, 503, "database_unavailable")
        self.assertRetryAfter(r)
        return "503"

    def wait_ok(self, fn):
        return lk.wait_until(lambda: (lambda r: r if r.status == 200 else None)(fn()), DEADLINE,
                             interval=0.2, what="Latchkey to answer 200 again")

    def test_restart_during_traffic(self):
        fresh = t.connect(self.p)
        stale = t.connect(self.p)
        t.token_of(t.get_token(self.p, fresh))

        def call_fresh():
            return t.get_token(self.p, fresh)

        def call_stale():
            # Expired each time: every call refreshes (a write transaction).
            try:
                t.expire(self.p, stale)
            except AssertionError:  # psql while PostgreSQL is down
                pass
            return t.get_token(self.p, stale)
        with t.Background(call_fresh) as a, t.Background(call_stale, pause=0.1) as b:
            lk.wait_until(lambda: len(a.results) > 3 and len(b.results) > 1, DEADLINE)
            lk.stack("restart-pg")
            n = (len(a.results), len(b.results))
            lk.wait_until(lambda: len(a.results) > n[0] + 3 and len(b.results) > n[1] + 1,
                          DEADLINE)
        self.wait_ok(call_fresh)
        self.wait_ok(lambda: t.get_token(self.p, stale))
        outcomes = [self.assertOutageAnswer(r) for r in a.results + b.results]
        self.assertIn("ok", outcomes)
        if os.environ.get("LK_VERBOSE"):
            print(collections.Counter(outcomes))
        for iid in (fresh, stale):
            row = t.row(self.p, iid)
            self.assertIsNotNone(row, iid)
            self.assertEqual(row["status"], "active")
            body = self.assertToken(t.get_token(self.p, iid))
            self.assertFalse(t.family_of(body["access_token"])["revoked"])
        self.assertEqual(t.backends_in_transaction(), 0)

    def test_immediate_restart_then_refresh(self):
        iid = t.connect(self.p)
        t.token_of(t.get_token(self.p, iid))
        # The test cluster runs with synchronous_commit = off: make sure the
        # connection just written survives the crash.
        lk.sql("CHECKPOINT")
        lk.stack("restart-pg", "--mode", "immediate")
        t.expire(self.p, iid)
        # Every worker's session is gone; the first statement reconnects.
        for _ in range(8):
            r = t.get_token(self.p, iid, min_validity=0)
            self.assertEqual(r.status, 200, r)
        body = self.assertToken(t.post_refresh(self.p, iid))
        self.assertEqual(t.row(self.p, iid)["status"], "active")
        self.assertFalse(t.family_of(body["access_token"])["revoked"])

    def warm(self, iid):
        """Every token worker has answered for iid (and cached what it may)."""
        results = t.concurrently([lambda: t.get_token(self.p, iid)] * 12)
        self.assertEqual({r.status for r in results}, {200})
        return results[0].json()["access_token"]

    def test_stopped_database_is_503_then_recovers(self):
        iid = t.connect(self.p)
        token = self.warm(iid)
        lk.stack("stop-pg")
        try:
            # A worker may serve its cached answer (the same, still valid
            # token) until it notices the lost session; then 503.
            for _ in range(8):
                r = t.get_token(self.p, iid)
                if r.status != 200:
                    break
                self.assertEqual(r.json()["access_token"], token)
            for r in (r, t.get_token(self.p, iid), t.post_refresh(self.p, iid),
                      t.delete_token(self.p, iid),
                      t.get_token(self.p, iid, key="lk_" + "A" * 43)):  # keys live in the database
                self.assertJsonError(r, 503, "database_unavailable")
                self.assertRetryAfter(r)
                self.assertNotIn(token, r.text)
        finally:
            lk.stack("start-pg")
        body = self.wait_ok(lambda: t.get_token(self.p, iid)).json()
        self.assertEqual(body["access_token"], token)
        self.assertEqual(t.row(self.p, iid)["status"], "active")
        self.assertToken(t.post_refresh(self.p, iid))

    def test_answers_after_database_stop_are_503_within_a_second(self):
        # A worker may serve its cached answer for up to a second after the
        # database went away (the cache's bound); after that, 503.
        iid = t.connect(self.p)
        self.warm(iid)
        token = t.token_of(t.get_token(self.p, iid))
        lk.stack("stop-pg")
        try:
            t0 = time.monotonic()
            late = []
            while time.monotonic() - t0 < 1.5:
                sent = time.monotonic() - t0
                for r in t.concurrently([lambda: t.get_token(self.p, iid)] * 8):
                    if r.status == 200:
                        self.assertEqual(t.token_of(r), token)
                    if sent >= 1.0:
                        late.append(r)
        finally:
            lk.stack("start-pg")
        self.assertTrue(late)
        for r in late:
            self.assertJsonError(r, 503, "database_unavailable")

if __name__ == "__main__":
    unittest.main()
