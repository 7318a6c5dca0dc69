//! One WebSocket connection after its handshake, in either role: the
//! [`codec`](crate::protocol::ws::codec) over a byte stream, with pings answered, an optional
//! keepalive and idle timeout, a send timeout, the shutdown signal, and a close handshake that
//! always ends the same way (close frame, the peer's reply or a timeout, then TLS
//! `close_notify` and FIN, in the order RFC 6455 §7.1.1 gives each role).
//!
//! The server's sessions and `duplex client` both wrap [`WebSocket`].

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::FutureExt as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::protocol::ws::{
    Agreement, CloseCode, CloseFrame, Decoder, Encoder, Inbound, Message, OpCode, ProtocolError,
    Role, Utf8Bytes,
};

/// How long a session waits for the peer's close reply when the server is shutting down.
const SHUTDOWN_CLOSE_WAIT: Duration = Duration::from_secs(2);
/// The read buffer starts this small, so idle connections are cheap: pings, pongs, closes
/// and short messages fit. It grows by [`BUFFER`] once a read leaves less than half of this free.
const IDLE_BUFFER: usize = 512;
/// Growth step of the read buffer while a large message arrives.
const BUFFER: usize = 4 * 1024;
const SHRINK_ABOVE: usize = 64 * 1024;

/// Timers and limits of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) role: Role,
    /// Largest accepted message in bytes (after decompression); bigger ones fail with 1009.
    pub(crate) max_message: usize,
    /// Ping the peer this often (`None`: never).
    pub(crate) ping_interval: Option<Duration>,
    /// Fail with 1011 when a ping is not answered within this.
    pub(crate) ping_timeout: Duration,
    /// How long a close we start waits for the peer's close frame.
    pub(crate) close_timeout: Duration,
    /// A peer that takes nothing from the socket for this long is dropped (`None`: wait).
    pub(crate) send_timeout: Option<Duration>,
}

/// Why a connection is ending; [`WebSocket::finish`] completes the close for each.
#[derive(Debug)]
pub(crate) enum End {
    /// The peer sent a close frame; the echo is queued.
    PeerClosed(CloseFrame),
    /// The peer broke the protocol: close with the error's code and reason.
    Protocol(ProtocolError),
    /// The transport ended (`None`) or failed without a close frame.
    Gone(Option<io::Error>),
    /// The server is shutting down: close 1001.
    Shutdown,
    /// No pong within the keepalive timeout: close 1011.
    KeepaliveTimeout,
    /// Nothing from the peer for the idle timeout: close 1000 saying so.
    Idle(Duration),
    /// The peer stopped reading: a write made no progress for the send timeout. No close
    /// frame can get through, so the connection is dropped.
    SendTimeout(Duration),
    /// Our close frame went out but the peer's did not come back within the close timeout.
    CloseTimeout(Duration),
}

/// Ping the peer every `interval`, expect the pong within `timeout`.
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

