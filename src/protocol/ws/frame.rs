//! The WebSocket vocabulary both roles share: opcodes, close codes, close frames and messages
//! whose text is known to be UTF-8 (RFC 6455 §5.2, §7.4); and the words for diagnosing a peer:
//! the [`Violation`] that failed a connection, a [`Note`] on something accepted but odd, and a
//! [`FrameTrace`] of one frame as it was on the wire.

use std::fmt::{self, Write as _};

use bytes::Bytes;

/// A frame's opcode (RFC 6455 §5.2); the reserved ones never get past the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    /// The opcode of a frame's first byte, or `None` for a reserved one.
    pub fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    /// The four bits on the wire.
    pub fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong: never fragmented, at most 125 bytes.
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }

    /// The lowercase name used in diagnoses: `text`, `ping`, …
    pub fn name(self) -> &'static str {
        match self {
            Self::Continuation => "continuation",
            Self::Text => "text",
            Self::Binary => "binary",
            Self::Close => "close",
            Self::Ping => "ping",
            Self::Pong => "pong",
        }
    }
}

/// A close status code (RFC 6455 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(u16);

impl CloseCode {
    pub const NORMAL: Self = Self(1000);
    pub const GOING_AWAY: Self = Self(1001);
    pub const PROTOCOL_ERROR: Self = Self(1002);
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    pub const INVALID_DATA: Self = Self(1007);
    pub const POLICY: Self = Self(1008);
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    pub const INTERNAL_ERROR: Self = Self(1011);

    /// Any code, as sent or received; whether a peer may send it is [`CloseCode::is_sendable`].
    pub const fn new(code: u16) -> Self {
        Self(code)
    }

    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Codes that may appear in a close frame on the wire (RFC 6455 §7.4, IANA registry):
    /// 1004–1006 and 1015 are reserved for reporting, not for sending.
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A close frame: its code (a close frame may have none) and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: Option<CloseCode>,
    pub reason: String,
}

impl CloseFrame {
    /// 1000 (normal) or 1001 (going away): the peer ended on purpose, not in error.
    pub fn is_clean(&self) -> bool {
        matches!(self.code, Some(CloseCode::NORMAL | CloseCode::GOING_AWAY))
    }
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.reason.is_empty()) {
            (None, _) => f.write_str("no status code"),
            (Some(code), true) => write!(f, "{code}"),
            (Some(code), false) => write!(f, "{code} {}", self.reason),
        }
    }
}

/// Bytes known to be UTF-8: every way in checks, except the decoder's, which has checked
/// already as the fragments arrived.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// For bytes the caller has just validated (the decoder, as fragments arrive).
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text. Checked once more (this crate has no `unsafe` to skip it), so prefer
    /// [`Utf8Bytes::as_bytes`] on hot paths.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = std::str::Utf8Error;

    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Self(bytes))
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

impl From<&'static str> for Utf8Bytes {
    fn from(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A complete data message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Message {
    pub fn opcode(&self) -> OpCode {
        match self {
            Self::Text(_) => OpCode::Text,
            Self::Binary(_) => OpCode::Binary,
        }
    }

    /// The payload, text or not.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(text) => text.as_bytes(),
            Self::Binary(data) => data,
        }
    }
}

/// A protocol violation the decoder detects: one variant per rule broken, carrying what the
/// diagnosis needs. `Display` is a clause about the offending frame, written to follow
/// "frame 3 from the client " (e.g. `is not masked`); [`Violation::rule`] names the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// RSV2 and/or RSV3 set: no extension we negotiate defines them.
    ReservedBits { rsv2: bool, rsv3: bool },
    /// RSV1 set on a connection without permessage-deflate.
    Rsv1WithoutDeflate,
    /// RSV1 on a close, ping or pong.
    Rsv1OnControl(OpCode),
    /// RSV1 on a continuation: only a message's first frame says it is compressed.
    Rsv1OnContinuation,
    /// An opcode RFC 6455 reserves (0x3–0x7, 0xB–0xF), as sent.
    ReservedOpcode(u8),
    /// A close, ping or pong without FIN.
    FragmentedControl(OpCode),
    /// A control frame over 125 bytes; `len` is `None` when its extended length had not
    /// arrived yet (the frame is refused on its first two bytes).
    ControlTooLong { opcode: OpCode, len: Option<u64> },
    /// A client frame without a mask.
    Unmasked,
    /// A server frame with a mask.
    Masked,
    /// The message, counting this frame's declared length, exceeds the limit; `size` is that
    /// total (saturated), as in the close reason.
    MessageTooBig { size: usize, limit: usize },
    /// A 64-bit length with its most significant bit set, which RFC 6455 forbids; it is
    /// answered like any other frame over the limit.
    LengthTopBitSet { size: usize, limit: usize },
    /// A compressed message that inflates past the limit; `size` is how far it got.
    InflatedTooBig { size: usize, limit: usize },
    /// A continuation with no fragmented message in progress.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished.
    UnfinishedMessage(OpCode),
    /// Text that is not UTF-8: `at` is the 0-based byte offset in the (inflated) message of the
    /// first bad sequence; `truncated` when the message ends inside a sequence.
    InvalidUtf8 { at: usize, truncated: bool },
    /// A close reason that is not UTF-8; `at` is the 0-based offset within the reason.
    InvalidCloseReason { at: usize },
    /// A close payload of one byte: half a status code.
    CloseTooShort,
    /// A close status code that may not be sent (RFC 6455 §7.4).
    InvalidCloseCode(u16),
    /// A compressed message whose data does not inflate.
    CorruptCompressed,
}

