//! What exactly a client did wrong, in words and with the rule it broke: for the heads hyper
//! refuses before a handler sees them (explained from the raw bytes by
//! [`protocol::head`](crate::protocol::head)), for the refusals handlers make themselves (a
//! [`Diagnosis`] on the response), and for TLS handshakes that fail.

use std::io;

use http::StatusCode;

use crate::protocol::head::{Finding, Severity, check_request_head};

use super::log::escape;

/// Why a handler refused a request, attached to its response for the log: what was wrong and
/// the rule, e.g. `two Host header fields (RFC 9112 §3.2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diagnosis(pub(crate) String);

impl Diagnosis {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

/// An error and its causes, `: `-separated: hyper's own text often hides the reason (an h2
/// error code, what broke in a body) in its source.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The error code of the GOAWAY hyper's HTTP/2 (the `h2` crate) sent for a client's connection
/// error. `None` for any other end: an I/O error, the client's own GOAWAY. (h2's error keeps
/// the GOAWAY's debug data to itself.)
pub(crate) fn h2_goaway(err: &hyper::Error) -> Option<u32> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            return (h2.is_library() && h2.is_go_away())
                .then(|| h2.reason().map(u32::from))
                .flatten();
        }
        source = cause.source();
    }
    None
}

/// Statuses that answer a request the client got wrong and so deserve a diagnosis line: the
/// ones a strict server sends for a broken request, not 404 or 422 (the body says why).
pub(crate) fn is_refusal(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        400 | 403 | 405 | 408 | 411 | 413 | 414 | 417 | 426 | 431 | 501 | 505
    )
}

/// The status hyper answered a head it could not parse with, or `None` when it closed without
/// answering.
pub(crate) fn hyper_status(err: &hyper::Error) -> Option<StatusCode> {
    if err.is_parse_too_large() {
        // hyper's two "too large" kinds differ only in their text.
        return Some(if err.to_string().contains("URI") {
            StatusCode::URI_TOO_LONG
        } else {
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        });
    }
    (err.is_parse() && !err.is_parse_version_h2()).then_some(StatusCode::BAD_REQUEST)
}

/// Explains a head hyper refused with `status`: the strict checker's first refusal, or what
/// hyper said when the checker finds nothing more precise.
pub(crate) fn explain_refused_head(
    head: &[u8],
    dropped: u64,
    (max_head, max_headers): (usize, usize),
    status: StatusCode,
    err: &hyper::Error,
) -> String {
    let lines = head
        .split(|&b| b == b'\n')
        .skip_while(|line| line.is_empty() || *line == b"\r")
        .take_while(|line| !line.is_empty() && *line != b"\r")
        .count()
        .saturating_sub(1);
    if status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE && lines > max_headers {
        return format!(
            "the request has {lines} header lines, more than --max-headers ({max_headers}) \
             (RFC 6585 §5)"
        );
    }
    if status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE && dropped > 0 {
        return format!(
            "the request head is larger than --max-head ({max_head} bytes; {} received before \
             the limit) (RFC 9110 §15.5.14, RFC 6585 §5)",
            head.len() as u64 + dropped
        );
    }
    let findings = check_request_head(head, max_head);
    match findings
        .iter()
        .find(|finding| finding.severity == Severity::Refused)
    {
        Some(finding) => finding.to_string(),
        None => format!(
            "{err}; request line \"{}\" (RFC 9112 §2.2)",
            escape(first_line(head), 120)
        ),
    }
}

/// Explains a refusal a handler made without its own diagnosis, from the raw head.
pub(crate) fn explain_head(head: &[u8], max_head: usize) -> Option<String> {
    check_request_head(head, max_head)
        .into_iter()
        .find(|finding| finding.severity == Severity::Refused)
        .map(|finding| finding.to_string())
}

/// Everything the strict checker has to say about a head that was accepted: notes, and the
/// refusals of a stricter server.
pub(crate) fn notes(head: &[u8], max_head: usize) -> Vec<String> {
    check_request_head(head, max_head)
        .into_iter()
        .map(|finding: Finding| match finding.severity {
            Severity::Note => finding.to_string(),
            Severity::Refused => format!("a stricter server would refuse this: {finding}"),
        })
        .collect()
}

