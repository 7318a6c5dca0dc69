//! Client probes (`duplex serve --probes`, and `duplex check-client`): responses and WebSocket
//! handshakes under `/probe/` that a demanding real server may produce, each written byte by
//! byte as the case needs (chunk sizes, pieces, EOF in the middle, LF-only lines, a wrong
//! `Sec-WebSocket-Accept`, frames in the packet of the 101…), with what a correct client must
//! do and the rule that says so.
//!
//! A connection whose first request targets `/probe/` is taken over before hyper sees it
//! ([`crate::server::raw`]), so nothing here is limited to what an HTTP library can write. Each
//! probe answers one request and closes; every delay and size is bounded (see [`catalogue`]).
//! `GET /probe/` lists the cases as JSON. A `run=TOKEN` query parameter files what the server
//! observed of the client (pongs, its close frame) under that token for the case runner.

pub(crate) mod catalogue;
mod classics;
mod connection;
mod http;
mod ws;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server::log::escape;
use crate::server::raw::{RawConnection, RawIo};
pub(crate) use catalogue::{CASES, Case, Group};

/// Where the probes live.
pub(crate) const PREFIX: &str = "/probe/";

/// Largest request head a probe reads.
const MAX_HEAD: usize = 16 * 1024;

/// Longest any probe keeps a connection, whatever it does.
pub(crate) const MAX_CASE_TIME: Duration = Duration::from_secs(30);

/// Most runs whose observations are kept (the oldest go first).
const MAX_RUNS: usize = 4096;

/// What the server saw of a client during one probe.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Observation {
    pub(crate) case: String,
    /// The request line as received.
    pub(crate) request_line: String,
    /// Payloads of the pongs the client sent.
    pub(crate) pongs: Vec<Vec<u8>>,
    /// The code of the client's close frame (`Some(None)`: a close without a code).
    pub(crate) client_close: Option<Option<u16>>,
    /// What went wrong on the server's side of the probe, if anything (the client left early…).
    pub(crate) ended: String,
    /// The request came on a connection that had carried an earlier probe request.
    pub(crate) reused: bool,
}

/// The observations of the runs, by token.
#[derive(Debug, Default)]
pub(crate) struct Observations {
    runs: Mutex<(
        HashMap<String, Observation>,
        std::collections::VecDeque<String>,
    )>,
}

impl Observations {
    fn file(&self, token: &str, observation: Observation) {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        let (by_token, order) = &mut *runs;
        if by_token.insert(token.to_owned(), observation).is_none() {
            order.push_back(token.to_owned());
        }
        while order.len() > MAX_RUNS {
            if let Some(old) = order.pop_front() {
                by_token.remove(&old);
            }
        }
    }

    /// What was observed under `token`, if the probe has finished.
    pub(crate) fn take(&self, token: &str) -> Option<Observation> {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        runs.0.remove(token)
    }
}

/// The probes app.
#[derive(Debug, Default)]
pub(crate) struct Probes {
    pub(crate) observations: Observations,
}

/// One parsed request to a probe.
#[derive(Debug)]
pub(crate) struct ProbeRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) request_line: String,
}

impl ProbeRequest {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        })
    }
}

/// What a probe leaves the connection for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Closed: the probe is over.
    Close,
    /// Kept open for the client's next request, this long (the reuse cases).
    KeepAlive(Duration),
    /// Dropped with a TCP reset: no orderly close.
    Reset,
}

/// How long a kept-alive probe connection waits for the next request.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

impl Probes {
    /// Runs one probe connection: reads each request head, answers its case, files what it saw.
    /// Most probes answer one request and close; the reuse cases keep the connection open.
    pub(crate) async fn run(&self, mut conn: RawConnection) {
        let mut reused = false;
        let mut served = 0;
        let mut wait = conn.header_timeout;
        loop {
            let head =
                tokio::time::timeout(wait, read_head(&mut conn.io, &mut conn.received)).await;
            let request = match head {
                Ok(Ok(request)) => request,
                // The client is done with a kept-alive connection.
                Ok(Err(_)) | Err(_) if reused => break,
                Ok(Err(why)) => {
                    conn.log
                        .refused(&conn.label, "400", &format!("probe request: {why}"));
                    let _ = write_all(&mut conn.io, &plain(400, "Bad Request", &why)).await;
                    break;
                }
                Err(_) => break,
            };
            match self.answer(&request, &mut conn, reused, served).await {
                Next::Close => break,
                // Dropped as it is: the reset was arranged, a shutdown would send a FIN first.
                Next::Reset => return,
                Next::KeepAlive(idle) => {
                    reused = true;
                    served += 1;
                    wait = idle;
                }
            }
        }
        let _ = conn.io.shutdown().await;
    }

