//! HTTP/2 over real sockets: by ALPN over TLS and with prior knowledge (h2c) on the plain port,
//! every kind of route answering as over HTTP/1.1, WebSockets by extended CONNECT (RFC 8441),
//! the limits, the access log and the GOAWAY of a graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use duplex::client::ws::{Received, WsOptions};
use duplex::protocol::ws::{CloseCode, Message};
use http::{Method, Request, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::helpers::{READ_TIMEOUT, TestApp, TestResult, spawn_app, spawn_app_with};
use crate::observe::{assert_not_logged, logged};

/// Headers that belong to one HTTP/1.1 connection (RFC 9113 §8.2.2) or to the moment.
const NOT_COMPARED: [&str; 3] = ["connection", "keep-alive", "date"];

/// An HTTP/2 connection to the app: ALPN `h2` over TLS (asserted chosen), prior knowledge on
/// the plain port. The connection's task ends when the server closes it.
pub async fn h2_connect(app: &TestApp) -> Result<H2Connection, Box<dyn std::error::Error>> {
    let tcp = TcpStream::connect(app.addr).await?;
    tcp.set_nodelay(true)?;
    let io: Box<dyn duplex::client::Io> = match app.client_tls() {
        Some(config) => {
            let mut config = (*config).clone();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            let tls = TlsConnector::from(Arc::new(config))
                .connect(ServerName::try_from("localhost")?, tcp)
                .await?;
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
            Box::new(tls)
        }
        None => Box::new(tcp),
    };
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await?;
    Ok((sender, tokio::spawn(connection)))
}

/// A connection to the app and its driver task.
pub type H2Connection = (SendRequest<Full<Bytes>>, JoinHandle<hyper::Result<()>>);

/// Status, headers (lower-case names, sorted, without [`NOT_COMPARED`]) and body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

fn comparable(
    status: u16,
    headers: impl Iterator<Item = (String, String)>,
    body: Vec<u8>,
) -> Answer {
    let mut headers: Vec<_> = headers
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .filter(|(name, _)| !NOT_COMPARED.contains(&name.as_str()))
        .collect();
    headers.sort();
    (status, headers, body)
}

/// One request over HTTP/2 on `sender`.
async fn h2_request(
    app: &TestApp,
    sender: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Answer, Box<dyn std::error::Error>> {
    let scheme = if app.tls { "https" } else { "http" };
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes())?)
        .version(Version::HTTP_2)
        .uri(format!("{scheme}://localhost{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::copy_from_slice(body)))?;
    sender.ready().await?;
    let response = tokio::time::timeout(READ_TIMEOUT, sender.send_request(request)).await??;
    assert_eq!(response.version(), Version::HTTP_2);
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(READ_TIMEOUT, body.collect()).await??;
    Ok(comparable(
        parts.status.as_u16(),
        parts.headers.iter().map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        }),
        body.to_bytes().to_vec(),
    ))
}

/// The same request over HTTP/1.1 (`Host: localhost`, like the HTTP/2 `:authority`).
async fn h1_request(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Answer, Box<dyn std::error::Error>> {
    let response = app.request(method, path, headers, body).await?;
    Ok(comparable(
        response.status,
        response.headers.iter().cloned(),
        response.body.clone(),
    ))
}

/// Requests of every kind of route: JSON, 404, 405, 422, 307, HEAD, the static file with
/// Range and conditions.
/// Method, path, headers, body.
type Sent = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [u8],
);

const REQUESTS: &[Sent] = &[
    ("GET", "/", &[], b""),
    ("GET", "/status", &[], b""),
    ("HEAD", "/status", &[], b""),
    ("GET", "/items/1", &[], b""),
    ("GET", "/items/7", &[], b""),
    ("GET", "/items/abc", &[], b""),
    (
        "POST",
        "/items",
        &[("content-type", "application/json")],
        br#"{"name":"pen","price":1.5}"#,
    ),
    (
        "POST",
        "/items",
        &[("content-type", "application/json")],
        br#"{"name":"#,
    ),
    ("DELETE", "/status", &[], b""),
    ("GET", "/status/", &[], b""),
    ("GET", "/nowhere", &[], b""),
    ("GET", "/static/data.txt", &[], b""),
    ("HEAD", "/static/data.txt", &[], b""),
    ("GET", "/static/data.txt", &[("range", "bytes=5-9")], b""),
    ("GET", "/static/data.txt", &[("range", "bytes=900-")], b""),
    ("GET", "/openapi.json", &[], b""),
];

