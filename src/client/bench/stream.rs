//! `duplex bench stream`: `/ws/stream` fan-out. Many subscribers listen at once, and every tick
//! is checked against its schedule: the first update's own timestamp plus one second per
//! update after it. The ticks due within the measured window are awaited; one is on time if it
//! arrives within [`TOLERANCE`] of its due time, and lost if it has not arrived a second after
//! the window ends.
//!
//! One process cannot hold more connections than its descriptor limit, so the command runs
//! itself as several worker processes (`stream-worker`), each from its own 127.0.0.x source
//! address when the target is on loopback, and adds up what they saw.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt as _;
use rustls::ClientConfig;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::client::ws::{Connection, Received, WsOptions};
use crate::client::{ClientError, Target};
use crate::protocol::ws::{CloseCode, Message};

/// How late a tick may be and still count as on time.
pub(crate) const TOLERANCE: Duration = Duration::from_millis(100);
/// The stream's promised period.
const PERIOD: Duration = Duration::from_secs(1);
/// How long after the window ticks due within it are still awaited.
const GRACE: Duration = Duration::from_secs(1);
/// Handshakes in flight per worker while connecting.
const CONNECT_CONCURRENCY: usize = 128;
/// Connections per worker process when not told: well under the 20,000 descriptor limit and
/// under the 28,232 ephemeral ports of one source address.
const PER_PROCESS: usize = 8_000;
/// How long workers may take to open all their connections.
const CONNECT_BUDGET: Duration = Duration::from_secs(300);

/// One fan-out run.
#[derive(Debug, Clone)]
pub(crate) struct StreamLoad {
    pub(crate) subscribers: usize,
    /// Worker processes; `None` picks one per 8,000 subscribers.
    pub(crate) processes: Option<usize>,
    /// Length of the measured window, in whole seconds (one tick per second is due).
    pub(crate) window_secs: u64,
    pub(crate) compression: bool,
    /// The server's process, for its resident memory before and during the run (Linux).
    pub(crate) server_pid: Option<u32>,
}

/// What one worker, or all of them added up, saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tally {
    pub(crate) subscribers: u64,
    pub(crate) connected: u64,
    pub(crate) connect_errors: u64,
    /// Connections that ended before the window did.
    pub(crate) dropped: u64,
    /// Ticks due within the window, and those that arrived.
    pub(crate) expected: u64,
    pub(crate) received: u64,
    /// Ticks missing at the end of the window, summed per connection.
    pub(crate) lost: u64,
    /// Ticks that arrived later than [`TOLERANCE`].
    pub(crate) late: u64,
    /// Lateness of every tick in the window, in 1 ms buckets.
    pub(crate) lateness_ms: BTreeMap<u32, u64>,
    /// Late ticks by the second of the window they were due in: one stall of the machine
    /// shows as one second, a server that cannot keep up as all of them.
    pub(crate) late_by_second: BTreeMap<u64, u64>,
    /// Updates that arrived during the window, whenever they were due: a server that falls
    /// behind delivers fewer than one per subscriber per second.
    pub(crate) arrived: u64,
    pub(crate) first_error: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Self) {
        self.subscribers += other.subscribers;
        self.connected += other.connected;
        self.connect_errors += other.connect_errors;
        self.dropped += other.dropped;
        self.expected += other.expected;
        self.received += other.received;
        self.lost += other.lost;
        self.late += other.late;
        for (ms, count) in other.lateness_ms {
            *self.lateness_ms.entry(ms).or_default() += count;
        }
        for (second, count) in other.late_by_second {
            *self.late_by_second.entry(second).or_default() += count;
        }
        self.arrived += other.arrived;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// A tick due `second` seconds into the window arrived `lateness` after its due time.
    fn record(&mut self, second: u64, lateness: Duration) {
        self.received += 1;
        if lateness > TOLERANCE {
            self.late += 1;
            *self.late_by_second.entry(second).or_default() += 1;
        }
        let ms = u32::try_from(lateness.as_millis()).unwrap_or(u32::MAX);
        *self.lateness_ms.entry(ms).or_default() += 1;
    }

    /// Lateness (ms) that `percent` % of the received ticks stay within.
    pub(crate) fn percentile_ms(&self, percent: u64) -> u32 {
        let total: u64 = self.lateness_ms.values().sum();
        let wanted = (total * percent).div_ceil(100).max(1);
        let mut seen = 0;
        for (&ms, &count) in &self.lateness_ms {
            seen += count;
            if seen >= wanted {
                return ms;
            }
        }
        0
    }

    pub(crate) fn max_ms(&self) -> u32 {
        self.lateness_ms.keys().next_back().copied().unwrap_or(0)
    }
}

