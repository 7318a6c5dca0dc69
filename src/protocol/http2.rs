//! HTTP/2 frames (RFC 9113 §4, §6) as a client author wants to read them, decoded from the
//! plaintext bytes of one connection in both directions, for the wire trace.
//!
//! Bounded whatever a peer sends: a payload is kept only as far as its line needs it (DATA not
//! at all, other frames up to [`KEPT`] bytes, a header block up to [`MAX_BLOCK`]), the decoded
//! fields shown are capped, and a frame that breaks a framing rule stops the decoding of its
//! direction with an event naming the rule. Header blocks go through one HPACK decoder per
//! direction (RFC 7541), in order, so each dynamic table stays its sender's.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use super::head::escape;

/// The client's connection preface (RFC 9113 §3.4).
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The preface's request line: what tells a prior-knowledge client from an HTTP/1.x one. The
/// rest of the preface is h2's to check, so a wrong one gets its diagnosis.
pub(crate) const PREFACE_LINE: &[u8] = b"PRI * HTTP/2.0";

/// Whether a connection's first `bytes` open with the HTTP/2 preface (prior knowledge): three
/// of them decide, as no HTTP/1.x method starts with `PRI`.
pub(crate) fn opens_with_preface(bytes: &[u8]) -> bool {
    bytes.len() >= 3 && PREFACE_LINE.starts_with(&bytes[..bytes.len().min(PREFACE_LINE.len())])
}
const HEAD_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE until the receiver says otherwise (RFC 9113 §6.5.2).
const DEFAULT_MAX_FRAME: u32 = 16_384;
/// SETTINGS_HEADER_TABLE_SIZE until the receiver says otherwise (RFC 9113 §6.5.2).
const DEFAULT_TABLE: usize = 4096;
/// Largest HPACK dynamic table followed; a receiver may allow more, and a sender that uses it
/// stops the decoding of its header blocks.
const MAX_TABLE: usize = 1 << 20;
/// Payload bytes of a frame other than DATA kept for its line (SETTINGS, GOAWAY's debug data).
const KEPT: usize = 16_384;
/// Largest header block (HEADERS or PUSH_PROMISE and its CONTINUATION frames) decoded.
pub(crate) const MAX_BLOCK: usize = 256 * 1024;
/// Bytes of a field value or of GOAWAY debug data shown.
const SHOWN: usize = 256;
/// Fields of one header block shown; the rest are counted.
const SHOWN_FIELDS: usize = 64;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
const SETTINGS_ENABLE_PUSH: u16 = 0x2;
const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
const SETTINGS_ENABLE_CONNECT_PROTOCOL: u16 = 0x8;

/// Who sent the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sender {
    Client,
    Server,
}

/// What one feed of bytes decoded to.
#[derive(Debug)]
pub(crate) enum Event {
    /// The client's connection preface, whole.
    Preface,
    Frame(Frame),
    /// Decoding of this direction stopped: the sender broke the rule the text names.
    Stopped(String),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Preface => {
                f.write_str("connection preface \"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\"")
            }
            Self::Frame(frame) => write!(f, "frame {frame}"),
            Self::Stopped(why) => write!(f, "HTTP/2 frames no longer decoded: {why}"),
        }
    }
}

/// One frame: its header (RFC 9113 §4.1) and what its payload says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
    pub(crate) len: u32,
    pub(crate) body: Body,
}

/// A frame's payload, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    Data {
        /// Payload bytes less padding.
        data: u32,
        padding: Option<u8>,
    },
    Headers {
        priority: Option<Priority>,
        padding: Option<u8>,
        fields: Fields,
    },
    Priority(Priority),
    /// A PRIORITY frame that is not 5 bytes (a stream error, RFC 9113 §6.3).
    BadPriority,
    RstStream(u32),
    Settings(Vec<(u16, u32)>),
    PushPromise {
        promised: u32,
        padding: Option<u8>,
        fields: Fields,
    },
    Ping([u8; 8]),
    GoAway {
        last_stream: u32,
        code: u32,
        debug: Vec<u8>,
    },
    WindowUpdate(u32),
    Continuation(Fields),
    /// A type RFC 9113 does not define: ignored by the receiver (§4.1, §5.5).
    Unknown,
}

/// RFC 9113 §5.3.2's priority fields (deprecated, still parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Priority {
    pub(crate) exclusive: bool,
    pub(crate) depends_on: u32,
    /// The wire value plus one (1 to 256).
    pub(crate) weight: u16,
}

/// The header fields of a block, once its last frame (END_HEADERS) arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fields {
    /// The block goes on in CONTINUATION frames.
    Continues,
    Decoded {
        /// Name and value, each cut for showing.
        shown: Vec<(Vec<u8>, Vec<u8>)>,
        /// Fields beyond those shown.
        more: usize,
    },
    /// Not decoded, and why.
    NotDecoded(String),
}

impl Frame {
    fn name(&self) -> Cow<'static, str> {
        type_name(self.kind)
            .map_or_else(|| format!("type=0x{:02x}", self.kind).into(), Cow::Borrowed)
    }
}

fn type_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        DATA => "DATA",
        HEADERS => "HEADERS",
        PRIORITY => "PRIORITY",
        RST_STREAM => "RST_STREAM",
        SETTINGS => "SETTINGS",
        PUSH_PROMISE => "PUSH_PROMISE",
        PING => "PING",
        GOAWAY => "GOAWAY",
        WINDOW_UPDATE => "WINDOW_UPDATE",
        CONTINUATION => "CONTINUATION",
        _ => return None,
    })
}

/// The section of RFC 9113 that defines a frame type.
fn section(kind: u8) -> &'static str {
    match kind {
        DATA => "§6.1",
        HEADERS => "§6.2",
        PRIORITY => "§6.3",
        RST_STREAM => "§6.4",
        SETTINGS => "§6.5",
        PUSH_PROMISE => "§6.6",
        PING => "§6.7",
        GOAWAY => "§6.8",
        WINDOW_UPDATE => "§6.9",
        CONTINUATION => "§6.10",
        _ => "§5.5",
    }
}

/// The flag names of a frame type (RFC 9113 §6), with any undefined bits in hex.
fn flag_names(kind: u8, flags: u8) -> String {
    let defined: &[(u8, &str)] = match kind {
        DATA => &[(END_STREAM, "END_STREAM"), (PADDED, "PADDED")],
        HEADERS => &[
            (END_STREAM, "END_STREAM"),
            (END_HEADERS, "END_HEADERS"),
            (PADDED, "PADDED"),
            (PRIORITY_FLAG, "PRIORITY"),
        ],
        SETTINGS | PING => &[(ACK, "ACK")],
        PUSH_PROMISE => &[(END_HEADERS, "END_HEADERS"), (PADDED, "PADDED")],
        CONTINUATION => &[(END_HEADERS, "END_HEADERS")],
        _ => &[],
    };
    let mut names = Vec::new();
    let mut rest = flags;
    for &(bit, name) in defined {
        if flags & bit != 0 {
            names.push(name.to_owned());
            rest &= !bit;
        }
    }
    if rest != 0 {
        names.push(format!("0x{rest:02x}"));
    }
    names.join("|")
}

