#!/usr/bin/env bash
# Instructions per request of one or more duplex builds, counted by callgrind: repeatable to a
# few instructions run after run, whatever else the machine is doing (the timing benchmarks move
# by ±15 %). Rows: `GET /status` and `GET /static/data.txt` (keep-alive) and a WebSocket round
# trip on /ws/mirror (20-byte text), plain. Each figure is (Ir after N2 requests - Ir after N1) / (N2 - N1), so start-up and
# shutdown cancel out.
#
#   bench/instructions.sh BINARY [BINARY...]
#
# A BINARY named `ceiling` (target/release/ceiling, `cargo build --release -p ceiling`) is the bare-hyper ceiling: it has a
# `GET /status` row only (it answers every request with /status's 15 bytes). `ceiling:LIB`
# (LIB tungstenite or fastwebsockets) is that binary's WebSocket echo server: a round-trip row only.
#
# Settings (environment): INSTR_N1 (1000), INSTR_N2 (6000), INSTR_PORT (18700), INSTR_TLS (0; 1
# runs every row over TLS with a fresh ED25519 certificate from `duplex cert`). Needs valgrind
# (installed from Debian when missing) and python3 (the client). The server runs with one
# worker on 127.0.0.1; the script stops what it started.
set -euo pipefail

[[ $# -ge 1 ]] || { sed -n '2,15p' "$0" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n1="${INSTR_N1:-1000}"
n2="${INSTR_N2:-6000}"
port="${INSTR_PORT:-18700}"
tls="${INSTR_TLS:-0}"
"$root/scripts/apt-install.sh" valgrind || exit 2
work="$(mktemp -d)"
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The client: N requests (status) or round trips (echo) on one connection, each awaited.
cat >"$work/client.py" <<'PY'
import socket, sys
kind, n, port, tls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
s = socket.create_connection(("127.0.0.1", port), timeout=60)
if tls:
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    s = context.wrap_socket(s)
def read_until(marker, buf=b""):
    while marker not in buf:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("the server closed the connection")
        buf += chunk
    return buf
if kind == "status":
    for _ in range(n):
        s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        read_until(b'{"status":"ok"}')
elif kind == "static":
    for _ in range(n):
        s.sendall(b"GET /static/data.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = read_until(b"\r\n\r\n")
        head, _, body = buf.partition(b"\r\n\r\n")
        length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
        while len(body) < length:
            body += s.recv(65536)
else:
    s.sendall(b"GET /ws/mirror HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    read_until(b"\r\n\r\n")
    payload, mask = b"x" * 20, b"\x01\x02\x03\x04"
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))
    for _ in range(n):
        s.sendall(frame)
        got = b""
        while len(got) < 2 + len(payload):
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("the server closed the connection")
            got += chunk
s.close()
PY

# instructions BINARY KIND N: the server's total instruction count for N requests.
instructions() {
  local bin="$1" kind="$2" n="$3" out="$work/callgrind.out" ws_lib=""
  rm -f "$out"
  [[ "$bin" == *ceiling:* ]] && ws_lib="${bin##*:}" && bin="${bin%:*}"
  local args=(serve --no-tls --static-dir "$work/static" --log-level error) tls_args=()
  [[ "$tls" == 1 ]] && tls_args=(--cert "$work/cert.pem" --key "$work/key.pem") &&
    args=(serve "${tls_args[@]}" --static-dir "$work/static" --log-level error)
  # The bare-hyper ceiling (bench/ceiling) takes only the listening and TLS flags.
  [[ "$(basename "$bin")" == ceiling ]] && args=("${tls_args[@]}")
  [[ -n "$ws_lib" ]] && args+=(--ws "$ws_lib")
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "${args[@]}" --host 127.0.0.1 \
    --port "$port" --workers 1 >/dev/null 2>"$work/valgrind.log" &
  pid=$!
  for _ in $(seq 300); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/valgrind.log" >&2; exit 1; }
    sleep 0.2
  done
  python3 "$work/client.py" "$kind" "$n" "$port" "$tls"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

if [[ "$tls" == 1 ]]; then
  "$root/target/release/duplex" cert --out-dir "$work" --log-level error >/dev/null ||
    { echo "instructions.sh: INSTR_TLS=1 needs target/release/duplex (cargo build --release)" >&2; exit 2; }
fi
printf '| build | GET /status: instructions/request | GET /static/data.txt | WebSocket round trip: instructions |\n|---|---:|---:|---:|\n'
for bin in "$@"; do
  row="| $bin"
  for kind in status static echo; do
    if [[ ("$(basename "$bin")" == ceiling && "$kind" != status) ||
      ("$bin" == *ceiling:* && "$kind" != echo) ]]; then
      row+=" | –"
      continue
    fi
    a="$(instructions "$bin" "$kind" "$n1")"
    b="$(instructions "$bin" "$kind" "$n2")"
    row+=" | $(((b - a) / (n2 - n1)))"
  done
  printf '%s |\n' "$row"
done
