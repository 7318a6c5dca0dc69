#!/usr/bin/env bash
# Runs real third-party TLS clients against duplex's TLS probes (`duplex serve --tls-probes`):
# curl (--cacert), `openssl s_client -verify_return_error` and Python's ssl + http.client (the
# system python3), each told to trust the local CA and nothing else, each given the probes'
# client certificate on `client-cert`; and, as a control that must fail every reject case,
# `curl -k`. Prints one table row per case: what a correct client does, then what each client
# did, checked against the server's own verdict for the connection (its `tls_probe` log
# line); then each client's ClientHello rating from /tls/clienthello.
#
# A client failing a case is a finding about that client, not a failure of this script: it
# exits 0 when the run completed and the server's verdicts agree with what the clients
# reported, 1 when they disagree (a bug in the judge), 2 when it could not run.
#
# usage: scripts/tls-probes.sh
# env:   DUPLEX (a duplex binary; default: cargo build, debug), TLS_PROBES_PORT (18443: the
#        first probe port), TLS_PROBES_MAIN_PORT (18440)
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${TLS_PROBES_PORT:-18443}"
main_port="${TLS_PROBES_MAIN_PORT:-18440}"
work="$(mktemp -d "${TMPDIR:-/tmp}/duplex-tls-probes.XXXXXX")"
certs="$work/certs"
server_log="$work/server.log"

log() { printf '[tls-probes] %s\n' "$*" >&2; }

server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

for cmd in curl openssl python3; do
  command -v "$cmd" >/dev/null || { log "missing $cmd"; exit 2; }
done
duplex="${DUPLEX:-}"
if [[ -z "$duplex" ]]; then
  log "building duplex (debug)"
  (cd "$root" && cargo build --quiet) || exit 2
  duplex="$root/target/debug/duplex"
fi

"$duplex" serve --port "$main_port" --tls-probes --tls-probes-port "$base" \
  --dev-cert-dir "$certs" --static-dir "$work/static" --log-format json \
  >"$server_log" 2>&1 &
server_pid=$!
ca="$certs/ca.pem"
client_cert="$certs/tls-probes/client.pem"
client_key="$certs/tls-probes/client-key.pem"
for _ in $(seq 100); do
  curl -s -o /dev/null --cacert "$ca" "https://localhost:$base/status" 2>/dev/null && break
  sleep 0.1
done
curl -s -o /dev/null --cacert "$ca" "https://localhost:$base/status" || {
  log "the server did not start"
  cat "$server_log" >&2
  exit 2
}

