//! `duplex serve`: load TLS, run the lifespan, bind, serve until the shutdown signal, clean up.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::config::{ServeArgs, TlsSource};
use crate::apps::Site;
use crate::apps::guide::App;
use crate::apps::guide::lifespan::StaticData;
use crate::apps::guide::request_body::BodyBudget;
use crate::apps::guide::ws::WsSettings;
use crate::apps::inspector::Inspector;
use crate::apps::probes::Probes;
use crate::protocol::login::{Credentials, CredentialsError};
use crate::server::TlsProbeListener;
use crate::server::log::Log;
use crate::server::{
    Endpoint, Http2Limits, Listener, Server, Settings, SocketFile, UnixSocket, UnixSocketError,
};
use crate::transport::timer::Timers;
use crate::transport::tls::{self, TlsError};
use crate::transport::tls_probes::{self, Observations, ProbeEndpoint, TlsCase, TlsProbes};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot resolve --host {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    UnixSocket(#[from] UnixSocketError),
    #[error("lifespan startup failed: {0}")]
    Lifespan(std::io::Error),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}

/// A server that has bound its port and created its static file.
#[derive(Debug)]
pub struct Running {
    server: Server<Site>,
    static_data: StaticData,
    endpoints: Vec<Endpoint>,
    /// The --uds socket file, removed once the server has stopped, however it stopped.
    socket_file: Option<SocketFile>,
    pub(crate) tls: bool,
    /// The inspector is served (`--inspect`).
    inspector: bool,
    /// The client probes, when served (`--probes`).
    pub(crate) probes: Option<Arc<Probes>>,
    /// The TLS probes (`--tls-probes`).
    tls_probes: Option<TlsProbes>,
}

/// Everything up to, but not including, serving: credentials, certificate, listener, and last
/// the lifespan file. The server writes its access log, diagnoses and trace to `log`.
///
/// # Errors
/// [`StartupError`]; the static directory is untouched when it is returned.
pub async fn prepare(args: &ServeArgs, log: Log) -> Result<Running, StartupError> {
    let ws = ws_settings(args)?;
    // Before the main certificate: a local CA made now signs the development certificate too,
    // so one `--cacert ca.pem` verifies every port.
    let probe_set = match args.tls_probes {
        true => Some(tls_probes::generate(
            &args
                .dev_cert_dir
                .clone()
                .unwrap_or_else(super::config::default_dev_cert_dir),
        )?),
        false => None,
    };
    let tls = match args.tls_source() {
        // Resolved once: the rule looks at the working directory.
        TlsSource::Off => None,
        TlsSource::Files { cert, key } => {
            let loaded = tls::load(&cert, &key)?;
            // Never replaced (the user's files), but worth saying before a browser fails.
            if std::fs::read(&key).is_ok_and(|pem| tls::is_ed25519_key(&pem)) {
                tracing::warn!(
                    certificate = %cert.display(),
                    "this is an ED25519 certificate: curl, Python and `duplex client` accept it, \
                     but Chromium and Firefox refuse it (ERR_SSL_PROTOCOL_ERROR, \
                     PR_END_OF_FILE_ERROR); for a browser use `duplex cert --ecdsa` or `--ca`"
                );
            }
            Some(loaded)
        }
        TlsSource::Dev(dir) => Some(tls::dev_cert(&dir)?),
    };
    if let Some(cert) = &tls {
        tracing::info!(
            certificate = %cert.cert_path.display(),
            sha256 = %cert.fingerprint,
            "TLS certificate"
        );
    }
    let (listeners, socket_file) = bind(args).await?;
    let tls_ports = match probe_set {
        Some(set) => Some(bind_tls_probes(args.tls_probes_port, set).await?),
        None => None,
    };
    let endpoints = listeners
        .iter()
        .map(Listener::endpoint)
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|source| StartupError::Bind {
            addr: args.host.clone(),
            source,
        })?;
    // Last, once nothing else can fail: a start that fails never touches the static directory,
    // which another instance may be serving.
    let static_data = StaticData::create(&args.static_dir).map_err(StartupError::Lifespan)?;
    let exposed = endpoints
        .iter()
        .find(|endpoint| matches!(endpoint, Endpoint::Tcp(addr) if !addr.ip().is_loopback()));
    if let (true, Some(exposed)) = (ws.credentials.is_demo(), exposed) {
        tracing::warn!(
            "/ws/v5/private accepts the guide's public demo credential abc/def on {exposed}; \
             configure --credentials for anything reachable from other machines"
        );
    }
    let inspector = match (args.inspects(), log.feed()) {
        (true, Some(feed)) => Some(Arc::new(Inspector::new(
            Arc::clone(feed),
            args.inspect_token.clone(),
            ws.upgrade_config(),
        ))),
        (true, None) => {
            tracing::error!("--inspect needs a log made with LogOptions::inspect; not served");
            None
        }
        (false, _) => None,
    };
    let guide = App {
        data_file: static_data.path().to_path_buf(),
        data_cache: Arc::default(),
        max_body: args.max_body,
        body_timeout: args.body_timeout,
        // One body of the largest size always fits.
        body_budget: BodyBudget::new(args.max_body_memory.max(args.max_body)),
        ws: Arc::new(ws),
        inspector: inspector.clone(),
    };
    let probes = args.probes.then(|| Arc::new(Probes::default()));
    let app = Site {
        guide,
        probes: probes.clone(),
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
        http2: (!args.no_http2).then_some(Http2Limits {
            max_concurrent_streams: args.h2_max_streams,
            max_header_list_size: args.h2_max_header_list,
            stream_window: args.h2_stream_window,
            connection_window: args.h2_connection_window,
            max_pending_resets: args.h2_max_pending_resets,
            max_error_resets: args.h2_max_error_resets,
        }),
        timers: Timers::own_thread(),
    };
    let uses_tls = tls.is_some();
    let server = Server::new(listeners, tls.map(|cert| cert.config), app, settings, log);
    let (server, tls_probes) = match tls_ports {
        Some((probe_listeners, handle)) => (server.with_tls_probes(probe_listeners), Some(handle)),
        None => (server, None),
    };
    Ok(Running {
        server,
        static_data,
        endpoints,
        socket_file,
        tls: uses_tls,
        inspector: inspector.is_some(),
        probes,
        tls_probes,
    })
}

