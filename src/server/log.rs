//! What the server tells its operator about each connection: the access log (one line per HTTP
//! request, two per WebSocket session), a diagnosis of everything it refuses, notes on what it
//! accepts but a stricter server would not, and the optional wire trace.
//!
//! Lines are text in uvicorn's shape (`127.0.0.1:51234 - "GET / HTTP/1.1" 200 OK`, coloured only
//! on a terminal) or one JSON object each, handed to a [`Sink`] that must never block: the
//! server's speed does not depend on how fast anyone reads its log.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::feed::Feed;

/// Where finished lines go: each call is one whole line, without its newline.
pub trait Sink: Send + Sync + 'static {
    fn line(&self, line: String);
}

/// Text in uvicorn's shape, or JSON objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// What to log and how.
#[derive(Debug, Clone, Copy)]
pub struct LogOptions {
    /// One line per request and WebSocket session, plus notes on accepted requests.
    pub access: bool,
    /// The wire trace: reads, raw heads, TLS parameters, every WebSocket frame.
    pub trace: bool,
    pub format: LogFormat,
    /// ANSI colours in text lines (only when they go to a terminal).
    pub colour: bool,
    /// The most verbose level written (`--log-level`): access lines and notes are INFO,
    /// refusals WARN. Trace lines are written whenever `trace` is on.
    pub max_level: tracing::level_filters::LevelFilter,
    /// Every event, trace included, also goes to the inspector's feed (`--inspect`), whatever
    /// the other options say.
    pub inspect: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            access: true,
            trace: false,
            format: LogFormat::Text,
            colour: false,
            max_level: tracing::level_filters::LevelFilter::INFO,
            inspect: false,
        }
    }
}

/// The server's log handle: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

struct Inner {
    options: LogOptions,
    sink: Arc<dyn Sink>,
    feed: Option<Arc<Feed>>,
    /// Connections whose trace is not written: the inspector's own event stream, whose every
    /// frame would otherwise trace itself into the feed it is sending.
    untraced: Mutex<HashSet<u64>>,
    /// How many there are, so the common case (none) takes no lock.
    untraced_count: AtomicUsize,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// A line's severity, named as uvicorn names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Trace,
    Info,
    Warning,
}

/// What a trace line is about, so the inspector can follow a connection without reading the
/// words (`kind` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TraceKind {
    /// The connection was accepted.
    Open,
    /// The TLS handshake's outcome.
    Tls,
    Read,
    Write,
    /// A line of the request head.
    HeadIn,
    /// A line of the response head.
    HeadOut,
    FrameIn,
    FrameOut,
    /// A whole WebSocket message, reassembled and inflated.
    MessageIn,
    MessageOut,
    /// HTTP is over on the connection (closed, idle, or switched to another protocol).
    HttpEnd,
    /// The connection is gone, whoever held it last.
    Close,
    Other,
}

impl TraceKind {
    fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Tls => "tls",
            Self::Read => "read",
            Self::Write => "write",
            Self::HeadIn => "head_in",
            Self::HeadOut => "head_out",
            Self::FrameIn => "frame_in",
            Self::FrameOut => "frame_out",
            Self::MessageIn => "message_in",
            Self::MessageOut => "message_out",
            Self::HttpEnd => "http_end",
            Self::Close => "close",
            Self::Other => "other",
        }
    }
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Info => "INFO",
            Self::Warning => "WARNING",
        }
    }

    /// uvicorn's level colours: cyan, green, yellow.
    fn colour(self) -> &'static str {
        match self {
            Self::Trace => "\x1b[36m",
            Self::Info => "\x1b[32m",
            Self::Warning => "\x1b[33m",
        }
    }
}

/// Which connection a line is about: its number (counted from 1 since the server started) and
/// the client's address (`None` on a Unix socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnLabel {
    pub(crate) id: u64,
    pub(crate) peer: Option<SocketAddr>,
}

impl ConnLabel {
    fn peer_text(&self) -> String {
        let mut text = String::with_capacity(24);
        write_peer(&mut text, self);
        text
    }
}

