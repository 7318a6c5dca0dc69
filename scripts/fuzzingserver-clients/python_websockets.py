"""Autobahn fuzzingserver driver for Python `websockets` (asyncio), like the library's own
compliance client: echo every message of every case, then ask for the reports.
usage: python_websockets.py ws://127.0.0.1:9001 AGENT"""
import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

SERVER, AGENT = sys.argv[1], sys.argv[2]


async def main():
    async with connect(f"{SERVER}/getCaseCount") as ws:
        count = json.loads(await ws.recv())
    for case in range(1, count + 1):
        try:
            async with connect(f"{SERVER}/runCase?case={case}&agent={AGENT}", max_size=2**25) as ws:
                async for message in ws:
                    await ws.send(message)
        except WebSocketException:
            pass
        except OSError:
            pass
    async with connect(f"{SERVER}/updateReports?agent={AGENT}", open_timeout=120):
        pass


asyncio.run(main())
