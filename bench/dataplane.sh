#!/usr/bin/env bash
# The embedded data plane against HAProxy and nginx, all on 127.0.0.1 with
# equivalent configs in front of the same real backend (nginx answering
# "ok"): two targets, round robin, keep-alive to the upstreams.
#
#   bash bench/dataplane.sh              # everything below, in this order
#   bash bench/dataplane.sh scenarios    # the four req/s scenarios only
#   bash bench/dataplane.sh memory       # memory per idle client connection only
#   bash bench/dataplane.sh tcp          # TCP throughput for large transfers only
#   bash bench/dataplane.sh kill         # a target killed under load only
#
# 1. Scenarios, interleaved: for each of ROUNDS rounds, for each scenario,
#    one wrk run per contender (lbops, haproxy, nginx), the contenders'
#    order rotating each round so that noise hits all alike (after one
#    unmeasured second of each scenario per contender). A line per
#    run, then per scenario the medians and the ratio of lbops' req/s to
#    the faster peer's; the last line sums it up against the goal (every
#    ratio ≥ 1.00 with a p99 no worse than that peer's).
#      http-keepalive   HTTP/1.1 keep-alive
#      http-close       HTTP/1.1, a new client connection per request
#                       (`Connection: close`: wrk reconnects each time)
#      https-keepalive  TLS 1.3 keep-alive, every contender's default
#                       session resumption
#      https-handshake  TLS 1.3, a new connection and a full handshake per
#                       request: session resumption off for all (wrk keeps
#                       its OpenSSL session across reconnects, so it would
#                       resume wherever the server lets it)
#    TLS is 1.3 only for all, one ECDSA P-256 certificate. openssl s_client
#    checks first that a second connection reuses the first's session on
#    the keep-alive ports and on none of the handshake ports.
#    With http-close, the TCP segments a request with `Connection: close`
#    takes over loopback are counted after the runs for each contender
#    (nstat; after, so that its connections do not linger in the runs).
# 2. Memory per idle client connection: RSS before and after opening
#    MEM_CONNECTIONS keep-alive connections (one request each, then idle).
# 3. TCP throughput: a 256 MiB download through lbops `protocol: tcp`,
#    HAProxy `mode tcp` and the nginx stream module, 4 at a time.
# 4. Updates under load: 100 config changes through lbops' admin API while
#    wrk runs, counting non-2xx answers and socket errors.
# 5. A target killed under load: three backends, one SIGKILLed halfway
#    through a wrk run, failed requests counted for lbops and HAProxy.
# A full run prints the scenarios' summary line again as its last line.
#
# Environment: DURATION (5 s per run), CONNECTIONS (64), THREADS (2, wrk's),
# ROUNDS (3), SCENARIOS (a subset of the four names, space-separated),
# MEM_CONNECTIONS (10000), TCP_ROUNDS (3), TCP_FILE_MB (256), KILL_ROUNDS
# (3), KILL_DURATION (DURATION when set, else 10), LBOPS_BIN (a prebuilt
# lbops to use instead of `cargo build --release`).
#
# Installs wrk, haproxy, nginx and nginx's stream module from Debian when
# missing. Everything it starts is stopped on exit.
set -euo pipefail
if [ -n "${LBOPS_BIN:-}" ]; then LBOPS_BIN=$(realpath "$LBOPS_BIN"); fi
cd "$(dirname "$0")/.."

PART=${1:-all}
case $PART in
all | scenarios | memory | tcp | updates | kill) ;;
*) echo "usage: $0 [scenarios|memory|tcp|updates|kill]" >&2; exit 2 ;;
esac
KILL_DURATION=${KILL_DURATION:-${DURATION:-10}}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
ALL_SCENARIOS=(http-keepalive http-close https-keepalive https-handshake)
read -r -a SCENARIO_LIST <<<"${SCENARIOS:-${ALL_SCENARIOS[*]}}"
for s in "${SCENARIO_LIST[@]}"; do
  [[ " ${ALL_SCENARIOS[*]} " == *" $s "* ]] || { echo "unknown scenario $s (one of: ${ALL_SCENARIOS[*]})" >&2; exit 2; }
done
MEM_CONNECTIONS=${MEM_CONNECTIONS:-10000}
TCP_ROUNDS=${TCP_ROUNDS:-3}
TCP_FILE_MB=${TCP_FILE_MB:-256}
CORES=$(nproc)
CONTENDERS=(lbops haproxy nginx)

