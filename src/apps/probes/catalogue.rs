//! The probe cases: what each one sends, what a correct client does, and the rule.
//!
//! The contract a client follows to be judged (`duplex check-client`): it is run once per case
//! with the case's URL; for `http://`/`https://` it sends one `GET` (following redirects in the
//! `http-reuse` group) and writes the response body to stdout, for `ws://`/`wss://` it opens the WebSocket and writes each text message it
//! receives on its own line until the connection closes. It exits 0 when it accepted the
//! response (or the WebSocket ended with a close handshake) and non-zero when it refused it.

use std::fmt::Write as _;

/// What a case is about; `--only` selects by these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    /// Response framing: lengths, chunks, pieces, EOF, line ends, headers.
    Framing,
    /// 1xx responses before the final one.
    Interim,
    /// The status line.
    Status,
    /// Connection reuse across a redirect (the client must follow redirects).
    Reuse,
    /// The WebSocket opening handshake.
    WsHandshake,
    /// What a WebSocket server may do after the handshake.
    WsServer,
}

impl Group {
    pub(crate) const ALL: [Self; 6] = [
        Self::Framing,
        Self::Interim,
        Self::Status,
        Self::Reuse,
        Self::WsHandshake,
        Self::WsServer,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Framing => "http-framing",
            Self::Interim => "http-1xx",
            Self::Status => "http-status",
            Self::Reuse => "http-reuse",
            Self::WsHandshake => "ws-handshake",
            Self::WsServer => "ws-server",
        }
    }

    pub(crate) fn is_ws(self) -> bool {
        matches!(self, Self::WsHandshake | Self::WsServer)
    }
}

/// What the client should print when it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// [`body`]: 30 numbered lines.
    Body,
    /// Nothing (a response without content).
    Empty,
    /// [`MESSAGE`], one line.
    Message,
    /// [`long_message`], one line.
    LongMessage,
}

impl Output {
    pub(crate) fn text(self) -> String {
        match self {
            Self::Body => body(),
            Self::Empty => String::new(),
            Self::Message => MESSAGE.to_owned(),
            Self::LongMessage => long_message(),
        }
    }
}

/// What a correct client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Accept, and print this.
    Accept(Output),
    /// Refuse (exit non-zero).
    Reject,
    /// Either is allowed; if it accepts, it prints this.
    Either(Output),
}

impl Expect {
    pub(crate) fn words(self) -> &'static str {
        match self {
            Self::Accept(_) => "a correct client accepts it",
            Self::Reject => "a correct client refuses it",
            Self::Either(_) => "a client may accept or refuse it",
        }
    }
}

/// What the server must also have seen for the case to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    Nothing,
    /// A pong carrying the payload of the last ping sent.
    Pong,
    /// The client's close frame in reply to the server's.
    CloseReply,
}

#[derive(Debug)]
pub(crate) struct Case {
    pub(crate) id: &'static str,
    pub(crate) group: Group,
    /// What the probe does.
    pub(crate) title: &'static str,
    pub(crate) expect: Expect,
    pub(crate) needs: Needs,
    /// The rule that decides it.
    pub(crate) rule: &'static str,
    /// What to fix when a client gets it wrong.
    pub(crate) hint: &'static str,
}

impl Case {
    /// The path under `/probe/`: `http/<id>` or `ws/<id>`.
    pub(crate) fn path(&self) -> String {
        let kind = if self.group.is_ws() { "ws" } else { "http" };
        format!("{kind}/{}", self.id)
    }
}

/// The text message of the WebSocket probes.
pub(crate) const MESSAGE: &str = "duplex probe ok";

/// The body of the HTTP probes: 30 numbered lines, 780 bytes.
pub(crate) fn body() -> String {
    let mut body = String::with_capacity(700);
    for line in 1..=30 {
        let _ = writeln!(body, "duplex probe body line {line:02}");
    }
    body
}

