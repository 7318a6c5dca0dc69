"""An HTTP client for `duplex check-client`, on Python's standard `http.client`: one GET,
the body to stdout; exit 0 when the response was read whole, 1 when it was refused.

    python http_client.py http://127.0.0.1:PORT/probe/http/chunked?run=...
"""
import http.client
import sys
import urllib.parse


def main(url):
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=8)
    try:
        conn.request("GET", target)
        response = conn.getresponse()
        body = response.read()
    except (http.client.HTTPException, OSError, ValueError) as err:
        print(f"refused: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
