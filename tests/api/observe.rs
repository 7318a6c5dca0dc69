//! What the server tells a client author about their client, over real sockets: the access log,
//! the diagnosis of every refusal (with its rule), the wire trace, JSON lines, and the raw echo.

use std::time::Duration;

use crate::helpers::{TestApp, TestResult, spawn_app, spawn_app_with};
use duplex::client::ws::Received;
use duplex::protocol::ws::{CloseCode, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(5);

/// The first log line containing `needle`, or a failure that shows the whole log.
pub async fn logged(app: &TestApp, needle: &str) -> Result<String, String> {
    match app.log.wait_for(needle, WAIT).await {
        Some(line) => Ok(line),
        None => Err(format!(
            "no log line contains {needle:?}; the log:\n{}",
            app.log.lines().join("\n")
        )),
    }
}

/// Fails if a log line so far contains `needle`.
pub fn assert_not_logged(app: &TestApp, needle: &str) {
    let lines = app.log.lines();
    assert!(
        !lines.iter().any(|line| line.contains(needle)),
        "a log line contains {needle:?}: {lines:?}"
    );
}

#[tokio::test]
async fn each_request_gets_an_access_line_with_its_connection_number_size_and_time() -> TestResult {
    let app = spawn_app(false).await;
    let responses = app
        .exchange(
            b"GET /status HTTP/1.1\r\nHost: x\r\n\r\nGET /items/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            2,
        )
        .await?;
    assert_eq!(responses.len(), 2);
    let first = logged(&app, "\"GET /status HTTP/1.1\" 200 OK").await?;
    let second = logged(&app, "\"GET /items/1 HTTP/1.1\" 200 OK").await?;
    assert!(first.starts_with("INFO:     127.0.0.1:"), "{first}");
    // Same connection: same number, requests 1 and 2; the size is the body's.
    let conn = first
        .split("[conn ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .ok_or("no connection number")?;
    assert!(
        first.contains(&format!("[conn {conn} #1, 15 B, ")),
        "{first}"
    );
    assert!(second.contains(&format!("[conn {conn} #2, ")), "{second}");
    assert!(first.ends_with(" ms]"), "{first}");
    // Text lines going anywhere but a terminal carry no escape codes.
    assert!(app.log.lines().iter().all(|line| !line.contains('\x1b')));
    Ok(())
}

#[tokio::test]
async fn no_access_log_keeps_refusals_but_drops_request_lines() -> TestResult {
    let app = spawn_app_with(false, &["--no-access-log"]).await;
    let _ = app.get("/status").await?;
    let refused = app.exchange(b"GET /status HTTP/1.1\r\n\r\n", 1).await?;
    assert_eq!(refused[0].status, 400);
    logged(&app, "without a Host header field (RFC 9112 §3.2)").await?;
    assert!(
        app.log.lines().iter().all(|line| !line.contains(" - \"")),
        "{:?}",
        app.log.lines()
    );
    Ok(())
}

#[tokio::test]
async fn a_websocket_session_gets_an_opening_and_a_closing_line() -> TestResult {
    let app = spawn_app(true).await;
    let mut ws = app.ws("/ws/echo").await?;
    ws.send_text("hello").await?;
    let reply = ws.recv().await?;
    assert_eq!(
        reply,
        Received::Message(Message::Text("Echo: hello".into()))
    );
    ws.close(CloseCode::NORMAL, "bye").await?;
    let opened = logged(&app, "\"WebSocket /ws/echo\" [accepted]").await?;
    assert!(opened.contains("127.0.0.1:"), "{opened}");
    let closed = logged(&app, "\"WebSocket /ws/echo\" closed by client 1000 \"bye\"").await?;
    assert!(closed.contains("in 1 msg 5 B, out 1 msg 11 B]"), "{closed}");
    Ok(())
}

#[tokio::test]
async fn a_refused_handshake_is_logged_with_its_status_and_rule() -> TestResult {
    let app = spawn_app(false).await;
    let refused = app
        .exchange(
            b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
            1,
        )
        .await?;
    assert_eq!(refused[0].status, 400);
    logged(&app, "\"WebSocket /ws/echo\" 400 Bad Request").await?;
    let diagnosis = logged(&app, "missing Sec-WebSocket-Key header").await?;
    assert!(diagnosis.starts_with("WARNING:  conn "), "{diagnosis}");
    assert!(diagnosis.contains("RFC 6455 §4.2.1"), "{diagnosis}");
    Ok(())
}

#[tokio::test]
async fn json_lines_parse_one_by_one_and_carry_the_connection() -> TestResult {
    let dir = tempfile::tempdir()?;
    let static_dir = dir.path().join("static");
    let (log, lines) = duplex::server::log::Log::memory(duplex::server::log::LogOptions {
        format: duplex::server::log::LogFormat::Json,
        ..Default::default()
    });
    let serve = <duplex::cli::config::Cli as clap::Parser>::try_parse_from([
        "duplex",
        "--port",
        "0",
        "--no-tls",
        "--static-dir",
        &static_dir.display().to_string(),
    ])?
    .into_serve();
    let running = duplex::cli::startup::prepare(&serve, log).await?;
    let addr = running.local_addr().ok_or("no address")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(running.serve(async {
        let _ = stopped.await;
    }));
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost : x\r\n\r\n")
        .await?;
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut sink)).await;
    let _ = stop.send(());
    task.await??;
    let mut events = Vec::new();
    for line in lines.lines() {
        let value: serde_json::Value = serde_json::from_str(&line)?;
        events.push(value);
    }
    let access = events
        .iter()
        .find(|e| e["event"] == "http" && e["status"] == 200)
        .ok_or("no access event")?;
    assert_eq!(access["target"], "/status");
    assert_eq!(access["request"], 1);
    assert!(access["conn"].as_u64().is_some() && access["peer"].is_string());
    let refused = events
        .iter()
        .find(|e| e["event"] == "refused")
        .ok_or("no refusal event")?;
    assert_eq!(refused["answer"], "400");
    assert_eq!(refused["conn"], access["conn"]);
    Ok(())
}

