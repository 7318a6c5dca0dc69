//! Listener, accept loop, per-connection tasks and graceful shutdown.
//!
//! Every connection runs in a task of one [`TaskTracker`]; a [`CancellationToken`] tells them to
//! finish. That includes connections still in their TLS handshake and, later, upgraded
//! WebSockets, which hyper no longer sees once they leave it.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http::{App, ConnInfo};

/// Limits and timeouts of the connection layer.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a client may take to complete the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// How long a client may take to send a complete request head.
    pub header_read_timeout: Duration,
    /// How long in-flight connections get after the shutdown signal.
    pub shutdown_timeout: Duration,
    /// Header lines above this get 431.
    pub max_headers: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            tls_handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            max_headers: DEFAULT_MAX_HEADERS,
        }
    }
}

/// The tasks of a running server (connections and WebSocket sessions) and the signal that
/// tells them to finish.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` as part of the server: shutdown waits for it, up to the deadline.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Cancelled when the server starts shutting down.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }
}

/// Request heads above this get 431 (hyper's read buffer limit; its minimum is 8 KiB).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Header lines above this get 431 by default: room for the 200 headers the original accepts.
pub const DEFAULT_MAX_HEADERS: usize = 256;
/// hyper parses up to this many headers in place; a higher limit costs it a heap allocation
/// and the initialisation of two arrays of that length per request (about 10 % of the
/// throughput of `GET /status` at 256).
pub const FAST_MAX_HEADERS: usize = 100;

/// A server bound to its listener, ready to run.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Arc<App>,
    settings: Settings,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// `tls: None` serves plain HTTP.
    pub fn new(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        app: App,
        settings: Settings,
    ) -> Self {
        Self {
            listener,
            tls: tls.map(TlsAcceptor::from),
            app: Arc::new(app),
            settings,
        }
    }

    /// # Errors
    /// The listener's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets connections finish within
    /// the shutdown timeout and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Self {
            listener,
            tls,
            app,
            settings,
        } = self;
        let local = listener.local_addr().ok();
        let Tasks { tracker, stop } = app.tasks.clone();
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(settings.header_read_timeout)
            .max_buf_size(MAX_HEAD_BYTES);
        // hyper's own default is the fast in-place limit; setting it, even to the same value,
        // takes the allocating path.
        if settings.max_headers != FAST_MAX_HEADERS {
            http.max_headers(settings.max_headers);
        }
        let connection = Arc::new(ConnectionContext {
            http,
            tls,
            app,
            settings: settings.clone(),
            stop: stop.clone(),
        });

        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(5);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        backoff = Duration::from_millis(5);
                        let local = stream.local_addr().ok().or(local).unwrap_or(peer);
                        tracker.spawn(Arc::clone(&connection).serve(stream, peer, local));
                    }
                    Err(err) => {
                        // Out of descriptors or similar: back off instead of spinning, and
                        // keep serving the connections we have.
                        tracing::warn!(error = %err, "accept failed; retrying in {backoff:?}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                },
            }
        }

        drop(listener);
        tracker.close();
        stop.cancel();
        tracing::info!(connections = tracker.len(), "shutting down");
        if tokio::time::timeout(settings.shutdown_timeout, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = tracker.len(),
                "shutdown deadline reached; dropping remaining connections"
            );
        }
    }
}

/// The start of the HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// Whether a plain-TCP client opens with HTTP/2 prior knowledge. hyper's HTTP/1 server would
/// close such a connection without a word; peeking lets us answer it. Bytes stay in the socket.
/// `None` when nothing arrives within `wait`.
async fn starts_with_h2_preface(stream: &TcpStream, wait: Duration) -> Option<bool> {
    let mut buf = [0u8; H2_PREFACE.len()];
    match tokio::time::timeout(wait, stream.peek(&mut buf)).await {
        Ok(Ok(n)) => Some(n >= 3 && H2_PREFACE.starts_with(&buf[..n])),
        // A peek error surfaces again, with context, when hyper reads.
        Ok(Err(_)) => Some(false),
        Err(_) => None,
    }
}

/// 505 for an HTTP/2 prior-knowledge client, then close.
async fn refuse_h2(mut stream: TcpStream, peer: SocketAddr) {
    use tokio::io::AsyncWriteExt;
    const BODY: &str = "HTTP/2 is not supported; this server speaks HTTP/1.1 (and HTTP/1.0).";
    let response = format!(
        "HTTP/1.1 505 HTTP Version Not Supported\r\ndate: {}\r\nserver: duplex\r\n\
         content-length: {}\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n\r\n{BODY}",
        crate::http::response::date_now()
            .to_str()
            .unwrap_or_default(),
        BODY.len(),
    );
    tracing::debug!(%peer, "refused an HTTP/2 prior-knowledge connection");
    if stream.write_all(response.as_bytes()).await.is_ok() {
        let _ = stream.shutdown().await;
        // Drain what the client already sent so the close is a FIN, not a reset that could
        // destroy the response before the client reads it.
        let mut sink = [0u8; 1024];
        let drain = async {
            while matches!(tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await, Ok(n) if n > 0)
            {
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    }
}

/// What every connection task needs.
struct ConnectionContext {
    http: http1::Builder,
    tls: Option<TlsAcceptor>,
    app: Arc<App>,
    settings: Settings,
    stop: CancellationToken,
}

impl ConnectionContext {
    async fn serve(self: Arc<Self>, stream: TcpStream, peer: SocketAddr, local: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let Some(acceptor) = self.tls.clone() else {
            let conn = ConnInfo {
                local,
                peer,
                tls: false,
            };
            match starts_with_h2_preface(&stream, self.settings.header_read_timeout).await {
                Some(false) => {}
                Some(true) => return refuse_h2(stream, peer).await,
                // Silent past the header timeout: the same fate hyper would give it.
                None => return,
            }
            return self.serve_http(stream, conn).await;
        };
        let handshake =
            tokio::time::timeout(self.settings.tls_handshake_timeout, acceptor.accept(stream));
        let stream = tokio::select! {
            () = self.stop.cancelled() => return,
            result = handshake => match result {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            },
        };
        let conn = ConnInfo {
            local,
            peer,
            tls: true,
        };
        self.serve_http(stream, conn).await;
    }

    async fn serve_http<I>(&self, io: I, conn: ConnInfo)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let app = Arc::clone(&self.app);
        let service = service_fn(move |request| {
            let app = Arc::clone(&app);
            async move { Ok::<_, Infallible>(app.handle(request, conn).await) }
        });
        let connection = self
            .http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = self.stop.cancelled() => {
                // Finish the request in flight, then close; idle keep-alives close now.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(err) = result {
            tracing::debug!(peer = %conn.peer, error = %err, "connection ended with an error");
        }
    }
}
