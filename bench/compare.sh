#!/usr/bin/env bash
# Two builds of duplex side by side in one run, e.g. before and after a change:
# `GET /status` (wrk, 64 keep-alive connections) and the WebSocket echo round trip (`duplex bench
# echo`, 32 connections, 20-byte messages), plain and TLS. Each row reports the server's CPU time
# per request (utime + stime from /proc/PID/stat around the load) next to its throughput, the
# median of COMPARE_RUNS runs, and the median of the runs' after/before ratios of the CPU time
# (each pair of runs is adjacent in time).
#
#   bench/compare.sh BEFORE_BINARY AFTER_BINARY
#
# Settings (environment): COMPARE_SECONDS (10) per run, COMPARE_RUNS (3), COMPARE_PORT (18600),
# SERVER_CORE (0), LOAD_CORE (1), BEFORE_FLAGS and AFTER_FLAGS (serve flags of each side,
# default `--log-level warn`; e.g. the same binary with `--no-access-log` against `` measures
# the access log, whose lines then go to a file). Both servers run at once, pinned to SERVER_CORE with one
# worker; the loads run on LOAD_CORE and take turns run by run, so a slow spell of a shared VM
# hits both. The echo load is always AFTER_BINARY's `duplex bench echo`. Traffic stays on
# 127.0.0.1; every load has a fixed duration; the script stops what it started.
set -euo pipefail

[[ $# -eq 2 ]] || { sed -n '2,16p' "$0" >&2; exit 2; }
before="$(realpath "$1")"
after="$(realpath "$2")"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${COMPARE_SECONDS:-10}"
runs="${COMPARE_RUNS:-3}"
port="${COMPARE_PORT:-18600}"
server_core="${SERVER_CORE:-0}"
load_core="${LOAD_CORE:-1}"
ticks_per_s="$(getconf CLK_TCK)"

log() { printf '[compare %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
for bin in "$before" "$after"; do [[ -x "$bin" ]] || die "$bin is not an executable"; done
"$root/scripts/apt-install.sh" wrk || exit 2

work="$(mktemp -d)"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$after" cert --out-dir "$work" >/dev/null

# shellcheck source=../scripts/lib.sh
source "$root/scripts/lib.sh"

read -r -a before_flags <<<"${BEFORE_FLAGS---log-level warn}"
read -r -a after_flags <<<"${AFTER_FLAGS---log-level warn}"

# start NAME BINARY PORT TRANSPORT: a server pinned to the server core, its PID in pid_of.
declare -A pid_of=()
start() {
  local name="$1" bin="$2" p="$3" transport="$4" tls=(--no-tls) scheme=http flags
  [[ "$transport" == tls ]] && tls=(--cert "$work/cert.pem" --key "$work/key.pem") scheme=https
  if [[ "$name" == before ]]; then flags=("${before_flags[@]}"); else flags=("${after_flags[@]}"); fi
  taskset -c "$server_core" "$bin" serve "${tls[@]}" --host 127.0.0.1 --port "$p" --workers 1 \
    --static-dir "$work/static-$name" --shutdown-timeout 2 "${flags[@]}" \
    >"$work/$name.log" 2>&1 &
  pids+=($!)
  pid_of[$name]=$!
  await_server "$scheme://127.0.0.1:$p" "$work/$name.log" || exit 2
}

stop_all() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure NAME KIND URL: one load; prints "CPU-µs-per-request requests-per-second".
measure() {
  local name="$1" kind="$2" url="$3" t0 t1 count
  t0="$(cpu_ticks "${pid_of[$name]}")"
  case "$kind" in
    status)
      count="$(taskset -c "$load_core" wrk -t1 -c64 -d"${seconds}s" "$url" |
        awk '/requests in/{print $1}')" ;;
    echo)
      count="$(taskset -c "$load_core" "$after" bench echo "$url" -k --threads 1 --connections 32 \
        --size 20 --warmup 0 --duration "$seconds" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["round_trips"])')" ;;
  esac
  t1="$(cpu_ticks "${pid_of[$name]}")"
  awk -v t=$((t1 - t0)) -v hz="$ticks_per_s" -v n="$count" -v s="$seconds" \
    'BEGIN { if (n > 0) printf "%.2f %.0f\n", t / hz * 1e6 / n, n / s; else print "nan 0" }'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

printf '| row | before: CPU µs/req | after: CPU µs/req | after/before | before: req/s | after: req/s |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
for transport in plain tls; do
  start before "$before" "$port" "$transport"
  start after "$after" $((port + 1)) "$transport"
  scheme=http ws=ws
  [[ "$transport" == tls ]] && scheme=https ws=wss
  for kind in status echo; do
    declare -A cpu=() rps=()
    ratios=""
    for name in before after; do
      p="$port"
      [[ "$name" == after ]] && p=$((port + 1))
      [[ "$kind" == status ]] && url="$scheme://127.0.0.1:$p/status" || url="$ws://127.0.0.1:$p/ws/echo"
      measure "$name" "$kind" "$url" >/dev/null # warm-up
    done
    for run in $(seq "$runs"); do
      for name in before after; do
        p="$port"
        [[ "$name" == after ]] && p=$((port + 1))
        [[ "$kind" == status ]] && url="$scheme://127.0.0.1:$p/status" || url="$ws://127.0.0.1:$p/ws/echo"
        read -r us per_s < <(measure "$name" "$kind" "$url")
        cpu[$name]+="$us"$'\n'
        rps[$name]+="$per_s"$'\n'
        log "$transport $kind run $run $name: $us µs/request, $per_s/s"
        [[ "$name" == before ]] && before_us="$us"
      done
      # The two runs of a pair are seconds apart: their ratio is immune to the slow drift of a
      # shared machine that moves both medians.
      ratios+="$(awk -v b="$before_us" -v a="$us" 'BEGIN { print a / b }')"$'\n'
    done
    b_cpu="$(printf '%s' "${cpu[before]}" | median)"
    a_cpu="$(printf '%s' "${cpu[after]}" | median)"
    b_rps="$(printf '%s' "${rps[before]}" | median)"
    a_rps="$(printf '%s' "${rps[after]}" | median)"
    ratio="$(printf '%s' "$ratios" | median)"
    row="GET /status"
    [[ "$kind" == echo ]] && row="WebSocket echo round trip"
    awk -v r="$row ($transport)" -v b="$b_cpu" -v a="$a_cpu" -v br="$b_rps" -v ar="$a_rps" -v q="$ratio" \
      'BEGIN { printf "| %s | %.2f | %.2f | %.3f | %.0f | %.0f |\n", r, b, a, q, br, ar }'
    unset cpu rps
  done
  stop_all
done
printf '\nmedian of %s runs of %s s; CPU time from /proc/PID/stat at %s ticks/s\n' "$runs" "$seconds" "$ticks_per_s"
