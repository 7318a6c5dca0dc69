//! The process's log output: every line (the server's access log, diagnoses and trace, and the
//! `tracing` events of the rest of the program) is appended to one bounded buffer that a writer
//! thread empties into stderr, as text in uvicorn's shape or as JSON objects. A terminal that
//! stops reading costs lines, never speed: past the buffer, lines are dropped, and the writer
//! says how many once it can write again.

use std::fmt;
use std::io::IsTerminal as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::server::log::{LogFormat, Sink, push_level, timestamp};

/// Bytes of lines waiting for stderr at most; past it, new lines are dropped (and counted).
const BUFFERED_BYTES: usize = 1 << 20;
/// How long the writer lets lines gather after writing a batch: under load that makes one
/// wake-up and one system call per batch instead of per line, and it gives the core back to
/// the server in between. An idle server's writer sleeps until the next line.
const LINGER: Duration = Duration::from_millis(2);
/// How long the last lines get to reach stderr when the process ends.
const FINAL_FLUSH: Duration = Duration::from_secs(1);

/// The installed log output; dropping it waits (up to a second) for the last lines to be written.
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
        let sink = Arc::new(StderrSink {
            format,
            ..StderrSink::default()
        });
        let shared = Arc::clone(&sink);
        std::thread::Builder::new()
            .name("duplex-log".into())
            .spawn(move || shared.write_out(&mut std::io::stderr()))
            .map_err(|err| format!("cannot start the log writer: {err}"))?;
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
        let deadline = Instant::now() + FINAL_FLUSH;
        while !self.sink.idle() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Lines waiting for the writer thread; whoever logs only appends, never waits for stderr.
#[derive(Debug, Default)]
struct StderrSink {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// The drop report is a line like the others.
    format: LogFormat,
}

#[derive(Debug, Default)]
struct Queue {
    bytes: Vec<u8>,
    /// Lines dropped since the writer last reported it.
    dropped: u64,
    /// The writer is writing a batch out.
    writing: bool,
}

impl StderrSink {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, line: &[u8]) {
        let mut queue = self.queue();
        if queue.bytes.len() + line.len() > BUFFERED_BYTES {
            queue.dropped += 1;
            return;
        }
        let was_empty = queue.bytes.is_empty();
        queue.bytes.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            queue.bytes.push(b'\n');
        }
        drop(queue);
        // Only the first line of a batch wakes the writer.
        if was_empty {
            self.ready.notify_one();
        }
    }

    /// Nothing left to write.
    fn idle(&self) -> bool {
        let queue = self.queue();
        queue.bytes.is_empty() && !queue.writing
    }

    /// The writer thread: takes what has gathered, writes it in one go, says how many lines
    /// were dropped while it could not keep up, lingers, and again.
    fn write_out(&self, out: &mut impl std::io::Write) {
        let mut batch = Vec::new();
        loop {
            let dropped = {
                let mut queue = self.queue();
                while queue.bytes.is_empty() && queue.dropped == 0 {
                    queue = self
                        .ready
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                std::mem::swap(&mut batch, &mut queue.bytes);
                queue.writing = true;
                std::mem::take(&mut queue.dropped)
            };
            let _ = out.write_all(&batch);
            if dropped > 0 {
                let message = format!(
                    "{dropped} log lines dropped: stderr was not keeping up (the server did not \
                     wait for it)"
                );
                let _ = match self.format {
                    LogFormat::Text => writeln!(out, "WARNING:  {message}"),
                    LogFormat::Json => writeln!(
                        out,
                        "{}",
                        serde_json::json!({
                            "timestamp": timestamp(),
                            "level": "WARNING",
                            "event": "log_dropped",
                            "dropped": dropped,
                            "message": message,
                        })
                    ),
                };
            }
            let _ = out.flush();
            batch.clear();
            if batch.capacity() > BUFFERED_BYTES / 4 {
                batch = Vec::new();
            }
            self.queue().writing = false;
            std::thread::sleep(LINGER);
        }
    }
}

impl Sink for StderrSink {
    fn line(&self, line: String) {
        self.write(line.as_bytes());
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
            self.sink.write(&self.line);
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
                let colour = match level {
                    "ERROR" => "\x1b[31m",
                    "WARNING" => "\x1b[33m",
                    "INFO" => "\x1b[32m",
                    _ => "\x1b[36m",
                };
                let mut line = String::with_capacity(128);
                push_level(&mut line, level, self.colour.then_some(colour));
                line.push_str(&fields.message);
                writer.write_str(&line)?;
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
