#!/usr/bin/env python3
"""Differential test: the same generated requests to duplex and to the FastAPI original.

Sends seeded random requests (item ids, POST /items bodies and content types, methods and paths)
as raw bytes, one connection per request, to both servers and compares status, content-type,
location and body. Answers that the README lists under "Differences from the FastAPI original"
are counted as documented differences; anything else is a mismatch. Standard library only.

usage: differential.py --duplex HOST:PORT --original HOST:PORT [--seed N] [--count N]
exit:  0 when there is no mismatch, 1 otherwise, 2 when a server cannot be reached.
"""

import argparse
import json
import math
import random
import socket
import sys
import time
from dataclasses import dataclass, field

TIMEOUT = 10.0  # seconds per request and server; a silent server is a mismatch, not a hang
HOST = "example.test"  # sent to both, so redirect locations are comparable
SHOW = 20  # mismatches printed in full

INVALID_HTTP = b"Invalid HTTP request received."
PARSE_ERROR = b'{"detail":"There was an error parsing the body"}'


@dataclass
class Request:
    method: str
    target: bytes
    headers: list = field(default_factory=list)  # [(name, value bytes)]
    body: bytes | None = None
    chunked: bool = False
    kind: str = ""

    def raw(self) -> bytes:
        lines = [self.method.encode() + b" " + self.target + b" HTTP/1.1", b"Host: " + HOST.encode()]
        lines += [name.encode() + b": " + value for name, value in self.headers]
        body = b""
        if self.body is not None:
            if self.chunked:
                lines.append(b"Transfer-Encoding: chunked")
                body = chunk(self.body)
            else:
                lines.append(b"Content-Length: " + str(len(self.body)).encode())
                body = self.body
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def describe(self) -> str:
        text = repr(self.raw())
        return text if len(text) <= 400 else text[:400] + f"... ({len(text)} chars)"


