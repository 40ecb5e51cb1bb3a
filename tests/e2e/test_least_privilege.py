"""End-to-end: SPEC §10's least privilege. Read-only bot keys (`latchkey
key create --read-only`) through lighttpd, against the fake provider, with
a connection made through the real browser flow; and a profile's narrowed
tool list (`latchkey profile add --tools a,b`).

A read-only key never holds a token (GET and HEAD /token, POST /refresh:
403), never disconnects a person (DELETE /token: 403), and reaches the
provider through /proxy with GET and HEAD only (other methods: 403, no
upstream call). SPEC §2's order holds: 405 for a method the route never
takes, 401 without a key, the read-only 403 beside the other 403s and
before the profile's 404. The CLI shows which keys are read-only.
"""

import json
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t

PROFILE = None
IID = None
RO_NAME = None
RO_KEY = None
READ_ONLY = "This API key is read-only"


def make_read_only_key(profiles):
    """latchkey key create --read-only; returns (name, key)."""
    name = lk.unique("ro")
    _rc, out, err = lk.cli("key", "create", "--name", name, "--profiles", profiles, "--read-only")
    key = out.strip()
    assert key.startswith("lk_"), out
    assert "read-only key %s created" % name in err, err
    f.remember(key)
    return name, key


def setUpModule():
    global PROFILE, IID, RO_NAME, RO_KEY
    t.restore_fake()
    PROFILE = f.make_profile()
    IID = t.connect(PROFILE)
    RO_NAME, RO_KEY = make_read_only_key(PROFILE.name)


def tearDownModule():
    f.cleanup()


def api_requests():
    """Every non-admin request the fake has seen, summed over paths."""
    return sum(t.counters()["paths"].values())


def proxy(method, sub, key=None, body=None, profile=None):
    name = profile or PROFILE.name
    hdrs = {"Authorization": "Bearer " + (key or RO_KEY), "X-Instance-Id": IID}
    return lk.http(method, "/proxy/%s%s" % (name, sub), headers=hdrs, body=body)


class ReadOnlyKeyTest(t.TokenTestCase):

    def assertReadOnly(self, r):
        body = self.assertJsonError(r, 403, "forbidden")
        self.assertIn(READ_ONLY, body["detail"])
        return body

    def test_token_is_refused(self):
        before = t.token_calls()
        body = self.assertReadOnly(t.get_token(PROFILE, IID, key=RO_KEY))
        self.assertIn("never handed a token", body["detail"])
        self.assertReadOnly(t.get_token(PROFILE, IID, key=RO_KEY, min_validity=3599))
        r = lk.http("HEAD", "/token/%s?%s" % (PROFILE.name, t.q(instance_id=IID)),
                    headers={"Authorization": "Bearer " + RO_KEY})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(t.token_calls(), before)
        # the same connection answers a writable key of the profile
        self.assertToken(t.get_token(PROFILE, IID))

    def test_refresh_is_refused_without_calling_the_provider(self):
        before = t.token_calls()
        body = self.assertReadOnly(t.post_refresh(PROFILE, IID, key=RO_KEY))
        self.assertIn("may not refresh", body["detail"])
        self.assertEqual(t.token_calls(), before)

    def test_disconnect_is_refused_and_the_connection_stays(self):
        body = self.assertReadOnly(t.delete_token(PROFILE, IID, key=RO_KEY))
        self.assertIn("may not disconnect", body["detail"])
        self.assertIsNotNone(t.row(PROFILE, IID))
        self.assertToken(t.get_token(PROFILE, IID))

    def test_proxy_reads_with_get_and_head(self):
        r = proxy("GET", "/wiki/echo/ro?x=1")
        self.assertEqual(r.status, 200, r)
        e = r.json()
        self.assertEqual(e["method"], "GET")
        # HEAD reaches the provider (the fake has no do_HEAD: its 501 comes
        # back, with its Server header, as test_proxy pins for any key)
        r = proxy("HEAD", "/wiki/echo/ro")
        self.assertEqual(r.status, 501, r)
        self.assertEqual(r.headers["Server"], "FakeAtlassian/1.0 ")
        self.assertEqual(r.body, b"")

    def test_proxy_refuses_every_other_method_before_upstream(self):
        before = api_requests()
        for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            body = None if method in ("DELETE", "OPTIONS") else b'{"title": "x"}'
            r = proxy(method, "/wiki/echo/ro", body=body)
            b = self.assertReadOnly(r)
            self.assertIn("only GET and HEAD", b["detail"], method)
        self.assertEqual(api_requests(), before)
        # a writable key of the same profile may write
        r = proxy("POST", "/wiki/echo/rw", key=PROFILE.key, body=b'{"title": "x"}')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["method"], "POST")

    def test_check_order(self):
        # 405: a method /token never takes, even for a read-only key
        r = lk.http("PUT", "/token/%s?%s" % (PROFILE.name, t.q(instance_id=IID)),
                    headers={"Authorization": "Bearer " + RO_KEY})
        self.assertJsonError(r, 405, "method_not_allowed")
        r = lk.http("GET", "/refresh/" + PROFILE.name, headers={"Authorization": "Bearer " + RO_KEY})
        self.assertJsonError(r, 405, "method_not_allowed")
        # 401 before any 403
        r = lk.http("POST", "/proxy/%s/wiki/echo" % PROFILE.name, headers={"X-Instance-Id": IID})
        self.assertJsonError(r, 401, "unauthorized")
        # another profile's 403 is the profile's, not the read-only one
        other = f.make_profile(register=False)
        b = self.assertJsonError(t.get_token(other, IID, key=RO_KEY), 403, "forbidden")
        self.assertNotIn(READ_ONLY, b["detail"])
        # the read-only 403 comes before a missing profile's 404 ...
        _n, star = make_read_only_key("*")
        missing = lk.unique("nosuch")
        r = lk.http("GET", "/token/%s?%s" % (missing, t.q(instance_id=IID)),
                    headers={"Authorization": "Bearer " + star})
        self.assertReadOnly(r)
        r = proxy("PUT", "/wiki/echo", key=star, profile=missing, body=b"{}")
        self.assertReadOnly(r)
        # ... and a read that a read-only key may make meets the 404
        r = proxy("GET", "/wiki/echo", key=star, profile=missing)
        self.assertJsonError(r, 404, "unknown_profile")
        # a malformed /refresh body from a read-only key: 403 before 400
        r = lk.http("POST", "/refresh/" + PROFILE.name, headers={
            "Authorization": "Bearer " + RO_KEY, "Content-Type": "application/json"}, body=b"{")
        self.assertReadOnly(r)

    def test_key_list_shows_read_only(self):
        _rc, out, _err = lk.cli("--json", "key", "list")
        keys = {k["name"]: k for k in json.loads(out)}
        self.assertIs(keys[RO_NAME]["read_only"], True)
        self.assertIs(keys[PROFILE.key_name]["read_only"], False)
        _rc, out, _err = lk.cli("key", "list")
        lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.strip()}
        self.assertIn("read-only", lines[RO_NAME])
        self.assertIn("read-write", lines[PROFILE.key_name])
        name = lk.unique("ro")
        _rc, out, _err = lk.cli("--json", "key", "create", "--name", name, "--profiles",
                                PROFILE.name, "--read-only")
        made = json.loads(out)
        f.remember(made["key"])
        self.assertEqual((made["name"], made["read_only"]), (name, True))

    def test_a_key_made_writable_takes_effect_at_once(self):
        name, key = make_read_only_key(PROFILE.name)
        self.assertReadOnly(t.get_token(PROFILE, IID, key=key))  # now cached
        lk.sql("UPDATE api_keys SET read_only = false WHERE name = :'p1'", name)
        lk.wait_until(lambda: t.get_token(PROFILE, IID, key=key).status == 200,
                      what="the writable key's /token")
        lk.sql("UPDATE api_keys SET read_only = true WHERE name = :'p1'", name)
        lk.wait_until(lambda: t.get_token(PROFILE, IID, key=key).status == 403,
                      what="the read-only key's 403")


