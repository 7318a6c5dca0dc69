//! duplex: the HTTP/1.1 server of the guide "A First-Principles Guide to HTTP and WebSockets in
//! FastAPI", over TLS, byte-compatible with the FastAPI original where the guide defines the
//! behaviour and strict (RFC 9110/9112) where it does not.
//!
//! # Layout
//! - [`config`]: command line and `DUPLEX_*` environment variables.
//! - [`server`]: accept loop, TLS handshake per connection task, graceful shutdown.
//! - [`tls`]: rustls setup, PEM loading, the generated development certificate.
//! - [`lifespan`]: `static/data.txt`, created at start and removed on every exit path.
//! - [`http`]: routing with FastAPI's rules and one module per endpoint group; `http::pyjson`
//!   reproduces CPython's JSON decoding and encoding.
//! - [`ws`]: the WebSocket endpoints: handshake, permessage-deflate negotiation, sessions.
//! - [`auth`]: the OKX-style login of `/ws/v5/private` (HMAC, freshness, credentials).
//! - [`startup`]: wires the above together for `duplex serve`.
//! - [`client`]: `duplex client`, the HTTP and WebSocket client the tests and benchmarks use.

pub mod auth;
pub mod client;
pub mod config;
pub mod http;
pub mod lifespan;
pub mod server;
pub mod startup;
pub mod tls;
pub mod ws;
