"""Shared by the benchmarks: a throwaway stack with one connected account,
and wrk runs parsed into figures. Python standard library only."""
import http.client
import json
import os
import re
import subprocess
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bench_args(doc, more=None):
    """The options every wrk comparison takes: --build, --seconds,
    --connections, --procs, --runs; more(parser) may add its own."""
    import argparse
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    if more:
        more(ap)
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)  # the web server starts programs from its own directory
    return a


# Picks instance u<i> per request: i uniform in 1..N, or with probability
# proportional to 1/i^1.1 (a cumulative table, searched by bisection).
LUA = """
local n, zipf, path = %d, %s, "%s"
local cdf = {}
if zipf then
  local sum = 0
  for i = 1, n do sum = sum + 1 / i ^ 1.1; cdf[i] = sum end
  for i = 1, n do cdf[i] = cdf[i] / sum end
end
local function pick()
  if not zipf then return math.random(1, n) end
  local x, lo, hi = math.random(), 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < x then lo = mid + 1 else hi = mid end
  end
  return lo
end
function setup(thread) thread:set("seed", math.random(1, 1000000)) end
function init(args) math.randomseed(seed or os.time()) end
function request()
  return wrk.format("GET", path .. pick())
end
"""


def users_script(s, n, dist, name, path):
    """A wrk script in s's directory asking path + <i> for i in 1..n, uniform
    or Zipf-distributed; its path."""
    script = os.path.join(s.dir, name)
    with open(script, "w") as fh:
        fh.write(LUA % (n, "true" if dist == "zipf" else "false", path))
    return script


def hello_conf(a, name):
    """lighttpd lines adding the FastCGI hello-world (a.build's) at /hello,
    its socket in var/<name>."""
    hello = os.path.join(a.build, "bench", "bench_hello")
    sockdir = os.path.join(ROOT, "var", name)
    return ('fastcgi.server += ( "/hello" => (( "socket" => "%s/hello.sock", "bin-path" => "%s",'
            ' "max-procs" => %d, "check-local" => "disable" )) )\n' % (sockdir, hello, a.procs))


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw).stdout


def request(url, method="GET", headers=None, body=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, u.path + ("?" + u.query if u.query else ""), body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.getheader("Location"), resp.getheader("Set-Cookie"), data


def wrk(url, seconds, connections, headers=(), script=None):
    args = ["wrk", "-t2", "-c%d" % connections, "-d%ds" % seconds, "--latency"]
    for h in headers:
        args += ["-H", h]
    if script:
        args += ["-s", script]
    args.append(url)
    out = sh(*args)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"),
            "non2xx": int(errors.group(1)) if errors else 0}


