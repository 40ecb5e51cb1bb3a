"""End-to-end: webhooks and `latchkey events` (SPEC §11).

Every delivery is checked by a receiver (tests/webhooks/receiver.mjs) that
verifies signatures with the Standard Webhooks reference library from npm,
never with our own code.  Events are made with latchkey_event (sql/008) in
SQL; time is moved in SQL (created_at, next_attempt_at), never slept for.
Each test runs its own deliverers and removes its webhooks (their
deliveries go with them), so that no other test's deliverer sees them.
"""

import json
import signal
import time
import unittest

import lkhooks as h
import lkstack as lk

RECV = None


def setUpModule():
    global RECV
    RECV = h.Receiver()


def tearDownModule():
    RECV.stop()


class HookCase(unittest.TestCase):
    """A webhook of its own per test (a fresh profile name and path)."""

    def setUp(self):
        self.profile = lk.unique("wh")
        self.path = "/h/" + self.profile
        self.wid, self.secret = h.add_webhook(RECV.url(self.path), self.profile, "connection.*,webhook.*")
        RECV.ctl(self.path, secrets=[self.secret], mode="ok")
        self.deliverers = []

    def tearDown(self):
        for d in self.deliverers:
            if d.proc.poll() is None:
                self.assertEqual(d.stop(), 0, "latchkey events exits 0 on SIGTERM")
        h.remove_webhook(self.wid)

    def deliverer(self):
        d = h.Deliverer()
        self.deliverers.append(d)
        return d

    def arrivals(self, n, timeout=20):
        return h.wait_arrivals(RECV, self.path, n, timeout)


