#!/usr/bin/env bash
# Side-by-side HTTP benchmark: a real backend (nginx, two ports) behind
# lbops' embedded data plane, HAProxy and nginx with equivalent configs
# (HTTP keep-alive to clients and upstreams, two targets, round robin), all
# on 127.0.0.1, each driven by the same wrk run. Then 100 config changes
# through lbops while wrk runs, counting non-2xx answers and socket errors.
#
#   bash bench/dataplane.sh            # DURATION=10 CONNECTIONS=64 THREADS=2 by default
#
# Installs wrk, haproxy and nginx from Debian when missing. Everything it
# starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
BACKEND_PORTS=(18081 18082 18083)
ADMIN_PORT=18099
TOKEN=bench-admin-token-not-secret
LBOPS_PORT=18090
HAPROXY_PORT=18091
NGINX_PORT=18092
LBOPS_TLS_PORT=18190
HAPROXY_TLS_PORT=18191
NGINX_TLS_PORT=18192

need=()
for tool in wrk haproxy nginx; do command -v "$tool" >/dev/null || need+=("$tool"); done
if ((${#need[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}"
fi

cargo build --release --quiet
LBOPS=target/release/lbops
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The backend: nginx answering "ok" on two ports.
cat >"$work/backend.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/backend.pid;
error_log $work/backend-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000;
  server { listen 127.0.0.1:${BACKEND_PORTS[0]}; location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:${BACKEND_PORTS[1]}; location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:${BACKEND_PORTS[2]}; location / { return 200 "ok\n"; } }
}
CONF
nginx -c "$work/backend.conf" -p "$work" & pids+=($!)

# One certificate for all three (ECDSA P-256, as most sites use).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=bench.test -addext subjectAltName=DNS:bench.test \
  -keyout "$work/bench.key" -out "$work/bench.pem" 2>/dev/null
cat "$work/bench.pem" "$work/bench.key" >"$work/haproxy.pem"

# lbops: a repository with one pool of both ports behind one HTTP listener
# and one HTTPS listener.
mkdir -p "$work/repo"
cp "$work/bench.pem" "$work/repo/bench.pem"
cat >"$work/repo/bench.yaml" <<YAML
kind: Pool
name: backend
spec:
  algorithm: round_robin
  targets:
    - address: 127.0.0.1:${BACKEND_PORTS[0]}
    - address: 127.0.0.1:${BACKEND_PORTS[1]}
---
kind: LoadBalancer
name: bench
spec:
  addresses: [127.0.0.1]
  listeners:
    - name: http
      protocol: http
      port: ${LBOPS_PORT}
      default_action: {forward: {pools: [{pool: backend}]}}
    - name: https
      protocol: https
      port: ${LBOPS_TLS_PORT}
      tls: {certificates: [bench]}
      default_action: {forward: {pools: [{pool: backend}]}}
---
kind: Certificate
name: bench
spec:
  chain_file: bench.pem
  private_key: {file: $work/bench.key}
YAML
printf %s "$TOKEN" | sha256sum | cut -d' ' -f1 >"$work/admin.sha256"
$LBOPS dataplane --repo "$work/repo" --state-dir "$work/state" \
  --admin-listen 127.0.0.1:$ADMIN_PORT --admin-token-sha256-file "$work/admin.sha256" 2>"$work/lbops.log" & pids+=($!)

cat >"$work/haproxy.cfg" <<CONF
global
  nbthread 2
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend bench
  bind 127.0.0.1:${HAPROXY_PORT}
  default_backend backend
frontend bench_tls
  bind 127.0.0.1:${HAPROXY_TLS_PORT} ssl crt $work/haproxy.pem alpn http/1.1
  default_backend backend
backend backend
  balance roundrobin
  server a 127.0.0.1:${BACKEND_PORTS[0]}
  server b 127.0.0.1:${BACKEND_PORTS[1]}
CONF
haproxy -f "$work/haproxy.cfg" -db & pids+=($!)

cat >"$work/nginx-lb.conf" <<CONF
worker_processes 2;
daemon off;
pid $work/nginx-lb.pid;
error_log $work/nginx-lb-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000;
  upstream backend {
    server 127.0.0.1:${BACKEND_PORTS[0]};
    server 127.0.0.1:${BACKEND_PORTS[1]};
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${NGINX_PORT};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
  server {
    listen 127.0.0.1:${NGINX_TLS_PORT} ssl;
    ssl_certificate $work/bench.pem;
    ssl_certificate_key $work/bench.key;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
nginx -c "$work/nginx-lb.conf" -p "$work" & pids+=($!)

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
for port in "${BACKEND_PORTS[@]}" $LBOPS_PORT $HAPROXY_PORT $NGINX_PORT $ADMIN_PORT \
  $LBOPS_TLS_PORT $HAPROXY_TLS_PORT $NGINX_TLS_PORT; do wait_port "$port"; done

# One wrk run: prints "req/s p50 p99 errors non2xx".
run_wrk() { # port [scheme]
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "${2:-http}://127.0.0.1:$1/")
  local rps p50 p99 errors non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4+$6+$8+$10}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$rps ${p50:-?} ${p99:-?} ${errors:-0} ${non2xx:-0}"
}

declare -A result
for target in "direct:${BACKEND_PORTS[0]}" "lbops:$LBOPS_PORT" "haproxy:$HAPROXY_PORT" "nginx:$NGINX_PORT"; do
  name=${target%%:*}; port=${target##*:}
  result[$name]=$(run_wrk "$port")
done
for target in "lbops:$LBOPS_TLS_PORT" "haproxy:$HAPROXY_TLS_PORT" "nginx:$NGINX_TLS_PORT"; do
  name=${target%%:*}; port=${target##*:}
  result[$name-tls]=$(run_wrk "$port" https)
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
table() { # title lbops haproxy nginx [more rows...]
  printf '\n%s, %s connections, %s threads, %ss each, on %s cores\n\n' "$1" "$CONNECTIONS" "$THREADS" "$DURATION" "$(nproc)"
  local lbops=$2 haproxy=$3 nginx=$4
  shift 4
  printf '| %-12s | %10s | %8s | %8s | %7s |\n' target "req/s" p50 p99 errors
  printf '|---|---:|---:|---:|---:|\n'
  for name in "$@" "$lbops" "$haproxy" "$nginx"; do
    read -r rps p50 p99 errors non2xx <<<"${result[$name]}"
    printf '| %-12s | %10s | %8s | %8s | %7s |\n' "$name" "$rps" "$p50" "$p99" "$((errors + non2xx))"
  done
  local l h n
  read -r l _ <<<"${result[$lbops]}"; read -r h _ <<<"${result[$haproxy]}"; read -r n _ <<<"${result[$nginx]}"
  printf '\nreq/s ratio lbops/haproxy: %s, lbops/nginx: %s\n' "$(ratio "$l" "$h")" "$(ratio "$l" "$n")"
}
table "HTTP/1.1 keep-alive" lbops haproxy nginx direct
table "HTTPS termination (ECDSA P-256, keep-alive)" lbops-tls haproxy-tls nginx-tls

# Updates under load: 100 config changes through the admin API while wrk
# runs: weights shift, a third target is added, then removed (drained).
$LBOPS dataplane --repo "$work/repo" --print-config >"$work/base.json"
make_config() { # version weight_a third_target(0|1)
  python3 - "$work/base.json" "$1" "$2" "$3" "${BACKEND_PORTS[2]}" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
version, weight, third, port = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5]
config["version"] = version
targets = config["pools"]["backend"]["targets"]
targets[0]["weight"] = weight
if third:
    targets.append({"address": f"127.0.0.1:{port}", "weight": 1})
print(json.dumps(config))
PY
}
for v in $(seq 2 101); do make_config "$v" $((v % 4 + 1)) $((v / 10 % 2)) >"$work/config-$v.json"; done
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$LBOPS_PORT/" >"$work/under-load.txt" &
wrk_pid=$!
sleep 0.5
rejected=0
for v in $(seq 2 101); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
    --data-binary @"$work/config-$v.json" "http://127.0.0.1:$ADMIN_PORT/v1/config")
  [ "$code" = 200 ] || rejected=$((rejected + 1))
  sleep "$(awk -v d="$DURATION" 'BEGIN { printf "%.3f", (d - 1) / 100 }')"
done
wait "$wrk_pid"
requests=$(awk '/requests in/ {print $1}' "$work/under-load.txt")
errors=$(awk '/Socket errors/ {gsub(",", ""); print $4+$6+$8+$10}' "$work/under-load.txt")
non2xx=$(awk '/Non-2xx/ {print $5}' "$work/under-load.txt")
printf '\nupdates under load: 100 config changes (%s refused), %s requests, %s non-2xx, %s socket errors\n' \
  "$rejected" "$requests" "${non2xx:-0}" "${errors:-0}"
