//! A WebSocket client connection: the RFC 6455 §4.1 handshake on hyper's client, then the
//! [`protocol`](crate::ws::protocol) codec in the client role (masked frames out, unmasked in).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE, USER_AGENT,
};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ClientError, Target};
use crate::http::has_token;
use crate::ws::deflate::{self, Agreement};
pub use crate::ws::protocol::Message;
use crate::ws::protocol::{
    Decoder, Encoder, Incoming, OP_BINARY, OP_CLOSE, OP_PONG, OP_TEXT, Role, code,
};

/// How long the last steps of a close (our close frame out, the server's FIN in) may take.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
const BUFFER: usize = 4 * 1024;

/// Connection options.
#[derive(Debug, Clone)]
pub struct WsOptions {
    /// Offer permessage-deflate (as Python `websockets` does by default).
    pub compression: bool,
    /// Largest message accepted from the server; bigger ones fail the connection with 1009.
    pub max_message: usize,
    /// Limit for TCP + TLS + the upgrade.
    pub timeout: Duration,
    /// How long [`Connection::close`] waits for the server's close frame.
    pub close_timeout: Duration,
    /// Local address to connect from (the system's choice when `None`).
    pub bind: Option<IpAddr>,
}

impl Default for WsOptions {
    fn default() -> Self {
        Self {
            compression: true,
            max_message: 16 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            bind: None,
        }
    }
}

/// A close frame: its status code (if any) and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: Option<u16>,
    pub reason: String,
}

impl CloseFrame {
    fn from_payload(code: Option<u16>, payload: &[u8]) -> Self {
        Self {
            code,
            reason: String::from_utf8_lossy(payload.get(2..).unwrap_or_default()).into_owned(),
        }
    }

    /// 1000 (normal) or 1001 (going away): the peer ended on purpose, not in error.
    pub fn is_clean(&self) -> bool {
        matches!(self.code, Some(code::NORMAL | code::GOING_AWAY))
    }
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.reason.is_empty()) {
            (None, _) => f.write_str("no status code"),
            (Some(code), true) => write!(f, "{code}"),
            (Some(code), false) => write!(f, "{code} {}", self.reason),
        }
    }
}

/// What [`Connection::recv`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Message(Message),
    /// The server closed; its close frame was answered and the connection is over.
    Closed(CloseFrame),
}

/// An open WebSocket connection.
pub struct Connection {
    io: TokioIo<Upgraded>,
    read_buf: BytesMut,
    write_buf: BytesMut,
    decoder: Decoder,
    encoder: Encoder,
    compression: Option<Agreement>,
    close_timeout: Duration,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

/// Opens a WebSocket connection to `target`.
///
/// # Errors
/// Connection and TLS failures; [`ClientError::Refused`] when the server answers anything but
/// 101; [`ClientError::BadHandshake`] when its 101 is not a valid WebSocket acceptance.
pub async fn connect(
    target: &Target,
    tls: Option<&Arc<ClientConfig>>,
    options: &WsOptions,
) -> Result<Connection, ClientError> {
    let handshake = async {
        let io = super::connect_from(target, tls, options.timeout, options.bind).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
        tokio::spawn(connection.with_upgrades());
        let mut nonce = [0u8; 16];
        rand::fill(&mut nonce);
        let key = base64::engine::general_purpose::STANDARD.encode(nonce);
        let mut request = Request::builder()
            .uri(target.path_and_query.as_str())
            .header(HOST, target.authority.as_str())
            .header(UPGRADE, "websocket")
            .header(CONNECTION, "Upgrade")
            .header(SEC_WEBSOCKET_KEY, key.as_str())
            .header(SEC_WEBSOCKET_VERSION, "13")
            .header(USER_AGENT, super::http::USER_AGENT_VALUE);
        if options.compression {
            request = request.header(SEC_WEBSOCKET_EXTENSIONS, deflate::CLIENT_OFFER);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|err| ClientError::Url {
                input: target.ws_url(),
                why: err.to_string(),
            })?;
        let response = sender.send_request(request).await?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            let body = String::from_utf8_lossy(&body);
            return Err(ClientError::Refused {
                status: format!(
                    "{} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                ),
                body: body.chars().take(200).collect(),
            });
        }
        let compression = check_acceptance(response.headers(), key.as_bytes(), options)?;
        let upgraded = hyper::upgrade::on(response).await?;
        Ok(Connection {
            io: TokioIo::new(upgraded),
            read_buf: BytesMut::with_capacity(BUFFER),
            write_buf: BytesMut::new(),
            decoder: Decoder::new(Role::Client, options.max_message, compression.as_ref()),
            encoder: Encoder::new(Role::Client, compression.as_ref()),
            compression,
            close_timeout: options.close_timeout,
        })
    };
    tokio::time::timeout(options.timeout, handshake)
        .await
        .map_err(|_| ClientError::Timeout {
            what: format!("opening {}", target.ws_url()),
            after: options.timeout,
        })?
}

/// RFC 6455 §4.1's checks of the server's 101, and the agreed compression.
fn check_acceptance(
    headers: &http::HeaderMap,
    key: &[u8],
    options: &WsOptions,
) -> Result<Option<Agreement>, ClientError> {
    let bad = |what: &str| Err(ClientError::BadHandshake(what.to_owned()));
    if !has_token(headers, UPGRADE, "websocket") {
        return bad("no `Upgrade: websocket`");
    }
    if !has_token(headers, CONNECTION, "upgrade") {
        return bad("no `Connection: Upgrade`");
    }
    let expected = crate::ws::handshake::accept_key(key);
    if headers
        .get(SEC_WEBSOCKET_ACCEPT)
        .map(http::HeaderValue::as_bytes)
        != Some(expected.as_bytes())
    {
        return bad("Sec-WebSocket-Accept does not match the key");
    }
    let lines: Vec<&str> = headers
        .get_all(SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|value| value.to_str().unwrap_or("\u{fffd}"))
        .collect();
    if !options.compression && !lines.is_empty() {
        return bad("the server chose an extension that was not offered");
    }
    deflate::accept_response(lines).map_err(|err| ClientError::BadHandshake(err.to_string()))
}

impl Connection {
    /// The agreed permessage-deflate parameters, if any.
    pub fn compression(&self) -> Option<&Agreement> {
        self.compression.as_ref()
    }