BACKEND_PORTS=(18081 18082 18083)
ADMIN_PORT=18099
HAPROXY_STATS_PORT=18098
NGINX_STATUS_PORT=18097
TOKEN=bench-admin-token-not-secret
declare -A PORT=(
  [http-lbops]=18090 [http-haproxy]=18091 [http-nginx]=18092
  [tls-lbops]=18190 [tls-haproxy]=18191 [tls-nginx]=18192
  [full-lbops]=18195 [full-haproxy]=18196 [full-nginx]=18197
)
# Which of the three listeners of each contender a scenario drives, the
# scheme, and the extra wrk arguments.
declare -A SCENARIO_LISTENER=([http-keepalive]=http [http-close]=http [https-keepalive]=tls [https-handshake]=full)
declare -A SCENARIO_SCHEME=([http-keepalive]=http [http-close]=http [https-keepalive]=https [https-handshake]=https)
declare -A SCENARIO_CLOSE=([http-keepalive]=0 [http-close]=1 [https-keepalive]=0 [https-handshake]=1)
declare -A SCENARIO_TITLE=(
  [http-keepalive]="HTTP/1.1 keep-alive"
  [http-close]="HTTP/1.1, a new client connection per request (Connection: close)"
  [https-keepalive]="HTTPS keep-alive (TLS 1.3, ECDSA P-256, default session resumption)"
  [https-handshake]="HTTPS, a full TLS 1.3 handshake per request (Connection: close, session resumption off for all)"
)
# The HAProxy frontend of each listener, for its connection counter.
declare -A HAPROXY_FRONTEND=([http]=bench [tls]=bench_tls [full]=bench_tls_full)

# 10,000 idle connections need that many descriptors in the client and in
# each balancer (plus their upstream connections): raise the soft limit to
# 30000, or as far as the hard limit allows, before anything is started.
ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
FD_LIMIT=$(ulimit -n)

need=()
for tool in wrk haproxy nginx curl openssl python3; do command -v "$tool" >/dev/null || need+=("$tool"); done
# nginx's stream module (TCP proxying) is a separate Debian package, which
# must be of the same version as nginx itself.
NGINX_STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so
if [[ $PART == all || $PART == tcp ]] && [ ! -e "$NGINX_STREAM_MODULE" ]; then
  if nginx_version=$(dpkg-query -W -f='${Version}' nginx 2>/dev/null) && [ -n "$nginx_version" ]; then
    need+=("libnginx-mod-stream=$nginx_version")
  fi
