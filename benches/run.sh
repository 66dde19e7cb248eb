#!/usr/bin/env bash
# Runs the benchmarks named on the command line (default: all of benches/*.sh but this one).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --release
export TOOLBOXD_BIN=$PWD/target/release/toolboxd
if [ $# -eq 0 ]; then
  set -- $(ls benches/*.sh | xargs -n1 basename | sed 's/\.sh$//' | grep -v '^run$')
fi
for name in "$@"; do
  echo "== $name"
  bash "benches/$name.sh"
done
