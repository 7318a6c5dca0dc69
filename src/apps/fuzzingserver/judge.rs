//! Autobahn's verdicts (`Case.onConnectionLost` and the cases' own additions): `behavior` from
//! the received events against `expected`, `behaviorClose` from how the connection ended
//! against `expectedClose`; and, for anything not OK, a sentence on the first difference.

use std::fmt::Write as _;

use serde::Serialize;

use super::catalogue::{CaseDef, CloseRule, Event, ExpectedClose, Payload};

/// A verdict, spelled as Autobahn spells it in its reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Verdict {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "NON-STRICT")]
    NonStrict,
    #[serde(rename = "INFORMATIONAL")]
    Informational,
    #[serde(rename = "UNIMPLEMENTED")]
    Unimplemented,
    #[serde(rename = "FAILED")]
    Failed,
    #[serde(rename = "WRONG CODE")]
    WrongCode,
    #[serde(rename = "UNCLEAN")]
    Unclean,
}

impl Verdict {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::NonStrict => "NON-STRICT",
            Self::Informational => "INFORMATIONAL",
            Self::Unimplemented => "UNIMPLEMENTED",
            Self::Failed => "FAILED",
            Self::WrongCode => "WRONG CODE",
            Self::Unclean => "UNCLEAN",
        }
    }

    /// Whether a client passes with this verdict: OK, NON-STRICT or INFORMATIONAL (what
    /// `duplex check-client --autobahn` accepts).
    pub(crate) fn passes(self) -> bool {
        matches!(self, Self::Ok | Self::NonStrict | Self::Informational)
    }

    fn parse(name: &str) -> Option<Self> {
        [
            Self::Ok,
            Self::NonStrict,
            Self::Informational,
            Self::Unimplemented,
            Self::Failed,
        ]
        .into_iter()
        .find(|verdict| verdict.as_str() == name)
    }
}

/// How the connection went, as the fuzzing server's protocol state recorded it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed {
    pub(crate) connection_was_open: bool,
    /// The server sent the first close frame.
    pub(crate) closed_by_me: bool,
    pub(crate) was_clean: bool,
    pub(crate) remote_close_code: Option<u16>,
    /// The client's close reason, for explanations.
    pub(crate) remote_close_reason: Option<String>,
    pub(crate) received: Vec<Event>,
}

/// A scripted case's own verdict (9.*, 12.*, 13.*), judged as it ran.
#[derive(Debug, Clone)]
pub(crate) struct Scripted {
    pub(crate) behavior: Verdict,
    pub(crate) result: String,
}

/// Both verdicts with Autobahn's result texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Judgement {
    pub(crate) behavior: Verdict,
    pub(crate) behavior_close: Verdict,
    pub(crate) result: String,
    pub(crate) result_close: String,
}

/// The verdicts for `case` given what happened.
pub(crate) fn judge(case: &CaseDef, scripted: Option<&Scripted>, seen: &Observed) -> Judgement {
    let close = case.expected_close();
    let (mut behavior, mut result) = match scripted {
        Some(s) => (s.behavior, s.result.clone()),
        None => (
            Verdict::Failed,
            "Actual events differ from any expected.".to_owned(),
        ),
    };
    if let Some(verdict) = matching(case, &seen.received) {
        behavior = verdict;
        result = "Actual events match at least one expected.".to_owned();
    }
    let (mut behavior_close, result_close);
    if seen.connection_was_open {
        (behavior_close, result_close) = judge_close(&close, seen);
        if close.closed_by_wrong_endpoint_is_fatal && close.closed_by_me != seen.closed_by_me {
            behavior = Verdict::Failed;
        }
    } else {
        behavior_close = Verdict::Failed;
        result_close = "The WebSocket opening handshake was never completed!".to_owned();
    }
    match case.close_rule {
        CloseRule::Plain => {}
        CloseRule::WrongCodeFails => {
            if behavior_close == Verdict::WrongCode {
                behavior = Verdict::Failed;
                result = result_close.clone();
            }
        }
        CloseRule::Informational => {
            // 7.1.6 says which order the client processed things in; 7.13.* nothing.
            result = if !case.expected.contains_key("NON-STRICT") {
                "Actual events are undefined by the spec.".to_owned()
            } else if behavior == Verdict::Ok {
                "Text message was processed before close.".to_owned()
            } else if behavior == Verdict::NonStrict {
                "Close was processed before text message could be returned.".to_owned()
            } else {
                result
            };
            behavior = Verdict::Informational;
            behavior_close = Verdict::Informational;
        }
    }
    Judgement {
        behavior,
        behavior_close,
        result,
        result_close,
    }
}

