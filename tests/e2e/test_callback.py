"""End-to-end: the browser flow from the link to the callback (SPEC §4),
with the fake provider's real consent page, through lighttpd, with real
PostgreSQL.  See lkflow.py for the helpers.
"""

import base64
import hashlib
import http.client
import json
import re
import secrets
import threading
import unittest
import urllib.parse

import lkassert as lka
import lkflow as f
import lkstack as lk

REDIRECT = "https://app.example.com/done"


def sha256(s):
    return hashlib.sha256(s.encode()).hexdigest()


def s256(verifier):
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def tearDownModule():
    f.cleanup()


class Base(lka.Asserts, unittest.TestCase):
    def tearDown(self):
        lk.fake("POST", "/_fake/fault/clear")
        lk.fake("POST", "/_fake/config", {"auto_approve": False})
        f.set_sites([f.DEFAULT_SITE])

    def assertRedirectTo(self, r, base, params):
        self.assertEqual(r.status, 302, r)
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        self.assertEqual(r.headers["Referrer-Policy"], "no-referrer")
        sep = "&" if "?" in base else "?"
        self.assertEqual(r.headers["Location"], base + sep + urllib.parse.urlencode(params))

    def assertClearsCookie(self, r, name, profile):
        self.assertEqual(r.set_cookies, [
            "%s=; Path=/latchkey/callback/%s; Max-Age=0; HttpOnly; SameSite=Lax" % (name, profile.name)])

    def assertNothingStored(self, profile, iid):
        self.assertEqual(f.connections(profile, iid), [])
        self.assertEqual(lk.sql("SELECT count(*) FROM flows WHERE instance_id = :'p1'", iid), [["0"]])


