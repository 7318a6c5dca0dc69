//! The WebSocket layer over real sockets: the guide's four tests over ws:// and wss://, the
//! handshake answers of the original, the login matrix, close codes, keepalive and shutdown.

use std::time::{Duration, Instant};

use duplex::client::ws::{Connection, Received};
use duplex::protocol::login::login_request as login;
use duplex::protocol::ws::{CloseCode, Message};

use super::helpers::{TestResult, spawn_app, spawn_app_with};
use super::ws_client::{ACCEPT, WsClient, now_millis, upgrade_request};

const FAILED: &str = r#"{"event":"login","success":false,"message":"Authentication failed"}"#;
const OK: &str = r#"{"event":"login","success":true}"#;

// --- The guide's test_websockets.py, over ws:// and wss:// -----------------------------------

/// The next message, which must be text.
async fn recv_text(ws: &mut Connection) -> Result<String, Box<dyn std::error::Error>> {
    match ws.recv().await? {
        Received::Message(Message::Text(text)) => Ok(String::from_utf8(text.as_bytes().to_vec())?),
        other => Err(format!("expected a text message, got {other:?}").into()),
    }
}

/// Through `duplex::client`, as the guide's tests go through Starlette's test client.
async fn guide_tests(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;

    // test_websocket_echo
    let mut ws = app.ws("/ws/echo").await?;
    ws.send_text("Hello, WebSocket!").await?;
    assert_eq!(recv_text(&mut ws).await?, "Echo: Hello, WebSocket!");
    assert_eq!(
        ws.close(CloseCode::NORMAL, "").await?.code,
        Some(CloseCode::NORMAL)
    );

    // test_websocket_stream
    let mut ws = app.ws("/ws/stream").await?;
    for _ in 0..3 {
        let update: serde_json::Value = serde_json::from_str(&recv_text(&mut ws).await?)?;
        assert!(update.get("timestamp").is_some() && update.get("message").is_some());
    }

    // test_websocket_private_auth_success
    let mut ws = app.ws("/ws/v5/private").await?;
    let ts = now_millis().to_string();
    ws.send_text(&login("abc", "def", "dummy_passphrase", &ts))
        .await?;
    assert_eq!(recv_text(&mut ws).await?, OK);

    // test_websocket_private_auth_failure
    let mut ws = app.ws("/ws/v5/private").await?;
    ws.send_text(&login("abc", "BAD_SECRET", "dummy_passphrase", &ts))
        .await?;
    let reply: serde_json::Value = serde_json::from_str(&recv_text(&mut ws).await?)?;
    assert_eq!(reply["event"], "login");
    assert_eq!(reply["success"], false);
    let Received::Closed(close) = ws.recv().await? else {
        return Err("no close after a refused login".into());
    };
    assert_eq!(close.code, Some(CloseCode::POLICY));
    Ok(())
}

#[tokio::test]
async fn guide_websocket_tests_over_ws() -> TestResult {
    guide_tests(false).await
}

#[tokio::test]
async fn guide_websocket_tests_over_wss() -> TestResult {
    guide_tests(true).await
}

// --- Handshake ---------------------------------------------------------------------------