/// An open WebSocket connection over `S`.
pub(crate) struct WebSocket<S> {
    io: S,
    role: Role,
    read_buf: BytesMut,
    write_buf: BytesMut,
    decoder: Decoder,
    encoder: Encoder,
    stop: CancellationToken,
    keepalive: Keepalive,
    close_timeout: Duration,
    send_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    last_seen: Instant,
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.role)
            .field("keepalive", &self.keepalive)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Wraps a stream that has just completed the handshake. `stop` ends the connection with
    /// [`End::Shutdown`] when cancelled.
    pub(crate) fn new(
        io: S,
        config: &Config,
        deflate: Option<&Agreement>,
        stop: CancellationToken,
    ) -> Self {
        Self {
            io,
            role: config.role,
            read_buf: BytesMut::with_capacity(IDLE_BUFFER),
            write_buf: BytesMut::new(),
            decoder: Decoder::new(config.role, config.max_message, deflate),
            encoder: Encoder::new(config.role, deflate),
            stop,
            keepalive: Keepalive::new(config.ping_interval, config.ping_timeout),
            close_timeout: config.close_timeout,
            send_timeout: config.send_timeout,
            idle_timeout: None,
            last_seen: Instant::now(),
        }
    }

    /// End the connection when the peer sends nothing at all (pings count) for `idle`.
    pub(crate) fn set_idle_timeout(&mut self, idle: Option<Duration>) {
        self.idle_timeout = idle;
    }

    /// The next data message, or why the connection is ending. Pings are answered and the
    /// keepalive runs while waiting. Cancel-safe: nothing is lost if the future is dropped.
    ///
    /// # Errors
    /// Why the connection is ending; pass it to [`WebSocket::finish`].
    pub(crate) async fn recv(&mut self) -> Result<Message, End> {
        loop {
            match self.decoder.decode(&mut self.read_buf) {
                Ok(Some(Inbound::Message(message))) => return Ok(message),
                Ok(Some(Inbound::Ping(payload))) => {
                    self.encoder
                        .control(&mut self.write_buf, OpCode::Pong, &payload);
                    continue;
                }
                Ok(Some(Inbound::Pong(payload))) => {
                    self.keepalive.on_pong(&payload);
                    continue;
                }
                Ok(Some(Inbound::Close(frame))) => {
                    self.encoder.close_frame(&mut self.write_buf, &frame);
                    return Err(End::PeerClosed(frame));
                }
                Ok(None) => {}
                Err(err) => return Err(End::Protocol(err)),
            }
            // Pongs go out before we read more, so a peer that pings without reading is
            // slowed down by its own backlog.
            self.send_queued().await?;
            let ping_deadline = self.keepalive.deadline();
            let idle_deadline = self.idle_timeout.map(|idle| self.last_seen + idle);
            if self.read_buf.capacity() - self.read_buf.len() < IDLE_BUFFER / 2 {
                self.read_buf.reserve(BUFFER);
            }
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return Err(End::Shutdown),
                read = self.io.read_buf(&mut self.read_buf) => match read {
                    Ok(0) => return Err(End::Gone(None)),
                    Err(err) => return Err(End::Gone(Some(err))),
                    // Any bytes count as activity, even part of a slowly sent message.
                    Ok(_) => self.last_seen = Instant::now(),
                },
                () = sleep_until_opt(idle_deadline) => {
                    if let Some(idle) = self.idle_timeout {
                        return Err(End::Idle(idle));
                    }
                }
                () = sleep_until_opt(ping_deadline) => {
                    if self.keepalive.awaiting.is_some() {
                        return Err(End::KeepaliveTimeout);
                    }
                    self.queue_ping();
                }
            }
        }
    }

    fn queue_ping(&mut self) {
        self.keepalive.sent = self.keepalive.sent.wrapping_add(1);
        let payload = self.keepalive.sent.to_be_bytes();
        self.encoder
            .control(&mut self.write_buf, OpCode::Ping, &payload);
        let now = Instant::now();
        self.keepalive.awaiting = Some((payload, now + self.keepalive.timeout));
        if let Some(interval) = self.keepalive.interval {
            self.keepalive.next_ping = now + interval;
        }
    }

    /// Sends a message. Not cancel-safe: a dropped call leaves the frame queued, and it goes out
    /// with the next write, so do not retry it.
    ///
    /// # Errors
    /// The transport failed; pass the [`End`] to [`WebSocket::finish`].
    pub(crate) async fn send(&mut self, message: &Message) -> Result<(), End> {
        self.encoder.message(&mut self.write_buf, message);
        self.send_queued().await
    }

    /// Sends a text message.
    ///
    /// # Errors
    /// As [`WebSocket::send`].
    pub(crate) async fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), End> {
        self.send(&Message::Text(text.into())).await
    }

    /// Writes out everything queued, giving up after the send timeout: a peer that does not
    /// read would otherwise hold the connection (and its buffers) forever.
    async fn send_queued(&mut self) -> Result<(), End> {
        // Most writes complete at once; only a blocked one pays for a timer.
        if let Some(done) = self.flush().now_or_never() {
            return done.map_err(|err| End::Gone(Some(err)));
        }
        let Some(limit) = self.send_timeout else {
            return self.flush().await.map_err(|err| End::Gone(Some(err)));
        };
        match tokio::time::timeout(limit, self.flush()).await {
            Ok(done) => done.map_err(|err| End::Gone(Some(err))),
            Err(_) => Err(End::SendTimeout(limit)),
        }
    }

    /// Writes out everything queued. Cancel-safe: each `write` either happened or not, so a
    /// frame is never cut in half by a dropped call.
    async fn flush(&mut self) -> io::Result<()> {
        while !self.write_buf.is_empty() {
            let written = self.io.write(&self.write_buf).await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
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

    /// Completes the close handshake for `end` and shuts the transport down.
    pub(crate) async fn finish(mut self, end: End) {
        self.complete(&end).await;
    }

    /// [`WebSocket::finish`] for a caller that keeps the value.
    pub(crate) async fn complete(&mut self, end: &End) {
        // Boxed: the closing steps (timeouts, the close handshake, the drain) are a large
        // future, and inline they would make every session's future that large all its life.
        Box::pin(self.complete_now(end)).await;
    }

    async fn complete_now(&mut self, end: &End) {
        match end {
            End::PeerClosed(_) => {
                // The echo is queued; the peer has said its last word.
                if bounded(self.grace(), self.flush()).await.is_some() {
                    self.close_transport().await;
                }
            }
            // RFC 6455 §7.1.7: a failed connection is closed at once, without waiting for the
            // peer's close frame (it may never come, or already have been the bad frame).
            End::Protocol(err) => self.fail(err.code, &err.reason).await,
            End::Gone(_) | End::CloseTimeout(_) => {}
            End::SendTimeout(timeout) => {
                tracing::debug!("WebSocket peer read nothing for {timeout:?}; dropped");
            }
            End::Shutdown => {
                // The whole server is waiting on its slowest client here.
                self.close_timeout = self.close_timeout.min(SHUTDOWN_CLOSE_WAIT);
                let _ = self
                    .close_now(CloseCode::GOING_AWAY, "server shutting down")
                    .await;
            }
            End::Idle(idle) => {
                let reason = format!("no message for {idle:?}");
                let _ = self.close_now(CloseCode::NORMAL, &reason).await;
            }
            // The peer is unresponsive: say why, but do not wait for a reply.
            End::KeepaliveTimeout => {
                self.fail(CloseCode::INTERNAL_ERROR, "keepalive ping timeout")
                    .await;
            }
        }
    }

    /// Starts the close handshake: sends `code` and `reason`, discards anything else until the
    /// peer's close frame (within the close timeout), shuts the transport down, and returns
    /// that frame.
    ///
    /// # Errors
    /// Why no close frame came back.
    pub(crate) async fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseFrame, End> {
        Box::pin(self.close_now(code, reason)).await
    }

    async fn close_now(&mut self, code: CloseCode, reason: &str) -> Result<CloseFrame, End> {
        self.encoder.close(&mut self.write_buf, code, reason);
        let grace = self.grace();
        match bounded(grace, self.flush()).await {
            Some(Ok(())) => {}
            Some(Err(err)) => return Err(End::Gone(Some(err))),
            None => return Err(End::SendTimeout(grace)),
        }
        let close_timeout = self.close_timeout;
        let reply = async {
            loop {
                match self.decoder.decode(&mut self.read_buf) {
                    Ok(Some(Inbound::Close(frame))) => return Ok(frame),
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                    Err(err) => return Err(End::Protocol(err)),
                }
                self.read_buf.reserve(BUFFER);
                match self.io.read_buf(&mut self.read_buf).await {
                    Ok(0) => return Err(End::Gone(None)),
                    Err(err) => return Err(End::Gone(Some(err))),
                    Ok(_) => {}
                }
            }
        };
        let reply = tokio::time::timeout(close_timeout, reply)
            .await
            .unwrap_or(Err(End::CloseTimeout(close_timeout)));
        self.close_transport().await;
        reply
    }

    /// Sends a close frame and closes the connection without waiting for the peer's reply.
    async fn fail(&mut self, code: CloseCode, reason: &str) {
        self.encoder.close(&mut self.write_buf, code, reason);
        if bounded(self.grace(), self.flush()).await.is_some() {
            self.close_transport().await;
        }
    }

    /// Closes TCP (after TLS `close_notify`) in the order RFC 6455 §7.1.1 gives each role: the
    /// server first, then it reads and drops whatever the client still sends until the client
    /// closes too (closing with unread data would send a reset that can destroy our close frame
    /// before the client reads it); the client waits for the server's FIN first. Bounded.
    async fn close_transport(&mut self) {
        match self.role {
            Role::Server => {
                let _ = bounded(self.grace(), self.io.shutdown()).await;
                self.drain().await;
            }
            Role::Client => {
                self.drain().await;
                let _ = bounded(self.grace(), self.io.shutdown()).await;
            }
        }
    }

    /// Reads and drops until EOF (bounded).
    async fn drain(&mut self) {
        let grace = self.grace();
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
        let _ = tokio::time::timeout(grace, drain).await;
    }

    /// How long each last step of a close (a flush, the TLS shutdown, the drain) may take. The
    /// client waits longer: it waits for the server's FIN.
    fn grace(&self) -> Duration {
        match self.role {
            Role::Server => Duration::from_secs(1),
            Role::Client => Duration::from_secs(2),
        }
    }
}

/// Runs `future` for at most `limit`.
async fn bounded<F: std::future::Future>(limit: Duration, future: F) -> Option<F::Output> {
    tokio::time::timeout(limit, future).await.ok()
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    //! Both roles over an in-memory stream, on tokio's paused clock: every timer fires at its
    //! exact virtual time, and no test waits in real time.

    use super::*;
    use tokio::io::DuplexStream;

    fn config(role: Role) -> Config {
        Config {
            role,
            max_message: 1 << 20,
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(10),
            send_timeout: Some(Duration::from_secs(20)),
        }
    }

    fn pair(buffer: usize) -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
        let (server, client) = tokio::io::duplex(buffer);
        let client_config = Config {
            ping_interval: None,
            ..config(Role::Client)
        };
        (
            WebSocket::new(
                server,
                &config(Role::Server),
                None,
                CancellationToken::new(),
            ),
            WebSocket::new(client, &client_config, None, CancellationToken::new()),
        )
    }

    /// A server-role connection and the raw client end of its stream.
    fn server_and_raw_peer() -> (WebSocket<DuplexStream>, DuplexStream) {
        let (server_io, peer) = tokio::io::duplex(4096);
        let server = WebSocket::new(
            server_io,
            &config(Role::Server),
            None,
            CancellationToken::new(),
        );
        (server, peer)
    }

    /// What a raw peer reads: frames decoded in the client role until one yields something.
    async fn next_frame(
        io: &mut DuplexStream,
        decoder: &mut Decoder,
        buf: &mut BytesMut,
    ) -> Inbound {
        loop {
            match decoder.decode(buf) {
                Ok(Some(inbound)) => return inbound,
                Ok(None) => {}
                Err(err) => panic!("bad frame from the server: {err}"),
            }
            let n = io.read_buf(buf).await.unwrap_or(0);
            assert!(n > 0, "EOF before a frame");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_ping_fails_the_connection_with_1011_at_its_deadline() {
        let (mut server, mut peer) = server_and_raw_peer();
        let start = Instant::now();
        let end = server.recv().await;
        assert!(matches!(end, Err(End::KeepaliveTimeout)), "{end:?}");
        // A ping at 20 s, no pong by 40 s.
        assert_eq!(start.elapsed(), Duration::from_secs(40));
        tokio::spawn(server.finish(End::KeepaliveTimeout));
        let (mut decoder, mut buf) = (Decoder::new(Role::Client, 1024, None), BytesMut::new());
        let ping = next_frame(&mut peer, &mut decoder, &mut buf).await;
        assert!(
            matches!(ping, Inbound::Ping(ref p) if p.len() == 4),
            "{ping:?}"
        );
        let close = next_frame(&mut peer, &mut decoder, &mut buf).await;
        assert_eq!(
            close,
            Inbound::Close(CloseFrame {
                code: Some(CloseCode::INTERNAL_ERROR),
                reason: "keepalive ping timeout".to_owned()
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_answers_pings_stays_connected() {
        let (mut server, mut client) = pair(4096);
        // The client role answers pings inside `recv`.
        let client_task = tokio::spawn(async move { client.recv().await.map(|_| ()) });
        let waited = tokio::time::timeout(Duration::from_secs(200), server.recv()).await;
        assert!(
            waited.is_err(),
            "ten pings later the connection is still open"
        );
        client_task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_is_closed_with_1000_after_the_idle_timeout() {
        let (mut server, mut client) = pair(4096);
        server.set_idle_timeout(Some(Duration::from_secs(30)));
        let start = Instant::now();
        let end = server.recv().await;
        assert!(matches!(end, Err(End::Idle(_))), "{end:?}");
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        let server_task = tokio::spawn(server.finish(end.err().unwrap_or(End::Gone(None))));
        match client.recv().await {
            Err(End::PeerClosed(frame)) => assert_eq!(
                frame,
                CloseFrame {
                    code: Some(CloseCode::NORMAL),
                    reason: "no message for 30s".to_owned()
                }
            ),
            other => panic!("expected the server's close, got {other:?}"),
        }
        client
            .complete(&End::PeerClosed(CloseFrame {
                code: None,
                reason: String::new(),
            }))
            .await;
        assert!(server_task.await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_close_is_echoed_and_both_ends_finish() {
        let (mut server, mut client) = pair(4096);
        let server_task = tokio::spawn(async move {
            let end = server.recv().await;
            let frame = match &end {
                Err(End::PeerClosed(frame)) => frame.clone(),
                other => panic!("expected the client's close, got {other:?}"),
            };
            if let Err(end) = end {
                server.finish(end).await;
            }
            frame
        });
        let start = Instant::now();
        let reply = client.close(CloseCode::NORMAL, "bye").await;
        let expected = CloseFrame {
            code: Some(CloseCode::NORMAL),
            reason: "bye".to_owned(),
        };
        assert_eq!(reply.ok(), Some(expected.clone()));
        assert_eq!(server_task.await.ok(), Some(expected));
        // The server closed TCP first, so nobody waited for a timer.
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_stops_reading_is_dropped_after_the_send_timeout() {
        let (mut server, _client) = pair(64);
        let start = Instant::now();
        let sent = server.send(&Message::Binary(vec![0u8; 4096].into())).await;
        assert!(matches!(sent, Err(End::SendTimeout(_))), "{sent:?}");
        assert_eq!(start.elapsed(), Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn a_close_without_a_reply_gives_up_after_the_close_timeout() {
        let (mut server, _peer) = server_and_raw_peer();
        let start = Instant::now();
        let reply = server.close(CloseCode::GOING_AWAY, "bye").await;
        assert!(matches!(reply, Err(End::CloseTimeout(_))), "{reply:?}");
        // The close timeout, then at most the bounded drain of a peer that never closes.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_secs(10) && elapsed <= Duration::from_secs(12),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_protocol_violation_fails_the_connection_with_its_code() {
        let (mut server, mut peer) = server_and_raw_peer();
        // An unmasked text frame from a client (RFC 6455 §5.1).
        let _ = peer.write_all(&[0x81, 0x02, b'h', b'i']).await;
        let end = server.recv().await;
        assert!(
            matches!(&end, Err(End::Protocol(err)) if err.code == CloseCode::PROTOCOL_ERROR),
            "{end:?}"
        );
        let task = tokio::spawn(server.finish(end.err().unwrap_or(End::Gone(None))));
        let (mut decoder, mut buf) = (Decoder::new(Role::Client, 1024, None), BytesMut::new());
        let close = next_frame(&mut peer, &mut decoder, &mut buf).await;
        assert_eq!(
            close,
            Inbound::Close(CloseFrame {
                code: Some(CloseCode::PROTOCOL_ERROR),
                reason: "incorrect masking".to_owned()
            })
        );
        drop(peer);
        assert!(task.await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_client_role_answers_pings_and_masks_its_frames() {
        let (mut server, mut client) = pair(4096);
        let client_task = tokio::spawn(async move {
            let sent = client.send_text("ping me").await;
            let received = client.recv().await;
            (sent.is_ok(), received.ok())
        });
        // A server decoder accepts only masked frames, so this proves the client masks.
        let message = server.recv().await;
        assert_eq!(message.ok(), Some(Message::Text("ping me".into())));
        let _ = server.send(&Message::Binary(vec![7u8; 3].into())).await;
        assert_eq!(
            client_task.await.ok(),
            Some((true, Some(Message::Binary(vec![7u8; 3].into()))))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_stop_signal_ends_recv_with_shutdown() {
        let (server_io, _peer) = tokio::io::duplex(4096);
        let stop = CancellationToken::new();
        let mut server = WebSocket::new(server_io, &config(Role::Server), None, stop.clone());
        stop.cancel();
        assert!(matches!(server.recv().await, Err(End::Shutdown)));
    }
}
