#!/usr/bin/env bash
# Runs every test of toolboxd. Installs what the tests need first (Debian packages, a Python venv
# with the official clients and pylsp, node language servers), so it works on a fresh machine:
#
#     bash tests/run.sh            # everything
#     bash tests/run.sh --rust     # only the Rust tests
#     bash tests/run.sh --python   # only the Python (official client) suite
#
# Both test tiers run: the fast one (plain `cargo test`: unit and in-process router tests) and
# the slow one (`--features slow-tests`: the real binary, language servers, GiB transfers, and
# the official clients). Skipped tests are listed and counted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
what=${1:-all}

# Debian packages the tests drive for real.
APT_PACKAGES=(git curl procps util-linux file)
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

cargo build --locked --all-targets --features slow-tests
if [ "$what" = all ] || [ "$what" = --rust ]; then
  cargo test --locked --no-fail-fast --features slow-tests
  # How much of the 107-operation contract is served (the contract test computes and prints it).
  TOOLBOXD_SKIP_LOG=/dev/null cargo test --locked --quiet --features slow-tests --test contract openapi_document \
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