#[tokio::test]
async fn handshake_answers_like_the_original() -> TestResult {
    let app = spawn_app(false).await;
    let (head, _ws) = WsClient::handshake(&app, &upgrade_request("/ws/echo?x=1", &[])).await;
    assert_eq!(head.status, 101);
    let names: Vec<&str> = head.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "upgrade",
            "connection",
            "sec-websocket-accept",
            "date",
            "server"
        ]
    );
    assert_eq!(head.header("sec-websocket-accept"), Some(ACCEPT));
    assert_eq!(head.header("upgrade"), Some("websocket"));

    // uvicorn's permessage-deflate answer, byte for byte.
    let (head, _ws) = WsClient::handshake(
        &app,
        &upgrade_request(
            "/ws/echo",
            &["Sec-WebSocket-Extensions: permessage-deflate"],
        ),
    )
    .await;
    assert_eq!(
        head.header("sec-websocket-extensions"),
        Some("permessage-deflate; server_max_window_bits=12")
    );

    let cases: [(&str, &[&str], u16, &str); 3] = [
        (
            "/ws/echo",
            &["Sec-WebSocket-Version: 8"],
            400,
            "Failed to open a WebSocket connection: invalid Sec-WebSocket-Version header: 8.\n",
        ),
        ("/ws/nope", &[], 403, ""),
        ("/ws/echo/", &[], 403, ""),
    ];
    for (path, extra, status, body) in cases {
        // Replace the version line for the bad-version case.
        let mut request = upgrade_request(path, &[]);
        if let Some(version) = extra.first() {
            request = request.replace("Sec-WebSocket-Version: 13", version);
        }
        let (head, _) = WsClient::handshake(&app, &request).await;
        assert_eq!(
            (head.status, head.text().as_str()),
            (status, body),
            "{path}"
        );
        assert_eq!(head.header("connection"), Some("close"));
    }

    let post = upgrade_request("/ws/echo", &[]).replacen("GET", "POST", 1);
    let (head, _) = WsClient::handshake(&app, &post).await;
    assert_eq!(head.status, 405);
    assert_eq!(head.header("allow"), Some("GET"));
    assert_eq!(
        head.text(),
        "Failed to open a WebSocket connection: unsupported HTTP method: POST.\n"
    );

    // Without `Upgrade: websocket` it is plain HTTP, as in the original.
    let response = app.get("/ws/echo").await?;
    assert_eq!(
        (response.status, response.text().as_str()),
        (404, r#"{"detail":"Not Found"}"#)
    );
    Ok(())
}

#[tokio::test]
async fn http10_upgrade_is_refused_with_505() -> TestResult {
    // RFC 6455 §4.1 requires HTTP/1.1; the original (uvicorn) lets HTTP/1.0 through.
    let app = spawn_app(false).await;
    let request = upgrade_request("/ws/echo", &[]).replacen("HTTP/1.1", "HTTP/1.0", 1);
    let (head, _) = WsClient::handshake(&app, &request).await;
    assert_eq!(
        (head.status, head.text().as_str()),
        (
            505,
            "Failed to open a WebSocket connection: unsupported HTTP version: HTTP/1.0.\n"
        )
    );
    Ok(())
}

/// A client may send its first frames in the same write as the handshake: the server reads
/// them with the request head, and the session gets them first, in order, then what follows.
#[tokio::test]
async fn frames_sent_with_the_handshake_come_first() -> TestResult {
    for tls in [false, true] {
        let app = spawn_app(tls).await;
        let mut request = upgrade_request("/ws/echo", &[]).into_bytes();
        request.extend(WsClient::frame_bytes(0x81, b"first"));
        request.extend(WsClient::frame_bytes(0x81, b"second"));
        let (head, mut ws) = WsClient::handshake_bytes(&app, &request).await;
        assert_eq!(head.status, 101, "{head:?}");
        assert_eq!(ws.recv_text().await, "Echo: first");
        assert_eq!(ws.recv_text().await, "Echo: second");
        ws.send_text("third").await;
        assert_eq!(ws.recv_text().await, "Echo: third");
    }
    Ok(())
}

/// The same behind a request with more header fields than the fast parser takes (the
/// connection is switched to the parser sized for `--max-headers` first), and with more frames
/// than that parser reads at once: every frame is answered, in order.
#[tokio::test]
async fn frames_sent_with_the_handshake_after_a_long_head_come_first() -> TestResult {
    let app = spawn_app(false).await;
    let fields: Vec<String> = (0..150).map(|i| format!("X-Field-{i}: {i}")).collect();
    let mut request = format!(
        "GET /status HTTP/1.1\r\nHost: localhost\r\n{}\r\n\r\n",
        fields.join("\r\n")
    )
    .into_bytes();
    request.extend(upgrade_request("/ws/echo", &[]).into_bytes());
    let texts: Vec<String> = (0..40)
        .map(|i| format!("{i:04}{}", "x".repeat(1000)))
        .collect();
    for text in &texts {
        request.extend(WsClient::frame_bytes(0x81, text.as_bytes()));
    }
    let (status, mut ws) = WsClient::handshake_bytes(&app, &request).await;
    assert_eq!(status.status, 200, "{status:?}");
    let head = ws.read_head().await;
    assert_eq!(head.status, 101, "{head:?}");
    for text in &texts {
        assert_eq!(ws.recv_text().await, format!("Echo: {text}"));
    }
    Ok(())
}

