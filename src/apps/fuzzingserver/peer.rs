//! One case, run: the fuzzing server's end of a WebSocket connection, without I/O.
//!
//! [`CaseRun`] is Autobahn's `WebSocketServerProtocol` + `FuzzingProtocol` + `Case` in one
//! state machine, because the verdicts depend on that protocol's exact bookkeeping: who sent
//! the first close (`closedByMe`), whether the closing handshake completed (`wasClean`), the
//! client's close code, and which events arrived before the server failed the connection. It
//! is fed bytes, end of stream and the clock, and hands back what to write ([`Output`]); the
//! driver in `session.rs` does the I/O. Frames go out through duplex's frame encoder
//! (`write_frame`, and the deflate [`Encoder`] for 12.*/13.*); data frames from the client are
//! reassembled, inflated and UTF-8-checked by duplex's [`Decoder`] in the server role.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::catalogue::{CaseDef, Event, Payload, Script, Step, to_hex};
use super::judge::{self, Judgement, Observed, Scripted, Verdict};
use super::testdata::TestPayloads;
use crate::protocol::ws::{
    Agreement, Decoder, Encoder, FAST_COMPRESSION_LEVEL, Inbound, Message, Role, write_frame,
};

/// What the driver is to do with the socket, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// Write these bytes; `sync`: on their own, not coalesced with what follows.
    Data { bytes: Bytes, sync: bool },
    /// Close the TCP connection (after the writes before it).
    Shutdown,
}

/// Settings from the spec's options and the command line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunSettings {
    pub(crate) close_timeout: Duration,
    pub(crate) fail_by_drop: bool,
    /// Multiplies the cases' own timers (`killAfter`, `closeAfter`, the 9.*/12.*/13.* limits);
    /// the delays that are part of a case (5.19, 6.4.*) are never scaled.
    pub(crate) timeout_scale: f64,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            close_timeout: Duration::from_secs(1),
            fail_by_drop: false,
            timeout_scale: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Closing,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Kill,
    CloseAfter,
    CloseHandshake,
    /// A `Delay` step expired; `only_if_open` as in the step.
    Continue {
        only_if_open: bool,
    },
}

/// The header of the frame being received.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    fin: bool,
    rsv: u8,
    pub(super) opcode: u8,
    mask: Option<[u8; 4]>,
    pub(super) len: u64,
    pub(super) header_len: usize,
}

/// Largest frame the server buffers; Autobahn has no limit, 9.* needs 16 MiB.
const MAX_FRAME: u64 = 256 * 1024 * 1024;
/// Wire log rows kept per case; Autobahn keeps all, but a chopped 16 MiB echo would be
/// hundreds of thousands.
const MAX_WIRELOG: usize = 4000;

/// The wire log, in Autobahn's row shapes (`["RO", [len, hex]]`, `["TF", …]`, …).
#[derive(Debug, Default)]
struct Wirelog {
    on: bool,
    rows: Vec<Value>,
    dropped: u64,
}

impl Wirelog {
    fn push(&mut self, row: Value) {
        if self.rows.len() < MAX_WIRELOG {
            self.rows.push(row);
        } else {
            self.dropped += 1;
        }
    }
}

/// Autobahn's `binLogData`: hex of the first 64 bytes, ` ...` when there were more.
fn bin_log(data: &[u8]) -> String {
    if data.len() > 60 {
        format!("{} ...", to_hex(&data[..64.min(data.len())]))
    } else {
        to_hex(data)
    }
}

/// Autobahn's `asciiLogData`: the first 64 bytes as UTF-8, else `0x` and hex.
pub(crate) fn ascii_log(data: &[u8]) -> String {
    let (head, more) = if data.len() > 60 {
        (&data[..64.min(data.len())], " ...")
    } else {
        (data, "")
    };
    match std::str::from_utf8(head) {
        Ok(text) => format!("{text}{more}"),
        Err(_) => format!("0x{}", bin_log(data)),
    }
}

/// One case's run on one connection.
#[derive(Debug)]
pub(crate) struct CaseRun {
    case: &'static CaseDef,
    settings: RunSettings,
    state: State,
    closed_by_me: bool,
    failed_by_me: bool,
    dropped_by_me: bool,
    was_clean: bool,
    was_not_clean_reason: Option<String>,
    local_close_code: Option<u16>,
    local_close_reason: Option<Bytes>,
    remote_close_code: Option<u16>,
    remote_close_reason: Option<String>,
    received: Vec<Event>,
    wirelog: Wirelog,
    out: Vec<Output>,
    timers: Vec<(Instant, Timer)>,
    /// The next step of a step script.
    pc: usize,
    inbuf: BytesMut,
    header: Option<Header>,
    inside_message: bool,
    decoder: Option<Decoder>,
    encoder: Option<Encoder>,
    deflate: bool,
    auto_fragment: usize,
    scripted: Option<Scripted>,
    /// Round trips and compression: messages sent so far, and the one awaited.
    count: u32,
    last_sent: Bytes,
    data: Option<Arc<TestPayloads>>,
    data_pos: usize,
    started: Option<Instant>,
    ended: Option<Instant>,
}

