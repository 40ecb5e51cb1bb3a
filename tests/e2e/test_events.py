"""End-to-end: the outbox of events (SPEC §11) and the health fields, through
the real paths (the browser flow, /token, /refresh, the CLI, the sweep),
real PostgreSQL and the fake provider.

- Each change writes its event in its own transaction: connect, connect
  again, delete (DELETE /token and the CLI), a refresh failing (once for
  repeated failures), recovered, re-authorization required, a profile
  misconfigured (once), and the sweep's connection.expiring forecast (once
  per connection and reason, again only once the forecast has moved).
- A change that rolls back leaves no event (a failure injected in
  PostgreSQL, after the event was written, by a temporary trigger).
- A delivery row is made for every receiver whose event patterns and
  profiles take the event.
- No event's data holds a token or a secret.

Time is moved by updating the rows' timestamps, never by sleeping.
"""

import json
import secrets
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t

HOOKS = {}  # name -> webhooks.id, made for this module


def add_webhook(name, events, profiles=None):
    """A receiver row (as `latchkey webhook add` stores one); its id."""
    row = lk.sql("INSERT INTO webhooks (url, secret, events, profiles) VALUES "
                 "('https://receiver.example/' || :'p1', 'lk1.not-a-real-secret', :'p2'::jsonb, "
                 "NULLIF(:'p3', '')::jsonb) RETURNING id",
                 name, json.dumps(events), json.dumps(profiles) if profiles is not None else "")
    HOOKS[name] = int(row[0][0])
    return HOOKS[name]


def setUpModule():
    t.restore_fake()
    add_webhook("all", ["*"])


def tearDownModule():
    try:
        if HOOKS:
            lk.sql("DELETE FROM webhooks WHERE id = ANY(string_to_array(:'p1', ',')::bigint[])",
                   ",".join(str(i) for i in HOOKS.values()))
        t.restore_fake()
    finally:
        f.cleanup()


def mark():
    """The newest event's id: events(after=mark()) are those made since."""
    return int(lk.sql("SELECT coalesce(max(id), 0) FROM events")[0][0])


def events(profile, type_=None, after=0):
    """The profile's events, oldest first: dicts of type, instance_id, data
    and the webhooks delivered to.  Moving a grant's time in SQL (as
    lktoken.expire does) is a new grant to the outbox (reauthorized): tests
    that move it look at the events made after(mark()) it."""
    rows = lk.sql("SELECT e.type, e.instance_id, e.data::text, e.msg_id, "
                  "coalesce((SELECT string_agg(d.webhook_id::text, ',' ORDER BY d.webhook_id) "
                  "FROM deliveries d WHERE d.event_id = e.id), '') "
                  "FROM events e WHERE e.profile = :'p1' AND (:'p2' = '' OR e.type = :'p2') "
                  "AND e.id > :'p3'::bigint ORDER BY e.id",
                  profile.name, type_ or "", str(after))
    return [{"type": r[0], "instance_id": r[1], "data": json.loads(r[2]), "msg_id": r[3],
             "hooks": {int(x) for x in r[4].split(",") if x}} for r in rows]


def types(profile, after=0):
    return [e["type"] for e in events(profile, after=after)]


class EventsTestCase(t.TokenTestCase):

    def setUp(self):
        t.restore_fake()

    def assertEvent(self, ev, type_, iid, status, **data):
        self.assertEqual(ev["type"], type_, ev)
        self.assertEqual(ev["instance_id"], iid, ev)
        self.assertEqual(ev["data"]["instance_id"], iid, ev)
        self.assertEqual(ev["data"]["status"], status, ev)
        self.assertTrue(ev["msg_id"].startswith("msg_"), ev)
        self.assertIn(HOOKS["all"], ev["hooks"])
        for k, v in data.items():
            self.assertEqual(ev["data"][k], v, ev)


class ConnectionLifeTest(EventsTestCase):

    def test_connect_reconnect_and_delete_by_token_route(self):
        p = f.make_profile()
        iid = t.connect(p)
        self.assertEqual(types(p), ["connection.created"])
        ev = events(p)[0]
        self.assertEvent(ev, "connection.created", iid, "active", profile=p.name)
        self.assertRegex(ev["data"]["grant_issued_at"], t.ISO_Z)
        gen = t.row(p, iid)["generation"]
        f.connect(p, iid)
        self.assertEqual(t.row(p, iid)["generation"], gen + 1)
        self.assertEqual(types(p), ["connection.created", "connection.reauthorized"])
        self.assertEvent(events(p)[1], "connection.reauthorized", iid, "active")
        r = t.delete_token(p, iid)
        self.assertIn(r.status, (200, 204), r)
        self.assertEqual(types(p), ["connection.created", "connection.reauthorized", "connection.deleted"])
        self.assertEvent(events(p)[2], "connection.deleted", iid, "deleted")

    def test_delete_by_cli(self):
        p = f.make_profile()
        iid = t.connect(p)
        lk.cli("connection", "delete", p.name, iid)
        evs = events(p)
        self.assertEqual([e["type"] for e in evs], ["connection.created", "connection.deleted"])
        self.assertEvent(evs[1], "connection.deleted", iid, "deleted", profile=p.name)