class WholeFlowTest(Base):
    """Case 1: the whole flow with a cookie jar."""

    def test_whole_flow(self):
        p = f.make_profile()
        iid = lk.unique("user")
        # 1. the bot asks for a link
        r = f.post_link(p, {"instance_id": iid})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        link_url = r.json()["authorization_url"]
        self.assertRegex(r.json()["expires_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        link = f.link_of(link_url)
        link_id = lk.sql("SELECT id FROM links WHERE link_hash = :'p1'", sha256(link))[0][0]

        # 2. the browser opens it
        b = lk.Browser()
        r = b.get(link_url)
        self.assertEqual(r.status, 302, r)
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        self.assertEqual(r.headers["Referrer-Policy"], "no-referrer")
        loc = r.headers["Location"]
        self.assertTrue(loc.startswith(lk.PROVIDER_URL + "/authorize?"), loc)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query, keep_blank_values=True)
        self.assertTrue(all(len(v) == 1 for v in q.values()), q)
        q = {k: v[0] for k, v in q.items()}
        self.assertEqual(sorted(q), sorted([
            "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
            "code_challenge_method", "audience", "prompt"]))
        self.assertEqual(q["response_type"], "code")
        self.assertEqual(q["client_id"], p.client_id)
        self.assertEqual(q["redirect_uri"], p.callback)
        self.assertEqual(q["scope"], " ".join(f.ATLASSIAN_SCOPES))
        self.assertIn("offline_access", q["scope"].split(" "))
        self.assertEqual(q["code_challenge_method"], "S256")
        self.assertRegex(q["code_challenge"], r"^[A-Za-z0-9_-]{43}$")
        self.assertEqual(q["audience"], "api.atlassian.com")
        self.assertEqual(q["prompt"], "consent")
        state = q["state"]
        self.assertRegex(state, r"^[A-Za-z0-9_-]{22,}$")
        self.assertNotIn(" ", loc)  # the scope separator is percent-encoded
        self.assertEqual(len(r.set_cookies), 1)
        m = re.fullmatch(r"(lkf_[0-9a-f]{16})=([A-Za-z0-9_-]{22,}); Path=/latchkey/callback/%s; "
                         r"Max-Age=600; HttpOnly; SameSite=Lax" % re.escape(p.name), r.set_cookies[0])
        self.assertTrue(m, r.set_cookies)
        self.assertNotIn("Secure", r.set_cookies[0])  # cookie_secure = false in the test config
        cookie_name, cookie_value = m.groups()
        f.remember(state, cookie_value)
        flow = lk.sql("SELECT cookie_name, cookie_hash, link_id, instance_id, redirect_uri, "
                      "scopes::text, no_replace, left(pkce_verifier, 4), "
                      "round(extract(epoch FROM expires_at - created_at)) FROM flows "
                      "WHERE state_hash = :'p1'", sha256(state))
        self.assertEqual(len(flow), 1)
        row = flow[0]
        self.assertEqual(row[0:5], [cookie_name, sha256(cookie_value), link_id, iid, p.callback])
        self.assertEqual(json.loads(row[5]), f.ATLASSIAN_SCOPES)
        self.assertEqual(row[6:], ["f", "lk1.", "600"])
        # No secret in clear in the flow row.
        dump = "\t".join(lk.sql("SELECT f::text FROM flows f WHERE state_hash = :'p1'",
                                sha256(state))[0])
        self.assertNotIn(state, dump)
        self.assertNotIn(cookie_value, dump)

        # 3. the fake's consent page: approve
        back = f.consent(b, r)
        cb_loc = back.headers["Location"]
        self.assertTrue(cb_loc.startswith(p.callback + "?"), cb_loc)
        self.assertEqual(f.query(cb_loc)["state"], state)

        # 4. the callback
        cb = b.follow(back)
        f.remember_verifier()
        self.assertPage(cb, 200, "You&#39;re all set")
        self.assertIn("<title>Connected · Latchkey</title>", cb.text)
        self.assertIn("Your Atlassian Confluence account (acme) is now connected.", cb.text)
        self.assertClearsCookie(cb, cookie_name, p)
        self.assertEqual(b.jar, {})
        self.assertNotIn(state, cb.text)

        # the provider saw the verifier and the same redirect_uri, as JSON
        tr = lk.fake("GET", "/_fake/last_token_request")
        self.assertEqual(tr["style"], "json")
        self.assertEqual(tr["content_type"], "application/json")
        self.assertEqual(tr["grant_type"], "authorization_code")
        self.assertEqual(tr["params"]["redirect_uri"], p.callback)
        self.assertEqual(tr["params"]["code"], f.query(cb_loc)["code"])
        self.assertEqual(tr["params"]["client_id"], p.client_id)
        self.assertEqual(tr["params"]["client_secret"], p.client_secret)
        self.assertEqual(s256(tr["params"]["code_verifier"]), q["code_challenge"])

        # the database
        rows = f.connections(p)
        self.assertEqual(len(rows), 1, rows)
        c = rows[0]
        self.assertEqual(c["instance_id"], iid)
        self.assertEqual(c["status"], "active")
        self.assertEqual(c["generation"], 1)
        self.assertIsNone(c["client_id"])
        self.assertEqual(c["token_type"], "Bearer")
        self.assertEqual(c["scope"], " ".join(f.ATLASSIAN_SCOPES))
        self.assertTrue(c["access_token"].startswith("lk1."), c)
        self.assertTrue(c["refresh_token"].startswith("lk1."), c)
        fam = [x for x in lk.fake("GET", "/_fake/tokens")["families"]
               if x["client_id"] == p.client_id]
        self.assertEqual(len(fam), 1)
        self.assertNotIn(fam[0]["access_tokens"][0], c["access_token"])
        self.assertNotIn(fam[0]["current_refresh_token"], c["refresh_token"])
        self.assertEqual(c["metadata"], {
            "cloud_id": f.DEFAULT_SITE["id"], "site_url": f.DEFAULT_SITE["url"],
            "site_name": f.DEFAULT_SITE["name"],
            "sites": [{"cloud_id": f.DEFAULT_SITE["id"], "url": f.DEFAULT_SITE["url"],
                       "name": f.DEFAULT_SITE["name"]}]})
        self.assertEqual(lk.sql("SELECT count(*) FROM links WHERE id = :'p1'", link_id), [["0"]])
        self.assertEqual(lk.sql("SELECT count(*) FROM flows WHERE state_hash = :'p1'", sha256(state)),
                         [["0"]])
        audit = lk.sql("SELECT actor, action, outcome FROM audit_log WHERE profile = :'p1' "
                       "AND instance_id = :'p2' ORDER BY id", p.name, iid)
        self.assertEqual(audit, [[p.key_name, "link.create", "ok"],
                                 ["browser", "connection.authorize", "ok"]])

        # the CLI
        _rc, out, _err = lk.cli("connection", "show", p.name, iid, "--json")
        shown = json.loads(out)
        self.assertEqual(shown["profile"], p.name)
        self.assertEqual(shown["instance_id"], iid)
        self.assertEqual(shown["status"], "active")
        self.assertRegex(shown["expires_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(shown["metadata"], c["metadata"])
        self.assertNotIn("lk1.", out)
        self.assertNotIn("access_token", shown)
        self.assertNotIn("refresh_token", shown)

        # the link is used up
        r = lk.Browser().get(link_url)
        self.assertPage(r, 410)

    def test_two_tabs_run_flows_at_once(self):
        p = f.make_profile()
        link1, iid1 = f.new_link(p)
        link2, iid2 = f.new_link(p)
        b = lk.Browser()
        r1 = f.start(b, link1)
        r2 = f.start(b, link2)
        self.assertEqual(len(b.jar), 2)  # two cookies, one per flow
        cb2 = b.follow(f.consent(b, r2))
        self.assertPage(cb2, 200)
        cb1 = b.follow(f.consent(b, r1))
        self.assertPage(cb1, 200)
        self.assertEqual(b.jar, {})
        self.assertEqual([c["instance_id"] for c in f.connections(p)], [iid2, iid1])


class RedirectTest(Base):
    """Case 2: redirect_url on success and on denial; a page without it."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile(allow_redirect=[REDIRECT])

    def test_success_redirects_to_redirect_url(self):
        url = REDIRECT + "/step?from=app"
        link, iid = f.new_link(self.p, redirect_url=url)
        b = lk.Browser()
        cb = f.complete(b, link)
        self.assertRedirectTo(cb, url, [("status", "success"), ("profile", self.p.name),
                                        ("instance_id", iid)])
        self.assertEqual(b.jar, {})
        self.assertEqual(len(f.connections(self.p, iid)), 1)

    def test_deny_redirects_with_access_denied(self):
        link, iid = f.new_link(self.p, redirect_url=REDIRECT)
        b = lk.Browser()
        cb = f.complete(b, link, decision="deny")
        self.assertRedirectTo(cb, REDIRECT, [("status", "error"), ("error", "access_denied"),
                                             ("profile", self.p.name), ("instance_id", iid)])
        self.assertEqual(b.jar, {})
        self.assertNothingStored(self.p, iid)
        # The link was not used up: the user may try again.
        self.assertEqual(lk.sql("SELECT count(*) FROM links WHERE link_hash = :'p1'",
                                sha256(f.link_of(link))), [["1"]])
        audit = lk.sql("SELECT outcome FROM audit_log WHERE action = 'connection.authorize' "
                       "AND instance_id = :'p1'", iid)
        self.assertEqual(audit, [["access_denied"]])

    def test_deny_without_redirect_is_403_page(self):
        link, iid = f.new_link(self.p)
        b = lk.Browser()
        cb = f.complete(b, link, decision="deny")
        self.assertPage(cb, 403, "You declined access")
        self.assertEqual(b.jar, {})
        self.assertNothingStored(self.p, iid)

    def test_provider_error_other_than_denied(self):
        link, iid = f.new_link(self.p)
        b = lk.Browser()
        r = f.start(b, link)
        state = f.query(r.headers["Location"])["state"]
        cb = b.get("%s?error=server_error%%3Cscript%%3E&state=%s" % (self.p.callback, state))
        self.assertPage(cb, 502, "unknown")
        self.assertNotIn("<script>", cb.text)
        self.assertNothingStored(self.p, iid)


class ScopeAndClientTest(Base):
    """Cases 3 and 4: scopes of a link; white-label clients."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def test_link_scopes_reach_the_provider(self):
        link, iid = f.new_link(self.p, scope="a,b")
        b = lk.Browser()
        r = f.start(b, link)
        self.assertEqual(f.query(r.headers["Location"])["scope"], "a b offline_access")
        cb = b.follow(f.consent(b, r))
        self.assertPage(cb, 200)
        self.assertEqual(lk.fake("GET", "/_fake/last_authorize_request")["scope"], "a b offline_access")
        self.assertEqual(f.connections(self.p, iid)[0]["scope"], "a b offline_access")

    def test_offline_access_is_not_doubled(self):
        link, _ = f.new_link(self.p, scope="offline_access,read:x")
        r = f.start(lk.Browser(), link)
        self.assertEqual(f.query(r.headers["Location"])["scope"], "offline_access read:x")

    def test_white_label_client(self):
        wl, wl_secret = f.add_client(self.p)
        link, iid = f.new_link(self.p, client_id=wl)
        self.assertEqual(lk.sql("SELECT client_id FROM links WHERE link_hash = :'p1'",
                                sha256(f.link_of(link))), [[wl]])
        b = lk.Browser()
        r = f.start(b, link)
        q = f.query(r.headers["Location"])
        self.assertEqual(q["client_id"], wl)
        self.assertEqual(q["redirect_uri"], self.p.callback)
        cb = b.follow(f.consent(b, r))
        self.assertPage(cb, 200)
        self.assertEqual(lk.fake("GET", "/_fake/last_authorize_request")["client_id"], wl)
        tr = lk.fake("GET", "/_fake/last_token_request")
        self.assertEqual(tr["client_id"], wl)
        self.assertEqual(tr["params"]["client_secret"], wl_secret)
        rows = f.connections(self.p, iid)
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["client_id"], wl)
        shown = json.loads(lk.cli("connection", "show", self.p.name, iid, "--json")[1])
        self.assertEqual(shown["client_id"], wl)

    def test_white_label_client_with_own_callback(self):
        # A client with its own callback URL: the flow uses it as redirect_uri.
        cb_url = lk.LATCHKEY_URL + "/callback/" + self.p.name
        wl, _ = f.add_client(self.p, callback=cb_url)
        link, iid = f.new_link(self.p, client_id=wl)
        cb = f.complete(lk.Browser(), link)
        self.assertPage(cb, 200)
        self.assertEqual(f.connections(self.p, iid)[0]["client_id"], wl)

    def test_unknown_client_id_is_422(self):
        r = f.post_link(self.p, {"instance_id": "u", "client_id": "wl-unknown"})
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.json(), {"error": "validation_error", "detail": [{
            "loc": ["body", "client_id"], "msg": "Value error, this profile has no such client",
            "type": "value_error"}]})

    def test_profile_own_client_id_is_the_default_client(self):
        link, iid = f.new_link(self.p, client_id=self.p.client_id)
        b = lk.Browser()
        r = f.start(b, link)
        self.assertEqual(f.query(r.headers["Location"])["client_id"], self.p.client_id)
        self.assertPage(b.follow(f.consent(b, r)), 200)
        self.assertIsNone(f.connections(self.p, iid)[0]["client_id"])


class SitesTest(Base):
    """Case 5: several Atlassian sites."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile(allow_redirect=[REDIRECT])

    def setUp(self):
        f.set_sites([f.SITE_A, f.SITE_B])

    @staticmethod
    def site_list():
        return [{"cloud_id": s["id"], "url": s["url"], "name": s["name"]}
                for s in (f.SITE_A, f.SITE_B)]

    def test_several_sites_without_site(self):
        link, iid = f.new_link(self.p)
        cb = f.complete(lk.Browser(), link)
        self.assertPage(cb, 200, "Your Atlassian Confluence account is now connected.")
        meta = f.connections(self.p, iid)[0]["metadata"]
        self.assertEqual(meta, {"sites": self.site_list()})

    def test_site_by_host_in_upper_case(self):
        host = urllib.parse.urlsplit(f.SITE_B["url"]).hostname.upper()
        link, iid = f.new_link(self.p, site=host)
        cb = f.complete(lk.Browser(), link)
        self.assertPage(cb, 200, "(beta)")
        meta = f.connections(self.p, iid)[0]["metadata"]
        self.assertEqual(meta, {"cloud_id": f.SITE_B["id"], "site_url": f.SITE_B["url"],
                                "site_name": f.SITE_B["name"], "sites": self.site_list()})

    def test_site_by_cloud_id(self):
        link, iid = f.new_link(self.p, site=f.SITE_A["id"])
        self.assertPage(f.complete(lk.Browser(), link), 200)
        self.assertEqual(f.connections(self.p, iid)[0]["metadata"]["cloud_id"], f.SITE_A["id"])

    def test_site_name_is_escaped_on_the_page(self):
        evil = dict(f.SITE_A, name="<script>alert('x')</script>&")
        f.set_sites([evil])
        link, iid = f.new_link(self.p)
        cb = f.complete(lk.Browser(), link)
        self.assertPage(cb, 200, "(&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;)")
        self.assertNotIn("<script>", cb.text)
        self.assertEqual(f.connections(self.p, iid)[0]["metadata"]["site_name"], evil["name"])

    def test_site_unchecked_on_consent_page_is_not_granted(self):
        link, iid = f.new_link(self.p, site=f.SITE_A["id"])
        b = lk.Browser()
        cb = f.complete(b, link, sites=[f.SITE_B["id"]])
        self.assertPage(cb, 403, "The site you were asked to connect was not granted")
        self.assertEqual(b.jar, {})
        self.assertNothingStored(self.p, iid)
        # The link stays usable: the user can try again and grant it.
        cb = f.complete(b, link)
        self.assertPage(cb, 200)
        self.assertEqual(f.connections(self.p, iid)[0]["metadata"]["cloud_id"], f.SITE_A["id"])

    def test_site_not_in_list_redirects_with_site_not_granted(self):
        link, iid = f.new_link(self.p, site="gamma.atlassian.net", redirect_url=REDIRECT)
        cb = f.complete(lk.Browser(), link)
        self.assertRedirectTo(cb, REDIRECT, [("status", "error"), ("error", "site_not_granted"),
                                             ("profile", self.p.name), ("instance_id", iid)])
        self.assertNothingStored(self.p, iid)

    def test_site_not_granted_keeps_existing_connection(self):
        iid, _ = f.connect(self.p)
        before = f.connections(self.p, iid)
        link, _ = f.new_link(self.p, iid, site=f.SITE_B["id"])
        cb = f.complete(lk.Browser(), link, sites=[f.SITE_A["id"]])
        self.assertPage(cb, 403)
        self.assertEqual(f.connections(self.p, iid), before)


class StateAndCookieTest(Base):
    """Case 7: state used once, bound to the browser, and expiry."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile(allow_redirect=[REDIRECT])

    def begin(self, **fields):
        link, iid = f.new_link(self.p, **fields)
        b = lk.Browser()
        r = f.start(b, link)
        (name, value), = [(k[2], v) for k, v in b.jar.items()]
        back = f.consent(b, r)
        return b, iid, back, name, value

    def test_replayed_callback_is_403_invalid_state(self):
        b, iid, back, name, value = self.begin()
        cb = b.follow(back)
        self.assertPage(cb, 200)
        before = f.connections(self.p, iid)
        cb_url = urllib.parse.urljoin(back.url, back.headers["Location"])
        # again in the same browser (its cookie is gone now) ...
        r = b.get(cb_url)
        self.assertPage(r, 403, "This sign-in is unknown or was already completed.")
        # ... and with the old cookie put back
        r = lk.http("GET", cb_url, cookies={name: value})
        self.assertPage(r, 403, "This sign-in is unknown or was already completed.")
        self.assertNotIn("Location", r.headers)
        self.assertEqual(f.connections(self.p, iid), before)

    def test_replay_with_redirect_url_never_redirects(self):
        b, iid, back, name, value = self.begin(redirect_url=REDIRECT)
        cb = b.follow(back)
        self.assertEqual(cb.status, 302)
        cb_url = urllib.parse.urljoin(back.url, back.headers["Location"])
        r = lk.http("GET", cb_url, cookies={name: value})
        self.assertPage(r, 403)

    def test_missing_cookie_is_403(self):
        b, iid, back, name, _value = self.begin(redirect_url=REDIRECT)
        cb_url = urllib.parse.urljoin(back.url, back.headers["Location"])
        r = lk.http("GET", cb_url)
        # Not this browser's flow: a page, never the redirect (login CSRF).
        self.assertPage(r, 403, "The sign-in did not start in this browser")
        self.assertClearsCookie(r, name, self.p)
        self.assertNothingStored(self.p, iid)
        audit = lk.sql("SELECT outcome FROM audit_log WHERE action = 'connection.authorize' "
                       "AND instance_id = :'p1'", iid)
        self.assertEqual(audit, [["invalid_state"]])
        # The flow is used up: the right browser cannot finish it either.
        r = b.follow(back)
        self.assertPage(r, 403)
        self.assertNothingStored(self.p, iid)

    def test_foreign_cookie_is_403(self):
        b1, iid1, back1, name1, value1 = self.begin()
        b2, iid2, back2, name2, value2 = self.begin()
        cb1 = urllib.parse.urljoin(back1.url, back1.headers["Location"])
        # b1's callback with b2's cookie value under b1's cookie name
        r = lk.http("GET", cb1, cookies={name1: value2})
        self.assertPage(r, 403, "The sign-in did not start in this browser")
        self.assertNothingStored(self.p, iid1)
        # b2's callback carrying b2's whole jar but b1's state
        b2_other = lk.Browser()
        b2_other.jar = dict(b2.jar)
        r = b2_other.get(urllib.parse.urljoin(back2.url, back2.headers["Location"]).replace(
            f.query(back2.headers["Location"])["state"], "x" * 43))
        self.assertPage(r, 403)
        # b2 still completes its own flow.
        cb2 = b2.follow(back2)
        self.assertPage(cb2, 200)
        self.assertEqual(len(f.connections(self.p, iid2)), 1)

    def test_tampered_cookie_is_403(self):
        b, iid, back, name, value = self.begin()
        cb_url = urllib.parse.urljoin(back.url, back.headers["Location"])
        r = lk.http("GET", cb_url, cookies={name: value[:-1] + ("A" if value[-1] != "A" else "B")})
        self.assertPage(r, 403)
        self.assertNothingStored(self.p, iid)

    def test_missing_or_unknown_state_is_an_error_page(self):
        r = lk.http("GET", "/callback/%s?code=abc" % self.p.name)
        self.assertPage(r, 400)
        r = lk.http("GET", "/callback/%s?code=abc&state=%s" % (self.p.name, "s" * 43))
        self.assertPage(r, 403, "This sign-in is unknown or was already completed.")
        r = lk.http("GET", "/callback/%s?code=abc&state=%s" % (self.p.name, "s" * 300))
        self.assertPage(r, 400)
        r = lk.http("POST", "/callback/%s?code=abc&state=x" % self.p.name)
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers["Allow"], "GET")

    def test_state_of_another_profile_is_403(self):
        other = f.make_profile()
        b, iid, back, name, value = self.begin()
        q = f.query(back.headers["Location"])
        r = lk.http("GET", "/callback/%s?%s" % (other.name, urllib.parse.urlencode(q)),
                    cookies={name: value})
        self.assertPage(r, 403)
        # ... and does not burn the flow of the right profile.
        cb = b.follow(back)
        self.assertPage(cb, 200)
        self.assertEqual(len(f.connections(self.p, iid)), 1)

    def test_expired_link_is_410(self):
        link, iid = f.new_link(self.p)
        lk.sql("UPDATE links SET expires_at = now() - interval '1 second' WHERE link_hash = :'p1'",
               sha256(f.link_of(link)))
        r = lk.Browser().get(link)
        self.assertPage(r, 410, "This link has expired or was already used")
        self.assertNothingStored(self.p, iid)

    def test_expired_flow_is_410_flow_expired(self):
        b, iid, back, name, _value = self.begin()
        state = f.query(back.headers["Location"])["state"]
        lk.sql("UPDATE flows SET expires_at = now() - interval '1 second' WHERE state_hash = :'p1'",
               sha256(state))
        before = lk.fake("GET", "/_fake/state")["counters"]["token_authorization_code"]
        cb = b.follow(back)
        self.assertPage(cb, 410, "This sign-in has expired")
        self.assertClearsCookie(cb, name, self.p)
        self.assertNothingStored(self.p, iid)
        # The code was never exchanged.
        self.assertEqual(lk.fake("GET", "/_fake/state")["counters"]["token_authorization_code"], before)

    def test_expired_flow_with_redirect_url(self):
        b, iid, back, _name, _value = self.begin(redirect_url=REDIRECT)
        state = f.query(back.headers["Location"])["state"]
        lk.sql("UPDATE flows SET expires_at = now() - interval '1 second' WHERE state_hash = :'p1'",
               sha256(state))
        cb = b.follow(back)
        self.assertRedirectTo(cb, REDIRECT, [("status", "error"), ("error", "flow_expired"),
                                             ("profile", self.p.name), ("instance_id", iid)])
        self.assertNothingStored(self.p, iid)

    def test_reauthorizing_replaces_tokens_in_place(self):
        iid, _ = f.connect(self.p)
        first = f.connections(self.p, iid)
        self.assertEqual(len(first), 1)
        link, _ = f.new_link(self.p, iid, scope="x,y")
        cb = f.complete(lk.Browser(), link)
        self.assertPage(cb, 200)
        second = f.connections(self.p, iid)
        self.assertEqual(len(second), 1)
        self.assertEqual(second[0]["id"], first[0]["id"])
        self.assertEqual(second[0]["generation"], 2)
        self.assertEqual(second[0]["status"], "active")
        self.assertEqual(second[0]["scope"], "x y offline_access")
        self.assertNotEqual(second[0]["access_token"], first[0]["access_token"])
        self.assertNotEqual(second[0]["refresh_token"], first[0]["refresh_token"])
        self.assertTrue(second[0]["access_token"].startswith("lk1."))


