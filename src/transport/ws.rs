//! One WebSocket connection after its handshake, in either role: the
//! [`codec`](crate::protocol::ws::codec) over a byte stream, with pings answered, an optional
//! keepalive and idle timeout, a send timeout, the shutdown signal, and a close handshake that
//! always ends the same way (close frame, the peer's reply or a timeout, then TLS
//! `close_notify` and FIN, in the order RFC 6455 §7.1.1 gives each role).
//!
//! The server's sessions and `duplex client` both wrap [`WebSocket`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::{Buf as _, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Sleep};
use tokio_util::io::poll_read_buf;

use super::stop::{Stop, StopWait};
use super::timer::{Timers, poll_sleep};
use crate::protocol::ws::{
    Agreement, CloseCode, CloseFrame, Decoder, Encoder, FrameTrace, Inbound, Message, OpCode,
    ProtocolError, Role, Utf8Bytes,
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
    /// Where the ping and idle timers run.
    pub(crate) timers: Timers,
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

/// Which end of the connection did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Local,
    Peer,
}

/// How a connection went, handed to its [`Observer`] when the connection is dropped.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    /// Who sent the first close frame, with its code and reason.
    pub(crate) closed_by: Option<Side>,
    pub(crate) code: Option<CloseCode>,
    pub(crate) reason: String,
    /// How it ended, in words.
    pub(crate) how: String,
    /// The peer's protocol violation that failed the connection, and the number of the frame
    /// (counted from 1 over every frame received) it was found in.
    pub(crate) violation: Option<(ProtocolError, u64)>,
    /// Things the peer did that a stricter implementation would not accept, with their rules.
    pub(crate) notes: Vec<String>,
    /// Why the application refused what the peer sent, when it closed for that reason.
    pub(crate) refusal: Option<String>,
    pub(crate) messages_in: u64,
    pub(crate) bytes_in: u64,
    pub(crate) messages_out: u64,
    pub(crate) bytes_out: u64,
}

/// Watches one connection: sees every frame when it traces, and is told how the connection
/// went when it is dropped.
pub(crate) trait Observer: Send + Sync {
    /// Whether to decode every frame for [`Observer::frame`] (it costs a copy of each header
    /// and payload preview).
    fn traces(&self) -> bool;
    /// A frame as it crossed the wire: `inbound` from the peer, else ours.
    fn frame(&self, inbound: bool, frame: &FrameTrace);
    /// A whole message (reassembled and inflated) as the application got or gave it; only
    /// when tracing.
    fn message(&self, inbound: bool, message: &Message);
    /// Frames that went by without a trace (the codec's buffer was full).
    fn frames_untraced(&self, count: u64);
    fn ended(&self, report: &Report);
}

/// Most notes a report keeps; a peer that keeps doing something odd is noted once per kind.
const MAX_NOTES: usize = 32;

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

