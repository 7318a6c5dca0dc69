//! Black-box tests: the server on an ephemeral port, spoken to over real sockets.

mod binary;
mod cli;
mod diagnose;
mod framing;
mod fuzzingserver;
mod golden;
mod guide;
mod helpers;
mod http2;
mod inspector;
mod lifespan;
mod limits;
mod listen;
mod observe;
mod probes;
mod properties;
mod tls;
mod tls_probes;
mod ws;
mod ws_client;
mod ws_golden;
