#!/usr/bin/env python3
"""Benchmark: webhook deliveries per second by `latchkey events`, with 1 and
with 4 deliverers, to a local receiver (tests/webhooks/receiver.mjs, which
verifies every signature with the standardwebhooks library).

    python3 bench/events_bench.py [--build build] [--events 20000] [--streams 200] [--runs 3]

Starts its own throwaway stack (tests/stack.py) in var/bench-events, adds a
webhook, then per run queues --events events over --streams connections
with no deliverer running, starts the deliverers and times them until every
delivery is marked delivered. Prints each run and the median. Needs node
and the receiver's library (ctest -R webhooks_deps, or
tests/webhooks/npm-ci.sh BUILD/webhooks)."""
import argparse
import json
import os
import signal
import statistics
import subprocess
import time

from benchlib import ROOT, Stack, sh


def args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    return ap.parse_args()


class Bench:
    def __init__(self, a):
        self.a = a
        self.s = Stack("bench-events", a.build, 2)
        e = self.s.env
        self.pgenv = dict(os.environ, PGHOST=e["PGHOST"], PGPORT=e["PGPORT"], PGDATABASE=e["PGDATABASE"],
                          PGUSER=e["PGUSER"])
        self.cenv = dict(os.environ, LATCHKEY_CONFIG=e["LATCHKEY_CONFIG"])
        self.cli = os.path.join(e["LATCHKEY_BIN"], "latchkey")
        renv = dict(os.environ, LATCHKEY_WEBHOOKS_NODE_MODULES=os.path.join(a.build, "webhooks", "node_modules"))
        self.recv = subprocess.Popen(["node", os.path.join(ROOT, "tests", "webhooks", "receiver.mjs")],
                                     stdout=subprocess.PIPE, text=True, env=renv)
        port = json.loads(self.recv.stdout.readline())["port"]
        out = sh(self.cli, "--json", "webhook", "add", "http://127.0.0.1:%d/h/bench" % port, "--profiles", "bench",
                 env=self.cenv)
        self.wid = json.loads(out)["id"]

    def psql(self, q):
        return sh(os.path.join(self.s.env["PG_BIN"], "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", q,
                  env=self.pgenv).strip()

    def queue(self):
        self.psql("SELECT count(latchkey_event('connection.created', 'bench', 'u' || (g %% %d), "
                  "jsonb_build_object('profile', 'bench', 'instance_id', 'u' || (g %% %d), 'status', 'active', "
                  "'seq', g))) FROM generate_series(1, %d) g" % (self.a.streams, self.a.streams, self.a.events))

    def pending(self):
        return int(self.psql("SELECT count(*) FROM deliveries WHERE webhook_id = %s AND status = 'pending'"
                             % self.wid))

    def run(self, workers):
        """Seconds for workers deliverers to deliver a queue of --events
        (each run on an emptied, vacuumed outbox: the same start for all)."""
        self.psql("DELETE FROM events")
        self.psql("VACUUM ANALYZE events, deliveries")
        self.queue()
        log = open(os.path.join(self.s.dir, "events.log"), "ab")
        t0 = time.monotonic()
        procs = [subprocess.Popen([self.cli, "events"], env=self.cenv, stdout=log, stderr=log)
                 for _ in range(workers)]
        try:
            while self.pending():
                time.sleep(0.05)
            return time.monotonic() - t0
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(30)
            log.close()

    def down(self):
        self.recv.terminate()
        self.recv.wait(10)
        self.s.down()


def main():
    a = args()
    b = Bench(a)
    try:
        print("%d events over %d connections per run, receiver verifying with standardwebhooks"
              % (a.events, a.streams))
        rates = {1: [], 4: []}
        for i in range(a.runs):  # alternately, so that drift hits both alike
            for workers in rates:
                secs = b.run(workers)
                rates[workers].append(a.events / secs)
                print("  run %d, %d deliverer%s: %.2f s, %.0f events/s"
                      % (i + 1, workers, "" if workers == 1 else "s", secs, rates[workers][-1]))
        for workers, r in rates.items():
            print("%d deliverer%s: median %.0f events/s" % (workers, "" if workers == 1 else "s",
                                                             statistics.median(r)))
    finally:
        b.down()


if __name__ == "__main__":
    main()
