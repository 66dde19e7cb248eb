#!/usr/bin/env bash
# Measures `echo hi` through POST /process/execute (one HTTP round trip + the daemon spawning the
# shell), p50/p99 sequentially and with 32 concurrent keep-alive clients, against the baseline of
# spawning `sh -c 'echo hi'` directly from a local program (Python subprocess) in the same run,
# sequentially and from 32 threads. The daemon runs pinned to core 1; the load generator and
# the baseline's spawns to core 0. Prints per-round figures, medians over rounds, and ratios
# (toolboxd / direct spawn) computed inside each round.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TOOLBOXD_BIN:-target/release/toolboxd}
ROUNDS=${ROUNDS:-3}
SEQ=${SEQ:-300}
CONC_TOTAL=${CONC_TOTAL:-1600}
[ -x "$BIN" ] || { echo "no toolboxd binary at $BIN (build with cargo build --release)"; exit 1; }
command -v taskset >/dev/null || { apt-get install -y util-linux >/dev/null; }
command -v python3 >/dev/null || { apt-get install -y python3 >/dev/null; }
CORES=$(nproc)
SERVER_CPU=1; LOAD_CPU=0
[ "$CORES" -ge 2 ] || { SERVER_CPU=0; LOAD_CPU=0; }

WORK=$(mktemp -d); DATA=$(mktemp -d)
OUT=$(mktemp)
taskset -c "$SERVER_CPU" "$BIN" --port 0 --bind 127.0.0.1 --log-level error \
  --work-dir "$WORK" --data-dir "$DATA" >"$OUT" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK" "$DATA" "$OUT"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$OUT" && break; sleep 0.05; done
ADDR=$(sed -n 's/^listening on //p' "$OUT")

taskset -c "$LOAD_CPU" python3 - "$ADDR" "$ROUNDS" "$SEQ" "$CONC_TOTAL" "$SERVER_CPU" <<'PY'
import http.client, json, os, statistics, subprocess, sys, threading, time
from concurrent.futures import ThreadPoolExecutor

addr, rounds, seq_n, conc_total, server_cpu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
host, port = addr.rsplit(":", 1)
BODY = json.dumps({"command": "echo hi"})
local = threading.local()

def via_daemon():
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = local.conn = http.client.HTTPConnection(host, int(port))
    t = time.perf_counter()
    conn.request("POST", "/process/execute", BODY, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    elapsed = time.perf_counter() - t
    assert resp.status == 200 and json.loads(data)["result"] == "hi\n", data
    return elapsed

def direct():
    # The work the daemon does, minus HTTP: spawn the shell and collect its output.
    t = time.perf_counter()
    out = subprocess.run(["sh", "-c", "echo hi"], capture_output=True).stdout
    elapsed = time.perf_counter() - t
    assert out == b"hi\n"
    return elapsed

def pct(samples, q):
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000

def sequential(fn, n):
    for _ in range(10):
        fn()
    return [fn() for _ in range(n)]

def concurrent(fn, n, workers=32):
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: fn(), range(workers * 2)))
        t = time.perf_counter()
        samples = list(pool.map(lambda _: fn(), range(n)))
        wall = time.perf_counter() - t
    return samples, n / wall

def direct_shell(shell):
    def run():
        t = time.perf_counter()
        out = subprocess.run([shell], input=b"echo hi\n", capture_output=True).stdout
        assert out == b"hi\n"
        return time.perf_counter() - t
    return run

rows = []
for r in range(rounds):
    d_seq = sequential(via_daemon, seq_n)
    b_seq = sequential(direct, seq_n)
    d_con, d_rate = concurrent(via_daemon, conc_total)
    b_con, b_rate = concurrent(direct, conc_total)
    row = {
        "seq_p50": (pct(d_seq, .5), pct(b_seq, .5)),
        "seq_p99": (pct(d_seq, .99), pct(b_seq, .99)),
        "c32_p50": (pct(d_con, .5), pct(b_con, .5)),
        "c32_p99": (pct(d_con, .99), pct(b_con, .99)),
        "c32_rate": (d_rate, b_rate),
    }
    rows.append(row)
    print(f"round {r + 1}: " + ", ".join(f"{k} {v[0]:.2f}/{v[1]:.2f}" for k, v in row.items()))

print()
print(f"{'metric':<10} {'toolboxd':>10} {'direct sh':>10} {'ratio':>7}   (ms; c32_rate in req/s; medians of {rounds} rounds)")
for key in rows[0]:
    ours = statistics.median(r[key][0] for r in rows)
    base = statistics.median(r[key][1] for r in rows)
    ratio = statistics.median(r[key][0] / r[key][1] for r in rows)
    print(f"{key:<10} {ours:>10.2f} {base:>10.2f} {ratio:>7.2f}")

# Context, not the baseline: the daemon runs the contract's preferred shell (bash here when zsh
# is absent), which starts slower than sh; this is that shell spawned directly, script on stdin.
shells = [l.strip() for l in open("/etc/shells") if l.strip() and not l.startswith("#")]
daemon_shell = next((s for s in ["/usr/bin/zsh", "/bin/zsh", "/usr/bin/bash", "/bin/bash"] if s in shells), "sh")
print(f"context: {daemon_shell} spawned directly, script on stdin, sequential p50 "
      f"{pct(sequential(direct_shell(daemon_shell), seq_n), .5):.2f} ms")
PY
