//! An Autobahn fuzzingserver driver for duplex's own WebSocket client: what every client
//! library writes to prove its conformance (`duplex client autobahn`). It asks for the case
//! count, runs every case echoing each message unchanged, and asks for the reports; the
//! verdicts are the server's.

use std::sync::Arc;

use rustls::ClientConfig;

use super::ws::{self, Received, WsOptions};
use super::{ClientError, Target};
use crate::protocol::ws::{CloseCode, FAST_COMPRESSION_LEVEL};

/// How many cases ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Driven {
    pub cases: u64,
}

/// Runs every case of the fuzzing server at `base` (`ws://127.0.0.1:9001`) as `agent`, then
/// has it write its reports.
///
/// # Errors
/// The control calls failing (the server is not there, or not a fuzzing server). A case that
/// fails is the server's to judge, not an error.
pub async fn drive(
    base: &str,
    agent: &str,
    tls: Option<&Arc<ClientConfig>>,
    options: &WsOptions,
) -> Result<Driven, ClientError> {
    // The compression cases are zlib-bound on both ends and a verdict never depends on the
    // level (the server inflates any valid stream), so this client compresses at the fastest.
    let options = &WsOptions {
        compression_level: FAST_COMPRESSION_LEVEL,
        ..options.clone()
    };
    let base = base.trim_end_matches('/');
    let agent = percent_encoding::utf8_percent_encode(agent, percent_encoding::NON_ALPHANUMERIC);
    let count_url = Target::parse(&format!("{base}/getCaseCount"))?;
    let mut control = ws::connect(&count_url, tls, options).await?;
    let count = match control.recv().await? {
        Received::Message(message) => std::str::from_utf8(message.as_bytes())
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok()),
        Received::Closed(_) => None,
    }
    .ok_or_else(|| ClientError::BadHandshake("getCaseCount did not answer a number".to_owned()))?;
    let _ = control.close(CloseCode::NORMAL, "").await;
    for case in 1..=count {
        let target = Target::parse(&format!("{base}/runCase?case={case}&agent={agent}"))?;
        let Ok(mut conn) = ws::connect(&target, tls, options).await else {
            continue;
        };
        // Echo until the server closes or the connection fails.
        while let Ok(Received::Message(message)) = conn.recv().await {
            if conn.send(&message).await.is_err() {
                break;
            }
        }
    }
    let reports = Target::parse(&format!("{base}/updateReports?agent={agent}"))?;
    let mut conn = ws::connect(&reports, tls, options).await?;
    // The server closes once the reports are written.
    while let Ok(Received::Message(_)) = conn.recv().await {}
    Ok(Driven { cases: count })
}
