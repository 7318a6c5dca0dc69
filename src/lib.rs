//! duplex: the HTTP/1.1, HTTP/2 and WebSocket server of the guide "A First-Principles Guide to
//! HTTP and WebSockets in FastAPI", over TLS, byte-compatible with the FastAPI original where the
//! guide defines the behaviour and strict (RFC 9110/9112/9113, 6455, 7692, 8441) where it does
//! not.
//!
//! # Layout
//! Layers, bottom to top; each imports only from the layers below it, and [`client`] sits beside
//! the server on [`protocol`] and [`transport`] alone.
//! - [`protocol`]: pure rules, no I/O. The WebSocket frame codec, opcodes and close codes
//!   (`protocol::ws`), the opening handshake and permessage-deflate negotiation, HTTP header
//!   tokens (`protocol::http1`), HTTP/2 frames decoded for the trace and the header timeout
//!   (`protocol::http2`), CPython-compatible JSON (`protocol::pyjson`), the OKX-style login
//!   (`protocol::login`), a TLS ClientHello read from raw bytes (`protocol::tls_hello`).
//! - [`transport`]: I/O for one connection in either role. The WebSocket transport (buffers,
//!   flush with send timeout, keepalive, close handshake and drain), TLS setup and
//!   certificates (`transport::tls`), and the TLS probes' certificates, cases and verdicts
//!   (`transport::tls_probes`, what a case runner reads).
//! - [`server`]: the connection lifecycle. Accept loop, connection cap and refusals, the
//!   per-connection task (TLS handshake, hyper, idle timer), the guard a connection hands to
//!   whatever takes it over, WebSocket upgrades, graceful shutdown, response bodies, and the
//!   TLS probe listeners that judge each handshake.
//! - [`apps`]: what a request is routed to. `apps::guide` holds the guide's endpoints: `/items`,
//!   `/static/data.txt`, the docs, the lifespan, and the WebSocket routes in `apps::guide::ws`;
//!   `apps::tls_probes` answers `/tls/clienthello` on the probe ports; `apps::probes` are the
//!   client probes (`--probes`) and `apps::inspector` the live inspector (`--inspect`).
//!   `apps::fuzzingserver` is `duplex fuzzingserver`, a drop-in Autobahn fuzzingserver.
//! - [`cli`]: flags and environment variables, and `duplex serve`'s startup, which wires the
//!   layers together.
//! - [`client`]: `duplex client` and `duplex bench`: the HTTP and WebSocket client the tests and
//!   benchmarks use.

pub mod apps;
pub mod cli;
pub mod client;
pub mod protocol;
pub mod server;
pub mod transport;
