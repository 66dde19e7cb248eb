#!/usr/bin/env bash
# Terminal keystroke round trip: one byte sent to `cat` running in a raw-mode PTY, until its
# echo comes back, p50/p99 over many keystrokes. Through toolboxd (`create-connect` websocket,
# binary frames) against, in the same run, websocketd 0.4 + util-linux `script` (the Debian
# stand-in for ttyd: websocket -> pipe -> script's PTY -> cat) and a direct local PTY round
# trip without any network hop (the floor).
#
# Servers (toolboxd, websocketd and what they start) are pinned to core 1, the client to core 0.
# One minimal websocket client (stdlib Python, the same code for both servers) drives every
# peer; its own overhead is in every figure, so the ratios are the comparison to read.
# Prints per-round figures, then medians of the rounds and of the in-round ratios.
#
# Env: TOOLBOXD_BIN (default target/release/toolboxd), ROUNDS (3), KEYS (keystrokes, 2000).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${TOOLBOXD_BIN:-target/release/toolboxd}
ROUNDS=${ROUNDS:-3}
KEYS=${KEYS:-2000}
SERVER_CPU=1
LOAD_CPU=0
[ -x "$BIN" ] || { echo "no toolboxd binary at $BIN (cargo build --release)" >&2; exit 1; }
if ! command -v websocketd >/dev/null 2>&1; then
  apt-get install -y websocketd >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y websocketd >/dev/null; }
fi

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cat >"$TMP/client.py" <<'EOF'
"""Keystroke round trips over a websocket (toolboxd, websocketd) or a local PTY."""
import base64, os, pty, socket, statistics, struct, subprocess, sys, time, tty

READY = b"READY"
SETUP = b"stty raw -echo; echo REA''DY; exec cat\n"


class Ws:
    def __init__(self, port, path, protocols=None):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        head = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
        if protocols:
            head += f"Sec-WebSocket-Protocol: {protocols}\r\n"
        self.s.sendall((head + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self.s.recv(4096)
        status, self.buf = buf.split(b"\r\n\r\n", 1)
        assert b" 101 " in status.split(b"\r\n")[0], status

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """Payload of the next data frame (control frames are skipped)."""
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
        self.s.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def ws_round_trips(port, path, protocols, keys):
    ws = Ws(port, path, protocols)
    ws.send(SETUP)
    seen = b""
    while READY not in seen:
        seen += ws.recv()
    time.sleep(0.2)
    return measure(lambda b: ws.send(b), ws.recv, keys)


def local_round_trips(keys):
    master, slave = pty.openpty()
    tty.setraw(slave)
    child = subprocess.Popen(["cat"], stdin=slave, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    try:
        return measure(lambda b: os.write(master, b), lambda: os.read(master, 65536), keys)
    finally:
        child.kill()


def measure(send, recv, keys):
    times = []
    for i in range(keys + 100):
        key = bytes([97 + i % 26])
        start = time.perf_counter_ns()
        send(key)
        got = b""
        while key not in got:
            got += recv()
        if i >= 100:  # warm-up
            times.append((time.perf_counter_ns() - start) / 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)]


mode, keys = sys.argv[1], int(sys.argv[2])
if mode == "local":
    p50, p99 = local_round_trips(keys)
else:
    port, path = int(sys.argv[3]), sys.argv[4]
    protocols = sys.argv[5] if len(sys.argv) > 5 else None
    p50, p99 = ws_round_trips(port, path, protocols, keys)
print(f"{p50:.1f} {p99:.1f}")
EOF

TB_PORT=$(free_port)
mkdir -p "$TMP/work" "$TMP/data"
mkdir -p "$TMP/home"
# An empty HOME: the terminal runs a login shell, which must not depend on the host's dotfiles.
HOME="$TMP/home" taskset -c $SERVER_CPU "$BIN" --port "$TB_PORT" --bind 127.0.0.1 --work-dir "$TMP/work" --data-dir "$TMP/data" \
  --log-level error >/dev/null 2>&1 &
PIDS+=($!)
WD_PORT=$(free_port)
taskset -c $SERVER_CPU websocketd --port="$WD_PORT" --address=127.0.0.1 --binary=true --loglevel=error \
  script -qfc "bash --norc -i" /dev/null >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  curl -fso /dev/null "http://127.0.0.1:$TB_PORT/version" 2>/dev/null && break
  sleep 0.1
done
sleep 0.3

client() { taskset -c $LOAD_CPU python3 "$TMP/client.py" "$@"; }
median() { python3 -c 'import statistics,sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.2f}")' "$@"; }

declare -a T50 T99 W50 W99 L50 L99 RW RL
printf '%-6s %-22s %-22s %-22s %-10s %-10s\n' round "toolboxd p50/p99 us" "websocketd p50/p99 us" "local pty p50/p99 us" "tb/wsd" "tb/local"
for round in $(seq "$ROUNDS"); do
  read -r t50 t99 < <(client ws "$KEYS" "$TB_PORT" "/process/pty/create-connect?id=bench$round" "X-Daytona-Pty-Exit-Control")
  read -r w50 w99 < <(client ws "$KEYS" "$WD_PORT" "/")
  read -r l50 l99 < <(client local "$KEYS")
  curl -fso /dev/null -X DELETE "http://127.0.0.1:$TB_PORT/process/pty/bench$round" || true
  rw=$(python3 -c "print(f'{$t50/$w50:.2f}')")
  rl=$(python3 -c "print(f'{$t50/$l50:.2f}')")
  T50+=("$t50"); T99+=("$t99"); W50+=("$w50"); W99+=("$w99"); L50+=("$l50"); L99+=("$l99"); RW+=("$rw"); RL+=("$rl")
  printf '%-6s %-22s %-22s %-22s %-10s %-10s\n' "$round" "$t50 / $t99" "$w50 / $w99" "$l50 / $l99" "$rw" "$rl"
done
echo
echo "median of $ROUNDS rounds ($KEYS keystrokes each):"
echo "  toolboxd   p50 $(median "${T50[@]}") us  p99 $(median "${T99[@]}") us"
echo "  websocketd p50 $(median "${W50[@]}") us  p99 $(median "${W99[@]}") us"
echo "  local pty  p50 $(median "${L50[@]}") us  p99 $(median "${L99[@]}") us"
echo "  p50 ratio toolboxd/websocketd $(median "${RW[@]}")   toolboxd/local-pty $(median "${RL[@]}")"
