"""End-to-end: the answer cache of the serving processes (issue 15). An
answer stays as long as PostgreSQL announces no change to its row, beyond
the second it used to be kept at most; an announcement, or a new
connection, ends it in every worker. (The coherence of SPEC §5 itself is
proved by test_token.py and test_api_keys.py, unchanged.)

A row is deleted behind the announcements' back (its trigger disabled in
the deleting transaction only), so that only a cached answer can still
name it.
"""

import time
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t


def tearDownModule():
    try:
        t.restore_fake()
    finally:
        f.cleanup()


class CacheTest(t.TokenTestCase):

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile()

    def warm(self, iid):
        """Caches iid's answer in every token worker; returns the token."""
        tokens = set()
        for _ in range(4):
            for r in t.concurrently([lambda: t.get_token(self.p, iid)] * 16):
                tokens.add(self.assertToken(r)["access_token"])
        self.assertEqual(len(tokens), 1)
        return tokens.pop()

    def delete_quietly(self, iid):
        """Deletes iid's row without announcing it; returns its id."""
        cid = t.row(self.p, iid)["id"]
        lk.sql("BEGIN; ALTER TABLE connections DISABLE TRIGGER connections_announce_delete; "
               "DELETE FROM connections WHERE id = :'p1'; "
               "ALTER TABLE connections ENABLE TRIGGER connections_announce_delete; COMMIT;", cid)
        self.assertIsNone(t.row(self.p, iid))
        return cid

    def answers(self, iid):
        return t.concurrently([lambda: t.get_token(self.p, iid)] * 16)

    def test_cached_answer_outlives_a_second_until_announced(self):
        iid = t.connect(self.p)
        token = self.warm(iid)
        cid = self.delete_quietly(iid)
        time.sleep(1.2)
        for r in self.answers(iid):  # nothing announced: still served
            self.assertEqual(self.assertToken(r)["access_token"], token)
        lk.sql("SELECT pg_notify('latchkey', 'c:' || :'p1')", cid)
        time.sleep(0.1)
        for r in self.answers(iid):
            self.assertNotIn(token, r.text)
            self.assertJsonError(r, 404, "not_connected")

    def test_new_database_connection_drops_every_answer(self):
        iid = t.connect(self.p)
        token = self.warm(iid)
        self.delete_quietly(iid)
        pids = [r[0] for r in lk.sql("SELECT pid FROM pg_stat_activity "
                                     "WHERE application_name = 'latchkey-token'")]
        self.assertTrue(pids)
        lk.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               "WHERE application_name = 'latchkey-token'")
        for _ in range(100):  # the server ends them in its own time
            if not lk.sql("SELECT 1 FROM pg_stat_activity WHERE pid = ANY(string_to_array(:'p1', ',')::int[])",
                          ",".join(pids)):
                break
            time.sleep(0.01)
        for r in self.answers(iid):
            self.assertNotIn(token, r.text)
            self.assertJsonError(r, 404, "not_connected")


if __name__ == "__main__":
    unittest.main()
