//! A connection's bytes as the client sent them, kept beside hyper's parsing: the raw head of the
//! current request (bounded by `--max-head`), so that a refused head can be explained and the
//! raw echo can answer byte for byte; the body as framed on the wire when a handler asks for it;
//! and, with `--trace`, each read and write and the response heads.
//!
//! hyper parses the same bytes; [`Wire`] only follows the framing (head, then a body of
//! Content-Length bytes or chunks, then the next head) so it knows where each head starts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::log::{ConnLabel, Log, TraceKind, escape};
use crate::protocol::http2::{self, Sender};

/// Slack above `--max-head`: hyper refuses a head past its limit, and the part just beyond it is
/// what tells the client why.
const HEAD_SLACK: usize = 1024;
/// Buffers above this many bytes are given back once empty.
const SHRINK_ABOVE: usize = 4096;
/// Longest line of a head shown in one trace line.
const TRACE_LINE: usize = 512;
/// Most header fields hyper's parser takes without allocating (its inline default): a gated
/// connection's parser is sized for this many (see [`Wire::gate`]).
pub(crate) const INLINE_FIELDS: usize = super::settings::FAST_MAX_HEADERS;

/// How the body after a head is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// One connection's recorder, shared by its byte stream and its requests.
pub(crate) struct Wire {
    state: Mutex<State>,
    /// The connection left HTTP (upgraded): reads need no more sorting out.
    left_http: AtomicBool,
    /// The connection switched protocols (a 101 was sent).
    upgraded: AtomicBool,
    /// Gated: the head hyper is to parse next has more than [`INLINE_FIELDS`] fields.
    long_head_next: AtomicBool,
    /// Responses hyper is done with (a streamed body dropped, any other once returned).
    answered: AtomicU64,
    /// See [`Wire::hold_limit`].
    hold_limit: usize,
    opened: Instant,
    /// Set when tracing: where trace lines go.
    trace: Option<(Log, ConnLabel)>,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("tracing", &self.trace.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct State {
    /// Bytes of the head being received (and anything after it not yet sorted out).
    pending: Vec<u8>,
    /// The head of the current request, its buffer reused from request to request.
    head: Vec<u8>,
    /// `head` holds the whole head (it fitted in what was kept).
    head_kept: bool,
    /// The last head [`Wire::with_new_head`] ran over: a client that sends the same head again
    /// and again (a benchmark, a poller) is checked once.
    last_checked: Vec<u8>,
    /// Most bytes `pending` keeps.
    limit: usize,
    /// Head bytes received beyond `limit` and not kept.
    dropped: u64,
    /// Bytes after the last head taken, not yet run through `body`.
    unscanned: Vec<u8>,
    /// Where `pending` and `unscanned` begin in the stream of bytes received.
    pending_at: u64,
    unscanned_at: u64,
    /// Gated (see [`Wire::gate`]): how far into the bytes received hyper may read.
    gate: Option<Gate>,
    body: Body,
    /// The raw body of the current request, when a handler asked for it.
    raw_body: Option<RawBody>,
    /// Bytes read from the client in all.
    received: u64,
    /// Request heads taken so far.
    heads: u64,
    /// When the bytes in `pending` began to arrive (the caller's clock, in milliseconds); set
    /// while they are a head not yet taken.
    head_began: Option<u64>,
    /// When the latest read arrived (the caller's clock).
    last_read: u64,
    /// Trace: the response head being written, until its blank line.
    response_head: Option<Vec<u8>>,
    /// Trace of an HTTP/2 connection: its frames in both directions.
    h2: Option<Box<http2::Connection>>,
    /// An HTTP/2 connection's open header block, for the header timeout.
    h2_blocks: Option<Box<H2Blocks>>,
}

/// A gated connection's hold on what hyper reads: hyper is only handed a head of at most
/// [`INLINE_FIELDS`] fields, so that its parser never needs more room than its inline array.
#[derive(Debug, Default)]
struct Gate {
    /// Hyper may read the bytes received before this offset.
    boundary: u64,
    /// The reader that found nothing it may hand over; woken when `boundary` moves.
    waiting: Option<Waker>,
    /// While the reader holds bytes back: how far into the bytes received hyper has them.
    handed: u64,
}

/// Where an HTTP/2 client's header blocks are.
#[derive(Debug)]
struct H2Blocks {
    watch: http2::BlockWatch,
    /// When the open header block began, and its stream.
    open: Option<(Instant, u32)>,
    /// Told when a header block opens.
    opened: Arc<tokio::sync::Notify>,
}

#[derive(Debug, Default)]
enum Body {
    /// Between requests: bytes belong to the next head.
    #[default]
    None,
    Length(u64),
    Chunked(ChunkScanner),
    Rest,
}

#[derive(Debug)]
struct RawBody {
    bytes: BytesMut,
    limit: usize,
    truncated: bool,
}

/// The raw body of a request, as framed on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawBodyBytes {
    pub(crate) bytes: Bytes,
    /// More arrived than the limit kept.
    pub(crate) truncated: bool,
}

impl Wire {
    /// A recorder keeping request heads up to `max_head` bytes; `trace` also logs every read and
    /// write of the connection.
    pub(crate) fn new(max_head: usize, trace: Option<(Log, ConnLabel)>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                // A head, and what hyper reads ahead after it (its buffer holds at most
                // `max_head`): nothing past this is a head duplex has to explain.
                limit: 2 * max_head + HEAD_SLACK,
                // hyper's own answer to a head it refuses is a response head too.
                response_head: trace.is_some().then(Vec::new),
                ..State::default()
            }),
            left_http: AtomicBool::new(false),
            upgraded: AtomicBool::new(false),
            long_head_next: AtomicBool::new(false),
            answered: AtomicU64::new(0),
            hold_limit: max_head + HEAD_SLACK,
            opened: Instant::now(),
            trace,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the buffers inconsistent in a way that
        // matters more than losing the log of this one connection.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Logs a trace line for this connection, if tracing; `what` is only built then.
    pub(crate) fn trace(&self, kind: TraceKind, what: impl FnOnce() -> String) {
        if self.trace.is_some() {
            self.write_trace(kind, &what());
        }
    }

