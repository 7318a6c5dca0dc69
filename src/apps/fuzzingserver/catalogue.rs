//! The case catalogue: Autobahn|Testsuite's 517 WebSocket cases (ids, descriptions,
//! expectations, the frames each case sends and how it is judged), embedded as
//! `catalogue.json`. That file is generated from the installed suite by
//! `scripts/fuzzingserver-catalogue.py` (autobahn-testsuite 25.10.1, Apache-2.0), so nothing in
//! it is retyped by hand; this module only gives it types.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use bytes::Bytes;
use serde::Deserialize;

/// The embedded catalogue, parsed once.
///
/// # Errors
/// The embedded JSON does not parse (a build from a broken checkout).
pub(crate) fn catalogue() -> Result<&'static Catalogue, String> {
    static CATALOGUE: OnceLock<Result<Catalogue, String>> = OnceLock::new();
    CATALOGUE
        .get_or_init(|| {
            serde_json::from_str(include_str!("catalogue.json"))
                .map_err(|err| format!("the embedded case catalogue does not parse: {err}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

#[derive(Debug, Deserialize)]
pub(crate) struct Catalogue {
    pub(crate) cases: Vec<CaseDef>,
    pub(crate) categories: BTreeMap<String, String>,
    pub(crate) subcategories: BTreeMap<String, String>,
}

impl Catalogue {
    /// The case with this id ("1.1.1").
    #[cfg(test)]
    pub(crate) fn get(&self, id: &str) -> Option<&CaseDef> {
        self.cases.iter().find(|case| case.id == id)
    }

    /// The group a case belongs to: its subcategory's name ("Text Messages"), else its
    /// category's ("Pings/Pongs").
    pub(crate) fn group(&self, id: &str) -> &str {
        let mut parts = id.split('.');
        let first = parts.next().unwrap_or_default();
        let sub = parts.next().map(|second| format!("{first}.{second}"));
        sub.and_then(|sub| self.subcategories.get(&sub))
            .or_else(|| self.categories.get(first))
            .map_or("", String::as_str)
    }
}

/// One case, as Autobahn defines it.
#[derive(Debug, Deserialize)]
pub(crate) struct CaseDef {
    pub(crate) id: String,
    /// Autobahn's text, with its HTML (`<br>`, `<b>`) as is.
    pub(crate) description: String,
    pub(crate) expectation: String,
    /// Verdict → the events that earn it, for cases judged by what they received.
    #[serde(default)]
    pub(crate) expected: BTreeMap<String, Vec<Event>>,
    pub(crate) expected_close: Option<ExpectedClose>,
    #[serde(default)]
    pub(crate) close_rule: CloseRule,
    /// The case sends deliberately odd closes itself; receiving the expected events does not
    /// make the server start the closing handshake.
    #[serde(default)]
    pub(crate) suppress_close: bool,
    #[serde(default)]
    pub(crate) report_time: bool,
    pub(crate) script: Script,
}

impl CaseDef {
    /// Autobahn's `caseClassToPrettyDescription`: the description up to its first HTML tag,
    /// whitespace collapsed (what `/getCaseInfo` answers).
    pub(crate) fn pretty_description(&self) -> String {
        let head = self.description.split('<').next().unwrap_or_default();
        head.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The id as numbers, for sorting ("1.10" after "1.9").
    pub(crate) fn id_tuple(&self) -> Vec<u32> {
        id_tuple(&self.id)
    }

    /// The close behaviour expected; scripted cases (9.*, 12.*, 13.*) all end with the
    /// server's normal close.
    pub(crate) fn expected_close(&self) -> ExpectedClose {
        self.expected_close.clone().unwrap_or(ExpectedClose {
            closed_by_me: true,
            close_code: vec![1000],
            require_clean: true,
            closed_by_wrong_endpoint_is_fatal: false,
        })
    }
}

/// "1.2.3" → [1, 2, 3]; a part that is not a number sorts first.
pub(crate) fn id_tuple(id: &str) -> Vec<u32> {
    id.split('.')
        .map(|part| part.parse().unwrap_or(0))
        .collect()
}

/// Autobahn's `expectedClose`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct ExpectedClose {
    /// Whether the fuzzing server (not the client) is to start the closing handshake.
    pub(crate) closed_by_me: bool,
    /// Acceptable close codes from the client; none at all is acceptable too.
    pub(crate) close_code: Vec<u16>,
    pub(crate) require_clean: bool,
    /// 6.*: a client that did not fail the connection did not see the invalid UTF-8.
    #[serde(default)]
    pub(crate) closed_by_wrong_endpoint_is_fatal: bool,
}

/// What a case's own `onConnectionLost` adds to the common judging.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CloseRule {
    #[default]
    Plain,
    /// 7.*: a wrong close code fails the case itself, not only its close.
    WrongCodeFails,
    /// 7.1.6, 7.13.*: the outcome is reported, never judged.
    Informational,
}

/// What a case does.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Script {
    /// Send these steps, judge by the received events.
    Steps { steps: Vec<Step> },
    /// 9.1–9.6: send one big message (the steps), expect it back whole.
    OneEcho {
        len: usize,
        binary: bool,
        steps: Vec<Step>,
        wait_secs: f64,
    },
    /// 9.7, 9.8: `count` messages of `len` bytes, each sent when the previous came back.
    RoundTrips {
        len: usize,
        count: u32,
        wait_secs: f64,
        binary: bool,
    },
    /// 12.*, 13.*: like round trips, compressed, with a server-side deflate policy.
    Compression {
        len: usize,
        count: u32,
        wait_secs: f64,
        auto_fragment: usize,
        accept: Accept,
        data: TestData,
        binary: bool,
    },
}

/// How the server answers permessage-deflate offers in 12.* and 13.* (Autobahn's
/// `accept1`…`accept7`: `(client_no_context_takeover, client_max_window_bits)` requested).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Accept {
    Accept1,
    Accept2,
    Accept3,
    Accept4,
    Accept5,
    Accept6,
    Accept7,
}

/// The payload sources of 12.* and 13.*.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TestData {
    JsonData1,
    Lena512,
    GutenbergFaust,
    HtmlData1,
    Ooms,
}

