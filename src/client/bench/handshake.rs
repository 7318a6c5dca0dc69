//! `duplex bench handshake`: TLS handshakes per second, full or resumed. Each of N connections
//! in turn opens TCP, does the TLS handshake, optionally sends one `GET` (with
//! `Connection: close`), and closes; then the next one starts, for a fixed time. The server's
//! CPU per handshake is what `bench/run.sh` divides by the count reported here.
//!
//! Resumption is per connection slot, as a client that reconnects does: each slot keeps the
//! tickets (TLS 1.3) or session (TLS 1.2) of its last connection in its own rustls store, so
//! the first handshake of a slot is full and every later one may resume. Without `--resume`
//! the client stores nothing and every handshake is full. Whether a handshake really resumed
//! is read from rustls ([`rustls::HandshakeKind`]), never assumed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::Resumption;
use rustls::{ClientConfig, HandshakeKind};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::super::{ClientError, Target, tls_reason};
use super::percentile;

/// One connection's whole cycle (connect, handshake, request, close) must end within this.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a `--request` answer may be; `/status` is 15 bytes of body.
const MAX_RESPONSE: usize = 64 * 1024;
/// Tickets a slot keeps: rustls keeps up to 8 TLS 1.3 tickets per server, so any size up to 8
/// is one server's worth.
const TICKETS_PER_SLOT: usize = 8;

/// One handshake run.
#[derive(Debug, Clone)]
pub(crate) struct HandshakeLoad {
    /// Connections open at once, each a sequence of handshakes.
    pub(crate) connections: usize,
    pub(crate) duration: Duration,
    /// Keep sessions and offer them, so handshakes after a slot's first can resume.
    pub(crate) resume: bool,
    /// Send one `GET` of the URL's path (with `Connection: close`) on each connection.
    pub(crate) request: bool,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct HandshakeReport {
    /// Connections whose whole cycle succeeded (each is one handshake).
    pub(crate) handshakes: u64,
    /// Of those, the handshakes rustls reports as resumed.
    pub(crate) resumed: u64,
    /// Connections that failed at any step.
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    /// From the first connection to the end of the last one.
    pub(crate) seconds: f64,
    /// Time from the TCP connect to the end of the handshake, in microseconds.
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
    /// The version, cipher suite and key exchange of the first handshake, as rustls names them.
    pub(crate) negotiated: Option<String>,
}

impl HandshakeReport {
    pub(crate) fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.handshakes as f64 / self.seconds
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for HandshakeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} handshakes/s ({} in {:.2} s, {} resumed), p50 {} us, p99 {} us, {} errors",
            self.per_second(),
            self.handshakes,
            self.seconds,
            self.resumed,
            self.p50_us,
            self.p99_us,
            self.errors
        )?;
        if let Some(negotiated) = &self.negotiated {
            write!(f, "; {negotiated}")?;
        }
        if let Some(err) = &self.first_error {
            write!(f, "; first error: {err}")?;
        }
        Ok(())
    }
}

/// What one slot did.
#[derive(Debug, Default)]
struct Tally {
    handshakes: u64,
    resumed: u64,
    errors: u64,
    first_error: Option<String>,
    latencies: Vec<u32>,
    negotiated: Option<String>,
}

