#!/usr/bin/env bash
# HTTP/2 against clients duplex does not write: curl (--http2 over TLS by ALPN,
# --http2-prior-knowledge on the plain port), nghttp, h2load, Python httpx with HTTP/2, an RFC 8441
# WebSocket client and the rapid-reset and CONTINUATION-flood attacks (scripts/http2_clients.py,
# on the Python `h2` package) while a prober keeps asking GET /status over HTTP/1.1.
#
#   scripts/http2-check.sh            (builds the release binary; DUPLEX=path uses that one)
#
# Settings (environment): HTTP2_PORT (18760; the plain port is the next one, and a plain one
# with --trace the one after), H2LOAD_N (20000).
# Installs nghttp2-client from Debian when missing and makes bench/.venv-http2 (httpx, h2) from
# PyPI. Loopback only; stops what it started. Exit 0 when every check passed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[http2-check] %s\n' "$*" >&2; }
# shellcheck source=lib.sh
source "$root/scripts/lib.sh"
tls_port="${HTTP2_PORT:-18760}"
plain_port=$((tls_port + 1))
trace_port=$((tls_port + 2))
n="${H2LOAD_N:-20000}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$root/scripts/apt-install.sh" nghttp nghttp2-client || exit 2
"$root/scripts/apt-install.sh" h2load nghttp2-client || exit 2

venv="$root/bench/.venv-http2"
requirements="httpx[http2]==0.28.1 h2==4.3.0"
if [[ ! -x "$venv/bin/python" ]] || [[ "$(cat "$venv/.requirements" 2>/dev/null)" != "$requirements" ]]; then
  log "creating $venv ($requirements, from PyPI)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $requirements
  echo "$requirements" >"$venv/.requirements"
fi
python="$venv/bin/python"

if [[ -n "${DUPLEX:-}" ]]; then
  duplex="$DUPLEX"
  "$duplex" cert --out-dir "$work" >/dev/null
else
  build_duplex "$root" "$work" || exit 2
fi
mkdir -p "$work/tls" "$work/plain" "$work/trace"
"$duplex" serve --host 127.0.0.1 --port "$tls_port" --cert "$work/cert.pem" --key "$work/key.pem" \
  --static-dir "$work/tls/static" --log-level warning >"$work/tls.log" 2>&1 &
pids+=($!)
"$duplex" serve --host 127.0.0.1 --port "$plain_port" --no-tls \
  --static-dir "$work/plain/static" --log-level warning >"$work/plain.log" 2>&1 &
pids+=($!)
"$duplex" serve --host 127.0.0.1 --port "$trace_port" --no-tls --trace \
  --static-dir "$work/trace/static" >"$work/trace.log" 2>&1 &
pids+=($!)
tls="https://127.0.0.1:$tls_port"
plain="http://127.0.0.1:$plain_port"
traced="http://127.0.0.1:$trace_port"
await_server "$tls" "$work/tls.log" || exit 2
await_server "$plain" "$work/plain.log" || exit 2
await_server "$traced" "$work/trace.log" || exit 2

passed=0
failed=0
# check NAME EXPECTED ACTUAL
check() {
  if [[ "$2" == "$3" ]]; then
    passed=$((passed + 1))
    printf 'ok    %-58s %s\n' "$1" "$3"
  else
    failed=$((failed + 1))
    printf 'FAIL  %-58s expected [%s], got [%s]\n' "$1" "$2" "$3"
  fi
}
# curl_h2 MODE URL [ARGS...]: "HTTP-version status body" of one request.
curl_h2() {
  local mode="$1" url="$2"
  shift 2
  rm -f "$work/body"
  curl -sk "--$mode" -o "$work/body" -w '%{http_version} %{http_code}' "$@" "$url"
  printf ' %s' "$(cat "$work/body" 2>/dev/null)"
}

log "curl $(curl --version | head -1 | grep -o 'nghttp2/[0-9.]*')"
for mode in http2 http2-prior-knowledge; do
  base="$tls"
  [[ "$mode" == http2-prior-knowledge ]] && base="$plain"
  check "curl --$mode GET /status" '2 200 {"status":"ok"}' "$(curl_h2 "$mode" "$base/status")"
  check "curl --$mode GET /items/7 (404)" '2 404 {"detail":"Item with ID 7 not found."}' \
    "$(curl_h2 "$mode" "$base/items/7")"
  check "curl --$mode GET /items/abc (422)" "2 422" "$(curl_h2 "$mode" "$base/items/abc" | cut -d' ' -f1-2)"
  check "curl --$mode DELETE /status (405)" '2 405 {"detail":"Method Not Allowed"}' \
    "$(curl_h2 "$mode" "$base/status" -X DELETE)"
  check "curl --$mode POST /items (201)" \
    '2 201 {"message":"Item created successfully","item_data":{"name":"pen","is_offer":null}}' \
    "$(curl_h2 "$mode" "$base/items" --json '{"name":"pen"}')"
  check "curl --$mode GET /static/data.txt Range 5-9 (206)" '2 206 is a ' \
    "$(curl_h2 "$mode" "$base/static/data.txt" -r 5-9)"
  check "curl --$mode HEAD /status (content-length, no body)" "2 200 content-length: 15" \
    "$(curl -sk "--$mode" -I -w '%{http_version} %{http_code}' -o "$work/head" "$base/status") \
$(grep -i '^content-length' "$work/head" | tr -d '\r')"
done
etag="$(curl -sk --http2 -I "$tls/static/data.txt" | grep -i '^etag:' | cut -d' ' -f2- | tr -d '\r')"
check "curl --http2 If-None-Match (304)" "2 304 " \
  "$(curl_h2 http2 "$tls/static/data.txt" -H "If-None-Match: $etag")"

