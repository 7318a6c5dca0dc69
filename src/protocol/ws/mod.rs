//! WebSocket rules without I/O: the vocabulary (opcodes, close codes, close frames, messages with
//! UTF-8 text), the frame codec, the opening handshake ([`handshake`]) and permessage-deflate
//! negotiation; and the diagnoses of a peer ([`Violation`], [`Note`], [`FrameTrace`]).

mod codec;
mod frame;
pub mod handshake;
pub mod negotiate;

pub use codec::{
    DEFAULT_COMPRESSION_LEVEL, Decoder, Encoder, FAST_COMPRESSION_LEVEL, Inbound, MAX_CLOSE_REASON,
    ProtocolError, Role, write_frame,
};
pub use frame::{
    CloseCode, CloseFrame, FrameTrace, LengthEncoding, Message, Note, NoteKind, OpCode, Utf8Bytes,
    Violation,
};
pub use negotiate::Agreement;
