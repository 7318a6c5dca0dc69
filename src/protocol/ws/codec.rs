//! RFC 6455 framing and RFC 7692 compression, without I/O: [`Decoder`] turns the peer's bytes
//! into messages and control frames, [`Encoder`] turns our messages into frames. Both work for
//! either [`Role`]: the server (unmasked out, masked in) and `duplex client` (the reverse).
//!
//! Every violation is a [`ProtocolError`] carrying the close code and the original's reason
//! text (1002 protocol error, 1007 invalid UTF-8, 1009 too big). Text is checked as fragments
//! arrive, so invalid UTF-8 fails the connection without waiting for the end of the message.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::frame::{CloseCode, CloseFrame, Message, OpCode, Utf8Bytes};
use super::negotiate::Agreement;

/// What a deflate block ends with after a sync flush; RFC 7692 §7.2.1 strips it on the wire.
const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Close reasons fit a control frame: 125 bytes minus the 2-byte code.
pub const MAX_CLOSE_REASON: usize = 123;

/// Which end of the connection we are: it decides who masks (RFC 6455 §5.1) and which
/// permessage-deflate parameters apply to which direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

impl Role {
    /// The other end.
    pub fn peer(self) -> Self {
        match self {
            Self::Server => Self::Client,
            Self::Client => Self::Server,
        }
    }
}

/// A violation of the protocol by the peer: fail the connection with this close frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}")]
pub struct ProtocolError {
    pub code: CloseCode,
    pub reason: String,
}

impl ProtocolError {
    fn protocol(reason: &str) -> Self {
        Self {
            code: CloseCode::PROTOCOL_ERROR,
            reason: reason.to_owned(),
        }
    }

    fn invalid_utf8() -> Self {
        // The original's 1007 carries no reason.
        Self {
            code: CloseCode::INVALID_DATA,
            reason: String::new(),
        }
    }

    fn too_big(size: usize, limit: usize) -> Self {
        Self {
            code: CloseCode::MESSAGE_TOO_BIG,
            reason: format!("frame with {size} bytes exceeds limit of {limit} bytes"),
        }
    }
}

/// What the peer sent: a whole data message or one control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Message(Message),
    Ping(Bytes),
    Pong(Bytes),
    /// A valid close frame.
    Close(CloseFrame),
}

/// A message being reassembled from fragments.
#[derive(Debug)]
struct Partial {
    text: bool,
    compressed: bool,
    data: BytesMut,
    /// Bytes of `data` known to be valid UTF-8 (uncompressed text only).
    checked: usize,
}

/// The peer-to-us direction.
#[derive(Debug)]
pub struct Decoder {
    /// Frames from a client are masked, frames from a server are not.
    expect_masked: bool,
    max_message: usize,
    inflater: Option<Inflater>,
    partial: Option<Partial>,
}

impl Decoder {
    pub fn new(role: Role, max_message: usize, deflate: Option<&Agreement>) -> Self {
        Self {
            expect_masked: role == Role::Server,
            max_message,
            inflater: deflate.map(|agreement| Inflater::new(role, agreement)),
            partial: None,
        }
    }

