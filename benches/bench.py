"""toolboxd's benchmark suite: every workload against a reference measured in the same run.

Run it through `bash benches/run.sh` (installs the peers, builds the release binary). It writes
BENCHMARKS.md: per workload toolboxd's figure, the reference's, their ratio (always toolboxd
divided by the reference) and the goal. Only the standard library is used.

Method (see the README's benchmark section): every server is pinned to core SERVER_CPU and every
client and limit program to core CLIENT_CPU with taskset; each workload runs ROUNDS rounds, the
ratio is computed inside each round and the table shows medians of rounds. Everything listens
on 127.0.0.1 and every wait is bounded.
"""

import argparse
import base64
import datetime
import http.client
import json
import os
import pty
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tty
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_CPU, CLIENT_CPU = ("1", "0") if os.cpu_count() >= 2 else ("0", "0")
MIB = 1024 * 1024


class Skip(Exception):
    """A workload that cannot run here; its reason is printed and written to the report."""


# ---------------------------------------------------------------- processes and measurements


def pinned(cpu, argv):
    return ["taskset", "-c", cpu, *argv]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_client(argv, **kw):
    """Runs a client program on the client core and fails loudly when it fails."""
    kw.setdefault("stdout", subprocess.DEVNULL)
    return subprocess.run(pinned(CLIENT_CPU, argv), check=True, timeout=600, **kw)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def tree_pids(pid):
    """The process and its descendants (by parent chain, from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(pid, field="VmRSS", tree=True):
    """Resident memory of a server's process tree (workers, forks) or of the process, in MiB."""
    return sum(status_kib(p, field) for p in (tree_pids(pid) if tree else [pid])) / 1024


def cpu_seconds(pid):
    """User + system CPU time the process itself has used (children not included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PeakRss:
    """A process tree's peak RSS while in the `with` block: the kernel's high-water marks
    (VmHWM, reset on entry through clear_refs), summed over the tree, and a 10 ms sampler for
    processes that start inside the block."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()

    def __enter__(self):
        self.base = rss_mib(self.pid)
        for p in tree_pids(self.pid):
            try:
                with open(f"/proc/{p}/clear_refs", "w") as f:
                    f.write("5")  # resets VmHWM to the current RSS
            except OSError:
                pass
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.01)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, rss_mib(self.pid, "VmHWM"))


def http_ok(port, path="/", any_answer=False):
    """Whether the server answers GET `path` with a 2xx (with `any_answer`: with anything)."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        ok = any_answer or 200 <= conn.getresponse().status < 300
        conn.close()
        return ok
    except OSError:
        return False


class Server:
    """A server process pinned to the server core, timed from exec to its first 2xx answer."""

    def __init__(self, name, argv, port, ready_path="/", env=None, cwd=None, any_answer=False):
        self.name, self.port = name, port
        self.log = tempfile.TemporaryFile()
        start = time.perf_counter()
        self.proc = subprocess.Popen(pinned(SERVER_CPU, argv), env=env, cwd=cwd, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = start + 30
        # Timed to the first answer that counts (a 2xx unless `any_answer`): a refused connection
        # or an error status means "not ready yet".
        while not http_ok(port, ready_path, any_answer):
            if self.proc.poll() is not None or time.perf_counter() > deadline:
                # A server that never answered must not outlive the failed start.
                self.stop()
                self.log.seek(0)
                raise RuntimeError(f"{name} did not answer on {port}: {self.log.read()[-2000:]!r}")
            time.sleep(0.0005)
        self.startup = time.perf_counter() - start
        self.pid = self.proc.pid

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------- the servers


class Bench:
    """Paths and servers shared by all workloads."""

    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.rounds = 1 if args.quick else args.rounds
        self.big = (64 if args.quick else 1024) * MIB
        self.bin = args.toolboxd
        self.tmp = tempfile.mkdtemp(prefix="toolboxd-bench.", dir=args.tmp)
        os.chmod(self.tmp, 0o755)  # the SSH workload's user lives under it
        self.dufs = shutil.which("dufs") or next(
            (p for p in [os.path.join(ROOT, ".tools/bench/bin/dufs")] if os.path.exists(p)), None)
        self.rows = []
        self.notes = []

    def path(self, *parts):
        p = os.path.join(self.tmp, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def toolboxd(self, work, extra=(), env=None, ssh_port=0):
        port = free_port()
        data = tempfile.mkdtemp(dir=self.tmp, prefix="data.")
        home = tempfile.mkdtemp(dir=self.tmp, prefix="home.")
        full_env = {**os.environ, "HOME": home, **(env or {})}
        argv = [self.bin, "--port", str(port), "--bind", "127.0.0.1", "--work-dir", work,
                "--data-dir", data, "--log-level", "error", "--ssh-port", str(ssh_port),
                "--web-terminal-port", "0", *extra]
        if os.path.exists(self.args.desktop_helper):
            argv += ["--desktop-helper", self.args.desktop_helper]
        return Server("toolboxd", argv, port, "/version", env=full_env)

    def nginx(self, body, ready_path="/"):
        port = free_port()
        d = tempfile.mkdtemp(dir=self.tmp, prefix="nginx.")
        conf = f"""worker_processes 1;
