#!/usr/bin/env bash
# duplex in a real browser: headless Chromium (Debian's `chromium`, installed by this script
# when missing, with `certutil` from libnss3-tools) against a release build on 127.0.0.1.
#
#   scripts/browser.sh [OUT_DIR]
#
# Checks, each from the page's DOM (`--dump-dom`), with a screenshot in OUT_DIR (default
# target/browser):
#   0. control: an ED25519 certificate (the guide's kind) does not load, even with
#      --ignore-certificate-errors (browsers refuse ED25519);
#   1. https://localhost:PORT/status loads with the default generated certificate (ECDSA P-256,
#      --ignore-certificate-errors: the "Proceed to localhost" click);
#   2. with `duplex cert --ca` and the CA trusted in a throwaway NSS database, the page loads with
#      no certificate error and no --ignore-certificate-errors; with an empty database it does not.
#   3. /docs (Swagger UI) and /redoc render the operations of every route with no network access
#      (their assets come from duplex), including duplex's own /echo/raw;
#   4. the inspector (`--inspect`, /_duplex/), driven over the DevTools protocol
#      (scripts/inspector_check.py, with Python `websockets` from bench/.venv): a frame sent by
#      `duplex client echo` shows on the page within a second, and the page's panel does an echo
#      round trip and a WebCrypto-signed /ws/v5/private login.
# Everything runs in a temporary directory (its own HOME for Chromium and NSS); the script stops
# what it started and installs nothing into any trust store of this machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/target/browser}"
log() { printf '[browser %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
"$root/scripts/apt-install.sh" chromium || exit 2
"$root/scripts/apt-install.sh" certutil libnss3-tools || exit 2
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"
setup_venv "$root" || exit 2
mkdir -p "$out"
(cd "$root" && cargo build --release --quiet)
bin="$root/target/release/duplex"

work="$(mktemp -d)"
pid=""
stop() { [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=""; }
cleanup() { stop; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

# serve ARGS...: duplex on $port until `stop`.
serve() {
  "$bin" --port "$port" --static-dir "$work/static" --dev-cert-dir "$work/certs" "$@" \
    >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    grep -q "listening on" "$work/server.log" && return 0
    sleep 0.05
  done
  cat "$work/server.log" >&2
  return 1
}

# page NAME HOME [CHROMIUM FLAGS...]: the DOM of $path (default /status) once its scripts have
# run, and a screenshot.
path=/status
page() {
  local name="$1" home="$2"
  shift 2
  mkdir -p "$home"
  HOME="$home" timeout 60 chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$home/profile" --window-size=1000,700 --virtual-time-budget=10000 "$@" \
    --screenshot="$out/$name.png" "https://localhost:$port$path" >/dev/null 2>&1 || true
  HOME="$home" timeout 60 chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$home/profile" --virtual-time-budget=10000 "$@" \
    --dump-dom "https://localhost:$port$path" 2>/dev/null || true
}

failures=0
want='{"status":"ok"}'
expect() { # expect NAME WANT(loads|fails) DOM: whether the DOM has $want
  local name="$1" expected="$2" dom="$3" got=fails
  [[ "$dom" == *"$want"* ]] && got=loads
  want_loads="$expected"
  if [[ "$got" == "$want_loads" ]]; then
    log "ok   $name: the page $got ($out/$name.png)"
  else
    log "FAIL $name: the page $got, expected it to $want_loads"
    failures=$((failures + 1))
  fi
}

log "0. an ED25519 certificate (the guide's gen_certs.sh kind)"
"$bin" cert --out-dir "$work/ed25519" >/dev/null
serve --cert "$work/ed25519/cert.pem" --key "$work/ed25519/key.pem"
expect "0-ed25519-refused" fails "$(page 0-ed25519-refused "$work/home0" --ignore-certificate-errors)"
stop

log "1. the default generated certificate, proceeding past the warning"
serve
expect "1-default-cert" loads "$(page 1-default-cert "$work/home1" --ignore-certificate-errors)"
stop

log "3. /docs and /redoc render every route's operations with no network (this machine has none)"
serve
path=/docs want='/echo/raw' expect "3-docs-offline" loads \
  "$(path=/docs page 3-docs-offline "$work/home4" --ignore-certificate-errors)"
path=/redoc want='Get Status' expect "3-redoc-offline" loads \
  "$(path=/redoc page 3-redoc-offline "$work/home5" --ignore-certificate-errors)"
stop

log "2. the local CA, trusted in a throwaway NSS database"
"$bin" cert --ca --dev-cert-dir "$work/certs" --out-dir "$work/leaf" >/dev/null
serve
mkdir -p "$work/home2/.pki/nssdb" "$work/home3/.pki/nssdb"
certutil -d "sql:$work/home2/.pki/nssdb" -N --empty-password
certutil -d "sql:$work/home2/.pki/nssdb" -A -t "C,," -n "duplex local CA" -i "$work/certs/ca.pem"
certutil -d "sql:$work/home3/.pki/nssdb" -N --empty-password
expect "2-local-ca-trusted" loads "$(page 2-local-ca-trusted "$work/home2")"
expect "2-local-ca-untrusted" fails "$(page 2-local-ca-untrusted "$work/home3")"
stop

log "4. the inspector: a client's frame on the page within a second, the panel's round trips"
serve --inspect
if "$venv/bin/python" "$root/scripts/inspector_check.py" "https://localhost:$port" "$bin" \
  "$out/4-inspector.png" --ignore-certificate-errors; then
  log "ok   4-inspector ($out/4-inspector.png)"
else
  log "FAIL 4-inspector"
  failures=$((failures + 1))
fi
stop

if ((failures > 0)); then
  log "$failures check(s) failed"
  exit 1
fi
log "all checks passed; screenshots in $out"
