//! TLS probe listeners (`--tls-probes`): each accepts with its own case's configuration, keeps
//! the client's ClientHello (for `GET /tls/clienthello` and the diagnosis), and judges the
//! handshake's outcome against what a correct client does: one log line and one
//! [`Observation`] per connection. After the handshake a probe connection is an ordinary one.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use super::diagnose;
use super::log::{ConnLabel, Log};
use crate::protocol::tls_hello::{ClientHello, HelloError, MAX_RAW_HELLO};
use crate::transport::tls_probes::{Observation, Observations, Outcome, TlsCase, judge};

/// A listener's probe: its case, its TLS configuration, and where verdicts go.
pub(crate) struct TlsProbeListener {
    pub(crate) case: TlsCase,
    acceptor: TlsAcceptor,
    observations: Arc<Observations>,
}

impl std::fmt::Debug for TlsProbeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsProbeListener")
            .field("case", &self.case)
            .finish_non_exhaustive()
    }
}

/// A probe connection whose handshake completed: its case, the client's ClientHello, and
/// the verdict still to give. A completed handshake does not yet show that the client accepted
/// the certificate (curl checks the host name after it), so the verdict waits for the first
/// request ([`TlsProbeConn::requested`]) or the connection's end (its `Drop`).
#[derive(Debug)]
pub(crate) struct TlsProbeConn {
    pub(crate) case: TlsCase,
    /// The client's ClientHello, or why it could not be read.
    pub(crate) hello: Result<ClientHello, HelloError>,
    pending: Mutex<Option<Pending>>,
}

/// What the deferred verdict needs.
#[derive(Debug)]
struct Pending {
    version: String,
    client_certificate: bool,
    judge: Judge,
}

/// Where a verdict goes: the log line and the runner's observations.
#[derive(Debug, Clone)]
struct Judge {
    case: TlsCase,
    log: Log,
    label: ConnLabel,
    observations: Arc<Observations>,
}

impl Judge {
    fn conclude(&self, outcome: Outcome, hello: Option<&ClientHello>) {
        let (verdict, diagnosis) = judge(self.case, &outcome, hello);
        let offered = hello.map(ClientHello::summary);
        self.log.tls_probe(
            &self.label,
            self.case.name(),
            verdict,
            &diagnosis,
            offered.as_deref(),
        );
        self.observations.record(Observation {
            seq: 0,
            case: self.case,
            conn: self.label.id,
            outcome,
            verdict,
            diagnosis,
            offered,
        });
    }
}

impl TlsProbeConn {
    /// A request arrived: the client accepted the certificate. Judged once, at the first.
    pub(crate) fn requested(&self, method: &http::Method, target: &http::Uri) {
        let Some(pending) = self.take_pending() else {
            return;
        };
        let request = format!(
            "{method} {}",
            super::log::escape(target.to_string().as_bytes(), 100)
        );
        pending.judge.conclude(
            Outcome::Requested {
                version: pending.version,
                client_certificate: pending.client_certificate,
                request,
            },
            self.hello.as_ref().ok(),
        );
    }

    fn take_pending(&self) -> Option<Pending> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl Drop for TlsProbeConn {
    /// Gone without a request: the client closed after the handshake.
    fn drop(&mut self) {
        if let Some(pending) = self.take_pending() {
            pending.judge.conclude(
                Outcome::ClosedAfterHandshake {
                    version: pending.version,
                    client_certificate: pending.client_certificate,
                },
                self.hello.as_ref().ok(),
            );
        }
    }
}

impl TlsProbeListener {
    pub(crate) fn new(
        case: TlsCase,
        config: Arc<rustls::ServerConfig>,
        observations: Arc<Observations>,
    ) -> Self {
        Self {
            case,
            acceptor: TlsAcceptor::from(config),
            observations,
        }
    }