#[tokio::test]
async fn the_trace_shows_reads_and_both_heads_with_line_ends_visible() -> TestResult {
    let app = spawn_app_with(true, &["--trace"]).await;
    let _ = app.get("/status").await?;
    let tls = logged(&app, "TLS TLSv1_3, cipher").await?;
    assert!(tls.starts_with("TRACE:    conn "), "{tls}");
    logged(&app, "> GET /status HTTP/1.1\\r\\n").await?;
    logged(&app, "> Host: localhost\\r\\n").await?;
    logged(&app, "< HTTP/1.1 200 OK\\r\\n").await?;
    logged(&app, "< content-length: 15\\r\\n").await?;
    let read = logged(&app, " read ").await?;
    assert!(read.contains(" bytes"), "{read}");
    Ok(())
}

#[tokio::test]
async fn the_trace_decodes_every_websocket_frame_both_ways() -> TestResult {
    let app = spawn_app_with(false, &["--trace", "--no-ws-compression"]).await;
    let mut ws = app.ws("/ws/echo").await?;
    ws.send_text("hi").await?;
    let _ = ws.recv().await?;
    ws.close(CloseCode::NORMAL, "").await?;
    let inbound = logged(&app, "> frame FIN text MASK=").await?;
    assert!(inbound.contains("len=2 (7-bit) \"hi\""), "{inbound}");
    let outbound = logged(&app, "< frame FIN text len=8").await?;
    assert!(outbound.contains("\"Echo: hi\""), "{outbound}");
    logged(&app, "> frame FIN close MASK=").await?;
    // The session's reads are traced as the connection's were: the text frame is 8 bytes.
    logged(&app, " read 8 bytes").await?;
    Ok(())
}

