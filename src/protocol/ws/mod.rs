//! WebSocket rules without I/O: the vocabulary ([`frame`]), the frame codec ([`codec`]), the
//! opening handshake ([`handshake`]) and permessage-deflate negotiation ([`negotiate`]).

pub mod codec;
pub mod frame;
pub mod handshake;
pub mod negotiate;

pub use codec::{Decoder, Encoder, Inbound, ProtocolError, Role, write_frame};
pub use frame::{CloseCode, CloseFrame, Message, OpCode, Utf8Bytes};
pub use negotiate::Agreement;
