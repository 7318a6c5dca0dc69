//! Every configurable limit, as a client meets it over a real socket: the offending client gets
//! the documented status or close code, and a well-behaved client on another connection is
//! served normally at the same time.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{RawResponse, TestApp, TestResult, read_responses, spawn_app, spawn_app_with};
use crate::observe::{assert_not_logged, logged};
use crate::ws_client::WsClient;

/// `GET /status` with `count` header lines in all (Host and Connection included).
fn status_with_headers(count: usize) -> Vec<(String, String)> {
    (0..count.saturating_sub(2))
        .map(|i| (format!("X-Extra-{i}"), "v".to_owned()))
        .collect()
}

async fn status_code(app: &TestApp, header_lines: usize) -> std::io::Result<u16> {
    let headers = status_with_headers(header_lines);
    let borrowed: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    Ok(app.request("GET", "/status", &borrowed, b"").await?.status)
}

/// Another client, on its own connection, gets its answer as usual.
async fn assert_others_are_served(app: &TestApp) -> TestResult {
    let response = app.get("/status").await?;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), r#"{"status":"ok"}"#);
    Ok(())
}

/// Reads until the server closes the connection (EOF or reset); how long that took.
async fn time_to_close<R: AsyncRead + Unpin + ?Sized>(io: &mut R, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut sink = [0u8; 4096];
    let read_all = async { while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {} };
    if tokio::time::timeout(limit, read_all).await.is_err() {
        panic!("still open after {limit:?}");
    }
    started.elapsed()
}

const KEEP_ALIVE_REQUEST: &[u8] = b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// One keep-alive `GET /status` on an open connection.
async fn keep_alive_status<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + ?Sized>(
    io: &mut S,
) -> std::io::Result<RawResponse> {
    io.write_all(KEEP_ALIVE_REQUEST).await?;
    let mut responses = read_responses(io, 1, false).await?;
    responses
        .pop()
        .ok_or_else(|| std::io::Error::other("no response"))
}

/// The default leaves room for the 200 header lines the original accepts; `--max-headers`
/// lowers it (100 is hyper's fast path), and one line more gets 431.
#[tokio::test]
async fn max_headers_is_the_default_256_or_the_configured_count() -> TestResult {
    let default = spawn_app(false).await;
    assert_eq!(status_code(&default, 200).await?, 200);
    assert_eq!(status_code(&default, 256).await?, 200);
    assert_eq!(status_code(&default, 257).await?, 431);

    let fast = spawn_app_with(false, &["--max-headers", "100"]).await;
    assert_eq!(status_code(&fast, 100).await?, 200);
    assert_eq!(status_code(&fast, 101).await?, 431);
    // Other connections are served as usual.
    assert_eq!(status_code(&fast, 2).await?, 200);

    let strict = spawn_app_with(false, &["--max-headers", "10"]).await;
    assert_eq!(status_code(&strict, 10).await?, 200);
    assert_eq!(status_code(&strict, 11).await?, 431);
    Ok(())
}

/// A keep-alive `GET /status` head with `fields` header fields (Host first).
fn status_head(fields: usize) -> String {
    let mut head = "GET /status HTTP/1.1\r\nHost: x\r\n".to_owned();
    for i in 1..fields {
        head.push_str(&format!("X-Extra-{i}: v\r\n"));
    }
    head.push_str("\r\n");
    head
}

fn statuses(responses: &[RawResponse]) -> Vec<u16> {
    responses.iter().map(|response| response.status).collect()
}

/// Bytes the server has read from clients so far, by its `--trace` lines ("read N bytes").
fn bytes_read(app: &TestApp) -> usize {
    app.log
        .lines()
        .iter()
        .filter_map(|line| {
            let (_, after) = line.split_once(" read ")?;
            after.strip_suffix(" bytes")?.parse::<usize>().ok()
        })
        .sum()
}