class RefreshTroubleTest(EventsTestCase):

    def test_refresh_failing_once_then_recovered(self):
        p = f.make_profile()
        iid = t.connect(p)
        t.expire(p, iid)
        m = mark()
        t.fault(kind="status", status=503, count=-1)
        for _ in range(3):  # repeated failures, each after the hold-off
            self.assertJsonError(t.get_token(p, iid), 503, "provider_unavailable")
            t.end_hold_off(p, iid)
        self.assertEqual(t.row(p, iid)["failure_count"], 3)
        failing = events(p, after=m)
        self.assertEqual(len(failing), 1, failing)
        self.assertEvent(failing[0], "connection.refresh_failing", iid, "refresh_failing")
        # the answer tells the health too
        _rc, out, _err = lk.cli("--json", "connection", "show", p.name, iid)
        self.assertEqual(json.loads(out)["status"], "refresh_failing")
        lk.fake("POST", "/_fake/fault/clear", {})
        body = self.assertToken(t.get_token(p, iid))
        self.assertEqual(body["status"], "active")
        self.assertRegex(body["last_refreshed_at"], t.ISO_Z)
        self.assertEqual(types(p, m), ["connection.refresh_failing", "connection.recovered"])
        self.assertEvent(events(p, after=m)[1], "connection.recovered", iid, "active")

    def test_invalid_grant_requires_reauthorization(self):
        p = f.make_profile()
        iid = t.connect(p)
        old = t.token_of(t.get_token(p, iid))
        lk.fake("POST", "/_fake/revoke", {"family_id": t.family_of(old)["family_id"]})
        t.expire(p, iid)
        self.assertJsonError(t.get_token(p, iid), 409, "reauthorization_required")
        self.assertJsonError(t.get_token(p, iid), 409, "reauthorization_required")
        evs = events(p, "connection.reauthorization_required")
        self.assertEqual(len(evs), 1, evs)
        self.assertEvent(evs[0], "connection.reauthorization_required", iid, "reauthorization_required",
                         reason="invalid_grant")

    def test_invalid_client_flags_the_profile_once(self):
        p = f.make_profile()
        a, b = t.connect(p), t.connect(p)
        t.expire(p, a)
        t.expire(p, b)
        m = mark()
        t.fault(count=-1, kind="status", status=401, body=json.dumps({"error": "invalid_client"}))
        for iid in (a, b, a):
            t.end_hold_off(p, iid)
            self.assertJsonError(t.get_token(p, iid), 502, "provider_error")
        # one event, and no connection event: connections untouched (SPEC §5)
        evs = events(p, after=m)
        self.assertEqual(len(evs), 1, evs)
        self.assertIsNone(evs[0]["instance_id"])
        self.assertEqual(evs[0]["data"]["profile"], p.name)
        self.assertEqual(evs[0]["data"]["status"], "misconfigured")
        self.assertEqual(evs[0]["type"], "profile.misconfigured")
        self.assertIn(HOOKS["all"], evs[0]["hooks"])