/// One thing a case does, in order (Autobahn's `sendFrame`, `sendMessage`, `killAfter`, …).
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Step {
    /// One frame exactly as given (any opcode, RSV bits, FIN).
    Frame {
        opcode: u8,
        fin: bool,
        rsv: u8,
        payload: Payload,
        /// The payload repeated up to this many bytes.
        payload_len: Option<usize>,
        /// Written to the socket this many bytes at a time.
        chopsize: Option<usize>,
        /// Written on its own, not coalesced with what follows.
        sync: bool,
    },
    /// A message, fragmented into frames of `fragment_size` if given.
    Message {
        binary: bool,
        payload: Payload,
        fragment_size: Option<usize>,
        sync: bool,
    },
    /// Bytes written as they are (6.4.3/6.4.4 send one frame in three writes).
    Raw {
        bytes: Payload,
        sync: bool,
    },
    /// The server's close frame (`code` and `reason` as given, even invalid ones).
    Close {
        code: Option<u16>,
        reason: Option<Payload>,
    },
    /// Fail the connection (close 1001) after this long unless it is closed by then.
    KillAfter {
        secs: f64,
    },
    /// Start the closing handshake after this long unless the connection is closed by then.
    CloseAfter {
        secs: f64,
    },
    Wirelog {
        on: bool,
    },
    /// Wait; the rest of the steps run afterwards (if the connection is still open, when
    /// `only_if_open`).
    Delay {
        secs: f64,
        tag: Option<String>,
        only_if_open: bool,
    },
    /// Record an event, as 6.4.* record that their wait expired.
    Mark {
        event: Event,
    },
}