    /// Out of line: the untraced path (every read of every connection) stays a single test.
    #[cold]
    #[inline(never)]
    fn write_trace(&self, kind: TraceKind, what: &str) {
        if let Some((log, conn)) = &self.trace {
            log.trace(conn, self.opened.elapsed(), kind, what);
        }
    }

    pub(crate) fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    /// When the connection opened.
    pub(crate) fn opened(&self) -> Instant {
        self.opened
    }

    /// Bytes just read from the client, `at` milliseconds on the caller's clock. Returns how
    /// many of them hyper may read now (all, unless gated: see [`Wire::gate`]).
    #[inline]
    pub(crate) fn on_read(&self, bytes: &[u8], at: u64) -> usize {
        self.trace(TraceKind::Read, || format!("read {} bytes", bytes.len()));
        if self.left_http.load(Ordering::Relaxed) {
            return bytes.len();
        }
        self.keep_read(bytes, at)
    }

    /// What HTTP reads add to the kept head and body; out of line, so a WebSocket's reads (which
    /// skip it) inline only the tests above.
    #[inline(never)]
    fn keep_read(&self, bytes: &[u8], at: u64) -> usize {
        let mut state = self.state();
        let offset = state.received;
        state.received += bytes.len() as u64;
        state.last_read = at;
        if let Some(blocks) = state.h2_blocks.as_mut() {
            let open = blocks.watch.feed(bytes);
            match (open, blocks.open) {
                (Some(stream), None) => {
                    blocks.open = Some((Instant::now(), stream));
                    blocks.opened.notify_one();
                }
                (None, Some(_)) => blocks.open = None,
                _ => {}
            }
            if state.h2.is_some() {
                drop(state);
                self.trace_h2(Sender::Client, bytes);
            }
            return bytes.len();
        }
        state.flush_unscanned();
        state.feed(bytes, offset);
        if state.gate.is_none() {
            return bytes.len();
        }
        let boundary = self.regate(&mut state);
        usize::try_from(boundary.saturating_sub(offset)).map_or(bytes.len(), |n| n.min(bytes.len()))
    }

    /// Gates the connection: from now on hyper is to be handed a request head only if it has at
    /// most [`INLINE_FIELDS`] fields, and the rest of the bytes held back (the caller's reader
    /// asks [`Wire::may_read`]) until hyper has answered every request before it. Then
    /// [`Wire::long_head_next`] says so, and the caller serves the rest of the connection with
    /// a parser sized for the long head ([`Wire::ungate`]). hyper's parser takes 100 fields in
    /// an array on the stack; sized for more, it allocates two arrays of that size per request.
    pub(crate) fn gate(&self) {
        let mut state = self.state();
        if !matches!(state.body, Body::Rest) {
            state.gate = Some(Gate::default());
            self.regate(&mut state);
        }
    }

    /// Ends the gate: hyper may read everything from now on. Returns where the head it is to
    /// parse next begins in the stream received.
    pub(crate) fn ungate(&self) -> u64 {
        let mut state = self.state();
        self.open_gate(&mut state);
        // Every request before the head is answered: no handler keeps a body any more.
        state.flush_unscanned();
        state.pending_at
    }

    /// Ungates for good: hyper may read everything, and a reader waiting to hand bytes over is
    /// woken.
    fn open_gate(&self, state: &mut State) {
        if let Some(gate) = state.gate.take()
            && let Some(waiting) = gate.waiting
        {
            waiting.wake();
        }
        self.long_head_next.store(false, Ordering::Relaxed);
    }

    /// Most bytes a reader holds back from hyper before it stops reading the client: a head
    /// up to `--max-head` and the slack that explains a refused one.
    pub(crate) fn hold_limit(&self) -> usize {
        self.hold_limit
    }

    /// How far into the bytes received hyper may read; when that is no further than `read`,
    /// `waker` is woken once it moves.
    pub(crate) fn may_read(&self, read: u64, waker: &Waker) -> u64 {
        let mut state = self.state();
        let Some(gate) = state.gate.as_mut() else {
            return u64::MAX;
        };
        if gate.boundary <= read {
            gate.waiting = Some(waker.clone());
        }
        gate.boundary
    }

    /// Gated: the head hyper is to parse next has more than [`INLINE_FIELDS`] fields, and is held
    /// back whole.
    pub(crate) fn long_head_next(&self) -> bool {
        self.long_head_next.load(Ordering::Relaxed)
    }