    /// Takes frames off the front of `buf` until one yields something; `Ok(None)` when more
    /// bytes are needed.
    ///
    /// # Errors
    /// The first protocol violation; the connection must then be failed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Inbound>, ProtocolError> {
        loop {
            let Some(frame) = self.frame(buf)? else {
                return Ok(None);
            };
            if let Some(incoming) = self.on_frame(frame)? {
                return Ok(Some(incoming));
            }
        }
    }

    /// One whole frame, unmasked, or `None` if it has not fully arrived.
    fn frame(&mut self, buf: &mut BytesMut) -> Result<Option<RawFrame>, ProtocolError> {
        let [b0, b1, ..] = buf[..] else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv1 = b0 & 0x40 != 0;
        if b0 & 0x30 != 0 {
            return Err(ProtocolError::protocol("reserved bits must be 0"));
        }
        let Some(opcode) = OpCode::from_bits(b0 & 0x0f) else {
            return Err(ProtocolError::protocol("invalid opcode"));
        };
        let control = opcode.is_control();
        let len7 = usize::from(b1 & 0x7f);
        if control && !fin {
            return Err(ProtocolError::protocol("fragmented control frame"));
        }
        if control && len7 > 125 {
            return Err(ProtocolError::protocol("control frame too long"));
        }
        // RSV1 marks a compressed message: only on its first frame, only when negotiated.
        if rsv1 && (control || opcode == OpCode::Continuation || self.inflater.is_none()) {
            return Err(ProtocolError::protocol("reserved bits must be 0"));
        }
        let masked = b1 & 0x80 != 0;
        if masked != self.expect_masked {
            return Err(ProtocolError::protocol("incorrect masking"));
        }
        let (len, header) = match len7 {
            126 => match buf.get(2..4) {
                Some(&[a, b]) => (usize::from(u16::from_be_bytes([a, b])), 4),
                _ => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(bytes) => {
                    let mut raw = [0u8; 8];
                    raw.copy_from_slice(bytes);
                    let len = u64::from_be_bytes(raw);
                    // Anything beyond usize is beyond any limit; saturate and refuse below.
                    (usize::try_from(len).unwrap_or(usize::MAX), 10)
                }
                None => return Ok(None),
            },
            len => (len, 2),
        };
        if !control {
            let so_far = self.partial.as_ref().map_or(0, |p| p.data.len());
            let total = so_far.saturating_add(len);
            if total > self.max_message {
                return Err(ProtocolError::too_big(total, self.max_message));
            }
        }
        let mask = if masked {
            let Some(&[a, b, c, d]) = buf.get(header..header + 4) else {
                return Ok(None);
            };
            Some([a, b, c, d])
        } else {
            None
        };
        let start = header + if masked { 4 } else { 0 };
        if buf.len() < start + len {
            // Room for the next read, not for the whole frame: a client announcing a huge frame
            // must send it before we hold memory for it.
            buf.reserve((start + len - buf.len()).min(64 * 1024));
            return Ok(None);
        }
        buf.advance(start);
        let mut payload = buf.split_to(len);
        if let Some(mask) = mask {
            apply_mask(&mut payload, mask);
        }
        Ok(Some(RawFrame {
            fin,
            rsv1,
            opcode,
            payload,
        }))
    }

    fn on_frame(&mut self, frame: RawFrame) -> Result<Option<Inbound>, ProtocolError> {
        match frame.opcode {
            OpCode::Ping => Ok(Some(Inbound::Ping(frame.payload.freeze()))),
            OpCode::Pong => Ok(Some(Inbound::Pong(frame.payload.freeze()))),
            OpCode::Close => close_frame(&frame.payload).map(Some),
            OpCode::Continuation => {
                let Some(partial) = self.partial.as_mut() else {
                    return Err(ProtocolError::protocol("unexpected continuation frame"));
                };
                partial.data.unsplit(frame.payload);
                if partial.text && !partial.compressed {
                    check_utf8(&partial.data, &mut partial.checked, frame.fin)?;
                }
                if !frame.fin {
                    return Ok(None);
                }
                let Some(partial) = self.partial.take() else {
                    return Ok(None);
                };
                self.finish(partial).map(Some)
            }
            OpCode::Text | OpCode::Binary => {
                if self.partial.is_some() {
                    return Err(ProtocolError::protocol("expected a continuation frame"));
                }
                let mut partial = Partial {
                    text: frame.opcode == OpCode::Text,
                    compressed: frame.rsv1,
                    data: frame.payload,
                    checked: 0,
                };
                if partial.text && !partial.compressed {
                    check_utf8(&partial.data, &mut partial.checked, frame.fin)?;
                }
                if frame.fin {
                    return self.finish(partial).map(Some);
                }
                self.partial = Some(partial);
                Ok(None)
            }
        }
    }

    fn finish(&mut self, partial: Partial) -> Result<Inbound, ProtocolError> {
        let data = if partial.compressed {
            let inflater = self
                .inflater
                .as_mut()
                .ok_or_else(|| ProtocolError::protocol("reserved bits must be 0"))?;
            let data = inflater.inflate(&partial.data, self.max_message)?;
            if partial.text && std::str::from_utf8(&data).is_err() {
                return Err(ProtocolError::invalid_utf8());
            }
            Bytes::from(data)
        } else {
            partial.data.freeze()
        };
        Ok(Inbound::Message(if partial.text {
            // Checked as the fragments arrived, or just above once inflated.
            Message::Text(Utf8Bytes::from_validated(data))
        } else {
            Message::Binary(data)
        }))
    }
}

