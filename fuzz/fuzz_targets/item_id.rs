//! `GET /items/{item_id}` with any path segment: 200, 404 or 422 in FastAPI's shape.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let (status, body) = common::answer(duplex::http::items::get_item(&raw));
    match status {
        200 => assert_eq!(&body[..], br#"{"item_id":1,"name":"The One Item"}"#),
        404 | 422 => common::assert_fastapi_error(&body),
        other => panic!("status {other}"),
    }
});