/// The verdict whose expected events equal the received ones: OK first, then the rest (no
/// case has two lists that could both match).
fn matching(case: &CaseDef, received: &[Event]) -> Option<Verdict> {
    let ok = case.expected.get("OK").filter(|events| *events == received);
    if ok.is_some() {
        return Some(Verdict::Ok);
    }
    case.expected
        .iter()
        .find(|(name, events)| name.as_str() != "OK" && *events == received)
        .and_then(|(name, _)| Verdict::parse(name))
}

fn judge_close(close: &ExpectedClose, seen: &Observed) -> (Verdict, String) {
    if close.closed_by_me != seen.closed_by_me {
        (
            Verdict::Failed,
            "The connection was failed by the wrong endpoint".to_owned(),
        )
    } else if close.require_clean && !seen.was_clean {
        (
            Verdict::Unclean,
            "The spec requires the connection to be failed cleanly here".to_owned(),
        )
    } else if seen
        .remote_close_code
        .is_some_and(|code| !close.close_code.contains(&code))
    {
        let codes: Vec<String> = close.close_code.iter().map(u16::to_string).collect();
        (
            Verdict::WrongCode,
            format!(
                "The close code should have been {} or empty",
                codes.join(",")
            ),
        )
    } else {
        (Verdict::Ok, "Connection was properly closed".to_owned())
    }
}

/// For a case that is not OK on both counts: the first difference between what was expected
/// and what happened, in words.
pub(crate) fn explain(
    case: &CaseDef,
    judgement: &Judgement,
    seen: &Observed,
    scripted: Option<&Scripted>,
) -> Option<String> {
    let ok = |v: Verdict| matches!(v, Verdict::Ok | Verdict::Informational);
    if ok(judgement.behavior) && ok(judgement.behavior_close) {
        return None;
    }
    let mut out = String::new();
    if !ok(judgement.behavior) {
        if let Some(scripted) = scripted {
            out.push_str(&scripted.result);
        } else if matching(case, &seen.received).is_some() {
            // The events were right; the close decided (7.*: a wrong code fails the case).
        } else if let Some(expected) = case.expected.get("OK") {
            out.push_str(&first_difference(expected, &seen.received));
            if let Some(other) = case.expected.get("NON-STRICT") {
                let _ = write!(
                    out,
                    " (Also acceptable, as NON-STRICT: {}.)",
                    describe_all(other)
                );
            }
        }
    }
    if !ok(judgement.behavior_close) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&close_difference(&case.expected_close(), seen));
    }
    Some(out)
}

fn first_difference(expected: &[Event], received: &[Event]) -> String {
    for (i, want) in expected.iter().enumerate() {
        match received.get(i) {
            Some(got) if got == want => continue,
            Some(got) => {
                return format!(
                    "Event {} should have been {}, but the client sent {}.",
                    i + 1,
                    describe(want),
                    describe(got)
                );
            }
            None if i == 0 => {
                return format!(
                    "The server expected {}, but nothing arrived before the connection ended.",
                    describe_all(expected)
                );
            }
            None => {
                return format!(
                    "After {} the server expected {}, but nothing more arrived.",
                    describe_all(&received[..i]),
                    describe(want)
                );
            }
        }
    }
    match received.get(expected.len()) {
        Some(extra) if expected.is_empty() => format!(
            "The client should have sent nothing back, but sent {}.",
            describe(extra)
        ),
        Some(extra) => format!(
            "After the expected {} the client also sent {}, which it should not have.",
            describe_all(expected),
            describe(extra)
        ),
        None => "The events match.".to_owned(),
    }
}

