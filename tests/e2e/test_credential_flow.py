"""End-to-end: the per-user credential form (api_key_per_user, SPEC §4)
under races and failures (issue 10), through lighttpd with real PostgreSQL
and the fake provider's Atlassian Cloud site routes:

- no transaction is open while the site checks a token (SPEC §5 "timeouts
  nest"): the flow row is not locked during the upstream call;
- a concurrent first connect that wins the insert is replaced in place,
  as the OAuth callback does, not answered 503;
- a try that cannot be counted is refused before the site is asked;
- one link, one connection: a second form of a used link ends with
  link_expired and writes nothing.

The form's helpers (profiles, API tokens, the browser's walk) are
test_api_keys.py's.
"""

import os
import secrets
import subprocess
import threading
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t
import test_api_keys as ak

CLOUD_HOST = ak.CLOUD_HOST


def setUpModule():
    t.restore_fake()


def tearDownModule():
    f.cleanup()


class SqlSession:
    """A psql session of its own, fed statement by statement (a transaction
    held open across the test's steps)."""

    def __init__(self, app):
        e = lk.env()
        penv = dict(os.environ, PGHOST=e["PGHOST"], PGPORT=e["PGPORT"], PGDATABASE=e["PGDATABASE"],
                    PGUSER=e["PGUSER"], PGAPPNAME=app)
        psql = os.path.join(e["PG_BIN"], "psql")
        self.proc = subprocess.Popen([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=penv, text=True)

    def send(self, statements):
        self.proc.stdin.write(statements + "\n")
        self.proc.stdin.flush()

    def close(self):
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        rc = self.proc.wait(30)
        assert rc == 0, "psql failed (rc %d): %s" % (rc, err)


def backends(where):
    """How many sessions of the stack's database match where."""
    return int(lk.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND pid <> pg_backend_pid() AND " + where)[0][0])


def in_thread(fn):
    """Runs fn in a thread; returns (thread, result list)."""
    out = []
    th = threading.Thread(target=lambda: out.append(fn()))
    th.start()
    return th, out


class CredentialFormFlowTest(ak.ApiKeyCase):

    @classmethod
    def setUpClass(cls):
        cls.cloud = ak.make_api_profile("cloud")

    def submit_right(self, fl):
        email, tok = ak.new_api_token()
        return fl.submit(site=CLOUD_HOST, email=email, token=tok), "%s:%s" % (email, tok)

    def test_no_transaction_is_open_while_the_site_checks_the_token(self):
        """SPEC §5: a slow provider must not hold a lock or outlive the
        session's idle_in_transaction_session_timeout: the check runs with
        no transaction open, and one short transaction writes after it."""
        fl = ak.Flow(self.cloud)
        lk.fake("POST", "/_fake/fault", {"path": "/site/", "method": "GET", "kind": "hold", "count": 1})
        th, out = in_thread(lambda: self.submit_right(fl))
        try:
            held = lk.fake("POST", "/_fake/wait_held", {"count": 1, "timeout": 20}, check=False)
            self.assertEqual(held["held"], 1, "the token check should be in flight")
            # while the site is asked: no Latchkey session sits in a transaction ...
            self.assertEqual(backends("application_name LIKE 'latchkey-%' AND state LIKE 'idle in transaction%'"),
                             0)
            # ... and the flow's row is free to lock
            try:
                got = lk.sql("SELECT 1 FROM flows WHERE cookie_name = :'p1' FOR UPDATE NOWAIT", fl.form.flow)
            except AssertionError as e:
                got = str(e)
            self.assertEqual(got, [["1"]])
        finally:
            lk.fake("POST", "/_fake/release", {})
            th.join(60)
        r, credential = out[0]
        self.assertEqual(r.status, 303, r)
        self.assertApiToken(ak.token(self.cloud, fl.instance_id), "basic", credential)
        self.assertNotIn(fl.form.flow, [row[0] for row in ak.flow_rows(self.cloud)])

    def test_form_replaces_a_connection_whose_first_insert_won_meanwhile(self):
        """The unique-violation race: another first connect of this user
        commits between the form's look-up and its insert.  The form tries
        again and replaces that row in place (as the OAuth callback does),
        instead of answering 503."""
        fl = ak.Flow(self.cloud)
        holder = SqlSession("lk-test-holder")
        self.addCleanup(lambda: holder.proc.poll() is None and holder.proc.kill())
        # a row the test wrote itself must not outlive it (rotate-key opens every secret)
        self.addCleanup(lk.cli, "connection", "delete", self.cloud.name, fl.instance_id, check=False)
        holder.send("BEGIN; INSERT INTO connections (profile_id, instance_id, access_token, token_type) "
                    "VALUES (%s, '%s', 'placeholder', 'Basic');" % (self.cloud.sql_id(), fl.instance_id))
        lk.wait_until(lambda: backends("application_name = 'lk-test-holder' AND state = 'idle in transaction'"),
                      timeout=20, what="the competing insert")
        th, out = in_thread(lambda: self.submit_right(fl))
        try:
            # The form's insert waits for the competing one ...
            lk.wait_until(lambda: backends("application_name LIKE 'latchkey-%' AND wait_event_type = 'Lock'"),
                          timeout=20, what="the form's insert to wait on the competing one")
        finally:
            # ... which then commits: the form's insert is a unique violation.
            holder.send("COMMIT;")
            holder.close()
            th.join(60)
        r, credential = out[0]
        self.assertEqual(r.status, 303, r)
        row = ak.conn_row(self.cloud, fl.instance_id)
        self.assertTrue(row["access_token"].startswith("lk1."), row)
        self.assertEqual(lk.sql("SELECT generation FROM connections WHERE id = :'p1'", row["id"]), [["2"]])
        self.assertApiToken(ak.token(self.cloud, fl.instance_id), "basic", credential)

    def test_a_try_that_cannot_be_counted_is_refused(self):
        """Five tries per flow: when the count cannot be written, the try is
        refused (503) before the site is asked, never let through uncounted."""
        fl = ak.Flow(self.cloud)
        fn = "lk_test_refuse_%s" % secrets.token_hex(4)
        lk.sql("CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
               "'refused by the test'; END $$; CREATE TRIGGER %s BEFORE UPDATE ON flows FOR EACH ROW "
               "WHEN (OLD.cookie_name = '%s') EXECUTE FUNCTION %s();" % (fn, fn, fl.form.flow, fn))
        self.addCleanup(lk.sql, "DROP TRIGGER IF EXISTS %s ON flows; DROP FUNCTION IF EXISTS %s();" % (fn, fn))
        before = ak.counters()
        email, _tok = ak.new_api_token()
        r = fl.submit(site=CLOUD_HOST, email=email, token="ATATT3x" + secrets.token_urlsafe(24))
        self.assertPage(r, 503, "The service is temporarily unavailable")
        self.assertEqual(ak.counters()["apikey_calls"], before["apikey_calls"])
        self.assertEqual(ak.flow_rows(self.cloud)[-1], [fl.form.flow, "0"])
        self.assertNoConnection(self.cloud, fl.instance_id)

    def test_second_form_of_a_used_link_is_410_link_expired(self):
        """SPEC §4: two browsers opened one link; once one connected, the
        other's form ends with link_expired and writes nothing."""
        link, iid = f.new_link(self.cloud)
        first = ak.Flow(self.cloud, iid, link=link)
        second = ak.Flow(self.cloud, iid, link=link)
        r, credential = self.submit_right(first)
        self.assertEqual(r.status, 303, r)
        row = ak.conn_row(self.cloud, iid)
        before = ak.counters()
        r, _other = self.submit_right(second)
        self.assertPage(r, 410, "This link has expired or was already used")
        self.assertTrue(any(c.startswith(second.form.flow + "=") and "Max-Age=0" in c for c in r.set_cookies),
                        r.set_cookies)
        self.assertEqual(ak.conn_row(self.cloud, iid), row)
        self.assertEqual(ak.counters()["apikey_calls"], before["apikey_calls"])
        self.assertNotIn(second.form.flow, [x[0] for x in ak.flow_rows(self.cloud)])
        self.assertApiToken(ak.token(self.cloud, iid), "basic", credential)


if __name__ == "__main__":
    unittest.main()
