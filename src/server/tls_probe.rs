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
                let hello = ClientHello::parse(&io.finish());
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
                let raw = io.finish();
                let hello = ClientHello::parse(&raw);
                let outcome = match &hello {
                    // Plain HTTP or other bytes on a TLS port: the main port's diagnosis.
                    Err(HelloError::NotHandshake(_)) => Outcome::ServerRefused(
                        diagnose::explain_tls_failure(&err, raw.get(..32).unwrap_or(&raw)),
                    ),
                    _ => match Outcome::of_error(&err) {
                        Outcome::ClientClosed if raw.is_empty() => Outcome::NoHello,
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

/// The connection's stream, keeping a copy of the first bytes the client sends (at most
/// [`MAX_RAW_HELLO`]) until [`Recorded::finish`]: the raw ClientHello.
pub(crate) struct Recorded<S> {
    inner: S,
    kept: Vec<u8>,
    recording: bool,
}

impl<S> Recorded<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            kept: Vec::new(),
            recording: true,
        }
    }

    /// Stops recording and hands over what was kept.
    fn finish(&mut self) -> Vec<u8> {
        self.recording = false;
        std::mem::take(&mut self.kept)
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
        if self.recording {
            let room = MAX_RAW_HELLO.saturating_sub(self.kept.len());
            let new = &buf.filled()[before..];
            let take = new.len().min(room);
            let this = &mut *self;
            this.kept.extend_from_slice(&new[..take]);
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