// --- Echo and close codes --------------------------------------------------------------------

#[tokio::test]
async fn echo_handles_binary_pings_and_client_closes() -> TestResult {
    echo_handles_binary_pings_and_client_closes_over(false).await
}

/// The same frames on an HTTP/2 stream (RFC 8441): only the transport differs.
#[tokio::test]
async fn echo_handles_binary_pings_and_client_closes_over_h2() -> TestResult {
    echo_handles_binary_pings_and_client_closes_over(true).await
}

async fn echo_handles_binary_pings_and_client_closes_over(h2: bool) -> TestResult {
    let app = spawn_app(true).await;
    let mut ws = WsClient::connect_over(&app, "/ws/echo", h2).await;
    ws.send_text("").await;
    assert_eq!(ws.recv_text().await, "Echo: ");
    ws.send_text("héllo ✓ 😀").await;
    assert_eq!(ws.recv_text().await, "Echo: héllo ✓ 😀");
    // Binary comes back as binary (the original drops the connection).
    ws.send_binary(&[0, 159, 146, 150]).await;
    let frame = ws.recv().await;
    assert_eq!(
        frame.map(|f| (f.opcode, f.payload)),
        Some((2, vec![0, 159, 146, 150]))
    );
    // A ping between fragments is answered at once; the message is reassembled.
    ws.send_frame(0x01, b"ab").await;
    ws.send_frame(0x89, b"p1").await;
    ws.send_frame(0x80, b"cd").await;
    let pong = ws.recv().await;
    assert_eq!(
        pong.map(|f| (f.opcode, f.payload)),
        Some((10, b"p1".to_vec()))
    );
    assert_eq!(ws.recv_text().await, "Echo: abcd");
    // The client's close is echoed, then the server closes TCP.
    ws.send_close(1001, "bye").await;
    assert_eq!(ws.expect_close().await, (1001, "bye".to_owned()));
    Ok(())
}

#[tokio::test]
async fn compressed_messages_round_trip() -> TestResult {
    let app = spawn_app(false).await;
    let mut ws = app.ws("/ws/echo").await?;
    let agreed = ws.compression().map(|a| {
        (
            a.server_max_window_bits,
            a.client_max_window_bits,
            a.server_no_context_takeover,
        )
    });
    assert_eq!(agreed, Some((12, Some(12), false)));
    // Context takeover across messages, and one larger than the 4 KiB window.
    let big = "Hello, WebSocket! ".repeat(4000);
    for text in [
        "Hello, WebSocket! Hello, WebSocket!",
        "Hello, WebSocket!",
        &big,
    ] {
        ws.send_text(text).await?;
        assert_eq!(recv_text(&mut ws).await?, format!("Echo: {text}"));
    }
    assert_eq!(
        ws.close(CloseCode::NORMAL, "done").await?.code,
        Some(CloseCode::NORMAL)
    );

    let app = spawn_app_with(false, &["--no-ws-compression"]).await;
    let ws = app.ws("/ws/echo").await?;
    assert!(
        ws.compression().is_none(),
        "compression agreed though disabled"
    );
    Ok(())
}

#[tokio::test]
async fn protocol_errors_close_with_the_right_code() -> TestResult {
    protocol_errors_close_with_the_right_code_over(false).await
}

#[tokio::test]
async fn protocol_errors_close_with_the_right_code_over_h2c() -> TestResult {
    protocol_errors_close_with_the_right_code_over(true).await
}