impl Violation {
    /// The rule broken, as `RFC <n> §<section>`.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::ReservedBits { .. }
            | Self::Rsv1WithoutDeflate
            | Self::ReservedOpcode(_)
            | Self::LengthTopBitSet { .. } => "RFC 6455 §5.2",
            Self::Rsv1OnControl(_) | Self::Rsv1OnContinuation => "RFC 7692 §6",
            Self::FragmentedControl(_) | Self::ControlTooLong { .. } => "RFC 6455 §5.5",
            Self::Unmasked | Self::Masked => "RFC 6455 §5.1",
            // Limits are ours to set (§10.4); 1009 says so (§7.4.1).
            Self::MessageTooBig { .. } | Self::InflatedTooBig { .. } => "RFC 6455 §10.4",
            Self::UnexpectedContinuation | Self::UnfinishedMessage(_) => "RFC 6455 §5.4",
            Self::InvalidUtf8 { .. } => "RFC 6455 §8.1",
            Self::InvalidCloseReason { .. } | Self::CloseTooShort => "RFC 6455 §5.5.1",
            // §7.4.1 names the codes that must never be sent; §7.4.2 the unassigned ranges.
            Self::InvalidCloseCode(1004..=1006 | 1015) => "RFC 6455 §7.4.1",
            Self::InvalidCloseCode(_) => "RFC 6455 §7.4.2",
            Self::CorruptCompressed => "RFC 7692 §7.2.2",
        }
    }

    /// The close code the connection is failed with.
    pub fn code(&self) -> CloseCode {
        match self {
            Self::MessageTooBig { .. }
            | Self::LengthTopBitSet { .. }
            | Self::InflatedTooBig { .. } => CloseCode::MESSAGE_TOO_BIG,
            Self::InvalidUtf8 { .. } | Self::InvalidCloseReason { .. } => CloseCode::INVALID_DATA,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// The close reason sent on the wire: the original's text, byte for byte (its 1007 has
    /// none).
    pub(crate) fn wire_reason(&self) -> String {
        let text = match self {
            Self::MessageTooBig { size, limit }
            | Self::LengthTopBitSet { size, limit }
            | Self::InflatedTooBig { size, limit } => {
                return format!("frame with {size} bytes exceeds limit of {limit} bytes");
            }
            Self::InvalidUtf8 { .. } | Self::InvalidCloseReason { .. } => "",
            Self::ReservedBits { .. }
            | Self::Rsv1WithoutDeflate
            | Self::Rsv1OnControl(_)
            | Self::Rsv1OnContinuation => "reserved bits must be 0",
            Self::ReservedOpcode(_) => "invalid opcode",
            Self::FragmentedControl(_) => "fragmented control frame",
            Self::ControlTooLong { .. } => "control frame too long",
            Self::Unmasked | Self::Masked => "incorrect masking",
            Self::UnexpectedContinuation => "unexpected continuation frame",
            Self::UnfinishedMessage(_) => "expected a continuation frame",
            Self::CloseTooShort => "close frame too short",
            Self::InvalidCloseCode(_) => "invalid status code",
            Self::CorruptCompressed => "invalid compressed data",
        };
        text.to_owned()
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ReservedBits { rsv2, rsv3 } => {
                let bits = match (rsv2, rsv3) {
                    (true, true) => "RSV2 and RSV3",
                    (false, true) => "RSV3",
                    _ => "RSV2",
                };
                write!(f, "sets {bits}, which no negotiated extension defines")
            }
            Self::Rsv1WithoutDeflate => {
                f.write_str("sets RSV1, but permessage-deflate was not negotiated")
            }
            Self::Rsv1OnControl(op) => write!(
                f,
                "is a {} with RSV1 set; control frames are never compressed",
                op.name()
            ),
            Self::Rsv1OnContinuation => f.write_str(
                "is a continuation with RSV1 set; only a message's first frame may set it",
            ),
            Self::ReservedOpcode(bits) => write!(f, "has opcode {bits:#x}, which is reserved"),
            Self::FragmentedControl(op) => write!(
                f,
                "is a {} without FIN; control frames cannot be fragmented",
                op.name()
            ),
            Self::ControlTooLong { opcode, len } => match len {
                Some(len) => write!(
                    f,
                    "is a {} of {len} bytes; control frames carry at most 125",
                    opcode.name()
                ),
                None => write!(
                    f,
                    "is a {} with an extended length; control frames carry at most 125 bytes",
                    opcode.name()
                ),
            },
            Self::Unmasked => f.write_str("is not masked"),
            Self::Masked => f.write_str("is masked, which a server must never do"),
            Self::MessageTooBig { size, limit } => write!(
                f,
                "makes the message {size} bytes long, over the limit of {limit}"
            ),
            Self::LengthTopBitSet { .. } => {
                f.write_str("has a 64-bit length with its most significant bit set")
            }
            Self::InflatedTooBig { limit, .. } => write!(
                f,
                "completes a compressed message that inflates past the limit of {limit} bytes"
            ),
            Self::UnexpectedContinuation => {
                f.write_str("is a continuation but no message is in progress")
            }
            Self::UnfinishedMessage(op) => write!(
                f,
                "starts a new {} message while a fragmented message is unfinished",
                op.name()
            ),
            Self::InvalidUtf8 {
                at,
                truncated: false,
            } => write!(
                f,
                "carries text that is not valid UTF-8 at byte {at} of the message"
            ),
            Self::InvalidUtf8 {
                at,
                truncated: true,
            } => write!(
                f,
                "ends a text message inside a UTF-8 sequence that starts at byte {at}"
            ),
            Self::InvalidCloseReason { at } => write!(
                f,
                "is a close whose reason is not valid UTF-8 at byte {at} of the reason"
            ),
            Self::CloseTooShort => {
                f.write_str("is a close with a 1-byte payload; a status code takes 2 bytes")
            }
            Self::InvalidCloseCode(code) => {
                let why = match code {
                    0..=999 => "which is not used",
                    1004..=1006 | 1015 => "which is reserved and must never be sent",
                    1016..=2999 => "which is not assigned",
                    _ => "which is outside every range of close codes",
                };
                write!(f, "is a close with code {code}, {why}")
            }
            Self::CorruptCompressed => {
                f.write_str("completes a compressed message that does not inflate")
            }
        }
    }
}

