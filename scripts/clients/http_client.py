"""An HTTP client for `duplex check-client`, on Python's standard `http.client`: one GET
(following up to 10 redirects, each on a new connection), the body to stdout; exit 0 when the
response was read whole, 1 when it was refused.

    python http_client.py http://127.0.0.1:PORT/probe/http/chunked?run=...
"""
import http.client
import sys
import urllib.parse


def main(url):
    for _ in range(11):
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
        finally:
            conn.close()
        location = response.getheader("location")
        if response.status in (301, 302, 303, 307, 308) and location:
            url = urllib.parse.urljoin(url, location)
            continue
        sys.stdout.buffer.write(body)
        return 0
    print("refused: more than 10 redirects", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
