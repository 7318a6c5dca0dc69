#!/usr/bin/env bash
# `duplex check-client` against real clients the project does not write, next to duplex's own:
# curl and Python's http.client for the HTTP probes, Python `websockets` (from bench/.venv,
# created from PyPI when missing) for the WebSocket probes, curl for the TLS probes (and `curl -k`,
# a client that accepts any certificate, to show the suite catches it). Prints one Markdown table per kind
# (the README's) and keeps each run's JSON report in OUT_DIR (default target/check-clients).
#
#   scripts/check-clients.sh [OUT_DIR]
#
# Everything runs on 127.0.0.1; each client run is bounded by check-client's --timeout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/target/check-clients}"
log() { printf '[check-clients %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"
"$root/scripts/apt-install.sh" curl || exit 2
setup_venv "$root" || exit 2
(cd "$root" && cargo build --release --quiet)
duplex="$root/target/release/duplex"
python="$venv/bin/python"
mkdir -p "$out"

http=(--only http-framing --only http-1xx --only http-status --only http-reuse)
ws=(--only ws-handshake --only ws-server)
run() { # run NAME GROUPS... -- CLIENT...: one check-client run, its report in $out/NAME.json
  local name="$1"
  shift
  log "$name"
  "$duplex" check-client --json "$out/$name.json" --junit "$out/$name.xml" "$@" 2>"$out/$name.log" || true
  tail -n 1 "$out/$name.log" >&2
}
run curl "${http[@]}" -- curl -sS --fail -L --max-time 8 "{url}"
run python-http.client "${http[@]}" -- "$python" "$root/scripts/clients/http_client.py" "{url}"
run duplex-client-get "${http[@]}" -- "$duplex" client get -L "{url}"
run python-websockets "${ws[@]}" -- "$python" "$root/scripts/clients/websockets_client.py" "{url}"
run duplex-client-stream "${ws[@]}" -- "$duplex" client stream --raw --no-compression "{url}"
run curl-tls --only tls -- curl -sS --fail --max-time 8 --cacert "{cacert}" --cert "{client_cert}" --key "{client_key}" "{url}"
run duplex-client-tls --only tls -- "$duplex" client --cacert "{cacert}" --cert "{client_cert}" --key "{client_key}" get "{url}"
run curl-k-tls --only tls -- curl -sS --fail --max-time 8 -k "{url}"

"$python" - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
def table(names):
    reports = {n: json.loads((out / f"{n}.json").read_text()) for n in names}
    first = reports[names[0]]["cases"]
    print("| case | a correct client | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for i, case in enumerate(first):
        cells = []
        for n in names:
            c = reports[n]["cases"][i]
            cells.append("pass" if c["verdict"] == "pass" else "**FAIL**: " + c["reason"].replace("|", "\\|")[:90])
        print(f"| `{case['group']}` {case['id']} | {case['expect'].replace('a correct client ', '').replace('a client ', '')} | " + " | ".join(cells) + " |")
    print("| **passed** | | " + " | ".join(f"{reports[n]['passed']} of {reports[n]['passed'] + reports[n]['failed']}" for n in names) + " |")
    print()
table(["curl", "python-http.client", "duplex-client-get"])
table(["python-websockets", "duplex-client-stream"])
table(["curl-tls", "duplex-client-tls", "curl-k-tls"])
PY