class DeliveryTest(HookCase):

    def test_delivery_is_signed_standard_webhooks_with_the_event_body(self):
        self.deliverer()
        [msg] = h.emit(self.profile)
        h.emit(self.profile, type="profile.misconfigured")  # not a pattern of this webhook
        got = self.arrivals(1)[0]
        self.assertEqual(got["id"], msg)
        self.assertEqual(got["verified"], [True], "the standardwebhooks library accepts the signature")
        self.assertRegex(got["signature"], r"^v1,[A-Za-z0-9+/]{43}=$")
        self.assertLess(abs(int(got["timestamp"]) - time.time()), 60)
        self.assertEqual(got["contentType"], "application/json")
        body = json.loads(got["body"])
        self.assertEqual(set(body), {"type", "timestamp", "data"})
        self.assertEqual(body["type"], "connection.created")
        created = lk.sql("SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
                         "FROM events WHERE msg_id = :'p1'", msg)[0][0]
        self.assertTrue(body["timestamp"].startswith(created), body["timestamp"])
        self.assertRegex(body["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        self.assertEqual(body["data"], {"profile": self.profile, "instance_id": "u0", "status": "active",
                                        "seq": 1})
        h.wait_status(self.wid, "delivered")
        self.assertEqual(len(h.deliveries(self.wid)), 1, "the profile.* event matched no pattern")
        time.sleep(0.3)
        self.assertEqual(len(RECV.log(self.path)), 1)

    def test_webhook_test_goes_to_that_webhook_alone(self):
        other = lk.unique("wh")
        oid, osecret = h.add_webhook(RECV.url("/h/" + other), other)
        try:
            self.deliverer()
            rc, out, _ = lk.cli("--json", "webhook", "test", self.wid)
            msg = json.loads(out)["webhook_id"]
            got = self.arrivals(1)[0]
            self.assertEqual(got["id"], msg)
            self.assertEqual(got["verified"], [True])
            self.assertEqual(json.loads(got["body"])["type"], "webhook.test")
            time.sleep(0.3)
            self.assertEqual(RECV.log("/h/" + other), [])
            self.assertNotEqual(lk.cli("webhook", "test", "999999999", check=False)[0], 0)
        finally:
            h.remove_webhook(oid)

    def test_list_shows_pending_dead_and_last_error_then_remove(self):
        RECV.ctl(self.path, mode="fail")
        h.emit(self.profile, n=2)
        lk.sql("UPDATE deliveries SET status = 'dead', last_error = 'HTTP 503' WHERE id = (SELECT min(id) "
               "FROM deliveries WHERE webhook_id = :'p1'::bigint)", self.wid)
        _, out, _ = lk.cli("--json", "webhook", "list")
        [mine] = [w for w in json.loads(out) if str(w["id"]) == self.wid]
        self.assertEqual((mine["url"], mine["events"], mine["profiles"]),
                         (RECV.url(self.path), ["connection.*", "webhook.*"], [self.profile]))
        self.assertEqual((mine["pending"], mine["dead"], mine["last_error"]), (1, 1, "HTTP 503"))
        _, text, _ = lk.cli("webhook", "list")
        self.assertIn("last error: HTTP 503", text)
        lk.cli("webhook", "remove", self.wid)
        self.assertEqual(h.deliveries(self.wid), [])
        self.assertNotEqual(lk.cli("webhook", "remove", self.wid, check=False)[0], 0)

    def test_receiver_failing_then_recovering_gets_the_same_id_in_order(self):
        RECV.ctl(self.path, mode="fail")
        d = self.deliverer()
        first, second = h.emit(self.profile, n=2, streams=1)
        self.arrivals(1)
        lk.wait_until(lambda: int(h.deliveries(self.wid)[0][1]) >= 1, what="one attempt recorded")
        status, attempts, last_status, last_error = h.deliveries(self.wid)[0]
        self.assertEqual((status, last_status, last_error), ("pending", "503", "HTTP 503"))
        RECV.ctl(self.path, mode="ok")
        h.wake_now(self.wid)
        h.wait_status(self.wid, "delivered", n=2)
        log = RECV.log(self.path)
        ids = [e["id"] for e in log]
        self.assertEqual(ids[0], first)
        self.assertEqual(ids[-2:], [first, second], "the second waited for the first (one stream)")
        self.assertTrue(all(e["verified"] == [True] for e in log))
        self.assertNotIn(self.secret, d.text())

    def test_receiver_silent_for_10s_has_failed_and_is_retried(self):
        RECV.ctl(self.path, mode="hang")
        self.deliverer()
        [msg] = h.emit(self.profile)
        self.arrivals(1)
        started = time.monotonic()
        lk.wait_until(lambda: h.deliveries(self.wid)[0][3], timeout=20, what="the timeout recorded")
        self.assertGreater(time.monotonic() - started, 8)
        self.assertEqual(h.deliveries(self.wid)[0][3], "no answer within 10 s")
        RECV.ctl(self.path, mode="ok")
        h.wake_now(self.wid)
        h.wait_status(self.wid, "delivered")
        ids = [e["id"] for e in RECV.log(self.path)]
        self.assertEqual(set(ids), {msg})
        self.assertGreaterEqual(len(ids), 2)

    def test_a_2xx_with_a_long_answer_is_delivered(self):
        """The receiver took the event: what it says after its status line
        (100 KB, past what is read) changes nothing."""
        RECV.ctl(self.path, mode="big")
        self.deliverer()
        [msg] = h.emit(self.profile)
        h.wait_status(self.wid, "delivered")
        status, attempts, last_status, last_error = h.deliveries(self.wid)[0]
        self.assertEqual((status, attempts, last_status, last_error), ("delivered", "1", "200", None))
        self.assertEqual([e["id"] for e in RECV.log(self.path)], [msg])

    def test_sweep_purges_events_done_with(self):
        """Delivered events go after 7 days, events with a dead delivery
        after 30, events still pending never; deliveries go with them."""
        ids = h.emit(self.profile, n=5, streams=5)
        lk.sql("UPDATE deliveries d SET status = x.status FROM (VALUES (:'p1', 'delivered'), (:'p2', 'delivered'), "
               "(:'p3', 'dead'), (:'p4', 'dead'), (:'p5', 'pending')) AS x(msg, status), events e "
               "WHERE e.msg_id = x.msg AND d.event_id = e.id", *ids)
        lk.sql("UPDATE events SET created_at = now() - make_interval(days => x.days) FROM (VALUES (:'p1', 8), "
               "(:'p2', 6), (:'p3', 31), (:'p4', 8), (:'p5', 40)) AS x(msg, days) WHERE msg_id = x.msg", *ids)
        rc, _out, err = lk.cli("sweep", "--idle-days", "3650", timeout=90)
        self.assertEqual(rc, 0, err)
        left = {r[0] for r in lk.sql("SELECT msg_id FROM events WHERE msg_id IN (:'p1', :'p2', :'p3', :'p4', :'p5')",
                                     *ids)}
        self.assertEqual(left, {ids[1], ids[3], ids[4]})
        self.assertEqual(len(h.deliveries(self.wid)), 3)

    def test_redirects_are_not_followed(self):
        RECV.ctl(self.path, mode="redirect")
        self.deliverer()
        h.emit(self.profile)
        lk.wait_until(lambda: int(h.deliveries(self.wid)[0][1]) >= 1, what="one attempt")
        _, _, last_status, last_error = h.deliveries(self.wid)[0]
        self.assertEqual(last_status, "302")
        self.assertIn("redirects are not followed", last_error)
        self.assertEqual(RECV.log("/_redirected"), [])

    def test_dead_after_three_days_retried_until_then(self):
        RECV.ctl(self.path, mode="fail")
        old, younger = h.emit(self.profile, n=2, streams=2)
        lk.sql("UPDATE events SET created_at = now() - interval '3 days 1 minute' WHERE msg_id = :'p1'; "
               "UPDATE events SET created_at = now() - interval '2 days 23 hours 59 minutes 50 seconds' "
               "WHERE msg_id = :'p2'", old, younger)
        self.deliverer()
        lk.wait_until(lambda: all(int(r[1]) >= 1 for r in h.deliveries(self.wid)), what="both attempted")
        rows = h.deliveries(self.wid)
        self.assertEqual(rows[0][0], "dead")
        self.assertEqual(rows[1][0], "pending")
        # Its retry is never after the end of the window (10 s away).
        late = lk.sql("SELECT d.next_attempt_at <= e.created_at + interval '3 days' FROM deliveries d "
                      "JOIN events e ON e.id = d.event_id WHERE e.msg_id = :'p1'", younger)[0][0]
        self.assertEqual(late, "t")
        h.wait_status(self.wid, "dead", n=2, timeout=25)
        _, out, _ = lk.cli("--json", "webhook", "list")
        [mine] = [w for w in json.loads(out) if str(w["id"]) == self.wid]
        self.assertEqual((mine["pending"], mine["dead"]), (0, 2))