    /// hyper is done with the response to the latest request (its body written or dropped).
    pub(crate) fn response_done(&self) {
        // Requests and their responses come one at a time, all on the connection's task.
        let answered = self.answered.load(Ordering::Relaxed);
        self.answered.store(answered + 1, Ordering::Relaxed);
    }

    /// The reader holding bytes back has handed hyper everything up to `to`.
    pub(crate) fn handed(&self, to: u64) {
        if let Some(gate) = self.state().gate.as_mut() {
            gate.handed = to;
        }
    }

    /// Gated, with a long head next: hyper is done with everything before it (every request
    /// answered, and every byte before the head read: the rest of a body a handler left unread
    /// is hyper's to drain or to close the connection over, as without the gate).
    pub(crate) fn ready_for_long_head(&self) -> bool {
        let state = self.state();
        state.heads == self.answered.load(Ordering::Relaxed)
            && state
                .gate
                .as_ref()
                .is_some_and(|gate| gate.handed >= gate.boundary)
    }

    /// Gated: recomputes how far hyper may read (waking a reader waiting for it to move) and
    /// whether the head hyper parses next is held back for being long. Returns the boundary.
    fn regate(&self, state: &mut State) -> u64 {
        // The common case, kept short: nothing held, nothing that could be.
        if state.short_region()
            && let Some(gate) = state.gate.as_mut()
            && gate.waiting.is_none()
            && !self.long_head_next.load(Ordering::Relaxed)
        {
            gate.boundary = state.received;
            return state.received;
        }
        self.regate_fully(state)
    }

    #[inline(never)]
    fn regate_fully(&self, state: &mut State) -> u64 {
        let (boundary, long_next) = state.reach();
        let Some(gate) = state.gate.as_mut() else {
            return u64::MAX;
        };
        if boundary != gate.boundary {
            gate.boundary = boundary;
            if let Some(waiting) = gate.waiting.take() {
                waiting.wake();
            }
        }
        if long_next != self.long_head_next.load(Ordering::Relaxed) {
            self.long_head_next.store(long_next, Ordering::Relaxed);
        }
        boundary
    }

    /// The connection speaks HTTP/2 from the next byte read (the client's preface): its header
    /// blocks are followed for the header timeout and, when tracing, its frames are traced.
    /// Returns what is told when a header block opens.
    pub(crate) fn start_h2(&self) -> Arc<tokio::sync::Notify> {
        let opened = Arc::new(tokio::sync::Notify::new());
        let mut state = self.state();
        state.body = Body::Rest;
        state.h2_blocks = Some(Box::new(H2Blocks {
            watch: http2::BlockWatch::new(),
            open: None,
            opened: Arc::clone(&opened),
        }));
        if self.tracing() {
            state.h2 = Some(Box::default());
        }
        opened
    }

    /// An HTTP/2 client's first bytes, when they are not the connection preface.
    pub(crate) fn h2_bad_preface(&self) -> Option<Vec<u8>> {
        let state = self.state();
        let blocks = state.h2_blocks.as_ref()?;
        blocks.watch.bad_preface().map(<[u8]>::to_vec)
    }

    /// Since when, and on which stream, an HTTP/2 client has had a header block open.
    pub(crate) fn h2_block_open(&self) -> Option<(Instant, u32)> {
        self.state()
            .h2_blocks
            .as_ref()
            .and_then(|blocks| blocks.open)
    }

    /// One trace line per HTTP/2 frame in `bytes`.
    #[cold]
    fn trace_h2(&self, sender: Sender, bytes: &[u8]) {
        let mut events = Vec::new();
        let mut malformed = None;
        if let Some(h2) = self.state().h2.as_mut() {
            h2.feed(sender, bytes, &mut events);
            malformed = h2
                .client_malformed()
                .map(|(stream, why)| (stream, why.to_owned()));
        }
        let (arrow, kind) = match sender {
            Sender::Client => ('>', TraceKind::FrameIn),
            Sender::Server => ('<', TraceKind::FrameOut),
        };
        for event in events {
            self.trace(kind, || format!("{arrow} {event}"));
            // A stream error the server found in the client's frames: h2 answers it with
            // RST_STREAM and nothing else tells of it, so its diagnosis comes from the frame.
            if let (
                http2::Event::Frame(http2::Frame {
                    body: http2::Body::RstStream(code),
                    stream,
                    ..
                }),
                Sender::Server,
                Some((log, conn)),
            ) = (&event, sender, &self.trace)
                && let Some(why) = http2::explain_stream_reset(*code)
            {
                // The field that made the request malformed, when the trace saw it.
                let why = match &malformed {
                    Some((on, field)) if on == stream && *code == 0x1 => field.as_str(),
                    _ => why,
                };
                log.refused(
                    conn,
                    &format!("RST_STREAM {}", http2::error_name(*code)),
                    &format!("stream {stream}: {why}"),
                );
            }
        }
    }

    /// What the trace saw of an HTTP/2 connection's end (when it decoded the frames): the
    /// first rule the client broke (a framing rule, else a malformed field), and the debug data
    /// of the server's last GOAWAY.
    pub(crate) fn h2_findings(&self) -> (Option<String>, Option<String>) {
        let state = self.state();
        state.h2.as_ref().map_or((None, None), |h2| {
            let violation = h2
                .client_violation()
                .or_else(|| h2.client_malformed().map(|(_, why)| why));
            (
                violation.map(str::to_owned),
                h2.server_goaway().map(str::to_owned),
            )
        })
    }