def compare(base_name, base, name, ours, seconds, runs, target):
    """Runs base and ours (each wrk(seconds) -> figures) alternately, runs
    times after a warm-up, prints each run and the median ratio."""
    base(2)
    ours(2)
    ratios = []
    for i in range(runs):
        b = base(seconds)
        o = ours(seconds)
        ratios.append(100.0 * o["rps"] / b["rps"])
        print("run %d" % (i + 1))
        print("  " + line(base_name, b))
        print("  " + line(name, o))
        print("  ratio %.0f%%" % ratios[-1])
    ratios.sort()
    median = ratios[len(ratios) // 2]
    print("median ratio %s : %s = %.0f%% over %d runs (target %d%%)" % (name, base_name, median, runs, target))
    return median


def line(name, f):
    return "%-14s %8.0f req/s  p50 %-8s p99 %-8s non-2xx %d" % (name, f["rps"], f["p50"], f["p99"], f["non2xx"])


class Stack:
    """tests/stack.py in var/<name>, with a profile 'bench', a key, and one
    account 'user_123' connected through the real flow."""

    def __init__(self, name, build, procs, extra_conf_text="", api_base_url=None):
        self.dir = os.path.join(ROOT, "var", name)
        os.makedirs(self.dir, exist_ok=True)
        self.build = build
        extra = os.path.join(self.dir, "extra.conf")
        with open(extra, "w") as fh:
            fh.write(extra_conf_text)
        self.stack = [sys.executable, os.path.join(ROOT, "tests", "stack.py")]
        sh(*self.stack, "up", "--force", "--dir", self.dir, "--bin", os.path.join(build, "bin"),
           "--source", ROOT, "--procs", str(procs), "--extra-conf", extra)
        env = {}
        for ln in open(os.path.join(self.dir, "stack.env")):
            if "=" in ln:
                k, v = ln.strip().split("=", 1)
                env[k] = v.strip("'")
        self.env = env
        self.base = "http://127.0.0.1:%s" % env["LIGHTTPD_PORT"]
        cli = self.latchkey = [os.path.join(env["LATCHKEY_BIN"], "latchkey")]
        cenv = self.cenv = dict(os.environ, LATCHKEY_CONFIG=env["LATCHKEY_CONFIG"])
        secret = os.path.join(self.dir, "client.secret")
        with open(secret, "w") as fh:
            fh.write("bench-secret")
        p = env["PROVIDER_URL"]
        callback = env["LATCHKEY_URL"] + "/callback/bench"
        request(p + "/_fake/clients", "POST", {"Content-Type": "application/json"},
                json.dumps({"client_id": "bench", "client_secret": "bench-secret", "redirect_uris": [callback]}))
        request(p + "/_fake/config", "POST", {"Content-Type": "application/json"},
                json.dumps({"auto_approve": True, "access_token_ttl": 86400}))
        sh(*cli, "profile", "add", "bench", "--template", "atlassian-confluence", "--client-id", "bench",
           "--client-secret-file", secret, "--callback-url", callback, "--authorization-url", p + "/authorize",
           "--token-url", p + "/oauth/token", "--resources-url", p + "/oauth/token/accessible-resources",
           "--api-base-url", api_base_url or p + "/ex/confluence/{cloud_id}", env=cenv)
        self.key = sh(*cli, "key", "create", "--name", "bench", "--profiles", "bench", env=cenv).strip()
        self.connect("user_123")

    def cli(self, *args, timeout=120):
        """latchkey ARGS with the stack's configuration: (0, stdout, stderr)."""
        res = subprocess.run(self.latchkey + list(args), env=self.cenv, capture_output=True, text=True,
                             timeout=timeout, check=True)
        return res.returncode, res.stdout, res.stderr

    def psql(self, sql):
        """Runs sql (no transaction block) with psql against the stack's database."""
        e = self.env
        penv = dict(os.environ, PGHOST=e["PGHOST"], PGPORT=e["PGPORT"], PGDATABASE=e["PGDATABASE"],
                    PGUSER=e["PGUSER"])
        return sh(os.path.join(e["PG_BIN"], "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql,
                  env=penv)

    def connect(self, instance):
        """authorize → provider (auto-approve) → callback, keeping the cookie."""
        status, _, _, body = request(self.env["LATCHKEY_URL"] + "/authorize/bench", "POST",
                                     {"Authorization": "Bearer " + self.key, "Content-Type": "application/json"},
                                     json.dumps({"instance_id": instance}))
        assert status == 201, body
        status, loc, cookie, _ = request(json.loads(body)["authorization_url"])
        assert status == 302, status
        status, cb, _, _ = request(loc)
        assert status == 302, status
        status, _, _, body = request(cb, headers={"Cookie": cookie.split(";")[0]})
        assert status == 200, body

    def configure(self, lines):
        """Appends lines to latchkey.conf and restarts the web server and
        its programs, which read it when they start."""
        with open(self.env["LATCHKEY_CONFIG"], "a") as fh:
            fh.write(lines)
        sh(*self.stack, "restart-web", "--dir", self.dir)

    def down(self):
        sh(*self.stack, "down", "--dir", self.dir)