class RotationTest(HookCase):

    def test_rotation_signs_with_both_secrets_for_24_hours(self):
        rc, out, err = lk.cli("webhook", "rotate", self.wid)
        new = out.strip()
        self.assertTrue(new.startswith("whsec_") and new != self.secret)
        self.assertIn("shown only this once", err)
        RECV.ctl(self.path, secrets=[self.secret, new])
        self.deliverer()
        [m1] = h.emit(self.profile)
        got = self.arrivals(1)[0]
        self.assertEqual(got["id"], m1)
        self.assertEqual(len(got["signature"].split(" ")), 2)
        self.assertEqual(got["verified"], [True, True], "either secret verifies")
        lk.sql("UPDATE webhooks SET previous_until = now() - interval '1 second' WHERE id = :'p1'::bigint",
               self.wid)
        h.emit(self.profile)
        got = self.arrivals(2)[1]
        self.assertEqual(len(got["signature"].split(" ")), 1)
        self.assertEqual(got["verified"], [False, True], "after 24 h only the new secret signs")
        sealed = lk.sql("SELECT secret, previous_secret FROM webhooks WHERE id = :'p1'::bigint", self.wid)[0]
        self.assertTrue(all(s.startswith("lk1.") for s in sealed), "secrets are sealed at rest")


class AddressTest(HookCase):

    def test_urls_must_be_https_or_loopback_http(self):
        for url in ("http://hooks.example.com/in", "http://10.0.0.1/in", "ftp://hooks.example.com/in",
                    "https://user@hooks.example.com/in", "not a url"):
            rc, _, err = lk.cli("webhook", "add", url, check=False)
            self.assertNotEqual(rc, 0, url)
            self.assertIn("https", err)
        rc, _, _ = lk.cli("webhook", "add", "https://hooks.example.com/in", "--events", "Bad%", check=False)
        self.assertNotEqual(rc, 0)

    def test_private_addresses_are_refused_when_connecting(self):
        port, before = RECV.trap()
        # Both are https names that are not loopback hosts themselves, but
        # lead to a loopback address: refused at connect time.
        urls = ["https://localhost.:%d/in" % port, "https://[::ffff:127.0.0.1]:%d/in" % port]
        ids = [h.add_webhook(u, self.profile)[0] for u in urls]
        try:
            self.deliverer()
            h.emit(self.profile)
            for wid in ids:
                lk.wait_until(lambda: h.deliveries(wid)[0][3], what="a refusal")
                self.assertIn("private address", h.deliveries(wid)[0][3])
            self.assertEqual(RECV.trap()[1], before, "no connection was made")
        finally:
            for wid in ids:
                h.remove_webhook(wid)

    def test_http_to_a_non_loopback_host_is_refused_at_delivery(self):
        lk.sql("UPDATE webhooks SET url = 'http://hooks.example.com/in' WHERE id = :'p1'::bigint", self.wid)
        self.deliverer()
        h.emit(self.profile)
        h.wait_status(self.wid, "dead")
        self.assertIn("neither https", h.deliveries(self.wid)[0][3])


