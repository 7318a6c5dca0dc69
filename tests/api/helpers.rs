//! `spawn_app()` and a raw HTTP/1.1 client that reads exactly the responses it expects.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use duplex::cli::config::Cli;
pub use duplex::client::Io;
use duplex::client::http::{Outgoing, Response};
use duplex::client::ws::WsOptions;
use duplex::client::{self, ClientError, Target, TlsOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, pki_types::ServerName};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// How long a test waits for a response before calling it a hang.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A server running in this process on an ephemeral port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub tls: bool,
    pub static_dir: PathBuf,
    /// The certificate the server presents (and clients trust): `--cert` if given, else the
    /// generated development certificate.
    pub cert_file: PathBuf,
    /// What the server logged: access lines, diagnoses, notes, trace.
    pub log: Arc<duplex::server::log::MemorySink>,
    /// The TLS probes, when started with `--tls-probes`.
    pub tls_probes: Option<duplex::transport::tls_probes::TlsProbes>,
    _dirs: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

fn init_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_test_writer()
            .try_init();
    }
}

/// Starts a server over TLS (with a freshly generated development certificate that the client
/// trusts as its only root) or over plain HTTP.
pub async fn spawn_app(tls: bool) -> TestApp {
    spawn_app_with(tls, &[]).await
}

