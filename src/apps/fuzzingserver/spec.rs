//! Autobahn's fuzzingserver spec file (`wstest -m fuzzingserver -s FILE`): the URL to listen
//! on, where reports go, which cases run (patterns with `*`), which agents skip which cases,
//! and protocol options. Parsed once into a [`Spec`]; unknown keys are ignored, as Autobahn
//! does.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::catalogue::Catalogue;

/// A spec file that cannot be used, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("the spec is not valid JSON for a fuzzingserver spec: {0}")]
    Json(String),
    #[error("the spec's url {0:?} is not ws://HOST:PORT or wss://HOST:PORT")]
    Url(String),
    #[error(
        "the spec names case {0:?}, which is not in the catalogue (see `duplex fuzzingserver --list`)"
    )]
    UnknownCase(String),
    #[error(
        "a wss:// url needs a certificate and key: the spec's \"cert\" and \"key\" (PEM files) or --cert/--key (`duplex cert` makes a pair)"
    )]
    TlsNeedsCert,
    #[error("cannot serve wss://: {0}")]
    TlsSetup(String),
    #[error("the spec selects no case")]
    NoCases,
}

#[derive(Debug, Deserialize)]
struct RawSpec {
    #[serde(default = "default_url")]
    url: String,
    #[serde(default = "default_outdir")]
    outdir: String,
    #[serde(default = "default_cases")]
    cases: Vec<String>,
    #[serde(default, rename = "exclude-cases")]
    exclude_cases: Vec<String>,
    #[serde(default, rename = "exclude-agent-cases")]
    exclude_agent_cases: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    options: Options,
    /// PEM certificate and key for a wss:// url (Autobahn's `cert` and `key`).
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

fn default_url() -> String {
    "ws://127.0.0.1:9001".to_owned()
}

fn default_outdir() -> String {
    "./reports/clients".to_owned()
}

fn default_cases() -> Vec<String> {
    vec!["*".to_owned()]
}

/// The `options` object: Autobahn's protocol options that change a verdict's timing.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Options {
    /// Fail connections by dropping TCP instead of a close frame (Autobahn's default for the
    /// fuzzingserver is `false`).
    pub fail_by_drop: bool,
    /// Seconds to wait for the client's close frame after ours.
    pub close_handshake_timeout: f64,
    /// Seconds a client has to finish its opening handshake.
    pub open_handshake_timeout: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            fail_by_drop: false,
            close_handshake_timeout: 1.0,
            open_handshake_timeout: 5.0,
        }
    }
}

impl Options {
    pub(crate) fn close_timeout(&self) -> Duration {
        seconds(self.close_handshake_timeout)
    }

    pub(crate) fn open_timeout(&self) -> Duration {
        seconds(self.open_handshake_timeout)
    }
}

/// Seconds as a duration; negative or not a number is zero.
pub(crate) fn seconds(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or_default()
}

/// A parsed spec.
#[derive(Debug, Clone)]
pub struct Spec {
    pub(crate) host: IpAddr,
    pub(crate) port: u16,
    pub(crate) tls: bool,
    pub(crate) outdir: PathBuf,
    /// Indexes into the catalogue, sorted by case id; `/runCase?case=N` is the N-th, from 1.
    pub(crate) cases: Vec<usize>,
    exclude_agent_cases: Vec<(String, Vec<String>)>,
    pub(crate) options: Options,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
}

impl Spec {
    /// Parses a spec file's text against the catalogue.
    ///
    /// # Errors
    /// Invalid JSON, a bad URL, a literal case id that does not exist, or no case at all.
    pub(crate) fn parse(text: &str, catalogue: &Catalogue) -> Result<Self, SpecError> {
        let raw: RawSpec =
            serde_json::from_str(text).map_err(|err| SpecError::Json(err.to_string()))?;
        let (host, port, tls) = parse_url(&raw.url)?;
        let selected = resolve(&raw.cases, catalogue)?;
        let excluded = resolve(&raw.exclude_cases, catalogue)?;
        let mut cases: Vec<usize> = selected
            .into_iter()
            .filter(|index| !excluded.contains(index))
            .collect();
        cases.sort_by_key(|&index| catalogue.cases[index].id_tuple());
        cases.dedup();
        if cases.is_empty() {
            return Err(SpecError::NoCases);
        }
        Ok(Self {
            host,
            port,
            tls,
            outdir: PathBuf::from(raw.outdir),
            cases,
            exclude_agent_cases: raw.exclude_agent_cases.into_iter().collect(),
            options: raw.options,
            cert: raw.cert,
            key: raw.key,
        })
    }

    /// Whether `agent` is to skip `case_id` (`exclude-agent-cases`: both patterns anchored
    /// at both ends).
    pub(crate) fn excludes(&self, agent: &str, case_id: &str) -> bool {
        self.exclude_agent_cases.iter().any(|(agents, cases)| {
            glob(agents, agent, true) && cases.iter().any(|case| glob(case, case_id, true))
        })
    }
}

