#!/usr/bin/env python3
"""The cluster suite (SPEC §12): three web nodes, a PostgreSQL primary with
a synchronous standby, PgBouncer and the fake provider, each on its own
network namespace (tests/cluster/cluster.py), and the scenarios that prove
the refresh guarantees of SPEC §5 across machines.

    python3 tests/cluster/suite.py --bin BUILD/bin [--only NAME,...]
                                   [--figures FILE] [--logs DIR]

Root only: prints "SKIP: ..." and exits 0 where namespaces cannot be made.
Each scenario asserts end states with deadlines and prints its figures;
the last line is "N passed, N failed".  Everything is torn down at the end,
whatever happened (and on SIGTERM / SIGINT).
"""

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))

import cluster as C  # noqa: E402

lk = f = t = None  # the e2e helpers, imported once the env file exists
FIGURES = collections.OrderedDict()
HOOK_PORT = 9099


def say(msg):
    print(msg, flush=True)


def figure(name, value):
    FIGURES[name] = value
    say("  figure: %s = %s" % (name, value))


class Cl:
    cl = None
    P = None
    hooks = None  # the receivers' log, once hooks_up() ran


# ------------------------------------------------------------------ helpers

def node(name):
    return Cl.cl.nodes[name]


def token(name, p, iid, key=None, timeout=30, **params):
    params["instance_id"] = iid
    return lk.http("GET", "%s/token/%s?%s" % (node(name).url, p.name, urllib.parse.urlencode(params)),
                   headers={"Authorization": "Bearer " + (key or p.key)}, timeout=timeout)


def delete(name, p, iid):
    return lk.http("DELETE", "%s/token/%s?instance_id=%s" % (node(name).url, p.name, iid),
                   headers={"Authorization": "Bearer " + p.key})


def mcp_call(name, p, iid):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "confluence_list_spaces", "arguments": {}}}
    return lk.http("POST", "%s/mcp/%s" % (node(name).url, p.name), body=body, timeout=30,
                   headers={"Authorization": "Bearer " + p.key, "X-Instance-Id": iid,
                            "Accept": "application/json, text/event-stream"})


def status_of(r):
    return getattr(r, "status", type(r).__name__)


def fake_clear():
    lk.fake("POST", "/_fake/fault/clear", {})
    lk.fake("POST", "/_fake/release", {})


