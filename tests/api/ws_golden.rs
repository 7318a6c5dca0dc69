//! Replays the WebSocket handshakes captured from the FastAPI original
//! (`tests/fixtures/ws_golden.json`, a copy of `shared/reference/ws_golden.json`) and compares
//! the status line, the body and every header except `date` and `server` (names compared
//! case-insensitively, as HTTP defines them). The frame-level captures are covered scenario by
//! scenario in `ws.rs`.

use serde_json::Value;

use crate::helpers::{TestResult, spawn_app};
use crate::ws_client::WsClient;

const GOLDEN: &str = include_str!("../fixtures/ws_golden.json");

/// A handshake where duplex deliberately answers differently (listed in the README): its name,
/// then the status line, body and headers (other than `date`/`server`) duplex sends.
type Documented = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const DOCUMENTED: &[Documented] = &[
    (
        // RFC 6455 §4.1: the handshake needs HTTP/1.1.
        "HTTP/1.0 upgrade",
        "HTTP/1.1 505 HTTP Version Not Supported",
        "Failed to open a WebSocket connection: unsupported HTTP version: HTTP/1.0.\n",
        &[
            ("connection", "close"),
            ("content-length", "75"),
            ("content-type", "text/plain; charset=utf-8"),
        ],
    ),
    (
        // RFC 6455 §4.4: say which version we speak.
        "bad Sec-WebSocket-Version: 8",
        "HTTP/1.1 400 Bad Request",
        "Failed to open a WebSocket connection: invalid Sec-WebSocket-Version header: 8.\n",
        &[
            ("connection", "close"),
            ("content-length", "80"),
            ("content-type", "text/plain; charset=utf-8"),
            ("sec-websocket-version", "13"),
        ],
    ),
    (
        // Every duplex 400 has a length (the original's h11 400 relies on the close).
        "missing Host",
        "HTTP/1.1 400 Bad Request",
        "Invalid HTTP request received.",
        &[
            ("content-length", "30"),
            ("content-type", "text/plain; charset=utf-8"),
            ("connection", "close"),
        ],
    ),
];

/// Status line and the headers other than `date`/`server`, lower-cased and sorted.
fn normalise(head: &str) -> (String, Vec<(String, String)>) {
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let status = lines.next().unwrap_or_default().to_owned();
    let mut headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned()))
        .filter(|(n, _)| n != "date" && n != "server")
        .map(|(n, v)| {
            // `Connection: Upgrade` is a token; its case carries no meaning.
            let v = if n == "connection" {
                v.to_ascii_lowercase()
            } else {
                v
            };
            (n, v)
        })
        .collect();
    headers.sort();
    (status, headers)
}

#[tokio::test]
#[expect(
    clippy::print_stdout,
    reason = "the summary line shows what was compared, like the HTTP golden test"
)]
async fn websocket_handshakes_match_the_original() -> TestResult {
    let golden: Value = serde_json::from_str(GOLDEN)?;
    let app = spawn_app(false).await;
    let mut identical = 0;
    let mut documented = 0;
    let mut mismatches = Vec::new();
    for case in golden["handshakes"].as_array().into_iter().flatten() {
        let name = case["name"].as_str().unwrap_or_default();
        let request = case["request"].as_str().unwrap_or_default();
        let (head, _client) = WsClient::handshake(&app, request).await;
        let mut ours = format!(
            "HTTP/1.1 {} {}\r\n",
            head.status,
            http::StatusCode::from_u16(head.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or_default()
        );
        for (n, v) in &head.headers {
            ours.push_str(&format!("{n}: {v}\r\n"));
        }
        let ours_body = head.text();
        let (expected_head, expected_body) = match DOCUMENTED.iter().find(|d| d.0 == name) {
            Some((_, status, body, headers)) => {
                documented += 1;
                let mut head = format!("{status}\r\n");
                for (n, v) in *headers {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                (head, (*body).to_owned())
            }
            None => {
                identical += 1;
                (
                    case["response_head"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    case["after_head_bytes"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            }
        };
        // After a 101 come frames (the stream's updates), compared in ws.rs, not here.
        let body_matters = head.status != 101;
        if normalise(&ours) != normalise(&expected_head)
            || (body_matters && ours_body != expected_body)
        {
            mismatches.push(format!(
                "{name}:\n  ours     {:?} {ours_body:?}\n  expected {:?} {expected_body:?}",
                normalise(&ours),
                normalise(&expected_head)
            ));
        }
    }
    println!(
        "ws golden: {identical} compared, {documented} documented differences, {} mismatches",
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_eq!(identical + documented, 24);
    Ok(())
}