fi
if ((${#need[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}" ||
    echo "note: could not install ${need[*]}" >&2
fi

if [ -n "${LBOPS_BIN:-}" ]; then
  LBOPS=$LBOPS_BIN
else
  cargo build --release --quiet
  LBOPS=target/release/lbops
fi
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
printf %s "$TOKEN" | sha256sum | cut -d' ' -f1 >"$work/admin.sha256"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# wrk's latencies ("812.00us", "1.20ms", "1.02s") in milliseconds.
to_ms() { awk -v t="$1" 'BEGIN { v = t + 0; if (t ~ /us$/) v /= 1000; else if (t ~ /ms$/) v += 0; else if (t ~ /m$/) v *= 60000; else if (t ~ /s$/) v *= 1000; printf "%.3f", v }'; }

# ---------------------------------------------------------------------------
# The three balancers and their backend, for the scenarios, the memory
# measurement and the updates under load.

start_balancers() {
  # The backend: nginx answering "ok" on three ports (the third joins the
  # pool during the updates under load).
  cat >"$work/backend.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $FD_LIMIT;
daemon off;
pid $work/backend.pid;
error_log $work/backend-error.log;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000;
  keepalive_timeout 300s;
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

  # lbops: one pool of two ports behind an HTTP listener, a TLS 1.3 HTTPS
  # listener with default session resumption and one with it off. Idle
  # connections are kept 5 minutes by all three (for the memory part).
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
      port: ${PORT[http-lbops]}
      idle_timeout: 5m
      default_action: {forward: {pools: [{pool: backend}]}}
    - name: https
      protocol: https
      port: ${PORT[tls-lbops]}
      idle_timeout: 5m
      tls: {certificates: [bench], min_version: "1.3"}
      default_action: {forward: {pools: [{pool: backend}]}}
    - name: https-full
      protocol: https
      port: ${PORT[full-lbops]}
      idle_timeout: 5m
      tls: {certificates: [bench], min_version: "1.3", resumption: false}
      default_action: {forward: {pools: [{pool: backend}]}}
---
kind: Certificate
name: bench
spec:
  chain_file: bench.pem
  private_key: {file: $work/bench.key}
YAML
  if ! $LBOPS dataplane --repo "$work/repo" --print-config >"$work/base.json" 2>"$work/print-config.log"; then
    cat "$work/print-config.log" >&2
    echo "$LBOPS does not take this config; one built before \`resumption\` (TLS policy) cannot run https-handshake" >&2
    exit 1
  fi
  $LBOPS dataplane --repo "$work/repo" --state-dir "$work/state" \
    --max-connections-per-listener $((MEM_CONNECTIONS + 2000)) \
    --admin-listen 127.0.0.1:$ADMIN_PORT --admin-token-sha256-file "$work/admin.sha256" 2>"$work/lbops.log" &
  lbops_pid=$!
  pids+=($!)

  # HAProxy: its TLS session cache is global, so it is off for both TLS
  # binds; the keep-alive one still resumes with tickets (its default).
  # HAProxy wants two descriptors per connection of maxconn and by default
  # refuses to start below that; the idle connections need one each (and
  # a few upstream ones), so where the hard limit is lower it is told to go
  # on (`no strict-limits`).
  cat >"$work/haproxy.cfg" <<CONF
global
  nbthread $CORES
  maxconn $((MEM_CONNECTIONS + 2000))
  no strict-limits
  tune.ssl.cachesize 0
defaults
  mode http
  maxconn $((MEM_CONNECTIONS + 2000))
  timeout connect 5s
  timeout client 5m
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend bench
  bind 127.0.0.1:${PORT[http-haproxy]}
  default_backend backend
frontend bench_tls
  bind 127.0.0.1:${PORT[tls-haproxy]} ssl crt $work/haproxy.pem alpn http/1.1 ssl-min-ver TLSv1.3
  default_backend backend
frontend bench_tls_full
  bind 127.0.0.1:${PORT[full-haproxy]} ssl crt $work/haproxy.pem alpn http/1.1 ssl-min-ver TLSv1.3 no-tls-tickets
  default_backend backend
frontend stats
  bind 127.0.0.1:$HAPROXY_STATS_PORT
  stats enable
  stats uri /stats
backend backend
  balance roundrobin
  server a 127.0.0.1:${BACKEND_PORTS[0]}
  server b 127.0.0.1:${BACKEND_PORTS[1]}
CONF
  haproxy -f "$work/haproxy.cfg" -db 2>"$work/haproxy.log" &
  haproxy_pid=$!
  pids+=($!)

  # nginx 1.22 enables TLS 1.2 and lower only unless told.
  local proxy="proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";"
  cat >"$work/nginx-lb.conf" <<CONF
worker_processes $CORES;
worker_rlimit_nofile $FD_LIMIT;
daemon off;
pid $work/nginx-lb.pid;
error_log $work/nginx-lb-error.log;
events { worker_connections $((MEM_CONNECTIONS + 2000)); }
http {
  access_log off;
  keepalive_requests 100000;
  keepalive_timeout 300s;
  upstream backend {
    server 127.0.0.1:${BACKEND_PORTS[0]};
    server 127.0.0.1:${BACKEND_PORTS[1]};
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${PORT[http-nginx]};
    location / { $proxy }
  }
  server {
    listen 127.0.0.1:${PORT[tls-nginx]} ssl;
    ssl_certificate $work/bench.pem;
    ssl_certificate_key $work/bench.key;
    ssl_protocols TLSv1.3;
    location / { $proxy }
  }
  server {
    listen 127.0.0.1:${PORT[full-nginx]} ssl;
    ssl_certificate $work/bench.pem;
    ssl_certificate_key $work/bench.key;
    ssl_protocols TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    location / { $proxy }
  }
  server {
    listen 127.0.0.1:$NGINX_STATUS_PORT;
    location / { stub_status; }
  }
}
CONF
  nginx -c "$work/nginx-lb.conf" -p "$work" &
  nginx_pid=$!
  pids+=($!)

  local port
  for port in "${BACKEND_PORTS[@]}" "${PORT[@]}" $ADMIN_PORT $HAPROXY_STATS_PORT $NGINX_STATUS_PORT; do
    wait_port "$port"
  done
}

# Client connections a contender has accepted on a listener so far.
accepted() { # contender listener
  local port=${PORT[$2-$1]}
  case $1 in
  lbops)
    curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$ADMIN_PORT/metrics" |
      awk -v a="address=\"127.0.0.1:$port\"" '/^lbops_dataplane_connections_accepted_total/ && index($0, a) { print $2 }'
    ;;
  haproxy)
    curl -s "http://127.0.0.1:$HAPROXY_STATS_PORT/stats;csv" |
      awk -F, -v fe="${HAPROXY_FRONTEND[$2]}" '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == "conn_tot") col = i }
        $1 == fe && $2 == "FRONTEND" { print $col }'
    ;;
  nginx) # every server of the instance: only the one under test is busy
    curl -s "http://127.0.0.1:$NGINX_STATUS_PORT/" | awk 'prev ~ /accepts/ { print $1 } { prev = $0 }'
    ;;
  esac
}

