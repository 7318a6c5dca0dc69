//! The top layer: flags and environment variables ([`config`]), `duplex serve`'s startup, which
//! wires the layers together ([`startup`]), the log output ([`logging`]), the `duplex client`/`bench` commands
//! ([`client`]) and `duplex check-client` ([`check_client`]; with `--autobahn`, `check_autobahn`).

mod check_autobahn;
pub mod check_client;
pub mod client;
pub mod config;
pub mod fuzzingserver;
pub mod logging;
pub mod startup;
