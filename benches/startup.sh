#!/usr/bin/env bash
# Startup cost of the daemon: time from exec to the `listening on` line (median of 15 runs) and
# resident memory once idle, against Python's http.server started and measured the same way in
# the same run (a minimal HTTP server every sandbox image has).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TOOLBOXD_BIN:-target/release/toolboxd}
RUNS=${RUNS:-15}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Prints "<ms to ready> <idle RSS KiB>" for a server command that prints READY_PATTERN when ready.
measure() {
  local pattern=$1; shift
  local out=$work/out
  : >"$out"
  local start end pid
  start=$(date +%s%N)
  taskset -c 1 "$@" >"$out" 2>&1 &
  pid=$!
  until grep -q "$pattern" "$out" 2>/dev/null; do sleep 0.001; done
  end=$(date +%s%N)
  sleep 0.5
  local rss
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$(( (end - start) / 1000 )) $rss"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

: >"$work/toolboxd" ; : >"$work/python"
for _ in $(seq "$RUNS"); do
  measure "listening on" "$BIN" --port 0 --bind 127.0.0.1 --work-dir "$work" --data-dir "$work/data" --log-level error >>"$work/toolboxd"
  measure "Serving HTTP" python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$work" >>"$work/python"
done

t_ms=$(cut -d' ' -f1 "$work/toolboxd" | median); t_rss=$(cut -d' ' -f2 "$work/toolboxd" | median)
p_ms=$(cut -d' ' -f1 "$work/python" | median); p_rss=$(cut -d' ' -f2 "$work/python" | median)
printf 'binary size:            %s bytes (%s)\n' "$(stat -c %s "$BIN")" "$BIN"
printf 'exec -> listening (us):  toolboxd %s, python http.server %s, ratio %.2f\n' "$t_ms" "$p_ms" "$(awk "BEGIN {print $t_ms / $p_ms}")"
printf 'idle RSS (KiB):          toolboxd %s, python http.server %s, ratio %.2f\n' "$t_rss" "$p_rss" "$(awk "BEGIN {print $t_rss / $p_rss}")"
