#!/usr/bin/env python3
"""Benchmark: GET /token for a valid token next to a FastCGI hello-world
served by the same lighttpd in the same run (issue 3's target: /token at
85% or more of the hello-world's rate).

    python3 bench/token_bench.py [--build build] [--seconds 10] [--connections 16]

Starts its own throwaway stack (tests/stack.py) in var/bench, connects one
account through the real flow against the fake provider, then runs wrk
against both routes and prints requests/s, p50 and p99 latency, and the
ratio. Needs wrk (Debian package wrk)."""
import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw).stdout


def request(url, method="GET", headers=None, body=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    path = u.path + ("?" + u.query if u.query else "")
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.getheader("Location"), resp.getheader("Set-Cookie"), data


def connect_account(env, cli, key, profile, instance):
    """authorize → provider (auto-approve) → callback, keeping the cookie."""
    status, _, _, body = request(env["LATCHKEY_URL"] + "/authorize/" + profile, "POST",
                                 {"Authorization": "Bearer " + key, "Content-Type": "application/json"},
                                 json.dumps({"instance_id": instance}))
    assert status == 201, body
    link = json.loads(body)["authorization_url"]
    status, loc, cookie, _ = request(link)
    assert status == 302, status
    status, cb, _, _ = request(loc)
    assert status == 302, status
    status, _, _, body = request(cb, headers={"Cookie": cookie.split(";")[0]})
    assert status == 200, body


def wrk(url, seconds, connections, header=None):
    args = ["wrk", "-t2", "-c%d" % connections, "-d%ds" % seconds, "--latency", url]
    if header:
        args[1:1] = ["-H", header]
    out = sh(*args)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"),
            "non2xx": int(errors.group(1)) if errors else 0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--procs", type=int, default=2)
    a = ap.parse_args()
    stack_dir = os.path.join(ROOT, "var", "bench")
    os.makedirs(stack_dir, exist_ok=True)
    extra = os.path.join(stack_dir, "hello.conf")
    with open(extra, "w") as fh:
        fh.write('fastcgi.server += ( "/hello" => (( "socket" => "%s/hello.sock", "bin-path" => "%s",'
                 ' "max-procs" => %d, "check-local" => "disable" )) )\n'
                 % (stack_dir, os.path.join(a.build, "bench", "bench_hello"), a.procs))
    stack = [sys.executable, os.path.join(ROOT, "tests", "stack.py")]
    sh(*stack, "up", "--force", "--dir", stack_dir, "--bin", os.path.join(a.build, "bin"),
       "--source", ROOT, "--procs", str(a.procs), "--extra-conf", extra)
    try:
        env = dict(line.split("=", 1) for line in open(os.path.join(stack_dir, "stack.env")).read().split()
                   if "=" in line)
        env = {k: v.strip("'") for k, v in env.items()}
        cli = [os.path.join(env["LATCHKEY_BIN"], "latchkey")]
        cenv = dict(os.environ, LATCHKEY_CONFIG=env["LATCHKEY_CONFIG"])
        secret = os.path.join(stack_dir, "client.secret")
        with open(secret, "w") as fh:
            fh.write("bench-secret")
        callback = env["LATCHKEY_URL"] + "/callback/bench"
        request(env["PROVIDER_URL"] + "/_fake/clients", "POST", {"Content-Type": "application/json"},
                json.dumps({"client_id": "bench", "client_secret": "bench-secret", "redirect_uris": [callback]}))
        request(env["PROVIDER_URL"] + "/_fake/config", "POST", {"Content-Type": "application/json"},
                json.dumps({"auto_approve": True, "access_token_ttl": 86400}))
        p = env["PROVIDER_URL"]
        sh(*cli, "profile", "add", "bench", "--template", "atlassian-confluence", "--client-id", "bench",
           "--client-secret-file", secret, "--callback-url", callback, "--authorization-url", p + "/authorize",
           "--token-url", p + "/oauth/token", "--resources-url", p + "/oauth/token/accessible-resources",
           "--api-base-url", p + "/ex/confluence/{cloud_id}", env=cenv)
        key = sh(*cli, "key", "create", "--name", "bench", "--profiles", "bench", env=cenv).strip()
        connect_account(env, cli, key, "bench", "user_123")
        base = "http://127.0.0.1:%s" % env["LIGHTTPD_PORT"]
        token_url = env["LATCHKEY_URL"] + "/token/bench?instance_id=user_123"
        status, _, _, body = request(token_url, headers={"Authorization": "Bearer " + key})
        assert status == 200, body
        # Warm both up, then measure each for the same time.
        wrk(base + "/hello", 2, a.connections)
        wrk(token_url, 2, a.connections, "Authorization: Bearer " + key)
        hello = wrk(base + "/hello", a.seconds, a.connections)
        token = wrk(token_url, a.seconds, a.connections, "Authorization: Bearer " + key)
        print("hello-world  %8.0f req/s  p50 %-8s p99 %-8s non-2xx %d" % (hello["rps"], hello["p50"], hello["p99"], hello["non2xx"]))
        print("GET /token   %8.0f req/s  p50 %-8s p99 %-8s non-2xx %d" % (token["rps"], token["p50"], token["p99"], token["non2xx"]))
        print("ratio /token : hello-world = %.0f%% (target 85%%)" % (100.0 * token["rps"] / hello["rps"]))
    finally:
        sh(*stack, "down", "--dir", stack_dir)


if __name__ == "__main__":
    main()
