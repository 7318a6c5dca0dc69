//! `POST /items` with any body (first byte picks the content type): 201, 400 or 422; and the
//! JSON decoder's syntax error positions stay inside the text.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    common::check_json_decoding(body);
    let content_type = http::HeaderValue::from_static(match kind % 3 {
        0 => "application/json",
        1 => "application/merge-patch+json; charset=utf-8",
        _ => "text/plain",
    });
    common::check_create_item(&content_type, body);
});
