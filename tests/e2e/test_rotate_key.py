"""End-to-end: latchkey rotate-key (SPEC §8, §9): a key added to the ring,
every secret re-sealed under it row by row, while the running programs keep
answering (they load a key they do not know yet when they meet it)."""
import base64
import os
import stat
import tempfile
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t

SEALED = [("profiles", "client_secret"), ("profile_clients", "client_secret"), ("connections", "access_token"),
          ("connections", "refresh_token"), ("flows", "pkce_verifier"), ("profiles", "credential")]


def key_ids():
    """The key ids in use, per sealed column."""
    ids = set()
    for table, col in SEALED:
        for (kid,) in lk.sql("SELECT DISTINCT split_part(%s, '.', 2) FROM %s WHERE %s IS NOT NULL"
                             % (col, table, col)):
            ids.add(kid)
    return ids


def key_file(mode=0o600):
    fd, path = tempfile.mkstemp(prefix="lk-newkey-")
    os.write(fd, base64.b64encode(os.urandom(32)) + b"\n")
    os.close(fd)
    os.chmod(path, mode)
    return path


class RotateKeyTest(unittest.TestCase):
    def test_rotate_reseals_everything_and_programs_keep_working(self):
        p = f.make_profile()
        iid = t.connect(p)
        before = t.token_of(t.get_token(p, iid))
        ring = os.path.join(lk.env()["STACK_DIR"], "keys")
        old_ids = sorted(int(n[:-4]) for n in os.listdir(ring) if n.endswith(".key"))
        path = key_file()
        self.addCleanup(os.unlink, path)
        rc, out, err = lk.cli("rotate-key", path)
        new_id = old_ids[-1] + 1
        self.assertEqual(rc, 0, err)
        self.assertIn("key %d added" % new_id, out)
        # The new key file: in the ring, readable by its owner alone.
        st = os.stat(os.path.join(ring, "%d.key" % new_id))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.stat(ring).st_uid)
        # Every stored secret is now sealed under it.
        self.assertEqual(key_ids(), {str(new_id)})
        # The running programs open it (the same token), and refresh with it.
        self.assertEqual(t.token_of(t.get_token(p, iid)), before)
        t.expire(p, iid)
        after = t.token_of(t.get_token(p, iid))
        self.assertNotEqual(after, before)
        self.assertEqual(key_ids(), {str(new_id)})
        # The CLI opens them too.
        rc, out, _ = lk.cli("connection", "show", p.name, iid)
        self.assertEqual(rc, 0)

    def test_refuses_a_key_already_in_the_ring_or_readable_by_others(self):
        ring = os.path.join(lk.env()["STACK_DIR"], "keys")
        newest = max(int(n[:-4]) for n in os.listdir(ring) if n.endswith(".key"))
        rc, _, err = lk.cli("rotate-key", os.path.join(ring, "%d.key" % newest), check=False)
        self.assertEqual(rc, 1)
        self.assertIn("in the ring already", err)
        loose = key_file(0o644)
        self.addCleanup(os.unlink, loose)
        rc, _, err = lk.cli("rotate-key", loose, check=False)
        self.assertEqual(rc, 1)
        self.assertIn("readable by others", err)
        self.assertEqual(max(int(n[:-4]) for n in os.listdir(ring) if n.endswith(".key")), newest)


if __name__ == "__main__":
    unittest.main()