/// An error code by its RFC 9113 §7 name.
pub(crate) fn error_name(code: u32) -> Cow<'static, str> {
    let name = match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => return format!("0x{code:x}").into(),
    };
    Cow::Borrowed(name)
}

/// A setting by its name (RFC 9113 §6.5.2, RFC 8441 §3, RFC 9218 §2.1).
fn setting_name(id: u16) -> Cow<'static, str> {
    let name = match id {
        0x1 => "HEADER_TABLE_SIZE",
        0x2 => "ENABLE_PUSH",
        0x3 => "MAX_CONCURRENT_STREAMS",
        0x4 => "INITIAL_WINDOW_SIZE",
        0x5 => "MAX_FRAME_SIZE",
        0x6 => "MAX_HEADER_LIST_SIZE",
        0x8 => "ENABLE_CONNECT_PROTOCOL",
        0x9 => "NO_RFC7540_PRIORITIES",
        _ => return format!("0x{id:x}").into(),
    };
    Cow::Borrowed(name)
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} stream={} len={}", self.name(), self.stream, self.len)?;
        if self.flags != 0 {
            write!(f, " flags={}", flag_names(self.kind, self.flags))?;
        }
        let padding = |f: &mut fmt::Formatter<'_>, padding: Option<u8>| match padding {
            Some(padding) => write!(f, " padding={padding}"),
            None => Ok(()),
        };
        match &self.body {
            Body::Data { data, padding: pad } => {
                write!(f, " data={data} B")?;
                padding(f, *pad)
            }
            Body::Headers {
                priority,
                padding: pad,
                fields,
            } => {
                if let Some(priority) = priority {
                    write!(f, " {priority}")?;
                }
                padding(f, *pad)?;
                write!(f, "{fields}")
            }
            Body::Priority(priority) => write!(f, " {priority}"),
            Body::BadPriority => {
                f.write_str(" [not 5 bytes: a stream error FRAME_SIZE_ERROR, RFC 9113 §6.3]")
            }
            Body::RstStream(code) => write!(f, " error={}", error_name(*code)),
            Body::Settings(settings) => {
                for (id, value) in settings {
                    write!(f, " {}={value}", setting_name(*id))?;
                }
                Ok(())
            }
            Body::PushPromise {
                promised,
                padding: pad,
                fields,
            } => {
                write!(f, " promised_stream={promised}")?;
                padding(f, *pad)?;
                write!(f, "{fields}")
            }
            Body::Ping(opaque) => {
                f.write_str(" opaque=")?;
                opaque.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
            Body::GoAway {
                last_stream,
                code,
                debug,
            } => {
                write!(f, " last_stream={last_stream} error={}", error_name(*code))?;
                if !debug.is_empty() {
                    write!(f, " debug=\"{}\"", escape(debug, SHOWN))?;
                }
                Ok(())
            }
            Body::WindowUpdate(increment) => {
                write!(f, " increment={increment}")?;
                if *increment == 0 {
                    f.write_str(" [0 is a PROTOCOL_ERROR, RFC 9113 §6.9]")?;
                }
                Ok(())
            }
            Body::Continuation(fields) => write!(f, "{fields}"),
            Body::Unknown => f.write_str(" (unknown type: ignored, RFC 9113 §5.5)"),
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "depends_on={} weight={}", self.depends_on, self.weight)?;
        if self.exclusive {
            f.write_str(" exclusive")?;
        }
        Ok(())
    }
}

impl fmt::Display for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Continues => f.write_str(" (header block continues)"),
            Self::Decoded { shown, more } => {
                for (name, value) in shown {
                    write!(f, " [{}: {}]", escape(name, SHOWN), escape(value, SHOWN))?;
                }
                if *more > 0 {
                    write!(f, " (and {more} more fields)")?;
                }
                Ok(())
            }
            Self::NotDecoded(why) => write!(f, " (header block not decoded: {why})"),
        }
    }
}

/// Both directions of one connection. A SETTINGS frame from one side changes what the other
/// side may send: its largest frame and its HPACK table.
#[derive(Debug)]
pub(crate) struct Connection {
    client: Direction,
    server: Direction,
    /// The debug data of the last GOAWAY the server sent (h2 names the limit it enforced there).
    server_goaway: Option<String>,
}

impl Default for Connection {
    fn default() -> Self {
        Self {
            client: Direction::new(Sender::Client),
            server: Direction::new(Sender::Server),
            server_goaway: None,
        }
    }
}

impl Connection {
    /// Decodes `bytes`, the next ones `sender` sent, into `out`.
    pub(crate) fn feed(&mut self, sender: Sender, bytes: &[u8], out: &mut Vec<Event>) {
        let from = out.len();
        let (this, other) = match sender {
            Sender::Client => (&mut self.client, &mut self.server),
            Sender::Server => (&mut self.server, &mut self.client),
        };
        this.feed(bytes, out);
        for event in &out[from..] {
            match event {
                Event::Frame(Frame {
                    body: Body::Settings(settings),
                    ..
                }) => other.apply(settings),
                Event::Frame(Frame {
                    body: Body::GoAway { debug, .. },
                    ..
                }) if sender == Sender::Server => {
                    self.server_goaway = Some(String::from_utf8_lossy(debug).into_owned());
                }
                _ => {}
            }
        }
    }

    /// The debug data of the last GOAWAY the server sent.
    pub(crate) fn server_goaway(&self) -> Option<&str> {
        self.server_goaway.as_deref()
    }

    /// The first field that made one of the client's messages malformed, and its stream.
    pub(crate) fn client_malformed(&self) -> Option<(u32, &str)> {
        self.client
            .malformed
            .as_ref()
            .map(|(stream, why)| (*stream, why.as_str()))
    }

    /// Why the client's frames stopped being decoded: the first framing rule it broke.
    pub(crate) fn client_violation(&self) -> Option<&str> {
        match &self.client.step {
            Step::Stopped(why) => Some(why),
            _ => None,
        }
    }
}

/// One direction: the frames of one sender.
struct Direction {
    sender: Sender,
    step: Step,
    head: [u8; HEAD_LEN],
    /// Bytes of `head` received.
    filled: usize,
    /// The frame whose payload is being received, and how many bytes of it are still to come.
    current: Option<(Head, usize)>,
    /// What is kept of the current payload, and how much of it to keep.
    kept: Vec<u8>,
    keep: usize,
    /// The largest frame the receiver allows (the largest it has announced: a new value counts
    /// from its ACK, which a trace need not wait for).
    max_frame: u32,
    /// `None` once a header block could not be followed: the dynamic table is then unknown.
    hpack: Option<loona_hpack::Decoder<'static>>,
    hpack_lost: String,
    /// The first field that makes a request or response malformed (RFC 9113 §8.2), and the
    /// stream of its block.
    malformed: Option<(u32, String)>,
    /// The largest HPACK table the receiver allows.
    table: usize,
    block: Option<Block>,
    frames: u64,
}

