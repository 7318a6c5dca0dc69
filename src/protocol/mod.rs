//! Pure protocol rules, no I/O: what both the server and the client agree on.

pub mod http1;
pub mod login;
pub mod pyjson;
pub mod ws;