    /// The handshake under `deadline` (cut short by `stop`): a failure is judged and logged
    /// now; a success returns the stream and the probe's facts, to be judged by what follows.
    pub(super) async fn handshake(
        &self,
        stream: TcpStream,
        deadline: tokio::time::Instant,
        stop: &CancellationToken,
        log: &Log,
        label: &ConnLabel,
    ) -> Option<(TlsStream<Recorded<TcpStream>>, Arc<TlsProbeConn>)> {
        let judge = Judge {
            case: self.case,
            log: log.clone(),
            label: *label,
            observations: Arc::clone(&self.observations),
        };
        let accept = self.acceptor.accept(Recorded::new(stream)).into_fallible();
        let result = tokio::select! {
            () = stop.cancelled() => return None,
            result = tokio::time::timeout_at(deadline, accept) => result,
        };
        match result {
            Ok(Ok(mut tls)) => {
                let (io, session) = tls.get_mut();
                let (hello, _) = io.finish();
                let pending = Pending {
                    version: session.protocol_version().map_or_else(
                        || "?".to_owned(),
                        |v| crate::protocol::tls_hello::names::version(u16::from(v)),
                    ),
                    client_certificate: session.peer_certificates().is_some(),
                    judge,
                };
                let probe = TlsProbeConn {
                    case: self.case,
                    hello,
                    pending: Mutex::new(Some(pending)),
                };
                Some((tls, Arc::new(probe)))
            }
            Ok(Err((err, mut io))) => {
                let (hello, first) = io.finish();
                let outcome = match &hello {
                    // Plain HTTP or other bytes on a TLS port: the main port's diagnosis.
                    Err(HelloError::NotHandshake(_)) => {
                        Outcome::ServerRefused(diagnose::explain_tls_failure(&err, &first))
                    }
                    _ => match Outcome::of_error(&err) {
                        Outcome::ClientClosed if first.is_empty() => Outcome::NoHello,
                        outcome => outcome,
                    },
                };
                judge.conclude(outcome, hello.as_ref().ok());
                None
            }
            Err(_) => {
                judge.conclude(Outcome::TimedOut, None);
                None
            }
        }
    }
}

/// The connection's stream, keeping a copy of the first bytes the client sends until they hold
/// its ClientHello (at most [`MAX_RAW_HELLO`]), then nothing more: the handshake's later
/// flights (a client certificate chain) are never copied.
pub(crate) struct Recorded<S> {
    inner: S,
    kept: Vec<u8>,
    /// The ClientHello, once the bytes kept settle it (complete, or never one).
    parsed: Option<Result<ClientHello, HelloError>>,
    /// Parse again once this many bytes are kept: doubling keeps the parsing linear in the
    /// bytes however the client splits them (one byte per read costs no more than one read).
    next_parse: usize,
    /// The handshake is over: nothing more is kept.
    finished: bool,
}

/// The bytes of the start of a connection a diagnosis quotes (plain HTTP on a TLS port).
const QUOTED: usize = 32;

impl<S> Recorded<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            kept: Vec::new(),
            parsed: None,
            next_parse: 5,
            finished: false,
        }
    }

    /// How many bytes may be kept now: up to a whole ClientHello until it is settled, then
    /// only the start a diagnosis quotes.
    fn limit(&self) -> usize {
        match (self.finished, &self.parsed) {
            (true, _) => 0,
            (false, None) => MAX_RAW_HELLO,
            (false, Some(_)) => QUOTED,
        }
    }

    /// Parses what was kept if it may hold more than last time; settles at the bound.
    fn try_parse(&mut self) {
        if self.kept.len() < self.next_parse && self.kept.len() < MAX_RAW_HELLO {
            return;
        }
        match ClientHello::parse(&self.kept) {
            Err(HelloError::Incomplete(_)) if self.kept.len() < MAX_RAW_HELLO => {
                self.next_parse = self.kept.len() * 2;
            }
            settled => {
                self.parsed = Some(settled);
                // Only the quoted start is still needed.
                self.kept.truncate(QUOTED);
                self.kept.shrink_to_fit();
            }
        }
    }

    /// Stops recording: the ClientHello (or why there is none) and the first bytes received.
    fn finish(&mut self) -> (Result<ClientHello, HelloError>, Vec<u8>) {
        self.finished = true;
        let parsed = self
            .parsed
            .take()
            .unwrap_or_else(|| ClientHello::parse(&self.kept));
        let mut first = std::mem::take(&mut self.kept);
        first.truncate(QUOTED);
        (parsed, first)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let room = self.limit().saturating_sub(self.kept.len());
        if room > 0 {
            let this = &mut *self;
            let new = &buf.filled()[before..];
            this.kept.extend_from_slice(&new[..new.len().min(room)]);
            if this.parsed.is_none() && !new.is_empty() {
                this.try_parse();
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::protocol::tls_hello::tests::modern_hello;

    /// Feeds `bytes` through a [`Recorded`] in reads of `step` bytes.
    async fn record(bytes: &[u8], step: usize) -> (Result<ClientHello, HelloError>, Vec<u8>) {
        let mut reader = chunked(bytes, step);
        let mut recorded = Recorded::new(&mut reader);
        let mut sink = vec![0u8; step];
        while matches!(recorded.read(&mut sink).await, Ok(n) if n > 0) {}
        recorded.finish()
    }

    fn chunked(bytes: &[u8], step: usize) -> impl AsyncRead + Unpin + '_ {
        // A reader that returns at most `step` bytes per read.
        struct Chunked<'a>(&'a [u8], usize);
        impl AsyncRead for Chunked<'_> {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let n = self.1.min(self.0.len()).min(buf.remaining());
                let (head, rest) = self.0.split_at(n);
                buf.put_slice(head);
                self.0 = rest;
                Poll::Ready(Ok(()))
            }
        }
        Chunked(bytes, step)
    }

    #[tokio::test]
    async fn the_hello_is_kept_however_it_is_split_and_nothing_after_it() {
        let mut bytes = modern_hello();
        let whole = ClientHello::parse(&bytes);
        assert!(whole.is_ok());
        // The client's next flight, which must not be copied.
        bytes.extend_from_slice(&[23u8; 40_000]);
        for step in [1, 7, 512, 65_536] {
            let (hello, first) = record(&bytes, step).await;
            assert_eq!(hello, whole, "reads of {step}");
            assert_eq!(first, bytes[..QUOTED].to_vec());
        }
    }

    #[tokio::test]
    async fn plain_http_and_silence_are_told_apart() {
        let (hello, first) = record(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 3).await;
        assert_eq!(hello, Err(HelloError::NotHandshake(b'G')));
        assert!(first.starts_with(b"GET / HTTP/1.1"));
        let (hello, first) = record(b"", 1).await;
        assert_eq!(hello, Err(HelloError::Incomplete(0)));
        assert!(first.is_empty());
    }
}
