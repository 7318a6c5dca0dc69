//! One connection's task: the TLS handshake (in the task, under its timeout), HTTP/1.1 through
//! hyper with upgrades, and the idle timer that closes a silent keep-alive connection.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::listener::{Accepted, Stream};
use super::refusal::{refuse_h2, starts_with_h2_preface};
use super::{ConnInfo, ConnectionGuard, FAST_MAX_HEADERS, Handler, Settings};

/// What every connection task needs.
pub(super) struct ConnectionContext<A> {
    http: http1::Builder,
    tls: Option<TlsAcceptor>,
    app: Arc<A>,
    settings: Settings,
    stop: CancellationToken,
}

/// One connection's view of the application: handed to every request on it.
struct PerConnection<A> {
    app: Arc<A>,
    info: ConnInfo,
    guard: ConnectionGuard,
}

impl<A: Handler> ConnectionContext<A> {
    pub(super) fn new(
        tls: Option<TlsAcceptor>,
        app: Arc<A>,
        settings: Settings,
        stop: CancellationToken,
    ) -> Self {
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(settings.header_read_timeout)
            .max_buf_size(settings.max_head);
        // hyper's own default is the fast in-place limit; setting it, even to the same value,
        // takes the allocating path.
        if settings.max_headers != FAST_MAX_HEADERS {
            http.max_headers(settings.max_headers);
        }
        Self {
            http,
            tls,
            app,
            settings,
            stop,
        }
    }

    pub(super) fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub(super) async fn run(self: Arc<Self>, accepted: Accepted, guard: ConnectionGuard) {
        match accepted {
            Accepted::Tcp {
                stream,
                local,
                peer,
            } => {
                let _ = stream.set_nodelay(true);
                let info = ConnInfo {
                    local: Some(local),
                    peer: Some(peer),
                    tls: self.tls.is_some(),
                };
                if !info.tls {
                    let first_byte = self
                        .settings
                        .header_read_timeout
                        .min(self.settings.keep_alive_timeout);
                    let sniffed = tokio::select! {
                        // A silent new connection must not hold up a graceful stop.
                        () = self.stop.cancelled() => return,
                        sniffed = starts_with_h2_preface(&stream, first_byte) => sniffed,
                    };
                    match sniffed {
                        Some(false) => {}
                        Some(true) => return refuse_h2(stream, &info).await,
                        // Silent that long: the fate hyper's timers would give it.
                        None => return,
                    }
                }
                self.run_stream(stream, info, guard).await;
            }
            // No HTTP/2 preface sniffing here: tokio's Unix streams cannot peek.
            Accepted::Unix(stream) => {
                let info = ConnInfo {
                    local: None,
                    peer: None,
                    tls: self.tls.is_some(),
                };
                self.run_stream(stream, info, guard).await;
            }
        }
    }

    /// TLS first if configured (under its timeout, cut short by shutdown), then HTTP.
    async fn run_stream<S: Stream>(&self, stream: S, info: ConnInfo, guard: ConnectionGuard) {
        let Some(acceptor) = self.tls.clone() else {
            return self.run_http(stream, info, guard).await;
        };
        let peer = info.peer;
        let handshake =
            tokio::time::timeout(self.settings.tls_handshake_timeout, acceptor.accept(stream));
        let stream = tokio::select! {
            () = self.stop.cancelled() => return,
            result = handshake => match result {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    tracing::debug!(?peer, error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(?peer, "TLS handshake timed out");
                    return;
                }
            },
        };
        self.run_http(stream, info, guard).await;
    }

    async fn run_http<I: Stream>(&self, io: I, info: ConnInfo, guard: ConnectionGuard) {
        let peer = info.peer;
        let connection = Arc::new(PerConnection {
            app: Arc::clone(&self.app),
            info,
            guard,
        });
        let service = service_fn(move |request: Request<Incoming>| {
            let connection = Arc::clone(&connection);
            async move {
                let response = connection
                    .app
                    .handle(request, &connection.info, &connection.guard)
                    .await;
                Ok::<_, Infallible>(response)
            }
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
        let abandon_after = keep_alive
            + self
                .settings
                .header_read_timeout
                .max(self.settings.body_timeout);
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
                        tracing::debug!(?peer, "connection silent for {abandon_after:?}; dropped");
                        return;
                    }
                    // Idle keep-alives close now; a request in progress finishes first.
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        };
        if let Err(err) = result {
            tracing::debug!(?peer, error = %err, "connection ended with an error");
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
