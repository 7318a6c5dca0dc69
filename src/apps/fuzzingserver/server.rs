//! The listener and Autobahn's driver protocol. Every control call is its own WebSocket
//! connection: `/getCaseCount`, `/getCaseInfo?case=N`, `/runCase?case=N&agent=A` (or
//! `casetuple=1.1.1`), `/getCaseStatus?case=N&agent=A`, `/updateReports?agent=A`
//! (`/stopServer` too). Plain HTTP GETs read the results while the server runs: `/results`
//! (JSON), `/cases` (the catalogue), `/` (a table).
//!
//! The fuzzing server needs the raw socket (chopped writes, invalid frames, exact close
//! timing), so it does its own small HTTP/1.1 handshake instead of going through duplex's
//! hyper server.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::catalogue::{self, CaseDef, Catalogue, Script, TestData};
use super::deflate;
use super::peer::{CaseRun, RunSettings, parse_header};
use super::report::{self, CaseRecord, Results};
use super::session;
use super::spec::{Spec, SpecError};
use super::testdata::{self, TestPayloads};
use crate::protocol::ws::handshake::accept_key;

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// A connection's byte stream: TCP for ws://, TLS over TCP for wss://.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for S {}

/// Command-line settings that override or extend the spec.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub port: Option<u16>,
    pub outdir: Option<PathBuf>,
    /// Seconds to wait for the client's close frame (the spec's `closeHandshakeTimeout`).
    pub close_timeout: Option<f64>,
    /// Seconds a client has for its opening handshake (`openHandshakeTimeout`).
    pub open_timeout: Option<f64>,
    /// Multiplies the cases' own time limits (1.0 when `None`).
    pub timeout_scale: Option<f64>,
    /// Autobahn's `testdata` directory, for byte-identical 12.*/13.* payloads.
    pub testdata: Option<PathBuf>,
    /// The certificate (PEM) for a wss:// url, instead of the spec's `cert`.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM), instead of the spec's `key`.
    pub key: Option<PathBuf>,
}

/// One selected case and how an agent did in it.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    pub id: String,
    pub description: String,
    /// `None`: the agent did not run the case.
    pub verdicts: Option<CaseVerdicts>,
}

/// Autobahn's verdicts on one case run.
#[derive(Debug, Clone)]
pub struct CaseVerdicts {
    pub behavior: &'static str,
    pub behavior_close: &'static str,
    /// Both verdicts are OK, NON-STRICT or INFORMATIONAL.
    pub passed: bool,
    pub duration_ms: u64,
    /// Why the case is not OK, in a sentence.
    pub explanation: Option<String>,
    /// The case's HTML report in the output directory (once the reports are written).
    pub reportfile: String,
}

