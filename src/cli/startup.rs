//! `duplex serve`: load TLS, run the lifespan, bind, serve until the shutdown signal, clean up.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::config::{ServeArgs, TlsSource};
use crate::apps::guide::App;
use crate::apps::guide::lifespan::StaticData;
use crate::apps::guide::request_body::BodyBudget;
use crate::apps::guide::ws::WsSettings;
use crate::protocol::login::{Credentials, CredentialsError};
use crate::server::{Server, Settings};
use crate::transport::tls::{self, TlsError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("lifespan startup failed: {0}")]
    Lifespan(std::io::Error),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}

/// A server that has bound its port and created its static file.
#[derive(Debug)]
pub struct Running {
    server: Server<App>,
    static_data: StaticData,
    pub local_addr: SocketAddr,
    pub(crate) tls: bool,
}

/// Everything up to, but not including, serving: credentials, certificate, listener, and last
/// the lifespan file.
///
/// # Errors
/// [`StartupError`]; the static directory is untouched when it is returned.
pub async fn prepare(args: &ServeArgs) -> Result<Running, StartupError> {
    let ws = ws_settings(args)?;
    let tls = match args.tls_source() {
        // Resolved once: the rule looks at the working directory.
        TlsSource::Off => None,
        TlsSource::Files { cert, key } => Some(tls::load(&cert, &key)?),
        TlsSource::Dev(dir) => Some(tls::dev_cert(&dir)?),
    };
    if let Some(cert) = &tls {
        tracing::info!(
            certificate = %cert.cert_path.display(),
            sha256 = %cert.fingerprint,
            "TLS certificate"
        );
    }
    let addr = args.addr();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| StartupError::Bind { addr, source })?;
    // Last, once nothing else can fail: a start that fails never touches the static directory,
    // which another instance may be serving.
    let static_data = StaticData::create(&args.static_dir).map_err(StartupError::Lifespan)?;
    if ws.credentials.is_demo() && !local_addr.ip().is_loopback() {
        tracing::warn!(
            "/ws/v5/private accepts the guide's public demo credential abc/def on {local_addr}; \
             configure --credentials for anything reachable from other machines"
        );
    }
    let app = App {
        data_file: static_data.path().to_path_buf(),
        max_body: args.max_body,
        body_timeout: args.body_timeout,
        // One body of the largest size always fits.
        body_budget: BodyBudget::new(args.max_body_memory.max(args.max_body)),
        ws: Arc::new(ws),
    };
    let settings = Settings {
        max_connections: args
            .max_connections
            .map_or_else(crate::server::default_max_connections, |cap| cap as usize),
        tls_handshake_timeout: args.tls_handshake_timeout,
        header_read_timeout: args.header_timeout,
        keep_alive_timeout: args.keep_alive_timeout,
        body_timeout: args.body_timeout,
        shutdown_timeout: args.shutdown_timeout,
        max_head: args.max_head,
        max_headers: args.max_headers,
    };
    let uses_tls = tls.is_some();
    let server = Server::new(listener, tls.map(|cert| cert.config), app, settings);
    Ok(Running {
        server,
        static_data,
        local_addr,
        tls: uses_tls,
    })
}

/// WebSocket settings from the command line, credentials loaded.
fn ws_settings(args: &ServeArgs) -> Result<WsSettings, CredentialsError> {
    let credentials = match (&args.credentials, &args.credentials_json) {
        (Some(path), _) => Credentials::from_file(path)?,
        (None, Some(json)) => Credentials::from_json(json, "from --credentials-json")?,
        (None, None) => Credentials::demo(),
    };
    if !credentials.is_demo() {
        tracing::info!(keys = credentials.len(), "login credentials loaded");
    }
    Ok(WsSettings {
        max_message: args.ws_max_message,
        compression: !args.no_ws_compression,
        ping_interval: (!args.ws_ping_interval.is_zero()).then_some(args.ws_ping_interval),
        ping_timeout: args.ws_ping_timeout,
        send_timeout: args.ws_send_timeout,
        private_idle_timeout: args.ws_private_idle,
        credentials: Arc::new(credentials),
        ..WsSettings::default()
    })
}

impl Running {
    /// The base URL clients use.
    pub(crate) fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.local_addr
        )
    }

    /// Serves until `shutdown` completes, then runs the lifespan cleanup.
    ///
    /// # Errors
    /// The cleanup's I/O error.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        self.serve_until(shutdown, std::future::pending())
            .await
            .map(|_| ())
    }

    /// Serves until `shutdown` completes and connections finish (within the shutdown
    /// timeout), or until `force` completes, which stops at once. The lifespan cleanup runs
    /// either way.
    ///
    /// # Errors
    /// The cleanup's I/O error.
    pub async fn serve_until(
        self,
        shutdown: impl Future<Output = ()>,
        force: impl Future<Output = ()>,
    ) -> std::io::Result<Stopped> {
        tracing::info!("listening on {}", self.url());
        let Self {
            server,
            static_data,
            ..
        } = self;
        let stopped = tokio::select! {
            () = server.run(shutdown) => Stopped::Gracefully,
            () = force => {
                tracing::warn!("stopping now, without waiting for open connections");
                Stopped::Forced
            }
        };
        static_data.remove()?;
        Ok(stopped)
    }
}

/// How [`Running::serve_until`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Gracefully,
    /// A second signal cut the graceful stop short; tasks may still be running.
    Forced,
}

/// Ctrl+C and SIGTERM: the first starts a graceful stop (`stop`), the next one forces it
/// (`force`).
#[derive(Debug, Clone, Default)]
pub struct ShutdownSignals {
    pub stop: CancellationToken,
    pub force: CancellationToken,
}

/// Listens for Ctrl+C and SIGTERM. The handlers are installed before this returns, so a signal
/// that arrives while the server starts is not lost (nor does it kill the process with the
/// default action). Call it inside the runtime.
pub fn shutdown_signals() -> ShutdownSignals {
    let signals = ShutdownSignals::default();
    let mut listener = SignalListener::install();
    let (stop, force) = (signals.stop.clone(), signals.force.clone());
    tokio::spawn(async move {
        let first = listener.next().await;
        tracing::info!("{first} received; finishing open connections (again to stop at once)");
        stop.cancel();
        let second = listener.next().await;
        tracing::info!("{second} received again");
        force.cancel();
    });
    signals
}

/// Ctrl+C and SIGTERM handlers, installed once for the life of the server.
struct SignalListener {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl SignalListener {
    #[cfg(unix)]
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let register = |kind: SignalKind, name: &str| {
            signal(kind)
                .map_err(|err| tracing::error!(error = %err, "cannot listen for {name}"))
                .ok()
        };
        Self {
            interrupt: register(SignalKind::interrupt(), "Ctrl+C"),
            terminate: register(SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// Waits for the next signal and names it.
    #[cfg(unix)]
    async fn next(&mut self) -> &'static str {
        async fn recv(signal: Option<&mut tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = recv(self.interrupt.as_mut()) => "Ctrl+C",
            () = recv(self.terminate.as_mut()) => "SIGTERM",
        }
    }

    #[cfg(not(unix))]
    fn install() -> Self {
        Self {}
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> &'static str {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl+C");
            std::future::pending::<()>().await;
        }
        "Ctrl+C"
    }
}