fn close_difference(close: &ExpectedClose, seen: &Observed) -> String {
    let codes: Vec<String> = close.close_code.iter().map(u16::to_string).collect();
    let codes = codes.join(" or ");
    if close.closed_by_me != seen.closed_by_me {
        if close.closed_by_me {
            let how = match (seen.remote_close_code, seen.remote_close_reason.as_deref()) {
                (Some(code), Some(reason)) if !reason.is_empty() => {
                    format!(" (close {code} {reason:?})")
                }
                (Some(code), _) => format!(" (close {code})"),
                (None, _) => String::new(),
            };
            return format!(
                "The server was to start the closing handshake, but the client closed or failed the connection first{how}."
            );
        }
        return format!(
            "The client should have failed the connection itself (close code {codes}), but it did not; the server had to close it when the case timed out."
        );
    }
    if close.require_clean && !seen.was_clean {
        return "The closing handshake did not complete: the client did not answer the server's close frame with its own before the TCP connection ended.".to_owned();
    }
    match seen.remote_close_code {
        Some(code) => {
            format!("The client closed with code {code}; this case requires {codes} (or no code).")
        }
        None => "The connection was closed properly.".to_owned(),
    }
}

fn describe_all(events: &[Event]) -> String {
    if events.is_empty() {
        return "nothing".to_owned();
    }
    events
        .iter()
        .map(describe)
        .collect::<Vec<_>>()
        .join(", then ")
}

/// One event in words: `a text message of 13 bytes ("Hello, world!")`.
pub(crate) fn describe(event: &Event) -> String {
    match event {
        Event::Message { payload, binary } => format!(
            "a {} message of {} bytes{}",
            if *binary { "binary" } else { "text" },
            payload.len(),
            preview(payload)
        ),
        Event::Ping { payload } => format!("a ping of {} bytes{}", payload.len(), preview(payload)),
        Event::Pong { payload } => format!("a pong of {} bytes{}", payload.len(), preview(payload)),
        Event::Timeout { tag } => format!("the wait {tag} expiring with the connection open"),
    }
}