/// Waits until the server has read `total` bytes in all (see [`bytes_read`]): what the client
/// sends next comes in a later read.
async fn wait_until_read(app: &TestApp, total: usize) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(10);
    while bytes_read(app) < total {
        if Instant::now() >= deadline {
            return Err(format!("the server read {} of {total} bytes", bytes_read(app)).into());
        }
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// A connection starts with hyper's inline parser (100 fields) and moves to the one sized for
/// `--max-headers` at the first head that needs it. Pipelined behind a request with a body
/// and a streamed file, the long head waits for their answers: every response comes whole and
/// in order, before and after the move.
#[tokio::test]
async fn long_heads_pipelined_behind_other_requests_are_answered_in_order() -> TestResult {
    let app = spawn_app_with(false, &["--trace"]).await;
    // Past what is read whole: streamed from the file.
    let big = vec![b'x'; 300 * 1024];
    std::fs::write(app.data_file(), &big)?;
    let post = "POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 12\r\n\r\n{\"name\":\"x\"}";
    let raw = [
        status_head(1),
        post.to_owned(),
        "GET /static/data.txt HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
        status_head(150),
        status_head(2),
        status_head(256),
        status_head(257),
    ]
    .concat();
    let responses = app.exchange(raw.as_bytes(), 8).await?;
    assert_eq!(statuses(&responses), [200, 201, 200, 200, 200, 200, 431]);
    assert_eq!(responses[2].body.len(), big.len());
    assert_eq!(responses[3].text(), r#"{"status":"ok"}"#);
    logged(
        &app,
        "the parser sized for --max-headers (256) takes the connection over",
    )
    .await?;
    Ok(())
}

/// A body no handler read is not a request, even when it looks like one and a long head
/// follows it: hyper drains it (or closes the connection) before the long head is parsed.
#[tokio::test]
async fn an_unread_body_before_a_long_head_is_never_parsed_as_a_request() -> TestResult {
    let app = spawn_app(false).await;
    std::fs::write(app.data_file(), b"hello")?;
    let body = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    for expect in ["", "Expect: 100-continue\r\n"] {
        let raw = format!(
            "GET /static/data.txt HTTP/1.1\r\nHost: x\r\n{expect}Content-Length: {}\r\n\r\n\
             {body}{}",
            body.len(),
            status_head(150),
        );
        let responses = app.exchange(raw.as_bytes(), 2).await?;
        assert_eq!(statuses(&responses), [200, 200], "{expect:?}");
        assert_eq!(responses[1].text(), r#"{"status":"ok"}"#);
    }
    assert_not_logged(&app, "/smuggled");
    Ok(())
}

/// A long head near `--max-head`, of which hyper already had 100 fields, followed at once by a
/// large body: the head is still whole when it is parsed, and everything after it is answered.
#[tokio::test]
async fn a_long_head_followed_by_much_more_is_answered_whole() -> TestResult {
    // The trace counts what the server has read.
    let app = spawn_app_with(false, &["--trace"]).await;
    let mut head = "GET /status HTTP/1.1\r\nHost: x\r\n".to_owned();
    for i in 1..150 {
        head.push_str(&format!("X-Extra-{i}: {}\r\n", "v".repeat(90)));
    }
    head.push_str("\r\n");
    assert!(head.len() > 15_000 && head.len() < 16 * 1024);
    let split = head
        .match_indices('\n')
        .nth(100)
        .map_or(0, |(at, _)| at + 1);
    for big in [40_000, 60_000] {
        let rest = format!(
            "{}POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {big}\r\n\r\n{}{}",
            &head[split..],
            "x".repeat(big),
            status_head(2)
        );
        let before = bytes_read(&app);
        let mut io = app.connect().await?;
        io.write_all(&head.as_bytes()[..split]).await?;
        io.flush().await?;
        wait_until_read(&app, before + split).await?;
        io.write_all(rest.as_bytes()).await?;
        let responses = read_responses(&mut io, 3, false).await?;
        assert_eq!(statuses(&responses), [200, 422, 200], "a {big}-byte body");
    }
    Ok(())
}

/// Short heads never move a connection; a long one arriving in pieces, part of it already
/// with hyper when the rest shows it long, is answered; so is one whose client then closes
/// its side.
#[tokio::test]
async fn long_heads_in_pieces_or_before_a_half_close_are_answered() -> TestResult {
    let app = spawn_app_with(false, &["--trace"]).await;
    let raw = [status_head(100), status_head(2)].concat();
    assert_eq!(
        statuses(&app.exchange(raw.as_bytes(), 2).await?),
        [200, 200]
    );
    assert_not_logged(&app, "takes the connection over");

    let head = status_head(200);
    // The request line and 100 fields: all hyper's inline parser may see of it.
    let split = head
        .match_indices('\n')
        .nth(100)
        .map_or(0, |(at, _)| at + 1);
    let before = bytes_read(&app);
    let mut io = app.connect().await?;
    io.write_all(&head.as_bytes()[..split]).await?;
    io.flush().await?;
    wait_until_read(&app, before + split).await?;
    for piece in head.as_bytes()[split..].chunks(7) {
        io.write_all(piece).await?;
        io.flush().await?;
    }
    let mut answered = read_responses(&mut io, 1, false).await?;
    answered.extend(keep_alive_status(&mut io).await);
    assert_eq!(statuses(&answered), [200, 200]);

    let mut io = app.connect().await?;
    io.write_all(status_head(120).as_bytes()).await?;
    io.shutdown().await?;
    let answered = read_responses(&mut io, 2, false).await?;
    assert_eq!(statuses(&answered), [200], "answered, then closed");
    Ok(())
}

/// `--max-head`: the request line and headers together; 16 KiB by default (the golden replay
/// covers it), lowered here to 8 KiB.
#[tokio::test]
async fn heads_over_max_head_get_431() -> TestResult {
    let app = spawn_app_with(false, &["--max-head", "8192"]).await;
    let value = |len| "a".repeat(len);
    let small = app
        .request("GET", "/status", &[("X-Big", &value(7000))], b"")
        .await?;
    assert_eq!(small.status, 200);
    let big = app
        .request("GET", "/status", &[("X-Big", &value(9000))], b"")
        .await?;
    assert_eq!(big.status, 431);
    assert_eq!(big.header("connection"), Some("close"));
    assert_others_are_served(&app).await
}

/// `{"name":"nnn…"}`, exactly `len` bytes long.
fn json_of_len(len: usize) -> Vec<u8> {
    let mut body = br#"{"name":""#.to_vec();
    body.resize(len - 2, b'n');
    body.extend_from_slice(br#""}"#);
    body
}

/// A body of exactly the limit is accepted, one byte more gets 413 with a FastAPI-style detail,
/// declared or chunked, and the connection closes.
#[tokio::test]
async fn bodies_over_max_body_get_413_and_close() -> TestResult {
    let app = spawn_app_with(false, &["--max-body", "1048576"]).await;
    let json = [("Content-Type", "application/json")];
    let at_limit = app
        .request("POST", "/items", &json, &json_of_len(1 << 20))
        .await?;
    assert_eq!(at_limit.status, 201);
    let over = app
        .request("POST", "/items", &json, &json_of_len((1 << 20) + 1))
        .await?;
    assert_eq!(over.status, 413);
    assert_eq!(
        over.text(),
        r#"{"detail":"Request body is larger than the limit of 1048576 bytes"}"#
    );
    assert_eq!(over.header("connection"), Some("close"));

    // Chunked, with no length declared up front: refused once the limit is passed.
    let small = spawn_app_with(false, &["--max-body", "100"]).await;
    let mut io = small.connect().await?;
    io.write_all(
        b"POST /items HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\n40\r\n",
    )
    .await?;
    io.write_all(&[b' '; 0x40]).await?;
    io.write_all(b"\r\n40\r\n").await?;
    io.write_all(&[b' '; 0x40]).await?;
    io.write_all(b"\r\n").await?;
    let responses = read_responses(&mut io, 1, false).await?;
    let response = responses.first().ok_or("no response")?;
    assert_eq!(response.status, 413);
    assert_eq!(
        response.text(),
        r#"{"detail":"Request body is larger than the limit of 100 bytes"}"#
    );
    assert_others_are_served(&small).await
}

/// A body that stops short of its `content-length` gets 408 when `--body-timeout` runs out (the
/// original waits forever), while other clients are served.
#[tokio::test]
async fn slow_bodies_get_408_at_the_body_timeout() -> TestResult {
    let app = spawn_app_with(false, &["--body-timeout", "1"]).await;
    let mut io = app.connect().await?;
    let started = Instant::now();
    io.write_all(
        b"POST /items HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 50\r\n\r\n{\"name\":\"x\"}",
    )
    .await?;
    assert_others_are_served(&app).await?;
    let responses = read_responses(&mut io, 1, false).await?;
    let waited = started.elapsed();
    let response = responses.first().ok_or("no response")?;
    assert_eq!(response.status, 408);
    assert_eq!(
        response.text(),
        r#"{"detail":"Request body not received within 1 s"}"#
    );
    assert_eq!(response.header("connection"), Some("close"));
    assert!(
        waited >= Duration::from_millis(900),
        "answered after {waited:?}"
    );
    time_to_close(&mut io, Duration::from_secs(5)).await;
    Ok(())
}

/// Slowloris: a head that trickles in is cut off `--header-timeout` after the connection
/// opened, even though bytes keep coming.
#[tokio::test]
async fn slow_heads_are_closed_at_the_header_timeout() -> TestResult {
    let app = spawn_app_with(false, &["--header-timeout", "1"]).await;
    let mut io = app.connect().await?;
    io.write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\n")
        .await?;
    let started = Instant::now();
    let (mut reader, mut writer) = tokio::io::split(io);
    let trickle = tokio::spawn(async move {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer
                .write_all(format!("X-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    });
    assert_others_are_served(&app).await?;
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut seen))
        .await
        .map_err(|_| "the slow head was never cut off")?
        .ok();
    trickle.abort();
    let waited = started.elapsed();
    assert!(seen.is_empty(), "unexpected answer {seen:?}");
    assert!(
        (Duration::from_millis(800)..Duration::from_secs(4)).contains(&waited),
        "closed after {waited:?}"
    );
    Ok(())
}

/// The header timeout counts from a head's first byte: a kept-alive connection may wait
/// between requests for as long as `--keep-alive-timeout` allows, even past `--header-timeout`.
#[tokio::test]
async fn an_idle_keep_alive_outlives_a_shorter_header_timeout() -> TestResult {
    let app = spawn_app_with(
        false,
        &["--header-timeout", "1", "--keep-alive-timeout", "30"],
    )
    .await;
    let mut io = app.connect().await?;
    assert_eq!(keep_alive_status(&mut io).await?.status, 200);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(keep_alive_status(&mut io).await?.status, 200);
    assert_not_logged(&app, "--header-timeout");
    Ok(())
}

/// A client that opens a connection (TLS included) and sends nothing is closed at
/// `--header-timeout`, even when `--keep-alive-timeout` is longer: it never had a request.
#[tokio::test]
async fn a_silent_new_connection_is_closed_at_the_header_timeout() -> TestResult {
    let app = spawn_app_with(
        true,
        &["--header-timeout", "1", "--keep-alive-timeout", "30"],
    )
    .await;
    let mut io = app.connect().await?;
    let waited = time_to_close(&mut io, Duration::from_secs(5)).await;
    assert!(
        (Duration::from_millis(800)..Duration::from_secs(4)).contains(&waited),
        "closed after {waited:?}"
    );
    logged(&app, "the request head was not complete within 1s").await?;
    Ok(())
}

/// A connection silent for `--keep-alive-timeout` between requests is closed (5 s by default,
/// as the original; the golden replay's idle probe checks that). One that keeps sending
/// requests stays open, and so does one whose request is being answered.
#[tokio::test]
async fn idle_connections_close_after_the_keep_alive_timeout() -> TestResult {
    let app = spawn_app_with(false, &["--keep-alive-timeout", "1"]).await;

    let mut idle = app.connect().await?;
    assert_eq!(keep_alive_status(&mut idle).await?.status, 200);
    let waited = time_to_close(&mut idle, Duration::from_secs(5)).await;
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}"
    );

    // A connection that never sends anything is idle too.
    let mut silent = app.connect().await?;
    let waited = time_to_close(&mut silent, Duration::from_secs(5)).await;
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}"
    );

    // Requests every 400 ms for 2.4 s: never silent for 1 s, never closed.
    let mut busy = app.connect().await?;
    for _ in 0..6 {
        assert_eq!(keep_alive_status(&mut busy).await?.status, 200);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(keep_alive_status(&mut busy).await?.status, 200);
    Ok(())
}

/// The TLS handshake runs in the connection's task with `--tls-handshake-timeout`: clients that
/// connect and say nothing are closed after it, and never hold up the others.
#[tokio::test]
async fn silent_tls_clients_are_closed_at_the_handshake_timeout() -> TestResult {
    let app = spawn_app_with(true, &["--tls-handshake-timeout", "2"]).await;
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(TcpStream::connect(app.addr).await?);
    }
    let started = Instant::now();
    // A real client completes its handshake and request while all 50 wait.
    assert_others_are_served(&app).await?;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "served only after the silent clients were dropped"
    );
    for stream in &mut silent {
        time_to_close(stream, Duration::from_secs(6)).await;
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1800),
        "closed after {waited:?}"
    );
    assert_others_are_served(&app).await
}

