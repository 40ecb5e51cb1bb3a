"""End-to-end: the proxy (SPEC §6) through lighttpd and the shipped
lighttpd config, against the fake provider's Confluence routes, with a
connection made through the real browser flow.

The fake counts every request to a non-admin path (counters["paths"]) before
it applies a fault; counters["api_calls"] only counts the Confluence
requests that got past the faults.  "No upstream call" is asserted on both.
"""

import hashlib
import http.client
import json
import os
import socket
import subprocess
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t

CLOUD_ID = f.DEFAULT_SITE["id"]
PROFILE = None   # shared by the tests that leave the connection alone
IID = None
DOWNLOAD_MB = 10


def setUpModule():
    global PROFILE, IID
    t.restore_fake()
    PROFILE = f.make_profile(extra=["--scopes", "read:confluence-content.all read:confluence-space.summary write:confluence-content"])  # writes content (fake checks scopes)
    IID = t.connect(PROFILE)


def tearDownModule():
    f.cleanup()


def upstream_path(sub):
    """The path the fake sees for the proxied sub-path."""
    return "/ex/confluence/%s%s" % (CLOUD_ID, sub)


def pattern_sha256(n):
    """sha256 of the fake's download/{n} body (byte i = i % 251)."""
    block = bytes(i % 251 for i in range(251)) * 4096
    h = hashlib.sha256()
    while n > 0:
        k = min(n, len(block))
        h.update(block[:k])
        n -= k
    return h.hexdigest()


def upstream_requests():
    """Every non-admin request the fake has seen, summed over paths."""
    return sum(t.counters()["paths"].values())


