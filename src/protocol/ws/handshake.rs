//! The opening handshake, both sides: the server's checks of a request (RFC 6455 §4.2), in the
//! original's order and with its messages (`Failed to open a WebSocket connection: <reason>.`),
//! and the client's checks of the server's 101 (§4.1).

use base64::Engine as _;
use http::header::{
    CONNECTION, HeaderMap, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{Method, StatusCode};
use sha1::{Digest, Sha1};

use super::negotiate::{self, Agreement, DeflateConfig, ExtensionsSyntaxError};
use crate::protocol::http1::has_token;

/// RFC 6455 §1.3.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Whether a request asks for a WebSocket: `Connection` has the `upgrade` token and `Upgrade`
/// names `websocket` (any case). Anything else is plain HTTP, as in the original.
pub(crate) fn is_upgrade_request(headers: &HeaderMap) -> bool {
    has_token(headers, CONNECTION, "upgrade") && has_token(headers, UPGRADE, "websocket")
}

/// A handshake the server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// `Sec-WebSocket-Accept`.
    pub(crate) accept: String,
    /// permessage-deflate, when negotiated.
    pub(crate) deflate: Option<Agreement>,
}

/// Why a handshake is refused; `Display` is the original's reason text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("unsupported HTTP method: {0}")]
    Method(String),
    /// RFC 6455 §4.1 needs HTTP/1.1 (hyper cannot upgrade HTTP/1.0 either); the text is the
    /// `websockets` library's own.
    #[error("unsupported HTTP version: {0}")]
    HttpVersion(&'static str),
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("empty {0} header")]
    Empty(&'static str),
    #[error("invalid {0} header: multiple values")]
    Multiple(&'static str),
    #[error("invalid {name} header: {value}")]
    Invalid { name: &'static str, value: String },
    #[error("invalid Sec-WebSocket-Key header: {value}; {cause}")]
    KeyEncoding { value: String, cause: String },
    #[error("invalid Sec-WebSocket-Extensions header: {0}")]
    Extensions(#[from] ExtensionsSyntaxError),
}

impl HandshakeError {
    /// 405 for a wrong method, 505 for a wrong HTTP version, else 400.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::HttpVersion(_) => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The answer's body, the original's text.
    pub(crate) fn body(&self) -> String {
        format!("Failed to open a WebSocket connection: {self}.\n")
    }

    /// A bad version is answered with the one we speak (RFC 6455 §4.4).
    pub(crate) fn lists_supported_version(&self) -> bool {
        matches!(
            self,
            Self::Invalid {
                name: "Sec-WebSocket-Version",
                ..
            } | Self::Empty("Sec-WebSocket-Version")
        )
    }
}

/// Checks method, key, version, origin and extensions, in the original's order.
///
/// # Errors
/// The first problem found.
pub(crate) fn validate(
    method: &Method,
    version: http::Version,
    headers: &HeaderMap,
    deflate: Option<DeflateConfig>,
) -> Result<Accepted, HandshakeError> {
    if method != Method::GET {
        return Err(HandshakeError::Method(method.as_str().to_owned()));
    }
    if version != http::Version::HTTP_11 {
        return Err(HandshakeError::HttpVersion(match version {
            http::Version::HTTP_09 => "HTTP/0.9",
            http::Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/2+",
        }));
    }
    let key = single(headers, SEC_WEBSOCKET_KEY, "Sec-WebSocket-Key")?;
    check_key(&key)?;
    let version = single(headers, SEC_WEBSOCKET_VERSION, "Sec-WebSocket-Version")?;
    if version != "13" {
        return Err(HandshakeError::Invalid {
            name: "Sec-WebSocket-Version",
            value: version.to_owned(),
        });
    }
    if headers.get_all(ORIGIN).iter().count() > 1 {
        return Err(HandshakeError::Multiple("Origin"));
    }
    let deflate = match deflate {
        Some(config) => negotiate::negotiate(
            headers
                .get_all(SEC_WEBSOCKET_EXTENSIONS)
                .iter()
                .map(|v| v.to_str().unwrap_or("\u{fffd}")),
            config,
        )?,
        None => None,
    };
    Ok(Accepted {
        accept: accept_key(key.as_bytes()),
        deflate,
    })
}

/// The one value of a header, trimmed; missing, empty and repeated are errors.
fn single(
    headers: &HeaderMap,
    header: http::header::HeaderName,
    name: &'static str,
) -> Result<String, HandshakeError> {
    let mut values = headers.get_all(header).iter();
    let value = values.next().ok_or(HandshakeError::Missing(name))?;
    if values.next().is_some() {
        return Err(HandshakeError::Multiple(name));
    }
    let value = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
    if value.is_empty() {
        return Err(HandshakeError::Empty(name));
    }
    Ok(value)
}

/// The key must be base64 (Python's strict `b64decode`, with its error texts) of 16 bytes.
fn check_key(key: &str) -> Result<(), HandshakeError> {
    let decoded = strict_base64_len(key.as_bytes()).map_err(|err| HandshakeError::KeyEncoding {
        value: key.to_owned(),
        cause: err.to_string(),
    })?;
    if decoded != 16 {
        return Err(HandshakeError::Invalid {
            name: "Sec-WebSocket-Key",
            value: key.to_owned(),
        });
    }
    Ok(())
}

/// `binascii.Error` texts of CPython 3.11.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Base64Error {
    #[error("{0}")]
    Static(&'static str),
    #[error(
        "Invalid base64-encoded string: number of data characters ({0}) cannot be 1 more than \
         a multiple of 4"
    )]
    DataCount(usize),
}

/// The decoded length of `data` under `binascii.a2b_base64(data, strict_mode=True)`, or its
/// error.
fn strict_base64_len(data: &[u8]) -> Result<usize, Base64Error> {
    if data.first() == Some(&b'=') {
        return Err(Base64Error::Static("Leading padding not allowed"));
    }
    let mut quad_pos = 0;
    let mut pads = 0;
    let mut padding_started = false;
    let mut decoded = 0;
    for (i, &c) in data.iter().enumerate() {
        if c == b'=' {
            padding_started = true;
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    if i + 1 < data.len() {
                        return Err(Base64Error::Static("Excess data after padding"));
                    }
                    return Ok(decoded);
                }
            }
            continue;
        }
        if !(c.is_ascii_alphanumeric() || c == b'+' || c == b'/') {
            return Err(Base64Error::Static("Only base64 data is allowed"));
        }
        if padding_started {
            return Err(Base64Error::Static("Discontinuous padding not allowed"));
        }
        pads = 0;
        quad_pos = (quad_pos + 1) % 4;
        if quad_pos != 1 {
            decoded += 1;
        }
    }
    match quad_pos {
        0 => Ok(decoded),
        1 => Err(Base64Error::DataCount(decoded / 3 * 4 + 1)),
        _ => Err(Base64Error::Static("Incorrect padding")),
    }
}