fn preview(payload: &Payload) -> String {
    if payload.len() == 0 {
        return String::new();
    }
    let head = payload.head(32);
    let more = if payload.len() > 32 { "…" } else { "" };
    match std::str::from_utf8(&head) {
        Ok(text) if !text.chars().any(char::is_control) => format!(" ({text:?}{more})"),
        _ => format!(" (0x{}{more})", super::catalogue::to_hex(&head)),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::catalogue::catalogue;
    use super::*;

    fn case(id: &str) -> &'static CaseDef {
        let catalogue = catalogue().unwrap_or_else(|err| panic!("{err}"));
        catalogue.get(id).unwrap_or_else(|| panic!("no case {id}"))
    }

    fn text(s: &'static str) -> Event {
        Event::Message {
            payload: Payload::Bytes(Bytes::from_static(s.as_bytes())),
            binary: false,
        }
    }

    fn clean_close_by_server(received: Vec<Event>) -> Observed {
        Observed {
            connection_was_open: true,
            closed_by_me: true,
            was_clean: true,
            remote_close_code: Some(1000),
            remote_close_reason: None,
            received,
        }
    }

    #[test]
    fn an_echo_and_a_clean_close_are_ok() {
        let seen = clean_close_by_server(vec![text("")]);
        let j = judge(case("1.1.1"), None, &seen);
        assert_eq!((j.behavior, j.behavior_close), (Verdict::Ok, Verdict::Ok));
        assert_eq!(explain(case("1.1.1"), &j, &seen, None), None);
    }

    #[test]
    fn a_missing_echo_fails_and_says_what_was_missing() {
        let seen = clean_close_by_server(vec![]);
        let j = judge(case("1.1.2"), None, &seen);
        assert_eq!(j.behavior, Verdict::Failed);
        assert_eq!(j.result, "Actual events differ from any expected.");
        let why = explain(case("1.1.2"), &j, &seen, None).unwrap_or_default();
        assert!(why.contains("a text message of 125 bytes"), "{why}");
        assert!(why.contains("nothing arrived"), "{why}");
    }

    #[test]
    fn no_close_answer_is_unclean() {
        let mut seen = clean_close_by_server(vec![text("")]);
        seen.was_clean = false;
        seen.remote_close_code = None;
        let j = judge(case("1.1.1"), None, &seen);
        assert_eq!(
            (j.behavior, j.behavior_close),
            (Verdict::Ok, Verdict::Unclean)
        );
    }

    #[test]
    fn a_client_that_does_not_fail_on_rsv_bits_fails_the_close() {
        // 3.1: the client must close with 1002; here the server had to close on its timer.
        let seen = clean_close_by_server(vec![]);
        let j = judge(case("3.1"), None, &seen);
        assert_eq!(
            (j.behavior, j.behavior_close),
            (Verdict::Ok, Verdict::Failed)
        );
        assert_eq!(
            j.result_close,
            "The connection was failed by the wrong endpoint"
        );
    }

    #[test]
    fn the_non_strict_expectation_is_recognised() {
        let seen = Observed {
            connection_was_open: true,
            closed_by_me: false,
            was_clean: false,
            remote_close_code: Some(1002),
            remote_close_reason: None,
            received: vec![],
        };
        let j = judge(case("3.2"), None, &seen);
        assert_eq!(
            (j.behavior, j.behavior_close),
            (Verdict::NonStrict, Verdict::Ok)
        );
    }

    #[test]
    fn a_wrong_close_code_is_wrong_code_and_fails_7_cases() {
        let mut seen = clean_close_by_server(vec![]);
        seen.closed_by_me = false;
        seen.remote_close_code = Some(1000);
        let j = judge(case("4.1.1"), None, &seen);
        assert_eq!(
            (j.behavior, j.behavior_close),
            (Verdict::Ok, Verdict::WrongCode)
        );
        // 7.9.1: close code 0 must be answered with 1002; an echo of 1000 fails the case too
        let seen = clean_close_by_server(vec![]);
        let j = judge(case("7.9.1"), None, &seen);
        assert_eq!(
            (j.behavior, j.behavior_close),
            (Verdict::Failed, Verdict::WrongCode)
        );
        assert_eq!(j.result, "The close code should have been 1002 or empty");
    }

    #[test]
    fn utf8_cases_fail_when_the_client_did_not_notice() {
        // 6.3.1: the client echoed nothing but never failed the connection itself
        let seen = clean_close_by_server(vec![]);
        let j = judge(case("6.3.1"), None, &seen);
        assert_eq!(
            (j.behavior, j.behavior_close),
            (Verdict::Failed, Verdict::Failed)
        );
    }

    #[test]
    fn informational_cases_are_never_judged() {
        let seen = clean_close_by_server(vec![]);
        let j = judge(case("7.13.1"), None, &seen);
        assert_eq!(
            (j.behavior, j.behavior_close),
            (Verdict::Informational, Verdict::Informational)
        );
        let j = judge(
            case("7.1.6"),
            None,
            &clean_close_by_server(vec![text("Hello World!")]),
        );
        assert_eq!(j.result, "Text message was processed before close.");
    }

    #[test]
    fn a_scripted_verdict_stands_when_nothing_is_expected() {
        let scripted = Scripted {
            behavior: Verdict::Unimplemented,
            result: "no deflate".to_owned(),
        };
        let seen = clean_close_by_server(vec![]);
        let j = judge(case("12.1.1"), Some(&scripted), &seen);
        assert_eq!(
            (j.behavior, j.behavior_close),
            (Verdict::Unimplemented, Verdict::Ok)
        );
    }

    #[test]
    fn a_handshake_that_never_completed_fails_the_close() {
        let j = judge(case("1.1.1"), None, &Observed::default());
        assert_eq!(
            (j.behavior, j.behavior_close),
            (Verdict::Failed, Verdict::Failed)
        );
    }
}