async fn protocol_errors_close_with_the_right_code_over(h2: bool) -> TestResult {
    let app = spawn_app_with(false, &["--ws-max-message", "1024"]).await;
    let cases: [(Vec<u8>, u16, &str); 5] = [
        (vec![0x81, 0x02, b'h', b'i'], 1002, "incorrect masking"),
        (WsClient::frame_bytes(0x83, b"x"), 1002, "invalid opcode"),
        (WsClient::frame_bytes(0x81, &[b'a', 0xff]), 1007, ""),
        (
            WsClient::frame_bytes(0x82, &[0; 1025]),
            1009,
            "frame with 1025 bytes exceeds limit of 1024 bytes",
        ),
        (
            WsClient::frame_bytes(0x88, &999u16.to_be_bytes()),
            1002,
            "invalid status code",
        ),
    ];
    for (bytes, code, reason) in cases {
        let mut ws = WsClient::connect_over(&app, "/ws/echo", h2).await;
        ws.send_raw(&bytes).await;
        assert_eq!(ws.expect_close().await, (code, reason.to_owned()));
    }
    // The limit itself is accepted.
    let mut ws = WsClient::connect_over(&app, "/ws/mirror", h2).await;
    ws.send_binary(&[7; 1024]).await;
    assert_eq!(ws.recv().await.map(|f| f.payload.len()), Some(1024));
    Ok(())
}

// --- /ws/v5/private ------------------------------------------------------------------------

/// Sends `message` as the first frame (over an HTTP/2 stream if `h2`) and returns the reply
/// text and close code.
async fn first_message(
    app: &super::helpers::TestApp,
    message: &[u8],
    binary: bool,
    h2: bool,
) -> (String, u16) {
    let mut ws = WsClient::connect_over(app, "/ws/v5/private", h2).await;
    if binary {
        ws.send_binary(message).await;
    } else {
        ws.send_frame(0x81, message).await;
    }
    let reply = ws.recv_text().await;
    let (code, _) = ws.expect_close().await;
    (reply, code)
}

#[tokio::test]
async fn login_matrix() -> TestResult {
    login_matrix_over(false).await
}

/// The same logins on HTTP/2 streams (RFC 8441, h2c): only the transport differs.
#[tokio::test]
async fn login_matrix_over_h2c() -> TestResult {
    login_matrix_over(true).await
}

