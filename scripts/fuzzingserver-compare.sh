#!/usr/bin/env bash
# Proof that `duplex fuzzingserver` judges WebSocket clients as Autobahn|Testsuite's own
# fuzzingserver does: runs the same client drivers against both servers, compares `behavior`
# and `behaviorClose` case by case from the two index.json files, and prints the agreement per
# client and the run times.
#
# usage: scripts/fuzzingserver-compare.sh [CASES] [EXCLUDE] [CLIENTS]
#   CASES    comma-separated case patterns (default "*": all 517)
#   EXCLUDE  comma-separated patterns to skip (default none), e.g. "12.*,13.*"
#   CLIENTS  comma-separated drivers (default "duplex,websockets,websocket-client,ws"):
#            duplex            duplex's own client (`duplex client autobahn`)
#            websockets        Python websockets (asyncio), from PyPI
#            websocket-client  Python websocket-client, from PyPI
#            ws                Node's ws, from npm (skipped when node/npm are missing)
#
# Installs what it needs on first use: Autobahn's wstest (Python 2.7 venv, via
# ../shared/tools/setup-autobahn.sh or AUTOBAHN_SETUP=...), a Python 3 venv with the two
# Python clients (~/.cache/duplex-fuzz-venv), ws under target/fuzzingserver-compare/node.
# Durations on a 2-core machine: `"*" "12.*,13.*"` about 8 minutes for all four clients; all
# 517 cases about 45 minutes per Python client on Autobahn's side alone (12.*, 13.*).
# Reports: target/fuzzingserver-compare/{autobahn,duplex}/. Exit status 0 when every case
# agrees, 1 otherwise, 2 on setup errors.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cases="${1:-*}"
exclude="${2:-}"
clients="${3:-duplex,websockets,websocket-client,ws}"
setup="${AUTOBAHN_SETUP:-$repo/../shared/tools/setup-autobahn.sh}"
abvenv="${AUTOBAHN_VENV:-$HOME/.cache/autobahn-venv}"
pyvenv="${FUZZ_CLIENT_VENV:-$HOME/.cache/duplex-fuzz-venv}"
work="$repo/target/fuzzingserver-compare"
drivers="$repo/scripts/fuzzingserver-clients"
limit="${CLIENT_TIMEOUT:-5400}"

# --- setup ---------------------------------------------------------------------------------
if [[ ! -x "$abvenv/bin/wstest" ]]; then
  [[ -x "$setup" ]] || { echo "fuzzingserver-compare: $setup not found (set AUTOBAHN_SETUP)" >&2; exit 2; }
  AUTOBAHN_VENV="$abvenv" "$setup" >/dev/null || { echo "fuzzingserver-compare: Autobahn setup failed" >&2; exit 2; }
fi
if [[ ! -x "$pyvenv/bin/python" ]] || ! "$pyvenv/bin/python" -c 'import websockets, websocket' 2>/dev/null; then
  python3 -m venv "$pyvenv"
  "$pyvenv/bin/pip" install -q websockets websocket-client
fi
mkdir -p "$work"
if [[ ",$clients," == *",ws,"* ]]; then
  if command -v npm >/dev/null && command -v node >/dev/null; then
    [[ -d "$work/node/node_modules/ws" ]] || npm install --silent --prefix "$work/node" ws >/dev/null
  else
    echo "fuzzingserver-compare: node/npm not found, skipping ws" >&2
    clients="$(echo ",$clients," | sed 's/,ws,/,/; s/^,//; s/,$//')"
  fi
fi
cargo build --release --manifest-path "$repo/Cargo.toml" >&2
duplex="${CARGO_TARGET_DIR:-$repo/target}/release/duplex"

version() { # client
  case "$1" in
    duplex) "$duplex" --version ;;
    websockets) "$pyvenv/bin/python" -c 'import websockets; print("websockets", websockets.__version__)' ;;
    websocket-client) "$pyvenv/bin/python" -c 'import websocket; print("websocket-client", websocket.__version__)' ;;
    ws) echo "ws $(node -p "require('$work/node/node_modules/ws/package.json').version")" ;;
  esac
}

