//! A WebSocket client connection: the RFC 6455 §4.1 handshake on hyper's client, then the
//! role-neutral `WebSocket` transport in the client role (masked frames out, unmasked in).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
    USER_AGENT,
};
use http::{Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;

use super::{ClientError, Target};
use crate::protocol::ws::Role;
use crate::protocol::ws::handshake::{self, CLIENT_OFFER};
use crate::protocol::ws::{Agreement, CloseCode, CloseFrame, DEFAULT_COMPRESSION_LEVEL, Message};
use crate::transport::stop::Stop;
use crate::transport::timer::Timers;
use crate::transport::ws::{self, End, WebSocket};

/// Connection options.
#[derive(Debug, Clone)]
pub struct WsOptions {
    /// Offer permessage-deflate (as Python `websockets` does by default).
    pub(crate) compression: bool,
    /// Largest message accepted from the server; bigger ones fail the connection with 1009.
    pub(crate) max_message: usize,
    /// Limit for TCP + TLS + the upgrade.
    pub(crate) timeout: Duration,
    /// How long [`Connection::close`] waits for the server's close frame.
    pub(crate) close_timeout: Duration,
    /// Local address to connect from (the system's choice when `None`).
    pub(crate) bind: Option<IpAddr>,
    /// The zlib level of the messages this client compresses, when compression is agreed.
    pub(crate) compression_level: u32,
    /// An HTTP/2 extended CONNECT (RFC 8441) where the server takes HTTP/2: ALPN `h2` over
    /// TLS, prior knowledge over plain TCP.
    pub(crate) http2: bool,
}

impl WsOptions {
    /// Over HTTP/2 where the server takes it (RFC 8441).
    #[must_use]
    pub fn over_http2(mut self) -> Self {
        self.http2 = true;
        self
    }

    /// Without offering permessage-deflate.
    #[must_use]
    pub fn without_compression(mut self) -> Self {
        self.compression = false;
        self
    }
}

impl Default for WsOptions {
    fn default() -> Self {
        Self {
            compression: true,
            max_message: 16 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            bind: None,
            compression_level: DEFAULT_COMPRESSION_LEVEL,
            http2: false,
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
    ws: WebSocket<TokioIo<Upgraded>>,
    compression: Option<Agreement>,
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
        if options.http2 {
            let (io, h2) = super::connect_h2(target, tls, options.timeout, options.bind).await?;
            if h2 {
                return open_h2(io, target, options).await;
            }
            return open_h1(io, target, options).await;
        }
        let io = super::connect_from(target, tls, options.timeout, options.bind).await?;
        open_h1(io, target, options).await
    };
    tokio::time::timeout(options.timeout, handshake)
        .await
        .map_err(|_| ClientError::Timeout {
            what: format!("opening {}", target.ws_url()),
            after: options.timeout,
        })?
}

/// The RFC 6455 handshake: a GET with `Upgrade`, answered 101.
async fn open_h1(
    io: Box<dyn super::Io>,
    target: &Target,
    options: &WsOptions,
) -> Result<Connection, ClientError> {
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
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
        request = request.header(SEC_WEBSOCKET_EXTENSIONS, CLIENT_OFFER);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|err| ClientError::Url {
            input: target.ws_url(),
            why: err.to_string(),
        })?;
    let response = sender.send_request(request).await?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(refused(response).await);
    }
    let compression = handshake::check_acceptance(
        response.headers(),
        Some(key.as_bytes()),
        options.compression,
    )
    .map_err(|err| ClientError::BadHandshake(err.to_string()))?;
    let upgraded = hyper::upgrade::on(response).await?;
    Ok(Connection::over(upgraded, compression, options))
}

/// The RFC 8441 handshake: an extended CONNECT with `:protocol` `websocket`, answered 200; the
/// WebSocket is that HTTP/2 stream.
async fn open_h2(
    io: Box<dyn super::Io>,
    target: &Target,
    options: &WsOptions,
) -> Result<Connection, ClientError> {
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(Method::CONNECT)
        .version(Version::HTTP_2)
        .uri(target.http_url())
        .header(SEC_WEBSOCKET_VERSION, "13")
        .header(USER_AGENT, super::http::USER_AGENT_VALUE);
    if options.compression {
        request = request.header(SEC_WEBSOCKET_EXTENSIONS, CLIENT_OFFER);
    }
    let mut request = request
        .body(Empty::<Bytes>::new())
        .map_err(|err| ClientError::Url {
            input: target.ws_url(),
            why: err.to_string(),
        })?;
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let response = sender.send_request(request).await?;
    if response.status() != StatusCode::OK {
        return Err(refused(response).await);
    }
    let compression = handshake::check_acceptance(response.headers(), None, options.compression)
        .map_err(|err| ClientError::BadHandshake(err.to_string()))?;
    let upgraded = hyper::upgrade::on(response).await?;
    Ok(Connection::over(upgraded, compression, options))
}

