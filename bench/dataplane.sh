#!/usr/bin/env bash
# Side-by-side HTTP benchmark: a real backend (nginx, two ports) behind
# lbops' embedded data plane, HAProxy and nginx with equivalent configs
# (HTTP keep-alive to clients and upstreams, two targets, round robin), all
# on 127.0.0.1, each driven by the same wrk run. Then 100 config changes
# through lbops while wrk runs, counting non-2xx answers and socket errors.
# Last, a target killed under load: three backends, one SIGKILLed halfway
# through a wrk run, failed requests counted for lbops and HAProxy.
#
#   bash bench/dataplane.sh            # DURATION=10 CONNECTIONS=64 THREADS=2 by default
#   bash bench/dataplane.sh kill       # only the killed-target scenario (KILL_ROUNDS=3)
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

# A target killed under load. Three backends (single-process nginx, so
# that SIGKILL takes all of one down: its connections are reset or closed
# by the kernel mid-request, new ones refused), round robin, active TCP
# checks every second for both balancers; wrk runs DURATION seconds and
# one backend is killed halfway. A failed request is a non-2xx answer or
# a wrk socket error (connect, read, write, timeout after wrk's 2 s).
# Every run starts fresh backends and a fresh balancer; rounds interleave
# the contenders:
#   lbops                 a forward route with `retries: {attempts: 2}`
#                         (GETs that reached the dying target are resent)
#   lbops-connect-only    the same without `retries`: only requests that
#                         never reached a target are resent (the default)
#   haproxy               `retries 3` + `option redispatch` (retry-on
#                         conn-failure, HAProxy's default)
#   haproxy-all-retryable the same + `retry-on all-retryable-errors`
KILL_BACKEND_PORTS=(18281 18282 18283)
KILL_PORT=18290
KILL_ADMIN_PORT=18299
KILL_ROUNDS=${KILL_ROUNDS:-3}
KILL_CONTENDERS=(lbops lbops-connect-only haproxy haproxy-all-retryable)

kill_backends_start() {
  kill_backend_pids=()
  for port in "${KILL_BACKEND_PORTS[@]}"; do
    cat >"$work/kill-backend-$port.conf" <<CONF
master_process off;
daemon off;
pid $work/kill-backend-$port.pid;
error_log $work/kill-backend-$port-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000;
  server { listen 127.0.0.1:$port; location / { return 200 "ok\n"; } }
}
CONF
    nginx -c "$work/kill-backend-$port.conf" -p "$work" & kill_backend_pids+=($!)
    pids+=($!)
  done
}

# Starts one contender on KILL_PORT; sets contender_pid.
kill_contender_start() { # name
  local targets="" servers="" port retries="" retry_on=""
  for port in "${KILL_BACKEND_PORTS[@]}"; do
    targets+="    - address: 127.0.0.1:$port"$'\n'
    servers+="  server s$port 127.0.0.1:$port check inter 1s fall 2 rise 2"$'\n'
  done
  case $1 in
  lbops*)
    [ "$1" = lbops ] && retries="          retries: {attempts: 2}"
    rm -rf "$work/kill-repo" "$work/kill-state"
    mkdir -p "$work/kill-repo"
    cat >"$work/kill-repo/kill.yaml" <<YAML
kind: Pool
name: killed
spec:
  algorithm: round_robin
  targets:
$targets  health_check: {probe: tcp, interval: 1s, timeout: 500ms, healthy_threshold: 2, unhealthy_threshold: 2}
---
kind: LoadBalancer
name: killed
spec:
  addresses: [127.0.0.1]
  listeners:
    - name: http
      protocol: http
      port: $KILL_PORT
      routes:
        - name: all
          priority: 1
          action: {forward: {pools: [{pool: killed}]}}
$retries
YAML
    $LBOPS dataplane --repo "$work/kill-repo" --state-dir "$work/kill-state" \
      --admin-listen 127.0.0.1:$KILL_ADMIN_PORT --admin-token-sha256-file "$work/admin.sha256" \
      2>>"$work/kill-lbops.log" &
    contender_pid=$!
    pids+=($!)
    ;;
  haproxy*)
    [ "$1" = haproxy-all-retryable ] && retry_on="  retry-on all-retryable-errors"
    cat >"$work/kill-haproxy.cfg" <<CONF