driver() { # client url: sets cmd to the driver's command line
  case "$1" in
    duplex) cmd=("$duplex" client --log-level warn autobahn "$2" --agent duplex) ;;
    websockets) cmd=("$pyvenv/bin/python" "$drivers/python_websockets.py" "$2" websockets) ;;
    websocket-client) cmd=("$pyvenv/bin/python" "$drivers/python_websocket_client.py" "$2" websocket-client) ;;
    ws) cmd=(env NODE_PATH="$work/node/node_modules" node "$drivers/node_ws.js" "$2" ws) ;;
    *) echo "fuzzingserver-compare: unknown client $1" >&2; exit 2 ;;
  esac
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

spec() { # port outdir
  python3 - "$1" "$2" "$cases" "$exclude" <<'PY'
import json, sys
port, outdir, cases, exclude = sys.argv[1:]
split = lambda s: [c.strip() for c in s.split(",") if c.strip()]
print(json.dumps({"url": "ws://127.0.0.1:%s" % port, "outdir": outdir,
                  "cases": split(cases), "exclude-cases": split(exclude),
                  "exclude-agent-cases": {}}))
PY
}

declare -A seconds
for server in autobahn duplex; do
  out="$work/$server"
  rm -rf "$out"; mkdir -p "$out"
  port="$(free_port)"
  spec "$port" "$out/reports" > "$out/spec.json"
  if [[ "$server" == autobahn ]]; then
    (cd "$out" && exec "$abvenv/bin/wstest" -m fuzzingserver -s spec.json --webport 0) > "$out/server.log" 2>&1 &
  else
    # Autobahn's own 12.*/13.* payload files, so both servers send the same bytes.
    "$duplex" fuzzingserver --log-level warn --spec "$out/spec.json" \
      --testdata "$("$abvenv/bin/python" -c 'import autobahntestsuite, os; print(os.path.join(os.path.dirname(autobahntestsuite.__file__), "testdata"))')" \
      > "$out/server.log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
    sleep 0.1
  done
  for client in ${clients//,/ }; do
    start=$(date +%s.%N)
    driver "$client" "ws://127.0.0.1:$port"
    timeout "$limit" "${cmd[@]}" > "$out/$client.log" 2>&1 \
      || echo "  ($client against $server: exit $?, see $out/$client.log)" >&2
    seconds[$server,$client]=$(python3 -c "import time; print('%.1f' % (time.time() - $start))")
    echo "$server: $(version "$client") done in ${seconds[$server,$client]} s" >&2
  done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=""
done

# --- compare -------------------------------------------------------------------------------
times=""
for client in ${clients//,/ }; do
  times+="$client=${seconds[autobahn,$client]}/${seconds[duplex,$client]},"
done
python3 - "$work/autobahn/reports/index.json" "$work/duplex/reports/index.json" "$clients" "$times" <<'PY'
import json, sys
autobahn, duplex = (json.load(open(p)) for p in sys.argv[1:3])
clients = sys.argv[3].split(",")
times = dict(t.split("=") for t in sys.argv[4].split(",") if t)
key = lambda k: [int(x) for x in k.split(".")]
total_cases = total_agree = 0
print("%-18s %7s %7s %9s %11s %11s" % ("client", "cases", "agree", "agree %", "autobahn s", "duplex s"))
disagreements = []
for client in clients:
    a, d = autobahn.get(client, {}), duplex.get(client, {})
    ids = sorted(set(a) | set(d), key=key)
    agree = 0
    for i in ids:
        va = (a.get(i, {}).get("behavior"), a.get(i, {}).get("behaviorClose"))
        vd = (d.get(i, {}).get("behavior"), d.get(i, {}).get("behaviorClose"))
        if va == vd:
            agree += 1
        else:
            disagreements.append((client, i, va, a.get(i, {}).get("remoteCloseCode"), vd, d.get(i, {}).get("remoteCloseCode")))
    ta, td = times.get(client, "?/?").split("/")
    pct = 100.0 * agree / len(ids) if ids else 0.0
    print("%-18s %7d %7d %8.1f%% %11s %11s" % (client, len(ids), agree, pct, ta, td))
    total_cases += len(ids); total_agree += agree
for client, i, va, ca, vd, cd in disagreements:
    print("  %s %s: autobahn %s/%s (close %s), duplex %s/%s (close %s)" % (client, i, va[0], va[1], ca, vd[0], vd[1], cd))
print("fuzzingserver-compare: %d of %d verdict pairs agree" % (total_agree, total_cases))
sys.exit(0 if total_agree == total_cases else 1)
PY