class ProviderFailureTest(Base):
    """Case 11: the token endpoint fails during the callback."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile(allow_redirect=[REDIRECT])

    def run_with_fault(self, fault, **fields):
        link, iid = f.new_link(self.p, **fields)
        b = lk.Browser()
        r = f.start(b, link)
        back = f.consent(b, r)
        lk.fake("POST", "/_fake/fault", dict(fault, path="/oauth/token", method="POST"))
        cb = b.follow(back)
        self.assertEqual(lk.fake("GET", "/_fake/state")["faults"], [], "the fault was not used")
        return cb, iid

    def test_token_endpoint_5xx_is_503(self):
        cb, iid = self.run_with_fault({"kind": "status", "status": 500})
        self.assertPage(cb, 503, "The provider did not complete the sign-in")
        self.assertNothingStored(self.p, iid)

    def test_token_endpoint_invalid_client_is_502(self):
        cb, iid = self.run_with_fault({"kind": "status", "status": 401, "body": json.dumps(
            {"error": "invalid_client", "error_description": "Client authentication failed"})})
        self.assertPage(cb, 502, "The provider did not complete the sign-in")
        self.assertNothingStored(self.p, iid)

    def test_token_endpoint_garbage_is_502(self):
        cb, iid = self.run_with_fault({"kind": "garbage"})
        self.assertPage(cb, 502, "The provider did not complete the sign-in")
        self.assertNothingStored(self.p, iid)

    def test_token_endpoint_5xx_with_redirect_url(self):
        cb, iid = self.run_with_fault({"kind": "status", "status": 503}, redirect_url=REDIRECT)
        self.assertRedirectTo(cb, REDIRECT, [("status", "error"), ("error", "provider_unavailable"),
                                             ("profile", self.p.name), ("instance_id", iid)])
        self.assertNothingStored(self.p, iid)

    def test_wrong_client_secret_is_502(self):
        # The provider knows the client under another secret: invalid_client.
        lk.fake("POST", "/_fake/clients", {"client_id": self.p.client_id, "client_secret": "other",
                                            "redirect_uris": [self.p.callback]})
        try:
            link, iid = f.new_link(self.p)
            cb = f.complete(lk.Browser(), link)
            self.assertPage(cb, 502)
            self.assertNothingStored(self.p, iid)
        finally:
            lk.fake("POST", "/_fake/clients", {"client_id": self.p.client_id,
                                                "client_secret": self.p.client_secret,
                                                "redirect_uris": [self.p.callback]})

    def test_resources_failure_stores_nothing(self):
        link, iid = f.new_link(self.p)
        b = lk.Browser()
        back = f.consent(b, f.start(b, link))
        lk.fake("POST", "/_fake/fault", {"path": "/oauth/token/accessible-resources",
                                         "kind": "status", "status": 500})
        cb = b.follow(back)
        self.assertPage(cb, 503, "The provider did not say which sites were granted")
        self.assertNothingStored(self.p, iid)


class SealedTokenTest(Base):
    """Case 12: a sealed token copied to another row does not open there."""

    def test_sealed_token_moved_to_another_row_fails_to_open(self):
        p = f.make_profile()
        iid_a, _ = f.connect(p)
        iid_b, _ = f.connect(p)
        a = f.connections(p, iid_a)[0]
        # The tampered row would stay unopenable for later tests (rotate-key).
        self.addCleanup(lk.cli, "connection", "delete", p.name, iid_b, check=False)
        lk.sql("UPDATE connections SET access_token = :'p1', expires_at = now() + interval '1 hour' "
               "WHERE id = (SELECT c.id FROM connections c JOIN profiles p ON p.id = c.profile_id "
               "WHERE p.name = :'p2' AND c.instance_id = :'p3')", a["access_token"], p.name, iid_b)
        fam_tokens = f.fake_secrets()
        # In its own row the ciphertext opens ...
        r = lk.http("GET", "/token/%s?instance_id=%s" % (p.name, iid_a), headers=p.auth)
        self.assertEqual(r.status, 200, r)
        self.assertIn(r.json()["access_token"], fam_tokens)
        # ... in another row it does not, and nothing of it is answered.
        r = lk.http("GET", "/token/%s?instance_id=%s" % (p.name, iid_b), headers=p.auth)
        self.assertEqual(r.status, 500, r)
        self.assertEqual(r.json()["error"], "internal_error")
        for t in fam_tokens:
            self.assertNotIn(t, r.text)


class OneLinkOneConnectionTest(Base):
    """SPEC §4: a link is used once; two browsers that opened it cannot both
    connect (issue 10)."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile(allow_redirect=[REDIRECT])

    def two_browsers(self, **fields):
        """Two browsers open one link and consent: (link, iid, [(browser, back)])."""
        link, iid = f.new_link(self.p, **fields)
        out = []
        for _ in range(2):
            b = lk.Browser()
            out.append((b, f.consent(b, f.start(b, link))))
        return link, iid, out

    def codes_exchanged(self):
        return lk.fake("GET", "/_fake/state")["counters"]["token_authorization_code"]

    def test_second_flow_of_a_used_link_is_410_and_writes_nothing(self):
        link, iid, [(b1, back1), (b2, back2)] = self.two_browsers()
        self.assertPage(b1.follow(back1), 200)
        first = f.connections(self.p, iid)
        self.assertEqual(len(first), 1)
        before = self.codes_exchanged()
        cb = b2.follow(back2)
        self.assertPage(cb, 410, "This link has expired or was already used")
        self.assertIn("An account was already connected through this link", cb.text)
        self.assertEqual(b2.jar, {})  # its cookie is cleared all the same
        self.assertEqual(f.connections(self.p, iid), first)  # same tokens, generation 1
        self.assertEqual(self.codes_exchanged(), before)  # its code was never exchanged
        self.assertEqual(lk.sql("SELECT count(*) FROM flows WHERE instance_id = :'p1'", iid), [["0"]])
        audit = lk.sql("SELECT outcome FROM audit_log WHERE action = 'connection.authorize' "
                       "AND instance_id = :'p1' ORDER BY id", iid)
        self.assertEqual(audit, [["ok"], ["link_expired"]])

    def test_second_flow_of_a_used_link_redirects_with_link_expired(self):
        link, iid, [(b1, back1), (b2, back2)] = self.two_browsers(redirect_url=REDIRECT)
        self.assertEqual(b1.follow(back1).status, 302)
        first = f.connections(self.p, iid)
        cb = b2.follow(back2)
        self.assertRedirectTo(cb, REDIRECT, [("status", "error"), ("error", "link_expired"),
                                             ("profile", self.p.name), ("instance_id", iid)])
        self.assertEqual(f.connections(self.p, iid), first)

    def test_denied_second_flow_is_link_expired_too(self):
        link, iid, [(b1, back1), (b2, _back2)] = self.two_browsers()
        self.assertPage(b1.follow(back1), 200)
        state = f.query(_back2.headers["Location"])["state"]
        cb = b2.get("%s?error=access_denied&state=%s" % (self.p.callback, state))
        self.assertPage(cb, 410, "This link has expired or was already used")

    def test_concurrent_callbacks_of_one_link_connect_once(self):
        """Both callbacks pass every check and exchange their codes at the
        same time (held at the provider); only one may write."""
        link, iid, flows = self.two_browsers()
        lk.fake("POST", "/_fake/fault", {"path": "/oauth/token", "method": "POST", "kind": "hold",
                                         "count": 2})
        results = [None, None]

        def run(i):
            b, back = flows[i]
            results[i] = b.follow(back)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        try:
            self.assertEqual(lk.fake("POST", "/_fake/wait_held", {"count": 2, "timeout": 20},
                                     check=False)["held"], 2, "both code exchanges should be in flight")
        finally:
            lk.fake("POST", "/_fake/release", {})
            for t in threads:
                t.join(60)
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [200, 410], results)
        rows = f.connections(self.p, iid)
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["generation"], 1)  # written once, never replaced
        self.assertEqual([b.jar for b, _back in flows], [{}, {}])


