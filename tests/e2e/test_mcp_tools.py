"""End-to-end: Confluence tools over MCP (SPEC §10), driven by the official
MCP TypeScript SDK's Client (tests/mcp/client.mjs) through lighttpd and the
mcp program, against the fake provider's Confluence (tests/fake_confluence.py).

Every tool on a connected instance, in both of Atlassian's scope families;
Markdown read -> write -> read stable, unknown macros kept byte for byte;
update conflicts; consent on demand (not connected, missing scope) through
the link in the -32042 error; provider errors as tool errors; no token in
any answer.
"""

import json
import unittest
import urllib.parse

import lkassert as lka
import lkflow as f
import lkmcp
import lkstack as lk
import lktoken as t

GRANULAR = ("read:page:confluence write:page:confluence delete:page:confluence read:space:confluence "
            "read:comment:confluence write:comment:confluence read:label:confluence write:label:confluence "
            "read:content-details:confluence write:blogpost:confluence")
CLASSIC = ("read:confluence-content.all read:confluence-content.summary read:confluence-space.summary "
           "search:confluence write:confluence-content")
CONSTRUCTS = "65538"
ENG_HOME = "65537"
SITE = f.DEFAULT_SITE["id"]
TOOLS = {"confluence_list_spaces", "confluence_get_space", "confluence_list_pages", "confluence_get_page",
         "confluence_get_child_pages", "confluence_search", "confluence_create_page", "confluence_update_page",
         "confluence_delete_page", "confluence_get_comments", "confluence_add_comment", "confluence_get_labels",
         "confluence_add_labels", "confluence_create_blog_post", "atlassian_list_sites"}
TOC = ('<ac:structured-macro ac:name="toc" ac:schema-version="1" '
       'ac:macro-id="7a9d4c1e-55b2-4e0f-8d6a-0c1b2a3d4e5f">'
       '<ac:parameter ac:name="maxLevel">2</ac:parameter></ac:structured-macro>')
INFO = ('<ac:structured-macro ac:name="info" ac:schema-version="1" '
        'ac:macro-id="b1e2c3d4-a5b6-4c7d-8e9f-0a1b2c3d4e5f">'
        '<ac:rich-text-body><p>Note: deploys freeze on Fridays.</p></ac:rich-text-body>'
        '</ac:structured-macro>')

P = None


def setUpModule():
    global P
    t.restore_fake()
    lk.fake("POST", "/_fake/confluence/reset", {})
    P = f.make_profile()


def tearDownModule():
    f.cleanup()


def url(profile=None):
    return lk.LATCHKEY_URL + "/mcp/" + (profile or P).name


def stored(page_id):
    """The page as the fake Confluence stored it (all versions)."""
    return lk.fake("POST", "/_fake/confluence/content", {"id": page_id})


def seed_page(title, body, space="ENG"):
    """A fresh page made directly in the fake Confluence; its id."""
    return lk.fake("POST", "/_fake/confluence/page",
                   {"space_key": space, "title": title, "body": body})["id"]


class Base(lka.Asserts, unittest.TestCase):
    scope = GRANULAR
    iid = None

    @classmethod
    def setUpClass(cls):
        cls.iid, _ = f.connect(P, scope=cls.scope.replace(" ", ","))

    def call(self, tool, args=None, iid=None, key=None):
        """tools/call through the SDK: the CallToolResult (a successful one)."""
        r = lkmcp.call(url(), key or P.key, iid or self.iid, tool, args or {})
        self.assertTrue(r["ok"], r)
        return r["result"]

    def ok(self, tool, args=None, **kw):
        res = self.call(tool, args, **kw)
        self.assertFalse(res.get("isError"), res)
        self.assertEqual(res["content"][0]["type"], "text")
        self.assertTrue(res["content"][0]["text"])
        self.assertNotIn("Bearer", json.dumps(res))
        return res["structuredContent"]

    def tool_error(self, tool, args=None, **kw):
        res = self.call(tool, args, **kw)
        self.assertTrue(res.get("isError"), res)
        return res["content"][0]["text"]

    def rpc_error(self, tool, args=None, iid=None, key=None):
        r = lkmcp.call(url(), key or P.key, iid or self.iid, tool, args or {})
        self.assertFalse(r["ok"], r)
        return r["error"]


