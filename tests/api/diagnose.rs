//! A specific diagnosis, naming the rule, for each kind of malformed request and frame a client
//! can send, hyper's refusals included: the client gets the answer it always got, and the log
//! says exactly what was wrong.

use std::time::Duration;

use bytes::BytesMut;
use duplex::protocol::ws::write_frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, TestResult, spawn_app, spawn_app_with};

const WAIT: Duration = Duration::from_secs(5);

/// Sends `request` on a new connection and returns the status of the answer (0 if none came).
async fn status_of(app: &TestApp, request: &[u8]) -> std::io::Result<u16> {
    let mut tcp = TcpStream::connect(app.addr).await?;
    tcp.write_all(request).await?;
    let mut answer = Vec::new();
    let read_head = async {
        let mut buf = [0u8; 1024];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut buf).await {
                Ok(n) if n > 0 => answer.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(WAIT, read_head).await;
    Ok(answer
        .get(9..12)
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse().ok())
        .unwrap_or(0))
}

/// Fails with the whole log unless a line has every part of `expected`.
async fn assert_logged(app: &TestApp, expected: &[&str]) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let lines = app.log.lines();
        if lines
            .iter()
            .any(|line| expected.iter().all(|part| line.contains(part)))
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "no log line has all of {expected:?}; the log:\n{}",
                lines.join("\n")
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn every_malformed_request_gets_a_diagnosis_naming_its_rule() -> TestResult {
    // --no-http2: the HTTP/2 preface is one of the refusals here.
    let app = spawn_app_with(false, &["--max-body", "1024", "--no-http2"]).await;
    let many_headers: Vec<u8> = (0..300)
        .flat_map(|i| format!("X-{i}: y\r\n").into_bytes())
        .collect();
    let huge_header = format!("X: {}\r\n", "a".repeat(20_000));
    let upgrade = |method: &str, path: &str, key: &str, version: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
        )
        .into_bytes()
    };
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    // (request, status, what the diagnosis must say)
    let cases: Vec<(Vec<u8>, u16, Vec<&str>)> = vec![
        // Refused by hyper before any handler sees them.
        (
            b"GET / HTTP/1.1\r\nHost : x\r\n\r\n".to_vec(),
            400,
            vec![
                ": 400: request header line 1 \"Host : x\"",
                "whitespace before the colon (RFC 9112 §5.1)",
            ],
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n".to_vec(),
            400,
            vec!["obs-fold", "(RFC 9112 §5.2)"],
        ),
        (
            b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
            vec!["method `G@T`", "(RFC 9112 §3.1)"],
        ),
        (
            b"GET / http/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
            vec!["version `http/1.1`", "case-sensitive (RFC 9112 §2.3)"],
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec(),
            400,
            vec!["Content-Length `abc`", "(RFC 9112 §6.3)"],
        ),
        (
            b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc"
                .to_vec(),
            400,
            vec!["Content-Length 4, but line 2 says 3", "(RFC 9112 §6.3)"],
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n".to_vec(),
            400,
            vec!["control byte \\x01", "(RFC 9110 §5.5)"],
        ),
        (
            b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
            vec!["more than one space", "(RFC 9112 §3)"],
        ),
        (
            b"GET / HTTP/1.1\rHost: x\r\n\r\n".to_vec(),
            400,
            vec!["bare CR", "(RFC 9112 §2.2)"],
        ),
        (
            b"GET / HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(),
            400,
            vec!["version `HTTP/2.0`", "(RFC 9110 §15.6.6)"],
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            400,
            vec!["ends Transfer-Encoding with `gzip`", "(RFC 9112 §6.3)"],
        ),
        (
            [
                b"GET / HTTP/1.1\r\nHost: x\r\n".as_slice(),
                huge_header.as_bytes(),
                b"\r\n",
            ]
            .concat(),
            431,
            vec![": 431: ", "16384-byte limit (RFC 9110 §5.4, RFC 6585 §5)"],
        ),
        (
            [
                b"GET / HTTP/1.1\r\nHost: x\r\n".as_slice(),
                &many_headers,
                b"\r\n",
            ]
            .concat(),
            431,
            vec!["301 header lines, more than --max-headers (256) (RFC 6585 §5)"],
        ),
        // Refused by duplex itself.
        (
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            400,
            vec!["without a Host header field (RFC 9112 §3.2)"],
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            400,
            vec!["2 Host header fields", "(RFC 9112 §3.2)"],
        ),
        (
            b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
            vec![
                "\"/caf\\xc3\\xa9\" has bytes outside ASCII",
                "RFC 3986 §2.1",
            ],
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            400,
            vec![
                "chunked transfer coding is applied more than once",
                "(RFC 9112 §7.1)",
            ],
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            501,
            vec![": 501: Transfer-Encoding gzip", "(RFC 9112 §6.1)"],
        ),
        (
            b"DELETE /status HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            405,
            vec!["DELETE is not a method of /status; it allows GET, HEAD (RFC 9110 §15.5.6)"],
        ),
        (
            b"POST /items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            400,
            vec![
                "body is not framed as its head says",
                "chunk size",
                "(RFC 9112 §6.3, §7.1)",
            ],
        ),
        (
            b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n".to_vec(),
            413,
            vec![": 413: ", "--max-body (1024 bytes) (RFC 9110 §15.5.14)"],
        ),
        // WebSocket handshakes.
        (
            upgrade("GET", "/ws/echo", key, "8"),
            400,
            vec!["Sec-WebSocket-Version header: 8 (RFC 6455 §4.4)"],
        ),
        (
            upgrade("POST", "/ws/echo", key, "13"),
            405,
            vec!["unsupported HTTP method: POST (RFC 6455 §4.2.1 item 1)"],
        ),
        (
            upgrade("GET", "/nows", key, "13"),
            403,
            vec!["upgrade to /nows, which is not a WebSocket route"],
        ),
        (
            upgrade("GET", "/ws/echo", "abc", "13"),
            400,
            vec![
                "invalid Sec-WebSocket-Key header: abc",
                "(RFC 6455 §4.2.1 item 5)",
            ],
        ),
        // HTTP/2 prior knowledge on a port that speaks HTTP/1.1 only.
        (
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
            505,
            vec![
                ": 505: the client opened with the HTTP/2 connection preface",
                "(RFC 9113 §3.3)",
            ],
        ),
    ];
    for (request, status, expected) in &cases {
        let got = status_of(&app, request).await?;
        assert_eq!(got, *status, "{}", String::from_utf8_lossy(request));
        assert_logged(&app, expected).await?;
    }
    // Every refusal above is also a WARNING line with its connection number.
    let refusals = app
        .log
        .lines()
        .iter()
        .filter(|line| line.starts_with("WARNING:  conn "))
        .count();
    assert!(refusals >= cases.len(), "{refusals} < {}", cases.len());
    Ok(())
}