    /// Answers one request; `served` earlier ones came on this connection.
    async fn answer(
        &self,
        request: &ProbeRequest,
        conn: &mut RawConnection,
        reused: bool,
        served: u32,
    ) -> Next {
        let case_id = request.path.strip_prefix(PREFIX).unwrap_or_default();
        if let Some(rest) = case_id.strip_prefix("keep-alive/") {
            return match Box::pin(connection::keep_alive(rest, request, conn, served)).await {
                Ok(next) => next,
                Err(why) => {
                    conn.log
                        .note(&conn.label, &format!("probe {case_id}: {why}"));
                    Next::Close
                }
            };
        }
        if case_id == "ws-driven/no-close-reply" {
            if let Err(why) = Box::pin(ws::no_close_reply(request, conn)).await {
                conn.log
                    .note(&conn.label, &format!("probe {case_id}: {why}"));
            }
            return Next::Close;
        }
        if let Some(rest) = case_id.strip_prefix("expect/") {
            if let Err(why) = Box::pin(connection::expect(rest, request, conn)).await {
                conn.log
                    .note(&conn.label, &format!("probe {case_id}: {why}"));
            }
            return Next::Close;
        }
        if classics::claims(case_id) {
            let answered = match read_body(request, conn).await {
                Ok(body) => {
                    let stop = conn.stop.clone();
                    tokio::select! {
                        () = stop.cancelled() => Ok(()),
                        answered = tokio::time::timeout(MAX_CASE_TIME, Box::pin(classics::respond(case_id, request, conn, body))) => {
                            answered.unwrap_or_else(|_| Err(format!("ended after {MAX_CASE_TIME:?}")))
                        }
                    }
                }
                Err((status, why)) => {
                    let reason = if status == 413 {
                        "Content Too Large"
                    } else {
                        "Bad Request"
                    };
                    write_all(&mut conn.io, &plain(status, reason, &why)).await
                }
            };
            if let Err(why) = answered {
                conn.log
                    .note(&conn.label, &format!("probe {case_id}: {why}"));
            }
            return Next::Close;
        }
        let Some(case) = CASES.iter().find(|case| case.path() == case_id) else {
            if case_id.is_empty() || case_id == "list" {
                let _ = write_all(&mut conn.io, &json(200, "OK", &catalogue::json())).await;
                return Next::Close;
            }
            let why = format!(
                "no probe {}; GET {PREFIX} lists them",
                escape(case_id.as_bytes(), 80)
            );
            conn.log.refused(&conn.label, "404", &why);
            let _ = write_all(&mut conn.io, &plain(404, "Not Found", &why)).await;
            return Next::Close;
        };
        let mut observation = Observation {
            case: case.id.to_owned(),
            request_line: request.request_line.clone(),
            reused,
            ..Observation::default()
        };
        let stop = conn.stop.clone();
        let outcome = tokio::select! {
            () = stop.cancelled() => Err("the server is stopping".to_owned()),
            outcome = tokio::time::timeout(MAX_CASE_TIME, Box::pin(run_case(case, request, conn, &mut observation))) => {
                outcome.unwrap_or_else(|_| Err(format!("ended after {MAX_CASE_TIME:?}, the longest a probe runs")))
            }
        };
        let next = match outcome {
            Ok(next) => next,
            Err(why) => {
                observation.ended = why;
                Next::Close
            }
        };
        conn.log.note(
            &conn.label,
            &format!(
                "probe {} ({}): {}{}",
                case.id,
                case.expect.words(),
                case.title,
                if observation.ended.is_empty() {
                    String::new()
                } else {
                    format!("; {}", observation.ended)
                }
            ),
        );
        // A redirecting step files nothing: the run is judged on the request it leads to.
        let redirecting = request.param("step").is_none() && case.group == Group::Reuse;
        if let Some(token) = request.param("run").filter(|token| !token.is_empty())
            && !redirecting
        {
            self.observations.file(token, observation);
        }
        next
    }
}

async fn run_case(
    case: &Case,
    request: &ProbeRequest,
    conn: &mut RawConnection,
    observation: &mut Observation,
) -> Result<Next, String> {
    match case.group {
        Group::Framing | Group::Interim | Group::Status => {
            http::respond(case, request, &mut conn.io).await
        }
        Group::Reuse => http::reuse(case, request, &mut conn.io).await,
        Group::WsHandshake | Group::WsServer => {
            ws::respond(case, request, conn, observation).await?;
            Ok(Next::Close)
        }
    }
}