def raw_request(method, target, headers=None, body=None, encode_chunked=False, timeout=30):
    """One request through http.client with the target exactly as given
    (nothing normalises it); returns (status, HTTPMessage, body)."""
    c = http.client.HTTPConnection("127.0.0.1", int(lk.LIGHTTPD_PORT), timeout=timeout)
    try:
        c.putrequest(method, target, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if encode_chunked:
            hdrs["Transfer-Encoding"] = "chunked"
        elif body is not None and not any(k.lower() == "content-length" for k in hdrs):
            hdrs["Content-Length"] = str(len(body))
        for k, v in hdrs.items():
            c.putheader(k, v)
        if encode_chunked:
            c.endheaders()
            for chunk in body:
                c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            c.send(b"0\r\n\r\n")
        else:
            c.endheaders(body)
        r = c.getresponse()
        return r.status, r.msg, r.read()
    finally:
        c.close()


class ProxyTestCase(t.TokenTestCase):
    """Helpers; tearDown puts the fake back (faults, config, sites)."""

    profile = property(lambda self: PROFILE)

    def proxy(self, method, sub, iid=None, headers=None, body=None, key=None, profile=None):
        p = profile or PROFILE
        hdrs = {"Authorization": "Bearer " + (key or p.key)}
        if iid is not False:
            hdrs["X-Instance-Id"] = iid or IID
        hdrs.update(headers or {})
        return lk.http(method, "/proxy/%s%s" % (p.name, sub), headers=hdrs, body=body)

    def echo(self, r):
        self.assertEqual(r.status, 200, r)
        return r.json()

    def current_token(self, iid=None, profile=None):
        r = t.get_token(profile or PROFILE, iid or IID)
        return self.assertToken(r)["access_token"]

    def fault(self, sub, **spec):
        spec.setdefault("kind", "status")
        return t.fault(path=upstream_path(sub), **spec)

    def fresh_connection(self):
        """A connection of its own (tests that change the row)."""
        return t.connect(PROFILE)

    def age_connection(self, iid, interval="5 minutes"):
        lk.sql("UPDATE connections c SET last_refreshed_at = now() - :'p3'::interval, "
               "grant_issued_at = now() - :'p3'::interval FROM profiles p "
               "WHERE p.id = c.profile_id AND p.name = :'p1' AND c.instance_id = :'p2'",
               PROFILE.name, iid, interval)


class ForwardingTest(ProxyTestCase):
    """Methods, bodies, the raw path and query, the injected credential."""

    def test_get_passes_raw_path_and_query_and_the_current_token(self):
        sub = "/wiki/echo/a%2Fb/c%20d"
        r = self.proxy("GET", sub + "?x=1&y=%20z+q&empty=&x=2")
        self.assertEqual(r.headers["Content-Type"], "application/json")
        e = self.echo(r)
        self.assertEqual(e["method"], "GET")
        self.assertEqual(e["raw_target"], upstream_path(sub) + "?x=1&y=%20z+q&empty=&x=2")
        self.assertEqual(e["query"], "x=1&y=%20z+q&empty=&x=2")
        self.assertEqual(e["headers"]["authorization"], "Bearer " + self.current_token())
        self.assertEqual(e["body_bytes"], 0)

    def test_space_listing_with_query(self):
        r = self.proxy("GET", "/wiki/rest/api/space?limit=2")
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual([s["key"] for s in body["results"]], ["ENG", "OPS"])
        self.assertEqual(body["limit"], 2)

    def test_no_query_means_no_question_mark(self):
        e = self.echo(self.proxy("GET", "/wiki/echo/plain"))
        self.assertEqual(e["raw_target"], upstream_path("/wiki/echo/plain"))

    def test_content_crud_post_put_get_delete(self):
        doc = {"type": "page", "title": "Hello ünïcode", "space": {"key": "ENG"},
               "body": {"storage": {"value": "<p>x</p>", "representation": "storage"}}}
        r = self.proxy("POST", "/wiki/rest/api/content", body=doc)
        self.assertEqual(r.status, 200, r)
        created = r.json()
        cid = created["id"]
        self.assertEqual(created["title"], doc["title"])
        doc2 = dict(doc, title="Renamed", version={"number": 2})
        r = self.proxy("PUT", "/wiki/rest/api/content/" + cid, body=doc2)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["title"], "Renamed")
        r = self.proxy("GET", "/wiki/rest/api/content/" + cid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["version"], {"number": 2})
        r = self.proxy("DELETE", "/wiki/rest/api/content/" + cid)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        r = self.proxy("GET", "/wiki/rest/api/content/" + cid)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json()["message"], "Content not found")

    def test_post_body_and_content_type_arrive_as_sent(self):
        body = json.dumps({"a": [1, 2, 3], "s": "x" * 5000}).encode()
        r = self.proxy("POST", "/wiki/echo/post", body=body,
                       headers={"Content-Type": "application/json; charset=utf-8"})
        e = self.echo(r)
        self.assertEqual(e["method"], "POST")
        self.assertEqual(e["body_bytes"], len(body))
        self.assertEqual(e["body_sha256"], hashlib.sha256(body).hexdigest())
        self.assertEqual(e["headers"]["content-type"], "application/json; charset=utf-8")
        self.assertEqual(e["headers"]["content-length"], str(len(body)))

    def test_put_and_patch_bodies(self):
        for method in ("PUT", "PATCH"):
            body = b'{"m": "%s"}' % method.encode()
            e = self.echo(self.proxy(method, "/wiki/echo/m", body=body,
                                     headers={"Content-Type": "application/json"}))
            self.assertEqual(e["method"], method)
            self.assertEqual(e["body_sha256"], hashlib.sha256(body).hexdigest())

    def test_head_answer_passed_back_without_body(self):
        # The fake has no do_HEAD: http.server answers 501 with the
        # Content-Length of the body it would have sent.  The proxy passes
        # status and headers back, and no body.
        r = self.proxy("HEAD", "/wiki/download/1234")
        self.assertEqual(r.status, 501, r)
        self.assertEqual(r.headers["Server"], "FakeAtlassian/1.0 ")
        self.assertGreater(int(r.headers["Content-Length"]), 0)
        self.assertEqual(r.body, b"")

    def test_empty_bodies_keep_content_length_zero(self):
        # RFC 9110 §8.6: an empty POST/PUT/PATCH says Content-Length: 0
        # (servers answer 411 otherwise); GET and DELETE carry none.
        for method, want in (("POST", "0"), ("PUT", "0"), ("PATCH", "0"),
                             ("DELETE", None), ("GET", None)):
            e = self.echo(self.proxy(method, "/wiki/echo/empty", body=b""))
            self.assertEqual(e["method"], method)
            self.assertEqual(e["headers"].get("content-length"), want, method)
            self.assertNotIn("transfer-encoding", e["headers"])
            self.assertEqual(e["body_bytes"], 0)

    def test_binary_download_is_byte_exact(self):
        n = DOWNLOAD_MB * 1024 * 1024 + 7
        r = self.proxy("GET", "/wiki/download/%d" % n)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["Content-Type"], "application/octet-stream")
        self.assertEqual(len(r.body), n)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), pattern_sha256(n))

    def test_binary_upload_is_byte_exact(self):
        data = bytes(range(256)) * 12289 + b"\x00\r\n\xff"  # ~3 MiB, over the replay cap
        for method in ("POST", "PUT"):
            r = self.proxy(method, "/wiki/upload", body=data,
                           headers={"Content-Type": "application/octet-stream"})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"bytes": len(data),
                                        "sha256": hashlib.sha256(data).hexdigest()})

    def test_chunked_upload_without_content_length_arrives_byte_exact(self):
        chunks = [bytes([i % 256]) * (1000 + 37 * i) for i in range(200)]
        data = b"".join(chunks)
        st, hdrs, body = raw_request(
            "POST", "/latchkey/proxy/%s/wiki/upload" % PROFILE.name,
            {"Authorization": "Bearer " + PROFILE.key, "X-Instance-Id": IID,
             "Content-Type": "application/octet-stream"}, chunks, encode_chunked=True)
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body), {"bytes": len(data),
                                            "sha256": hashlib.sha256(data).hexdigest()})