/// The TLS probes' loopback ports: `base`, `base + 1`, ... in [`TlsCase::ALL`]'s order, or a
/// free port each when `base` is 0. Loopback only: they exist to test a client on this machine.
async fn bind_tls_probes(
    base: u16,
    set: tls_probes::ProbeSet,
) -> Result<(Vec<(Listener, Arc<TlsProbeListener>)>, TlsProbes), StartupError> {
    let observations = Arc::new(Observations::default());
    let mut listeners = Vec::new();
    let mut endpoints = Vec::new();
    for (offset, (case, config)) in (0u16..).zip(set.configs) {
        let port = match base {
            0 => 0,
            base => base.checked_add(offset).ok_or_else(|| StartupError::Bind {
                addr: format!("127.0.0.1:{base}+{offset}"),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "--tls-probes-port {base} leaves no room for {} probe ports",
                        TlsCase::ALL.len()
                    ),
                ),
            })?,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind {
                addr: format!("{addr} (TLS probe {case})"),
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        endpoints.push(ProbeEndpoint { case, addr: bound });
        listeners.push((
            Listener::Tcp(listener),
            Arc::new(TlsProbeListener::new(
                case,
                config,
                Arc::clone(&observations),
            )),
        ));
    }
    let handle = TlsProbes {
        endpoints,
        ca_file: set.ca_file,
        client_cert_file: set.client_cert_file,
        client_key_file: set.client_key_file,
        observations,
    };
    Ok((listeners, handle))
}

