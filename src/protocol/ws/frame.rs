//! The WebSocket vocabulary both roles share: opcodes, close codes, close frames and messages
//! whose text is known to be UTF-8 (RFC 6455 §5.2, §7.4).

use std::fmt;

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