/// Something the decoder accepted that a stricter peer would fail the connection for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note {
    /// The 1-based index of the frame, counted like [`crate::protocol::ws::ProtocolError::frame`].
    pub frame: u64,
    pub kind: NoteKind,
}

/// What a [`Note`] is about. `Display` follows "frame 3 from the client ", like [`Violation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// The length took a longer encoding than needed.
    NonMinimalLength { len: u64, used: LengthEncoding },
    /// The masking key is all zeros: masked in name only. Noted once per connection.
    ZeroMaskKey,
    /// The same masking key as the frame before. Noted once per connection.
    ReusedMaskKey([u8; 4]),
}

impl NoteKind {
    /// The rule a stricter peer would enforce.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::NonMinimalLength { .. } => "RFC 6455 §5.2",
            Self::ZeroMaskKey | Self::ReusedMaskKey(_) => "RFC 6455 §5.3",
        }
    }
}

impl Note {
    pub fn rule(&self) -> &'static str {
        self.kind.rule()
    }
}

impl fmt::Display for NoteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NonMinimalLength { len, used } => write!(
                f,
                "gives its length {len} in the {used} form; the minimal one is {}",
                LengthEncoding::minimal(len)
            ),
            Self::ZeroMaskKey => {
                f.write_str("is masked with key 00000000, which leaves the payload as it is")
            }
            Self::ReusedMaskKey(key) => {
                f.write_str("reuses the previous frame's masking key ")?;
                write_hex_key(f, key)?;
                f.write_str("; each frame needs a fresh, unpredictable one")
            }
        }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

/// Which of the three payload length encodings a frame used (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthEncoding {
    /// 0–125 in the second byte.
    Bits7,
    /// 126, then 16 bits.
    Bits16,
    /// 127, then 64 bits.
    Bits64,
}

