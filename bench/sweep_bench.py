#!/usr/bin/env python3
"""Benchmark: `latchkey sweep` at scale (issue 15).

    python3 bench/sweep_bench.py [--build build] [--bulk 100000] [--idle 1000]
                                 [--delay 0.2] [--parallel 1,4,16] [--runs 3]

Starts its own throwaway stack (tests/stack.py) in var/bench-sweep, then

  1. inserts --bulk connections with SQL directly, none needing a refresh
     (last refreshed now; their sealed values are dummies, never opened),
     and times `latchkey sweep` over them (target: under 5 s);
  2. connects --idle accounts through the real flow, makes them idle (last
     refreshed 100 days ago), has the fake provider take --delay seconds
     per token request, and times `latchkey sweep --parallel N` for each
     N (each sweep refreshes all of them; every one must be refreshed).
     --idle 0 measures the first part only.

Each figure is run --runs times: median and spread (min..max) printed."""
import argparse
import json
import os
import statistics
import subprocess
import time

from benchlib import ROOT, Stack, request


def args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--bulk", type=int, default=100000)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--parallel", default="1,4,16")
    ap.add_argument("--runs", type=int, default=3)
    return ap.parse_args()


def psql(s, query):
    e = s.env
    env = dict(os.environ, PGHOST=e["PGHOST"], PGPORT=e["PGPORT"], PGDATABASE=e["PGDATABASE"],
               PGUSER=e["PGUSER"])
    return subprocess.run([os.path.join(e["PG_BIN"], "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                           "-c", query], env=env, check=True, capture_output=True, text=True).stdout


def sweep(s, *extra):
    """Runs latchkey --json sweep; (seconds, report)."""
    cli = os.path.join(s.env["LATCHKEY_BIN"], "latchkey")
    env = dict(os.environ, LATCHKEY_CONFIG=s.env["LATCHKEY_CONFIG"])
    t0 = time.perf_counter()
    p = subprocess.run([cli, "--json", "sweep", *extra], env=env, capture_output=True, text=True, timeout=3600)
    took = time.perf_counter() - t0
    assert p.returncode == 0, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return took, json.loads(p.stdout)


def summary(name, times, target=None):
    med = statistics.median(times)
    print("%-28s median %7.2f s  spread %.2f..%.2f s over %d runs%s" % (
        name, med, min(times), max(times), len(times), "" if target is None else "  (target < %g s)" % target),
        flush=True)


def bulk(s, n):
    psql(s, "INSERT INTO connections (profile_id, instance_id, access_token, refresh_token, expires_at, "
            "last_refreshed_at, grant_issued_at) SELECT p.id, 'bulk_' || g, 'sealed-dummy', 'sealed-dummy', "
            "now() + interval '1 hour', now(), now() FROM profiles p, generate_series(1, %d) g "
            "WHERE p.name = 'bench'" % n)
    psql(s, "ANALYZE connections")


def make_idle(s):
    psql(s, "UPDATE connections SET last_refreshed_at = now() - interval '100 days', "
            "grant_issued_at = now() - interval '100 days' WHERE instance_id LIKE 'idle\\_%'")


def main():
    a = args()
    s = Stack("bench-sweep", a.build, 2)
    try:
        bulk(s, a.bulk)
        print("%d connections, none idle" % int(psql(s, "SELECT count(*) FROM connections")), flush=True)
        times = []
        for _ in range(a.runs):
            took, rep = sweep(s)
            assert not rep["refreshed"] and not rep["failed"], rep
            times.append(took)
        summary("sweep, nothing to refresh", times, 5)
        if a.idle == 0:
            return
        t0 = time.perf_counter()
        for i in range(a.idle):
            s.connect("idle_%d" % i)
        print("%d accounts connected in %.0f s" % (a.idle, time.perf_counter() - t0), flush=True)
        p = s.env["PROVIDER_URL"]
        request(p + "/_fake/fault", "POST", {"Content-Type": "application/json"},
                json.dumps({"kind": "delay", "delay": a.delay, "path": "/oauth/token", "count": -1}))
        for n in [int(x) for x in a.parallel.split(",")]:
            times = []
            for _ in range(a.runs):
                make_idle(s)
                took, rep = sweep(s, "--parallel", str(n), "--limit", str(a.idle))
                assert len(rep["refreshed"]) == a.idle and not rep["failed"], (len(rep["refreshed"]), rep["failed"][:3])
                times.append(took)
            summary("%d idle, --parallel %d" % (a.idle, n), times)
    finally:
        s.down()


if __name__ == "__main__":
    main()