class ProfileToolsTest(t.TokenTestCase):
    """profile add --tools: stored, shown, NULL (all tools) when not given."""

    def add(self, *extra, check=True):
        name = lk.unique("p")
        args = ["profile", "add", name, "--template", "atlassian-confluence",
                "--client-id", "cid-" + name,
                "--client-secret-file", f.secret_file("lk-test-client-secret-" + name),
                "--callback-url", lk.LATCHKEY_URL + "/callback/" + name] + list(extra)
        rc, out, err = lk.cli(*args, check=check)
        return name, rc, err

    def show(self, name):
        _rc, out, _err = lk.cli("--json", "profile", "show", name)
        return json.loads(out)

    def test_tools_are_stored_and_shown(self):
        name, _rc, _err = self.add("--tools", "confluence_get_page,confluence_search")
        self.assertEqual(self.show(name)["tools"], ["confluence_get_page", "confluence_search"])
        stored = lk.sql("SELECT tools::text FROM profiles WHERE name = :'p1'", name)[0][0]
        self.assertEqual(json.loads(stored), ["confluence_get_page", "confluence_search"])

    def test_no_tools_means_all(self):
        name, _rc, _err = self.add()
        self.assertIsNone(self.show(name)["tools"])
        self.assertEqual(lk.sql("SELECT tools IS NULL FROM profiles WHERE name = :'p1'", name)[0][0], "t")

    def test_bad_tool_lists_are_refused(self):
        for tools, why in (("Confluence_get_page", "tool names"), ("a,,b", "tool names"),
                           ("", "tool names"), ("get-page", "tool names"), ("a,b,a", "named twice"),
                           (",".join("t%d" % i for i in range(65)), "at most 64")):
            name, rc, err = self.add("--tools", tools, check=False)
            self.assertEqual(rc, 1, tools)
            self.assertIn(why, err, tools)
            self.assertEqual(lk.sql("SELECT count(*) FROM profiles WHERE name = :'p1'", name)[0][0], "0")


if __name__ == "__main__":
    unittest.main()
