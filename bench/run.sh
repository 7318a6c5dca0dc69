#!/usr/bin/env bash
# Side-by-side benchmarks: duplex vs the FastAPI original vs bare-library ceilings (hyper;
# tokio-tungstenite and fastwebsockets for WebSockets), one run, one machine. Every row reports
# the server's CPU time per request (utime + stime from /proc/PID/stat around the load; a
# one-core wrk saturates near 150k req/s, so throughput alone stops measuring the server) with
# throughput beside it. Writes bench/results.md and bench/results.svg (README embeds both).
#
#   bench/run.sh                      # everything (~35 min)
#   BENCH_ONLY=http bench/run.sh      # http | h2 | handshake | echo | idle | stream (comma-separated);
#                                     # a part: its report goes to bench/.work/results.md, unpublished
#   BENCH_SECONDS=3 BENCH_RUNS=1 bench/run.sh   # a quick look, not for publishing
#
# Settings (environment): BENCH_SECONDS (10) per run, BENCH_RUNS (3, the median is reported),
# BENCH_WARMUP (3 s), BENCH_CONNECTIONS (64, wrk), BENCH_STREAM_STEPS ("1000 5000 10000 19000"),
# BENCH_STREAM_WINDOW (10 s), BENCH_IDLE_CONNECTIONS (10000), BENCH_PIPELINE (16),
# BENCH_H2_CONNECTIONS (64) and BENCH_H2_STREAMS (10, h2load -c and -m), BENCH_HANDSHAKE_CONNECTIONS
# (32), BENCH_PORT (18443, and the next nine ports), SERVER_CORE (0), LOAD_CORE (1).
#
# Servers listen on 127.0.0.1 (BENCH_PORT and the next nine ports), pinned to SERVER_CORE with
# one worker (duplex and the ceiling get a 1-thread runtime, uvicorn is one process); the load
# generators run on LOAD_CORE. The servers of one transport run side by side and the loads take
# turns (run 1 on every server, then run 2, ...; each round starts one server further on), so a
# slow spell of a shared VM hits them all and no server always runs right after the same one.
# The /status and echo rows also run a second instance of their ceiling (ceiling-b,
# fastwebsockets-b): its ratio to the first is the yardstick's own spread in that run.
# Every load has a fixed duration, and the script stops what it started, also on Ctrl+C.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/bench"
work="$bench/.work"
seconds="${BENCH_SECONDS:-10}"
runs="${BENCH_RUNS:-3}"
warmup="${BENCH_WARMUP:-3}"
conns="${BENCH_CONNECTIONS:-64}"
steps="${BENCH_STREAM_STEPS:-1000 5000 10000 19000}"
window="${BENCH_STREAM_WINDOW:-10}"
port="${BENCH_PORT:-18443}"
server_core="${SERVER_CORE:-0}"
load_core="${LOAD_CORE:-1}"
idle_connections="${BENCH_IDLE_CONNECTIONS:-10000}"
pipeline="${BENCH_PIPELINE:-16}"
h2_conns="${BENCH_H2_CONNECTIONS:-64}"
h2_streams="${BENCH_H2_STREAMS:-10}"
handshake_conns="${BENCH_HANDSHAKE_CONNECTIONS:-32}"
only="${BENCH_ONLY:-http,h2,handshake,echo,idle,stream}"
duplex="$root/target/release/duplex"
ceiling="$root/target/release/ceiling"
ticks_per_s="$(getconf CLK_TCK)"
venv="$bench/.venv"
results="$work/results.jsonl"

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
wants() { [[ ",$only," == *",$1,"* ]]; }

# --- what the script starts, and stops -----------------------------------------------------
declare -A server_pids=() # server name -> pid
stop_servers() {
  local name pid
  for name in "${!server_pids[@]}"; do
    pid="${server_pids[$name]}"
    kill -TERM "$pid" 2>/dev/null || true
  done
  for name in "${!server_pids[@]}"; do
    pid="${server_pids[$name]}"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  server_pids=()
}
trap stop_servers EXIT
trap 'log "interrupted"; exit 130' INT TERM