/// A 70,000-byte message: more than a 16-bit length holds.
pub(crate) fn long_message() -> String {
    let unit = "0123456789abcdef";
    let mut text = unit.repeat(70_000 / unit.len() + 1);
    text.truncate(70_000);
    text
}

const fn case(
    id: &'static str,
    group: Group,
    title: &'static str,
    expect: Expect,
    rule: &'static str,
    hint: &'static str,
) -> Case {
    Case {
        id,
        group,
        title,
        expect,
        needs: Needs::Nothing,
        rule,
        hint,
    }
}

use Expect::{Accept, Either, Reject};
use Group::{Framing, Interim, Reuse, Status, WsHandshake, WsServer};
use Output::{Body, Empty, LongMessage, Message};

pub(crate) const CASES: &[Case] = &[
    case(
        "content-length",
        Framing,
        "a plain 200 with Content-Length (the control)",
        Accept(Body),
        "RFC 9112 §6.3 rule 6",
        "read exactly Content-Length bytes after the head",
    ),
    case(
        "chunked",
        Framing,
        "a chunked body in chunks of 1, 2, 3, 100 and the rest",
        Accept(Body),
        "RFC 9112 §7.1",
        "loop: read a hex size line, that many bytes and a CRLF, until the 0 chunk",
    ),
    case(
        "chunked-uppercase-hex",
        Framing,
        "chunk sizes in upper-case hex with leading zeros (000A)",
        Accept(Body),
        "RFC 9112 §7.1 (chunk-size = 1*HEXDIG; RFC 5234 HEXDIG is case-insensitive)",
        "parse chunk sizes as hex digits of either case, leading zeros allowed",
    ),
    case(
        "chunked-extensions",
        Framing,
        "chunk extensions (`;name=value;flag`) on every chunk",
        Accept(Body),
        "RFC 9112 §7.1.1: a recipient MUST ignore unrecognized chunk extensions",
        "cut the size line at the first `;` before parsing the hex size",
    ),
    case(
        "chunked-trailers",
        Framing,
        "a trailer field after the last chunk (`Trailer: x-checksum`)",
        Accept(Body),
        "RFC 9112 §7.1.2",
        "after the 0 chunk, read field lines until an empty line",
    ),
    case(
        "one-byte-writes",
        Framing,
        "the whole response written one byte at a time (1 ms apart)",
        Accept(Body),
        "RFC 9112 §2.1: HTTP/1.1 is a byte stream; TCP keeps no message boundaries",
        "buffer reads: never assume a head, a line or a body arrives in one read",
    ),
    case(
        "chunked-pieces",
        Framing,
        "a chunked response written in 7-byte pieces, sizes split across writes",
        Accept(Body),
        "RFC 9112 §7.1",
        "a chunk-size line can end in a later read than it starts in",
    ),
    case(
        "close-delimited",
        Framing,
        "no Content-Length and no Transfer-Encoding: the body ends at EOF",
        Accept(Body),
        "RFC 9112 §6.3 rule 8",
        "with neither header, read the body until the server closes",
    ),
    case(
        "content-length-and-extra",
        Framing,
        "40 bytes more than Content-Length after the body, then close",
        Accept(Body),
        "RFC 9112 §6.3 rule 6: the message ends after Content-Length bytes",
        "stop at Content-Length; what follows is not this response's",
    ),
    case(
        "content-length-long",
        Framing,
        "Content-Length 100 more than the body sent, then close",
        Reject,
        "RFC 9112 §8: a message cut short by a close is incomplete",
        "treat EOF before Content-Length bytes as an error, not as the end",
    ),
    case(
        "content-length-conflict",
        Framing,
        "two Content-Length fields with different values",
        Reject,
        "RFC 9112 §6.3 rule 5: an invalid Content-Length is an unrecoverable error",
        "refuse a response whose Content-Length values differ",
    ),
    case(
        "eof-in-head",
        Framing,
        "the connection closes in the middle of the header section",
        Reject,
        "RFC 9112 §8",
        "a head is complete only at its empty line",
    ),
    case(
        "reset-mid-body",
        Framing,
        "a TCP reset (RST) after half the body",
        Reject,
        "RFC 9112 §8: a message cut short is incomplete",
        "a connection reset before the body's end is an error, not the end of the body",
    ),
    case(
        "eof-in-chunk",
        Framing,
        "the connection closes in the middle of a chunk",
        Reject,
        "RFC 9112 §8",
        "EOF inside a chunk is an error",
    ),
    case(
        "eof-before-last-chunk",
        Framing,
        "chunks, then EOF without the 0 chunk",
        Reject,
        "RFC 9112 §7.1 and §8: a chunked body ends only at the 0-size chunk",
        "a chunked body without its last chunk is incomplete",
    ),
    case(
        "chunked-over-content-length",
        Framing,
        "both Transfer-Encoding: chunked and a Content-Length",
        Either(Body),
        "RFC 9112 §6.3 rule 3: Transfer-Encoding overrides; it ought to be handled as an error",
        "decode as chunked (ignore Content-Length) or refuse",
    ),
    case(
        "lf-only",
        Framing,
        "every line of the head ends in a bare LF",
        Either(Body),
        "RFC 9112 §2.2: a recipient MAY accept a bare LF as a line terminator",
        "either is allowed; accepting bare LF makes a client work with more servers",
    ),
    case(
        "obs-fold",
        Framing,
        "a header value continued on the next line (obs-fold)",
        Accept(Body),
        "RFC 9112 §5.2: a user agent MUST replace each obs-fold with SP",
        "join a line that starts with SP or HTAB to the previous field value",
    ),
    case(
        "many-headers",
        Framing,
        "150 header fields",
        Accept(Body),
        "RFC 9110 §5: no limit on the number of fields",
        "do not cap response headers at a small fixed count",
    ),
    case(
        "large-header",
        Framing,
        "one 32 KiB header value",
        Either(Body),
        "RFC 9110 §5.4: a client MAY limit field sizes",
        "either is allowed; say which limit refused it",
    ),
    case(
        "204-with-body",
        Framing,
        "a 204 followed by bytes that are not its content",
        Accept(Empty),
        "RFC 9112 §6.3 rule 1: a 204 ends at its head",
        "never read a body after a 204 or 304, whatever the headers say",
    ),
    case(
        "304-with-body",
        Framing,
        "a 304 (with Content-Length) followed by bytes that are not its content",
        Accept(Empty),
        "RFC 9112 §6.3 rule 1: a 304 ends at its head, whatever Content-Length says",
        "never read a body after a 204 or 304, whatever the headers say",
    ),
    case(
        "early-hints",
        Interim,
        "a 103 Early Hints, then the 200",
        Accept(Body),
        "RFC 9110 §15.2: a client MUST parse 1xx responses it did not expect",
        "skip 1xx responses (except 101) and read the next status line",
    ),
    case(
        "several-1xx",
        Interim,
        "100, 102 and 103 in a row, then the 200",
        Accept(Body),
        "RFC 9110 §15.2",
        "keep skipping 1xx heads until a final status",
    ),
    case(
        "1xx-then-eof",
        Interim,
        "a 100 Continue, then the connection closes",
        Reject,
        "RFC 9110 §15.2: a 1xx is not the response",
        "a 1xx alone is not an answer; EOF after it is an error",
    ),
    case(
        "empty-reason",
        Status,
        "a status line with an empty reason phrase (`HTTP/1.1 200 `)",
        Accept(Body),
        "RFC 9112 §4: reason-phrase may be empty; clients SHOULD ignore it",
        "do not require a reason phrase; split the status line on the first two spaces",
    ),
    case(
        "no-reason-no-space",
        Status,
        "a status line without the space before the (absent) reason (`HTTP/1.1 200`)",
        Either(Body),
        "RFC 9112 §4: the SP is required, but recipients often accept its absence",
        "either is allowed",
    ),
    case(
        "http10-response",
        Status,
        "an HTTP/1.0 status line with Content-Length",
        Accept(Body),
        "RFC 9112 §2.3: a response may carry a lower minor version",
        "accept HTTP/1.0 responses (they close unless told otherwise)",
    ),
    case(
        "redirect-keep-alive",
        Reuse,
        "a 307 on a kept-alive connection, then the body",
        Accept(Body),
        "RFC 9110 §15.4.8 and RFC 9112 §9.3: the connection may carry the next request",
        "follow the 307 (same method), on the same connection or a new one",
    ),
    case(
        "redirect-close",
        Reuse,
        "a 307 with `Connection: close`, then the server closes",
        Accept(Body),
        "RFC 9112 §9.6: no further request on a connection the server closes",
        "after `Connection: close`, send the next request on a new connection",
    ),
    case(
        "stale-keep-alive",
        Reuse,
        "a 307 that promises nothing, then the server closes at once",
        Either(Body),
        "RFC 9112 §9.3.1: a client MAY retry an idempotent request on a new connection",
        "when a kept-alive connection turns out closed, retry a GET once on a new one",
    ),
    case(
        "control",
        WsHandshake,
        "a correct 101, one message, close 1000 (the control)",
        Accept(Message),
        "RFC 6455 §4.1",
        "check the status, Upgrade, Connection and Sec-WebSocket-Accept, then read frames",
    ),
    case(
        "upgrade-mixed-case",
        WsHandshake,
        "`Upgrade: WebSocket` and `Connection: upgrade`",
        Accept(Message),
        "RFC 6455 §4.1 item 2 and 3: compared case-insensitively",
        "compare the Upgrade and Connection values ASCII case-insensitively",
    ),
    case(
        "connection-list",
        WsHandshake,
        "`Connection: keep-alive, Upgrade`",
        Accept(Message),
        "RFC 9110 §7.6.1: Connection is a list of tokens",
        "look for the `upgrade` token in the list, not the whole value",
    ),
    case(
        "frames-with-101",
        WsHandshake,
        "the first frame in the same write as the 101",
        Accept(Message),
        "RFC 6455 §4.1: the server may send frames as soon as it sent the 101",
        "keep the bytes read past the end of the 101 head: they are frames",
    ),
    case(
        "wrong-accept",
        WsHandshake,
        "a Sec-WebSocket-Accept computed from another key",
        Reject,
        "RFC 6455 §4.1 item 4: the client MUST fail the connection",
        "compute base64(SHA-1(key + 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)) and compare",
    ),
    case(
        "missing-accept",
        WsHandshake,
        "a 101 without Sec-WebSocket-Accept",
        Reject,
        "RFC 6455 §4.1 item 4",
        "a 101 without the accept header is a failed handshake",
    ),
    case(
        "status-200",
        WsHandshake,
        "200 OK instead of 101",
        Reject,
        "RFC 6455 §4.1 item 1: anything but 101 is handled per HTTP; no WebSocket",
        "only a 101 opens the WebSocket",
    ),
    case(
        "status-401",
        WsHandshake,
        "401 Unauthorized with a body",
        Reject,
        "RFC 6455 §4.1 item 1",
        "report the status; do not read frames",
    ),
    case(
        "redirect-on-upgrade",
        WsHandshake,
        "a 307 to /probe/ws/control instead of 101",
        Either(Message),
        "RFC 6455 §4.1 item 1: a client may follow a redirect, it need not",
        "either is allowed; if you follow it, send a fresh handshake (new key) to the new URL",
    ),
    case(
        "unrequested-subprotocol",
        WsHandshake,
        "a Sec-WebSocket-Protocol the client did not offer",
        Reject,
        "RFC 6455 §4.1 item 6: the client MUST fail the connection",
        "accept only a subprotocol you offered",
    ),
    case(
        "unrequested-extension",
        WsHandshake,
        "a Sec-WebSocket-Extensions the client did not offer",
        Reject,
        "RFC 6455 §4.1 item 5: the client MUST fail the connection",
        "accept only extensions you offered",
    ),
    case(
        "fragmented",
        WsServer,
        "the message in 10 fragments",
        Accept(Message),
        "RFC 6455 §5.4",
        "join continuation frames until FIN",
    ),
    case(
        "long-message",
        WsServer,
        "a 70,000-byte message (64-bit length encoding)",
        Accept(LongMessage),
        "RFC 6455 §5.2: payload lengths over 65535 use 8 bytes",
        "read the 8-byte length when the 7-bit length is 127",
    ),
    case(
        "one-byte-writes",
        WsServer,
        "the message frame written one byte at a time",
        Accept(Message),
        "RFC 6455 §5.2; TCP keeps no boundaries",
        "buffer until a whole frame is read",
    ),
    Case {
        needs: Needs::Pong,
        ..case(
            "ping-between-fragments",
            WsServer,
            "a ping between the fragments of the message",
            Accept(Message),
            "RFC 6455 §5.4 and §5.5.2: control frames may be injected; a ping MUST be answered",
            "answer pings at any time, also in the middle of a fragmented message",
        )
    },
    Case {
        needs: Needs::Pong,
        ..case(
            "ping-storm",
            WsServer,
            "20 pings, then the message",
            Accept(Message),
            "RFC 6455 §5.5.2: answer with a pong (at least for the latest ping)",
            "answer each ping with a pong carrying its payload",
        )
    },
    Case {
        needs: Needs::CloseReply,
        ..case(
            "close-code-reason",
            WsServer,
            "the message, then a close with code 4001 and a reason",
            Accept(Message),
            "RFC 6455 §5.5.1: reply to a close with a close",
            "echo the close frame (its code), then wait for the server to close TCP",
        )
    },
    case(
        "no-tcp-close",
        WsServer,
        "the close handshake done, but the server keeps TCP open 15 s",
        Accept(Message),
        "RFC 6455 §7.1.1: the client MAY close TCP itself after a reasonable time",
        "after the close handshake, do not wait forever for the server's FIN",
    ),
    case(
        "masked-frame",
        WsServer,
        "a masked frame from the server",
        Reject,
        "RFC 6455 §5.1: a client MUST close if a server frame is masked",
        "check the MASK bit of every frame from the server",
    ),
    case(
        "reserved-opcode",
        WsServer,
        "a frame with the reserved opcode 0x3",
        Reject,
        "RFC 6455 §5.2: an unknown opcode MUST fail the connection",
        "refuse opcodes other than 0, 1, 2, 8, 9, 10",
    ),
    case(
        "rsv1-without-extension",
        WsServer,
        "a frame with RSV1 set and no extension agreed",
        Reject,
        "RFC 6455 §5.2: a nonzero RSV bit without an extension MUST fail the connection",
        "refuse RSV bits you did not agree to",
    ),
    case(
        "invalid-utf8",
        WsServer,
        "a text message that is not UTF-8",
        Reject,
        "RFC 6455 §8.1: invalid UTF-8 in text MUST fail the connection",
        "validate text messages as UTF-8 (across fragments)",
    ),
];

/// The catalogue as JSON (`GET /probe/`).
pub(crate) fn json() -> String {
    let cases: Vec<serde_json::Value> = CASES
        .iter()
        .map(|case| {
            serde_json::json!({
                "id": case.id,
                "group": case.group.name(),
                "path": format!("/probe/{}", case.path()),
                "title": case.title,
                "expect": case.expect.words(),
                "rule": case.rule,
                "hint": case.hint,
            })
        })
        .collect();
    serde_json::Value::Array(cases).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_unique() {
        let mut paths: Vec<String> = CASES.iter().map(Case::path).collect();
        paths.sort();
        let count = paths.len();
        paths.dedup();
        assert_eq!(paths.len(), count);
    }

    #[test]
    fn the_long_message_needs_a_64_bit_length() {
        assert!(long_message().len() > 65_535);
        assert_eq!(body().len(), 30 * 26);
    }
}
