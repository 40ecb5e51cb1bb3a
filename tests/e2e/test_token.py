"""End-to-end: GET/DELETE /token/{profile} and POST /refresh/{profile}
(SPEC §2, §5, §7): the answer's shape, min_validity, API keys, sites,
provider trouble on refresh, and sealed tokens bound to their row.

Runs through lighttpd (4 FastCGI processes per route) against real
PostgreSQL and the fake provider; connections are made through the real
authorize -> consent -> callback flow (lkflow).  Time is moved, never
slept: expires_at is set with SQL.
"""

import json
import os
import secrets
import signal
import time
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t

TOKEN_KEYS = {"access_token", "token_type", "expires_at", "expires_in", "scope", "profile",
              "instance_id", "metadata", "api_base_url",
              # health (SPEC §11); the Atlassian template declares both forecasts
              "status", "last_refreshed_at", "refresh_token_lapses_at", "grant_expires_at"}


def tearDownModule():
    try:
        t.restore_fake()
    finally:
        f.cleanup()


class TokenAnswerTest(t.TokenTestCase):
    """The 200 answer (SPEC §5), min_validity, DELETE."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def test_answer_shape(self):
        iid = t.connect(self.p)
        r = t.get_token(self.p, iid)
        body = self.assertToken(r)
        self.assertEqual(set(body), TOKEN_KEYS, body)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["profile"], self.p.name)
        self.assertEqual(body["instance_id"], iid)
        self.assertRegex(body["expires_at"], t.ISO_Z)
        self.assertIsInstance(body["expires_in"], int)
        self.assertTrue(3500 < body["expires_in"] <= 3600, body)
        self.assertEqual(body["scope"].split(), f.ATLASSIAN_SCOPES)
        site = f.DEFAULT_SITE
        self.assertEqual(body["metadata"]["cloud_id"], site["id"])
        self.assertEqual(body["metadata"]["site_url"], site["url"])
        self.assertEqual(body["api_base_url"], lk.PROVIDER_URL + "/ex/confluence/" + site["id"])
        # Health (SPEC §11): never refreshed yet; forecasts from the consent.
        self.assertEqual(body["status"], "active")
        self.assertIsNone(body["last_refreshed_at"])
        self.assertRegex(body["refresh_token_lapses_at"], t.ISO_Z)
        self.assertRegex(body["grant_expires_at"], t.ISO_Z)
        # The access token is the one the provider issued, and it works.
        fam = t.family_of(body["access_token"])
        self.assertEqual(fam["access_tokens"][-1], body["access_token"])
        self.assertIn(body["access_token"], fam["access_tokens_valid"])
        # Never a refresh token or a client secret.
        text = r.text
        self.assertNotIn('"refresh_token"', text)  # the key; refresh_token_lapses_at is health
        for rt in fam["refresh_tokens"]:
            self.assertNotIn(rt["token"], text)
        self.assertNotIn(self.p.client_secret, text)
        self.assertNotIn("client_secret", text)
        # A valid token is served without calling the provider.
        c0 = t.counters()["token_requests"]
        self.assertEqual(self.assertToken(t.get_token(self.p, iid))["access_token"],
                         body["access_token"])
        self.assertEqual(t.counters()["token_requests"], c0)

    def test_uses_are_noted_after_the_answer(self):
        # When the connection and the bot key were last used: written after
        # the answer has gone (touch.c), at once when nothing else waits;
        # shown by connection show and list.
        iid = t.connect(self.p)
        name, key = f.make_key(self.p.name)  # used by no worker yet

        def used():
            conn = json.loads(lk.cli("--json", "connection", "show", self.p.name, iid)[1])
            listed = [c for c in json.loads(lk.cli("--json", "connection", "list", self.p.name)[1])
                      if c["instance_id"] == iid]
            k = lk.sql("SELECT last_used_at IS NOT NULL FROM api_keys WHERE name = :'p1'", name)[0][0]
            return conn.get("last_used_at"), listed[0].get("last_used_at"), k

        self.assertEqual(used(), (None, None, "f"))
        self.assertToken(t.get_token(self.p, iid, key=key))
        deadline = time.monotonic() + 5
        while None in used()[:2] and time.monotonic() < deadline:
            time.sleep(0.05)
        shown, listed, k = used()
        self.assertRegex(shown, t.ISO_Z)
        self.assertEqual(listed, shown)
        self.assertEqual(k, "t")
        # At most once a minute: a use 30 s after the last one writes nothing.
        lk.sql("UPDATE connection_uses SET last_used_at = now() - interval '30 seconds' WHERE connection_id = "
               "(SELECT id FROM connections WHERE instance_id = :'p1')", iid)
        was = used()[0]
        for _ in range(8):
            self.assertToken(t.get_token(self.p, iid))
        time.sleep(0.3)  # long enough for a write that must not come
        self.assertEqual(used()[0], was)
        # A deleted connection takes its use with it.
        lk.cli("connection", "delete", self.p.name, iid)
        self.assertEqual(lk.sql("SELECT count(*) FROM connection_uses u WHERE NOT EXISTS "
                                "(SELECT 1 FROM connections c WHERE c.id = u.connection_id)")[0][0], "0")

    def test_head_answers_like_get_without_body(self):
        iid = t.connect(self.p)
        r = lk.http("HEAD", "/token/%s?instance_id=%s" % (self.p.name, iid), headers=self.p.auth)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"")

    def test_default_min_validity_refreshes_token_with_30s_left(self):
        iid = t.connect(self.p)
        old = t.token_of(t.get_token(self.p, iid))
        before = t.row(self.p, iid)
        t.set_expiry(self.p, iid, 30)
        c0 = t.counters()
        body = self.assertToken(t.get_token(self.p, iid))
        self.assertNotEqual(body["access_token"], old)
        self.assertTrue(3500 < body["expires_in"] <= 3600, body)
        c1 = t.counters()
        self.assertEqual(c1["token_refresh"] - c0["token_refresh"], 1)
        self.assertEqual(c1["token_refresh_ok"] - c0["token_refresh_ok"], 1)
        after = t.row(self.p, iid)
        self.assertEqual(after["generation"], before["generation"] + 1)
        self.assertEqual(after["refresh_count"], before["refresh_count"] + 1)
        self.assertEqual(after["status"], "active")
        self.assertNotEqual(after["access_token"], before["access_token"])
        self.assertNotEqual(after["refresh_token"], before["refresh_token"])

    def test_min_validity_zero_serves_token_with_30s_left(self):
        iid = t.connect(self.p)
        old = t.token_of(t.get_token(self.p, iid))
        t.set_expiry(self.p, iid, 30)
        c0 = t.counters()["token_requests"]
        body = self.assertToken(t.get_token(self.p, iid, min_validity=0))
        self.assertEqual(body["access_token"], old)
        self.assertTrue(25 <= body["expires_in"] <= 30, body)
        # 29 is still below what is left, 30 is not.
        self.assertEqual(self.assertToken(t.get_token(self.p, iid, min_validity=20))["access_token"],
                         old)
        self.assertEqual(t.counters()["token_requests"], c0)

    def test_min_validity_bounds(self):
        iid = t.connect(self.p)
        old = t.token_of(t.get_token(self.p, iid))
        # 3000 is allowed (a fresh token has 3600 s).
        self.assertEqual(self.assertToken(t.get_token(self.p, iid, min_validity=3000))["access_token"],
                         old)
        for bad in ("-1", "abc", "3001", "1.5", "", " 5", "+5", "99999999999999999999999",
                    "5 ", "0x10", "5e2"):
            with self.subTest(min_validity=bad):
                r = t.get_token(self.p, iid, min_validity=bad)
                self.assertValidation(r, ["query", "min_validity"])

    def test_delete(self):
        iid = t.connect(self.p)
        t.token_of(t.get_token(self.p, iid))
        r = t.delete_token(self.p, iid)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertIsNone(t.row(self.p, iid))
        self.assertEqual([a["outcome"] for a in t.audit_rows(self.p, iid, "connection.delete")],
                         ["ok"])
        self.assertJsonError(t.delete_token(self.p, iid), 404, "not_connected")
        self.assertJsonError(t.get_token(self.p, iid), 404, "not_connected")
        self.assertJsonError(t.post_refresh(self.p, iid), 404, "not_connected")

    def answers_after(self, change, iid, key=None):
        """Warms every token worker's cache for iid, runs change() through
        the CLI (its own session), then keeps asking GET /token from 16
        callers at once until a second and a half has passed. Returns the
        token served before and (seconds after the change, answer) pairs."""
        warm = t.concurrently([lambda: t.get_token(self.p, iid, key=key)] * 16)
        self.assertEqual({r.status for r in warm}, {200})
        change()
        t0 = time.monotonic()
        seen = []
        while time.monotonic() - t0 < 1.5:
            sent = time.monotonic() - t0
            for r in t.concurrently([lambda: t.get_token(self.p, iid, key=key)] * 16):
                seen.append((sent, r))
        return warm[0].json()["access_token"], seen

    # Every worker keeps recent answers; a change anywhere reaches them by
    # NOTIFY at their next request, and no answer is kept longer than a
    # second whatever happens to the announcement (issue 3: "takes effect
    # everywhere within one second"). So from one second after the change
    # on, no worker may serve what was changed.

    def test_deleted_connection_is_gone_for_every_worker_within_a_second(self):
        iid = t.connect(self.p)
        token, seen = self.answers_after(lambda: lk.cli("connection", "delete", self.p.name, iid), iid)
        late = [r for sent, r in seen if sent >= 1.0]
        self.assertTrue(late)
        for r in late:
            self.assertNotIn(token, r.text)
            self.assertJsonError(r, 404, "not_connected")

    def test_revoked_key_is_refused_by_every_worker_within_a_second(self):
        iid = t.connect(self.p)
        name, key = f.make_key(self.p.name)
        token, seen = self.answers_after(lambda: lk.cli("key", "revoke", name), iid, key=key)
        late = [r for sent, r in seen if sent >= 1.0]
        self.assertTrue(late)
        for r in late:
            self.assertNotIn(token, r.text)
            self.assertJsonError(r, 401, "unauthorized")

    def test_never_connected_is_404(self):
        self.assertJsonError(t.get_token(self.p, lk.unique("nobody")), 404, "not_connected")

    def test_sealed_access_token_copied_to_another_row_does_not_open(self):
        a = t.connect(self.p)
        b = t.connect(self.p)
        token_a = t.token_of(t.get_token(self.p, a))
        token_b = t.token_of(t.get_token(self.p, b))
        # The tampered row would stay unopenable for later tests (rotate-key).
        self.addCleanup(lk.cli, "connection", "delete", self.p.name, b, check=False)
        lk.sql("UPDATE connections SET access_token = (SELECT access_token FROM connections "
               "WHERE id = :'p1') WHERE id = :'p2'", t.row(self.p, a)["id"], t.row(self.p, b)["id"])
        r = t.get_token(self.p, b)
        self.assertJsonError(r, 500, "internal_error")
        self.assertNotIn(token_a, r.text)
        self.assertNotIn(token_b, r.text)
        # A's own row still opens.
        self.assertEqual(self.assertToken(t.get_token(self.p, a))["access_token"], token_a)

    def test_sealed_refresh_token_copied_to_another_row_does_not_open(self):
        a = t.connect(self.p)
        b = t.connect(self.p)
        self.addCleanup(lk.cli, "connection", "delete", self.p.name, b, check=False)
        lk.sql("UPDATE connections SET refresh_token = (SELECT refresh_token FROM connections "
               "WHERE id = :'p1') WHERE id = :'p2'", t.row(self.p, a)["id"], t.row(self.p, b)["id"])
        t.expire(self.p, b)
        c0 = t.counters()["token_requests"]
        self.assertJsonError(t.get_token(self.p, b), 500, "internal_error")
        self.assertEqual(t.counters()["token_requests"], c0, "nothing may reach the provider")


class ApiKeyTest(t.TokenTestCase):
    """Keys, methods and fields on /token and /refresh (SPEC §2 check order, §7)."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()
        cls.other = f.make_profile()
        cls.iid = t.connect(cls.p, instance_id="team-a-" + lk.unique("u"))

    def test_valid_key(self):
        self.assertToken(t.get_token(self.p, self.iid))

    def test_missing_key_is_401_with_www_authenticate(self):
        r = lk.http("GET", "/token/%s?instance_id=%s" % (self.p.name, self.iid))
        self.assertJsonError(r, 401, "unauthorized")
        self.assertTrue(r.headers["WWW-Authenticate"].startswith("Bearer"), r.headers)

    def test_malformed_and_unknown_keys_are_401(self):
        unknown = "lk_" + secrets.token_urlsafe(32)
        for auth in ("Bearer", "Bearer lk_short", "Basic " + self.p.key, self.p.key,
                     "Bearer " + self.p.key + "x", "Bearer " + self.p.key[:-1] + "!",
                     "Bearer " + unknown):
            with self.subTest(auth=auth[:20]):
                r = lk.http("GET", "/token/%s?instance_id=%s" % (self.p.name, self.iid),
                            headers={"Authorization": auth})
                self.assertJsonError(r, 401, "unauthorized")
                self.assertIn("WWW-Authenticate", r.headers)

    def test_revoked_key_is_401(self):
        name, key = f.make_key(self.p.name)
        self.assertToken(t.get_token(self.p, self.iid, key=key))
        lk.cli("key", "revoke", name)
        self.assertJsonError(t.get_token(self.p, self.iid, key=key), 401, "unauthorized")
        self.assertJsonError(t.post_refresh(self.p, self.iid, key=key), 401, "unauthorized")

    def test_key_for_another_profile_is_403(self):
        self.assertJsonError(t.get_token(self.p, self.iid, key=self.other.key), 403, "forbidden")
        self.assertJsonError(t.post_refresh(self.p, self.iid, key=self.other.key), 403, "forbidden")
        self.assertJsonError(t.delete_token(self.p, self.iid, key=self.other.key), 403, "forbidden")
        self.assertIsNotNone(t.row(self.p, self.iid))

    def test_instance_prefix(self):
        _n, key = f.make_key(self.p.name, instances="team-a-")
        self.assertToken(t.get_token(self.p, self.iid, key=key))
        other_iid = "team-b-" + lk.unique("u")
        self.assertJsonError(t.get_token(self.p, other_iid, key=key), 403, "forbidden")
        self.assertJsonError(t.post_refresh(self.p, other_iid, key=key), 403, "forbidden")
        self.assertJsonError(t.delete_token(self.p, other_iid, key=key), 403, "forbidden")
        # Matching prefix but nothing connected: 404.
        self.assertJsonError(t.get_token(self.p, "team-a-" + lk.unique("none"), key=key), 404,
                             "not_connected")

    def test_star_key_on_unknown_profile_is_404(self):
        _n, key = f.make_key("*")
        self.assertToken(t.get_token(self.p, self.iid, key=key))
        ghost = f.Profile(lk.unique("ghost"), None, None, key, None)
        self.assertJsonError(t.get_token(ghost, "u"), 404, "unknown_profile")
        self.assertJsonError(t.post_refresh(ghost, "u"), 404, "unknown_profile")
        # A key limited to other profiles may not probe names: 403.
        self.assertJsonError(t.get_token(ghost, "u", key=self.p.key), 403, "forbidden")

    def test_bad_instance_ids_are_422(self):
        cases = {"missing": None, "empty": "", "256 bytes": "x" * 256, "4 KiB": "x" * 4096}
        for what, iid in cases.items():
            with self.subTest(what=what):
                if iid is None:
                    path = "/token/%s" % self.p.name
                else:
                    path = "/token/%s?%s" % (self.p.name, t.q(instance_id=iid))
                for method in ("GET", "DELETE"):
                    r = lk.http(method, path, headers=self.p.auth)
                    self.assertValidation(r, ["query", "instance_id"],
                                          "missing" if iid is None else "value_error")
        # 255 bytes is fine (and not connected).
        self.assertJsonError(t.get_token(self.p, "x" * 255), 404, "not_connected")
        # Control characters and bad UTF-8 are refused by lighttpd (400)
        # before they reach the program; the program itself answers 422
        # (run as plain CGI), and POST /refresh bodies reach it.
        for what, raw in (("control char", "ab%01cd"), ("newline", "a%0Ab"), ("DEL", "a%7Fb"),
                          ("bad utf-8", "%FF%FE"), ("NUL", "a%00b")):
            with self.subTest(what=what):
                r = lk.http("GET", "/token/%s?instance_id=%s" % (self.p.name, raw),
                            headers=self.p.auth)
                self.assertIn(r.status, (400, 422), r)
                self.assertNotEqual(r.status // 100, 2)
                status, hdrs, payload = t.cgi("token", "GET", "/token/%s?instance_id=%s"
                                              % (self.p.name, raw), key=self.p.key)
                self.assertEqual(status, 422, payload)
                body = json.loads(payload)
                self.assertEqual(body["error"], "validation_error")
                self.assertEqual([d["loc"] for d in body["detail"]], [["query", "instance_id"]])
        for iid in ("ab\x01cd", "a\nb", "a\x7fb", "a\x00b"):
            with self.subTest(body_instance_id=iid):
                self.assertValidation(t.post_refresh(self.p, iid), ["body", "instance_id"])

    def test_methods(self):
        path = "/token/%s?instance_id=%s" % (self.p.name, self.iid)
        for method in ("POST", "PUT", "PATCH"):
            with self.subTest(method=method):
                r = lk.http(method, path, headers=self.p.auth, body={})
                self.assertJsonError(r, 405, "method_not_allowed")
                self.assertEqual(r.headers["Allow"], "GET, HEAD, DELETE")
        # Method first: no key needed to learn it.
        r = lk.http("POST", path, body={})
        self.assertJsonError(r, 405, "method_not_allowed")
        for method in ("GET", "DELETE", "PUT"):
            with self.subTest(method=method):
                r = lk.http(method, "/refresh/" + self.p.name, headers=self.p.auth)
                self.assertJsonError(r, 405, "method_not_allowed")
                self.assertEqual(r.headers["Allow"], "POST")

    def test_refresh_body_errors(self):
        url = "/refresh/" + self.p.name
        hdrs = dict(self.p.auth, **{"Content-Type": "application/json"})
        for raw in ('{"instance_id": ', "not json", "", '{"instance_id": "a"} x'):
            with self.subTest(raw=raw):
                self.assertJsonError(lk.http("POST", url, headers=hdrs, body=raw), 400,
                                     "invalid_request")
        self.assertValidation(lk.http("POST", url, headers=hdrs, body="{}"),
                              ["body", "instance_id"])
        self.assertValidation(lk.http("POST", url, headers=hdrs, body={"instance_id": 5}),
                              ["body", "instance_id"])
        self.assertValidation(lk.http("POST", url, headers=hdrs, body={"instance_id": ""}),
                              ["body", "instance_id"])
        self.assertValidation(lk.http("POST", url, headers=hdrs,
                                      body={"instance_id": "x" * 256}), ["body", "instance_id"])
        # The key is checked before the body.
        self.assertJsonError(lk.http("POST", url, body="not json",
                                     headers={"Content-Type": "application/json"}), 401,
                             "unauthorized")
        # A good body refreshes.
        self.assertToken(t.post_refresh(self.p, self.iid))


class SiteTest(t.TokenTestCase):
    """A connection with two sites and no default (SPEC §4 step 3, §5)."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()
        f.set_sites([f.SITE_A, f.SITE_B])
        try:
            cls.iid = t.connect(cls.p)
        finally:
            f.set_sites([f.DEFAULT_SITE])

    def expected_sites(self):
        return [{"cloud_id": s["id"], "url": s["url"], "name": s["name"]}
                for s in (f.SITE_A, f.SITE_B)]

    def test_site_required(self):
        row = t.row(self.p, self.iid)
        self.assertNotIn("cloud_id", row["metadata"])
        for r in (t.get_token(self.p, self.iid), t.post_refresh(self.p, self.iid)):
            body = self.assertJsonError(r, 409, "site_required")
            self.assertEqual(sorted(body["sites"], key=lambda s: s["cloud_id"]),
                             self.expected_sites())

    def test_site_by_host_or_cloud_id(self):
        for site, want in (("alpha.atlassian.net", f.SITE_A), ("BETA.Atlassian.NET", f.SITE_B),
                           (f.SITE_B["id"], f.SITE_B), (f.SITE_A["id"], f.SITE_A)):
            with self.subTest(site=site):
                body = self.assertToken(t.get_token(self.p, self.iid, site=site))
                self.assertEqual(body["metadata"]["cloud_id"], want["id"])
                self.assertEqual(body["metadata"]["site_url"], want["url"])
                self.assertEqual(body["api_base_url"],
                                 lk.PROVIDER_URL + "/ex/confluence/" + want["id"])

    def test_site_on_refresh(self):
        t.expire(self.p, self.iid)
        body = self.assertToken(t.post_refresh(self.p, self.iid, site="beta.atlassian.net"))
        self.assertEqual(body["api_base_url"], lk.PROVIDER_URL + "/ex/confluence/" + f.SITE_B["id"])

    def test_unknown_site_is_422(self):
        for site in ("gamma.atlassian.net", "00000000-0000-4000-8000-000000000000"):
            with self.subTest(site=site):
                self.assertValidation(t.get_token(self.p, self.iid, site=site), ["query", "site"])
        self.assertValidation(t.get_token(self.p, self.iid, site="bad site/"), ["query", "site"])
        self.assertValidation(t.post_refresh(self.p, self.iid, site="gamma.atlassian.net"),
                              ["body", "site"])
        self.assertValidation(t.post_refresh(self.p, self.iid, site="bad site/"),
                              ["body", "site"])


class ProviderTroubleTest(t.TokenTestCase):
    """Refresh of an expired token while the provider misbehaves (SPEC §5
    failure classes).  Each test has its own connection."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def setUp(self):
        self.iid = t.connect(self.p)
        self.old = t.token_of(t.get_token(self.p, self.iid))
        self.fam = t.family_of(self.old)
        t.expire(self.p, self.iid)
        self.before = t.row(self.p, self.iid)
        self.audit0 = len(t.audit_rows(self.p, self.iid))
        self.c0 = t.counters()

    def delta(self, name):
        return t.counters()[name] - self.c0[name]

    def assertTokensUnchanged(self, status):
        now = t.row(self.p, self.iid)
        self.assertEqual(now["access_token"], self.before["access_token"])
        self.assertEqual(now["refresh_token"], self.before["refresh_token"])
        self.assertEqual(now["generation"], self.before["generation"])
        self.assertEqual(now["refresh_count"], self.before["refresh_count"])
        self.assertEqual(now["status"], status)
        return now

    def assertAudited(self, outcomes):
        rows = t.audit_rows(self.p, self.iid)[self.audit0:]
        self.assertEqual([a["outcome"] for a in rows], outcomes)
        text = json.dumps(rows)
        secrets_ = {self.p.client_secret, self.p.key} | f.fake_secrets()
        for s in secrets_:
            self.assertNotIn(s, text)
        return rows

    def assertRecovers(self):
        """Without the fault, and once the shared failure's Retry-After has
        passed, the next GET refreshes and all is well again."""
        t.restore_fake()
        c0 = t.counters()["token_refresh"]
        r = t.get_token(self.p, self.iid)  # still held off: no provider call
        self.assertIn(r.status, (200, 502, 503), r)
        self.assertEqual(t.counters()["token_refresh"], c0)
        t.end_hold_off(self.p, self.iid)
        body = self.assertToken(t.get_token(self.p, self.iid))
        self.assertNotEqual(body["access_token"], self.old)
        now = t.row(self.p, self.iid)
        self.assertEqual(now["status"], "active")
        self.assertEqual(now["failure_count"], 0)
        self.assertIsNone(now["last_error"])
        return body

    def test_500_is_503_provider_unavailable(self):
        t.fault(kind="status", status=500)
        r = t.get_token(self.p, self.iid)
        self.assertJsonError(r, 503, "provider_unavailable")
        self.assertRetryAfter(r)
        self.assertEqual(self.delta("token_refresh"), 0)  # the fault answered first
        self.assertEqual(self.delta("faults_applied"), 1)
        now = self.assertTokensUnchanged("refresh_failing")
        self.assertEqual(now["failure_count"], 1)
        self.assertIsNotNone(now["last_error"])
        self.assertAudited(["provider_unavailable"])
        self.assertRecovers()
        self.assertAudited(["provider_unavailable", "ok"])

    def test_429_passes_retry_after_on(self):
        t.fault(kind="status", status=429, retry_after=7)
        r = t.get_token(self.p, self.iid)
        self.assertJsonError(r, 503, "provider_unavailable")
        self.assertRetryAfter(r, 7)
        self.assertTokensUnchanged("refresh_failing")
        self.assertAudited(["provider_unavailable"])
        self.assertRecovers()

    def test_503_with_temporarily_unavailable_on_post_refresh(self):
        t.fault(kind="status", status=503, retry_after=3,
                body=json.dumps({"error": "temporarily_unavailable"}))
        r = t.post_refresh(self.p, self.iid)
        self.assertJsonError(r, 503, "provider_unavailable")
        self.assertRetryAfter(r, 3)
        self.assertTokensUnchanged("refresh_failing")
        self.assertAudited(["provider_unavailable"])

    def test_dropped_connection_is_503(self):
        # count 2: libcurl re-sends once when a reused connection dies.
        t.fault(kind="drop", count=2)
        r = t.get_token(self.p, self.iid)
        self.assertJsonError(r, 503, "provider_unavailable")
        self.assertRetryAfter(r)
        self.assertTokensUnchanged("refresh_failing")
        self.assertAudited(["provider_unavailable"])
        self.assertRecovers()

    def test_garbage_is_502_provider_error(self):
        t.fault(kind="garbage")
        r = t.get_token(self.p, self.iid)
        self.assertJsonError(r, 502, "provider_error")
        # SPEC §5: an answer that cannot be used changes nothing.
        self.assertTokensUnchanged("active")
        self.assertAudited(["provider_error"])
        self.assertRecovers()

    def test_invalid_grant_is_409_reauthorization_required(self):
        lk.fake("POST", "/_fake/revoke", {"family_id": self.fam["family_id"]})
        r = t.get_token(self.p, self.iid)
        body = self.assertJsonError(r, 409, "reauthorization_required")
        self.assertEqual(body["authorize_url"], "%s/authorize/%s" % (lk.LATCHKEY_URL, self.p.name))
        self.assertEqual(self.delta("token_refresh"), 1)
        self.assertEqual(self.delta("token_refresh_rejected"), 1)
        self.assertTokensUnchanged("reauthorization_required")
        self.assertAudited(["reauthorization_required"])
        # From now on the provider is not asked again.
        c1 = t.counters()["token_requests"]
        for r in (t.get_token(self.p, self.iid), t.get_token(self.p, self.iid, min_validity=0),
                  t.post_refresh(self.p, self.iid)):
            body = self.assertJsonError(r, 409, "reauthorization_required")
            self.assertIn("authorize_url", body)
        self.assertEqual(t.counters()["token_requests"], c1)
        self.assertAudited(["reauthorization_required"])
        # Consent again: the connection is replaced in place and works.
        t.connect(self.p, instance_id=self.iid)
        body = self.assertToken(t.get_token(self.p, self.iid))
        self.assertEqual(t.row(self.p, self.iid)["status"], "active")
        self.assertEqual(t.row(self.p, self.iid)["id"], self.before["id"])
        self.assertNotEqual(t.family_of(body["access_token"])["family_id"], self.fam["family_id"])

    def test_invalid_client_is_502_and_flags_profile(self):
        p = f.make_profile()  # its own profile: the flag stays on it
        iid = t.connect(p)
        t.expire(p, iid)
        before = t.row(p, iid)
        t.fault(kind="status", status=401,
                body=json.dumps({"error": "invalid_client", "error_description": "bad secret"}))
        r = t.get_token(p, iid)
        body = self.assertJsonError(r, 502, "provider_error")
        self.assertNotIn(p.client_secret, r.text)
        now = t.row(p, iid)
        self.assertEqual(now["status"], "active")
        for k in ("access_token", "refresh_token", "generation", "failure_count"):
            self.assertEqual(now[k], before[k], k)
        reason = lk.sql("SELECT misconfigured_reason FROM profiles WHERE name = :'p1'", p.name)[0][0]
        self.assertEqual(reason, "invalid_client")
        self.assertIn("invalid_client", body["detail"])
        self.assertEqual([a["outcome"] for a in t.audit_rows(p, iid)], ["provider_error"])
        # Callers share that answer for a while without asking (SPEC §5) ...
        t.restore_fake()
        c0 = t.counters()["token_requests"]
        r = t.get_token(p, iid)
        self.assertJsonError(r, 502, "provider_error")
        self.assertIn("invalid_client", r.json()["detail"])
        self.assertEqual(t.counters()["token_requests"], c0)
        self.assertEqual(t.hold_off(p, iid)[1], "provider_error")
        # ... and the untouched connection refreshes once that has passed.
        t.end_hold_off(p, iid)
        self.assertToken(t.get_token(p, iid))
        self.assertEqual(t.hold_off(p, iid), (None, None))
        self.assertEqual(t.row(p, iid)["status"], "active")

    def test_reply_without_refresh_token_keeps_the_old_one(self):
        lk.fake("POST", "/_fake/config", {"omit_refresh_token": True})
        body = self.assertToken(t.get_token(self.p, self.iid))
        self.assertNotEqual(body["access_token"], self.old)
        now = t.row(self.p, self.iid)
        self.assertEqual(now["refresh_token"], self.before["refresh_token"])
        self.assertNotEqual(now["access_token"], self.before["access_token"])
        self.assertEqual(now["generation"], self.before["generation"] + 1)
        self.assertEqual(now["status"], "active")
        self.assertEqual(t.family_of(body["access_token"])["rotations"], 0)
        self.assertAudited(["ok"])
        # The kept refresh token still works, and now rotates.
        t.restore_fake()
        t.expire(self.p, self.iid)
        self.assertToken(t.get_token(self.p, self.iid))
        self.assertNotEqual(t.row(self.p, self.iid)["refresh_token"], self.before["refresh_token"])
        fam = t.family_of(self.old)
        self.assertEqual(fam["rotations"], 1)
        self.assertFalse(fam["revoked"])

    def test_still_valid_token_is_served_when_refresh_fails(self):
        t.set_expiry(self.p, self.iid, 30)
        before = t.row(self.p, self.iid)
        t.fault(kind="status", status=500)
        r = t.get_token(self.p, self.iid)
        body = self.assertToken(r)
        self.assertIs(body["refresh_failed"], True)
        self.assertEqual(body["access_token"], self.old)
        self.assertTrue(0 < body["expires_in"] <= 30, body)
        self.assertEqual(set(body), TOKEN_KEYS | {"refresh_failed"})
        self.assertEqual(body["status"], "refresh_failing")
        now = t.row(self.p, self.iid)
        self.assertEqual(now["status"], "refresh_failing")
        self.assertEqual(now["access_token"], before["access_token"])
        self.assertEqual(now["refresh_token"], before["refresh_token"])
        self.assertAudited(["provider_unavailable"])
        # The same for POST /refresh, without asking the provider again
        # before the failure's Retry-After has passed (SPEC §5).
        t.fault(kind="status", status=502)
        c0 = t.counters()
        body = self.assertToken(t.post_refresh(self.p, self.iid))
        self.assertIs(body["refresh_failed"], True)
        self.assertEqual(body["access_token"], self.old)
        self.assertEqual(t.counters()["token_requests"], c0["token_requests"])
        t.end_hold_off(self.p, self.iid)
        body = self.assertToken(t.post_refresh(self.p, self.iid))
        self.assertIs(body["refresh_failed"], True)
        self.assertEqual(t.counters()["faults_applied"], c0["faults_applied"] + 1)
        # Recovery: a normal answer again, without refresh_failed.
        body = self.assertRecovers()
        self.assertNotIn("refresh_failed", body)
        self.assertAudited(["provider_unavailable", "provider_unavailable", "ok"])


class ZzNoLeaksTest(t.TokenTestCase):
    """Runs last (classes load in name order): no token, key or client
    secret of this module reached a log file or the database in clear."""

    def test_no_secret_in_logs_or_database(self):
        p = f.make_profile()
        iid = t.connect(p)
        t.expire(p, iid)
        self.assertToken(t.get_token(p, iid))
        f.check_no_leaks(self, p.key_name)


if __name__ == "__main__":
    unittest.main()