class ReauthorizeAnswerTest(Base):
    """SPEC §4 and §5: a token answer without refresh_token keeps the stored
    one; one without expires_in lives default_token_ttl (3600 s), at
    connect time as at refresh (issue 10)."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def answer(self, **extra):
        a = {"access_token": "at_canned_" + secrets.token_urlsafe(24), "token_type": "Bearer",
             "scope": " ".join(f.ATLASSIAN_SCOPES)}
        a.update(extra)
        return a

    def test_reauthorizing_without_refresh_token_keeps_the_stored_one(self):
        iid, _ = f.connect(self.p)
        first = f.connections(self.p, iid)[0]
        self.assertTrue(first["refresh_token"].startswith("lk1."), first)
        link, _ = f.new_link(self.p, iid)
        f.provider_answers(self.answer(expires_in=1200))
        cb = f.complete(lk.Browser(), link)
        self.assertPage(cb, 200)
        self.assertEqual(lk.fake("GET", "/_fake/state")["faults"], [], "the canned answer was not used")
        second = f.connections(self.p, iid)[0]
        self.assertEqual(second["generation"], 2)
        self.assertNotEqual(second["access_token"], first["access_token"])
        self.assertEqual(second["refresh_token"], first["refresh_token"])
        self.assertIn(f.seconds_left(self.p, iid), range(1190, 1201))

    def test_first_connect_without_expires_in_expires_after_default_token_ttl(self):
        link, iid = f.new_link(self.p)
        f.provider_answers(self.answer(refresh_token="rt_canned_" + secrets.token_urlsafe(24)))
        self.assertPage(f.complete(lk.Browser(), link), 200)
        self.assertIn(f.seconds_left(self.p, iid), range(3590, 3601))
        shown = json.loads(lk.cli("connection", "show", self.p.name, iid, "--json")[1])
        self.assertIsNotNone(shown["expires_at"])

    def test_reauthorizing_without_expires_in_expires_after_default_token_ttl(self):
        iid, _ = f.connect(self.p)
        link, _ = f.new_link(self.p, iid)
        f.provider_answers(self.answer())
        self.assertPage(f.complete(lk.Browser(), link), 200)
        self.assertIn(f.seconds_left(self.p, iid), range(3590, 3601))

    def test_reauthorizing_with_another_client_without_refresh_token_drops_it(self):
        """A refresh token is bound to the client it was issued to (RFC 6749
        §6): kept only when the new grant comes from the same client."""
        wl, _ = f.add_client(self.p)
        iid, _ = f.connect(self.p)
        link, _ = f.new_link(self.p, iid, client_id=wl)
        f.provider_answers(self.answer(expires_in=600))
        self.assertPage(f.complete(lk.Browser(), link), 200)
        row = f.connections(self.p, iid)[0]
        self.assertEqual(row["client_id"], wl)
        self.assertIsNone(row["refresh_token"])


class ResultParametersTest(Base):
    """SPEC §4: status, error, profile and instance_id already in
    redirect_url are replaced, never repeated; the rest is kept (issue 10)."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile(allow_redirect=[REDIRECT])

    def test_success_replaces_result_parameters(self):
        url = (REDIRECT + "/step?keep=1&status=pending&error=none&profile=other&instance_id=admin"
               "&st%61tus=x&last=2")
        link, iid = f.new_link(self.p, redirect_url=url)
        cb = f.complete(lk.Browser(), link)
        self.assertRedirectTo(cb, REDIRECT + "/step?keep=1&last=2", [
            ("status", "success"), ("profile", self.p.name), ("instance_id", iid)])
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(cb.headers["Location"]).query)
        self.assertEqual(q, {"keep": ["1"], "last": ["2"], "status": ["success"],
                             "profile": [self.p.name], "instance_id": [iid]})

    def test_error_replaces_result_parameters(self):
        url = REDIRECT + "?error=&status=success&x=%20y"
        link, iid = f.new_link(self.p, redirect_url=url)
        cb = f.complete(lk.Browser(), link, decision="deny")
        self.assertRedirectTo(cb, REDIRECT + "?x=%20y", [
            ("status", "error"), ("error", "access_denied"), ("profile", self.p.name),
            ("instance_id", iid)])