log "$(nghttp --version)"
check "nghttp (TLS, ALPN h2) GET /status" ":status: 200" \
  "$(nghttp -nv "$tls/status" | grep -o ':status: 200' | head -1)"
check "nghttp (h2c prior knowledge) GET /items/1" ":status: 200" \
  "$(nghttp -nv "$plain/items/1" | grep -o ':status: 200' | head -1)"

# The trace decodes a real client's frames: nghttp's request, HPACK-decoded.
nghttp -n "$traced/items/1?via=nghttp" >/dev/null
check "--trace shows nghttp's HEADERS decoded" "[:path: /items/1?via=nghttp]" \
  "$(grep -m1 -o '> frame HEADERS stream=[0-9]* .*' "$work/trace.log" | grep -o '\[:path: [^]]*\]')"
check "--trace shows the answer's DATA frame" "< frame DATA" \
  "$(grep -m1 -o '< frame DATA' "$work/trace.log")"

log "httpx $("$python" -c 'import httpx; print(httpx.__version__)') with HTTP/2"
httpx_get() {
  "$python" - "$1" "$2" <<'PY'
import sys, httpx
url, h2c = sys.argv[1], sys.argv[2] == "h2c"
with httpx.Client(http1=not h2c, http2=True, verify=False) as client:
    r = client.get(url)
    print(r.http_version, r.status_code, r.text)
PY
}
check "httpx http2=True GET /status (TLS)" 'HTTP/2 200 {"status":"ok"}' "$(httpx_get "$tls/status" tls)"
check "httpx http2=True GET / (h2c)" 'HTTP/2 200 {"message":"Server is running"}' \
  "$(httpx_get "$plain/" h2c)"

log "RFC 8441 WebSocket (Python h2 $("$python" -c 'import h2; print(h2.__version__)'))"
check "RFC 8441 /ws/echo over h2 (TLS)" "True" \
  "$("$python" "$root/scripts/http2_clients.py" ws 127.0.0.1 "$tls_port" tls | "$python" -c 'import json,sys; print(json.load(sys.stdin)["ok"])')"
check "RFC 8441 /ws/echo over h2c" "True" \
  "$("$python" "$root/scripts/http2_clients.py" ws 127.0.0.1 "$plain_port" plain | "$python" -c 'import json,sys; print(json.load(sys.stdin)["ok"])')"

# h2load: every request must succeed; the figures go to the report.
h2load_row() {
  local out
  out="$(h2load -n "$n" -c 10 -m 10 "$1" 2>&1)"
  printf '%s\n' "$out" | grep -E '^(finished in|requests:)' | sed "s|^|  h2load $2: |" >&2
  printf '%s\n' "$out" | grep -oE '[0-9]+ failed, [0-9]+ errored' | head -1
}
check "h2load -n $n -c 10 -m 10 GET /status (TLS)" "0 failed, 0 errored" "$(h2load_row "$tls/status" TLS)"
check "h2load -n $n -c 10 -m 10 GET /status (h2c)" "0 failed, 0 errored" "$(h2load_row "$plain/status" h2c)"

# The attacks: every attacking connection ends in the server's GOAWAY, /status never fails.
attack() {
  local result
  result="$("$python" "$root/scripts/http2_clients.py" "$@")"
  printf '  %s\n' "$result" >&2
  printf '%s' "$result" | "$python" -c '
import json, sys
r = json.load(sys.stdin)
print(r["closed_by_server"] == r["connections"] and r["status_failed"] == 0 and r["status_ok"] > 0)'
}
check "rapid reset: 50 connections x up to 20000 streams (TLS)" "True" \
  "$(attack rapid-reset 127.0.0.1 "$tls_port" tls 20000 50)"
check "rapid reset: 50 connections x up to 20000 streams (h2c)" "True" \
  "$(attack rapid-reset 127.0.0.1 "$plain_port" plain 20000 50)"
check "CONTINUATION flood: 20 connections x up to 64 MiB (TLS)" "True" \
  "$(attack continuation 127.0.0.1 "$tls_port" tls 64 20)"
check "CONTINUATION flood: 20 connections x up to 64 MiB (h2c)" "True" \
  "$(attack continuation 127.0.0.1 "$plain_port" plain 64 20)"
check "GET /status after the attacks" '2 200 {"status":"ok"}' "$(curl_h2 http2 "$tls/status")"
# Each attacking connection's GOAWAY has its diagnosis line, naming the limit.
for side in tls plain; do
  check "rapid reset and flood diagnosed ($side log)" "yes" \
    "$(grep -q 'GOAWAY ENHANCE_YOUR_CALM: the client went over one of the server.s abuse limits' \
      "$work/$side.log" && echo yes || echo no)"
done

for pid in "${pids[@]}"; do
  kill -0 "$pid" 2>/dev/null || { log "a server died"; failed=$((failed + 1)); }
done
log "$passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