/// What a finished run hands to the report.
#[derive(Debug, Clone)]
pub(crate) struct Finished {
    pub(crate) judgement: Judgement,
    pub(crate) explanation: Option<String>,
    pub(crate) duration_ms: u64,
    pub(crate) observed: Observed,
    /// The protocol's bookkeeping, for the case report.
    pub(crate) details: Value,
    pub(crate) wirelog: Vec<Value>,
}

impl CaseRun {
    /// A run of `case`; `deflate` is the permessage-deflate agreed in the handshake (12.*,
    /// 13.* only), `data` the payload source of a compression case.
    pub(crate) fn new(
        case: &'static CaseDef,
        settings: RunSettings,
        deflate: Option<&Agreement>,
        data: Option<Arc<TestPayloads>>,
    ) -> Self {
        Self {
            case,
            settings,
            state: State::Open,
            closed_by_me: false,
            failed_by_me: false,
            dropped_by_me: false,
            was_clean: false,
            was_not_clean_reason: None,
            local_close_code: None,
            local_close_reason: None,
            remote_close_code: None,
            remote_close_reason: None,
            received: Vec::new(),
            wirelog: Wirelog {
                on: true,
                ..Wirelog::default()
            },
            out: Vec::new(),
            timers: Vec::new(),
            pc: 0,
            inbuf: BytesMut::new(),
            header: None,
            inside_message: false,
            decoder: Some(Decoder::new(Role::Server, MAX_FRAME as usize, deflate)),
            encoder: deflate.map(|agreement| {
                // Autobahn judges the echo, not the size: the fastest level takes the CPU time
                // of the compression cases to less than half (zlib's longest-match search at
                // the default level dominated them).
                let mut encoder = Encoder::new(Role::Server, Some(agreement));
                encoder.set_compression_level(FAST_COMPRESSION_LEVEL);
                encoder
            }),
            deflate: deflate.is_some(),
            auto_fragment: 0,
            scripted: None,
            count: 0,
            last_sent: Bytes::new(),
            data,
            data_pos: 0,
            started: None,
            ended: None,
        }
    }

    /// The connection is open: the case starts (Autobahn's `onOpen`).
    pub(crate) fn open(&mut self, now: Instant) {
        self.started = Some(now);
        match &self.case.script {
            Script::Steps { .. } => self.run_steps(now),
            Script::OneEcho { wait_secs, .. } => {
                self.wirelog.on = false;
                self.scripted = Some(Scripted {
                    behavior: Verdict::Failed,
                    result: format!("Did not receive message within {wait_secs} seconds."),
                });
                self.run_steps(now);
            }
            Script::RoundTrips { wait_secs, .. } => {
                self.enable_wirelog(false);
                self.scripted = Some(Scripted {
                    behavior: Verdict::Failed,
                    result: format!("Case did not finish within {wait_secs} seconds."),
                });
                self.after(now, *wait_secs, Timer::CloseAfter);
                self.send_one();
            }
            Script::Compression {
                wait_secs,
                auto_fragment,
                ..
            } => {
                self.enable_wirelog(false);
                self.auto_fragment = *auto_fragment;
                if self.deflate {
                    self.scripted = Some(Scripted {
                        behavior: Verdict::Failed,
                        result: format!("Case did not finish within {wait_secs} seconds."),
                    });
                    self.after(now, *wait_secs, Timer::CloseAfter);
                    self.send_one();
                } else {
                    self.scripted = Some(Scripted {
                        behavior: Verdict::Unimplemented,
                        result: "The client did not offer permessage-deflate (or no offer was \
                                 acceptable to this case's server policy)."
                            .to_owned(),
                    });
                    self.send_close(Some(1000), None);
                }
            }
        }
    }

    /// Bytes from the client.
    pub(crate) fn on_bytes(&mut self, data: &[u8]) {
        if self.wirelog.on {
            self.wirelog
                .push(json!(["RO", [data.len(), bin_log(data)]]));
        }
        if self.state == State::Closed {
            return;
        }
        self.inbuf.extend_from_slice(data);
        while self.state != State::Closed {
            let header = match self.header {
                Some(header) => header,
                None => {
                    let Some(header) = parse_header(&self.inbuf) else {
                        break;
                    };
                    if self.check_header(&header) {
                        return;
                    }
                    if header.len > MAX_FRAME {
                        self.was_not_clean_reason = Some(format!(
                            "frame of {} bytes is over the server's limit",
                            header.len
                        ));
                        self.drop_connection();
                        return;
                    }
                    self.header = Some(header);
                    header
                }
            };
            let total = header.header_len + header.len as usize;
            if self.inbuf.len() < total {
                break;
            }
            let frame = self.inbuf.split_to(total);
            self.header = None;
            self.on_frame(header, frame);
        }
    }