impl LengthEncoding {
    /// The encoding announced by the 7-bit length field.
    pub(crate) fn from_len7(len7: u8) -> Self {
        match len7 & 0x7f {
            126 => Self::Bits16,
            127 => Self::Bits64,
            _ => Self::Bits7,
        }
    }

    /// The shortest encoding of `len`, the one RFC 6455 §5.2 requires.
    pub(crate) fn minimal(len: u64) -> Self {
        match len {
            0..=125 => Self::Bits7,
            126..=0xffff => Self::Bits16,
            _ => Self::Bits64,
        }
    }
}

impl fmt::Display for LengthEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bits7 => "7-bit",
            Self::Bits16 => "16-bit",
            Self::Bits64 => "64-bit",
        })
    }
}

/// One frame as it was on the wire, in either direction, for `--trace`. A frame refused at its
/// header is traced as far as it was read: `len`/`mask_key` may be `None`, the preview empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameTrace {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    /// The four opcode bits as sent; [`FrameTrace::opcode_name`] decodes them.
    pub opcode: u8,
    /// The MASK bit.
    pub masked: bool,
    /// The masking key, once read.
    pub mask_key: Option<[u8; 4]>,
    pub length_encoding: LengthEncoding,
    /// The payload length, once read (a refused frame may stop before its extended length).
    pub len: Option<u64>,
    /// The first [`FrameTrace::PREVIEW`] bytes of the payload, unmasked.
    pub preview: Vec<u8>,
    /// The payload belongs to a text message: the preview is shown as text.
    pub text: bool,
    /// The payload is compressed (RFC 7692), so the preview is of the compressed bytes.
    pub compressed: bool,
    /// The whole frame was read; `false` for a frame refused at its header.
    pub complete: bool,
}

impl FrameTrace {
    /// Most payload bytes a trace keeps.
    pub const PREVIEW: usize = 64;

    /// What the first two bytes say; the length only when it fits in them.
    pub(crate) fn from_header(b0: u8, b1: u8) -> Self {
        let len7 = b1 & 0x7f;
        let length_encoding = LengthEncoding::from_len7(len7);
        Self {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode: b0 & 0x0f,
            masked: b1 & 0x80 != 0,
            mask_key: None,
            length_encoding,
            len: (length_encoding == LengthEncoding::Bits7).then_some(u64::from(len7)),
            preview: Vec::new(),
            text: false,
            compressed: false,
            complete: false,
        }
    }

    /// A whole frame: its first byte, its key, and its payload (unmasked).
    pub(crate) fn written(b0: u8, mask_key: Option<[u8; 4]>, payload: &[u8]) -> Self {
        let len = payload.len() as u64;
        let mut trace = Self::from_header(b0, if mask_key.is_some() { 0x80 } else { 0 });
        trace.mask_key = mask_key;
        trace.length_encoding = LengthEncoding::minimal(len);
        trace.len = Some(len);
        trace.set_payload(payload);
        trace
    }

    /// Keeps the preview of a fully read payload.
    pub(crate) fn set_payload(&mut self, payload: &[u8]) {
        self.preview = payload[..payload.len().min(Self::PREVIEW)].to_vec();
        self.complete = true;
    }

    /// `text`, `ping`, …, or `reserved` for an opcode RFC 6455 does not define.
    pub fn opcode_name(&self) -> &'static str {
        OpCode::from_bits(self.opcode).map_or("reserved", OpCode::name)
    }

    /// Whether the length used the shortest encoding (`true` while the length is unknown).
    pub fn minimal_length(&self) -> bool {
        self.len
            .is_none_or(|len| LengthEncoding::minimal(len) == self.length_encoding)
    }
}

