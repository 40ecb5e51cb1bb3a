#!/usr/bin/env python3
"""Benchmark: MCP tools/call confluence_get_page (a 50 KB storage page,
converted to Markdown) through /mcp next to the same GET through /proxy,
in the same run (target: the MCP path at 85% or more of the proxy's rate).
Measured twice, each on a stack of its own: as configured by default (the
mcp processes keep the pages they converted: markdown_cache_mb = 8, so an
agent reading a page again is what is measured), then with
markdown_cache_mb = 0 (every call converts the page, the first read).

    python3 bench/mcp_bench.py [--build build] [--seconds 10] [--connections 16]

The upstream is a second lighttpd serving the page's v2 JSON as a static
file, so Latchkey is what is measured, not the fake provider. Needs wrk."""
import json
import os
import signal

from benchlib import bench_args, ROOT, Stack, compare, request, wrk
from proxy_bench import CLOUD_ID, start_static

PAGE_ID = "424242"
PROTOCOL = "2025-06-18"


def storage_page(size):
    """A storage body of about size bytes with the constructs pages have."""
    block = ("<h2>Section</h2><p>Some <strong>bold</strong> and <em>emphasis</em>, a "
             "<a href=\"https://example.com/x\">link</a> &amp; an entity.</p>"
             "<ul><li><p>one</p><ul><li><p>nested</p></li></ul></li><li><p>two</p></li></ul>"
             "<table><tbody><tr><th><p>a</p></th><th><p>b</p></th></tr>"
             "<tr><td><p>1</p></td><td><p>2</p></td></tr></tbody></table>"
             "<ac:structured-macro ac:name=\"code\"><ac:parameter ac:name=\"language\">python</ac:parameter>"
             "<ac:plain-text-body><![CDATA[print('hello')\n]]></ac:plain-text-body></ac:structured-macro>")
    out = []
    while sum(len(b) for b in out) < size:
        out.append(block)
    return "".join(out)


def page_json():
    return json.dumps({
        "id": PAGE_ID, "status": "current", "title": "A long page", "spaceId": "98301",
        "parentId": None, "authorId": "u1", "createdAt": "2026-11-01T10:00:00.000Z",
        "version": {"number": 7, "createdAt": "2026-11-20T10:00:00.000Z", "authorId": "u1"},
        "body": {"storage": {"representation": "storage", "value": storage_page(50 * 1024)}},
        "_links": {"webui": "/spaces/ENG/pages/%s/A+long+page" % PAGE_ID,
                   "base": "https://acme.atlassian.net/wiki"}}) + "\n"


def measure(a, d, port, label, conf):
    """One stack with conf (latchkey.conf lines); the proxy and MCP rates compared; the median ratio."""
    s = None
    try:
        s = Stack("bench-mcp", a.build, a.procs, "",
                  api_base_url="http://127.0.0.1:%d/ex/confluence/{cloud_id}" % port)
        if conf:
            s.configure(conf)
        hdr = {"Authorization": "Bearer " + s.key, "X-Instance-Id": "user_123"}
        proxied = s.env["LATCHKEY_URL"] + "/proxy/bench/wiki/api/v2/pages/%s?body-format=storage" % PAGE_ID
        st, _, _, body = request(proxied, headers=hdr)
        assert st == 200 and json.loads(body)["id"] == PAGE_ID, (st, body[:200])
        mcp = s.env["LATCHKEY_URL"] + "/mcp/bench"
        call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                           "params": {"name": "confluence_get_page", "arguments": {"page_id": PAGE_ID}}})
        mhdr = dict(hdr, **{"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                            "MCP-Protocol-Version": PROTOCOL})
        st, _, _, body = request(mcp, "POST", mhdr, call)
        answer = json.loads(body)
        assert st == 200 and "result" in answer and not answer["result"].get("isError"), (st, body[:400])
        markdown = answer["result"]["structuredContent"]["body"]
        assert "## Section" in markdown and "```python" in markdown, markdown[:200]
        print("== %s" % label)
        print("page: %d bytes of storage -> %d bytes of Markdown; MCP answer %d bytes"
              % (len(storage_page(50 * 1024)), len(markdown), len(body)))
        script = os.path.join(d, "call.lua")
        with open(script, "w") as fh:
            fh.write('wrk.method = "POST"\nwrk.body = %s\n' % json.dumps(call))
        mh = ["%s: %s" % kv for kv in mhdr.items()]
        ph = ["%s: %s" % kv for kv in hdr.items()]
        return compare("/proxy GET", lambda sec: wrk(proxied, sec, a.connections, ph),
                       "/mcp get_page", lambda sec: wrk(mcp, sec, a.connections, mh, script),
                       a.seconds, a.runs, 85)
    finally:
        if s:
            s.down()


def main():
    a = bench_args(__doc__)
    d = os.path.join(ROOT, "var", "bench-mcp")
    os.makedirs(d, exist_ok=True)
    page_path = "ex/confluence/%s/wiki/api/v2/pages/%s" % (CLOUD_ID, PAGE_ID)
    up, port = start_static(d, {page_path: page_json()})
    try:
        warm = measure(a, d, port, "pages read again (markdown_cache_mb = 8, the default)", "")
        cold = measure(a, d, port, "every call converts (markdown_cache_mb = 0)", "markdown_cache_mb = 0\n")
        print("summary: MCP at %.0f%% of /proxy reading a page again, %.0f%% converting every call (target 85%%)"
              % (warm, cold))
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait()


if __name__ == "__main__":
    main()
