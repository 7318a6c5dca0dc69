//! One WebSocket connection after the handshake: the [`protocol`](super::protocol) codec over a
//! byte stream, plus pings answered, the keepalive, an optional idle timeout, the shutdown
//! signal, and a close handshake that always ends the same way (close frame, the client's
//! reply or a timeout, then TLS `close_notify` and FIN).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::WsSettings;
use super::deflate::Agreement;
pub use super::protocol::Message;
use super::protocol::{
    Decoder, Encoder, Incoming, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, ProtocolError, Role,
};

pub use super::protocol::code;

/// How long the last step, shutting down the transport, may take.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// How long a session waits for the client's close reply when the server is shutting down.
const SHUTDOWN_CLOSE_WAIT: Duration = Duration::from_secs(2);
/// The read buffer starts this small, so idle connections are cheap: pings, pongs, closes
/// and short messages fit. It grows by [`BUFFER`] once a read leaves less than half of this free.
const IDLE_BUFFER: usize = 512;
/// Growth step of the read buffer while a large message arrives.
const BUFFER: usize = 4 * 1024;
const SHRINK_ABOVE: usize = 64 * 1024;

/// What [`Socket::next_event`] saw.
#[derive(Debug)]
pub enum Event {
    Message(Message),
    End(End),
}

/// Why a connection is ending; [`Socket::finish`] completes the close for each.
#[derive(Debug)]
pub enum End {
    /// The client sent a close frame (with this code, if any); the echo is queued.
    ClientClosed(Option<u16>),
    /// The client broke the protocol: close with the error's code and reason.
    Protocol(ProtocolError),
    /// The transport ended or failed without a close frame.
    Gone,
    /// The server is shutting down: close 1001.
    Shutdown,
    /// No pong within the keepalive timeout: close 1011.
    KeepaliveTimeout,
    /// Nothing from the client for the idle timeout: close 1000 saying so.
    Idle(Duration),
    /// The client stopped reading: a write made no progress for the send timeout. No close
    /// frame can get through, so the connection is dropped.
    SendTimeout(Duration),
}

/// Ping the client every `interval`, expect the pong within `timeout`.
#[derive(Debug)]
struct Keepalive {
    interval: Option<Duration>,
    timeout: Duration,
    next_ping: Instant,
    /// The payload and deadline of the ping in flight.
    awaiting: Option<([u8; 4], Instant)>,
    sent: u32,
}

impl Keepalive {
    fn new(interval: Option<Duration>, timeout: Duration) -> Self {
        Self {
            interval,
            timeout,
            next_ping: Instant::now() + interval.unwrap_or_default(),
            awaiting: None,
            sent: 0,
        }
    }

    /// When something has to happen next: a pong deadline or the next ping.
    fn deadline(&self) -> Option<Instant> {
        self.interval?;
        Some(match self.awaiting {
            Some((_, deadline)) => deadline,
            None => self.next_ping,
        })
    }

    fn on_pong(&mut self, payload: &[u8]) {
        if self
            .awaiting
            .is_some_and(|(expected, _)| expected == payload)
        {
            self.awaiting = None;
        }
    }
}

/// A server-side WebSocket connection.
pub struct Socket<S> {
    io: S,
    read_buf: BytesMut,
    write_buf: BytesMut,
    decoder: Decoder,
    encoder: Encoder,
    stop: CancellationToken,
    keepalive: Keepalive,
    close_timeout: Duration,
    send_timeout: Duration,
    idle_timeout: Option<Duration>,
    last_seen: Instant,
}

