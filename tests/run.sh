#!/usr/bin/env bash
# Runs every test of toolboxd. Installs what the tests need first (Debian packages, a Python venv
# with the official clients and pylsp, node language servers), so it works on a fresh machine:
#
#     bash tests/run.sh            # everything
#     bash tests/run.sh --rust     # only the Rust tests
#     bash tests/run.sh --python   # only the Python (official client) suite
#     bash tests/run.sh --fuzz     # only the schema fuzz (tests/fuzz/run.sh)
#     bash tests/run.sh --deps     # only install what the build and the tests need
#
# Both test tiers run: the fast one (plain `cargo test`: unit and in-process router tests) and
# the slow one (`--features slow-tests`: the real binary, language servers, GiB transfers, and
# the official clients). Skipped tests are listed and counted at the end.
#
# Every set-up step checks that what it made earlier is whole (a venv with its pip, a marker
# written only after a complete install), so a run interrupted during set-up is repaired by the
# next one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
what=${1:-all}

# Debian packages the tests drive for real, installed with one apt run.
APT_PACKAGES=(git curl procps util-linux file iproute2)
# The desktop helper's build (`cargo build --workspace`): xcap links libxcb, wayland, pipewire,
# dbus and gbm, and bindgen needs clang.
APT_PACKAGES+=(pkg-config libwayland-dev libxcb1-dev libxcb-randr0-dev libdbus-1-dev libpipewire-0.3-dev
  libgbm-dev libegl-dev libclang-dev clang)