# The cases, in port order, from the server's own startup lines: name, URL, expectation.
mapfile -t cases < <(python3 - "$server_log" <<'EOF'
import json, re, sys
for line in open(sys.argv[1]):
    try:
        message = json.loads(line).get("message", "")
    except ValueError:
        continue
    found = re.match(r"TLS probe (\S+)\s+(https://\S+)\s+(accept|reject):", message)
    if found:
        print(" ".join(found.groups()))
EOF
)
[[ ${#cases[@]} -gt 0 ]] || { log "no probes in the server's log"; cat "$server_log" >&2; exit 2; }

# The server's verdict on the newest connection to CASE after log line FROM, waiting up to 3 s
# (a client's alert can arrive just after it exits): "verdict|what it saw".
server_verdict() {
  python3 - "$server_log" "$1" "$2" <<'EOF'
import json, re, sys, time
path, case, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.time() + 3
while True:
    lines = open(path).read().splitlines()[start:]
    for line in reversed(lines):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "tls_probe" and event.get("probe") == case:
            text = event["diagnosis"]
            alert = re.search(r"with alert (\w+)", text)
            if "after the handshake" in text:
                seen = "closed after handshake"
            elif alert:
                seen = "alert " + alert.group(1)
            elif "without an alert" in text:
                seen = "closed, no alert"
            elif "no certificate" in text:
                seen = "no client cert"
            elif "offers no TLS" in text:
                seen = re.search(r"offers no (TLS [\d.]+)", text).group(0)
            elif "and sent" in text:
                seen = "request served"
            else:
                seen = text[:40]
            print(f"{event['verdict']}|{seen}")
            sys.exit(0)
    if time.time() > deadline:
        print("none|no verdict logged")
        sys.exit(0)
    time.sleep(0.05)
EOF
}

# Each client: GET /status on PORT, trusting only the local CA; exit 0 when it got the body.
run_curl() {
  local extra=()
  [[ "$2" == client-cert ]] && extra=(--cert "$client_cert" --key "$client_key")
  curl -s --max-time 5 --cacert "$ca" "${extra[@]}" "https://localhost:$1/status" 2>/dev/null |
    grep -q '"status":"ok"'
}
# The control that must fail: curl -k accepts any certificate, as a client without verification
# does; every reject case must catch it.
run_curl_k() {
  local extra=()
  [[ "$2" == client-cert ]] && extra=(--cert "$client_cert" --key "$client_key")
  curl -s -k --max-time 5 "${extra[@]}" "https://localhost:$1/status" 2>/dev/null |
    grep -q '"status":"ok"'
}
run_openssl() {
  local extra=()
  [[ "$2" == client-cert ]] && extra=(-cert "$client_cert" -key "$client_key")
  printf 'GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
    timeout 5 openssl s_client -connect "localhost:$1" -servername localhost \
      -verify_hostname localhost -CAfile "$ca" -verify_return_error -quiet "${extra[@]}" 2>/dev/null |
    grep -q '"status":"ok"'
}
run_python() {
  local cert=""
  [[ "$2" == client-cert ]] && cert="$client_cert"
  python3 - "$1" "$ca" "$cert" "$client_key" <<'EOF' 2>/dev/null
import http.client, ssl, sys
port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
context = ssl.create_default_context(cafile=ca)
if cert:
    context.load_cert_chain(cert, key)
connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=5)
connection.request("GET", "/status")
sys.exit(0 if connection.getresponse().read() == b'{"status":"ok"}' else 1)
EOF
}

disagreements=0
declare -A passes=([curl]=0 [openssl]=0 [python]=0 [curl_k]=0)
printf '| case | expected | curl %s | openssl %s | Python %s | control: curl -k |\n' \
  "$(curl --version | head -1 | awk '{print $2}')" \
  "$(openssl version | awk '{print $2}')" \
  "$(python3 -c 'import platform, ssl; print(platform.python_version(), "/", ssl.OPENSSL_VERSION.split()[1])')"
printf '|---|---|---|---|---|---|\n'
for entry in "${cases[@]}"; do
  read -r name url expect <<<"$entry"
  port="${url#https://localhost:}"
  port="${port%%/*}"
  row="| \`$name\` | $expect |"
  for client in curl openssl python curl_k; do
    from=$(wc -l <"$server_log")
    if "run_$client" "$port" "$name"; then did=accept; else did=reject; fi
    IFS='|' read -r verdict seen <<<"$(server_verdict "$name" "$from")"
    if [[ "$did" == "$expect" ]]; then
      mark="pass"
      passes[$client]=$((passes[$client] + 1))
      [[ "$verdict" == pass ]] || { mark="pass (server: $verdict!)"; disagreements=$((disagreements + 1)); }
    else
      mark="**FAIL**"
      [[ "$verdict" == fail ]] || { mark="FAIL (server: $verdict!)"; disagreements=$((disagreements + 1)); }
    fi
    row+=" $mark: ${did}ed, $seen |"
  done
  printf '%s\n' "$row"
done
n=${#cases[@]}
printf '| **passed** | | %s of %s | %s of %s | %s of %s | %s of %s |\n' \
  "${passes[curl]}" "$n" "${passes[openssl]}" "$n" "${passes[python]}" "$n" "${passes[curl_k]}" "$n"

# What each client offers, from /tls/clienthello on the good control's port.
cat >"$work/hello_report.py" <<'EOF'
import json, sys
report = json.load(sys.stdin)
# Short: "offers 12 cipher suites (CBC with MAC-then-encrypt ...)", the list left to the JSON.
weak = [f"{f['what'].split(':')[0]} ({f['level']}: {f['rule'].split(':')[0]})"
        for f in report["findings"] if f["level"] in ("weak", "obsolete", "missing")]
groups = ", ".join(g["name"] for g in report["supported_groups"][:3])
cells = [sys.argv[1], report["rating"], ", ".join(report["tls_versions"]),
         str(len(report["cipher_suites"])), groups, "; ".join(weak) or "-"]
print("| " + " | ".join(cells) + " |")
EOF
hello_report() { python3 "$work/hello_report.py" "$1"; }
echo
printf '| client | rating | versions offered | suites | first groups | weak, obsolete or missing |\n'
printf '|---|---|---|---|---|---|\n'
curl -s --cacert "$ca" "https://localhost:$base/tls/clienthello" | hello_report curl
printf 'GET /tls/clienthello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
  timeout 5 openssl s_client -connect "localhost:$base" -servername localhost -CAfile "$ca" -quiet 2>/dev/null |
  sed -n '/^{/,/^}/p' | hello_report "openssl s_client"
python3 - "$base" "$ca" <<'EOF' | hello_report "Python ssl"
import http.client, ssl, sys
context = ssl.create_default_context(cafile=sys.argv[2])
connection = http.client.HTTPSConnection("localhost", int(sys.argv[1]), context=context, timeout=5)
connection.request("GET", "/tls/clienthello")
sys.stdout.write(connection.getresponse().read().decode())
EOF

if [[ $disagreements -gt 0 ]]; then
  log "$disagreements cells where the server's verdict disagrees with what the client reported"
  exit 1
fi
