//! permessage-deflate negotiation (RFC 7692 §7.1), answering offers exactly as the original
//! (Python `websockets` with uvicorn's `server_max_window_bits=12, client_max_window_bits=12`)
//! does: the first acceptable offer wins, an offer with an unknown, repeated or out-of-range
//! parameter is declined, and a header that does not parse is a handshake error.

use std::fmt::Write as _;

/// The server's side of the negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeflateConfig {
    /// Largest LZ77 window the server compresses with (9..=15).
    pub(crate) server_max_window_bits: u8,
    /// Largest window the server asks clients to compress with (8..=15).
    pub(crate) client_max_window_bits: u8,
}

impl Default for DeflateConfig {
    /// The original's values: 4 KiB windows keep per-connection memory down.
    fn default() -> Self {
        Self {
            server_max_window_bits: 12,
            client_max_window_bits: 12,
        }
    }
}

/// A `Sec-WebSocket-Extensions` header that does not follow RFC 6455 §9.1's grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at {pos} in {header}")]
pub(crate) struct ExtensionsSyntaxError {
    what: &'static str,
    pos: usize,
    header: String,
}

/// One offered extension: its name and `(parameter, value)` pairs.
type Offer<'a> = (&'a str, Vec<(&'a str, Option<String>)>);

/// Negotiated permessage-deflate parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// The `Sec-WebSocket-Extensions` response value.
    pub response: String,
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    /// The window the server compresses with (9..=15).
    pub server_max_window_bits: u8,
    /// The window the client promised to stay within, if it offered to.
    pub client_max_window_bits: Option<u8>,
}

/// The agreement for the client's offers, or `None` when no permessage-deflate offer is
/// acceptable. Each header line is parsed on its own.
///
/// # Errors
/// A header line that does not parse.
pub(crate) fn negotiate<'a>(
    header_lines: impl IntoIterator<Item = &'a str>,
    config: DeflateConfig,
) -> Result<Option<Agreement>, ExtensionsSyntaxError> {
    let mut offers = Vec::new();
    for line in header_lines {
        offers.extend(parse_extension_list(line.trim())?);
    }
    Ok(offers
        .iter()
        .filter(|(name, _)| *name == "permessage-deflate")
        .find_map(|(_, params)| accept(params, config)))
}

/// The answer to one permessage-deflate offer, or `None` to decline it.
fn accept(params: &[(&str, Option<String>)], config: DeflateConfig) -> Option<Agreement> {
    let mut server_no_context_takeover = false;
    let mut client_no_context_takeover = false;
    let mut server_max_window_bits: Option<u8> = None;
    // `Some(None)`: offered without a value, meaning "I can do any value you pick".
    let mut client_max_window_bits: Option<Option<u8>> = None;
    for (name, value) in params {
        match *name {
            "server_no_context_takeover" if !server_no_context_takeover && value.is_none() => {
                server_no_context_takeover = true;
            }
            "client_no_context_takeover" if !client_no_context_takeover && value.is_none() => {
                client_no_context_takeover = true;
            }
            "server_max_window_bits" if server_max_window_bits.is_none() => {
                server_max_window_bits = Some(window_bits(value.as_deref())?);
            }
            "client_max_window_bits" if client_max_window_bits.is_none() => {
                client_max_window_bits = Some(match value {
                    None => None,
                    Some(value) => Some(window_bits(Some(value))?),
                });
            }
            // Unknown, repeated or malformed: decline this offer.
            _ => return None,
        }
    }
    let server_bits = server_max_window_bits.map_or(config.server_max_window_bits, |offered| {
        offered.min(config.server_max_window_bits)
    });
    // zlib cannot compress with a 256-byte window.
    if server_bits == 8 {
        return None;
    }
    let client_bits = match client_max_window_bits {
        // The client cannot limit its window, and we can inflate anything.
        None => None,
        Some(None) => Some(config.client_max_window_bits),
        Some(Some(offered)) => Some(offered.min(config.client_max_window_bits)),
    };
    let mut response = String::from("permessage-deflate");
    if server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    let _ = write!(response, "; server_max_window_bits={server_bits}");
    if let Some(bits) = client_bits {
        let _ = write!(response, "; client_max_window_bits={bits}");
    }
    Some(Agreement {
        response,
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    })
}

/// What `duplex client` offers, like Python `websockets`' client: deflate, and any client
/// window the server picks.
pub(crate) const CLIENT_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// A server answered [`CLIENT_OFFER`] with something RFC 7692 §7.1 tells a client to refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unacceptable Sec-WebSocket-Extensions from the server: {0}")]
pub(crate) struct ResponseError(String);