def chunk(body: bytes) -> bytes:
    """The body in two chunks (or one when it is short), then the last chunk."""
    out = b""
    for part in (body[: len(body) // 2], body[len(body) // 2 :]):
        if part:
            out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    @property
    def content_type(self):
        return self.headers.get("content-type")

    def key(self):
        """What is compared: status, content-type, location and body."""
        return (self.status, self.content_type, self.headers.get("location"), self.body)

    def describe(self) -> str:
        body = repr(self.body)
        body = body if len(body) <= 300 else body[:300] + f"... ({len(self.body)} bytes)"
        extra = f" location={self.headers['location']}" if "location" in self.headers else ""
        return f"{self.status} content-type={self.content_type}{extra} body={body}"


class NoResponse(Exception):
    pass


def exchange(addr, request: Request) -> Response:
    """Sends one request on a fresh connection and reads the response until the server closes."""
    host, port = addr
    data = b""
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
            sock.sendall(request.raw())
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                piece = sock.recv(65536)
                if not piece:
                    break
                data += piece
            else:
                raise NoResponse("no close within the timeout")
    except ConnectionResetError:
        pass  # a server that refuses a request may reset after answering
    except OSError as err:
        if not data:
            raise NoResponse(str(err)) from err
    return parse_response(data, head=request.method == "HEAD")


def parse_response(data: bytes, head: bool) -> Response:
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise NoResponse(f"incomplete response {data[:200]!r}")
    lines = data[:end].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise NoResponse(f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    rest = data[end + 4 :]
    status = int(parts[1])
    if head or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = dechunk(rest)
    elif "content-length" in headers:
        body = rest[: int(headers["content-length"])]
    else:
        body = rest
    return Response(status, headers, body)


def dechunk(data: bytes) -> bytes:
    body = b""
    while True:
        line, _, data = data.partition(b"\r\n")
        size = int(line.split(b";")[0] or b"0", 16)
        if size == 0:
            return body
        body += data[:size]
        data = data[size + 2 :]


# --- request generation ------------------------------------------------------------------------

METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]
PATHS = [
    "/", "/status", "/items", "/items/1", "/items/2", "/items/-1", "/static/data.txt",
    "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect",
    "/nope", "/nope/", "/status/", "/status//", "/items/", "/items/1/", "/static/data.txt/",
    "/static", "/static/", "/static/other.txt", "//status", "/STATUS", "/Status", "/%73tatus",
    "/items/%2F1", "/items/1%2F", "/items/1/extra", "/items//1", "/ws/echo", "/ws/stream",
    "/ws/v5/private", "/status?x=1", "/items/1?q=2", "/?a=b", "/docs/", "/openapi.json/",
    "/./status", "/a/../status", "/status/.", "/%2e/status", "/status%3F", "/status#frag",
    "/items/1%3Fx", "/static/data%2Etxt", "/static%2Fdata.txt", "/items/%31", "/items;x",
    "/status;", "/index.html", "/favicon.ico", "/robots.txt", "*", "/items/%31/",
    "/items/%C3%A9/", "/items/a%20b/", "/items/%25/", "/status/?q=%25&x=%C3%A9", "/%73tatus/",
    "/items/1/?x=1&y=%20", "/status?%", "/items/%G1", "/items/%", "/items/%2", "/items/1%",
    "http://example.test/status", "http://other.test/items/1", "https://example.test/items/1/",
    "/items/%22%3C%3E%7B%7D%5E%60%7C%5C/", "/items/~!$&'()*+,;=:@/", "/items/%FF/",
    "/items/%E2%80%A8/", "/status/?a=%FF&b=~", "/items/%ED%A0%80/", "/items/1/?", "/items/%00/",
]

# Fragments of item ids, combined at random below.
ID_CORES = [
    "1", "0", "2", "-1", "+1", "01", "001", "-0", "+0", "1.0", "1.00", "-1.0", "1.5", "0.0",
    "1e3", "1e0", "1.", ".0", ".5", "0x10", "0o7", "0b1", "1_000", "1_0.0", "_1", "1_", "1__0",
    "--1", "+-1", "-", "+", "", "abc", "true", "null", "nan", "inf", "Infinity", "-inf",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "18446744073709551616", "99999999999999999999999", "１", "١", "٣", "²", "½", "é", "💩",
    "1\u00a0", "\u20001", "1\u3000", "1\u2028", "1\u200b", "1\x1c", "\x1f1", "1\x85", "1\x00",
    "1,0", "1 1", "1e", "1E5", "0.000", "00.0", "1.0.0", "1_000_000", "+1_0", "-_1", "1_.0",
]
WHITESPACE = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\u00a0", "\u3000", "\u2003", "\x1c", ""]
UNRESERVED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+!$&'()*,;=:@")


def encode_segment(rng: random.Random, text: str, raw_chance: float = 0.0) -> bytes:
    """Percent-encodes what a target cannot carry raw, and some other bytes at random."""
    out = b""
    for ch in text:
        data = ch.encode("utf-8", "surrogatepass")
        if rng.random() < raw_chance and ch not in "%#?/":
            out += data  # a deliberately malformed target: raw space, controls or UTF-8
        elif ch in UNRESERVED and rng.random() > 0.1:
            out += data
        else:
            out += b"".join(b"%%%02X" % b for b in data)
    return out


def random_int_text(rng: random.Random) -> str:
    digits = rng.choice([1, 1, 2, 3, 10, 19, 20, 25, 40, 100])
    text = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(digits - 1))
    return rng.choice(["", "", "-", "+"]) + text


def gen_item_id(rng: random.Random) -> Request:
    roll = rng.random()
    if roll < 0.3:
        core = rng.choice(ID_CORES)
    elif roll < 0.5:
        core = random_int_text(rng)
    elif roll < 0.6:
        core = repr(rng.choice([rng.uniform(-10, 10), float(rng.randint(-3, 3)), rng.random() * 1e20]))
    elif roll < 0.65:
        core = "9" * rng.choice([4299, 4300, 4301, 5000])
    elif roll < 0.8:
        # underscores and signs sprinkled into digits
        digits = random_int_text(rng).lstrip("+-")
        pieces = [c + ("_" if rng.random() < 0.3 else "") for c in digits]
        core = rng.choice(["", "-", "+"]) + "".join(pieces)
    else:
        core = rng.choice(ID_CORES) + rng.choice(ID_CORES)
    if rng.random() < 0.3:
        core = rng.choice(WHITESPACE) + core + rng.choice(WHITESPACE)
    raw_chance = 0.3 if rng.random() < 0.03 else 0.0
    target = b"/items/" + encode_segment(rng, core, raw_chance)
    if rng.random() < 0.05:
        # percent-escapes that are not UTF-8, or not escapes at all
        target += rng.choice([b"%FF", b"%C3", b"%ED%A0%80", b"%C0%AF", b"%G1", b"%", b"%2", b"%F0%9F%92"])
    if rng.random() < 0.1:
        target += rng.choice([b"?", b"?q=1", b"/", b"//", b"#x", b"%2F"])
    method = "GET" if rng.random() < 0.85 else rng.choice(METHODS)
    return Request(method, target, kind="item id")


# JSON text fragments for field values (written by hand: Python's literals, not serde's).
BOOL_VALUES = [
    "true", "false", "null", "0", "1", "-0", "2", "-1", "0.0", "1.0", "-0.0", "1e0", "10e-1",
    "100.0", "1e+16", "1e16", "1E2", "0.5", "1e19", "9.2e18", "9.3e18", "-9.3e18",
    "-9223372036854775808.0", "9223372036854774784.0", "-9223372036854774784.0",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "-9223372036854775809", "18446744073709551616", "100000000000000000000", "1e300", "1e400",
    "-1e400", "NaN", "Infinity", "-Infinity", "5e-324", "-1e-400", "1.0000000000000002",
    "0.9999999999999999", "[]", "[true]", "[1,[2]]", "{}", '{"a":1}', '{"is_offer":true}',
    '"on"', '"off"', '"t"', '"f"', '"y"', '"n"', '"yes"', '"no"', '"true"', '"false"',
    '"TRUE"', '"On"', '"oFF"', '"Yes"', '" 1 "', '"1 "', '" true"', '"0"', '"1"', '""', '"01"',
    '"1.0"', '"0.0"', '"2"', '"-1"', '"+1"', '"maybe"', '"true\\n"', '"\\u0131"', '"ye\\u017f"',
    '"\\u212a"', '"\uff11"', '"\\u0000"', '"\\ud800"', '"tru\\u0065"', '"nul"', '"None"',
    "0e0", "-0e-0", "1.0E+0", "1e-0", "10E-1", "1.5e300", "2e0", "-1e0", "0.1e1", "1e1",
]
NAME_VALUES = [
    '"x"', '""', '"Test Item"', '"é"', '"\\u00e9"', '"\\u2028\\u007f\\u001f\\b\\f\\r/"',
    '"\\n\\t\\"\\\\/"', '"\\u0000"', '"💩"', '"\\ud83d\\ude00"', '"\\ud800"', '"\\udc00x"',
    '"a\\ud83d"', '"' + "long " * 200 + '"', '"<script>"', '"\\u00ff\\u0100"', '" "',
    "true", "false", "null", "0", "1", "-0", "1.5", "-0.0", "1e16", "123456789012345678901234567890",
    "1e400", "NaN", "-Infinity", "[]", '["x"]', "{}", '{"name":"x"}', "[[[[]]]]",
]


def random_bool_value(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.7:
        return rng.choice(BOOL_VALUES)
    if roll < 0.8:
        return random_int_text(rng)
    if roll < 0.9:
        return repr(float(rng.choice([rng.randint(-5, 5), rng.randint(-(2**70), 2**70)])) * rng.choice([1, 1, 1e-3, 1e10]))
    word = rng.choice(["on", "off", "t", "f", "y", "n", "yes", "no", "true", "false", "0", "1"])
    word = "".join(c.upper() if rng.random() < 0.5 else c for c in word)
    if rng.random() < 0.2:
        word = rng.choice([" ", "\\t", "\\n", "\\u00a0", "x"]) + word
    return json.dumps(word)


def random_name_value(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(NAME_VALUES)
    chars = "".join(rng.choice("aZ é💩\\\"/\x7f\u2028") for _ in range(rng.randint(0, 12)))
    return json.dumps(chars, ensure_ascii=rng.random() < 0.5)


def ws(rng: random.Random) -> str:
    return rng.choice(["", "", "", " ", "\n", "\t", "\r\n  "])


def json_object(rng: random.Random, fields: list) -> str:
    inner = ("," + ws(rng)).join(f'{ws(rng)}{k}{ws(rng)}:{ws(rng)}{v}' for k, v in fields)
    return "{" + inner + ws(rng) + "}"


def nested(rng: random.Random) -> str:
    depth = rng.choice([2, 10, 100, 500, 513, 900, 950, 951, 952, 953, 956, 957, 958, 1000])
    if rng.random() < 0.5:
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def gen_body(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.55:
        fields = []
        if rng.random() < 0.9:
            fields.append(('"name"', random_name_value(rng)))
        if rng.random() < 0.8:
            fields.append(('"is_offer"', random_bool_value(rng)))
        if rng.random() < 0.2:
            extra = rng.choice(['"extra"', '"NAME"', '"\\u006eame"', '"name "', '"\\ud800"', '"\ufffd"', '"is_offer"', '"name"'])
            fields.append((extra, rng.choice(NAME_VALUES + BOOL_VALUES)))
        if rng.random() < 0.2:
            rng.shuffle(fields)
        text = json_object(rng, fields)
    elif roll < 0.62:
        text = rng.choice(["[]", '"str"', "1", "null", "true", '[{"name":"x"}]', "1.5", "{}", "NaN", "[NaN]", '"\\ud800"'])
    elif roll < 0.72:
        # a valid object cut short or extended: JSON syntax errors
        whole = json_object(rng, [('"name"', random_name_value(rng)), ('"is_offer"', random_bool_value(rng))])
        text = rng.choice([
            whole[: rng.randint(0, max(0, len(whole) - 1))],
            whole + rng.choice([" x", "}", ",", "]", "\x00", " {}"]),
            whole.replace(":", rng.choice(["", " ", "="]), 1),
            whole.replace('"', "'"),
            whole.replace(",", ",,", 1),
            whole[:-1] + ",}",
        ])
    elif roll < 0.8:
        prefix = rng.choice(['{"name":"x","extra":', '{"x":', '{"name":', '{"name":"x","is_offer":', ""])
        text = prefix + nested(rng) + ("}" if prefix else "")
    elif roll < 0.85:
        text = rng.choice([
            "", "   ", "\n", "nul", "tru", "True", "None", "{'name':'x'}", "name=x&is_offer=true",
            '{"name":"\\q"}', '{"name":"\\u12"}', '{"name":"a\x01"}', '{"name":"x"', "[1,2",
            '{"name":"x","is_offer":01}', '{"name":"x","is_offer":.5}', '{"name":"x","is_offer":+1}',
            '{"name":"x","is_offer":-}', '{"name":"x","is_offer":1.}', '{"name":"x","is_offer":1e}',
        ])
    elif roll < 0.9:
        big = "9" * rng.choice([4299, 4300, 4301])
        text = rng.choice([f'{{"name":"x","extra":{big}}}', f'{{"name":"x","is_offer":-{big}}}', f'{{"name":{big}}}', f'{{"name":"x","is_offer":{big}.5}}'])
    else:
        # other encodings and raw bytes
        obj = json_object(rng, [('"name"', random_name_value(rng)), ('"is_offer"', random_bool_value(rng))])
        encoding = rng.choice(["utf-8-sig", "utf-16-le", "utf-16-be", "utf-16", "utf-32", "utf-32-le", "raw"])
        if encoding == "raw":
            return rng.choice([b'{"name":"\xff"}', b'{"name":"\xed\xa0\x80"}', b'{"name":"x","e":"\xed\xa0\x80"}', b"\xff\xfe", b'{"name":"\xc3"}', b"\x00{}", b'{"name":"x"}\xff'])
        try:
            return obj.encode(encoding, "surrogatepass")
        except UnicodeEncodeError:
            return obj.encode("utf-8", "surrogatepass")
    return text.encode("utf-8", "surrogatepass")


CONTENT_TYPES = [
    "application/json", "application/json", "application/json", "application/json; charset=utf-8",
    "APPLICATION/JSON", " application/json ", "application/json;", "application/json; charset=latin-1",
    "application/vnd.api+json", "application/ld+json", "application/json-patch+json", "text/json",
    "application/jsonx", "application/json/x", "text/plain", "text/plain; charset=utf-8", "",
    None, "application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ", "application/octet-stream",
    "application", "*/*", "application/*", "application/+json", "application/json+json",
    "application/json ; charset=utf-8", "application/json\t", "Application/Json",
    "application/json, text/plain", 'application/json;charset="utf-8"', "application/ json",
    "application /json", "application/json+", "application/x+json", "application/json; x",
    "application/json;;", ";application/json", "application/json; charset=utf-16",
]


def multipart(body: bytes) -> bytes:
    return (b'--XyZ\r\nContent-Disposition: form-data; name="name"\r\n\r\n' + body[:20]
            + b"\r\n--XyZ--\r\n")


def gen_post(rng: random.Random) -> Request:
    content_type = rng.choice(CONTENT_TYPES)
    body = gen_body(rng)
    if content_type == "application/x-www-form-urlencoded" and rng.random() < 0.5:
        body = rng.choice([b"name=x&is_offer=true", b"name=%C3%A9", b"is_offer=1", b"a"])
    elif content_type and content_type.startswith("multipart/") and rng.random() < 0.7:
        body = multipart(body)
    headers = [] if content_type is None else [("Content-Type", content_type.encode())]
    if rng.random() < 0.03:
        headers.append(("Content-Type", rng.choice([b"text/plain", b"application/json"])))
    if rng.random() < 0.05:
        return Request("POST", b"/items", headers, None, kind="POST /items")  # no body at all
    target = b"/items"
    if rng.random() < 0.08:
        target = rng.choice([b"/items?x=1", b"/items/", b"/%69tems", b"/items//", b"/items?"])
    method = "POST" if rng.random() < 0.93 else rng.choice(["PUT", "PATCH", "DELETE", "GET"])
    return Request(method, target, headers, body, chunked=rng.random() < 0.15, kind="POST /items")


def gen_route(rng: random.Random) -> Request:
    method = rng.choice(METHODS)
    target = rng.choice(PATHS).encode()
    headers = []
    body = None
    if method in ("POST", "PUT", "PATCH") and rng.random() < 0.6:
        body = b'{"name":"x","is_offer":true}'
        headers.append(("Content-Type", b"application/json"))
    if rng.random() < 0.05:
        method = rng.choice(["get", "Get", "FOO", "TRACE", "PROPFIND"])
    return Request(method, target, headers, body, kind="routing")


def generate(rng: random.Random) -> Request:
    roll = rng.random()
    if roll < 0.3:
        return gen_item_id(rng)
    if roll < 0.75:
        return gen_post(rng)
    return gen_route(rng)


# --- documented differences (README "Differences from the FastAPI original") -----------------

def loads_python(body: bytes):
    """`json.loads` as the original runs it, or None when the body is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def walk(value):
    """Every value, key and item inside `value`, without recursion (bodies nest 957 deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())


def has_lone_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def documented(request: Request, original: Response, duplex: Response, original_addr) -> str | None:
    """The README row that explains a difference, or None."""
    # HEAD on a GET route: the original says 405; duplex answers like GET without a body.
    if request.method == "HEAD" and original.status == 405 and duplex.status != 405:
        get = exchange(original_addr, Request("GET", request.target, request.headers, request.body, request.chunked))
        if (duplex.status, duplex.content_type, duplex.body) == (get.status, get.content_type, b""):
            return "HEAD answered like GET"
    # A fragment in the target: h11 keeps `#...` in the path, hyper's URI parser drops it.
    if b"#" in request.target:
        cut = Request(request.method, request.target.split(b"#")[0], request.headers, request.body, request.chunked)
        original_cut = exchange(original_addr, cut)
        if original_cut.key() == duplex.key() or documented(cut, original_cut, duplex, original_addr):
            return "fragment dropped from the target"
    # An absolute-form target: the original routes its whole text (404); duplex its path.
    if request.target.startswith((b"http://", b"https://")):
        path = b"/" + request.target.split(b"/", 3)[-1]
        origin_form = Request(request.method, path, request.headers, request.body, request.chunked)
        original_path = exchange(original_addr, origin_form)
        if original.status == 404 and (
            original_path.key() == duplex.key() or documented(origin_form, original_path, duplex, original_addr)
        ):
            return "absolute-form target routed"
    # A malformed request: both 400, h11's text against duplex's (or hyper's empty) body.
    if original.status == 400 and original.body == INVALID_HTTP and duplex.status == 400:
        if duplex.body in (INVALID_HTTP, b""):
            return "malformed request (400 framing)"
    if original.status == 500 and original.body == b"Internal Server Error" and request.body is not None:
        value = loads_python(request.body)
        # NaN, Infinity or 1e400 echoed: duplex writes null where Python cannot encode.
        if duplex.status in (201, 422) and duplex.content_type == "application/json":
            if any(isinstance(v, float) and not math.isfinite(v) for v in walk(value)):
                if b"null" in duplex.body:
                    return "non-finite number echoed as null"
            # Input nested more than 952 levels deep echoed: duplex writes it.
            if depth(value) > 952:
                return "deeply nested input echoed"
        # A lone surrogate echoed, or raw text that is not UTF-8: FastAPI's own 400.
        if duplex.status == 400 and duplex.body == PARSE_ERROR:
            if any(isinstance(v, str) and has_lone_surrogate(v) for v in walk(value)):
                return "lone surrogate echoed"
            try:
                request.body.decode("utf-8")
            except UnicodeDecodeError:
                return "raw body not UTF-8"
    return None


def depth(value) -> int:
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


# --- main ----------------------------------------------------------------------------------------

def address(text: str):
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duplex", type=address, required=True, help="HOST:PORT of duplex (plain HTTP)")
    parser.add_argument("--original", type=address, required=True, help="HOST:PORT of the FastAPI original")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one)")
    parser.add_argument("--count", type=int, default=3000, help="number of requests (default 3000)")
    parser.add_argument("--show", type=int, default=SHOW, help="mismatches printed in full (default 20)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    print(f"differential: seed {seed}", flush=True)
    rng = random.Random(seed)

    for name, addr in (("duplex", args.duplex), ("original", args.original)):
        try:
            exchange(addr, Request("GET", b"/status"))
        except NoResponse as err:
            print(f"differential: {name} at {addr[0]}:{addr[1]} does not answer: {err}", file=sys.stderr)
            return 2

    identical = 0
    reasons = {}
    mismatches = 0
    for n in range(1, args.count + 1):
        request = generate(rng)
        try:
            original = exchange(args.original, request)
            duplex = exchange(args.duplex, request)
        except NoResponse as err:
            original = duplex = None
            problem = f"no response: {err}"
        else:
            problem = None
        if problem is None and original.key() == duplex.key():
            identical += 1
            continue
        if problem is None:
            try:
                reason = documented(request, original, duplex, args.original)
            except NoResponse:
                reason = None
            if reason:
                reasons[reason] = reasons.get(reason, 0) + 1
                continue
        mismatches += 1
        if mismatches <= args.show:
            print(f"--- mismatch {mismatches} (request {n}, {request.kind})")
            print(f"request:  {request.describe()}")
            if problem:
                print(f"          {problem}")
            else:
                print(f"original: {original.describe()}")
                print(f"duplex:   {duplex.describe()}")
    if mismatches > args.show:
        print(f"... {mismatches - args.show} more mismatches not shown")
    documented_count = sum(reasons.values())
    if reasons:
        print("documented differences: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    print(f"differential: seed {seed}, {args.count} requests, {identical} identical, "
          f"{documented_count} documented differences, {mismatches} mismatches")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
