#!/usr/bin/env bash
# Preview proxy: throughput and latency of `GET /proxy/{port}/…` through toolboxd, against the
# same static server reached directly, and against nginx's reverse proxy to that server, all in
# the same run.
#
# Backend: an nginx static server (1 worker). Peers: direct to the backend (the ceiling) and an
# nginx reverse proxy (1 worker, upstream keep-alive pool, `proxy_buffering off` so it streams
# like a preview proxy must, with a 64 KiB read buffer so streaming is not throttled by its 4 KiB
# default). The proxies and the backend share core 1; wrk/curl run on core 0.
# Measures, per round: small-response requests/s with 32 connections, one-connection latency
# p50/p99, a 1 GiB download's throughput with toolboxd's peak RSS during it, and the CPU time
# each proxy process spent per request and per GiB (less sensitive to a busy machine). Prints medians
# of the rounds and ratios computed inside each round (toolboxd/direct and toolboxd/nginx).
#
# Env: TOOLBOXD_BIN (default target/release/toolboxd), ROUNDS (3), DURATION (wrk seconds, 5).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${TOOLBOXD_BIN:-target/release/toolboxd}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
SERVER_CPU=1
LOAD_CPU=0
[ -x "$BIN" ] || { echo "no toolboxd binary at $BIN (cargo build --release)" >&2; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || command -v "/usr/sbin/$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx || ! need curl; then
  apt-get install -y wrk nginx curl >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk nginx curl >/dev/null; }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fso /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }

mkdir -p "$TMP/www" "$TMP/data"
head -c 1024 /dev/urandom >"$TMP/www/small.bin"
truncate -s 1G "$TMP/www/big.bin"

# nginx, unprivileged-style: one process, everything under $TMP, loopback only.
nginx_conf() { # name port body
  mkdir -p "$TMP/$1"
  cat >"$TMP/$1/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $TMP/$1/nginx.pid;
error_log $TMP/$1/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $TMP/$1/body;
  proxy_temp_path $TMP/$1/proxy;
  fastcgi_temp_path $TMP/$1/fastcgi;
  uwsgi_temp_path $TMP/$1/uwsgi;
  scgi_temp_path $TMP/$1/scgi;
  keepalive_requests 100000;
  $3
}
EOF
  taskset -c "$SERVER_CPU" "$NGINX" -p "$TMP/$1" -c "$TMP/$1/nginx.conf" &
  PIDS+=($!)
  LAST_PID=$!
}

BACKEND=$(free_port)
nginx_conf backend "$BACKEND" "server { listen 127.0.0.1:$BACKEND; root $TMP/www; sendfile on; }"
NGINX_PROXY=$(free_port)
nginx_conf nginxproxy "$NGINX_PROXY" "
  upstream app { server 127.0.0.1:$BACKEND; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PROXY;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_set_header Host localhost:$BACKEND;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_buffering off;
      proxy_buffer_size 64k;
      proxy_buffers 8 64k;
      proxy_busy_buffers_size 128k;
      proxy_request_buffering off;
    }
  }"
NGINX_PROXY_PID=$LAST_PID
DAEMON=$(free_port)
taskset -c "$SERVER_CPU" "$BIN" --port "$DAEMON" --bind 127.0.0.1 --work-dir "$TMP" --data-dir "$TMP/data" \
  --log-level error >/dev/null 2>&1 &
DAEMON_PID=$!
PIDS+=("$DAEMON_PID")

declare -A URL=(
  [direct]="http://127.0.0.1:$BACKEND"
  [toolboxd]="http://127.0.0.1:$DAEMON/proxy/$BACKEND"
  [nginx]="http://127.0.0.1:$NGINX_PROXY"
)
for name in direct toolboxd nginx; do wait_http "${URL[$name]}/small.bin"; done
cmp <(curl -fs "${URL[toolboxd]}/small.bin") "$TMP/www/small.bin"

# wrk's latency figures come as 85.00us / 1.20ms / 2.00s; print microseconds.
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else {sub(/s$/,"",v); print v*1000000}}'; }
rps() { # prints "requests/s total_requests"
  taskset -c "$LOAD_CPU" wrk -t1 -c32 -d"${DURATION}s" "$1" |
    awk '/requests in/ {n=$1} /Requests\/sec/ {r=$2} END {print r, n}'
}
# CPU time (user+system) a process has used, in microseconds: load-independent cost figures.
TICK=$(getconf CLK_TCK)
cpu_us() { awk -v t="$TICK" '{printf "%.0f", ($14 + $15) * 1000000 / t}' "/proc/$1/stat"; }
declare -A PID_OF=([toolboxd]=$DAEMON_PID [nginx]=$NGINX_PROXY_PID)
latency() { # prints "p50_us p99_us"
  local out; out=$(taskset -c "$LOAD_CPU" wrk -t1 -c1 -d"${DURATION}s" --latency "$1")
  echo "$(awk '$1=="50%" {print $2}' <<<"$out" | to_us) $(awk '$1=="99%" {print $2}' <<<"$out" | to_us)"
}
download() { taskset -c "$LOAD_CPU" curl -fs -o /dev/null -w '%{speed_download}' "$1"; } # bytes/s
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (b > 0 ? a / b : 0)}'; }

declare -A SAMPLES
add() { SAMPLES[$1]+="$2"$'\n'; }

