//! `/echo/raw` (any method): the request exactly as the server received it, for client authors
//! who want to see what their client put on the wire. The request line and header lines come
//! back in their order, case and whitespace; the body as framed (chunk sizes, extensions and
//! trailers included). `?format=json` (or `Accept: application/json`) answers a JSON view
//! instead: the raw bytes in base64 plus the parsed request line, header lines and body.
//!
//! Not in the original: a duplex addition, listed in the README and `/openapi.json`.

use std::time::Duration;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode};
use serde_json::{Value, json};

use super::request_body::{BodyBudget, BoxError};
use crate::server::response;
use crate::server::{Body, Exchange};

/// Where the raw echo answers.
pub(crate) const PATH: &str = "/echo/raw";

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Largest body the raw echo takes (or `--max-body`, if smaller): the body is held twice while it
/// is read (decoded and as framed) and the JSON view is about three times its size, so the echo
/// is kept to sizes a person reads.
const MAX_ECHO_BODY: usize = 1 << 20;

/// Echoes the request back as received; the body is read (up to `max_body`, within `timeout`)
/// through hyper, which checks its framing, while the raw bytes are kept beside it.
pub(crate) async fn respond<B>(
    parts: &Parts,
    body: B,
    exchange: &Exchange<'_>,
    max_body: usize,
    timeout: Duration,
    budget: &BodyBudget,
) -> Response<Body>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    if parts.version == http::Version::HTTP_2 {
        // HTTP/2 has no text head to echo: HPACK decoded the header block into fields, and
        // their order and case did not survive it.
        let mut response = response::detail(
            StatusCode::NOT_IMPLEMENTED,
            "The raw echo shows HTTP/1.x requests; over HTTP/2 there is no text head to echo",
        );
        response
            .extensions_mut()
            .insert(crate::server::diagnose::Diagnosis::new(
                "an HTTP/2 request to /echo/raw, which echoes HTTP/1.x heads only".to_owned(),
            ));
        return response;
    }
    let Some(head) = exchange.raw_head() else {
        // Only in-process callers have no wire to read from.
        return response::detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The raw request is not available on this connection",
        );
    };
    let max_body = max_body.min(MAX_ECHO_BODY);
    exchange.keep_raw_body(max_body);
    // The reservation covers the decoded body until the answer is built; the raw copy beside it
    // is bounded by MAX_ECHO_BODY.
    let (decoded, _reservation) =
        match super::request_body::read(&parts.headers, body, max_body, timeout, budget).await {
            Ok(read) => read,
            Err(err) => return super::body_error(err, max_body, timeout, budget),
        };
    let raw_body = exchange
        .raw_body()
        .map_or_else(|| (Bytes::new(), false), |raw| (raw.bytes, raw.truncated));
    let mut response = if wants_json(parts) {
        let view = json_view(parts, &head, &raw_body.0, raw_body.1, &decoded, exchange);
        response::full(StatusCode::OK, response::APPLICATION_JSON, view.to_string())
    } else {
        let mut raw = BytesMut::with_capacity(head.len() + raw_body.0.len());
        raw.extend_from_slice(&head);
        raw.extend_from_slice(&raw_body.0);
        response::full(
            StatusCode::OK,
            HeaderValue::from_static("text/plain; charset=utf-8"),
            raw.freeze(),
        )
    };
    // What comes back is what the client sent: never let a browser take it for anything else.
    response.headers_mut().insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if raw_body.1 {
        response
            .headers_mut()
            .insert("x-duplex-truncated", HeaderValue::from_static("body"));
    }
    response
}

/// `?format=json`, or an `Accept` that names JSON and not text/plain.
fn wants_json(parts: &Parts) -> bool {
    let query_json = parts.uri.query().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair.eq_ignore_ascii_case("format=json"))
    });
    let accept_json = parts
        .headers
        .get(ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| {
            accept.contains("application/json") && !accept.contains("text/plain")
        });
    query_json || accept_json
}

/// The JSON view: raw bytes in base64, and what they parse to, line by line.
fn json_view(
    parts: &Parts,
    head: &[u8],
    raw_body: &[u8],
    truncated: bool,
    decoded: &[u8],
    exchange: &Exchange<'_>,
) -> Value {
    let lines: Vec<&[u8]> = head
        .split_inclusive(|&b| b == b'\n')
        .filter(|line| !line.iter().all(|&b| b == b'\r' || b == b'\n'))
        .collect();
    let text = |bytes: &[u8]| -> String { bytes.iter().map(|&b| char::from(b)).collect() };
    let strip = |line: &[u8]| -> Vec<u8> {
        let mut line = line.to_vec();
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        line
    };
    let request_line = lines.first().map(|line| text(&strip(line)));
    let headers: Vec<Value> = lines
        .iter()
        .skip(1)
        .map(|line| {
            let line = strip(line);
            match line.iter().position(|&b| b == b':') {
                Some(colon) => json!([text(&line[..colon]), text(&line[colon + 1..])]),
                None => json!([text(&line), Value::Null]),
            }
        })
        .collect();
    let framing = if parts.headers.contains_key(TRANSFER_ENCODING) {
        "chunked"
    } else if parts.headers.contains_key(CONTENT_LENGTH) {
        "content-length"
    } else {
        "none"
    };
    json!({
        "head_base64": BASE64.encode(head),
        "body_base64": BASE64.encode(raw_body),
        "body_truncated": truncated,
        "request_line": request_line,
        "method": parts.method.as_str(),
        "target": parts.uri.to_string(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "line_endings": if head.windows(2).any(|w| w[0] != b'\r' && w[1] == b'\n') || head.first() == Some(&b'\n') { "LF (some or all lines)" } else { "CRLF" },
        "body_framing": framing,
        "body_decoded_base64": BASE64.encode(decoded),
        "connection": {
            "id": exchange.label.id,
            "request": exchange.request,
            "peer": exchange.conn.peer.map(|peer| peer.to_string()),
            "tls": exchange.conn.tls,
        },
    })
}