/// One line: flags, opcode, key, length and its encoding, then the preview; text quoted and
/// escaped, binary and compressed bytes in hex, a close as its code and reason.
impl fmt::Display for FrameTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (set, name) in [
            (self.fin, "FIN "),
            (self.rsv1, "RSV1 "),
            (self.rsv2, "RSV2 "),
            (self.rsv3, "RSV3 "),
        ] {
            if set {
                f.write_str(name)?;
            }
        }
        match OpCode::from_bits(self.opcode) {
            Some(op) => f.write_str(op.name())?,
            None => write!(f, "opcode={:#x}", self.opcode)?,
        }
        match (self.masked, self.mask_key) {
            (true, Some(key)) => {
                f.write_str(" MASK=")?;
                write_hex_key(f, key)?;
            }
            (true, None) => f.write_str(" MASK")?,
            (false, _) => {}
        }
        match self.len {
            Some(len) => write!(f, " len={len}")?,
            None => f.write_str(" len=?")?,
        }
        write!(f, " ({}", self.length_encoding)?;
        if !self.minimal_length() {
            f.write_str(", not minimal")?;
        }
        f.write_char(')')?;
        if !self.complete {
            return f.write_str(" [payload not read]");
        }
        if self.preview.is_empty() {
            return Ok(());
        }
        f.write_char(' ')?;
        let close = self.opcode == OpCode::Close.bits();
        match &self.preview[..] {
            bytes if self.compressed => {
                f.write_str("deflated ")?;
                write_hex(f, bytes)?;
            }
            [hi, lo, reason @ ..] if close => {
                write!(f, "code={}", u16::from_be_bytes([*hi, *lo]))?;
                if !reason.is_empty() {
                    f.write_char(' ')?;
                    write_escaped(f, reason)?;
                }
            }
            bytes if self.text => write_escaped(f, bytes)?,
            bytes => write_hex(f, bytes)?,
        }
        if self.len.is_some_and(|len| len > self.preview.len() as u64) {
            f.write_str(" …")?;
        }
        Ok(())
    }
}

fn write_hex_key(f: &mut fmt::Formatter<'_>, key: [u8; 4]) -> fmt::Result {
    key.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            f.write_char(' ')?;
        }
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

/// Quoted, with control characters, quotes and backslashes escaped and bytes that are not UTF-8
/// (a preview may cut a character) as `\xNN`.
fn write_escaped(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    f.write_char('"')?;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\0' => f.write_str("\\0")?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        for byte in chunk.invalid() {
            write!(f, "\\x{byte:02x}")?;
        }
    }
    f.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_round_trip_and_reserved_ones_are_refused() {
        for bits in 0..16u8 {
            match OpCode::from_bits(bits) {
                Some(op) => assert_eq!(op.bits(), bits),
                None => assert!(matches!(bits, 3..=7 | 0xB..=0xF), "{bits}"),
            }
        }
        assert!(OpCode::Ping.is_control() && !OpCode::Continuation.is_control());
    }

    #[test]
    fn only_registered_codes_are_sendable() {
        for (code, ok) in [
            (999, false),
            (1000, true),
            (1004, false),
            (1005, false),
            (1006, false),
            (1011, true),
            (1014, true),
            (1015, false),
            (2999, false),
            (3000, true),
            (4999, true),
            (5000, false),
        ] {
            assert_eq!(CloseCode::new(code).is_sendable(), ok, "{code}");
        }
    }

    #[test]
    fn close_frames_say_who_ended_and_how() {
        let frame = |code: Option<u16>, reason: &str| CloseFrame {
            code: code.map(CloseCode::new),
            reason: reason.to_owned(),
        };
        assert_eq!(frame(None, "").to_string(), "no status code");
        assert_eq!(frame(Some(1000), "").to_string(), "1000");
        assert_eq!(frame(Some(1008), "bad login").to_string(), "1008 bad login");
        assert!(frame(Some(1000), "").is_clean() && frame(Some(1001), "").is_clean());
        assert!(!frame(Some(1011), "").is_clean() && !frame(None, "").is_clean());
        assert_eq!(CloseCode::from(4000).as_u16(), 4000);
    }

    #[test]
    fn messages_know_their_opcode_and_payload() {
        let text = Message::Text(String::from("héllo").into());
        assert_eq!(
            (text.opcode(), text.as_bytes()),
            (OpCode::Text, "héllo".as_bytes())
        );
        let binary = Message::Binary(Bytes::from_static(&[0, 255]));
        assert_eq!(
            (binary.opcode(), binary.as_bytes()),
            (OpCode::Binary, &[0, 255][..])
        );
        let Message::Text(text) = text else {
            unreachable!("built as text above")
        };
        assert_eq!(
            (text.len(), text.is_empty(), text.to_string()),
            (6, false, "héllo".to_owned())
        );
        assert_eq!(&text.into_bytes()[..], "héllo".as_bytes());
        assert!(Utf8Bytes::default().is_empty());
    }

    #[test]
    fn text_is_checked_on_the_way_in() {
        assert!(Utf8Bytes::try_from(Bytes::from_static(b"\xff")).is_err());
        let text = Utf8Bytes::try_from(Bytes::from_static("é".as_bytes()));
        assert_eq!(text.map(|t| t.as_str().to_owned()), Ok("é".to_owned()));
    }
}