impl fmt::Debug for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Direction")
            .field("sender", &self.sender)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum Step {
    /// Bytes of the client's preface received.
    Preface(usize),
    Frames,
    /// Why decoding stopped.
    Stopped(String),
}

#[derive(Debug, Clone, Copy)]
struct Head {
    len: u32,
    kind: u8,
    flags: u8,
    stream: u32,
}

impl Head {
    /// A frame's 9-byte header (RFC 9113 §4.1); the reserved bit of the stream is ignored.
    fn parse(h: &[u8; HEAD_LEN]) -> Self {
        Self {
            len: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            kind: h[3],
            flags: h[4],
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
        }
    }
}

/// A header block being received across frames.
#[derive(Debug)]
struct Block {
    stream: u32,
    bytes: Vec<u8>,
    /// Over [`MAX_BLOCK`]: not kept, not decoded.
    over: bool,
}

impl Direction {
    fn new(sender: Sender) -> Self {
        let mut hpack = loona_hpack::Decoder::new();
        hpack.set_max_allowed_table_size(DEFAULT_TABLE);
        Self {
            sender,
            step: match sender {
                Sender::Client => Step::Preface(0),
                Sender::Server => Step::Frames,
            },
            head: [0; HEAD_LEN],
            filled: 0,
            current: None,
            kept: Vec::new(),
            keep: 0,
            max_frame: DEFAULT_MAX_FRAME,
            hpack: Some(hpack),
            hpack_lost: String::new(),
            malformed: None,
            table: DEFAULT_TABLE,
            block: None,
            frames: 0,
        }
    }

