#!/usr/bin/env python3
"""Benchmark: a small GET through /proxy next to a plain reverse proxy
(lighttpd mod_proxy with a fixed Authorization header) to the same fast
upstream, in the same run (target: the proxy at 80% or more, issue 15).

    python3 bench/proxy_bench.py [--build build] [--seconds 10] [--connections 16]

The upstream is a second lighttpd serving a static JSON answer, so the
proxies are what is measured, not the fake provider. Needs wrk."""
import os
import signal
import socket
import subprocess
import time

from benchlib import bench_args, ROOT, Stack, compare, request, wrk

CLOUD_ID = "11111111-1111-4111-8111-111111111111"
SPACE = ('{"results":[{"key":"ENG","name":"Engineering","type":"global"},'
         '{"key":"OPS","name":"Operations","type":"global"}],"start":0,"limit":2,"size":2}\n')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_static(d, files):
    """A second lighttpd serving files ({path: text}) as JSON, whatever the
    query string; returns (process, port)."""
    www = os.path.join(d, "upstream-www")
    for path, text in files.items():
        full = os.path.join(www, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as fh:
            fh.write(text)
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
            time.sleep(0.02)
    raise SystemExit("upstream lighttpd did not start")


def main():
    a = bench_args(__doc__)
    d = os.path.join(ROOT, "var", "bench-proxy")
    os.makedirs(d, exist_ok=True)
    up, port = start_static(d, {"ex/confluence/%s/wiki/rest/api/space" % CLOUD_ID: SPACE})
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
        hdrs = ["Authorization: Bearer " + s.key, "X-Instance-Id: user_123"]
        compare("mod_proxy", lambda sec: wrk(plain, sec, a.connections),
                "/proxy", lambda sec: wrk(proxied, sec, a.connections, hdrs),
                a.seconds, a.runs, 80)
    finally:
        if s:
            s.down()
        os.killpg(up.pid, signal.SIGTERM)
        up.wait()


if __name__ == "__main__":
    main()