/// `--max-connections`: past the cap a plain-HTTP client gets a 503 that says why and is
/// closed; the connections already open (HTTP and WebSocket) are served; a place freed is
/// taken again.
#[tokio::test]
async fn connections_over_the_cap_get_503_and_the_others_are_served() -> TestResult {
    let app = spawn_app_with(false, &["--max-connections", "2"]).await;
    let mut http = app.connect().await?;
    assert_eq!(keep_alive_status(&mut http).await?.status, 200);
    // An upgraded WebSocket keeps its place after leaving HTTP.
    let mut ws = WsClient::connect(&app, "/ws/echo").await;
    ws.send_text("still here").await;
    assert_eq!(ws.recv_text().await, "Echo: still here");

    let refused = app.get("/status").await?;
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.text(),
        r#"{"detail":"The server is at its connection limit; try again shortly"}"#
    );
    assert_eq!(refused.header("connection"), Some("close"));
    assert_eq!(refused.header("retry-after"), Some("1"));

    // The two admitted connections carry on.
    assert_eq!(keep_alive_status(&mut http).await?.status, 200);
    ws.send_text("and here").await;
    assert_eq!(ws.recv_text().await, "Echo: and here");

    // Closing the WebSocket frees its place for the next client.
    ws.send_close(1000, "").await;
    assert_eq!(ws.expect_close().await.0, 1000);
    drop(ws);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = app.get("/status").await?.status;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "the place was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Over TLS the connection past the cap is closed before the handshake, whose cost is what the
