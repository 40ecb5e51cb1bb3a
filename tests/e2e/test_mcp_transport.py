"""End-to-end: the MCP endpoint's transport (SPEC §10) through the web
server: POST /mcp/{profile}, Streamable HTTP served statelessly.

The checks in their order (method 405, Origin 403, bot key 401, the key's
profiles and instance prefix 403, profile 404, MCP-Protocol-Version 400,
the body), then JSON-RPC: parse error -32700, invalid request -32600,
unknown method -32601, bad params -32602, initialize (version
negotiation), ping, tools/list, notifications and client responses 202
with no body; no session header, never cached.  What the tools do is
another module's: here only that tools/list answers an array and that an
unknown tool is -32602.
"""

import json
import unittest

import lkassert as lka
import lkflow as f
import lkstack as lk

P = None  # a profile with its own key
NEWEST = "2025-11-25"
IID = "mcp-user-1"


def setUpModule():
    global P
    P = f.make_profile()


def tearDownModule():
    f.cleanup()


def rpc(method, params=None, id=1):
    """A JSON-RPC request (a notification when id is None)."""
    msg = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        msg["id"] = id
    if params is not None:
        msg["params"] = params
    return msg


def init_params(version="2025-06-18"):
    return {"protocolVersion": version, "capabilities": {},
            "clientInfo": {"name": "latchkey-e2e", "version": "1"}}


def post(body, key=None, profile=None, headers=None, iid=None, auth=True):
    """POST /mcp/{profile}: body a dict or list (sent as JSON), or bytes
    and str as they are; the key of P unless key is given (auth=False:
    none); a header given as None is not sent."""
    hdrs = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if auth:
        hdrs["Authorization"] = "Bearer " + (key or P.key)
    if iid:
        hdrs["X-Instance-Id"] = iid
    hdrs.update(headers or {})
    hdrs = {k: v for k, v in hdrs.items() if v is not None}
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    return lk.http("POST", "/mcp/%s" % (profile or P.name), headers=hdrs, body=body)


class Base(lka.Asserts, unittest.TestCase):
    def answered(self, r):
        self.assertIsNone(r.headers.get("Mcp-Session-Id"), r)  # stateless: no session
        self.assertNotIn(P.key.encode(), r.body)

    def assertRpc(self, r, id=1):
        """A JSON-RPC answer (HTTP 200, application/json, no-store) to id;
        returns the message."""
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["Content-Type"], "application/json", r)
        self.assertEqual(r.headers["Cache-Control"], "no-store", r)
        self.answered(r)
        msg = r.json()
        self.assertEqual(msg["jsonrpc"], "2.0", msg)
        self.assertEqual(msg["id"], id, msg)
        self.assertEqual(len(msg), 3, msg)
        return msg

    def assertResult(self, r, id=1):
        msg = self.assertRpc(r, id)
        self.assertIn("result", msg, msg)
        return msg["result"]

    def assertRpcError(self, r, code, id=1):
        """A JSON-RPC error with this code; returns the error object."""
        msg = self.assertRpc(r, id)
        self.assertIn("error", msg, msg)
        err = msg["error"]
        self.assertEqual(err["code"], code, err)
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"])
        return err

    def assertAccepted(self, r):
        """202, no body."""
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.body, b"", r)
        self.answered(r)