class ListTest(Base):

    def test_the_fifteen_tools_with_schemas_and_hints(self):
        r = lkmcp.list_tools(url(), P.key, self.iid)
        self.assertTrue(r["ok"], r)
        tools = {x["name"]: x for x in r["result"]}
        self.assertEqual(set(tools), TOOLS)
        for name, tool in tools.items():
            with self.subTest(tool=name):
                self.assertEqual(tool["inputSchema"]["type"], "object")
                self.assertEqual(tool["outputSchema"]["type"], "object")
                self.assertIn("readOnlyHint", tool["annotations"])
                self.assertTrue(tool["description"])
        self.assertTrue(tools["confluence_get_page"]["annotations"]["readOnlyHint"])
        self.assertTrue(tools["confluence_delete_page"]["annotations"]["destructiveHint"])
        self.assertFalse(tools["confluence_create_page"]["annotations"]["readOnlyHint"])


class GranularToolsTest(Base):
    """A grant of granular scopes: the v2 API (search through v1)."""

    def test_spaces(self):
        spaces = self.ok("confluence_list_spaces")["spaces"]
        self.assertEqual([s["key"] for s in spaces], ["ENG", "OPS", "DOCS"])
        space = self.ok("confluence_get_space", {"space_key": "ENG"})
        self.assertEqual(space["name"], "Engineering")

    def test_pages_children_and_page(self):
        pages = self.ok("confluence_list_pages", {"space_key": "ENG"})["pages"]
        self.assertIn("Architecture Overview", [p["title"] for p in pages])
        children = self.ok("confluence_get_child_pages", {"page_id": ENG_HOME})["pages"]
        self.assertIn(CONSTRUCTS, [p["id"] for p in children])
        page = self.ok("confluence_get_page", {"page_id": CONSTRUCTS})
        self.assertEqual(page["title"], "Architecture Overview")
        self.assertIn("# Architecture", page["body"])
        self.assertIn("```python", page["body"])
        self.assertIn("| Name | Value |", page["body"].replace("|Name|Value|", "| Name | Value |"))
        self.assertIn("```confluence-storage\n" + TOC, page["body"])
        self.assertGreaterEqual(page["version"], 1)

    def test_storage_passes_untouched(self):
        page = self.ok("confluence_get_page", {"page_id": CONSTRUCTS, "body_format": "storage"})
        self.assertEqual(page["body"], stored(CONSTRUCTS)["versions"][-1]["body"])

    def test_search_comments_labels_sites(self):
        hits = self.ok("confluence_search", {"cql": 'type=page AND space=ENG AND title~"Architecture"'})
        self.assertIn(CONSTRUCTS, json.dumps(hits))
        comments = self.ok("confluence_get_comments", {"page_id": CONSTRUCTS})
        self.assertIsInstance(comments["comments"], list)
        labels = self.ok("confluence_get_labels", {"page_id": CONSTRUCTS})
        self.assertIsInstance(labels["labels"], list)
        sites = self.ok("atlassian_list_sites")["sites"]
        self.assertEqual([s["cloud_id"] for s in sites], [SITE])
        self.assertTrue(sites[0]["default"])

    def test_create_update_comment_label_delete(self):
        made = self.ok("confluence_create_page", {"space_key": "ENG", "title": lk.unique("New page"),
                                                  "body": "# Hello\n\nSome *text* and `code`.\n"})
        pid = made["id"]
        body = stored(pid)["versions"][-1]["body"]
        self.assertIn("<h1>Hello</h1>", body)
        self.assertIn("<em>text</em>", body)
        upd = self.ok("confluence_update_page", {"page_id": pid, "body": "Changed.\n"})
        self.assertEqual(upd["version"], 2)
        self.assertEqual(len(stored(pid)["versions"]), 2)
        self.assertIn("Changed.", stored(pid)["versions"][-1]["body"])
        self.ok("confluence_add_comment", {"page_id": pid, "body": "A comment."})
        comments = self.ok("confluence_get_comments", {"page_id": pid})["comments"]
        self.assertEqual(len(comments), 1)
        self.ok("confluence_add_labels", {"page_id": pid, "labels": ["alpha", "beta"]})
        labels = self.ok("confluence_get_labels", {"page_id": pid})["labels"]
        self.assertEqual(sorted(label["name"] for label in labels), ["alpha", "beta"])
        self.ok("confluence_delete_page", {"page_id": pid})
        self.assertEqual(stored(pid)["status"], "trashed")
        self.assertIn("404", self.tool_error("confluence_get_page", {"page_id": pid}))

    def test_stale_version_changes_nothing(self):
        pid = seed_page(lk.unique("Busy page"), "<p>v1</p>")
        self.ok("confluence_update_page", {"page_id": pid, "body": "v2 by someone\n"})
        msg = self.tool_error("confluence_update_page", {"page_id": pid, "body": "mine\n", "version": 2})
        self.assertIn("changed", msg)
        self.assertIn("2", msg)
        self.assertEqual(len(stored(pid)["versions"]), 2)
        self.assertIn("someone", stored(pid)["versions"][-1]["body"])

    def test_blog_post(self):
        made = self.ok("confluence_create_blog_post", {"space_key": "ENG", "title": lk.unique("News"),
                                                       "body": "Shipped.\n"})
        self.assertEqual(stored(made["id"])["type"], "blogpost")

    def test_markdown_round_trip_is_stable_and_keeps_macros(self):
        pid = seed_page(lk.unique("Round trip"), stored(CONSTRUCTS)["versions"][0]["body"])
        first = self.ok("confluence_get_page", {"page_id": pid})["body"]
        self.ok("confluence_update_page", {"page_id": pid, "body": first})
        written = stored(pid)["versions"][-1]["body"]
        self.assertIn(TOC, written)
        self.assertIn(INFO, written)
        second = self.ok("confluence_get_page", {"page_id": pid})["body"]
        self.assertEqual(second, first)
        # An edit elsewhere on the page keeps the macros byte for byte.
        self.ok("confluence_update_page", {"page_id": pid, "body": first.replace("Intro with", "Intro, edited, with")})
        written = stored(pid)["versions"][-1]["body"]
        self.assertIn("Intro, edited, with", written)
        self.assertIn(TOC, written)
        self.assertIn(INFO, written)

    def test_provider_errors_are_tool_errors(self):
        self.assertIn("404", self.tool_error("confluence_get_page", {"page_id": "999999"}))
        t.fault(path="/ex/confluence/%s/wiki/api/v2/pages" % SITE, kind="status", status=429, retry_after=7,
                count=1)
        try:
            msg = self.tool_error("confluence_get_page", {"page_id": CONSTRUCTS})
        finally:
            t.restore_fake()
        self.assertIn("429", msg)
        self.assertIn("7", msg)

    def test_bad_arguments_are_invalid_params(self):
        for tool, args in (("confluence_get_page", {}), ("confluence_get_page", {"page_id": "../x"}),
                           ("confluence_get_page", {"page_id": 5}), ("no_such_tool", {})):
            with self.subTest(tool=tool, args=args):
                self.assertEqual(self.rpc_error(tool, args)["code"], -32602)