#[tokio::test]
async fn accepted_oddities_are_noted_not_refused() -> TestResult {
    let app = spawn_app(false).await;
    assert_eq!(
        status_of(
            &app,
            b"GET /status HTTP/1.1\nHost: x\nConnection: close\n\n"
        )
        .await?,
        200
    );
    assert_logged(
        &app,
        &[
            "note: request line",
            "bare LF instead of CRLF",
            "(RFC 9112 §2.2)",
        ],
    )
    .await?;
    assert_eq!(
        status_of(
            &app,
            b"\r\nGET /status HTTP/1.1\r\nHost: x\r\nX_Y: 1\r\nConnection: close\r\n\r\n"
        )
        .await?,
        200
    );
    assert_logged(&app, &["note:", "preceded by 1 empty line"]).await?;
    assert_logged(
        &app,
        &["note:", "`_` in its field name", "(RFC 9110 §16.3.2.1)"],
    )
    .await?;
    Ok(())
}

/// Opens a WebSocket to /ws/mirror by hand (no compression) and returns the stream.
async fn raw_ws(app: &TestApp, key: &str) -> std::io::Result<TcpStream> {
    let mut tcp = TcpStream::connect(app.addr).await?;
    let request = format!(
        "GET /ws/mirror HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if tcp.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    Ok(tcp)
}

/// The close code of the server's close frame (the first frame it sends after `frames`).
async fn close_code_after(app: &TestApp, frames: &[u8]) -> std::io::Result<u16> {
    let mut tcp = raw_ws(app, "x3JJHMbDL1EzLkh9GBhXDw==").await?;
    tcp.write_all(frames).await?;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer)).await;
    // Skip echoed frames: the close frame has opcode 8.
    let mut at = 0;
    while at + 2 <= answer.len() {
        let (b0, len) = (answer[at], usize::from(answer[at + 1] & 0x7f));
        if b0 & 0x0f == 8 && len >= 2 {
            return Ok(u16::from_be_bytes([answer[at + 2], answer[at + 3]]));
        }
        at += 2 + len;
    }
    Ok(0)
}

fn masked(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    write_frame(&mut out, first_byte, Some([1, 2, 3, 4]), payload);
    out.to_vec()
}

