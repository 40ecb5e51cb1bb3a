"""End-to-end: refreshes under trouble (SPEC §5, issue 10), through lighttpd
(4 FastCGI processes per route), real PostgreSQL and the fake provider.

- A failure is shared like a success: a storm of callers against a provider
  answering 429 (with and without Retry-After), 503, 500 after a delay, or
  nothing at all (a timeout) costs exactly one provider call, and nobody
  asks again for that connection before the Retry-After (capped at 300 s;
  10 s without one) has passed.
- A storm is one refresh even when no token can satisfy it: a token
  refreshed in the last 10 s goes to every caller whatever min_validity
  asks.
- A slow provider for one user stalls no one else: at most 1 +
  refresh_waiters callers of one machine wait on one connection's refresh;
  the others are answered at once (the still-valid token, or 503 with
  Retry-After), marked "refresh_in_progress": true.
- Provider answers are checked before anything is stored.
- Timeouts nest: the session outlives the slowest provider call made inside
  its transaction, whatever db_timeout_ms says.
"""

import collections
import json
import time
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t

STORM = 50


def tearDownModule():
    try:
        t.restore_fake()
    finally:
        f.cleanup()


def status_of(r):
    return getattr(r, "status", type(r).__name__)


class SharedFailureTest(t.TokenTestCase):
    """One provider call per storm, whatever the provider answers."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def storm(self, fault, min_validity=None, expires_in=-1, attempts=5):
        """A fresh connection whose token has expires_in seconds left; the
        fault stays on for every token request; STORM callers at once, each
        retrying after a 503 refresh_in_progress as bots do. Returns
        (iid, old token, answers, provider token requests made)."""
        iid = t.connect(self.p)
        old = t.token_of(t.get_token(self.p, iid))
        t.set_expiry(self.p, iid, expires_in)
        t.fault(count=-1, **fault)
        c0 = t.token_calls()
        params = {} if min_validity is None else {"min_validity": min_validity}
        answers = t.concurrently(
            [lambda: t.retrying(lambda: t.get_token(self.p, iid, **params), attempts)] * STORM,
            timeout=120)
        calls = t.token_calls() - c0
        return iid, old, answers, calls

    def assertAllUnavailable(self, answers, retry_after):
        """Every answer is 503 provider_unavailable, its Retry-After within
        a few seconds of retry_after (time passes during the storm), and
        never more than the hold it was given."""
        self.assertEqual(collections.Counter(status_of(r) for r in answers), {503: STORM})
        for r in answers:
            self.assertJsonError(r, 503, "provider_unavailable")
            self.assertRetryAfter(r)
            ra = int(r.headers["Retry-After"])
            self.assertTrue(retry_after - 5 <= ra <= retry_after, (ra, retry_after, r))

    def assertHeldOff(self, iid, secs):
        left, what = t.hold_off(self.p, iid)
        self.assertEqual(what, "provider_unavailable")
        self.assertTrue(secs - 5 <= left <= secs + 1, (left, secs))
        # Nobody asks the provider again meanwhile, /token nor /refresh.
        c0 = t.token_calls()
        r = t.get_token(self.p, iid)
        self.assertJsonError(r, 503, "provider_unavailable")
        r = t.post_refresh(self.p, iid)
        self.assertJsonError(r, 503, "provider_unavailable")
        self.assertEqual(t.token_calls(), c0)
        # Once it has passed, one caller asks again, and recovers.
        t.restore_fake()
        t.end_hold_off(self.p, iid)
        self.assertToken(t.get_token(self.p, iid))
        self.assertEqual(t.token_calls(), c0 + 1)
        row = t.row(self.p, iid)
        self.assertEqual(row["status"], "active")
        self.assertEqual(t.hold_off(self.p, iid), (None, None))

    def test_429_with_retry_after_is_one_call_and_held_for_its_retry_after(self):
        iid, _old, answers, calls = self.storm({"kind": "status", "status": 429, "retry_after": 120})
        self.assertEqual(calls, 1)
        self.assertAllUnavailable(answers, 120)
        self.assertEqual(t.row(self.p, iid)["status"], "refresh_failing")
        self.assertHeldOff(iid, 120)

    def test_429_retry_after_is_capped_at_300s(self):
        iid, _old, answers, calls = self.storm({"kind": "status", "status": 429, "retry_after": 86400})
        self.assertEqual(calls, 1)
        self.assertAllUnavailable(answers, 300)
        self.assertHeldOff(iid, 300)

    def test_429_without_retry_after_holds_10s(self):
        iid, _old, answers, calls = self.storm({"kind": "status", "status": 429})
        self.assertEqual(calls, 1)
        self.assertAllUnavailable(answers, 10)
        self.assertHeldOff(iid, 10)

    def test_503_is_one_call(self):
        iid, _old, answers, calls = self.storm({"kind": "status", "status": 503, "retry_after": 30})
        self.assertEqual(calls, 1)
        self.assertAllUnavailable(answers, 30)
        self.assertHeldOff(iid, 30)

    def test_slow_500_is_one_call(self):
        iid, _old, answers, calls = self.storm({"kind": "status", "status": 500, "delay": 1.0})
        self.assertEqual(calls, 1)
        self.assertAllUnavailable(answers, 10)
        self.assertHeldOff(iid, 10)

    def test_timeout_is_one_call(self):
        # The stack's http_timeout_ms is 10 s: the provider holds the call.
        r0 = t.counters()["token_refresh"]
        iid, _old, answers, calls = self.storm({"kind": "hold"}, attempts=15)
        # Let the held call finish at the fake (it rotates, unseen by us:
        # the reuse leeway covers that), so it does not spill into others.
        lk.fake("POST", "/_fake/release", {})
        lk.wait_until(lambda: t.counters()["token_refresh"] > r0, timeout=10,
                      what="the held refresh to finish at the fake")
        self.assertEqual(calls, 1)
        self.assertAllUnavailable(answers, 10)
        self.assertIn("timeout", t.row(self.p, iid)["last_error"])
        self.assertHeldOff(iid, 10)

    def test_still_valid_token_goes_to_everyone_with_refresh_failed(self):
        iid, old, answers, calls = self.storm({"kind": "status", "status": 429, "retry_after": 60},
                                              expires_in=30)
        self.assertEqual(calls, 1)
        self.assertEqual(collections.Counter(status_of(r) for r in answers), {200: STORM})
        for r in answers:
            body = self.assertToken(r)
            self.assertEqual(body["access_token"], old)
            # Either the shared failure, or not waited for (over the bound).
            self.assertTrue(body.get("refresh_failed") or body.get("refresh_in_progress"), body)
        self.assertTrue(any(r.json().get("refresh_failed") for r in answers))
        # Held off: the next callers get the old token without a call.
        c0 = t.token_calls()
        body = self.assertToken(t.get_token(self.p, iid))
        self.assertIs(body["refresh_failed"], True)
        self.assertEqual(body["access_token"], old)
        self.assertEqual(t.token_calls(), c0)

    def test_misconfigured_profile_is_one_call(self):
        p = f.make_profile()
        iid = t.connect(p)
        t.expire(p, iid)
        t.fault(count=-1, kind="status", status=401,
                body=json.dumps({"error": "invalid_client"}))
        c0 = t.token_calls()
        answers = t.concurrently(
            [lambda: t.retrying(lambda: t.get_token(p, iid))] * STORM, timeout=120)
        self.assertEqual(t.token_calls() - c0, 1)
        self.assertEqual(collections.Counter(status_of(r) for r in answers), {502: STORM})
        for r in answers:
            self.assertIn("invalid_client", self.assertJsonError(r, 502, "provider_error")["detail"])
        self.assertEqual(t.row(p, iid)["status"], "active")


class UnsatisfiableMinValidityTest(t.TokenTestCase):
    """Tokens live 600 s; 30 callers ask for 3000 s."""

    def setUp(self):
        lk.fake("POST", "/_fake/config", {"access_token_ttl": 600})

    def test_storm_wanting_more_than_any_token_lives_is_one_refresh(self):
        p = f.make_profile()
        iid = t.connect(p)
        t.expire(p, iid)
        t.fault(kind="delay", delay=0.5, count=-1)
        c0 = t.counters()
        answers = t.concurrently(
            [lambda: t.retrying(lambda: t.get_token(p, iid, min_validity=3000))] * 30, timeout=90)
        c1 = t.counters()
        self.assertEqual(collections.Counter(status_of(r) for r in answers), {200: 30})
        self.assertEqual(c1["token_refresh"] - c0["token_refresh"], 1, "provider refresh calls")
        tokens = {self.assertToken(r)["access_token"] for r in answers}
        self.assertEqual(len(tokens), 1)
        self.assertTrue(all(r.json()["expires_in"] <= 600 for r in answers))
        self.assertEqual(t.family_of(tokens.pop())["rotations"], 1)
        # POST /refresh right after is the same refresh too.
        r = t.post_refresh(p, iid)
        self.assertToken(r)
        self.assertEqual(t.counters()["token_refresh"], c1["token_refresh"])
        # A one-off caller after the 10 s, still wanting 3000 s: refreshes.
        t.set_expiry(p, iid, 590)
        self.assertToken(t.get_token(p, iid, min_validity=3000))
        self.assertEqual(t.counters()["token_refresh"], c1["token_refresh"] + 1)


class CrowdedSlowRefreshTest(t.TokenTestCase):
    """20 bots ask for one user's token while the provider takes 6 s for
    its refresh; other users' /token calls go on as usual."""

    SLOW = 6.0

    def test_other_users_are_served_while_one_refresh_is_slow_and_crowded(self):
        p = f.make_profile()
        crowded = t.connect(p)
        others = [t.connect(p) for _ in range(3)]
        for iid in others:
            self.assertToken(t.get_token(p, iid))
        t.expire(p, crowded)
        t.fault(kind="delay", delay=self.SLOW, count=1)
        bots = [t.Background(lambda: t.get_token(p, crowded), pause=0.01) for _ in range(20)]
        for b in bots:
            b.__enter__()
        try:
            lk.wait_until(lambda: t.counters()["faults_applied"] >= 1 and
                          sum(len(b.results) for b in bots) > 40, timeout=10,
                          what="the crowd in the slow refresh")
            lat = []
            deadline = time.monotonic() + self.SLOW - 2
            i = 0
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                r = t.get_token(p, others[i % len(others)])
                lat.append(time.monotonic() - t0)
                self.assertToken(r)
                i += 1
        finally:
            for b in bots:
                b.stop()
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print("\nother users' /token while one refresh is slow and crowded: n=%d p50=%.1f ms "
              "p99=%.1f ms max=%.1f ms" % (len(lat), lat[len(lat) // 2] * 1000, p99 * 1000,
                                           lat[-1] * 1000))
        self.assertGreater(len(lat), 20)
        # Before the bound, p99 was the provider's 6 s. 100 ms is the target
        # (bench/crowd_bench.py measures it); the test leaves room for a
        # loaded CI machine.
        self.assertLess(p99, 0.5)
        # The crowd: the new token, or 503 refresh_in_progress / Retry-After.
        answers = [r for b in bots for r in b.results]
        kinds = collections.Counter(status_of(r) for r in answers)
        self.assertEqual(set(kinds) - {200, 503}, set(), kinds)
        for r in answers:
            if r.status == 503:
                body = self.assertJsonError(r, 503, "provider_unavailable")
                self.assertIs(body.get("refresh_in_progress"), True, body)
                self.assertRetryAfter(r)
        self.assertEqual(t.row(p, crowded)["status"], "active")

    def test_over_the_bound_a_still_valid_token_is_served_at_once(self):
        p = f.make_profile()
        iid = t.connect(p)
        old = t.token_of(t.get_token(p, iid))
        t.set_expiry(p, iid, 40)  # valid, but not for min_validity 60
        lk.fake("POST", "/_fake/fault", {"kind": "hold", "path": t.TOKEN_PATH})
        holders = [t.Background(lambda: t.get_token(p, iid), pause=3600) for _ in range(3)]
        for b in holders:
            b.__enter__()
        try:
            lk.fake("POST", "/_fake/wait_held", {"count": 1, "timeout": 10})
            # The refresher and its waiters hold the bound; one more caller
            # is answered at once with the old, still valid token.
            lk.wait_until(lambda: int(lk.sql(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'latchkey-token' "
                "AND state <> 'idle'")[0][0]) >= 3, timeout=10,
                what="refresher and waiters in their transactions")
            t0 = time.monotonic()
            r = t.get_token(p, iid)
            took = time.monotonic() - t0
            body = self.assertToken(r)
            self.assertEqual(body["access_token"], old)
            self.assertIs(body["refresh_in_progress"], True)
            self.assertLess(took, 2.0)
        finally:
            lk.fake("POST", "/_fake/release", {})
            for b in holders:
                b.stop()
        news = {self.assertToken(r)["access_token"] for b in holders for r in b.results}
        self.assertEqual(len(news), 1)
        self.assertNotIn(old, news)


class ProviderAnswerCheckTest(t.TokenTestCase):
    """A token answer that is not what SPEC §5 says is 502 provider_error
    and changes nothing, at refresh and at connect."""

    BAD = [
        ("token_type_crlf", {"token_type": "Bearer\r\nX-Injected: 1"}),
        ("token_type_space", {"token_type": "Bearer x"}),
        ("token_type_number", {"token_type": 5}),
        ("expires_in_negative", {"expires_in": -5}),
        ("expires_in_zero", {"expires_in": 0}),
        ("expires_in_float", {"expires_in": 3600.5}),
        ("expires_in_text", {"expires_in": "soon"}),
        ("expires_in_eleven_years", {"expires_in": 11 * 365 * 86400}),
        ("access_token_space", {"access_token": "a b"}),
        ("access_token_crlf", {"access_token": "a\r\nX-Injected: 1"}),
        ("refresh_token_crlf", {"refresh_token": "r\nX: 1"}),
    ]

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def test_bad_answers_at_refresh_change_nothing(self):
        for name, override in self.BAD:
            with self.subTest(name):
                iid = t.connect(self.p)
                t.expire(self.p, iid)
                before = t.row(self.p, iid)
                lk.fake("POST", "/_fake/config", {"token_reply_override": override})
                try:
                    r = t.get_token(self.p, iid)
                finally:
                    t.restore_fake()
                self.assertJsonError(r, 502, "provider_error")
                self.assertNotIn("X-Injected", r.text)
                now = t.row(self.p, iid)
                for k in ("access_token", "refresh_token", "token_type", "generation",
                          "status", "failure_count", "last_refreshed_at"):
                    self.assertEqual(now[k], before[k], k)
                self.assertLessEqual(now["expires_in"], 0)

    def test_bad_answers_at_connect_store_nothing(self):
        for name, override in self.BAD:
            with self.subTest(name):
                lk.fake("POST", "/_fake/config", {"token_reply_override": override})
                link, iid = f.new_link(self.p)
                try:
                    resp = f.complete(lk.Browser(), link)
                finally:
                    t.restore_fake()
                self.assertEqual(resp.status, 502, resp)
                self.assertIn("<title>Provider error", resp.text)
                self.assertIn("Nothing was stored", resp.text)
                self.assertNotIn("X-Injected", resp.text)
                self.assertEqual(f.connections(self.p, iid), [])

    def test_answer_without_expires_in_lives_default_token_ttl(self):
        # At connect time and at refresh alike: default_token_ttl (3600 s),
        # never "no expiry".
        lk.fake("POST", "/_fake/config", {"token_reply_override": {"expires_in": None}})
        iid = t.connect(self.p)
        body = self.assertToken(t.get_token(self.p, iid))
        self.assertTrue(3590 <= body["expires_in"] <= 3600, body)
        t.set_expiry(self.p, iid, 10)
        body = self.assertToken(t.get_token(self.p, iid))
        self.assertTrue(3590 <= body["expires_in"] <= 3600, body)
        self.assertTrue(3590 <= t.row(self.p, iid)["expires_in"] <= 3600)


class NestedTimeoutTest(t.TokenTestCase):
    """db_timeout_ms = 1000 with http_timeout_ms = 10000: a provider taking
    7 s inside the refresh transaction must not outlive the session."""

    def test_slow_provider_inside_transaction_with_short_db_timeout(self):
        p = f.make_profile()
        iid = t.connect(p)
        lk.sql("UPDATE connections c SET last_refreshed_at = now() - interval '3000 days', "
               "grant_issued_at = now() - interval '3000 days' "
               "FROM profiles p WHERE p.id = c.profile_id AND p.name = :'p1' "
               "AND c.instance_id = :'p2'", p.name, iid)
        before = t.row(p, iid)
        reuse0 = t.counters()["families_revoked_reuse"]
        t.fault(kind="delay", delay=7, count=1)
        rc, out, err = lk.cli("--json", "sweep", "--idle-days", "2999", "--limit", "1",
                              extra_env={"LATCHKEY_DB_TIMEOUT_MS": "1000",
                                         "LATCHKEY_HTTP_TIMEOUT_MS": "10000"},
                              check=False, timeout=60)
        self.assertEqual(rc, 0, (out, err))
        report = json.loads(out)
        self.assertIn({"profile": p.name, "instance_id": iid}, report["refreshed"], report)
        now = t.row(p, iid)
        self.assertEqual(now["generation"], before["generation"] + 1)
        self.assertNotEqual(now["refresh_token"], before["refresh_token"])
        self.assertEqual(t.counters()["families_revoked_reuse"], reuse0)
        t.delete_token(p, iid)


if __name__ == "__main__":
    unittest.main()