    /// The client closed the TCP connection (or it broke).
    pub(crate) fn on_eof(&mut self, now: Instant) {
        if self.state != State::Closed {
            self.state = State::Closed;
        }
        if !self.was_clean && !self.dropped_by_me && self.was_not_clean_reason.is_none() {
            self.was_not_clean_reason = Some(
                "peer dropped the TCP connection without previous WebSocket closing handshake"
                    .to_owned(),
            );
        }
        self.ended.get_or_insert(now);
    }

    /// When [`CaseRun::on_timer`] is next due.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.iter().map(|(at, _)| *at).min()
    }

    /// Runs the timers due at `now`.
    pub(crate) fn on_timer(&mut self, now: Instant) {
        while let Some(pos) = self
            .timers
            .iter()
            .enumerate()
            .filter(|(_, (at, _))| *at <= now)
            .min_by_key(|(_, (at, _))| *at)
            .map(|(pos, _)| pos)
        {
            let (_, timer) = self.timers.remove(pos);
            self.fire(now, timer);
        }
    }

    /// Whether the server considers the connection gone (it dropped it, or the client did).
    pub(crate) fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// What to write since the last call.
    pub(crate) fn take_output(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// The verdicts and everything the report shows.
    pub(crate) fn finish(mut self, now: Instant) -> Finished {
        let ended = *self.ended.get_or_insert(now);
        let observed = Observed {
            connection_was_open: true,
            closed_by_me: self.closed_by_me,
            was_clean: self.was_clean,
            remote_close_code: self.remote_close_code,
            remote_close_reason: self.remote_close_reason.clone(),
            received: std::mem::take(&mut self.received),
        };
        let judgement = judge::judge(self.case, self.scripted.as_ref(), &observed);
        let explanation = judge::explain(self.case, &judgement, &observed, self.scripted.as_ref());
        let duration = self.started.map_or(Duration::ZERO, |started| {
            ended.saturating_duration_since(started)
        });
        if self.wirelog.dropped > 0 {
            let dropped = self.wirelog.dropped;
            self.wirelog.rows.push(json!([
                "NOTE",
                format!("{dropped} more wire log rows not kept")
            ]));
        }
        Finished {
            details: json!({
                "closedByMe": self.closed_by_me,
                "failedByMe": self.failed_by_me,
                "droppedByMe": self.dropped_by_me,
                "wasClean": self.was_clean,
                "wasNotCleanReason": self.was_not_clean_reason,
                "localCloseCode": self.local_close_code,
                "localCloseReason": self.local_close_reason.as_deref().map(ascii_log),
                "remoteCloseCode": self.remote_close_code,
                "remoteCloseReason": self.remote_close_reason,
            }),
            judgement,
            explanation,
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            observed,
            wirelog: self.wirelog.rows,
        }
    }

    // ---- the case's side ----

    fn steps(&self) -> &'static [Step] {
        match &self.case.script {
            Script::Steps { steps } | Script::OneEcho { steps, .. } => steps,
            _ => &[],
        }
    }

    /// Runs steps until a delay or the end.
    fn run_steps(&mut self, now: Instant) {
        let steps = self.steps();
        while let Some(step) = steps.get(self.pc) {
            self.pc += 1;
            match step {
                Step::Frame {
                    opcode,
                    fin,
                    rsv,
                    payload,
                    payload_len,
                    chopsize,
                    sync,
                } => self.send_frame(*opcode, *fin, *rsv, payload, *payload_len, *chopsize, *sync),
                Step::Message {
                    binary,
                    payload,
                    fragment_size,
                    sync,
                } => self.send_message(payload.to_bytes(), *binary, *fragment_size, *sync),
                Step::Raw { bytes, sync } => self.send_raw(bytes.to_bytes(), *sync),
                Step::Close { code, reason } => {
                    self.send_close_frame(*code, reason.as_ref().map(Payload::to_bytes), false);
                }
                Step::KillAfter { secs } => {
                    self.wirelog.push(json!(["KL", secs]));
                    self.after(now, *secs, Timer::Kill);
                }
                Step::CloseAfter { secs } => {
                    self.wirelog.push(json!(["TI", secs]));
                    self.after(now, *secs, Timer::CloseAfter);
                }
                Step::Wirelog { on } => self.enable_wirelog(*on),
                Step::Delay {
                    secs,
                    tag,
                    only_if_open,
                } => {
                    self.wirelog.push(json!(["CT", secs, tag]));
                    let at = now + super::spec::seconds(*secs);
                    self.timers.push((
                        at,
                        Timer::Continue {
                            only_if_open: *only_if_open,
                        },
                    ));
                    return;
                }
                Step::Mark { event } => self.received.push(event.clone()),
            }
        }
    }

    fn on_message(&mut self, message: Message) {
        let binary = matches!(message, Message::Binary(_));
        let payload = match message {
            Message::Text(text) => text.into_bytes(),
            Message::Binary(data) => data,
        };
        match &self.case.script {
            Script::Steps { .. } => {
                self.received.push(Event::Message {
                    payload: Payload::Bytes(payload),
                    binary,
                });
                self.finish_when_done();
            }
            Script::OneEcho {
                len,
                binary: want_binary,
                ..
            } => {
                let kind = if *want_binary { "binary" } else { "text" };
                let result = if binary != *want_binary {
                    let other = if binary { "binary" } else { "text" };
                    format!("Expected {kind} message with payload, but got {other}.")
                } else if payload.len() != *len {
                    format!(
                        "Expected {kind} message with payload of length {len}, but got {}.",
                        payload.len()
                    )
                } else {
                    self.scripted = Some(Scripted {
                        behavior: Verdict::Ok,
                        result: format!("Received {kind} message of length {len}."),
                    });
                    String::new()
                };
                if !result.is_empty() {
                    self.set_result(Verdict::Failed, result);
                }
                self.wirelog.on = true;
                self.send_close(Some(1000), None);
            }
            Script::RoundTrips {
                len,
                count,
                binary: want_binary,
                ..
            } => {
                if binary != *want_binary || payload.len() != *len {
                    let shown = if binary { "True" } else { "False" };
                    self.conclude(
                        Verdict::Failed,
                        format!(
                            "Echo'ed message type or length differs from what I sent (got binary = {shown}, payload length = {}).",
                            payload.len()
                        ),
                    );
                } else {
                    self.next_round(*count);
                }
            }
            Script::Compression {
                count,
                binary: want_binary,
                ..
            } => {
                if binary != *want_binary || payload != self.last_sent {
                    let result = if binary != *want_binary {
                        let py = |b: bool| if b { "True" } else { "False" };
                        format!(
                            "Echo'ed message type differs from what I sent (got binary {}, expected binary {}).",
                            py(binary),
                            py(*want_binary)
                        )
                    } else if payload.len() != self.last_sent.len() {
                        format!(
                            "Echo'ed message length differs from what I sent (got length {}, expected length {}).",
                            payload.len(),
                            self.last_sent.len()
                        )
                    } else {
                        "Echo'ed message contents differs from what I sent.".to_owned()
                    };
                    self.conclude(Verdict::Failed, result);
                } else {
                    self.next_round(*count);
                }
            }
        }
    }

    fn set_result(&mut self, behavior: Verdict, result: String) {
        self.scripted = Some(Scripted { behavior, result });
    }

    /// Ends a round-trip case with its verdict: the wire log back on, then a normal close.
    fn conclude(&mut self, behavior: Verdict, result: String) {
        self.set_result(behavior, result);
        self.enable_wirelog(true);
        self.send_close(Some(1000), None);
    }

    /// An echo came back right: the next message, or OK after the `count`th.
    fn next_round(&mut self, count: u32) {
        if self.count < count {
            self.send_one();
        } else {
            self.conclude(
                Verdict::Ok,
                "Ok, received all echo'ed messages in time.".to_owned(),
            );
        }
    }

    fn on_pong(&mut self, payload: Bytes) {
        self.received.push(Event::Pong {
            payload: Payload::Bytes(payload),
        });
        self.finish_when_done();
    }

    /// Autobahn's `finishWhenDone`: once the received events equal every expected list (so
    /// only for cases with one), the server starts the closing handshake if it is to.
    fn finish_when_done(&mut self) {
        if self
            .case
            .expected
            .values()
            .any(|events| *events != self.received)
        {
            return;
        }
        let close = self.case.expected_close();
        if close.closed_by_me && !self.case.suppress_close {
            self.send_close(close.close_code.first().copied(), None);
        }
    }

    /// The next message of a round-trip or compression case.
    fn send_one(&mut self) {
        match &self.case.script {
            Script::RoundTrips { len, binary, .. } => {
                let (opcode, fill) = if *binary { (2, 0xfe) } else { (1, b'*') };
                self.send_frame(
                    opcode,
                    true,
                    0,
                    &Payload::Fill(fill, *len),
                    None,
                    None,
                    false,
                );
            }
            Script::Compression { len, binary, .. } => {
                let Some(data) = self.data.clone() else {
                    return;
                };
                let (message, next) = data.slice(self.data_pos, *len);
                self.data_pos = next;
                self.last_sent = message.clone();
                self.send_message(message, *binary, None, false);
            }
            _ => return,
        }
        self.count += 1;
    }

    fn fire(&mut self, now: Instant, timer: Timer) {
        if self.state == State::Closed {
            return;
        }
        match timer {
            Timer::Kill => {
                self.wirelog.push(json!(["KLE"]));
                self.fail_connection(1001, "Going Away");
            }
            Timer::CloseAfter => {
                self.wirelog.push(json!(["TIE"]));
                self.send_close(None, None);
            }
            Timer::CloseHandshake => {
                self.was_clean = false;
                self.was_not_clean_reason =
                    Some("peer did not respond (in time) in closing handshake".to_owned());
                self.drop_connection();
            }
            Timer::Continue { only_if_open } => {
                if only_if_open && self.state != State::Open {
                    self.pc = usize::MAX;
                    return;
                }
                self.wirelog.push(json!(["CTE", Value::Null]));
                self.run_steps(now);
            }
        }
    }

    fn after(&mut self, now: Instant, secs: f64, timer: Timer) {
        let at = now + super::spec::seconds(secs * self.settings.timeout_scale);
        self.timers.push((at, timer));
    }

    fn enable_wirelog(&mut self, on: bool) {
        if on != self.wirelog.on {
            self.wirelog.on = on;
            self.wirelog.rows.push(json!(["WLM", on]));
        }
    }

    // ---- the protocol's side ----

    /// Autobahn's header checks, in its order. True when the connection was dropped
    /// (`failByDrop`) and processing must stop.
    fn check_header(&mut self, h: &Header) -> bool {
        let mut violations = Vec::new();
        if h.rsv != 0 && !(self.deflate && h.rsv == 4) {
            violations.push(format!("RSV = {} and no extension negotiated", h.rsv));
        }
        if h.mask.is_none() {
            violations.push("unmasked client-to-server frame".to_owned());
        }
        if h.opcode > 7 {
            if !h.fin {
                violations.push("fragmented control frame".to_owned());
            }
            if h.len > 125 {
                violations.push("control frame with payload length > 125 octets".to_owned());
            }
            if ![8, 9, 10].contains(&h.opcode) {
                violations.push(format!("control frame using reserved opcode {}", h.opcode));
            }
            if h.opcode == 8 && h.len == 1 {
                violations.push("received close control frame with payload len 1".to_owned());
            }
            if self.deflate && h.rsv == 4 {
                violations
                    .push("received compressed control frame [permessage-deflate]".to_owned());
            }
        } else {
            if ![0, 1, 2].contains(&h.opcode) {
                violations.push(format!("data frame using reserved opcode {}", h.opcode));
            }
            if !self.inside_message && h.opcode == 0 {
                violations
                    .push("received continuation data frame outside fragmented message".to_owned());
            }
            if self.inside_message && h.opcode != 0 {
                violations.push(
                    "received non-continuation data frame while inside fragmented message"
                        .to_owned(),
                );
            }
            if self.deflate && h.rsv == 4 && self.inside_message {
                violations.push(
                    "received continuation data frame with compress bit set [permessage-deflate]"
                        .to_owned(),
                );
            }
        }
        if !minimal_length(h) {
            violations
                .push("invalid data frame length (not using minimal length encoding)".to_owned());
        }
        for reason in violations {
            if self.protocol_violation(&reason) {
                return true;
            }
        }
        if h.opcode <= 7 {
            self.inside_message = true;
        }
        false
    }

    fn on_frame(&mut self, h: Header, frame: BytesMut) {
        // The decoder unmasks data frames itself: a copy is made here only for control frames
        // and the wire log (off during the 1000-message rounds of 9.*, 12.* and 13.*).
        if h.opcode > 7 || self.wirelog.on {
            let mut payload = frame[h.header_len..].to_vec();
            if let Some(mask) = h.mask {
                for (i, byte) in payload.iter_mut().enumerate() {
                    *byte ^= mask[i % 4];
                }
            }
            if self.on_logged_frame(&h, payload) {
                return;
            }
        }
        if h.fin {
            self.inside_message = false;
        }
        if self.failed_by_me {
            return;
        }
        let Some(decoder) = self.decoder.as_mut() else {
            return;
        };
        let mut frame = frame;
        match decoder.decode(&mut frame) {
            Ok(Some(Inbound::Message(message))) => self.on_message(message),
            Ok(_) => {}
            Err(err) => {
                self.decoder = None;
                self.fail_connection(err.code.as_u16(), &err.reason);
            }
        }
    }

    /// Logs a frame's unmasked `payload` if the wire log is on and handles control frames;
    /// whether it was one (data frames go on to the decoder).
    fn on_logged_frame(&mut self, h: &Header, payload: Vec<u8>) -> bool {
        if self.wirelog.on {
            self.wirelog.push(json!([
                "RF",
                [payload.len(), ascii_log(&payload)],
                h.opcode,
                h.fin,
                h.rsv,
                h.mask.is_some(),
                h.mask.map(|mask| to_hex(&mask)),
            ]));
        }
        if h.opcode > 7 {
            match h.opcode {
                8 => {
                    let code =
                        (payload.len() > 1).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    let reason = (payload.len() > 2).then(|| payload[2..].to_vec());
                    self.on_close_frame(code, reason);
                }
                // Autobahn's onPing: a pong, only while open.
                9 if self.state == State::Open => {
                    let payload = Payload::Bytes(Bytes::from(payload));
                    self.send_frame(10, true, 0, &payload, None, None, false);
                }
                10 => self.on_pong(Bytes::from(payload)),
                _ => {}
            }
            return true;
        }
        false
    }

    /// Autobahn's `onCloseFrame`, server side.
    fn on_close_frame(&mut self, code: Option<u16>, reason: Option<Vec<u8>>) {
        self.remote_close_code = code;
        if let Some(code) = code {
            let allowed = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011];
            let invalid = code < 1000 || (code <= 2999 && !allowed.contains(&code)) || code >= 5000;
            if invalid && self.protocol_violation(&format!("invalid close code {code}")) {
                return;
            }
        }
        if let Some(reason) = reason {
            match String::from_utf8(reason) {
                Ok(reason) => self.remote_close_reason = Some(reason),
                Err(err) => {
                    if self.invalid_payload("invalid close reason (non-UTF-8 payload)") {
                        return;
                    }
                    self.remote_close_reason =
                        Some(String::from_utf8_lossy(err.as_bytes()).into_owned());
                }
            }
        }
        match self.state {
            State::Closing => {
                self.timers
                    .retain(|(_, timer)| *timer != Timer::CloseHandshake);
                self.was_clean = true;
                self.drop_connection();
            }
            State::Open => {
                self.was_clean = true;
                self.send_close_frame(Some(1000), None, true);
                self.drop_connection();
            }
            State::Closed => self.was_clean = false,
        }
    }

    fn protocol_violation(&mut self, reason: &str) -> bool {
        self.fail_connection(1002, reason);
        self.settings.fail_by_drop
    }

    fn invalid_payload(&mut self, reason: &str) -> bool {
        self.fail_connection(1007, reason);
        self.settings.fail_by_drop
    }

    /// Autobahn's `failConnection`: a close frame with `code` (or, with `failByDrop`, TCP
    /// dropped at once).
    fn fail_connection(&mut self, code: u16, reason: &str) {
        if self.state == State::Closed {
            return;
        }
        self.failed_by_me = true;
        if self.settings.fail_by_drop {
            self.was_clean = false;
            self.was_not_clean_reason =
                Some("I failed the WebSocket connection by dropping the TCP connection".to_owned());
            self.drop_connection();
        } else if self.state != State::Closing {
            let reason = &reason.as_bytes()[..reason.len().min(123)];
            self.send_close_frame(Some(code), Some(Bytes::copy_from_slice(reason)), false);
        } else {
            self.drop_connection();
        }
    }

    fn drop_connection(&mut self) {
        if self.state != State::Closed {
            self.dropped_by_me = true;
            self.state = State::Closed;
            self.out.push(Output::Shutdown);
        }
    }

    /// Autobahn's `sendClose`.
    fn send_close(&mut self, code: Option<u16>, reason: Option<Bytes>) {
        self.send_close_frame(code, reason, false);
    }

    /// Autobahn's `sendCloseFrame`: only while open; the server is now closing.
    fn send_close_frame(&mut self, code: Option<u16>, reason: Option<Bytes>, is_reply: bool) {
        if self.state != State::Open {
            return;
        }
        let mut payload = Vec::new();
        if let Some(code) = code {
            payload.extend_from_slice(&code.to_be_bytes());
        }
        if let Some(reason) = &reason {
            payload.extend_from_slice(reason);
        }
        self.send_frame(
            8,
            true,
            0,
            &Payload::Bytes(Bytes::from(payload)),
            None,
            None,
            false,
        );
        self.state = State::Closing;
        self.closed_by_me = !is_reply;
        self.local_close_code = code;
        self.local_close_reason = reason;
        if self.closed_by_me && !self.settings.close_timeout.is_zero() {
            let at = Instant::now() + self.settings.close_timeout;
            self.timers.push((at, Timer::CloseHandshake));
        }
    }

    /// Autobahn's `sendFrame`: one frame as given, `payload` repeated to `payload_len`,
    /// written `chopsize` bytes at a time.
    #[allow(
        clippy::too_many_arguments,
        reason = "Autobahn's sendFrame, one to one"
    )]
    fn send_frame(
        &mut self,
        opcode: u8,
        fin: bool,
        rsv: u8,
        payload: &Payload,
        payload_len: Option<usize>,
        chopsize: Option<usize>,
        sync: bool,
    ) {
        let pattern = payload.to_bytes();
        let body = match payload_len {
            Some(len) if !pattern.is_empty() => Bytes::from(
                pattern
                    .iter()
                    .copied()
                    .cycle()
                    .take(len)
                    .collect::<Vec<u8>>(),
            ),
            _ => pattern.clone(),
        };
        if self.wirelog.on {
            self.wirelog.push(json!([
                "TF",
                [pattern.len(), ascii_log(&pattern)],
                opcode,
                fin,
                rsv,
                Value::Null,
                payload_len,
                chopsize,
                sync
            ]));
        }
        let first = (u8::from(fin) << 7) | ((rsv % 8) << 4) | (opcode % 16);
        let mut out = BytesMut::new();
        write_frame(&mut out, first, None, &body);
        let bytes = out.freeze();
        match chopsize {
            Some(chop) if chop > 0 => {
                for chunk in bytes.chunks(chop) {
                    self.send_raw(Bytes::copy_from_slice(chunk), true);
                }
            }
            _ => self.send_raw(bytes, sync),
        }
    }

    /// Autobahn's `sendMessage`: compressed if negotiated, fragmented to `fragment_size` (or
    /// the case's auto-fragment size).
    fn send_message(
        &mut self,
        payload: Bytes,
        binary: bool,
        fragment_size: Option<usize>,
        sync: bool,
    ) {
        let opcode = if binary { 2 } else { 1 };
        let (payload, rsv) = match self.encoder.as_mut() {
            Some(encoder) => {
                let mut frame = BytesMut::new();
                encoder.message(&mut frame, &Message::Binary(payload));
                let header_len = match frame.get(1).map(|b| b & 0x7f) {
                    Some(126) => 4,
                    Some(127) => 10,
                    _ => 2,
                };
                let frame = frame.freeze();
                (frame.slice(header_len.min(frame.len())..), 4)
            }
            None => (payload, 0),
        };
        let size = fragment_size.or((self.auto_fragment > 0).then_some(self.auto_fragment));
        match size {
            Some(size) if size > 0 && payload.len() > size => {
                // Autobahn's loop, exactly: a payload that is a multiple of the fragment size
                // ends with an empty final fragment (9.3.2 sends 16384 + 1 frames, which is
                // what trips ws's and websockets' fragment limits).
                let n = payload.len();
                let mut start = 0;
                loop {
                    let end = start + size;
                    let done = end > n;
                    let chunk = Payload::Bytes(payload.slice(start..end.min(n)));
                    let (op, rsv) = if start == 0 { (opcode, rsv) } else { (0, 0) };
                    self.send_frame(op, done, rsv, &chunk, None, None, sync);
                    if done {
                        break;
                    }
                    start = end;
                }
            }
            _ => self.send_frame(
                opcode,
                true,
                rsv,
                &Payload::Bytes(payload),
                None,
                None,
                sync,
            ),
        }
    }

    fn send_raw(&mut self, bytes: Bytes, sync: bool) {
        if self.state == State::Closed {
            return;
        }
        if self.wirelog.on {
            self.wirelog
                .push(json!(["TO", [bytes.len(), bin_log(&bytes)], sync]));
        }
        self.out.push(Output::Data { bytes, sync });
    }
}

