//! The access log's view of an exchange: a response body that counts what it sends and writes
//! the request's line once it is done (so the line has the real size and duration), and the
//! observer that writes a WebSocket session's closing line.

use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode, Uri, Version};
use http_body::Frame;

use super::log::{ConnLabel, HttpEntry, Log, TraceKind, WsSummary, escape};
use crate::protocol::ws::{FrameTrace, Message};
use crate::transport::ws::{Observer, Report, Side};

/// What an access line says about a request, known before its body is sent.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) log: Log,
    pub(super) conn: ConnLabel,
    pub(super) request: u64,
    pub(super) method: Method,
    pub(super) target: Uri,
    pub(super) version: Version,
    pub(super) websocket: bool,
    pub(super) status: StatusCode,
    pub(super) started: Instant,
}

impl Entry {
    fn write(&self, bytes: u64, incomplete: bool) {
        let version = version_text(self.version);
        let entry = HttpEntry {
            request: self.request,
            method: if self.websocket {
                "WebSocket"
            } else {
                self.method.as_str()
            },
            target: &target_text(&self.target),
            version: if self.websocket { "" } else { version },
            status: self.status,
            bytes,
            duration: self.started.elapsed(),
            incomplete,
        };
        self.log.http(&self.conn, &entry);
    }
}

/// The request target as sent: the path and query of an origin-form target (no copy), the
/// whole URI of an absolute-form one.
pub(super) fn target_text(uri: &Uri) -> std::borrow::Cow<'_, str> {
    match (uri.scheme(), uri.path_and_query()) {
        (None, Some(target)) => std::borrow::Cow::Borrowed(target.as_str()),
        _ => std::borrow::Cow::Owned(uri.to_string()),
    }
}

fn version_text(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

/// The access log's view of a response body: what it sent, and its request's line, written
/// when the body is dropped: after its last byte, or when the client went away first (then the
/// line says `incomplete`). It rides in the [`Body`] itself, so a request without an access log
/// pays one pointer for it.
#[derive(Debug)]
pub(crate) struct Meter {
    entry: Entry,
    bytes: u64,
    pub(super) ended: bool,
    /// The body's length when known (`content-length`): reaching it is the end.
    pub(super) expected: Option<u64>,
}

impl Meter {
    /// `expected`: the answer's `content-length`, if it has one.
    pub(super) fn new(entry: Entry, expected: Option<u64>) -> Box<Self> {
        Box::new(Self {
            entry,
            bytes: 0,
            ended: false,
            expected,
        })
    }

    /// Notes a frame the body yielded; `ended` when nothing is left after it.
    pub(super) fn count(
        &mut self,
        polled: &Poll<Option<Result<Frame<Bytes>, std::io::Error>>>,
        ended: bool,
    ) {
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                self.bytes += frame.data_ref().map_or(0, |data| data.len() as u64);
                self.ended |= ended || self.expected.is_some_and(|len| self.bytes >= len);
            }
            Poll::Ready(None) => self.ended = true,
            _ => {}
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        // hyper sends no body for HEAD, 1xx, 204 and 304 and may not poll one at all.
        let bodiless = self.entry.method == Method::HEAD
            || matches!(self.entry.status.as_u16(), 204 | 304 | 100..=199);
        self.entry.write(self.bytes, !(self.ended || bodiless));
    }
}

/// Bytes of a traced message shown (escaped).
const MESSAGE_PREVIEW: usize = 200;

/// Writes a WebSocket session's closing line, and the diagnosis of a violation that failed it.
#[derive(Debug)]
pub(crate) struct SessionLog {
    pub(crate) log: Log,
    pub(crate) conn: ConnLabel,
    pub(crate) request: u64,
    pub(crate) target: String,
    /// When the session started.
    pub(crate) opened: Instant,
    /// When the connection opened (trace times count from it).
    pub(crate) connected: Instant,
}

impl Observer for SessionLog {
    fn traces(&self) -> bool {
        self.log.tracing()
    }

    fn frame(&self, inbound: bool, frame: &FrameTrace) {
        let (arrow, kind) = if inbound {
            ('>', TraceKind::FrameIn)
        } else {
            ('<', TraceKind::FrameOut)
        };
        self.log.trace(
            &self.conn,
            self.connected.elapsed(),
            kind,
            &format!("{arrow} frame {frame}"),
        );
    }

