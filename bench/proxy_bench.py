#!/usr/bin/env python3
"""Benchmark: a small GET through /proxy next to a plain reverse proxy
(lighttpd mod_proxy with a fixed Authorization header) to the same fast
upstream, in the same run (target: the proxy at 70% or more).

    python3 bench/proxy_bench.py [--build build] [--seconds 10] [--connections 16]

The upstream is a second lighttpd serving a static JSON answer, so the
proxies are what is measured, not the fake provider. Needs wrk."""
import argparse
import os
import signal
import socket
import subprocess

from benchlib import ROOT, Stack, line, request, wrk

CLOUD_ID = "11111111-1111-4111-8111-111111111111"
SPACE = ('{"results":[{"key":"ENG","name":"Engineering","type":"global"},'
         '{"key":"OPS","name":"Operations","type":"global"}],"start":0,"limit":2,"size":2}\n')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_upstream(d):
    """A second lighttpd: static files only."""
    www = os.path.join(d, "upstream-www")
    path = os.path.join(www, "ex", "confluence", CLOUD_ID, "wiki", "rest", "api")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "space"), "w") as fh:
        fh.write(SPACE)
    port = free_port()
    conf = os.path.join(d, "upstream.conf")
    with open(conf, "w") as fh:
        fh.write('server.document-root = "%s"\nserver.bind = "127.0.0.1"\nserver.port = %d\n'
                 'server.errorlog = "%s/upstream-error.log"\nmimetype.assign = ( "" => "application/json" )\n'
                 % (www, port, d))
    proc = subprocess.Popen(["lighttpd", "-D", "-f", conf], stdin=subprocess.DEVNULL, start_new_session=True)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("upstream lighttpd did not start")
            import time
            time.sleep(0.02)
    raise SystemExit("upstream lighttpd did not start")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--procs", type=int, default=2)
    a = ap.parse_args()
    d = os.path.join(ROOT, "var", "bench-proxy")
    os.makedirs(d, exist_ok=True)
    up, port = start_upstream(d)
    extra = ('server.modules += ( "mod_proxy", "mod_setenv" )\n'
             '$HTTP["url"] =^ "/plain/" {\n'
             '  proxy.server = ( "" => (( "host" => "127.0.0.1", "port" => %d )) )\n'
             '  proxy.header = ( "map-urlpath" => ( "/plain/" => "/ex/confluence/%s/" ) )\n'
             '  setenv.set-request-header = ( "Authorization" => "Bearer fixed-token-of-the-same-length" )\n'
             '}\n' % (port, CLOUD_ID))
    s = None
    try:
        s = Stack("bench-proxy", a.build, a.procs, extra,
                  api_base_url="http://127.0.0.1:%d/ex/confluence/{cloud_id}" % port)
        proxied = s.env["LATCHKEY_URL"] + "/proxy/bench/wiki/rest/api/space"
        plain = s.base + "/plain/wiki/rest/api/space"
        hdr = {"Authorization": "Bearer " + s.key, "X-Instance-Id": "user_123"}
        st, _, _, body = request(proxied, headers=hdr)
        assert st == 200 and body.decode() == SPACE, (st, body)
        st, _, _, body = request(plain)
        assert st == 200 and body.decode() == SPACE, (st, body)
        # wrk takes one -H per header: put both in one run via a Lua-free trick,
        # two -H flags.
        def wrk_proxy(seconds):
            import re
            import subprocess as sp
            out = sp.run(["wrk", "-t2", "-c%d" % a.connections, "-d%ds" % seconds, "--latency",
                          "-H", "Authorization: Bearer " + s.key, "-H", "X-Instance-Id: user_123", proxied],
                         check=True, capture_output=True, text=True).stdout
            lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                    "p50": lat.get("50"), "p99": lat.get("99"),
                    "non2xx": int(errors.group(1)) if errors else 0}
        wrk(plain, 2, a.connections)  # warm up both
        wrk_proxy(2)
        p = wrk(plain, a.seconds, a.connections)
        x = wrk_proxy(a.seconds)
        print(line("mod_proxy", p))
        print(line("/proxy", x))
        print("ratio /proxy : mod_proxy = %.0f%% (target 70%%)" % (100.0 * x["rps"] / p["rps"]))
    finally:
        if s:
            s.down()
        os.killpg(up.pid, signal.SIGTERM)
        up.wait()


if __name__ == "__main__":
    main()