async fn every_route_answers_as_over_http_1_1(tls: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let (mut sender, _connection) = h2_connect(&app).await?;
    for &(method, path, headers, body) in REQUESTS {
        let over_h2 = h2_request(&app, &mut sender, method, path, headers, body).await?;
        let over_h1 = h1_request(&app, method, path, headers, body).await?;
        assert_eq!(over_h2, over_h1, "{method} {path} {headers:?}");
    }
    Ok(())
}

#[tokio::test]
async fn every_route_answers_over_h2_as_over_http_1_1() -> TestResult {
    every_route_answers_as_over_http_1_1(true).await
}

#[tokio::test]
async fn every_route_answers_over_h2c_as_over_http_1_1() -> TestResult {
    every_route_answers_as_over_http_1_1(false).await
}

#[tokio::test]
async fn a_matching_etag_gets_304_over_h2() -> TestResult {
    let app = spawn_app(true).await;
    let (mut sender, _connection) = h2_connect(&app).await?;
    let (status, headers, _) =
        h2_request(&app, &mut sender, "GET", "/static/data.txt", &[], b"").await?;
    assert_eq!(status, 200);
    let etag = headers
        .iter()
        .find(|(name, _)| name == "etag")
        .map(|(_, value)| value.clone())
        .ok_or("no etag")?;
    let conditional = [("if-none-match", etag.as_str())];
    let over_h2 = h2_request(
        &app,
        &mut sender,
        "GET",
        "/static/data.txt",
        &conditional,
        b"",
    )
    .await?;
    assert_eq!(over_h2.0, 304);
    assert!(over_h2.2.is_empty());
    let over_h1 = h1_request(&app, "GET", "/static/data.txt", &conditional, b"").await?;
    assert_eq!(over_h2, over_h1);
    Ok(())
}

#[tokio::test]
async fn streams_on_one_connection_are_answered_concurrently() -> TestResult {
    let app = spawn_app(false).await;
    let (sender, _connection) = h2_connect(&app).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for id in 1..=20 {
        let mut sender = sender.clone();
        tasks.spawn(async move {
            let request = Request::builder()
                .uri(format!("http://localhost/items/{}", id % 2))
                .body(Full::new(Bytes::new()))?;
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(response.status().as_u16())
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status?.map_err(|e| e.to_string())?);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [[200; 10], [404; 10]].concat());
    Ok(())
}

#[tokio::test]
async fn alpn_prefers_h2_and_falls_back_to_http_1_1() -> TestResult {
    for (args, offered, chosen) in [
        (&[][..], &[&b"h2"[..], b"http/1.1"][..], &b"h2"[..]),
        (&[], &[b"http/1.1"], b"http/1.1"),
        (&["--no-http2"], &[b"h2", b"http/1.1"], b"http/1.1"),
    ] {
        let app = spawn_app_with(true, args).await;
        let trusted = app.client_tls().ok_or("the app serves TLS")?;
        let mut config = (*trusted).clone();
        config.alpn_protocols = offered.iter().map(|p| p.to_vec()).collect();
        let tcp = TcpStream::connect(app.addr).await?;
        let tls = TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost")?, tcp)
            .await?;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(chosen), "{args:?}");
    }
    Ok(())
}

/// The server's first frame after the preface: SETTINGS (type 4) on stream 0 (RFC 9113 §3.4).
#[tokio::test]
async fn the_preface_on_the_plain_port_starts_h2c() -> TestResult {
    let app = spawn_app(false).await;
    let mut tcp = TcpStream::connect(app.addr).await?;
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await?;
    let mut head = [0u8; 9];
    tokio::time::timeout(READ_TIMEOUT, tcp.read_exact(&mut head)).await??;
    assert_eq!(head[3], 4, "frame type {head:?}");
    assert_eq!(&head[5..9], &[0, 0, 0, 0], "stream {head:?}");
    Ok(())
}

