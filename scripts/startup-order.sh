#!/usr/bin/env bash
# Regenerates scripts/startup-order.ld, the linker script that puts the code the daemon runs
# at start-up, then the code of its commonest requests, together at the front of the text
# segment (see scripts/build-static.sh). Run it after changes that move much start-up or
# request work; a stale list costs only memory and start-up time, never correctness.
#
# It links the static daemon unstripped (or takes the unstripped binary given as $1) and runs
# it twice under valgrind's callgrind: once through start-up and `GET /version`, once through
# the requests that the benchmark's memory rows exercise (listings, small and bulk transfers,
# exec, opening a terminal). The functions of the first run come first, those only the second run
# saw after them, by exact symbol name (ThinLTO's `.llvm.<n>` suffix, which changes from build
# to build, becomes a wildcard). Rust code and the C libraries built by the cc crate have a
# section per function; glibc's archive does not, so its functions stay where they are.
# Needs valgrind and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-linux-gnu
out=${STARTUP_ORDER_OUT:-scripts/startup-order.ld}
bin=${1:-}
if [ -z "$bin" ]; then
  RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
    cargo rustc --locked --release --target "$TARGET" --bin toolboxd -- -C strip=none
  bin=target/$TARGET/release/toolboxd
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$bin" "$tmp" "$out" <<'EOF'
import os, re, signal, socket, subprocess, sys, time
sys.path.insert(0, "benches")
from bench import Client, Ws

binary, tmp, out = sys.argv[1:4]


def run(phase, requests):
    work, data = os.path.join(tmp, phase, "work"), os.path.join(tmp, phase, "data")
    os.makedirs(work)
    with open(os.path.join(work, "file.txt"), "w") as f:
        f.write("hello\n")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    profile = os.path.join(tmp, f"{phase}.callgrind")
    daemon = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={profile}", binary,
         "--port", str(port), "--bind", "127.0.0.1", "--work-dir", work, "--data-dir", data,
         "--log-level", "error", "--ssh-port", "0", "--web-terminal-port", "0", "--recordings-port", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                client = Client(port)
                client.call("GET", "/version")
                break
            except (OSError, RuntimeError):
                if time.time() > deadline or daemon.poll() is not None:
                    raise SystemExit(f"the daemon did not answer under valgrind ({phase})")
                time.sleep(0.2)
        requests(client, port, work)
        # SIGINT lets the daemon shut down, and callgrind write its profile.
        daemon.send_signal(signal.SIGINT)
        daemon.wait(timeout=120)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    names = []
    for line in open(profile, errors="replace"):
        m = re.match(r"c?fn=\(\d+\) (\S+)$", line.rstrip("\n"))
        # Addresses without a symbol and valgrind's own entries have nothing to place.
        if not m or m.group(1).startswith(("0x", "(")):
            continue
        # `'2` marks a recursion level.
        name = re.sub(r"'\d+$", "", m.group(1))
        names.append(re.sub(r"\.llvm\.\d+$", ".llvm.*", name))
    return names


def idle(client, port, work):
    for _ in range(3):
        client.call("GET", "/version")


def common(client, port, work):
    multipart = {"Content-Type": "multipart/form-data; boundary=B"}
    for i in range(3):
        client.call("GET", "/version")
        client.call("GET", f"/files?path={work}")
        client.call("GET", f"/files/info?path={work}/file.txt")
        client.call("GET", f"/files/download?path={work}/file.txt")
        client.call("POST", f"/files/upload?path={work}/up{i}.txt",
                    b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"up.txt\"\r\n\r\n"
                    b"hello\r\n--B--\r\n", multipart)
        client.call("POST", "/files/bulk-upload",
                    b"--B\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\n"
                    + f"{work}/bulk{i}.bin".encode()
                    + b"\r\n--B\r\nContent-Disposition: form-data; name=\"files[0].file\"; filename=\"b\"\r\n"
                    b"Content-Type: application/octet-stream\r\n\r\n" + os.urandom(1 << 20) + b"\r\n--B--\r\n",
                    multipart)
        client.call("POST", "/files/bulk-download", f'{{"paths":["{work}/bulk{i}.bin"]}}',
                    {"Content-Type": "application/json"})
        client.json("POST", "/process/execute", {"command": "echo hi"})
        # A terminal's websocket (valgrind has no pidfd_open, and the shell then never answers,
        # so only the connection and its teardown are exercised).
        Ws(port, f"/process/pty/create-connect?id=order{i}", "X-Daytona-Pty-Exit-Control").close()
        client.call("DELETE", f"/process/pty/order{i}")


first = run("idle", idle)
seen, names = set(), []
for name in first + run("common", common):
    if name not in seen:
        seen.add(name)
        names.append(name)
with open(out, "w") as f:
    f.write("/* Generated by scripts/startup-order.sh: the functions run at start-up, then those of\n"
            "   the commonest requests, placed together before the rest of .text. */\n")
    f.write("SECTIONS\n{\n  .text.startup_first :\n  {\n")
    for name in names:
        # `#[cold]` functions are in `.text.unlikely.<name>`.
        f.write(f"    *(.text.{name} .text.unlikely.{name})\n")
    f.write("  }\n}\nINSERT BEFORE .text;\n")
print(f"{out}: {len(set(first))} start-up functions, {len(names)} in all")
EOF
