//! The top layer: flags and environment variables ([`config`]), `duplex serve`'s startup, which
//! wires the layers together ([`startup`]), the log output ([`logging`]), and the `duplex client`/`bench` commands
//! ([`client`]).

pub mod client;
pub mod config;
pub mod fuzzingserver;
pub mod logging;
pub mod startup;