    /// Bytes just written to the client (only called when tracing).
    pub(crate) fn on_write(&self, bytes: &[u8]) {
        self.trace(TraceKind::Write, || format!("wrote {} bytes", bytes.len()));
        let mut state = self.state();
        if state.h2.is_some() {
            drop(state);
            return self.trace_h2(Sender::Server, bytes);
        }
        let Some(head) = state.response_head.as_mut() else {
            return;
        };
        head.extend_from_slice(bytes);
        let Some(end) = find_head_end(head, 0) else {
            if head.len() > 64 * 1024 {
                state.response_head = None;
            }
            return;
        };
        let mut head = std::mem::take(head);
        head.truncate(end);
        // A 100 Continue is followed by the final response's head.
        let interim = head.starts_with(b"HTTP/1.1 1") && !head.starts_with(b"HTTP/1.1 101");
        state.response_head = interim.then(Vec::new);
        drop(state);
        for line in lines(&head) {
            self.trace(TraceKind::HeadOut, || {
                format!("< {}", escape(line, TRACE_LINE))
            });
        }
    }

    /// Takes the head of the request hyper has just parsed off the front of what was received
    /// (kept for [`Wire::head`]), and starts following its body.
    pub(crate) fn take_head(&self, framing: Framing) {
        let mut guard = self.state();
        guard.flush_unscanned();
        let state = &mut *guard;
        state.head.clear();
        match find_head_end(&state.pending, 0) {
            Some(end) => {
                state.head.extend_from_slice(&state.pending[..end]);
                // Usually the whole of it: then this is a clear, no copy.
                state.pending.drain(..end);
                state.pending_at += end as u64;
                state.head_kept = true;
            }
            None => {
                state.pending_at += state.pending.len() as u64 + state.dropped;
                state.pending.clear();
                state.head_kept = false;
                // Where the next head starts is not known: hyper reads on ungated.
                self.open_gate(state);
            }
        }
        state.dropped = 0;
        state.heads += 1;
        // Bytes of the next head, if any, came with the latest read (or before it).
        state.head_began = None;
        state.raw_body = None;
        state.body = match framing {
            Framing::None | Framing::Length(0) => Body::None,
            Framing::Length(len) => Body::Length(len),
            Framing::Chunked => Body::Chunked(ChunkScanner::default()),
        };
        // What follows a bodiless head is the next head; anything else is sorted out lazily,
        // so a handler can still ask to keep the body (`keep_body`) before it is read.
        if !matches!(state.body, Body::None) && !state.pending.is_empty() {
            std::mem::swap(&mut state.unscanned, &mut state.pending);
            state.pending.clear();
            state.unscanned_at = state.pending_at;
        }
        if !state.pending.is_empty() {
            state.head_began = Some(state.last_read);
        }
        // One large head must not pin large buffers for the rest of a keep-alive connection.
        if state.pending.is_empty() && state.pending.capacity() > SHRINK_ABOVE {
            state.pending = Vec::new();
        }
        // With nothing held, taking a head off the front holds nothing back either.
        if state
            .gate
            .as_ref()
            .is_some_and(|gate| gate.boundary < state.received)
        {
            self.regate(state);
        }
        let traced = self.tracing().then(|| {
            state.response_head = Some(Vec::new());
            state.head.clone()
        });
        drop(guard);
        for line in traced.iter().flat_map(|head| lines(head)) {
            self.trace(TraceKind::HeadIn, || {
                format!("> {}", escape(line, TRACE_LINE))
            });
        }
    }

    /// The connection has switched protocols: nothing it receives from now on is HTTP.
    pub(crate) fn leave_http(&self) {
        let mut state = self.state();
        state.body = Body::Rest;
        // A WebSocket session lives long: it keeps none of the HTTP buffers.
        state.pending = Vec::new();
        state.unscanned = Vec::new();
        state.head = Vec::new();
        state.last_checked = Vec::new();
        self.open_gate(&mut state);
        drop(state);
        self.left_http.store(!self.tracing(), Ordering::Relaxed);
        self.upgraded.store(true, Ordering::Relaxed);
    }

    /// The current request's head as received, if it was kept whole.
    pub(crate) fn head(&self) -> Option<Bytes> {
        let state = self.state();
        state.head_kept.then(|| Bytes::copy_from_slice(&state.head))
    }

    /// Runs `check` over the current request's head, unless it is the same bytes as the last head
    /// checked on this connection (or was not kept whole).
    pub(crate) fn with_new_head<T>(&self, check: impl FnOnce(&[u8]) -> T) -> Option<T> {
        let mut guard = self.state();
        let state = &mut *guard;
        if !state.head_kept || state.head == state.last_checked {
            return None;
        }
        state.last_checked.clone_from(&state.head);
        Some(check(&state.head))
    }

    /// Runs `check` over the current request's head (if it was kept whole) without copying it.
    pub(crate) fn with_head<T>(&self, check: impl FnOnce(&[u8]) -> T) -> Option<T> {
        let state = self.state();
        state.head_kept.then(|| check(&state.head))
    }