#[tokio::test]
async fn the_raw_echo_returns_the_request_byte_for_byte() -> TestResult {
    let app = spawn_app(false).await;
    let requests: [&[u8]; 4] = [
        // Odd case, odd order, duplicates, extra whitespace.
        b"GET /echo/raw?x=1 HTTP/1.1\r\nhOsT: example\r\nX-B:  two  \r\nx-b: one\r\nACCEPT: */*\r\nConnection: close\r\n\r\n",
        // A chunked body with extensions and a trailer.
        b"POST /echo/raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;name=value\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: yes\r\n\r\n",
        // A Content-Length body, any method.
        b"PUT /echo/raw HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody",
        // Bare LF line endings.
        b"DELETE /echo/raw HTTP/1.1\nHost: x\nConnection: close\n\n",
    ];
    for request in requests {
        let responses = app.exchange(request, 1).await?;
        assert_eq!(responses[0].status, 200, "{}", responses[0].text());
        assert_eq!(
            responses[0].body,
            request,
            "{}",
            String::from_utf8_lossy(request)
        );
        assert_eq!(
            responses[0].header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            responses[0].header("x-content-type-options"),
            Some("nosniff")
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_raw_echo_in_json_has_the_bytes_and_the_parsed_view() -> TestResult {
    let app = spawn_app(false).await;
    let request = b"POST /echo/raw?format=json HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let responses = app.exchange(request, 1).await?;
    let view: serde_json::Value = serde_json::from_slice(&responses[0].body)?;
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let head = b64.decode(view["head_base64"].as_str().ok_or("head")?)?;
    let body = b64.decode(view["body_base64"].as_str().ok_or("body")?)?;
    assert_eq!([head, body].concat(), request);
    assert_eq!(view["request_line"], "POST /echo/raw?format=json HTTP/1.1");
    assert_eq!(
        view["headers"][1],
        serde_json::json!(["Transfer-Encoding", " chunked"])
    );
    assert_eq!(view["body_framing"], "chunked");
    assert_eq!(
        b64.decode(view["body_decoded_base64"].as_str().ok_or("decoded")?)?,
        b"abc"
    );
    Ok(())
}

#[tokio::test]
async fn the_raw_echo_keeps_pipelined_requests_apart() -> TestResult {
    let app = spawn_app(false).await;
    let first: &[u8] = b"POST /echo/raw HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    let second: &[u8] = b"GET /echo/raw HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n";
    let responses = app.exchange(&[first, second].concat(), 2).await?;
    assert_eq!(responses[0].body, first);
    assert_eq!(responses[1].body, second);
    Ok(())
}

#[tokio::test]
async fn the_raw_echo_takes_bodies_up_to_a_mebibyte() -> TestResult {
    let app = spawn_app(false).await;
    let big = vec![b'x'; (1 << 20) + 1];
    let refused = app.request("POST", "/echo/raw", &[], &big).await?;
    assert_eq!(refused.status, 413, "{}", refused.text());
    assert!(
        refused.text().contains("1048576 bytes"),
        "{}",
        refused.text()
    );
    let fits = app.request("POST", "/echo/raw", &[], &big[1..]).await?;
    assert_eq!(fits.status, 200);
    assert!(fits.body.ends_with(&big[1..]));
    Ok(())
}

#[tokio::test]
async fn a_streamed_answer_with_a_length_is_logged_complete() -> TestResult {
    let app = spawn_app(false).await;
    let ranges = app
        .request(
            "GET",
            "/static/data.txt",
            &[("Range", "bytes=0-3,5-8")],
            b"",
        )
        .await?;
    assert_eq!(ranges.status, 206);
    let line = logged(&app, "\"GET /static/data.txt HTTP/1.1\" 206").await?;
    assert!(!line.contains("incomplete"), "{line}");
    Ok(())
}
