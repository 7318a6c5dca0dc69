//! `duplex fuzzingserver`: a drop-in for Autobahn|Testsuite's `wstest -m fuzzingserver`, the
//! suite WebSocket *client* libraries prove their conformance with. It reads Autobahn's spec
//! file, speaks Autobahn's driver protocol (so existing client drivers run unchanged), runs
//! Autobahn's 517 cases with their ids, descriptions and verdict rules, and writes reports in
//! Autobahn's shape, plus a plain-English explanation for every case that is not OK.
//!
//! - `catalogue`: the cases, generated from Autobahn's own sources (`catalogue.json`).
//! - `spec`: the spec file and case patterns.
//! - `peer`: one case run, Autobahn's protocol bookkeeping without I/O; `session` does
//!   its I/O. `deflate` and `testdata` serve the compression cases.
//! - `judge`: the verdicts and the explanations. `report`: `index.json`, case reports,
//!   `index.html`.
//! - `server`: the listener, the handshake and the driver protocol.

mod catalogue;
mod deflate;
mod judge;
mod peer;
mod report;
mod server;
mod session;
mod spec;
mod testdata;

pub use server::{CaseOutcome, CaseVerdicts, FuzzingServer, Overrides, serve};
pub use spec::SpecError;

/// The case catalogue as text, one case per line: id, group, description; then what a client
/// must do (`duplex fuzzingserver --list`).
///
/// # Errors
/// The embedded catalogue does not parse.
pub fn catalogue_listing(verbose: bool) -> Result<String, String> {
    use std::fmt::Write as _;
    let catalogue = catalogue::catalogue()?;
    let mut out = String::new();
    for case in &catalogue.cases {
        // 12.* and 13.* groups name their data file and parameters at length.
        let group = catalogue.group(&case.id);
        let group = group.split(" (").next().unwrap_or(group);
        let _ = writeln!(
            out,
            "{:<8} {:<40} {}",
            case.id,
            group,
            case.pretty_description()
        );
        if verbose {
            let words = |text: &str| {
                let text = text
                    .replace("<br>", " ")
                    .replace("<b>", "")
                    .replace("</b>", "");
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            };
            let _ = writeln!(out, "{:<8} sends:  {}", "", words(&case.description));
            let _ = writeln!(out, "{:<8} expect: {}", "", words(&case.expectation));
        }
    }
    Ok(out)
}
