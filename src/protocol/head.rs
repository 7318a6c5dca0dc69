//! A strict check of one raw request head against RFC 9112 and RFC 9110, so that a refusal can
//! name the exact line and rule — also for heads hyper refuses before duplex sees them, where
//! hyper only says "invalid HTTP header parsed". Pure: bytes in, findings out.
//!
//! `Refused` covers everything hyper 1.x (httparse's default request parser, then `http::Uri`)
//! and duplex refuse, plus the few MUST-reject rules neither enforces; `Note` flags what is
//! accepted here but breaks against stricter servers or intermediaries.

// Nothing outside the tests calls the checker until the server logs refused heads with it; the
// expectation then fails and this line goes.

use std::fmt;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    /// A strict server must refuse the head; hyper or duplex answer it with an error (or close).
    Refused,
    /// Accepted here, but a stricter server or an intermediary may refuse it.
    Note,
}

/// One problem with a request head: where, what, and the rule that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    /// Where: 0 = the request line, n = the n-th header field line (1-based), None = the head as
    /// a whole.
    pub(crate) line: Option<usize>,
    /// The offending line as received, escaped for a log line and capped.
    pub(crate) excerpt: Option<String>,
    /// What is wrong, a sentence fragment that follows the line: `has whitespace before the colon`.
    pub(crate) problem: String,
    /// The status a strict server answers a `Refused` head with; None for notes, and for a head
    /// that never ended (the connection is closed without an answer).
    pub(crate) status: Option<u16>,
    /// The rule, e.g. `RFC 9112 §5.1`.
    pub(crate) rule: &'static str,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(0) => f.write_str("request line")?,
            Some(n) => write!(f, "request header line {n}")?,
            None => f.write_str("request head")?,
        }
        if let Some(excerpt) = &self.excerpt {
            write!(f, " \"{excerpt}\"")?;
        }
        write!(f, " {} ({})", self.problem, self.rule)
    }
}

// The rules cited. RFC 9112 is HTTP/1.1's message syntax, RFC 9110 HTTP's semantics.
const MESSAGE_PARSING: &str = "RFC 9112 §2.2";
const HTTP_VERSION: &str = "RFC 9112 §2.3";
const REQUEST_LINE: &str = "RFC 9112 §3";
const METHOD: &str = "RFC 9112 §3.1";
const REQUEST_TARGET: &str = "RFC 9112 §3.2";
const ABSOLUTE_FORM: &str = "RFC 9112 §3.2.2";
const AUTHORITY_FORM: &str = "RFC 9112 §3.2.3";
const ASTERISK_FORM: &str = "RFC 9112 §3.2.4";
const FIELD_LINE: &str = "RFC 9112 §5";
const FIELD_LINE_PARSING: &str = "RFC 9112 §5.1";
const OBS_FOLD: &str = "RFC 9112 §5.2";
const TRANSFER_ENCODING: &str = "RFC 9112 §6.1";
const MESSAGE_BODY_LENGTH: &str = "RFC 9112 §6.3";
const SMUGGLING: &str = "RFC 9112 §6.1, §11.2";
const INCOMPLETE: &str = "RFC 9112 §8";
const MINOR_VERSION: &str = "RFC 9110 §2.5";
const EMPTY_HOST: &str = "RFC 9110 §4.2.1";
const USERINFO: &str = "RFC 9110 §4.2.4";
const FIELD_NAME: &str = "RFC 9110 §5.1";
const FIELD_LIMITS: &str = "RFC 9110 §5.4";
const FIELD_VALUE: &str = "RFC 9110 §5.5";
const HOST: &str = "RFC 9112 §3.2, RFC 9110 §7.2";
const CONTENT_LENGTH_LIST: &str = "RFC 9110 §8.6";
const METHOD_CASE: &str = "RFC 9110 §9.1";
const EXPECT: &str = "RFC 9110 §10.1.1";
const VERSION_NOT_SUPPORTED: &str = "RFC 9110 §15.6.6";
const NEW_FIELD_NAMES: &str = "RFC 9110 §16.3.2.1";
const TOO_LARGE: &str = "RFC 9110 §5.4, RFC 6585 §5";

/// hyper's `MAX_URI_LEN`: it answers a longer target with 414.
const HYPER_MAX_TARGET: usize = u16::MAX as usize - 1;
/// hyper keeps field-name offsets in 16 bits and answers a longer name with 431.
const HYPER_MAX_NAME: usize = 1 << 16;
/// RFC 9112 §3 recommends supporting request lines of at least this many octets; some stop there.
const COMMON_REQUEST_LINE_LIMIT: usize = 8000;
/// nginx's and Apache's usual limit for one field line.
const COMMON_FIELD_LINE_LIMIT: usize = 8 * 1024;
/// Apache's `LimitRequestFields` default; many servers refuse more field lines.
const COMMON_FIELD_COUNT_LIMIT: usize = 100;
/// An excerpt's length in characters before the ellipsis; a log line stays readable.
const EXCERPT_CHARS: usize = 80;
/// A method, version or value quoted inside a problem.
const QUOTE_CHARS: usize = 40;

const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Checks one request head: `raw` runs from the first byte of the request (leading empty lines
/// included) up to and including the blank line that ends it, or is truncated (the client
/// stopped sending, or the head reached `max_head` bytes, the server's limit).
///
/// Returns every finding, `Refused` ones first in order of appearance, then notes. Never panics.
pub(crate) fn check_request_head(raw: &[u8], max_head: usize) -> Vec<Finding> {
    let lines = split_lines(raw);
    let mut report = Report::default();

    let version = lines.request.map_or(Version::Unusable, |line| {
        check_request_line(line, &mut report)
    });
    if lines.leading_empty > 0 {
        let at = lines
            .request
            .map_or(At::HEAD, |line| At::line(0, line.text));
        report.note(
            at,
            MESSAGE_PARSING,
            format!(
                "is preceded by {} empty line{}; servers should ignore one, some refuse any",
                lines.leading_empty,
                plural(lines.leading_empty)
            ),
        );
    }

    let mut fields = Fields::default();
    for (index, line) in lines.fields.iter().enumerate() {
        check_field_line(index + 1, *line, version, &mut fields, &mut report);
    }
    check_framing(version, &fields, &mut report);

    if lines.end.is_some() && version == Version::Http11 && fields.host.is_none() {
        report.refuse(
            At::HEAD,
            Some(400),
            HOST,
            "has no Host field, which every HTTP/1.1 request needs".to_owned(),
        );
    }
    if lines.fields.len() > COMMON_FIELD_COUNT_LIMIT {
        report.note(
            At::HEAD,
            FIELD_LIMITS,
            format!(
                "has {} header lines; many servers refuse more than {COMMON_FIELD_COUNT_LIMIT}",
                lines.fields.len()
            ),
        );
    }
    note_bare_line_feeds(&lines, &mut report);
    check_size(raw, max_head, &lines, &mut report);
    report.finish()
}

/// One line of the head, without its terminator.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    text: &'a [u8],
    /// Ended by CRLF; false for a bare LF.
    crlf: bool,
}

/// The head cut into lines, as far as it arrived.
#[derive(Debug, Default)]
struct Lines<'a> {
    leading_empty: usize,
    /// None while the request line has not ended.
    request: Option<Line<'a>>,
    fields: Vec<Line<'a>>,
    /// The blank line that ends the head; None for a truncated head.
    end: Option<Line<'a>>,
    /// The bytes after the last complete line of a truncated head.
    partial: &'a [u8],
    /// The head's length up to and including its blank line (all of `raw` when truncated).
    len: usize,
}

fn split_lines(raw: &[u8]) -> Lines<'_> {
    let mut rest = raw;
    let mut lines = Lines {
        len: raw.len(),
        ..Lines::default()
    };
    // hyper skips any number of these (RFC 9112 §2.2 asks to skip at least one).
    loop {
        if let Some(after) = rest.strip_prefix(b"\r\n") {
            rest = after;
        } else if let Some(after) = rest.strip_prefix(b"\n") {
            rest = after;
        } else {
            break;
        }
        lines.leading_empty += 1;
    }
    while let Some(lf) = rest.iter().position(|&b| b == b'\n') {
        let (with_lf, after) = rest.split_at(lf + 1);
        rest = after;
        let text = with_lf.split_last().map_or(with_lf, |(_, text)| text);
        let line = match text.strip_suffix(b"\r") {
            Some(text) => Line { text, crlf: true },
            None => Line { text, crlf: false },
        };
        if lines.request.is_none() {
            lines.request = Some(line);
        } else if line.text.is_empty() {
            lines.end = Some(line);
            lines.len = raw.len() - rest.len();
            return lines;
        } else {
            lines.fields.push(line);
        }
    }
    lines.partial = rest;
    lines
}

