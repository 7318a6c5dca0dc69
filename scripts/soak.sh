#!/usr/bin/env bash
# Soak: a release build of duplex over TLS under mixed HTTP and WebSocket load for a bounded
# time, checking that nothing fails and that memory does not creep.
#
# Load, all at once (the bench load generators, on loopback):
#   wrk: GET /status (16 conns), GET /items/1 (8), POST /items (8), GET /static/data.txt (4),
#        and GET /status with `Connection: close` (4: a TLS handshake per request);
#   duplex bench echo: 16 WebSocket connections echoing 20-byte messages;
#   duplex bench stream: 1,000 /ws/stream subscribers, every tick counted.
# RSS is sampled every 5 s. Passes when RSS at the end is within SOAK_RSS_TOLERANCE % of RSS
# after the warm-up, no request or connection failed, no tick was lost and the server log has
# no panic and no warning.
#
# usage: scripts/soak.sh                 (SOAK_SECONDS=600: about 11 minutes)
# env:   SOAK_SECONDS (600), SOAK_WARMUP (60), SOAK_PORT (18643), SOAK_RSS_TOLERANCE (10),
#        SERVER_CORE (0), LOAD_CORE (1)
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${SOAK_SECONDS:-600}"
warmup="${SOAK_WARMUP:-60}"
port="${SOAK_PORT:-18643}"
tolerance="${SOAK_RSS_TOLERANCE:-10}"
server_core="${SERVER_CORE:-0}"
load_core="${LOAD_CORE:-1}"
work="$(mktemp -d "${TMPDIR:-/tmp}/duplex-soak.XXXXXX")"
url="https://127.0.0.1:$port"
(( warmup < seconds - 30 )) || { echo "soak: SOAK_SECONDS must exceed SOAK_WARMUP by 30" >&2; exit 2; }

log() { printf '[soak] %s\n' "$*" >&2; }

pids=() server_pid=""
cleanup() {
  for pid in "${pids[@]}" $server_pid; do
    kill -TERM "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

"$root/scripts/apt-install.sh" wrk || exit 2

source "$root/scripts/lib.sh"
build_duplex "$root" "$work" || exit 2

NO_COLOR=1 taskset -c "$server_core" "$duplex" serve --port "$port" --workers 1 \
  --cert "$work/cert.pem" --key "$work/key.pem" --static-dir "$work/static" \
  --log-level warn 2>"$work/server.log" &
server_pid=$!
await_server "$url" "$work/server.log" || exit 2
log "duplex pid $server_pid on $url; load for $seconds s (warm-up $warmup s)"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status" 2>/dev/null; }

# wrk_load NAME CONNS PATH [extra wrk args...]
wrk_load() {
  local name=$1 conns=$2 path=$3; shift 3
  taskset -c "$load_core" wrk -t1 -c"$conns" -d"${seconds}s" -s "$root/bench/wrk.lua" "$@" \
    "$url$path" >"$work/wrk-$name.txt" 2>&1 &
  pids+=($!)
}
wrk_load status 16 /status
wrk_load item 8 /items/1
WRK_BODY='{"name":"soak","is_offer":true}' wrk_load post 8 /items
wrk_load static 4 /static/data.txt
wrk_load close 4 /status -H "Connection: close"

taskset -c "$load_core" "$duplex" bench echo "wss://127.0.0.1:$port/ws/echo" \
  --cacert "$work/cert.pem" --threads 1 --connections 16 --size 20 --warmup 0 \
  --duration "$seconds" --json >"$work/echo.json" 2>"$work/echo.err" &
pids+=($!)
taskset -c "$load_core" "$duplex" bench stream "wss://127.0.0.1:$port/ws/stream" \
  --cacert "$work/cert.pem" --subscribers 1000 --window $((seconds - 20)) --json \
  >"$work/stream.json" 2>"$work/stream.err" &
pids+=($!)

# RSS every 5 s while the load runs.
: >"$work/rss.txt"
started=$(date +%s)
while (( $(date +%s) - started < seconds )); do
  echo "$(( $(date +%s) - started )) $(rss_kib)" >>"$work/rss.txt"
  sleep 5
done
wait "${pids[@]}" 2>/dev/null
pids=()

python3 - "$work" "$warmup" "$tolerance" <<'EOF'
import json, pathlib, re, sys
work, warmup, tolerance = pathlib.Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
fail = False
def line(text, ok):
    global fail
    fail |= not ok
    print(f"{text}: {'PASS' if ok else 'FAIL'}")

for path in sorted(work.glob("wrk-*.txt")):
    name = path.stem.removeprefix("wrk-")
    rows = [l for l in path.read_text().splitlines() if l.startswith("{")]
    if not rows:
        line(f"wrk {name}: no result ({path.read_text().strip()[-200:]})", False)
        continue
    r = json.loads(rows[-1])
    errors = sum(r["errors"].values())
    line(f"wrk {name}: {r['requests']} requests, {r['rps']:.0f}/s, p99 {r['p99_ms']:.1f} ms, "
         f"{errors} errors {r['errors']}", errors == 0 and r["requests"] > 0)

def last_json(name):
    text = (work / name).read_text().strip().splitlines()
    return json.loads(text[-1]) if text else None

echo = last_json("echo.json")
if echo is None:
    line(f"echo: no result ({(work / 'echo.err').read_text().strip()[-200:]})", False)
else:
    line(f"echo: {echo['round_trips']} round trips, {echo['round_trips_per_s']:.0f}/s, "
         f"p99 {echo['p99_us']} us, {echo['failed']} failed connections",
         echo["failed"] == 0 and echo["round_trips"] > 0)

stream = last_json("stream.json")
if stream is None:
    line(f"stream: no result ({(work / 'stream.err').read_text().strip()[-200:]})", False)
else:
    ok = (stream["connected"] == stream["subscribers"] and stream["connect_errors"] == 0
          and stream["dropped"] == 0 and stream["lost"] == 0)
    line(f"stream: {stream['connected']}/{stream['subscribers']} subscribers, "
         f"{stream['received']}/{stream['expected']} ticks, {stream['lost']} lost, "
         f"{stream['late']} late (max {stream['max_ms']} ms), {stream['dropped']} dropped", ok)

samples = [tuple(map(int, l.split())) for l in (work / "rss.txt").read_text().splitlines()
           if len(l.split()) == 2]
after_warmup = next((kib for t, kib in samples if t >= warmup), None)
end = samples[-1][1] if samples else None
peak = max((kib for _, kib in samples), default=0)
if after_warmup and end:
    growth = 100.0 * (end - after_warmup) / after_warmup
    line(f"RSS: {after_warmup} KiB after {warmup} s warm-up, {end} KiB at the end "
         f"({growth:+.1f} %, limit +{tolerance:g} %), peak {peak} KiB", growth <= tolerance)
else:
    line("RSS: no samples", False)

log = re.sub(r"\x1b\[[0-9;]*m", "", (work / "server.log").read_text())
bad = [l for l in log.splitlines() if "panick" in l or " WARN " in l or " ERROR " in l]
line(f"server log: {len(bad)} warnings/errors/panics" + (f" (first: {bad[0][:160]})" if bad else ""),
     not bad)
print("soak: " + ("FAIL" if fail else "PASS"))
sys.exit(1 if fail else 0)
EOF
