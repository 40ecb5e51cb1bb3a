"""Drives the official MCP TypeScript SDK client (tests/mcp/client.mjs) from
Python tests, one subprocess per call.

    r = lkmcp.call(url, key, instance, "confluence_get_page", {"page_id": "65538"})
    r["ok"]      True: r["result"] is the CallToolResult
                 False: r["error"] is {"code", "message", "data", "name",
                 "http_status"} (code: the JSON-RPC error code, None for a
                 transport failure such as an HTTP status)

The SDK is installed by tests/mcp/npm-ci.sh (CTest e2e.mcp_deps) into the
build's mcp/node_modules: LATCHKEY_MCP_NODE_MODULES names it, else it is found
beside the stack (STACK_ENV=BUILD/stack/stack.env), else BUILD=build.
"""

import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(os.path.dirname(HERE), "mcp", "client.mjs")
TIMEOUT = 60


def node_modules():
    """The directory the SDK is installed in (it may not exist yet)."""
    if os.environ.get("LATCHKEY_MCP_NODE_MODULES"):
        return os.environ["LATCHKEY_MCP_NODE_MODULES"]
    env = os.environ.get("STACK_ENV")
    build = (os.path.dirname(os.path.dirname(os.path.abspath(env))) if env else
             os.path.join(os.path.dirname(os.path.dirname(HERE)), "build"))
    return os.path.join(build, "mcp", "node_modules")


def run(cmd, url, key, instance, *rest, headers=None, protocol_version=None, timeout=TIMEOUT):
    """client.mjs CMD URL KEY INSTANCE REST... -> its JSON answer (a dict with ok).
    key or instance None leaves that header out."""
    argv = ["node", CLIENT]
    for k, v in (headers or {}).items():
        argv += ["--header", "%s: %s" % (k, v)]
    if protocol_version:
        argv += ["--protocol-version", protocol_version]
    argv += [cmd, url, key or "-", instance or "-"] + list(rest)
    env = dict(os.environ, LATCHKEY_MCP_NODE_MODULES=node_modules())
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode not in (0, 1):
        raise RuntimeError("client.mjs failed (%d): %s" % (p.returncode, p.stderr.strip()))
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError("client.mjs printed no JSON: %r %r" % (p.stdout, p.stderr))


def call(url, key, instance, tool, arguments=None, **kw):
    """tools/call tool(arguments) through the SDK's Client."""
    return run("call", url, key, instance, tool, json.dumps(arguments or {}), **kw)


def list_tools(url, key, instance, **kw):
    """tools/list through the SDK's Client: result is the tools array."""
    return run("list", url, key, instance, **kw)


def ping(url, key, instance, **kw):
    return run("ping", url, key, instance, **kw)