class ResultMemoTest(Base):
    """Each mcp process keeps the results of long answers (markdown_cache_mb),
    keyed by the answer's bytes and the call's variables: a page read again
    gives the same result, and never a stale or another call's one."""

    def test_a_page_read_again_edited_or_asked_as_storage(self):
        body = "".join("<h2>Part %d</h2><p>Some <strong>text</strong> of part %d.</p>" % (i, i) for i in range(120))
        pid = seed_page(lk.unique("Memo"), body)
        first = self.call("confluence_get_page", {"page_id": pid})
        for _ in range(3):  # each worker of the stack, at least once
            self.assertEqual(self.call("confluence_get_page", {"page_id": pid}), first)
        self.assertIn("## Part 119", first["structuredContent"]["body"])
        self.assertIn("## Part 119", first["content"][0]["text"])
        # The same answer asked as storage: the variables are part of the key.
        raw = self.ok("confluence_get_page", {"page_id": pid, "body_format": "storage"})
        self.assertEqual(raw["body"], body)
        self.assertEqual(raw["body_format"], "storage")
        # An edit changes the answer's bytes: the next read shows it.
        self.ok("confluence_update_page", {"page_id": pid, "body": first["structuredContent"]["body"].replace(
            "Part 7\n", "Part seven\n")})
        for _ in range(3):
            page = self.ok("confluence_get_page", {"page_id": pid})
            self.assertIn("## Part seven", page["body"])
            self.assertEqual(page["version"], first["structuredContent"]["version"] + 1)
        # Another page with the same body is its own answer (id, title).
        twin = seed_page(lk.unique("Memo twin"), body)
        other = self.ok("confluence_get_page", {"page_id": twin})
        self.assertEqual(other["id"], twin)
        self.assertEqual(other["body"], first["structuredContent"]["body"])


