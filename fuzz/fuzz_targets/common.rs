//! What the fuzz targets and the property tests (`tests/api/properties.rs` includes this file)
//! share: each parser with the answers it may give. Every target uses only some of them.
#![allow(dead_code)]

use bytes::Bytes;
use futures_util::FutureExt as _;
use http_body_util::BodyExt as _;

/// Status and body of a handler's answer (these handlers' bodies are always in memory).
pub fn answer(response: http::Response<duplex::server::Body>) -> (u16, Bytes) {
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .now_or_never()
        .and_then(Result::ok)
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_else(|| panic!("a handler body that is not in memory"));
    (status, body)
}

/// The body as JSON, read by duplex's own decoder: integers of any length stay exact, where
/// `serde_json` gives up on a number of 400 digits that duplex echoes correctly.
pub fn json(body: &[u8]) -> duplex::protocol::pyjson::Value {
    duplex::protocol::pyjson::loads(body)
        .unwrap_or_else(|e| panic!("not JSON ({e:?}): {:?}", String::from_utf8_lossy(body)))
}

/// `object[key]`, when `object` is an object that has it.
pub fn field<'a>(
    object: &'a duplex::protocol::pyjson::Value,
    key: &str,
) -> Option<&'a duplex::protocol::pyjson::Value> {
    match object {
        duplex::protocol::pyjson::Value::Object(fields) => {
            fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
        }
        _ => None,
    }
}

/// FastAPI's error shape: `{"detail": "..."}` or `{"detail": [{type, loc, msg, input}, ...]}`.
pub fn assert_fastapi_error(body: &[u8]) {
    use duplex::protocol::pyjson::Value;
    let value = json(body);
    match field(&value, "detail") {
        Some(Value::Str(_)) => {}
        Some(Value::Array(errors)) => {
            assert!(!errors.is_empty());
            for error in errors {
                for key in ["type", "loc", "msg", "input"] {
                    assert!(field(error, key).is_some(), "{key} missing in {error:?}");
                }
            }
        }
        other => panic!("detail is {other:?}"),
    }
}

/// `GET /items/{item_id}` for any segment: the one item, or 404/422 in FastAPI's shape.
pub fn check_item_id(raw: &str) {
    let (status, body) = answer(duplex::apps::guide::items::get_item(raw));
    match status {
        200 => assert_eq!(&body[..], br#"{"item_id":1,"name":"The One Item"}"#),
        404 | 422 => assert_fastapi_error(&body),
        other => panic!("status {other} for {raw:?}"),
    }
}

/// `json.loads` on any bytes: a value, "undecodable", or a syntax error inside the text.
pub fn check_json_decoding(body: &[u8]) {
    use duplex::protocol::pyjson::{self, DecodeError};
    if let Err(DecodeError::Syntax { pos, msg }) = pyjson::loads(body) {
        assert!(!msg.is_empty());
        assert!(
            pos <= body.len(),
            "position {pos} past {} bytes",
            body.len()
        );
    }
}

/// `POST /items` with any body: 201 with the created item, or 400/422 in FastAPI's shape.
pub fn check_create_item(content_type: &http::HeaderValue, body: &[u8]) -> u16 {
    let (status, answer) = answer(duplex::apps::guide::items::create_item(
        Some(content_type),
        body,
    ));
    match status {
        201 => {
            let message = field(&json(&answer), "message").cloned();
            assert_eq!(
                message,
                Some(duplex::protocol::pyjson::Value::Str(
                    "Item created successfully".to_owned()
                ))
            );
        }
        400 | 422 => assert_fastapi_error(&answer),
        other => panic!("status {other}"),
    }
    status
}

/// Any `Range` header: the whole file, sorted and merged ranges inside it, or 400/416.
pub fn check_range_header(header: &str, size: u64) {
    use duplex::apps::guide::static_files::{RangeError, parse_range_header};
    match parse_range_header(header, size) {
        Ok(ranges) => {
            let mut previous_end = None;
            for &(start, end) in &ranges {
                assert!(start < end && end <= size, "({start}, {end}) of {size}");
                if let Some(previous) = previous_end {
                    assert!(start > previous, "unmerged ranges {ranges:?}");
                }
                previous_end = Some(end);
            }
        }
        Err(RangeError::Malformed(message)) => assert!(!message.is_empty()),
        Err(RangeError::NotSatisfiable) => {}
    }
}