#[tokio::test]
async fn without_http2_the_preface_gets_505() -> TestResult {
    let app = spawn_app_with(false, &["--no-http2"]).await;
    let responses = app.exchange(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 1).await?;
    assert_eq!(responses.first().map(|r| r.status), Some(505));
    Ok(())
}

#[tokio::test]
async fn h2_requests_are_in_the_access_log_as_http_2_0() -> TestResult {
    let app = spawn_app(true).await;
    let (mut sender, _connection) = h2_connect(&app).await?;
    h2_request(&app, &mut sender, "GET", "/items/1?x=1", &[], b"").await?;
    let expected = "\"GET /items/1?x=1 HTTP/2.0\" 200 OK";
    for _ in 0..50 {
        if app.log.lines().iter().any(|line| line.contains(expected)) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("no line with {expected} in {:?}", app.log.lines()).into())
}

/// A header list over `--h2-max-header-list` is refused, and the connection stays usable.
#[tokio::test]
async fn an_oversized_header_list_is_refused() -> TestResult {
    let app = spawn_app_with(false, &["--h2-max-header-list", "4096"]).await;
    let (mut sender, _connection) = h2_connect(&app).await?;
    let big = "x".repeat(8 * 1024);
    let refused = h2_request(&app, &mut sender, "GET", "/status", &[("x-big", &big)], b"").await;
    match refused {
        Ok((status, _, _)) => assert_eq!(status, 431),
        // A stream reset (REFUSED_STREAM / PROTOCOL_ERROR) is the other allowed answer.
        Err(err) => assert!(err.to_string().contains("stream"), "{err}"),
    }
    let (status, _, _) = h2_request(&app, &mut sender, "GET", "/status", &[], b"").await?;
    assert_eq!(status, 200);
    Ok(())
}

/// A shutdown sends GOAWAY: the idle connection is closed by the server (its task ends).
#[tokio::test]
async fn a_graceful_shutdown_closes_idle_h2_connections() -> TestResult {
    let app = spawn_app(true).await;
    let (mut sender, connection) = h2_connect(&app).await?;
    h2_request(&app, &mut sender, "GET", "/status", &[], b"").await?;
    app.stop().await?;
    let ended = tokio::time::timeout(READ_TIMEOUT, connection).await??;
    assert!(ended.is_ok(), "{ended:?}");
    Ok(())
}

// --- WebSockets over HTTP/2 (RFC 8441) ----------------------------------------------------------

async fn echo_over_h2(tls: bool, compression: bool) -> TestResult {
    let app = spawn_app(tls).await;
    let mut options = WsOptions::default().over_http2();
    if !compression {
        options = options.without_compression();
    }
    let mut ws = app.ws_with("/ws/echo", &options).await?;
    assert_eq!(ws.compression().is_some(), compression);
    ws.send_text(&"hello h2 ".repeat(50)).await?;
    let Received::Message(Message::Text(reply)) = ws.recv().await? else {
        return Err("no text reply".into());
    };
    assert_eq!(
        String::from_utf8(reply.as_bytes().to_vec())?,
        format!("Echo: {}", "hello h2 ".repeat(50))
    );
    let close = ws.close(CloseCode::NORMAL, "").await?;
    assert_eq!(close.code, Some(CloseCode::NORMAL));
    Ok(())
}

#[tokio::test]
async fn websocket_echo_over_h2_with_compression() -> TestResult {
    echo_over_h2(true, true).await
}

#[tokio::test]
async fn websocket_echo_over_h2_without_compression() -> TestResult {
    echo_over_h2(true, false).await
}

#[tokio::test]
async fn websocket_echo_over_h2c_with_compression() -> TestResult {
    echo_over_h2(false, true).await
}

#[tokio::test]
async fn a_websocket_over_h2_is_in_the_access_log() -> TestResult {
    let app = spawn_app(false).await;
    let ws = app
        .ws_with("/ws/echo", &WsOptions::default().over_http2())
        .await?;
    ws.close(CloseCode::NORMAL, "").await?;
    for _ in 0..50 {
        let lines = app.log.lines();
        if lines
            .iter()
            .any(|line| line.contains("\"WebSocket /ws/echo\" [accepted]"))
            && lines
                .iter()
                .any(|line| line.contains("\"WebSocket /ws/echo\" closed by client 1000"))
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("no WebSocket lines in {:?}", app.log.lines()).into())
}

