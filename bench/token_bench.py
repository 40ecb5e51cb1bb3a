#!/usr/bin/env python3
"""Benchmark: GET /token for a valid token next to a FastCGI hello-world
served by the same lighttpd in the same run (target: /token at 85% or more
of the hello-world's rate).

    python3 bench/token_bench.py [--build build] [--seconds 10] [--connections 16]
                                 [--users N [--dist uniform|zipf]]

Starts its own throwaway stack (tests/stack.py) in var/bench-token, connects
one account through the real flow against the fake provider, then runs wrk
against both routes and prints requests/s, p50 and p99 latency, and the
ratio. With --users N, N accounts are connected (through the same flow,
8 at a time) and each request asks for one of them, uniformly at random or
Zipf-distributed (s = 1.1, issue 15), as a wrk script picks it. Needs wrk
(Debian package wrk)."""
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from benchlib import bench_args, Stack, compare, hello_conf, request, users_script, wrk

def more(ap):
    ap.add_argument("--users", type=int, default=1)
    ap.add_argument("--dist", choices=("uniform", "zipf"), default="uniform")


def main():
    a = bench_args(__doc__, more)
    s = Stack("bench-token", a.build, a.procs, hello_conf(a, "bench-token"))
    try:
        token_url = s.env["LATCHKEY_URL"] + "/token/bench?instance_id=user_123"
        auth = "Authorization: Bearer " + s.key
        status, _, _, body = request(token_url, headers={"Authorization": "Bearer " + s.key})
        assert status == 200, body
        script = hello_script = None
        name = "GET /token"
        if a.users > 1:
            with ThreadPoolExecutor(8) as ex:
                list(ex.map(s.connect, ["u%d" % i for i in range(1, a.users + 1)]))
            script = users_script(s, a.users, a.dist, "users.lua",
                                  urllib.parse.urlsplit(token_url).path + "?instance_id=u")
            # The hello-world is asked through the same script: its cost in
            # wrk (on the same cores) weighs on both sides alike.
            hello_script = users_script(s, a.users, a.dist, "hello.lua", "/hello?instance_id=u")
            name = "/token %s/%d" % (a.dist[:4], a.users)
        compare("hello-world", lambda sec: wrk(s.base + "/hello", sec, a.connections, (), hello_script),
                name, lambda sec: wrk(token_url, sec, a.connections, [auth], script),
                a.seconds, a.runs, 85)
    finally:
        s.down()


if __name__ == "__main__":
    main()