# Computer use against a real X server (tests/python/test_computer_use.py, test_desktop_stack.py,
# the MCP desktop tools): Xvfb, openbox as a light window manager, xterm and xdotool to act and
# check, x11-utils (xwininfo, xev, xdpyinfo), and the contract's stack: the xfce4 session (about
# 40 MB, under two minutes to install), x11vnc and noVNC.
APT_PACKAGES+=(xvfb openbox xterm xdotool x11-utils xfce4 xfce4-session dbus-x11 x11vnc novnc websockify)
# Accessibility (tests/python/test_accessibility.py): a session bus, the AT-SPI bus launcher and
# registry, and a GTK dialog (zenity) whose toolkit bridge speaks AT-SPI.
APT_PACKAGES+=(dbus-daemon at-spi2-core libatk-adaptor zenity)
if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if ((${#missing[@]})); then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# A venv at $1 with the packages of requirements file $2, reused while unchanged. A venv without
# a working python or pip (creation interrupted) is made again; the marker is written last.
ensure_venv() {
  local venv=$1 requirements=$2 want
  # Running pip (a script) also catches a venv that was moved: its scripts' #! lines name the
  # old path.
  if ! { "$venv/bin/python" -c '' 2>/dev/null && "$venv/bin/pip" --version >/dev/null 2>&1; }; then
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ "$(cat "$venv/.requirements.sha" 2>/dev/null)" != "$want" ]; then
    rm -f "$venv/.requirements.sha"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    echo "$want" > "$venv/.requirements.sha"
  fi
}

# A Python venv with the official clients (tests/python/requirements.txt).
VENV=$ROOT/.venv
ensure_venv "$VENV" tests/python/requirements.txt
# The schema fuzzer in a venv of its own, so its pins never move the clients'.
FUZZ_VENV=$ROOT/.tools/fuzz
ensure_venv "$FUZZ_VENV" tests/fuzz/requirements.txt

# Node tools (typescript-language-server for /lsp, ts-node for code-run).
NODE_TOOLS=$ROOT/.tools/node
NPM_PACKAGES=(typescript-language-server@4 typescript@5 ts-node@10)
want=$(printf '%s\n' "${NPM_PACKAGES[@]}" | sha256sum | cut -d' ' -f1)
# A missing executable means an interrupted install: start that folder over.
for tool in typescript-language-server tsc ts-node; do
  [ -x "$NODE_TOOLS/node_modules/.bin/$tool" ] || rm -f "$NODE_TOOLS/.packages.sha"
done
if command -v npm >/dev/null 2>&1 && [ "$(cat "$NODE_TOOLS/.packages.sha" 2>/dev/null)" != "$want" ]; then
  rm -rf "$NODE_TOOLS"
  mkdir -p "$NODE_TOOLS"
  npm install --silent --no-audit --no-fund --prefix "$NODE_TOOLS" "${NPM_PACKAGES[@]}" >/dev/null
  echo "$want" > "$NODE_TOOLS/.packages.sha"
fi

# Remote shells (tests/ssh.rs, tests/web_terminal.rs): OpenSSH's clients, sshpass and tmux
# drive the SSH server; headless Chromium drives the web terminal's xterm.js page through
# playwright-core (kept apart in .tools/playwright).
SHELL_APT=(openssh-client sshpass tmux chromium libjs-xterm node-xterm)
if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for pkg in "${SHELL_APT[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if ((${#missing[@]})); then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
# Screen recordings (tests/python/test_recording.py, tests/recordings_page.rs): ffmpeg records
# an Xvfb display whose colour xsetroot changes; ffprobe checks the MP4.
RECORDING_APT=(ffmpeg xvfb x11-xserver-utils)
if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for pkg in "${RECORDING_APT[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if ((${#missing[@]})); then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
if command -v npm >/dev/null 2>&1 && [ ! -d "$ROOT/.tools/playwright/node_modules/playwright-core" ]; then
  mkdir -p "$ROOT/.tools/playwright"
  npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools/playwright" playwright-core@1 >/dev/null
fi

[ "$what" = --deps ] && exit 0

# The daemon finds python3 (with matplotlib), pylsp and the node tools on this PATH.
export PATH="$VENV/bin:$NODE_TOOLS/node_modules/.bin:$PATH"

# Every skipped test writes a "SKIPPED <test>: <reason>" line here (tests/common `skip`, and
# pytest's -rs summary below); the list and its count are printed however the run ends.
SKIP_LOG=$(mktemp)
export TOOLBOXD_SKIP_LOG=$SKIP_LOG
report_skips() {
  echo "SKIPPED: $(grep -c . "$SKIP_LOG" || true) test(s)"
  sed 's/^/  /' "$SKIP_LOG"
  rm -f "$SKIP_LOG"
}
trap report_skips EXIT

# Both binaries (the daemon and its desktop helper) and every test target, built once. Every cargo
# call below names --workspace too: with fewer packages selected, cargo unifies dependency
# features differently and would compile much of the tree a second time.
cargo build --locked --workspace --all-targets --features slow-tests
if [ "$what" = all ] || [ "$what" = --rust ]; then
  cargo test --locked --workspace --no-fail-fast --features slow-tests
  # How much of the 107-operation contract is served (the contract test computes and prints it).
  TOOLBOXD_SKIP_LOG=/dev/null cargo test --locked --quiet --workspace --features slow-tests --test contract openapi_document \
    -- --nocapture 2>/dev/null | grep -E '^(implemented|not yet served|extensions)' || true
fi
if [ "$what" = all ] || [ "$what" = --python ]; then
  py_log=$(mktemp)
  py_status=0
  TOOLBOXD_BIN=$ROOT/target/debug/toolboxd "$VENV/bin/python" -m pytest tests/python -q -rs \
    | tee "$py_log" || py_status=$?
  grep '^SKIPPED' "$py_log" >> "$SKIP_LOG" || true
  rm -f "$py_log"
  [ "$py_status" = 0 ] || exit "$py_status"
fi
if [ "$what" = all ] || [ "$what" = --fuzz ]; then
  TOOLBOXD_BIN=$ROOT/target/debug/toolboxd SCHEMATHESIS=$FUZZ_VENV/bin/schemathesis bash tests/fuzz/run.sh
fi
