"""A Latchkey cluster on one machine (standard library only; root).

Linux network namespaces stand for hosts on a private bridge (lkc-br0,
10.77.0.0/24; the driver, in the root namespace, is 10.77.0.1):

    lkc-db1    10.77.0.11  PostgreSQL primary (synchronous_standby_names = db2)
    lkc-db2    10.77.0.12  streaming standby (pg_basebackup), promoted by failover
    lkc-node1  10.77.0.21  lighttpd with every program (tests/webservers.py and the
    lkc-node2  10.77.0.22    shipped deploy/lighttpd/latchkey.conf), database
    lkc-node3  10.77.0.23    host=db1,db2 target_session_attrs=read-write
    lkc-prov   10.77.0.31  the fake provider (tests/fake_provider.py)
    lkc-pgb    10.77.0.41  PgBouncer: session mode on 6432, transaction mode on 6433

Every file lives in one fresh /tmp/lkcluster-* directory (marked as ours).
Cluster.down() and cleanup() stop every process inside those namespaces,
delete the namespaces and the bridge and remove the directory; cleanup()
also runs before a cluster comes up, so that one killed outright leaves
nothing behind for long.
"""

import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)

import stack  # noqa: E402  (tests/stack.py: PostgreSQL and process helpers)
import webservers  # noqa: E402

PREFIX = "lkc-"
BRIDGE = PREFIX + "br0"
NET = "10.77.0"
DRIVER_ADDR = NET + ".1"
HOSTS = {"db1": 11, "db2": 12, "node1": 21, "node2": 22, "node3": 23, "prov": 31, "pgb": 41}
NODES = ("node1", "node2", "node3")
PG_PORT = 5432
WEB_PORT = 8080
PROVIDER_PORT = 8080
PGB_SESSION_PORT = 6432
PGB_TRANSACTION_PORT = 6433
WORK_PREFIX = "lkcluster-"
WORK_MARK = ".latchkey-cluster"
PROCS = 3  # FastCGI workers per route and node
# Timeouts of every node (latchkey.conf): provider call < lock wait <
# statement; a session idle in a transaction ends after
# max(connect + http, statement) + 5 s = 13 s (lk_config_tx_idle_ms).
TIMEOUTS = {"http_timeout_ms": 3000, "connect_timeout_ms": 1000, "lock_timeout_ms": 5000,
            "db_timeout_ms": 8000}
TX_IDLE_S = 13


def log(msg):
    print("cluster: " + msg, file=sys.stderr, flush=True)


def addr(host):
    return "%s.%d" % (NET, HOSTS[host])


def ns(host):
    return PREFIX + host