def cli_on(host, *args, check=True):
    """The CLI run on a node (its own latchkey.conf, its own network)."""
    conf = node(host).p("latchkey.conf")
    res = subprocess.run(C.in_ns(host, ["env", "LATCHKEY_CONFIG=" + conf,
                                        os.path.join(Cl.cl.bin, "latchkey")] + list(args)),
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    if check and res.returncode != 0:
        raise AssertionError("latchkey %s on %s: rc %d %s" % (" ".join(args), host,
                                                             res.returncode, res.stderr))
    return res


def family_revoked(tok):
    return t.family_of(tok)["revoked"]


def wait_first(pred, timeout, interval=0.02, what="condition"):
    """Polls pred until true; returns the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


def spread(p, iid, n, attempts=8):
    """n /token calls at once, spread over the three nodes, each retrying
    a 503 refresh_in_progress as a bot does."""
    calls = [lambda i=i: t.retrying(lambda: token(C.NODES[i % 3], p, iid, timeout=60),
                                    attempts=attempts) for i in range(n)]
    return t.concurrently(calls, timeout=180)


# ------------------------------------------------------------------ scenarios

def storm(label="storm", n=150):
    """An expiring connection, n concurrent /token calls over three nodes:
    one provider call, one token for everyone."""
    p = Cl.P
    iid = t.connect(p)
    old = t.token_of(token("node2", p, iid))
    t.expire(p, iid)
    t.fault(kind="delay", delay=0.5, count=-1)
    c0 = t.counters()
    t0 = time.monotonic()
    try:
        results = spread(p, iid, n)
    finally:
        fake_clear()
    secs = time.monotonic() - t0
    c1 = t.counters()
    bad = collections.Counter(status_of(r) for r in results if status_of(r) != 200)
    assert not bad, "answers other than 200: %s" % dict(bad)
    calls = c1["token_refresh"] - c0["token_refresh"]
    tokens = collections.Counter(r.json()["access_token"] for r in results)
    figure(label + ".provider_calls", calls)
    figure(label + ".distinct_tokens", len(tokens))
    figure(label + ".seconds", round(secs, 2))
    assert calls == 1, "provider refresh calls: %d" % calls
    assert len(tokens) == 1, tokens
    new = next(iter(tokens))
    assert new != old
    assert not family_revoked(new)
    row = t.row(p, iid)
    assert row["status"] == "active" and row["refresh_count"] == 1, row


def coherence(label="coherence"):
    """A bot key revoked on node1, a connection deleted on node2: both
    refused on node3 within 1 s."""
    p = Cl.P
    iid = t.connect(p)
    key_name, key = f.make_key(p.name)
    for _ in range(12):  # every worker of node3 caches both answers
        r = token("node3", p, iid, key=key)
        assert r.status == 200, r
    r = cli_on("node1", "key", "revoke", key_name)
    t0 = time.monotonic()
    t1 = wait_first(lambda: token("node3", p, iid, key=key).status == 401, 5,
                    what="node3 to refuse the revoked key")
    after = collections.Counter(token("node3", p, iid, key=key).status for _ in range(12))
    figure(label + ".key_revoked_seconds", round(t1 - t0, 3))
    assert after == {401: 12}, after
    assert t1 - t0 <= 1.0, "revoked key refused on node3 after %.3fs" % (t1 - t0)
    for _ in range(12):
        assert token("node3", p, iid).status == 200
    r = delete("node2", p, iid)
    assert r.status in (200, 204), r
    t0 = time.monotonic()
    t1 = wait_first(lambda: token("node3", p, iid).status == 404, 5,
                    what="node3 to answer 404 for the deleted connection")
    after = collections.Counter(token("node3", p, iid).status for _ in range(12))
    figure(label + ".connection_deleted_seconds", round(t1 - t0, 3))
    assert after == {404: 12}, after
    assert t1 - t0 <= 1.0, "deleted connection served on node3 for %.3fs" % (t1 - t0)


def node_killed(when):
    """node1's token worker SIGKILLed while the provider holds its refresh
    (when="before": the provider has not rotated yet; "after": it has)."""
    p = Cl.P
    label = "node_killed_" + when
    iid = t.connect(p)
    t.token_of(token("node2", p, iid))
    t.expire(p, iid)
    t.fault(kind="hold", when=when, count=1)
    first = []
    th = threading.Thread(target=lambda: first.append(_safe(lambda: token("node1", p, iid))),
                          daemon=True)
    th.start()
    try:
        r = lk.fake("POST", "/_fake/wait_held", {"count": 1, "timeout": 15})
        assert r["held"] >= 1
        others = []
        runners = [threading.Thread(target=lambda n=n: others.append(
            t.retrying(lambda: token(n, p, iid, timeout=60), attempts=10)), daemon=True)
            for n in ("node2", "node3", "node2", "node3")]
        for x in runners:
            x.start()
        time.sleep(0.5)  # they wait on the row lock
        killed = Cl.cl.workers("node1", "token")
        for pid in killed:
            os.kill(pid, 9)
        tk = time.monotonic()
        for x in runners:
            x.join(60)
        done = time.monotonic()
    finally:
        fake_clear()
    th.join(30)
    statuses = collections.Counter(status_of(r) for r in others)
    assert statuses == {200: 4}, statuses
    tokens = {r.json()["access_token"] for r in others}
    assert len(tokens) == 1, tokens
    new = tokens.pop()
    figure(label + ".workers_killed", len(killed))
    figure(label + ".others_served_after_seconds", round(done - tk, 2))
    assert done - tk <= C.TIMEOUTS["lock_timeout_ms"] / 1000 + 3
    assert not family_revoked(new), "the provider revoked the chain"
    # No re-consent: the stored refresh token still works, from any node.
    t.expire(p, iid)
    r = token("node1", p, iid)
    assert r.status == 200, r
    assert not family_revoked(r.json()["access_token"])
    assert t.row(p, iid)["status"] == "active"


def _safe(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - reported by status_of
        return e


def node_cut_off():
    """node1's link goes down while it holds the row lock (the provider
    holds its refresh): the others go on once PostgreSQL ends node1's
    session (keepalive / idle_in_transaction_session_timeout)."""
    p = Cl.P
    cl = Cl.cl
    iid = t.connect(p)
    t.token_of(token("node2", p, iid))
    t.expire(p, iid)
    t.fault(kind="hold", count=1)
    th = threading.Thread(target=lambda: _safe(lambda: token("node1", p, iid, timeout=90)),
                          daemon=True)
    th.start()
    others = []
    try:
        assert lk.fake("POST", "/_fake/wait_held", {"count": 1, "timeout": 15})["held"] >= 1
        cl.link("node1", False)
        tc = time.monotonic()
        runners = [threading.Thread(target=lambda n=n: others.append(
            t.retrying(lambda: token(n, p, iid, timeout=60), attempts=12)), daemon=True)
            for n in ("node2", "node3")]
        for x in runners:
            x.start()
        for x in runners:
            x.join(90)
        done = time.monotonic()
    finally:
        fake_clear()
        cl.link("node1", True)
    statuses = collections.Counter(status_of(r) for r in others)
    assert statuses == {200: 2}, statuses
    tokens = {r.json()["access_token"] for r in others}
    assert len(tokens) == 1, tokens
    new = tokens.pop()
    bound = C.TX_IDLE_S + C.TIMEOUTS["lock_timeout_ms"] / 1000 + 4
    figure("node_cut_off.others_served_after_seconds", round(done - tc, 2))
    figure("node_cut_off.bound_seconds", bound)
    assert done - tc <= bound
    assert not family_revoked(new)
    # node1, back on the network, serves the same token by itself.
    t1 = wait_first(lambda: _ok_token(token, "node1", p, iid) == new, 60, interval=0.2,
                    what="node1 back")
    figure("node_cut_off.node1_back_after_link_up_seconds", round(t1 - done, 2))
    assert t.row(p, iid)["status"] == "active"


def _ok_token(fn, *a):
    r = _safe(lambda: fn(*a, timeout=5))
    return r.json().get("access_token") if status_of(r) == 200 else None


def through_pgbouncer():
    """Storm and coherence with every node behind PgBouncer (session mode)."""
    cl = Cl.cl
    if "session" not in cl.pgbouncers:
        cl.pgbouncer_up("session", C.PGB_SESSION_PORT)
    cl.nodes_up(cl.pgbouncer_conninfo("session"))
    storm("pgbouncer_session.storm")
    coherence("pgbouncer_session.coherence")
    for n in C.NODES:
        assert "answers are not cached" not in cl.node_log(n), "session mode refused the cache"


def transaction_mode_fails_loudly():
    """PgBouncer in transaction mode: no stale answer, and a clear error in
    the log of the nodes."""
    cl = Cl.cl
    p = Cl.P
    if "transaction" not in cl.pgbouncers:
        cl.pgbouncer_up("transaction", C.PGB_TRANSACTION_PORT)
    iid = t.connect(p)
    key_name, key = f.make_key(p.name)
    cl.nodes_up(cl.pgbouncer_conninfo("transaction"))
    msg = "answers are not cached"
    seen = collections.Counter()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all(msg in cl.node_log(n) for n in C.NODES):
        rs = t.concurrently([lambda i=i: _safe(lambda: token(C.NODES[i % 3], p, iid, key=key))
                             for i in range(30)], timeout=60)
        seen.update(status_of(r) for r in rs)
        time.sleep(0.3)
    loud = [n for n in C.NODES if msg in cl.node_log(n)]
    figure("pgbouncer_transaction.answers_before_refusal", dict(seen))
    figure("pgbouncer_transaction.nodes_logging_refusal", len(loud))
    assert loud == list(C.NODES), "nodes without the error in their log: %s" % (
        sorted(set(C.NODES) - set(loud)))
    cli_on("node1", "key", "revoke", key_name)
    time.sleep(1.0)
    stale = collections.Counter(status_of(_safe(lambda n=n: token(n, p, iid, key=key)))
                                for n in C.NODES for _ in range(10))
    figure("pgbouncer_transaction.answers_after_revoke", dict(stale))
    assert 200 not in stale, "a revoked key was served through transaction mode: %s" % stale
    cl.nodes_up(cl.conninfo())


class Loop:
    """Calls fn(i) on a thread until stopped; keeps (start, end, result)."""

    def __init__(self, fn, pause):
        self.fn, self.pause, self.out = fn, pause, []
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        i = 0
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                r = self.fn(i)
            except Exception as e:  # no answer in time: kept, and judged a wrong answer
                r = {"status": "no answer: %r" % e}
            if r is not None:
                self.out.append((start, time.monotonic(), r))
            i += 1
            time.sleep(self.pause)

    def end(self):
        self.stop.set()
        self.th.join(90)


RECEIVER = r"""
import http.server, json, os, sys
path = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n))
        line = json.dumps({"id": self.headers.get("webhook-id"), "type": body.get("type"),
                           "instance_id": body.get("data", {}).get("instance_id"),
                           "node": sys.argv[2]}) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, line.encode())
        os.close(fd)
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", %d), H).serve_forever()
""" % HOOK_PORT


def hooks_up():
    """A receiver on 127.0.0.1 in node1 and node2 (one URL, a receiver on
    each node's loopback) and a `latchkey events` deliverer beside each."""
    cl = Cl.cl
    path = cl.p("hooks.jsonl")
    open(path, "w").close()
    for n in ("node1", "node2"):
        subprocess.Popen(C.in_ns(n, [sys.executable, "-c", RECEIVER, path, n]),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(node(n).p("receiver.log"), "w"), start_new_session=True)
    time.sleep(0.5)
    lk.cli("webhook", "add", "http://127.0.0.1:%d/hook" % HOOK_PORT, "--events", "connection.*",
           "--profiles", Cl.P.name)
    for n in ("node1", "node2"):
        subprocess.Popen(C.in_ns(n, ["env", "LATCHKEY_CONFIG=" + node(n).p("latchkey.conf"),
                                     os.path.join(cl.bin, "latchkey"), "events"]),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(node(n).p("events.log"), "w"), start_new_session=True)
    return path


def hooks_seen(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def events_outbox():
    """msg_id of every event our webhook has a delivery for, and how many
    are pending."""
    rows = lk.sql("SELECT e.msg_id, d.status FROM deliveries d JOIN events e ON e.id = d.event_id")
    return {r[0]: r[1] for r in rows}


def failover(label="failover", old="db1", new="db2", how="kill"):
    """The primary (old) lost during traffic (tokens, rotations, MCP calls,
    deletions whose events go out as webhooks): its PostgreSQL killed
    (how="kill"), or its network cut (how="cut": no reset ever comes); the
    standby (new) promoted. Every node finds it by itself; only 503 with
    Retry-After in the gap; no rotation lost; each event delivered."""
    cl = Cl.cl
    p = Cl.P
    if not Cl.hooks:
        Cl.hooks = hooks_up()
    hooks = Cl.hooks
    before = {h["id"] for h in hooks_seen(hooks)}
    stable = t.connect(p)
    stable_tok = t.token_of(token("node1", p, stable))
    rotating = {n: [t.connect(p) for _ in range(2)] for n in C.NODES}
    doomed = [t.connect(p) for _ in range(12)]
    # The normal case: with two deliverers, each event delivered once.
    for iid in doomed[:2]:
        assert delete("node3", p, iid).status in (200, 204)
    pre = wait_first(lambda: events_outbox() and all(s == "delivered" for s in
                                                     events_outbox().values()), 30,
                     what="deliveries before the failover")
    del pre
    normal = collections.Counter(h["id"] for h in hooks_seen(hooks) if h["id"] not in before)
    figure(label + ".webhooks_before.delivered", len(normal))
    assert normal and max(normal.values()) == 1, "delivered twice: %s" % normal.most_common(2)
    assert set(events_outbox()) <= {h["id"] for h in hooks_seen(hooks)}, \
        "events not delivered before the failover"

    def probe(n):
        return lambda i: _answer(token(n, p, stable, timeout=10))

    def rotate(n):
        def step(i):
            iid = rotating[n][i % 2]
            try:
                t.expire(p, iid)
            except AssertionError:
                return None  # no primary to move time on
            sent = time.monotonic()
            return dict(_answer(token(n, p, iid, timeout=20)), iid=iid, sent=sent)
        return step

    def deleter(i):
        if i >= len(doomed) - 2:
            return None
        iid = doomed[2 + i]
        return dict(_answer(delete(C.NODES[i % 3], p, iid)), iid=iid)

    def mcp(i):
        return _answer(mcp_call(C.NODES[i % 3], p, stable), mcp=True)

    probes = {n: Loop(probe(n), 0.05) for n in C.NODES}
    rotators = {n: Loop(rotate(n), 0.1) for n in C.NODES}
    deletes = Loop(deleter, 0.4)
    mcps = Loop(mcp, 0.2)
    loops = list(probes.values()) + list(rotators.values()) + [deletes, mcps]
    try:
        time.sleep(3)
        tk = time.monotonic()
        if how == "kill":
            figure(label + ".postgres_processes_killed", len(cl.kill_pg(old)))
        else:
            cl.link(old, False)  # and so it stays: fenced off
        time.sleep(1.0)  # what an HA manager takes to decide, at the least
        tp0 = time.monotonic()
        cl.promote(new)
        tp = time.monotonic()

        def recovered(n):
            return any(r["status"] == 200 and r["sent"] > tp0 for _s, _e, r in rotators[n].out)
        wait_first(lambda: all(recovered(n) for n in C.NODES), 60, what="every node to answer 200")
        time.sleep(2)
    finally:
        for lp in loops:
            lp.stop.set()
        for lp in loops:
            lp.end()
    figure(label + ".promote_seconds", round(tp - tp0, 2))
    # Unavailability: from the loss to the first refresh answered 200 (a
    # write, never a cached answer) of a request sent after it, per node;
    # reads (the probes, which a node may answer from its cache while the
    # answer is fresh) are reported apart.
    gaps, reads = {}, {}
    for n in C.NODES:
        gaps[n] = round(min(e for _s, e, r in rotators[n].out
                            if r["status"] == 200 and r["sent"] >= tk) - tk, 2)
        reads[n] = round(min(e for st, e, r in probes[n].out
                             if st >= tk and r["status"] == 200) - tk, 2)
    answers = [(e, r) for lp in loops for st, e, r in lp.out]
    slowest = max(e - st for lp in loops for st, e, _r in lp.out if e >= tk)
    gap_503 = sum(1 for ts, r in answers if ts >= tk and r["status"] == 503)
    wrong = [r for _ts, r in answers
             if r["status"] not in (200, 204, 503) or (r["status"] == 503 and not r["retry_after"])]
    wrong += [("another token for the stable connection", n) for n in C.NODES
              for _s, _e, r in probes[n].out if r["status"] == 200 and r["token"] != stable_tok]
    figure(label + ".requests", len(answers))
    figure(label + ".unavailable_seconds_by_node", gaps)
    figure(label + ".unavailable_seconds_max", max(gaps.values()))
    figure(label + ".first_read_200_seconds_by_node", reads)
    figure(label + ".slowest_answer_seconds", round(slowest, 2))
    figure(label + ".answers_503_during_gap", gap_503)
    figure(label + ".wrong_answers", len(wrong))
    assert not wrong, wrong[:5]
    # Rotations: the tokens answered for a connection follow its family's
    # order, and the end state holds the last one answered (or a later
    # one): none lost.
    lost = rotations = 0
    for n in C.NODES:
        for iid in rotating[n]:
            answered = [r["token"] for _s, _e, r in rotators[n].out
                        if r["iid"] == iid and r["status"] == 200]
            rotations += len(set(answered))
            if not answered:
                continue
            fam = t.family_of(answered[-1])
            order = fam["access_tokens"]
            idx = [order.index(x) for x in answered]
            assert idx == sorted(idx), "tokens answered out of order for %s" % iid
            final = token("node3", p, iid)
            assert final.status == 200, final
            now = final.json()["access_token"]
            if now not in order or order.index(now) < idx[-1]:
                lost += 1
            assert not fam["revoked"]
    figure(label + ".rotations_answered", rotations)
    figure(label + ".rotations_lost", lost)
    assert lost == 0
    assert rotations > 0
    # MCP answers: results, or the database's 503 during the gap.
    m = collections.Counter(r["status"] if r["status"] != 200 else
                            ("ok" if r["ok"] else "tool_error") for _s, _e, r in mcps.out)
    figure(label + ".mcp_answers", dict(m))
    assert m.get("ok", 0) > 0
    # Webhooks: every event of the outbox delivered; duplicates counted.
    wait_first(lambda: all(s == "delivered" for s in events_outbox().values()), 60, interval=0.2,
               what="every delivery after the failover")
    seen = collections.Counter(h["id"] for h in hooks_seen(hooks))
    outbox = events_outbox()
    missing = set(outbox) - set(seen)
    dups = sum(c - 1 for i, c in seen.items() if c > 1 and i not in before)
    deleted_ok = {r["iid"] for _s, _e, r in deletes.out if r["status"] in (200, 204)}
    deleted_events = {h["instance_id"] for h in hooks_seen(hooks) if h["type"] == "connection.deleted"}
    figure(label + ".webhook_events", len(outbox))
    figure(label + ".webhook_duplicates", dups)
    assert not missing, "events never delivered: %d" % len(missing)
    assert deleted_ok <= deleted_events, "a committed deletion sent no event"
    assert dups <= 2, "delivered twice beyond the deliveries in flight at the kill: %d" % dups


def failover_back():
    """db1 rebuilt as the synchronous standby of db2 (what an HA manager
    does), then db2's network cut during traffic and db1 promoted."""
    t0 = time.monotonic()
    Cl.cl.rebuild_standby("db1", "db2")
    figure("failover_back.rebuild_standby_seconds", round(time.monotonic() - t0, 2))
    failover("failover_back", old="db2", new="db1", how="cut")


def _answer(r, mcp=False):
    """An answer as a dict: status, Retry-After, the token (/token) or
    whether the tool call succeeded (MCP)."""
    if not hasattr(r, "status"):
        return {"status": type(r).__name__, "retry_after": None, "token": None, "ok": None}
    out = {"status": r.status, "retry_after": r.headers.get("Retry-After"), "token": None,
           "ok": None}
    if r.status == 200 and not mcp and r.body:
        out["token"] = r.json().get("access_token")
    if mcp and r.status == 200:
        body = r.text
        if "data:" in body[:40]:
            body = body.split("data:", 1)[1]
        try:
            res = json.loads(body).get("result") or {}
            out["ok"] = bool(res) and not res.get("isError")
        except ValueError:
            out["ok"] = False
    return out


def throughput(secs=3, conns=24):
    """/token answers per second (a cached answer) of one node and of all
    three (expect no gain on 2 cores: nothing must collapse)."""
    p = Cl.P
    iid = t.connect(p)
    assert token("node1", p, iid).status == 200

    def wrk(urls):
        procs = [subprocess.Popen(["wrk", "-t1", "-c%d" % (conns // len(urls)), "-d%ds" % secs,
                                   "-H", "Authorization: Bearer " + p.key, u],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for u in urls]
        rate = 0.0
        for pr in procs:
            out = pr.communicate(timeout=secs + 30)[0]
            assert "Non-2xx" not in out, out
            rate += float(out.split("Requests/sec:")[1].split()[0])
        return round(rate)
    path = "/token/%s?instance_id=%s" % (p.name, iid)
    one = wrk([node("node1").url + path])
    three = wrk([node(n).url + path for n in C.NODES])
    figure("throughput.token_per_second_one_node", one)
    figure("throughput.token_per_second_three_nodes", three)
    assert three > one * 0.5, "three nodes collapse: %d vs %d" % (three, one)


SCENARIOS = [
    ("storm", storm),
    ("coherence", coherence),
    ("node_killed_before_rotation", lambda: node_killed("before")),
    ("node_killed_after_rotation", lambda: node_killed("after")),
    ("node_cut_off", node_cut_off),
    ("pgbouncer_session", through_pgbouncer),
    ("pgbouncer_transaction_fails_loudly", transaction_mode_fails_loudly),
    ("failover", failover),
    ("failover_back_network_cut", failover_back),
    ("throughput", throughput),
]


def on_signal(sig, _frame):
    raise SystemExit("stopped by signal %d" % sig)


def main(argv=None):
    global lk, f, t
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="directory with latchkey and the programs")
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(HERE)))
    ap.add_argument("--only", help="comma-separated scenario names")
    ap.add_argument("--figures", help="write the figures as JSON to this file")
    ap.add_argument("--logs", help="copy every log here before tearing down")
    a = ap.parse_args(argv)
    if sys.argv[1:2] == ["cleanup"]:
        C.cleanup()
        return 0
    ok, why = C.can_make_namespaces()
    if not ok:
        say("SKIP: " + why)
        return 0
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    chosen = [s for s in SCENARIOS if not a.only or s[0] in a.only.split(",")]
    passed, failed = [], []
    t0 = time.monotonic()
    cl = C.Cluster(a.bin, a.source)
    Cl.cl = cl
    try:
        cl.up()
        import lkflow as f  # noqa: F811 - the helpers read STACK_ENV, set by up()
        import lkstack as lk  # noqa: F811
        import lktoken as t  # noqa: F811
        Cl.P = f.make_profile()
        for name, fn in chosen:
            say("scenario: " + name)
            s0 = time.monotonic()
            try:
                fn()
                passed.append(name)
                say("  ok (%.1fs)" % (time.monotonic() - s0))
            except Exception:  # noqa: BLE001 - reported, the others still run
                failed.append(name)
                say("  FAILED (%.1fs):\n%s" % (time.monotonic() - s0, traceback.format_exc()))
                try:
                    fake_clear()
                except Exception:  # noqa: BLE001
                    pass
    except BaseException:
        say("cluster: %s" % traceback.format_exc())
        failed.append("setup")
    finally:
        cl.down(keep_logs=a.logs)
        if f:
            f.cleanup()
    figure("suite.seconds", round(time.monotonic() - t0, 1))
    if a.figures:
        with open(a.figures, "w") as fh:
            json.dump(FIGURES, fh, indent=2)
    if failed:
        say("failed: " + ", ".join(failed))
    say("%d passed, %d failed" % (len(passed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["cleanup"]:
        C.cleanup()
        sys.exit(0)
    sys.exit(main())