/// A fuzzing server: the spec, the catalogue and every agent's results so far.
#[derive(Debug)]
pub struct FuzzingServer {
    catalogue: &'static Catalogue,
    spec: Spec,
    settings: RunSettings,
    open_timeout: Duration,
    outdir: PathBuf,
    testdata_dir: Option<PathBuf>,
    testdata: Mutex<HashMap<TestData, Arc<TestPayloads>>>,
    results: Mutex<Results>,
    finished: Notify,
    stop: CancellationToken,
    /// Set for a wss:// url.
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl FuzzingServer {
    /// A server for the spec file's text.
    ///
    /// # Errors
    /// A spec that does not parse or selects nothing, or a broken embedded catalogue.
    pub fn new(spec_text: &str, overrides: Overrides) -> Result<Self, SpecError> {
        let catalogue = catalogue::catalogue().map_err(SpecError::Json)?;
        let mut spec = Spec::parse(spec_text, catalogue)?;
        // As wstest: the command line's key and certificate before the spec's; needed (and
        // read) only for a wss:// url.
        let tls = if spec.tls {
            let cert = overrides.cert.clone().or_else(|| spec.cert.clone());
            let key = overrides.key.clone().or_else(|| spec.key.clone());
            let (Some(cert), Some(key)) = (cert, key) else {
                return Err(SpecError::TlsNeedsCert);
            };
            let loaded = crate::transport::tls::load(&cert, &key)
                .map_err(|err| SpecError::TlsSetup(err.to_string()))?;
            Some(loaded.config)
        } else {
            None
        };
        if let Some(port) = overrides.port {
            spec.port = port;
        }
        let mut options = spec.options;
        if let Some(secs) = overrides.close_timeout {
            options.close_handshake_timeout = secs;
        }
        if let Some(secs) = overrides.open_timeout {
            options.open_handshake_timeout = secs;
        }
        spec.options = options;
        Ok(Self {
            catalogue,
            settings: RunSettings {
                close_timeout: options.close_timeout(),
                fail_by_drop: options.fail_by_drop,
                timeout_scale: overrides.timeout_scale.unwrap_or(1.0),
            },
            open_timeout: options.open_timeout(),
            outdir: overrides.outdir.unwrap_or_else(|| spec.outdir.clone()),
            testdata_dir: overrides.testdata,
            testdata: Mutex::default(),
            results: Mutex::default(),
            finished: Notify::new(),
            stop: CancellationToken::new(),
            tls,
            spec,
        })
    }

    /// Where the spec asks to listen (`--port` applied).
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.spec.host, self.spec.port)
    }

    /// The url drivers connect to: `ws://` or `wss://`, the listening address.
    pub fn url(&self, addr: std::net::SocketAddr) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{addr}")
    }

    /// How many cases each agent runs.
    pub fn case_count(&self) -> usize {
        self.spec.cases.len()
    }

    /// Where reports are written.
    pub fn outdir(&self) -> &std::path::Path {
        &self.outdir
    }

    /// Cancelled when a client calls `/stopServer`.
    pub fn stopped(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// The results so far, as `index.json` plus an `explanation` for each case not OK.
    pub fn results_json(&self) -> String {
        report::index_json(&self.lock_results(), true)
    }

    /// The agents that have run cases so far, sorted.
    pub fn agents(&self) -> Vec<String> {
        self.lock_results().keys().cloned().collect()
    }

    /// Every selected case, in order, with `agent`'s verdicts where it ran.
    pub fn outcomes(&self, agent: &str) -> Vec<CaseOutcome> {
        let results = self.lock_results();
        let ran = results.get(agent);
        self.spec
            .cases
            .iter()
            .map(|&i| {
                let case = &self.catalogue.cases[i];
                let record = ran.and_then(|cases| cases.get(&case.id));
                CaseOutcome {
                    id: case.id.clone(),
                    description: case.pretty_description(),
                    verdicts: record.map(|record| {
                        let s = &record.summary;
                        CaseVerdicts {
                            behavior: s.behavior.as_str(),
                            behavior_close: s.behavior_close.as_str(),
                            passed: s.behavior.passes() && s.behavior_close.passes(),
                            duration_ms: s.duration,
                            explanation: s.explanation.clone(),
                            reportfile: report::html_filename(&s.reportfile),
                        }
                    }),
                }
            })
            .collect()
    }

    /// Writes the reports for every agent so far.
    ///
    /// # Errors
    /// The output directory cannot be written.
    pub fn write_reports(&self) -> std::io::Result<()> {
        let results = self.lock_results().clone();
        report::write_reports(&self.outdir, &results, &self.selected_ids())
    }

    fn lock_results(&self) -> std::sync::MutexGuard<'_, Results> {
        self.results.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn selected_ids(&self) -> Vec<String> {
        self.spec
            .cases
            .iter()
            .map(|&i| self.catalogue.cases[i].id.clone())
            .collect()
    }

    fn selected(&self, index: usize) -> Option<&'static CaseDef> {
        let catalogue: &'static Catalogue = self.catalogue;
        self.spec.cases.get(index).map(|&i| &catalogue.cases[i])
    }

    fn payloads(&self, which: TestData) -> Arc<TestPayloads> {
        let mut cache = self.testdata.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .entry(which)
            .or_insert_with(|| Arc::new(testdata::load(which, self.testdata_dir.as_deref())))
            .clone()
    }
}

