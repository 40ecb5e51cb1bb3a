"""The one set of answer assertions for the end-to-end tests: a mixin for
unittest.TestCase classes.

    class MyTest(lka.Asserts, unittest.TestCase):
        def test_x(self):
            body = self.assertJsonError(r, 404, "not_connected")
            self.assertValidation(r, ["query", "instance_id"], "missing")
            self.assertPage(r, 410, "This link has expired")

Each checks the whole answer SPEC §7 promises (status, content type,
Cache-Control: no-store, the body's shape; pages: the security headers),
so that every module checks the same things.  answered(r) is called with
every answer checked (a hook: test_api_keys keeps them for its leak scan).
"""


class Asserts:
    maxDiff = None

    def answered(self, r):
        """Called with every answer an assertion here checked."""

    def assertJsonError(self, r, status, code):
        """A JSON error answer (SPEC §7) with this status and error code;
        nothing of a token in it.  Returns the body."""
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.headers["Content-Type"], "application/json", r)
        self.assertEqual(r.headers["Cache-Control"], "no-store", r)
        body = r.json()
        self.assertEqual(body.get("error"), code, body)
        self.assertNotIn("access_token", body)
        self.assertNotIn("refresh_token", body)
        self.answered(r)
        return body

    def assertValidation(self, r, loc, typ=None, msg=None):
        """A 422 validation_error naming exactly one field, at loc, of type
        typ and with message msg when given.  Returns that item."""
        body = self.assertJsonError(r, 422, "validation_error")
        self.assertEqual(sorted(body), ["detail", "error"], body)
        self.assertEqual(len(body["detail"]), 1, body)
        item = body["detail"][0]
        self.assertEqual(sorted(item), ["loc", "msg", "type"], item)
        self.assertEqual(item["loc"], loc, body)
        self.assertIsInstance(item["msg"], str)
        if typ is not None:
            self.assertEqual(item["type"], typ, body)
        if msg is not None:
            self.assertEqual(item["msg"], msg, body)
        return item

    def assertPage(self, r, status, *needles):
        """An HTML page with this status, the security headers every page
        carries, and each needle in its text.  Returns r."""
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.headers["Content-Type"], "text/html; charset=utf-8", r)
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        self.assertEqual(r.headers["Referrer-Policy"], "no-referrer")
        self.assertTrue(r.headers["Content-Security-Policy"].startswith(
            "default-src 'none'; style-src 'sha256-"), r.headers)
        self.assertEqual(r.headers["X-Frame-Options"], "DENY")
        for n in needles:
            self.assertIn(n, r.text)
        self.answered(r)
        return r