/// An event the server saw, or expects to see.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Event {
    Message { payload: Payload, binary: bool },
    Ping { payload: Payload },
    Pong { payload: Payload },
    Timeout { tag: String },
}

/// Bytes, or one byte repeated (the catalogue keeps 4 MiB payloads as two numbers).
#[derive(Clone, Deserialize)]
#[serde(try_from = "RawPayload")]
pub(crate) enum Payload {
    Bytes(Bytes),
    Fill(u8, usize),
}

impl Payload {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Bytes(bytes) => bytes.len(),
            Self::Fill(_, len) => *len,
        }
    }

    /// The bytes themselves.
    pub(crate) fn to_bytes(&self) -> Bytes {
        match self {
            Self::Bytes(bytes) => bytes.clone(),
            Self::Fill(byte, len) => Bytes::from(vec![*byte; *len]),
        }
    }

    /// The first `n` bytes, for previews.
    pub(crate) fn head(&self, n: usize) -> Vec<u8> {
        match self {
            Self::Bytes(bytes) => bytes[..n.min(bytes.len())].to_vec(),
            Self::Fill(byte, len) => vec![*byte; n.min(*len)],
        }
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Fill(a, n), Self::Fill(b, m)) => n == m && (a == b || *n == 0),
            (Self::Bytes(bytes), Self::Fill(byte, len))
            | (Self::Fill(byte, len), Self::Bytes(bytes)) => {
                bytes.len() == *len && bytes.iter().all(|b| b == byte)
            }
            (Self::Bytes(a), Self::Bytes(b)) => a == b,
        }
    }
}

impl Eq for Payload {}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(bytes) if bytes.len() <= 64 => write!(f, "{bytes:?}"),
            Self::Bytes(bytes) => write!(f, "<{} bytes>", bytes.len()),
            Self::Fill(byte, len) => write!(f, "<{len} x {byte:#04x}>"),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawPayload {
    Hex { hex: String },
    Fill { fill: String, len: usize },
}

impl TryFrom<RawPayload> for Payload {
    type Error = String;

    fn try_from(raw: RawPayload) -> Result<Self, String> {
        match raw {
            RawPayload::Hex { hex } => Ok(Self::Bytes(Bytes::from(from_hex(&hex)?))),
            RawPayload::Fill { fill, len } => match from_hex(&fill)?.as_slice() {
                [byte] => Ok(Self::Fill(*byte, len)),
                _ => Err(format!("fill must be one byte, got {fill}")),
            },
        }
    }
}

fn from_hex(hex: &str) -> Result<Vec<u8>, String> {
    if !hex.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {hex}"));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("bad hex {hex}"))
        })
        .collect()
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalogue_has_autobahns_517_cases() {
        let catalogue = catalogue().unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(catalogue.cases.len(), 517);
        assert_eq!(catalogue.cases[0].id, "1.1.1");
        let case = catalogue.get("1.1.8").unwrap_or_else(|| panic!("1.1.8"));
        assert_eq!(
            case.pretty_description(),
            "Send text message message with payload of length 65536. Sent out data in chops of 997 octets."
        );
        assert_eq!(catalogue.group("1.1.8"), "Text Messages");
        assert_eq!(catalogue.group("2.1"), "Pings/Pongs");
    }

    #[test]
    fn pretty_descriptions_stop_at_the_first_tag() {
        let catalogue = catalogue().unwrap_or_else(|err| panic!("{err}"));
        let case = catalogue.get("3.1").unwrap_or_else(|| panic!("3.1"));
        assert_eq!(case.pretty_description(), "Send small text message with");
    }

    #[test]
    fn a_fill_payload_equals_the_same_bytes_spelled_out() {
        assert_eq!(
            Payload::Fill(b'*', 3),
            Payload::Bytes(Bytes::from_static(b"***"))
        );
        assert_ne!(
            Payload::Fill(b'*', 3),
            Payload::Bytes(Bytes::from_static(b"**"))
        );
        assert_eq!(Payload::Fill(b'*', 0), Payload::Fill(b'x', 0));
    }
}