# ---------------------------------------------------------------------------
# 1. Scenarios

# Whether a second TLS connection resumes the first's session: "Reused",
# "New", or "no-session" when the first got none to offer (openssl
# s_client, TLS 1.3; a request is sent and the answer read so that the
# server's tickets arrive before the session is saved).
tls_resumes() { # port
  local session="$work/session-$1.pem" request='GET / HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n'
  rm -f "$session"
  printf "$request" | openssl s_client -connect "127.0.0.1:$1" -servername bench.test -tls1_3 \
    -ign_eof -sess_out "$session" >/dev/null 2>&1 || true
  if [ ! -s "$session" ]; then
    echo no-session
    return
  fi
  { printf "$request" | openssl s_client -connect "127.0.0.1:$1" -servername bench.test -tls1_3 \
    -ign_eof -sess_in "$session" 2>/dev/null || true; } | awk '/^(New|Reused), / { sub(",", "", $1); print $1; exit }'
}

check_tls_resumption() {
  local listener contender seen failed=0
  declare -A line
  for listener in tls full; do
    for contender in "${CONTENDERS[@]}"; do
      seen=$(tls_resumes "${PORT[$listener-$contender]}")
      line[$listener]+=" $contender ${seen:-?},"
      case $listener:$seen in
      tls:Reused | full:New | full:no-session) ;;
      *) failed=1 ;;
      esac
    done
  done
  printf 'session resumption check (openssl s_client -tls1_3, a 2nd connection offering the 1st'"'"'s session): keep-alive ports:%s; handshake ports:%s\n' \
    "${line[tls]%,}" "${line[full]%,}"
  if ((failed)); then
    echo "expected Reused on every keep-alive port and New or no-session on every handshake port" >&2
    exit 1
  fi
}

# TCP segments sent over loopback per request with a new connection per
# request — client, balancer and target together — from nstat's TcpOutSegs
# over 2000 sequential requests (after 50 that warm the upstream pools);
# everything else on the machine counts too, so it is a close estimate.
segments_per_request() { # port
  python3 - "$1" <<'PY'
import socket, subprocess, sys
port = int(sys.argv[1])
def out_segments():
    out = subprocess.run(["nstat", "-az", "TcpOutSegs"], capture_output=True, text=True, check=True).stdout
    return int(next(l for l in out.splitlines() if l.startswith("TcpOutSegs")).split()[1])
def request():
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n")
        while s.recv(4096):
            pass
for _ in range(50):
    request()
before = out_segments()
for _ in range(2000):
    request()
print(f"{(out_segments() - before) / 2000:.2f}")
PY
}

check_segments() {
  command -v nstat >/dev/null || return 0
  local contender line=""
  for contender in "${CONTENDERS[@]}"; do
    line+=" $contender $(segments_per_request "${PORT[http-$contender]}"),"
  done
  printf 'TCP segments per request with Connection: close (nstat TcpOutSegs over loopback, 2000 sequential requests; client, balancer and target together):%s\n' "${line%,}"
}

# One wrk run; prints "req/s p50 p99 errors conn/req" (p50/p99 as wrk
# prints them, errors = socket errors + non-2xx, conn/req = connections the
# contender accepted per request answered).
run_wrk() { # scenario contender
  local listener=${SCENARIO_LISTENER[$1]} args=()
  local port=${PORT[$listener-$2]}
  ((${SCENARIO_CLOSE[$1]})) && args=(-H 'Connection: close')
  local before out after
  before=$(accepted "$2" "$listener")
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "${args[@]}" "${SCENARIO_SCHEME[$1]}://127.0.0.1:$port/")
  after=$(accepted "$2" "$listener")
  local rps p50 p99 errors non2xx requests
  rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4+$6+$8+$10}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "${rps:-0} ${p50:-?} ${p99:-?} $((${errors:-0} + ${non2xx:-0})) $(ratio "$((${after:-0} - ${before:-0}))" "${requests:-0}")"
}

# One unmeasured second of a scenario against a contender.
warm_up() { # scenario contender
  local listener=${SCENARIO_LISTENER[$1]} args=()
  ((${SCENARIO_CLOSE[$1]})) && args=(-H 'Connection: close')
  wrk -t"$THREADS" -c"$CONNECTIONS" -d1s "${args[@]}" "${SCENARIO_SCHEME[$1]}://127.0.0.1:${PORT[$listener-$2]}/" >/dev/null
}