/// cap protects.
#[tokio::test]
async fn tls_connections_over_the_cap_are_closed_before_the_handshake() -> TestResult {
    let app = spawn_app_with(true, &["--max-connections", "1"]).await;
    let mut admitted = app.connect().await?;
    assert_eq!(keep_alive_status(&mut admitted).await?.status, 200);
    assert!(
        app.connect().await.is_err(),
        "a second TLS handshake completed"
    );
    assert_eq!(keep_alive_status(&mut admitted).await?.status, 200);
    Ok(())
}

/// `--ws-max-message` counts a message's fragments together and refuses a frame by its
/// declared length, before its payload arrives: close 1009. Other sessions carry on.
#[tokio::test]
async fn websocket_messages_over_the_limit_close_with_1009() -> TestResult {
    let app = spawn_app_with(false, &["--ws-max-message", "1024"]).await;
    let mut other = WsClient::connect(&app, "/ws/echo").await;

    let mut fragmented = WsClient::connect(&app, "/ws/echo").await;
    fragmented.send_frame(0x01, &[b'a'; 600]).await;
    fragmented.send_frame(0x80, &[b'a'; 600]).await;
    let (code, _) = fragmented.expect_close().await;
    assert_eq!(code, 1009);

    // A header announcing 2^40 bytes, and nothing after it.
    let mut huge = WsClient::connect(&app, "/ws/echo").await;
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    huge.send_raw(&header).await;
    let (code, reason) = huge.expect_close().await;
    assert_eq!(code, 1009, "{reason}");

    other.send_text("unaffected").await;
    assert_eq!(other.recv_text().await, "Echo: unaffected");
    Ok(())
}

