//! Connections taken over before HTTP: when the application names a path prefix
//! ([`Handler::raw_prefix`](super::Handler::raw_prefix)), the first bytes of each connection are
//! read to see whether its first request targets it. If so the connection, with the bytes read,
//! goes to [`Handler::run_raw`](super::Handler::run_raw), which may write anything at all (the
//! client probes write what no HTTP library would); if not, hyper gets it with the bytes put
//! back in front ([`Rewind`]).
//!
//! Only servers that name a prefix pay for the look: the others hand the stream to hyper as is.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

use super::log::{ConnLabel, Log};

/// A byte stream of either kind (TCP, TLS, Unix), boxed for the raw handler.
pub(crate) trait RawIo: AsyncRead + AsyncWrite + Unpin + Send + Resettable {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Resettable> RawIo for T {}

/// A stream whose close can be made a reset.
pub(crate) trait Resettable {
    /// Makes dropping the stream send a TCP reset (RST) instead of an orderly close; false where
    /// the transport has no such thing (a Unix socket).
    fn reset_on_close(&self) -> bool {
        false
    }
}

impl Resettable for tokio::net::TcpStream {
    fn reset_on_close(&self) -> bool {
        self.set_zero_linger().is_ok()
    }
}

impl Resettable for tokio::net::UnixStream {}

impl<S: Resettable> Resettable for tokio_rustls::server::TlsStream<S> {
    fn reset_on_close(&self) -> bool {
        self.get_ref().0.reset_on_close()
    }
}

/// A connection handed to the application before any HTTP parsing.
pub(crate) struct RawConnection {
    pub(crate) io: Box<dyn RawIo>,
    /// What the client has sent so far (at least the start of the request line).
    pub(crate) received: BytesMut,
    pub(crate) label: ConnLabel,
    pub(crate) log: Log,
    /// Cancelled when the server shuts down.
    pub(crate) stop: CancellationToken,
    /// How long the client has to send a complete request head (`--header-timeout`).
    pub(crate) header_timeout: Duration,
}

impl std::fmt::Debug for RawConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConnection")
            .field("received", &self.received.len())
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// What the first bytes said.
pub(super) enum Sniffed<S> {
    /// The first request targets the prefix.
    Raw(S, BytesMut),
    /// Anything else, with what was read put back.
    Http(Rewind<S>),
    /// The client left, or sent nothing in time, or the server is stopping.
    Gone,
}

/// Most bytes read before deciding: a method, a space and the prefix fit in far less.
const SNIFF_LIMIT: usize = 64;

/// Reads until the request line shows whether its target starts with `prefix`.
pub(super) async fn sniff<S: AsyncRead + Unpin>(
    mut io: S,
    prefix: &str,
    deadline: tokio::time::Instant,
    stop: &CancellationToken,
) -> Sniffed<S> {
    let mut received = BytesMut::with_capacity(1024);
    loop {
        match decide(&received, prefix.as_bytes()) {
            Some(true) => return Sniffed::Raw(io, received),
            Some(false) => return Sniffed::Http(Rewind::new(received, io)),
            None => {}
        }
        let read = tokio::select! {
            () = stop.cancelled() => return Sniffed::Gone,
            read = tokio::time::timeout_at(deadline, io.read_buf(&mut received)) => read,
        };
        let ended = !matches!(read, Ok(Ok(n)) if n > 0);
        if ended {
            if received.is_empty() {
                return Sniffed::Gone;
            }
            // Whatever there is goes to hyper, which answers it or explains it.
            return Sniffed::Http(Rewind::new(received, io));
        }
    }
}

/// `Some(true)` once `bytes` start with `METHOD SP prefix`, `Some(false)` once they cannot,
/// `None` while they still might. Leading empty lines are skipped, as RFC 9112 §2.2 allows.
fn decide(bytes: &[u8], prefix: &[u8]) -> Option<bool> {
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    let line = &bytes[start..];
    if start > SNIFF_LIMIT {
        return Some(false);
    }
    let Some(space) = line.iter().position(|&b| b == b' ') else {
        let token = line.iter().all(u8::is_ascii_alphabetic);
        return (!token || line.len() > SNIFF_LIMIT).then_some(false);
    };
    let target = &line[space + 1..];
    let shared = target.len().min(prefix.len());
    if target[..shared] != prefix[..shared] {
        return Some(false);
    }
    (target.len() >= prefix.len()).then_some(true)
}

/// Reads the first bytes of a stream that cannot be peeked (a Unix socket) to see whether they
/// start the HTTP/2 connection preface (h2c with prior knowledge), as a TCP peek does: three
/// bytes decide. The bytes read are put back in front. `None` if the client sent nothing
/// before `deadline` or left.
pub(super) async fn sniff_h2_preface<S: AsyncRead + Unpin>(
    mut io: S,
    deadline: tokio::time::Instant,
) -> Option<(bool, Rewind<S>)> {
    use crate::protocol::http2::{PREFACE, opens_with_preface};
    let mut received = BytesMut::with_capacity(PREFACE.len());
    while received.len() < 3 && PREFACE.starts_with(&received) {
        let read = tokio::time::timeout_at(deadline, io.read_buf(&mut received)).await;
        if !matches!(read, Ok(Ok(n)) if n > 0) {
            if received.is_empty() {
                return None;
            }
            break;
        }
    }
    Some((opens_with_preface(&received), Rewind::new(received, io)))
}

/// A stream with bytes already read put back in front of it.
pub(super) struct Rewind<S> {
    prefix: BytesMut,
    inner: S,
}

impl<S> Rewind<S> {
    fn new(prefix: BytesMut, inner: S) -> Self {
        Self { prefix, inner }
    }
}

impl<S: Resettable> Resettable for Rewind<S> {
    fn reset_on_close(&self) -> bool {
        self.inner.reset_on_close()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            if this.prefix.is_empty() {
                // Nothing left to replay: give the buffer back.
                this.prefix = BytesMut::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_line_decides_as_soon_as_it_can() {
        let prefix = b"/probe/";
        assert_eq!(decide(b"", prefix), None);
        assert_eq!(decide(b"GE", prefix), None);
        assert_eq!(decide(b"GET /pro", prefix), None);
        assert_eq!(decide(b"GET /probe/", prefix), Some(true));
        assert_eq!(
            decide(b"\r\nGET /probe/http/x HTTP/1.1", prefix),
            Some(true)
        );
        assert_eq!(decide(b"GET /status HTTP/1.1", prefix), Some(false));
        assert_eq!(decide(b"GET /p", prefix), None);
        assert_eq!(decide(b"GET /x", prefix), Some(false));
        // Not a method: hyper explains it.
        assert_eq!(decide(b"\x16\x03\x01", prefix), Some(false));
        assert_eq!(decide(b"PRI * HTTP/2.0", prefix), Some(false));
        assert_eq!(decide(&[b'A'; 100], prefix), Some(false));
    }

    #[tokio::test]
    async fn what_was_read_is_given_back_in_order() {
        let (mut client, server) = tokio::io::duplex(1024);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"GET /status HTTP/1.1\r\n\r\n")
            .await
            .ok();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let Sniffed::Http(mut rewound) =
            sniff(server, "/probe/", deadline, &CancellationToken::new()).await
        else {
            panic!("not a probe");
        };
        drop(client);
        let mut all = Vec::new();
        rewound.read_to_end(&mut all).await.ok();
        assert_eq!(all, b"GET /status HTTP/1.1\r\n\r\n");
    }

    #[tokio::test]
    async fn a_probe_request_is_handed_over_with_its_bytes() {
        let (mut client, server) = tokio::io::duplex(1024);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"GET /probe/http/x HTTP/1.1\r\n")
            .await
            .ok();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        match sniff(server, "/probe/", deadline, &CancellationToken::new()).await {
            Sniffed::Raw(_, received) => assert!(received.starts_with(b"GET /probe/http/x")),
            _ => panic!("a probe"),
        }
    }
}
