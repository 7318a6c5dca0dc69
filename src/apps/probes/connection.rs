//! Probes of connection handling, outside the judged catalogue (a client author drives them):
//! - `/probe/keep-alive/close-after/N`: answers kept alive until the Nth request on the
//!   connection, which gets `Connection: close` (N at most 100);
//! - `/probe/keep-alive/idle-close?after_ms=M`: an answer kept alive, then the connection is
//!   closed without a word once it has been idle M ms (at most 10 s): does the client notice a
//!   stale connection, and retry?
//! - `/probe/expect/100`, `/probe/expect/417`, `/probe/expect/final`: a request with
//!   `Expect: 100-continue` gets 100 and then its answer, 417 (the body never read), or the final
//!   answer at once without a 100 (RFC 9110 §10.1.1 allows all three).

use std::time::Duration;

use super::{Next, ProbeRequest, plain, read_body, write_all};
use crate::server::raw::RawConnection;

/// Most requests `close-after` counts to.
const MAX_REQUESTS: u32 = 100;
/// Longest `idle-close` wait.
const MAX_IDLE: Duration = Duration::from_secs(10);

fn json(status: &str, connection: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nServer: duplex-probe\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{body}",
        body.len()
    )
}

pub(super) async fn keep_alive(
    rest: &str,
    request: &ProbeRequest,
    conn: &mut RawConnection,
    served: u32,
) -> Result<Next, String> {
    let number = served + 1;
    if let Some(n) = rest.strip_prefix("close-after/") {
        let Some(n) = n
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_REQUESTS).contains(n))
        else {
            let why = format!("close-after/N takes N from 1 to {MAX_REQUESTS}");
            write_all(&mut conn.io, &plain(400, "Bad Request", &why)).await?;
            return Ok(Next::Close);
        };
        let last = number >= n;
        let body = format!(r#"{{"request":{number},"closes_after":{n}}}"#);
        let connection = if last { "close" } else { "keep-alive" };
        write_all(&mut conn.io, json("200 OK", connection, &body).as_bytes()).await?;
        return Ok(if last {
            Next::Close
        } else {
            Next::KeepAlive(super::KEEP_ALIVE)
        });
    }
    if rest == "idle-close" {
        let after = request
            .param("after_ms")
            .and_then(|ms| ms.parse::<u64>().ok())
            .map_or(Duration::from_millis(500), Duration::from_millis)
            .min(MAX_IDLE);
        let body = format!(
            r#"{{"request":{number},"closes_when_idle_ms":{}}}"#,
            after.as_millis()
        );
        write_all(&mut conn.io, json("200 OK", "keep-alive", &body).as_bytes()).await?;
        return Ok(Next::KeepAlive(after));
    }
    write_all(
        &mut conn.io,
        &plain(
            404,
            "Not Found",
            "keep-alive/close-after/N or keep-alive/idle-close",
        ),
    )
    .await?;
    Ok(Next::Close)
}

pub(super) async fn expect(
    rest: &str,
    request: &ProbeRequest,
    conn: &mut RawConnection,
) -> Result<(), String> {
    let expected = request
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
    match rest {
        "100" => {
            if expected {
                write_all(&mut conn.io, b"HTTP/1.1 100 Continue\r\n\r\n").await?;
            }
            let body = match read_body(request, conn).await {
                Ok(body) => body,
                Err((_, why)) => {
                    return write_all(&mut conn.io, &plain(400, "Bad Request", &why)).await;
                }
            };
            let answer = format!(
                r#"{{"expect_100_continue":{expected},"received_bytes":{}}}"#,
                body.len()
            );
            write_all(&mut conn.io, json("200 OK", "close", &answer).as_bytes()).await
        }
        "417" => {
            let answer = r#"{"detail":"this probe refuses every expectation"}"#;
            write_all(
                &mut conn.io,
                json("417 Expectation Failed", "close", answer).as_bytes(),
            )
            .await
        }
        "final" => {
            // The body is never read: the connection closes after the answer (RFC 9112 §9.6).
            let answer = format!(r#"{{"expect_100_continue":{expected},"body_read":false}}"#);
            write_all(&mut conn.io, json("200 OK", "close", &answer).as_bytes()).await
        }
        _ => {
            write_all(
                &mut conn.io,
                &plain(404, "Not Found", "expect/100, expect/417 or expect/final"),
            )
            .await
        }
    }
}