    /// Keeps the current request's body as framed on the wire, up to `limit` bytes; call before
    /// reading the body.
    pub(crate) fn keep_body(&self, limit: usize) {
        let mut state = self.state();
        state.raw_body = Some(RawBody {
            bytes: BytesMut::new(),
            limit,
            truncated: false,
        });
        state.flush_unscanned();
    }

    /// The body kept since [`Wire::keep_body`]; call once the body has been read.
    pub(crate) fn take_body(&self) -> Option<RawBodyBytes> {
        let mut state = self.state();
        state.flush_unscanned();
        state.raw_body.take().map(|raw| RawBodyBytes {
            bytes: raw.bytes.freeze(),
            truncated: raw.truncated,
        })
    }

    /// What was received of a head hyper refused or never finished, and how many bytes beyond
    /// the kept ones were dropped.
    pub(crate) fn unfinished_head(&self) -> (Bytes, u64) {
        let mut state = self.state();
        state.flush_unscanned();
        (Bytes::copy_from_slice(&state.pending), state.dropped)
    }

    /// When the head being received began to arrive (the clock of [`Wire::on_read`]), if one
    /// is unfinished: some of it has arrived, not yet its blank line. Before any byte, the
    /// first head is due from the clock's start (the connection's, after TLS), as it was with
    /// hyper's timer: a client that connects and says nothing is not a kept-alive one.
    pub(crate) fn unfinished_head_began(&self) -> Option<u64> {
        let mut state = self.state();
        if state.received == 0 {
            return Some(0);
        }
        state.flush_unscanned();
        let began = state.head_began?;
        let unfinished = matches!(state.body, Body::None)
            && !state.pending.is_empty()
            && find_head_end(&state.pending, 0).is_none();
        unfinished.then_some(began)
    }

    /// Request heads taken so far (the number of a head being received is one more).
    pub(crate) fn heads(&self) -> u64 {
        self.state().heads
    }

    /// Bytes read from the client in all.
    /// Whether the connection has switched protocols.
    pub(crate) fn upgraded(&self) -> bool {
        self.upgraded.load(Ordering::Relaxed)
    }

    pub(crate) fn received(&self) -> u64 {
        self.state().received
    }
}

impl State {
    fn flush_unscanned(&mut self) {
        if !self.unscanned.is_empty() {
            let mut unscanned = std::mem::take(&mut self.unscanned);
            self.feed(&unscanned, self.unscanned_at);
            // Keep the allocation for next time.
            unscanned.clear();
            self.unscanned = unscanned;
        }
    }

    /// Sorts out `bytes`, which begin `offset` bytes into the stream received.
    fn feed(&mut self, mut bytes: &[u8], mut offset: u64) {
        while !bytes.is_empty() {
            let used = match &mut self.body {
                Body::Rest => return,
                Body::None => {
                    if self.pending.is_empty() {
                        self.head_began = Some(self.last_read);
                        self.pending_at = offset;
                    }
                    let room = self.limit.saturating_sub(self.pending.len());
                    let kept = bytes.len().min(room);
                    self.pending.extend_from_slice(&bytes[..kept]);
                    self.dropped += (bytes.len() - kept) as u64;
                    return;
                }
                Body::Length(left) => {
                    let used = usize::try_from(*left).map_or(bytes.len(), |l| l.min(bytes.len()));
                    *left -= used as u64;
                    if *left == 0 {
                        self.body = Body::None;
                    }
                    used
                }
                Body::Chunked(scanner) => {
                    let (used, done) = scanner.scan(bytes);
                    if done {
                        self.body = Body::None;
                    }
                    used
                }
            };
            if let Some(raw) = self.raw_body.as_mut() {
                let room = raw.limit.saturating_sub(raw.bytes.len());
                let kept = used.min(room);
                raw.bytes.extend_from_slice(&bytes[..kept]);
                raw.truncated |= kept < used;
            }
            bytes = &bytes[used..];
            offset += used as u64;
        }
    }

    /// What is yet to be parsed is too short to hold a long head (see `head_room`).
    fn short_region(&self) -> bool {
        self.pending.len() + self.unscanned.len() <= 3 * INLINE_FIELDS && self.dropped == 0
    }

    /// How far into the bytes received hyper may read, and whether the head it parses next is
    /// held back for having more than [`INLINE_FIELDS`] fields.
    fn reach(&self) -> (u64, bool) {
        if self.short_region() {
            return (self.received, false);
        }
        // The next head begins after the current body: in `unscanned` (not sorted out yet, so
        // a handler may still keep the body) or at the start of `pending`.
        let (region, region_at) = if self.unscanned.is_empty() {
            match self.body {
                Body::None => (&self.pending[..], self.pending_at),
                // Every byte received so far is body.
                Body::Length(_) | Body::Chunked(_) | Body::Rest => return (self.received, false),
            }
        } else {
            let body_len = match &self.body {
                Body::None => Some(0),
                Body::Length(left) => usize::try_from(*left)
                    .ok()
                    .filter(|&left| left < self.unscanned.len()),
                Body::Chunked(scanner) => {
                    let (used, done) = scanner.clone().scan(&self.unscanned);
                    done.then_some(used)
                }
                Body::Rest => None,
            };
            let Some(body_len) = body_len else {
                return (self.received, false);
            };
            (
                &self.unscanned[body_len..],
                self.unscanned_at + body_len as u64,
            )
        };
        match head_room(region) {
            // Bytes dropped past the limit were not looked at: they stay held. (The limit is
            // larger than hyper's buffer and the reader's held bytes together; hyper already
            // has more than `--max-head` of a head then, and refuses it.)
            Room::All if self.dropped > 0 => (region_at + region.len() as u64, false),
            Room::All => (self.received, false),
            Room::Upto(end) => (region_at + end as u64, false),
            Room::LongAt(start) => (region_at + start as u64, start == 0),
        }
    }
}

