#!/usr/bin/env python3
"""Benchmark: GET /token with 100,000 connected users (issue 15), next to a
FastCGI hello-world served by the same lighttpd in the same run.

    python3 bench/scale.py [--build build] [--users 100000] [--seconds 10]
                           [--connections 16] [--runs 3] [--dist both|zipf|uniform]

Starts its own throwaway stack (tests/stack.py) in var/bench-scale, imports
--users connections with `latchkey connection import` (the one account the
stack connected through the real flow lends them its metadata: its sites),
then, for Zipf-distributed users (s = 1.1) and for uniformly random ones,
runs wrk with a script that picks the instance per request, against
/token and against the hello-world (asked through the same script, so that
picking costs both sides alike), alternately, --runs times after a
warm-up. Prints each run, the median ratio and its spread, the p99 of
both, and the resident memory of every program's processes afterwards.
Targets: Zipf at 0.85 or more of the hello-world, uniform at 0.60 or more,
/token's p99 under twice the hello-world's, under 64 MB per process.
Needs wrk (Debian package wrk)."""
import json
import os
import re
import time
import urllib.parse

from benchlib import bench_args, Stack, hello_conf, line, request, users_script, wrk

PROGRAMS = ("authorize", "callback", "token", "refresh", "proxy", "mcp", "metrics")


def more(ap):
    ap.add_argument("--users", type=int, default=100000)
    ap.add_argument("--dist", choices=("both", "zipf", "uniform"), default="both")


def import_users(s, n):
    """n connections u1..un of profile bench, valid for a day; the seconds taken."""
    _, exported, _ = s.cli("connection", "export", "bench")
    model = json.loads(exported.splitlines()[0])
    path = os.path.join(s.dir, "users.jsonl")
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
    with open(path, "w") as fh:
        for i in range(1, n + 1):
            fh.write(json.dumps({"profile": "bench", "instance_id": "u%d" % i,
                                 "access_token": "at-scale-%d-%s" % (i, "x" * 32),
                                 "refresh_token": "rt-scale-%d-%s" % (i, "y" * 32),
                                 "expires_at": expires, "scope": model.get("scope") or "read",
                                 "metadata": model.get("metadata") or {}}) + "\n")
    t0 = time.monotonic()
    _, out, _ = s.cli("connection", "import", path, timeout=900)
    secs = time.monotonic() - t0
    os.unlink(path)
    print("imported %d connections in %.1f s: %s" % (n, secs, out.strip()))
    # What autovacuum and the next checkpoint would do to the import, done
    # now: the runs measure a settled table, not the clean-up after it.
    s.psql("VACUUM ANALYZE connections")
    s.psql("CHECKPOINT")
    return secs


def ms(text):
    """wrk's latency ("1.23ms", "850.00us", "1.02s") in milliseconds."""
    m = re.match(r"([\d.]+)(us|ms|s)$", text or "")
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def one_distribution(s, a, dist, target):
    """Alternating runs of hello-world and /token; the figures summarised."""
    auth = "Authorization: Bearer " + s.key
    prefix = urllib.parse.urlsplit(s.env["LATCHKEY_URL"]).path
    token = users_script(s, a.users, dist, "token-%s.lua" % dist, prefix + "/token/bench?instance_id=u")
    hello = users_script(s, a.users, dist, "hello-%s.lua" % dist, "/hello?instance_id=u")
    token_url = s.env["LATCHKEY_URL"] + "/token/bench"

    def hello_run(sec):
        return wrk(s.base + "/hello", sec, a.connections, (), hello)

    def token_run(sec):
        return wrk(token_url, sec, a.connections, [auth], token)

    print("== %s over %d users (target %d%% of the hello-world)" % (dist, a.users, target))
    hello_run(3)
    token_run(5)  # warm-up: the caches fill with what this distribution asks
    runs = []
    for i in range(a.runs):
        h, t = hello_run(a.seconds), token_run(a.seconds)
        assert t["non2xx"] == 0, t
        runs.append((h, t, 100.0 * t["rps"] / h["rps"]))
        print("run %d\n  %s\n  %s\n  ratio %.0f%%, p99 %.2fx the hello-world's"
              % (i + 1, line("hello-world", h), line("/token " + dist[:4], t), runs[-1][2],
                 ms(t["p99"]) / ms(h["p99"])))
    ratios = sorted(r[2] for r in runs)
    p99s = sorted(ms(r[1]["p99"]) / ms(r[0]["p99"]) for r in runs)
    mid = len(runs) // 2
    print("median ratio %.0f%% (spread %.0f–%.0f%%, target %d%%); median p99 %.2fx the hello-world's "
          "(spread %.2f–%.2f, target under 2)" % (ratios[mid], ratios[0], ratios[-1], target, p99s[mid], p99s[0],
                                                   p99s[-1]))
    return ratios[mid], p99s[mid]


def memory():
    """The largest resident set of each program's processes, in MB."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/status" % pid) as fh:
                status = fh.read()
        except OSError:
            continue
        name = re.search(r"^Name:\s+(\S+)", status, re.M).group(1)
        rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        if name in PROGRAMS and rss:
            out[name] = max(out.get(name, 0.0), int(rss.group(1)) / 1024.0)
    return out


def main():
    a = bench_args(__doc__, more)
    s = Stack("bench-scale", a.build, a.procs, hello_conf(a, "bench-scale"))
    try:
        status, _, _, body = request(s.env["LATCHKEY_URL"] + "/token/bench?instance_id=user_123",
                                     headers={"Authorization": "Bearer " + s.key})
        assert status == 200, body
        import_users(s, a.users)
        status, _, _, body = request(s.env["LATCHKEY_URL"] + "/token/bench?instance_id=u%d" % a.users,
                                     headers={"Authorization": "Bearer " + s.key})
        assert status == 200 and b"at-scale-" in body, body
        nan = (float("nan"), float("nan"))
        zipf = one_distribution(s, a, "zipf", 85) if a.dist != "uniform" else nan
        uniform = one_distribution(s, a, "uniform", 60) if a.dist != "zipf" else nan
        rss = memory()
        print("resident memory, largest process of each program (target under 64 MB): " +
              ", ".join("%s %.1f MB" % kv for kv in sorted(rss.items())))
        print("summary: %d users: Zipf %.0f%% (p99 %.2fx), uniform %.0f%% (p99 %.2fx) of the hello-world; "
              "largest process %.1f MB" % (a.users, zipf[0], zipf[1], uniform[0], uniform[1], max(rss.values())))
    finally:
        s.down()


if __name__ == "__main__":
    main()
