//! `duplex serve`: load TLS, run the lifespan, bind, serve until the shutdown signal, clean up.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::auth::{Credentials, CredentialsError};
use crate::config::{ServeArgs, TlsSource};
use crate::http::App;
use crate::lifespan::StaticData;
use crate::server::{Server, Settings, Tasks};
use crate::tls::{self, TlsError};
use crate::ws::WsSettings;

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
    server: Server,
    static_data: StaticData,
    pub local_addr: SocketAddr,
    pub tls: bool,
}

/// Everything up to, but not including, serving: certificate, lifespan file, listener.
///
/// # Errors
/// [`StartupError`]; the static file is already removed again when it is returned.
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
    let static_data = StaticData::create(&args.static_dir).map_err(StartupError::Lifespan)?;
    // A bind failure drops `static_data`, which removes the file again.
    let addr = args.addr();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| StartupError::Bind { addr, source })?;
    if ws.credentials.is_demo() && !local_addr.ip().is_loopback() {
        tracing::warn!(
            "/ws/v5/private accepts the guide's public demo credential abc/def on {local_addr}; \
             configure --credentials for anything reachable from other machines"
        );
    }
    let app = App {
        data_file: static_data.path().to_path_buf(),
        max_body: args.max_body,
        ws: Arc::new(ws),
        tasks: Tasks::new(),
    };
    let settings = Settings {
        shutdown_timeout: args.shutdown_timeout,
        max_headers: args.max_headers,
        ..Settings::default()
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
        private_idle_timeout: args.ws_private_idle,
        credentials: Arc::new(credentials),
        ..WsSettings::default()
    })
}

impl Running {
    /// The base URL clients use.
    pub fn url(&self) -> String {
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
        tracing::info!("listening on {}", self.url());
        self.server.run(shutdown).await;
        self.static_data.remove()
    }
}

/// Completes on Ctrl+C or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled, so a signal that arrives while the server starts is not lost
/// (nor does it kill the process with the default action). Call it inside the runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let register = |kind: SignalKind, name: &'static str| -> Option<Signal> {
            signal(kind)
                .map_err(|err| tracing::error!(error = %err, "cannot listen for {name}"))
                .ok()
        };
        let interrupt = register(SignalKind::interrupt(), "Ctrl+C");
        let terminate = register(SignalKind::terminate(), "SIGTERM");
        async move {
            let wait = |signal: Option<Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => tracing::info!("Ctrl+C received"),
                () = wait(terminate) => tracing::info!("SIGTERM received"),
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl+C");
            std::future::pending::<()>().await;
        }
        tracing::info!("Ctrl+C received");
    }
}
