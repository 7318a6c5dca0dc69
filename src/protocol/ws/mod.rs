//! WebSocket rules without I/O: the vocabulary (opcodes, close codes, close frames, messages with
//! UTF-8 text), the frame codec, the opening handshake ([`handshake`]) and permessage-deflate
//! negotiation.

mod codec;
mod frame;
pub mod handshake;
pub mod negotiate;

pub use codec::{Decoder, Encoder, Inbound, MAX_CLOSE_REASON, ProtocolError, Role, write_frame};
pub use frame::{CloseCode, CloseFrame, Message, OpCode, Utf8Bytes};
pub use negotiate::Agreement;