#[derive(Debug)]
struct RawFrame {
    fin: bool,
    rsv1: bool,
    opcode: OpCode,
    payload: BytesMut,
}

/// XORs a masking key over the payload, eight bytes at a time (masking and unmasking are the
/// same operation).
fn apply_mask(payload: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// Extends the checked prefix of `data`; an incomplete sequence at the end is fine until the
/// message is `complete`.
fn check_utf8(data: &[u8], checked: &mut usize, complete: bool) -> Result<(), ProtocolError> {
    match std::str::from_utf8(&data[*checked..]) {
        Ok(_) => {
            *checked = data.len();
            Ok(())
        }
        Err(err) if err.error_len().is_none() && !complete => {
            *checked += err.valid_up_to();
            Ok(())
        }
        Err(_) => Err(ProtocolError::invalid_utf8()),
    }
}

fn close_frame(payload: &[u8]) -> Result<Inbound, ProtocolError> {
    match *payload {
        [] => Ok(Inbound::Close(CloseFrame {
            code: None,
            reason: String::new(),
        })),
        [_] => Err(ProtocolError::protocol("close frame too short")),
        [hi, lo, ref reason @ ..] => {
            let code = CloseCode::new(u16::from_be_bytes([hi, lo]));
            if !code.is_sendable() {
                return Err(ProtocolError::protocol("invalid status code"));
            }
            let Ok(reason) = std::str::from_utf8(reason) else {
                return Err(ProtocolError::invalid_utf8());
            };
            Ok(Inbound::Close(CloseFrame {
                code: Some(code),
                reason: reason.to_owned(),
            }))
        }
    }
}

/// The us-to-peer direction: unfragmented frames, compressed when negotiated, masked with a
/// fresh random key per frame in the client role.
#[derive(Debug)]
pub struct Encoder {
    mask: bool,
    deflater: Option<Deflater>,
}

impl Encoder {
    pub fn new(role: Role, deflate: Option<&Agreement>) -> Self {
        Self {
            mask: role == Role::Client,
            deflater: deflate.map(|agreement| Deflater::new(role, agreement)),
        }
    }

    /// Appends a data message (compressed if negotiated) to `out`.
    pub fn message(&mut self, out: &mut BytesMut, message: &Message) {
        let (opcode, payload) = (message.opcode().bits(), message.as_bytes());
        match self.deflater.as_mut() {
            Some(deflater) => {
                let compressed = deflater.deflate(payload);
                self.frame(out, 0x80 | 0x40 | opcode, &compressed);
            }
            None => self.frame(out, 0x80 | opcode, payload),
        }
    }

    /// Appends a ping or pong (`payload` cut at 125 bytes); close frames go through
    /// [`Encoder::close`].
    pub fn control(&mut self, out: &mut BytesMut, opcode: OpCode, payload: &[u8]) {
        debug_assert!(matches!(opcode, OpCode::Ping | OpCode::Pong));
        self.frame(
            out,
            0x80 | opcode.bits(),
            &payload[..payload.len().min(125)],
        );
    }

    fn frame(&self, out: &mut BytesMut, first_byte: u8, payload: &[u8]) {
        let mask = self.mask.then(rand::random::<[u8; 4]>);
        write_frame(out, first_byte, mask, payload);
    }

    /// Appends a close frame with `code` and `reason` (cut at a character boundary to fit).
    pub fn close(&mut self, out: &mut BytesMut, code: CloseCode, reason: &str) {
        let mut end = reason.len().min(MAX_CLOSE_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let mut payload = Vec::with_capacity(2 + end);
        payload.extend_from_slice(&code.as_u16().to_be_bytes());
        payload.extend_from_slice(&reason.as_bytes()[..end]);
        self.frame(out, 0x80 | OpCode::Close.bits(), &payload);
    }

    /// Appends `frame` as it is: the echo of a peer's close (no code: an empty payload).
    pub fn close_frame(&mut self, out: &mut BytesMut, frame: &CloseFrame) {
        match frame.code {
            Some(code) => self.close(out, code, &frame.reason),
            None => self.frame(out, 0x80 | OpCode::Close.bits(), &[]),
        }
    }
}

/// Appends one frame: `first_byte` (FIN, RSV bits and opcode, taken as given so tests can
/// build invalid frames too), the shortest length encoding, and the payload, masked with
/// `mask` if there is one.
pub fn write_frame(out: &mut BytesMut, first_byte: u8, mask: Option<[u8; 4]>, payload: &[u8]) {
    out.reserve(14 + payload.len());
    out.put_u8(first_byte);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => out.put_u8(mask_bit | len as u8),
        len @ 126..=0xffff => {
            out.put_u8(mask_bit | 126);
            out.put_u16(len as u16);
        }
        len => {
            out.put_u8(mask_bit | 127);
            out.put_u64(len as u64);
        }
    }
    match mask {
        Some(mask) => {
            out.put_slice(&mask);
            let start = out.len();
            out.put_slice(payload);
            apply_mask(&mut out[start..], mask);
        }
        None => out.put_slice(payload),
    }
}

/// The window bits and context-takeover rule that `sender` compresses under. A client that
/// promised no window may use any, up to 15.
fn sender_terms(agreement: &Agreement, sender: Role) -> (u8, bool) {
    match sender {
        Role::Server => (
            agreement.server_max_window_bits,
            agreement.server_no_context_takeover,
        ),
        Role::Client => (
            agreement.client_max_window_bits.unwrap_or(15),
            agreement.client_no_context_takeover,
        ),
    }
}

/// Decompresses the peer's messages (RFC 7692 §7.2.2). The zlib state (tens of KiB) is created
/// with the first compressed message, so idle connections do not pay for it.
#[derive(Debug)]
struct Inflater {
    z: Option<Decompress>,
    window_bits: u8,
    reset_each_message: bool,
}

impl Inflater {
    fn new(role: Role, agreement: &Agreement) -> Self {
        // zlib has no raw 8-bit inflate window; 9 decodes 8.
        let (window_bits, reset_each_message) = sender_terms(agreement, role.peer());
        Self {
            z: None,
            window_bits: window_bits.max(9),
            reset_each_message,
        }
    }

    fn inflate(&mut self, input: &[u8], limit: usize) -> Result<Vec<u8>, ProtocolError> {
        let mut out = Vec::with_capacity(input.len().saturating_mul(2).clamp(64, limit + 1));
        let window_bits = self.window_bits;
        let z = self
            .z
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, window_bits));
        for chunk in [input, &DEFLATE_TAIL[..]] {
            let mut consumed = 0;
            loop {
                if out.len() == out.capacity() {
                    out.reserve(out.capacity().max(4096));
                }
                let before = z.total_in();
                let status = z
                    .decompress_vec(&chunk[consumed..], &mut out, FlushDecompress::Sync)
                    .map_err(|_| ProtocolError::protocol("invalid compressed data"))?;
                consumed += usize::try_from(z.total_in() - before).unwrap_or(usize::MAX);
                if out.len() > limit {
                    return Err(ProtocolError::too_big(out.len(), limit));
                }
                if status == Status::StreamEnd {
                    // A final block ends the stream; the next message starts a new one.
                    self.z = None;
                    return Ok(out);
                }
                // Done with this chunk once it is consumed and inflate had room to spare.
                if consumed >= chunk.len() && out.len() < out.capacity() {
                    break;
                }
            }
        }
        if self.reset_each_message {
            z.reset(false);
        }
        Ok(out)
    }
}