/// `--shutdown-timeout`: a request that will not finish (its body never comes) does not hold the
/// server past the deadline.
#[tokio::test]
async fn shutdown_gives_up_on_stuck_requests_at_the_deadline() -> TestResult {
    let app = spawn_app_with(
        false,
        &[
            "--shutdown-timeout",
            "1",
            "--body-timeout",
            "60",
            "--keep-alive-timeout",
            "60",
        ],
    )
    .await;
    let mut stuck = app.connect().await?;
    stuck
        .write_all(b"POST /items HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50\r\n\r\n{")
        .await?;
    assert_others_are_served(&app).await?;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .map_err(|_| "the server waited for the stuck request past its deadline")??;
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(5)).contains(&waited),
        "stopped after {waited:?}"
    );
    Ok(())
}

/// `--ws-send-timeout`: a client that sends to /ws/echo but never reads fills the socket
/// buffers until the server's echo blocks; after the timeout the server drops it (no close
/// frame can get through) and its session ends instead of waiting forever.
#[tokio::test]
async fn websocket_clients_that_stop_reading_are_dropped_at_the_send_timeout() -> TestResult {
    let app = spawn_app_with(false, &["--ws-send-timeout", "1"]).await;
    let ws = WsClient::connect(&app, "/ws/echo").await;
    let (_reader, mut writer) = tokio::io::split(ws.into_io());
    let message = WsClient::frame_bytes(0x82, &[0; 60 * 1024]);
    let flood = tokio::spawn(async move {
        // Until the server stops reading (its echo is blocked), then until it drops us.
        while writer.write_all(&message).await.is_ok() {}
    });
    assert_others_are_served(&app).await?;
    tokio::time::timeout(Duration::from_secs(10), flood)
        .await
        .map_err(|_| "the server kept the client that does not read")??;
    let mut other = WsClient::connect(&app, "/ws/echo").await;
    other.send_text("unaffected").await;
    assert_eq!(other.recv_text().await, "Echo: unaffected");
    Ok(())
}