/// The request line of a head (without its line ending), for a log line.
pub(crate) fn first_line(head: &[u8]) -> &[u8] {
    let start = head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(head.len());
    let rest = &head[start..];
    let end = rest
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Why a TLS handshake failed, attributed where the error allows: `first_bytes` are the first
/// bytes the client sent (when they could be seen), which tell plain HTTP from TLS.
pub(crate) fn explain_tls_failure(err: &io::Error, first_bytes: &[u8]) -> String {
    if !first_bytes.is_empty() && first_bytes[0] != 0x16 {
        let looks_http = first_bytes
            .iter()
            .take_while(|b| b.is_ascii_uppercase())
            .count()
            >= 3;
        let what = if looks_http {
            "plain HTTP"
        } else {
            "something that is not TLS"
        };
        return format!(
            "the client sent {what} (\"{}\") to this TLS port; use https:// or wss://, or \
             start the server with --no-tls (a TLS connection opens with a handshake record, \
             type 22: RFC 8446 §5.1)",
            escape(first_bytes, 32)
        );
    }
    let Some(tls) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            return "the client closed the connection during the TLS handshake (often: it does \
                    not trust the certificate and gave up without an alert)"
                .to_owned();
        }
        return format!("the TLS handshake failed: {err}");
    };
    match tls {
        rustls::Error::AlertReceived(alert) => {
            let advice = match alert {
                rustls::AlertDescription::BadCertificate
                | rustls::AlertDescription::UnknownCA
                | rustls::AlertDescription::CertificateUnknown
                | rustls::AlertDescription::UnsupportedCertificate => {
                    ": it does not accept the server's certificate; trust it (curl --cacert, \
                     duplex client --cacert) or skip verification while testing (-k)"
                }
                rustls::AlertDescription::ProtocolVersion => {
                    ": it offers no TLS version this server speaks (1.2, 1.3)"
                }
                _ => "",
            };
            format!("the client ended the TLS handshake with alert {alert:?}{advice} (RFC 8446 §6)")
        }
        rustls::Error::PeerIncompatible(rustls::PeerIncompatible::NoSignatureSchemesInCommon) => {
            "the client accepts no signature scheme the server's certificate key can make; a \
             browser offered to an ED25519 certificate does this (Chromium and Firefox refuse \
             ED25519): serve an ECDSA or RSA one (`duplex cert --ecdsa`, `--ca`) (RFC 8446 \
             §4.2.3)"
                .to_owned()
        }
        rustls::Error::PeerIncompatible(why) => format!(
            "the client's TLS offer has nothing in common with the server's: {why:?} (RFC 8446 \
             §4.1.1)"
        ),
        rustls::Error::NoApplicationProtocol => "the client offered ALPN protocols, none of \
             them http/1.1, the only one served here (RFC 7301 §3.2)"
            .to_owned(),
        rustls::Error::InvalidMessage(why) => {
            format!("the client sent a malformed TLS message: {why:?} (RFC 8446 §4)")
        }
        rustls::Error::PeerMisbehaved(why) => {
            format!("the client broke the TLS handshake protocol: {why:?} (RFC 8446 §4)")
        }
        other => format!("the TLS handshake failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_on_the_tls_port_is_named_as_such() {
        let err = io::Error::new(io::ErrorKind::InvalidData, "x");
        let text = explain_tls_failure(&err, b"GET / HTTP/1.1\r\n");
        assert!(text.starts_with("the client sent plain HTTP (\"GET / HTTP/1.1\\r\\n\")"));
        assert!(text.contains("RFC 8446 §5.1"));
    }

    #[test]
    fn a_certificate_alert_says_the_client_does_not_trust_the_certificate() {
        let err = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA),
        );
        let text = explain_tls_failure(&err, &[0x16, 3, 1]);
        assert!(
            text.contains("UnknownCA") && text.contains("certificate"),
            "{text}"
        );
    }

    #[test]
    fn a_browser_refusing_ed25519_is_told_apart() {
        let err = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::PeerIncompatible(rustls::PeerIncompatible::NoSignatureSchemesInCommon),
        );
        let text = explain_tls_failure(&err, &[0x16, 3, 1]);
        assert!(
            text.contains("ED25519") && text.contains("§4.2.3"),
            "{text}"
        );
    }

    #[test]
    fn the_request_line_is_the_first_non_empty_line() {
        assert_eq!(
            first_line(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n"),
            b"GET / HTTP/1.1"
        );
        assert_eq!(first_line(b"GET"), b"GET");
    }
}