daemon off;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  keepalive_requests 100000;
  client_max_body_size 0;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    {body}
  }}
}}
"""
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(conf)
        return Server("nginx", ["/usr/sbin/nginx", "-p", d, "-c", f"{d}/nginx.conf"], port, ready_path)

    def jupyter(self, root):
        exe = os.path.join(ROOT, ".tools/bench/venv/bin/jupyter-server")
        if not os.path.exists(exe):
            raise Skip("Jupyter Server is not installed (.tools/bench/venv)")
        port = free_port()
        home = tempfile.mkdtemp(dir=self.tmp, prefix="home.")
        return Server("jupyter", [exe, "--allow-root", "--no-browser", "--ServerApp.ip=127.0.0.1",
                                  f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                                  "--IdentityProvider.token=", f"--ServerApp.root_dir={root}"],
                      port, "/api", env={**os.environ, "HOME": home, "JUPYTER_RUNTIME_DIR": home})

    def dufs_server(self, root):
        if not self.dufs:
            raise Skip("dufs is not installed (cargo install --locked dufs failed or was skipped)")
        port = free_port()
        return Server("dufs", [self.dufs, "-A", "-b", "127.0.0.1", "-p", str(port), root], port)

    # -------------------------------------------------------------- report

    def row(self, workload, ours, ref_name, ref, ratios, goal, unit, note=""):
        """One line of the table; `goal` is (text, predicate over (ours, ratio)) or None."""
        ratio = statistics.median(ratios) if ratios else None
        met = None if goal is None else goal[1](ours, ratio)
        self.rows.append(dict(workload=workload, ours=ours, ref_name=ref_name, ref=ref,
                              ratio=ratio, goal=goal[0] if goal else "—", met=met, unit=unit, note=note))
        r = f"{ratio:.2f}x" if ratio is not None else "—"
        print(f"  {workload}: toolboxd {fmt(ours, unit)} | {ref_name} {fmt(ref, unit)} | {r}"
              f" | goal {goal[0] if goal else '—'} {'' if met is None else ('met' if met else 'NOT met')}",
              flush=True)


def fmt(v, unit):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    digits = 0 if abs(v) >= 1000 else 1 if abs(v) >= 10 else 2 if abs(v) >= 0.1 else 3
    return f"{v:,.{digits}f} {unit}".strip()


def at_most(limit):
    return (f"≤ {limit}x", lambda ours, ratio: ratio is not None and ratio <= limit)


def at_least(limit):
    return (f"≥ {limit}x", lambda ours, ratio: ratio is not None and ratio >= limit)


def value_at_most(limit, unit):
    return (f"≤ {limit} {unit}", lambda ours, ratio: ours <= limit)


def med(xs):
    return statistics.median(xs)


def pct(samples, q):
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


class Client:
    """A keep-alive HTTP client (the same one drives every server)."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body, headers or {})
        resp = self.conn.getresponse()
        data = resp.read()
        if not 200 <= resp.status < 300:
            raise RuntimeError(f"{method} {path}: {resp.status} {data[:300]!r}")
        return data

    def json(self, method, path, obj=None):
        body = None if obj is None else json.dumps(obj)
        return json.loads(self.call(method, path, body, {"Content-Type": "application/json"}) or "null")

    def timed(self, method, path, body=None, headers=None):
        start = time.perf_counter()
        self.call(method, path, body, headers)
        return time.perf_counter() - start


# ---------------------------------------------------------------- workloads


def startup_and_idle(b):
    """Exec to first successful response, and resident memory once idle (a fresh data dir each)."""
    www = b.path("startup", "www", "index.html")
    open(www, "w").write("hi")
    root = os.path.dirname(www)
    starts = 5 if b.quick else 9
    peers = [("toolboxd", lambda: b.toolboxd(root), starts),
             ("dufs", lambda: b.dufs_server(root), starts),
             ("nginx", lambda: b.nginx(f"root {root};"), starts),
             ("jupyter", lambda: b.jupyter(root), 2)]
    results = {name: [] for name, _, _ in peers}
    idle = {name: [] for name, _, _ in peers}
    idle["toolboxd_anon"] = []
    for _ in range(b.rounds):
        for name, factory, count in peers:
            times = []
            for i in range(count):
                try:
                    s = factory()
                except Skip as e:
                    print(f"  ({name} left out: {e})")
                    break
                except RuntimeError as e:
                    if name == "toolboxd":
                        raise
                    # A broken peer costs its own rows, not toolboxd's figures.
                    print(f"  ({name} left out: {e})")
                    b.notes.append(f"- startup: {name} left out: {str(e)[:300]}")
                    break
                with s:
                    times.append(s.startup * 1000)
                    if i == 0:
                        time.sleep(1.0)
                        idle[name].append(rss_mib(s.pid))
                        if name == "toolboxd":
                            idle["toolboxd_anon"].append(rss_mib(s.pid, "RssAnon"))
            if times:
                results[name].append(med(times))
    t = results["toolboxd"]
    for ref in ["dufs", "nginx", "jupyter"]:
        if results[ref]:
            b.row("start to first 200", med(t), ref, med(results[ref]),
                  [a / r for a, r in zip(t, results[ref])], value_at_most(8, "ms"), "ms")
    for ref in [r for r in ["dufs", "nginx", "jupyter"] if idle[r]]:
        b.row("idle RSS", med(idle["toolboxd"]), ref, med(idle[ref]),
              [a / r for a, r in zip(idle["toolboxd"], idle[ref])], value_at_most(8, "MiB"), "MiB")
    b.row("idle RSS, anonymous", med(idle["toolboxd_anon"]), "—", None, [],
          value_at_most(3, "MiB"), "MiB")


