//! `GET /items/{item_id}` with any path segment: 200, 404 or 422 in FastAPI's shape.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::check_item_id(&String::from_utf8_lossy(data));
});