class CheckOrderTest(Base):
    """SPEC §10 and §2: each check in its place, the first failure answers."""

    def test_get_delete_and_others_are_405_with_allow_post(self):
        for method in ("GET", "DELETE", "PUT", "PATCH"):
            with self.subTest(method=method):
                # 405 comes first: no key, no body.
                r = lk.http(method, "/mcp/" + P.name)
                self.assertJsonError(r, 405, "method_not_allowed")
                self.assertEqual(r.headers["Allow"], "POST")
                self.answered(r)
        r = lk.http("GET", "/mcp/" + P.name, headers=dict(P.auth, Accept="text/event-stream"))
        self.assertJsonError(r, 405, "method_not_allowed")

    def test_origin_must_be_listed(self):
        for origin in ("https://evil.example", "null", lk.MCP_ORIGIN + ".evil.example",
                       lk.MCP_ORIGIN + "/", lk.MCP_ORIGIN.upper(), lk.LATCHKEY_URL):
            with self.subTest(origin=origin):
                r = post(rpc("ping"), headers={"Origin": origin})
                self.assertJsonError(r, 403, "forbidden")
        # before the key is looked at
        r = post(rpc("ping"), auth=False, headers={"Origin": "https://evil.example"})
        self.assertJsonError(r, 403, "forbidden")
        # the listed origin passes, and no Origin at all (not a browser)
        self.assertEqual(self.assertResult(post(rpc("ping"), headers={"Origin": lk.MCP_ORIGIN})), {})
        self.assertEqual(self.assertResult(post(rpc("ping"))), {})

    def test_no_or_unknown_key_is_401(self):
        for hdrs in ({}, {"Authorization": "Bearer lk_" + "0" * 43}, {"Authorization": "Basic eDp5"}):
            with self.subTest(hdrs=hdrs):
                r = post(rpc("initialize", init_params()), auth=False, headers=hdrs)
                self.assertJsonError(r, 401, "unauthorized")
                self.assertTrue(r.headers["WWW-Authenticate"].startswith("Bearer"), r)
        # the key outranks the body and the version header
        r = post("{not json", auth=False, headers={"MCP-Protocol-Version": "1999-01-01"})
        self.assertJsonError(r, 401, "unauthorized")

    def test_key_of_another_profile_is_403(self):
        other = f.make_profile(register=False)
        r = post(rpc("ping"), key=other.key)
        self.assertJsonError(r, 403, "forbidden")
        # and for a profile that does not exist: names cannot be probed
        r = post(rpc("ping"), profile=lk.unique("nothing"))
        self.assertJsonError(r, 403, "forbidden")

    def test_instance_outside_the_key_prefix_is_403(self):
        _name, key = f.make_key(P.name, instances="team-a-")
        r = post(rpc("ping"), key=key, iid="team-b-1")
        self.assertJsonError(r, 403, "forbidden")
        r = post(rpc("tools/call", {"name": "x", "arguments": {}}), key=key, iid="team-b-1")
        self.assertJsonError(r, 403, "forbidden")
        self.assertEqual(self.assertResult(post(rpc("ping"), key=key, iid="team-a-1")), {})
        # without the header (initialize, ping, tools/list need none)
        self.assertEqual(self.assertResult(post(rpc("ping"), key=key)), {})

    def test_malformed_instance_header_is_422(self):
        r = post(rpc("ping"), iid="x" * 256)
        self.assertValidation(r, ["header", "x-instance-id"], "value_error")

    def test_unknown_profile_is_404_for_a_key_of_every_profile(self):
        _name, key = f.make_key("*")
        r = post(rpc("ping"), key=key, profile=lk.unique("nothing"))
        self.assertJsonError(r, 404, "unknown_profile")
        r = post(rpc("ping"), key=key, profile="Not_A_Name")
        self.assertJsonError(r, 404, "unknown_profile")
        self.assertEqual(self.assertResult(post(rpc("ping"), key=key)), {})

    def test_unsupported_protocol_version_header_is_400(self):
        for v in ("2024-11-05", "2099-01-01", "latest", "2025-06-18, 2025-11-25"):
            with self.subTest(version=v):
                r = post(rpc("ping"), headers={"MCP-Protocol-Version": v})
                self.assertJsonError(r, 400, "invalid_request")
        for v in ("2025-06-18", "2025-11-25", "2025-03-26"):
            with self.subTest(version=v):
                r = post(rpc("ping"), headers={"MCP-Protocol-Version": v})
                self.assertEqual(self.assertResult(r), {})

    def test_body_must_be_json(self):
        r = post(rpc("ping"), headers={"Content-Type": "text/plain"})
        self.assertJsonError(r, 400, "invalid_request")
        r = post(rpc("ping"), headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(self.assertResult(r), {})

    def test_accept_must_allow_json(self):
        """Answers are application/json: an Accept that rules it out is
        406 (nothing is run); one that allows it, or none, is served."""
        for accept in ("text/event-stream", "text/html, application/xml",
                       "application/json;q=0, text/event-stream", "application/json; q=0.000",
                       "application/jsonx", "application/json-seq"):
            with self.subTest(accept=accept):
                r = post(rpc("ping"), headers={"Accept": accept})
                self.assertJsonError(r, 406, "not_acceptable")
                self.assertIn("application/json", r.json()["detail"])
        for accept in (None, "", "application/json", "*/*", "application/*", "APPLICATION/JSON",
                       "text/event-stream, application/json;q=0.5", "text/html;q=0.9 , application/json ; q=1",
                       "application/json;charset=utf-8"):
            with self.subTest(accept=accept):
                r = post(rpc("ping"), headers={"Accept": accept})
                self.assertEqual(self.assertResult(r), {})

    def test_body_over_the_cap_is_413(self):
        r = post(rpc("ping", {"pad": "x" * (1024 * 1024)}))
        self.assertEqual(r.status, 413, r)


class JsonRpcTest(Base):
    """One JSON-RPC message per request, answered in one application/json."""

    def test_parse_error_is_32700_with_id_null(self):
        for body in ("{not json", "", '{"jsonrpc":"2.0","id":1,"method":"ping"', "\xff"):
            with self.subTest(body=body):
                self.assertRpcError(post(body), -32700, id=None)

    def test_invalid_requests_are_32600(self):
        cases = [
            ([rpc("ping"), rpc("ping", id=2)], None),            # a batch
            ({"id": 5, "method": "ping"}, 5),                    # no jsonrpc
            ({"jsonrpc": "1.0", "id": 6, "method": "ping"}, 6),  # wrong jsonrpc
            ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, None),
            ({"jsonrpc": "2.0", "id": None, "method": "ping"}, None),
            ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}, None),
            ({"jsonrpc": "2.0", "id": [1], "method": "ping"}, None),
            ({"jsonrpc": "2.0", "id": 7, "method": 12}, 7),
            ({"jsonrpc": "2.0", "id": 8}, 8),                    # no method
            ("42", None),
            ("null", None),
        ]
        for body, id in cases:
            with self.subTest(body=body):
                self.assertRpcError(post(body), -32600, id=id)

    def test_unknown_method_is_32601(self):
        for m in ("resources/list", "prompts/list", "tools/unknown", "notifications/initialized"):
            with self.subTest(method=m):
                err = self.assertRpcError(post(rpc(m, {}, id="m-1")), -32601, id="m-1")
                self.assertIn(m, err["message"])

    def test_bad_params_are_32602(self):
        cases = [
            (rpc("tools/call", {"arguments": {}}), IID),            # no name
            (rpc("tools/call", {"name": 5}), IID),                  # name not a string
            (rpc("tools/call", {"name": "x", "arguments": [1]}), IID),
            (rpc("tools/call"), IID),                               # no params
            (rpc("tools/call", [1, 2]), IID),                       # params not an object
            (rpc("initialize"), None),
            (rpc("initialize", {"capabilities": {}}), None),        # no protocolVersion
            (rpc("tools/list", {"cursor": 3}), None),
        ]
        for msg, iid in cases:
            with self.subTest(msg=msg):
                self.assertRpcError(post(msg, iid=iid), -32602)

    def test_tools_call_needs_the_instance_header(self):
        err = self.assertRpcError(post(rpc("tools/call", {"name": "confluence_list_spaces",
                                                          "arguments": {}})), -32602)
        self.assertEqual(err["message"], "X-Instance-Id header is required for tools/call")

    def test_unknown_tool_is_32602(self):
        self.assertRpcError(post(rpc("tools/call", {"name": "no_such_tool_here", "arguments": {}}),
                                 iid=IID), -32602)

    def test_initialize_negotiates_the_version(self):
        for asked, answered in (("2025-06-18", "2025-06-18"), ("2025-11-25", "2025-11-25"),
                                ("2025-03-26", "2025-03-26"), ("2024-11-05", NEWEST),
                                ("2099-12-31", NEWEST)):
            with self.subTest(asked=asked):
                res = self.assertResult(post(rpc("initialize", init_params(asked), id="i")), id="i")
                self.assertEqual(res["protocolVersion"], answered)
                self.assertEqual(res["capabilities"], {"tools": {"listChanged": False}})
                self.assertEqual(res["serverInfo"]["name"], "latchkey")
                self.assertIsInstance(res["serverInfo"]["version"], str)
                self.assertIn(P.name, res["instructions"])

    def test_initialize_names_the_instance_when_given(self):
        res = self.assertResult(post(rpc("initialize", init_params()), iid=IID))
        self.assertIn(IID, res["instructions"])

    def test_ping_and_tools_list(self):
        self.assertEqual(self.assertResult(post(rpc("ping", id=0), iid=IID), id=0), {})
        self.assertEqual(self.assertResult(post(rpc("ping", {}, id="p")), id="p"), {})
        for params in (None, {}, {"cursor": "anything"}):
            with self.subTest(params=params):
                res = self.assertResult(post(rpc("tools/list", params, id=3)), id=3)
                self.assertIsInstance(res["tools"], list)
                for tool in res["tools"]:
                    self.assertIsInstance(tool["name"], str)

    def test_notifications_and_client_responses_are_202_without_body(self):
        for msg in (rpc("notifications/initialized", id=None),
                    rpc("notifications/cancelled", {"requestId": 1, "reason": "x"}, id=None),
                    rpc("notifications/something-new", id=None),
                    {"jsonrpc": "2.0", "id": 1, "result": {}},
                    {"jsonrpc": "2.0", "id": "e", "error": {"code": -1, "message": "declined"}}):
            with self.subTest(msg=msg):
                self.assertAccepted(post(msg))
                self.assertAccepted(post(msg, iid=IID, headers={"MCP-Protocol-Version": NEWEST}))

    def test_a_whole_session_needs_no_session(self):
        # initialize, initialized, tools/list: as an SDK client sends them,
        # with no Mcp-Session-Id ever issued or needed.
        res = self.assertResult(post(rpc("initialize", init_params(NEWEST))))
        self.assertEqual(res["protocolVersion"], NEWEST)
        hdrs = {"MCP-Protocol-Version": NEWEST, "Origin": lk.MCP_ORIGIN}
        self.assertAccepted(post(rpc("notifications/initialized", id=None), headers=hdrs))
        res = self.assertResult(post(rpc("tools/list", id=2), headers=hdrs, iid=IID), id=2)
        self.assertIsInstance(res["tools"], list)


if __name__ == "__main__":
    unittest.main()