class IssuerTest(Base):
    """RFC 9207 on error answers too: with an issuer named, an error without
    iss or with another one is a mix-up, and its error is not believed: the
    flow ends with provider_error (502), never access_denied (issue 10)."""

    ISSUER = "https://auth.example.com"

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile(allow_redirect=[REDIRECT], extra=["--issuer", cls.ISSUER])

    def started(self, **fields):
        link, iid = f.new_link(self.p, **fields)
        b = lk.Browser()
        back = f.consent(b, f.start(b, link), decision="deny")
        return b, back, iid

    def test_denial_without_iss_is_a_mix_up(self):
        b, back, iid = self.started()
        self.assertNotIn("iss=", back.headers["Location"])  # the fake sends none
        cb = b.follow(back)
        self.assertPage(cb, 502, "The provider did not complete the sign-in")
        self.assertIn("did not come from the expected issuer", cb.text)
        self.assertNothingStored(self.p, iid)
        audit = lk.sql("SELECT outcome FROM audit_log WHERE action = 'connection.authorize' "
                       "AND instance_id = :'p1'", iid)
        self.assertEqual(audit, [["provider_error"]])

    def test_denial_with_another_iss_is_a_mix_up(self):
        b, back, iid = self.started(redirect_url=REDIRECT)
        loc = back.headers["Location"] + "&iss=" + urllib.parse.quote("https://evil.example.com", safe="")
        cb = b.get(urllib.parse.urljoin(back.url, loc))
        self.assertRedirectTo(cb, REDIRECT, [("status", "error"), ("error", "provider_error"),
                                             ("profile", self.p.name), ("instance_id", iid)])
        self.assertNothingStored(self.p, iid)

    def test_denial_with_the_right_iss_is_access_denied(self):
        b, back, iid = self.started(redirect_url=REDIRECT)
        loc = back.headers["Location"] + "&iss=" + urllib.parse.quote(self.ISSUER, safe="")
        cb = b.get(urllib.parse.urljoin(back.url, loc))
        self.assertRedirectTo(cb, REDIRECT, [("status", "error"), ("error", "access_denied"),
                                             ("profile", self.p.name), ("instance_id", iid)])

    def test_code_with_the_right_iss_connects(self):
        link, iid = f.new_link(self.p)
        b = lk.Browser()
        back = f.consent(b, f.start(b, link))
        loc = back.headers["Location"] + "&iss=" + urllib.parse.quote(self.ISSUER, safe="")
        self.assertPage(b.get(urllib.parse.urljoin(back.url, loc)), 200)
        self.assertEqual(len(f.connections(self.p, iid)), 1)


