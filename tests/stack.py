#!/usr/bin/env python3
"""Start and stop a throwaway Latchkey stack (standard library only).

    python3 tests/stack.py up   --dir DIR --bin BINDIR --source REPO [--procs N]
                                [--server lighttpd|apache-fcgid|apache-proxy-fcgi|
                                          apache-cgi|nginx]
                                [--force] [--no-provider] [--timeout S]
    python3 tests/stack.py down --dir DIR
    python3 tests/stack.py status      --dir DIR
    python3 tests/stack.py restart-pg  --dir DIR [--mode fast|immediate]
    python3 tests/stack.py stop-pg     --dir DIR [--mode fast|immediate]
    python3 tests/stack.py start-pg    --dir DIR
    python3 tests/stack.py restart-web --dir DIR
    python3 tests/stack.py stop-web    --dir DIR
    python3 tests/stack.py start-web   --dir DIR

`up` builds, inside DIR:
  pg/, pgsock/, pg.log     PostgreSQL (socket only, trust auth, fsync off),
                           database "latchkey", superuser "postgres"
  keys/1.key               key ring (dir 0700, file 0600)
  latchkey.conf            Latchkey configuration
  provider.log             fake provider (tests/fake_provider.py)
  migrate.log              output of `latchkey migrate`
  www/, fcgi/, tmp/, access.log   the web server (--server, default lighttpd),
                           in the foreground as a child, with a main config
                           generated here that includes the shipped file:
    lighttpd               lighttpd.conf -> deploy/lighttpd/latchkey.conf
                           (lighttpd starts the programs; lighttpd-error.log)
    apache-fcgid           apache2.conf -> deploy/apache/latchkey-fcgid.conf
    apache-proxy-fcgi      apache2.conf -> deploy/apache/latchkey-proxy-fcgi.conf,
                           programs started by spawn-fcgi on fcgi/<route>.sock
    apache-cgi             apache2.conf -> deploy/apache/latchkey-cgi.conf
                           (mod_cgid); Apache logs to apache-error.log
    nginx                  nginx.conf -> deploy/nginx/latchkey.conf (rendered
                           into latchkey-nginx.conf), programs started by
                           spawn-fcgi; nginx-error.log
                           Apache's stacks serve Latchkey from a copy of
                           Debian's stock default virtual host
                           (tests/deploy/debian-apache/, rendered into
                           debian-000-default.conf) that includes the
                           shipped file, with Debian's log formats; its
                           logs: debian-access.log, debian-error.log,
                           debian-other_vhosts_access.log
  bin/                     copies of the programs, when the web server's user
                           cannot run them from --bin (see below)
  stack.env                KEY='value' lines for shells and tests/e2e/lkstack.py
                           (LATCHKEY_SERVER names the server; WEB_PORT and
                           LIGHTTPD_PORT both hold its port; STACK_DIR is
                           DIR, STACK_RUNTIME_DIR where the files really are)
  pids.json                the processes started (pid + start time)
  stack.json               settings, so restart-* and down need only --dir

As root, initdb and postgres run as the "postgres" user (runuser); lighttpd
and its FastCGI programs run as root; Apache, nginx and the programs they
or spawn-fcgi run as www-data, which then owns keys/ and 1.key.
restart-web, stop-web and start-web act on the web server together with
the spawn-fcgi processes.  `down` stops everything and removes only
stack.env, pids.json and provider.port; logs stay for CI artifacts.  Every
`up` starts from an empty database and a new key.

Those users must reach what they use: every parent directory of DIR must
be searchable by them, which a checkout below root's home (mode 0700)
is not.  Then `up` puts everything listed above in a fresh directory
/tmp/latchkey-stack-XXXXXXXX (mode 0755) and DIR holds symbolic links to
each of its entries (DIR/stack.env, DIR/pg.log, ...), so that DIR works as
usual for every command and for the tests; `down` moves the logs (*.log,
*.out) back into DIR as files, removes the links and the directory in
/tmp.  Likewise, when the web server's user cannot run the programs in
--bin, `up` copies them (into bin/ beside the key ring) and runs those.
"""

import argparse
import base64
import glob
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

import webservers
from webservers import APACHE_MODULES, PREFIX, PROXY_MAX_BODY, WEB_USER, StackError, write_file