/// Runs the load until `load.duration` has passed (connections under way then finish and count).
///
/// # Errors
/// [`ClientError::Bench`] for a plain-TCP target, a run in which every connection failed, and
/// a `resume` run in which no handshake resumed (its figures would be full handshakes').
pub(crate) async fn handshake(
    target: &Target,
    tls: &Arc<ClientConfig>,
    load: &HandshakeLoad,
) -> Result<HandshakeReport, ClientError> {
    if !target.tls {
        return Err(ClientError::Bench(
            "a handshake benchmark needs a TLS URL (https:// or wss://)".to_owned(),
        ));
    }
    let name = ServerName::try_from(target.host.clone()).map_err(|err| ClientError::Tls {
        host: target.host.clone(),
        reason: err.to_string(),
    })?;
    // Resolved once: the run measures handshakes, not the resolver.
    let addr = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|source| ClientError::Resolve {
            host: target.host.clone(),
            source,
        })?
        .next()
        .ok_or_else(|| ClientError::Resolve {
            host: target.host.clone(),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
    let request = load.request.then(|| {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            target.path_and_query, target.authority
        )
    });
    let shared = (!load.resume).then(|| {
        let mut config = ClientConfig::clone(tls);
        config.resumption = Resumption::disabled();
        Arc::new(config)
    });
    let start = Instant::now();
    let end = start + load.duration;
    let mut slots = JoinSet::new();
    for _ in 0..load.connections {
        let connector = TlsConnector::from(match &shared {
            Some(config) => Arc::clone(config),
            // Each slot its own store: its tickets are the ones its server handed it.
            None => {
                let mut config = ClientConfig::clone(tls);
                config.resumption = Resumption::in_memory_sessions(TICKETS_PER_SLOT);
                Arc::new(config)
            }
        });
        let name = name.clone();
        let request = request.clone();
        slots.spawn(async move { slot(addr, &connector, &name, request.as_deref(), end).await });
    }
    let mut total = Tally::default();
    while let Some(joined) = slots.join_next().await {
        let tally =
            joined.map_err(|err| ClientError::Bench(format!("a connection task: {err}")))?;
        total.handshakes += tally.handshakes;
        total.resumed += tally.resumed;
        total.errors += tally.errors;
        total.latencies.extend(tally.latencies);
        if total.first_error.is_none() {
            total.first_error = tally.first_error;
        }
        if total.negotiated.is_none() {
            total.negotiated = tally.negotiated;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    if total.handshakes == 0 {
        return Err(ClientError::Bench(format!(
            "no connection succeeded ({} errors); first error: {}",
            total.errors,
            total.first_error.as_deref().unwrap_or("none")
        )));
    }
    if load.resume && total.resumed == 0 {
        return Err(ClientError::Bench(format!(
            "--resume: none of the {} handshakes resumed (does the server issue session tickets \
             or keep sessions?)",
            total.handshakes
        )));
    }
    total.latencies.sort_unstable();
    Ok(HandshakeReport {
        handshakes: total.handshakes,
        resumed: total.resumed,
        errors: total.errors,
        first_error: total.first_error,
        seconds,
        p50_us: percentile(&total.latencies, 50),
        p99_us: percentile(&total.latencies, 99),
        negotiated: total.negotiated,
    })
}

/// One slot: connection after connection until `end`.
async fn slot(
    addr: SocketAddr,
    connector: &TlsConnector,
    name: &ServerName<'static>,
    request: Option<&str>,
    end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < end {
        let cycle = tokio::time::timeout(CYCLE_TIMEOUT, cycle(addr, connector, name, request));
        match cycle.await {
            Ok(Ok(done)) => {
                tally.handshakes += 1;
                if done.kind == Some(HandshakeKind::Resumed) {
                    tally.resumed += 1;
                }
                tally
                    .latencies
                    .push(u32::try_from(done.handshake.as_micros()).unwrap_or(u32::MAX));
                if tally.negotiated.is_none() {
                    tally.negotiated = Some(done.negotiated);
                }
            }
            Ok(Err(err)) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(err);
            }
            Err(_) => {
                tally.errors += 1;
                tally
                    .first_error
                    .get_or_insert_with(|| format!("a connection took over {CYCLE_TIMEOUT:?}"));
            }
        }
    }
    tally
}

/// One connection that completed.
struct Cycle {
    kind: Option<HandshakeKind>,
    handshake: Duration,
    negotiated: String,
}

/// Connect, handshake, optionally one request, close. The server closes first (after our
/// `close_notify`, or after its `Connection: close` answer), so its side holds the TIME_WAIT
/// and this machine's ephemeral ports are not used up by a long run; reading to the end also
/// takes in the TLS 1.3 tickets the server sends after the handshake.
async fn cycle(
    addr: SocketAddr,
    connector: &TlsConnector,
    name: &ServerName<'static>,
    request: Option<&str>,
) -> Result<Cycle, String> {
    let started = Instant::now();
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|err| format!("cannot connect to {addr}: {err}"))?;
    let _ = tcp.set_nodelay(true);
    let mut tls = connector
        .connect(name.clone(), tcp)
        .await
        .map_err(|err| format!("TLS handshake failed: {}", tls_reason(&err)))?;
    let handshake = started.elapsed();
    let (_, connection) = tls.get_ref();
    let kind = connection.handshake_kind();
    let negotiated = [
        connection.protocol_version().map(|v| format!("{v:?}")),
        connection
            .negotiated_cipher_suite()
            .map(|suite| format!("{:?}", suite.suite())),
        connection
            .negotiated_key_exchange_group()
            .map(|group| format!("{:?}", group.name())),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    match request {
        Some(request) => {
            tls.write_all(request.as_bytes())
                .await
                .map_err(|err| format!("cannot send the request: {err}"))?;
            let answer = read_to_end(&mut tls).await?;
            check_answer(&answer)?;
        }
        None => {
            tls.get_mut().1.send_close_notify();
            tls.flush()
                .await
                .map_err(|err| format!("cannot send close_notify: {err}"))?;
            read_to_end(&mut tls).await?;
        }
    }
    Ok(Cycle {
        kind,
        handshake,
        negotiated,
    })
}

/// Reads until the server closes. A close without `close_notify` is still a close: only
/// what was read before it matters here.
async fn read_to_end(tls: &mut TlsStream<TcpStream>) -> Result<Vec<u8>, String> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tls.read(&mut chunk).await {
            Ok(0) => return Ok(received),
            Ok(n) => {
                if received.len() + n > MAX_RESPONSE {
                    return Err("the answer is larger than 64 KiB".to_owned());
                }
                received.extend_from_slice(&chunk[..n]);
            }
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(received),
            Err(err) => return Err(format!("connection lost before the server closed: {err}")),
        }
    }
}

/// A `--request` answer must be a complete 2xx response.
fn check_answer(answer: &[u8]) -> Result<(), String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(answer) {
        Ok(httparse::Status::Complete(_)) => match response.code {
            Some(code) if (200..300).contains(&code) => Ok(()),
            code => Err(format!("the request was answered {code:?}, not 2xx")),
        },
        Ok(httparse::Status::Partial) => {
            Err("the server closed before a complete response head".to_owned())
        }
        Err(err) => Err(format!("bad response: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_as_one_line() {
        let report = HandshakeReport {
            handshakes: 3000,
            resumed: 2968,
            errors: 0,
            first_error: None,
            seconds: 2.0,
            p50_us: 300,
            p99_us: 900,
            negotiated: Some("TLSv1_3 TLS13_AES_256_GCM_SHA384 X25519".to_owned()),
        };
        assert_eq!(report.per_second(), 1500.0);
        assert_eq!(
            report.to_string(),
            "1500 handshakes/s (3000 in 2.00 s, 2968 resumed), p50 300 us, p99 900 us, \
             0 errors; TLSv1_3 TLS13_AES_256_GCM_SHA384 X25519"
        );
    }

    #[test]
    fn only_a_complete_2xx_answer_counts() {
        assert_eq!(
            check_answer(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
            Ok(())
        );
        assert!(check_answer(b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
        assert!(check_answer(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(check_answer(b"").is_err());
    }
}