class HeaderTest(ProxyTestCase):
    """What passes on and back (SPEC §6)."""

    def test_request_headers_filtered(self):
        key = PROFILE.key
        st, _h, body = raw_request("GET", "/latchkey/proxy/%s/wiki/echo/h" % PROFILE.name, {
            "Authorization": "Bearer " + key,
            "X-Instance-Id": IID,
            "Cookie": "session=secret-cookie",
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
            "Forwarded": "for=203.0.113.9",
            "X-Site": CLOUD_ID,
            "Proxy-Authorization": "Basic eDp5",
            "TE": "trailers",
            "Connection": "keep-alive, X-Hop-Listed",
            "X-Hop-Listed": "drop me",
            "X-Custom": "kept",
            "Accept": "application/json",
            "Accept-Language": "de",
            "If-None-Match": '"v1"',
        })
        self.assertEqual(st, 200, body)
        e = json.loads(body)
        h = e["headers"]
        self.assertEqual(h["authorization"], "Bearer " + self.current_token())
        self.assertNotIn(key, json.dumps(e))  # the bot's key never goes upstream
        self.assertEqual(h["host"], "127.0.0.1:%s" % lk.PROVIDER_PORT)
        for gone in ("cookie", "x-instance-id", "x-forwarded-for", "x-forwarded-host",
                     "x-forwarded-proto", "forwarded", "x-site", "proxy-authorization", "te",
                     "x-hop-listed", "connection", "keep-alive", "transfer-encoding"):
            self.assertNotIn(gone, h)
        self.assertEqual(h["x-custom"], "kept")
        self.assertEqual(h["accept"], "application/json")
        self.assertEqual(h["accept-language"], "de")
        self.assertEqual(h["if-none-match"], '"v1"')
        # one Authorization, ours
        self.assertEqual([v for k, v in e["header_list"] if k.lower() == "authorization"],
                         ["Bearer " + self.current_token()])

    def test_response_headers_filtered(self):
        r = self.proxy("GET", "/wiki/echo/resp")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.set_cookies, [])
        self.assertEqual(r.headers["X-Upstream"], "yes")
        self.assertEqual(r.headers["Server"], "FakeAtlassian/1.0 ")  # passed back as is

    def test_fault_headers_come_back_but_not_set_cookie(self):
        self.fault("/wiki/echo/fh", status=418,
                   headers={"X-Custom-Back": "1", "Set-Cookie": "x=1", "ETag": '"e1"',
                            "Status": "200 OK"})  # would be read as the CGI status
        r = self.proxy("GET", "/wiki/echo/fh")
        self.assertEqual(r.status, 418, r)
        self.assertEqual(r.headers["X-Custom-Back"], "1")
        self.assertEqual(r.headers["ETag"], '"e1"')
        self.assertEqual(r.set_cookies, [])


class AnswersTest(ProxyTestCase):
    """Redirects and throttling go back as they are."""

    def test_redirect_returned_not_followed(self):
        before = t.counters()
        r = self.proxy("GET", "/wiki/redirect")
        self.assertEqual(r.status, 302, r)
        self.assertEqual(r.headers["Location"], "http://127.0.0.1:1/elsewhere")
        after = t.counters()
        self.assertEqual(after["api_calls"], before["api_calls"] + 1)
        self.assertEqual(sum(after["paths"].values()), sum(before["paths"].values()) + 1)

    def check_passed_back(self, status):
        sub = "/wiki/rest/api/space"
        self.fault(sub, status=status, retry_after=7)
        before = t.counters()
        r = self.proxy("GET", sub)
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.headers["Retry-After"], "7")
        self.assertEqual(r.json(), {"error": "server_error",
                                    "error_description": "injected fault %d" % status})
        after = t.counters()
        self.assertEqual(after["paths"][upstream_path(sub)],
                         before["paths"].get(upstream_path(sub), 0) + 1)  # not retried
        self.assertEqual(after["token_refresh"], before["token_refresh"])

    def test_429_with_retry_after_passed_back(self):
        self.check_passed_back(429)

    def test_503_with_retry_after_passed_back(self):
        self.check_passed_back(503)