def run(cmd, check=True, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and res.returncode != 0:
        raise stack.StackError("%s failed (rc %d): %s%s" % (" ".join(cmd), res.returncode,
                                                            res.stdout, res.stderr))
    return res


def in_ns(host, cmd):
    return ["ip", "netns", "exec", ns(host)] + list(cmd)


def namespaces():
    res = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def ns_pids(name):
    res = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def kill_ns_processes(name, sig=signal.SIGKILL):
    """Signals every process inside namespace name (all started by us)."""
    pids = ns_pids(name)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


def proc_ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def cleanup():
    """Removes every trace of a cluster: processes in our namespaces, the
    namespaces, the bridge, and the work directories marked as ours."""
    ours = [n for n in namespaces() if n.startswith(PREFIX)]
    for n in ours:
        kill_ns_processes(n)
    deadline = time.monotonic() + 10
    while any(ns_pids(n) for n in ours) and time.monotonic() < deadline:
        time.sleep(0.05)
    for n in ours:
        run(["ip", "netns", "del", n], check=False)
    # A namespace's end of a veth pair goes with it, but only once the
    # kernel has freed the namespace (asynchronously): the ends on our side
    # are deleted here, each taking its peer along.
    for dev in os.listdir("/sys/class/net"):
        if dev.startswith(PREFIX):
            run(["ip", "link", "del", dev], check=False)
    for d in os.listdir("/tmp"):
        path = os.path.join("/tmp", d)
        if d.startswith(WORK_PREFIX) and os.path.isfile(os.path.join(path, WORK_MARK)):
            shutil.rmtree(path, ignore_errors=True)


def can_make_namespaces():
    """(True, "") when namespaces, a bridge and veth pairs can be made."""
    if os.geteuid() != 0:
        return False, "the cluster suite needs root (network namespaces)"
    for tool in ("ip", "lighttpd", "pgbouncer", "runuser"):
        if not shutil.which(tool):
            return False, "%s is not installed" % tool
    probe = PREFIX + "probe"
    res = run(["ip", "netns", "add", probe], check=False)
    if res.returncode != 0:
        return False, "cannot make a network namespace: " + res.stderr.strip()
    try:
        for what, cmd in (("a bridge", ["ip", "link", "add", probe + "br", "type", "bridge"]),
                          ("a veth pair", ["ip", "link", "add", probe + "0", "type", "veth",
                                           "peer", "name", "eth0", "netns", probe])):
            res = run(cmd, check=False)
            if res.returncode != 0:
                return False, "cannot make %s: %s" % (what, res.stderr.strip())
    finally:
        for dev in (probe + "br", probe + "0"):
            if os.path.exists("/sys/class/net/" + dev):
                run(["ip", "link", "del", dev], check=False)
        run(["ip", "netns", "del", probe], check=False)
    return True, ""


class Node:
    """What tests/webservers.py's Lighttpd needs of a stack: settings and
    paths of one node's own directory."""

    def __init__(self, cl, name):
        self.cl, self.name = cl, name
        self.dir = os.path.join(cl.dir, name)
        self.url = "http://%s:%d%s" % (addr(name), WEB_PORT, webservers.PREFIX)
        self.settings = {"web_port": WEB_PORT, "bin": cl.bin, "procs": PROCS, "bind": addr(name),
                         "fcgi_sockdir": os.path.join(self.dir, "fcgi"), "extra_conf": None,
                         "source": cl.source}
        self.proc = None

    def p(self, *a):
        return os.path.join(self.dir, *a)

    def shipped(self, *parts):
        return os.path.join(self.cl.source, "deploy", *parts)


class Cluster:
    def __init__(self, bindir, source):
        self.bin = os.path.abspath(bindir)
        self.source = os.path.abspath(source)
        self.dir = None
        self.pg_bin = stack.pg_bindir()
        self.nodes = {}
        self.database = None  # the nodes' conninfo now
        self.pgbouncers = {}

    def p(self, *a):
        return os.path.join(self.dir, *a)

    # ------------------------------------------------------------ network
    def net_up(self):
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "addr", "add", DRIVER_ADDR + "/24", "dev", BRIDGE])
        run(["ip", "link", "set", BRIDGE, "up"])
        for host in HOSTS:
            run(["ip", "netns", "add", ns(host)])
            run(["ip", "link", "add", PREFIX + host, "type", "veth", "peer", "name", "eth0",
                 "netns", ns(host)])
            run(["ip", "link", "set", PREFIX + host, "master", BRIDGE, "up"])
            run(in_ns(host, ["ip", "addr", "add", addr(host) + "/24", "dev", "eth0"]))
            run(in_ns(host, ["ip", "link", "set", "eth0", "up"]))
            run(in_ns(host, ["ip", "link", "set", "lo", "up"]))

    def link(self, host, up):
        """Sets host's one link up or down (a cable pulled)."""
        run(in_ns(host, ["ip", "link", "set", "eth0", "up" if up else "down"]))

    # ------------------------------------------------------------ PostgreSQL
    def pg(self, host, *args, check=True):
        cmd = in_ns(host, ["runuser", "-u", stack.PG_USER, "--",
                           os.path.join(self.pg_bin, args[0])] + list(args[1:]))
        return run(cmd, check=check, cwd=self.dir, env=stack.clean_env(LC_ALL="C"))

    def pg_conf(self, host, sync_standby=""):
        return ("\n# latchkey cluster suite\n"
                "listen_addresses = '%s'\n"
                "port = %d\n"
                "unix_socket_directories = '%s'\n"
                "cluster_name = '%s'\n"
                "max_connections = 300\n"
                "fsync = off\n"
                "wal_level = replica\n"
                "max_wal_senders = 5\n"
                "hot_standby = on\n"
                "synchronous_commit = on\n"
                "synchronous_standby_names = '%s'\n"
                "wal_sender_timeout = '5s'\n"
                "wal_receiver_status_interval = '1s'\n"
                "tcp_keepalives_idle = 5\n"
                "tcp_keepalives_interval = 2\n"
                "tcp_keepalives_count = 2\n"
                "log_line_prefix = '%%m [%%p] %%a '\n"
                % (addr(host), PG_PORT, self.p("sock-" + host), host, sync_standby))

    def pg_up(self):
        for host in ("db1", "db2"):
            os.makedirs(self.p("sock-" + host))
            open(self.p(host + ".log"), "w").close()
            for path in (self.p("sock-" + host), self.p(host + ".log")):
                shutil.chown(path, stack.PG_USER, stack.PG_USER)
        for host in ("db1", "db2"):
            os.makedirs(self.p(host), mode=0o700)
            shutil.chown(self.p(host), stack.PG_USER, stack.PG_USER)
        self.pg("db1", "initdb", "-D", self.p("db1"), "-U", "postgres", "--auth=trust",
                "--locale=C", "--encoding=UTF8", "--no-sync")
        with open(self.p("db1", "postgresql.conf"), "a") as fh:
            fh.write(self.pg_conf("db1", "db2"))
        with open(self.p("db1", "pg_hba.conf"), "a") as fh:
            fh.write("host all all %s.0/24 trust\nhost replication all %s.0/24 trust\n"
                     % (NET, NET))
        self.pg_start("db1")
        self.pg("db2", "pg_basebackup", "-h", addr("db1"), "-p", str(PG_PORT), "-U", "postgres",
                "-D", self.p("db2"), "-X", "stream", "-R", "--no-sync", "--checkpoint=fast")
        with open(self.p("db2", "postgresql.conf"), "a") as fh:
            fh.write(self.pg_conf("db2"))
        self.pg_start("db2")
        stack.wait_for(lambda: self.psql("db1", "SELECT sync_state FROM pg_stat_replication "
                                         "WHERE application_name = 'db2'") == "sync",
                       30, "db2 to stream synchronously")
        run([os.path.join(self.pg_bin, "createdb"), "-h", addr("db1"), "-p", str(PG_PORT),
             "-U", "postgres", "latchkey"])

    def rebuild_standby(self, host, primary):
        """host (its server dead) made anew as a synchronous standby of
        primary, as an HA manager does with a failed primary."""
        kill_ns_processes(ns(host))
        shutil.rmtree(self.p(host))
        os.makedirs(self.p(host), mode=0o700)
        shutil.chown(self.p(host), stack.PG_USER, stack.PG_USER)
        self.pg(host, "pg_basebackup", "-h", addr(primary), "-p", str(PG_PORT), "-U", "postgres",
                "-D", self.p(host), "-X", "stream", "-R", "--no-sync", "--checkpoint=fast")
        with open(self.p(host, "postgresql.conf"), "a") as fh:
            fh.write(self.pg_conf(host))
        self.pg_start(host)
        self.psql(primary, "ALTER SYSTEM SET synchronous_standby_names = '%s'" % host)
        self.psql(primary, "SELECT pg_reload_conf()")
        stack.wait_for(lambda: self.psql(primary, "SELECT sync_state FROM pg_stat_replication "
                                         "WHERE application_name = '%s'" % host) == "sync",
                       30, "%s to stream synchronously" % host)

    def pg_start(self, host):
        self.pg(host, "pg_ctl", "-D", self.p(host), "-l", self.p(host + ".log"), "-w", "-t", "60",
                "start")

    def psql(self, host, query, db="postgres", check=True):
        res = run([os.path.join(self.pg_bin, "psql"), "-X", "-At", "-h", addr(host), "-p",
                   str(PG_PORT), "-U", "postgres", "-d", db, "-c", query], check=check)
        return res.stdout.strip()

    def kill_pg(self, host):
        """SIGKILL every PostgreSQL process on host (a crashed server)."""
        return kill_ns_processes(ns(host))

    def promote(self, host):
        self.pg(host, "pg_ctl", "-D", self.p(host), "-w", "-t", "60", "promote")

    # ------------------------------------------------------------ provider
    def provider_up(self):
        """The fake provider on its own address, over https (profiles take
        http for loopback hosts only), with a certificate made here that
        the nodes (ca_file) and the driver (SSL_CERT_FILE) trust."""
        cert, key = self.p("provider.crt"), self.p("provider.key")
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
             "-out", cert, "-days", "2", "-subj", "/CN=lkc-prov",
             "-addext", "subjectAltName=IP:" + addr("prov")])
        os.environ["SSL_CERT_FILE"] = cert
        ready = self.p("provider.port")
        with open(self.p("provider.log"), "w") as out:
            subprocess.Popen(in_ns("prov", [sys.executable,
                                            os.path.join(TESTS, "fake_provider.py"), "--host",
                                            addr("prov"), "--port", str(PROVIDER_PORT),
                                            "--ready-file", ready, "--tls-cert", cert,
                                            "--tls-key", key]),
                             stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             env=stack.clean_env(), start_new_session=True)
        stack.wait_for(lambda: os.path.exists(ready) and open(ready).read().strip(), 30,
                       "the fake provider")

    # ------------------------------------------------------------ nodes
    def conninfo(self, hosts=("db1", "db2"), port=PG_PORT):
        return ("host=%s port=%d dbname=latchkey user=postgres target_session_attrs=read-write"
                % (",".join(addr(h) for h in hosts), port))

    def write_config(self, path, public_url, database):
        lines = ["# generated by tests/cluster/cluster.py",
                 "database = " + database,
                 "keyring = " + self.p("keys"),
                 "public_base_url = " + public_url,
                 "cookie_secure = false",
                 "log_level = info",
                 "purge_interval = 0",
                 "ca_file = " + self.p("provider.crt"),
                 "mcp_allowed_origins = " + stack.MCP_ORIGIN]
        lines += ["%s = %d" % kv for kv in sorted(TIMEOUTS.items())]
        webservers.write_file(path, "\n".join(lines) + "\n")

    def node_up(self, name):
        n = self.nodes[name]
        for d in ("www", "tmp", "fcgi"):
            os.makedirs(n.p(d), exist_ok=True)
        self.write_config(n.p("latchkey.conf"), n.url, self.database)
        webservers.Lighttpd(n).write_conf()
        out = open(n.p("lighttpd.out"), "a")
        n.proc = subprocess.Popen(in_ns(name, ["lighttpd", "-D", "-f", n.p("lighttpd.conf")]),
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                  env=stack.clean_env(), start_new_session=True)
        out.close()

    def node_down(self, name):
        n = self.nodes[name]
        if n.proc and n.proc.poll() is None:
            n.proc.terminate()
            try:
                n.proc.wait(15)
            except subprocess.TimeoutExpired:
                n.proc.kill()
                n.proc.wait(5)
        # What lighttpd started and left (a worker killed mid-request).
        for pid in self.programs(name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for f in os.listdir(n.p("fcgi")):
            os.unlink(n.p("fcgi", f))

    def wait_nodes(self, names=NODES, timeout=30):
        import urllib.request

        def up(name):
            try:
                urllib.request.urlopen(self.nodes[name].url + "/token/none", timeout=2)
            except urllib.error.HTTPError:
                return True
            except OSError:
                return False
            return True
        for name in names:
            stack.wait_for(lambda: up(name), timeout, "lighttpd on " + name)

    def nodes_up(self, database):
        """(Re)starts every node with database as its conninfo."""
        self.database = database
        for name in NODES:
            if self.nodes[name].proc:
                self.node_down(name)
            self.node_up(name)
        self.wait_nodes()

    def programs(self, name, route=None):
        """pids of the programs running on node name (of route only, when
        given)."""
        exes = {os.path.realpath(os.path.join(self.bin, r))
                for r in ((route,) if route else stack.ROUTES)}
        out = []
        for pid in ns_pids(ns(name)):
            try:
                if os.path.realpath("/proc/%d/exe" % pid) in exes:
                    out.append(pid)
            except OSError:
                pass
        return out

    def workers(self, name, route):
        """pids of route's workers on node name (children of its supervisor)."""
        pids = self.programs(name, route)
        out = []
        for pid in pids:
            if proc_ppid(pid) in pids:
                out.append(pid)
        return out

    def node_log(self, name):
        """What the programs of node name logged (their stderr is
        lighttpd's, in lighttpd.out)."""
        out = []
        for f in ("lighttpd.out", "lighttpd-error.log"):
            try:
                with open(self.nodes[name].p(f), errors="replace") as fh:
                    out.append(fh.read())
            except OSError:
                pass
        return "".join(out)

    # ------------------------------------------------------------ PgBouncer
    def pgbouncer_up(self, mode, port):
        d = self.p("pgbouncer-" + mode)
        os.makedirs(d)
        ini = os.path.join(d, "pgbouncer.ini")
        webservers.write_file(ini, "\n".join([
            "[databases]",
            "latchkey = host=%s port=%d dbname=latchkey user=postgres" % (addr("db1"), PG_PORT),
            "[pgbouncer]",
            "listen_addr = " + addr("pgb"),
            "listen_port = %d" % port,
            "unix_socket_dir =",
            "auth_type = any",
            "pool_mode = " + mode,
            "max_client_conn = 400",
            "default_pool_size = %d" % (100 if mode == "session" else 2),
            "ignore_startup_parameters = extra_float_digits",
            "logfile = " + os.path.join(d, "pgbouncer.log"),
            "pidfile = " + os.path.join(d, "pgbouncer.pid"),
            ""]))
        shutil.chown(d, stack.PG_USER, stack.PG_USER)
        shutil.chown(ini, stack.PG_USER, stack.PG_USER)
        subprocess.Popen(in_ns("pgb", ["runuser", "-u", stack.PG_USER, "--", "pgbouncer", ini]),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(d, "pgbouncer.out"), "w"),
                         start_new_session=True)

        def ready():
            res = run([os.path.join(self.pg_bin, "psql"), "-X", "-At", "-h", addr("pgb"), "-p",
                       str(port), "-U", "postgres", "-d", "latchkey", "-c", "SELECT 1"],
                      check=False)
            return res.returncode == 0
        stack.wait_for(ready, 20, "PgBouncer (%s mode)" % mode)
        self.pgbouncers[mode] = port

    def pgbouncer_conninfo(self, mode):
        return self.conninfo(("pgb",), self.pgbouncers[mode])

    # ------------------------------------------------------------ up/down
    def write_env(self):
        """The env file of tests/e2e/lkstack.py: the helpers of the e2e tests
        (profiles, keys, the browser flow) work against node1."""
        env = {"LATCHKEY_URL": self.nodes["node1"].url,
               "LATCHKEY_SERVER": "lighttpd",
               "PROVIDER_URL": "https://%s:%d" % (addr("prov"), PROVIDER_PORT),
               "LATCHKEY_CONFIG": self.p("cli.conf"),
               "PGHOST": "%s,%s" % (addr("db1"), addr("db2")),
               "PGPORT": str(PG_PORT), "PGDATABASE": "latchkey", "PGUSER": "postgres",
               "PG_BIN": self.pg_bin, "LATCHKEY_BIN": self.bin, "LATCHKEY_SOURCE": self.source,
               "STACK_DIR": self.dir, "STACK_RUNTIME_DIR": self.dir, "MCP_ORIGIN": stack.MCP_ORIGIN}
        webservers.write_file(self.p("stack.env"), "".join("%s=%s\n" % kv for kv in env.items()))
        os.environ["STACK_ENV"] = self.p("stack.env")
        # lkstack's psql: the primary among the two, whichever it is now.
        os.environ["PGTARGETSESSIONATTRS"] = "read-write"
        os.environ["PGCONNECT_TIMEOUT"] = "2"

    def up(self):
        cleanup()
        t0 = time.monotonic()
        self.dir = tempfile.mkdtemp(prefix=WORK_PREFIX, dir="/tmp")
        os.chmod(self.dir, 0o755)
        open(self.p(WORK_MARK), "w").close()
        self.net_up()
        os.makedirs(self.p("keys"), mode=0o700)
        fd = os.open(self.p("keys", "1.key"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        self.pg_up()
        self.provider_up()
        for name in NODES:
            self.nodes[name] = Node(self, name)
            os.makedirs(self.nodes[name].dir)
        self.write_config(self.p("cli.conf"), self.nodes["node1"].url, self.conninfo())
        res = run([os.path.join(self.bin, "latchkey"), "migrate"], check=False,
                  env=stack.clean_env(LATCHKEY_CONFIG=self.p("cli.conf")))
        if res.returncode != 0:
            raise stack.StackError("latchkey migrate failed: " + res.stdout + res.stderr)
        self.nodes_up(self.conninfo())
        self.write_env()
        log("up in %.1fs in %s" % (time.monotonic() - t0, self.dir))

    def down(self, keep_logs=None):
        """Stops everything; keep_logs: a directory the logs are copied to."""
        if self.dir and keep_logs:
            os.makedirs(keep_logs, exist_ok=True)
            for root, _dirs, files in os.walk(self.dir):
                for f in files:
                    if f.endswith((".log", ".out")):
                        rel = os.path.relpath(os.path.join(root, f), self.dir).replace("/", "-")
                        try:
                            shutil.copyfile(os.path.join(root, f), os.path.join(keep_logs, rel))
                        except OSError:
                            pass
        for n in self.nodes.values():
            if n.proc and n.proc.poll() is None:
                n.proc.kill()
        cleanup()
