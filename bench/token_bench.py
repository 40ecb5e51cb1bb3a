#!/usr/bin/env python3
"""Benchmark: GET /token for a valid token next to a FastCGI hello-world
served by the same lighttpd in the same run (target: /token at 85% or more
of the hello-world's rate).

    python3 bench/token_bench.py [--build build] [--seconds 10] [--connections 16]

Starts its own throwaway stack (tests/stack.py) in var/bench-token, connects
one account through the real flow against the fake provider, then runs wrk
against both routes and prints requests/s, p50 and p99 latency, and the
ratio. Needs wrk (Debian package wrk)."""
import os

from benchlib import bench_args, ROOT, Stack, compare, request, wrk


def main():
    a = bench_args(__doc__)
    hello = os.path.join(a.build, "bench", "bench_hello")
    sockdir = os.path.join(ROOT, "var", "bench-token")
    extra = ('fastcgi.server += ( "/hello" => (( "socket" => "%s/hello.sock", "bin-path" => "%s",'
             ' "max-procs" => %d, "check-local" => "disable" )) )\n' % (sockdir, hello, a.procs))
    s = Stack("bench-token", a.build, a.procs, extra)
    try:
        token_url = s.env["LATCHKEY_URL"] + "/token/bench?instance_id=user_123"
        auth = "Authorization: Bearer " + s.key
        status, _, _, body = request(token_url, headers={"Authorization": "Bearer " + s.key})
        assert status == 200, body
        compare("hello-world", lambda sec: wrk(s.base + "/hello", sec, a.connections),
                "GET /token", lambda sec: wrk(token_url, sec, a.connections, [auth]),
                a.seconds, a.runs, 85)
    finally:
        s.down()


if __name__ == "__main__":
    main()
