"""End-to-end: POST /authorize/{profile} (the bot's link), GET of the link,
the seed form GET /oauth/{profile}/authorize, and purging (SPEC §2, §4, §7).

Runs through lighttpd against the fake provider and real PostgreSQL; see
tests/e2e/lkstack.py for the stack and lkflow.py for the flow helpers.
"""

import hashlib
import json
import secrets
import unittest
import urllib.parse

import lkassert as lka
import lkflow as f
import lkstack as lk

ALLOWED = "https://app.example.com/done"


def sha256(s):
    return hashlib.sha256(s.encode()).hexdigest()


def tearDownModule():
    f.cleanup()


class Base(lka.Asserts, unittest.TestCase):
    pass


class PostAuthorizeTest(Base):
    """POST /authorize/{profile}: the link (SPEC §4 step 1)."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile(allow_redirect=[ALLOWED])

    def post(self, body, key=None, raw=None, profile=None, headers=None):
        return f.post_link(profile or self.p, body, key=key, raw=raw, headers=headers)

    def test_link_created_with_hashed_link_and_expiry(self):
        iid = lk.unique("user")
        r = self.post({"instance_id": iid})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        self.assertEqual(r.headers["Content-Type"], "application/json")
        body = r.json()
        self.assertEqual(sorted(body), ["authorization_url", "expires_at"])
        prefix = lk.LATCHKEY_URL + "/authorize/" + self.p.name + "?link="
        self.assertTrue(body["authorization_url"].startswith(prefix), body)
        link = f.link_of(body["authorization_url"])
        self.assertRegex(link, r"^[A-Za-z0-9_-]{22,}$")  # >= 128 bits
        self.assertRegex(body["expires_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        rows = lk.sql("SELECT link_hash, instance_id, created_by, "
                      "to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                      "round(extract(epoch FROM expires_at - created_at)) FROM links "
                      "WHERE instance_id = :'p1'", iid)
        self.assertEqual(rows, [[sha256(link), iid, self.p.key_name, body["expires_at"], "900"]])
        # Only the hash is stored.
        self.assertEqual(lk.sql("SELECT count(*) FROM links WHERE link_hash = :'p1'", link), [["0"]])
        audit = lk.sql("SELECT actor, outcome FROM audit_log WHERE action = 'link.create' "
                       "AND profile = :'p1' AND instance_id = :'p2'", self.p.name, iid)
        self.assertEqual(audit, [[self.p.key_name, "ok"]])

    def test_expires_in_sets_link_lifetime(self):
        iid = lk.unique("user")
        self.assertEqual(self.post({"instance_id": iid, "expires_in": 60}).status, 201)
        rows = lk.sql("SELECT round(extract(epoch FROM expires_at - created_at)) FROM links "
                      "WHERE instance_id = :'p1'", iid)
        self.assertEqual(rows, [["60"]])

    # ---- check order (SPEC §2): 405, 401, 403, 404, 400, 422

    def test_put_is_405_with_allow(self):
        r = lk.http("PUT", "/authorize/" + self.p.name, body={"instance_id": "u"})
        body = self.assertJsonError(r, 405, "method_not_allowed")
        self.assertEqual(r.headers["Allow"], "GET, POST")
        self.assertIsInstance(body["detail"], str)

    def test_put_without_key_on_unknown_profile_is_still_405(self):
        r = lk.http("PUT", "/authorize/no-such-" + secrets.token_hex(4), body="{")
        self.assertJsonError(r, 405, "method_not_allowed")

    def test_no_key_is_401_with_www_authenticate(self):
        r = lk.http("POST", "/authorize/" + self.p.name, body={"instance_id": "u"})
        self.assertJsonError(r, 401, "unauthorized")
        self.assertTrue(r.headers["WWW-Authenticate"].startswith("Bearer"), r.headers)

    def test_malformed_and_unknown_keys_are_401(self):
        unknown = "lk_" + secrets.token_urlsafe(32)
        for auth in ("Bearer", "Bearer ", "Bearer lk_short", "Basic " + self.p.key,
                     "Bearer " + self.p.key + "x", "Bearer " + self.p.key[:-1],
                     "Bearer " + unknown, self.p.key):
            with self.subTest(auth=auth[:20]):
                r = lk.http("POST", "/authorize/" + self.p.name, headers={"Authorization": auth},
                            body={"instance_id": "u"})
                self.assertJsonError(r, 401, "unauthorized")
                self.assertTrue(r.headers["WWW-Authenticate"].startswith("Bearer"))

    def test_revoked_key_is_401(self):
        name, key = f.make_key(self.p.name)
        self.assertEqual(self.post({"instance_id": lk.unique("u")}, key=key).status, 201)
        lk.cli("key", "revoke", name)
        r = self.post({"instance_id": lk.unique("u")}, key=key)
        self.assertJsonError(r, 401, "unauthorized")

    def test_key_for_another_profile_is_403(self):
        other = f.make_profile()
        r = self.post({"instance_id": "u"}, key=other.key)
        self.assertJsonError(r, 403, "forbidden")

    def test_key_for_another_profile_on_missing_profile_is_403_not_404(self):
        for name in ("no-such-" + secrets.token_hex(4), "UPPER", "x" * 64):
            with self.subTest(name=name):
                r = lk.http("POST", "/authorize/" + name, headers=self.p.auth,
                            body={"instance_id": "u"})
                self.assertJsonError(r, 403, "forbidden")

    def test_instance_prefix_of_key_is_enforced(self):
        _name, key = f.make_key(self.p.name, instances="team_a_")
        r = self.post({"instance_id": "team_b_x"}, key=key)
        self.assertJsonError(r, 403, "forbidden")
        # The prefix check (403) comes before field checks (422).
        r = self.post({"instance_id": "team_b_x", "scope": "a b"}, key=key)
        self.assertJsonError(r, 403, "forbidden")
        r = self.post({"instance_id": "team_a_" + lk.unique("x")}, key=key)
        self.assertEqual(r.status, 201, r)

    def test_star_key_and_unknown_profile_is_404(self):
        _name, star = f.make_key("*")
        for name in ("no-such-" + secrets.token_hex(4), "UPPER", "x" * 64):
            with self.subTest(name=name):
                r = lk.http("POST", "/authorize/" + name, headers={"Authorization": "Bearer " + star},
                            body={"instance_id": "u"})
                self.assertJsonError(r, 404, "unknown_profile")
        r = self.post({"instance_id": lk.unique("u")}, key=star)
        self.assertEqual(r.status, 201, r)

    def test_order_first_failure_answers(self):
        _name, star = f.make_key("*")
        bad_body = "{not json"
        # no key and a bad body: 401
        r = lk.http("POST", "/authorize/" + self.p.name, body=bad_body,
                    headers={"Content-Type": "application/json"})
        self.assertJsonError(r, 401, "unauthorized")
        # key for another profile and a bad body: 403
        other = f.make_profile()
        r = self.post(None, key=other.key, raw=bad_body)
        self.assertJsonError(r, 403, "forbidden")
        # unknown profile and a bad body: 404
        r = lk.http("POST", "/authorize/no-such-" + secrets.token_hex(4), body=bad_body,
                    headers={"Authorization": "Bearer " + star})
        self.assertJsonError(r, 404, "unknown_profile")
        # bad syntax and (would-be) bad fields: 400
        r = self.post(None, raw='{"instance_id": "", "scope": "a b"')
        self.assertJsonError(r, 400, "invalid_request")

    # ---- body syntax (400, 413) and fields (422)

    def test_malformed_json_is_400(self):
        for raw in ("{", "", "nul", '{"instance_id": "u",}', "\xff\xfe"):
            with self.subTest(raw=raw):
                r = self.post(None, raw=raw)
                self.assertJsonError(r, 400, "invalid_request")

    def test_body_over_max_body_is_413(self):
        raw = json.dumps({"instance_id": "u", "pad": "x" * (64 * 1024)})
        r = self.post(None, raw=raw)
        self.assertJsonError(r, 413, "payload_too_large")
        self.assertEqual(lk.sql("SELECT count(*) FROM links WHERE instance_id = 'u' AND "
                                "profile_id = :'p1'", self.p.sql_id()), [["0"]])

    def test_json_array_is_422(self):
        r = self.post(["instance_id", "u"])
        self.assertValidation(r, ["body"], "model_attributes_type")

    def test_missing_instance_id_is_422(self):
        r = self.post({})
        self.assertValidation(r, ["body", "instance_id"], "missing", "Field required")

    def test_non_string_instance_id_is_422(self):
        for v in (123, None, ["u"], {"a": 1}, True):
            with self.subTest(v=v):
                r = self.post({"instance_id": v})
                if v is None:  # null is an absent member
                    self.assertValidation(r, ["body", "instance_id"], "missing")
                    continue
                self.assertValidation(r, ["body", "instance_id"], "string_type")

    def test_bad_instance_ids_are_422(self):
        for v in ("", "a\x01b", "tab\there", "nl\n", "x" * 256, "del\x7f"):
            with self.subTest(v=v[:10]):
                r = self.post({"instance_id": v})
                self.assertValidation(r, ["body", "instance_id"], "value_error")
        # 255 bytes and non-ASCII printable UTF-8 are fine.
        self.assertEqual(self.post({"instance_id": "y" * 254 + secrets.choice("abc")}).status, 201)
        self.assertEqual(self.post({"instance_id": "ü-" + lk.unique("user")}).status, 201)

    def test_nul_in_a_string_field_is_422_not_truncated(self):
        # json "\u0000" must not silently shorten the value (it would make
        # a link for another instance id than the bot asked for).
        iid = lk.unique("nul")
        r = self.post(None, raw='{"instance_id": "%s\\u0000evil"}' % iid)
        self.assertValidation(r, ["body", "instance_id"], "value_error")
        r = self.post(None, raw='{"instance_id": "%s", "redirect_url": "%s\\u0000x"}' % (iid, ALLOWED))
        self.assertValidation(r, ["body", "redirect_url"], "value_error")
        self.assertEqual(lk.sql("SELECT count(*) FROM links WHERE instance_id = :'p1'", iid), [["0"]])

    def test_bad_scope_is_422(self):
        for v in ("a b", "a,,b", "", ",", 'a"b'):
            with self.subTest(v=v):
                r = self.post({"instance_id": "u", "scope": v})
                self.assertValidation(r, ["body", "scope"], "value_error")
        r = self.post({"instance_id": "u", "scope": 7})
        self.assertValidation(r, ["body", "scope"], "string_type")

    def test_expires_in_out_of_range_is_422(self):
        for v in (59, 7 * 86400 + 1):
            with self.subTest(v=v):
                r = self.post({"instance_id": "u", "expires_in": v})
                self.assertValidation(r, ["body", "expires_in"], "value_error")
        for v in (0, -5, "900", 1.5):
            with self.subTest(v=v):
                r = self.post({"instance_id": "u", "expires_in": v})
                self.assertValidation(r, ["body", "expires_in"], "int_type")
        self.assertEqual(self.post({"instance_id": lk.unique("u"), "expires_in": 7 * 86400}).status,
                         201)

    def test_unknown_client_id_is_422(self):
        r = self.post({"instance_id": "u", "client_id": "no-such-client"})
        self.assertValidation(r, ["body", "client_id"], "value_error")
        r = self.post({"instance_id": "u", "client_id": "c" * 600})
        self.assertValidation(r, ["body", "client_id"], "value_error")

    def test_bad_site_is_422(self):
        r = self.post({"instance_id": "u", "site": "acme atlassian"})
        self.assertValidation(r, ["body", "site"], "value_error")

    # ---- redirect_url allow-list (SPEC §3)

    def test_redirect_url_on_allow_list_is_accepted(self):
        for url in (ALLOWED, ALLOWED + "/", ALLOWED + "/sub/page?x=1&y=2",
                    "https://app.example.com:443/done"):
            with self.subTest(url=url):
                r = self.post({"instance_id": lk.unique("u"), "redirect_url": url})
                self.assertEqual(r.status, 201, r)

    def test_redirect_url_off_allow_list_is_422(self):
        bad = [
            "https://evil.example/done",                      # other host
            "https://notapp.example.com/done",                # suffix of the host
            "https://x.app.example.com/done",                 # subdomain
            "https://app.example.com.evil.example/done",      # allowed host as a prefix
            "//evil.example/done",                            # scheme-relative
            "/done",                                          # relative
            "https://app.example.com@evil.example/done",      # userinfo
            "https://user:pw@app.example.com/done",           # userinfo on the right host
            "https://app.example.com:8443/done",              # other port
            "http://app.example.com/done",                    # http vs https
            "https://app.example.com/done2",                  # path prefix without '/'
            "https://app.example.com/",                       # parent path
            "https://app.example.com/done/../admin",          # dot segments
            "https://app.example.com/done/%2e%2e/admin",      # encoded dot segments
            "https://app.example.com/done/./x",               # single dot
            "https://app.example.com/done%2Fx",               # encoded slash
            "https://app.example.com/done%2fx",
            "https://app.example.com/done%5cx",               # encoded backslash
            "https://app.example.com/done\\x",                # backslash
            "https://app.example.com\\@evil.example/done",
            "https://app.example.com/done#frag",              # fragment
            "https://app.example.com/done x",                 # space
            "javascript:alert(1)",
            "ftp://app.example.com/done",
        ]
        for url in bad:
            with self.subTest(url=url):
                r = self.post({"instance_id": "u", "redirect_url": url})
                self.assertValidation(r, ["body", "redirect_url"], "value_error")
        self.assertEqual(lk.sql("SELECT count(*) FROM links WHERE instance_id = 'u' AND "
                                "profile_id = :'p1'", self.p.sql_id()), [["0"]])

    def test_redirect_url_without_allow_list_is_422(self):
        p = f.make_profile()
        r = f.post_link(p, {"instance_id": "u", "redirect_url": ALLOWED})
        self.assertValidation(r, ["body", "redirect_url"], "value_error")

    def test_several_field_errors_are_all_listed(self):
        r = self.post({"instance_id": "", "scope": "a b", "redirect_url": "https://evil.example/"})
        body = self.assertJsonError(r, 422, "validation_error")
        locs = [d["loc"] for d in body["detail"]]
        self.assertEqual(locs, [["body", "instance_id"], ["body", "scope"], ["body", "redirect_url"]])


class LinkGetTest(Base):
    """GET /authorize/{profile}?link=…: expiry, unknown profiles, purging."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def test_unknown_profile_is_404_page(self):
        link, _ = f.new_link(self.p)
        q = urllib.parse.urlsplit(link).query
        flows = f.count("flows", self.p)
        for name in ("no-such-" + secrets.token_hex(4), "UPPER", "x" * 64, "Ab"):
            with self.subTest(name=name):
                r = lk.http("GET", "/authorize/%s?%s" % (name, q))
                self.assertPage(r, 404, "There is no such service")
                self.assertNotIn("Set-Cookie", r.headers)
                r = lk.http("GET", "/callback/%s?code=abc&state=def" % name)
                self.assertPage(r, 404, "There is no such service")
        self.assertEqual(f.count("flows", self.p), flows)

    def test_link_of_another_profile_is_410(self):
        other = f.make_profile()
        link, _ = f.new_link(other)
        flows = f.count("flows", self.p)
        r = lk.http("GET", "/authorize/%s?%s" % (self.p.name, urllib.parse.urlsplit(link).query))
        self.assertPage(r, 410, "expired")
        self.assertEqual(f.count("flows", self.p), flows)

    def test_missing_or_bogus_link(self):
        r = lk.http("GET", "/authorize/" + self.p.name)
        self.assertPage(r, 422)
        r = lk.http("GET", "/authorize/%s?link=" % self.p.name)
        self.assertPage(r, 422)
        r = lk.http("GET", "/authorize/%s?link=%s" % (self.p.name, secrets.token_urlsafe(32)))
        self.assertPage(r, 410, "expired")
        r = lk.http("GET", "/authorize/%s?link=%s" % (self.p.name, "x" * 300))
        self.assertPage(r, 410)

    def test_expired_link_is_410(self):
        link, iid = f.new_link(self.p)
        lk.sql("UPDATE links SET expires_at = now() - interval '1 second' WHERE link_hash = :'p1'",
               sha256(f.link_of(link)))
        b = lk.Browser()
        r = b.get(link)
        self.assertPage(r, 410, "This link has expired or was already used")
        self.assertNotIn("Set-Cookie", r.headers)
        self.assertEqual(lk.sql("SELECT count(*) FROM flows WHERE instance_id = :'p1'", iid), [["0"]])
        self.assertEqual(f.connections(self.p, iid), [])

    def test_link_can_be_opened_again_until_completed(self):
        link, iid = f.new_link(self.p)
        b1, b2 = lk.Browser(), lk.Browser()
        r1 = f.start(b1, link)
        f.start(b2, link)  # opened twice: two flows, the link still stands
        self.assertEqual(lk.sql("SELECT count(*) FROM flows WHERE instance_id = :'p1'", iid), [["2"]])
        back = f.consent(b1, r1)
        self.assertEqual(b1.follow(back).status, 200)
        f.remember_verifier()
        # A completed connection uses the link up.
        self.assertEqual(lk.sql("SELECT count(*) FROM links WHERE link_hash = :'p1'",
                                sha256(f.link_of(link))), [["0"]])
        r = lk.Browser().get(link)
        self.assertPage(r, 410)
        self.assertEqual(len(f.connections(self.p, iid)), 1)

    def test_link_whose_scopes_cannot_be_read_is_refused(self):
        """The scopes a link asked for, or no flow: never quietly none or the
        profile's default ones (issue 10: no result is ignored)."""
        link, iid = f.new_link(self.p, scope="read:x")
        lk.sql("UPDATE links SET scopes = '\"read:x\"'::jsonb WHERE link_hash = :'p1'", sha256(f.link_of(link)))
        r = lk.Browser().get(link)
        self.assertPage(r, 500, "This connection could not be made")
        self.assertNotIn("Location", r.headers)
        self.assertNotIn("Set-Cookie", r.headers)
        self.assertEqual(lk.sql("SELECT count(*) FROM flows WHERE instance_id = :'p1'", iid), [["0"]])

    def test_purge_removes_expired_links_and_flows(self):
        # Expired rows are kept an hour (a late browser still hears 410),
        # then purged by the next authorize request.
        old_link, _ = f.new_link(self.p)
        flow_link, _ = f.new_link(self.p)
        r = f.start(lk.Browser(), flow_link)
        state = f.query(r.headers["Location"])["state"]
        lk.sql("UPDATE links SET expires_at = now() - interval '61 minutes' WHERE link_hash = :'p1';"
               "UPDATE flows SET expires_at = now() - interval '61 minutes' WHERE state_hash = :'p2'",
               sha256(f.link_of(old_link)), sha256(state))
        self.assertEqual(lk.sql("SELECT (SELECT count(*) FROM links WHERE link_hash = :'p1'), "
                                "(SELECT count(*) FROM flows WHERE state_hash = :'p2')",
                                sha256(f.link_of(old_link)), sha256(state)), [["1", "1"]])
        # The next authorize request (purge_interval = 0 in the test config).
        fresh, _ = f.new_link(self.p)
        f.start(lk.Browser(), fresh)
        self.assertEqual(lk.sql("SELECT (SELECT count(*) FROM links WHERE link_hash = :'p1'), "
                                "(SELECT count(*) FROM flows WHERE state_hash = :'p2')",
                                sha256(f.link_of(old_link)), sha256(state)), [["0", "0"]])
        # Live ones stay.
        self.assertEqual(lk.sql("SELECT count(*) FROM links WHERE link_hash = :'p1'",
                                sha256(f.link_of(fresh))), [["1"]])


