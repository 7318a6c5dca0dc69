"""Check 4 of scripts/browser.sh: the inspector page in headless Chromium, driven over the
DevTools protocol (CDP) with the `websockets` package.

    inspector_check.py BASE_URL DUPLEX_BINARY SCREENSHOT [CHROMIUM FLAGS...]

1. BASE_URL/_duplex/ opens and its event stream goes live;
2. a frame sent by `duplex client echo` (a unique marker) shows on the page, and how long after
   the client was started and had finished is printed; it must be within a second of the
   client finishing;
3. the page's panel: an echo round trip on /ws/echo, and a login to /ws/v5/private signed in
   the page with WebCrypto.
A screenshot of the page is saved. Exit status 0 when all pass, 1 otherwise.
"""

import asyncio
import base64
import itertools
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Page:
    """One Chromium tab over CDP."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method, **params):
        call_id = next(self.ids)
        await self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await self.ws.recv())
            if reply.get("id") == call_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    async def eval(self, expression):
        result = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def wait_for(self, expression, timeout, step=0.02):
        """Polls `expression` until it is truthy; returns (value, seconds waited) or None."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            value = await self.eval(expression)
            if value:
                return value, time.monotonic() - start
            await asyncio.sleep(step)
        return None


def log(text):
    print(f"[inspector] {text}", file=sys.stderr, flush=True)


async def check(base, duplex, screenshot, flags):
    failures = 0

    def verdict(ok, text):
        nonlocal failures
        log(("ok   " if ok else "FAIL ") + text)
        failures += 0 if ok else 1

    port = free_port()
    home = tempfile.mkdtemp(prefix="duplex-cdp-")
    chromium = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={home}/profile", f"--remote-debugging-port={port}",
         "--window-size=1400,900", *flags, "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HOME": home},
    )
    try:
        targets = None
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=1) as r:
                    targets = [t for t in json.load(r) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.05)
        if not targets:
            log("FAIL Chromium's DevTools endpoint did not come up")
            return 1
        async with websockets.connect(targets[0]["webSocketDebuggerUrl"], max_size=None) as ws:
            page = Page(ws)
            await page.call("Page.enable")
            await page.call("Page.navigate", url=f"{base}/_duplex/")
            live = await page.wait_for(
                "document.getElementById('state')?.textContent === 'live'", 10
            )
            verdict(live is not None, "the inspector page opened and its event stream is live")
            if live is None:
                return 1

            marker = f"inspector-check-{secrets.token_hex(4)}"
            started = time.monotonic()
            client = await asyncio.create_subprocess_exec(
                duplex, "client", "--insecure", "echo", base.replace("https", "wss") + "/ws/echo",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )
            output, _ = await client.communicate(f"{marker}\n".encode())
            finished = time.monotonic()
            echoed = f"Echo: {marker}" in output.decode(errors="replace")
            verdict(echoed, f"`duplex client echo` got its echo ({finished - started:.3f} s)")
            shown = await page.wait_for(
                "[...document.querySelectorAll('#events tr.message_in')]"
                f".some(r => r.textContent.includes('{marker}')) && "
                "document.querySelectorAll('#events tr.frame_in').length > 0",
                5,
            )
            if shown is None:
                verdict(False, "the client's frame never showed on the page")
            else:
                # The wait starts as the client finishes.
                after_finish = shown[1]
                since_start = finished - started + after_finish
                verdict(
                    after_finish <= 1.0,
                    f"the client's frame showed on the page {after_finish * 1000:.0f} ms after the "
                    f"client finished ({since_start * 1000:.0f} ms after it started)",
                )

            # The panel: an echo round trip, then a signed login.
            ping = f"panel-{secrets.token_hex(4)}"
            await page.eval(
                "document.getElementById('route').value = '/ws/echo';"
                "document.getElementById('route').dispatchEvent(new Event('change'));"
                "document.getElementById('connect').click()"
            )
            opened = await page.wait_for("!document.getElementById('send').disabled", 5)
            await page.eval(
                f"document.getElementById('message').value = '{ping}';"
                "document.getElementById('send').click()"
            )
            echo = await page.wait_for(
                f"document.getElementById('panel-log').textContent.includes('← Echo: {ping}')", 5
            )
            verdict(opened is not None and echo is not None,
                    f"the panel's echo round trip on /ws/echo ({'%.0f ms' % (echo[1] * 1000) if echo else 'no reply'})")
            await page.eval("document.getElementById('disconnect').click()")
            await page.wait_for("!document.getElementById('connect').disabled", 5)

            await page.eval(
                "document.getElementById('route').value = '/ws/v5/private';"
                "document.getElementById('route').dispatchEvent(new Event('change'));"
                "document.getElementById('connect').click()"
            )
            login = await page.wait_for(
                "/\"success\":\\s*true/.test(document.getElementById('panel-log').textContent)", 5
            )
            verdict(login is not None, "the panel's WebCrypto-signed login to /ws/v5/private succeeded")
            await page.eval("document.getElementById('disconnect').click()")
            await asyncio.sleep(0.3)

            shot = await page.call("Page.captureScreenshot", format="png")
            with open(screenshot, "wb") as out:
                out.write(base64.b64decode(shot["data"]))
            log(f"screenshot: {screenshot}")
    finally:
        chromium.terminate()
        try:
            chromium.wait(timeout=10)
        except subprocess.TimeoutExpired:
            chromium.kill()
        subprocess.run(["rm", "-rf", home], check=False)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    sys.exit(asyncio.run(check(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])))
