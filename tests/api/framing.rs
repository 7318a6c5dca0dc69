//! Request message framing (RFC 9112 §6, §7) over real sockets: what hyper lets through and
//! duplex refuses itself.

use crate::helpers::{TestResult, spawn_app};

const BODY: &str = r#"{"name":"x"}"#;

/// A chunked POST /items with these `Transfer-Encoding` lines, then `GET /status` on the same
/// connection (answered only if the connection survives).
fn chunked_post(transfer_encodings: &[&str]) -> Vec<u8> {
    let mut raw =
        "POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n".to_owned();
    for line in transfer_encodings {
        raw.push_str(&format!("Transfer-Encoding: {line}\r\n"));
    }
    raw.push_str(&format!("\r\n{:x}\r\n{BODY}\r\n0\r\n\r\n", BODY.len()));
    raw.push_str("GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
    raw.into_bytes()
}

#[tokio::test]
async fn chunked_applied_twice_is_a_bad_request_that_closes() -> TestResult {
    let app = spawn_app(false).await;
    for lines in [&["chunked, chunked"][..], &["chunked", "chunked"][..]] {
        let responses = app.exchange(&chunked_post(lines), 2).await?;
        assert_eq!(responses.len(), 1, "{lines:?}: the connection must close");
        assert_eq!(responses[0].status, 400, "{lines:?}");
        assert_eq!(responses[0].text(), "Invalid HTTP request received.");
        assert_eq!(responses[0].header("connection"), Some("close"));
    }
    Ok(())
}

#[tokio::test]
async fn an_unimplemented_transfer_coding_gets_501_and_closes() -> TestResult {
    let app = spawn_app(false).await;
    let responses = app.exchange(&chunked_post(&["gzip, chunked"]), 2).await?;
    assert_eq!(responses.len(), 1, "the connection must close");
    assert_eq!(responses[0].status, 501);
    assert_eq!(
        responses[0].text(),
        r#"{"detail":"Transfer-Encoding gzip is not implemented; only chunked is"}"#
    );
    assert_eq!(responses[0].header("connection"), Some("close"));
    Ok(())
}

#[tokio::test]
async fn chunked_once_keeps_the_connection() -> TestResult {
    let app = spawn_app(false).await;
    let responses = app.exchange(&chunked_post(&["chunked"]), 2).await?;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 200]);
    Ok(())
}

/// §6.1: with both `Transfer-Encoding` and `Content-Length`, the chunked framing wins and the
/// connection MUST close after the response.
#[tokio::test]
async fn transfer_encoding_with_content_length_is_answered_then_closed() -> TestResult {
    let app = spawn_app(false).await;
    let mut raw = chunked_post(&["chunked"]);
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no head end")?;
    raw.splice(at..at, b"\r\nContent-Length: 5".iter().copied());
    let responses = app.exchange(&raw, 2).await?;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201], "answered by its chunked body, then closed");
    Ok(())
}
