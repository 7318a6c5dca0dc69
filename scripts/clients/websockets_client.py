"""A WebSocket client for `duplex check-client`, on the Python `websockets` library:
prints each text message on its own line until the connection closes; exit 0 after a close
handshake, 1 when the handshake or a frame is refused.

    python websockets_client.py ws://127.0.0.1:PORT/probe/ws/control?run=...
"""
import asyncio
import sys

import websockets


async def main(url):
    try:
        async with websockets.connect(url, compression=None, open_timeout=5, close_timeout=5) as ws:
            async for message in ws:
                if isinstance(message, str):
                    print(message, flush=True)
            # The iteration ends quietly on a normal close: say how it ended.
            await ws.wait_closed()
            closed = ws.protocol.close_rcvd, ws.protocol.close_sent
            if closed[0] is None or (closed[1] is not None and closed[1].code != closed[0].code):
                print(f"refused: received {closed[0]}, sent {closed[1]}", file=sys.stderr)
                return 1
    except websockets.ConnectionClosed as closed:
        # A close handshake with any code the server chose is a clean end; a code of ours
        # (1002, 1007…) means this client refused something.
        if closed.rcvd is not None and (closed.sent is None or closed.sent.code == closed.rcvd.code):
            return 0
        print(f"refused: {closed}", file=sys.stderr)
        return 1
    except (websockets.InvalidHandshake, websockets.InvalidMessage, OSError,
            asyncio.TimeoutError) as err:
        print(f"refused: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