#[tokio::test]
async fn a_failed_login_over_h2_closes_with_1008() -> TestResult {
    let app = spawn_app(true).await;
    let mut ws = app
        .ws_with("/ws/v5/private", &WsOptions::default().over_http2())
        .await?;
    ws.send_text("not a login").await?;
    let Received::Message(Message::Text(_)) = ws.recv().await? else {
        return Err("no failure reply".into());
    };
    let Received::Closed(close) = ws.recv().await? else {
        return Err("not closed".into());
    };
    assert_eq!(close.code, Some(CloseCode::POLICY));
    Ok(())
}

#[tokio::test]
async fn a_websocket_over_h2_to_another_path_is_refused_with_403() -> TestResult {
    let app = spawn_app(false).await;
    let refused = app
        .ws_with("/status", &WsOptions::default().over_http2())
        .await;
    let err = refused.err().ok_or("a WebSocket on /status")?;
    assert!(err.to_string().contains("403"), "{err}");
    Ok(())
}

/// Shutdown reaches a WebSocket on an HTTP/2 stream as over HTTP/1.1: close 1001.
#[tokio::test]
async fn a_shutdown_closes_a_websocket_over_h2_with_1001() -> TestResult {
    let app = spawn_app(true).await;
    let mut ws = app
        .ws_with("/ws/stream", &WsOptions::default().over_http2())
        .await?;
    let Received::Message(_) = tokio::time::timeout(READ_TIMEOUT, ws.recv()).await?? else {
        return Err("no first update".into());
    };
    let stopping = tokio::spawn(app.stop());
    let close = loop {
        match tokio::time::timeout(READ_TIMEOUT, ws.recv()).await?? {
            Received::Message(_) => {}
            Received::Closed(close) => break close,
        }
    };
    assert_eq!(close.code, Some(CloseCode::GOING_AWAY));
    tokio::time::timeout(READ_TIMEOUT, stopping).await???;
    Ok(())
}

/// The raw echo has no text head to show over HTTP/2: a 501 that says so, not a 500.
#[tokio::test]
async fn the_raw_echo_over_h2_says_it_shows_http_1_heads_only() -> TestResult {
    let app = spawn_app(false).await;
    let (mut sender, _connection) = h2_connect(&app).await?;
    let (status, _, body) = h2_request(&app, &mut sender, "GET", "/echo/raw", &[], b"").await?;
    assert_eq!(status, 501);
    assert!(String::from_utf8(body)?.contains("over HTTP/2 there is no text head"));
    Ok(())
}

/// `duplex client --http2` speaks HTTP/2 where the server chooses it and falls back to HTTP/1.1
/// by ALPN where it does not.
#[tokio::test]
async fn the_library_client_over_http2_falls_back_to_http_1_1_by_alpn() -> TestResult {
    use duplex::client::http::Outgoing;
    for args in [&[][..], &["--no-http2"]] {
        let app = spawn_app_with(true, args).await;
        let response = app.send("/items/1", Outgoing::get().over_http2()).await?;
        assert_eq!(response.status, 200, "{args:?}");
        assert_eq!(
            &response.body[..],
            br#"{"item_id":1,"name":"The One Item"}"#
        );
    }
    Ok(())
}

// --- The trace and diagnoses of HTTP/2 frames ----------------------------------------------------

/// One raw HTTP/2 frame (RFC 9113 §4.1).
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes();
    let mut bytes = vec![len[1], len[2], len[3], kind, flags];
    bytes.extend_from_slice(&stream.to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// `GET /status` for `localhost` in HPACK without the dynamic table or Huffman coding:
/// `:method: GET`, `:scheme: http`, `:path: /` (indexed, RFC 7541 Appendix A), then `:path`
/// and `:authority` as literals without indexing.
fn get_status_block(extra: &[u8]) -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x04, 7];
    block.extend_from_slice(b"/status");
    block.extend_from_slice(&[0x01, 9]);
    block.extend_from_slice(b"localhost");
    block.extend_from_slice(extra);
    block
}

