//! The connection lifecycle: the accept loop with its connection cap, one task per connection
//! (TLS handshake, HTTP/1.1 via hyper, idle timer), the guard a connection hands to whatever
//! takes it over, WebSocket upgrades and graceful shutdown.
//!
//! Every connection runs in a task of one task tracker; a cancellation token tells them to
//! finish. That includes connections still in their TLS handshake and upgraded WebSockets,
//! which hyper no longer sees once they leave it. What a request is answered with is the
//! `Handler`'s business: the server knows no routes.

mod body;
mod connection;
mod guard;
mod refusal;
pub(crate) mod response;
mod settings;
pub(crate) mod websocket;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

pub use body::Body;
pub(crate) use body::Segment;
pub(crate) use guard::ConnectionGuard;
pub(crate) use settings::{
    DEFAULT_MAX_HEAD, DEFAULT_MAX_HEADERS, Settings, default_max_connections,
};

use connection::ConnectionContext;
use guard::Tasks;
use refusal::Refusals;
use settings::FAST_MAX_HEADERS;

/// Facts about the connection a request arrived on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnInfo {
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
    pub(crate) tls: bool,
}

/// What answers requests: the server calls it once per request, with the connection's facts
/// and its guard (for a handler that takes the connection over, such as a WebSocket upgrade).
pub(crate) trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        request: Request<Incoming>,
        conn: &ConnInfo,
        guard: &ConnectionGuard,
    ) -> impl Future<Output = Response<Body>> + Send;
}

/// A server bound to its listener, ready to run.
pub(crate) struct Server<A> {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Arc<A>,
    settings: Settings,
}

impl<A> std::fmt::Debug for Server<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<A: Handler> Server<A> {
    /// `tls: None` serves plain HTTP.
    pub(crate) fn new(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        app: A,
        settings: Settings,
    ) -> Self {
        Self {
            listener,
            tls: tls.map(TlsAcceptor::from),
            app: Arc::new(app),
            settings,
        }
    }

    /// Serves until `shutdown` completes, then stops accepting, lets connections finish within
    /// the shutdown timeout and returns.
    pub(crate) async fn run(self, shutdown: impl Future<Output = ()>) {
        let Self {
            listener,
            tls,
            app,
            settings,
        } = self;
        let local = listener.local_addr().ok();
        let tasks = Tasks::default();
        let connection = Arc::new(ConnectionContext::new(
            tls,
            app,
            settings.clone(),
            tasks.stop.clone(),
        ));
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
                                let guard = ConnectionGuard::new(slot, tasks.clone());
                                tasks.tracker.spawn(Arc::clone(&connection).run(stream, peer, local, guard));
                            }
                            Err(_) => {
                                refusals.refuse(stream, peer, connection.uses_tls(), &tasks.tracker, settings.max_connections);
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