class LargeCookieHeaderTest(Base):
    """A sibling subdomain can fill the Cookie header with cookies of its
    own: Latchkey still finds its flow cookie among them (issue 10).  The
    web server bounds the header first (lighttpd answers 431 past 8 KiB of
    request header, so a 10 KiB one never reaches the program); the test
    uses the most the server takes, and tests/unit/test_cookie.c the parser
    beyond."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    @staticmethod
    def junk(n):
        """n bytes of cookies that are not ours: long ones, garbage, look-alikes."""
        parts = ["theme=dark", "=", "garbage without equals", "\"quoted;", "lkf_=x", "xlkf_0=1",
                 "big=" + "b" * 5000]
        out = "; ".join(parts)
        i = 0
        while len(out) < n:
            out += "; j%d=%s" % (i, secrets.token_hex(40))
            i += 1
        return out[:n]

    def status_with_cookie(self, url, header):
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            conn.request("GET", u.path + "?" + u.query, headers={"Cookie": header})
            r = conn.getresponse()
            return lk.Response(r.status, r.msg, r.read(), url)
        finally:
            conn.close()

    def test_flow_cookie_found_among_junk_at_the_servers_limit(self):
        link, iid = f.new_link(self.p)
        b = lk.Browser()
        back = f.consent(b, f.start(b, link))
        (name, value), = [(k[2], v) for k, v in b.jar.items()]
        cb_url = urllib.parse.urljoin(back.url, back.headers["Location"])
        ours = "; %s=%s" % (name, value)
        # The same request with another (unknown) state: how big a header
        # the web server takes; no flow is touched.
        probe = cb_url.replace(f.query(back.headers["Location"])["state"], "s" * 43)
        size = 10240
        if self.status_with_cookie(probe, self.junk(size - len(ours)) + ours).status == 431:
            lo, hi = 4096, size
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self.status_with_cookie(probe, self.junk(mid - len(ours)) + ours).status == 431:
                    hi = mid - 1
                else:
                    lo = mid
            size = lo
        self.assertGreater(size, 7900)
        r = self.status_with_cookie(cb_url, self.junk(size - len(ours)) + ours)
        self.assertPage(r, 200, "You&#39;re all set")
        self.assertEqual(len(f.connections(self.p, iid)), 1)


class ZzNoLeakTest(Base):
    """Case 14, last in this module (classes run in name order): after flows
    that succeed, fail and are replayed, no token, code, state, cookie,
    verifier, link, client secret or API key of this module is in the
    stack's logs (access log, lighttpd-error.log with the programs' stderr,
    pg.log) or in a pg_dump."""

    def test_no_secret_in_logs_or_database(self):
        p = f.make_profile(allow_redirect=[REDIRECT])
        wl, _ = f.add_client(p)
        f.connect(p, redirect_url=REDIRECT)
        f.connect(p, client_id=wl)
        link, _ = f.new_link(p)
        b = lk.Browser()
        back = f.consent(b, f.start(b, link))
        self.assertPage(b.follow(back), 200)
        f.remember_verifier()
        replay = urllib.parse.urljoin(back.url, back.headers["Location"])
        self.assertPage(lk.http("GET", replay), 403)
        self.assertPage(f.complete(lk.Browser(), f.new_link(p)[0], decision="deny"), 403)
        for fault in ({"kind": "status", "status": 500},
                      {"kind": "status", "status": 401, "body": '{"error":"invalid_client"}'},
                      {"kind": "garbage"}):
            b = lk.Browser()
            back = f.consent(b, f.start(b, f.new_link(p)[0]))
            lk.fake("POST", "/_fake/fault", dict(fault, path="/oauth/token", method="POST"))
            self.assertIn(b.follow(back).status, (502, 503))
        f.check_no_leaks(self, p.key_name)


if __name__ == "__main__":
    unittest.main()