/// 16 MiB by default (every body the captures send the original fits): a declared length one
/// byte over is refused at once, before any of the body is sent.
#[tokio::test]
async fn the_default_body_limit_is_16_mib() -> TestResult {
    let app = spawn_app(false).await;
    let mut io = app.connect().await?;
    io.write_all(
        b"POST /items HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 16777217\r\n\r\n",
    )
    .await?;
    let over = read_responses(&mut io, 1, false).await?;
    let over = over.first().ok_or("no response")?;
    assert_eq!(over.status, 413);
    assert_eq!(
        over.text(),
        r#"{"detail":"Request body is larger than the limit of 16777216 bytes"}"#
    );
    Ok(())
}

/// Bodies held at once share `--max-body-memory`: while one upload holds most of it, another
/// that does not fit gets 503 with `retry-after` at once; the room comes back when the first is
/// done.
#[tokio::test]
async fn uploads_beyond_the_body_memory_get_503_until_room_is_back() -> TestResult {
    let app = spawn_app_with(
        false,
        &["--max-body", "65536", "--max-body-memory", "65536"],
    )
    .await;
    let head = |length: usize| {
        format!(
            "POST /items HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\n\r\n"
        )
    };
    // 60,000 bytes declared, all but 10 sent: the upload holds their share while the rest is
    // awaited.
    let mut holding = app.connect().await?;
    holding.write_all(head(60_000).as_bytes()).await?;
    holding.write_all(&json_of_len(60_000)[..59_990]).await?;
    let small = json_of_len(10_000);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let post = || {
        app.request(
            "POST",
            "/items",
            &[("Content-Type", "application/json")],
            &small,
        )
    };
    let refused = post().await?;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.header("connection"), Some("close"));
    assert_eq!(
        refused.text(),
        r#"{"detail":"The server is buffering 65536 bytes of request bodies, its limit; try again shortly"}"#
    );

    holding.write_all(&json_of_len(60_000)[59_990..]).await?;
    let done = read_responses(&mut holding, 1, false).await?;
    assert_eq!(done.first().map(|r| r.status), Some(201));
    let served = post().await?;
    assert_eq!(served.status, 201);
    Ok(())
}