class FaultTest(HookCase):

    def test_sigkill_mid_delivery_loses_nothing(self):
        RECV.ctl(self.path, mode="hang")
        first = self.deliverer()
        [msg] = h.emit(self.profile)
        self.arrivals(1)
        first.kill()  # mid-delivery: its row lock goes with its connection
        RECV.ctl(self.path, mode="ok")
        self.deliverer()
        h.wait_status(self.wid, "delivered", timeout=45)
        log = RECV.log(self.path)
        self.assertEqual([e["id"] for e in log], [msg, msg])
        self.assertEqual(log[-1]["verified"], [True])

    def test_sigterm_finishes_the_delivery_under_way(self):
        RECV.ctl(self.path, mode="slow")  # answers after 2 s
        d = self.deliverer()
        [msg] = h.emit(self.profile)
        self.arrivals(1)
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(h.deliveries(self.wid)[0][0], "delivered", "recorded before exiting")
        self.assertEqual([e["id"] for e in RECV.log(self.path)], [msg])

    def test_postgresql_restart_with_events_pending(self):
        RECV.ctl(self.path, mode="fail")
        d = self.deliverer()
        msgs = h.emit(self.profile, n=20, streams=4)
        lk.wait_until(lambda: any(r[1] != "0" for r in h.deliveries(self.wid)), what="a failed attempt")
        # fast: every connection is cut, nothing committed is lost (the
        # stack runs with synchronous_commit off: a crash would lose the
        # last commits, the test's own included).
        lk.stack("restart-pg", "--mode", "fast")
        RECV.ctl(self.path, mode="ok")
        # The deliverer connects again and LISTENs again: the NOTIFY wakes it.
        lk.wait_until(lambda: lk.sql("SELECT 1", check=False), timeout=30)
        time.sleep(1.5)
        h.wake_now(self.wid)
        h.wait_status(self.wid, "delivered", n=20, timeout=30)
        got = {e["id"] for e in RECV.log(self.path) if e["mode"] == "ok"}
        self.assertEqual(got, set(msgs))
        self.assertIsNone(d.proc.poll(), "the deliverer kept running")

    def test_two_deliverers_deliver_each_event_once_in_order(self):
        self.deliverer()
        self.deliverer()
        msgs = h.emit(self.profile, n=400, streams=20)
        h.wait_status(self.wid, "delivered", n=400, timeout=60)
        log = RECV.log(self.path)
        ids = [e["id"] for e in log]
        self.assertEqual(sorted(ids), sorted(msgs), "each event delivered exactly once")
        self.assertTrue(all(e["verified"] == [True] for e in log))
        check_order(self, log)

    def test_nothing_secret_is_logged(self):
        d = self.deliverer()
        h.emit(self.profile, n=3)
        log = self.arrivals(3)
        d.stop()
        text = d.text()
        self.assertIn("delivered", text)
        self.assertNotIn(self.secret, text)
        self.assertNotIn(self.secret[len("whsec_"):], text)
        for e in log:
            for sig in e["signature"].split(" "):
                self.assertNotIn(sig.split(",")[1], text)


def check_order(test, log):
    """Within each connection (stream), arrivals follow the events' seq."""
    seen = {}
    for e in log:
        data = json.loads(e["body"])["data"]
        seen.setdefault(data["instance_id"], []).append(data["seq"])
    for inst, seqs in seen.items():
        test.assertEqual(seqs, sorted(seqs), "order kept for %s" % inst)


class VolumeTest(HookCase):

    def test_10000_events_all_delivered_in_order_memory_flat(self):
        d = self.deliverer()
        h.emit(self.profile, n=300, streams=100)
        h.wait_status(self.wid, "delivered", n=300, timeout=60)
        start = d.rss_kb()
        t0 = time.monotonic()
        msgs = h.emit(self.profile, n=10000, streams=100)
        h.wait_status(self.wid, "delivered", n=10300, timeout=150)
        secs = time.monotonic() - t0
        end = d.rss_kb()
        log = RECV.log(self.path)
        ids = [e["id"] for e in log]
        self.assertEqual(len(ids), 10300)
        self.assertTrue(set(msgs) <= set(ids))
        self.assertEqual(len(set(ids)), len(ids), "none twice")
        self.assertTrue(all(e["verified"] == [True] for e in log))
        check_order(self, log[300:])
        print("10000 deliveries in %.1f s (%.0f/s); VmRSS %d kB -> %d kB" % (secs, 10000 / secs, start, end))
        self.assertLess(end - start, 2048, "deliverer RSS flat (kB)")


if __name__ == "__main__":
    unittest.main()