class SeedFormTest(Base):
    """GET /oauth/{profile}/authorize?instance_id=… (the seed's form)."""

    REDIRECT = "https://app.example.com/done"

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile(allow_redirect=[cls.REDIRECT], direct=True)
        cls.closed = f.make_profile(allow_redirect=[cls.REDIRECT])

    def seed_url(self, profile, **q):
        return "/oauth/%s/authorize?%s" % (profile.name, urllib.parse.urlencode(q))

    def test_seed_form_connects(self):
        iid = lk.unique("seed")
        b = lk.Browser()
        r = b.get(self.seed_url(self.p, instance_id=iid, scope="a,b", redirect_url=self.REDIRECT))
        self.assertEqual(r.status, 302, r)
        loc = r.headers["Location"]
        self.assertTrue(loc.startswith(lk.PROVIDER_URL + "/authorize?"), loc)
        q = f.query(loc)
        self.assertEqual(q["scope"], "a b offline_access")
        self.assertEqual(q["redirect_uri"], self.p.callback)
        self.assertEqual(len(r.set_cookies), 1)
        f.remember(q["state"], *b.jar.values())
        self.assertEqual(lk.sql("SELECT no_replace, link_id FROM flows WHERE state_hash = :'p1'",
                                sha256(q["state"])), [["t", None]])
        back = f.consent(b, r)
        cb = b.follow(back)
        self.assertEqual(cb.status, 302, cb)
        self.assertEqual(cb.headers["Location"], self.REDIRECT + "?" + urllib.parse.urlencode(
            [("status", "success"), ("profile", self.p.name), ("instance_id", iid)]))
        rows = f.connections(self.p, iid)
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["scope"], "a b offline_access")
        self.assertEqual(rows[0]["status"], "active")

    def test_seed_form_needs_allow_direct_authorize(self):
        iid = lk.unique("seed")
        r = lk.http("GET", self.seed_url(self.closed, instance_id=iid))
        self.assertPage(r, 403, "Direct authorization is not enabled")
        self.assertNotIn("Set-Cookie", r.headers)
        self.assertEqual(f.count("flows", self.closed), 0)

    def test_seed_form_validates_fields(self):
        flows = f.count("flows", self.p)
        r = lk.http("GET", self.seed_url(self.p))
        self.assertPage(r, 422, "Field required")
        r = lk.http("GET", self.seed_url(self.p, instance_id="u", redirect_url="https://evil.example/"))
        self.assertPage(r, 422, "allow-list")
        r = lk.http("GET", "/oauth/%s/authorize?instance_id=a&instance_id=b" % self.p.name)
        self.assertPage(r, 400, "more than once")
        r = lk.http("GET", self.seed_url(self.p, instance_id="u") + "&client_id=nope")
        self.assertPage(r, 422, "no such client")
        self.assertEqual(f.count("flows", self.p), flows)

    def test_seed_form_unknown_profile_is_404(self):
        r = lk.http("GET", "/oauth/no-such-%s/authorize?instance_id=u" % secrets.token_hex(4))
        self.assertPage(r, 404, "There is no such service")

    def test_seed_form_post_is_405(self):
        r = lk.http("POST", self.seed_url(self.p, instance_id="u"), headers=self.p.auth,
                    body={"instance_id": "u"})
        self.assertJsonError(r, 405, "method_not_allowed")
        self.assertEqual(r.headers["Allow"], "GET")

    def test_seed_form_refuses_existing_connection(self):
        iid, _ = f.connect(self.p)
        before = f.connections(self.p, iid)
        r = lk.Browser().get(self.seed_url(self.p, instance_id=iid))
        self.assertPage(r, 409, "already connected")
        self.assertNotIn("Set-Cookie", r.headers)
        self.assertEqual(lk.sql("SELECT count(*) FROM flows WHERE instance_id = :'p1'", iid), [["0"]])
        self.assertEqual(f.connections(self.p, iid), before)

    def test_seed_form_never_replaces_a_connection_made_meanwhile(self):
        iid = lk.unique("seed")
        b = lk.Browser()
        r = b.get(self.seed_url(self.p, instance_id=iid))
        self.assertEqual(r.status, 302, r)
        f.remember(f.query(r.headers["Location"])["state"], *b.jar.values())
        # Meanwhile a link connects the same instance.
        f.connect(self.p, iid)
        before = f.connections(self.p, iid)
        self.assertEqual(before[0]["generation"], 1)
        back = f.consent(b, r)
        cb = b.follow(back)
        self.assertPage(cb, 409, "already connected")
        self.assertEqual(f.connections(self.p, iid), before)

    def test_seed_form_existing_connection_with_redirect(self):
        iid = lk.unique("seed")
        b = lk.Browser()
        r = b.get(self.seed_url(self.p, instance_id=iid, redirect_url=self.REDIRECT))
        self.assertEqual(r.status, 302, r)
        f.remember(f.query(r.headers["Location"])["state"], *b.jar.values())
        f.connect(self.p, iid)
        before = f.connections(self.p, iid)
        cb = b.follow(f.consent(b, r))
        self.assertEqual(cb.status, 302, cb)
        q = f.query(cb.headers["Location"])
        self.assertEqual(q["status"], "error")
        self.assertEqual(q["error"], "already_connected")
        self.assertEqual(f.connections(self.p, iid), before)