class ClassicToolsTest(Base):
    """A grant of classic scopes: the v1 API."""
    scope = CLASSIC

    def test_read_and_write_over_v1(self):
        page = self.ok("confluence_get_page", {"page_id": CONSTRUCTS})
        self.assertIn("# Architecture", page["body"])
        made = self.ok("confluence_create_page", {"space_key": "ENG", "title": lk.unique("Classic"),
                                                  "body": "**bold**\n"})
        self.assertIn("<strong>bold</strong>", stored(made["id"])["versions"][-1]["body"])
        self.ok("confluence_update_page", {"page_id": made["id"], "body": "again\n"})
        self.assertEqual(len(stored(made["id"])["versions"]), 2)
        self.assertIn(CONSTRUCTS, json.dumps(self.ok("confluence_search", {"cql": "space=ENG AND type=page"})))


class ConsentTest(Base):
    """Consent on demand: -32042 with a Latchkey link; once the person
    consented, the same call works."""

    def elicitation(self, err):
        self.assertEqual(err["code"], -32042, err)
        e = err["data"]["elicitations"][0]
        self.assertEqual(e["mode"], "url")
        self.assertTrue(e["elicitationId"])
        self.assertTrue(e["url"].startswith(lk.LATCHKEY_URL + "/authorize/" + P.name + "?link="), e)
        self.assertIn(e["url"], e["message"])
        self.assertIn(e["url"], err["message"])
        return e["url"]

    def test_not_connected_then_consent_then_the_same_call_works(self):
        iid = lk.unique("mcp-new")
        link = self.elicitation(self.rpc_error("confluence_list_spaces", iid=iid))
        b = lk.Browser()
        self.assertIn(f.complete(b, link).status, (200, 302))
        spaces = self.ok("confluence_list_spaces", iid=iid)["spaces"]
        self.assertEqual(spaces[0]["key"], "ENG")

    def test_missing_scope_link_asks_for_granted_plus_missing(self):
        iid, _ = f.connect(P, scope="read:page:confluence,read:space:confluence")
        link = self.elicitation(self.rpc_error("confluence_create_page",
                                               {"space_key": "ENG", "title": "x", "body": "y"}, iid=iid))
        b = lk.Browser()
        to_provider = f.start(b, link)
        asked = set(f.query(to_provider.headers["Location"])["scope"].split())
        self.assertTrue({"read:page:confluence", "read:space:confluence", "write:page:confluence"} <= asked,
                        asked)
        back = b.follow(f.consent(b, to_provider))
        f.remember_verifier()
        self.assertIn(back.status, (200, 302))
        made = self.ok("confluence_create_page", {"space_key": "ENG", "title": lk.unique("After consent"),
                                                  "body": "y\n"}, iid=iid)
        self.assertTrue(made["id"])

    def test_reauthorization_required_asks_for_consent(self):
        iid, _ = f.connect(P, scope=GRANULAR.replace(" ", ","))
        lk.sql("UPDATE connections c SET status = 'reauthorization_required' FROM profiles p "
               "WHERE p.id = c.profile_id AND p.name = :'p1' AND c.instance_id = :'p2'", P.name, iid)
        self.elicitation(self.rpc_error("confluence_get_page", {"page_id": CONSTRUCTS}, iid=iid))