# Warm-up: pools, page cache, allocator.
for name in direct toolboxd nginx; do taskset -c "$LOAD_CPU" wrk -t1 -c32 -d1s "${URL[$name]}/small.bin" >/dev/null; done
download "${URL[toolboxd]}/big.bin" >/dev/null

for round in $(seq "$ROUNDS"); do
  declare -A R=() P50=() P99=() DL=()
  for name in direct toolboxd nginx; do
    [ "$name" = direct ] || before=$(cpu_us "${PID_OF[$name]}")
    read -r R[$name] total < <(rps "${URL[$name]}/small.bin")
    [ "$name" = direct ] || add "cpu_req_$name" "$(( ($(cpu_us "${PID_OF[$name]}") - before) / total ))"
    read -r P50[$name] P99[$name] < <(latency "${URL[$name]}/small.bin")
  done
  for name in direct toolboxd nginx; do
    [ "$name" = direct ] || before=$(cpu_us "${PID_OF[$name]}")
    if [ "$name" = toolboxd ]; then
      base=$(rss_kib); peak_file="$TMP/peak"; echo "$base" >"$peak_file"
      ( while :; do r=$(rss_kib); [ "$r" -gt "$(cat "$peak_file")" ] && echo "$r" >"$peak_file"; sleep 0.01; done ) &
      sampler=$!
      DL[$name]=$(download "${URL[$name]}/big.bin")
      kill "$sampler"; wait "$sampler" 2>/dev/null || true
      add rss_base "$base"; add rss_peak "$(cat "$peak_file")"
    else
      DL[$name]=$(download "${URL[$name]}/big.bin")
    fi
    [ "$name" = direct ] || add "cpu_gib_$name" "$(( ($(cpu_us "${PID_OF[$name]}") - before) / 1000 ))"
  done
  for name in direct toolboxd nginx; do
    add "rps_$name" "${R[$name]}"; add "p50_$name" "${P50[$name]}"; add "p99_$name" "${P99[$name]}"
    add "dl_$name" "$(awk -v b="${DL[$name]}" 'BEGIN {printf "%.1f", b / 1048576}')"
  done
  add rps_vs_direct "$(ratio "${R[toolboxd]}" "${R[direct]}")"
  add rps_vs_nginx "$(ratio "${R[toolboxd]}" "${R[nginx]}")"
  add lat_vs_direct "$(ratio "${P50[direct]}" "${P50[toolboxd]}")"
  add lat_vs_nginx "$(ratio "${P50[nginx]}" "${P50[toolboxd]}")"
  add dl_vs_direct "$(ratio "${DL[toolboxd]}" "${DL[direct]}")"
  add dl_vs_nginx "$(ratio "${DL[toolboxd]}" "${DL[nginx]}")"
  echo "round $round: rps direct ${R[direct]} toolboxd ${R[toolboxd]} nginx ${R[nginx]};" \
    "p50 us ${P50[direct]}/${P50[toolboxd]}/${P50[nginx]};" \
    "1GiB MiB/s $(awk -v a="${DL[direct]}" -v b="${DL[toolboxd]}" -v c="${DL[nginx]}" 'BEGIN {printf "%.0f/%.0f/%.0f", a/1048576, b/1048576, c/1048576}')"
done

m() { printf '%s' "${SAMPLES[$1]}" | median; }
echo
echo "medians of $ROUNDS rounds (server core $SERVER_CPU, load core $LOAD_CPU; ratios are per-round, >1 = toolboxd better for latency)"
printf '%-34s %12s %12s %12s\n' "" direct toolboxd nginx-proxy
printf '%-34s %12s %12s %12s\n' "requests/s, 1 KiB, 32 conns" "$(m rps_direct)" "$(m rps_toolboxd)" "$(m rps_nginx)"
printf '%-34s %12s %12s %12s\n' "latency p50 us, 1 conn" "$(m p50_direct)" "$(m p50_toolboxd)" "$(m p50_nginx)"
printf '%-34s %12s %12s %12s\n' "latency p99 us, 1 conn" "$(m p99_direct)" "$(m p99_toolboxd)" "$(m p99_nginx)"
printf '%-34s %12s %12s %12s\n' "1 GiB download MiB/s" "$(m dl_direct)" "$(m dl_toolboxd)" "$(m dl_nginx)"
echo
echo "ratio requests/s  toolboxd/direct $(m rps_vs_direct)  toolboxd/nginx $(m rps_vs_nginx)"
echo "ratio p50 latency direct/toolboxd $(m lat_vs_direct)  nginx/toolboxd $(m lat_vs_nginx)"
echo "ratio 1 GiB MiB/s toolboxd/direct $(m dl_vs_direct)  toolboxd/nginx $(m dl_vs_nginx)"
echo "proxy CPU per small request us: toolboxd $(m cpu_req_toolboxd)  nginx $(m cpu_req_nginx)  (nginx/toolboxd $(ratio "$(m cpu_req_nginx)" "$(m cpu_req_toolboxd)"))"
echo "proxy CPU per 1 GiB download ms:  toolboxd $(m cpu_gib_toolboxd)  nginx $(m cpu_gib_nginx)  (nginx/toolboxd $(ratio "$(m cpu_gib_nginx)" "$(m cpu_gib_toolboxd)"))"
echo "toolboxd RSS during 1 GiB downloads: $(m rss_base) KiB before, $(m rss_peak) KiB peak"