/// `base64(SHA-1(key + GUID))`.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID);
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// What a client offers: deflate, and any client window the server picks (as Python
/// `websockets`' client does).
pub(crate) const CLIENT_OFFER: &str = negotiate::CLIENT_OFFER;

/// Why a client refuses the server's 101 (RFC 6455 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AcceptanceError {
    #[error("no `Upgrade: websocket`")]
    NoUpgrade,
    #[error("no `Connection: Upgrade`")]
    NoConnectionUpgrade,
    #[error("Sec-WebSocket-Accept does not match the key")]
    WrongAccept,
    #[error("the server chose an extension that was not offered")]
    UnofferedExtension,
    #[error(transparent)]
    Extensions(#[from] negotiate::ResponseError),
}

/// The client's checks of a 101 answering `key`, and the agreed compression (`offered`: whether
/// the request offered [`CLIENT_OFFER`]).
///
/// # Errors
/// The first check that fails.
pub(crate) fn check_acceptance(
    headers: &HeaderMap,
    key: &[u8],
    offered: bool,
) -> Result<Option<Agreement>, AcceptanceError> {
    if !has_token(headers, UPGRADE, "websocket") {
        return Err(AcceptanceError::NoUpgrade);
    }
    if !has_token(headers, CONNECTION, "upgrade") {
        return Err(AcceptanceError::NoConnectionUpgrade);
    }
    let expected = accept_key(key);
    if headers
        .get(SEC_WEBSOCKET_ACCEPT)
        .map(http::HeaderValue::as_bytes)
        != Some(expected.as_bytes())
    {
        return Err(AcceptanceError::WrongAccept);
    }
    let lines: Vec<&str> = headers
        .get_all(SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|value| value.to_str().unwrap_or("\u{fffd}"))
        .collect();
    if !offered && !lines.is_empty() {
        return Err(AcceptanceError::UnofferedExtension);
    }
    Ok(negotiate::accept_response(lines)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    const GOOD: [(&str, &str); 2] = [
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ];

    fn reason(method: Method, pairs: &[(&'static str, &'static str)]) -> String {
        match validate(
            &method,
            http::Version::HTTP_11,
            &headers(pairs),
            Some(DeflateConfig::default()),
        ) {
            Ok(accepted) => format!("accepted {accepted:?}"),
            Err(err) => err.body(),
        }
    }

    #[test]
    fn rfc_sample_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn upgrade_detection_is_token_based_and_case_insensitive() {
        assert!(is_upgrade_request(&headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
        ])));
        assert!(!is_upgrade_request(&headers(&[("connection", "Upgrade")])));
        assert!(!is_upgrade_request(&headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "foo"),
        ])));
        assert!(!is_upgrade_request(&headers(&[("upgrade", "websocket")])));
    }

    #[test]
    fn error_texts_match_the_original() {
        // The first four are in reference/wire-notes.md §6.
        type Case<'a> = (Method, &'a [(&'static str, &'static str)], &'a str);
        let cases: [Case<'_>; 9] = [
            (
                Method::GET,
                &[
                    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
                    ("sec-websocket-version", "8"),
                ],
                "invalid Sec-WebSocket-Version header: 8",
            ),
            (
                Method::GET,
                &[("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")],
                "missing Sec-WebSocket-Version header",
            ),
            (
                Method::GET,
                &[("sec-websocket-version", "13")],
                "missing Sec-WebSocket-Key header",
            ),
            (
                Method::GET,
                &[
                    ("sec-websocket-key", "abc"),
                    ("sec-websocket-version", "13"),
                ],
                "invalid Sec-WebSocket-Key header: abc; Incorrect padding",
            ),
            (Method::POST, &GOOD, "unsupported HTTP method: POST"),
            (
                Method::GET,
                &[
                    ("sec-websocket-key", "abcde"),
                    ("sec-websocket-version", "13"),
                ],
                "invalid Sec-WebSocket-Key header: abcde; Invalid base64-encoded string: number of data characters (5) cannot be 1 more than a multiple of 4",
            ),
            (
                Method::GET,
                &[
                    ("sec-websocket-key", "!!!!"),
                    ("sec-websocket-version", "13"),
                ],
                "invalid Sec-WebSocket-Key header: !!!!; Only base64 data is allowed",
            ),
            (
                Method::GET,
                &[
                    ("sec-websocket-key", "abcd"),
                    ("sec-websocket-version", "13"),
                ],
                "invalid Sec-WebSocket-Key header: abcd",
            ),
            (
                Method::GET,
                &[
                    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
                    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
                    ("sec-websocket-version", "13"),
                ],
                "invalid Sec-WebSocket-Key header: multiple values",
            ),
        ];
        for (method, pairs, expected) in cases {
            assert_eq!(
                reason(method, pairs),
                format!("Failed to open a WebSocket connection: {expected}.\n")
            );
        }
    }

    #[test]
    fn strict_base64_agrees_with_cpython() {
        // python3.11: base64.b64decode(k, validate=True)
        for (key, expected) in [
            ("AAAAAAAAAAAAAAAAAAAAAA==", Ok(16)),
            ("AAAA====", Ok(3)),
            ("ab==", Ok(1)),
            ("abc=", Ok(2)),
            ("AAAAAAAAAAAAAAAAAAAAAA=", Err("Incorrect padding")),
            (
                "AAAAAAAAAAAAAAAAAAAAAA===",
                Err("Excess data after padding"),
            ),
            ("a=bc", Err("Discontinuous padding not allowed")),
            ("=abc", Err("Leading padding not allowed")),
        ] {
            let got = strict_base64_len(key.as_bytes()).map_err(|e| match e {
                Base64Error::Static(s) => s,
                Base64Error::DataCount(_) => "count",
            });
            // Keep the comparison on the static texts; DataCount is covered above.
            assert_eq!(got, expected, "{key}");
        }
    }

    #[test]
    fn extensions_are_negotiated_or_refused() {
        let accepted = validate(
            &Method::GET,
            http::Version::HTTP_11,
            &headers(&[
                GOOD[0],
                GOOD[1],
                (
                    "sec-websocket-extensions",
                    "permessage-deflate; client_max_window_bits",
                ),
            ]),
            Some(DeflateConfig::default()),
        );
        assert_eq!(
            accepted
                .ok()
                .and_then(|a| a.deflate)
                .map(|d| d.response)
                .as_deref(),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
        );
        let off = validate(
            &Method::GET,
            http::Version::HTTP_11,
            &headers(&[
                GOOD[0],
                GOOD[1],
                ("sec-websocket-extensions", "permessage-deflate"),
            ]),
            None,
        );
        assert_eq!(off.ok().map(|a| a.deflate), Some(None));
        assert!(matches!(
            validate(
                &Method::GET,
                http::Version::HTTP_11,
                &headers(&[
                    GOOD[0],
                    GOOD[1],
                    ("sec-websocket-extensions", "permessage-deflate;")
                ]),
                Some(DeflateConfig::default()),
            ),
            Err(HandshakeError::Extensions(_))
        ));
    }
}