/// How much of the bytes from the start of a request head on hyper's inline parser may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Room {
    All,
    /// Up to a head's end, past which the framing is not known until hyper has parsed it.
    Upto(usize),
    /// Up to the start of a head with more than [`INLINE_FIELDS`] fields.
    LongAt(usize),
}

/// Walks the request heads at the start of `region` (only as far as their framing is plain: a
/// head with no `Content-Length` or `Transfer-Encoding` has no body) and finds where hyper's
/// inline parser must stop: before the first field past [`INLINE_FIELDS`] of a head (httparse
/// refuses the head once that field's line is whole; the walk stops at its first byte).
fn head_room(region: &[u8]) -> Room {
    // The common case: too short, or too few lines, for any head in it to be long (the
    // shortest field line httparse takes, "a:\n", is 3 bytes).
    if region.len() <= 3 * INLINE_FIELDS
        || region.iter().filter(|&&b| b == b'\n').count() <= INLINE_FIELDS
    {
        return Room::All;
    }
    let mut start = 0;
    'heads: loop {
        // Empty lines before a request line belong to its head (httparse skips them).
        let mut line = start
            + region[start..]
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
        let mut fields = 0;
        let mut request_line = true;
        loop {
            let Some(lf) = region[line..].iter().position(|&b| b == b'\n') else {
                // A partial line: the next field, unless it begins the blank line.
                let next_field =
                    !request_line && region.get(line).is_some_and(|&b| b != b'\r' && b != b'\n');
                if next_field && fields >= INLINE_FIELDS {
                    return Room::LongAt(start);
                }
                return Room::All;
            };
            let text = &region[line..line + lf];
            if !request_line && (text.is_empty() || text == b"\r") {
                let end = line + lf + 1;
                if end == region.len() {
                    return Room::All;
                }
                if has_body_fields(&region[start..end]) {
                    return Room::Upto(end);
                }
                start = end;
                continue 'heads;
            }
            if request_line {
                request_line = false;
            } else {
                fields += 1;
                if fields > INLINE_FIELDS {
                    return Room::LongAt(start);
                }
            }
            line += lf + 1;
        }
    }
}

/// The head may announce a body (RFC 9112 §6.3): it names Content-Length or Transfer-Encoding
/// anywhere (a cautious look; hyper's parse decides).
fn has_body_fields(head: &[u8]) -> bool {
    let named = |name: &[u8]| {
        head.windows(name.len())
            .any(|window| window.eq_ignore_ascii_case(name))
    };
    named(b"content-length") || named(b"transfer-encoding")
}

/// Where a head ends: just past its blank line (CRLF CRLF, or bare LFs as hyper accepts them),
/// searched after any empty lines before the request line (RFC 9112 §2.2).
fn find_head_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut start = from;
    while let Some(&byte) = bytes.get(start) {
        if byte == b'\r' || byte == b'\n' {
            start += 1;
        } else {
            break;
        }
    }
    let mut at = start;
    while let Some(offset) = bytes.get(at..)?.iter().position(|&b| b == b'\n') {
        let lf = at + offset;
        match bytes.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') if bytes.get(lf + 2) == Some(&b'\n') => return Some(lf + 3),
            Some(_) => at = lf + 1,
            None => return None,
        }
    }
    None
}

/// The lines of a head, each with its line ending.
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split_inclusive(|&b| b == b'\n')
}

/// Follows chunked framing (RFC 9112 §7.1) just well enough to find where the body ends; hyper
/// checks the framing itself.
#[derive(Debug, Default, Clone)]
struct ChunkScanner {
    step: ChunkStep,
    size: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkStep {
    /// In a chunk-size line: hex digits, then maybe an extension, up to LF.
    #[default]
    Size,
    /// In a chunk-size line past its digits (extension or CR).
    SizeRest,
    /// Chunk data, `size` bytes left.
    Data,
    /// The CRLF after chunk data.
    DataEnd,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// Saw CR at the start of a trailer line: the final line, if LF follows.
    FinalCr,
}

impl ChunkScanner {
    /// Consumes bytes of the body; returns how many, and whether the body ended.
    fn scan(&mut self, bytes: &[u8]) -> (usize, bool) {
        let mut at = 0;
        while at < bytes.len() {
            let byte = bytes[at];
            match self.step {
                ChunkStep::Size => match byte {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let digit = u64::from(char::from(byte).to_digit(16).unwrap_or(0));
                        self.size = self.size.saturating_mul(16).saturating_add(digit);
                    }
                    b'\n' => self.end_size_line(),
                    _ => self.step = ChunkStep::SizeRest,
                },
                ChunkStep::SizeRest => {
                    if byte == b'\n' {
                        self.end_size_line();
                    }
                }
                ChunkStep::Data => {
                    let left = usize::try_from(self.size).unwrap_or(usize::MAX);
                    let used = left.min(bytes.len() - at);
                    self.size -= used as u64;
                    at += used;
                    if self.size == 0 {
                        self.step = ChunkStep::DataEnd;
                    }
                    continue;
                }
                ChunkStep::DataEnd => {
                    if byte == b'\n' {
                        self.step = ChunkStep::Size;
                    }
                }
                ChunkStep::TrailerStart => match byte {
                    b'\n' => return (at + 1, true),
                    b'\r' => self.step = ChunkStep::FinalCr,
                    _ => self.step = ChunkStep::Trailer,
                },
                ChunkStep::FinalCr => {
                    if byte == b'\n' {
                        return (at + 1, true);
                    }
                    self.step = ChunkStep::Trailer;
                }
                ChunkStep::Trailer => {
                    if byte == b'\n' {
                        self.step = ChunkStep::TrailerStart;
                    }
                }
            }
            at += 1;
        }
        (at, false)
    }

