"""End-to-end: latchkey connection import and export (SPEC §9, issue 15).

Connections moved from another broker: JSON lines checked one by one (a
bad line is reported with its number and nothing of it stored), sealed
under the row's id as a connected account's tokens are, idempotent (a
stored connection that expires as late or later is left alone), a dry run
that stores nothing, and an export that never shows a clear token unless
--decrypt.
"""

import json
import secrets
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t


def tearDownModule():
    f.cleanup()


def line(prof, iid, **fields):
    d = {"profile": prof.name, "instance_id": iid,
         "access_token": "imp-at-" + secrets.token_hex(8),
         "refresh_token": "imp-rt-" + secrets.token_hex(8),
         "expires_at": "2099-01-01T00:00:00Z", "scope": "read write",
         "metadata": {"from": "nango"}}
    d.update(fields)
    for k in ("access_token", "refresh_token"):
        if isinstance(d.get(k), str):
            f.remember(d[k])
    return d


def run_import(lines, *args, check=False):
    text = "".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines)
    return lk.cli("connection", "import", "-", *args, input=text, check=check)


class ImportTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def test_imported_token_is_served_sealed_under_its_row(self):
        d = line(self.p, lk.unique("imp"))
        rc, out, err = run_import([d])
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out.strip(), "imported 1, updated 0, skipped 0, refused 0")
        resp = t.get_token(self.p, d["instance_id"])
        self.assertEqual(resp.status, 200, resp)
        body = lk.json_body(resp)
        self.assertEqual(body["access_token"], d["access_token"])
        self.assertEqual(body["scope"], "read write")
        row = f.connections(self.p, d["instance_id"])[0]
        self.assertEqual(row["metadata"], {"from": "nango"})
        self.assertTrue(row["access_token"].startswith("lk1."))
        self.assertNotIn(d["refresh_token"], row["refresh_token"])
        events = lk.sql("SELECT count(*) FROM events WHERE type = 'connection.created' AND "
                        "payload->>'instance_id' = :'p1'", d["instance_id"], check=False)
        if events and events[0][0] is not None:
            self.assertEqual(events[0][0], "1")

    def test_bad_lines_are_reported_by_number_and_not_stored(self):
        good1, good2 = line(self.p, lk.unique("g")), line(self.p, lk.unique("g"))
        bad = [
            ("not json", "not a JSON object"),
            (line(self.p, lk.unique("b"), profile="no-such-profile"), "no such profile"),
            (line(self.p, "", ), "instance_id"),
            (line(self.p, lk.unique("b"), access_token=""), "access_token"),
            (line(self.p, lk.unique("b"), access_token="a b"), "access_token"),
            (line(self.p, lk.unique("b"), refresh_token=7), "refresh_token"),
            (line(self.p, lk.unique("b"), expires_at="2026-02-30T00:00:00Z"), "expires_at"),
            (line(self.p, lk.unique("b"), expires_at=None, expires_in=-5), "expires_in"),
            (line(self.p, lk.unique("b"), metadata=[1]), "metadata"),
            (line(self.p, lk.unique("b"), client_id="nobody"), "client_id"),
            (line(self.p, lk.unique("b"), access_token_sealed="lk1.x"), "sealed"),
            (line(self.p, lk.unique("b"), extra=1), "unknown field extra"),
            (line(self.p, lk.unique("b"), access_token="x" * 20000), "access_token"),
        ]
        for d, _ in bad:
            if isinstance(d, dict) and d.get("expires_at") is None:
                d.pop("expires_at", None)
        lines = [good1] + [d for d, _ in bad] + [good2]
        rc, out, err = run_import(lines)
        self.assertEqual(rc, 1)
        self.assertIn("imported 2, updated 0, skipped 0, refused %d" % len(bad), out)
        reported = err.strip().split("\n")
        self.assertEqual(len(reported), len(bad), err)
        for i, (_, why) in enumerate(bad):
            self.assertTrue(reported[i].startswith("line %d: " % (i + 2)), reported[i])
            self.assertIn(why, reported[i])
        stored = {r["instance_id"] for r in f.connections(self.p)}
        self.assertIn(good1["instance_id"], stored)
        self.assertIn(good2["instance_id"], stored)
        for d, _ in bad:
            if isinstance(d, dict):
                self.assertNotIn(d["instance_id"], stored)
                if len(d["access_token"]) > 8:
                    self.assertNotIn(d["access_token"][:40], err)

    def test_batches_past_500_lines(self):
        # 1,203 lines: batches of 500 (LK_BULK_BATCH), a bad line opening
        # the second, a connection named again across the first boundary
        # (the later, newer line wins), the last batch short.
        base = lk.unique("many")
        lines = []
        for i in range(1203):
            lines.append({"profile": self.p.name, "instance_id": "%s-%d" % (base, i),
                          "access_token": "imp-at-%s-%d" % (base, i), "refresh_token": "imp-rt-%s-%d" % (base, i),
                          "expires_at": "2099-01-01T00:00:00Z", "scope": "read"})
        lines[500] = "{not json"
        again = dict(lines[499], access_token="imp-at-%s-again" % base, expires_at="2099-02-01T00:00:00Z")
        lines[502] = again
        rc, out, err = run_import(lines)
        self.assertEqual(rc, 1)
        self.assertTrue(out.startswith("imported 1201, updated 1, skipped 0, refused 1"), out)
        self.assertEqual(err.strip(), "line 501: not a JSON object")
        stored = {r["instance_id"] for r in f.connections(self.p) if r["instance_id"].startswith(base + "-")}
        self.assertEqual(len(stored), 1201)
        self.assertNotIn("%s-500" % base, stored)
        self.assertNotIn("%s-502" % base, stored)
        for i, token in ((0, lines[0]["access_token"]), (499, again["access_token"]),
                         (501, lines[501]["access_token"]), (1202, lines[1202]["access_token"])):
            body = lk.json_body(t.get_token(self.p, "%s-%d" % (base, i)))
            self.assertEqual(body["access_token"], token, i)
        rc, out, _ = run_import(lines)
        self.assertTrue(out.startswith("imported 0, updated 0, skipped 1202, refused 1"), out)

    def test_rerun_skips_and_a_newer_line_updates(self):
        d = line(self.p, lk.unique("idem"))
        self.assertEqual(run_import([d])[0], 0)
        rc, out, _ = run_import([d])
        self.assertEqual((rc, out.strip()), (0, "imported 0, updated 0, skipped 1, refused 0"))
        older = line(self.p, d["instance_id"], expires_at="2098-01-01T00:00:00Z")
        self.assertIn("skipped 1", run_import([older])[1])
        newer = line(self.p, d["instance_id"], expires_at="2099-06-01T12:00:00+02:00")
        rc, out, _ = run_import([newer], "--json")
        self.assertEqual(json.loads(out), {"imported": 0, "updated": 1, "skipped": 0, "refused": 0,
                                           "dry_run": False})
        body = lk.json_body(t.get_token(self.p, d["instance_id"]))
        self.assertEqual(body["access_token"], newer["access_token"])
        self.assertEqual(body["expires_at"], "2099-06-01T10:00:00Z")

    def test_dry_run_stores_nothing(self):
        new, known = line(self.p, lk.unique("dry")), line(self.p, lk.unique("dry"))
        run_import([known], check=True)
        before = f.connections(self.p, known["instance_id"])
        newer = line(self.p, known["instance_id"], expires_at="2100-01-01T00:00:00Z")
        rc, out, _ = run_import([new, newer, "{}"], "--dry-run")
        self.assertEqual(rc, 1)
        self.assertIn("would have imported 1, updated 1, skipped 0, refused 1", out)
        self.assertEqual(f.connections(self.p, new["instance_id"]), [])
        self.assertEqual(f.connections(self.p, known["instance_id"]), before)

    def test_export_round_trip_keeps_the_grant_refreshable(self):
        iid = t.connect(self.p)
        old = t.token_of(t.get_token(self.p, iid))
        _, sealed, _ = lk.cli("connection", "export", self.p.name)
        mine = [json.loads(l) for l in sealed.splitlines() if json.loads(l)["instance_id"] == iid]
        self.assertEqual(len(mine), 1)
        self.assertNotIn("access_token", mine[0])
        self.assertNotIn(old, sealed)
        self.assertTrue(mine[0]["access_token_sealed"].startswith("lk1."))
        _, clear, _ = lk.cli("connection", "export", self.p.name, "--decrypt")
        lines = [l for l in clear.splitlines() if json.loads(l)["instance_id"] == iid]
        for l in lines:
            f.remember(json.loads(l).get("refresh_token"))
        self.assertEqual(json.loads(lines[0])["access_token"], old)
        lk.cli("connection", "delete", self.p.name, iid)
        rc, out, err = run_import(lines)
        self.assertEqual((rc, err), (0, ""), out)
        self.assertEqual(t.token_of(t.get_token(self.p, iid)), old)
        t.expire(self.p, iid)  # the imported refresh token is the provider's
        resp = t.get_token(self.p, iid)
        self.assertEqual(resp.status, 200, resp)
        self.assertNotEqual(t.token_of(resp), old)
        # The sealed export cannot be imported: its values are bound to rows.
        rc, _, err = run_import([l for l in sealed.splitlines() if iid in l])
        self.assertEqual(rc, 1)
        self.assertIn("line 1: sealed tokens cannot be imported", err)


if __name__ == "__main__":
    unittest.main()