/// Opens h2c with prior knowledge and an empty SETTINGS frame, and sends `frames`.
async fn open_h2c(app: &TestApp, frames: &[u8]) -> std::io::Result<TcpStream> {
    let mut tcp = TcpStream::connect(app.addr).await?;
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    bytes.extend(frame(0x4, 0, 0, &[]));
    bytes.extend_from_slice(frames);
    tcp.write_all(&bytes).await?;
    Ok(tcp)
}

/// [`open_h2c`], then reads what the server sends until it closes.
async fn raw_h2c(app: &TestApp, frames: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut tcp = open_h2c(app, frames).await?;
    let mut received = Vec::new();
    tokio::time::timeout(READ_TIMEOUT, tcp.read_to_end(&mut received)).await??;
    Ok(received)
}

#[tokio::test]
async fn the_trace_shows_h2_frames_with_decoded_headers_both_ways() -> TestResult {
    let app = spawn_app_with(true, &["--trace"]).await;
    let (mut sender, _connection) = h2_connect(&app).await?;
    h2_request(
        &app,
        &mut sender,
        "GET",
        "/items/1",
        &[("x-trace", "yes")],
        b"",
    )
    .await?;
    logged(
        &app,
        "> connection preface \"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\"",
    )
    .await?;
    logged(&app, "> frame SETTINGS stream=0 len=").await?;
    let settings = logged(&app, "< frame SETTINGS stream=0 len=").await?;
    assert!(
        settings.contains("MAX_CONCURRENT_STREAMS=100")
            && settings.contains("ENABLE_CONNECT_PROTOCOL=1"),
        "{settings}"
    );
    let request = logged(&app, "> frame HEADERS stream=1 ").await?;
    for field in [
        "[:method: GET]",
        "[:path: /items/1]",
        "[:authority: localhost]",
        "[x-trace: yes]",
    ] {
        assert!(request.contains(field), "{field} in {request}");
    }
    let response = logged(&app, "< frame HEADERS stream=1 ").await?;
    assert!(
        response.contains("flags=END_HEADERS [:status: 200]")
            && response.contains("[content-type: application/json]"),
        "{response}"
    );
    logged(
        &app,
        "< frame DATA stream=1 len=35 flags=END_STREAM data=35 B",
    )
    .await?;
    Ok(())
}

/// A frame over SETTINGS_MAX_FRAME_SIZE: GOAWAY FRAME_SIZE_ERROR, and a diagnosis with the rule;
/// with the trace on, the diagnosis names the frame itself.
#[tokio::test]
async fn a_frame_too_large_gets_goaway_and_a_diagnosis() -> TestResult {
    for trace in [false, true] {
        let args: &[&str] = if trace { &["--trace"] } else { &[] };
        let app = spawn_app_with(false, args).await;
        let big = frame(0x1, 0x5, 1, &vec![0x82; 16_385]);
        let received = raw_h2c(&app, &big).await?;
        // The GOAWAY (type 7) is among the last frames sent, with FRAME_SIZE_ERROR (6).
        assert!(
            received
                .windows(5)
                .any(|w| w[3] == 7 && w[0..3] == [0, 0, 8]),
            "no GOAWAY in {received:?}"
        );
        let line = logged(&app, "GOAWAY FRAME_SIZE_ERROR: ").await?;
        assert!(line.contains("RFC 9113 §4.2"), "{line}");
        if trace {
            assert!(
                line.contains("a HEADERS frame of 16385 bytes, over the 16384 bytes"),
                "{line}"
            );
        }
    }
    Ok(())
}

/// Rapid reset (CVE-2023-44487): streams opened and reset at once, over the cap.
#[tokio::test]
async fn rapid_resets_get_goaway_enhance_your_calm_and_a_diagnosis() -> TestResult {
    for trace in [false, true] {
        let mut args = vec!["--h2-max-pending-resets", "5"];
        if trace {
            args.push("--trace");
        }
        let app = spawn_app_with(false, &args).await;
        let mut frames = Vec::new();
        for stream in (1..200).step_by(2) {
            frames.extend(frame(0x1, 0x5, stream, &get_status_block(&[])));
            frames.extend(frame(0x3, 0, stream, &8u32.to_be_bytes()));
        }
        raw_h2c(&app, &frames).await?;
        let line = logged(&app, "GOAWAY ENHANCE_YOUR_CALM: ").await?;
        assert!(
            line.contains("rapid reset") && line.contains("--h2-max-pending-resets"),
            "{line}"
        );
        // The trace saw the GOAWAY's debug data: the diagnosis names that one limit.
        assert_eq!(
            line.contains("the client reset too many streams before the server could answer"),
            trace,
            "{line}"
        );
    }
    Ok(())
}

