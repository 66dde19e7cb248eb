#!/usr/bin/env bash
# The benchmark command: installs the peers, builds the release binaries and runs
# benches/bench.py, which writes BENCHMARKS.md (arguments are passed on, e.g. `--quick` or the
# names of workloads; see `python3 benches/bench.py --help`). Not part of the test command.
#
# Peers: nginx, webhook, websocketd, ripgrep, wrk (Debian); OpenSSH's sshd and scp; Xvfb,
# ImageMagick, xwd and xdotool for computer use; Jupyter Server (PyPI, into .tools/bench/venv);
# dufs (crates.io, into .tools/bench, left out when it does not build).
set -euo pipefail
cd "$(dirname "$0")/.."

APT=(nginx webhook websocketd ripgrep wrk curl openssh-server openssh-client
     xvfb imagemagick x11-apps x11-utils xdotool util-linux python3)
missing=()
for pkg in "${APT[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  # Debian's package scripts must not start system services (nginx on :80, sshd on :22).
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
  rm -f /usr/sbin/policy-rc.d
fi

if ! command -v dufs >/dev/null && [ ! -x .tools/bench/bin/dufs ]; then
  echo "building dufs (cargo install --locked dufs, a few minutes)"
  cargo install --locked --quiet dufs --root .tools/bench ||
    echo "dufs did not build: its rows are left out"
fi

# A venv made under another path (a worktree) has scripts naming that path: rebuild it.
if ! .tools/bench/venv/bin/jupyter-server --version >/dev/null 2>&1; then
  echo "installing Jupyter Server into .tools/bench/venv"
  rm -rf .tools/bench/venv
  /usr/bin/python3 -m venv .tools/bench/venv
  .tools/bench/venv/bin/pip install -q jupyter_server jupyter_server_terminals
fi

# What is measured is what ships: the static daemon (the same build as CI's and the
# Dockerfile's), and the desktop helper, which links X libraries and so stays dynamic.
bash scripts/build-static.sh
cargo build --locked --release -p toolboxd-desktop

# The driver itself runs on the client core; it pins every server to the other.
exec taskset -c 0 /usr/bin/python3 benches/bench.py "$@"