/// Accepts connections on `listener` until `shutdown` completes or a client calls
/// `/stopServer`; cases still running get two seconds to finish.
pub async fn serve(
    listener: TcpListener,
    server: Arc<FuzzingServer>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let tracker = TaskTracker::new();
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = server.stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let server = server.clone();
                    tracker.spawn(async move {
                        // Chopped writes must leave as separate segments.
                        let _ = stream.set_nodelay(true);
                        server.accepted(stream).await;
                    });
                }
                Err(err) => {
                    // Out of descriptors or memory: back off; anything else concerns one
                    // connection only.
                    if matches!(err.raw_os_error(), Some(23 | 24 | 12)) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    }
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), tracker.wait()).await;
}

/// A parsed request head.
#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn is_upgrade(&self) -> bool {
        let has = |name: &str, token: &str| {
            self.headers_named(name).any(|value| {
                value
                    .split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        };
        has("upgrade", "websocket") && has("connection", "upgrade")
    }
}

fn parse_request(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Some(Request {
        method,
        path: path.to_owned(),
        query,
        headers,
    })
}

/// What a WebSocket request to the driver protocol asks for.
#[derive(Debug)]
enum Call {
    CaseCount,
    CaseInfo(usize),
    RunCase(usize, String),
    CaseStatus(usize, String),
    UpdateReports,
    Stop,
}

impl FuzzingServer {
    /// A new TCP connection: the TLS handshake first for wss:// (within the opening
    /// handshake's time limit, which covers it in Autobahn too).
    async fn accepted(self: Arc<Self>, stream: TcpStream) {
        match self.tls.clone() {
            Some(config) => {
                let acceptor = TlsAcceptor::from(config).accept(stream);
                let handshake = tokio::time::timeout(self.open_timeout, acceptor);
                match handshake.await {
                    Ok(Ok(stream)) => self.connection(stream).await,
                    Ok(Err(err)) => tracing::info!("TLS handshake failed: {err}"),
                    Err(_) => tracing::info!("TLS handshake timed out"),
                }
            }
            None => self.connection(stream).await,
        }
    }

