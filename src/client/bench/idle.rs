//! `duplex bench idle`: what an idle connection costs the server in memory. Opens N
//! connections, each finishing one keep-alive request (or a WebSocket handshake) and then
//! going quiet, and reads the server's resident memory before and after.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use super::super::ws::{self, WsOptions};
use super::super::{ClientError, Io, Target, connect_from};
use super::stream::{rss_kib, source_address};

/// Connections one source address is given: well inside its 28,000 ephemeral ports.
const PER_SOURCE_ADDRESS: usize = 20_000;
/// Handshakes in flight at once: enough to open 10,000 in seconds, few enough not to overflow
/// the server's accept queue.
const OPENING_AT_ONCE: usize = 64;
/// The largest response head and body read for the one request.
const MAX_RESPONSE: usize = 64 * 1024;

/// One idle-memory run.
#[derive(Debug, Clone)]
pub(crate) struct IdleLoad {
    pub(crate) connections: usize,
    /// A WebSocket handshake instead of a keep-alive HTTP request.
    pub(crate) websocket: bool,
    pub(crate) server_pid: u32,
    /// How long the connections stay idle before the memory is read.
    pub(crate) settle: Duration,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct IdleReport {
    pub(crate) connections: usize,
    pub(crate) opened: usize,
    pub(crate) rss_before_kib: u64,
    pub(crate) rss_after_kib: u64,
    /// The first connection that could not be opened, if any.
    pub(crate) first_error: Option<String>,
}

impl IdleReport {
    /// The server's growth in resident memory per open connection, in bytes.
    pub(crate) fn bytes_per_connection(&self) -> Option<f64> {
        (self.opened > 0).then(|| {
            (self.rss_after_kib as f64 - self.rss_before_kib as f64) * 1024.0 / self.opened as f64
        })
    }
}

impl std::fmt::Display for IdleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} connections open; server RSS {} KiB -> {} KiB",
            self.opened, self.connections, self.rss_before_kib, self.rss_after_kib
        )?;
        if let Some(bytes) = self.bytes_per_connection() {
            write!(f, ", {bytes:.0} bytes per idle connection")?;
        }
        if let Some(err) = &self.first_error {
            write!(f, "; first error: {err}")?;
        }
        Ok(())
    }
}

/// Opens the connections (spread over 127.0.0.2, 127.0.0.3, ... past 20,000 when the target
/// is IPv4 loopback), waits `settle`, reads the server's memory, then closes them all.
///
/// # Errors
/// The server's memory cannot be read (not Linux, or no such process).
pub(crate) async fn idle(
    target: &Target,
    tls: Option<&Arc<ClientConfig>>,
    load: &IdleLoad,
) -> Result<IdleReport, ClientError> {
    let unreadable = || {
        ClientError::Bench(format!(
            "cannot read the memory of process {} (/proc/{}/status)",
            load.server_pid, load.server_pid
        ))
    };
    let rss_before_kib = rss_kib(load.server_pid).ok_or_else(unreadable)?;
    let mut held: Vec<Held> = Vec::with_capacity(load.connections);
    let mut first_error = None;
    let mut opening = JoinSet::new();
    for index in 0..load.connections {
        if opening.len() >= OPENING_AT_ONCE
            && let Some(joined) = opening.join_next().await
        {
            collect(joined, &mut held, &mut first_error);
        }
        let bind = (load.connections > PER_SOURCE_ADDRESS)
            .then(|| source_address(target, index / PER_SOURCE_ADDRESS))
            .flatten();
        let target = target.clone();
        let tls = tls.cloned();
        let websocket = load.websocket;
        opening.spawn(async move { open(&target, tls.as_ref(), websocket, bind).await });
    }
    while let Some(joined) = opening.join_next().await {
        collect(joined, &mut held, &mut first_error);
    }
    tokio::time::sleep(load.settle).await;
    let rss_after_kib = rss_kib(load.server_pid).ok_or_else(unreadable)?;
    let opened = held.len();
    drop(held);
    Ok(IdleReport {
        connections: load.connections,
        opened,
        rss_before_kib,
        rss_after_kib,
        first_error,
    })
}

/// An open, idle connection (HTTP or WebSocket), kept only to be dropped (closed) at the end.
type Held = Box<dyn std::any::Any + Send>;

fn collect(
    joined: Result<Result<Held, ClientError>, tokio::task::JoinError>,
    held: &mut Vec<Held>,
    first_error: &mut Option<String>,
) {
    match joined {
        Ok(Ok(connection)) => held.push(connection),
        Ok(Err(err)) => {
            first_error.get_or_insert_with(|| err.to_string());
        }
        Err(err) => {
            first_error.get_or_insert_with(|| err.to_string());
        }
    }
}

async fn open(
    target: &Target,
    tls: Option<&Arc<ClientConfig>>,
    websocket: bool,
    bind: Option<IpAddr>,
) -> Result<Held, ClientError> {
    let timeout = Duration::from_secs(30);
    if websocket {
        let options = WsOptions {
            bind,
            timeout,
            ..WsOptions::default()
        };
        let connection = ws::connect(target, tls, &options).await?;
        return Ok(Box::new(connection));
    }
    let mut io = connect_from(target, tls, timeout, bind).await?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
        target.path_and_query, target.authority
    );
    let exchange = async {
        io.write_all(request.as_bytes()).await?;
        read_response(&mut io).await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ClientError::Bench("no complete response within 30 s".to_owned()))?
        .map_err(|err| ClientError::Bench(format!("the keep-alive request failed: {err}")))?;
    Ok(Box::new(io))
}

/// Reads one response with a `Content-Length` body, so the connection is left between
/// requests, as a keep-alive connection waiting for the next one.
async fn read_response(io: &mut Box<dyn Io>) -> std::io::Result<()> {
    let invalid = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned());
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = response
            .parse(&buf)
            .map_err(|err| invalid(&format!("bad response: {err}")))?
        {
            if response.code != Some(200) {
                return Err(invalid(&format!("status {:?}, not 200", response.code)));
            }
            let length = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| {
                    std::str::from_utf8(h.value)
                        .ok()?
                        .trim()
                        .parse::<usize>()
                        .ok()
                })
                .ok_or_else(|| invalid("the response has no Content-Length"))?;
            if buf.len() >= head + length {
                return Ok(());
            }
        }
        if buf.len() > MAX_RESPONSE {
            return Err(invalid("the response is larger than 64 KiB"));
        }
        let mut chunk = [0u8; 4096];
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(invalid("the server closed the connection"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_divides_growth_by_open_connections() {
        let report = IdleReport {
            connections: 10,
            opened: 8,
            rss_before_kib: 1000,
            rss_after_kib: 1016,
            first_error: Some("refused".to_owned()),
        };
        assert_eq!(report.bytes_per_connection(), Some(2048.0));
        assert_eq!(
            report.to_string(),
            "8 of 10 connections open; server RSS 1000 KiB -> 1016 KiB, 2048 bytes per idle \
             connection; first error: refused"
        );
        let none = IdleReport {
            opened: 0,
            ..report
        };
        assert_eq!(none.bytes_per_connection(), None);
    }
}