/// The listening sockets: the --uds socket (with its file), or every address --host names on
/// --port.
async fn bind(args: &ServeArgs) -> Result<(Vec<Listener>, Option<SocketFile>), StartupError> {
    if let Some(path) = &args.uds {
        let (socket, file) = UnixSocket::bind(path, args.uds_mode)?;
        return Ok((vec![Listener::Unix(socket)], Some(file)));
    }
    let addrs: Vec<SocketAddr> = match args.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, args.port)],
        Err(_) => {
            let resolved = tokio::net::lookup_host((args.host.as_str(), args.port))
                .await
                .map_err(|source| StartupError::Resolve {
                    host: args.host.clone(),
                    source,
                })?;
            let mut addrs: Vec<SocketAddr> = Vec::new();
            for addr in resolved {
                if !addrs.contains(&addr) {
                    addrs.push(addr);
                }
            }
            addrs
        }
    };
    let mut listeners = Vec::new();
    let mut first_error = None;
    // With --port 0, every address gets the port the first one was given.
    let mut port = args.port;
    for mut addr in addrs {
        addr.set_port(port);
        match TcpListener::bind(addr).await {
            Ok(listener) => {
                if port == 0 {
                    port = listener.local_addr().map_or(0, |bound| bound.port());
                }
                listeners.push(Listener::Tcp(listener));
            }
            // Taken: another server is there, and serving beside it would be a surprise.
            Err(source) if source.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(StartupError::Bind {
                    addr: addr.to_string(),
                    source,
                });
            }
            // An address this machine cannot bind (e.g. ::1 without IPv6): the others serve.
            Err(source) => {
                tracing::warn!(%addr, error = %source, "cannot listen on an address of --host {}", args.host);
                first_error.get_or_insert(StartupError::Bind {
                    addr: addr.to_string(),
                    source,
                });
            }
        }
    }
    if listeners.is_empty() {
        return Err(first_error.unwrap_or_else(|| StartupError::Resolve {
            host: args.host.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        }));
    }
    Ok((listeners, None))
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
        timers: Timers::own_thread(),
        ..WsSettings::default()
    })
}

impl Running {
    /// The first TCP address listened on (none with --uds).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoints.iter().find_map(|endpoint| match endpoint {
            Endpoint::Tcp(addr) => Some(*addr),
            Endpoint::Unix(_) => None,
        })
    }

    /// The TLS probes (`--tls-probes`): each case's URL and what the server observed.
    pub fn tls_probes(&self) -> Option<&TlsProbes> {
        self.tls_probes.as_ref()
    }

    /// Where clients reach each listener: `https://127.0.0.1:8000`, or `unix:/path (https)`.
    pub(crate) fn urls(&self) -> Vec<String> {
        let scheme = if self.tls { "https" } else { "http" };
        self.endpoints
            .iter()
            .map(|endpoint| match endpoint {
                Endpoint::Tcp(addr) => format!("{scheme}://{addr}"),
                Endpoint::Unix(_) => format!("{endpoint} ({scheme})"),
            })
            .collect()
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
        for url in self.urls() {
            tracing::info!("listening on {url}");
        }
        if self.probes.is_some() {
            for url in self.urls().iter().filter(|url| url.starts_with("http")) {
                tracing::info!("client probes on {url}/probe/ (--probes; GET it for the list)");
            }
        }
        if self.inspector {
            // Over a Unix socket a browser cannot follow; the path is the same.
            for url in self.urls().iter().filter(|url| url.starts_with("http")) {
                tracing::info!("inspector on {url}/_duplex/ (--inspect)");
            }
        }
        if let Some(probes) = &self.tls_probes {
            log_tls_probes(probes);
        }
        let Self {
            server,
            static_data,
            socket_file,
            ..
        } = self;
        let stopped = tokio::select! {
            () = server.run(shutdown) => Stopped::Gracefully,
            () = force => {
                tracing::warn!("stopping now, without waiting for open connections");
                Stopped::Forced
            }
        };
        drop(socket_file);
        static_data.remove()?;
        Ok(stopped)
    }
}

/// One line per TLS probe with its URL and what a correct client does, then the files a client
/// needs.
fn log_tls_probes(probes: &TlsProbes) {
    for endpoint in &probes.endpoints {
        tracing::info!(
            "TLS probe {:<16} {}  {}: {}",
            endpoint.case.name(),
            endpoint.url(),
            endpoint.case.expect(),
            endpoint.case.presents()
        );
    }
    if let Some(url) = probes.client_hello_url() {
        tracing::info!("TLS probes: your ClientHello at {url} (on every probe port)");
    }
    tracing::info!(
        "TLS probes: trust {} (curl --cacert); client-cert wants {} and {}",
        probes.ca_file.display(),
        probes.client_cert_file.display(),
        probes.client_key_file.display()
    );
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