/// The run's result: the tally plus the server's memory.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StreamReport {
    pub(crate) tally: Tally,
    pub(crate) window_secs: u64,
    pub(crate) processes: usize,
    /// Server resident memory (KiB) before connecting and in the middle of the window.
    pub(crate) server_rss_before_kib: Option<u64>,
    pub(crate) server_rss_during_kib: Option<u64>,
}

impl StreamReport {
    /// Every subscriber connected and stayed, and every tick came, within the tolerance.
    pub(crate) fn on_time(&self) -> bool {
        let t = &self.tally;
        t.connected == t.subscribers && t.dropped == 0 && t.lost == 0 && t.late == 0
    }

    /// Server memory per connected subscriber, in KiB.
    pub(crate) fn rss_per_subscriber_kib(&self) -> Option<f64> {
        let (before, during) = (self.server_rss_before_kib?, self.server_rss_during_kib?);
        (self.tally.connected > 0)
            .then(|| during.saturating_sub(before) as f64 / self.tally.connected as f64)
    }
}

impl std::fmt::Display for StreamReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.tally;
        write!(
            f,
            "{} of {} subscribers connected; {} of {} ticks in {} s arrived, {} lost, {} later than {} ms; \
             lateness p50 {} ms, p99 {} ms, max {} ms",
            t.connected,
            t.subscribers,
            t.received,
            t.expected,
            self.window_secs,
            t.lost,
            t.late,
            TOLERANCE.as_millis(),
            t.percentile_ms(50),
            t.percentile_ms(99),
            t.max_ms(),
        )?;
        if let Some(per) = self.rss_per_subscriber_kib() {
            write!(f, "; server RSS {per:.1} KiB per subscriber")?;
        }
        if t.dropped > 0 || t.connect_errors > 0 {
            write!(
                f,
                "; {} failed to connect, {} dropped",
                t.connect_errors, t.dropped
            )?;
        }
        if let Some(err) = &t.first_error {
            write!(f, " (first error: {err})")?;
        }
        write!(
            f,
            " => {}",
            if self.on_time() {
                "ON TIME"
            } else {
                "NOT ON TIME"
            }
        )
    }
}

/// How a parent reaches its workers: the target URL and the client's TLS flags, repeated.
#[derive(Debug, Clone)]
pub(crate) struct WorkerCommand {
    pub(crate) url: String,
    pub(crate) tls_args: Vec<String>,
}

/// Runs the fan-out over worker processes and adds up their tallies.
///
/// # Errors
/// A worker that cannot be started, fails, or says something that is not a tally.
pub(crate) async fn stream(
    target: &Target,
    command: &WorkerCommand,
    load: &StreamLoad,
) -> Result<StreamReport, ClientError> {
    let processes = load
        .processes
        .unwrap_or_else(|| load.subscribers.div_ceil(PER_PROCESS))
        .clamp(1, load.subscribers.max(1));
    let exe = std::env::current_exe()
        .map_err(|err| ClientError::Bench(format!("cannot find its own executable: {err}")))?;
    let rss_before = load.server_pid.and_then(rss_kib);

    let mut workers = Vec::with_capacity(processes);
    for index in 0..processes {
        // An even split; the first workers take the remainder.
        let share =
            load.subscribers / processes + usize::from(index < load.subscribers % processes);
        let mut child = tokio::process::Command::new(&exe);
        child
            .args(["bench", "stream-worker", &command.url, "--threads", "1"])
            .args(["--subscribers", &share.to_string()])
            .args(&command.tls_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(bind) = source_address(target, index) {
            child.args(["--bind", &bind.to_string()]);
        }
        if load.compression {
            child.arg("--compression");
        }
        let mut child = child
            .spawn()
            .map_err(|err| ClientError::Bench(format!("cannot start a worker process: {err}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(worker_error("has no stdin/stdout pipe"));
        };
        workers.push((child, stdin, BufReader::new(stdout).lines()));
    }

    // Phase 1: every worker has opened its connections.
    for (_, _, lines) in &mut workers {
        let line = tokio::time::timeout(CONNECT_BUDGET, lines.next_line())
            .await
            .map_err(|_| worker_error("did not finish connecting in time"))?
            .map_err(ClientError::Io)?
            .ok_or_else(|| worker_error("ended while connecting"))?;
        if line != READY {
            return Err(worker_error(&format!("said `{line}` instead of `{READY}`")));
        }
    }
    // Phase 2: the window, on every worker at once.
    for (_, stdin, _) in &mut workers {
        stdin
            .write_all(format!("{}\n", load.window_secs).as_bytes())
            .await
            .map_err(ClientError::Io)?;
        stdin.flush().await.map_err(ClientError::Io)?;
    }
    // The workers' windows open a period after they hear the length.
    tokio::time::sleep(PERIOD + Duration::from_secs(load.window_secs) / 2).await;
    let rss_during = load.server_pid.and_then(rss_kib);

    let mut tally = Tally::default();
    for (mut child, _, mut lines) in workers {
        let line = lines
            .next_line()
            .await
            .map_err(ClientError::Io)?
            .ok_or_else(|| worker_error("ended without a result"))?;
        let part: Tally = serde_json::from_str(&line)
            .map_err(|err| worker_error(&format!("sent an unreadable result ({err})")))?;
        tally.merge(part);
        let _ = child.wait().await;
    }
    Ok(StreamReport {
        tally,
        window_secs: load.window_secs,
        processes,
        server_rss_before_kib: rss_before,
        server_rss_during_kib: rss_during,
    })
}

/// What a worker prints once all its connections are open.
pub(crate) const READY: &str = "ready";

fn worker_error(what: &str) -> ClientError {
    ClientError::Bench(format!("a stream-worker process {what}"))
}

/// 127.0.0.2, 127.0.0.3, ... for worker 0, 1, ... when the target is IPv4 loopback.
pub(super) fn source_address(target: &Target, index: usize) -> Option<IpAddr> {
    let host: IpAddr = match target.host.as_str() {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        host => host.parse().ok()?,
    };
    let offset = u8::try_from(index + 2).ok().filter(|&n| n < 255)?;
    (host.is_ipv4() && host.is_loopback()).then_some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, offset)))
}