ROUTES = ("authorize", "callback", "token", "refresh", "proxy", "mcp", "metrics")
PROGRAMS = ("latchkey",) + ROUTES
IS_ROOT = os.geteuid() == 0
SERVERS = ("lighttpd", "apache-fcgid", "apache-proxy-fcgi", "apache-cgi", "nginx")
# The one Origin the stacks' MCP endpoint accepts (mcp_allowed_origins).
MCP_ORIGIN = "https://mcp-client.example"
SPAWNED = ("apache-proxy-fcgi", "nginx")  # programs started by spawn-fcgi
# As root, initdb and postgres run as:
PG_USER = "postgres"
# The runtime directory, when DIR is out of those users' reach: a fresh
# /tmp/RUNTIME_PREFIX*, marked by RUNTIME_MARK (which names DIR).
RUNTIME_PREFIX = "latchkey-stack-"
RUNTIME_MARK = ".latchkey-stack-home"
# What `down` moves back into DIR from a runtime directory.
LOG_SUFFIXES = (".log", ".out")
# Environment handed to lighttpd (and thus the FastCGI programs) and the CLI:
# nothing else leaks in, in particular no PG* or LATCHKEY_* overrides.
ENV_KEEP = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "ASAN_OPTIONS",
            "UBSAN_OPTIONS", "LSAN_OPTIONS", "SSL_CERT_FILE", "SSL_CERT_DIR")


def log(msg):
    print("stack: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- helpers

def clean_env(**extra):
    env = {k: os.environ[k] for k in ENV_KEEP if k in os.environ}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra)
    return env


def proc_start_time(pid):
    """Start time (clock ticks since boot) of pid, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":  # zombie: as good as gone
        return None
    return int(fields[19])


def proc_ident(pid):
    return {"pid": pid, "start": proc_start_time(pid)}


def alive(ident):
    return bool(ident) and ident.get("start") is not None and \
        proc_start_time(ident["pid"]) == ident["start"]


def pgroup_members(pgid):
    """Processes in process group pgid (our lighttpd's group)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append({"pid": int(d), "start": int(fields[19])})
    return out


def stop_process(ident, name, timeout=10.0):
    """SIGTERM the process (only if it is still the one we started), wait,
    then SIGKILL."""
    if not alive(ident):
        return
    pid = ident["pid"]
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap(pid)
        if not alive(ident):
            return
        time.sleep(0.05)
    log("%s (pid %d) ignored SIGTERM, killing" % (name, pid))
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while alive(ident) and time.monotonic() < deadline:
        reap(pid)
        time.sleep(0.05)


def reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_for(fn, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        res = fn()
        if res:
            return res
        if time.monotonic() >= deadline:
            raise StackError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def tail(path, n=30):
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-n:])
    except OSError:
        return "(no %s)\n" % path


def conninfo_value(s):
    if s and all(c not in s for c in " '\\"):
        return s
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pg_bindir():
    cands = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        try:
            cands.append((int(os.path.basename(os.path.dirname(d))), d))
        except ValueError:
            pass
    if cands:
        return max(cands)[1]
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(os.path.realpath(initdb))
    raise StackError("PostgreSQL server binaries not found (install the postgresql package)")