#[cfg(test)]
impl Config {
    /// The original's timers (ping every 20 s, pong within 20 s, 10 s close and 20 s send
    /// timeouts), 1 MiB messages, timers on the caller's runtime.
    pub(crate) fn for_tests(role: Role) -> Self {
        Self {
            role,
            max_message: 1 << 20,
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(10),
            send_timeout: Some(Duration::from_secs(20)),
            timers: Timers::default(),
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
    /// Filed with the server's stop signal once, not on every `recv`.
    stop: StopWait,
    keepalive: Keepalive,
    close_timeout: Duration,
    send_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    /// When the peer last sent a byte; kept only with an idle timeout.
    last_seen: Instant,
    recv_timer: RecvTimer,
    /// The observer and what it is told; boxed, so a connection pays one pointer for it.
    watch: Option<Box<Watch>>,
    /// The observer traces frames (tested before reaching into `watch`, several times a
    /// message).
    traces: bool,
    /// Bytes went to `io` and its flush has not completed (a TLS stream may hold them).
    unflushed: bool,
}

/// An observed connection's bookkeeping.
#[derive(Default)]
struct Watch {
    observer: Option<std::sync::Arc<dyn Observer>>,
    tracing: bool,
    counts: Counts,
    report: Report,
}

/// Messages and payload bytes in each direction.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    messages_in: u64,
    bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
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
    pub(crate) fn new(io: S, config: &Config, deflate: Option<&Agreement>, stop: &Stop) -> Self {
        Self {
            io,
            role: config.role,
            read_buf: BytesMut::with_capacity(IDLE_BUFFER),
            write_buf: BytesMut::new(),
            decoder: Decoder::new(config.role, config.max_message, deflate),
            encoder: Encoder::new(config.role, deflate),
            stop: stop.wait(),
            keepalive: Keepalive::new(config.ping_interval, config.ping_timeout),
            close_timeout: config.close_timeout,
            send_timeout: config.send_timeout,
            idle_timeout: None,
            last_seen: Instant::now(),
            recv_timer: RecvTimer::new(config.timers),
            watch: None,
            traces: false,
            unflushed: false,
        }
    }

    /// Bytes the peer sent before the stream was handed over (read past the handshake); they
    /// come before anything read from the stream. Taken, not borrowed: they are copied, and
    /// hyper's are a view of its whole read buffer (8 KiB, however few they are), which a
    /// caller's variable would keep for the whole session (4 KiB more RSS per `/ws/stream`
    /// subscriber, measured).
    pub(crate) fn received_before(&mut self, bytes: Bytes) {
        self.read_buf.extend_from_slice(&bytes);
    }

    /// The zlib level of the messages this side compresses from now on (see
    /// [`Encoder::set_compression_level`]).
    pub(crate) fn set_compression_level(&mut self, level: u32) {
        self.encoder.set_compression_level(level);
    }

    /// Tells `observer` how the connection went when it is dropped (and shows it every frame,
    /// if it traces).
    pub(crate) fn set_observer(&mut self, observer: std::sync::Arc<dyn Observer>) {
        let traces = observer.traces();
        self.decoder.set_trace(traces);
        self.encoder.set_trace(traces);
        let watch = self.watch.get_or_insert_with(Box::default);
        watch.tracing = traces;
        watch.observer = Some(observer);
        self.traces = traces;
    }

    /// The report of how the connection ends, made on first use.
    fn ending(&mut self) -> &mut Report {
        &mut self.watch.get_or_insert_with(Box::default).report
    }

    /// Records why the application is about to refuse what the peer sent (for the log; the
    /// close frame carries its own, shorter reason).
    pub(crate) fn explain_refusal(&mut self, why: impl Into<String>) {
        self.ending().refusal = Some(why.into());
    }

    /// Notes the first close frame of the connection.
    fn closing(&mut self, side: Side, code: Option<CloseCode>, reason: &str) {
        let report = self.ending();
        if report.closed_by.is_none() {
            report.closed_by = Some(side);
            report.code = code;
            reason.clone_into(&mut report.reason);
        }
    }

    /// End the connection when the peer sends nothing at all (pings count) for `idle`.
    pub(crate) fn set_idle_timeout(&mut self, idle: Option<Duration>) {
        self.idle_timeout = idle;
        self.last_seen = Instant::now();
    }

    /// The next data message, or why the connection is ending. Pings are answered and the
    /// keepalive runs while waiting. Cancel-safe: nothing is lost if the future is dropped.
    ///
    /// # Errors
    /// Why the connection is ending; pass it to [`WebSocket::finish`].
    pub(crate) async fn recv(&mut self) -> Result<Message, End> {
        loop {
            // Every other turn finds the buffer empty (the last read was one whole message):
            // nothing to decode, and no call into the decoder.
            let decoded = if self.read_buf.is_empty() {
                Ok(None)
            } else {
                self.decoder.decode(&mut self.read_buf)
            };
            self.show_frames();
            match decoded {
                Ok(Some(Inbound::Message(message))) => {
                    if let Some(watch) = self.watch.as_mut() {
                        watch.counts.messages_in += 1;
                        watch.counts.bytes_in += message.as_bytes().len() as u64;
                        if let (true, Some(observer)) = (watch.tracing, &watch.observer) {
                            observer.message(true, &message);
                        }
                    }
                    return Ok(message);
                }
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
                    self.closing(Side::Peer, frame.code, &frame.reason);
                    self.encoder.close_frame(&mut self.write_buf, &frame);
                    return Err(End::PeerClosed(frame));
                }
                Ok(None) => {}
                Err(err) => return Err(End::Protocol(err)),
            }
            // Pongs go out before we read more, so a peer that pings without reading is
            // slowed down by its own backlog. (A send flushes what it wrote, so only a queue
            // or a flush cut short by a dropped call is left to do.)
            if !self.write_buf.is_empty() || self.unflushed {
                self.send_queued().await?;
            }
            let ping_deadline = self.keepalive.deadline();
            let idle_deadline = self.idle_timeout.map(|idle| self.last_seen + idle);
            if self.read_buf.capacity() - self.read_buf.len() < IDLE_BUFFER / 2 {
                self.read_buf.reserve(BUFFER);
            }
            let timed = self.recv_timer.arm(earliest(idle_deadline, ping_deadline));
            // What a receive waits for: a `select!` written out (the macro's bookkeeping and
            // the read future cost about 100 instructions per message, callgrind). The stop
            // comes first, so a peer that never stops sending cannot hold off a shutdown; its
            // waker is filed only when the read has to wait.
            let woke = std::future::poll_fn(|cx| {
                if self.stop.is_stopped() {
                    return Poll::Ready(Woke::Stop);
                }
                if let Poll::Ready(read) =
                    poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read_buf)
                {
                    return Poll::Ready(Woke::Read(read));
                }
                if self.stop.poll_stopped(cx).is_ready() {
                    return Poll::Ready(Woke::Stop);
                }
                if timed && self.recv_timer.poll_fired(cx).is_ready() {
                    return Poll::Ready(Woke::Timer);
                }
                Poll::Pending
            })
            .await;
            match woke {
                Woke::Stop => return Err(End::Shutdown),
                Woke::Read(Ok(0)) => return Err(End::Gone(None)),
                Woke::Read(Err(err)) => return Err(End::Gone(Some(err))),
                // Any bytes count as activity, even part of a slowly sent message.
                Woke::Read(Ok(_)) => {
                    if self.idle_timeout.is_some() {
                        self.last_seen = Instant::now();
                    }
                }
                Woke::Timer => {
                    self.recv_timer.armed = false;
                    // The timer may be older than the deadlines (activity pushed them back):
                    // then nothing is due, and the next turn re-arms it.
                    let now = Instant::now();
                    if let (Some(idle), Some(deadline)) = (self.idle_timeout, idle_deadline)
                        && now >= deadline
                    {
                        return Err(End::Idle(idle));
                    }
                    if ping_deadline.is_some_and(|deadline| now >= deadline) {
                        if self.keepalive.awaiting.is_some() {
                            return Err(End::KeepaliveTimeout);
                        }
                        self.queue_ping();
                    }
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
        if let Some(watch) = self.watch.as_mut() {
            watch.counts.messages_out += 1;
            watch.counts.bytes_out += message.as_bytes().len() as u64;
            if let (true, Some(observer)) = (watch.tracing, &watch.observer) {
                observer.message(false, message);
            }
        }
        self.encoder.message(&mut self.write_buf, message);
        // As `send_queued`, with the attempt made here: a second future awaited for every
        // message cost about 30 instructions (callgrind).
        match self.write_now() {
            Some(done) => done,
            None => self.wait_written().await,
        }
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
        match self.write_now() {
            Some(done) => done,
            None => self.wait_written().await,
        }
    }

    /// Writes out what is queued if the stream takes it now (`None`: it has to wait). Most
    /// writes complete at once; only a blocked one pays for a timer, in
    /// [`WebSocket::wait_written`] (and the poll without a task costs nothing more: the wait
    /// polls again with its own).
    fn write_now(&mut self) -> Option<Result<(), End>> {
        self.show_frames();
        match self.poll_write_out(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(done) => Some(done.map_err(|err| End::Gone(Some(err)))),
            Poll::Pending => None,
        }
    }

    /// The rest of [`WebSocket::send_queued`] once the stream has made it wait.
    async fn wait_written(&mut self) -> Result<(), End> {
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
        self.show_frames();
        std::future::poll_fn(|cx| self.poll_write_out(cx)).await
    }

    /// [`WebSocket::flush`] as a poll: hand-written, it costs a fraction of the `write` and
    /// `flush` futures (callgrind).
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.write_buf.is_empty() {
            self.unflushed = true;
        }
        while !self.write_buf.is_empty() {
            let written = ready!(Pin::new(&mut self.io).poll_write(cx, &self.write_buf))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            // Not `split_to`: that turns the buffer into a shared one (an allocation) only
            // to drop the part split off. All written (nearly always), the buffer is emptied
            // where it stands: advanced past its end, it would have no room left, and the next
            // frame's `reserve` would move it back (about 50 instructions per message).
            if written == self.write_buf.len() {
                self.write_buf.clear();
            } else {
                self.write_buf.advance(written);
            }
        }
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        self.unflushed = false;
        if self.write_buf.capacity() > SHRINK_ABOVE {
            self.write_buf = BytesMut::new();
        }
        if self.read_buf.is_empty() && self.read_buf.capacity() > SHRINK_ABOVE {
            self.read_buf = BytesMut::with_capacity(IDLE_BUFFER);
        }
        Poll::Ready(Ok(()))
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
        self.ending().how = describe(end);
        match end {
            End::PeerClosed(_) => {
                // The echo is queued; the peer has said its last word.
                if bounded(self.grace(), self.flush()).await.is_some() {
                    self.close_transport().await;
                }
            }
            // RFC 6455 §7.1.7: a failed connection is closed at once, without waiting for the
            // peer's close frame (it may never come, or already have been the bad frame).
            End::Protocol(err) => {
                self.ending().violation = Some((err.clone(), err.frame));
                self.fail(err.code, &err.reason).await;
            }
            End::Gone(_) => {
                let report = self.ending();
                if report.closed_by.is_none() {
                    report.notes.push(
                        "the connection closed without a close frame (RFC 6455 §7.1.1: the \
                         closing handshake comes first; peers record code 1006)"
                            .to_owned(),
                    );
                }
            }
            End::CloseTimeout(_) => {}
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
                let timeout = self.keepalive.timeout;
                self.ending().notes.push(format!(
                    "no pong answered the keepalive ping within {timeout:?} (RFC 6455 §5.5.2: a ping is \
                     answered with a pong as soon as practical)"
                ));
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
        self.closing(Side::Local, Some(code), reason);
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
                let decoded = self.decoder.decode(&mut self.read_buf);
                self.show_frames();
                match decoded {
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
        let report = self.ending();
        if report.how.is_empty() {
            report.how = match &reply {
                Ok(_) => "close handshake completed".to_owned(),
                Err(end) => describe(end),
            };
        }
        if let Err(End::CloseTimeout(timeout)) = &reply {
            report.notes.push(format!(
                "no close frame answered ours within {timeout:?} (RFC 6455 §5.5.1: a close is \
                 answered with a close)"
            ));
        }
        self.close_transport().await;
        reply
    }

    /// Sends a close frame and closes the connection without waiting for the peer's reply.
    async fn fail(&mut self, code: CloseCode, reason: &str) {
        self.closing(Side::Local, Some(code), reason);
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

impl<S> WebSocket<S> {
    /// Hands the frames decoded and encoded since the last call to the observer.
    #[inline]
    fn show_frames(&mut self) {
        if self.traces {
            self.show_traced_frames();
        }
    }

    fn show_traced_frames(&mut self) {
        let Some(watch) = self.watch.as_deref() else {
            return;
        };
        let (true, Some(observer)) = (watch.tracing, &watch.observer) else {
            return;
        };
        let (inbound, lost_in) = self.decoder.take_traced();
        for frame in &inbound {
            observer.frame(true, frame);
        }
        let (outbound, lost_out) = self.encoder.take_traced();
        for frame in &outbound {
            observer.frame(false, frame);
        }
        if lost_in + lost_out > 0 {
            observer.frames_untraced(lost_in + lost_out);
        }
    }
}

impl<S> Drop for WebSocket<S> {
    fn drop(&mut self) {
        self.show_frames();
        let peer = match self.role {
            Role::Server => "client",
            Role::Client => "server",
        };
        let Some(mut watch) = self.watch.take() else {
            return;
        };
        let Some(observer) = watch.observer.take() else {
            return;
        };
        let mut report = std::mem::take(&mut watch.report);
        let (notes, _) = self.decoder.take_notes();
        for note in notes {
            if report.notes.len() < MAX_NOTES {
                report.notes.push(format!(
                    "frame {} from the {peer} {note} ({})",
                    note.frame,
                    note.kind.rule()
                ));
            }
        }
        if report.how.is_empty() {
            "dropped without a close".clone_into(&mut report.how);
        }
        report.messages_in = watch.counts.messages_in;
        report.bytes_in = watch.counts.bytes_in;
        report.messages_out = watch.counts.messages_out;
        report.bytes_out = watch.counts.bytes_out;
        observer.ended(&report);
    }
}

/// Why a connection ended, in words for the log.
fn describe(end: &End) -> String {
    match end {
        End::PeerClosed(_) => "close handshake completed".to_owned(),
        End::Protocol(err) => format!("failed with {}", err.code.as_u16()),
        End::Gone(None) => "connection closed".to_owned(),
        End::Gone(Some(err)) => format!("connection failed: {err}"),
        End::Shutdown => "server shutting down".to_owned(),
        End::KeepaliveTimeout => "keepalive ping unanswered".to_owned(),
        End::Idle(idle) => format!("idle for {idle:?}"),
        End::SendTimeout(timeout) => format!("peer read nothing for {timeout:?}; dropped"),
        End::CloseTimeout(timeout) => format!("no close reply within {timeout:?}"),
    }
}

/// Runs `future` for at most `limit`.
async fn bounded<F: std::future::Future>(limit: Duration, future: F) -> Option<F::Output> {
    tokio::time::timeout(limit, future).await.ok()
}

/// The earlier of two optional deadlines.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What woke a waiting [`WebSocket::recv`].
enum Woke {
    Stop,
    Read(io::Result<usize>),
    Timer,
}

/// The timer of [`WebSocket::recv`], kept from call to call: registering a new timer on
/// every call cost about a sixth of a small message's round trip (callgrind). It is re-armed
/// only when a deadline comes closer.
struct RecvTimer {
    /// Set for the earliest deadline, or an earlier one that activity has since pushed back
    /// (it then wakes once for nothing): pushing it back on every read would cost as much as
    /// a new timer.
    timer: Option<Pin<Box<Sleep>>>,
    /// The timer is set and has not fired.
    armed: bool,
    /// The task the timer has been polled by since it was last set (see [`poll_sleep`]).
    polled_by: Option<std::task::Waker>,
    timers: Timers,
}

impl RecvTimer {
    fn new(timers: Timers) -> Self {
        Self {
            timer: None,
            armed: false,
            polled_by: None,
            timers,
        }
    }

    /// Makes sure the timer fires by `deadline`; whether there is a deadline to wait for.
    fn arm(&mut self, deadline: Option<Instant>) -> bool {
        let Some(deadline) = deadline else {
            return false;
        };
        match &mut self.timer {
            Some(timer) if self.armed && timer.deadline() <= deadline => {}
            Some(timer) => {
                timer.as_mut().reset(deadline);
                self.polled_by = None;
            }
            None => {
                self.timer = Some(Box::pin(self.timers.sleep_until(deadline)));
                self.polled_by = None;
            }
        }
        self.armed = true;
        true
    }

    /// Ready when the timer fires (never without one).
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.timer.as_mut() {
            Some(timer) => poll_sleep(timer.as_mut(), &mut self.polled_by, cx),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Both roles over an in-memory stream, on tokio's paused clock: every timer fires at its
    //! exact virtual time, and no test waits in real time.

    use super::*;
    use tokio::io::DuplexStream;

    fn config(role: Role) -> Config {
        Config::for_tests(role)
    }

    fn pair(buffer: usize) -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
        let (server, client) = tokio::io::duplex(buffer);
        let client_config = Config {
            ping_interval: None,
            ..config(Role::Client)
        };
        (
            WebSocket::new(server, &config(Role::Server), None, &Stop::default()),
            WebSocket::new(client, &client_config, None, &Stop::default()),
        )
    }

    /// A server-role connection and the raw client end of its stream.
    fn server_and_raw_peer() -> (WebSocket<DuplexStream>, DuplexStream) {
        let (server_io, peer) = tokio::io::duplex(4096);
        let server = WebSocket::new(server_io, &config(Role::Server), None, &Stop::default());
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

    /// A stream that takes every write at once and holds it until a flush is let through, as
    /// a TLS stream holds records when the socket is full; reads give `input`, then wait.
    struct HeldWrites {
        input: BytesMut,
        held: Vec<u8>,
        flushable: bool,
        flushed: Vec<u8>,
    }

    impl AsyncRead for HeldWrites {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if self.input.is_empty() {
                return Poll::Pending;
            }
            let n = self.input.len().min(buf.remaining());
            buf.put_slice(&self.input.split_to(n));
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for HeldWrites {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.held.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            if !self.flushable {
                return Poll::Pending;
            }
            let held = std::mem::take(&mut self.held);
            self.flushed.extend_from_slice(&held);
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A receive dropped while its pong was written but not yet flushed leaves the flush to the
    /// next receive, which finishes it before waiting to read.
    #[tokio::test(start_paused = true)]
    async fn a_pong_whose_flush_was_cut_short_is_flushed_by_the_next_receive() {
        let mut ping = BytesMut::new();
        crate::protocol::ws::write_frame(&mut ping, 0x89, Some([1, 2, 3, 4]), b"hi");
        let io = HeldWrites {
            input: ping,
            held: Vec::new(),
            flushable: false,
            flushed: Vec::new(),
        };
        let mut server = WebSocket::new(io, &config(Role::Server), None, &Stop::default());
        // The pong is written, its flush waits: the receive is dropped there.
        assert!(
            std::future::poll_fn(|cx| Poll::Ready(Box::pin(server.recv()).as_mut().poll(cx)))
                .await
                .is_pending()
        );
        assert!(server.io.flushed.is_empty());
        assert!(!server.io.held.is_empty());
        server.io.flushable = true;
        assert!(
            std::future::poll_fn(|cx| Poll::Ready(Box::pin(server.recv()).as_mut().poll(cx)))
                .await
                .is_pending()
        );
        // The pong: FIN + opcode 0xA, unmasked, "hi".
        assert_eq!(server.io.flushed, b"\x8a\x02hi");
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

    /// The idle timer is set once and left early when a message pushes the deadline back: it
    /// must then wake for nothing and wait out the new deadline, not end the connection.
    #[tokio::test(start_paused = true)]
    async fn a_message_pushes_the_idle_timeout_back() {
        let (server_io, client_io) = tokio::io::duplex(4096);
        let quiet = |role| Config {
            ping_interval: None,
            ..config(role)
        };
        let mut server = WebSocket::new(server_io, &quiet(Role::Server), None, &Stop::default());
        let mut client = WebSocket::new(client_io, &quiet(Role::Client), None, &Stop::default());
        server.set_idle_timeout(Some(Duration::from_secs(30)));
        let start = Instant::now();
        let server_task = tokio::spawn(async move {
            let first = server.recv().await;
            let at = start.elapsed();
            (first, at, server.recv().await, start.elapsed())
        });
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(client.send_text("still here").await.is_ok());
        let Ok((first, first_at, end, end_at)) = server_task.await else {
            panic!("the server task failed");
        };
        assert!(
            matches!(&first, Ok(Message::Text(text)) if text.as_str() == "still here"),
            "{first:?}"
        );
        assert_eq!(first_at, Duration::from_secs(20));
        assert!(matches!(end, Err(End::Idle(_))), "{end:?}");
        assert_eq!(end_at, Duration::from_secs(50));
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
        let stop = Stop::default();
        let mut server = WebSocket::new(server_io, &config(Role::Server), None, &stop);
        stop.cancel();
        assert!(matches!(server.recv().await, Err(End::Shutdown)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_stop_signal_wakes_a_recv_already_waiting() {
        let (server_io, _peer) = tokio::io::duplex(4096);
        let stop = Stop::default();
        let mut server = WebSocket::new(server_io, &config(Role::Server), None, &stop);
        let waiting = tokio::spawn(async move { server.recv().await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished());
        stop.cancel();
        assert!(matches!(waiting.await, Ok(Err(End::Shutdown))));
    }
}
