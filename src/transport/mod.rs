//! I/O for one connection, in either role: the WebSocket transport and TLS.

pub(crate) mod stop;
pub(crate) mod timer;
pub mod tls;
pub mod tls_probes;
pub(crate) mod ws;