    /// What the other side's SETTINGS allow this sender.
    fn apply(&mut self, settings: &[(u16, u32)]) {
        for &(id, value) in settings {
            match id {
                SETTINGS_MAX_FRAME_SIZE => self.max_frame = self.max_frame.max(value),
                SETTINGS_HEADER_TABLE_SIZE => {
                    let size = usize::try_from(value).unwrap_or(usize::MAX).min(MAX_TABLE);
                    if size > self.table {
                        self.table = size;
                        if let Some(hpack) = self.hpack.as_mut() {
                            hpack.set_max_allowed_table_size(size);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn stop(&mut self, why: String, out: &mut Vec<Event>) {
        out.push(Event::Stopped(why.clone()));
        self.step = Step::Stopped(why);
        self.kept = Vec::new();
        self.block = None;
        self.hpack = None;
    }

    fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Event>) {
        while !bytes.is_empty() {
            match self.step {
                Step::Stopped(_) => return,
                Step::Preface(seen) => {
                    let n = (PREFACE.len() - seen).min(bytes.len());
                    if bytes[..n] != PREFACE[seen..seen + n] {
                        let why = format!(
                            "the client's first bytes are not the connection preface \
                             \"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\" (RFC 9113 §3.4): \"{}\"",
                            escape(&bytes[..n], 64)
                        );
                        return self.stop(why, out);
                    }
                    bytes = &bytes[n..];
                    if seen + n == PREFACE.len() {
                        self.step = Step::Frames;
                        out.push(Event::Preface);
                    } else {
                        self.step = Step::Preface(seen + n);
                    }
                }
                Step::Frames => match self.current {
                    None => {
                        let n = (HEAD_LEN - self.filled).min(bytes.len());
                        self.head[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
                        self.filled += n;
                        bytes = &bytes[n..];
                        if self.filled == HEAD_LEN {
                            self.filled = 0;
                            self.start_frame(out);
                        }
                    }
                    Some((head, left)) => {
                        let n = left.min(bytes.len());
                        let want = self.keep.saturating_sub(self.kept.len()).min(n);
                        self.kept.extend_from_slice(&bytes[..want]);
                        bytes = &bytes[n..];
                        if n == left {
                            self.current = None;
                            self.finish_frame(head, out);
                        } else {
                            self.current = Some((head, left - n));
                        }
                    }
                },
            }
        }
    }

    /// A frame header is complete: checks it, and either finishes the frame (no payload) or
    /// starts receiving its payload.
    fn start_frame(&mut self, out: &mut Vec<Event>) {
        let head = Head::parse(&self.head);
        if let Err(why) = self.check(head) {
            return self.stop(why, out);
        }
        self.frames += 1;
        let len = head.len as usize;
        self.keep = match head.kind {
            DATA => usize::from(head.flags & PADDED != 0),
            // A fragment cut short makes its block too large to decode (see `block_fragment`).
            HEADERS | PUSH_PROMISE | CONTINUATION => len.min(MAX_BLOCK + 1),
            _ => len.min(KEPT),
        };
        self.kept.clear();
        if len == 0 {
            self.finish_frame(head, out);
        } else {
            self.current = Some((head, len));
        }
    }

    /// The rules a frame's header alone can break, each a connection error that leaves the
    /// rest of the connection meaningless to decode.
    fn check(&self, head: Head) -> Result<(), String> {
        let name = type_name(head.kind).unwrap_or("an unknown");
        let kind = head.kind;
        if head.len > self.max_frame {
            return Err(format!(
                "a {name} frame of {} bytes, over the {} bytes SETTINGS_MAX_FRAME_SIZE allows \
                 (RFC 9113 §4.2: FRAME_SIZE_ERROR)",
                head.len, self.max_frame
            ));
        }
        if self.frames == 0 && kind != SETTINGS {
            return Err(format!(
                "the first frame is {name}, not SETTINGS (RFC 9113 §3.4: the connection \
                 preface ends with a SETTINGS frame)"
            ));
        }
        if let Some(block) = &self.block
            && (kind != CONTINUATION || head.stream != block.stream)
        {
            return Err(format!(
                "a {name} frame on stream {} while the header block of stream {} is open: only \
                 its CONTINUATION frames may follow until END_HEADERS (RFC 9113 §6.10: \
                 PROTOCOL_ERROR)",
                head.stream, block.stream
            ));
        }
        if kind == CONTINUATION && self.block.is_none() {
            return Err(
                "a CONTINUATION frame with no header block open (RFC 9113 §6.10: \
                 PROTOCOL_ERROR)"
                    .to_owned(),
            );
        }
        if kind == PUSH_PROMISE && self.sender == Sender::Client {
            return Err(
                "a PUSH_PROMISE frame from the client: only servers push (RFC 9113 §8.4: \
                 PROTOCOL_ERROR)"
                    .to_owned(),
            );
        }
        let on_stream = matches!(
            kind,
            DATA | HEADERS | PRIORITY | RST_STREAM | PUSH_PROMISE | CONTINUATION
        );
        if on_stream && head.stream == 0 {
            return Err(format!(
                "a {name} frame on stream 0: it belongs to a stream (RFC 9113 {}: \
                 PROTOCOL_ERROR)",
                section(kind)
            ));
        }
        if matches!(kind, SETTINGS | PING | GOAWAY) && head.stream != 0 {
            return Err(format!(
                "a {name} frame on stream {}: it belongs to the connection, stream 0 (RFC 9113 \
                 {}: PROTOCOL_ERROR)",
                head.stream,
                section(kind)
            ));
        }
        let size = match kind {
            RST_STREAM if head.len != 4 => Some("4 bytes"),
            PING if head.len != 8 => Some("8 bytes"),
            WINDOW_UPDATE if head.len != 4 => Some("4 bytes"),
            GOAWAY if head.len < 8 => Some("at least 8 bytes"),
            SETTINGS if head.flags & ACK != 0 && head.len != 0 => Some("empty with ACK"),
            SETTINGS if !head.len.is_multiple_of(6) => Some("a multiple of 6 bytes"),
            _ => None,
        };
        if let Some(size) = size {
            return Err(format!(
                "a {name} frame of {} bytes: it must be {size} (RFC 9113 {}: FRAME_SIZE_ERROR)",
                head.len,
                section(kind)
            ));
        }
        Ok(())
    }

    /// A frame's payload is complete (as far as kept): its event.
    fn finish_frame(&mut self, head: Head, out: &mut Vec<Event>) {
        let payload = std::mem::take(&mut self.kept);
        let body = match self.body(head, &payload) {
            Ok(body) => body,
            Err(why) => return self.stop(why, out),
        };
        // The buffer is reused: frames come one at a time.
        self.kept = payload;
        self.kept.clear();
        if self.kept.capacity() > KEPT {
            self.kept = Vec::new();
        }
        out.push(Event::Frame(Frame {
            kind: head.kind,
            flags: head.flags,
            stream: head.stream,
            len: head.len,
            body,
        }));
    }

    fn body(&mut self, head: Head, payload: &[u8]) -> Result<Body, String> {
        let padded = head.flags & PADDED != 0;
        let cut_short = payload.len() < head.len as usize;
        Ok(match head.kind {
            DATA => {
                // Only the pad length byte is kept: the data itself is counted, not shown.
                let (data, padding) = if padded {
                    let pad = payload.first().copied().unwrap_or(0);
                    if head.len == 0 || u32::from(pad) > head.len - 1 {
                        return Err(too_much_padding(head, pad));
                    }
                    (head.len - 1 - u32::from(pad), Some(pad))
                } else {
                    (head.len, None)
                };
                Body::Data { data, padding }
            }
            HEADERS => {
                let (mut fragment, padding) = strip(head, payload, padded)?;
                let priority = if head.flags & PRIORITY_FLAG != 0 {
                    let Some((fields, rest)) = fragment.split_first_chunk::<5>() else {
                        return Err(format!(
                            "a HEADERS frame with the PRIORITY flag but fewer than 5 bytes \
                             (RFC 9113 §6.2: FRAME_SIZE_ERROR), stream {}",
                            head.stream
                        ));
                    };
                    fragment = rest;
                    Some(priority(fields))
                } else {
                    None
                };
                let fields = self.block_fragment(head, fragment, cut_short);
                Body::Headers {
                    priority,
                    padding,
                    fields,
                }
            }
            PRIORITY => match payload.first_chunk::<5>() {
                Some(fields) if head.len == 5 => Body::Priority(priority(fields)),
                _ => Body::BadPriority,
            },
            RST_STREAM => Body::RstStream(be32(payload)),
            SETTINGS => {
                let settings: Vec<(u16, u32)> = payload
                    .chunks_exact(6)
                    .map(|s| (u16::from_be_bytes([s[0], s[1]]), be32(&s[2..])))
                    .collect();
                check_settings(&settings)?;
                Body::Settings(settings)
            }
            PUSH_PROMISE => {
                let (fragment, padding) = strip(head, payload, padded)?;
                let Some((promised, fragment)) = fragment.split_first_chunk::<4>() else {
                    return Err(format!(
                        "a PUSH_PROMISE frame too short for its promised stream id (RFC 9113 \
                         §6.6), stream {}",
                        head.stream
                    ));
                };
                let promised = u32::from_be_bytes(*promised) & 0x7fff_ffff;
                let fields = self.block_fragment(head, fragment, cut_short);
                Body::PushPromise {
                    promised,
                    padding,
                    fields,
                }
            }
            PING => Body::Ping(payload.first_chunk::<8>().copied().unwrap_or_default()),
            GOAWAY => Body::GoAway {
                last_stream: be32(payload) & 0x7fff_ffff,
                code: be32(payload.get(4..).unwrap_or_default()),
                debug: payload.get(8..).unwrap_or_default().to_vec(),
            },
            WINDOW_UPDATE => Body::WindowUpdate(be32(payload) & 0x7fff_ffff),
            CONTINUATION => Body::Continuation(self.block_fragment(head, payload, cut_short)),
            _ => Body::Unknown,
        })
    }

    /// Adds a fragment of a header block; at END_HEADERS, decodes the whole block.
    fn block_fragment(&mut self, head: Head, fragment: &[u8], cut_short: bool) -> Fields {
        let block = self.block.get_or_insert_with(|| Block {
            stream: head.stream,
            bytes: Vec::new(),
            over: false,
        });
        if cut_short || block.over || block.bytes.len() + fragment.len() > MAX_BLOCK {
            block.over = true;
            block.bytes = Vec::new();
        } else {
            block.bytes.extend_from_slice(fragment);
        }
        if head.flags & END_HEADERS == 0 {
            return Fields::Continues;
        }
        let Some(block) = self.block.take() else {
            return Fields::Continues;
        };
        if block.over {
            self.lose_hpack(format!(
                "the header block is over {MAX_BLOCK} bytes; the trace decodes no more header \
                 blocks from this side (their compression table is no longer known)"
            ));
            return Fields::NotDecoded(self.hpack_lost.clone());
        }
        self.decode(block.stream, &block.bytes)
    }

    fn lose_hpack(&mut self, why: String) {
        self.hpack = None;
        self.hpack_lost = why;
    }

    fn decode(&mut self, stream: u32, block: &[u8]) -> Fields {
        let Some(hpack) = self.hpack.as_mut() else {
            return Fields::NotDecoded(self.hpack_lost.clone());
        };
        let mut shown = Vec::new();
        let mut more = 0;
        let malformed = &mut self.malformed;
        // Every field goes through the decoder (its table must follow the sender's); only the
        // first ones are copied out, cut, so a block of references to a large entry (an HPACK
        // bomb) costs no memory here.
        let decoded = hpack.decode_with_cb(block, |name, value| {
            if malformed.is_none()
                && let Some(why) = malformed_field(&name, &value)
            {
                *malformed = Some((stream, why));
            }
            if shown.len() < SHOWN_FIELDS {
                shown.push((cut(&name), cut(&value)));
            } else {
                more += 1;
            }
        });
        match decoded {
            Ok(()) => Fields::Decoded { shown, more },
            Err(err) => {
                self.lose_hpack(format!(
                    "HPACK could not decode it ({err}; RFC 9113 §4.3: COMPRESSION_ERROR); the \
                     trace decodes no more header blocks from this side"
                ));
                Fields::NotDecoded(self.hpack_lost.clone())
            }
        }
    }
}

/// Why a field makes an HTTP/2 message malformed (RFC 9113 §8.2.1, §8.2.2), for the ones
/// clients written for HTTP/1.1 send: field names are lower case in HTTP/2, and the fields of
/// HTTP/1.1's connection management do not exist in it.
fn malformed_field(name: &[u8], value: &[u8]) -> Option<String> {
    if name.iter().any(u8::is_ascii_uppercase) {
        return Some(format!(
            "the field name \"{}\" has upper-case letters: HTTP/2 field names are lower case \
             (RFC 9113 §8.2.1: a malformed message)",
            escape(name, 64)
        ));
    }
    let connection_specific = matches!(
        name,
        b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade"
    ) || (name == b"te" && value != b"trailers");
    connection_specific.then(|| {
        format!(
            "the connection-specific field \"{}: {}\" has no place in HTTP/2 (RFC 9113 \
             §8.2.2: a malformed message)",
            escape(name, 64),
            escape(value, 64)
        )
    })
}

/// At most [`SHOWN`] bytes and one more, so the shown text ends in an ellipsis when cut.
fn cut(bytes: &[u8]) -> Vec<u8> {
    bytes[..bytes.len().min(SHOWN + 1)].to_vec()
}

fn be32(bytes: &[u8]) -> u32 {
    bytes
        .first_chunk::<4>()
        .map_or(0, |b| u32::from_be_bytes(*b))
}

fn priority(fields: &[u8; 5]) -> Priority {
    let dependency = u32::from_be_bytes([fields[0], fields[1], fields[2], fields[3]]);
    Priority {
        exclusive: dependency & 0x8000_0000 != 0,
        depends_on: dependency & 0x7fff_ffff,
        weight: u16::from(fields[4]) + 1,
    }
}

/// A padded payload's content without the pad length byte and the padding; `payload` may be
/// the first part only of the frame's (`head.len` says how long it was).
fn strip(head: Head, payload: &[u8], padded: bool) -> Result<(&[u8], Option<u8>), String> {
    if !padded {
        return Ok((payload, None));
    }
    let pad = payload.first().copied().unwrap_or(0);
    if head.len == 0 || u32::from(pad) > head.len - 1 {
        return Err(too_much_padding(head, pad));
    }
    let content = (head.len - 1 - u32::from(pad)) as usize;
    let rest = payload.get(1..).unwrap_or_default();
    Ok((&rest[..rest.len().min(content)], Some(pad)))
}

fn too_much_padding(head: Head, pad: u8) -> String {
    let name = type_name(head.kind).unwrap_or("a");
    format!(
        "a padded {name} frame of {} bytes on stream {} with {pad} bytes of padding: the \
         padding must be shorter than the payload (RFC 9113 {}: PROTOCOL_ERROR)",
        head.len,
        head.stream,
        section(head.kind)
    )
}

/// The values RFC 9113 §6.5.2 (and RFC 8441 §3) limit: out of range is a connection error.
fn check_settings(settings: &[(u16, u32)]) -> Result<(), String> {
    for &(id, value) in settings {
        let bad = match id {
            SETTINGS_ENABLE_PUSH | SETTINGS_ENABLE_CONNECT_PROTOCOL if value > 1 => {
                "must be 0 or 1 (PROTOCOL_ERROR)"
            }
            SETTINGS_INITIAL_WINDOW_SIZE if value > 0x7fff_ffff => {
                "must be at most 2^31-1 (FLOW_CONTROL_ERROR)"
            }
            SETTINGS_MAX_FRAME_SIZE if !(16_384..=16_777_215).contains(&value) => {
                "must be from 16384 to 16777215 (PROTOCOL_ERROR)"
            }
            _ => continue,
        };
        let mut why = String::new();
        let _ = write!(
            why,
            "SETTINGS_{}={value}: it {bad} (RFC 9113 §6.5.2)",
            setting_name(id)
        );
        return Err(why);
    }
    Ok(())
}

/// Just enough of a client's frames to know whether a header block is open (a HEADERS frame
/// without END_HEADERS, until the CONTINUATION that ends it): each frame's 9-byte header is
/// read and its payload skipped, so following a connection costs a few comparisons per frame
/// and no buffer. For the header timeout, on every HTTP/2 connection. It keeps the first 24
/// bytes too: h2 closes a connection whose preface is wrong without a word, and they say why.
#[derive(Debug, Default)]
pub(crate) struct BlockWatch {
    /// The client's first bytes, as many as the preface is long.
    preface: [u8; PREFACE.len()],
    /// How many of them have come.
    preface_seen: u8,
    head: [u8; HEAD_LEN],
    filled: u8,
    /// Payload bytes of the current frame still to skip.
    skip: u32,
    /// The stream of the open header block.
    open: Option<u32>,
}

impl BlockWatch {
    /// A watch of a client's bytes from the start (the preface first).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The client's first bytes, when they are not the connection preface (RFC 9113 §3.4).
    pub(crate) fn bad_preface(&self) -> Option<&[u8]> {
        let seen = &self.preface[..usize::from(self.preface_seen)];
        (!PREFACE.starts_with(seen)).then_some(seen)
    }

    /// Follows the next `bytes` the client sent; returns the stream whose header block is open
    /// after them, if any.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Option<u32> {
        let seen = usize::from(self.preface_seen);
        if seen < PREFACE.len() {
            let n = (PREFACE.len() - seen).min(bytes.len());
            self.preface[seen..seen + n].copy_from_slice(&bytes[..n]);
            // At most 24: the cast cannot truncate.
            self.preface_seen += n as u8;
            bytes = &bytes[n..];
        }
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = bytes.len().min(self.skip as usize);
                // At most `skip`, a u32.
                self.skip -= n as u32;
                bytes = &bytes[n..];
                continue;
            }
            let filled = usize::from(self.filled);
            let n = (HEAD_LEN - filled).min(bytes.len());
            self.head[filled..filled + n].copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            // At most 9.
            self.filled += n as u8;
            if usize::from(self.filled) < HEAD_LEN {
                break;
            }
            self.filled = 0;
            let head = Head::parse(&self.head);
            self.skip = head.len;
            match head.kind {
                HEADERS if head.flags & END_HEADERS == 0 => self.open = Some(head.stream),
                CONTINUATION if head.flags & END_HEADERS != 0 => self.open = None,
                HEADERS => self.open = None,
                _ => {}
            }
        }
        self.open
    }
}

/// What a client did to get a connection error (a GOAWAY) with `code` from the server, and the
/// rule (RFC 9113 section), when the frames themselves are not at hand: `debug` is the GOAWAY's
/// debug data (h2 names its abuse limits there), `requests` how many requests were received.
pub(crate) fn explain_connection_error(code: u32, debug: &str, requests: u64) -> String {
    let what = match (code, debug) {
        (0xb, "too_many_resets") => {
            "the client reset too many streams before the server could answer them (rapid \
             reset, CVE-2023-44487; the cap is --h2-max-pending-resets) (RFC 9113 §10.5)"
        }
        (0xb, "too_many_internal_resets") => {
            "the server had to reset too many of the client's streams for its errors (the cap \
             is --h2-max-error-resets) (RFC 9113 §10.5)"
        }
        (0xb, "too_many_continuations") => {
            "the client split a header block into too many CONTINUATION frames (a \
             CONTINUATION flood) (RFC 9113 §10.5)"
        }
        (0xb, "header_list_way_too_large") => {
            "the client sent a header list far over SETTINGS_MAX_HEADER_LIST_SIZE \
             (--h2-max-header-list) (RFC 9113 §10.5.1)"
        }
        (0xb, "too_many_data_frames") => {
            "the client sent too many tiny DATA frames (RFC 9113 §10.5)"
        }
        (0xb, _) => {
            "the client went over one of the server's abuse limits: streams reset before they \
             were answered (rapid reset, CVE-2023-44487; --h2-max-pending-resets), streams the \
             server had to reset for the client's errors (--h2-max-error-resets), a flood of \
             CONTINUATION frames, a header list far over --h2-max-header-list, or a flood of \
             tiny DATA frames (RFC 9113 §10.5; --trace shows which, in the GOAWAY's debug data)"
        }
        (0x1, _) if requests == 0 => {
            "the client broke a rule of HTTP/2 before its first request: a first frame that is \
             not SETTINGS (§3.4), a frame on the wrong stream (§6), a stream frame out of place \
             (§5.1), or a field name with upper-case letters (§8.2.1) (RFC 9113 §5.4.1; --trace \
             names the frame)"
        }
        (0x1, _) => {
            "the client broke a rule of HTTP/2 framing or of the stream states: a frame on the \
             wrong stream or in the wrong state (§5.1), a stream id that does not increase \
             (§5.1.1), a frame between HEADERS and its CONTINUATION frames (§6.10), bad \
             SETTINGS values (§6.5.2), a field name with upper-case letters (§8.2.1) (RFC 9113 \
             §5.4.1; --trace names the frame)"
        }
        (0x3, _) => {
            "the client sent more DATA than the flow-control window allowed, or a WINDOW_UPDATE \
             that took a window past 2^31-1 (RFC 9113 §6.9.1)"
        }
        (0x4, _) => {
            "the client did not acknowledge the server's SETTINGS in time (RFC 9113 §6.5.3)"
        }
        (0x6, _) => {
            "the client sent a frame larger than SETTINGS_MAX_FRAME_SIZE (16384 unless the \
             server announced more), or one of the wrong size for its type (RFC 9113 §4.2)"
        }
        (0x9, _) => {
            "the client sent a header block HPACK could not decode, or one that kept growing \
             past the header list limit (RFC 9113 §4.3, RFC 7541)"
        }
        _ => "the server ended the connection with this error code (RFC 9113 §7)",
    };
    what.to_owned()
}

/// What a client's stream did to be reset by the server with `code` (a stream error, RFC 9113
/// §5.4.2); `None` for codes that are no fault of the client (NO_ERROR, CANCEL, ...).
pub(crate) fn explain_stream_reset(code: u32) -> Option<&'static str> {
    Some(match code {
        0x1 => {
            "a malformed request: a missing, repeated or unknown pseudo-header, an uppercase or \
             connection-specific field name (§8.2.1, §8.2.2), a content-length the DATA does \
             not match (§8.1.1), or a frame the stream's state does not allow (§5.1) \
             (RFC 9113 §8.1.1)"
        }
        0x3 => "more DATA on the stream than its flow-control window allowed (RFC 9113 §6.9.1)",
        0x5 => "a frame on a stream it had already ended (RFC 9113 §5.1: STREAM_CLOSED)",
        0x6 => "a frame of the wrong size for its type on the stream (RFC 9113 §4.2)",
        0x7 => {
            "a stream over SETTINGS_MAX_CONCURRENT_STREAMS (--h2-max-streams); it may be \
             retried (RFC 9113 §5.1.2, §8.7)"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_bytes_of_the_preface_decide_prior_knowledge() {
        assert!(opens_with_preface(b"PRI"));
        assert!(opens_with_preface(b"PRI * HTTP/2.0"));
        let mut opening = PREFACE.to_vec();
        opening.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        assert!(opens_with_preface(&opening));
        assert!(
            opens_with_preface(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"),
            "a wrong preface is h2's to diagnose"
        );
        assert!(!opens_with_preface(b"PR"), "two bytes cannot tell");
        assert!(!opens_with_preface(b"PRX * HTTP/2.0"));
        assert!(!opens_with_preface(b"GET / HTTP/1.1\r\n"));
        assert!(!opens_with_preface(b"PRI * HTTP/1.1\r\n"));
    }

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes();
        let mut bytes = vec![len[1], len[2], len[3], kind, flags];
        bytes.extend_from_slice(&stream.to_be_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    /// The client's preface and an empty SETTINGS frame.
    fn opening() -> Vec<u8> {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(SETTINGS, 0, 0, &[]));
        bytes
    }

    fn lines(connection: &mut Connection, sender: Sender, bytes: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        connection.feed(sender, bytes, &mut events);
        events.iter().map(ToString::to_string).collect()
    }

    /// RFC 7541 C.4.1 and C.4.2: two requests with Huffman coding, the second indexing the
    /// first's `:authority` in the dynamic table.
    const FIRST_BLOCK: &[u8] =
        b"\x82\x86\x84\x41\x8c\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff";
    const SECOND_BLOCK: &[u8] = b"\x82\x86\x84\xbe\x58\x86\xa8\xeb\x10\x64\x9c\xbf";

    #[test]
    fn a_clients_opening_and_requests_are_shown_frame_by_frame() {
        let mut bytes = PREFACE.to_vec();
        // curl's opening: MAX_CONCURRENT_STREAMS=100, INITIAL_WINDOW_SIZE=10485760,
        // ENABLE_PUSH=0, then a connection WINDOW_UPDATE.
        bytes.extend(frame(
            SETTINGS,
            0,
            0,
            b"\x00\x03\x00\x00\x00\x64\x00\x04\x00\xa0\x00\x00\x00\x02\x00\x00\x00\x00",
        ));
        bytes.extend(frame(WINDOW_UPDATE, 0, 0, &1_048_510_465u32.to_be_bytes()));
        bytes.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, FIRST_BLOCK));
        bytes.extend(frame(HEADERS, END_STREAM | END_HEADERS, 3, SECOND_BLOCK));
        let mut connection = Connection::default();
        assert_eq!(
            lines(&mut connection, Sender::Client, &bytes),
            [
                "connection preface \"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\"",
                "frame SETTINGS stream=0 len=18 MAX_CONCURRENT_STREAMS=100 \
                 INITIAL_WINDOW_SIZE=10485760 ENABLE_PUSH=0",
                "frame WINDOW_UPDATE stream=0 len=4 increment=1048510465",
                "frame HEADERS stream=1 len=17 flags=END_STREAM|END_HEADERS [:method: GET] \
                 [:scheme: http] [:path: /] [:authority: www.example.com]",
                "frame HEADERS stream=3 len=12 flags=END_STREAM|END_HEADERS [:method: GET] \
                 [:scheme: http] [:path: /] [:authority: www.example.com] \
                 [cache-control: no-cache]",
            ]
        );
        assert_eq!(connection.client_violation(), None);
    }

    #[test]
    fn any_split_of_the_bytes_gives_the_same_lines() {
        let mut bytes = opening();
        bytes.extend(frame(
            HEADERS,
            END_HEADERS | PADDED,
            1,
            &[[&[2u8][..], FIRST_BLOCK, &[0, 0]].concat()].concat(),
        ));
        bytes.extend(frame(DATA, END_STREAM, 1, b"hello"));
        let whole = lines(&mut Connection::default(), Sender::Client, &bytes);
        assert_eq!(whole.len(), 4, "{whole:?}");
        assert!(whole[2].contains("padding=2 [:method: GET]"), "{whole:?}");
        assert_eq!(
            whole[3],
            "frame DATA stream=1 len=5 flags=END_STREAM data=5 B"
        );
        for split in 0..bytes.len() {
            let mut connection = Connection::default();
            let mut split_lines = lines(&mut connection, Sender::Client, &bytes[..split]);
            split_lines.extend(lines(&mut connection, Sender::Client, &bytes[split..]));
            assert_eq!(split_lines, whole, "split at {split}");
        }
    }

    #[test]
    fn a_header_block_in_continuation_frames_is_decoded_at_its_end() {
        let mut bytes = opening();
        bytes.extend(frame(HEADERS, END_STREAM, 1, &FIRST_BLOCK[..5]));
        bytes.extend(frame(CONTINUATION, 0, 1, &FIRST_BLOCK[5..9]));
        bytes.extend(frame(CONTINUATION, END_HEADERS, 1, &FIRST_BLOCK[9..]));
        let lines = lines(&mut Connection::default(), Sender::Client, &bytes);
        assert_eq!(
            lines[2..],
            [
                "frame HEADERS stream=1 len=5 flags=END_STREAM (header block continues)",
                "frame CONTINUATION stream=1 len=4 (header block continues)",
                "frame CONTINUATION stream=1 len=8 flags=END_HEADERS [:method: GET] \
                 [:scheme: http] [:path: /] [:authority: www.example.com]",
            ]
        );
    }

    #[test]
    fn a_frame_inside_a_header_block_stops_decoding_and_names_the_rule() {
        let mut bytes = opening();
        bytes.extend(frame(HEADERS, 0, 1, &FIRST_BLOCK[..5]));
        bytes.extend(frame(DATA, 0, 1, b"x"));
        bytes.extend(frame(PING, 0, 0, &[0; 8]));
        let mut connection = Connection::default();
        let lines = lines(&mut connection, Sender::Client, &bytes);
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[3].starts_with("HTTP/2 frames no longer decoded: a DATA frame on stream 1"));
        assert!(
            connection
                .client_violation()
                .is_some_and(|why| why.contains("RFC 9113 §6.10")),
        );
    }

    #[test]
    fn a_frame_over_the_max_frame_size_stops_decoding() {
        let mut bytes = opening();
        bytes.extend(frame(DATA, 0, 1, &[0; 16_385]));
        let mut connection = Connection::default();
        let lines = lines(&mut connection, Sender::Client, &bytes);
        assert_eq!(
            lines.last().map(String::as_str),
            Some(
                "HTTP/2 frames no longer decoded: a DATA frame of 16385 bytes, over the 16384 \
                 bytes SETTINGS_MAX_FRAME_SIZE allows (RFC 9113 §4.2: FRAME_SIZE_ERROR)"
            )
        );
    }

    #[test]
    fn the_receivers_max_frame_size_lets_larger_frames_through() {
        let mut connection = Connection::default();
        let mut server = frame(SETTINGS, 0, 0, b"\x00\x05\x00\x01\x00\x00");
        server.extend(frame(SETTINGS, ACK, 0, &[]));
        let server_lines = lines(&mut connection, Sender::Server, &server);
        assert_eq!(
            server_lines,
            [
                "frame SETTINGS stream=0 len=6 MAX_FRAME_SIZE=65536",
                "frame SETTINGS stream=0 len=0 flags=ACK",
            ]
        );
        let mut bytes = opening();
        bytes.extend(frame(
            DATA,
            PADDED,
            1,
            &[[3u8].as_slice(), &[0; 20_000]].concat(),
        ));
        let lines = lines(&mut connection, Sender::Client, &bytes);
        assert_eq!(
            lines.last().map(String::as_str),
            Some("frame DATA stream=1 len=20001 flags=PADDED data=19997 B padding=3")
        );
    }

    #[test]
    fn control_frames_show_codes_by_name() {
        let mut connection = Connection::default();
        let mut bytes = frame(SETTINGS, 0, 0, b"\x00\x08\x00\x00\x00\x01");
        bytes.extend(frame(RST_STREAM, 0, 5, &8u32.to_be_bytes()));
        bytes.extend(frame(PING, ACK, 0, b"\x01\x02\x03\x04\x05\x06\x07\x08"));
        bytes.extend(frame(PRIORITY, 0, 3, b"\x80\x00\x00\x01\x0f"));
        bytes.extend(frame(
            GOAWAY,
            0,
            0,
            b"\x00\x00\x00\x07\x00\x00\x00\x0btoo_many_resets",
        ));
        bytes.extend(frame(0xfa, 0x1, 0, b"?"));
        assert_eq!(
            lines(&mut connection, Sender::Server, &bytes),
            [
                "frame SETTINGS stream=0 len=6 ENABLE_CONNECT_PROTOCOL=1",
                "frame RST_STREAM stream=5 len=4 error=CANCEL",
                "frame PING stream=0 len=8 flags=ACK opaque=0102030405060708",
                "frame PRIORITY stream=3 len=5 depends_on=1 weight=16 exclusive",
                "frame GOAWAY stream=0 len=23 last_stream=7 error=ENHANCE_YOUR_CALM \
                 debug=\"too_many_resets\"",
                "frame type=0xfa stream=0 len=1 flags=0x01 (unknown type: ignored, RFC 9113 §5.5)",
            ]
        );
    }

    #[test]
    fn a_bad_preface_is_named_with_what_came_instead() {
        let mut connection = Connection::default();
        let lines = lines(&mut connection, Sender::Client, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].contains("not the connection preface") && lines[0].contains("RFC 9113 §3.4"),
            "{lines:?}"
        );
    }

    #[test]
    fn a_block_hpack_cannot_decode_ends_header_decoding_not_framing() {
        let mut bytes = opening();
        // Index 70 is past the static table, and the dynamic table is empty.
        bytes.extend(frame(HEADERS, END_HEADERS, 1, b"\xc6"));
        bytes.extend(frame(HEADERS, END_HEADERS, 3, FIRST_BLOCK));
        let lines = lines(&mut Connection::default(), Sender::Client, &bytes);
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[2].contains("HPACK could not decode it"), "{lines:?}");
        assert!(lines[3].contains("header block not decoded"), "{lines:?}");
    }

    #[test]
    fn frames_of_the_wrong_size_or_stream_stop_decoding() {
        for (bad, rule) in [
            (frame(PING, 0, 0, &[0; 7]), "§6.7: FRAME_SIZE_ERROR"),
            (frame(SETTINGS, 0, 1, &[]), "§6.5: PROTOCOL_ERROR"),
            (
                frame(HEADERS, END_HEADERS, 0, FIRST_BLOCK),
                "§6.2: PROTOCOL_ERROR",
            ),
            (
                frame(CONTINUATION, END_HEADERS, 1, &[]),
                "§6.10: PROTOCOL_ERROR",
            ),
            (frame(DATA, PADDED, 1, &[9, 0]), "§6.1: PROTOCOL_ERROR"),
            (frame(SETTINGS, 0, 0, b"\x00\x02\x00\x00\x00\x02"), "§6.5.2"),
            (frame(PUSH_PROMISE, END_HEADERS, 1, &[0; 4]), "§8.4"),
        ] {
            let mut bytes = opening();
            bytes.extend(bad);
            let mut connection = Connection::default();
            lines(&mut connection, Sender::Client, &bytes);
            let why = connection.client_violation().unwrap_or_default();
            assert!(why.contains(rule), "{rule}: {why}");
        }
    }

    #[test]
    fn malformed_fields_are_found_with_their_stream() {
        let mut bytes = opening();
        bytes.extend(frame(HEADERS, END_HEADERS, 1, FIRST_BLOCK));
        // Literal without indexing, new name: "Accept: x", then "connection: close".
        bytes.extend(frame(HEADERS, END_HEADERS, 3, b"\x00\x06Accept\x01x"));
        bytes.extend(frame(
            HEADERS,
            END_HEADERS,
            5,
            b"\x00\x0aconnection\x05close",
        ));
        let mut connection = Connection::default();
        let lines = lines(&mut connection, Sender::Client, &bytes);
        assert!(lines[3].ends_with("[Accept: x]"), "{lines:?}");
        let (stream, why) = connection.client_malformed().unwrap_or_default();
        assert_eq!(stream, 3);
        assert!(why.contains("\"Accept\" has upper-case letters") && why.contains("§8.2.1"));
        assert!(malformed_field(b"te", b"trailers").is_none());
        assert!(malformed_field(b"connection", b"close").is_some_and(|w| w.contains("§8.2.2")));
    }

    #[test]
    fn the_first_frame_must_be_settings() {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(PING, 0, 0, &[0; 8]));
        let mut connection = Connection::default();
        lines(&mut connection, Sender::Client, &bytes);
        assert!(
            connection
                .client_violation()
                .is_some_and(|why| why.contains("not SETTINGS (RFC 9113 §3.4")),
        );
    }

