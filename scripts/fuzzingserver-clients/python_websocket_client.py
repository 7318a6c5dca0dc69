"""Autobahn fuzzingserver driver for Python `websocket-client` (synchronous): echo every
message of every case, then ask for the reports.
usage: python_websocket_client.py ws://127.0.0.1:9001 AGENT"""
import json
import sys

import websocket

SERVER, AGENT = sys.argv[1], sys.argv[2]

ws = websocket.create_connection(f"{SERVER}/getCaseCount")
count = json.loads(ws.recv())
ws.close()
for case in range(1, count + 1):
    try:
        ws = websocket.create_connection(f"{SERVER}/runCase?case={case}&agent={AGENT}")
    except Exception:
        continue
    while True:
        try:
            opcode, data = ws.recv_data()
        except Exception:
            break
        if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            try:
                ws.send(data, opcode)
            except Exception:
                break
        elif opcode == websocket.ABNF.OPCODE_CLOSE:
            break
    try:
        ws.close()
    except Exception:
        pass
ws = websocket.create_connection(f"{SERVER}/updateReports?agent={AGENT}", timeout=120)
ws.close()