/// `VmRSS` of a process, in KiB (Linux).
pub(super) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// One worker process: opens `subscribers` connections, prints `ready`, reads the window
/// length in seconds from `input`, measures that window and returns what it saw.
///
/// # Errors
/// Only an unreadable `input`; failed connections are counted in the tally.
pub(crate) async fn worker(
    target: &Target,
    tls: Option<&Arc<ClientConfig>>,
    subscribers: usize,
    options: &WsOptions,
    mut input: impl AsyncBufRead + Unpin,
    ready: impl FnOnce() -> Result<(), ClientError>,
) -> Result<Tally, ClientError> {
    let (window_tx, window_rx) = watch::channel(None::<Window>);
    let stop = CancellationToken::new();
    let mut tally = Tally {
        subscribers: subscribers as u64,
        ..Tally::default()
    };
    let mut tasks = tokio::task::JoinSet::new();
    // Each subscriber starts listening as soon as it is connected, while the rest connect.
    let mut opening = futures_util::stream::iter(0..subscribers)
        .map(|_| crate::client::ws::connect(target, tls, options))
        .buffer_unordered(CONNECT_CONCURRENCY);
    while let Some(opened) = opening.next().await {
        match opened {
            Ok(conn) => {
                tally.connected += 1;
                tasks.spawn(subscriber(conn, window_rx.clone(), stop.clone()));
            }
            Err(err) => {
                tally.connect_errors += 1;
                tally.first_error.get_or_insert_with(|| err.to_string());
            }
        }
    }
    drop(opening);
    ready()?;

    let mut line = String::new();
    input
        .read_line(&mut line)
        .await
        .map_err(ClientError::Input)?;
    let secs: u64 = line.trim().parse().map_err(|_| {
        ClientError::Bench(format!(
            "expected the window in seconds, got `{}`",
            line.trim()
        ))
    })?;
    // Starts a period ahead: a tick due just after the start may arrive a little before its
    // due time (the first update's timestamp is taken after the server's timer fired), and it
    // must find the window already set.
    let start = SystemTime::now() + PERIOD;
    let window = Window {
        start,
        end: start + Duration::from_secs(secs),
        due: secs,
    };
    let _ = window_tx.send(Some(window));
    // Ticks due near the end of the window may still arrive on time after it.
    tokio::time::sleep(PERIOD + Duration::from_secs(secs) + GRACE).await;
    stop.cancel();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(part) => tally.merge(part),
            Err(err) => {
                tally.dropped += 1;
                tally.first_error.get_or_insert_with(|| err.to_string());
            }
        }
    }
    Ok(tally)
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: SystemTime,
    end: SystemTime,
    /// Ticks due per connection within it.
    due: u64,
}