    #[test]
    fn connection_errors_name_the_abuse_limit_from_the_debug_data() {
        let rapid = explain_connection_error(0xb, "too_many_resets", 3);
        assert!(rapid.contains("rapid reset") && rapid.contains("--h2-max-pending-resets"));
        assert!(explain_connection_error(0x6, "", 0).contains("RFC 9113 §4.2"));
        assert!(explain_connection_error(0x1, "", 0).contains("§3.4"));
        assert!(explain_stream_reset(0x8).is_none());
        assert!(explain_stream_reset(0x1).is_some_and(|why| why.contains("§8.1.1")));
    }

    #[test]
    fn the_block_watch_sees_a_header_block_open_until_its_end_at_any_split() {
        let mut bytes = opening();
        bytes.extend(frame(DATA, 0, 1, &[0; 100]));
        bytes.extend(frame(HEADERS, END_STREAM, 3, &FIRST_BLOCK[..5]));
        let open_at = bytes.len();
        bytes.extend(frame(CONTINUATION, 0, 3, &FIRST_BLOCK[5..9]));
        bytes.extend(frame(CONTINUATION, END_HEADERS, 3, &FIRST_BLOCK[9..]));
        // Open once the HEADERS frame's header is in, closed once the last CONTINUATION's is.
        let opens = open_at - 5;
        let closes = bytes.len() - (FIRST_BLOCK.len() - 9);
        for split in 0..bytes.len() {
            let mut watch = BlockWatch::new();
            let first = watch.feed(&bytes[..split]);
            assert_eq!(first.is_some(), (opens..closes).contains(&split), "{split}");
            assert_eq!(watch.feed(&bytes[split..]), None, "{split}");
        }
        let mut watch = BlockWatch::new();
        assert_eq!(watch.feed(&bytes[..open_at]), Some(3));
        assert_eq!(watch.bad_preface(), None);
        let mut watch = BlockWatch::new();
        watch.feed(b"GET / HTTP/1.1\r\n");
        assert_eq!(watch.bad_preface(), Some(&b"GET / HTTP/1.1\r\n"[..]));
    }

    proptest::proptest! {
        /// Whatever the bytes, decoding ends in lines, never a panic, and keeps at most what
        /// its bounds allow.
        #[test]
        fn any_bytes_decode_without_panicking(
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..2048),
            split in 0usize..2048,
        ) {
            let mut bytes = opening();
            bytes.extend(&tail);
            let split = split.min(bytes.len());
            let mut connection = Connection::default();
            lines(&mut connection, Sender::Client, &bytes[..split]);
            lines(&mut connection, Sender::Client, &bytes[split..]);
            lines(&mut connection, Sender::Server, &tail);
        }

        /// Random header block bytes in well-formed frames reach the HPACK decoder.
        #[test]
        fn any_header_block_decodes_without_panicking(
            block in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        ) {
            let mut bytes = opening();
            bytes.extend(frame(HEADERS, END_HEADERS, 1, &block));
            bytes.extend(frame(HEADERS, END_HEADERS, 3, &block));
            lines(&mut Connection::default(), Sender::Client, &bytes);
        }
    }
}
