//! Answers written straight to a socket that never reaches hyper: the 503 for a connection over
//! the cap, and the 505 for an HTTP/2 prior-knowledge client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use super::ConnInfo;
use super::listener::Stream;
use crate::protocol::http2::{PREFACE_LINE, opens_with_preface};

/// Refusals in flight at most: each writes a 503 and waits for the client's FIN briefly; past
/// this the connection is just closed, so a flood costs no more than a bounded set of tasks.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;

/// Connections turned away over the cap, logged at most once a second.
pub(super) struct Refusals {
    in_flight: Arc<Semaphore>,
    since_log: u64,
    last_log: Option<tokio::time::Instant>,
}

impl Default for Refusals {
    fn default() -> Self {
        Self {
            in_flight: Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT)),
            since_log: 0,
            last_log: None,
        }
    }
}

impl Refusals {
    /// Closes `stream` without serving it. A plain-HTTP client first gets a 503 that says why;
    /// a TLS client is closed before the handshake, whose cost is what the cap protects.
    pub(super) fn refuse(
        &mut self,
        stream: impl Stream,
        peer: Option<SocketAddr>,
        tls: bool,
        tracker: &TaskTracker,
        cap: usize,
    ) {
        self.since_log += 1;
        let now = tokio::time::Instant::now();
        if self
            .last_log
            .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(1))
        {
            tracing::warn!(
                ?peer,
                refused = self.since_log,
                "connection limit ({cap}) reached; refusing new connections"
            );
            self.since_log = 0;
            self.last_log = Some(now);
        }
        if tls {
            return;
        }
        if let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() {
            tracker.spawn(async move {
                let _permit = permit;
                let response = Refusal {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    content_type: "application/json",
                    extra_headers: "retry-after: 1\r\n",
                    body: OVERLOADED,
                };
                response.send_and_close(stream).await;
            });
        }
    }
}

/// The 503 body for a connection over the cap, FastAPI-style.
const OVERLOADED: &str = r#"{"detail":"The server is at its connection limit; try again shortly"}"#;

/// A complete answer written straight to a socket that never reaches hyper.
struct Refusal {
    status: StatusCode,
    content_type: &'static str,
    /// Header lines, each ending in CRLF.
    extra_headers: &'static str,
    body: &'static str,
}

impl Refusal {
    /// Writes the response with `connection: close`, then closes without destroying it: what
    /// the client already sent is drained first, so the close is a FIN and not a reset.
    async fn send_and_close(self, mut stream: impl Stream) {
        use tokio::io::AsyncWriteExt;
        let response = format!(
            "HTTP/1.1 {} {}\r\ndate: {}\r\nserver: duplex\r\ncontent-length: {}\r\n\
             content-type: {}\r\n{}connection: close\r\n\r\n{}",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or_default(),
            super::response::date_now().to_str().unwrap_or_default(),
            self.body.len(),
            self.content_type,
            self.extra_headers,
            self.body,
        );
        let write = async {
            stream.write_all(response.as_bytes()).await?;
            stream.shutdown().await
        };
        if matches!(
            tokio::time::timeout(Duration::from_secs(1), write).await,
            Ok(Ok(()))
        ) {
            let mut sink = [0u8; 1024];
            let drain = async {
                while matches!(tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await, Ok(n) if n > 0)
                {
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
        }
    }
}

/// Whether a plain-TCP client opens with HTTP/2 prior knowledge. hyper's HTTP/1 server would
/// close such a connection without a word; peeking lets us answer it. Bytes stay in the socket.
/// `None` when nothing arrives within `wait`.
pub(super) async fn starts_with_h2_preface(stream: &TcpStream, wait: Duration) -> Option<bool> {
    let mut buf = [0u8; PREFACE_LINE.len()];
    match tokio::time::timeout(wait, stream.peek(&mut buf)).await {
        Ok(Ok(n)) => Some(opens_with_preface(&buf[..n])),
        // A peek error surfaces again, with context, when hyper reads.
        Ok(Err(_)) => Some(false),
        Err(_) => None,
    }
}

/// 505 for an HTTP/2 prior-knowledge client, then close.
pub(super) async fn refuse_h2(stream: TcpStream, conn: &ConnInfo) {
    const BODY: &str = "HTTP/2 is not supported; this server speaks HTTP/1.1 (and HTTP/1.0).";
    tracing::debug!(peer = ?conn.peer, "refused an HTTP/2 prior-knowledge connection");
    let response = Refusal {
        status: StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        content_type: "text/plain; charset=utf-8",
        extra_headers: "",
        body: BODY,
    };
    response.send_and_close(stream).await;
}
