//! The live inspector (`--inspect`) over real sockets: the page, the event stream it reads
//! (the same JSON events as `--log-format json`, wire trace included), the recent events as
//! JSON, and who may open it.

use std::time::Duration;

use crate::helpers::{TestResult, spawn_app, spawn_app_with};
use duplex::client::ws::{Connection, Received};
use duplex::protocol::ws::{CloseCode, Message};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(5);

/// The next batch of events from the inspector's stream.
async fn batch(events: &mut Connection) -> Result<Vec<Value>, String> {
    match tokio::time::timeout(WAIT, events.recv()).await {
        Ok(Ok(Received::Message(Message::Text(text)))) => {
            serde_json::from_str(text.as_str()).map_err(|e| format!("not a JSON array: {e}"))
        }
        other => Err(format!("expected a batch of events, got {other:?}")),
    }
}

/// Reads batches until one event satisfies `wanted`; returns every event read on the way.
async fn until(
    events: &mut Connection,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Result<Vec<Value>, String> {
    let mut seen = Vec::new();
    loop {
        let next = batch(events)
            .await
            .map_err(|e| format!("waiting for {what}: {e}; events so far:\n{}", render(&seen)))?;
        let found = next.iter().any(&wanted);
        seen.extend(next);
        if found {
            return Ok(seen);
        }
    }
}

fn render(events: &[Value]) -> String {
    events
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn is(event: &Value, name: &str) -> bool {
    event["event"] == name
}

#[tokio::test]
async fn without_inspect_there_is_no_inspector() -> TestResult {
    let app = spawn_app(false).await;
    let page = app.get("/_duplex/").await?;
    assert_eq!(page.status, 404);
    Ok(())
}

#[tokio::test]
async fn the_page_is_served_whole_with_no_outside_assets() -> TestResult {
    let app = spawn_app_with(true, &["--inspect"]).await;
    let page = app.get("/_duplex/").await?;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    let html = page.text();
    assert!(html.contains("duplex inspector"));
    assert!(
        html.contains("crypto.subtle"),
        "the login is signed in the page"
    );
    // No CDN: nothing is loaded from anywhere but the page itself.
    assert!(!html.contains("src=\"http"), "an outside script");
    assert!(!html.contains("href=\"http"), "an outside stylesheet");
    let redirect = app.get("/_duplex?token=x").await?;
    assert_eq!(redirect.status, 307);
    assert_eq!(redirect.header("location"), Some("/_duplex/?token=x"));
    Ok(())
}

#[tokio::test]
async fn the_stream_shows_requests_heads_frames_and_diagnoses_as_they_happen() -> TestResult {
    // The access log is off for stderr; the inspector still gets every event.
    let app = spawn_app_with(true, &["--inspect", "--no-access-log"]).await;
    let mut events = app.ws("/_duplex/events").await?;
    let first = batch(&mut events).await?;
    // The ring already holds this very connection's handshake.
    assert!(
        first.iter().any(|e| e["kind"] == "head_in"
            && e["trace"]
                .as_str()
                .is_some_and(|t| t.contains("/_duplex/events"))),
        "{}",
        render(&first)
    );

    let status = app.get("/status").await?;
    assert_eq!(status.status, 200);
    let seen = until(&mut events, "GET /status", |e| {
        is(e, "http") && e["target"] == "/status"
    })
    .await?;
    let access = seen
        .iter()
        .find(|e| is(e, "http"))
        .ok_or("no access event")?;
    assert_eq!(access["status"], 200);
    assert_eq!(access["level"], "INFO");
    let conn = access["conn"].as_u64().ok_or("no conn")?;
    let of_conn: Vec<&Value> = seen.iter().filter(|e| e["conn"] == conn).collect();
    for kind in ["open", "tls", "head_in", "head_out"] {
        assert!(
            of_conn.iter().any(|e| e["kind"] == kind),
            "no {kind} event for conn {conn}:\n{}",
            render(&seen)
        );
    }
    assert!(
        of_conn
            .iter()
            .any(|e| e["trace"].as_str() == Some("> GET /status HTTP/1.1\\r\\n")),
        "the raw request line"
    );

    // A WebSocket client's message, decoded, and its close.
    let mut echo = app.ws("/ws/echo").await?;
    echo.send_text("seen by the inspector").await?;
    let _ = echo.recv().await?;
    echo.close(CloseCode::NORMAL, "bye").await?;
    let seen = until(&mut events, "the echo's close", |e| is(e, "ws_close")).await?;
    assert!(
        seen.iter().any(|e| e["kind"] == "message_in"
            && e["trace"]
                .as_str()
                .is_some_and(|t| t.contains("\"seen by the inspector\""))),
        "{}",
        render(&seen)
    );
    assert!(seen.iter().any(|e| e["kind"] == "frame_in"));
    assert!(seen.iter().any(|e| e["kind"] == "frame_out"));

    // A refusal, with its rule.
    let refused = app.exchange(b"GET /status HTTP/1.1\r\n\r\n", 1).await?;
    assert_eq!(refused[0].status, 400);
    let seen = until(&mut events, "the refusal", |e| is(e, "refused")).await?;
    let refusal = seen.iter().find(|e| is(e, "refused")).ok_or("no refusal")?;
    assert_eq!(refusal["level"], "WARNING");
    assert!(
        refusal["diagnosis"]
            .as_str()
            .is_some_and(|d| d.contains("RFC 9112 §3.2")),
        "{refusal}"
    );
    // And the connection's end (it may have come in the same batch).
    let refused_conn = refusal["conn"].clone();
    let ended = |e: &Value| e["conn"] == refused_conn && e["kind"] == "close";
    if !seen.iter().any(ended) {
        until(&mut events, "the refused connection's end", ended).await?;
    }

    // stderr got the refusal but, with --no-access-log, no access line.
    let lines = app.log.lines();
    assert!(lines.iter().any(|l| l.contains("RFC 9112 §3.2")));
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("\"GET /status HTTP/1.1\" 200"))
    );
    assert!(
        !lines.iter().any(|l| l.contains("TRACE")),
        "no trace on stderr"
    );
    Ok(())
}