    fn end_size_line(&mut self) {
        self.step = if self.size == 0 {
            ChunkStep::TrailerStart
        } else {
            ChunkStep::Data
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire() -> Arc<Wire> {
        Wire::new(16 * 1024, None)
    }

    #[test]
    fn pipelined_heads_are_taken_one_by_one_past_their_bodies() {
        let wire = wire();
        wire.on_read(
            b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n",
            0,
        );
        wire.take_head(Framing::Length(3));
        assert_eq!(
            wire.head().as_deref(),
            Some(&b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\n"[..])
        );
        wire.on_read(b"Host: x\r\n\r\n", 0);
        wire.take_head(Framing::None);
        assert_eq!(
            wire.head().as_deref(),
            Some(&b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"[..])
        );
    }

    #[test]
    fn a_chunked_body_is_kept_as_framed_and_the_next_head_follows_it() {
        let wire = wire();
        wire.on_read(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n",
            0,
        );
        wire.take_head(Framing::Chunked);
        assert!(wire.head().is_some());
        wire.keep_body(1024);
        wire.on_read(b"0\r\nTrailer: 1\r\n\r\nGET / HTTP/1.1\n\n", 0);
        assert_eq!(
            wire.take_body(),
            Some(RawBodyBytes {
                bytes: Bytes::from_static(b"3;x=y\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n"),
                truncated: false
            })
        );
        wire.take_head(Framing::None);
        assert_eq!(wire.head().as_deref(), Some(&b"GET / HTTP/1.1\n\n"[..]));
    }

    #[test]
    fn the_same_head_again_is_checked_once() {
        let wire = wire();
        let mut checked = 0;
        for head in [
            &b"GET / HTTP/1.1\n\n"[..],
            b"GET / HTTP/1.1\n\n",
            b"GET /x HTTP/1.1\n\n",
        ] {
            wire.on_read(head, 0);
            wire.take_head(Framing::None);
            checked += wire.with_new_head(|_| 1).unwrap_or(0);
        }
        assert_eq!(checked, 2);
    }

    #[test]
    fn a_kept_body_stops_at_its_limit_and_says_so() {
        let wire = wire();
        wire.on_read(
            b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789",
            0,
        );
        wire.take_head(Framing::Length(10));
        wire.keep_body(4);
        assert_eq!(
            wire.take_body(),
            Some(RawBodyBytes {
                bytes: Bytes::from_static(b"0123"),
                truncated: true
            })
        );
    }

    #[test]
    fn an_unfinished_head_is_kept_up_to_the_limit() {
        let wire = Wire::new(8, None);
        wire.on_read(&[b'a'; 2000], 0);
        let (kept, dropped) = wire.unfinished_head();
        assert_eq!(kept.len(), 16 + HEAD_SLACK);
        assert_eq!(dropped, 2000 - 16 - HEAD_SLACK as u64);
    }

    #[test]
    fn an_unfinished_head_is_timed_from_its_first_byte_and_not_past_its_blank_line() {
        let wire = wire();
        assert_eq!(
            wire.unfinished_head_began(),
            Some(0),
            "the first head, from the start"
        );
        wire.on_read(b"GET /a HTTP/1.1\r\n", 100);
        wire.on_read(b"Host: x\r\n", 900);
        assert_eq!(wire.unfinished_head_began(), Some(100));
        // Whole, it is hyper's to parse: no longer unfinished.
        wire.on_read(b"\r\nGET /b HTTP/1.1\r\n", 1500);
        assert_eq!(wire.unfinished_head_began(), None);
        // Taken, the next head's bytes are timed from the read that brought them.
        wire.take_head(Framing::None);
        assert_eq!(wire.unfinished_head_began(), Some(1500));
        wire.on_read(b"\r\n", 1600);
        wire.take_head(Framing::None);
        assert_eq!(wire.unfinished_head_began(), None);
        // A body is not a head, and neither is what follows once the connection upgrades.
        wire.on_read(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 2000);
        wire.take_head(Framing::Length(5));
        wire.on_read(b"abc", 2100);
        assert_eq!(wire.unfinished_head_began(), None);
        wire.on_read(b"deGET", 2200);
        assert_eq!(wire.unfinished_head_began(), Some(2200));
        wire.leave_http();
        assert_eq!(wire.unfinished_head_began(), None);
    }

    /// `GET /` with `fields` header fields.
    fn head_with(fields: usize) -> Vec<u8> {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..fields {
            head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        head
    }

    #[derive(Default)]
    struct Woken(AtomicBool);

    impl std::task::Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    #[test]
    fn head_room_stops_before_the_first_field_past_the_inline_parsers() {
        assert_eq!(head_room(&head_with(INLINE_FIELDS)), Room::All);
        assert_eq!(head_room(&head_with(INLINE_FIELDS + 1)), Room::LongAt(0));
        // In pieces: the request line and 100 fields may go; the next field's first byte may
        // not (httparse refuses the head once that line is whole), the blank line's CR may.
        let long = head_with(INLINE_FIELDS + 1);
        let past_inline = long
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(INLINE_FIELDS)
            .map_or(0, |(at, _)| at + 1);
        assert_eq!(head_room(&long[..past_inline]), Room::All);
        assert_eq!(head_room(&long[..=past_inline]), Room::LongAt(0));
        let full = head_with(INLINE_FIELDS);
        assert_eq!(head_room(&full[..full.len() - 1]), Room::All);
        // Empty lines before the request line are no fields.
        let leading = [&b"\r\n\r\n"[..], &full].concat();
        assert_eq!(head_room(&leading), Room::All);
        // Pipelined: past a bodiless head, up to the long one; a head that may have a body
        // stops the walk at its end (where the next head starts is hyper's to find).
        let short = head_with(1);
        let two = [&short[..], &long].concat();
        assert_eq!(head_room(&two), Room::LongAt(short.len()));
        let post = b"POST / HTTP/1.1\r\ncontent-LENGTH: 3\r\n\r\n";
        let with_body = [&post[..], b"abc", &long].concat();
        assert_eq!(head_room(&with_body), Room::Upto(post.len()));
    }

    #[test]
    fn a_gated_wire_holds_a_long_head_back_and_wakes_the_reader_when_it_may_go_on() {
        let wire = wire();
        wire.gate();
        let post = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n";
        let long = head_with(150);
        let bytes = [&post[..], b"abc", &long].concat();
        // Up to the end of the head: what follows depends on its framing.
        assert_eq!(wire.on_read(&bytes, 0), post.len());
        let woken = Arc::new(Woken::default());
        let waker = Waker::from(Arc::clone(&woken));
        assert_eq!(wire.may_read(post.len() as u64, &waker), post.len() as u64);
        assert!(!wire.long_head_next());
        // Parsed: its body may go, and the long head is next.
        wire.take_head(Framing::Length(3));
        assert!(
            woken.0.swap(false, Ordering::Relaxed),
            "the reader is woken"
        );
        assert_eq!(
            wire.may_read(post.len() as u64, &waker),
            post.len() as u64 + 3
        );
        assert!(wire.long_head_next());
        assert!(
            !wire.ready_for_long_head(),
            "not answered, the body not read"
        );
        wire.response_done();
        assert!(!wire.ready_for_long_head(), "the body not read");
        assert_eq!(
            wire.may_read(post.len() as u64 + 3, &waker),
            post.len() as u64 + 3
        );
        // The reader hands the body over.
        wire.handed(post.len() as u64 + 3);
        assert!(wire.ready_for_long_head());
        assert_eq!(
            wire.ungate(),
            post.len() as u64 + 3,
            "where the long head begins"
        );
        assert!(woken.0.load(Ordering::Relaxed));
        assert!(!wire.long_head_next());
        assert_eq!(wire.may_read(0, &waker), u64::MAX);
        // Ungated, the head is taken as any other.
        wire.take_head(Framing::None);
        assert_eq!(wire.head().as_deref(), Some(&long[..]));
    }

    #[test]
    fn short_heads_pass_a_gated_wire_whole_and_an_upgrade_opens_it() {
        let wire = wire();
        wire.gate();
        let short = [head_with(3), head_with(99), head_with(0)].concat();
        assert_eq!(wire.on_read(&short, 0), short.len());
        for _ in 0..3 {
            wire.take_head(Framing::None);
            wire.response_done();
        }
        let upgrade = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
        let frames = b"x\n".repeat(200);
        let bytes = [&upgrade[..], &frames].concat();
        // The bytes after the head are no head at all, but the wire cannot tell yet.
        let handed = wire.on_read(&bytes, 0);
        assert!(handed < bytes.len());
        wire.take_head(Framing::None);
        wire.leave_http();
        assert_eq!(wire.may_read(handed as u64, Waker::noop()), u64::MAX);
    }

    #[test]
    fn empty_lines_before_a_request_belong_to_its_head() {
        assert_eq!(
            find_head_end(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0),
            Some(22)
        );
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n", 0), None);
    }

    #[test]
    fn the_chunk_scanner_finds_the_end_across_any_split() {
        let body = b"5\r\nhello\r\n10;ext\r\n0123456789abcdef\r\n0\r\nA: b\r\n\r\n";
        for split in 0..body.len() {
            let mut scanner = ChunkScanner::default();
            let (first, done) = scanner.scan(&body[..split]);
            assert!(!done && first == split, "split {split}");
            let (second, done) = scanner.scan(&body[split..]);
            assert!(done, "split {split}");
            assert_eq!(split + second, body.len());
        }
    }
}