/// The client's reading of the server's `Sec-WebSocket-Extensions` lines: `None` when the
/// server declined compression.
///
/// # Errors
/// A syntax error, an extension that was not offered, a repeated or unknown parameter, or a
/// window size out of range.
pub(crate) fn accept_response<'a>(
    header_lines: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Agreement>, ResponseError> {
    let mut extensions = Vec::new();
    for line in header_lines {
        extensions.extend(
            parse_extension_list(line.trim()).map_err(|err| ResponseError(err.to_string()))?,
        );
    }
    let ((name, params), rest) = match extensions.split_first() {
        None => return Ok(None),
        Some(first) => first,
    };
    if *name != "permessage-deflate" || !rest.is_empty() {
        return Err(ResponseError(format!(
            "only permessage-deflate was offered, once; got {}",
            extensions
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut agreement = Agreement {
        response: String::new(),
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: None,
    };
    let (mut server_bits_seen, mut client_bits_seen) = (false, false);
    for (param, value) in params {
        let bad = || ResponseError(format!("bad parameter {param}"));
        match (*param, value.as_deref()) {
            ("server_no_context_takeover", None) if !agreement.server_no_context_takeover => {
                agreement.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !agreement.client_no_context_takeover => {
                agreement.client_no_context_takeover = true;
            }
            ("server_max_window_bits", value) if !server_bits_seen => {
                server_bits_seen = true;
                agreement.server_max_window_bits = window_bits(value).ok_or_else(bad)?;
            }
            ("client_max_window_bits", value) if !client_bits_seen => {
                client_bits_seen = true;
                // zlib cannot compress with a 256-byte window, so 8 is refused.
                let bits = window_bits(value)
                    .filter(|bits| *bits >= 9)
                    .ok_or_else(bad)?;
                agreement.client_max_window_bits = Some(bits);
            }
            _ => return Err(bad()),
        }
    }
    Ok(Some(agreement))
}

/// `8` to `15`, written plainly (RFC 7692 §7.1.2: no leading zeros, no sign).
fn window_bits(value: Option<&str>) -> Option<u8> {
    match value? {
        value @ ("8" | "9" | "10" | "11" | "12" | "13" | "14" | "15") => value.parse().ok(),
        _ => None,
    }
}

/// RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A cursor over one header line, mirroring `websockets.headers`' recursive-descent parser so
/// error positions agree with the original's messages.
struct Parser<'a> {
    header: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, what: &'static str) -> ExtensionsSyntaxError {
        ExtensionsSyntaxError {
            what,
            pos: self.pos,
            header: self.header.to_owned(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.header.as_bytes().get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Result<&'a str, ExtensionsSyntaxError> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected token"));
        }
        Ok(&self.header[start..self.pos])
    }

    /// A quoted string whose unescaped content must itself be a token (RFC 6455 §9.1).
    fn quoted_token(&mut self) -> Result<String, ExtensionsSyntaxError> {
        let start = self.pos;
        let bytes = self.header.as_bytes();
        let mut i = start + 1;
        let mut value = String::new();
        loop {
            match bytes.get(i) {
                Some(b'"') => break,
                Some(b'\\') => match bytes.get(i + 1) {
                    Some(&c) if c == b'\t' || (0x20..=0x7e).contains(&c) => {
                        value.push(char::from(c));
                        i += 2;
                    }
                    _ => return Err(self.error("expected quoted string")),
                },
                Some(&c) if c == b'\t' || (c >= 0x20 && c != 0x7f && c < 0x80) => {
                    value.push(char::from(c));
                    i += 1;
                }
                _ => return Err(self.error("expected quoted string")),
            }
        }
        if value.is_empty() || !value.bytes().all(is_tchar) {
            return Err(self.error("invalid quoted header content"));
        }
        self.pos = i + 1;
        Ok(value)
    }

    fn param(&mut self) -> Result<(&'a str, Option<String>), ExtensionsSyntaxError> {
        let name = self.token()?;
        self.skip_ows();
        let mut value = None;
        if self.peek() == Some(b'=') {
            self.pos += 1;
            self.skip_ows();
            value = Some(if self.peek() == Some(b'"') {
                self.quoted_token()?
            } else {
                self.token()?.to_owned()
            });
            self.skip_ows();
        }
        Ok((name, value))
    }

    fn extension(&mut self) -> Result<Offer<'a>, ExtensionsSyntaxError> {
        let name = self.token()?;
        self.skip_ows();
        let mut params = Vec::new();
        while self.peek() == Some(b';') {
            self.pos += 1;
            self.skip_ows();
            params.push(self.param()?);
        }
        Ok((name, params))
    }
}

/// `1#extension`, tolerating empty list elements as RFC 7230 §7 asks.
fn parse_extension_list(header: &str) -> Result<Vec<Offer<'_>>, ExtensionsSyntaxError> {
    let mut parser = Parser { header, pos: 0 };
    let skip_commas = |parser: &mut Parser<'_>| {
        while parser.peek() == Some(b',') {
            parser.pos += 1;
            parser.skip_ows();
        }
    };
    skip_commas(&mut parser);
    let mut items = Vec::new();
    loop {
        items.push(parser.extension()?);
        parser.skip_ows();
        if parser.pos == header.len() {
            break;
        }
        if parser.peek() != Some(b',') {
            return Err(parser.error("expected comma"));
        }
        parser.pos += 1;
        parser.skip_ows();
        skip_commas(&mut parser);
        if parser.pos == header.len() {
            break;
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(offer: &str) -> Option<String> {
        negotiate([offer], DeflateConfig::default())
            .unwrap_or_else(|e| panic!("{offer}: {e}"))
            .map(|agreement| agreement.response)
    }

    #[test]
    fn answers_like_the_original() {
        // Both captured from the original (reference/ws_golden.json).
        assert_eq!(
            answer("permessage-deflate; client_max_window_bits").as_deref(),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
        );
        assert_eq!(
            answer("permessage-deflate").as_deref(),
            Some("permessage-deflate; server_max_window_bits=12")
        );
    }

    #[test]
    fn window_bits_and_context_takeover_follow_the_offer() {
        assert_eq!(
            answer("permessage-deflate; server_max_window_bits=10; client_max_window_bits=15")
                .as_deref(),
            Some("permessage-deflate; server_max_window_bits=10; client_max_window_bits=12")
        );
        assert_eq!(
            answer("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
                .as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=12"
            )
        );
        assert_eq!(
            answer(r#"permessage-deflate; server_max_window_bits="9""#).as_deref(),
            Some("permessage-deflate; server_max_window_bits=9")
        );
    }

    #[test]
    fn bad_offers_are_declined_and_the_next_one_is_tried() {
        for offer in [
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; foo",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(answer(offer), None, "{offer}");
        }
        assert_eq!(
            answer("permessage-deflate; server_max_window_bits=8, permessage-deflate").as_deref(),
            Some("permessage-deflate; server_max_window_bits=12")
        );
    }

    #[test]
    fn several_header_lines_and_empty_elements() {
        let lines = [
            "foo, , bar; a=1",
            ",permessage-deflate ; client_max_window_bits = 9",
        ];
        assert_eq!(
            negotiate(lines, DeflateConfig::default())
                .ok()
                .flatten()
                .map(|agreement| agreement.response)
                .as_deref(),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=9")
        );
    }

    #[test]
    fn the_client_reads_the_servers_answer() {
        let agreement = accept_response([
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
        ]);
        assert_eq!(
            agreement.map(|a| a.map(|a| (a.server_max_window_bits, a.client_max_window_bits))),
            Ok(Some((12, Some(12))))
        );
        assert_eq!(accept_response([]), Ok(None));
        let agreement = accept_response(["permessage-deflate; server_no_context_takeover"]);
        assert!(
            agreement.is_ok_and(|a| a.is_some_and(|a| a.server_no_context_takeover
                && a.server_max_window_bits == 15
                && a.client_max_window_bits.is_none()))
        );
        for bad in [
            "x-webkit-deflate-frame",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=8",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate;",
        ] {
            assert!(accept_response([bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn syntax_errors_report_the_position() {
        for (header, message) in [
            ("", "expected token at 0 in "),
            (
                "permessage-deflate;",
                "expected token at 19 in permessage-deflate;",
            ),
            (
                "permessage-deflate x",
                "expected comma at 19 in permessage-deflate x",
            ),
            ("a; b=\"", "expected quoted string at 5 in a; b=\""),
            (
                "a; b=\"c d\"",
                "invalid quoted header content at 5 in a; b=\"c d\"",
            ),
        ] {
            let err = negotiate([header], DeflateConfig::default())
                .err()
                .map(|e| e.to_string());
            assert_eq!(err.as_deref(), Some(message), "{header}");
        }
    }
}
