//! Pure protocol rules, no I/O: what both the server and the client agree on.

pub(crate) mod head;
pub(crate) mod http1;
pub(crate) mod http2;
pub mod login;
pub mod pyjson;
pub(crate) mod tls_hello;
pub mod ws;
