"""tests/mcp/client.mjs (and tests/e2e/lkmcp.py) against a throwaway MCP
server made of the SDK's own server classes (tests/mcp/echo_server.mjs).

CTest e2e.mcp_client, after e2e.mcp_deps installed the SDK:
    LATCHKEY_MCP_NODE_MODULES=build/mcp/node_modules python3 -m unittest -v test_client
"""

import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import lkmcp  # noqa: E402

KEY = "lk_test_key_0123456789"
IID = "user_42"


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = dict(os.environ, LATCHKEY_MCP_NODE_MODULES=lkmcp.node_modules())
        cls.srv = subprocess.Popen(["node", os.path.join(HERE, "echo_server.mjs")], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = cls.srv.stdout.readline().strip()
        if not line.isdigit():
            cls.srv.kill()
            raise RuntimeError("echo server did not start: %r %r" % (line, cls.srv.stderr.read()))
        cls.url = "http://127.0.0.1:%s/mcp" % line

    @classmethod
    def tearDownClass(cls):
        cls.srv.terminate()
        cls.srv.wait(10)

    def test_list_tools(self):
        r = lkmcp.list_tools(self.url, KEY, IID)
        self.assertTrue(r["ok"], r)
        tools = {t["name"]: t for t in r["result"]}
        self.assertEqual(sorted(tools), ["broken", "consent", "echo", "whoami"])
        self.assertEqual(tools["echo"]["inputSchema"]["required"], ["text"])
        self.assertTrue(tools["echo"]["annotations"]["readOnlyHint"])
        self.assertEqual(r["protocolVersion"], "2025-11-25")

    def test_call_returns_the_result(self):
        r = lkmcp.call(self.url, KEY, IID, "echo", {"text": "héllo <&>"})
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["result"]["content"], [{"type": "text", "text": "héllo <&>"}])
        self.assertEqual(r["result"]["structuredContent"], {"text": "héllo <&>", "length": 9})

    def test_key_and_instance_reach_the_server(self):
        r = lkmcp.call(self.url, KEY, IID, "whoami")
        self.assertEqual(r["result"]["structuredContent"], {"authorization": "Bearer " + KEY, "instance": IID})
        r = lkmcp.call(self.url, None, None, "whoami", headers={"X-Extra": "1"})
        self.assertEqual(r["result"]["structuredContent"], {"authorization": None, "instance": None})

    def test_json_rpc_errors_keep_code_and_data(self):
        r = lkmcp.call(self.url, KEY, IID, "consent")
        self.assertFalse(r["ok"])
        e = r["error"]
        self.assertEqual(e["code"], -32042)
        self.assertIn("consent-for-tests", e["message"])
        self.assertEqual(e["data"]["elicitations"][0]["mode"], "url")
        self.assertEqual(e["data"]["elicitations"][0]["elicitationId"], "el-1")
        # bad arguments: the SDK server answers -32602
        r = lkmcp.call(self.url, KEY, IID, "echo", {"text": 5})
        if r["ok"]:  # SDK servers report input validation as a tool error
            self.assertTrue(r["result"]["isError"], r)
        else:
            self.assertEqual(r["error"]["code"], -32602, r)
        r = lkmcp.call(self.url, KEY, IID, "nope")
        self.assertTrue((not r["ok"] and r["error"]["code"] == -32602) or r["result"]["isError"], r)

    def test_tool_error_is_a_result(self):
        r = lkmcp.call(self.url, KEY, IID, "broken")
        self.assertTrue(r["ok"], r)
        self.assertTrue(r["result"]["isError"])
        self.assertEqual(r["result"]["content"][0]["text"], "upstream said 500")

    def test_older_protocol_version_and_ping(self):
        r = lkmcp.ping(self.url, KEY, IID, protocol_version="2025-06-18")
        self.assertEqual((r["ok"], r["protocolVersion"]), (True, "2025-06-18"), r)

    def test_transport_failure_has_no_rpc_code(self):
        r = lkmcp.call(self.url.replace("/mcp", "/nothing:1"), KEY, IID, "echo", {"text": "x"})
        self.assertTrue(r["ok"])   # any path: the echo server serves them all
        r = lkmcp.call("http://127.0.0.1:1/mcp", KEY, IID, "echo", {"text": "x"})
        self.assertFalse(r["ok"])
        self.assertIsNone(r["error"]["code"])

    def test_usage(self):
        p = subprocess.run(["node", lkmcp.CLIENT, "call", self.url], capture_output=True, text=True,
                           env=dict(os.environ, LATCHKEY_MCP_NODE_MODULES=lkmcp.node_modules()))
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage", p.stderr)


if __name__ == "__main__":
    unittest.main()