# --- tools -----------------------------------------------------------------------------------
# shellcheck source=../scripts/lib.sh
source "$root/scripts/lib.sh"
for tool in taskset python3 cargo; do command -v "$tool" >/dev/null || die "$tool is needed"; done
"$root/scripts/apt-install.sh" wrk || exit 2
if wants h2; then "$root/scripts/apt-install.sh" h2load nghttp2-client || exit 2; fi
mkdir -p "$work"
log "building duplex and the ceilings (release)"
# Two builds, each as its users build it: one cargo invocation unifies the features of
# everything it builds.
(cd "$root" && cargo build --release --quiet --bin duplex && cargo build --release --quiet -p ceiling)
setup_venv "$root" || die "could not create $venv"
rm -f "$work/cert.pem" "$work/key.pem"
"$duplex" cert --out-dir "$work" >/dev/null
: > "$results"
# CPU time the hypervisor gave to others ("steal") during the run, for the report.
read -r steal_start total_start < <(awk '/^cpu /{print $9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)

# --- servers ---------------------------------------------------------------------------------
# Each server has its own port, so the HTTP and echo loads can take turns between servers run
# by run: a slow spell of the machine then hits every server, not just one.
port_of() {
  case "$1" in
    duplex) echo "$port" ;; fastapi) echo $((port + 1)) ;; ceiling) echo $((port + 2)) ;;
    duplex-h100) echo $((port + 3)) ;; tungstenite) echo $((port + 4)) ;;
    fastwebsockets) echo $((port + 5)) ;; duplex-log) echo $((port + 6)) ;; ceiling-h2) echo $((port + 7)) ;;
    ceiling-b) echo $((port + 8)) ;; fastwebsockets-b) echo $((port + 9)) ;;
    *) die "unknown server $1" ;;
  esac
}

wait_for_port() {
  local name="$1" p tries=0
  p="$(port_of "$name")"
  until python3 -c "import socket; socket.create_connection(('127.0.0.1', $p), 0.2)" 2>/dev/null; do
    kill -0 "${server_pids[$name]}" 2>/dev/null || die "$name exited at start; see $work/$name.log"
    tries=$((tries + 1))
    [[ $tries -lt 200 ]] || die "$name did not listen on $p within 20 s"
    sleep 0.1
  done
}

# start_server NAME TRANSPORT [FLAGS...]: NAME is duplex | duplex-h100 | duplex-log | fastapi |
# ceiling | ceiling-h2 | tungstenite | fastwebsockets, or one of them with `-b` (ceiling-b,
# fastwebsockets-b): a second instance of it on its own port, measured in the same rounds, whose
# ratio to the first is the yardstick's own spread (what the machine's drift alone makes of
# 1.00). TRANSPORT plain | tls; FLAGS go to duplex.
start_server() {
  local name="$1" transport="$2" p cmd=() tls_files=(--cert "$work/cert.pem" --key "$work/key.pem")
  local kind="${name%-b}"
  shift 2
  p="$(port_of "$name")"
  case "$kind/$transport" in
    duplex/plain) cmd=("$duplex" serve --no-tls) ;;
    duplex/tls) cmd=("$duplex" serve "${tls_files[@]}") ;;
    # duplex with its access log on (the lines go to the server's log file).
    duplex-log/plain) cmd=("$duplex" serve --no-tls) ;;
    duplex-log/tls) cmd=("$duplex" serve "${tls_files[@]}") ;;
    tungstenite/plain | fastwebsockets/plain) cmd=("$ceiling" --ws "$kind") ;;
    tungstenite/tls | fastwebsockets/tls) cmd=("$ceiling" --ws "$kind" "${tls_files[@]}") ;;
    # duplex with hyper's fast header limit instead of room for the original's 200 headers.
    duplex-h100/plain) cmd=("$duplex" serve --no-tls --max-headers 100) ;;
    duplex-h100/tls) cmd=("$duplex" serve --cert "$work/cert.pem" --key "$work/key.pem" --max-headers 100) ;;
    ceiling/plain) cmd=("$ceiling") ;;
    ceiling/tls) cmd=("$ceiling" --cert "$work/cert.pem" --key "$work/key.pem") ;;
    # hyper's HTTP/2 server: ALPN h2 over TLS, prior knowledge (h2c) over plain TCP.
    ceiling-h2/plain) cmd=("$ceiling" --http2) ;;
    ceiling-h2/tls) cmd=("$ceiling" --http2 "${tls_files[@]}") ;;
    fastapi/plain) cmd=("$venv/bin/python" -m uvicorn main:app --app-dir "$bench/fastapi") ;;
    fastapi/tls) cmd=("$venv/bin/python" -m uvicorn main:app --app-dir "$bench/fastapi"
      --ssl-keyfile "$work/key.pem" --ssl-certfile "$work/cert.pem") ;;
    *) die "unknown server $name/$transport" ;;
  esac
  case "$kind" in
    duplex | duplex-h100) cmd+=(--host 127.0.0.1 --port "$p" --workers 1 --static-dir "$work/static-$name"
      --shutdown-timeout 2 --log-level warn "$@") ;;
    duplex-log) cmd+=(--host 127.0.0.1 --port "$p" --workers 1 --static-dir "$work/static-$name"
      --shutdown-timeout 2 --log-level info "$@") ;;
    ceiling | ceiling-h2 | tungstenite | fastwebsockets) cmd+=(--host 127.0.0.1 --port "$p" --workers 1) ;;
    # The guide's server: one process, access log off; its lifespan writes ./static/data.txt.
    fastapi) cmd+=(--host 127.0.0.1 --port "$p" --workers 1 --no-access-log --log-level warning) ;;
  esac
  mkdir -p "$work/fastapi-cwd"
  (cd "$work/fastapi-cwd" && exec taskset -c "$server_core" "${cmd[@]}") >"$work/$name.log" 2>&1 &
  server_pids[$name]=$!
  wait_for_port "$name"
}

