#!/usr/bin/env bash
# Differential test against the FastAPI original: a release build of duplex (plain HTTP) and
# the original (bench/fastapi/main.py under uvicorn, from bench/.venv, created as bench/run.sh
# does if missing) run side by side on free loopback ports, and scripts/differential.py sends
# both the same seeded random requests (item ids, POST /items bodies and content types, methods
# and paths), comparing status, content-type, location and body. Prints each undocumented
# mismatch (at most 20) and one summary line; exits non-zero on any mismatch.
#
# usage: scripts/differential.sh [--seed N] [--count N] [--show N]   (about a minute for 3000)
# env:   DIFF_TIMEOUT (900): seconds the driver may run before it is stopped
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/duplex-differential.XXXXXX")"

log() { printf '[differential] %s\n' "$*" >&2; }

pids=()
# Stops what this script started: TERM, up to 5 s to exit, then KILL.
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

for cmd in python3 cargo; do
  command -v "$cmd" >/dev/null || { log "needs $cmd"; exit 2; }
done
# shellcheck source=lib.sh
source "$root/scripts/lib.sh"
log "building duplex (release)"
(cd "$root" && cargo build --release --quiet --bin duplex) || exit 2
setup_venv "$root" || exit 2

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_port NAME PID PORT: up to 20 s for the server to accept connections.
wait_for_port() {
  for _ in $(seq 200); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $3), 0.2)" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { log "$1 exited at start:"; cat "$work/$1.log" >&2; return 2; }
    sleep 0.1
  done
  log "$1 did not listen on port $3 within 20 s"
  cat "$work/$1.log" >&2
  return 2
}

duplex_port="$(free_port)"
"$root/target/release/duplex" serve --no-tls --host 127.0.0.1 --port "$duplex_port" \
  --static-dir "$work/static-duplex" --log-level warn >"$work/duplex.log" 2>&1 &
pids+=($!)
wait_for_port duplex "$!" "$duplex_port" || exit 2

# The original's lifespan writes ./static/data.txt, so it runs in a directory of its own.
original_port="$(free_port)"
mkdir -p "$work/original-cwd"
(cd "$work/original-cwd" && exec "$venv/bin/python" -m uvicorn main:app \
  --app-dir "$root/bench/fastapi" --host 127.0.0.1 --port "$original_port" --workers 1 \
  --no-access-log --log-level warning) >"$work/original.log" 2>&1 &
pids+=($!)
wait_for_port original "$!" "$original_port" || exit 2

# In the background, so an interrupt reaches the trap at once and cleanup stops the driver too.
timeout --kill-after=5 "${DIFF_TIMEOUT:-900}" python3 "$root/scripts/differential.py" \
  --duplex "127.0.0.1:$duplex_port" --original "127.0.0.1:$original_port" "$@" &
driver=$!
pids=("$driver" "${pids[@]}")
wait "$driver"
status=$?
[[ $status -eq 124 ]] && log "the driver did not finish within ${DIFF_TIMEOUT:-900} s"
if grep -q "panicked" "$work/duplex.log"; then
  log "duplex log shows a panic:"
  cat "$work/duplex.log" >&2
  status=1
fi
exit "$status"