impl<S> std::fmt::Debug for Socket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("keepalive", &self.keepalive)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl<S> Socket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Wraps a stream that has just completed the handshake.
    pub fn new(
        io: S,
        deflate: Option<&Agreement>,
        settings: &WsSettings,
        stop: CancellationToken,
    ) -> Self {
        Self {
            io,
            read_buf: BytesMut::with_capacity(IDLE_BUFFER),
            write_buf: BytesMut::new(),
            decoder: Decoder::new(Role::Server, settings.max_message, deflate),
            encoder: Encoder::new(Role::Server, deflate),
            stop,
            keepalive: Keepalive::new(settings.ping_interval, settings.ping_timeout),
            close_timeout: settings.close_timeout,
            send_timeout: settings.send_timeout,
            idle_timeout: None,
            last_seen: Instant::now(),
        }
    }

    /// End the connection when the client sends nothing at all (pings count) for `idle`.
    pub fn set_idle_timeout(&mut self, idle: Option<Duration>) {
        self.idle_timeout = idle;
    }

    /// The next data message, or why the connection is ending. Pings are answered and the
    /// keepalive runs while waiting. Cancel-safe: nothing is lost if the future is dropped.
    pub async fn next_event(&mut self) -> Event {
        loop {
            match self.decoder.decode(&mut self.read_buf) {
                Ok(Some(incoming)) => {
                    match incoming {
                        Incoming::Message(message) => return Event::Message(message),
                        Incoming::Ping(payload) => {
                            self.encoder.control(&mut self.write_buf, OP_PONG, &payload);
                        }
                        Incoming::Pong(payload) => self.keepalive.on_pong(&payload),
                        Incoming::Close(code, payload) => {
                            self.encoder
                                .control(&mut self.write_buf, OP_CLOSE, &payload);
                            return Event::End(End::ClientClosed(code));
                        }
                    }
                    continue;
                }
                Ok(None) => {}
                Err(err) => return Event::End(End::Protocol(err)),
            }
            // Pongs go out before we read more, so a client that pings without reading is
            // slowed down by its own backlog.
            if let Err(end) = self.send_queued().await {
                return Event::End(end);
            }
            let ping_deadline = self.keepalive.deadline();
            let idle_deadline = self.idle_timeout.map(|idle| self.last_seen + idle);
            if self.read_buf.capacity() - self.read_buf.len() < IDLE_BUFFER / 2 {
                self.read_buf.reserve(BUFFER);
            }
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return Event::End(End::Shutdown),
                read = self.io.read_buf(&mut self.read_buf) => match read {
                    Ok(0) | Err(_) => return Event::End(End::Gone),
                    // Any bytes count as activity, even part of a slowly sent message.
                    Ok(_) => self.last_seen = Instant::now(),
                },
                () = sleep_until_opt(idle_deadline) => {
                    if let Some(idle) = self.idle_timeout {
                        return Event::End(End::Idle(idle));
                    }
                }
                () = sleep_until_opt(ping_deadline) => {
                    if self.keepalive.awaiting.is_some() {
                        return Event::End(End::KeepaliveTimeout);
                    }
                    self.queue_ping();
                }
            }
        }
    }

    fn queue_ping(&mut self) {
        self.keepalive.sent = self.keepalive.sent.wrapping_add(1);
        let payload = self.keepalive.sent.to_be_bytes();
        self.encoder.control(&mut self.write_buf, OP_PING, &payload);
        let now = Instant::now();
        self.keepalive.awaiting = Some((payload, now + self.keepalive.timeout));
        if let Some(interval) = self.keepalive.interval {
            self.keepalive.next_ping = now + interval;
        }
    }

    /// Writes out everything queued, giving up after the send timeout: a client that does not
    /// read would otherwise hold its session (and its buffers) forever.
    async fn send_queued(&mut self) -> Result<(), End> {
        // Most writes complete at once; only a blocked one pays for a timer.
        if let Some(done) = self.flush().now_or_never() {
            return done.map_err(|_| End::Gone);
        }
        match tokio::time::timeout(self.send_timeout, self.flush()).await {
            Ok(done) => done.map_err(|_| End::Gone),
            Err(_) => Err(End::SendTimeout(self.send_timeout)),
        }
    }

    /// Writes out everything queued. Cancel-safe: each `write` either happened or not.
    async fn flush(&mut self) -> std::io::Result<()> {
        while !self.write_buf.is_empty() {
            let written = self.io.write(&self.write_buf).await?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            let _ = self.write_buf.split_to(written);
        }
        self.io.flush().await?;
        if self.write_buf.capacity() > SHRINK_ABOVE {
            self.write_buf = BytesMut::new();
        }
        if self.read_buf.is_empty() && self.read_buf.capacity() > SHRINK_ABOVE {
            self.read_buf = BytesMut::with_capacity(IDLE_BUFFER);
        }
        Ok(())
    }

    /// Sends a message.
    ///
    /// # Errors
    /// The transport failed; pass the [`End`] to [`Socket::finish`].
    pub async fn send(&mut self, message: Message) -> Result<(), End> {
        match &message {
            Message::Text(text) => self.encoder.message(&mut self.write_buf, OP_TEXT, text),
            Message::Binary(data) => self.encoder.message(&mut self.write_buf, OP_BINARY, data),
        }
        self.send_queued().await
    }

    /// Sends a text message.
    ///
    /// # Errors
    /// As [`Socket::send`].
    pub async fn send_text(&mut self, text: impl Into<Bytes>) -> Result<(), End> {
        self.send(Message::Text(text.into())).await
    }

    /// Completes the close handshake for `end` and shuts the transport down.
    pub async fn finish(self, end: End) {
        // Boxed: the closing steps (timeouts, the close handshake, the drain) are a large
        // future, and inline they would make every session's future that large all its life.
        Box::pin(self.finish_now(end)).await;
    }

    async fn finish_now(mut self, end: End) {
        match end {
            End::ClientClosed(_) => {
                // The echo is queued; the client has said its last word.
                if bounded(self.flush()).await.is_some() {
                    self.shutdown().await;
                }
            }
            // RFC 6455 §7.1.7: a failed connection is closed at once, without waiting for the
            // client's close frame (it may never come, or already have been the bad frame).
            End::Protocol(err) => self.fail(err.code, &err.reason).await,
            End::Gone => {}
            End::SendTimeout(timeout) => {
                tracing::debug!("WebSocket client read nothing for {timeout:?}; dropped");
            }
            End::Shutdown => {
                // The whole server is waiting on its slowest client here.
                self.close_timeout = self.close_timeout.min(SHUTDOWN_CLOSE_WAIT);
                self.close(code::GOING_AWAY, "server shutting down").await;
            }
            End::Idle(idle) => {
                let reason = format!("no message for {idle:?}");
                self.close(code::NORMAL, &reason).await;
            }
            // The client is unresponsive: say why, but do not wait for a reply.
            End::KeepaliveTimeout => {
                self.fail(code::INTERNAL_ERROR, "keepalive ping timeout")
                    .await;
            }
        }
    }

    /// Server-initiated close: sends `code` and `reason`, waits up to the close timeout for the
    /// client's close frame (discarding anything else), then shuts the transport down.
    pub async fn close(mut self, code: u16, reason: &str) {
        self.encoder.close(&mut self.write_buf, code, reason);
        if bounded(self.flush()).await.is_none_or(|r| r.is_err()) {
            return;
        }
        let reply = async {
            loop {
                match self.decoder.decode(&mut self.read_buf) {
                    Ok(Some(Incoming::Close(..))) | Err(_) => return,
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                }
                self.read_buf.reserve(BUFFER);
                match self.io.read_buf(&mut self.read_buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(self.close_timeout, reply).await;
        self.shutdown().await;
    }

    /// Sends a close frame and closes the connection without waiting for the client's reply.
    async fn fail(mut self, code: u16, reason: &str) {
        self.encoder.close(&mut self.write_buf, code, reason);
        if bounded(self.flush()).await.is_some() {
            self.shutdown().await;
        }
    }

    /// TLS `close_notify` (if TLS) and FIN, then whatever the client still sends is read and
    /// dropped until it closes too (bounded): closing with unread data would send a reset that
    /// can destroy our close frame before the client reads it.
    async fn shutdown(&mut self) {
        let _ = bounded(self.io.shutdown()).await;
        // Into the heap buffer: a stack array here would sit in every session's future, idle
        // or not (it made them 12 KiB instead of 1).
        let drain = async {
            loop {
                self.read_buf.clear();
                self.read_buf.reserve(BUFFER);
                if !matches!(self.io.read_buf(&mut self.read_buf).await, Ok(n) if n > 0) {
                    break;
                }
            }
        };
        let _ = bounded(drain).await;
    }
}

/// Runs `future` for at most [`SHUTDOWN_GRACE`].
async fn bounded<F: std::future::Future>(future: F) -> Option<F::Output> {
    tokio::time::timeout(SHUTDOWN_GRACE, future).await.ok()
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