class LocationTest(ProxyTestCase):
    """SPEC §6: a relative Location goes back absolute, resolved against the
    upstream URL.  Apache's CGI and mod_fcgid read a relative Location on a
    200 as an internal redirect and would run the bot's request, its
    Authorization header with it, on any path of this host: here the
    upstream points it at /token, which would hand the bot's own token
    back in place of the upstream's answer.  Runs on any stack
    (LATCHKEY_SERVER)."""

    SUB = "/wiki/echo/loc"

    @staticmethod
    def client_redirects():
        """Apache's mod_cgi and mod_fcgid answer a CGI 200 that carries an
        absolute Location with a 302 of their own (RFC 3875 §6.2.3 client
        redirect), dropping the body: safe, the upstream's URL goes back."""
        return lk.env().get("LATCHKEY_SERVER", "lighttpd") in ("apache-cgi", "apache-fcgid")

    def location_answer(self, location, status=200):
        body = '{"upstream": "answer"}'
        self.fault(self.SUB, status=status, body=body, headers={"Location": location})
        r = self.proxy("GET", self.SUB)
        self.assertNotIn(b"access_token", r.body)  # never /token's answer
        if status == 200 and self.client_redirects():
            self.assertEqual(r.status, 302, r)
        else:
            self.assertEqual(r.status, status, r)
            self.assertEqual(r.json(), {"upstream": "answer"})  # the upstream's answer, not /token's
        return r

    def test_relative_location_on_200_goes_back_absolute(self):
        target = "/latchkey/token/%s?instance_id=%s" % (PROFILE.name, IID)
        r = self.location_answer(target)
        self.assertEqual(r.headers["Location"], lk.PROVIDER_URL + target)

    def test_path_relative_location_resolved_against_the_upstream_path(self):
        r = self.location_answer("../space?start=2", status=201)
        self.assertEqual(r.headers["Location"],
                         lk.PROVIDER_URL + upstream_path("/wiki/space?start=2"))

    def test_relative_redirect_goes_back_absolute(self):
        self.fault(self.SUB, status=302, body="", headers={"Location": "/wiki/spaces/ENG"})
        r = self.proxy("GET", self.SUB)
        self.assertEqual(r.status, 302, r)
        self.assertEqual(r.headers["Location"], lk.PROVIDER_URL + "/wiki/spaces/ENG")

    def test_absolute_location_unchanged(self):
        r = self.location_answer("https://acme.atlassian.net/wiki/x?y=1")
        self.assertEqual(r.headers["Location"], "https://acme.atlassian.net/wiki/x?y=1")

    def test_header_names_that_are_not_tokens_are_dropped(self):
        # " Set-Cookie" and "set-cookie " are no field names (RFC 9110 §5.1);
        # a server that trims them would make them the Set-Cookie we drop.
        self.fault(self.SUB, status=200, body='{"upstream": "answer"}', headers={
            "X-Good": "kept",
            "set-cookie ": "trailing=1; Path=/",
            "Set-Cookie\t": "tab=1; Path=/",
            "X Bad": "dropped",
            "X-Also-Good": "kept too",
            " Set-Cookie": "leading=1; Path=/",
        })
        st, hdrs, body = raw_request("GET", "/latchkey/proxy/%s%s" % (PROFILE.name, self.SUB),
                                     {"Authorization": "Bearer " + PROFILE.key, "X-Instance-Id": IID})
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(json.loads(body), {"upstream": "answer"})
        self.assertEqual(hdrs.get_all("Set-Cookie"), None, hdrs.items())
        names = [k for k, _v in hdrs.items()]
        self.assertFalse([n for n in names if "cookie" in n.lower()], names)
        self.assertFalse([n for n in names if " " in n or "\t" in n], names)
        self.assertEqual(hdrs["X-Good"], "kept")
        self.assertEqual(hdrs["X-Also-Good"], "kept too")
        self.assertNotIn("dropped", str(hdrs.items()))


