//! The connection lifecycle: the accept loop with its connection cap, one task per connection
//! (TLS handshake, HTTP/1.1 via hyper, idle timer), the guard a connection hands to whatever
//! takes it over, WebSocket upgrades and graceful shutdown.
//!
//! Every connection runs in a task of one task tracker; a cancellation token tells them to
//! finish. That includes connections still in their TLS handshake and upgraded WebSockets,
//! which hyper no longer sees once they leave it. What a request is answered with is the
//! `Handler`'s business: the server knows no routes.

mod access;
mod body;
mod connection;
pub(crate) mod diagnose;
pub(crate) mod feed;
mod guard;
mod listener;
pub mod log;
pub(crate) mod raw;
mod refusal;
pub(crate) mod response;
mod settings;
mod tls_probe;
pub(crate) mod websocket;
mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

pub use body::Body;
pub(crate) use body::Segment;
pub(crate) use guard::ConnectionGuard;
pub(crate) use listener::{Endpoint, Listener, UnixSocket};
pub use listener::{SocketFile, UnixSocketError};
pub(crate) use settings::{
    DEFAULT_MAX_HEAD, DEFAULT_MAX_HEADERS, Http2Limits, Settings, default_max_connections,
};
pub(crate) use tls_probe::{TlsProbeConn, TlsProbeListener};

use connection::ConnectionContext;
use guard::Tasks;
use listener::Accepted;
use log::{ConnLabel, Log};
use refusal::Refusals;
use settings::FAST_MAX_HEADERS;
use wire::{RawBodyBytes, Wire};

/// Facts about the connection a request arrived on. The addresses are `None` on a Unix socket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnInfo {
    pub(crate) local: Option<SocketAddr>,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) tls: bool,
}

/// One request's view of its connection, handed to the handler with the request: the
/// connection's facts and guard (for a handler that takes the connection over, such as a
/// WebSocket upgrade), its place in the log, and the request's raw bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exchange<'a> {
    pub(crate) conn: &'a ConnInfo,
    pub(crate) guard: &'a ConnectionGuard,
    pub(crate) log: &'a Log,
    pub(crate) label: ConnLabel,
    /// The request's number on its connection, from 1.
    pub(crate) request: u64,
    wire: Option<&'a Wire>,
    /// On a TLS probe's port (`--tls-probes`): the case and the client's ClientHello.
    pub(crate) tls_probe: Option<&'a TlsProbeConn>,
    /// How an upgrade takes the connection's stream back from hyper.
    pub(crate) reclaim: websocket::Reclaim,
}

impl Exchange<'_> {
    /// The request head exactly as received (`None` past the size kept, or in-process).
    pub(crate) fn raw_head(&self) -> Option<Bytes> {
        self.wire.and_then(Wire::head)
    }

    /// Keeps the request body as framed on the wire (chunk sizes and all), up to `limit` bytes;
    /// call before reading the body, then [`Exchange::raw_body`] after.
    pub(crate) fn keep_raw_body(&self, limit: usize) {
        if let Some(wire) = self.wire {
            wire.keep_body(limit);
        }
    }

    /// When the connection opened.
    pub(crate) fn connected(&self) -> std::time::Instant {
        self.wire.map_or_else(std::time::Instant::now, Wire::opened)
    }

    /// The body kept since [`Exchange::keep_raw_body`].
    pub(crate) fn raw_body(&self) -> Option<RawBodyBytes> {
        self.wire.and_then(Wire::take_body)
    }
}

/// Owns what an [`Exchange`] borrows, for driving handlers in-process.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct DetachedExchange {
    conn: ConnInfo,
    guard: ConnectionGuard,
    log: Log,
}

#[cfg(test)]
impl DetachedExchange {
    pub(crate) fn new(conn: ConnInfo) -> Self {
        Self {
            conn,
            guard: ConnectionGuard::detached(),
            log: Log::memory(log::LogOptions::default()).0,
        }
    }

    pub(crate) fn exchange(&self) -> Exchange<'_> {
        Exchange {
            conn: &self.conn,
            guard: &self.guard,
            log: &self.log,
            label: ConnLabel {
                id: 1,
                peer: self.conn.peer,
            },
            request: 1,
            wire: None,
            tls_probe: None,
            reclaim: websocket::as_upgraded,
        }
    }
}

/// What answers requests: the server calls it once per request.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Answers a request that needs no waiting at once, or gives it back for
    /// [`Handler::handle`]. The server asks this first: an answer made here is never a future
    /// holding the request, and the request is gone before hyper reads on (while any part of
    /// it lives, hyper's next read cannot reuse its buffer and allocates another).
    fn answer_now(&self, request: Request<Incoming>, exchange: &Exchange<'_>) -> Answer {
        let _ = exchange;
        Answer::Later(request)
    }

    /// Answers a request [`Handler::answer_now`] gave back.
    fn handle(
        &self,
        request: Request<Incoming>,
        exchange: &Exchange<'_>,
    ) -> impl Future<Output = Response<Body>> + Send;

    /// A path prefix whose connections the handler takes over whole: a connection whose first
    /// request targets it goes to [`Handler::run_raw`] before any HTTP parsing. `None` (the
    /// default): every connection is HTTP, and no bytes are looked at first.
    fn raw_prefix(&self) -> Option<&'static str> {
        None
    }

    /// Runs a connection taken over for [`Handler::raw_prefix`].
    fn run_raw(&self, connection: raw::RawConnection) -> impl Future<Output = ()> + Send {
        drop(connection);
        std::future::ready(())
    }
}