/// Compresses our messages (RFC 7692 §7.2.1). Like [`Inflater`], the zlib state (over
/// 100 KiB) is created with the first message.
#[derive(Debug)]
struct Deflater {
    z: Option<Compress>,
    window_bits: u8,
    reset_each_message: bool,
}

impl Deflater {
    fn new(role: Role, agreement: &Agreement) -> Self {
        let (window_bits, reset_each_message) = sender_terms(agreement, role);
        Self {
            z: None,
            // Negotiation never agrees to 8 for the side we compress (zlib cannot); clamp so
            // flate2's range check can never panic.
            window_bits: window_bits.clamp(9, 15),
            reset_each_message,
        }
    }

    fn deflate(&mut self, input: &[u8]) -> Vec<u8> {
        let window_bits = self.window_bits;
        let z = self.z.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::default(), false, window_bits)
        });
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        let mut consumed = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(256));
            }
            let before = z.total_in();
            // Compressing into a growing Vec with a valid stream cannot fail.
            let _ = z.compress_vec(&input[consumed..], &mut out, FlushCompress::Sync);
            consumed += usize::try_from(z.total_in() - before).unwrap_or(usize::MAX);
            if consumed >= input.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&DEFLATE_TAIL) {
            out.truncate(out.len() - DEFLATE_TAIL.len());
        }
        if self.reset_each_message {
            z.reset();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        write_frame(&mut out, b0, Some([0x37, 0xfa, 0x21, 0x3d]), payload);
        out.to_vec()
    }

    /// The payload of one unmasked server frame.
    fn server_payload(frame: &[u8]) -> &[u8] {
        match frame[1] {
            126 => &frame[4..],
            127 => &frame[10..],
            _ => &frame[2..],
        }
    }

    fn decode_all(decoder: &mut Decoder, bytes: &[u8]) -> Result<Vec<Inbound>, ProtocolError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(incoming) = decoder.decode(&mut buf)? {
            out.push(incoming);
        }
        Ok(out)
    }

    fn error(bytes: &[u8]) -> ProtocolError {
        decode_all(&mut Decoder::new(Role::Server, 1 << 20, None), bytes)
            .err()
            .unwrap_or_else(|| ProtocolError::protocol("no error"))
    }

    #[test]
    fn text_split_anywhere_reassembles() {
        let mut bytes = client_frame(0x01, b"ab");
        bytes.extend(client_frame(0x89, b"p"));
        bytes.extend(client_frame(0x80, "cé".as_bytes()));
        for cut in 0..bytes.len() {
            let mut decoder = Decoder::new(Role::Server, 1 << 20, None);
            let mut buf = BytesMut::from(&bytes[..cut]);
            let mut got = Vec::new();
            while let Ok(Some(i)) = decoder.decode(&mut buf) {
                got.push(i);
            }
            buf.extend_from_slice(&bytes[cut..]);
            while let Ok(Some(i)) = decoder.decode(&mut buf) {
                got.push(i);
            }
            assert_eq!(
                got,
                vec![
                    Inbound::Ping(Bytes::from_static(b"p")),
                    Inbound::Message(Message::Text("abcé".into()))
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn violations_get_the_originals_close_codes_and_reasons() {
        let cases: [(Vec<u8>, u16, &str); 10] = [
            (vec![0x81, 0x02, b'h', b'i'], 1002, "incorrect masking"),
            (client_frame(0xC1, b"x"), 1002, "reserved bits must be 0"),
            (client_frame(0xA1, b"x"), 1002, "reserved bits must be 0"),
            (client_frame(0x83, b"x"), 1002, "invalid opcode"),
            (
                client_frame(0x89, &[0; 126]),
                1002,
                "control frame too long",
            ),
            (client_frame(0x09, b"x"), 1002, "fragmented control frame"),
            (
                client_frame(0x80, b"x"),
                1002,
                "unexpected continuation frame",
            ),
            (
                [client_frame(0x01, b"x"), client_frame(0x81, b"y")].concat(),
                1002,
                "expected a continuation frame",
            ),
            (client_frame(0x88, &[3]), 1002, "close frame too short"),
            (
                client_frame(0x88, &999u16.to_be_bytes()),
                1002,
                "invalid status code",
            ),
        ];
        for (bytes, code, reason) in cases {
            assert_eq!(
                error(&bytes),
                ProtocolError {
                    code: CloseCode::new(code),
                    reason: reason.to_owned()
                }
            );
        }
    }

    #[test]
    fn invalid_utf8_fails_fast_with_1007() {
        // The bad byte is in the first fragment; the message is not finished yet.
        assert_eq!(
            error(&client_frame(0x01, &[b'a', 0xff])).code,
            CloseCode::INVALID_DATA
        );
        // An incomplete sequence may continue in the next fragment...
        let split = [client_frame(0x01, &[0xce]), client_frame(0x80, &[0xba])].concat();
        assert_eq!(
            decode_all(&mut Decoder::new(Role::Server, 100, None), &split),
            Ok(vec![Inbound::Message(Message::Text("κ".into()))])
        );
        // ...but not end the message.
        assert_eq!(
            error(&client_frame(0x81, &[0xce])).code,
            CloseCode::INVALID_DATA
        );
        assert_eq!(
            error(&client_frame(0x88, &[0x03, 0xe8, 0xff])).code,
            CloseCode::INVALID_DATA
        );
    }

    #[test]
    fn the_limit_is_inclusive_and_counts_fragments() {
        let mut decoder = Decoder::new(Role::Server, 4, None);
        assert!(decode_all(&mut decoder, &client_frame(0x82, b"1234")).is_ok());
        let err = decode_all(
            &mut Decoder::new(Role::Server, 4, None),
            &client_frame(0x82, b"12345"),
        )
        .err();
        assert_eq!(
            err.map(|e| (e.code, e.reason)),
            Some((
                CloseCode::MESSAGE_TOO_BIG,
                "frame with 5 bytes exceeds limit of 4 bytes".to_owned()
            ))
        );
        let fragments = [client_frame(0x02, b"123"), client_frame(0x80, b"45")].concat();
        assert_eq!(
            decode_all(&mut Decoder::new(Role::Server, 4, None), &fragments).map_err(|e| e.code),
            Err(CloseCode::MESSAGE_TOO_BIG)
        );
    }

    #[test]
    fn compressed_round_trip_with_context_takeover() {
        let agreement = Agreement {
            response: String::new(),
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 12,
            client_max_window_bits: Some(12),
        };
        let mut server_out = Encoder::new(Role::Server, Some(&agreement));
        let mut client_in = Decoder::new(Role::Client, 1 << 20, Some(&agreement));
        let mut client_out = Encoder::new(Role::Client, Some(&agreement));
        let mut server_in = Decoder::new(Role::Server, 1 << 20, Some(&agreement));
        for text in ["Hello, WebSocket!", "Hello, WebSocket!", ""] {
            let expected = Ok(vec![Inbound::Message(Message::Text(text.into()))]);
            let mut out = BytesMut::new();
            server_out.message(&mut out, &Message::Text(text.into()));
            assert_eq!(out[0], 0xC1, "FIN + RSV1 + text");
            assert_eq!(out[1] & 0x80, 0, "server frames are not masked");
            assert_eq!(decode_all(&mut client_in, &out), expected);
            let mut out = BytesMut::new();
            client_out.message(&mut out, &Message::Text(text.into()));
            assert_eq!(out[1] & 0x80, 0x80, "client frames are masked");
            assert_eq!(decode_all(&mut server_in, &out), expected);
        }
        let mut encoder = server_out;
        // A bomb is stopped at the limit.
        let mut out = BytesMut::new();
        encoder.message(&mut out, &Message::Binary(vec![0u8; 100_000].into()));
        let frame = client_frame(0xC2, server_payload(&out));
        let err = decode_all(
            &mut Decoder::new(Role::Server, 50_000, Some(&agreement)),
            &frame,
        )
        .err();
        assert_eq!(err.map(|e| e.code), Some(CloseCode::MESSAGE_TOO_BIG));
    }

    #[test]
    fn each_role_refuses_the_other_masking() {
        let mut masked = BytesMut::new();
        Encoder::new(Role::Client, None).message(&mut masked, &Message::Text("hi".into()));
        let mut unmasked = BytesMut::new();
        Encoder::new(Role::Server, None).message(&mut unmasked, &Message::Text("hi".into()));
        let hi = Ok(vec![Inbound::Message(Message::Text("hi".into()))]);
        let masking = Err(ProtocolError::protocol("incorrect masking"));
        let decode = |role, bytes: &BytesMut| decode_all(&mut Decoder::new(role, 10, None), bytes);
        assert_eq!(decode(Role::Server, &masked), hi);
        assert_eq!(decode(Role::Client, &unmasked), hi);
        assert_eq!(decode(Role::Server, &unmasked), masking);
        assert_eq!(decode(Role::Client, &masked), masking);
    }

    #[test]
    fn server_frames_use_the_shortest_length() {
        let mut encoder = Encoder::new(Role::Server, None);
        for (len, header) in [
            (125, vec![0x81, 0x7d]),
            (126, vec![0x81, 0x7e, 0x00, 0x7e]),
            (65536, vec![0x81, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let mut out = BytesMut::new();
            encoder.message(&mut out, &Message::Text("a".repeat(len).into()));
            assert_eq!(&out[..header.len()], &header[..]);
            assert_eq!(out.len(), header.len() + len);
        }
        let mut out = BytesMut::new();
        encoder.close(&mut out, CloseCode::GOING_AWAY, "bye");
        assert_eq!(&out[..], &[0x88, 0x05, 0x03, 0xe9, b'b', b'y', b'e']);
    }
}