scheme() { [[ "$1" == tls ]] && echo "$2s" || echo "$2"; }

# The server's CPU time so far, in clock ticks (utime + stime).
cpu_ticks() { awk '{print $14 + $15}' "/proc/${server_pids[$1]}/stat"; }

# with_cpu SERVER TICKS_BEFORE COUNT_KEY: adds "cpu_us" (server CPU per counted unit) to the
# JSON line on stdin.
with_cpu() {
  local line after
  line="$(cat)" # the load has ended once its output is complete
  after="$(cpu_ticks "$1")"
  printf '%s' "$line" | python3 -c 'import json, sys
row = json.loads(sys.stdin.read())
n = row.get(sys.argv[1]) or 0
row["cpu_us"] = (int(sys.argv[2]) / int(sys.argv[3]) * 1e6 / n) if n else None
print(json.dumps(row))' "$3" "$((after - $2))" "$ticks_per_s"
}

# rotated ROUND ITEM...: the items one per line, starting ROUND places further on (wrapping).
# Each round of a row runs its servers in this order, so that no server always runs right after
# the same one (in a fixed order the original, at 100 % of the core for a whole run, always ran
# just before the ceiling).
rotated() {
  local round="$1" i
  shift
  local items=("$@")
  for ((i = 0; i < ${#items[@]}; i++)); do printf '%s\n' "${items[$(((round + i) % ${#items[@]}))]}"; done
}

# --- HTTP with wrk ---------------------------------------------------------------------------
post_body='{"name":"Test Item","is_offer":true}'

# wrk_once SERVER TRANSPORT MODE ENDPOINT SECONDS: one wrk run, its JSON line (with the
# server's CPU time per request) on stdout. MODE is keep-alive, close (a `Connection: close`
# request, so a new connection each) or pipelined (BENCH_PIPELINE requests per write).
wrk_once() {
  local server="$1" transport="$2" mode="$3" endpoint="$4" secs="$5"
  local method="${endpoint%% *}" path="${endpoint#* }" body="" extra=() depth=1 before
  [[ "$method" == POST ]] && body="$post_body"
  [[ "$mode" == close ]] && extra=(-H "Connection: close")
  [[ "$mode" == pipelined ]] && depth="$pipeline"
  local url
  url="$(scheme "$transport" http)://127.0.0.1:$(port_of "$server")$path"
  before="$(cpu_ticks "$server")"
  WRK_BODY="$body" WRK_PIPELINE="$depth" taskset -c "$load_core" wrk -t1 -c"$conns" -d"${secs}s" --latency \
    -s "$bench/wrk.lua" "${extra[@]}" "$url" | grep '^{' | tail -1 | with_cpu "$server" "$before" requests
}

# http_row TRANSPORT MODE ENDPOINT SERVER...: a warm-up per server, then BENCH_RUNS rounds in
# which each server takes a turn; one results line per server.
http_row() {
  local transport="$1" mode="$2" endpoint="$3"
  shift 3
  local server round
  declare -A by_server=()
  for server in "$@"; do wrk_once "$server" "$transport" "$mode" "$endpoint" "$warmup" >/dev/null; done
  for round in $(seq 0 $((runs - 1))); do
    for server in $(rotated "$round" "$@"); do
      by_server[$server]+="${by_server[$server]:+,}$(wrk_once "$server" "$transport" "$mode" "$endpoint" "$seconds")"
    done
  done
  for server in "$@"; do
    printf '{"kind":"http","server":"%s","transport":"%s","mode":"%s","endpoint":"%s","runs":[%s]}\n' \
      "$server" "$transport" "$mode" "$endpoint" "${by_server[$server]}" >>"$results"
    log "$server $transport $mode $endpoint: $(grep -o '"cpu_us": [0-9.]*\|"rps": [0-9.]*' <<<"${by_server[$server]}" | tr '\n' ' ')"
  done
}

# pair_row TRANSPORT SERVER ENDPOINT_A ENDPOINT_B: two endpoints of one server taking turns run
# by run, so their ratio (the median of the runs' ratios) does not carry the drift between
# rows measured minutes apart.
pair_row() {
  local transport="$1" server="$2" a="$3" b="$4" runs_a="" runs_b="" round endpoint
  for round in $(seq 0 $((runs - 1))); do
    # A first in even rounds, B first in odd ones.
    for endpoint in $(rotated "$round" A B); do
      if [[ "$endpoint" == A ]]; then
        runs_a+="${runs_a:+,}$(wrk_once "$server" "$transport" keep-alive "$a" "$seconds")"
      else
        runs_b+="${runs_b:+,}$(wrk_once "$server" "$transport" keep-alive "$b" "$seconds")"
      fi
    done
  done
  printf '{"kind":"pair","server":"%s","transport":"%s","a":"%s","b":"%s","runs_a":[%s],"runs_b":[%s]}\n' \
    "$server" "$transport" "$a" "$b" "$runs_a" "$runs_b" >>"$results"
  log "$server $transport $a vs $b: $(grep -o '"cpu_us": [0-9.]*' <<<"$runs_a" | tr '\n' ' ')vs $(grep -o '"cpu_us": [0-9.]*' <<<"$runs_b" | tr '\n' ' ')"
}

if wants http; then
  for transport in plain tls; do
    for server in duplex fastapi ceiling duplex-h100 duplex-log ceiling-b; do start_server "$server" "$transport"; done
    http_row "$transport" keep-alive "GET /status" duplex fastapi ceiling duplex-h100 duplex-log ceiling-b
    for endpoint in "GET /" "GET /items/1" "POST /items" "GET /static/data.txt"; do
      http_row "$transport" keep-alive "$endpoint" duplex fastapi
    done
    pair_row "$transport" duplex "GET /static/data.txt" "GET /status"
    http_row "$transport" close "GET /status" duplex fastapi ceiling
    [[ "$transport" == plain ]] && http_row plain pipelined "GET /status" duplex ceiling
    stop_servers
  done
fi

# --- WebSocket echo with duplex bench echo ---------------------------------------------------
# echo_once SERVER TRANSPORT PATH SECONDS PROTOCOL: one run, its JSON line (with the server's
# CPU time per round trip) on stdout. PROTOCOL h1 is an HTTP/1.1 upgrade per connection, h2 a
# WebSocket over HTTP/2 (RFC 8441), one HTTP/2 connection each.
echo_once() {
  local server="$1" transport="$2" path="$3" secs="$4" protocol="${5:-h1}" before flags=()
  [[ "$protocol" == h2 ]] && flags=(--http2)
  before="$(cpu_ticks "$server")"
  taskset -c "$load_core" "$duplex" bench echo \
    "$(scheme "$transport" ws)://127.0.0.1:$(port_of "$server")$path" -k --threads 1 "${flags[@]}" \
    --connections 32 --size 20 --warmup 0 --duration "$secs" --json | with_cpu "$server" "$before" round_trips
}

# echo_row TRANSPORT PATH PROTOCOL SERVER...: as http_row, for the echo load on PATH.
echo_row() {
  local transport="$1" path="$2" protocol="$3" server round
  shift 3
  declare -A echo_runs=()
  for server in "$@"; do echo_once "$server" "$transport" "$path" "$warmup" "$protocol" >/dev/null; done
  for round in $(seq 0 $((runs - 1))); do
    for server in $(rotated "$round" "$@"); do
      echo_runs[$server]+="${echo_runs[$server]:+,}$(echo_once "$server" "$transport" "$path" "$seconds" "$protocol")"
    done
  done
  for server in "$@"; do
    printf '{"kind":"echo","server":"%s","transport":"%s","path":"%s","protocol":"%s","runs":[%s]}\n' \
      "$server" "$transport" "$path" "$protocol" "${echo_runs[$server]}" >>"$results"
    log "$server $transport echo $path ($protocol): $(grep -o '"cpu_us": [0-9.]*\|"round_trips_per_s": [0-9.]*' <<<"${echo_runs[$server]}" | tr '\n' ' ')"
  done
}

if wants echo; then
  for transport in plain tls; do
    for server in duplex fastapi tungstenite fastwebsockets fastwebsockets-b; do start_server "$server" "$transport"; done
    # The guide's /ws/echo against the original; /ws/mirror (the message back as is, as the
    # ceilings answer on any path) against the bare libraries.
    echo_row "$transport" /ws/echo h1 duplex fastapi
    echo_row "$transport" /ws/mirror h1 duplex tungstenite fastwebsockets fastwebsockets-b
    stop_servers
  done
fi

# --- HTTP/2 with h2load ----------------------------------------------------------------------
# h2load_once SERVER TRANSPORT PATH SECONDS: one h2load run (TLS: ALPN h2; plain: prior
# knowledge), its JSON line (with the server's CPU time per request) on stdout.
h2load_once() {
  local server="$1" transport="$2" path="$3" secs="$4" before out
  before="$(cpu_ticks "$server")"
  out="$(taskset -c "$load_core" h2load -t1 -c"$h2_conns" -m"$h2_streams" -D"$secs" \
    "$(scheme "$transport" http)://127.0.0.1:$(port_of "$server")$path" 2>&1)" || true
  # h2load prints text: "finished in 10.00s, 51234.50 req/s, ...", "requests: N total, N started,
  # N done, N succeeded, N failed, N errored, N timeout", "time for request: min max mean sd ...".
  printf '%s' "$out" | python3 -c 'import json, re, sys
text = sys.stdin.read()
row = {}
m = re.search(r"finished in [^,]*, ([0-9.]+) req/s", text)
if m:
    row["rps"] = float(m.group(1))
m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
if m:
    done, ok, failed, errored, timeout = map(int, m.groups())
    row["requests"] = ok
    row["errors"] = {"failed": failed, "errored": errored, "timeout": timeout}
m = re.search(r"Application protocol: (\S+)", text)
if m:
    row["protocol"] = m.group(1)
m = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", text)
unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
def ms(x):
    n = re.match(r"([0-9.]+)(us|ms|s)$", x)
    return float(n.group(1)) * unit[n.group(2)] if n else None
if m:
    row["mean_ms"], row["max_ms"] = ms(m.group(3)), ms(m.group(2))
if "requests" not in row:
    row["error"] = (text.strip().splitlines() or ["h2load printed nothing"])[-1]
print(json.dumps(row))' | with_cpu "$server" "$before" requests
}

# h2_row TRANSPORT PATH SERVER...: as http_row, with h2load.
h2_row() {
  local transport="$1" path="$2" server round
  shift 2
  declare -A h2_runs=()
  for server in "$@"; do h2load_once "$server" "$transport" "$path" "$warmup" >/dev/null; done
  for round in $(seq 0 $((runs - 1))); do
    for server in $(rotated "$round" "$@"); do
      h2_runs[$server]+="${h2_runs[$server]:+,}$(h2load_once "$server" "$transport" "$path" "$seconds")"
    done
  done
  for server in "$@"; do
    printf '{"kind":"h2","server":"%s","transport":"%s","endpoint":"GET %s","runs":[%s]}\n' \
      "$server" "$transport" "$path" "${h2_runs[$server]}" >>"$results"
    log "$server $transport h2 GET $path: $(grep -o '"cpu_us": [0-9.]*\|"rps": [0-9.]*' <<<"${h2_runs[$server]}" | tr '\n' ' ')"
  done
}

if wants h2; then
  for transport in plain tls; do
    start_server duplex "$transport"
    start_server ceiling-h2 "$transport"
    h2_row "$transport" /status duplex ceiling-h2
    # RFC 8441 has no bare-library ceiling: neither tokio-tungstenite nor fastwebsockets
    # speaks it, so duplex's row stands alone (next to its own HTTP/1.1 echo).
    echo_row "$transport" /ws/mirror h2 duplex
    stop_servers
  done
fi

# --- TLS handshakes with duplex bench handshake ----------------------------------------------
# handshake_once SERVER KIND SECONDS: one run of full or resumed handshakes (each connection:
# TCP, TLS, close_notify, the server closes), its JSON line (with the server's CPU time per
# handshake) on stdout. A resumed run in which nothing resumed fails, and its line says why.
handshake_once() {
  local server="$1" kind="$2" secs="$3" before out flags=()
  [[ "$kind" == resumed ]] && flags=(--resume)
  before="$(cpu_ticks "$server")"
  if ! out="$(taskset -c "$load_core" "$duplex" bench handshake \
    "https://127.0.0.1:$(port_of "$server")/status" -k --threads 1 "${flags[@]}" \
    --connections "$handshake_conns" --duration "$secs" --json 2>"$work/handshake.err")"; then
    out="$(python3 -c 'import json, sys; print(json.dumps({"handshakes": 0, "error": sys.argv[1]}))' \
      "$(tail -1 "$work/handshake.err")")"
  fi
  with_cpu "$server" "$before" handshakes <<<"$out"
}

# handshake_row KIND SERVER...: as http_row, for full or resumed handshakes.
handshake_row() {
  local kind="$1" server round
  shift
  declare -A hs_runs=()
  for server in "$@"; do handshake_once "$server" "$kind" "$warmup" >/dev/null; done
  for round in $(seq 0 $((runs - 1))); do
    for server in $(rotated "$round" "$@"); do
      hs_runs[$server]+="${hs_runs[$server]:+,}$(handshake_once "$server" "$kind" "$seconds")"
    done
  done
  for server in "$@"; do
    printf '{"kind":"handshake","server":"%s","transport":"tls","handshake":"%s","runs":[%s]}\n' \
      "$server" "$kind" "${hs_runs[$server]}" >>"$results"
    log "$server $kind handshakes: $(grep -o '"cpu_us": [0-9.]*\|"handshakes_per_s": [0-9.]*\|"resumed": [0-9]*' <<<"${hs_runs[$server]}" | tr '\n' ' ')"
  done
}

if wants handshake; then
  start_server duplex tls
  start_server ceiling tls
  handshake_row full duplex ceiling
  handshake_row resumed duplex ceiling
  stop_servers
fi

# --- memory per idle connection with duplex bench idle ---------------------------------------
# A fresh server per measurement, so its growth is measured from its own baseline.
if wants idle; then
  for kind in plain tls websocket; do
    case "$kind" in
      websocket) servers=(duplex tungstenite fastwebsockets) transport=plain ;;
      *) servers=(duplex ceiling) transport="$kind" ;;
    esac
    for server in "${servers[@]}"; do
      # No keep-alive timeout may close the connections while they are counted.
      start_server "$server" "$transport" --keep-alive-timeout 3600
      sleep 1 # the baseline memory is read after start-up settles
      path=/status url_scheme=http flags=()
      if [[ "$kind" == websocket ]]; then
        path=/ws/mirror url_scheme=ws flags=(--websocket)
      fi
      line="$(taskset -c "$load_core" "$duplex" bench idle \
        "$(scheme "$transport" "$url_scheme")://127.0.0.1:$(port_of "$server")$path" -k "${flags[@]}" \
        --connections "$idle_connections" --server-pid "${server_pids[$server]}" --json)" ||
        line='{"connections":'"$idle_connections"',"opened":0,"first_error":"the load generator failed"}'
      printf '{"kind":"idle","server":"%s","transport":"%s","result":%s}\n' "$server" "$kind" "$line" >>"$results"
      log "$server idle $kind: $line"
      stop_servers
    done
  done