/// One HTTP request and its answer, for the access log.
#[derive(Debug)]
pub(crate) struct HttpEntry<'a> {
    /// The request's number on its connection, from 1.
    pub(crate) request: u64,
    /// `GET`, or `WebSocket` for an upgrade request (as uvicorn logs them).
    pub(crate) method: &'a str,
    /// The request target as sent.
    pub(crate) target: &'a str,
    /// `HTTP/1.1`; empty for a WebSocket line.
    pub(crate) version: &'a str,
    pub(crate) status: StatusCode,
    /// Response body bytes written.
    pub(crate) bytes: u64,
    /// From the end of the request head to the end of the response.
    pub(crate) duration: Duration,
    /// The response was cut short (the client left, or the body failed).
    pub(crate) incomplete: bool,
}

/// How a WebSocket session ended, for its closing line.
#[derive(Debug, Clone, Default)]
pub(crate) struct WsSummary {
    pub(crate) request: u64,
    pub(crate) target: String,
    /// "client", "server" or "nobody" (the connection just ended).
    pub(crate) closed_by: &'static str,
    /// The close code and reason of the first close frame, if there was one.
    pub(crate) code: Option<u16>,
    pub(crate) reason: String,
    /// Why it ended, in words.
    pub(crate) how: String,
    pub(crate) duration: Duration,
    pub(crate) messages_in: u64,
    pub(crate) bytes_in: u64,
    pub(crate) messages_out: u64,
    pub(crate) bytes_out: u64,
}