class ReadOnlyKeyTest(Base):
    """A key made with --read-only sees and calls only read-only tools."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        _rc, out, _err = lk.cli("key", "create", "--name", lk.unique("ro"), "--profiles", P.name, "--read-only")
        cls.ro = out.strip()
        f.remember(cls.ro)

    def test_lists_and_calls_read_only_tools_only(self):
        r = lkmcp.list_tools(url(), self.ro, self.iid)
        self.assertTrue(r["ok"], r)
        names = {x["name"] for x in r["result"]}
        self.assertIn("confluence_get_page", names)
        self.assertNotIn("confluence_create_page", names)
        self.assertTrue(all(x["annotations"]["readOnlyHint"] for x in r["result"]))
        page = self.ok("confluence_get_page", {"page_id": CONSTRUCTS}, key=self.ro)
        self.assertEqual(page["title"], "Architecture Overview")
        before = len(lk.fake("GET", "/_fake/confluence")["wikis"][SITE]["content"])
        err = self.rpc_error("confluence_create_page", {"space_key": "ENG", "title": "x", "body": "y"}, key=self.ro)
        self.assertEqual(err["code"], -32602)
        self.assertIn("read-only", err["message"])
        self.assertEqual(len(lk.fake("GET", "/_fake/confluence")["wikis"][SITE]["content"]), before)


class DataCenterTest(Base):
    """A Data Center profile (generic, api_key_per_user, a PAT): the same
    tools over /rest/api."""

    @classmethod
    def setUpClass(cls):
        cls.name = lk.unique("dc")
        lk.cli("profile", "add", cls.name, "--template", "generic", "--auth-type", "api_key_per_user",
               "--allow-http-sites", "--allow-private-sites", "--callback-url",
               lk.LATCHKEY_URL + "/callback/" + cls.name)
        _n, cls.key = f.make_key(cls.name)
        pat = "dc-pat-" + lk.unique("t")
        f.remember(pat)
        lk.fake("POST", "/_fake/pats", {"token": pat, "username": "jdoe"})
        cls.iid = lk.unique("dc-user")
        lk.cli("connection", "set-credential", cls.name, cls.iid, "--credential-file", f.secret_file(pat),
               "--site", lk.PROVIDER_URL + "/dc")

    def dc(self, tool, args=None):
        r = lkmcp.call(lk.LATCHKEY_URL + "/mcp/" + self.name, self.key, self.iid, tool, args or {})
        self.assertTrue(r["ok"], r)
        self.assertFalse(r["result"].get("isError"), r)
        return r["result"]["structuredContent"]

    def test_read_and_write_over_rest_api(self):
        r = lkmcp.list_tools(lk.LATCHKEY_URL + "/mcp/" + self.name, self.key, self.iid)
        self.assertEqual({x["name"] for x in r["result"]}, TOOLS)
        page = self.dc("confluence_get_page", {"page_id": CONSTRUCTS})
        self.assertIn("# Architecture", page["body"])
        made = self.dc("confluence_create_page", {"space_key": "ENG", "title": lk.unique("DC page"),
                                                  "body": "Hello *DC*\n"})
        item = lk.fake("POST", "/_fake/confluence/content", {"cloud_id": "dc", "id": made["id"]})
        self.assertIn("<em>DC</em>", item["versions"][-1]["body"])
        self.dc("confluence_update_page", {"page_id": made["id"], "body": "v2\n"})
        item = lk.fake("POST", "/_fake/confluence/content", {"cloud_id": "dc", "id": made["id"]})
        self.assertEqual(len(item["versions"]), 2)

    def test_not_connected_link_opens_the_credential_form(self):
        r = lkmcp.call(lk.LATCHKEY_URL + "/mcp/" + self.name, self.key, lk.unique("dc-new"),
                       "confluence_get_page", {"page_id": CONSTRUCTS})
        self.assertFalse(r["ok"], r)
        self.assertEqual(r["error"]["code"], -32042, r)
        link = r["error"]["data"]["elicitations"][0]["url"]
        self.assertTrue(link.startswith(lk.LATCHKEY_URL + "/authorize/" + self.name + "?link="), link)
        page = lk.Browser().get(link)
        self.assertEqual(page.status, 200, page)
        self.assertIn("<form", page.text)


class ToolListNarrowedTest(lka.Asserts, unittest.TestCase):
    """profile add --tools: only those tools are offered and callable."""

    def test_narrowed_profile(self):
        p = f.make_profile(extra=["--tools", "confluence_get_page,confluence_list_spaces"])
        iid, _ = f.connect(p, scope=GRANULAR.replace(" ", ","))
        u = lk.LATCHKEY_URL + "/mcp/" + p.name
        r = lkmcp.list_tools(u, p.key, iid)
        self.assertEqual({x["name"] for x in r["result"]}, {"confluence_get_page", "confluence_list_spaces"})
        r = lkmcp.call(u, p.key, iid, "confluence_create_page", {"space_key": "ENG", "title": "x", "body": "y"})
        self.assertFalse(r["ok"], r)
        self.assertEqual(r["error"]["code"], -32602)
        r = lkmcp.call(u, p.key, iid, "confluence_list_spaces", {})
        self.assertTrue(r["ok"] and not r["result"].get("isError"), r)


class SdkRefusalTest(Base):
    """What the SDK's client meets when the request is not allowed."""

    def test_no_key_bad_origin_wrong_profile(self):
        r = lkmcp.list_tools(url(), None, self.iid)
        self.assertFalse(r["ok"], r)
        self.assertEqual(r["error"]["http_status"], 401, r)
        r = lkmcp.list_tools(url(), P.key, self.iid, headers={"Origin": "https://evil.example"})
        self.assertFalse(r["ok"], r)
        self.assertEqual(r["error"]["http_status"], 403, r)
        other = f.make_profile()
        r = lkmcp.list_tools(url(other), P.key, self.iid)
        self.assertFalse(r["ok"], r)
        self.assertEqual(r["error"]["http_status"], 403, r)

    def test_negotiates_2025_06_18(self):
        r = lkmcp.call(url(), P.key, self.iid, "confluence_list_spaces", {}, protocol_version="2025-06-18")
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["protocolVersion"], "2025-06-18")


class NoLeakTest(Base):

    def test_no_token_in_answers(self):
        row = t.row(P, self.iid)
        self.assertTrue(row)
        res = self.call("confluence_get_page", {"page_id": CONSTRUCTS})
        text = json.dumps(res)
        token = t.token_of(t.get_token(P, self.iid))
        self.assertNotIn(token, text)
        self.assertNotIn(urllib.parse.quote(token), text)


if __name__ == "__main__":
    unittest.main()