/// The header at the front of `buf`, or `None` until it is all there.
pub(super) fn parse_header(buf: &[u8]) -> Option<Header> {
    let [b0, b1, ..] = *buf else {
        return None;
    };
    let len7 = b1 & 0x7f;
    let (len, mut at) = match len7 {
        126 => (
            u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(bytes), 10)
        }
        len => (u64::from(len), 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let mask: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(mask)
    } else {
        None
    };
    Some(Header {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x07,
        opcode: b0 & 0x0f,
        mask,
        len,
        header_len: at,
    })
}

/// Whether the length was written in the fewest bytes (RFC 6455 §5.2).
fn minimal_length(h: &Header) -> bool {
    let without_mask = h.header_len - if h.mask.is_some() { 4 } else { 0 };
    match without_mask {
        4 => h.len >= 126,
        10 => h.len >= 65536,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::catalogue::catalogue;
    use super::*;

    fn run(id: &str) -> CaseRun {
        let catalogue = catalogue().unwrap_or_else(|err| panic!("{err}"));
        let case = catalogue
            .cases
            .iter()
            .find(|case| case.id == id)
            .unwrap_or_else(|| panic!("no case {id}"));
        CaseRun::new(case, RunSettings::default(), None, None)
    }

    /// A frame as a client sends it (masked).
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        write_frame(&mut out, first, Some([1, 2, 3, 4]), payload);
        out.to_vec()
    }

    fn written(run: &mut CaseRun) -> Vec<u8> {
        run.take_output()
            .into_iter()
            .flat_map(|output| match output {
                Output::Data { bytes, .. } => bytes.to_vec(),
                Output::Shutdown => b"<shutdown>".to_vec(),
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn an_echo_and_a_close_reply_are_ok() {
        let mut run = run("1.1.2");
        run.open(Instant::now());
        let sent = written(&mut run);
        assert_eq!(&sent[..2], &[0x81, 125]);
        run.on_bytes(&client_frame(0x81, &[b'*'; 125]));
        // The echo matched: the server starts the closing handshake with 1000.
        assert_eq!(written(&mut run), [0x88, 2, 0x03, 0xe8]);
        run.on_bytes(&client_frame(0x88, &[0x03, 0xe8]));
        assert!(run.is_closed());
        let finished = run.finish(Instant::now());
        let j = finished.judgement;
        assert_eq!((j.behavior, j.behavior_close), (Verdict::Ok, Verdict::Ok));
        assert_eq!(finished.explanation, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_failed_after_the_cases_time_and_is_unclean() {
        let mut run = run("1.1.1");
        run.open(Instant::now());
        let _ = written(&mut run);
        tokio::time::advance(Duration::from_millis(999)).await;
        run.on_timer(Instant::now());
        assert!(written(&mut run).is_empty(), "killAfter(1) has not expired");
        tokio::time::advance(Duration::from_millis(1)).await;
        run.on_timer(Instant::now());
        // Autobahn's failConnection: close 1001 "Going Away".
        let close = written(&mut run);
        assert_eq!(&close[..4], &[0x88, 12, 0x03, 0xe9]);
        assert_eq!(&close[4..], b"Going Away");
        tokio::time::advance(Duration::from_secs(1)).await;
        run.on_timer(Instant::now());
        assert_eq!(written(&mut run), b"<shutdown>");
        let finished = run.finish(Instant::now());
        let j = finished.judgement;
        assert_eq!(
            (j.behavior, j.behavior_close),
            (Verdict::Failed, Verdict::Unclean)
        );
        let why = finished.explanation.unwrap_or_default();
        assert!(why.contains("a text message of 0 bytes"), "{why}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_fails_on_a_reserved_opcode_is_ok() {
        let mut run = run("4.1.1");
        run.open(Instant::now());
        assert_eq!(written(&mut run), [0x83, 0]);
        // The client fails the connection with 1002; the server answers and drops TCP.
        run.on_bytes(&client_frame(0x88, &[0x03, 0xea]));
        assert_eq!(written(&mut run), b"\x88\x02\x03\xe8<shutdown>");
        let j = run.finish(Instant::now()).judgement;
        assert_eq!((j.behavior, j.behavior_close), (Verdict::Ok, Verdict::Ok));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unmasked_client_frame_is_a_protocol_error() {
        let mut run = run("1.1.1");
        run.open(Instant::now());
        let _ = written(&mut run);
        run.on_bytes(&[0x81, 0x00]);
        let close = written(&mut run);
        assert_eq!(&close[..4], &[0x88, 33, 0x03, 0xea]);
        assert_eq!(&close[4..], b"unmasked client-to-server frame");
    }

    #[tokio::test(start_paused = true)]
    async fn chopped_frames_are_written_chop_by_chop() {
        let mut run = run("2.6");
        run.open(Instant::now());
        let outputs = run.take_output();
        // 2 header bytes + 125 payload bytes, one byte per write.
        assert_eq!(outputs.len(), 127);
        assert!(
            outputs
                .iter()
                .all(|o| matches!(o, Output::Data { bytes, sync: true } if bytes.len() == 1))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fragments_end_as_autobahns_do_with_an_empty_frame_after_an_exact_multiple() {
        let mut run = run("1.1.1");
        run.send_message(Bytes::from_static(b"abcd"), false, Some(2), false);
        assert_eq!(
            written(&mut run),
            [0x01, 2, b'a', b'b', 0x00, 2, b'c', b'd', 0x80, 0]
        );
        run.send_message(Bytes::from_static(b"abc"), true, Some(2), false);
        assert_eq!(written(&mut run), [0x02, 2, b'a', b'b', 0x80, 1, b'c']);
    }

    #[tokio::test(start_paused = true)]
    async fn utf8_fail_fast_records_the_first_wait_only_while_open() {
        let mut run = run("6.4.1");
        run.open(Instant::now());
        let _ = written(&mut run);
        tokio::time::advance(Duration::from_secs(1)).await;
        run.on_timer(Instant::now());
        // The wait expired with the connection open: "timeout A" is recorded, part 2 sent.
        assert_eq!(written(&mut run), [0x00, 4, 0xf4, 0x90, 0x80, 0x80]);
        // The client fails fast with 1007.
        run.on_bytes(&client_frame(0x88, &[0x03, 0xef]));
        let finished = run.finish(Instant::now());
        let j = finished.judgement;
        assert_eq!((j.behavior, j.behavior_close), (Verdict::Ok, Verdict::Ok));
    }
}