#[tokio::test]
async fn every_frame_violation_gets_a_diagnosis_naming_its_rule() -> TestResult {
    let app = spawn_app_with(false, &["--no-ws-compression", "--ws-max-message", "64"]).await;
    let mut unmasked = BytesMut::new();
    write_frame(&mut unmasked, 0x81, None, b"hi");
    let mut non_minimal = masked(0x81, b"ok");
    // A second frame whose 2-byte payload length is sent in the 16-bit form.
    non_minimal.extend_from_slice(&[0x81, 0xfe, 0x00, 0x02, 0, 0, 0, 0, b'o', b'k']);
    non_minimal.extend(masked(0x88, &1000u16.to_be_bytes()));
    // (frames, close code, what the diagnosis must say)
    let cases: Vec<(Vec<u8>, u16, Vec<&str>)> = vec![
        (
            unmasked.to_vec(),
            1002,
            vec![": close 1002: frame 1 from the client is not masked (RFC 6455 §5.1)"],
        ),
        (
            masked(0xa1, b"x"),
            1002,
            vec!["frame 1 from the client sets RSV2", "(RFC 6455 §5.2)"],
        ),
        (
            masked(0xc1, b"x"),
            1002,
            vec!["RSV1", "permessage-deflate was not negotiated"],
        ),
        (
            masked(0x83, b"x"),
            1002,
            vec!["has opcode 0x3, which is reserved (RFC 6455 §5.2)"],
        ),
        (
            masked(0x09, b"x"),
            1002,
            vec!["is a ping without FIN", "(RFC 6455 §5.5)"],
        ),
        (
            masked(0x89, &[0u8; 126]),
            1002,
            vec!["control frames carry at most 125", "(RFC 6455 §5.5)"],
        ),
        (
            masked(0x80, b"x"),
            1002,
            vec!["is a continuation but no message is in progress (RFC 6455 §5.4)"],
        ),
        (
            [masked(0x01, b"a"), masked(0x82, b"b")].concat(),
            1002,
            vec![
                "frame 2 from the client starts a new binary message while a fragmented message is unfinished",
            ],
        ),
        (
            masked(0x81, &[b'a', 0xff, b'b']),
            1007,
            vec![
                ": close 1007: ",
                "not valid UTF-8 at byte 1",
                "(RFC 6455 §8.1)",
            ],
        ),
        (
            masked(0x82, &[0u8; 65]),
            1009,
            vec![": close 1009: ", "over the limit of 64", "(RFC 6455 §10.4)"],
        ),
        (
            masked(0x88, &[0x03]),
            1002,
            vec!["close with a 1-byte payload", "(RFC 6455 §5.5.1)"],
        ),
        (
            masked(0x88, &1005u16.to_be_bytes()),
            1002,
            vec!["close with code 1005", "(RFC 6455 §7.4.1)"],
        ),
        (
            masked(0x88, &[0x03, 0xe8, 0xff]),
            1007,
            vec!["reason is not valid UTF-8", "(RFC 6455 §5.5.1)"],
        ),
    ];
    for (frames, code, expected) in &cases {
        assert_eq!(close_code_after(&app, frames).await?, *code, "{expected:?}");
        assert_logged(&app, expected).await?;
    }
    // Accepted, but noted: a non-minimal length, and the RFC's sample key.
    assert_eq!(close_code_after(&app, &non_minimal).await?, 1000);
    assert_logged(
        &app,
        &[
            "note: frame 2 from the client",
            "16-bit form",
            "(RFC 6455 §5.2)",
        ],
    )
    .await?;
    let _ = raw_ws(&app, "dGhlIHNhbXBsZSBub25jZQ==").await?;
    assert_logged(
        &app,
        &[
            "note: Sec-WebSocket-Key is the RFC's example nonce",
            "(RFC 6455 §4.1 item 7)",
        ],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_login_refused_by_the_private_route_is_diagnosed_without_its_secrets() -> TestResult {
    let app = spawn_app(false).await;
    let mut ws = app.ws("/ws/v5/private").await?;
    let login = r#"{"op":"login","args":[{"apiKey":"abc","passphrase":"hunter2","timestamp":"1","sign":"c2VjcmV0LXNpZ25hdHVyZQ=="}]}"#;
    ws.send_text(login).await?;
    // The failure reply, then the server's close (answered by the client).
    while ws.recv().await.is_ok() {}
    assert_logged(
        &app,
        &[
            ": close 1008: login refused: signature does not match",
            "(close codes: RFC 6455 §7.4.1)",
        ],
    )
    .await?;
    let log = app.log.lines().join("\n");
    assert!(
        !log.contains("hunter2") && !log.contains("c2VjcmV0"),
        "{log}"
    );
    Ok(())
}

#[tokio::test]
async fn plain_http_on_the_tls_port_is_named_as_such() -> TestResult {
    let app = spawn_app(true).await;
    let mut tcp = TcpStream::connect(app.addr).await?;
    tcp.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut sink)).await;
    assert_logged(
        &app,
        &[
            ": TLS: the client sent plain HTTP (\"GET /status HTTP/1.1",
            "use https:// or wss://",
            "RFC 8446 §5.1)",
        ],
    )
    .await?;
    Ok(())
}
