"""End-to-end: the proxy's memory stays flat whatever the body size
(SPEC §6): a 100 MB download and a 100 MB upload through lighttpd, byte-exact,
while a sampler reads RssAnon of every proxy FastCGI process every 20 ms.

The test streams both bodies (it never holds 100 MB itself).  The proxy
processes are this stack's lighttpd children running LATCHKEY_BIN/proxy
(lktoken.workers, i.e. `pgrep -f LATCHKEY_BIN/proxy` narrowed to our
lighttpd, so that other stacks sharing the binaries are left out).
"""

import hashlib
import http.client
import json
import threading
import time
import unittest

import lkflow as f
import lkstack as lk
import lktoken as t

SIZE = 100 * 1024 * 1024
RSS_ANON_MAX_KB = 16 * 1024
CHUNK = 1 << 20
PROFILE = None
IID = None


def setUpModule():
    global PROFILE, IID
    t.restore_fake()
    PROFILE = f.make_profile()
    IID = t.connect(PROFILE)


def tearDownModule():
    f.cleanup()


def rss_anon_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class Sampler(threading.Thread):
    """Peak RssAnon (kB) over the proxy workers, every 20 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0
        self.peak_pid = None
        self.samples = 0
        self.pids = set()
        self._halt = threading.Event()

    def run(self):
        pids, refreshed = [], 0.0
        while not self._halt.is_set():
            now = time.monotonic()
            if now - refreshed > 0.5:  # workers may be restarted by lighttpd
                pids, refreshed = t.workers("proxy"), now
                self.pids.update(pids)
            for pid in pids:
                kb = rss_anon_kb(pid)
                if kb is not None:
                    self.samples += 1
                    if kb > self.peak:
                        self.peak, self.peak_pid = kb, pid
            self._halt.wait(0.02)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._halt.set()
        self.join(10)


def pattern_sha256(n):
    block = bytes(i % 251 for i in range(251)) * 4096
    h = hashlib.sha256()
    while n > 0:
        k = min(n, len(block))
        h.update(block[:k])
        n -= k
    return h.hexdigest()


def connection():
    return http.client.HTTPConnection("127.0.0.1", int(lk.LIGHTTPD_PORT), timeout=60)


class ProxyMemoryTest(unittest.TestCase):

    def tearDown(self):
        t.restore_fake()

    def headers(self):
        return {"Authorization": "Bearer " + PROFILE.key, "X-Instance-Id": IID}

    def assertFlat(self, sampler, what):
        print("\n%s: peak RssAnon of the proxy workers %d kB (pid %s, %d samples, %d workers)"
              % (what, sampler.peak, sampler.peak_pid, sampler.samples, len(sampler.pids)))
        self.assertTrue(sampler.pids, "no proxy worker found")
        self.assertGreater(sampler.samples, 10)
        self.assertLess(sampler.peak, RSS_ANON_MAX_KB)

    def test_100mb_download_streams_with_flat_memory(self):
        want = pattern_sha256(SIZE)
        h, got = hashlib.sha256(), 0
        with Sampler() as s:
            c = connection()
            try:
                c.request("GET", "/latchkey/proxy/%s/wiki/download/%d" % (PROFILE.name, SIZE),
                          headers=self.headers())
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.getheader("Content-Length"), str(SIZE))
                while True:
                    chunk = r.read(CHUNK)
                    if not chunk:
                        break
                    h.update(chunk)
                    got += len(chunk)
            finally:
                c.close()
        self.assertEqual(got, SIZE)
        self.assertEqual(h.hexdigest(), want)
        self.assertFlat(s, "download")

    def test_100mb_upload_streams_with_flat_memory(self):
        block = hashlib.sha512(b"latchkey").digest() * (CHUNK // 64)  # 1 MiB
        h = hashlib.sha256()
        with Sampler() as s:
            c = connection()
            try:
                c.putrequest("PUT", "/latchkey/proxy/%s/wiki/upload" % PROFILE.name)
                for k, v in self.headers().items():
                    c.putheader(k, v)
                c.putheader("Content-Type", "application/octet-stream")
                c.putheader("Content-Length", str(SIZE))
                c.endheaders()
                for i in range(SIZE // CHUNK):
                    chunk = i.to_bytes(4, "big") + block[4:]
                    h.update(chunk)
                    c.send(chunk)
                r = c.getresponse()
                status, body = r.status, r.read()
            finally:
                c.close()
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(json.loads(body), {"bytes": SIZE, "sha256": h.hexdigest()})
        self.assertFlat(s, "upload")


if __name__ == "__main__":
    unittest.main()