#[tokio::test]
async fn the_inspectors_own_stream_is_not_traced_into_itself() -> TestResult {
    let app = spawn_app_with(false, &["--inspect"]).await;
    let mut events = app.ws("/_duplex/events").await?;
    let first = batch(&mut events).await?;
    let own = first
        .iter()
        .find(|e| is(e, "ws_open"))
        .and_then(|e| e["conn"].as_u64())
        .ok_or("no ws_open for the stream itself")?;
    // Each batch sent would be a frame and a write to trace, and so another batch.
    for _ in 0..5 {
        let _ = app.get("/status").await?;
    }
    let seen = until(&mut events, "a request", |e| {
        is(e, "http") && e["request"] == 1 && e["conn"] != own
    })
    .await?;
    // Everything that arrives for half a second: a feedback loop would keep sending (and a
    // drain-until-quiet loop would then never end).
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    let mut later = Vec::new();
    while let Ok(Ok(Received::Message(Message::Text(text)))) =
        tokio::time::timeout_at(deadline, events.recv()).await
    {
        later.extend(serde_json::from_str::<Vec<Value>>(text.as_str())?);
    }
    let traced_own: Vec<&Value> = seen
        .iter()
        .chain(&later)
        .filter(|e| e["conn"] == own && is(e, "trace"))
        .collect();
    assert!(traced_own.is_empty(), "{traced_own:?}");
    // Quiet means quiet: once the requests are done, no more events arrive.
    assert!(later.iter().all(|e| e["conn"] != own), "{}", render(&later));
    Ok(())
}

#[tokio::test]
async fn recent_events_come_as_json_one_connection_at_a_time() -> TestResult {
    let app = spawn_app_with(false, &["--inspect"]).await;
    let _ = app.get("/status").await?;
    let _ = app.get("/items/1").await?;
    let all = app.get("/_duplex/events.json").await?;
    assert_eq!(all.status, 200);
    let all: Vec<Value> = serde_json::from_str(&all.text())?;
    let item = all
        .iter()
        .find(|e| is(e, "http") && e["target"] == "/items/1")
        .ok_or("no /items/1 event")?;
    let conn = item["conn"].as_u64().ok_or("no conn")?;
    let one = app
        .get(&format!("/_duplex/events.json?conn={conn}"))
        .await?;
    let one: Vec<Value> = serde_json::from_str(&one.text())?;
    assert!(!one.is_empty());
    assert!(one.iter().all(|e| e["conn"] == conn), "{}", render(&one));
    assert!(one.iter().any(|e| e["kind"] == "head_in"));
    let bad = app.get("/_duplex/events.json?conn=x").await?;
    assert_eq!(bad.status, 400);
    Ok(())
}

#[tokio::test]
async fn with_a_token_every_client_must_present_it() -> TestResult {
    let token = "0123456789abcdef0123";
    let app = spawn_app_with(false, &["--inspect-token", token]).await;
    let refused = app.get("/_duplex/").await?;
    assert_eq!(refused.status, 403);
    assert!(refused.text().contains("--inspect-token"));
    let logged = app
        .log
        .wait_for("the inspector needs the token", WAIT)
        .await
        .ok_or("no diagnosis of the refusal")?;
    assert!(logged.starts_with("WARNING:"), "{logged}");
    assert!(!logged.contains(token));
    let wrong = app.get("/_duplex/?token=0123456789abcdef0124").await?;
    assert_eq!(wrong.status, 403);
    let page = app.get(&format!("/_duplex/?token={token}")).await?;
    assert_eq!(page.status, 200);
    let bearer = app
        .request(
            "GET",
            "/_duplex/events.json",
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        )
        .await?;
    assert_eq!(bearer.status, 200);
    let mut events = app.ws(&format!("/_duplex/events?token={token}")).await?;
    assert!(batch(&mut events).await.is_ok());
    assert!(app.ws("/_duplex/events").await.is_err());
    Ok(())
}

#[test]
fn a_token_must_be_long_and_url_safe() {
    use clap::Parser as _;
    let parse = |token: &str| {
        duplex::cli::config::Cli::try_parse_from(["duplex", "--inspect-token", token])
    };
    assert!(parse("short").is_err());
    assert!(parse("0123456789abcdef/0123").is_err());
    assert!(parse("0123456789abcdef-0123").is_ok());
}