async fn login_matrix_over(h2: bool) -> TestResult {
    let app = spawn_app_with(
        false,
        &[
            "--credentials-json",
            r#"[{"api_key":"abc","secret":"def"},{"api_key":"k2","secret":"s2","passphrase":"p2"}]"#,
        ],
    )
    .await;
    let now = now_millis();
    let secs = (now / 1000).to_string();
    let ms = now.to_string();
    let fraction = format!("{}.{:03}", now / 1000, now % 1000);
    let stale = (now / 1000 - 60).to_string();
    let future = (now / 1000 + 60).to_string();
    let good = [
        login("abc", "def", "x", &secs),
        login("abc", "def", "x", &ms),
        login("abc", "def", "x", &fraction),
        login("k2", "s2", "p2", &secs),
    ];
    for message in &good {
        let mut ws = WsClient::connect_over(&app, "/ws/v5/private", h2).await;
        ws.send_text(message).await;
        assert_eq!(ws.recv_text().await, OK, "{message}");
    }
    let bad = [
        login("abc", "BAD", "x", &secs),
        login("nope", "def", "x", &secs),
        login("k2", "s2", "wrong", &secs),
        login("abc", "def", "x", &stale),
        login("abc", "def", "x", &future),
        login("abc", "def", "x", "not-a-time"),
        "{".to_owned(),
        String::new(),
        "[]".to_owned(),
        r#""login""#.to_owned(),
        r#"{"op":"subscribe","args":[]}"#.to_owned(),
        r#"{"op":"login"}"#.to_owned(),
        r#"{"op":"login","args":[]}"#.to_owned(),
        r#"{"op":"login","args":{"a":1}}"#.to_owned(),
        r#"{"op":"login","args":"x"}"#.to_owned(),
        format!(r#"{{"op":"login","args":[{{"apiKey":"abc","timestamp":"{secs}","sign":5}}]}}"#),
        format!(r#"{{"op":"login","args":[{{"apiKey":"abc","timestamp":"{secs}","sign":"é"}}]}}"#),
    ];
    for message in &bad {
        assert_eq!(
            first_message(&app, message.as_bytes(), false, h2).await,
            (FAILED.to_owned(), 1008),
            "{message}"
        );
    }
    let ok = login("abc", "def", "x", &secs);
    assert_eq!(
        first_message(&app, ok.as_bytes(), true, h2).await,
        (FAILED.to_owned(), 1003),
        "binary login"
    );
    Ok(())
}

#[tokio::test]
async fn private_channel_after_login() -> TestResult {
    let app = spawn_app(false).await;
    let mut ws = WsClient::connect(&app, "/ws/v5/private").await;
    ws.send_text(&login(
        "abc",
        "def",
        "dummy_passphrase",
        &now_millis().to_string(),
    ))
    .await;
    assert_eq!(ws.recv_text().await, OK);
    ws.send_text("ping").await;
    assert_eq!(ws.recv_text().await, "pong");
    ws.send_text(r#"{"op":"order"}"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"{"event":"error","msg":"Unknown op: order"}"#
    );
    ws.send_text(r#"{"op":"subscribe","args":[{"channel":"account"}]}"#)
        .await;
    assert_eq!(
        ws.recv_text().await,
        r#"{"event":"subscribe","arg":{"channel":"account"}}"#
    );
    let update: serde_json::Value = serde_json::from_str(&ws.recv_text().await)?;
    assert_eq!(update["arg"]["channel"], "account");
    assert!(update["data"][0]["uTime"].as_str().is_some());
    ws.send_close(1000, "").await;
    // Updates may be in flight; the close reply comes after them.
    ws.recv_until(8).await;
    Ok(())
}

#[tokio::test]
async fn private_closes_an_idle_connection() -> TestResult {
    let app = spawn_app_with(false, &["--ws-private-idle", "0.3"]).await;
    let mut ws = WsClient::connect(&app, "/ws/v5/private").await;
    // Meanwhile a client that pings every 100 ms outlives the idle limit twice over.
    let mut busy = WsClient::connect(&app, "/ws/v5/private").await;
    for _ in 0..6 {
        busy.send_frame(0x89, b"hi").await;
        let pong = busy.recv().await.unwrap_or_else(|| panic!("EOF"));
        assert_eq!((pong.opcode, &pong.payload[..]), (10, &b"hi"[..]));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        ws.expect_close().await,
        (1000, "no message for 300ms".to_owned())
    );
    Ok(())
}

// --- /ws/stream, keepalive, shutdown -----------------------------------------------------

#[tokio::test]
async fn stream_sends_the_documented_format_once_a_second() -> TestResult {
    stream_sends_the_documented_format_once_a_second_over(false).await
}

/// The same updates on an HTTP/2 stream over TLS (RFC 8441).
#[tokio::test]
async fn stream_sends_the_documented_format_once_a_second_over_h2() -> TestResult {
    stream_sends_the_documented_format_once_a_second_over(true).await
}

async fn stream_sends_the_documented_format_once_a_second_over(h2: bool) -> TestResult {
    let app = spawn_app(h2).await;
    let mut ws = WsClient::connect_over(&app, "/ws/stream", h2).await;
    let mut arrivals = Vec::new();
    for _ in 0..3 {
        let text = ws.recv_text().await;
        arrivals.push(Instant::now());
        let update: serde_json::Value = serde_json::from_str(&text)?;
        assert_eq!(
            update["message"],
            "This is a periodic update from the server."
        );
        let ts = update["timestamp"].as_str().unwrap_or_default();
        assert!(
            ts.ends_with("+00:00") && ts.len() == 32 && &ts[10..11] == "T",
            "{ts}"
        );
        assert!(text.starts_with(r#"{"timestamp":""#), "key order: {text}");
    }
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        // Wide bounds: a loaded CI machine may delay one tick, but not lose the schedule.
        assert!(
            gap > Duration::from_millis(500) && gap < Duration::from_millis(1500),
            "{gap:?}"
        );
    }
    // The stream keeps reading: a ping is answered and a close ends it promptly.
    ws.send_frame(0x89, b"hb").await;
    assert_eq!(ws.recv_until(10).await.payload, b"hb");
    ws.send_close(1000, "").await;
    ws.recv_until(8).await;
    Ok(())
}

#[tokio::test]
async fn keepalive_closes_with_1011_when_pongs_do_not_come() -> TestResult {
    keepalive_closes_with_1011_when_pongs_do_not_come_over(false).await
}

#[tokio::test]
async fn keepalive_closes_with_1011_when_pongs_do_not_come_over_h2c() -> TestResult {
    keepalive_closes_with_1011_when_pongs_do_not_come_over(true).await
}

async fn keepalive_closes_with_1011_when_pongs_do_not_come_over(h2: bool) -> TestResult {
    let app = spawn_app_with(
        false,
        &["--ws-ping-interval", "0.2", "--ws-ping-timeout", "0.2"],
    )
    .await;
    let mut ws = WsClient::connect_over(&app, "/ws/echo", h2).await;
    let ping = ws.recv().await.unwrap_or_else(|| panic!("EOF"));
    assert_eq!((ping.opcode, ping.payload.len()), (9, 4));
    // No pong: the server gives up.
    assert_eq!(
        ws.expect_close().await,
        (1011, "keepalive ping timeout".to_owned())
    );

    // A client that answers stays connected across several pings.
    let mut ws = WsClient::connect_over(&app, "/ws/echo", h2).await;
    for _ in 0..3 {
        let ping = ws.recv().await.unwrap_or_else(|| panic!("EOF"));
        assert_eq!(ping.opcode, 9);
        ws.send_frame(0x8A, &ping.payload).await;
    }
    ws.send_text("still here").await;
    assert_eq!(ws.recv_until(1).await.text(), "Echo: still here");
    Ok(())
}

#[tokio::test]
async fn shutdown_sends_1001_to_open_sessions() -> TestResult {
    let app = spawn_app(true).await;
    let mut stream = WsClient::connect(&app, "/ws/stream").await;
    let first = stream.recv_text().await;
    assert!(first.contains("periodic update"));
    let stopping = tokio::spawn(app.stop());
    loop {
        let frame = stream
            .recv()
            .await
            .unwrap_or_else(|| panic!("EOF without close"));
        if let Some(close) = frame.close() {
            assert_eq!(close, (1001, "server shutting down".to_owned()));
            break;
        }
    }
    stream.expect_eof().await;
    // The server finished well within its deadline once the session closed.
    tokio::time::timeout(Duration::from_secs(5), stopping).await???;
    Ok(())
}

/// The echo load generator completes round trips over TLS and closes cleanly. (Its speed is
/// measured by the benchmarks, not here.)
#[tokio::test]
async fn echo_load_generator_counts_round_trips() -> TestResult {
    echo_load_generator_counts_round_trips_over(false).await
}

#[tokio::test]
async fn echo_load_generator_counts_round_trips_over_h2() -> TestResult {
    echo_load_generator_counts_round_trips_over(true).await
}

async fn echo_load_generator_counts_round_trips_over(http2: bool) -> TestResult {
    use duplex::client::bench::{EchoLoad, echo};
    let app = spawn_app(true).await;
    let tls = app.client_tls();
    let load = EchoLoad {
        connections: 2,
        message_size: 20,
        warmup: Duration::ZERO,
        duration: Duration::from_millis(300),
        compression: false,
        http2,
    };
    let report = echo(&app.target("/ws/echo"), tls.as_ref(), &load).await?;
    assert_eq!(report.failed, 0, "{report}");
    assert!(report.round_trips > 0, "{report}");
    assert!(report.p50_us <= report.p99_us, "{report}");
    Ok(())
}