class Upstream401Test(ProxyTestCase):
    """SPEC §6: one refresh and one retry, only for a token over a minute old."""

    SUB = "/wiki/echo/auth"

    def calls(self):
        return t.counters()["paths"].get(upstream_path(self.SUB), 0)

    def test_expired_token_is_refreshed_before_the_call(self):
        iid = self.fresh_connection()
        old = t.row(PROFILE, iid)["generation"]
        t.expire(PROFILE, iid)
        before, calls = t.counters()["token_refresh"], self.calls()
        e = self.echo(self.proxy("GET", self.SUB, iid))
        self.assertEqual(t.counters()["token_refresh"], before + 1)
        self.assertEqual(self.calls(), calls + 1)
        self.assertEqual(t.row(PROFILE, iid)["generation"], old + 1)
        self.assertEqual(e["headers"]["authorization"], "Bearer " + self.current_token(iid))

    def test_401_for_fresh_token_goes_back_without_refresh(self):
        iid = self.fresh_connection()
        self.fault(self.SUB, status=401, headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
        before, calls = t.counters()["token_refresh"], self.calls()
        r = self.proxy("GET", self.SUB, iid)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.headers["WWW-Authenticate"], 'Bearer error="insufficient_scope"')
        self.assertEqual(r.json()["error_description"], "injected fault 401")
        self.assertEqual(t.counters()["token_refresh"], before)
        self.assertEqual(self.calls(), calls + 1)

    def test_401_for_old_token_refreshes_once_and_retries(self):
        iid = self.fresh_connection()
        self.age_connection(iid)
        old_token = self.current_token(iid)
        self.fault(self.SUB, status=401, count=1)
        before, calls = t.counters()["token_refresh"], self.calls()
        body = b'{"replayed": true}'
        r = self.proxy("POST", self.SUB, iid, body=body, headers={"Content-Type": "application/json"})
        e = self.echo(r)
        self.assertEqual(t.counters()["token_refresh"], before + 1)
        self.assertEqual(self.calls(), calls + 2)
        new_token = self.current_token(iid)
        self.assertNotEqual(new_token, old_token)
        self.assertEqual(e["headers"]["authorization"], "Bearer " + new_token)
        self.assertEqual(e["body_sha256"], hashlib.sha256(body).hexdigest())  # replayed whole

    def test_second_401_goes_back_after_exactly_one_refresh(self):
        iid = self.fresh_connection()
        self.age_connection(iid)
        self.fault(self.SUB, status=401, count=2)
        before, calls = t.counters()["token_refresh"], self.calls()
        r = self.proxy("GET", self.SUB, iid)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error_description"], "injected fault 401")
        self.assertEqual(t.counters()["token_refresh"], before + 1)
        self.assertEqual(self.calls(), calls + 2)

    def test_401_after_revocation_is_409_without_retry(self):
        iid = self.fresh_connection()
        self.age_connection(iid)
        lk.fake("POST", "/_fake/revoke", {"access_token": self.current_token(iid)})
        before, calls = t.counters(), self.calls()
        r = self.proxy("GET", self.SUB, iid)
        body = self.assertJsonError(r, 409, "reauthorization_required")
        self.assertEqual(body["authorize_url"], lk.LATCHKEY_URL + "/authorize/" + PROFILE.name)
        after = t.counters()
        self.assertEqual(self.calls(), calls + 1)  # the refresh failed: no retry
        self.assertEqual(after["token_refresh"], before["token_refresh"] + 1)
        self.assertEqual(after["token_refresh_ok"], before["token_refresh_ok"])
        self.assertEqual(t.row(PROFILE, iid)["status"], "reauthorization_required")

    def test_401_with_body_over_replay_cap_goes_back(self):
        iid = self.fresh_connection()
        self.age_connection(iid)
        self.fault("/wiki/upload", status=401, count=1)
        before = t.counters()["token_refresh"]
        r = self.proxy("POST", "/wiki/upload", iid, body=b"z" * (1024 * 1024 + 1))
        self.assertEqual(r.status, 401, r)
        self.assertEqual(t.counters()["token_refresh"], before)


class UpstreamFailureTest(ProxyTestCase):

    def test_unreachable_upstream_is_502(self):
        # More than one drop: libcurl retries once on a fresh connection
        # when a reused one dies before answering.
        self.fault("/wiki/echo/drop", kind="drop", count=5)
        r = self.proxy("GET", "/wiki/echo/drop")
        self.assertJsonError(r, 502, "upstream_error")

    def test_slow_upstream_is_504(self):
        self.fault("/wiki/echo/slow", kind="delay", delay=4)
        r = self.proxy("GET", "/wiki/echo/slow")
        self.assertJsonError(r, 504, "upstream_timeout")


