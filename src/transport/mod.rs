//! I/O for one connection, in either role: the WebSocket transport and TLS.

pub mod tls;
pub(crate) mod ws;
