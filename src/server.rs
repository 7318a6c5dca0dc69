//! Listener, accept loop, per-connection tasks and graceful shutdown.
//!
//! Every connection runs in a task of one [`TaskTracker`]; a [`CancellationToken`] tells them to
//! finish. That includes connections still in their TLS handshake and, later, upgraded
//! WebSockets, which hyper no longer sees once they leave it.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::UPGRADE;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http::{App, ConnInfo};

/// Limits and timeouts of the connection layer.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Connections served at once; more are closed right after accepting them.
    pub max_connections: usize,
    /// How long a client may take to complete the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// How long a client may take to send a complete request head, counted from the start
    /// of the connection or the end of the previous response.
    pub header_read_timeout: Duration,
    /// How long a connection may be silent (no byte in or out) between requests.
    pub keep_alive_timeout: Duration,
    /// How long in-flight connections get after the shutdown signal.
    pub shutdown_timeout: Duration,
    /// Request heads above this many bytes get 431.
    pub max_head: usize,
    /// Header lines above this get 431.
    pub max_headers: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_connections: default_max_connections(),
            tls_handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            max_head: DEFAULT_MAX_HEAD,
            max_headers: DEFAULT_MAX_HEADERS,
        }
    }
}

/// Descriptors kept free for what is not a connection: the listener, the static file, the
/// certificate files, logs.
const RESERVED_DESCRIPTORS: usize = 64;
/// The cap when the open-file limit cannot be read.
const FALLBACK_MAX_CONNECTIONS: usize = 10_000;

/// The process's open-file limit minus a reserve: past that, `accept` fails with EMFILE and the
/// server can no longer even refuse connections cleanly.
pub fn default_max_connections() -> usize {
    open_file_limit().map_or(FALLBACK_MAX_CONNECTIONS, |limit| {
        limit.saturating_sub(RESERVED_DESCRIPTORS).max(1)
    })
}

/// The soft `RLIMIT_NOFILE`, read from `/proc` (no `unsafe` `getrlimit` call needed).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    // "Max open files            20000                20000                files"
    line.split_whitespace().nth(3)?.parse().ok()
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

/// Request heads above this get 431 by default (hyper's read buffer limit; its minimum is 8 KiB).
pub const DEFAULT_MAX_HEAD: usize = 16 * 1024;
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
            .max_buf_size(settings.max_head);
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
        let slots = Arc::new(Semaphore::new(
            settings.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        let mut refusals = Refusals::default();

        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(5);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        backoff = Duration::from_millis(5);
                        let local = stream.local_addr().ok().or(local).unwrap_or(peer);
                        match Arc::clone(&slots).try_acquire_owned() {
                            Ok(slot) => {
                                let slot = ConnectionSlot {
                                    _permit: Arc::new(slot),
                                };
                                tracker.spawn(Arc::clone(&connection).serve(stream, peer, local, slot));
                            }
                            Err(_) => {
                                refusals.refuse(stream, peer, connection.tls.is_some(), &tracker, settings.max_connections);
                            }
                        }
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

/// One of the `--max-connections` places, held by a connection's task and, after an upgrade,
/// by its WebSocket session (the request's extensions carry it there).
#[derive(Debug, Clone)]
pub struct ConnectionSlot {
    _permit: Arc<OwnedSemaphorePermit>,
}

/// Refusals in flight at most: each writes a 503 and waits for the client's FIN briefly; past
/// this the connection is just closed, so a flood costs no more than a bounded set of tasks.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;

/// Connections turned away over the cap, logged at most once a second.
struct Refusals {
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
    fn refuse(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
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
                %peer,
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
    async fn send_and_close(self, mut stream: TcpStream) {
        use tokio::io::AsyncWriteExt;
        let response = format!(
            "HTTP/1.1 {} {}\r\ndate: {}\r\nserver: duplex\r\ncontent-length: {}\r\n\
             content-type: {}\r\n{}connection: close\r\n\r\n{}",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or_default(),
            crate::http::response::date_now()
                .to_str()
                .unwrap_or_default(),
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
async fn refuse_h2(stream: TcpStream, peer: SocketAddr) {
    const BODY: &str = "HTTP/2 is not supported; this server speaks HTTP/1.1 (and HTTP/1.0).";
    tracing::debug!(%peer, "refused an HTTP/2 prior-knowledge connection");
    let response = Refusal {
        status: StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        content_type: "text/plain; charset=utf-8",
        extra_headers: "",
        body: BODY,
    };
    response.send_and_close(stream).await;
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
    async fn serve(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        slot: ConnectionSlot,
    ) {
        let _ = stream.set_nodelay(true);
        let Some(acceptor) = self.tls.clone() else {
            let conn = ConnInfo {
                local,
                peer,
                tls: false,
            };
            let first_byte = self
                .settings
                .header_read_timeout
                .min(self.settings.keep_alive_timeout);
            match starts_with_h2_preface(&stream, first_byte).await {
                Some(false) => {}
                Some(true) => return refuse_h2(stream, peer).await,
                // Silent that long: the fate hyper's timers would give it.
                None => return,
            }
            return self.serve_http(stream, conn, slot).await;
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
        self.serve_http(stream, conn, slot).await;
    }

    async fn serve_http<I>(&self, io: I, conn: ConnInfo, slot: ConnectionSlot)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let app = Arc::clone(&self.app);
        let service = service_fn(move |mut request: Request<Incoming>| {
            let app = Arc::clone(&app);
            // An upgraded WebSocket outlives this task; it takes the connection's place along.
            if request.headers().contains_key(UPGRADE) {
                request.extensions_mut().insert(slot.clone());
            }
            async move { Ok::<_, Infallible>(app.handle(request, conn).await) }
        });
        let activity = Arc::new(Activity::new());
        let io = Watched {
            inner: io,
            activity: Arc::clone(&activity),
        };
        let connection = self
            .http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(connection);
        let keep_alive = self.settings.keep_alive_timeout;
        // Past this much silence even a request in progress is given up: its response cannot
        // be written (the client does not read) or its body stopped coming before the body
        // timeout could answer.
        let abandon_after =
            keep_alive + self.settings.header_read_timeout.max(self.app.body_timeout);
        let mut closing = false;
        let result = loop {
            let silent = activity.silent_for();
            let wait = if closing { abandon_after } else { keep_alive };
            tokio::select! {
                result = connection.as_mut() => break result,
                () = self.stop.cancelled(), if !closing => {
                    // Finish the request in flight, then close; idle keep-alives close now.
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = tokio::time::sleep(wait.saturating_sub(silent)) => {
                    if activity.silent_for() < wait {
                        continue;
                    }
                    if closing {
                        tracing::debug!(peer = %conn.peer, "connection silent for {abandon_after:?}; dropped");
                        return;
                    }
                    // Idle keep-alives close now; a request in progress finishes first.
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        };
        if let Err(err) = result {
            tracing::debug!(peer = %conn.peer, error = %err, "connection ended with an error");
        }
    }
}

/// When a connection last moved a byte, in either direction.
struct Activity {
    start: std::time::Instant,
    /// Milliseconds since `start`.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: std::time::Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// The connection's byte stream, noting each read and write in [`Activity`].
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