pub async fn spawn_app_with(tls: bool, extra_args: &[&str]) -> TestApp {
    init_logging();
    duplex::transport::tls::install_crypto_provider();
    let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let static_dir = dirs.path().join("static");
    let cert_dir = dirs.path().join("certs");
    let mut args = vec![
        "duplex".to_owned(),
        "--port".into(),
        "0".into(),
        "--static-dir".into(),
        static_dir.display().to_string(),
        "--dev-cert-dir".into(),
        cert_dir.display().to_string(),
    ];
    if !tls {
        args.push("--no-tls".into());
    }
    args.extend(extra_args.iter().map(|s| (*s).to_owned()));
    let serve = Cli::try_parse_from(args)
        .unwrap_or_else(|e| panic!("args: {e}"))
        .into_serve();
    let (log, log_lines) = duplex::server::log::Log::memory(duplex::server::log::LogOptions {
        // No global subscriber here to take the level from.
        max_level: tracing::level_filters::LevelFilter::INFO,
        ..serve.log_options(duplex::server::log::LogFormat::Text, false)
    });
    let running = duplex::cli::startup::prepare(&serve, log)
        .await
        .unwrap_or_else(|e| panic!("startup: {e}"));
    let addr = running
        .local_addr()
        .unwrap_or_else(|| panic!("the test server listens on TCP"));
    let tls_probes = running.tls_probes().cloned();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(running.serve(async {
        let _ = stopped.await;
    }));
    let cert_file = extra_args
        .iter()
        .position(|arg| *arg == "--cert")
        .and_then(|at| extra_args.get(at + 1))
        .map_or_else(
            || cert_dir.join(duplex::transport::tls::DEV_CERT_FILE),
            PathBuf::from,
        );
    TestApp {
        addr,
        tls,
        static_dir,
        cert_file,
        log: log_lines,
        tls_probes,
        _dirs: dirs,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    pub fn data_file(&self) -> PathBuf {
        self.static_dir.join("data.txt")
    }

    /// `path` on this server as a `duplex::client` target (`https://localhost:PORT` with TLS).
    pub fn target(&self, path: &str) -> Target {
        let scheme = if self.tls { "https" } else { "http" };
        let url = format!("{scheme}://localhost:{}{path}", self.addr.port());
        Target::parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    /// The library client's TLS settings: verification on, trusting this server's certificate.
    pub fn client_tls(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.tls.then(|| {
            TlsOptions {
                insecure: false,
                cacert: Some(self.cert_file.clone()),
                ..TlsOptions::default()
            }
            .client_config()
            .unwrap_or_else(|e| panic!("client TLS: {e}"))
        })
    }

    /// One request through `duplex::client`.
    pub async fn send(&self, path: &str, outgoing: Outgoing) -> Result<Response, ClientError> {
        let tls = self.client_tls();
        client::http::request(&self.target(path), tls.as_ref(), outgoing, READ_TIMEOUT).await
    }

    /// A WebSocket connection through `duplex::client` (compression offered).
    pub async fn ws(&self, path: &str) -> Result<client::ws::Connection, ClientError> {
        self.ws_with(path, &WsOptions::default()).await
    }

    pub async fn ws_with(
        &self,
        path: &str,
        options: &WsOptions,
    ) -> Result<client::ws::Connection, ClientError> {
        let tls = self.client_tls();
        client::ws::connect(&self.target(path), tls.as_ref(), options).await
    }

    /// Opens a connection (TLS with SNI `localhost` when the app uses TLS).
    pub async fn connect(&self) -> std::io::Result<Box<dyn Io>> {
        self.connect_as("localhost").await
    }

    /// Opens a connection to this server's address presenting `server_name` over TLS, with the
    /// library client's TLS settings ([`TestApp::client_tls`]).
    pub async fn connect_as(&self, server_name: &str) -> std::io::Result<Box<dyn Io>> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let Some(config) = self.client_tls() else {
            return Ok(Box::new(tcp));
        };
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Ok(Box::new(
            TlsConnector::from(config).connect(name, tcp).await?,
        ))
    }

    /// Sends `request` as is and reads `count` responses.
    pub async fn exchange(
        &self,
        request: &[u8],
        count: usize,
    ) -> std::io::Result<Vec<RawResponse>> {
        let mut io = self.connect().await?;
        io.write_all(request).await?;
        io.flush().await?;
        let head_request = request.starts_with(b"HEAD ");
        read_responses(&mut io, count, head_request).await
    }

    /// One request with `Connection: close`.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<RawResponse> {
        let mut raw =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        for (name, value) in headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        raw.push_str("\r\n");
        let mut raw = raw.into_bytes();
        raw.extend_from_slice(body);
        let mut responses = self.exchange(&raw, 1).await?;
        responses
            .pop()
            .ok_or_else(|| std::io::Error::other("no response"))
    }

    pub async fn get(&self, path: &str) -> std::io::Result<RawResponse> {
        self.request("GET", path, &[], b"").await
    }

    /// Stops the server like a shutdown signal would and waits for the lifespan cleanup.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Names lower-cased, in wire order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads `count` responses (a 1xx counts as one), framing each by HEAD, status,
/// content-length, chunked encoding or connection close.
pub async fn read_responses<R: AsyncRead + Unpin + ?Sized>(
    io: &mut R,
    count: usize,
    head_request: bool,
) -> std::io::Result<Vec<RawResponse>> {
    let mut buf = Vec::new();
    let mut responses = Vec::new();
    let mut eof = false;
    while responses.len() < count {
        match parse_one(&buf, head_request, eof)? {
            Some((response, used)) => {
                buf.drain(..used);
                responses.push(response);
            }
            None if eof => break,
            None => {
                let mut chunk = [0u8; 64 * 1024];
                let n = tokio::time::timeout(READ_TIMEOUT, io.read(&mut chunk))
                    .await
                    .map_err(|_| {
                        std::io::Error::new(std::io::ErrorKind::TimedOut, "response timed out")
                    })??;
                if n == 0 {
                    eof = true;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
    Ok(responses)
}

/// The first response in `buf` and the bytes it took, or `None` when more are needed (`eof`:
/// nothing more will come, so a close-delimited body ends here).
pub fn parse_one(
    buf: &[u8],
    head_request: bool,
    eof: bool,
) -> std::io::Result<Option<(RawResponse, usize)>> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body_start = head_end + 4;
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let no_body = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    let (body, used) = if no_body {
        (Vec::new(), body_start)
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        match dechunk(&buf[body_start..]) {
            Some((body, n)) => (body, body_start + n),
            None if eof => (buf[body_start..].to_vec(), buf.len()),
            None => return Ok(None),
        }
    } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if buf.len() < body_start + len {
            if eof {
                return Err(std::io::Error::other("connection closed mid-body"));
            }
            return Ok(None);
        }
        (buf[body_start..body_start + len].to_vec(), body_start + len)
    } else if eof {
        (buf[body_start..].to_vec(), buf.len())
    } else {
        return Ok(None);
    };
    Ok(Some((
        RawResponse {
            status,
            headers,
            body,
        },
        used,
    )))
}

fn dechunk(mut data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let total = data.len();
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).ok()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            let end = data.windows(2).position(|w| w == b"\r\n")?;
            return Some((body, total - data.len() + end + 2));
        }
        if data.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
