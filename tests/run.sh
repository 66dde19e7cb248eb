#!/usr/bin/env bash
# Runs every test of toolboxd. Installs what the tests need first (Debian packages, a Python venv
# with the official clients and pylsp, node language servers), so it works on a fresh machine:
#
#     bash tests/run.sh            # everything
#     bash tests/run.sh --rust     # only the Rust tests
#     bash tests/run.sh --python   # only the Python (official client) suite
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
what=${1:-all}

# Debian packages the tests drive for real.
APT_PACKAGES=(git curl procps util-linux file)
# The desktop stack's programs (tests/python/test_desktop_stack.py): Xvfb, the contract's xfce4
# session (about 40 MB, under two minutes to install), x11vnc, noVNC; xdpyinfo checks the display.
APT_PACKAGES+=(xvfb xfce4 xfce4-session dbus-x11 x11vnc novnc websockify x11-utils)
if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if ((${#missing[@]})); then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# A Python venv with the official clients (tests/python/requirements.txt), reused while unchanged.
VENV=$ROOT/.venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
want=$(sha256sum tests/python/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements.sha" 2>/dev/null)" != "$want" ]; then
  "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/python/requirements.txt
  echo "$want" > "$VENV/.requirements.sha"
fi

# Node tools (typescript-language-server for /lsp, ts-node for code-run).
NODE_TOOLS=$ROOT/.tools/node
NPM_PACKAGES=(typescript-language-server@4 typescript@5 ts-node@10)
want=$(printf '%s\n' "${NPM_PACKAGES[@]}" | sha256sum | cut -d' ' -f1)
if command -v npm >/dev/null 2>&1 && [ "$(cat "$NODE_TOOLS/.packages.sha" 2>/dev/null)" != "$want" ]; then
  mkdir -p "$NODE_TOOLS"
  npm install --silent --no-audit --no-fund --prefix "$NODE_TOOLS" "${NPM_PACKAGES[@]}" >/dev/null
  echo "$want" > "$NODE_TOOLS/.packages.sha"
fi

# The daemon finds python3 (with matplotlib), pylsp and the node tools on this PATH.
export PATH="$VENV/bin:$NODE_TOOLS/node_modules/.bin:$PATH"

cargo build --locked --all-targets
if [ "$what" = all ] || [ "$what" = --rust ]; then
  cargo test --locked --no-fail-fast
  # How much of the 107-operation contract is served (the contract test computes and prints it).
  cargo test --locked --quiet --test contract openapi_document -- --nocapture 2>/dev/null \
    | grep -E '^(implemented|not yet served|extensions)' || true
fi
if [ "$what" = all ] || [ "$what" = --python ]; then
  TOOLBOXD_BIN=$ROOT/target/debug/toolboxd "$VENV/bin/python" -m pytest tests/python -q -rs
fi