/// Where a finding points.
#[derive(Debug, Clone, Copy)]
struct At<'a> {
    line: Option<usize>,
    text: Option<&'a [u8]>,
}

/// Field names whose values are credentials: a diagnosis shows their name and length only, so
/// a log never carries a token, cookie, key or password.
const SECRET_NAME_PARTS: [&str; 9] = [
    "auth", "cookie", "token", "key", "secret", "pass", "sign", "session", "csrf",
];

/// The line for a finding, escaped and cut; the value of a field line that may hold a
/// credential is replaced by its length.
fn excerpt(line: Option<usize>, text: &[u8]) -> String {
    if line.is_some_and(|line| line >= 1)
        && let Some(colon) = text.iter().position(|&b| b == b':')
    {
        let name = String::from_utf8_lossy(&text[..colon]).to_ascii_lowercase();
        if SECRET_NAME_PARTS.iter().any(|part| name.contains(part)) {
            let mut shown = escape(&text[..=colon], EXCERPT_CHARS);
            shown.push_str(&format!(" <{} bytes, not shown>", text.len() - colon - 1));
            return shown;
        }
    }
    escape(text, EXCERPT_CHARS)
}

impl<'a> At<'a> {
    const HEAD: At<'static> = At {
        line: None,
        text: None,
    };

    fn line(line: usize, text: &'a [u8]) -> Self {
        Self {
            line: Some(line),
            text: Some(text),
        }
    }
}

#[derive(Debug, Default)]
struct Report {
    findings: Vec<Finding>,
}

impl Report {
    fn refuse(&mut self, at: At<'_>, status: Option<u16>, rule: &'static str, problem: String) {
        self.push(Severity::Refused, at, status, rule, problem);
    }

    fn note(&mut self, at: At<'_>, rule: &'static str, problem: String) {
        self.push(Severity::Note, at, None, rule, problem);
    }

    fn push(
        &mut self,
        severity: Severity,
        at: At<'_>,
        status: Option<u16>,
        rule: &'static str,
        problem: String,
    ) {
        self.findings.push(Finding {
            severity,
            line: at.line,
            excerpt: at.text.map(|text| excerpt(at.line, text)),
            problem,
            status,
            rule,
        });
    }

    /// Refusals first, each group in order of appearance: some checks need the whole head and
    /// are pushed after the lines they point at. The sort is stable, so a line keeps its order.
    fn finish(mut self) -> Vec<Finding> {
        self.findings.sort_by_key(|finding| {
            (
                finding.severity == Severity::Note,
                finding.line.unwrap_or(usize::MAX),
            )
        });
        self.findings
    }
}

/// The request line's version, as far as the rest of the head depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Http10,
    Http11,
    /// Missing, malformed or another version: already refused.
    Unusable,
}

/// Checks method, target and version; returns the version the fields are read under.
fn check_request_line(line: Line<'_>, report: &mut Report) -> Version {
    let text = line.text;
    let at = At::line(0, text);
    if text.contains(&b'\r') {
        report.refuse(
            at,
            Some(400),
            MESSAGE_PARSING,
            "contains a bare CR (one not followed by LF)".to_owned(),
        );
    }
    if let Some(&b) = text.iter().find(|&&b| matches!(b, b'\t' | 0x0b | 0x0c)) {
        report.refuse(
            at,
            Some(400),
            REQUEST_LINE,
            format!(
                "contains {}; its parts are separated by single spaces only",
                show_byte(b)
            ),
        );
    }
    if let Some(&b) = text
        .iter()
        .find(|&&b| is_ctl(b) && !matches!(b, b'\t' | 0x0b | 0x0c | b'\r'))
    {
        report.refuse(
            at,
            Some(400),
            REQUEST_LINE,
            format!("contains the control byte {}", show_byte(b)),
        );
    }
    if text.len() > COMMON_REQUEST_LINE_LIMIT {
        report.note(
            at,
            REQUEST_LINE,
            format!(
                "is {} bytes long; servers need only support {COMMON_REQUEST_LINE_LIMIT}, and some stop there",
                text.len()
            ),
        );
    }

    let spacing = if text.first() == Some(&b' ') {
        Some("starts with a space")
    } else if text.windows(2).any(|pair| pair == b"  ") {
        Some("has more than one space between two parts")
    } else if text.last() == Some(&b' ') {
        Some("ends with a space")
    } else {
        None
    };
    if let Some(problem) = spacing {
        report.refuse(
            at,
            Some(400),
            REQUEST_LINE,
            format!("{problem}; the parts are separated by single spaces"),
        );
    }

    let parts: Vec<&[u8]> = text
        .split(|&b| b == b' ')
        .filter(|part| !part.is_empty())
        .collect();
    let (method, target, version) = match parts.as_slice() {
        [] => {
            report.refuse(
                at,
                Some(400),
                REQUEST_LINE,
                "has no method, target or version".to_owned(),
            );
            return Version::Unusable;
        }
        [method] => {
            report.refuse(
                at,
                Some(400),
                REQUEST_LINE,
                "is not `METHOD target HTTP-version`".to_owned(),
            );
            (*method, None, None)
        }
        [method, second] if looks_like_version(second) => {
            report.refuse(
                at,
                Some(400),
                REQUEST_LINE,
                "has no request target".to_owned(),
            );
            (*method, None, Some(*second))
        }
        [method, target] => {
            report.refuse(
                at,
                Some(400),
                REQUEST_LINE,
                "has no HTTP version (an HTTP/0.9 request line, which is not served)".to_owned(),
            );
            (*method, Some(*target), None)
        }
        [method, target, version] => (*method, Some(*target), Some(*version)),
        [method, target, third, ..] if looks_like_version(third) => {
            report.refuse(
                at,
                Some(400),
                REQUEST_LINE,
                "has text after the HTTP version".to_owned(),
            );
            (*method, Some(*target), Some(*third))
        }
        [method, .., last] if looks_like_version(last) => {
            report.refuse(
                at,
                Some(400),
                REQUEST_TARGET,
                "has a space inside its request target; percent-encode it as %20".to_owned(),
            );
            (*method, None, Some(*last))
        }
        [method, ..] => {
            report.refuse(
                at,
                Some(400),
                REQUEST_LINE,
                format!(
                    "has {} space-separated parts where `METHOD target HTTP-version` has three",
                    parts.len()
                ),
            );
            (*method, None, None)
        }
    };

    check_method(at, method, report);
    let preface =
        method == b"PRI" && target == Some(&b"*"[..]) && version == Some(&b"HTTP/2.0"[..]);
    let version = version.map_or(Version::Unusable, |version| {
        check_version(at, version, preface, report)
    });
    if let Some(target) = target
        && !preface
    {
        check_target(at, method, target, report);
    }
    version
}

fn looks_like_version(part: &[u8]) -> bool {
    part.get(..5)
        .is_some_and(|name| name.eq_ignore_ascii_case(b"HTTP/"))
}

fn check_method(at: At<'_>, method: &[u8], report: &mut Report) {
    if let Some(&b) = method.iter().find(|&&b| !is_tchar(b)) {
        report.refuse(
            at,
            Some(400),
            METHOD,
            format!(
                "has method `{}`, and {} is not a token character",
                quote(method),
                show_byte(b)
            ),
        );
    } else if let Some(known) = KNOWN_METHODS
        .iter()
        .find(|known| known.as_bytes() != method && known.as_bytes().eq_ignore_ascii_case(method))
    {
        report.note(
            at,
            METHOD_CASE,
            format!(
                "has method `{}`: methods are case-sensitive, so this is not {known}",
                quote(method)
            ),
        );
    }
}

/// hyper (httparse) reads exactly `HTTP/1.0` and `HTTP/1.1` and answers anything else with 400.
fn check_version(at: At<'_>, version: &[u8], preface: bool, report: &mut Report) -> Version {
    match version {
        b"HTTP/1.1" => return Version::Http11,
        b"HTTP/1.0" => return Version::Http10,
        _ => {}
    }
    let (name, numbers) = version.split_at(version.len().min(5));
    let digits = match numbers {
        [major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            Some((*major, *minor))
        }
        _ => None,
    };
    match digits {
        Some(_) if name != b"HTTP/" && name.eq_ignore_ascii_case(b"HTTP/") => report.refuse(
            at,
            Some(400),
            HTTP_VERSION,
            format!(
                "has version `{}`, but the name `HTTP` is case-sensitive",
                quote(version)
            ),
        ),
        Some(_) if name == b"HTTP/" && preface => report.refuse(
            at,
            Some(505),
            VERSION_NOT_SUPPORTED,
            "is the HTTP/2 connection preface; only HTTP/1.0 and HTTP/1.1 are served here"
                .to_owned(),
        ),
        Some((b'1', _)) if name == b"HTTP/" => report.refuse(
            at,
            Some(400),
            MINOR_VERSION,
            format!(
                "has version `{}`, which hyper refuses; servers should read it as HTTP/1.1, so send that",
                quote(version)
            ),
        ),
        Some(_) if name == b"HTTP/" => report.refuse(
            at,
            Some(505),
            VERSION_NOT_SUPPORTED,
            format!(
                "has version `{}`; only HTTP/1.0 and HTTP/1.1 are served here",
                quote(version)
            ),
        ),
        _ => report.refuse(
            at,
            Some(400),
            HTTP_VERSION,
            format!(
                "has version `{}`, which is not `HTTP/DIGIT.DIGIT`",
                quote(version)
            ),
        ),
    }
    Version::Unusable
}

