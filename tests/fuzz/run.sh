#!/usr/bin/env bash
# Bounded schema fuzz: schemathesis against the daemon's own /openapi.json, about 20 examples
# per operation (FUZZ_EXAMPLES), failing on any server error, undocumented status or response
# that breaks the schema (tests/fuzz/schemathesis.toml).
#
# The fuzzer sends whatever the schema allows (absolute paths, commands, git URLs) to a daemon
# running as whoever runs the tests, so daemon and fuzzer run in private namespaces:
# - mount: every file system is read-only except a fresh tmpfs on /tmp, which holds the work
#   dir, the data dir and $HOME (git's global config, credentials);
# - network: only a loopback interface, so the preview proxy reaches nothing but closed ports
#   and commands reach no other service on the machine;
# - PID: commands see and can signal only the daemon's own tree, and the whole namespace dies
#   with this script.
# Excluded operations: none need to be; long-lived things (sessions, terminals, interpreters,
# language servers) die with the namespace.
#
#     TOOLBOXD_BIN=target/debug/toolboxd SCHEMATHESIS=.tools/fuzz/bin/schemathesis bash tests/fuzz/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${TOOLBOXD_BIN:?path of the toolboxd binary}" "${SCHEMATHESIS:?path of the schemathesis command}"
TOOLBOXD_BIN=$(realpath "$TOOLBOXD_BIN")
SCHEMATHESIS=$(realpath -s "$SCHEMATHESIS")
export TOOLBOXD_BIN SCHEMATHESIS

if [ "${1:-}" != --inside ]; then
  if ! unshare --mount --net --pid --fork true 2>/dev/null; then
    echo "SKIPPED: schema fuzz: cannot create mount/network/PID namespaces here (needs root or user namespaces)"
    exit 0
  fi
  exec unshare --mount --propagation private --net --pid --fork --kill-child --mount-proc \
    bash "$here/run.sh" --inside
fi

ip link set lo up
# Read-only everything (mount points are field 5 of mountinfo), then a private writable /tmp.
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r point; do
  case "$point" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
  mount -o remount,bind,ro "$point" 2>/dev/null || true
done
mount -t tmpfs -o size=1g,mode=1777 fuzz /tmp
scratch=/tmp/fuzz
mkdir -p "$scratch/work" "$scratch/data" "$scratch/home"
if touch "$here/.write-probe" 2>/dev/null; then
  rm -f "$here/.write-probe"
  echo "schema fuzz: the file system did not become read-only; refusing to fuzz" >&2
  exit 1
fi

cd "$scratch"
HOME=$scratch/home "$TOOLBOXD_BIN" --port 0 --bind 127.0.0.1 --work-dir "$scratch/work" \
  --data-dir "$scratch/data" --log-level warn >"$scratch/stdout" 2>"$scratch/daemon.log" &
daemon=$!
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$scratch/stdout" 2>/dev/null && break
  sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$scratch/stdout")
[ -n "$addr" ] || { echo "schema fuzz: the daemon did not start" >&2; cat "$scratch/daemon.log" >&2; exit 1; }

status=0
HOME=$scratch/home "$SCHEMATHESIS" --no-color --config-file "$here/schemathesis.toml" run \
  "http://$addr/openapi.json" --max-examples "${FUZZ_EXAMPLES:-20}" --phases examples,coverage,fuzzing \
  --workers 2 --request-timeout 30 --seed "${FUZZ_SEED:-1}" || status=$?
if ! kill -0 "$daemon" 2>/dev/null; then
  echo "schema fuzz: the daemon died during the run" >&2
  status=1
fi
if grep -q 'panicked' "$scratch/daemon.log"; then
  echo "schema fuzz: the daemon logged a panic:" >&2
  grep -m5 'panicked' "$scratch/daemon.log" >&2
  status=1
fi
exit "$status"