impl Log {
    pub fn new(options: LogOptions, sink: Arc<dyn Sink>) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                sink,
                feed: options.inspect.then(Arc::default),
                untraced: Mutex::default(),
                untraced_count: AtomicUsize::new(0),
            }),
        }
    }

    /// The inspector's feed, when `--inspect` is on.
    pub(crate) fn feed(&self) -> Option<&Arc<Feed>> {
        self.inner.feed.as_ref()
    }

    /// Stops tracing connection `id` until [`Log::closed`] (its other events still go out).
    pub(crate) fn untrace(&self, id: u64) {
        let mut untraced = self.untraced();
        if untraced.insert(id) {
            self.inner
                .untraced_count
                .store(untraced.len(), Ordering::Relaxed);
        }
    }

    fn untraced(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.inner
            .untraced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn is_untraced(&self, id: u64) -> bool {
        self.inner.untraced_count.load(Ordering::Relaxed) > 0 && self.untraced().contains(&id)
    }

    /// A log that keeps its lines in memory, for tests.
    pub fn memory(options: LogOptions) -> (Self, Arc<MemorySink>) {
        let sink = Arc::new(MemorySink::default());
        (Self::new(options, Arc::clone(&sink) as Arc<dyn Sink>), sink)
    }

    /// Whether access lines and notes are wanted (by the sink or the inspector).
    pub(crate) fn access(&self) -> bool {
        self.sink_shows(Level::Info) || self.inner.feed.is_some()
    }

    /// Whether the sink takes lines of `level`: INFO lines are the access log and notes.
    fn sink_shows(&self, level: Level) -> bool {
        let options = &self.inner.options;
        match level {
            Level::Trace => options.trace,
            Level::Info => options.access && options.max_level >= tracing::Level::INFO,
            Level::Warning => options.max_level >= tracing::Level::WARN,
        }
    }

    /// Whether the wire trace is wanted (by the sink or the inspector).
    pub(crate) fn tracing(&self) -> bool {
        self.inner.options.trace || self.inner.feed.is_some()
    }

    fn colour(&self) -> bool {
        self.inner.options.colour && self.inner.options.format == LogFormat::Text
    }

    /// One access line: `peer - "GET /x HTTP/1.1" 200 OK [conn 3 #1, 17 B, 0.21 ms]`. Written
    /// straight into the line's buffer: it is the one line every request pays for.
    pub(crate) fn http(&self, conn: &ConnLabel, entry: &HttpEntry<'_>) {
        if !self.access() {
            return;
        }
        let status = entry.status.as_u16();
        let reason = entry.status.canonical_reason().unwrap_or("");
        let millis = entry.duration.as_secs_f64() * 1000.0;
        let colour = self.colour();
        let text = |out: &mut String| {
            write_peer(out, conn);
            out.push_str(" - \"");
            out.push_str(entry.method);
            out.push(' ');
            escape_into(out, entry.target.as_bytes(), 200);
            if !entry.version.is_empty() {
                out.push(' ');
                out.push_str(entry.version);
            }
            out.push_str("\" ");
            if colour {
                out.push_str(status_colour(status));
            }
            let _ = write!(out, "{status} {reason}");
            if colour {
                out.push_str("\x1b[0m");
            }
            // Integer arithmetic: float formatting was a tenth of the line's cost.
            let micros = entry.duration.as_micros();
            let _ = write!(
                out,
                " [conn {} #{}, {} B, {}.{:02} ms",
                conn.id,
                entry.request,
                entry.bytes,
                micros / 1000,
                micros % 1000 / 10
            );
            if entry.incomplete {
                out.push_str(", incomplete");
            }
            out.push(']');
        };
        self.emit_with(Level::Info, "http", conn, text, || {
            json!({
                "request": entry.request,
                "method": entry.method,
                "target": entry.target,
                "version": entry.version,
                "status": status,
                "reason": reason,
                "bytes": entry.bytes,
                "duration_ms": round3(millis),
                "incomplete": entry.incomplete,
            })
        });
    }

    /// The opening line of an accepted WebSocket: `peer - "WebSocket /ws/echo" [accepted]`.
    pub(crate) fn ws_accepted(&self, conn: &ConnLabel, request: u64, target: &str) {
        let text = format!(
            "{} - \"WebSocket {}\" {} [conn {} #{request}]",
            conn.peer_text(),
            escape(target.as_bytes(), 200),
            self.paint("\x1b[32m", "[accepted]"),
            conn.id,
        );
        self.emit(
            Level::Info,
            "ws_open",
            conn,
            &text,
            || json!({ "request": request, "target": target }),
        );
    }

    /// The closing line of a WebSocket session: who closed, how, and what crossed.
    pub(crate) fn ws_closed(&self, conn: &ConnLabel, summary: &WsSummary) {
        let close = match summary.code {
            Some(code) if summary.reason.is_empty() => format!(" {code}"),
            Some(code) => format!(" {code} {}", quote(&summary.reason)),
            None => String::new(),
        };
        let text = format!(
            "{} - \"WebSocket {}\" closed by {}{close} ({}) [conn {}, {:.3} s, in {} msg {} B, \
             out {} msg {} B]",
            conn.peer_text(),
            escape(summary.target.as_bytes(), 200),
            summary.closed_by,
            summary.how,
            conn.id,
            summary.duration.as_secs_f64(),
            summary.messages_in,
            summary.bytes_in,
            summary.messages_out,
            summary.bytes_out,
        );
        self.emit(Level::Info, "ws_close", conn, &text, || {
            json!({
                "request": summary.request,
                "target": summary.target,
                "closed_by": summary.closed_by,
                "code": summary.code,
                "reason": summary.reason,
                "how": summary.how,
                "duration_ms": round3(summary.duration.as_secs_f64() * 1000.0),
                "messages_in": summary.messages_in,
                "bytes_in": summary.bytes_in,
                "messages_out": summary.messages_out,
                "bytes_out": summary.bytes_out,
            })
        });
    }

    /// Something the client sent was refused: `conn 17: 400: <what and where> (<rule>)`.
    /// `answer` is what the client got: `400`, `close 1002`, `TLS alert`.
    pub(crate) fn refused(&self, conn: &ConnLabel, answer: &str, diagnosis: &str) {
        let text = format!("conn {}: {answer}: {diagnosis}", conn.id);
        self.emit(
            Level::Warning,
            "refused",
            conn,
            &text,
            || json!({ "answer": answer, "diagnosis": diagnosis }),
        );
    }

    /// Something accepted that a stricter peer would refuse, or a client behaviour worth
    /// knowing about.
    pub(crate) fn note(&self, conn: &ConnLabel, note: &str) {
        let text = format!("conn {}: note: {note}", conn.id);
        self.emit(Level::Info, "note", conn, &text, || json!({ "note": note }));
    }

    /// A TLS probe's handshake judged (`--tls-probes`): `conn 7 (probe expired): pass:
    /// <diagnosis>`. Anything but a pass is a warning and says what the client offered.
    pub(crate) fn tls_probe(
        &self,
        conn: &ConnLabel,
        case: &str,
        verdict: crate::transport::tls_probes::Verdict,
        diagnosis: &str,
        offered: Option<&str>,
    ) {
        let passed = verdict == crate::transport::tls_probes::Verdict::Pass;
        let mut text = format!("conn {} (probe {case}): {verdict}: {diagnosis}", conn.id);
        if let (false, Some(offered)) = (passed, offered) {
            let _ = write!(text, " [client {offered}]");
        }
        let level = if passed { Level::Info } else { Level::Warning };
        self.emit(level, "tls_probe", conn, &text, || {
            json!({
                "probe": case,
                "verdict": verdict.to_string().to_lowercase(),
                "diagnosis": diagnosis,
                "offered": offered,
            })
        });
    }

    /// One wire-trace line, `elapsed` since the connection opened.
    pub(crate) fn trace(&self, conn: &ConnLabel, elapsed: Duration, kind: TraceKind, what: &str) {
        if !self.tracing() || self.is_untraced(conn.id) {
            return;
        }
        let text = format!("conn {} +{:.6}s {what}", conn.id, elapsed.as_secs_f64());
        self.emit(
            Level::Trace,
            "trace",
            conn,
            &text,
            || json!({ "elapsed_s": elapsed.as_secs_f64(), "kind": kind.name(), "trace": what }),
        );
    }

    /// The connection is gone (nothing holds it any more): its last trace line.
    pub(crate) fn closed(&self, conn: &ConnLabel, elapsed: Duration) {
        self.trace(conn, elapsed, TraceKind::Close, "connection gone");
        if self.is_untraced(conn.id) {
            let mut untraced = self.untraced();
            untraced.remove(&conn.id);
            self.inner
                .untraced_count
                .store(untraced.len(), Ordering::Relaxed);
        }
    }

    fn paint(&self, colour: &str, text: &str) -> String {
        if self.colour() {
            format!("{colour}{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn emit(
        &self,
        level: Level,
        event: &str,
        conn: &ConnLabel,
        text: &str,
        fields: impl FnOnce() -> Value,
    ) {
        self.emit_with(level, event, conn, |out| out.push_str(text), fields);
    }

    /// Writes one line: `text` writes its words after the level (text format) or into the
    /// `message` field (JSON). With `--inspect` the event also goes to the feed, as JSON.
    fn emit_with(
        &self,
        level: Level,
        event: &str,
        conn: &ConnLabel,
        text: impl FnOnce(&mut String),
        fields: impl FnOnce() -> Value,
    ) {
        let to_sink = self.sink_shows(level);
        let feed = self.inner.feed.as_deref();
        if !to_sink && feed.is_none() {
            return;
        }
        let format = self.inner.options.format;
        let Some(feed) = feed else {
            let line = match format {
                LogFormat::Text => {
                    let mut line = String::with_capacity(160);
                    self.push_level(&mut line, level);
                    text(&mut line);
                    line
                }
                LogFormat::Json => {
                    let mut message = String::with_capacity(128);
                    text(&mut message);
                    json_line(level, event, conn, fields(), message)
                }
            };
            return self.inner.sink.line(line);
        };
        let mut message = String::with_capacity(128);
        text(&mut message);
        let plain = if self.colour() {
            strip_colours(&message)
        } else {
            Cow::Borrowed(message.as_str())
        };
        let object = json_line(level, event, conn, fields(), plain.into_owned());
        if to_sink {
            let line = match format {
                LogFormat::Text => {
                    let mut line = String::with_capacity(16 + message.len());
                    self.push_level(&mut line, level);
                    line.push_str(&message);
                    line
                }
                LogFormat::Json => object.clone(),
            };
            self.inner.sink.line(line);
        }
        feed.publish(object);
    }

    fn push_level(&self, line: &mut String, level: Level) {
        push_level(line, level.name(), self.colour().then(|| level.colour()));
    }
}

/// One event as a JSON object: the common fields, `fields`, then the message.
fn json_line(
    level: Level,
    event: &str,
    conn: &ConnLabel,
    fields: Value,
    message: String,
) -> String {
    let mut object = Map::new();
    object.insert("timestamp".into(), Value::String(timestamp()));
    object.insert("level".into(), Value::String(level.name().into()));
    object.insert("event".into(), Value::String(event.into()));
    object.insert("conn".into(), Value::from(conn.id));
    object.insert(
        "peer".into(),
        conn.peer
            .map_or(Value::Null, |peer| Value::String(peer.to_string())),
    );
    if let Value::Object(extra) = fields {
        object.extend(extra);
    }
    object.insert("message".into(), Value::String(message));
    Value::Object(object).to_string()
}

/// `text` without its ANSI colour sequences (`ESC [ ... m`).
fn strip_colours(text: &str) -> Cow<'_, str> {
    if !text.contains('\x1b') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = rest.find('m').map_or("", |end| &rest[end + 1..]);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The client's address (or `unix`), written into `out`.
fn write_peer(out: &mut String, conn: &ConnLabel) {
    match conn.peer {
        Some(peer) => {
            let _ = write!(out, "{peer}");
        }
        None => out.push_str("unix"),
    }
}

/// Starts a text line the way uvicorn does: `LEVEL:` padded to nine columns, then one space;
/// the level name in `colour` when given. Every text line of the process starts here.
pub(crate) fn push_level(out: &mut String, name: &str, colour: Option<&str>) {
    const SPACES: &str = "         ";
    if let Some(colour) = colour {
        out.push_str(colour);
    }
    out.push_str(name);
    out.push(':');
    if colour.is_some() {
        out.push_str("\x1b[0m");
    }
    out.push_str(&SPACES[..SPACES.len().saturating_sub(name.len() + 1)]);
    out.push(' ');
}

fn status_colour(status: u16) -> &'static str {
    match status {
        200..=299 => "\x1b[32m",
        300..=399 => "\x1b[33m",
        400..=499 => "\x1b[31m",
        500..=599 => "\x1b[91m",
        _ => "\x1b[97m",
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Now, RFC 3339 in UTC with milliseconds.
pub(crate) fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

/// `bytes` for a log line: printable ASCII as is, `\r` `\n` `\t` and `\\` spelled out, other
/// bytes as `\xNN`; cut after `max` bytes with an ellipsis.
pub(crate) fn escape(bytes: &[u8], max: usize) -> String {
    let mut out = String::with_capacity(bytes.len().min(max) + 8);
    escape_into(&mut out, bytes, max);
    out
}

/// [`escape`], appended to `out`.
pub(crate) fn escape_into(out: &mut String, bytes: &[u8], max: usize) {
    for &byte in bytes.iter().take(max) {
        match byte {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    if bytes.len() > max {
        out.push('…');
    }
}

/// A close reason or similar, in double quotes and escaped.
fn quote(text: &str) -> String {
    format!("\"{}\"", escape(text.as_bytes(), 123).replace('"', "\\\""))
}

/// Lines kept in memory (tests read them back).
#[derive(Debug, Default)]
pub struct MemorySink {
    lines: Mutex<Vec<String>>,
}

impl MemorySink {
    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits (up to `timeout`) until a line contains `needle`, and returns it.
    pub async fn wait_for(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| l.contains(needle)) {
                return Some(line);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Sink for MemorySink {
    fn line(&self, line: String) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> ConnLabel {
        ConnLabel {
            id: 3,
            peer: "127.0.0.1:51234".parse().ok(),
        }
    }

    fn entry() -> HttpEntry<'static> {
        HttpEntry {
            request: 1,
            method: "GET",
            target: "/items/1",
            version: "HTTP/1.1",
            status: StatusCode::OK,
            bytes: 17,
            duration: Duration::from_micros(210),
            incomplete: false,
        }
    }

    #[test]
    fn an_access_line_has_uvicorns_shape_and_what_uvicorn_lacks() {
        let (log, lines) = Log::memory(LogOptions::default());
        log.http(&conn(), &entry());
        assert_eq!(
            lines.lines(),
            [
                "INFO:     127.0.0.1:51234 - \"GET /items/1 HTTP/1.1\" 200 OK [conn 3 #1, 17 B, 0.21 ms]"
            ]
        );
    }

    #[test]
    fn colours_only_when_asked_and_never_in_json() {
        let options = LogOptions {
            colour: true,
            ..LogOptions::default()
        };
        let (log, lines) = Log::memory(options);
        log.http(&conn(), &entry());
        assert!(lines.lines()[0].contains("\x1b[32m200 OK\x1b[0m"));
        let (log, lines) = Log::memory(LogOptions {
            format: LogFormat::Json,
            ..options
        });
        log.http(&conn(), &entry());
        assert!(!lines.lines()[0].contains('\x1b'));
    }

    #[test]
    fn json_lines_carry_the_connection_and_every_field() -> Result<(), serde_json::Error> {
        let (log, lines) = Log::memory(LogOptions {
            format: LogFormat::Json,
            ..LogOptions::default()
        });
        log.http(&conn(), &entry());
        log.refused(&conn(), "400", "request line is bad (RFC 9112 §3)");
        let lines = lines.lines();
        let access: Value = serde_json::from_str(&lines[0])?;
        assert_eq!(access["event"], "http");
        assert_eq!(access["conn"], 3);
        assert_eq!(access["peer"], "127.0.0.1:51234");
        assert_eq!(access["status"], 200);
        assert_eq!(access["bytes"], 17);
        assert_eq!(access["level"], "INFO");
        let refused: Value = serde_json::from_str(&lines[1])?;
        assert_eq!(refused["level"], "WARNING");
        assert_eq!(refused["answer"], "400");
        assert!(
            refused["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
        Ok(())
    }

    #[test]
    fn the_inspectors_feed_gets_every_event_whatever_the_sink_takes() {
        let (log, lines) = Log::memory(LogOptions {
            access: false,
            colour: true,
            inspect: true,
            ..LogOptions::default()
        });
        let feed = log.feed().cloned();
        let Some(feed) = feed else {
            panic!("--inspect makes a feed");
        };
        assert!(log.access() && log.tracing());
        log.http(&conn(), &entry());
        log.trace(&conn(), Duration::ZERO, TraceKind::Read, "read 3 bytes");
        log.refused(&conn(), "400", "bad (RFC 9112 §3)");
        // The sink: no access line (--no-access-log), no trace (no --trace), the refusal.
        assert_eq!(lines.lines().len(), 1);
        assert!(lines.lines()[0].contains("bad (RFC 9112 §3)"));
        let events: Vec<Value> = feed
            .recent()
            .iter()
            .filter_map(|event| serde_json::from_str(event).ok())
            .collect();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0]["event"], "http");
        // Colours are for terminals only.
        assert_eq!(
            events[0]["message"],
            "127.0.0.1:51234 - \"GET /items/1 HTTP/1.1\" 200 OK [conn 3 #1, 17 B, 0.21 ms]"
        );
        assert_eq!(events[1]["kind"], "read");
        assert_eq!(events[2]["level"], "WARNING");
    }

    #[test]
    fn an_untraced_connection_keeps_its_other_events_until_it_is_gone() {
        let (log, _) = Log::memory(LogOptions {
            inspect: true,
            ..LogOptions::default()
        });
        let Some(feed) = log.feed().cloned() else {
            panic!("--inspect makes a feed");
        };
        log.untrace(3);
        log.trace(&conn(), Duration::ZERO, TraceKind::Write, "wrote 9 bytes");
        log.note(&conn(), "still noted");
        log.closed(&conn(), Duration::ZERO);
        log.trace(
            &conn(),
            Duration::ZERO,
            TraceKind::Write,
            "a new connection 3",
        );
        let recent: Vec<String> = feed.recent().iter().map(|e| e.to_string()).collect();
        assert_eq!(recent.len(), 2, "{recent:?}");
        assert!(recent[0].contains("still noted"));
        assert!(recent[1].contains("a new connection 3"));
    }

    #[test]
    fn colours_are_stripped_whole() {
        assert_eq!(strip_colours("\x1b[32m200 OK\x1b[0m done"), "200 OK done");
        assert_eq!(strip_colours("plain"), "plain");
    }

    #[test]
    fn escaping_shows_line_ends_and_cuts_long_input() {
        assert_eq!(escape(b"GET / HTTP/1.1\r\n", 100), "GET / HTTP/1.1\\r\\n");
        assert_eq!(escape(b"\x00\xff", 100), "\\x00\\xff");
        assert_eq!(escape(b"abcdef", 3), "abc…");
    }
}
