#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzing client (all cases, compression included) against
# duplex's /ws/mirror, over ws:// and wss://, and prints the suite's summary line for each.
#
# usage: scripts/autobahn.sh [CASES] [EXCLUDE]
#   CASES    comma-separated case patterns (default "*": all 517)
#   EXCLUDE  comma-separated patterns to skip (default none), e.g. "9.*" for a quicker run
#
# Needs ../shared/tools/autobahn.sh next to the repository (or AUTOBAHN_SH=/path/to/it),
# which installs the suite (Python 2.7 venv) on first use. Reports go to
# target/autobahn/{ws,wss}/index.html. Exit status: 0 when both runs report 0 FAILED and
# 0 UNCLEAN. Takes about 15-20 minutes per scheme for all cases on two cores.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
autobahn="${AUTOBAHN_SH:-$repo/../shared/tools/autobahn.sh}"
cases="${1:-*}"
exclude="${2:-}"
if [[ ! -x "$autobahn" ]]; then
  echo "scripts/autobahn.sh: $autobahn not found (set AUTOBAHN_SH)" >&2
  exit 2
fi

cargo build --release --manifest-path "$repo/Cargo.toml" >&2
bin="$repo/target/release/duplex"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Picks a free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # name port extra-args...
  local name="$1" port="$2"; shift 2
  "$bin" --host 127.0.0.1 --port "$port" --static-dir "$work/$name-static" \
    --log-level warn "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "scripts/autobahn.sh: duplex ($name) did not start:" >&2
  cat "$work/$name.log" >&2
  exit 2
}

ws_port="$(free_port)"
start ws "$ws_port" --no-tls
wss_port="$(free_port)"
start wss "$wss_port" --dev-cert-dir "$work/certs"

status=0
for scheme in ws wss; do
  port="${scheme}_port"
  out="$repo/target/autobahn/$scheme"
  echo "== $scheme://127.0.0.1:${!port}/ws/mirror"
  "$autobahn" -a duplex -o "$out" -t 2400 ${exclude:+-x "$exclude"} \
    "$scheme://127.0.0.1:${!port}/ws/mirror" "$cases" || status=1
done
exit "$status"