class RollbackTest(EventsTestCase):
    """A failure raised by PostgreSQL after the event was written (a
    trigger named to fire after the event's): the change and its event
    roll back together."""

    def fail_on(self, op, iid, when="true"):
        """Every op on iid's row for which when holds fails, after the
        event triggers have run (triggers fire in the order of their names)."""
        name = "zz_test_fail_" + secrets.token_hex(4)
        row = "OLD" if op == "DELETE" else "NEW"
        lk.sql("CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "IF %s.instance_id = '%s' AND %s THEN RAISE EXCEPTION 'injected failure'; END IF; "
               "RETURN NULL; END $$; CREATE TRIGGER %s AFTER %s ON connections FOR EACH ROW "
               "EXECUTE FUNCTION %s()" % (name, row, iid, when, name, op, name))
        self.addCleanup(lk.sql, "DROP TRIGGER %s ON connections; DROP FUNCTION %s()" % (name, name))

    def test_failed_first_connect_leaves_no_event(self):
        p = f.make_profile()
        iid = lk.unique("u")
        self.fail_on("INSERT", iid)
        link, _ = f.new_link(p, iid)
        resp = f.complete(lk.Browser(), link)
        self.assertGreaterEqual(resp.status, 500, resp)
        self.assertEqual(f.connections(p, iid), [])
        self.assertEqual(events(p), [])

    def test_failed_reconnect_leaves_no_event_and_the_connection_unchanged(self):
        p = f.make_profile()
        iid = t.connect(p)
        before = t.row(p, iid)
        self.fail_on("UPDATE", iid, "NEW.grant_issued_at IS DISTINCT FROM OLD.grant_issued_at")
        link, _ = f.new_link(p, iid)
        resp = f.complete(lk.Browser(), link)
        self.assertGreaterEqual(resp.status, 500, resp)
        self.assertEqual(t.row(p, iid), before)
        self.assertEqual(types(p), ["connection.created"])

    def test_failed_delete_leaves_no_event(self):
        p = f.make_profile()
        iid = t.connect(p)
        self.fail_on("DELETE", iid)
        rc, _out, _err = lk.cli("connection", "delete", p.name, iid, check=False)
        self.assertEqual(rc, 1)
        self.assertIsNotNone(t.row(p, iid))
        self.assertEqual(types(p), ["connection.created"])

    def test_failed_refresh_record_leaves_no_event(self):
        p = f.make_profile()
        iid = t.connect(p)
        t.expire(p, iid)
        m = mark()
        before = t.row(p, iid)
        self.fail_on("UPDATE", iid, "NEW.status IS DISTINCT FROM OLD.status")
        t.fault(kind="status", status=503, count=-1)
        r = t.get_token(p, iid)
        self.assertGreaterEqual(r.status, 500, r)
        self.assertEqual(t.row(p, iid), before)
        self.assertEqual(types(p, m), [])


class FilterTest(EventsTestCase):
    """latchkey_event: a delivery for each receiver whose patterns ('*'
    matches any run; '%' and '_' are plain characters) and profiles take
    the event."""

    def test_patterns_and_profiles(self):
        p = f.make_profile()
        other = lk.unique("p")
        hooks = {
            "conn": add_webhook(lk.unique("conn"), ["connection.*"]),
            "created": add_webhook(lk.unique("created"), ["connection.created"]),
            "profile_only": add_webhook(lk.unique("prof"), ["profile.*"]),
            "mine": add_webhook(lk.unique("mine"), ["*"], [p.name, "x"]),
            "others": add_webhook(lk.unique("others"), ["*"], [other]),
            "middle": add_webhook(lk.unique("mid"), ["conn*.deleted"]),
            "percent": add_webhook(lk.unique("pct"), ["connection.%"]),
            "underscore": add_webhook(lk.unique("us"), ["connection_created"]),
            "two": add_webhook(lk.unique("two"), ["profile.misconfigured", "connection.deleted"]),
        }
        try:
            iid = t.connect(p)
            lk.cli("connection", "delete", p.name, iid)
            created, deleted = events(p)
            mine = set(hooks.values())
            self.assertEqual(created["hooks"] & mine, {hooks["conn"], hooks["created"], hooks["mine"]})
            self.assertEqual(deleted["hooks"] & mine,
                             {hooks["conn"], hooks["mine"], hooks["middle"], hooks["two"]})
            for ev in (created, deleted):
                self.assertEqual(lk.sql("SELECT count(*) FROM deliveries WHERE event_id = "
                                        "(SELECT id FROM events WHERE msg_id = :'p1') AND stream = :'p2' "
                                        "AND status = 'pending'", ev["msg_id"], p.name + "/" + iid),
                                 [[str(len(ev["hooks"]))]])
        finally:
            lk.sql("DELETE FROM webhooks WHERE id = ANY(string_to_array(:'p1', ',')::bigint[])",
                   ",".join(str(i) for i in hooks.values()))


class SecretsTest(EventsTestCase):

    def test_no_event_data_holds_a_token_or_secret(self):
        p = f.make_profile()
        iid = t.connect(p)
        t.token_of(t.get_token(p, iid))
        t.post_refresh(p, iid)
        t.expire(p, iid)
        t.fault(kind="status", status=503, count=1)
        t.get_token(p, iid)
        issued = [i["value"] for i in lk.fake("GET", "/_fake/issued")["issued"] if i.get("value")]
        values = [v for v in set(issued) | set(f.SECRETS) | {p.client_secret, p.key} if v and len(v) >= 8]
        self.assertTrue(values)
        rows = lk.sql("SELECT data::text FROM events")
        self.assertTrue(rows)
        for (data,) in rows:
            for v in values:
                self.assertNotIn(v, data)