    fn message(&self, inbound: bool, message: &Message) {
        let (arrow, kind) = if inbound {
            ('>', TraceKind::MessageIn)
        } else {
            ('<', TraceKind::MessageOut)
        };
        let (name, payload) = match message {
            Message::Text(text) => ("text", text.as_bytes()),
            Message::Binary(bytes) => ("binary", &bytes[..]),
        };
        self.log.trace(
            &self.conn,
            self.connected.elapsed(),
            kind,
            &format!(
                "{arrow} message {name} {} B \"{}\"",
                payload.len(),
                escape(payload, MESSAGE_PREVIEW)
            ),
        );
    }

    fn frames_untraced(&self, count: u64) {
        self.log.trace(
            &self.conn,
            self.connected.elapsed(),
            TraceKind::Other,
            &format!("{count} frames went by untraced (trace buffer full)"),
        );
    }

    fn ended(&self, report: &Report) {
        if let Some((err, frame)) = &report.violation {
            self.log.refused(
                &self.conn,
                &format!("close {}", err.code.as_u16()),
                &format!(
                    "frame {frame} from the client {} ({})",
                    err.violation,
                    err.violation.rule()
                ),
            );
        }
        // A route that refuses what the client sent (a binary login, a failed login) closes
        // with a code that says so; its reason is the diagnosis the route gives.
        if report.violation.is_none()
            && report.closed_by == Some(Side::Local)
            && let Some(code) = report.code
            && matches!(code.as_u16(), 1003 | 1007 | 1008 | 1009)
        {
            let why = report.refusal.clone().unwrap_or_else(|| {
                format!(
                    "{} refused what the client sent: {:?}",
                    self.target, report.reason
                )
            });
            self.log.refused(
                &self.conn,
                &format!("close {}", code.as_u16()),
                &format!("{why} (close codes: RFC 6455 §7.4.1)"),
            );
        }
        if !self.log.access() {
            return;
        }
        for note in &report.notes {
            self.log.note(&self.conn, note);
        }
        let summary = WsSummary {
            request: self.request,
            target: self.target.clone(),
            closed_by: match report.closed_by {
                Some(Side::Local) => "server",
                Some(Side::Peer) => "client",
                None => "nobody",
            },
            code: report.code.map(|code| code.as_u16()),
            reason: report.reason.clone(),
            how: report.how.clone(),
            duration: self.opened.elapsed().max(Duration::ZERO),
            messages_in: report.messages_in,
            bytes_in: report.bytes_in,
            messages_out: report.messages_out,
            bytes_out: report.bytes_out,
        };
        self.log.ws_closed(&self.conn, &summary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Segment;
    use crate::server::log::LogOptions;
    use http_body_util::BodyExt as _;

    /// hyper stops polling a body whose content-length has gone out: the last data frame, not a
    /// `None`, is its end.
    #[tokio::test]
    async fn a_streamed_body_that_sent_its_length_is_complete()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'x'; 100_000])?;
        let file = tokio::fs::File::open(&path).await?;
        let (log, lines) = Log::memory(LogOptions::default());
        let mut body = crate::server::Body::file_segments(
            file,
            vec![Segment::File {
                offset: 0,
                len: 100_000,
            }],
        );
        let entry = Entry {
            log,
            conn: ConnLabel { id: 1, peer: None },
            request: 1,
            method: Method::GET,
            target: Uri::from_static("/big"),
            version: Version::HTTP_11,
            websocket: false,
            status: StatusCode::OK,
            started: Instant::now(),
        };
        // A stream's length is unknown to its size hint: the head's content-length says it.
        body.metered(Meter::new(entry, Some(100_000)));
        let mut sent = 0;
        while sent < 100_000 {
            let Some(frame) = body.frame().await else {
                break;
            };
            sent += frame?.data_ref().map_or(0, |d| d.len());
        }
        drop(body);
        let line = lines.lines().join("\n");
        assert!(
            line.contains("100000 B") && !line.contains("incomplete"),
            "{line}"
        );
        Ok(())
    }
}