class ClientGoneTest(ProxyTestCase):
    """SPEC §6: a client that goes away mid-stream ends the upstream
    transfer (lighttpd drops the FastCGI connection, the proxy's next write
    fails, libcurl aborts and closes its connection to the provider), and
    the worker lives on to serve the next call."""

    SIZE = 2000000000   # 2 GB: never sent whole
    READ = 1 << 20      # what the client reads before it goes
    MAX_SENT = 200 << 20
    DEADLINE = 8

    def test_client_gone_mid_download_stops_the_upstream_transfer(self):
        workers = t.workers("proxy")
        self.assertTrue(workers)
        before = t.counters()
        c = http.client.HTTPConnection("127.0.0.1", int(lk.LIGHTTPD_PORT), timeout=30)
        try:
            c.request("GET", "/latchkey/proxy/%s/wiki/download/%d" % (PROFILE.name, self.SIZE),
                      headers={"Authorization": "Bearer " + PROFILE.key, "X-Instance-Id": IID})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.getheader("Content-Type"), "application/octet-stream")
            got = b""
            while len(got) < self.READ:
                chunk = r.read(65536)
                self.assertTrue(chunk, "the answer ended after %d bytes" % len(got))
                got += chunk
            self.assertEqual(got[:251], bytes(range(251)))
            c.sock.shutdown(socket.SHUT_RDWR)
        finally:
            c.close()

        def aborted():
            now = t.counters()
            return now if now["download_aborted"] > before["download_aborted"] else None
        after = lk.wait_until(aborted, self.DEADLINE, what="the fake to see its download cut short")
        self.assertEqual(after["downloads"], before["downloads"] + 1)
        self.assertEqual(after["downloads_completed"], before["downloads_completed"])
        self.assertEqual(after["download_aborted_last_size"], self.SIZE)
        sent = after["download_aborted_last_bytes"]
        self.assertGreaterEqual(sent, len(got))
        self.assertLess(sent, self.MAX_SENT, "%d bytes went out before the stop" % sent)
        # No worker died over it, and the proxy answers again.
        e = self.echo(self.proxy("GET", "/wiki/echo/after-gone"))
        self.assertEqual(e["path"], upstream_path("/wiki/echo/after-gone"))
        self.assertEqual(t.workers("proxy"), workers)


class UpstreamKeepAliveTest(ProxyTestCase):
    """Each proxy worker keeps its connection to the provider open between
    calls (one libcurl handle per process): sequential calls reuse it."""

    CALLS = 20

    def test_sequential_calls_reuse_upstream_connections(self):
        workers = t.workers("proxy")
        self.assertTrue(workers)
        seen = []
        for i in range(self.CALLS):
            e = self.echo(self.proxy("GET", "/wiki/echo/keepalive/%d" % i))
            seen.append(e["tcp_connection"])
        by_id = {}
        for conn in seen:
            by_id.setdefault(conn["id"], []).append(conn)
        summary = {cid: [c["requests"] for c in cs] for cid, cs in by_id.items()}
        self.assertTrue(any(len(cs) > 1 for cs in by_id.values()), summary)
        self.assertLessEqual(len(by_id), len(workers), summary)
        for cid, cs in by_id.items():
            # one TCP connection: one peer port, a request count that only grows
            self.assertEqual(len({c["peer_port"] for c in cs}), 1, summary)
            counts = [c["requests"] for c in cs]
            self.assertEqual(counts, sorted(set(counts)), summary)
        self.assertEqual(t.workers("proxy"), workers)


