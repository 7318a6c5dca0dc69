//! What the targets share: reading a handler's answer and checking FastAPI's error shape.

use bytes::Bytes;
use futures_util::FutureExt as _;
use http_body_util::BodyExt as _;

/// Status and body of an answer whose body is in memory.
pub fn answer(response: http::Response<duplex::http::Body>) -> (u16, Bytes) {
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .now_or_never()
        .and_then(Result::ok)
        .map(http_body_util::Collected::to_bytes)
        .expect("handler bodies are in memory");
    (status, body)
}

/// `{"detail": "..."}` or `{"detail": [{type, loc, msg, input}, ...]}`.
pub fn assert_fastapi_error(body: &[u8]) {
    let value: serde_json::Value = serde_json::from_slice(body).expect("error bodies are JSON");
    match &value["detail"] {
        serde_json::Value::String(_) => {}
        serde_json::Value::Array(errors) => {
            assert!(!errors.is_empty());
            for error in errors {
                for key in ["type", "loc", "msg", "input"] {
                    assert!(error.get(key).is_some(), "{key} missing in {error}");
                }
            }
        }
        other => panic!("detail is {other}"),
    }
}