scenarios() {
  printf '\nScenarios: ROUNDS=%s of %s, %ss per run, wrk -t%s -c%s, on %s cores (wrk, the backend and the balancer share them)\n' \
    "$ROUNDS" "${SCENARIO_LIST[*]}" "$DURATION" "$THREADS" "$CONNECTIONS" "$CORES"
  printf 'lbops %s (one worker per core); HAProxy %s (nbthread %s, http-reuse always); nginx %s (%s workers, upstream keepalive)\n' \
    "$($LBOPS --version | awk '{print $2}')" "$(haproxy -v | awk 'NR == 1 {print $3}')" "$CORES" \
    "$(nginx -v 2>&1 | sed 's|.*nginx/||')" "$CORES"
  printf 'TLS: 1.3 only for all. https-keepalive: each contender'"'"'s default session resumption (HAProxy'"'"'s session cache is global and off, tickets on). https-handshake: session resumption off for all: lbops `resumption: false`, HAProxy `no-tls-tickets` + `tune.ssl.cachesize 0`, nginx `ssl_session_cache off; ssl_session_tickets off`.\n'
  if [[ " ${SCENARIO_LIST[*]} " == *" https-"* ]]; then check_tls_resumption; fi
  printf 'wrk latency runs from writing a request to reading its answer: a connection'"'"'s setup and handshake count in req/s, not in p50/p99.\n\n'

  declare -gA rps_runs p50_runs p99_runs
  local round scenario contender offset order rps p50 p99 errors per_request
  # One unmeasured second per scenario and contender first: upstream
  # connections, TLS state and allocator caches are warm for every
  # contender's first measured run, not only for those that follow one
  # (round 1 starts with lbops, whose first runs showed the worst p99).
  for scenario in "${SCENARIO_LIST[@]}"; do
    for contender in "${CONTENDERS[@]}"; do
      warm_up "$scenario" "$contender"
    done
  done
  printf '| %-5s | %-15s | %-9s | %9s | %9s | %9s | %6s | %8s |\n' round scenario contender "req/s" p50 p99 errors conn/req
  printf '|---|---|---|---:|---:|---:|---:|---:|\n'
  for round in $(seq "$ROUNDS"); do
    offset=$(((round - 1) % ${#CONTENDERS[@]}))
    order=("${CONTENDERS[@]:offset}" "${CONTENDERS[@]:0:offset}")
    for scenario in "${SCENARIO_LIST[@]}"; do
      for contender in "${order[@]}"; do
        read -r rps p50 p99 errors per_request <<<"$(run_wrk "$scenario" "$contender")"
        printf '| %-5s | %-15s | %-9s | %9s | %9s | %9s | %6s | %8s |\n' \
          "$round" "$scenario" "$contender" "$rps" "$p50" "$p99" "$errors" "$per_request"
        rps_runs[$scenario $contender]+=" $rps"
        p50_runs[$scenario $contender]+=" $(to_ms "$p50")"
        p99_runs[$scenario $contender]+=" $(to_ms "$p99")"
      done
    done
  done

  local parts=() met=1 peer peer_rps l_rps l_p99 peer_p99 r verdict
  declare -A med_rps med_p50 med_p99
  for scenario in "${SCENARIO_LIST[@]}"; do
    printf '\n%s: %s, medians of %s run(s)\n\n' "$scenario" "${SCENARIO_TITLE[$scenario]}" "$ROUNDS"
    printf '| %-9s | %9s | %9s | %9s |\n' contender "req/s" "p50 ms" "p99 ms"
    printf '|---|---:|---:|---:|\n'
    for contender in "${CONTENDERS[@]}"; do
      # shellcheck disable=SC2086 # the runs are a space-separated list
      med_rps[$contender]=$(median ${rps_runs[$scenario $contender]})
      # shellcheck disable=SC2086
      med_p50[$contender]=$(median ${p50_runs[$scenario $contender]})
      # shellcheck disable=SC2086
      med_p99[$contender]=$(median ${p99_runs[$scenario $contender]})
      printf '| %-9s | %9.0f | %9.2f | %9.2f |\n' "$contender" "${med_rps[$contender]}" "${med_p50[$contender]}" "${med_p99[$contender]}"
    done
    peer=haproxy
    awk -v n="${med_rps[nginx]}" -v h="${med_rps[haproxy]}" 'BEGIN { exit !(n > h) }' && peer=nginx
    l_rps=${med_rps[lbops]} peer_rps=${med_rps[$peer]} l_p99=${med_p99[lbops]} peer_p99=${med_p99[$peer]}
    r=$(ratio "$l_rps" "$peer_rps")
    # Judged on the req/s themselves, not on the rounded ratio: 0.998
    # prints as 1.00 but is below the peer (then shown with 3 decimals).
    if awk -v a="$l_rps" -v b="$peer_rps" 'BEGIN { exit !(a < b) }'; then
      r=$(awk -v a="$l_rps" -v b="$peer_rps" 'BEGIN { printf "%.3f", a / b }')
    fi
    if awk -v a="$l_p99" -v b="$peer_p99" 'BEGIN { exit !(a <= b) }'; then verdict="p99 ok"; else verdict="p99 worse"; fi
    printf '\nlbops ÷ %s (the faster peer): %s req/s, %s (%.2f ms vs %.2f ms)\n' "$peer" "$r" "$verdict" "$l_p99" "$peer_p99"
    parts+=("$scenario $r ($verdict)")
    if [ "$verdict" != "p99 ok" ] || awk -v a="$l_rps" -v b="$peer_rps" 'BEGIN { exit !(a < b) }'; then met=0; fi
  done
  if [[ " ${SCENARIO_LIST[*]} " == *" http-close "* ]]; then
    echo
    check_segments
  fi
  local joined
  joined=$(printf '%s, ' "${parts[@]}")
  summary="summary: ${joined%, }; goal (all ≥ 1.00, p99 no worse): $( ((met)) && echo met || echo not met)"
  printf '\n%s\n' "$summary"
}

# ---------------------------------------------------------------------------
# 2. Memory per idle client connection

# Resident memory in KiB: lbops' process, HAProxy's (one process, its
# threads share it), nginx's workers (the master holds no connection).
rss_kib() { # contender
  local pids_of
  case $1 in
  lbops) pids_of=$lbops_pid ;;
  haproxy) pids_of=$haproxy_pid ;;
  nginx) pids_of=$(pgrep -P "$nginx_pid" | tr '\n' ' ') ;;
  esac
  local pid total=0 kib
  for pid in $pids_of; do
    kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    total=$((total + kib))
  done
  echo "$total"
}