/// The four forms of RFC 9112 §3.2, and the characters hyper's URI parser refuses.
fn check_target(at: At<'_>, method: &[u8], target: &[u8], report: &mut Report) {
    if target.len() > HYPER_MAX_TARGET {
        report.refuse(
            at,
            Some(414),
            REQUEST_LINE,
            format!(
                "has a request target of {} bytes; hyper answers 414 above {HYPER_MAX_TARGET}",
                target.len()
            ),
        );
    }
    // duplex refuses these itself; hyper would pass them on.
    if target.iter().any(|&b| b >= 0x80) {
        report.refuse(
            at,
            Some(400),
            REQUEST_TARGET,
            "has raw non-ASCII bytes in its request target; percent-encode them".to_owned(),
        );
    }
    if target == b"*" {
        if method != b"OPTIONS" {
            report.refuse(
                at,
                Some(400),
                ASTERISK_FORM,
                "uses the asterisk-form `*`, which only OPTIONS may use".to_owned(),
            );
        }
        return;
    }
    if method == b"CONNECT" {
        if !is_authority_form(target) {
            report.refuse(
                at,
                Some(400),
                AUTHORITY_FORM,
                format!(
                    "has target `{}`, but CONNECT takes the authority-form `host:port`",
                    quote(target)
                ),
            );
        }
        return;
    }
    if target.first() == Some(&b'/') {
        check_path_and_query(at, target, report);
    } else if let Some(rest) = after_scheme(target) {
        check_absolute_form(at, rest, report);
    } else if is_authority_form(target) {
        report.refuse(
            at,
            Some(400),
            AUTHORITY_FORM,
            "uses the authority-form `host:port`, which only CONNECT may use".to_owned(),
        );
    } else {
        report.refuse(
            at,
            Some(400),
            REQUEST_TARGET,
            format!(
                "has request target `{}`, which is none of the four forms (an origin-form target starts with `/`)",
                quote(target)
            ),
        );
    }
}

/// What follows `scheme://` in an absolute-form target (RFC 3986 §3.1 scheme).
fn after_scheme(target: &[u8]) -> Option<&[u8]> {
    let colon = target.iter().position(|&b| b == b':')?;
    let (scheme, rest) = target.split_at(colon);
    let valid_scheme = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !valid_scheme {
        return None;
    }
    rest.strip_prefix(b"://")
}

fn check_absolute_form(at: At<'_>, rest: &[u8], report: &mut Report) {
    report.note(
        at,
        ABSOLUTE_FORM,
        "uses the absolute-form; origin servers must accept it, but clients usually send `/path` with Host"
            .to_owned(),
    );
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host_port = match authority.iter().rposition(|&b| b == b'@') {
        Some(at_sign) => {
            report.note(
                at,
                USERINFO,
                "has user information (`user@`) in its target, which recipients should treat as an error"
                    .to_owned(),
            );
            authority.split_at(at_sign + 1).1
        }
        None => authority,
    };
    match host_and_port(host_port) {
        Some((host, _)) if !host.is_empty() => {}
        Some(_) if host_port.is_empty() || host_port.first() == Some(&b':') => report.refuse(
            at,
            Some(400),
            EMPTY_HOST,
            "has an absolute-form target with an empty host".to_owned(),
        ),
        _ => report.refuse(
            at,
            Some(400),
            REQUEST_TARGET,
            format!(
                "has an absolute-form target whose authority `{}` is not `host[:port]`",
                quote(authority)
            ),
        ),
    }
    if !path.is_empty() {
        check_path_and_query(at, path, report);
    }
}

/// Characters of an origin-form path and query. `http::Uri` (hyper) refuses `<`, `>` and, in
/// the path, a backtick, and in the query `"`; it passes the rest RFC 3986 forbids.
fn check_path_and_query(at: At<'_>, target: &[u8], report: &mut Report) {
    let mut refused = Vec::new();
    let mut unusual = Vec::new();
    let mut bad_escape = false;
    let mut fragment = false;
    let mut in_query = false;
    for (i, &b) in target.iter().enumerate() {
        match b {
            b'#' => {
                fragment = true;
                break;
            }
            b'?' => in_query = true,
            b'<' | b'>' => push_once(&mut refused, b),
            b'`' if !in_query => push_once(&mut refused, b),
            b'"' if in_query => push_once(&mut refused, b),
            b'"' | b'`' | b'\\' | b'^' | b'{' | b'|' | b'}' | b'[' | b']' => {
                push_once(&mut unusual, b);
            }
            b'%' => bad_escape |= !is_escape(target, i),
            _ => {}
        }
    }
    if !refused.is_empty() {
        report.refuse(
            at,
            Some(400),
            REQUEST_TARGET,
            format!(
                "has {} in its request target; percent-encode {}",
                list_bytes(&refused),
                if refused.len() == 1 { "it" } else { "them" }
            ),
        );
    }
    if !unusual.is_empty() {
        report.note(
            at,
            REQUEST_TARGET,
            format!(
                "has {} in its request target, which RFC 3986 does not allow unencoded; stricter servers answer 400",
                list_bytes(&unusual)
            ),
        );
    }
    if bad_escape {
        report.note(
            at,
            REQUEST_TARGET,
            "has a `%` in its request target that does not start a %XX escape; stricter servers answer 400"
                .to_owned(),
        );
    }
    if fragment {
        report.note(
            at,
            REQUEST_TARGET,
            "has a fragment (`#...`) in its request target, which never belongs there; it is dropped here"
                .to_owned(),
        );
    }
}

fn push_once(bytes: &mut Vec<u8>, b: u8) {
    if !bytes.contains(&b) {
        bytes.push(b);
    }
}

/// `host:port` with a non-empty host and port, the only target CONNECT takes.
fn is_authority_form(target: &[u8]) -> bool {
    matches!(host_and_port(target), Some((host, Some(port))) if !host.is_empty() && !port.is_empty())
}

/// Splits `host[:port]` (RFC 3986 §3.2.2, §3.2.3), or None when it is not one. The host may be
/// empty.
fn host_and_port(value: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (host, rest) = if value.first() == Some(&b'[') {
        let close = value.iter().position(|&b| b == b']')?;
        let (host, rest) = value.split_at(close + 1);
        let inner = host.get(1..close)?;
        let literal = !inner.is_empty()
            && inner
                .iter()
                .all(|&b| b == b':' || is_unreserved(b) || is_sub_delim(b));
        if !literal {
            return None;
        }
        (host, rest)
    } else {
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        let (host, rest) = value.split_at(end);
        if !is_reg_name(host) {
            return None;
        }
        (host, rest)
    };
    match rest.split_first() {
        None => Some((host, None)),
        Some((b':', port)) if port.iter().all(u8::is_ascii_digit) => Some((host, Some(port))),
        Some(_) => None,
    }
}

/// RFC 3986 §3.2.2 reg-name (which covers IPv4 addresses too).
fn is_reg_name(host: &[u8]) -> bool {
    host.iter()
        .enumerate()
        .all(|(i, &b)| is_unreserved(b) || is_sub_delim(b) || (b == b'%' && is_escape(host, i)))
}

