//! The process's log output: every line (the server's access log, diagnoses and trace, and the
//! `tracing` events of the rest of the program) goes through one bounded queue to a writer thread
//! and on to stderr, as text in uvicorn's shape or as JSON objects. A terminal that stops reading
//! costs lines, never speed: past the queue, lines are dropped, and the writer says how many once
//! it can write again.

use std::fmt;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::Duration;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::server::log::{LogFormat, Sink, timestamp};

/// Lines waiting for stderr at most; beyond, new lines are dropped (and counted).
const BUFFERED_LINES: usize = 16 * 1024;
/// How long the last lines get to reach stderr when the process ends.
const FINAL_FLUSH: Duration = Duration::from_secs(1);

/// The installed log output; dropping it flushes what is still buffered (within a second).
#[derive(Debug)]
pub struct Logging {
    sink: Arc<StderrSink>,
    colour: bool,
}

impl Logging {
    /// Installs the global `tracing` subscriber for `level` (a filter) in `format`, writing to
    /// stderr through the bounded writer. Colours only when stderr is a terminal and `NO_COLOR`
    /// is not set.
    ///
    /// # Errors
    /// An invalid filter, in words, or a writer thread that cannot start.
    pub fn init(level: &str, format: LogFormat) -> Result<Self, String> {
        let filter = EnvFilter::try_new(super::config::log_filter(level))
            .map_err(|err| format!("invalid --log-level `{level}`: {err}"))?;
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let (lines, queue) = std::sync::mpsc::sync_channel(BUFFERED_LINES);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&dropped);
        std::thread::Builder::new()
            .name("duplex-log".into())
            .spawn(move || write_lines(&queue, &counted))
            .map_err(|err| format!("cannot start the log writer: {err}"))?;
        let sink = Arc::new(StderrSink { lines, dropped });
        let events = EventFormat {
            format,
            colour: colour && format == LogFormat::Text,
        };
        let writer = Arc::clone(&sink);
        // A second init (tests) keeps the first subscriber.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .event_format(events)
            .with_writer(move || LineWriter {
                sink: Arc::clone(&writer),
                line: Vec::new(),
            })
            .try_init();
        Ok(Self { sink, colour })
    }

    /// Where the server's own lines go.
    pub fn sink(&self) -> Arc<dyn Sink> {
        Arc::clone(&self.sink) as Arc<dyn Sink>
    }

    /// Whether text lines may carry colours.
    pub fn colour(&self) -> bool {
        self.colour
    }
}

impl Drop for Logging {
    fn drop(&mut self) {
        let (done, flushed) = std::sync::mpsc::sync_channel(1);
        let deadline = std::time::Instant::now() + FINAL_FLUSH;
        let mut message = Message::Flush(done);
        // The queue may be full of lines still to write: wait for room, within the deadline.
        loop {
            match self.sink.lines.try_send(message) {
                Ok(()) => {
                    let _ = flushed.recv_timeout(
                        deadline.saturating_duration_since(std::time::Instant::now()),
                    );
                    return;
                }
                Err(TrySendError::Full(back)) if std::time::Instant::now() < deadline => {
                    message = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
    }
}

/// What the writer thread is sent.
enum Message {
    Line(Vec<u8>),
    /// Write out everything before this, then answer.
    Flush(SyncSender<()>),
}

/// The writer thread: takes lines as they come, writes each batch through one buffer (one
/// system call for many lines under load), and reports lines dropped while it could not keep up.
fn write_lines(queue: &Receiver<Message>, dropped: &AtomicU64) {
    let mut stderr = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    let mut reported = 0;
    while let Ok(first) = queue.recv() {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Line(line) => {
                    let _ = stderr.write_all(&line);
                }
                Message::Flush(done) => {
                    let _ = stderr.flush();
                    let _ = done.try_send(());
                }
            }
            next = queue.try_recv().ok();
        }
        let lost = dropped.load(Ordering::Relaxed);
        if lost > reported {
            let _ = writeln!(
                stderr,
                "WARNING:  {} log lines dropped: stderr was not keeping up (the server did not \
                 wait for it)",
                lost - reported
            );
            reported = lost;
        }
        let _ = stderr.flush();
    }
}

/// Lines to the writer thread, never waiting for it.
struct StderrSink {
    lines: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for StderrSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StderrSink").finish_non_exhaustive()
    }
}

impl StderrSink {
    fn write(&self, mut line: Vec<u8>) {
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        if let Err(TrySendError::Full(_)) = self.lines.try_send(Message::Line(line)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Sink for StderrSink {
    fn line(&self, mut line: String) {
        line.push('\n');
        self.write(line.into_bytes());
    }
}

/// One `tracing` event's bytes, handed to the sink as one line when the event is written.
struct LineWriter {
    sink: Arc<StderrSink>,
    line: Vec<u8>,
}

impl std::io::Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.sink.write(std::mem::take(&mut self.line));
        }
    }
}

/// `tracing` events in the same shapes as the server's lines.
struct EventFormat {
    format: LogFormat,
    colour: bool,
}

impl<S, N> FormatEvent<S, N> for EventFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = match *event.metadata().level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARNING",
            Level::INFO => "INFO",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "TRACE",
        };
        match self.format {
            LogFormat::Text => {
                let name = format!("{level}:");
                let pad = " ".repeat(9usize.saturating_sub(name.len()));
                if self.colour {
                    let colour = match level {
                        "ERROR" => "\x1b[31m",
                        "WARNING" => "\x1b[33m",
                        "INFO" => "\x1b[32m",
                        _ => "\x1b[36m",
                    };
                    write!(writer, "{colour}{name}\x1b[0m{pad} {}", fields.message)?;
                } else {
                    write!(writer, "{name}{pad} {}", fields.message)?;
                }
                for (key, value) in &fields.rest {
                    match value {
                        Value::String(text) => write!(writer, " {key}={text}")?,
                        other => write!(writer, " {key}={other}")?,
                    }
                }
                writeln!(writer)
            }
            LogFormat::Json => {
                let mut object = Map::new();
                object.insert("timestamp".into(), Value::String(timestamp()));
                object.insert("level".into(), Value::String(level.into()));
                object.insert("event".into(), Value::String("log".into()));
                object.insert(
                    "target".into(),
                    Value::String(event.metadata().target().into()),
                );
                object.insert("message".into(), Value::String(fields.message));
                for (key, value) in fields.rest {
                    object.insert(key, value);
                }
                writeln!(writer, "{}", Value::Object(object))
            }
        }
    }
}

/// An event's message and other fields, in order.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(String, Value)>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.rest
                .push((field.name().to_owned(), Value::String(text)));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.message);
        } else {
            self.rest
                .push((field.name().to_owned(), Value::String(value.to_owned())));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.rest
            .push((field.name().to_owned(), Value::from(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.rest
            .push((field.name().to_owned(), Value::from(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.rest
            .push((field.name().to_owned(), Value::from(value)));
    }
}