    /// Sends a message.
    ///
    /// # Errors
    /// [`ClientError::Io`] when the connection is gone.
    pub async fn send(&mut self, message: &Message) -> Result<(), ClientError> {
        match message {
            Message::Text(text) => self.encoder.message(&mut self.write_buf, OP_TEXT, text),
            Message::Binary(data) => self.encoder.message(&mut self.write_buf, OP_BINARY, data),
        }
        self.flush().await
    }

    /// Sends a text message.
    ///
    /// # Errors
    /// As [`Connection::send`].
    pub async fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.encoder
            .message(&mut self.write_buf, OP_TEXT, text.as_bytes());
        self.flush().await
    }

    /// Writes out everything queued. Cancel-safe: each `write` either happened or not, so a
    /// frame is never cut in half by a dropped call.
    async fn flush(&mut self) -> Result<(), ClientError> {
        while !self.write_buf.is_empty() {
            let written = self.io.write(&self.write_buf).await?;
            if written == 0 {
                return Err(ClientError::Io(std::io::ErrorKind::WriteZero.into()));
            }
            let _ = self.write_buf.split_to(written);
        }
        self.io.flush().await?;
        Ok(())
    }

    /// The next message from the server. Pings are answered on the way. Cancel-safe: a
    /// dropped call loses nothing.
    ///
    /// # Errors
    /// [`ClientError::Protocol`] (the connection is then failed with the error's close code),
    /// [`ClientError::Dropped`] when the transport ends without a close frame, or I/O errors.
    pub async fn recv(&mut self) -> Result<Received, ClientError> {
        loop {
            match self.decoder.decode(&mut self.read_buf) {
                Ok(Some(Incoming::Message(message))) => return Ok(Received::Message(message)),
                Ok(Some(Incoming::Ping(payload))) => {
                    self.encoder.control(&mut self.write_buf, OP_PONG, &payload);
                    self.flush().await?;
                    continue;
                }
                Ok(Some(Incoming::Pong(_))) => continue,
                Ok(Some(Incoming::Close(code, payload))) => {
                    // Echo the close, then let the server close TCP first (§7.1.1).
                    self.encoder
                        .control(&mut self.write_buf, OP_CLOSE, &payload);
                    let _ = tokio::time::timeout(CLOSE_GRACE, self.flush()).await;
                    self.wait_for_eof().await;
                    return Ok(Received::Closed(CloseFrame::from_payload(code, &payload)));
                }
                Ok(None) => {}
                Err(err) => {
                    self.encoder
                        .close(&mut self.write_buf, err.code, &err.reason);
                    let _ = tokio::time::timeout(CLOSE_GRACE, self.flush()).await;
                    let _ = tokio::time::timeout(CLOSE_GRACE, self.io.shutdown()).await;
                    return Err(ClientError::Protocol(err));
                }
            }
            if self.read_buf.capacity() - self.read_buf.len() < BUFFER / 2 {
                self.read_buf.reserve(BUFFER);
            }
            if self.io.read_buf(&mut self.read_buf).await? == 0 {
                return Err(ClientError::Dropped);
            }
        }
    }

    /// Starts the close handshake with `code` and `reason`, discards messages until the
    /// server's close frame (within the close timeout), and returns that frame.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when the server does not answer, or the errors of
    /// [`Connection::recv`].
    pub async fn close(mut self, code: u16, reason: &str) -> Result<CloseFrame, ClientError> {
        self.encoder.close(&mut self.write_buf, code, reason);
        self.flush().await?;
        let reply = async {
            loop {
                let decoded = self.decoder.decode(&mut self.read_buf)?;
                match decoded {
                    Some(Incoming::Close(code, payload)) => {
                        return Ok(CloseFrame::from_payload(code, &payload));
                    }
                    Some(_) => continue,
                    None => {}
                }
                self.read_buf.reserve(BUFFER);
                if self.io.read_buf(&mut self.read_buf).await? == 0 {
                    return Err(ClientError::Dropped);
                }
            }
        };
        let frame = tokio::time::timeout(self.close_timeout, reply)
            .await
            .map_err(|_| ClientError::Timeout {
                what: "waiting for the server's close frame".to_owned(),
                after: self.close_timeout,
            })??;
        self.wait_for_eof().await;
        Ok(frame)
    }

    /// After the close handshake: the server closes TCP first; wait for that (bounded), then
    /// close our side.
    async fn wait_for_eof(&mut self) {
        let drain = async {
            let mut sink = [0u8; 1024];
            while matches!(self.io.read(&mut sink).await, Ok(n) if n > 0) {}
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
        let _ = tokio::time::timeout(CLOSE_GRACE, self.io.shutdown()).await;
    }
}