fi

# --- /ws/stream fan-out with duplex bench stream ---------------------------------------------
# A fresh server per step, so its memory per subscriber is measured from its own baseline.
if wants stream; then
  for server in duplex fastapi; do
    for n in $steps; do
      start_server "$server" plain
      sleep 1 # the baseline memory is read after start-up settles
      line="$(taskset -c "$load_core" "$duplex" bench stream "ws://127.0.0.1:$(port_of "$server")/ws/stream" \
        --subscribers "$n" --window "$window" --server-pid "${server_pids[$server]}" --json)" ||
        line='{"subscribers":'"$n"',"on_time":false,"first_error":"the load generator failed"}'
      printf '{"kind":"stream","server":"%s","transport":"plain","result":%s}\n' "$server" "$line" >>"$results"
      log "$server stream $n: $line"
      stop_servers
    done
  done
fi

# --- report ----------------------------------------------------------------------------------
read -r steal_end total_end < <(awk '/^cpu /{print $9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
steal="$(awk -v s=$((steal_end - steal_start)) -v t=$((total_end - total_start)) 'BEGIN{printf "%.0f", t ? 100*s/t : 0}')"
machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, Linux $(uname -r); ${steal} % of CPU time stolen by the hypervisor during the run"
versions="duplex $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'); $("$venv/bin/python" -c 'import sys,fastapi,uvicorn,websockets; print(f"Python {sys.version.split()[0]}, fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}, websockets {websockets.__version__}")'); $({ wrk --version 2>&1 || true; } | head -1 | cut -d' ' -f1-2)$(command -v h2load >/dev/null && printf '; %s' "$(h2load --version 2>&1 | head -1 | sed 's/^h2load //')")"
settings="runs=$runs seconds=$seconds warmup=$warmup connections=$conns pipeline=$pipeline h2load=-c$h2_conns/-m$h2_streams handshake_connections=$handshake_conns idle_connections=$idle_connections stream_window=$window server_core=$server_core load_core=$load_core"
# The run's own description goes into the results file, so the report can be rebuilt from it.
python3 -c 'import json, sys, datetime
print(json.dumps({"kind": "meta", "machine": sys.argv[1], "versions": sys.argv[2], "settings": sys.argv[3],
                  "finished": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}))' \
  "$machine" "$versions" "$settings" >>"$results"
report=(--pipeline "$pipeline" --h2 "$h2_conns/$h2_streams" --handshake-connections "$handshake_conns")
if [[ -n "${BENCH_ONLY:-}" ]]; then
  # A part of the set: its report stays in the work directory, and the published run (the
  # README's targets, bench/results.*) is left as it is.
  python3 "$bench/report.py" "$results" "$work/results.md" "$work/results.svg" "${report[@]}"
  log "a partial run (BENCH_ONLY=$BENCH_ONLY): wrote $work/results.md; the published results are unchanged"
  exit 0
fi
# Kept beside the report, so a change to the report can be applied to the published run.
cp "$results" "$bench/results.jsonl"
python3 "$bench/report.py" "$results" "$bench/results.md" "$bench/results.svg" "${report[@]}" \
  --readme "$root/README.md"
log "wrote bench/results.md, bench/results.svg and bench/results.jsonl"