fn is_escape(bytes: &[u8], percent: usize) -> bool {
    let hex = |offset: usize| {
        bytes
            .get(percent + offset)
            .is_some_and(u8::is_ascii_hexdigit)
    };
    hex(1) && hex(2)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_ctl(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// What the field lines said, for the checks that need the whole head.
#[derive(Debug, Default)]
struct Fields<'a> {
    /// The first Host line.
    host: Option<usize>,
    /// The first valid Content-Length: its line and value.
    content_length: Option<(usize, u64)>,
    /// The first Content-Length line, valid or not.
    first_content_length: Option<(usize, &'a [u8])>,
    /// Every Transfer-Encoding line: number, text, value.
    transfer_encoding: Vec<(usize, &'a [u8], &'a [u8])>,
}

fn check_field_line<'a>(
    n: usize,
    line: Line<'a>,
    version: Version,
    fields: &mut Fields<'a>,
    report: &mut Report,
) {
    let text = line.text;
    let at = At::line(n, text);
    if text.contains(&b'\r') {
        report.refuse(
            at,
            Some(400),
            MESSAGE_PARSING,
            "contains a bare CR (one not followed by LF)".to_owned(),
        );
    }
    if text.len() > COMMON_FIELD_LINE_LIMIT {
        report.note(
            at,
            FIELD_LIMITS,
            format!(
                "is {} bytes long; many servers stop at 8 KiB per field line",
                text.len()
            ),
        );
    }
    if matches!(text.first(), Some(b' ' | b'\t')) {
        if n == 1 {
            report.refuse(
                at,
                Some(400),
                MESSAGE_PARSING,
                "starts with whitespace right after the request line".to_owned(),
            );
        } else {
            report.refuse(
                at,
                Some(400),
                OBS_FOLD,
                "starts with whitespace: an obs-fold continuation of the line before, which is refused; send the value on one line"
                    .to_owned(),
            );
        }
        return;
    }
    let Some(colon) = text.iter().position(|&b| b == b':') else {
        report.refuse(
            at,
            Some(400),
            FIELD_LINE,
            "has no colon between field name and value".to_owned(),
        );
        return;
    };
    let (raw_name, rest) = text.split_at(colon);
    let value = trim_ows(rest.split_first().map_or(rest, |(_, value)| value));
    if raw_name.is_empty() {
        report.refuse(
            at,
            Some(400),
            FIELD_LINE,
            "has an empty field name".to_owned(),
        );
        return;
    }
    let name = trim_end_ows(raw_name);
    if name.len() != raw_name.len() {
        report.refuse(
            at,
            Some(400),
            FIELD_LINE_PARSING,
            "has whitespace before the colon".to_owned(),
        );
    }
    if let Some(&b) = name.iter().find(|&&b| !is_tchar(b)) {
        report.refuse(
            at,
            Some(400),
            FIELD_NAME,
            format!(
                "has field name `{}`, and {} is not a token character",
                quote(name),
                show_byte(b)
            ),
        );
    } else if name.contains(&b'_') {
        report.note(
            at,
            NEW_FIELD_NAMES,
            "has `_` in its field name; nginx drops such fields by default, and gateways confuse `_` with `-`"
                .to_owned(),
        );
    }
    if name.len() >= HYPER_MAX_NAME {
        report.refuse(
            at,
            Some(431),
            FIELD_LIMITS,
            format!(
                "has a field name of {} bytes; hyper answers 431 from 64 KiB",
                name.len()
            ),
        );
    }
    check_field_value(at, value, report);

    if name.eq_ignore_ascii_case(b"host") {
        check_host(n, at, value, fields, report);
    } else if name.eq_ignore_ascii_case(b"content-length") {
        check_content_length(n, text, value, fields, report);
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        fields.transfer_encoding.push((n, text, value));
    } else if name.eq_ignore_ascii_case(b"expect") {
        check_expect(at, value, version, report);
    }
}

fn check_field_value(at: At<'_>, value: &[u8], report: &mut Report) {
    if value.contains(&0) {
        report.refuse(
            at,
            Some(400),
            FIELD_VALUE,
            "has a NUL byte in its value".to_owned(),
        );
    } else if let Some(&b) = value
        .iter()
        .find(|&&b| is_ctl(b) && b != b'\t' && b != b'\r')
    {
        report.refuse(
            at,
            Some(400),
            FIELD_VALUE,
            format!("has the control byte {} in its value", show_byte(b)),
        );
    }
    if value.iter().any(|&b| b >= 0x80) {
        report.note(
            at,
            FIELD_VALUE,
            "has non-ASCII bytes in its value, which HTTP keeps only for legacy text; some servers refuse them"
                .to_owned(),
        );
    }
}

fn check_host(n: usize, at: At<'_>, value: &[u8], fields: &mut Fields<'_>, report: &mut Report) {
    match fields.host {
        Some(first) => report.refuse(
            at,
            Some(400),
            HOST,
            format!("is a second Host field (the first is line {first})"),
        ),
        None => fields.host = Some(n),
    }
    // An empty Host is valid: the target has no authority (RFC 9110 §7.2).
    let valid =
        value.is_empty() || matches!(host_and_port(value), Some((host, _)) if !host.is_empty());
    if !valid {
        report.refuse(
            at,
            Some(400),
            HOST,
            format!("has Host `{}`, which is not `host[:port]`", quote(value)),
        );
    }
}

fn check_content_length<'a>(
    n: usize,
    text: &'a [u8],
    value: &[u8],
    fields: &mut Fields<'a>,
    report: &mut Report,
) {
    let at = At::line(n, text);
    if fields.first_content_length.is_none() {
        fields.first_content_length = Some((n, text));
    }
    let length = match parse_length(value) {
        Ok(length) => length,
        Err(LengthError::Empty) => {
            report.refuse(
                at,
                Some(400),
                MESSAGE_BODY_LENGTH,
                "has an empty Content-Length".to_owned(),
            );
            return;
        }
        Err(LengthError::TooLarge) => {
            report.refuse(
                at,
                Some(400),
                MESSAGE_BODY_LENGTH,
                "has a Content-Length too large to count (hyper takes at most 2^64 - 3)".to_owned(),
            );
            return;
        }
        Err(LengthError::RepeatedInOneField) => {
            report.refuse(
                at,
                Some(400),
                CONTENT_LENGTH_LIST,
                format!(
                    "repeats the length inside one field (`{}`); hyper takes a single number only",
                    quote(value)
                ),
            );
            return;
        }
        Err(LengthError::NotDigits) => {
            report.refuse(
                at,
                Some(400),
                MESSAGE_BODY_LENGTH,
                format!(
                    "has Content-Length `{}`, which is not one decimal number",
                    quote(value)
                ),
            );
            return;
        }
    };
    match fields.content_length {
        Some((line, first)) if first != length => report.refuse(
            at,
            Some(400),
            MESSAGE_BODY_LENGTH,
            format!("has Content-Length {length}, but line {line} says {first}"),
        ),
        Some((line, _)) => report.note(
            at,
            CONTENT_LENGTH_LIST,
            format!(
                "repeats the Content-Length of line {line}; accepted, but some servers refuse any repeat"
            ),
        ),
        None => fields.content_length = Some((n, length)),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum LengthError {
    Empty,
    NotDigits,
    TooLarge,
    /// `5, 5`: RFC 9110 §8.6 lets a recipient take it, hyper refuses it.
    RepeatedInOneField,
}

/// Content-Length = 1*DIGIT (RFC 9110 §8.6), as hyper reads it: no sign, no list.
fn parse_length(value: &[u8]) -> Result<u64, LengthError> {
    if value.is_empty() {
        return Err(LengthError::Empty);
    }
    if value.iter().all(u8::is_ascii_digit) {
        // hyper keeps the top two values as markers and refuses them.
        return value
            .iter()
            .try_fold(0u64, |length, &digit| {
                length
                    .checked_mul(10)
                    .and_then(|length| length.checked_add(u64::from(digit - b'0')))
            })
            .filter(|&length| length <= u64::MAX - 2)
            .ok_or(LengthError::TooLarge);
    }
    if value.contains(&b',') {
        let mut items = value.split(|&b| b == b',').map(trim_ows);
        let first = items.next().unwrap_or_default();
        let same = !first.is_empty()
            && first.iter().all(u8::is_ascii_digit)
            && items.all(|item| item == first);
        if same {
            return Err(LengthError::RepeatedInOneField);
        }
    }
    Err(LengthError::NotDigits)
}

fn check_expect(at: At<'_>, value: &[u8], version: Version, report: &mut Report) {
    if !value.eq_ignore_ascii_case(b"100-continue") {
        // A MAY in RFC 9110: hyper ignores it and duplex serves the request.
        report.note(
            at,
            EXPECT,
            format!(
                "expects `{}`, which is ignored here; a strict server answers 417",
                quote(value)
            ),
        );
    } else if version == Version::Http10 {
        report.note(
            at,
            EXPECT,
            "expects 100-continue in an HTTP/1.0 request, where a server must ignore it".to_owned(),
        );
    }
}

/// Transfer-Encoding against the version and Content-Length, in the order hyper and then duplex
/// check it.
fn check_framing(version: Version, fields: &Fields<'_>, report: &mut Report) {
    let (Some(&(first_line, first_text, _)), Some(&(last_line, last_text, last_value))) = (
        fields.transfer_encoding.first(),
        fields.transfer_encoding.last(),
    ) else {
        return;
    };
    if version == Version::Http10 {
        report.refuse(
            At::line(first_line, first_text),
            Some(400),
            TRANSFER_ENCODING,
            "is Transfer-Encoding in an HTTP/1.0 request, whose framing is then faulty".to_owned(),
        );
    } else {
        // hyper looks at the last element of the last line only, empty or not.
        let last = last_value
            .rsplit(|&b| b == b',')
            .next()
            .map_or(last_value, trim_ows);
        if !last.eq_ignore_ascii_case(b"chunked") {
            report.refuse(
                At::line(last_line, last_text),
                Some(400),
                MESSAGE_BODY_LENGTH,
                format!(
                    "ends Transfer-Encoding with `{}`, not chunked, so the body length cannot be determined",
                    quote(last)
                ),
            );
        } else {
            check_codings(fields, report);
        }
    }
    if let Some((cl_line, cl_text)) = fields.first_content_length {
        let (at, problem) = if cl_line > first_line {
            (
                At::line(cl_line, cl_text),
                format!("is Content-Length alongside Transfer-Encoding (line {first_line})"),
            )
        } else {
            (
                At::line(first_line, first_text),
                format!("is Transfer-Encoding alongside Content-Length (line {cl_line})"),
            )
        };
        report.refuse(
            at,
            Some(400),
            SMUGGLING,
            format!(
                "{problem}, a request-smuggling pattern; duplex reads the chunked body, then closes"
            ),
        );
    }
}

/// duplex's own check after hyper's: chunked once, and no other coding (it implements none).
fn check_codings(fields: &Fields<'_>, report: &mut Report) {
    let mut chunked = false;
    for &(n, text, value) in &fields.transfer_encoding {
        for coding in value.split(|&b| b == b',').map(trim_ows) {
            if coding.is_empty() {
                continue;
            }
            let at = At::line(n, text);
            if coding.eq_ignore_ascii_case(b"chunked") {
                if chunked {
                    report.refuse(
                        at,
                        Some(400),
                        TRANSFER_ENCODING,
                        "applies chunked more than once".to_owned(),
                    );
                    return;
                }
                chunked = true;
            } else {
                let name = coding.split(|&b| b == b';').next().map_or(coding, trim_ows);
                report.refuse(
                    at,
                    Some(501),
                    TRANSFER_ENCODING,
                    format!(
                        "applies the coding `{}`, which is not implemented here (only chunked is)",
                        quote(name)
                    ),
                );
                return;
            }
        }
    }
}

fn note_bare_line_feeds(lines: &Lines<'_>, report: &mut Report) {
    let numbered = lines
        .request
        .iter()
        .chain(&lines.fields)
        .enumerate()
        .filter(|(_, line)| !line.crlf);
    let bare = numbered.clone().count() + usize::from(lines.end.is_some_and(|end| !end.crlf));
    let more = match bare {
        0 => return,
        1 => String::new(),
        n => format!(" (as do {} more lines)", n - 1),
    };
    match numbered.clone().next() {
        Some((n, line)) => report.note(
            At::line(n, line.text),
            MESSAGE_PARSING,
            format!("ends with a bare LF instead of CRLF{more}"),
        ),
        None => report.note(
            At::HEAD,
            MESSAGE_PARSING,
            "ends its blank line with a bare LF instead of CRLF".to_owned(),
        ),
    }
}

fn check_size(raw: &[u8], max_head: usize, lines: &Lines<'_>, report: &mut Report) {
    if lines.end.is_some() {
        if lines.len > max_head {
            report.refuse(
                At::HEAD,
                Some(431),
                TOO_LARGE,
                format!("is {} bytes, over the {max_head}-byte limit", lines.len),
            );
        }
    } else if raw.len() >= max_head {
        if lines.request.is_none() {
            report.refuse(
                At::line(0, lines.partial),
                Some(414),
                REQUEST_LINE,
                format!("has not ended within the {max_head}-byte head limit"),
            );
        } else {
            report.refuse(
                At::HEAD,
                Some(431),
                TOO_LARGE,
                format!("has not ended within the {max_head}-byte limit"),
            );
        }
    } else {
        report.refuse(
            At::HEAD,
            None,
            INCOMPLETE,
            "ends before the blank line that closes it: the client stopped sending, and the connection is closed without an answer"
                .to_owned(),
        );
    }
}

fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    trim_end_ows(bytes.split_at(start).1)
}

fn trim_end_ows(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |last| last + 1);
    bytes.split_at(end).0
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Bytes as a log line can carry them: printable ASCII as is, the rest as `\r`, `\n`, `\t`,
/// `\xNN`, cut at `max` characters with an ellipsis.
pub(crate) fn escape(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    for &b in bytes {
        let piece = match b {
            b'\r' => "\\r".to_owned(),
            b'\n' => "\\n".to_owned(),
            b'\t' => "\\t".to_owned(),
            b'"' => "\\\"".to_owned(),
            b'\\' => "\\\\".to_owned(),
            0x20..=0x7e => char::from(b).to_string(),
            _ => format!("\\x{b:02x}"),
        };
        if out.len() + piece.len() > max {
            out.push('…');
            return out;
        }
        out.push_str(&piece);
    }
    out
}

fn quote(bytes: &[u8]) -> String {
    escape(bytes, QUOTE_CHARS)
}

fn show_byte(b: u8) -> String {
    match b {
        b'\t' => "a tab".to_owned(),
        b' ' => "a space".to_owned(),
        0x21..=0x7e => format!("`{}`", char::from(b)),
        _ => format!("\\x{b:02x}"),
    }
}

fn list_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| format!("`{}`", char::from(b)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMIT: usize = 16 * 1024;

    fn check(raw: &[u8]) -> Vec<Finding> {
        check_request_head(raw, LIMIT)
    }

    fn refusals(findings: &[Finding]) -> usize {
        findings
            .iter()
            .filter(|finding| finding.severity == Severity::Refused)
            .count()
    }

    /// The first finding, which must be a refusal.
    #[track_caller]
    fn first_refusal(raw: &[u8]) -> Finding {
        match check(raw).into_iter().next() {
            Some(finding) if finding.severity == Severity::Refused => finding,
            other => panic!(
                "no refusal for {:?}: {other:?}",
                String::from_utf8_lossy(raw)
            ),
        }
    }

    #[track_caller]
    fn assert_refused(
        raw: &[u8],
        line: Option<usize>,
        status: Option<u16>,
        rule: &str,
        problem: &str,
    ) {
        let finding = first_refusal(raw);
        assert_eq!(
            (finding.line, finding.status, finding.rule),
            (line, status, rule),
            "{finding}"
        );
        assert!(finding.problem.contains(problem), "{finding}");
    }

    /// Accepted, with a note matching these.
    #[track_caller]
    fn assert_noted(raw: &[u8], line: Option<usize>, rule: &str, problem: &str) {
        let findings = check(raw);
        assert_eq!(refusals(&findings), 0, "{findings:#?}");
        assert!(
            findings.iter().any(|finding| finding.line == line
                && finding.rule == rule
                && finding.problem.contains(problem)),
            "{findings:#?}"
        );
    }

    // --- the request line ---

    #[test]
    fn text_after_the_version_is_refused_and_displayed_with_the_request_line() {
        let finding = first_refusal(b"GET /x HTTP/1.1 extra\r\nHost: a\r\n\r\n");
        assert_eq!(
            finding.to_string(),
            "request line \"GET /x HTTP/1.1 extra\" has text after the HTTP version (RFC 9112 §3)"
        );
        assert_eq!(finding.status, Some(400));
    }

    #[test]
    fn two_spaces_between_method_and_target_are_refused() {
        assert_refused(
            b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            REQUEST_LINE,
            "more than one space",
        );
    }

    #[test]
    fn a_tab_as_separator_is_refused() {
        assert_refused(
            b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            REQUEST_LINE,
            "contains a tab",
        );
    }

    #[test]
    fn a_space_before_the_method_is_refused() {
        assert_refused(
            b" GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            REQUEST_LINE,
            "starts with a space",
        );
    }

    #[test]
    fn a_space_after_the_version_is_refused() {
        assert_refused(
            b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            REQUEST_LINE,
            "ends with a space",
        );
    }

    #[test]
    fn an_http_0_9_request_line_is_refused_for_its_missing_version() {
        assert_refused(
            b"GET /\r\n\r\n",
            Some(0),
            Some(400),
            REQUEST_LINE,
            "no HTTP version",
        );
    }

    #[test]
    fn a_request_line_without_a_target_is_refused() {
        assert_refused(
            b"GET HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            REQUEST_LINE,
            "no request target",
        );
    }

    #[test]
    fn a_single_word_is_not_a_request_line() {
        assert_refused(
            b"HELLO\r\n\r\n",
            Some(0),
            Some(400),
            REQUEST_LINE,
            "is not `METHOD target HTTP-version`",
        );
    }

    #[test]
    fn a_lowercase_protocol_name_is_refused() {
        assert_refused(
            b"GET / http/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            HTTP_VERSION,
            "case-sensitive",
        );
    }

    #[test]
    fn a_version_without_a_minor_number_is_refused() {
        assert_refused(
            b"GET / HTTP/1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            HTTP_VERSION,
            "not `HTTP/DIGIT.DIGIT`",
        );
    }

    #[test]
    fn http_1_2_is_refused_like_hyper_does_though_servers_should_read_it_as_1_1() {
        assert_refused(
            b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            MINOR_VERSION,
            "`HTTP/1.2`, which hyper refuses",
        );
    }

    #[test]
    fn another_major_version_is_not_supported() {
        assert_refused(
            b"GET / HTTP/3.0\r\nHost: a\r\n\r\n",
            Some(0),
            Some(505),
            VERSION_NOT_SUPPORTED,
            "`HTTP/3.0`",
        );
    }

    #[test]
    fn the_http_2_preface_is_named_as_such_and_nothing_else() {
        let findings = check(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_refused(
            b"PRI * HTTP/2.0\r\n\r\n",
            Some(0),
            Some(505),
            VERSION_NOT_SUPPORTED,
            "HTTP/2 connection preface",
        );
    }

    #[test]
    fn a_method_with_a_delimiter_is_refused() {
        assert_refused(
            b"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            METHOD,
            "`(` is not a token character",
        );
    }

    #[test]
    fn a_raw_space_inside_the_target_is_refused() {
        assert_refused(
            b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            REQUEST_TARGET,
            "space inside its request target",
        );
    }

    #[test]
    fn raw_non_ascii_bytes_in_the_target_are_refused() {
        assert_refused(
            "GET /café HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes(),
            Some(0),
            Some(400),
            REQUEST_TARGET,
            "non-ASCII",
        );
    }

    #[test]
    fn angle_brackets_in_the_target_are_refused() {
        assert_refused(
            b"GET /a<b>c HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            REQUEST_TARGET,
            "`<`, `>` in its request target; percent-encode them",
        );
    }

    #[test]
    fn a_quote_in_the_query_is_refused_but_in_the_path_only_noted() {
        assert_refused(
            b"GET /a?q=\"x\" HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            REQUEST_TARGET,
            "`\"`",
        );
        assert_noted(
            b"GET /\"a\" HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            REQUEST_TARGET,
            "does not allow unencoded",
        );
    }

    #[test]
    fn the_asterisk_form_is_refused_for_get() {
        assert_refused(
            b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            ASTERISK_FORM,
            "only OPTIONS",
        );
    }

    #[test]
    fn the_authority_form_is_refused_for_get() {
        assert_refused(
            b"GET example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
            Some(0),
            Some(400),
            AUTHORITY_FORM,
            "only CONNECT",
        );
    }

    #[test]
    fn connect_with_a_path_is_refused() {
        assert_refused(
            b"CONNECT /tunnel HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            AUTHORITY_FORM,
            "CONNECT takes the authority-form",
        );
    }

    #[test]
    fn a_relative_target_is_none_of_the_forms() {
        assert_refused(
            b"GET index.html HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            REQUEST_TARGET,
            "none of the four forms",
        );
    }

    #[test]
    fn an_absolute_form_target_without_a_host_is_refused() {
        assert_refused(
            b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            EMPTY_HOST,
            "empty host",
        );
    }

    #[test]
    fn a_nul_in_the_request_line_is_refused() {
        assert_refused(
            b"GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            REQUEST_LINE,
            "control byte \\x00",
        );
    }

    #[test]
    fn a_bare_cr_in_the_request_line_is_refused() {
        assert_refused(
            b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            Some(400),
            MESSAGE_PARSING,
            "bare CR",
        );
    }

    #[test]
    fn a_target_longer_than_hyper_takes_is_uri_too_long() {
        let mut raw = b"GET /".to_vec();
        raw.resize(raw.len() + HYPER_MAX_TARGET, b'a');
        raw.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        let findings = check_request_head(&raw, raw.len());
        assert_eq!(findings.first().map(|f| f.status), Some(Some(414)));
        assert!(
            findings
                .iter()
                .any(|f| f.severity == Severity::Note && f.problem.contains("8000")),
            "{findings:#?}"
        );
    }

    // --- field lines ---

    #[test]
    fn whitespace_before_a_colon_is_refused_with_the_line_and_rule() {
        let finding = first_refusal(b"GET / HTTP/1.1\r\nAccept: */*\r\nHost : x\r\n\r\n");
        assert_eq!(
            finding.to_string(),
            "request header line 2 \"Host : x\" has whitespace before the colon (RFC 9112 §5.1)"
        );
        assert_eq!(finding.status, Some(400));
    }

    #[test]
    fn a_field_line_without_a_colon_is_refused() {
        assert_refused(
            b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
            Some(2),
            Some(400),
            FIELD_LINE,
            "no colon",
        );
    }

    #[test]
    fn an_empty_field_name_is_refused() {
        assert_refused(
            b"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n",
            Some(2),
            Some(400),
            FIELD_LINE,
            "empty field name",
        );
    }

    #[test]
    fn a_field_name_with_brackets_is_refused() {
        assert_refused(
            b"GET / HTTP/1.1\r\nHost: a\r\nX[1]: x\r\n\r\n",
            Some(2),
            Some(400),
            FIELD_NAME,
            "`[` is not a token character",
        );
    }

    #[test]
    fn an_obs_fold_line_is_refused() {
        assert_refused(
            b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  2\r\n\r\n",
            Some(3),
            Some(400),
            OBS_FOLD,
            "obs-fold",
        );
    }

    #[test]
    fn whitespace_right_after_the_request_line_is_refused() {
        assert_refused(
            b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
            Some(1),
            Some(400),
            MESSAGE_PARSING,
            "whitespace right after the request line",
        );
    }

    #[test]
    fn a_nul_in_a_value_is_refused() {
        assert_refused(
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
            Some(2),
            Some(400),
            FIELD_VALUE,
            "NUL",
        );
    }

    #[test]
    fn a_control_byte_in_a_value_is_refused() {
        assert_refused(
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
            Some(2),
            Some(400),
            FIELD_VALUE,
            "\\x01",
        );
    }

    #[test]
    fn del_in_a_value_is_refused() {
        assert_refused(
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n",
            Some(2),
            Some(400),
            FIELD_VALUE,
            "\\x7f",
        );
    }

    #[test]
    fn a_bare_cr_in_a_value_is_refused() {
        assert_refused(
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
            Some(2),
            Some(400),
            MESSAGE_PARSING,
            "bare CR",
        );
    }

    #[test]
    fn a_field_name_of_64_kib_is_too_large_for_hyper() {
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        raw.resize(raw.len() + HYPER_MAX_NAME, b'x');
        raw.extend_from_slice(b": 1\r\n\r\n");
        let findings = check_request_head(&raw, raw.len());
        let first = findings.first();
        assert_eq!(
            first.map(|f| (f.line, f.status)),
            Some((Some(2), Some(431)))
        );
    }

    // --- Host ---

    #[test]
    fn an_http_1_1_request_without_host_is_refused() {
        assert_refused(
            b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
            None,
            Some(400),
            HOST,
            "no Host field",
        );
    }

    #[test]
    fn a_second_host_is_refused_at_its_line() {
        assert_refused(
            b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
            Some(2),
            Some(400),
            HOST,
            "second Host field (the first is line 1)",
        );
    }

    #[test]
    fn a_host_with_a_path_is_refused() {
        assert_refused(
            b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            Some(1),
            Some(400),
            HOST,
            "`a/b`, which is not `host[:port]`",
        );
    }

    #[test]
    fn a_host_with_a_non_numeric_port_is_refused() {
        assert_refused(
            b"GET / HTTP/1.1\r\nHost: a:http\r\n\r\n",
            Some(1),
            Some(400),
            HOST,
            "not `host[:port]`",
        );
    }

    // --- framing ---

    #[test]
    fn a_signed_content_length_is_refused() {
        assert_refused(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
            Some(2),
            Some(400),
            MESSAGE_BODY_LENGTH,
            "`+5`, which is not one decimal number",
        );
    }

    #[test]
    fn differing_content_lengths_are_refused_at_the_second() {
        assert_refused(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            Some(3),
            Some(400),
            MESSAGE_BODY_LENGTH,
            "Content-Length 6, but line 2 says 5",
        );
    }

    #[test]
    fn a_repeated_length_inside_one_field_is_refused_like_hyper_does() {
        assert_refused(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
            Some(2),
            Some(400),
            CONTENT_LENGTH_LIST,
            "repeats the length inside one field",
        );
    }

    #[test]
    fn an_empty_content_length_is_refused() {
        assert_refused(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
            Some(2),
            Some(400),
            MESSAGE_BODY_LENGTH,
            "empty Content-Length",
        );
    }

    #[test]
    fn a_content_length_over_64_bits_is_refused() {
        assert_refused(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n",
            Some(2),
            Some(400),
            MESSAGE_BODY_LENGTH,
            "too large",
        );
    }

    #[test]
    fn a_transfer_encoding_not_ending_in_chunked_is_refused() {
        assert_refused(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            Some(2),
            Some(400),
            MESSAGE_BODY_LENGTH,
            "`gzip`, not chunked",
        );
    }

    #[test]
    fn a_trailing_comma_after_chunked_is_refused_like_hyper_does() {
        assert_refused(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n",
            Some(2),
            Some(400),
            MESSAGE_BODY_LENGTH,
            "ends Transfer-Encoding with ``",
        );
    }

    #[test]
    fn a_coding_before_chunked_is_not_implemented() {
        assert_refused(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            Some(2),
            Some(501),
            TRANSFER_ENCODING,
            "`gzip`",
        );
    }

    #[test]
    fn chunked_twice_over_two_lines_is_refused() {
        assert_refused(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            Some(3),
            Some(400),
            TRANSFER_ENCODING,
            "more than once",
        );
    }

    #[test]
    fn transfer_encoding_in_http_1_0_is_refused() {
        assert_refused(
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            Some(1),
            Some(400),
            TRANSFER_ENCODING,
            "HTTP/1.0",
        );
    }

    #[test]
    fn transfer_encoding_with_content_length_is_refused_at_the_later_line() {
        let findings = check(
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_refused(
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            Some(3),
            Some(400),
            SMUGGLING,
            "is Transfer-Encoding alongside Content-Length (line 1), a request-smuggling pattern",
        );
    }

    // --- size and truncation ---

    #[test]
    fn a_head_that_stops_early_is_refused_without_a_status() {
        assert_refused(
            b"GET / HTTP/1.1\r\nHost: a\r\n",
            None,
            None,
            INCOMPLETE,
            "client stopped sending",
        );
        assert_refused(b"", None, None, INCOMPLETE, "client stopped sending");
    }

    #[test]
    fn a_request_line_that_fills_the_limit_is_uri_too_long() {
        let raw = b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let findings = check_request_head(raw, raw.len());
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let finding = &findings[..1];
        assert_eq!(
            finding
                .iter()
                .map(|f| (f.line, f.status, f.rule))
                .collect::<Vec<_>>(),
            [(Some(0), Some(414), REQUEST_LINE)]
        );
    }

    #[test]
    fn fields_that_fill_the_limit_are_too_large() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: aaaaaaaaaaaaaaa";
        let findings = check_request_head(raw, raw.len());
        assert_eq!(
            findings
                .iter()
                .map(|f| (f.line, f.status, f.rule))
                .collect::<Vec<_>>(),
            [(None, Some(431), TOO_LARGE)]
        );
    }

    #[test]
    fn a_complete_head_over_the_limit_is_too_large() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_refused_with_limit(raw, raw.len() - 1, None, Some(431), "over the");
        assert!(check_request_head(raw, raw.len()).is_empty());
    }

    #[track_caller]
    fn assert_refused_with_limit(
        raw: &[u8],
        max_head: usize,
        line: Option<usize>,
        status: Option<u16>,
        problem: &str,
    ) {
        let findings = check_request_head(raw, max_head);
        let first = findings.first();
        assert_eq!(
            first.map(|f| (f.severity, f.line, f.status)),
            Some((Severity::Refused, line, status)),
            "{findings:#?}"
        );
        assert!(
            first.is_some_and(|f| f.problem.contains(problem)),
            "{findings:#?}"
        );
    }

    // --- notes ---

    #[test]
    fn bare_line_feeds_are_one_note_at_the_first_line() {
        let findings = check(b"GET / HTTP/1.1\nHost: a\nAccept: */*\r\n\n");
        assert_eq!(
            findings,
            [Finding {
                severity: Severity::Note,
                line: Some(0),
                excerpt: Some("GET / HTTP/1.1".to_owned()),
                problem: "ends with a bare LF instead of CRLF (as do 2 more lines)".to_owned(),
                status: None,
                rule: MESSAGE_PARSING,
            }]
        );
    }

    #[test]
    fn leading_empty_lines_are_noted_on_the_request_line() {
        assert_noted(
            b"\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            MESSAGE_PARSING,
            "preceded by 2 empty lines",
        );
    }

    #[test]
    fn an_identical_content_length_repeat_is_noted() {
        assert_noted(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            Some(3),
            CONTENT_LENGTH_LIST,
            "repeats the Content-Length of line 2",
        );
    }

    #[test]
    fn an_absolute_form_target_is_noted() {
        assert_noted(
            b"GET http://example.com:8080/a?b HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
            Some(0),
            ABSOLUTE_FORM,
            "absolute-form",
        );
    }

    #[test]
    fn user_information_in_an_absolute_target_is_noted() {
        assert_noted(
            b"GET http://me@example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
            Some(0),
            USERINFO,
            "user information",
        );
    }

    #[test]
    fn a_lowercase_known_method_is_noted() {
        assert_noted(
            b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
            Some(0),
            METHOD_CASE,
            "so this is not GET",
        );
    }

    #[test]
    fn an_underscore_in_a_field_name_is_noted() {
        assert_noted(
            b"GET / HTTP/1.1\r\nHost: a\r\nX_Token: 1\r\n\r\n",
            Some(2),
            NEW_FIELD_NAMES,
            "nginx drops",
        );
    }

    #[test]
    fn an_unknown_expectation_is_noted_not_refused() {
        assert_noted(
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n",
            Some(2),
            EXPECT,
            "417",
        );
        assert_noted(
            b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
            Some(1),
            EXPECT,
            "must ignore",
        );
    }

    #[test]
    fn a_field_line_over_8_kib_is_noted() {
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        raw.resize(raw.len() + COMMON_FIELD_LINE_LIMIT, b'v');
        raw.extend_from_slice(b"\r\n\r\n");
        assert_noted(&raw, Some(2), FIELD_LIMITS, "8 KiB");
    }

    #[test]
    fn more_than_100_field_lines_are_noted() {
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..100 {
            raw.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert_noted(&raw, None, FIELD_LIMITS, "101 header lines");
    }

    #[test]
    fn non_ascii_in_a_value_is_noted() {
        assert_noted(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Name: Zoë\r\n\r\n".as_bytes(),
            Some(2),
            FIELD_VALUE,
            "non-ASCII",
        );
    }

    #[test]
    fn lax_target_characters_are_noted() {
        let raw = b"GET /a{b}|c%zz#frag HTTP/1.1\r\nHost: a\r\n\r\n";
        for problem in ["`{`, `}`, `|`", "%XX escape", "fragment"] {
            assert_noted(raw, Some(0), REQUEST_TARGET, problem);
        }
    }

    // --- what passes, and the shape of the answer ---

    #[test]
    fn well_formed_heads_have_no_findings() {
        for raw in [
            &b"GET /items?id=1&x=%20 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"[..],
            b"POST /login HTTP/1.1\r\nHOST: a:8080\r\ncontent-length: 5\r\nX-Y:  a b \t\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: [::1]:8443\r\nTransfer-Encoding: Chunked\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost:\r\nX-Empty:\r\n\r\n",
            b"PROPFIND /dav HTTP/1.1\r\nHost: 10.0.0.1\r\nExpect: 100-Continue\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nbody bytes are not the head's",
        ] {
            assert_eq!(check(raw), [], "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn refusals_come_first_in_line_order_then_notes() {
        let findings = check(
            b"\r\nget / HTTP/1.1\r\nX_A: 1\r\nTransfer-Encoding: chunked\r\nX: \0\r\nContent-Length: 1\r\n\r\n",
        );
        let order: Vec<_> = findings
            .iter()
            .map(|f| (f.severity, f.line, f.rule))
            .collect();
        assert_eq!(
            order,
            [
                (Severity::Refused, Some(3), FIELD_VALUE),
                (Severity::Refused, Some(4), SMUGGLING),
                (Severity::Refused, None, HOST),
                (Severity::Note, Some(0), METHOD_CASE),
                (Severity::Note, Some(0), MESSAGE_PARSING),
                (Severity::Note, Some(1), NEW_FIELD_NAMES),
            ]
        );
    }

    #[test]
    fn credentials_in_an_excerpt_show_only_their_length() {
        let findings = check_request_head(
            b"GET / HTTP/1.1\r\nHost: a\r\nX_Api_Key: s3cr3t\r\nAuthorization : Bearer abc\r\n\r\n",
            16384,
        );
        let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
        let all = text.join("\n");
        assert!(
            !all.contains("s3cr3t") && !all.contains("Bearer abc"),
            "{all}"
        );
        assert!(all.contains("X_Api_Key: <7 bytes, not shown>"), "{all}");
    }

    #[test]
    fn excerpts_escape_control_bytes_and_stop_at_80_characters() {
        assert_eq!(
            escape(b"a\tb\r\0\xff\"\\", 80),
            "a\\tb\\r\\x00\\xff\\\"\\\\"
        );
        let long = escape(&[b'x'; 200], EXCERPT_CHARS);
        assert_eq!(long.chars().count(), EXCERPT_CHARS + 1);
        assert!(long.ends_with('…'));
        // An escape is never cut in half.
        assert_eq!(escape(b"abc\x01", 5), "abc…");
    }

    #[test]
    fn a_finding_about_the_whole_head_has_no_excerpt() {
        let finding = first_refusal(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(finding.excerpt, None);
        assert_eq!(
            finding.to_string(),
            "request head has no Host field, which every HTTP/1.1 request needs \
             (RFC 9112 §3.2, RFC 9110 §7.2)"
        );
    }

    // --- against hyper: httparse, the parser it uses, and what it checks after ---

    /// Whether hyper 1.x refuses a head before duplex sees it: httparse's default request parser
    /// (its header-count limit is a setting, not a rule), then `http::Uri`, then the framing
    /// checks of hyper's `Server::parse` (`proto/h1/role.rs`).
    fn hyper_refuses(raw: &[u8]) -> bool {
        let mut headers = [httparse::EMPTY_HEADER; 512];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(raw) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => return false,
            Err(_) => return true,
        }
        let (Some(path), Some(version)) = (request.path, request.version) else {
            return false;
        };
        if http::Uri::try_from(path).is_err() {
            return true;
        }
        let (mut te, mut te_chunked, mut length) = (false, false, None);
        for header in request.headers.iter() {
            if header.name.eq_ignore_ascii_case("transfer-encoding") {
                if version == 0 {
                    return true;
                }
                te = true;
                // `HeaderValue::to_str` takes visible ASCII and tabs only.
                te_chunked = header
                    .value
                    .iter()
                    .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
                    && header
                        .value
                        .rsplit(|&b| b == b',')
                        .next()
                        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if header.name.eq_ignore_ascii_case("content-length") && !te {
                let digits =
                    !header.value.is_empty() && header.value.iter().all(u8::is_ascii_digit);
                let Some(n) = std::str::from_utf8(header.value)
                    .ok()
                    .filter(|_| digits)
                    .and_then(|value| value.parse::<u64>().ok())
                    .filter(|&n| n <= u64::MAX - 2)
                else {
                    return true;
                };
                if length.is_some_and(|first| first != n) {
                    return true;
                }
                length = Some(n);
            }
        }
        te && !te_chunked
    }

    const BASES: [&[u8]; 4] = [
        b"GET /items?id=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
        b"POST /login HTTP/1.1\r\nHost: a:8080\r\nContent-Length: 5\r\nX-Y: a b\r\n\r\n",
        b"OPTIONS * HTTP/1.0\nUser-Agent: x\n\n",
        b"\r\nPUT http://h/p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    ];

    /// Every head one byte away from a base: each byte inserted, replaced or deleted anywhere.
    fn one_byte_mutants(base: &[u8]) -> Vec<Vec<u8>> {
        let mut mutants = Vec::new();
        for i in 0..=base.len() {
            for b in 0..=u8::MAX {
                let mut inserted = base.to_vec();
                inserted.insert(i, b);
                mutants.push(inserted);
                if i < base.len() {
                    let mut replaced = base.to_vec();
                    replaced[i] = b;
                    mutants.push(replaced);
                }
            }
            if i < base.len() {
                let mut deleted = base.to_vec();
                deleted.remove(i);
                mutants.push(deleted);
            }
        }
        mutants
    }

    #[test]
    fn every_head_hyper_refuses_is_refused_here() {
        let mut refused_by_hyper = 0;
        for base in BASES {
            assert!(!hyper_refuses(base));
            assert_eq!(
                refusals(&check(base)),
                0,
                "{:?}",
                String::from_utf8_lossy(base)
            );
            for mutant in one_byte_mutants(base) {
                if hyper_refuses(&mutant) {
                    refused_by_hyper += 1;
                    assert!(
                        refusals(&check(&mutant)) > 0,
                        "hyper refuses {:?}, the checker does not",
                        String::from_utf8_lossy(&mutant)
                    );
                }
            }
        }
        // The corpus really exercises the parser's refusals.
        assert!(refused_by_hyper > 10_000, "{refused_by_hyper}");
    }

    const PIECES: &[&[u8]] = &[
        b"GET",
        b"POST",
        b"CONNECT",
        b"OPTIONS",
        b"PRI",
        b" ",
        b"  ",
        b"\t",
        b"/",
        b"/a?b=c",
        b"*",
        b"http://h/p",
        b"h:443",
        b"HTTP/1.1",
        b"HTTP/1.0",
        b"HTTP/2.0",
        b"http/1.1",
        b"\r\n",
        b"\n",
        b"\r",
        b"Host",
        b"host",
        b"Content-Length",
        b"Transfer-Encoding",
        b"Expect",
        b":",
        b": ",
        b"chunked",
        b"gzip",
        b",",
        b"5",
        b"-1",
        b"\0",
        b"\x7f",
        b"\xff",
        b"\xc3\xa9",
        b"<",
        b"#",
        b"%",
        b"x_y",
        b"a",
        b"\r\n\r\n",
    ];

    /// Heads made of the pieces parsers trip on.
    fn piece_soup() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(PIECES), 0..40)
            .prop_map(|pieces| pieces.concat())
    }

    /// Heads every strict server accepts, with their usual variety.
    fn well_formed_head() -> impl Strategy<Value = Vec<u8>> {
        let method = prop::sample::select(vec![
            "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND",
        ]);
        let target = "(/[A-Za-z0-9._~!$&'()*+,;=:@-]{0,8}){1,4}(\\?[A-Za-z0-9=&/?%-]{0,12})?"
            .prop_filter("escapes are complete", |t| {
                t.match_indices('%')
                    .all(|(i, _)| is_escape(t.as_bytes(), i))
            });
        let host = "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5})?(:[0-9]{1,5})?";
        let field = (
            "[A-Za-z][A-Za-z0-9-]{0,15}",
            "([!-~]([ -~]{0,30}[!-~])?)?",
            "[ \t]{0,2}",
        );
        (
            method,
            target,
            any::<bool>(),
            host,
            prop::collection::vec(field, 0..8),
            prop::option::of(0u64..1_000_000),
            prop::sample::select(vec!["\r\n", "\n"]),
        )
            .prop_map(|(method, target, http10, host, fields, length, eol)| {
                let version = if http10 { "HTTP/1.0" } else { "HTTP/1.1" };
                let mut head = format!("{method} {target} {version}{eol}");
                if !http10 || length.is_some() {
                    head.push_str(&format!("Host: {host}{eol}"));
                }
                for (name, value, ows) in fields {
                    let reserved = ["host", "content-length", "transfer-encoding", "expect"];
                    if !reserved.iter().any(|r| name.eq_ignore_ascii_case(r)) {
                        head.push_str(&format!("{name}:{ows}{value}{ows}{eol}"));
                    }
                }
                if let Some(length) = length {
                    head.push_str(&format!("Content-Length: {length}{eol}"));
                }
                head.push_str(eol);
                head.into_bytes()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Any bytes and any limit: no panic, a printable answer, refusals first.
        #[test]
        fn any_bytes_get_an_ordered_answer(
            raw in prop::collection::vec(any::<u8>(), 0..600),
            max_head in 0usize..700,
        ) {
            let findings = check_request_head(&raw, max_head);
            let refused = refusals(&findings);
            prop_assert!(findings.iter().take(refused).all(|f| f.severity == Severity::Refused));
            for finding in &findings {
                prop_assert!(!finding.to_string().is_empty());
                prop_assert!(finding.excerpt.as_ref().is_none_or(|e| e.chars().count() <= EXCERPT_CHARS + 1));
            }
        }

        /// A head hyper refuses is refused here too.
        #[test]
        fn pieces_hyper_refuses_are_refused_here(raw in piece_soup(), max_head in 0usize..2048) {
            let findings = check_request_head(&raw, max_head);
            if hyper_refuses(&raw) {
                prop_assert!(refusals(&findings) > 0, "{:?}", String::from_utf8_lossy(&raw));
            }
        }

        /// Well-formed heads pass here and in httparse.
        #[test]
        fn well_formed_heads_are_never_refused(raw in well_formed_head()) {
            let findings = check(&raw);
            prop_assert_eq!(refusals(&findings), 0, "{:?}: {:#?}", String::from_utf8_lossy(&raw), findings);
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let parsed = httparse::Request::new(&mut headers).parse(&raw);
            prop_assert!(matches!(parsed, Ok(httparse::Status::Complete(_))), "{:?}", parsed);
        }
    }
}
