//! `duplex bench echo`: WebSocket echo load (`stream`, `idle` and `handshake` are in their own modules). Each connection sends one message, waits for its
//! echo, and sends the next, for a fixed time; the report counts round trips and their latency.

mod handshake;
mod idle;
mod stream;

pub(crate) use handshake::{HandshakeLoad, handshake};
pub(crate) use idle::{IdleLoad, idle};
pub(crate) use stream::{READY, StreamLoad, WorkerCommand, stream, worker as stream_worker};

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use super::ws::{Received, WsOptions};
use super::{ClientError, Target};
use crate::protocol::ws::{CloseCode, Message};

/// One echo load run.
#[derive(Debug, Clone)]
pub struct EchoLoad {
    pub connections: usize,
    pub message_size: usize,
    /// Round trips before this are not counted (connections and caches warm up).
    pub warmup: Duration,
    pub duration: Duration,
    pub compression: bool,
    /// WebSockets over HTTP/2 (RFC 8441), one connection each.
    pub http2: bool,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoReport {
    pub round_trips: u64,
    pub(crate) seconds: f64,
    /// Latency percentiles in microseconds.
    pub p50_us: u64,
    pub p99_us: u64,
    /// Connections that failed; their round trips until then still count.
    pub failed: usize,
}

impl EchoReport {
    pub(crate) fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.round_trips as f64 / self.seconds
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for EchoReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} round trips/s ({} in {:.2} s), p50 {} us, p99 {} us, {} failed connections",
            self.per_second(),
            self.round_trips,
            self.seconds,
            self.p50_us,
            self.p99_us,
            self.failed
        )
    }
}

/// Opens all connections first, then runs the load on all of them at once.
///
/// # Errors
/// The first connection that cannot be opened; a run where every connection fails.
pub async fn echo(
    target: &Target,
    tls: Option<&Arc<ClientConfig>>,
    load: &EchoLoad,
) -> Result<EchoReport, ClientError> {
    let options = WsOptions {
        compression: load.compression,
        http2: load.http2,
        ..WsOptions::default()
    };
    let mut connections = Vec::with_capacity(load.connections);
    for _ in 0..load.connections {
        connections.push(super::ws::connect(target, tls, &options).await?);
    }
    // `Echo: ` is prepended by /ws/echo; /ws/mirror returns the message as is. Either way the
    // reply is one text message.
    let message = Message::Text("x".repeat(load.message_size).into());
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let end = measure_from + load.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in connections {
        // A `Bytes` clone shares the buffer: no allocation per connection or per message.
        let message = message.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let outcome = loop {
                let sent = Instant::now();
                if sent >= end {
                    break Ok(());
                }
                if let Err(err) = conn.send(&message).await {
                    break Err(err);
                }
                match conn.recv().await {
                    Ok(Received::Message(_)) => {}
                    Ok(Received::Closed(frame)) => {
                        break Err(ClientError::Closed(frame));
                    }
                    Err(err) => break Err(err),
                }
                let done = Instant::now();
                if sent >= measure_from {
                    let micros = done.duration_since(sent).as_micros();
                    latencies.push(u32::try_from(micros).unwrap_or(u32::MAX));
                }
            };
            if outcome.is_ok() {
                let _ = conn.close(CloseCode::NORMAL, "").await;
            }
            (latencies, outcome)
        });
    }
    let mut all = Vec::new();
    let mut failed = 0;
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((latencies, outcome)) => {
                all.extend(latencies);
                if let Err(err) = outcome {
                    failed += 1;
                    first_error.get_or_insert(err);
                }
            }
            Err(_) => failed += 1,
        }
    }
    if failed == load.connections
        && let Some(err) = first_error
    {
        return Err(err);
    }
    all.sort_unstable();
    Ok(EchoReport {
        round_trips: all.len() as u64,
        seconds: load.duration.as_secs_f64(),
        p50_us: percentile(&all, 50),
        p99_us: percentile(&all, 99),
        failed,
    })
}

/// The `p`th percentile of `sorted` latencies in microseconds (0 when there are none).
fn percentile(sorted: &[u32], p: usize) -> u64 {
    sorted
        .get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1)))
        .map_or(0, |&us| u64::from(us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_as_one_line() {
        let report = EchoReport {
            round_trips: 5000,
            seconds: 2.0,
            p50_us: 80,
            p99_us: 400,
            failed: 1,
        };
        assert_eq!(report.per_second(), 2500.0);
        assert_eq!(
            report.to_string(),
            "2500 round trips/s (5000 in 2.00 s), p50 80 us, p99 400 us, 1 failed connections"
        );
        let empty = EchoReport {
            seconds: 0.0,
            ..report
        };
        assert_eq!(empty.per_second(), 0.0);
    }
}