# Opens N connections, each sends one request and reads the answer, then
# all stay open and idle until the script is killed; prints "ready OPEN
# FAILED" once every connection has its answer.
cat >"$work/idle.py" <<'PY'
import asyncio, resource, sys

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
REQUEST = b"GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n"

async def one(gate, kept):
    async with gate:  # a few hundred at a time: the upstream pools stay small
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(REQUEST)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        if not head.startswith("http/1.1 200"):
            raise RuntimeError(head.split("\r\n")[0])
        length = [l.split(":", 1)[1] for l in head.split("\r\n") if l.startswith("content-length:")]
        if length:
            await reader.readexactly(int(length[0]))
        else:
            await reader.readuntil(b"0\r\n\r\n")
        kept.append(writer)

async def main():
    gate, kept = asyncio.Semaphore(200), []
    results = await asyncio.gather(*(one(gate, kept) for _ in range(count)), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        print(f"first failure: {failed[0]!r}", file=sys.stderr)
    print(f"ready {len(kept)} {len(failed)}", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
PY

memory() {
  printf '\nMemory per idle client connection: RSS before and after %s keep-alive connections to the HTTP port (one request each, then idle), open files limit %s\n\n' \
    "$MEM_CONNECTIONS" "$FD_LIMIT"
  printf '| %-9s | %12s | %12s | %11s | %13s |\n' contender "RSS before" "RSS after" established "per connection"
  printf '|---|---:|---:|---:|---:|\n'
  local contender port before after client ready established line=""
  for contender in "${CONTENDERS[@]}"; do
    port=${PORT[http-$contender]}
    # The same start for all: warmed up by a short keep-alive run.
    wrk -t"$THREADS" -c"$CONNECTIONS" -d1s "http://127.0.0.1:$port/" >/dev/null
    sleep 1
    before=$(rss_kib "$contender")
    python3 "$work/idle.py" 127.0.0.1 "$port" "$MEM_CONNECTIONS" >"$work/idle-$contender.out" 2>"$work/idle-$contender.err" &
    client=$!
    for _ in $(seq 600); do
      ready=$(awk '/^ready/ {print $2 " " $3}' "$work/idle-$contender.out")
      [ -n "$ready" ] || ! kill -0 "$client" 2>/dev/null && break
      sleep 0.2
    done
    if [ -z "$ready" ]; then
      cat "$work/idle-$contender.err" >&2
      echo "the idle client for $contender did not get its connections" >&2
      exit 1
    fi
    sleep 2
    after=$(rss_kib "$contender")
    established=$(ss -Htn state established "( sport = :$port )" | wc -l)
    kill "$client"
    wait "$client" 2>/dev/null || true
    local per_connection
    per_connection=$(awk -v a="$after" -v b="$before" -v n="$MEM_CONNECTIONS" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
    printf '| %-9s | %9s KiB | %9s KiB | %11s | %11s B |\n' "$contender" "$before" "$after" "$established" "$per_connection"
    read -r open failed <<<"$ready"
    if [ "$failed" != 0 ]; then
      printf '(%s: %s of %s connections failed: %s)\n' "$contender" "$failed" "$MEM_CONNECTIONS" "$(head -1 "$work/idle-$contender.err")"
    fi
    line+=" $contender $per_connection B,"
    sleep 2 # the closed connections leave before the next contender
  done
  printf '\nmemory per idle connection:%s\n' "${line%,}"
}

# ---------------------------------------------------------------------------
# 3. TCP throughput for large transfers

TCP_BACKEND_PORT=18381
TCP_ADMIN_PORT=18399
declare -A TCP_PORT=([direct]=$TCP_BACKEND_PORT [lbops]=18390 [haproxy]=18391 [nginx]=18392)

tcp_throughput() {
  # The backend: nginx sending a file of TCP_FILE_MB MiB with sendfile.
  # nginx's workers run as an unprivileged user when it starts as root:
  # they may pass through the work directory (not list it) to the file.
  mkdir -p "$work/www"
  head -c "$((TCP_FILE_MB * 1024 * 1024))" /dev/urandom >"$work/www/big"
  chmod o+x "$work"
  chmod o+rx "$work/www"
  chmod o+r "$work/www/big"
  cat >"$work/tcp-backend.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/tcp-backend.pid;
error_log $work/tcp-backend-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  server { listen 127.0.0.1:$TCP_BACKEND_PORT; root $work/www; }
}
CONF
  nginx -c "$work/tcp-backend.conf" -p "$work" & pids+=($!)

  mkdir -p "$work/tcp-repo"
  cat >"$work/tcp-repo/tcp.yaml" <<YAML
kind: Pool
name: bulk
spec:
  targets:
    - address: 127.0.0.1:$TCP_BACKEND_PORT
---
kind: LoadBalancer
name: bulk
spec:
  addresses: [127.0.0.1]
  listeners:
    - name: tcp
      protocol: tcp
      port: ${TCP_PORT[lbops]}
      default_action: {forward: {pools: [{pool: bulk}]}}
YAML
  $LBOPS dataplane --repo "$work/tcp-repo" --state-dir "$work/tcp-state" \
    --admin-listen 127.0.0.1:$TCP_ADMIN_PORT --admin-token-sha256-file "$work/admin.sha256" 2>"$work/tcp-lbops.log" & pids+=($!)

  cat >"$work/tcp-haproxy.cfg" <<CONF
global
  nbthread $CORES
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend bulk
  bind 127.0.0.1:${TCP_PORT[haproxy]}
  default_backend bulk
backend bulk
  server a 127.0.0.1:$TCP_BACKEND_PORT
CONF
  haproxy -f "$work/tcp-haproxy.cfg" -db 2>"$work/tcp-haproxy.log" & pids+=($!)

  local contenders=(lbops haproxy) note=""
  if [ -e "$NGINX_STREAM_MODULE" ]; then
    cat >"$work/tcp-nginx.conf" <<CONF
load_module $NGINX_STREAM_MODULE;
worker_processes $CORES;
daemon off;
pid $work/tcp-nginx.pid;
error_log $work/tcp-nginx-error.log;
events { worker_connections 1024; }
stream {
  server { listen 127.0.0.1:${TCP_PORT[nginx]}; proxy_pass 127.0.0.1:$TCP_BACKEND_PORT; }
}
CONF
    nginx -c "$work/tcp-nginx.conf" -p "$work" & pids+=($!)
    contenders+=(nginx)
  else
    note=" (nginx skipped: no stream module at $NGINX_STREAM_MODULE)"
  fi
  local contender
  for contender in direct "${contenders[@]}"; do wait_port "${TCP_PORT[$contender]}"; done
  sleep 1

  printf '\nTCP throughput: %s MiB downloaded 4 at a time (curl, HTTP through the TCP proxies), TCP_ROUNDS=%s, MB/s = 10^6 bytes/s summed over the 4, on %s cores%s\n\n' \
    "$TCP_FILE_MB" "$TCP_ROUNDS" "$CORES" "$note"
  printf '| %-5s | %-9s | %9s |\n' round contender "MB/s"
  printf '|---|---|---:|\n'
  declare -A speeds
  local round offset order i total curls
  for round in $(seq "$TCP_ROUNDS"); do
    offset=$(((round - 1) % ${#contenders[@]}))
    order=(direct "${contenders[@]:offset}" "${contenders[@]:0:offset}")
    for contender in "${order[@]}"; do
      curls=()
      for i in 1 2 3 4; do
        curl -s -o /dev/null -w '%{http_code} %{size_download} %{speed_download}\n' \
          "http://127.0.0.1:${TCP_PORT[$contender]}/big" >"$work/speed-$i" &
        curls+=($!)
      done
      wait "${curls[@]}"
      if ! awk -v size="$((TCP_FILE_MB * 1024 * 1024))" '$1 != 200 || $2 != size { exit 1 }' "$work"/speed-[1-4]; then
        echo "a download through $contender came back incomplete:" >&2
        cat "$work"/speed-[1-4] >&2
        exit 1
      fi
      total=$(awk '{ s += $3 } END { printf "%.0f", s / 1e6 }' "$work"/speed-[1-4])
      printf '| %-5s | %-9s | %9s |\n' "$round" "$contender" "$total"
      speeds[$contender]+=" $total"
    done
  done
  local line="" l_med peer_med
  # shellcheck disable=SC2086
  l_med=$(median ${speeds[lbops]})
  for contender in direct "${contenders[@]}"; do
    # shellcheck disable=SC2086
    line+=" $contender $(median ${speeds[$contender]}) MB/s,"
  done
  printf '\ntcp throughput (median):%s' "${line%,}"
  for contender in "${contenders[@]:1}"; do
    # shellcheck disable=SC2086
    peer_med=$(median ${speeds[$contender]})
    printf '; lbops ÷ %s %s' "$contender" "$(ratio "$l_med" "$peer_med")"
  done
  printf '\n'
}

# ---------------------------------------------------------------------------
# 5. A target killed under load. Three backends (single-process nginx, so
# that SIGKILL takes all of one down: its connections are reset or closed
# by the kernel mid-request, new ones refused), round robin, active TCP
# checks every second for both balancers; wrk runs KILL_DURATION seconds and
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
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${KILL_DURATION}s" "http://127.0.0.1:$KILL_PORT/" >"$out" &
  local wrk_pid=$!
  sleep "$(awk -v d="$KILL_DURATION" 'BEGIN { printf "%.1f", d / 2 }')"
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
    "$(awk -v d="$KILL_DURATION" 'BEGIN { print d / 2 }')" "$KILL_DURATION" "$CONNECTIONS" "$THREADS" "$KILL_ROUNDS" "$(nproc)"
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


# ---------------------------------------------------------------------------
# 4. Updates under load: 100 config changes through the admin API while
# wrk runs: weights shift, a third target is added, then removed (drained).

updates_under_load() {
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
  local v
  for v in $(seq 2 101); do make_config "$v" $((v % 4 + 1)) $((v / 10 % 2)) >"$work/config-$v.json"; done
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:${PORT[http-lbops]}/" >"$work/under-load.txt" &
  local wrk_pid=$!
  sleep 0.5
  local rejected=0 code
  for v in $(seq 2 101); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
      --data-binary @"$work/config-$v.json" "http://127.0.0.1:$ADMIN_PORT/v1/config")
    [ "$code" = 200 ] || rejected=$((rejected + 1))
    sleep "$(awk -v d="$DURATION" 'BEGIN { printf "%.3f", (d - 1) / 100 }')"
  done
  wait "$wrk_pid"
  local requests errors non2xx
  requests=$(awk '/requests in/ {print $1}' "$work/under-load.txt")
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4+$6+$8+$10}' "$work/under-load.txt")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$work/under-load.txt")
  printf '\nupdates under load: 100 config changes (%s refused), %s requests, %s non-2xx, %s socket errors\n' \
    "$rejected" "$requests" "${non2xx:-0}" "${errors:-0}"
}

# ---------------------------------------------------------------------------

summary=""
case $PART in
scenarios) start_balancers; scenarios ;;
memory) start_balancers; memory ;;
tcp) tcp_throughput ;;
updates) start_balancers; updates_under_load ;;
kill) target_killed ;;
all)
  start_balancers
  scenarios
  memory
  tcp_throughput
  updates_under_load
  target_killed
  printf '\n%s\n' "$summary"
  ;;
esac