impl Window {
    fn contains(&self, t: SystemTime) -> bool {
        self.start <= t && t < self.end
    }
}

/// One subscriber: reads updates until stopped, timing those that arrive within the window.
async fn subscriber(
    mut conn: Connection,
    window: watch::Receiver<Option<Window>>,
    stop: CancellationToken,
) -> Tally {
    let mut tally = Tally::default();
    // Tick n is due at the first tick's own timestamp plus n periods.
    let mut schedule: Option<SystemTime> = None;
    let mut ticks: u32 = 0;
    let mut in_window: u64 = 0;
    let outcome = loop {
        let received = tokio::select! {
            biased;
            () = stop.cancelled() => break Ok(()),
            received = conn.recv() => received,
        };
        let arrived = SystemTime::now();
        let text = match received {
            Ok(Received::Message(Message::Text(text))) => text,
            Ok(Received::Message(Message::Binary(_))) => {
                break Err("a binary message instead of an update".to_owned());
            }
            Ok(Received::Closed(frame)) => break Err(format!("closed by the server ({frame})")),
            Err(err) => break Err(err.to_string()),
        };
        let first = match schedule {
            Some(first) => first,
            None => match update_time(text.as_bytes()) {
                Some(first) => *schedule.insert(first),
                None => break Err("an update without a readable timestamp".to_owned()),
            },
        };
        let due = first + PERIOD * ticks;
        ticks = ticks.saturating_add(1);
        if let Some(window) = *window.borrow() {
            // Counted by when it was due, so each connection has exactly `window.due` ticks to
            // deliver whatever its phase.
            if window.contains(due) {
                in_window += 1;
                let second = due
                    .duration_since(window.start)
                    .unwrap_or_default()
                    .as_secs();
                tally.record(second, arrived.duration_since(due).unwrap_or_default());
            }
            if window.contains(arrived) {
                tally.arrived += 1;
            }
        }
    };
    let window = *window.borrow();
    if let Some(window) = window {
        tally.expected = window.due;
        tally.lost = window.due.saturating_sub(in_window);
    }
    match outcome {
        Ok(()) => {
            let _ = conn.close(CloseCode::NORMAL, "").await;
        }
        Err(err) => {
            tally.dropped = 1;
            tally.first_error = Some(err);
        }
    }
    tally
}

/// The `timestamp` of a `/ws/stream` update.
fn update_time(text: &[u8]) -> Option<SystemTime> {
    #[derive(Deserialize)]
    struct Update<'a> {
        timestamp: &'a str,
    }
    let update: Update<'_> = serde_json::from_slice(text).ok()?;
    let parsed = OffsetDateTime::parse(update.timestamp, &Rfc3339).ok()?;
    Some(SystemTime::from(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_times_are_read_with_and_without_microseconds() {
        let at =
            |s: &str| update_time(format!(r#"{{"timestamp":"{s}","message":"m"}}"#).as_bytes());
        let whole = at("2026-11-24T10:00:00+00:00");
        let fraction = at("2026-11-24T10:00:00.250000+00:00");
        assert!(whole.is_some());
        assert_eq!(
            fraction
                .zip(whole)
                .and_then(|(f, w)| f.duration_since(w).ok()),
            Some(Duration::from_millis(250))
        );
        assert_eq!(update_time(b"{\"message\":\"no time\"}"), None);
    }

    #[test]
    fn tallies_add_up_and_give_percentiles() {
        let mut a = Tally::default();
        for ms in [1, 2, 3, 4, 150] {
            a.record(3, Duration::from_millis(ms));
        }
        let mut b = Tally::default();
        b.record(3, Duration::from_millis(2));
        b.record(5, Duration::from_millis(101));
        b.lost = 1;
        a.merge(b);
        assert_eq!((a.received, a.late, a.lost), (7, 2, 1));
        assert_eq!(a.late_by_second, BTreeMap::from([(3, 1), (5, 1)]));
        assert_eq!(a.percentile_ms(50), 3);
        assert_eq!(a.percentile_ms(99), 150);
        assert_eq!(a.max_ms(), 150);
        assert_eq!(a.percentile_ms(100), 150);
    }

    #[test]
    fn loopback_targets_get_one_source_address_per_worker() -> Result<(), ClientError> {
        let local = Target::parse("ws://127.0.0.1:8000/ws/stream")?;
        assert_eq!(
            source_address(&local, 0),
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        );
        assert_eq!(source_address(&local, 300), None);
        let remote = Target::parse("ws://example.com/ws/stream")?;
        assert_eq!(source_address(&remote, 0), None);
        Ok(())
    }
}