/// Reads up to the end of the request head (at most [`MAX_HEAD`] bytes) and parses it.
async fn read_head(io: &mut Box<dyn RawIo>, buf: &mut BytesMut) -> Result<ProbeRequest, String> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                let target = parsed.path.unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let request = ProbeRequest {
                    method: parsed.method.unwrap_or("GET").to_owned(),
                    path: path.to_owned(),
                    query: query.to_owned(),
                    headers: parsed
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_owned(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    request_line: format!(
                        "{} {} HTTP/1.{}",
                        parsed.method.unwrap_or(""),
                        target,
                        parsed.version.unwrap_or(1)
                    ),
                };
                buf.advance(len);
                return Ok(request);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(format!("the request head is over {MAX_HEAD} bytes"));
            }
            Err(err) => return Err(format!("the request head is malformed: {err}")),
        }
        if io.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
            return Err(if buf.is_empty() {
                "the client closed the connection".to_owned()
            } else {
                "the client closed the connection in the request head".to_owned()
            });
        }
    }
}

/// The request body (Content-Length or chunked), up to [`classics::MAX_BODY`] bytes.
pub(crate) async fn read_body(
    request: &ProbeRequest,
    conn: &mut RawConnection,
) -> Result<Vec<u8>, (u16, String)> {
    let too_large = || {
        (
            413,
            format!("the body is over {} bytes", classics::MAX_BODY),
        )
    };
    let io_error = |e: std::io::Error| (400, format!("reading the body: {e}"));
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let buf = &mut conn.received;
    if !chunked {
        let length = match request.header("content-length") {
            None => return Ok(Vec::new()),
            Some(text) => text
                .trim()
                .parse::<usize>()
                .map_err(|_| (400, format!("Content-Length {text:?} is not a number")))?,
        };
        if length > classics::MAX_BODY {
            return Err(too_large());
        }
        while buf.len() < length {
            if conn.io.read_buf(buf).await.map_err(io_error)? == 0 {
                return Err((400, "the body ended before its Content-Length".to_owned()));
            }
        }
        return Ok(buf.split_to(length).to_vec());
    }
    let mut body = Vec::new();
    loop {
        let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
            if buf.len() > 1024 {
                return Err((400, "a chunk-size line over 1 KiB".to_owned()));
            }
            if conn.io.read_buf(buf).await.map_err(io_error)? == 0 {
                return Err((400, "the body ended in a chunk-size line".to_owned()));
            }
            continue;
        };
        let line = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| (400, format!("chunk size {size_text:?} is not hex")))?;
        if body.len() + size > classics::MAX_BODY {
            return Err(too_large());
        }
        // The size line, the data and its CRLF (for the last chunk: the empty trailer line).
        let needed = line_end + 2 + size + 2;
        while buf.len() < needed {
            if conn.io.read_buf(buf).await.map_err(io_error)? == 0 {
                return Err((400, "the body ended in a chunk".to_owned()));
            }
        }
        if size == 0 {
            // Trailers are not kept: skip to the empty line.
            buf.advance(line_end + 2);
            while !buf.starts_with(b"\r\n") {
                match buf.windows(2).position(|w| w == b"\r\n") {
                    Some(end) => buf.advance(end + 2),
                    None => {
                        if conn.io.read_buf(buf).await.map_err(io_error)? == 0 {
                            return Err((400, "the body ended in its trailers".to_owned()));
                        }
                    }
                }
            }
            buf.advance(2);
            return Ok(body);
        }
        body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
        buf.advance(needed);
    }
}

pub(crate) async fn write_all(io: &mut Box<dyn RawIo>, bytes: &[u8]) -> Result<(), String> {
    io.write_all(bytes)
        .await
        .map_err(|e| format!("writing: {e}"))?;
    io.flush().await.map_err(|e| format!("writing: {e}"))
}

/// A complete response of `content_type` that closes the connection.
pub(crate) fn complete(status_line: &str, content_type: &str, text: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status_line}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )
    .into_bytes()
}

/// A complete `text/plain` response that closes the connection.
pub(crate) fn plain(status: u16, reason: &str, text: &str) -> Vec<u8> {
    complete(
        &format!("{status} {reason}"),
        "text/plain; charset=utf-8",
        text,
    )
}

fn json(status: u16, reason: &str, text: &str) -> Vec<u8> {
    complete(&format!("{status} {reason}"), "application/json", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_are_bounded_and_taken_once() {
        let observations = Observations::default();
        for n in 0..MAX_RUNS + 3 {
            observations.file(&n.to_string(), Observation::default());
        }
        assert!(observations.take("0").is_none(), "the oldest went first");
        assert!(observations.take(&(MAX_RUNS + 2).to_string()).is_some());
        assert!(observations.take(&(MAX_RUNS + 2).to_string()).is_none());
    }
}