/// The error for a handshake the server answered with anything but an acceptance.
async fn refused(response: http::Response<hyper::body::Incoming>) -> ClientError {
    let status = response.status();
    let body = match response.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(err) => return err.into(),
    };
    let body = String::from_utf8_lossy(&body);
    ClientError::Refused {
        status: format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
        body: body.chars().take(200).collect(),
    }
}

impl Connection {
    /// The client side of a WebSocket on an accepted connection (or HTTP/2 stream).
    fn over(upgraded: Upgraded, compression: Option<Agreement>, options: &WsOptions) -> Self {
        let config = ws::Config {
            role: Role::Client,
            max_message: options.max_message,
            ping_interval: None,
            ping_timeout: Duration::ZERO,
            close_timeout: options.close_timeout,
            send_timeout: None,
            timers: Timers::default(),
        };
        // Nothing stops a client from outside; its user closes it.
        let never = Stop::default();
        let mut ws = WebSocket::new(
            TokioIo::new(upgraded),
            &config,
            compression.as_ref(),
            &never,
        );
        ws.set_compression_level(options.compression_level);
        Self { ws, compression }
    }

    /// The agreed permessage-deflate parameters, if any.
    pub fn compression(&self) -> Option<&Agreement> {
        self.compression.as_ref()
    }

    /// Sends a message.
    ///
    /// # Errors
    /// [`ClientError::Io`] when the connection is gone.
    pub(crate) async fn send(&mut self, message: &Message) -> Result<(), ClientError> {
        self.ws.send(message).await.map_err(client_error)
    }

    /// Sends a text message.
    ///
    /// # Errors
    /// As `Connection::send`.
    pub async fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.send(&Message::Text(text.to_owned().into())).await
    }

    /// The next message from the server. Pings are answered on the way. Cancel-safe: a
    /// dropped call loses nothing.
    ///
    /// # Errors
    /// [`ClientError::Protocol`] (the connection is then failed with the error's close code),
    /// [`ClientError::Dropped`] when the transport ends without a close frame, or I/O errors.
    pub async fn recv(&mut self) -> Result<Received, ClientError> {
        match self.ws.recv().await {
            Ok(message) => Ok(Received::Message(message)),
            Err(end) => {
                if matches!(end, End::PeerClosed(_) | End::Protocol(_)) {
                    // Echo the server's close, or fail the connection with the error's code;
                    // then the server closes TCP first (§7.1.1).
                    self.ws.complete(&end).await;
                }
                match end {
                    End::PeerClosed(frame) => Ok(Received::Closed(frame)),
                    end => Err(client_error(end)),
                }
            }
        }
    }

    /// Starts the close handshake with `code` and `reason`, discards messages until the
    /// server's close frame (within the close timeout), and returns that frame.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when the server does not answer, or the errors of
    /// [`Connection::recv`].
    pub async fn close(mut self, code: CloseCode, reason: &str) -> Result<CloseFrame, ClientError> {
        self.ws.close(code, reason).await.map_err(client_error)
    }
}

/// What a transport's end means to a user of the client.
fn client_error(end: End) -> ClientError {
    match end {
        End::PeerClosed(frame) => ClientError::Closed(frame),
        End::Protocol(err) => ClientError::Protocol(err),
        End::Gone(None) => ClientError::Dropped,
        End::Gone(Some(err)) => ClientError::Io(err),
        End::CloseTimeout(after) => ClientError::Timeout {
            what: "waiting for the server's close frame".to_owned(),
            after,
        },
        End::SendTimeout(after) => ClientError::Timeout {
            what: "sending to the server".to_owned(),
            after,
        },
        // The client runs without keepalive, idle timeout or stop signal.
        End::KeepaliveTimeout | End::Idle(_) | End::Shutdown => ClientError::Dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_ends_become_client_errors_a_user_can_read() {
        let close = CloseFrame {
            code: Some(CloseCode::POLICY),
            reason: "no".to_owned(),
        };
        let cases = [
            (
                End::PeerClosed(close),
                "the server closed the connection (1008 no)",
            ),
            (
                End::Gone(None),
                "the connection ended without a close frame",
            ),
            (
                End::Gone(Some(std::io::ErrorKind::BrokenPipe.into())),
                "connection lost: broken pipe",
            ),
            (
                End::CloseTimeout(Duration::from_secs(5)),
                "waiting for the server's close frame timed out after 5s",
            ),
            (
                End::SendTimeout(Duration::from_secs(2)),
                "sending to the server timed out after 2s",
            ),
            (End::Shutdown, "the connection ended without a close frame"),
        ];
        for (end, message) in cases {
            assert_eq!(client_error(end).to_string(), message);
        }
    }
}