global
  nbthread 2
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
  retries 3
  option redispatch
frontend killed
  bind 127.0.0.1:$KILL_PORT
  default_backend killed
backend killed
  balance roundrobin
$retry_on
$servers
CONF
    haproxy -f "$work/kill-haproxy.cfg" -db 2>>"$work/kill-haproxy.log" &
    contender_pid=$!
    pids+=($!)
    ;;
  esac
}

# One run; sets run_result to "requests non2xx socket_errors retries
# exhausted" (the last two from lbops' /metrics, "-" for HAProxy).
kill_run() { # name
  kill_backends_start
  kill_contender_start "$1"
  for port in "${KILL_BACKEND_PORTS[@]}" $KILL_PORT; do wait_port "$port"; done
  # Both balancers have seen every backend pass a check.
  sleep 2.5
  local out="$work/kill-wrk.txt"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$KILL_PORT/" >"$out" &
  local wrk_pid=$!
  sleep "$(awk -v d="$DURATION" 'BEGIN { printf "%.1f", d / 2 }')"
  # bash reports a child killed by a signal ("Killed") on its stderr at
  # the next command; the killing is the point here, so not that.
  exec 4>&2 2>/dev/null
  kill -9 "${kill_backend_pids[0]}"
  wait "$wrk_pid"
  exec 2>&4 4>&-
  local retries=- exhausted=-
  if [[ $1 == lbops* ]]; then
    local metrics
    metrics=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$KILL_ADMIN_PORT/metrics")
    retries=$(awk '/^lbops_dataplane_retries_total/ {n += $2} END {print n + 0}' <<<"$metrics")
    exhausted=$(awk '/^lbops_dataplane_retry_budget_exhausted_total/ {print $2}' <<<"$metrics")
  fi
  kill "$contender_pid" "${kill_backend_pids[@]:1}" 2>/dev/null || true
  wait "$contender_pid" "${kill_backend_pids[@]}" 2>/dev/null || true
  local requests errors non2xx
  requests=$(awk '/requests in/ {print $1}' "$out")
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4+$6+$8+$10}' "$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$out")
  run_result="${requests:-0} ${non2xx:-0} ${errors:-0} $retries ${exhausted:-0}"
}

target_killed() {
  printf '\nA target killed under load: 3 backends, one SIGKILLed after %ss of a %ss wrk run, %s connections, %s threads, %s rounds, on %s cores\n\n' \
    "$(awk -v d="$DURATION" 'BEGIN { print d / 2 }')" "$DURATION" "$CONNECTIONS" "$THREADS" "$KILL_ROUNDS" "$(nproc)"
  printf '| %-5s | %-21s | %9s | %7s | %13s | %6s | %7s | %9s |\n' round contender requests non-2xx "socket errors" failed retries exhausted
  printf '|---|---|---:|---:|---:|---:|---:|---:|\n'
  declare -A failed_total requests_total
  local round name requests non2xx errors retries exhausted
  for round in $(seq "$KILL_ROUNDS"); do
    for name in "${KILL_CONTENDERS[@]}"; do
      kill_run "$name"
      read -r requests non2xx errors retries exhausted <<<"$run_result"
      failed_total[$name]=$((${failed_total[$name]:-0} + non2xx + errors))
      requests_total[$name]=$((${requests_total[$name]:-0} + requests))
      printf '| %-5s | %-21s | %9s | %7s | %13s | %6s | %7s | %9s |\n' \
        "$round" "$name" "$requests" "$non2xx" "$errors" "$((non2xx + errors))" "$retries" "$exhausted"
    done
  done
  printf '\ntarget killed under load, failed requests over %s rounds:' "$KILL_ROUNDS"
  for name in "${KILL_CONTENDERS[@]}"; do
    printf ' %s %s of %s;' "$name" "${failed_total[$name]}" "${requests_total[$name]}"
  done
  printf '\n'
}

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
printf %s "$TOKEN" | sha256sum | cut -d' ' -f1 >"$work/admin.sha256"
if [ "${1:-}" = kill ]; then
  target_killed
  exit 0
fi

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

target_killed