/// What [`Handler::answer_now`] made of a request.
#[derive(Debug)]
pub(crate) enum Answer<B = Incoming> {
    /// The response, made at once.
    Now(Response<Body>),
    /// The request, given back: answering it waits (for its body, or a file).
    Later(Request<B>),
}

/// A server bound to its listeners, ready to run.
pub(crate) struct Server<A> {
    listeners: Vec<Listener>,
    /// TLS probe ports (`--tls-probes`), each with its own TLS configuration.
    tls_probes: Vec<(Listener, Arc<TlsProbeListener>)>,
    tls: Option<TlsAcceptor>,
    app: Arc<A>,
    settings: Settings,
    log: Log,
}

impl<A> std::fmt::Debug for Server<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listeners", &self.listeners)
            .field("tls_probes", &self.tls_probes)
            .field("tls", &self.tls.is_some())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What every accept loop shares.
struct Accepting<A> {
    connection: Arc<ConnectionContext<A>>,
    slots: Arc<Semaphore>,
    tasks: Tasks,
    max_connections: usize,
}

impl<A: Handler> Server<A> {
    /// `tls: None` serves plain HTTP.
    pub(crate) fn new(
        listeners: Vec<Listener>,
        tls: Option<Arc<rustls::ServerConfig>>,
        app: A,
        settings: Settings,
        log: Log,
    ) -> Self {
        // h2 first: a client offering both gets HTTP/2 (RFC 9113 §3.2).
        let tls = match (tls, settings.http2.is_some()) {
            (Some(config), true) => {
                let mut config = Arc::unwrap_or_clone(config);
                config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                Some(Arc::new(config))
            }
            (tls, _) => tls,
        };
        Self {
            listeners,
            tls_probes: Vec::new(),
            tls: tls.map(TlsAcceptor::from),
            app: Arc::new(app),
            settings,
            log,
        }
    }

    /// Adds TLS probe ports: their connections share the cap, timeouts and shutdown of the rest.
    pub(crate) fn with_tls_probes(
        mut self,
        probes: Vec<(Listener, Arc<TlsProbeListener>)>,
    ) -> Self {
        self.tls_probes.extend(probes);
        self
    }

    /// Serves until `shutdown` completes, then stops accepting, lets connections finish within
    /// the shutdown timeout and returns.
    pub(crate) async fn run(self, shutdown: impl Future<Output = ()>) {
        let Self {
            listeners,
            tls_probes,
            tls,
            app,
            settings,
            log,
        } = self;
        let tasks = Tasks::default();
        let accepting = Arc::new(Accepting {
            connection: Arc::new(ConnectionContext::new(
                tls,
                app,
                settings.clone(),
                log,
                tasks.stop.clone(),
            )),
            slots: Arc::new(Semaphore::new(
                settings.max_connections.min(Semaphore::MAX_PERMITS),
            )),
            tasks: tasks.clone(),
            max_connections: settings.max_connections,
        });
        // One accept loop per listener; they stop (and drop their listener) when the
        // shutdown signal comes.
        let stop_accepting = CancellationToken::new();
        let mut loops = tokio::task::JoinSet::new();
        let all = listeners
            .into_iter()
            .map(|listener| (listener, None))
            .chain(tls_probes.into_iter().map(|(l, probe)| (l, Some(probe))));
        for (listener, probe) in all {
            let accepting = Arc::clone(&accepting);
            let stop = stop_accepting.clone();
            loops.spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = accepting.accept_loop(&listener, probe) => {}
                }
            });
        }
        shutdown.await;
        stop_accepting.cancel();
        while loops.join_next().await.is_some() {}

        tasks.tracker.close();
        tasks.stop.cancel();
        tracing::info!(connections = tasks.tracker.len(), "shutting down");
        if tokio::time::timeout(settings.shutdown_timeout, tasks.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = tasks.tracker.len(),
                "shutdown deadline reached; dropping remaining connections"
            );
        }
    }
}

impl<A: Handler> Accepting<A> {
    /// Accepts until cancelled: each connection gets a place under the cap and its own task,
    /// or a refusal.
    async fn accept_loop(&self, listener: &Listener, probe: Option<Arc<TlsProbeListener>>) {
        let mut refusals = Refusals::default();
        let mut backoff = Duration::from_millis(5);
        loop {
            let accepted = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors or similar: back off instead of spinning, and keep
                    // serving the connections we have.
                    tracing::warn!(error = %err, "accept failed; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            backoff = Duration::from_millis(5);
            match Arc::clone(&self.slots).try_acquire_owned() {
                Ok(slot) => {
                    let guard = ConnectionGuard::new(slot, self.tasks.clone());
                    let connection = Arc::clone(&self.connection);
                    let probe = probe.clone();
                    self.tasks
                        .tracker
                        .spawn(connection.run(accepted, guard, probe));
                }
                Err(_) => {
                    let tls = self.connection.uses_tls() || probe.is_some();
                    let (tracker, cap) = (&self.tasks.tracker, self.max_connections);
                    match accepted {
                        Accepted::Tcp { stream, peer, .. } => {
                            refusals.refuse(stream, Some(peer), tls, tracker, cap);
                        }
                        Accepted::Unix(stream) => refusals.refuse(stream, None, tls, tracker, cap),
                    }
                }
            }
        }
    }
}
