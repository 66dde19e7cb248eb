#!/usr/bin/env bash
# Builds the release binary as one static executable and checks that it is one: `file` says
# "statically linked", `ldd` finds no dynamic section, and it starts in an empty directory.
# Prints its path and size.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-linux-gnu
# The flags go through RUSTFLAGS with an explicit --target so that proc-macros and build scripts
# (built for the host) stay dynamic; only the daemon itself is linked statically. The static
# relocation model gives a classic static executable rather than a static-pie one, which some
# loaders and tools (ldd, older `file`) treat as dynamic.
#
# The linker script (scripts/startup-order.ld, made by scripts/startup-order.sh) puts the code
# that runs at start-up and on the commonest requests together at the front of .text: the
# daemon then maps a few hundred pages of code instead of pages spread over all 23 MiB of it,
# which is most of its resident memory and much of its start-up time. It is passed to the
# final link only (`cargo rustc`), so the dependencies' builds are shared with `cargo build`.
bin=target/$TARGET/release/toolboxd
# Cargo does not know the script is an input of the link: a newer script forces a relink.
if [ -e "$bin" ] && [ scripts/startup-order.ld -nt "$bin" ]; then touch src/main.rs; fi
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
  cargo rustc --locked --release --target "$TARGET" --bin toolboxd \
  -- -C link-arg=-Wl,-T,"$PWD/scripts/startup-order.ld"

kind=$(file "$bin")
echo "$kind"
grep -q "statically linked" <<<"$kind"
readelf -SW "$bin" | grep -q " .text.startup_first " || { echo "the start-up code section is missing from $bin" >&2; exit 1; }
if ldd_out=$(ldd "$bin" 2>&1) && ! grep -q "statically linked" <<<"$ldd_out"; then
  echo "ldd still sees dynamic dependencies in $bin: $ldd_out" >&2
  exit 1
fi

empty=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$empty"' EXIT
cp "$bin" "$empty/toolboxd"
(cd "$empty" && exec env -i HOME="$empty" ./toolboxd --port 0 --bind 127.0.0.1 --log-level error >"$empty/out" 2>&1) &
pid=$!  # the daemon itself: the subshell execs it, so the trap stops it
for _ in $(seq 100); do grep -q "listening on" "$empty/out" 2>/dev/null && break; sleep 0.05; done
addr=$(sed -n 's/^listening on //p' "$empty/out")
curl -fsS "http://$addr/version" | grep -q '"version"'
echo "static binary: $bin ($(stat -c %s "$bin") bytes) starts in an empty directory"