class GateTest(ProxyTestCase):
    """Refusals before any upstream call."""

    def setUp(self):
        self.before = (upstream_requests(), t.counters()["api_calls"])

    def assertNoUpstreamCall(self):
        self.assertEqual((upstream_requests(), t.counters()["api_calls"]), self.before)

    def test_missing_instance_id_is_422(self):
        r = self.proxy("GET", "/wiki/rest/api/space", iid=False)
        self.assertValidation(r, ["header", "x-instance-id"])
        self.assertNoUpstreamCall()

    def test_unknown_instance_is_404(self):
        r = self.proxy("GET", "/wiki/rest/api/space", iid=lk.unique("nobody"))
        self.assertJsonError(r, 404, "not_connected")
        self.assertNoUpstreamCall()

    def test_no_key_is_401(self):
        r = lk.http("GET", "/proxy/%s/wiki/rest/api/space" % PROFILE.name,
                    headers={"X-Instance-Id": IID})
        self.assertJsonError(r, 401, "unauthorized")
        self.assertNoUpstreamCall()

    def test_key_without_the_profile_is_403(self):
        other = f.make_profile()
        r = self.proxy("GET", "/wiki/rest/api/space", key=other.key)
        self.assertJsonError(r, 403, "forbidden")
        self.assertNoUpstreamCall()

    def test_reauthorization_required_is_409(self):
        iid = self.fresh_connection()
        lk.sql("UPDATE connections c SET status = 'reauthorization_required' FROM profiles p "
               "WHERE p.id = c.profile_id AND p.name = :'p1' AND c.instance_id = :'p2'",
               PROFILE.name, iid)
        self.before = (upstream_requests(), t.counters()["api_calls"])
        r = self.proxy("GET", "/wiki/rest/api/space", iid)
        body = self.assertJsonError(r, 409, "reauthorization_required")
        self.assertEqual(body["authorize_url"], lk.LATCHKEY_URL + "/authorize/" + PROFILE.name)
        self.assertNoUpstreamCall()

    def test_unknown_site_is_422(self):
        r = self.proxy("GET", "/wiki/rest/api/space",
                       headers={"X-Site": "99999999-9999-4999-8999-999999999999"})
        body = self.assertJsonError(r, 422, "validation_error")
        self.assertEqual(len(body["detail"]), 1, body)
        self.assertNoUpstreamCall()

    def test_unknown_site_names_the_header(self):
        # The site came from X-Site: the error says so.
        r = self.proxy("GET", "/wiki/rest/api/space",
                       headers={"X-Site": "99999999-9999-4999-8999-999999999999"})
        self.assertValidation(r, ["header", "x-site"])

    def test_malformed_site_is_422(self):
        r = self.proxy("GET", "/wiki/rest/api/space", headers={"X-Site": "bad site!"})
        self.assertValidation(r, ["header", "x-site"])
        self.assertNoUpstreamCall()

    def test_known_site_by_id_and_host(self):
        for site in (CLOUD_ID, "acme.atlassian.net"):
            e = self.echo(self.proxy("GET", "/wiki/echo/site", headers={"X-Site": site}))
            self.assertEqual(e["path"], upstream_path("/wiki/echo/site"))

    def test_body_over_cap_is_413(self):
        c = http.client.HTTPConnection("127.0.0.1", int(lk.LIGHTTPD_PORT), timeout=20)
        try:
            c.putrequest("POST", "/latchkey/proxy/%s/wiki/upload" % PROFILE.name)
            c.putheader("Authorization", "Bearer " + PROFILE.key)
            c.putheader("X-Instance-Id", IID)
            c.putheader("Content-Type", "application/octet-stream")
            c.putheader("Content-Length", str(1073741824 + 1))
            c.endheaders()
            r = c.getresponse()
            status, ctype, body = r.status, r.getheader("Content-Type"), r.read()
        finally:
            c.close()
        self.assertEqual(status, 413, body)
        # The web server's own cap (= proxy_max_body) answers first where
        # it knows the length (its own page); else the program's JSON.
        if ctype == "application/json":
            self.assertEqual(json.loads(body)["error"], "payload_too_large")
        self.assertNoUpstreamCall()


class PlainCgiTest(ProxyTestCase):
    """The proxy run once as plain CGI (SPEC §1), for request headers that
    lighttpd would not hand over as such."""

    def run_cgi(self, **headers):
        e = lk.env()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "LATCHKEY_CONFIG": e["LATCHKEY_CONFIG"], "GATEWAY_INTERFACE": "CGI/1.1",
               "REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1",
               "REQUEST_URI": "/latchkey/proxy/%s/wiki/echo/cgi" % PROFILE.name,
               "HTTP_AUTHORIZATION": "Bearer " + PROFILE.key, "HTTP_X_INSTANCE_ID": IID}
        env.update(headers)
        res = subprocess.run([os.path.join(e["LATCHKEY_BIN"], "proxy")], env=env,
                             capture_output=True, timeout=30)
        head, _, body = res.stdout.partition(b"\r\n\r\n")
        return int(head.split(b"\r\n")[0].split()[1]), body

    def test_headers_named_in_connection_are_dropped(self):
        st, body = self.run_cgi(HTTP_CONNECTION="keep-alive, X-Hop-Listed", HTTP_X_HOP_LISTED="1",
                                HTTP_X_OTHER="2")
        self.assertEqual(st, 200, body)
        h = json.loads(body)["headers"]
        self.assertNotIn("x-hop-listed", h)
        self.assertNotIn("connection", h)
        self.assertEqual(h["x-other"], "2")

    def test_header_value_with_crlf_is_400(self):
        before = upstream_requests()
        st, body = self.run_cgi(HTTP_X_BAD="a\r\nX-Injected: 1")
        self.assertEqual(st, 400, body)
        self.assertEqual(json.loads(body)["error"], "invalid_request")
        self.assertEqual(upstream_requests(), before)


