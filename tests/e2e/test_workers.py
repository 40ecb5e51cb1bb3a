"""End-to-end: a program handed a listening socket (as systemd or spawn-fcgi
do) with workers > 1 forks that many workers that share it, replaces one
that dies, and on SIGTERM stops them all and exits 0."""
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import lkstack as lk


def fcgi_request(path, params):
    """One FastCGI request over a unix socket; returns the CGI output."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)

    def record(kind, content):
        return struct.pack("!BBHHBx", 1, kind, 1, len(content), 0) + content

    def nv(k, v):
        k, v = k.encode(), v.encode()
        return bytes([len(k)]) + bytes([len(v)]) + k + v if len(v) < 128 else \
            bytes([len(k)]) + struct.pack("!I", len(v) | 0x80000000) + k + v

    body = b"".join(nv(k, v) for k, v in params.items())
    s.sendall(record(1, struct.pack("!HB5x", 1, 0)) + record(4, body) + record(4, b"") + record(5, b""))
    out = b""
    while True:
        head = s.recv(8, socket.MSG_WAITALL)
        if len(head) < 8:
            break
        _, kind, _, n, pad = struct.unpack("!BBHHBx", head)
        data = s.recv(n + pad, socket.MSG_WAITALL)[:n] if n + pad else b""
        if kind == 6:
            out += data
        if kind == 3:
            break
    s.close()
    return out.decode("latin-1")


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return sorted(int(x) for x in out.split())


class WorkersTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="lkw-")
        self.sock_path = os.path.join(self.dir, "token.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.sock_path)
        listener.listen(16)
        env = dict(os.environ, LATCHKEY_CONFIG=lk.env()["LATCHKEY_CONFIG"], LATCHKEY_WORKERS="3")
        # The listening socket on standard input, as spawn-fcgi and systemd
        # (StandardInput=socket) hand it over.
        self.proc = subprocess.Popen([os.path.join(lk.env()["LATCHKEY_BIN"], "token")], stdin=listener,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        listener.close()
        self.addCleanup(self.stop)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def ask(self):
        return fcgi_request(self.sock_path, {"REQUEST_METHOD": "GET", "REQUEST_URI": "/latchkey/token/x",
                                             "SCRIPT_NAME": "/latchkey/token"})

    def test_workers_share_the_socket_replace_the_dead_and_stop_on_sigterm(self):
        workers = lk.wait_until(lambda: len(children(self.proc.pid)) == 3 and children(self.proc.pid))
        for _ in range(6):
            self.assertIn("Status: 401", self.ask())  # no key: the program answered
        os.kill(workers[0], signal.SIGKILL)
        replaced = lk.wait_until(lambda: (lambda c: len(c) == 3 and workers[0] not in c and c)(
            children(self.proc.pid)))
        self.assertNotIn(workers[0], replaced)
        self.assertIn("Status: 401", self.ask())
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=10), 0)
        for pid in replaced:
            self.assertFalse(os.path.exists("/proc/%d/status" % pid) and
                             "State:\tZ" not in open("/proc/%d/status" % pid).read())
        self.assertIn(b"supervisor leaving", self.proc.stderr.read())


if __name__ == "__main__":
    unittest.main()