class HealthAndExpiryTest(EventsTestCase):
    """The health fields and the sweep's connection.expiring (Atlassian:
    90 idle days, 365 days from consent; expiry_warning_days 14)."""

    def sweep(self):
        # --idle-days 3650: nothing is refreshed, only forecasts are made
        _rc, out, _err = lk.cli("--json", "sweep", "--idle-days", "3650", timeout=90)
        report = json.loads(out)
        return [i for i in report["expiring"] if i["profile"] == self.p.name]

    def set_times(self, refreshed_days_ago, granted_days_ago):
        lk.sql("UPDATE connections c SET last_refreshed_at = now() - make_interval(days => :'p3'::int), "
               "grant_issued_at = now() - make_interval(days => :'p4'::int) FROM profiles p "
               "WHERE p.id = c.profile_id AND p.name = :'p1' AND c.instance_id = :'p2'",
               self.p.name, self.iid, str(refreshed_days_ago), str(granted_days_ago))

    def forecasts(self):
        """(refresh_token_lapses_at, grant_expires_at) as PostgreSQL computes them."""
        return tuple(lk.sql(
            "SELECT latchkey_iso(GREATEST(c.last_refreshed_at, c.grant_issued_at) + interval '90 days'), "
            "latchkey_iso(c.grant_issued_at + interval '365 days') FROM connections c JOIN profiles p "
            "ON p.id = c.profile_id WHERE p.name = :'p1' AND c.instance_id = :'p2'", self.p.name, self.iid)[0])

    def expiring(self):
        return events(self.p, "connection.expiring")

    def setUp(self):
        super().setUp()
        self.p = f.make_profile()
        self.iid = t.connect(self.p)

    def test_health_fields_follow_the_profile(self):
        self.set_times(10, 20)
        lapses, ends = self.forecasts()
        _rc, out, _err = lk.cli("--json", "connection", "show", self.p.name, self.iid)
        shown = json.loads(out)
        self.assertEqual(shown["status"], "active")
        self.assertRegex(shown["last_refreshed_at"], t.ISO_Z)
        self.assertEqual((shown["refresh_token_lapses_at"], shown["grant_expires_at"]), (lapses, ends))
        body = self.assertToken(t.get_token(self.p, self.iid))
        self.assertEqual((body["refresh_token_lapses_at"], body["grant_expires_at"]), (lapses, ends))
        self.assertEqual(body["last_refreshed_at"], shown["last_refreshed_at"])
        # a profile that declares nothing forecasts nothing
        lk.cli("profile", "update", self.p.name, "--refresh-token-idle-days", "none",
               "--grant-lifetime-days", "none")
        _rc, out, _err = lk.cli("--json", "connection", "show", self.p.name, self.iid)
        shown = json.loads(out)
        self.assertNotIn("refresh_token_lapses_at", shown)
        self.assertNotIn("grant_expires_at", shown)
        body = self.assertToken(t.get_token(self.p, self.iid))
        self.assertNotIn("refresh_token_lapses_at", body)
        lk.cli("profile", "update", self.p.name, "--grant-lifetime-days", "30")
        _rc, out, _err = lk.cli("--json", "profile", "show", self.p.name)
        self.assertEqual((json.loads(out)["refresh_token_idle_days"], json.loads(out)["grant_lifetime_days"]),
                         (None, 30))
        _rc, out, _err = lk.cli("--json", "connection", "show", self.p.name, self.iid)
        self.assertEqual(json.loads(out)["grant_expires_at"], lk.sql(
            "SELECT latchkey_iso(c.grant_issued_at + interval '30 days') FROM connections c "
            "WHERE c.instance_id = :'p1'", self.iid)[0][0])

    def test_profile_add_declares_the_days(self):
        p = f.make_profile(extra=["--refresh-token-idle-days", "30", "--grant-lifetime-days", "none"])
        _rc, out, _err = lk.cli("--json", "profile", "show", p.name)
        shown = json.loads(out)
        self.assertEqual((shown["refresh_token_idle_days"], shown["grant_lifetime_days"]), (30, None))
        for bad in ("0", "36501", "5x", ""):
            with self.subTest(value=bad):
                rc, out, err = lk.cli("profile", "add", lk.unique("p"), "--template", "generic",
                                      "--grant-lifetime-days", bad, check=False)
                self.assertEqual((rc, out), (1, ""))
                self.assertIn("--grant-lifetime-days takes a number of days", err)
                rc, out, err = lk.cli("profile", "update", p.name, "--refresh-token-idle-days", bad,
                                      check=False)
                self.assertEqual((rc, out), (1, ""))
                self.assertIn("--refresh-token-idle-days takes a number of days", err)
        rc, _out, err = lk.cli("profile", "update", lk.unique("nope"), "--grant-lifetime-days", "9", check=False)
        self.assertEqual(rc, 1, err)

    def test_idle_warning_once_then_again_only_after_the_clock_moved(self):
        self.set_times(80, 80)  # lapses in 10 days, grant ends in 285
        lapses, _ends = self.forecasts()
        items = self.sweep()
        self.assertEqual(items, [{"profile": self.p.name, "instance_id": self.iid, "status": "active",
                                  "reason": "refresh_token_idle", "expires_at": lapses, "event": True}])
        self.assertEqual(len(self.expiring()), 1)
        self.assertEvent(self.expiring()[0], "connection.expiring", self.iid, "active", profile=self.p.name,
                         reason="refresh_token_idle", expires_at=lapses)
        self.assertEqual(set(self.expiring()[0]["data"]),
                         {"profile", "instance_id", "status", "reason", "expires_at"})
        # once: the next sweeps list it without a new event
        self.assertEqual([i["event"] for i in self.sweep()], [False])
        self.assertEqual(len(self.expiring()), 1)
        # a refresh restarts the idle clock: the warning is forgotten
        self.set_times(0, 80)
        self.assertEqual(self.sweep(), [])
        self.assertEqual(lk.sql("SELECT expiry_warnings::text FROM connections WHERE instance_id = :'p1'",
                                self.iid), [["{}"]])
        self.assertEqual(len(self.expiring()), 1)
        # idle again: a new forecast, a new warning
        self.set_times(85, 85)
        items = self.sweep()
        self.assertEqual([(i["reason"], i["event"]) for i in items], [("refresh_token_idle", True)])
        self.assertEqual(len(self.expiring()), 2)

    def test_grant_lifetime_warning_once(self):
        self.set_times(1, 360)  # the grant ends in 5 days
        _lapses, ends = self.forecasts()
        items = self.sweep()
        self.assertEqual([(i["reason"], i["expires_at"], i["event"]) for i in items],
                         [("grant_lifetime", ends, True)])
        self.assertEqual(self.sweep()[0]["event"], False)
        evs = self.expiring()
        self.assertEqual(len(evs), 1)
        self.assertEvent(evs[0], "connection.expiring", self.iid, "active", reason="grant_lifetime",
                         expires_at=ends)
        # a new grant (connect again) resets it
        f.connect(self.p, self.iid)
        self.assertEqual(self.sweep(), [])
        self.assertEqual(len(self.expiring()), 1)

    def test_both_reasons_and_a_failing_connection(self):
        self.set_times(88, 355)
        lk.sql("UPDATE connections SET status = 'refresh_failing' WHERE instance_id = :'p1'", self.iid)
        items = self.sweep()
        self.assertEqual(sorted((i["reason"], i["status"], i["event"]) for i in items),
                         [("grant_lifetime", "refresh_failing", True),
                          ("refresh_token_idle", "refresh_failing", True)])
        self.assertEqual(sorted(e["data"]["reason"] for e in self.expiring()),
                         ["grant_lifetime", "refresh_token_idle"])
        self.assertEqual(self.sweep()[0]["event"], False)
        self.assertEqual(len(self.expiring()), 2)

    def test_warning_window_is_the_configured_one(self):
        self.set_times(1, 340)  # the grant ends in 25 days: outside 14
        self.assertEqual(self.sweep(), [])
        _rc, out, _err = lk.cli("--json", "sweep", "--idle-days", "3650", timeout=90,
                                extra_env={"LATCHKEY_EXPIRY_WARNING_DAYS": "30"})
        mine = [i for i in json.loads(out)["expiring"] if i["profile"] == self.p.name]
        self.assertEqual([(i["reason"], i["event"]) for i in mine], [("grant_lifetime", True)])
        self.assertEqual(len(self.expiring()), 1)

    def test_reauthorization_required_is_not_forecast(self):
        self.set_times(89, 364)
        lk.sql("UPDATE connections SET status = 'reauthorization_required' WHERE instance_id = :'p1'", self.iid)
        self.assertEqual(self.sweep(), [])
        self.assertEqual(self.expiring(), [])


if __name__ == "__main__":
    unittest.main()