class PathAttackTest(ProxyTestCase):
    """Raw targets through the shipped lighttpd config.  lighttpd answers
    the ones with control characters itself (HTML 400, url-ctrls-reject);
    the rest reach the proxy, which answers 400 invalid_request."""

    def attack(self, tail, want_status, ours=True):
        before = (upstream_requests(), t.counters()["api_calls"])
        target = "/latchkey/proxy/%s%s" % (PROFILE.name, tail)
        st, hdrs, body = raw_request("GET", target, {"Authorization": "Bearer " + PROFILE.key,
                                                     "X-Instance-Id": IID})
        self.assertEqual(st, want_status, (tail[:80], body[:300]))
        if ours:
            self.assertEqual(hdrs["Content-Type"], "application/json", body[:300])
            self.assertEqual(json.loads(body)["error"], "invalid_request")
        else:
            self.assertNotEqual(hdrs.get("Content-Type"), "application/json")
        self.assertEqual((upstream_requests(), t.counters()["api_calls"]), before, tail[:80])

    def test_dot_dot_to_another_route(self):
        self.attack("/../token/" + PROFILE.name, 400)

    def test_encoded_dot_dot(self):
        self.attack("/%2e%2e/x", 400)

    def test_dot_dot_with_encoded_slash(self):
        self.attack("/..%2fx", 400)

    def test_double_encoded_dot_dot(self):
        self.attack("/%252e%252e/x", 400)

    def test_encoded_backslash(self):
        self.attack("/a%5cb", 400)

    def test_authority(self):
        self.attack("//evil.com/x", 400)

    def test_scheme(self):
        self.attack("/http://evil/x", 400)

    def test_nul_refused_by_lighttpd(self):
        self.attack("/a%00b", 400, ours=False)

    def test_crlf_refused_by_lighttpd(self):
        self.attack("/a%0d%0ab", 400, ours=False)

    def test_long_path(self):
        self.attack("/" + "a" * 5000, 400)

    # SPEC §6: Confluence Data Center (a servlet container) drops a
    # segment's ';' parameters and then resolves "..": "..;x" is "..".

    def test_dot_dot_with_parameters_to_another_route(self):
        self.attack("/..;/..;/..;/..;/latchkey/token/" + PROFILE.name, 400)

    def test_dot_dot_with_named_parameter(self):
        self.attack("/wiki/..;jsessionid=x/..;/admin", 400)

    def test_encoded_dot_dot_with_parameter(self):
        self.attack("/wiki/%2e%2e;x/admin", 400)

    def test_encoded_dot_dot_with_encoded_semicolon(self):
        self.attack("/wiki/%2E%2E%3B/admin", 400)

    def test_dot_with_parameter(self):
        self.attack("/wiki/.;/rest/api/space", 400)


class PathPrefixTest(ProxyTestCase):
    """--proxy-path-prefix: ';' parameters cannot walk out of the prefix
    (SPEC §6), while ordinary paths below it and parameters on ordinary
    segments pass."""

    @classmethod
    def setUpClass(cls):
        cls.p = f.make_profile(extra=["--proxy-path-prefix", "/wiki/rest/api/",
                                      "--proxy-path-prefix", "/wiki/echo/"])
        cls.iid = t.connect(cls.p)

    def call(self, tail):
        before = (upstream_requests(), t.counters()["api_calls"])
        st, hdrs, body = raw_request("GET", "/latchkey/proxy/%s%s" % (self.p.name, tail),
                                     {"Authorization": "Bearer " + self.p.key, "X-Instance-Id": self.iid})
        return st, hdrs, body, before

    def test_parameters_do_not_leave_the_prefix(self):
        for tail in ("/wiki/rest/api/..;/..;/download/12",
                     "/wiki/rest/api/%2e%2e;/%2e%2e;/download/12",
                     "/wiki/rest/api/..;x=1/..;y/download/12",
                     "/wiki/echo/..;/..;/download/12",
                     "/wiki/rest/api/.;/space"):
            st, hdrs, body, before = self.call(tail)
            self.assertEqual(st, 400, (tail, body[:300]))
            self.assertEqual(json.loads(body)["error"], "invalid_request", tail)
            self.assertEqual((upstream_requests(), t.counters()["api_calls"]), before, tail)

    def test_paths_below_the_prefix_pass(self):
        st, _h, body, _b = self.call("/wiki/rest/api/space?limit=1")
        self.assertEqual(st, 200, body[:300])
        st, _h, body, _b = self.call("/wiki/echo/a;v=1/b")
        self.assertEqual(st, 200, body[:300])
        e = json.loads(body)
        self.assertEqual(e["raw_target"], "/ex/confluence/%s/wiki/echo/a;v=1/b" % CLOUD_ID)
        st, _h, body, _b = self.call("/wiki/download/12")
        self.assertEqual(st, 400, body[:300])

    def test_profile_add_refuses_a_prefix_with_dot_segments(self):
        for prefix in ("/wiki/rest/api/..;/", "/wiki/../admin/", "/wiki/.;x/"):
            rc, out, err = lk.cli("profile", "add", lk.unique("pp"), "--template", "atlassian-confluence",
                                  "--client-id", "c", "--client-secret-file", f.secret_file("s"),
                                  "--callback-url", lk.LATCHKEY_URL + "/callback/x",
                                  "--proxy-path-prefix", prefix, check=False)
            self.assertNotEqual(rc, 0, prefix)
            self.assertIn("proxy path prefix", err, prefix)


if __name__ == "__main__":
    unittest.main()
