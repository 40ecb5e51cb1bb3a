"""End-to-end: the suite-wide secret-leak scan (hardening issue), last among
the tests of the lighttpd stack (tests/CMakeLists.txt makes it DEPEND on
every other e2e test of that stack, so CTest orders it after them).

Every secret the suite handled is searched for in the stack's logs
(STACK_DIR/*.log and *.out: access.log, lighttpd-error.log, lighttpd.out
with the programs' stderr, migrate.log, pg.log; not provider.log, the fake
provider's own) and in a pg_dump of the database.  Any hit fails.

The values come from the fake provider, which keeps an append-only list of
everything it ever issued or was given, across /_fake/reset and revocations
(GET /_fake/issued): access and refresh tokens, authorization codes, client
secrets (also as the HTTP Basic value client_id:secret), Atlassian API
tokens (also as email:token and its Basic value) and Data Center PATs.
Besides, patterns that must never show up: an API key ("lk_" and 43
base64url characters) and the tests' client-secret prefixes.  In the
database, every column that holds a secret holds sealed text ("lk1.").

The search is checked on values that must be found: the access log's
settle mark, and a profile name (stored in clear) in the pg_dump.  The
test makes a connection of its own first, so that it never scans for
nothing when run alone.  Pages and JSON answers are checked per module
(test_callback, test_api_keys, ...), not here.
"""

import base64
import os
import re
import subprocess
import sys
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t

# An API key (src/apikey.c: "lk_" + 32 bytes in unpadded base64url), not
# inside a longer base64url run (a sealed value may hold "lk_" by chance).
API_KEY_RE = re.compile(rb"(?<![A-Za-z0-9_-])lk_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
# Prefixes of the client secrets the tests make (lkflow.make_profile and
# add_client, tests/browser/flow.test.js).
SECRET_PREFIXES = (b"lk-test-client-secret", b"lk-test-wl-secret", b"lk-browser-secret")
# Sealed text: "lk1.<kid>.<base64url>" (src/crypto.c).
SEALED_RE = re.compile(r"^lk1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
SEALED_COLUMNS = (("profiles", "client_secret"), ("profiles", "credential"),
                  ("profile_clients", "client_secret"), ("flows", "pkce_verifier"),
                  ("connections", "access_token"), ("connections", "refresh_token"))
MIN_LEN = 8  # shorter values would match by chance


def b64(s):
    return base64.b64encode(s.encode()).decode()


def issued_values():
    """{value: kind} of every secret the fake issued or was given, with the
    forms a leak could take (HTTP Basic values)."""
    out = {}

    def add(value, kind):
        if isinstance(value, str) and len(value) >= MIN_LEN:
            out.setdefault(value, kind)
    for e in lk.fake("GET", "/_fake/issued")["issued"]:
        kind, v = e["kind"], e["value"]
        add(v, kind)
        if kind == "client_secret" and e.get("client_id"):
            add(b64("%s:%s" % (e["client_id"], v)), "client_secret (Basic)")
        elif kind == "api_token" and e.get("email"):
            add("%s:%s" % (e["email"], v), "api_token (email:token)")
            add(b64("%s:%s" % (e["email"], v)), "api_token (Basic)")
        elif kind == "pat":
            add(b64(v), "pat (base64)")
    # what the fake holds now (a fake started before /_fake/issued existed
    # would only have these), and this process's own secrets
    for v in f.fake_secrets():
        add(v, "token or code")
    for c in lk.fake("GET", "/_fake/state")["clients"]:
        add(c.get("client_secret"), "client_secret")
    for v in f.SECRETS:
        add(v, "secret of this test")
    return out


def log_files():
    sd = lk.STACK_DIR
    return [os.path.join(sd, fn) for fn in sorted(os.listdir(sd))
            if fn.endswith((".log", ".out")) and fn != "provider.log"
            and os.path.isfile(os.path.join(sd, fn))]


def pg_dump():
    e = lk.env()
    penv = dict(os.environ, PGHOST=e["PGHOST"], PGPORT=e["PGPORT"], PGDATABASE=e["PGDATABASE"],
                PGUSER=e["PGUSER"])
    return subprocess.run([os.path.join(e["PG_BIN"], "pg_dump"), "--data-only"], env=penv,
                          capture_output=True, check=True).stdout


def hits(name, data, values):
    """Where in data (bytes) a value or a pattern occurs: list of str."""
    found = []
    for v, kind in values.items():
        if v.encode() in data:
            found.append("%s: %s %s…" % (name, kind, v[:12]))
    for m in API_KEY_RE.finditer(data):
        found.append("%s: an API key %s…" % (name, m.group(0)[:10].decode()))
    for p in SECRET_PREFIXES:
        if p in data:
            found.append("%s: a client secret (%s…)" % (name, p.decode()))
    return found


class ZzSecretScanTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        # A connection of this test's own: a client secret, a code, tokens
        # (refreshed twice), an API key -- all to be found nowhere.
        t.restore_fake()
        cls.p = p = f.make_profile()
        iid = t.connect(p)
        t.token_of(t.get_token(p, iid))
        t.expire(p, iid)
        t.token_of(t.get_token(p, iid))
        r = t.post_refresh(p, iid)
        assert r.status == 200, r
        f.remember(r.json().get("access_token"))

    @classmethod
    def tearDownClass(cls):
        try:
            t.restore_fake()
        finally:
            f.cleanup()

    def test_no_secret_in_logs_or_database(self):
        p = self.p
        values = issued_values()
        kinds = {}
        for k in values.values():
            kinds[k] = kinds.get(k, 0) + 1
        for k in ("access_token", "refresh_token", "code", "client_secret"):
            self.assertIn(k, kinds, kinds)
        self.assertIn(p.client_secret, values)

        mark = f.settle_logs()
        files = log_files()
        names = [os.path.basename(fn) for fn in files]
        for must in ("access.log", "lighttpd.out", "migrate.log"):
            self.assertIn(must, names)
        found = []
        for fn in files:
            with open(fn, "rb") as fh:
                data = fh.read()
            if os.path.basename(fn) == "access.log":
                self.assertIn(mark.encode(), data, "the scan would not see the access log")
            found += hits(os.path.basename(fn), data, values)
        dump = pg_dump()
        self.assertIn(p.name.encode(), dump, "the scan would not see the pg_dump")
        found += hits("pg_dump", dump, values)
        print("secret scan: %d values (%s) in %s and a pg_dump of %d bytes" % (
            len(values), ", ".join("%s %d" % kv for kv in sorted(kinds.items())),
            ", ".join(names), len(dump)), file=sys.stderr)
        self.assertEqual(found, [])

    def test_database_holds_sealed_values_only(self):
        q = " UNION ALL ".join(
            "SELECT '%s.%s', %s FROM %s WHERE %s IS NOT NULL" % (tb, col, col, tb, col)
            for tb, col in SEALED_COLUMNS)
        rows = lk.sql(q)
        self.assertTrue(rows, "no secret column holds anything")
        bad = ["%s: %s…" % (where, (v or "")[:16]) for where, v in rows
               if not SEALED_RE.match(v or "")]
        self.assertEqual(bad, [])


if __name__ == "__main__":
    unittest.main()