def user_passes(user, checks):
    """Whether user passes each test(1) check, (flag, path) pairs such as
    ("-x", DIR): a directory it can reach, a program it can run."""
    script = " && ".join('test %s "$%d"' % (flag, i) for i, (flag, _p) in enumerate(checks, 1))
    try:
        res = subprocess.run(["runuser", "-u", user, "--", "sh", "-c", script, "sh"] +
                             [path for _f, path in checks], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return False
    return res.returncode == 0


def short_dir(preferred, longest_name, prefix):
    """preferred, unless a unix socket path inside it would exceed the
    ~107-byte limit; then a fresh short directory under /tmp."""
    if len(os.path.join(preferred, longest_name)) <= 100:
        os.makedirs(preferred, exist_ok=True)
        return preferred, False
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp"), True


# ---------------------------------------------------------------- state

class Stack:
    def __init__(self, d):
        self.home = os.path.abspath(d)  # DIR, as asked for: links, and logs after `down`
        self.dir = self.home            # where the stack's files are (see "runtime")
        self.p = lambda *a: os.path.join(self.dir, *a)
        self.settings = {}
        self.pids = {}

    # persisted state
    def load(self):
        try:
            with open(os.path.join(self.home, "stack.json")) as fh:
                self.settings = json.load(fh)
        except FileNotFoundError:
            raise StackError("%s holds no stack (no stack.json); run `up` first" % self.home)
        # A stack whose files are in a runtime directory (DIR or the runtime
        # directory itself may be given); once `down` removed it, DIR only.
        self.home = self.settings.get("home") or self.home
        rt = self.settings.get("dir")
        self.dir = rt if rt and os.path.isdir(rt) else self.home
        # stacks started before --server existed
        self.settings.setdefault("server", "lighttpd")
        if "web_port" not in self.settings and "lighttpd_port" in self.settings:
            self.settings["web_port"] = self.settings.pop("lighttpd_port")
        try:
            with open(self.p("pids.json")) as fh:
                self.pids = json.load(fh)
        except FileNotFoundError:
            self.pids = {}

    def save_settings(self):
        write_file(self.p("stack.json"), json.dumps(self.settings, indent=2) + "\n")

    def save_pids(self):
        write_file(self.p("pids.json"), json.dumps(self.pids, indent=2) + "\n")

    def running(self):
        """Names of live processes that belong to a stack in DIR."""
        try:
            with open(self.p("pids.json")) as fh:
                pids = json.load(fh)
        except (OSError, ValueError):
            pids = {}
        names = [n for n, ident in pids.items() if alive(ident)]
        pm = self.postmaster_pid()
        if pm and "postgres" not in names:
            names.append("postgres")
        return names

    def postmaster_pid(self):
        try:
            with open(self.p("pg", "postmaster.pid")) as fh:
                pid = int(fh.readline().strip())
        except (OSError, ValueError):
            return None
        return pid if proc_start_time(pid) is not None else None

    # ------------------------------------------------------- runtime
    def service_users(self):
        """The users other than ours that run part of the stack."""
        users = [PG_USER] if IS_ROOT else []
        if self.web_user():
            users.append(self.web_user())
        return users

    def pick_runtime(self):
        """Where the stack's files go: DIR, or a fresh directory in /tmp when
        a user that runs part of the stack cannot reach DIR (a checkout in
        root's home, mode 0700).  DIR exists already."""
        blocked = [u for u in self.service_users() if not user_passes(u, [("-x", self.home)])]
        if not blocked:
            return self.home
        rt = tempfile.mkdtemp(prefix=RUNTIME_PREFIX, dir="/tmp")
        os.chmod(rt, 0o755)
        write_file(os.path.join(rt, RUNTIME_MARK), self.home + "\n")
        log("%s cannot reach %s (a parent directory is not searchable by others): the "
            "stack runs in %s, with links to it in %s" % (" and ".join(blocked), self.home,
                                                        rt, self.home))
        return rt

    def is_runtime(self, rt):
        """rt is a runtime directory that pick_runtime made for DIR."""
        try:
            with open(os.path.join(rt, RUNTIME_MARK)) as fh:
                home = fh.read().strip()
        except OSError:
            return False
        return (home == self.home and os.path.dirname(rt) == "/tmp"
                and os.path.basename(rt).startswith(RUNTIME_PREFIX))

    def web_bin(self, bindir):
        """The programs' directory for the web server: bindir, or copies in
        bin/ when the web server's user cannot run the programs there.
        Returns (directory, copied)."""
        user = self.web_user()
        if not user or user_passes(user, [("-x", os.path.join(bindir, r)) for r in ROUTES]):
            return bindir, False
        copy = self.p("bin")
        shutil.rmtree(copy, ignore_errors=True)
        os.makedirs(copy)
        os.chmod(copy, 0o755)
        for n in PROGRAMS:
            shutil.copy2(os.path.join(bindir, n), os.path.join(copy, n))
            os.chmod(os.path.join(copy, n), 0o755)
        log("%s cannot run the programs in %s: running copies in %s" % (user, bindir, copy))
        return copy, True

    def link_home(self):
        """DIR/NAME -> RUNTIME/NAME for each entry of the runtime directory
        (whatever stands in DIR under such a name is an earlier stack's)."""
        if self.dir == self.home:
            return
        for name in sorted(os.listdir(self.dir)):
            src, dst = self.p(name), os.path.join(self.home, name)
            if name == RUNTIME_MARK or (os.path.islink(dst) and os.readlink(dst) == src):
                continue
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            elif os.path.lexists(dst):
                os.unlink(dst)
            os.symlink(src, dst)

    def release_runtime(self, rt):
        """Ends runtime directory rt: its logs (*.log, *.out) move into DIR
        as files, DIR's links into it go, stack.json stays in DIR as a file
        (so that `down` and `status` still answer), and rt is removed."""
        for name in sorted(os.listdir(self.home)):
            link = os.path.join(self.home, name)
            if os.path.islink(link) and os.path.dirname(os.readlink(link)) == rt:
                os.unlink(link)
        if os.path.isdir(rt):
            for name in sorted(os.listdir(rt)):
                src, dst = os.path.join(rt, name), os.path.join(self.home, name)
                if name.endswith(LOG_SUFFIXES) and os.path.isfile(src) \
                        and not os.path.islink(src) and not os.path.isdir(dst):
                    shutil.move(src, dst)
            if os.path.isfile(os.path.join(rt, "stack.json")):
                shutil.copyfile(os.path.join(rt, "stack.json"),
                                os.path.join(self.home, "stack.json"))
            if self.is_runtime(rt):
                shutil.rmtree(rt, ignore_errors=True)
            else:
                log("not removing %s: no runtime directory of %s" % (rt, self.home))
        if self.dir == rt:
            self.dir = self.home

    def drop_stale_runtime(self):
        """The runtime directory of an earlier stack in DIR that nobody
        stopped (nothing of it runs any more)."""
        try:
            self.load()
        except (StackError, ValueError):
            return
        rt = self.settings.get("dir")
        if rt and rt != self.home:
            self.release_runtime(rt)

    # ------------------------------------------------------- postgres
    def pg_cmd(self, *args):
        cmd = [os.path.join(self.settings["pg_bin"], args[0])] + list(args[1:])
        if IS_ROOT:
            cmd = ["runuser", "-u", PG_USER, "--"] + cmd
        return cmd

    def run_pg(self, *args, check=True):
        cwd = self.p("pg") if os.path.isdir(self.p("pg")) else self.dir
        res = subprocess.run(self.pg_cmd(*args), cwd=cwd, env=clean_env(LC_ALL="C"),
                             stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if check and res.returncode != 0:
            raise StackError("%s failed (rc %d):\n%s%s\n--- pg.log:\n%s" % (
                args[0], res.returncode, res.stdout, res.stderr, tail(self.p("pg.log"))))
        return res

    def pg_init(self):
        s = self.settings
        shutil.rmtree(self.p("pg"), ignore_errors=True)
        os.makedirs(self.p("pg"), mode=0o700)
        for f in ("pg.log",):
            open(self.p(f), "w").close()
        if IS_ROOT:
            for path in (self.p("pg"), s["pg_sockdir"], self.p("pg.log")):
                shutil.chown(path, PG_USER, PG_USER)
            if not user_passes(PG_USER, [("-x", self.p("pg"))]):
                raise StackError("user %s cannot reach %s: every parent directory must be "
                                 "searchable by others (chmod o+x)" % (PG_USER, self.p("pg")))
        self.run_pg("initdb", "-D", self.p("pg"), "-U", "postgres", "--auth=trust",
                    "--locale=C", "--encoding=UTF8", "--no-sync")
        with open(self.p("pg", "postgresql.conf"), "a") as fh:
            fh.write("\n# latchkey test stack\n"
                     "listen_addresses = ''\n"
                     "unix_socket_directories = '%s'\n"
                     "port = %d\n"
                     "max_connections = 200\n"
                     "fsync = off\n"
                     "synchronous_commit = off\n"
                     "full_page_writes = off\n"
                     "log_line_prefix = '%%m [%%p] '\n"
                     % (s["pg_sockdir"].replace("'", "''"), s["pg_port"]))

    def pg_start(self):
        self.run_pg("pg_ctl", "-D", self.p("pg"), "-l", self.p("pg.log"), "-w", "-t", "60",
                    "start")
        pid = wait_for(self.postmaster_pid, 10, "postmaster.pid")
        self.pids["postgres"] = proc_ident(pid)
        self.save_pids()

    def pg_stop(self, mode="fast"):
        if os.path.exists(self.p("pg", "postmaster.pid")):
            res = self.run_pg("pg_ctl", "-D", self.p("pg"), "-m", mode, "-w", "-t", "60",
                              "stop", check=False)
            if res.returncode != 0 and self.postmaster_pid():
                raise StackError("pg_ctl stop failed:\n%s%s" % (res.stdout, res.stderr))
        self.pids.pop("postgres", None)
        if os.path.exists(self.p("pids.json")):
            self.save_pids()

    def psql_env(self):
        s = self.settings
        return clean_env(PGHOST=s["pg_sockdir"], PGPORT=str(s["pg_port"]),
                         PGUSER="postgres", PGDATABASE="postgres")

    # ------------------------------------------------------- provider
    def provider_start(self, timeout):
        s = self.settings
        script = os.path.join(s["source"], "tests", "fake_provider.py")
        if not os.path.isfile(script):
            raise StackError("%s is missing (use --no-provider to go without)" % script)
        ready = self.p("provider.port")
        if os.path.exists(ready):
            os.unlink(ready)
        with open(self.p("provider.log"), "w") as out:
            proc = subprocess.Popen([sys.executable, script, "--port", "0",
                                     "--ready-file", ready],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    cwd=self.dir, env=clean_env(), start_new_session=True)
        self.pids["provider"] = proc_ident(proc.pid)
        self.save_pids()

        def ready_port():
            if proc.poll() is not None:
                raise StackError("fake provider exited (rc %s):\n%s" % (
                    proc.returncode, tail(self.p("provider.log"))))
            try:
                with open(ready) as fh:
                    txt = fh.read().strip()
                return int(txt) if txt else None
            except (OSError, ValueError):
                return None
        s["provider_port"] = wait_for(ready_port, timeout, "the fake provider's ready file")
        self.save_settings()

    # ------------------------------------------------------- web server
    @property
    def server(self):
        return self.settings.get("server") or "lighttpd"

    def web_user(self):
        """The user Apache's or nginx's programs run as (None: our own)."""
        return WEB_USER if IS_ROOT and self.server != "lighttpd" else None

    def shipped(self, *parts):
        return os.path.join(self.settings["source"], "deploy", *parts)

    def web(self):
        """The web server's own part (tests/webservers.py)."""
        return webservers.for_stack(self)

    def web_name(self):
        """The web server's name in pids.json (and its log files' prefix)."""
        return self.web().name

    def web_logs(self):
        """(error log, stdout+stderr file) of the web server."""
        return self.p(self.web().log_base + "-error.log"), self.p(self.web().log_base + ".out")

    def shipped_conf(self):
        """The shipped configuration file the generated one includes."""
        return self.web().shipped_conf()

    def write_web_conf(self):
        self.web().write_conf()

    def web_cmd(self):
        return self.web().cmd()

    def spawn_start(self):
        """spawn-fcgi: --procs processes per route on fcgi/<route>.sock, as
        the README documents it.  Their pids (from spawn-fcgi's pid file;
        each child is a session of its own) go to pids.json."""
        s = self.settings
        user = self.web_user()
        for route in ROUTES:
            sock = os.path.join(s["fcgi_sockdir"], route + ".sock")
            pidfile = self.p("spawn-%s.pid" % route)
            for f in (sock, pidfile):
                if os.path.lexists(f):
                    os.unlink(f)
            cmd = ["spawn-fcgi", "-s", sock, "-M", "0600", "-F", str(s["procs"]), "-P", pidfile]
            if user:
                cmd += ["-u", user, "-g", user, "-U", user, "-G", user]
            cmd += ["--", os.path.join(s["bin"], route)]
            with open(self.p("spawn-fcgi.log"), "a") as out:
                res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     cwd=self.dir,
                                     env=clean_env(LATCHKEY_CONFIG=self.p("latchkey.conf")))
            try:
                with open(pidfile) as fh:
                    pids = [int(x) for x in fh.read().split()]
            except (OSError, ValueError):
                pids = []
            for i, pid in enumerate(pids):
                self.pids["spawn-fcgi/%s/%d" % (route, i)] = proc_ident(pid)
            self.save_pids()
            if res.returncode != 0 or not pids:
                raise StackError("spawn-fcgi for %s failed (rc %d):\n%s" % (
                    route, res.returncode, tail(self.p("spawn-fcgi.log"))))

    def web_start(self, timeout, new_port_ok=False):
        """Start the web server (and the spawn-fcgi processes it talks to);
        with new_port_ok, a port taken meanwhile is replaced by a fresh one
        (and public_base_url rewritten)."""
        s = self.settings
        name = self.web_name()
        errlog, outlog = self.web_logs()
        for attempt in range(3):
            if self.server in SPAWNED:
                try:
                    self.spawn_start()
                except BaseException:
                    self.web_stop()
                    raise
            with open(outlog, "a") as out:
                proc = subprocess.Popen(self.web_cmd(), stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=out, cwd=self.dir, env=clean_env(),
                                        start_new_session=True)
            self.pids[name] = proc_ident(proc.pid)
            self.save_pids()
            port = s["web_port"]

            def up():
                if proc.poll() is not None:
                    return "exited"
                return port_open(port) and "up"
            state = wait_for(up, timeout, "%s on port %d" % (name, port))
            if state == "up":
                return
            err = tail(errlog) + tail(outlog)
            self.web_stop()
            if "Address already in use" in err and new_port_ok and attempt < 2:
                log("port %d taken, picking another" % port)
                s["web_port"] = free_port()
                self.save_settings()
                self.write_config()
                self.write_web_conf()
                continue
            raise StackError("%s exited (rc %s):\n%s" % (name, proc.returncode, err))

    def web_stop(self):
        """Stops the web server with what it started (lighttpd's and
        mod_fcgid's programs, Apache's and nginx's own children: all in its
        process group), then the spawn-fcgi processes, then any program
        still running with this stack's configuration."""
        for name in ("lighttpd", "apache2", "nginx"):
            ident = self.pids.get(name)
            if ident:
                members = [m for m in pgroup_members(ident["pid"]) if m["pid"] != ident["pid"]]
                stop_process(ident, name, timeout=15)
                # The server stops its children on exit; catch stragglers.
                for m in members:
                    stop_process(m, "%s child %d" % (name, m["pid"]), timeout=5)
            self.pids.pop(name, None)
        spawned = [n for n in self.pids if n.startswith("spawn-fcgi/")]
        for n in spawned:
            if alive(self.pids[n]):
                try:
                    os.kill(self.pids[n]["pid"], signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for n in spawned:
            stop_process(self.pids.pop(n), n, timeout=5)
        if self.server in SPAWNED and self.settings.get("fcgi_sockdir"):
            for route in ROUTES:
                sock = os.path.join(self.settings["fcgi_sockdir"], route + ".sock")
                if os.path.lexists(sock):
                    os.unlink(sock)
        for ident in self.stray_programs():
            stop_process(ident, "stray program %d" % ident["pid"], timeout=5)
        if os.path.exists(self.p("pids.json")):
            self.save_pids()

    def stray_programs(self):
        """Processes of the six programs that run with this stack's
        LATCHKEY_CONFIG (a crashed server's orphans).  Only readable
        /proc/PID/environ (our own processes, or any as root)."""
        want = ("LATCHKEY_CONFIG=" + self.p("latchkey.conf")).encode()
        bindir = self.settings.get("bin")
        if not bindir:
            return []
        exes = {os.path.realpath(os.path.join(bindir, r)) for r in ROUTES}
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                if os.path.realpath("/proc/%s/exe" % d) not in exes:
                    continue
                with open("/proc/%s/environ" % d, "rb") as fh:
                    if want not in fh.read().split(b"\0"):
                        continue
            except OSError:
                continue
            ident = proc_ident(int(d))
            if ident["start"] is not None:
                out.append(ident)
        return out

    def web_prepare(self):
        """Directories and ownership for the web server (after the key ring
        exists): as root, Apache's and nginx's programs run as WEB_USER,
        which must own the key ring and reach everything else."""
        s = self.settings
        for d in ("www", "tmp", "apache-run"):
            os.makedirs(self.p(d), exist_ok=True)
        for d in (s["fcgi_sockdir"], s["pg_sockdir"], self.p("apache-run"), self.p("tmp")):
            os.chmod(d, 0o755)
        user = self.web_user()
        if not user:
            return
        for path in (self.p("keys"), self.p("keys", "1.key"), s["fcgi_sockdir"],
                     self.p("apache-run")):
            shutil.chown(path, user, user)
        res = subprocess.run(["runuser", "-u", user, "--", "sh", "-c",
                              'test -r "$1" && test -r "$2" && test -x "$3" && test -x "$4"',
                              "sh", self.p("latchkey.conf"), self.p("keys", "1.key"),
                              os.path.join(s["bin"], "token"), s["pg_sockdir"]],
                             stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            raise StackError("user %s cannot read %s, the key ring, or run the programs in %s: "
                             "every parent directory must be searchable by others (chmod o+x)"
                             % (user, self.p("latchkey.conf"), s["bin"]))

    def web_check(self):
        """What the chosen server needs is installed."""
        srv = self.server
        need = {"lighttpd": ["lighttpd"], "nginx": ["nginx", "spawn-fcgi"],
                "apache-proxy-fcgi": ["apache2", "spawn-fcgi"]}.get(srv, ["apache2"])
        missing = [c for c in need if not shutil.which(c)]
        if srv.startswith("apache-"):
            mod = {"apache-fcgid": "mod_fcgid.so", "apache-proxy-fcgi": "mod_proxy_fcgi.so",
                   "apache-cgi": "mod_cgid.so"}[srv]
            if not os.path.isfile(os.path.join(APACHE_MODULES, mod)):
                missing.append(mod)
        if missing:
            raise StackError("%s is not installed (%s missing; see deploy/packages.txt)"
                             % (srv, ", ".join(missing)))
        if not os.path.isfile(self.shipped_conf()):
            raise StackError("%s is missing (is --source the repository root?)"
                             % self.shipped_conf())

    # ------------------------------------------------------- up/down
    def up(self, a):
        home = self.home
        if os.path.isdir(self.home):
            live = self.running()
            if live:
                if not a.force:
                    raise StackError("a stack is running in %s (%s); run `down` first or use "
                                     "--force" % (self.home, ", ".join(live)))
                log("--force: stopping the running stack first")
                try:
                    self.load()
                except StackError:
                    pass
                self.down(quiet=True)
            else:
                self.drop_stale_runtime()
        self.home = self.dir = home
        bindir = os.path.abspath(a.bin)
        source = os.path.abspath(a.source)
        cli = os.path.join(bindir, "latchkey")
        missing = [n for n in ("latchkey",) + ROUTES
                   if not os.access(os.path.join(bindir, n), os.X_OK)]
        if missing:
            raise StackError("not built: %s missing in %s (build first: cmake --build build)"
                             % (", ".join(missing), bindir))
        self.settings = {"server": a.server, "source": source}
        self.web_check()

        os.makedirs(self.home, exist_ok=True)
        os.chmod(self.home, 0o755)
        for f in ("stack.env", "pids.json", "provider.port"):
            if os.path.lexists(self.p(f)):
                os.unlink(self.p(f))
        self.dir = self.pick_runtime()
        self.pids = {}
        self.save_pids()
        pg_port = 20000 + zlib.crc32(self.home.encode()) % 30000
        pg_sockdir, pg_tmp = short_dir(self.p("pgsock"), ".s.PGSQL.%d.lock" % pg_port, "lkpg-")
        fcgi_sockdir, fcgi_tmp = short_dir(self.p("fcgi"), "authorize.sock-%d" % (a.procs + 10),
                                           "lkfcgi-")
        self.settings = {
            "dir": self.dir, "home": self.home, "bin": bindir, "bin_copy": False,
            "source": source, "procs": a.procs, "server": a.server,
            "extra_conf": os.path.abspath(a.extra_conf) if a.extra_conf else None,
            "pg_bin": pg_bindir(), "pg_port": pg_port, "pg_sockdir": pg_sockdir,
            "fcgi_sockdir": fcgi_sockdir,
            "tmp_dirs": [d for d, t in ((pg_sockdir, pg_tmp), (fcgi_sockdir, fcgi_tmp)) if t],
        }
        self.save_settings()
        try:
            self.settings["bin"], self.settings["bin_copy"] = self.web_bin(bindir)
        except BaseException:
            self.down(quiet=True)
            raise
        self.save_settings()
        for d in ("www", "tmp"):
            os.makedirs(self.p(d), exist_ok=True)
        for f in glob.glob(os.path.join(fcgi_sockdir, "*.sock*")):
            os.unlink(f)
        debian_logs = ("debian-access.log", "debian-error.log", "debian-other_vhosts_access.log")
        for f in ("access.log", "migrate.log", "spawn-fcgi.log") + self.web_logs() + (
                debian_logs if self.web_name() == "apache2" else ()):
            open(self.p(f), "w").close()
        t0 = time.monotonic()
        try:
            # key ring
            shutil.rmtree(self.p("keys"), ignore_errors=True)
            os.makedirs(self.p("keys"), mode=0o700)
            os.chmod(self.p("keys"), 0o700)
            fd = os.open(self.p("keys", "1.key"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.b64encode(os.urandom(32)).decode() + "\n")

            self.pg_init()
            self.pg_start()
            res = subprocess.run([os.path.join(self.settings["pg_bin"], "createdb"),
                                  "latchkey"], env=self.psql_env(), capture_output=True,
                                 text=True, stdin=subprocess.DEVNULL)
            if res.returncode != 0:
                raise StackError("createdb failed:\n" + res.stderr)
            log("postgres up (socket %s, port %d)" % (pg_sockdir, pg_port))

            if a.no_provider:
                self.settings["provider_port"] = 0
            else:
                self.provider_start(a.timeout)
                log("fake provider up on port %d" % self.settings["provider_port"])

            # The web server's port must be known for public_base_url: pick it now.
            self.settings["web_port"] = free_port()
            self.save_settings()
            self.write_config()
            res = subprocess.run([cli, "migrate"], capture_output=True, text=True,
                                 stdin=subprocess.DEVNULL,
                                 env=clean_env(LATCHKEY_CONFIG=self.p("latchkey.conf")))
            write_file(self.p("migrate.log"), res.stdout + res.stderr)
            if res.returncode != 0:
                raise StackError("`latchkey migrate` failed (rc %d):\n%s%s" % (
                    res.returncode, res.stdout, res.stderr))

            self.web_prepare()
            self.write_web_conf()
            self.web_start(a.timeout, new_port_ok=True)
            log("%s up on port %d" % (self.server, self.settings["web_port"]))
            self.write_env()
            self.link_home()
        except BaseException:
            log("up failed; stopping what was started (logs stay in %s)" % self.home)
            try:
                self.down(quiet=True)
            except Exception as e:  # noqa: BLE001 - report the first error
                log("cleanup: %s" % e)
            raise
        env = os.path.join(self.home, "stack.env")
        log("stack up in %.1fs; env: %s" % (time.monotonic() - t0, env))
        print(env)

    def write_config(self):
        s = self.settings
        conninfo = "host=%s port=%d dbname=latchkey user=postgres" % (
            conninfo_value(s["pg_sockdir"]), s["pg_port"])
        write_file(self.p("latchkey.conf"), "".join([
            "# generated by tests/stack.py -- throwaway test stack\n",
            "database = %s\n" % conninfo,
            "keyring = %s\n" % self.p("keys"),
            "public_base_url = http://127.0.0.1:%d%s\n" % (s["web_port"], PREFIX),
            "cookie_secure = false\n",
            "log_level = info\n",
            "purge_interval = 0\n",
            "# short, so the proxy's too-slow test waits seconds, not a minute\n",
            "proxy_timeout_ms = 2000\n",
            "# the web server's cap on /proxy bodies is the same (PROXY_MAX_BODY)\n",
            "proxy_max_body = %d\n" % PROXY_MAX_BODY,
            "# the Origins an MCP client may send (e2e/test_mcp_transport.py)\n",
            "mcp_allowed_origins = %s\n" % MCP_ORIGIN,
        ]))

    def write_env(self):
        s = self.settings
        pp = s.get("provider_port") or 0
        env = [
            ("LATCHKEY_URL", "http://127.0.0.1:%d%s" % (s["web_port"], PREFIX)),
            ("LATCHKEY_SERVER", self.server),
            ("PROVIDER_URL", "http://127.0.0.1:%d" % pp if pp else ""),
            ("LATCHKEY_CONFIG", self.p("latchkey.conf")),
            ("PGHOST", s["pg_sockdir"]),
            ("PGPORT", str(s["pg_port"])),
            ("PGDATABASE", "latchkey"),
            ("PGUSER", "postgres"),
            ("PG_BIN", s["pg_bin"]),
            ("LATCHKEY_BIN", s["bin"]),
            ("LATCHKEY_SOURCE", s["source"]),
            ("STACK_DIR", self.home),
            ("STACK_RUNTIME_DIR", self.dir),
            ("WEB_PORT", str(s["web_port"])),
            ("LIGHTTPD_PORT", str(s["web_port"])),  # the web server's, whichever it is
            ("PROVIDER_PORT", str(pp)),
            ("PROXY_MAX_BODY", str(PROXY_MAX_BODY)),
            ("MCP_ORIGIN", MCP_ORIGIN),
        ]
        write_file(self.p("stack.env"), "".join(
            "%s=%s\n" % (k, shlex.quote(v)) for k, v in env))

    def down(self, quiet=False):
        errors = []
        for step in (self.web_stop,
                     lambda: stop_process(self.pids.get("provider"), "fake provider"),
                     self.pg_stop):
            try:
                step()
            except Exception as e:  # noqa: BLE001 - keep stopping the rest
                errors.append(str(e))
        for d in self.settings.get("tmp_dirs", []):
            shutil.rmtree(d, ignore_errors=True)
        for f in ("stack.env", "pids.json", "provider.port"):
            if os.path.lexists(self.p(f)):
                os.unlink(self.p(f))
        bincopy = self.settings.get("bin")
        if self.settings.get("bin_copy") and bincopy == self.p("bin") and not errors:
            shutil.rmtree(bincopy, ignore_errors=True)
        if self.dir != self.home and not errors:
            self.release_runtime(self.dir)
        if errors:
            raise StackError("; ".join(errors))
        if not quiet:
            log("stack in %s stopped (logs kept)" % self.home)

    def status(self):
        out = {}
        for name, ident in self.pids.items():
            out[name] = alive(ident)
        out["postgres"] = bool(self.postmaster_pid())
        if self.settings.get("web_port"):
            out["web_port_open"] = port_open(self.settings["web_port"])
        print(json.dumps(out, indent=2))
        return 0 if out and all(out.values()) else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start a fresh stack in DIR")
    up.add_argument("--dir", required=True)
    up.add_argument("--bin", required=True, help="directory with latchkey and the six programs")
    up.add_argument("--source", required=True, help="repository root")
    up.add_argument("--procs", type=int, default=2, help="FastCGI processes per route")
    up.add_argument("--force", action="store_true", help="stop a stack running in DIR first")
    up.add_argument("--server", choices=SERVERS, default="lighttpd",
                    help="the web server and its shipped configuration (default lighttpd)")
    up.add_argument("--extra-conf", help="a file of the server's syntax included after the "
                    "shipped one (benchmarks)")
    up.add_argument("--no-provider", action="store_true", help="do not start the fake provider")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds per start-up wait")
    for name in ("down", "status", "restart-pg", "stop-pg", "start-pg",
                 "restart-web", "stop-web", "start-web"):
        p = sub.add_parser(name)
        p.add_argument("--dir", required=True)
        if name in ("restart-pg", "stop-pg"):
            p.add_argument("--mode", choices=("smart", "fast", "immediate"), default="fast",
                           help="pg_ctl stop mode (immediate = crash)")
        p.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args(argv)
    st = Stack(a.dir)
    try:
        if a.cmd == "up":
            st.up(a)
            return 0
        st.load()
        if a.cmd == "down":
            st.down()
        elif a.cmd == "status":
            return st.status()
        elif a.cmd == "restart-pg":
            st.pg_stop(a.mode)
            st.pg_start()
        elif a.cmd == "stop-pg":
            st.pg_stop(a.mode)
        elif a.cmd == "start-pg":
            if st.postmaster_pid():
                raise StackError("postgres is already running")
            st.pg_start()
        elif a.cmd == "restart-web":
            st.web_stop()
            st.web_start(a.timeout)
        elif a.cmd == "stop-web":
            st.web_stop()
        elif a.cmd == "start-web":
            if alive(st.pids.get(st.web_name())):
                raise StackError("%s is already running" % st.web_name())
            st.web_start(a.timeout)
        return 0
    except StackError as e:
        log("error: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