def exec_workload(b):
    """`echo hi` through /process/execute against the HTTP floor + the same shell spawned
    directly, and against webhook running the same command; the daemon's own CPU per request."""
    n = 200 if b.quick else 1000
    work = b.path("exec", "work", ".keep")
    work = os.path.dirname(work)
    shell = next(s for s in ["/usr/bin/zsh", "/bin/zsh", "/usr/bin/bash", "/bin/bash", "/bin/sh"]
                 if os.path.exists(s))
    hooks = b.path("exec", "hooks.json")
    json.dump([{"id": "echo", "execute-command": shell, "pass-arguments-to-command": [
        {"source": "string", "name": "-c"}, {"source": "string", "name": "echo hi"}],
        "include-command-output-in-response": True}], open(hooks, "w"))
    wport = free_port()
    body = json.dumps({"command": "echo hi"})
    hdr = {"Content-Type": "application/json"}
    rows = {k: [] for k in ["exec", "floor", "spawn", "webhook", "cpu"]}
    with b.toolboxd(work) as tb, Server("webhook", ["webhook", "-hooks", hooks, "-ip", "127.0.0.1",
                                                    "-port", str(wport)], wport, "/") as wh:
        c, w = Client(tb.port), Client(wport)
        for _ in range(50):
            assert json.loads(c.call("POST", "/process/execute", body, hdr))["result"] == "hi\n"
            w.call("GET", "/hooks/echo")
        for _ in range(b.rounds):
            cpu0 = cpu_seconds(tb.pid)
            rows["exec"].append(pct([c.timed("POST", "/process/execute", body, hdr) for _ in range(n)], .5))
            rows["cpu"].append((cpu_seconds(tb.pid) - cpu0) / n)
            rows["floor"].append(pct([c.timed("GET", "/version") for _ in range(n)], .5))
            # The shell spawned directly by this client (on the client core), output collected.
            rows["spawn"].append(pct([timed(lambda: subprocess.run([shell, "-c", "echo hi"], stdout=subprocess.PIPE,
                                                                   check=True)) for _ in range(n // 2)], .5))
            rows["webhook"].append(pct([w.timed("GET", "/hooks/echo") for _ in range(n)], .5))
    ms = lambda xs: [x * 1000 for x in xs]
    floor = [f + s for f, s in zip(rows["floor"], rows["spawn"])]
    b.row("`echo hi` exec p50", med(ms(rows["exec"])), f"HTTP floor + {os.path.basename(shell)} spawn",
          med(ms(floor)), [a / f for a, f in zip(rows["exec"], floor)], at_most(1.05), "ms")
    b.row("`echo hi` exec p50, vs webhook", med(ms(rows["exec"])), "webhook (same shell)",
          med(ms(rows["webhook"])), [a / f for a, f in zip(rows["exec"], rows["webhook"])], None, "ms")
    b.row("`echo hi` exec, daemon's own CPU per request", med(ms(rows["cpu"])), "—", None, [],
          value_at_most(0.1, "ms"), "ms")


def proxy_workload(b):
    """1 KiB through /proxy/{port}/ with 32 connections (wrk) vs nginx as reverse proxy."""
    www = os.path.dirname(b.path("proxy", "www", "small.bin"))
    open(os.path.join(www, "small.bin"), "wb").write(os.urandom(1024))
    duration = "2s" if b.quick else "5s"
    with b.nginx(f"root {www};", "/small.bin") as backend:
        upstream = f"""location / {{
      proxy_pass http://127.0.0.1:{backend.port};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }}"""
        with b.toolboxd(www) as tb, b.nginx(upstream, "/small.bin") as ng:
            urls = {"toolboxd": f"http://127.0.0.1:{tb.port}/proxy/{backend.port}/small.bin",
                    "nginx": f"http://127.0.0.1:{ng.port}/small.bin"}
            assert urllib.request.urlopen(urls["toolboxd"]).read() == open(f"{www}/small.bin", "rb").read()

            def rps(url, d=duration):
                out = subprocess.run(pinned(CLIENT_CPU, ["wrk", "-t1", "-c32", f"-d{d}", url]),
                                     capture_output=True, text=True, check=True, timeout=120).stdout
                return float(next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec")))

            for url in urls.values():
                rps(url, "1s")
            ours, ref = [], []
            for _ in range(b.rounds):
                ours.append(rps(urls["toolboxd"]))
                ref.append(rps(urls["nginx"]))
    b.row("preview proxy, 1 KiB, 32 connections", med(ours), "nginx reverse proxy", med(ref),
          [a / r for a, r in zip(ours, ref)], at_least(1.0), "req/s")


def listing_workload(b):
    """GET /files of a 10k-entry directory vs nginx's JSON autoindex of the same directory."""
    d = os.path.dirname(b.path("listing", "big", "x"))
    for i in range(10000):
        with open(os.path.join(d, f"file-{i:05d}.txt"), "w") as f:
            f.write("x" * (i % 100))
    n = 10 if b.quick else 30
    root = os.path.dirname(d)
    with b.toolboxd(root) as tb, b.nginx(f"root {root}; autoindex on; autoindex_format json;") as ng:
        c, g = Client(tb.port), Client(ng.port)
        assert len(c.json("GET", "/files?path=big")) == 10000
        assert len(json.loads(g.call("GET", "/big/"))) == 10000
        ours, ref = [], []
        for _ in range(b.rounds):
            ours.append(pct([c.timed("GET", "/files?path=big") for _ in range(n)], .5) * 1000)
            ref.append(pct([g.timed("GET", "/big/") for _ in range(n)], .5) * 1000)
    b.row("list a 10k-entry directory", med(ours), "nginx JSON autoindex", med(ref),
          [a / r for a, r in zip(ours, ref)], at_most(1.3), "ms")


def search_workload(b):
    """GET /files/find over ~100k lines vs `rg -n -F` on the same tree (on the server core)."""
    import random
    rnd = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "omega", "lambda", "kappa", "sigma", "theta", "zeta"]
    for d in range(40):
        for f in range(25):
            lines = [" ".join(rnd.choice(words) for _ in range(8)) + (" needle_marker" if rnd.random() < .01 else "")
                     for _ in range(100)]
            with open(b.path("search", "tree", f"pkg{d}", f"file{f}.txt"), "w") as fh:
                fh.write("\n".join(lines) + "\n")
    root = os.path.dirname(b.path("search", "x"))
    n = 5 if b.quick else 15
    with b.toolboxd(root) as tb:
        c = Client(tb.port)
        hits = len(c.json("GET", "/files/find?path=tree&pattern=needle_marker"))
        rg = subprocess.run(pinned(SERVER_CPU, ["rg", "-n", "-F", "needle_marker", "tree"]), cwd=root,
                            capture_output=True, check=True).stdout.count(b"\n")
        assert hits == rg, (hits, rg)
        ours, ref = [], []
        for _ in range(b.rounds):
            ours.append(pct([c.timed("GET", "/files/find?path=tree&pattern=needle_marker") for _ in range(n)], .5) * 1000)
            ref.append(pct([timed(lambda: subprocess.run(pinned(SERVER_CPU, ["rg", "-n", "-F", "needle_marker", "tree"]),
                                                         cwd=root, stdout=subprocess.DEVNULL, check=True))
                             for _ in range(n)], .5) * 1000)
    b.row(f"content search, 100k lines ({hits} hits)", med(ours), "rg -n -F (process start included)",
          med(ref), [a / r for a, r in zip(ours, ref)], None, "ms")


def transfer_workload(b):
    """1 GiB up (bulk-upload, the SDK's path) and down (bulk-download) vs nginx WebDAV PUT and
    sendfile GET (and dufs when built), with each server's peak RSS during the transfers."""
    root = os.path.dirname(b.path("transfer", "root", "x"))
    src = os.path.join(root, "src.bin")
    with open(src, "wb") as f:
        for _ in range(b.big // MIB):
            f.write(os.urandom(MIB))
    size_mb = b.big / 1e6
    fig = {k: [] for k in ["up", "down", "ng_up", "ng_down", "du_up", "du_down"]}
    peak = {"toolboxd": [], "nginx": [], "dufs": []}
    servers = [("toolboxd", lambda: b.toolboxd(root)),
               ("nginx", lambda: b.nginx(f"root {root}; location / {{ dav_methods PUT; }}", "/src.bin")),
               ("dufs", lambda: b.dufs_server(root))]
    for _ in range(b.rounds):
        for name, factory in servers:
            try:
                s = factory()
            except Skip as e:
                if name == "dufs":
                    continue
                raise e
            with s:
                url = f"http://127.0.0.1:{s.port}"
                dst = os.path.join(root, f"up-{name}.bin")
                if os.path.exists(dst):
                    os.unlink(dst)
                os.sync()
                if name == "toolboxd":
                    up = ["curl", "-sSf", "-o", "/dev/null", "-F", f"files[0].path=up-{name}.bin",
                          "-F", f"files[0].file=@{src};filename=up.bin", f"{url}/files/bulk-upload"]
                    down = ["curl", "-sSf", "-o", "/dev/null", "-H", "Content-Type: application/json",
                            "-d", '{"paths":["src.bin"]}', f"{url}/files/bulk-download"]
                else:
                    up = ["curl", "-sSf", "-o", "/dev/null", "-T", src, f"{url}/up-{name}.bin"]
                    down = ["curl", "-sSf", "-o", "/dev/null", f"{url}/src.bin"]
                with PeakRss(s.pid) as p:
                    # (sync before, not inside: the timing is the server's, not the disk's.)
                    t_up = timed(lambda: run_client(up))
                    t_down = timed(lambda: run_client(down))
                assert os.path.getsize(dst) == b.big
                os.unlink(dst)
                key = {"toolboxd": "", "nginx": "ng_", "dufs": "du_"}[name]
                fig[key + "up"].append(size_mb / t_up)
                fig[key + "down"].append(size_mb / t_down)
                peak[name].append(p.peak - p.base)
    gib = f"{b.big // MIB} MiB" if b.big != 1024 * MIB else "1 GiB"
    b.row(f"{gib} upload (bulk-upload)", med(fig["up"]), "nginx WebDAV PUT", med(fig["ng_up"]),
          [a / r for a, r in zip(fig["up"], fig["ng_up"])], at_least(0.9), "MB/s")
    b.row(f"{gib} download (bulk-download)", med(fig["down"]), "nginx sendfile GET", med(fig["ng_down"]),
          [a / r for a, r in zip(fig["down"], fig["ng_down"])], None, "MB/s")
    if fig["du_up"]:
        b.row(f"{gib} upload (bulk-upload), vs dufs", med(fig["up"]), "dufs PUT", med(fig["du_up"]),
              [a / r for a, r in zip(fig["up"], fig["du_up"])], None, "MB/s")
        b.row(f"{gib} download (bulk-download), vs dufs", med(fig["down"]), "dufs GET", med(fig["du_down"]),
              [a / r for a, r in zip(fig["down"], fig["du_down"])], None, "MB/s")
    b.row(f"peak RSS growth during {gib} up + down", med(peak["toolboxd"]), "nginx", med(peak["nginx"]),
          [], value_at_most(4, "MiB"), "MiB")
    os.unlink(src)


def mixed_requests_memory(b):
    """RSS growth after 10k mixed requests (listings, stat, downloads, uploads, exec, 404s)."""
    root = os.path.dirname(b.path("mixed", "root", "x"))
    for i in range(300):
        open(os.path.join(root, f"f{i}.txt"), "w").write("y" * (i * 37))
    total = 2000 if b.quick else 10000
    growth = {"toolboxd": [], "nginx": []}
    for _ in range(b.rounds):
        with b.toolboxd(root) as tb:
            c = Client(tb.port)
            time.sleep(0.5)
            base = rss_mib(tb.pid)
            for i in range(total):
                k = i % 10
                if k < 3:
                    c.call("GET", "/files?path=.")
                elif k < 5:
                    c.call("GET", f"/files/info?path=f{i % 300}.txt")
                elif k < 7:
                    c.call("GET", f"/files/download?path=f{i % 300}.txt")
                elif k == 7:
                    c.call("POST", "/files/upload?path=up.txt", b"--B\r\nContent-Disposition: form-data; "
                           b"name=\"file\"; filename=\"up.txt\"\r\n\r\nhello\r\n--B--\r\n",
                           {"Content-Type": "multipart/form-data; boundary=B"})
                elif k == 8 and i % 100 == 8:
                    c.json("POST", "/process/execute", {"command": "echo hi"})
                else:
                    c.call("GET", "/version")
            time.sleep(0.5)
            growth["toolboxd"].append(rss_mib(tb.pid) - base)
        with b.nginx(f"root {root}; autoindex on; autoindex_format json;") as ng:
            c = Client(ng.port)
            time.sleep(0.5)
            base = rss_mib(ng.pid)
            for i in range(total):
                k = i % 10
                c.call("GET", "/" if k < 3 else f"/f{i % 300}.txt")
            time.sleep(0.5)
            growth["nginx"].append(rss_mib(ng.pid) - base)
    b.row(f"RSS growth after {total // 1000}k mixed requests", med(growth["toolboxd"]),
          "nginx (listings + GETs)", med(growth["nginx"]), [], value_at_most(4, "MiB"), "MiB")


# ------------------------------------------------------------------------ terminals


class Ws:
    """A minimal websocket client (binary frames), the same for every server."""

    def __init__(self, port, path, protocols=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        head = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
        if protocols:
            head += f"Sec-WebSocket-Protocol: {protocols}\r\n"
        self.s.sendall((head + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.s.recv(4096)
            if not chunk:
                raise EOFError("closed during the handshake")
            buf += chunk
        status, self.buf = buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in status.split(b"\r\n")[0]:
            raise RuntimeError(f"websocket refused: {status[:200]!r}")

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            data = self._read(n)
            if b0 & 0x0F in (1, 2):
                return data
            if b0 & 0x0F == 8:
                raise EOFError

    def send(self, data):
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else bytes([0xFE]) + struct.pack(">H", n))
        self.s.sendall(head + mask + bytes(x ^ mask[i % 4] for i, x in enumerate(data)))

    def close(self):
        self.s.close()


def keystrokes(send, recv, keys):
    times = []
    for i in range(keys + 50):
        key = bytes([97 + i % 26])
        start = time.perf_counter()
        send(key)
        got = b""
        while key not in got:
            got += recv()
        if i >= 50:
            times.append(time.perf_counter() - start)
    return pct(times, .5) * 1000


def ws_keystrokes(port, path, protocols, keys):
    ws = Ws(port, path, protocols)
    ws.send(b"stty raw -echo; echo REA''DY; exec cat\n")
    seen = b""
    while b"READY" not in seen:
        seen += ws.recv()
    time.sleep(0.2)
    try:
        return keystrokes(ws.send, ws.recv, keys)
    finally:
        ws.close()


def local_keystrokes(keys):
    master, slave = pty.openpty()
    tty.setraw(slave)
    child = subprocess.Popen(pinned(SERVER_CPU, ["cat"]), stdin=slave, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    try:
        return keystrokes(lambda k: os.write(master, k), lambda: os.read(master, 65536), keys)
    finally:
        child.kill()
        child.wait()
        os.close(master)


def pty_workload(b):
    """Keystroke round trip to `cat` in a PTY: toolboxd's websocket vs a local PTY (the floor)
    and websocketd + `script` (the Debian stand-in for ttyd); then RSS after 200 terminals."""
    keys = 300 if b.quick else 2000
    work = os.path.dirname(b.path("pty", "work", "x"))
    wport = free_port()
    ours, local, wsd = [], [], []
    with b.toolboxd(work) as tb, Server("websocketd", ["websocketd", f"--port={wport}", "--address=127.0.0.1",
                                                       "--binary=true", "--loglevel=error", "script", "-qfc",
                                                       "bash --norc -i", "/dev/null"], wport, "/", any_answer=True) as wd:
        c = Client(tb.port)
        for r in range(b.rounds):
            ours.append(ws_keystrokes(tb.port, f"/process/pty/create-connect?id=bench{r}",
                                      "X-Daytona-Pty-Exit-Control", keys))
            c.call("DELETE", f"/process/pty/bench{r}")
            local.append(local_keystrokes(keys))
            wsd.append(ws_keystrokes(wd.port, "/", None, keys))
    b.row("PTY keystroke round trip p50", med(ours), "local PTY", med(local),
          [a / r for a, r in zip(ours, local)], at_most(2.0), "ms")
    b.row("PTY keystroke round trip p50, vs websocketd", med(ours), "websocketd + script", med(wsd),
          [a / r for a, r in zip(ours, wsd)], None, "ms")

    terminals = 50 if b.quick else 200
    growth, growth_wsd = [], []
    for _ in range(b.rounds):
        with b.toolboxd(work) as tb:
            c = Client(tb.port)
            time.sleep(0.5)
            base = rss_mib(tb.pid, tree=False)
            for i in range(terminals):
                ws = Ws(tb.port, f"/process/pty/create-connect?id=t{i}", "X-Daytona-Pty-Exit-Control")
                ws.send(b"echo RE''ADY\n")
                seen = b""
                while b"READY" not in seen:
                    seen += ws.recv()
                ws.close()
                c.call("DELETE", f"/process/pty/t{i}")
            time.sleep(1.0)
            growth.append(rss_mib(tb.pid, tree=False) - base)
        wport = free_port()
        with Server("websocketd", ["websocketd", f"--port={wport}", "--address=127.0.0.1", "--binary=true",
                                   "--loglevel=error", "script", "-qfc", "bash --norc -i", "/dev/null"],
                    wport, "/", any_answer=True) as wd:
            time.sleep(0.5)
            base = rss_mib(wd.pid, tree=False)
            for i in range(terminals):
                ws = Ws(wd.port, "/")
                ws.send(b"echo RE''ADY\n")
                seen = b""
                while b"READY" not in seen:
                    seen += ws.recv()
                ws.close()
            time.sleep(1.0)
            growth_wsd.append(rss_mib(wd.pid, tree=False) - base)
    b.row(f"RSS growth after {terminals} terminals opened and closed", med(growth), "websocketd",
          med(growth_wsd), [], value_at_most(4, "MiB"), "MiB")


# ------------------------------------------------------------------------------- SSH


def ssh_workload(b):
    """`scp` of 1 GiB each way and an `ssh host true` round trip: toolboxd's SSH server vs
    OpenSSH's sshd on another port, both with key authentication."""
    sshd_bin = "/usr/sbin/sshd"
    if not os.path.exists(sshd_bin) or not shutil.which("scp"):
        raise Skip("OpenSSH (openssh-server, openssh-client) is not installed")
    d = os.path.dirname(b.path("ssh", "keys", "x"))
    key = os.path.join(d, "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, "host_key")], check=True)
    shutil.copy(key + ".pub", os.path.join(d, "authorized_keys"))
    os.makedirs("/run/sshd", exist_ok=True)
    # sshd's sessions run as a user of their own with an empty home, as toolboxd's sessions run
    # with the empty HOME it was given: no shell start-up files of this machine in either.
    user, home = "toolboxd-bench", os.path.dirname(b.path("ssh", "home", "x"))
    subprocess.run(["userdel", user], stderr=subprocess.DEVNULL)
    subprocess.run(["useradd", "-M", "-d", home, "-s", "/bin/bash", "-p", "*", user], check=True)
    shutil.chown(home, user)
    work = os.path.dirname(b.path("ssh", "work", "x"))
    src = b.path("ssh", "src.bin")
    with open(src, "wb") as f:
        for _ in range(b.big // MIB):
            f.write(os.urandom(MIB))
    sshd_port, tb_ssh = free_port(), free_port()
    with open(os.path.join(d, "sshd_config"), "w") as f:
        f.write(f"""Port {sshd_port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
AuthorizedKeysFile {d}/authorized_keys
PidFile none
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
""")
    sshd = subprocess.Popen(pinned(SERVER_CPU, [sshd_bin, "-D", "-e", "-f", os.path.join(d, "sshd_config")]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    opts = ["-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]
    tb = b.toolboxd(work, ["--ssh-authorized-keys", os.path.join(d, "authorized_keys")], ssh_port=tb_ssh)
    try:
        deadline = time.time() + 20
        for port in (sshd_port, tb_ssh):
            while subprocess.run(["ssh", *opts, "-p", str(port), f"{user}@127.0.0.1", "true"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
                if time.time() > deadline:
                    why = subprocess.run(["ssh", *opts, "-v", "-p", str(port), f"{user}@127.0.0.1", "true"],
                                         capture_output=True, text=True).stderr[-1500:]
                    raise RuntimeError(f"no SSH login on port {port}: {why}")
                time.sleep(0.2)
        n = 5 if b.quick else 15
        fig = {k: [] for k in ["tb_rt", "ssh_rt", "tb_up", "ssh_up", "tb_down", "ssh_down"]}
        targets = {"tb": (tb_ssh, "up.bin", os.path.join(work, "up.bin")),
                   "ssh": (sshd_port, "up.bin", os.path.join(home, "up.bin"))}
        size_mb = b.big / 1e6
        for _ in range(b.rounds):
            for name, (port, remote, local_path) in targets.items():
                rt = [timed(lambda: run_client(["ssh", *opts, "-p", str(port), f"{user}@127.0.0.1", "true"]))
                      for _ in range(n)]
                fig[f"{name}_rt"].append(pct(rt, .5) * 1000)
                os.sync()
                t = timed(lambda: run_client(["scp", "-q", *opts, "-P", str(port), src,
                                              f"{user}@127.0.0.1:{remote}"]))
                assert os.path.getsize(local_path) == b.big
                fig[f"{name}_up"].append(size_mb / t)
                back = b.path("ssh", "back.bin")
                os.sync()
                t = timed(lambda: run_client(["scp", "-q", *opts, "-P", str(port),
                                              f"{user}@127.0.0.1:{remote}", back]))
                assert os.path.getsize(back) == b.big
                fig[f"{name}_down"].append(size_mb / t)
                os.unlink(back)
                os.unlink(local_path)
    finally:
        tb.stop()
        os.killpg(sshd.pid, signal.SIGTERM)
        sshd.wait(timeout=10)
        subprocess.run(["userdel", user], check=False)
        os.unlink(src)
    gib = f"{b.big // MIB} MiB" if b.big != 1024 * MIB else "1 GiB"
    b.row(f"scp {gib} upload", med(fig["tb_up"]), "OpenSSH sshd", med(fig["ssh_up"]),
          [a / r for a, r in zip(fig["tb_up"], fig["ssh_up"])], at_least(0.9), "MB/s")
    b.row(f"scp {gib} download", med(fig["tb_down"]), "OpenSSH sshd", med(fig["ssh_down"]),
          [a / r for a, r in zip(fig["tb_down"], fig["ssh_down"])], at_least(0.9), "MB/s")
    b.row("`ssh host true` round trip (new connection)", med(fig["tb_rt"]), "OpenSSH sshd", med(fig["ssh_rt"]),
          [a / r for a, r in zip(fig["tb_rt"], fig["ssh_rt"])], None, "ms")


# ------------------------------------------------------------------------ computer use


def computer_use_workload(b):
    """Full-screen screenshots (PNG, JPEG) and input events at 1920x1080 under Xvfb: toolboxd's
    /computeruse routes vs ImageMagick `import`, `xwd` and `xdotool` doing the same."""
    for tool in ["Xvfb", "import", "xwd", "xdotool"]:
        if not shutil.which(tool):
            raise Skip(f"{tool} is not installed (apt-get install xvfb imagemagick x11-apps xdotool)")
    display = f":{next(n for n in range(57, 99) if not os.path.exists(f'/tmp/.X11-unix/X{n}'))}"
    xvfb = subprocess.Popen(pinned(SERVER_CPU, ["Xvfb", display, "-screen", "0", "1920x1080x24", "-nolisten", "tcp"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    env = {**os.environ, "DISPLAY": display}
    work = os.path.dirname(b.path("cu", "work", "x"))
    tb = None
    try:
        deadline = time.time() + 10
        while subprocess.run(["xdotool", "getmouselocation"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL).returncode != 0:
            if time.time() > deadline:
                raise RuntimeError("Xvfb did not start")
            time.sleep(0.1)
        # Something worth encoding on the screen: a plasma fractal as the root window's background.
        bg = os.path.join(work, "bg.png")
        subprocess.run(["convert", "-size", "1920x1080", "plasma:fractal", bg], check=True, env=env)
        # (display exits 1 after setting the background when no window manager runs.)
        subprocess.run(["display", "-window", "root", bg], env=env, stderr=subprocess.DEVNULL)
        painted = subprocess.run(["import", "-window", "root", "png:-"], env=env, capture_output=True).stdout
        if len(painted) < 100_000:
            raise RuntimeError(f"the background did not reach the screen ({len(painted)} bytes of PNG)")
        tb = b.toolboxd(work, env={"DISPLAY": display})
        c = Client(tb.port)
        try:
            c.call("GET", "/computeruse/mouse/position")
        except RuntimeError as e:
            if " 404 " in str(e):
                raise Skip("this toolboxd answers 404 on /computeruse/mouse/position (computer use is not built in)")
            if " 503 " in str(e):
                raise Skip(f"computer use is unavailable here: {e}")
            raise
        n = 5 if b.quick else 20
        fig = {k: [] for k in ["png", "import_png", "xwd", "jpeg", "import_jpeg", "move", "xdotool"]}
        shot = json.loads(c.call("GET", "/computeruse/screenshot?showCursor=false"))
        assert base64.b64decode(shot["screenshot"])[:4] == b"\x89PNG"
        for _ in range(b.rounds):
            fig["png"].append(pct([c.timed("GET", "/computeruse/screenshot?showCursor=false") for _ in range(n)], .5))
            fig["jpeg"].append(pct([c.timed("GET", "/computeruse/screenshot/compressed?format=jpeg&quality=85")
                                    for _ in range(n)], .5))
            fig["import_png"].append(pct([timed(lambda: run_client(["import", "-window", "root", "png:-"], env=env))
                                          for _ in range(n)], .5))
            fig["import_jpeg"].append(pct([timed(lambda: run_client(["import", "-window", "root", "-quality", "85",
                                                                     "jpeg:-"], env=env)) for _ in range(n)], .5))
            fig["xwd"].append(pct([timed(lambda: run_client(["xwd", "-root", "-silent"], env=env))
                                   for _ in range(n)], .5))
            moves = []
            for i in range(n * 10):
                body = json.dumps({"x": 100 + i % 500, "y": 200 + i % 300})
                moves.append(c.timed("POST", "/computeruse/mouse/move", body, {"Content-Type": "application/json"}))
            fig["move"].append(pct(moves, .5))
            fig["xdotool"].append(pct([timed(lambda: run_client(["xdotool", "mousemove", str(100 + i % 500), "300"],
                                                                env=env)) for i in range(n * 10)], .5))
    finally:
        if tb:
            tb.stop()
        os.killpg(xvfb.pid, signal.SIGTERM)
        xvfb.wait(timeout=10)
    ms = lambda xs: [x * 1000 for x in xs]
    b.row("screenshot PNG 1920x1080", med(ms(fig["png"])), "ImageMagick import (PNG)", med(ms(fig["import_png"])),
          [a / r for a, r in zip(fig["png"], fig["import_png"])], at_most(1.0), "ms")
    b.row("screenshot PNG 1920x1080, vs xwd (no encoding)", med(ms(fig["png"])), "xwd -root", med(ms(fig["xwd"])),
          [a / r for a, r in zip(fig["png"], fig["xwd"])], None, "ms")
    b.row("screenshot JPEG q85 1920x1080", med(ms(fig["jpeg"])), "ImageMagick import (JPEG q85)",
          med(ms(fig["import_jpeg"])), [a / r for a, r in zip(fig["jpeg"], fig["import_jpeg"])], at_most(1.0), "ms")
    b.row("mouse move", med(ms(fig["move"])), "xdotool mousemove", med(ms(fig["xdotool"])),
          [a / r for a, r in zip(fig["move"], fig["xdotool"])], at_most(1.5), "ms")


WORKLOADS = {
    "startup": startup_and_idle,
    "exec": exec_workload,
    "proxy": proxy_workload,
    "listing": listing_workload,
    "search": search_workload,
    "transfer": transfer_workload,
    "memory": mixed_requests_memory,
    "pty": pty_workload,
    "ssh": ssh_workload,
    "computeruse": computer_use_workload,
}


# ------------------------------------------------------------------------------ report


def write_report(b, out, skipped, started, load_before, load_after):
    with open(b.bin, "rb") as f:
        # A dynamically linked executable names its loader in a PT_INTERP segment.
        static = b"/lib64/ld-linux" not in f.read(4096)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    lines = [
        "# Benchmarks",
        "",
        "Written by `bash benches/run.sh` (see the README's benchmark section); do not edit by hand.",
        "",
        f"- toolboxd commit `{commit}`{' (with uncommitted changes)' if dirty else ''}, release build, "
        f"{'statically linked (what ships)' if static else 'dynamically linked'}",
        f"- run {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"`uptime` load average before: {load_before}, after: {load_after}",
        f"- servers pinned to core {SERVER_CPU}, clients and limit programs to core {CLIENT_CPU}; "
        f"{b.rounds} round(s) per workload; figures are medians of the rounds, ratios are "
        "toolboxd ÷ reference computed inside each round (median shown)",
        f"- transfers: {b.big // MIB} MiB of random data; every server listens on 127.0.0.1",
        "",
        "| workload | toolboxd | reference (same run) | reference | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in b.rows:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "—"
        met = "—" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {r['workload']} | {fmt(r['ours'], r['unit'])} | {r['ref_name']} | "
                     f"{fmt(r['ref'], r['unit'])} | {ratio} | {r['goal']} | {met} |")
    if skipped:
        lines += ["", "Not measured in this run:", ""]
        lines += [f"- {name}: {reason}" for name, reason in skipped]
    # A goal shown on several rows (one per peer) is one goal: met only if met on every row.
    goals = {}
    for r in b.rows:
        if r["met"] is not None:
            goals[r["workload"]] = goals.get(r["workload"], True) and r["met"]
    missed = [name for name, met in goals.items() if not met]
    lines += ["", f"Goals met: {len(goals) - len(missed)} of {len(goals)}."]
    if missed:
        lines += ["Goals not met: " + "; ".join(missed) + "."]
    if float(load_before.split(",")[0]) > os.cpu_count():
        lines += ["", "The machine was busy during this run (load average above its core count): absolute "
                  "figures are lower and noisier than on an idle machine; the ratios, measured inside each "
                  "round against a peer that shared the same conditions, are the figures to read."]
    lines += b.notes
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out}")


def load_average():
    with open("/proc/loadavg") as f:
        return ", ".join(f.read().split()[:3])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("workloads", nargs="*", help=f"default: all of {', '.join(WORKLOADS)}")
    # The static build is what the Dockerfile ships (scripts/build-static.sh): no loader, no
    # relocations at start, no shared libraries mapped, so it is the one whose start-up and idle
    # memory a sandbox sees.
    p.add_argument("--toolboxd", default=os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release/toolboxd"))
    p.add_argument("--desktop-helper", default=os.path.join(ROOT, "target/release/toolboxd-desktop"),
                   help="passed as --desktop-helper when it exists (it cannot be linked statically)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="small sizes, one round (for development)")
    p.add_argument("--out", default=None, help="report file (default BENCHMARKS.md; none with --quick)")
    p.add_argument("--tmp", default="/var/tmp", help="where the scratch files go (needs ~3 GiB)")
    args = p.parse_args()
    names = args.workloads or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {unknown}; known: {', '.join(WORKLOADS)}")
    b = Bench(args)
    started, load_before = datetime.datetime.now(datetime.timezone.utc), load_average()
    skipped = []
    try:
        for name in names:
            print(f"== {name}", flush=True)
            try:
                WORKLOADS[name](b)
            except Skip as e:
                print(f"  SKIPPED: {e}", flush=True)
                skipped.append((name, str(e)))
            except Exception as e:  # one broken workload must not cost the others' figures
                print(f"  FAILED: {e!r}", flush=True)
                skipped.append((name, f"failed: {e!r}"[:500]))
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)
    out = args.out or (None if args.quick else os.path.join(ROOT, "BENCHMARKS.md"))
    if out:
        write_report(b, out, skipped, started, load_before, load_average())


if __name__ == "__main__":
    main()
