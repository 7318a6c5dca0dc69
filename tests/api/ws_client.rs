//! A raw WebSocket client for tests: it writes masked frames byte by byte as told (so tests can
//! break the protocol on purpose) and reports every server frame exactly as it arrived. Tests
//! of well-behaved sessions use `duplex::client` instead.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::helpers::{Io, RawResponse, TestApp, parse_one};

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const WAIT: Duration = Duration::from_secs(5);

/// One frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv1: bool,
    pub masked: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// `(code, reason)` of a close frame.
    pub fn close(&self) -> Option<(u16, String)> {
        (self.opcode == 8).then(|| match &self.payload[..] {
            [hi, lo, reason @ ..] => (
                u16::from_be_bytes([*hi, *lo]),
                String::from_utf8_lossy(reason).into_owned(),
            ),
            _ => (1005, String::new()),
        })
    }
}

pub struct WsClient {
    io: Box<dyn Io>,
    buf: Vec<u8>,
}

/// The handshake request for `path` with extra header lines.
pub fn upgrade_request(path: &str, extra: &[&str]) -> String {
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for line in extra {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request
}

impl WsClient {
    /// The raw connection, for tests that drive it themselves (anything buffered is dropped).
    pub fn into_io(self) -> Box<dyn Io> {
        self.io
    }

    /// Connects and upgrades; panics unless the server answers 101.
    pub async fn connect(app: &TestApp, path: &str) -> Self {
        let (head, client) = Self::handshake(app, &upgrade_request(path, &[])).await;
        assert_eq!(head.status, 101, "{head:?}");
        client
    }

    /// Opens `path` over HTTP/2 by extended CONNECT (RFC 8441, without extensions); panics
    /// unless the server answers 200. The frames then go over that stream.
    pub async fn connect_h2(app: &TestApp, path: &str) -> Self {
        let (mut sender, _connection) = crate::http2::h2_connect(app)
            .await
            .unwrap_or_else(|e| panic!("h2 connect: {e}"));
        let scheme = if app.tls { "https" } else { "http" };
        let mut request = http::Request::builder()
            .method(http::Method::CONNECT)
            .version(http::Version::HTTP_2)
            .uri(format!("{scheme}://localhost{path}"))
            .header("sec-websocket-version", "13")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap_or_else(|e| panic!("request: {e}"));
        request
            .extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        let response = tokio::time::timeout(WAIT, sender.send_request(request))
            .await
            .unwrap_or_else(|_| panic!("no answer to the extended CONNECT within {WAIT:?}"))
            .unwrap_or_else(|e| panic!("extended CONNECT: {e}"));
        assert_eq!(response.status(), 200, "{response:?}");
        let upgraded = hyper::upgrade::on(response)
            .await
            .unwrap_or_else(|e| panic!("upgrade: {e}"));
        Self {
            io: Box::new(hyper_util::rt::TokioIo::new(upgraded)),
            buf: Vec::new(),
        }
    }

    /// Over HTTP/1.1 ([`WsClient::connect`]) or HTTP/2 ([`WsClient::connect_h2`]).
    pub async fn connect_over(app: &TestApp, path: &str, h2: bool) -> Self {
        if h2 {
            Self::connect_h2(app, path).await
        } else {
            Self::connect(app, path).await
        }
    }

    /// Sends `request` and reads the response head; the rest stays buffered for frames.
    pub async fn handshake(app: &TestApp, request: &str) -> (RawResponse, Self) {
        Self::handshake_bytes(app, request.as_bytes()).await
    }

    /// [`WsClient::handshake`] with any bytes: a request followed by frames, in one write.
    pub async fn handshake_bytes(app: &TestApp, request: &[u8]) -> (RawResponse, Self) {
        let mut io = app
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        io.write_all(request)
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
        let mut client = Self {
            io,
            buf: Vec::new(),
        };
        let head = client.read_head().await;
        (head, client)
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = tokio::time::timeout(WAIT, self.io.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("no data from the server within {WAIT:?}"))
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// The next response head (and its body, by its length).
    pub async fn read_head(&mut self) -> RawResponse {
        let mut eof = false;
        loop {
            match parse_one(&self.buf, false, eof) {
                Ok(Some((head, used))) => {
                    self.buf.drain(..used);
                    return head;
                }
                Ok(None) => assert!(!eof, "connection closed before the response head"),
                Err(err) => panic!("response head: {err}"),
            }
            eof = !self.fill().await;
        }
    }

    /// Sends raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.io.write_all(bytes).await;
        let _ = self.io.flush().await;
    }

    /// A masked frame with the given first byte (FIN, RSV, opcode), valid or not.
    pub fn frame_bytes(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        duplex::protocol::ws::write_frame(&mut out, b0, Some([0x12, 0x34, 0x56, 0x78]), payload);
        out.to_vec()
    }

    pub async fn send_frame(&mut self, b0: u8, payload: &[u8]) {
        self.send_raw(&Self::frame_bytes(b0, payload)).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send_frame(0x81, text.as_bytes()).await;
    }

    pub async fn send_binary(&mut self, data: &[u8]) {
        self.send_frame(0x82, data).await;
    }

    pub async fn send_close(&mut self, code: u16, reason: &str) {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        self.send_frame(0x88, &payload).await;
    }

    /// The next server frame, exactly as sent; `None` at EOF.
    pub async fn recv(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The next frame with `opcode`, skipping others (stream updates in flight, pings).
    pub async fn recv_until(&mut self, opcode: u8) -> Frame {
        loop {
            match self.recv().await {
                Some(frame) if frame.opcode == opcode => return frame,
                Some(_) => continue,
                None => panic!("EOF before a frame with opcode {opcode}"),
            }
        }
    }

    /// The next frame, which must be text.
    pub async fn recv_text(&mut self) -> String {
        let frame = self
            .recv()
            .await
            .unwrap_or_else(|| panic!("EOF, expected text"));
        assert_eq!(frame.opcode, 1, "expected text, got {frame:?}");
        frame.text()
    }

    /// The next frame must be a close; returns its code and reason, then checks the server
    /// closes TCP.
    pub async fn expect_close(&mut self) -> (u16, String) {
        let frame = self
            .recv()
            .await
            .unwrap_or_else(|| panic!("EOF, expected close"));
        let close = frame
            .close()
            .unwrap_or_else(|| panic!("expected close, got {frame:?}"));
        self.expect_eof().await;
        close
    }

    /// Answers the server's close (as a client must), then waits for the server's FIN.
    pub async fn expect_eof(&mut self) {
        let _ = self.send_frame_quiet().await;
        let mut rest = Vec::new();
        let read = tokio::time::timeout(WAIT, self.io.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "server did not close the connection");
    }

    async fn send_frame_quiet(&mut self) -> std::io::Result<()> {
        self.io.write_all(&Self::frame_bytes(0x88, &[])).await
    }
}

/// One unmasked server frame from the front of `buf`, and its length.
fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    let [b0, b1, ..] = *buf else { return None };
    let (len, mut at) = match b1 & 0x7f {
        126 => (
            usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(buf.get(2..10)?);
            (usize::try_from(u64::from_be_bytes(raw)).ok()?, 10)
        }
        len => (usize::from(len), 2),
    };
    let masked = b1 & 0x80 != 0;
    if masked {
        at += 4;
    }
    let payload = buf.get(at..at + len)?.to_vec();
    Some((
        Frame {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            masked,
            opcode: b0 & 0x0f,
            payload,
        },
        at + len,
    ))
}

/// Unix time in milliseconds, as the guide's test helper sends it.
pub fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