    async fn connection<S: Stream>(self: Arc<Self>, mut stream: S) {
        let mut buf = BytesMut::with_capacity(4096);
        let head_len =
            match tokio::time::timeout(self.open_timeout, read_head(&mut stream, &mut buf)).await {
                Ok(Some(len)) => len,
                _ => return,
            };
        let head = buf.split_to(head_len);
        let leftover = buf.freeze();
        let Some(request) = parse_request(&head) else {
            let _ = respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                "malformed request\n",
            )
            .await;
            return;
        };
        if request.method != "GET" {
            let _ = respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                "only GET\n",
            )
            .await;
            return;
        }
        if !request.is_upgrade() {
            self.http(&mut stream, &request).await;
            return;
        }
        let call = match self.call(&request) {
            Ok(call) => call,
            Err((status, why)) => {
                let _ = respond(&mut stream, status, "text/plain", &format!("{why}\n")).await;
                return;
            }
        };
        let Some(key) = request.header("sec-websocket-key") else {
            let _ = respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                "missing Sec-WebSocket-Key\n",
            )
            .await;
            return;
        };
        if request.header("sec-websocket-version") != Some("13") {
            let _ = respond(
                &mut stream,
                "426 Upgrade Required",
                "text/plain",
                "Sec-WebSocket-Version must be 13\n",
            )
            .await;
            return;
        }
        let accept = accept_key(key.as_bytes());
        match call {
            Call::RunCase(index, agent) => {
                self.run_case(stream, leftover, &request, &accept, index, agent)
                    .await;
            }
            call => {
                if switch(&mut stream, &accept, None).await.is_err() {
                    return;
                }
                let messages = self.control_messages(call).await;
                control(stream, leftover, messages, self.settings.close_timeout).await;
            }
        }
    }

    /// Which call the request is, or the HTTP status and reason to refuse it with.
    fn call(&self, request: &Request) -> Result<Call, (&'static str, String)> {
        let bad = |why: String| ("400 Bad Request", why);
        let mut case = None;
        if let Some(tuple) = request.param("casetuple") {
            let ids = self.selected_ids();
            let index = ids
                .iter()
                .position(|id| id == tuple.trim())
                .ok_or_else(|| bad(format!("invalid test case tuple {tuple}")))?;
            case = Some(index);
        }
        if let Some(number) = request.param("case") {
            let n: usize = number
                .trim()
                .parse()
                .map_err(|_| bad(format!("invalid test case ID {number}")))?;
            if n < 1 || n > self.spec.cases.len() {
                return Err(bad(format!("case {n} not found")));
            }
            case = Some(n - 1);
        }
        let agent = request
            .param("agent")
            .filter(|a| !a.is_empty())
            .map(str::to_owned);
        let need_case = || case.ok_or_else(|| bad("need case".to_owned()));
        let need_agent = || agent.clone().ok_or_else(|| bad("need agent".to_owned()));
        Ok(match request.path.as_str() {
            "/getCaseCount" => Call::CaseCount,
            "/getCaseInfo" => Call::CaseInfo(need_case()?),
            "/runCase" => Call::RunCase(need_case()?, need_agent()?),
            "/getCaseStatus" => Call::CaseStatus(need_case()?, need_agent()?),
            "/updateReports" => {
                need_agent()?;
                Call::UpdateReports
            }
            "/stopServer" => Call::Stop,
            other => return Err(("404 Not Found", format!("no such call {other}"))),
        })
    }

    /// The text messages a control call answers with.
    async fn control_messages(&self, call: Call) -> Vec<String> {
        match call {
            Call::CaseCount => vec![self.spec.cases.len().to_string()],
            Call::CaseInfo(index) => self
                .selected(index)
                .map(|case| {
                    python_object(&[
                        ("id", json!(case.id)),
                        ("description", json!(case.pretty_description())),
                    ])
                })
                .into_iter()
                .collect(),
            Call::CaseStatus(index, agent) => {
                let Some(case) = self.selected(index) else {
                    return Vec::new();
                };
                let record = self.wait_for(&agent, &case.id).await;
                vec![python_object(&[(
                    "behavior",
                    json!(record.summary.behavior),
                )])]
            }
            Call::UpdateReports => {
                let results = self.lock_results().clone();
                let outdir = self.outdir.clone();
                let ids = self.selected_ids();
                let written = tokio::task::spawn_blocking(move || {
                    report::write_reports(&outdir, &results, &ids)
                })
                .await;
                match written {
                    Ok(Ok(())) => tracing::info!(dir = %self.outdir.display(), "reports written"),
                    Ok(Err(err)) => {
                        tracing::error!(dir = %self.outdir.display(), %err, "cannot write reports")
                    }
                    Err(err) => tracing::error!(%err, "report writer failed"),
                }
                Vec::new()
            }
            Call::Stop => {
                self.stop.cancel();
                Vec::new()
            }
            Call::RunCase(..) => Vec::new(),
        }
    }

    async fn wait_for(&self, agent: &str, id: &str) -> Arc<CaseRecord> {
        loop {
            let notified = self.finished.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(record) = self
                .lock_results()
                .get(agent)
                .and_then(|cases| cases.get(id))
            {
                return record.clone();
            }
            notified.await;
        }
    }

    async fn run_case<S: Stream>(
        &self,
        mut stream: S,
        leftover: Bytes,
        request: &Request,
        accept: &str,
        index: usize,
        agent: String,
    ) {
        let Some(case) = self.selected(index) else {
            return;
        };
        let (agreement, payloads) = match &case.script {
            Script::Compression { accept, data, .. } => {
                let offers =
                    deflate::parse_offers(request.headers_named("sec-websocket-extensions"));
                (
                    deflate::accept(*accept, &offers),
                    Some(self.payloads(*data)),
                )
            }
            _ => (None, None),
        };
        let extension = agreement.as_ref().map(|a| a.response.as_str());
        if switch(&mut stream, accept, extension).await.is_err() {
            return;
        }
        if self.spec.excludes(&agent, &case.id) {
            tracing::info!(case = %case.id, %agent, "skipped by exclude-agent-cases");
            control(stream, leftover, Vec::new(), self.settings.close_timeout).await;
            return;
        }
        let started = utc_now();
        let run = CaseRun::new(case, self.settings, agreement.as_ref(), payloads);
        let finished = session::run_case(stream, leftover, run).await;
        let record = report::record(case, index + 1, &agent, &started, finished);
        tracing::info!(
            case = %case.id,
            %agent,
            behavior = record.summary.behavior.as_str(),
            close = record.summary.behavior_close.as_str(),
            ms = record.summary.duration,
            "case finished"
        );
        self.lock_results()
            .entry(agent)
            .or_default()
            .insert(case.id.clone(), Arc::new(record));
        self.finished.notify_waiters();
    }

    async fn http<S: Stream>(&self, stream: &mut S, request: &Request) {
        let _ = match request.path.as_str() {
            "/results" => respond(stream, "200 OK", "application/json", &self.results_json()).await,
            "/cases" => {
                let cases: Vec<_> = self
                    .catalogue
                    .cases
                    .iter()
                    .map(|case| {
                        json!({
                            "id": case.id,
                            "group": self.catalogue.group(&case.id),
                            "description": case.pretty_description(),
                            "expectation": case.expectation,
                            "selected": self.selected_ids().contains(&case.id),
                        })
                    })
                    .collect();
                respond(
                    stream,
                    "200 OK",
                    "application/json",
                    &json!(cases).to_string(),
                )
                .await
            }
            "/" => {
                let html = report::index_html(
                    &self.lock_results().clone(),
                    &self.selected_ids(),
                    "duplex fuzzingserver: results so far",
                );
                respond(stream, "200 OK", "text/html; charset=utf-8", &html).await
            }
            _ => respond(stream, "404 Not Found", "text/plain", "not found\n").await,
        };
    }
}

