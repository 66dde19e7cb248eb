#!/usr/bin/env bash
# Filesystem benchmark: what the SDK's hot path costs, against local baselines in the same run.
#  1. 1 GiB upload through POST /files/bulk-upload (curl -F, streamed) vs `cp` of the same file
#     on the same disk, and 1 GiB download through POST /files/bulk-download (curl to /dev/null)
#     vs `cat` of the same file to /dev/null. Reports MB/s and the ratio to the baseline.
#  2. The daemon's peak RSS growth during those transfers (VmRSS sampled every 10 ms from
#     /proc; the goal is < 32 MiB: nothing is buffered whole).
#     When nginx is installed (apt-get install nginx), the same transfers against it as a peer
#     server: WebDAV PUT upload and sendfile GET download, nginx pinned like the daemon.
#  3. GET /files/find over a tree of ~100k lines vs `rg -n -F` on the same tree (ratio of
#     medians; the goal is within 1.5x; the daemon's time includes HTTP and JSON).
# Server pinned to core 1, load and baselines to core 0; medians of $ROUNDS rounds (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${TOOLBOXD_BIN:-target/release/toolboxd}
ROUNDS=${ROUNDS:-3}
SIZE_MIB=${SIZE_MIB:-1024}
[ -x "$BIN" ] || { echo "no binary at $BIN (cargo build --release)"; exit 1; }
command -v rg >/dev/null || { apt-get install -y -qq ripgrep >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq ripgrep >/dev/null); }
command -v curl >/dev/null || apt-get install -y -qq curl >/dev/null

WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/toolboxd-fs-bench.XXXXXX")
DAEMON_PID=""
SAMPLER_PID=""
NGINX_PID=""
cleanup() {
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
  [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mbps() { awk -v s="$SIZE_MIB" -v t="$1" 'BEGIN {printf "%.0f", s*1.048576/t}'; }

echo "preparing a ${SIZE_MIB} MiB file and a ~100k-line tree in $WORK"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/src.bin"
python3 - "$WORK/tree" <<'EOF'
import os, random, sys
root = sys.argv[1]
random.seed(7)
words = ["alpha", "beta", "gamma", "delta", "omega", "lambda", "kappa", "sigma", "theta", "zeta"]
for d in range(40):
    os.makedirs(f"{root}/pkg{d}/sub", exist_ok=True)
    for f in range(25):
        lines = []
        for i in range(100):
            line = " ".join(random.choice(words) for _ in range(8))
            if random.random() < 0.01:
                line += " needle_marker"
            lines.append(line)
        with open(f"{root}/pkg{d}/sub/file{f}.txt", "w") as fh:
            fh.write("\n".join(lines) + "\n")
EOF
LINES=$(cat "$WORK"/tree/*/sub/*.txt | wc -l)

PORT_FILE="$WORK/port"
taskset -c 1 "$BIN" --port 0 --bind 127.0.0.1 --log-level warn --work-dir "$WORK" --data-dir "$WORK" > "$PORT_FILE" 2>/dev/null &
DAEMON_PID=$!
for _ in $(seq 100); do grep -q "listening on" "$PORT_FILE" 2>/dev/null && break; sleep 0.05; done
ADDR=$(sed -n 's/^listening on //p' "$PORT_FILE" | head -1)
URL="http://$ADDR"

NGINX_URL=""
if command -v nginx >/dev/null; then
  NPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$WORK/nginx/body"
  cat > "$WORK/nginx/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events {}
http {
  access_log off;
  sendfile on;
  client_max_body_size 0;
  client_body_temp_path $WORK/nginx/body;
  server {
    listen 127.0.0.1:$NPORT;
    root $WORK;
    location / { dav_methods PUT; create_full_put_path on; }
  }
}
EOF
  taskset -c 1 nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" 2>/dev/null &
  NGINX_PID=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$NPORT/" && break; sleep 0.05; done
  NGINX_URL="http://127.0.0.1:$NPORT"
fi

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON_PID/status"; }
RSS_BASE=$(rss_kib)
( peak=0; while kill -0 "$DAEMON_PID" 2>/dev/null; do
    r=$(awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON_PID/status" 2>/dev/null || echo 0)
    [ "${r:-0}" -gt "$peak" ] && { peak=$r; echo "$peak" > "$WORK/rss_peak"; }
    sleep 0.01
  done ) &
SAMPLER_PID=$!

up_t=(); up_base=(); down_t=(); down_base=(); up_ng=(); down_ng=()
for round in $(seq "$ROUNDS"); do
  rm -f "$WORK/up.bin" "$WORK/cp.bin"; sync
  t0=$(now); taskset -c 0 cp "$WORK/src.bin" "$WORK/cp.bin"; sync; t1=$(now)
  up_base+=("$(echo "$t1 - $t0" | bc -l)")
  t0=$(now)
  taskset -c 0 curl -sS -f -o /dev/null -F "files[0].path=up.bin" -F "files[0].file=@$WORK/src.bin;filename=up.bin" "$URL/files/bulk-upload"
  sync; t1=$(now)
  up_t+=("$(echo "$t1 - $t0" | bc -l)")
  cmp -s "$WORK/src.bin" "$WORK/up.bin" || { echo "upload round $round: content differs"; exit 1; }

  if [ -n "$NGINX_URL" ]; then
    rm -f "$WORK/ng.bin"; sync
    t0=$(now); taskset -c 0 curl -sS -f -o /dev/null -T "$WORK/src.bin" "$NGINX_URL/ng.bin"; sync; t1=$(now)
    up_ng+=("$(echo "$t1 - $t0" | bc -l)")
    t0=$(now); taskset -c 0 curl -sS -f -o /dev/null "$NGINX_URL/src.bin"; t1=$(now)
    down_ng+=("$(echo "$t1 - $t0" | bc -l)")
  fi

  t0=$(now); taskset -c 0 cat "$WORK/src.bin" > /dev/null; t1=$(now)
  down_base+=("$(echo "$t1 - $t0" | bc -l)")
  t0=$(now)
  taskset -c 0 curl -sS -f -o /dev/null -H 'Content-Type: application/json' -d '{"paths":["src.bin"]}' "$URL/files/bulk-download"
  t1=$(now)
  down_t+=("$(echo "$t1 - $t0" | bc -l)")
done
sleep 0.05
RSS_PEAK=$(cat "$WORK/rss_peak" 2>/dev/null || echo "$RSS_BASE")

find_t=(); rg_t=()
taskset -c 0 curl -sS -f -o /dev/null "$URL/files/find?path=tree&pattern=needle_marker"
MATCHES=$(taskset -c 0 curl -sS -f "$URL/files/find?path=tree&pattern=needle_marker" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
RG_MATCHES=$(cd "$WORK" && rg -n -F needle_marker tree | wc -l)
[ "$MATCHES" = "$RG_MATCHES" ] || { echo "find found $MATCHES matches, rg $RG_MATCHES"; exit 1; }
for round in $(seq $((ROUNDS * 3))); do
  t0=$(now); (cd "$WORK" && taskset -c 1 rg -n -F needle_marker tree > /dev/null); t1=$(now)
  rg_t+=("$(echo "$t1 - $t0" | bc -l)")
  t0=$(now); taskset -c 0 curl -sS -f -o /dev/null "$URL/files/find?path=tree&pattern=needle_marker"; t1=$(now)
  find_t+=("$(echo "$t1 - $t0" | bc -l)")
done

UP=$(printf '%s\n' "${up_t[@]}" | median); UPB=$(printf '%s\n' "${up_base[@]}" | median)
DOWN=$(printf '%s\n' "${down_t[@]}" | median); DOWNB=$(printf '%s\n' "${down_base[@]}" | median)
FIND=$(printf '%s\n' "${find_t[@]}" | median); RG=$(printf '%s\n' "${rg_t[@]}" | median)
GROWTH_MIB=$(awk -v p="$RSS_PEAK" -v b="$RSS_BASE" 'BEGIN {printf "%.1f", (p-b)/1024}')

echo
echo "fs benchmark ($("$BIN" --version 2>/dev/null | head -1), ${SIZE_MIB} MiB, medians of $ROUNDS rounds)"
printf '%-34s %10s %12s %8s\n' "job" "toolboxd" "baseline" "ratio"
printf '%-34s %7s MB/s %7s MB/s %7.2fx\n' "upload (bulk-upload) vs cp" "$(mbps "$UP")" "$(mbps "$UPB")" "$(echo "$UPB / $UP" | bc -l)"
printf '%-34s %7s MB/s %7s MB/s %7.2fx\n' "download (bulk-download) vs cat" "$(mbps "$DOWN")" "$(mbps "$DOWNB")" "$(echo "$DOWNB / $DOWN" | bc -l)"
printf '%-34s %8.1f ms %9.1f ms %7.2fx\n' "find ($LINES lines, $MATCHES hits) vs rg" "$(echo "$FIND * 1000" | bc -l)" "$(echo "$RG * 1000" | bc -l)" "$(echo "$FIND / $RG" | bc -l)"
if [ -n "$NGINX_URL" ]; then
  UPN=$(printf '%s\n' "${up_ng[@]}" | median); DOWNN=$(printf '%s\n' "${down_ng[@]}" | median)
  printf '%-34s %7s MB/s %7s MB/s %7.2fx\n' "upload vs nginx WebDAV PUT" "$(mbps "$UP")" "$(mbps "$UPN")" "$(echo "$UPN / $UP" | bc -l)"
  printf '%-34s %7s MB/s %7s MB/s %7.2fx\n' "download vs nginx sendfile GET" "$(mbps "$DOWN")" "$(mbps "$DOWNN")" "$(echo "$DOWNN / $DOWN" | bc -l)"
fi
echo "daemon RSS: base $((RSS_BASE / 1024)) MiB, peak $((RSS_PEAK / 1024)) MiB, growth ${GROWTH_MIB} MiB (goal < 32 MiB)"
echo "(throughput ratio = toolboxd / baseline, higher is better; find ratio = toolboxd time / rg time, lower is better)"