class CliLinkTest(Base):
    """latchkey link: an authorization link made by the admin (SPEC §9)."""

    def test_cli_link_connects(self):
        p = f.make_profile(allow_redirect=[ALLOWED])
        iid = lk.unique("cli")
        _rc, out, _err = lk.cli("link", p.name, iid, "--scope", "a,b", "--redirect-url", ALLOWED,
                                "--json")
        body = json.loads(out)
        self.assertEqual(sorted(body), ["authorization_url", "expires_at"])
        f.remember(f.link_of(body["authorization_url"]))
        self.assertEqual(lk.sql("SELECT created_by, scopes::text, redirect_url FROM links "
                                "WHERE link_hash = :'p1'", sha256(f.link_of(body["authorization_url"]))),
                         [["cli", '["a", "b", "offline_access"]', ALLOWED]])
        b = lk.Browser()
        r = f.start(b, body["authorization_url"])
        self.assertEqual(f.query(r.headers["Location"])["scope"], "a b offline_access")
        cb = b.follow(f.consent(b, r))
        f.remember_verifier()
        self.assertEqual(cb.status, 302)
        self.assertEqual(f.query(cb.headers["Location"])["status"], "success")
        _rc, out, _err = lk.cli("connection", "list", p.name, "--json")
        self.assertEqual([(c["instance_id"], c["status"]) for c in json.loads(out)], [(iid, "active")])

    def test_cli_link_refuses_bad_fields(self):
        p = f.make_profile(allow_redirect=[ALLOWED])
        for args, why in ((["--redirect-url", "https://evil.example/"], "allow-list"),
                          (["--scope", "a b"], "scope"),
                          (["--client-id", "nope"], "no such client"),
                          (["--expires-in", "600x"], "expires_in"),
                          (["--expires-in", "+600"], "expires_in"),
                          (["--expires-in", "59"], "expires_in")):
            with self.subTest(args=args):
                rc, out, err = lk.cli("link", p.name, "u", *args, check=False)
                self.assertEqual(rc, 1)
                self.assertEqual(out, "")
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn(why, err)
        rc, _out, err = lk.cli("link", "no-such-" + secrets.token_hex(4), "u", check=False)
        self.assertEqual(rc, 1)
        self.assertIn("no such profile", err)
        self.assertEqual(f.count("links", p), 0)


class ZzNoLeakTest(Base):
    """Case 14, last in this module (classes run in name order): no link,
    API key, state, cookie, code or token used by this module's tests is in
    the stack's logs or in a pg_dump."""

    def test_no_secret_in_logs_or_database(self):
        p = f.make_profile(direct=True)
        self.assertEqual(f.post_link(p, {"instance_id": ""}).status, 422)
        self.assertEqual(f.post_link(p, None, raw="{").status, 400)
        link, _ = f.new_link(p)
        lk.sql("UPDATE links SET expires_at = now() - interval '1 second' WHERE link_hash = :'p1'",
               sha256(f.link_of(link)))
        self.assertEqual(lk.http("GET", link).status, 410)
        b = lk.Browser()
        r = b.get("/oauth/%s/authorize?instance_id=%s" % (p.name, lk.unique("seed")))
        self.assertEqual(r.status, 302)
        f.remember(f.query(r.headers["Location"])["state"], *b.jar.values())
        self.assertEqual(b.follow(f.consent(b, r)).status, 200)
        f.remember_verifier()
        f.check_no_leaks(self, p.key_name)


if __name__ == "__main__":
    unittest.main()