/// Reads until the end of the request head; its length, or `None` if the connection ended
/// or the head is too long.
async fn read_head<S: Stream>(stream: &mut S, buf: &mut BytesMut) -> Option<usize> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(end + 4);
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        match stream.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn respond<S: Stream>(
    stream: &mut S,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nServer: duplex-fuzzingserver\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// The 101 answer.
async fn switch<S: Stream>(
    stream: &mut S,
    accept: &str,
    extension: Option<&str>,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nServer: duplex-fuzzingserver/{}\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(extension) = extension {
        head.push_str(&format!("Sec-WebSocket-Extensions: {extension}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await
}

/// A control connection: the answer messages, then Autobahn's `sendClose()` (a close frame
/// without a code); then the client's close frame is awaited (up to `timeout`) and TCP closed.
async fn control<S: Stream>(
    mut stream: S,
    leftover: Bytes,
    messages: Vec<String>,
    timeout: Duration,
) {
    let mut out = BytesMut::new();
    for message in &messages {
        crate::protocol::ws::write_frame(&mut out, 0x81, None, message.as_bytes());
    }
    crate::protocol::ws::write_frame(&mut out, 0x88, None, &[]);
    if stream.write_all(&out).await.is_err() {
        return;
    }
    let mut buf = BytesMut::from(&leftover[..]);
    let _ = tokio::time::timeout(timeout, async {
        loop {
            while let Some(header) = parse_header(&buf) {
                let total = header
                    .header_len
                    .saturating_add(usize::try_from(header.len).unwrap_or(usize::MAX));
                if header.opcode == 8 {
                    return;
                }
                if buf.len() < total {
                    break;
                }
                let _ = buf.split_to(total);
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    let _ = stream.shutdown().await;
}

/// A JSON object as Python's `json.dumps` writes it (`{"a": 1, "b": 2}`, keys in the given
/// order), so drivers that compare the control answers as text see Autobahn's.
fn python_object(fields: &[(&str, serde_json::Value)]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("{}: {value}", json!(name)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

/// Now in UTC, as Autobahn's `utcnow()` writes it: `2026-12-01T12:00:00.123Z`.
fn utc_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_their_query() {
        let request = parse_request(
            b"GET /runCase?case=3&agent=my%20client HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n",
        )
        .unwrap_or_else(|| panic!("parses"));
        assert_eq!(request.path, "/runCase");
        assert_eq!(request.param("case"), Some("3"));
        assert_eq!(request.param("agent"), Some("my client"));
        assert!(request.is_upgrade());
    }

    #[test]
    fn control_answers_are_spaced_like_pythons_json() {
        let answer = python_object(&[("id", json!("1.1.1")), ("description", json!("x"))]);
        assert_eq!(answer, r#"{"id": "1.1.1", "description": "x"}"#);
    }

    #[test]
    fn utc_now_has_autobahns_shape() {
        let now = utc_now();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    }
}
