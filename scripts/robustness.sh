#!/usr/bin/env bash
# Hostile-client checks against a release build of duplex on loopback, with default limits:
#   1. slowloris (slow request heads) and 2. slow body (R-U-Dead-Yet), 1,000 connections for
#      30 s each, via ../shared/tools/slowloris.sh (slowhttptest, installed from Debian if
#      missing), while our own probe sends `GET /status` on a fresh TLS connection every 0.5 s;
#   3. TLS policy via ../shared/tools/tls-check.sh: TLS 1.0/1.1 refused, 1.2/1.3 accepted,
#      ALPN h2 and http/1.1 negotiated.
# Prints one summary line per check and exits 0 only when every check passes.
#
# usage: scripts/robustness.sh            (about 2 minutes)
# env:   ROBUST_PORT (18543), ROBUST_CONNECTIONS (1000), ROBUST_SECONDS (30),
#        ROBUST_PROBE_MAX (2: seconds a probe may take), TOOLS (../shared/tools)
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${TOOLS:-$root/../shared/tools}"
port="${ROBUST_PORT:-18543}"
conns="${ROBUST_CONNECTIONS:-1000}"
seconds="${ROBUST_SECONDS:-30}"
probe_max="${ROBUST_PROBE_MAX:-2}"
work="$(mktemp -d "${TMPDIR:-/tmp}/duplex-robustness.XXXXXX")"
url="https://127.0.0.1:$port"

log() { printf '[robustness] %s\n' "$*" >&2; }

server_pid="" probe_pid=""
cleanup() {
  for pid in $probe_pid $server_pid; do
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

for tool in "$tools/slowloris.sh" "$tools/tls-check.sh"; do
  [[ -x "$tool" || -f "$tool" ]] || { log "missing $tool (set TOOLS=)"; exit 2; }
done
"$root/scripts/apt-install.sh" slowhttptest || exit 2
for cmd in curl openssl; do
  command -v "$cmd" >/dev/null || { log "needs $cmd"; exit 2; }
done

source "$root/scripts/lib.sh"
build_duplex "$root" "$work" || exit 2

"$duplex" serve --port "$port" --cert "$work/cert.pem" --key "$work/key.pem" \
  --static-dir "$work/static" --log-level warn 2>"$work/server.log" &
server_pid=$!
await_server "$url" "$work/server.log" || exit 2
log "duplex pid $server_pid on $url"

# A fresh TLS connection per probe, as a new client would come; one line per probe:
# "<status> <seconds>" (000 when it failed or timed out).
probe() {
  while :; do
    curl -sk -o /dev/null --max-time "$probe_max" -w '%{http_code} %{time_total}\n' "$url/status" \
      || true
    sleep 0.5
  done
}

# probe_summary NAME FILE -> one line, and status 0 when every probe got 200 in time
probe_summary() {
  awk -v name="$1" -v max="$probe_max" '
    { n++; if ($1 == 200) ok++; if ($2 > worst) worst = $2 }
    END {
      verdict = (n > 0 && ok == n) ? "PASS" : "FAIL"
      printf "%s probe GET /status: %d/%d answered 200 (slowest %.3f s, limit %s s): %s\n",
        name, ok, n, worst, max, verdict
      exit verdict == "PASS" ? 0 : 1
    }' "$2"
}

fail=0
summary=()
run_attack() {  # NAME MODE PATH [VERB]
  local name=$1 mode=$2 path=$3 verb=${4:-}
  local probes="$work/probe-$mode.txt"
  probe >"$probes" &
  probe_pid=$!
  local verbarg=(); [[ -n "$verb" ]] && verbarg=(-t "$verb")
  log "$name: $conns connections for $seconds s against $path"
  bash "$tools/slowloris.sh" -m "$mode" -c "$conns" -l "$seconds" "${verbarg[@]}" \
    -o "$work/slowloris-$mode" "$url$path" >"$work/slowloris-$mode.txt" 2>&1
  local rc=$?
  kill -TERM "$probe_pid" 2>/dev/null; wait "$probe_pid" 2>/dev/null; probe_pid=""
  local line
  line=$(tail -1 "$work/slowloris-$mode.txt")
  summary+=("$name: ${line#slowloris: }")
  [[ $rc -eq 0 && $line == *": PASS" ]] || fail=1
  local probed
  probed=$(probe_summary "$name" "$probes") || fail=1
  summary+=("$probed")
}

run_attack "slowloris (slow heads)" H /status
sleep 5
run_attack "slow body (R-U-Dead-Yet)" B /items POST

log "TLS policy"
tls_out="$work/tls-check.txt"
bash "$tools/tls-check.sh" -A h2,http/1.1 "127.0.0.1:$port" >"$tls_out" 2>&1
tls_rc=$?
versions=$(awk '/^   tls1/ {printf "%s%s %s", sep, $1, $2; sep=", "}' "$tls_out")
alpn=$(grep -E "^   (PASS|FAIL) ALPN" "$tls_out" | sed 's/^ *//' | paste -sd, -)
h2=$(grep -E "offer h2 +->" "$tls_out" | sed 's/.*-> *//')
summary+=("TLS policy: $versions; $alpn; h2 alone -> ${h2:-?}: $([[ $tls_rc -eq 0 ]] && echo PASS || echo FAIL)")
[[ $tls_rc -eq 0 ]] || fail=1

# The server must have survived all of it.
if kill -0 "$server_pid" 2>/dev/null && curl -sk -o /dev/null --max-time 2 "$url/status"; then
  summary+=("server still serving after the attacks: PASS")
else
  summary+=("server still serving after the attacks: FAIL"); fail=1
fi
if grep -qi "panick" "$work/server.log"; then
  summary+=("server log free of panics: FAIL"); fail=1
else
  summary+=("server log free of panics: PASS")
fi

echo
printf '%s\n' "${summary[@]}"
if [[ $fail -eq 0 ]]; then echo "robustness: PASS"; else echo "robustness: FAIL"; cp "$tls_out" /tmp/duplex-tls-check.txt 2>/dev/null; fi
exit $fail
