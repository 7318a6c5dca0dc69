//! `POST /items` with any body (first byte picks the content type): 201, 400 or 422; and the
//! JSON decoder's syntax error positions stay inside the text.
#![no_main]

mod common;

use duplex::http::pyjson::{self, DecodeError};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    if let Err(DecodeError::Syntax { pos, msg }) = pyjson::loads(body) {
        assert!(!msg.is_empty());
        assert!(pos <= body.len(), "position {pos} past {} bytes", body.len());
    }
    let content_type = http::HeaderValue::from_static(match kind % 3 {
        0 => "application/json",
        1 => "application/merge-patch+json; charset=utf-8",
        _ => "text/plain",
    });
    let (status, answer) = common::answer(duplex::http::items::create_item(Some(&content_type), body));
    match status {
        201 => {
            let value: serde_json::Value = serde_json::from_slice(&answer).expect("201 is JSON");
            assert_eq!(value["message"], "Item created successfully");
        }
        400 | 422 => common::assert_fastapi_error(&answer),
        other => panic!("status {other}"),
    }
});