/// A stream error (a connection-specific field, RFC 9113 §8.2.2) is answered with RST_STREAM
/// only; the trace sees it and the diagnosis says what it means.
#[tokio::test]
async fn a_malformed_request_gets_rst_stream_and_a_diagnosis_when_tracing() -> TestResult {
    let app = spawn_app_with(false, &["--trace"]).await;
    let mut frames = frame(
        0x1,
        0x5,
        1,
        &get_status_block(b"\x00\x0aconnection\x05close"),
    );
    frames.extend(frame(0x7, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 0]));
    raw_h2c(&app, &frames).await?;
    logged(
        &app,
        "< frame RST_STREAM stream=1 len=4 error=PROTOCOL_ERROR",
    )
    .await?;
    let line = logged(&app, "RST_STREAM PROTOCOL_ERROR: stream 1: ").await?;
    assert!(
        line.starts_with("WARNING:")
            && line.contains("the connection-specific field \"connection: close\"")
            && line.contains("RFC 9113 §8.2.2"),
        "{line}"
    );
    Ok(())
}

// --- The header timeout over HTTP/2 --------------------------------------------------------------

/// A HEADERS frame without END_HEADERS, after a first request was answered: nothing follows,
/// and the connection is closed at `--header-timeout`, well before the keep-alive timeout.
#[tokio::test]
async fn an_unfinished_header_block_is_closed_at_the_header_timeout() -> TestResult {
    let app = spawn_app_with(
        false,
        &["--header-timeout", "1", "--keep-alive-timeout", "30"],
    )
    .await;
    let mut frames = frame(0x1, 0x5, 1, &get_status_block(&[]));
    frames.extend(frame(0x1, 0x1, 3, &get_status_block(&[])[..3]));
    let started = std::time::Instant::now();
    let mut tcp = open_h2c(&app, &frames).await?;
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut received))
        .await
        .map_err(|_| "the unfinished header block was never cut off")??;
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(800)..Duration::from_secs(3)).contains(&waited),
        "closed after {waited:?}"
    );
    let line = logged(
        &app,
        "closed: the client began a header block (HEADERS on stream 3)",
    )
    .await?;
    assert!(line.contains("RFC 9113 §6.10"), "{line}");
    // The first request was answered: its HEADERS (type 1) came back on stream 1.
    assert!(
        received
            .windows(9)
            .any(|w| w[3] == 1 && w[5..9] == [0, 0, 0, 1]),
        "no answer on stream 1 in {received:?}"
    );
    Ok(())
}

/// A client that opens HTTP/2 and only pings never gets a request in: closed at
/// `--header-timeout`, although it is never silent long enough for the keep-alive timeout.
#[tokio::test]
async fn an_h2_connection_without_a_request_is_closed_at_the_header_timeout() -> TestResult {
    let app = spawn_app_with(false, &["--header-timeout", "1"]).await;
    let started = std::time::Instant::now();
    let tcp = open_h2c(&app, &[]).await?;
    let (mut reader, mut writer) = tokio::io::split(tcp);
    let pinging = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(&frame(0x6, 0, 0, &[7; 8])).await.is_err() {
                break;
            }
        }
    });
    let mut received = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut received)).await;
    pinging.abort();
    read.map_err(|_| "the connection without a request was never closed")?
        .ok();
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(800)..Duration::from_secs(3)).contains(&waited),
        "closed after {waited:?}"
    );
    logged(
        &app,
        "closed: the client sent no complete request within 1s of opening the HTTP/2",
    )
    .await?;
    Ok(())
}

/// The header timeout is for header blocks, not for a kept-alive connection between requests.
#[tokio::test]
async fn an_idle_h2_connection_after_a_request_outlives_the_header_timeout() -> TestResult {
    let app = spawn_app_with(false, &["--header-timeout", "1"]).await;
    let (mut sender, _connection) = h2_connect(&app).await?;
    h2_request(&app, &mut sender, "GET", "/status", &[], b"").await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _, _) = h2_request(&app, &mut sender, "GET", "/status", &[], b"").await?;
    assert_eq!(status, 200);
    assert_not_logged(&app, "--header-timeout");
    Ok(())
}