/// The catalogue indexes a pattern list selects: a pattern with `*` matches the ids it matches
/// at their start (Autobahn's `re.match`), one without names a single case.
fn resolve(patterns: &[String], catalogue: &Catalogue) -> Result<Vec<usize>, SpecError> {
    let mut out = Vec::new();
    for pattern in patterns {
        let pattern = pattern.trim();
        if pattern.contains('*') {
            out.extend(
                (0..catalogue.cases.len())
                    .filter(|&index| glob(pattern, &catalogue.cases[index].id, false)),
            );
        } else {
            let index = catalogue
                .cases
                .iter()
                .position(|case| case.id == pattern)
                .ok_or_else(|| SpecError::UnknownCase(pattern.to_owned()))?;
            out.push(index);
        }
    }
    Ok(out)
}

/// `*` matches any run of characters, everything else itself. Unanchored at the end, the
/// pattern need only match a prefix of `text`.
pub(crate) fn glob(pattern: &str, text: &str, anchored_end: bool) -> bool {
    fn go(p: &[u8], t: &[u8], anchored_end: bool) -> bool {
        match p.split_first() {
            None => !anchored_end || t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|skip| go(rest, &t[skip..], anchored_end)),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..], anchored_end),
        }
    }
    go(pattern.as_bytes(), text.as_bytes(), anchored_end)
}

/// `ws://host:port[/path]` → where to listen; `localhost` is loopback, any other name all
/// interfaces (as Autobahn listens).
fn parse_url(url: &str) -> Result<(IpAddr, u16, bool), SpecError> {
    let bad = || SpecError::Url(url.to_owned());
    let (tls, rest) = if let Some(rest) = url.strip_prefix("ws://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("wss://") {
        (true, rest)
    } else {
        return Err(bad());
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
            (host, port.parse::<u16>().map_err(|_| bad())?)
        }
        _ => (authority, if tls { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        "" => return Err(bad()),
        other => other
            .parse::<IpAddr>()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
    };
    Ok((ip, port, tls))
}

#[cfg(test)]
mod tests {
    use super::super::catalogue::catalogue;
    use super::*;

    fn spec(text: &str) -> Result<Spec, SpecError> {
        let catalogue = catalogue().unwrap_or_else(|err| panic!("{err}"));
        Spec::parse(text, catalogue)
    }

    fn ids(spec: &Spec) -> Vec<&'static str> {
        let catalogue = catalogue().unwrap_or_else(|err| panic!("{err}"));
        spec.cases
            .iter()
            .map(|&i| catalogue.cases[i].id.as_str())
            .collect()
    }

    #[test]
    fn star_selects_every_case_sorted_numerically() {
        let spec = spec(r#"{"url": "ws://127.0.0.1:9001", "cases": ["*"]}"#)
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(spec.cases.len(), 517);
        let ids = ids(&spec);
        let nine = ids.iter().position(|id| *id == "1.1.8");
        assert_eq!(nine, Some(7));
        assert_eq!(spec.port, 9001);
    }

    #[test]
    fn patterns_match_at_the_start_and_exclusions_remove() {
        let spec = spec(r#"{"cases": ["1.1.*", "2.1"], "exclude-cases": ["1.1.8"]}"#)
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(
            ids(&spec),
            [
                "1.1.1", "1.1.2", "1.1.3", "1.1.4", "1.1.5", "1.1.6", "1.1.7", "2.1"
            ]
        );
        // "2.1*" would also match 2.10 and 2.11 (Autobahn's re.match)
        let two =
            super::tests::spec(r#"{"cases": ["2.1*"]}"#).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(ids(&two), ["2.1", "2.10", "2.11"]);
    }

    #[test]
    fn an_unknown_literal_case_is_an_error() {
        assert_eq!(
            spec(r#"{"cases": ["99.1"]}"#).err(),
            Some(SpecError::UnknownCase("99.1".to_owned()))
        );
        assert_eq!(
            spec(r#"{"cases": ["1.*"], "exclude-cases": ["1.*"]}"#).err(),
            Some(SpecError::NoCases)
        );
    }

    #[test]
    fn agent_exclusions_are_anchored_at_both_ends() {
        let spec = spec(r#"{"exclude-agent-cases": {"ws*": ["12.*", "13.1.1"]}}"#)
            .unwrap_or_else(|err| panic!("{err}"));
        assert!(spec.excludes("wsproto", "12.1.1"));
        assert!(spec.excludes("ws", "13.1.1"));
        assert!(!spec.excludes("ws", "13.1.10"));
        assert!(!spec.excludes("tungstenite", "12.1.1"));
    }

    #[test]
    fn options_and_url_are_read() {
        let spec = spec(
            r#"{"url": "ws://localhost:9002", "options": {"failByDrop": true, "closeHandshakeTimeout": 2.5}}"#,
        )
        .unwrap_or_else(|err| panic!("{err}"));
        assert!(spec.options.fail_by_drop);
        assert_eq!(spec.options.close_timeout(), Duration::from_millis(2500));
        assert_eq!(spec.host, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(spec.port, 9002);
        assert!(matches!(
            super::tests::spec(r#"{"url": "http://x"}"#),
            Err(SpecError::Url(_))
        ));
    }
}
