#!/usr/bin/env python3
"""Benchmark: what the outbox and the metrics cost a GET /token that
refreshes (SPEC §11; target: 5 % or less), in one run on one stack.

    python3 bench/refresh_bench.py [--build build] [--accounts 100] [--rounds 9] [--what both]

Starts its own throwaway stack (tests/stack.py) in var/bench-refresh and
connects --accounts accounts through the real flow against the fake
provider. A pass makes every access token expired (and last refreshed an
hour ago, so that none counts as just refreshed) and then times one GET
/token per account, one after the other over one kept-alive connection:
each call refreshes at the provider. Passes alternate, --rounds times,
between

  with:    as shipped: the outbox triggers of sql/008 and the metric
           triggers of sql/010 on, and the refresh counters written
           (metrics = true);
  without: those triggers disabled (ALTER TABLE ... DISABLE TRIGGER, by
           name: the cache's NOTIFY triggers stay) and metrics = false,
           which is the refresh path as it was before them.

--what outbox toggles the outbox's triggers only (metrics on in both
modes: the issue's "refresh with the outbox write" next to the same
refresh before it), --what metrics the metrics only (outbox on in both).

Switching restarts the web server (the programs read metrics at start);
a pass after each switch warms the new processes up unmeasured. Prints
each round's ratio of medians, the median and mean latency of each mode
and their ratios (the median of the rounds is the figure that noise from
other work on the machine moves least)."""
import argparse
import http.client
import os
import statistics
import subprocess
import time
import urllib.parse

from benchlib import ROOT, Stack

# The triggers the outbox (sql/008) and the metrics (sql/010) added.
OUTBOX = (("connections", "connections_event_insert"), ("connections", "connections_event_delete"),
          ("connections", "connections_event_update"), ("profiles", "profiles_event_misconfigured"))
METRICS = (("connections", "connections_metric_insert"), ("connections", "connections_metric_delete"),
           ("connections", "connections_metric_update"))


def args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--accounts", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--what", choices=("both", "outbox", "metrics"), default="both")
    return ap.parse_args()


def psql(s, query):
    e = s.env
    env = dict(os.environ, PGHOST=e["PGHOST"], PGPORT=e["PGPORT"], PGDATABASE=e["PGDATABASE"],
               PGUSER=e["PGUSER"])
    subprocess.run([os.path.join(e["PG_BIN"], "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", query],
                   env=env, check=True, capture_output=True)


def switch(s, on, what):
    """Turns the outbox, the metrics or both on or off (restarting the
    programs); what is not measured stays on."""
    triggers = (OUTBOX if what != "metrics" else ()) + (METRICS if what != "outbox" else ())
    verb = "ENABLE" if on else "DISABLE"
    psql(s, "; ".join("ALTER TABLE %s %s TRIGGER %s" % (t, verb, n) for t, n in triggers))
    s.configure("metrics = %s\n" % ("true" if on or what == "outbox" else "false"))


def one_pass(s, accounts):
    """Expires every token, then times one refreshing GET /token each."""
    psql(s, "UPDATE connections SET expires_at = now() - interval '1 second', "
            "last_refreshed_at = now() - interval '1 hour', grant_issued_at = now() - interval '1 hour'")
    u = urllib.parse.urlsplit(s.env["LATCHKEY_URL"])
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    auth = {"Authorization": "Bearer " + s.key}
    times = []
    for iid in accounts:
        t0 = time.perf_counter()
        conn.request("GET", u.path + "/token/bench?instance_id=" + iid, headers=auth)
        resp = conn.getresponse()
        body = resp.read()
        times.append(time.perf_counter() - t0)
        assert resp.status == 200, body
    conn.close()
    return times


def main():
    a = args()
    s = Stack("bench-refresh", a.build, a.procs)
    try:
        accounts = ["user_123"] + ["user_%d" % i for i in range(1, a.accounts)]
        for iid in accounts[1:]:
            s.connect(iid)
        got = {True: [], False: []}
        ratios = []
        for mode in (True, False):  # warm-up
            switch(s, mode, a.what)
            one_pass(s, accounts)
        for r in range(a.rounds):
            this = {}
            for mode in ((True, False) if r % 2 == 0 else (False, True)):
                switch(s, mode, a.what)
                one_pass(s, accounts)  # the new processes connect and prepare
                this[mode] = one_pass(s, accounts)
                got[mode] += this[mode]
            ratios.append(statistics.median(this[True]) / statistics.median(this[False]))
            print("round %d: with/without median %+.1f %%" % (r + 1, 100 * (ratios[-1] - 1)), flush=True)
        switch(s, True, a.what)
        for mode, name in ((False, "without"), (True, "with")):
            ms = [1000 * x for x in got[mode]]
            print("%-8s %5d refreshes  median %.3f ms  mean %.3f ms  p90 %.3f ms" % (
                name, len(ms), statistics.median(ms), statistics.mean(ms),
                sorted(ms)[int(0.9 * len(ms))]))
        med = statistics.median(got[True]) / statistics.median(got[False])
        mean = statistics.mean(got[True]) / statistics.mean(got[False])
        what = {"both": "outbox + metrics", "outbox": "the outbox", "metrics": "the metrics"}[a.what]
        print("%s cost a refreshing GET /token: median %+.1f %%, mean %+.1f %%, "
              "median of the rounds %+.1f %% (target <= 5 %%)" % (
                  what, 100 * (med - 1), 100 * (mean - 1), 100 * (statistics.median(ratios) - 1)))
    finally:
        s.down()


if __name__ == "__main__":
    main()