/// An upper-case field name (RFC 9113 §8.2.1): h2 ends the connection with GOAWAY
/// PROTOCOL_ERROR; with the trace on, the diagnosis names the field.
#[tokio::test]
async fn an_upper_case_field_name_is_named_in_the_diagnosis_when_tracing() -> TestResult {
    let app = spawn_app_with(false, &["--trace"]).await;
    let frames = frame(0x1, 0x5, 1, &get_status_block(b"\x00\x05X-Bad\x01y"));
    raw_h2c(&app, &frames).await?;
    let line = logged(&app, "GOAWAY PROTOCOL_ERROR: ").await?;
    assert!(
        line.contains("the field name \"X-Bad\" has upper-case letters")
            && line.contains("RFC 9113 §8.2.1"),
        "{line}"
    );
    Ok(())
}

/// The inspector's feed carries the same frame events (`frame_in`, `frame_out`), without
/// `--trace`.
#[tokio::test]
async fn the_inspector_feed_gets_the_h2_frames() -> TestResult {
    let app = spawn_app_with(false, &["--inspect"]).await;
    let (mut sender, _connection) = h2_connect(&app).await?;
    h2_request(&app, &mut sender, "GET", "/status", &[], b"").await?;
    let events = app.get("/_duplex/events.json").await?;
    let events: Vec<serde_json::Value> = serde_json::from_str(&events.text())?;
    let traced = |kind: &str, start: &str| {
        events.iter().any(|event| {
            event["kind"] == kind
                && event["trace"]
                    .as_str()
                    .is_some_and(|trace| trace.starts_with(start))
        })
    };
    assert!(
        traced("frame_in", "> frame HEADERS stream=1 ")
            && traced("frame_out", "< frame DATA stream=1 "),
        "{events:?}"
    );
    Ok(())
}

/// A preface that starts right and goes wrong (RFC 9113 §3.4): h2 closes the connection
/// without GOAWAY, and the diagnosis quotes what came instead.
#[tokio::test]
async fn a_bad_preface_is_diagnosed_with_the_bytes_sent() -> TestResult {
    let app = spawn_app(false).await;
    let mut tcp = TcpStream::connect(app.addr).await?;
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n").await?;
    let mut received = Vec::new();
    tokio::time::timeout(READ_TIMEOUT, tcp.read_to_end(&mut received)).await??;
    // The server's own preface, one SETTINGS frame (type 4), and nothing after it.
    let len = u32::from_be_bytes([0, received[0], received[1], received[2]]) as usize;
    assert_eq!((received[3], received.len()), (4, 9 + len), "{received:?}");
    let line = logged(&app, "closed: the client's first bytes are not the HTTP/2").await?;
    assert!(
        line.contains("(RFC 9113 §3.4): \"PRI * HTTP/2.0\\r\\n\\r\\nXX\\r\\n\\r\\n\""),
        "{line}"
    );
    Ok(())
}

/// The classic mistake: h2 chosen by ALPN, then HTTP/1.1 sent. The diagnosis shows the first
/// 24 bytes (the preface's length) where the preface should be, and says what they are.
#[tokio::test]
async fn http_1_1_after_choosing_h2_by_alpn_is_diagnosed() -> TestResult {
    let app = spawn_app(true).await;
    let mut config = (*app.client_tls().ok_or("the app serves TLS")?).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(app.addr).await?;
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    tls.write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut received = Vec::new();
    // The server closes (a TLS close_notify or a plain EOF): either ends the read.
    let _ = tokio::time::timeout(READ_TIMEOUT, tls.read_to_end(&mut received)).await?;
    let line = logged(&app, "closed: the client's first bytes are not the HTTP/2").await?;
    assert!(
        line.contains("(RFC 9113 §3.4): \"GET /status HTTP/1.1\\r\\nHo\", an HTTP/1.1 request")
            && line.ends_with("(RFC 9113 §3.2, §3.3)"),
        "{line}"
    );
    Ok(())
}
