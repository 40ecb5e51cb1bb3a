"""The first commands where users run them: as root, from a checkout below a
directory that only root may enter (root's home on Debian is mode 0700).

The services run as other users -- PostgreSQL as postgres, Apache and nginx
and their programs as www-data -- and none of them can reach a file below
such a directory.  tests/stack.py then runs the stack in a directory of its
own in /tmp and links the requested directory to it (see its header).  Here,
for real: this checkout and this build's programs are copied below a fresh
directory of mode 0700, and from there

  - deploy/demo.sh up prints a link; the link, the fake's consent page and
    the callback connect "demo-user", whose token the bot key then gets;
    deploy/demo.sh status and down work; afterwards nothing of the stack
    runs, its directory in /tmp is gone and its logs are in var/demo;
  - tests/stack.py up --server apache-cgi (programs run by www-data, which
    cannot run them from the copy either) answers a bot, survives
    restart-pg and restart-web, and `down` leaves nothing behind but logs.

Needs root (skipped otherwise), the packages of deploy/packages.txt
(skipped when some are missing: tests/run.sh installs them first) and the
built programs: LATCHKEY_BIN_DIR (ctest sets it), default REPO/build/bin.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import lkflow as f  # noqa: E402 - after the path is set
import lkstack as lk  # noqa: E402

BIN = os.environ.get("LATCHKEY_BIN_DIR") or os.path.join(REPO, "build", "bin")
PROGRAMS = ("latchkey", "authorize", "callback", "token", "refresh", "proxy", "mcp", "metrics")
RUNTIME = re.compile(r"^/tmp/latchkey-stack-[^/]+$")
# Not copied: builds, the demo's state, git's, caches, npm's.
SKIP_COPY = shutil.ignore_patterns("build", "build-*", "var", ".git", "node_modules",
                                   "__pycache__", "*.pyc")


def read_env(path):
    env = {}
    with open(path) as fh:
        for line in fh:
            words = shlex.split(line, comments=True)
            if words and "=" in words[0]:
                k, _, v = words[0].partition("=")
                env[k] = v
    return env


def alive(ident):
    """ident from pids.json: the same process (pid and start time) runs."""
    try:
        with open("/proc/%d/stat" % ident["pid"]) as fh:
            stat = fh.read()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0] != "Z" and int(fields[19]) == ident["start"]


def users_of(path):
    """pids of processes whose executable, working directory or command
    line is below path."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as fh:
                argv = fh.read().decode("utf-8", "replace").split("\0")
            places = [os.readlink("/proc/%s/%s" % (d, x)) for x in ("exe", "cwd")]
        except OSError:
            continue
        if any(p == path or p.startswith(path + "/") for p in places + argv):
            out.append(int(d))
    return out


def use_stack(env_file):
    """Points the e2e helpers (lkstack, lkflow) at another stack."""
    os.environ["STACK_ENV"] = env_file
    lk._env = None


class FreshMachineTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root: only then do the services run as other "
                                    "users (postgres, www-data)")
        missing = subprocess.run(["bash", "-c", '. deploy/common.sh && lk_missing_packages'],
                                 cwd=REPO, capture_output=True, text=True).stdout.split()
        if missing:
            raise unittest.SkipTest("missing packages (deploy/packages.txt): " + " ".join(missing))
        absent = [p for p in PROGRAMS if not os.access(os.path.join(BIN, p), os.X_OK)]
        if absent:
            raise AssertionError("not built in %s: %s (set LATCHKEY_BIN_DIR)" % (BIN, absent))
        cls.top = tempfile.mkdtemp(prefix="lk-fresh-")  # mode 0700, like /root
        os.chmod(cls.top, 0o700)
        cls.src = os.path.join(cls.top, "latchkey")
        shutil.copytree(REPO, cls.src, symlinks=True, ignore=SKIP_COPY)
        cls.bin = os.path.join(cls.top, "bin")
        os.makedirs(cls.bin)
        for p in PROGRAMS:
            shutil.copy2(os.path.join(BIN, p), cls.bin)
        cls.stacks = []  # stack directories to stop, whatever happens

    @classmethod
    def tearDownClass(cls):
        for d in cls.stacks:
            if os.path.lexists(os.path.join(d, "stack.json")):
                subprocess.run([sys.executable, os.path.join(cls.src, "tests", "stack.py"),
                                "down", "--dir", d], capture_output=True)
        shutil.rmtree(cls.top, ignore_errors=True)

    def run_ok(self, cmd, timeout=120, **kw):
        res = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                             timeout=timeout, **kw)
        self.assertEqual(res.returncode, 0, "%s: rc %d\n--- stdout\n%s\n--- stderr\n%s" % (
            " ".join(cmd), res.returncode, res.stdout[-3000:], res.stderr[-3000:]))
        return res.stdout

    def stack(self, cmd, d, *args):
        return self.run_ok([sys.executable, os.path.join(self.src, "tests", "stack.py"), cmd,
                            "--dir", d] + list(args))

    def check_unreachable(self, path):
        """The premise: the services' users cannot reach the checkout."""
        for user in ("postgres", "www-data"):
            res = subprocess.run(["runuser", "-u", user, "--", "test", "-x", path])
            self.assertNotEqual(res.returncode, 0, "%s can reach %s" % (user, path))

    def check_runtime(self, d):
        """The stack in d runs from its own directory in /tmp, linked from d;
        returns (env, runtime directory, pids)."""
        env = read_env(os.path.join(d, "stack.env"))
        rt = env["STACK_RUNTIME_DIR"]
        self.assertEqual(env["STACK_DIR"], d)
        self.assertRegex(rt, RUNTIME)
        self.assertEqual(os.stat(rt).st_mode & 0o777, 0o755)
        for name in ("pg", "keys", "latchkey.conf", "pg.log", "pids.json", "stack.json"):
            self.assertEqual(os.readlink(os.path.join(d, name)), os.path.join(rt, name))
        with open(os.path.join(d, "pids.json")) as fh:
            pids = json.load(fh)
        self.assertIn("postgres", pids)
        return env, rt, pids

    def check_gone(self, d, rt, pids, logs):
        """After `down`: nothing of the stack runs, rt is removed, d holds
        the logs as files and no link."""
        self.assertEqual([n for n, ident in pids.items() if alive(ident)], [])
        self.assertEqual(users_of(rt), [])
        self.assertFalse(os.path.lexists(rt), rt)
        self.assertEqual([n for n in os.listdir(d) if os.path.islink(os.path.join(d, n))], [])
        for name in logs:
            path = os.path.join(d, name)
            self.assertTrue(os.path.isfile(path) and not os.path.islink(path), path)
        self.assertFalse(os.path.exists(os.path.join(d, "stack.env")))

    def test_demo_up_status_down_below_a_0700_directory(self):
        self.check_unreachable(self.src)
        demo = os.path.join(self.src, "var", "demo")
        self.stacks.append(demo)
        out = self.run_ok([os.path.join(self.src, "deploy", "demo.sh"), "up"],
                          env=dict(os.environ, LATCHKEY_DEMO_BIN=self.bin))
        links = re.findall(r"http://127\.0\.0\.1:\d+/latchkey/authorize/confluence\?link=\S+", out)
        self.assertEqual(len(links), 1, out)
        env, rt, pids = self.check_runtime(demo)
        self.assertIn(rt, out)  # the instructions say where the files are

        # The link connects demo-user; the bot key gets its token.
        use_stack(os.path.join(demo, "stack.env"))
        b = lk.Browser()
        cb = f.complete(b, links[0])
        self.assertEqual(cb.status, 200, cb)
        with open(os.path.join(self.src, "var", "demo-bot.key")) as fh:
            key = fh.read().strip()
        r = lk.http("GET", "/token/confluence?instance_id=demo-user",
                    headers={"Authorization": "Bearer " + key})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["access_token"])

        status = self.run_ok([os.path.join(self.src, "deploy", "demo.sh"), "status"])
        self.assertIn(links[0], status)
        self.run_ok([os.path.join(self.src, "deploy", "demo.sh"), "down"])
        self.check_gone(demo, rt, pids, ("pg.log", "access.log", "lighttpd-error.log",
                                         "provider.log", "migrate.log"))

    def test_stack_apache_cgi_below_a_0700_directory(self):
        # Apache runs the programs as www-data, which can neither reach the
        # stack directory nor run the programs in the copy's bin/.
        self.check_unreachable(self.bin)
        d = os.path.join(self.src, "var", "stack-apache-cgi")
        self.stacks.append(d)
        self.stack("up", d, "--server", "apache-cgi", "--bin", self.bin, "--source", self.src,
                   "--procs", "1")
        env, rt, pids = self.check_runtime(d)
        self.assertEqual(env["LATCHKEY_BIN"], os.path.join(rt, "bin"))
        use_stack(os.path.join(d, "stack.env"))
        _rc, out, _err = lk.cli("key", "create", "--name", "fresh", "--profiles", "*")
        key = re.search(r"lk_[A-Za-z0-9_.~-]+", out).group(0)

        def bot_call():
            # www-data runs token: it reads the configuration and the key
            # ring and asks PostgreSQL about the key and the profile.
            r = lk.http("GET", "/token/nothing-here?instance_id=u",
                        headers={"Authorization": "Bearer " + key})
            self.assertIn(r.status, (403, 404), r)
            self.assertIn(r.json()["error"], ("forbidden", "unknown_profile"), r)

        bot_call()
        for cmd in ("restart-pg", "restart-web"):
            self.stack(cmd, d)
            bot_call()
        self.assertIn('"postgres": true', self.stack("status", d))
        with open(os.path.join(d, "pids.json")) as fh:
            pids = json.load(fh)
        self.stack("down", d)
        self.check_gone(d, rt, pids, ("pg.log", "access.log", "apache-error.log",
                                      "debian-access.log", "debian-error.log"))
        # stack.json stays, so that status and down still answer.
        res = subprocess.run([sys.executable, os.path.join(self.src, "tests", "stack.py"),
                              "status", "--dir", d], capture_output=True, text=True)
        self.assertEqual(res.returncode, 1, res)
        self.stack("down", d)


if __name__ == "__main__":
    unittest.main()
