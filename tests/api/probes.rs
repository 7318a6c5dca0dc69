//! The client probes (`--probes`) and `duplex check-client`, over real sockets and with real
//! processes: every probe is run with duplex's own clients (they must pass them all), a client
//! that accepts anything is caught, and the rest of the server is untouched by the look at each
//! connection's first bytes.

use std::process::Command;

use crate::helpers::{TestResult, spawn_app, spawn_app_with};
use duplex::client::http::Outgoing;
use serde_json::Value;

const DUPLEX: &str = env!("CARGO_BIN_EXE_duplex");

/// Runs `duplex check-client ARGS -- CLIENT...`; its exit code and the JSON report.
fn check_client(
    args: &[&str],
    client: &[&str],
) -> Result<(i32, Value), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let report = dir.path().join("report.json");
    let output = Command::new(DUPLEX)
        .arg("check-client")
        .args(args)
        .arg("--json")
        .arg(&report)
        .arg("--")
        .args(client)
        .output()?;
    let code = output.status.code().ok_or("killed by a signal")?;
    let text = std::fs::read_to_string(&report).map_err(|e| {
        format!(
            "no report ({e}); stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    Ok((code, serde_json::from_str(&text)?))
}

fn failures(report: &Value) -> Vec<String> {
    report["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|case| case["verdict"] == "fail")
        .map(|case| {
            format!(
                "{}: {}",
                case["id"].as_str().unwrap_or("?"),
                case["reason"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

#[test]
fn duplexs_own_http_client_passes_every_http_probe() -> TestResult {
    let (code, report) = check_client(
        &[
            "--only",
            "http-framing",
            "--only",
            "http-1xx",
            "--only",
            "http-status",
        ],
        &[DUPLEX, "client", "get", "{url}"],
    )?;
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(code, 0);
    assert!(
        report["passed"].as_u64().is_some_and(|n| n >= 25),
        "{report}"
    );
    Ok(())
}

#[test]
fn duplexs_own_websocket_client_passes_every_websocket_probe() -> TestResult {
    let (code, report) = check_client(
        &["--only", "ws-handshake", "--only", "ws-server"],
        &[
            DUPLEX,
            "client",
            "stream",
            "--raw",
            "--no-compression",
            "{url}",
        ],
    )?;
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(code, 0);
    // What the server saw is in the report: the pongs of the ping storm, the close reply.
    let cases = report["cases"].as_array().ok_or("no cases")?;
    let storm = cases
        .iter()
        .find(|c| c["id"] == "ping-storm")
        .ok_or("no ping-storm")?;
    assert!(
        storm["observation"]["pongs"]
            .as_array()
            .is_some_and(|pongs| !pongs.is_empty()),
        "{storm}"
    );
    let close = cases
        .iter()
        .find(|c| c["id"] == "close-code-reason")
        .ok_or("no close-code-reason")?;
    assert_eq!(close["observation"]["client_close"], 4001, "{close}");
    Ok(())
}

#[test]
fn a_client_that_accepts_anything_is_caught_and_ci_sees_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let junit = dir.path().join("junit.xml");
    let junit_arg = junit.display().to_string();
    let (code, report) = check_client(
        &["--only", "http-framing", "--junit", &junit_arg],
        &["true"],
    )?;
    assert_eq!(code, 1, "a failed case fails the run");
    let failed = failures(&report);
    assert!(
        failed
            .iter()
            .any(|f| f.starts_with("eof-in-chunk: accepted (exit 0) what it must refuse")),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|f| f.starts_with("chunked: accepted but it printed 0 bytes")),
        "{failed:?}"
    );
    // Printing nothing is right for a 204.
    assert!(!failed.iter().any(|f| f.starts_with("204-with-body")));
    let xml = std::fs::read_to_string(&junit)?;
    assert!(
        xml.contains(&format!("failures=\"{}\"", failed.len())),
        "{xml}"
    );
    assert!(xml.contains("<testcase classname=\"http-framing\" name=\"eof-in-chunk\""));
    Ok(())
}

#[test]
fn unknown_groups_and_a_missing_client_are_usage_errors() -> TestResult {
    let output = Command::new(DUPLEX)
        .args(["check-client", "--only", "nope", "--", "true"])
        .output()?;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the groups are http-framing"));
    let output = Command::new(DUPLEX).args(["check-client"]).output()?;
    assert_eq!(output.status.code(), Some(2));
    let listed = Command::new(DUPLEX)
        .args(["check-client", "--list"])
        .output()?;
    assert!(String::from_utf8_lossy(&listed.stdout).contains("RFC 6455 §4.1 item 4"));
    Ok(())
}

#[tokio::test]
async fn probes_are_off_by_default() -> TestResult {
    let app = spawn_app(false).await;
    assert_eq!(app.get("/probe/").await?.status, 404);
    Ok(())
}

#[tokio::test]
async fn with_probes_on_the_rest_of_the_server_is_untouched() -> TestResult {
    let app = spawn_app_with(true, &["--probes"]).await;
    // Pipelined requests after the look at the first bytes: both answered, in order.
    let responses = app
        .exchange(
            b"GET /status HTTP/1.1\r\nHost: x\r\n\r\nGET /items/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            2,
        )
        .await?;
    assert_eq!(responses[0].text(), r#"{"status":"ok"}"#);
    assert_eq!(responses[1].status, 200);
    // A probe over TLS, through duplex's client.
    let chunked = app.send("/probe/http/chunked", Outgoing::get()).await?;
    assert_eq!(chunked.status, 200);
    assert!(chunked.body.starts_with(b"duplex probe body line 01\n"));
    // The catalogue.
    let list = app.get("/probe/").await?;
    let cases: Vec<Value> = serde_json::from_str(&list.text())?;
    assert!(cases.iter().any(|c| c["path"] == "/probe/ws/wrong-accept"));
    let unknown = app.get("/probe/http/nope").await?;
    assert_eq!(unknown.status, 404);
    // A probe only answers at the start of a connection: later, /probe/ is the guide's 404.
    let later = app
        .exchange(
            b"GET /status HTTP/1.1\r\nHost: x\r\n\r\nGET /probe/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            2,
        )
        .await?;
    assert_eq!(later[1].status, 404);
    Ok(())
}

#[tokio::test]
async fn the_httpbin_classics_answer_status_bytes_and_redirects() -> TestResult {
    let app = spawn_app_with(false, &["--probes"]).await;
    assert_eq!(app.get("/probe/status/418").await?.status, 418);
    let weighted = app.get("/probe/status/200:0,503:1").await?;
    assert_eq!(weighted.status, 503);
    // Seeded bytes repeat.
    let first = app.get("/probe/bytes/64?seed=5").await?;
    let again = app.get("/probe/bytes/64?seed=5").await?;
    assert_eq!(first.body.len(), 64);
    assert_eq!(first.body, again.body);
    // Redirects: n hops, the chosen code, and never to another server.
    let hop = app.get("/probe/redirect/2?status=308").await?;
    assert_eq!(hop.status, 308);
    assert_eq!(hop.header("location"), Some("/probe/redirect/1?status=308"));
    let away = app
        .get("/probe/redirect-to?url=http://example.com/")
        .await?;
    assert_eq!(away.status, 400);
    Ok(())
}

#[tokio::test]
async fn the_classics_echo_the_request_body_as_json() -> TestResult {
    let app = spawn_app_with(false, &["--probes"]).await;
    let posted = app
        .request(
            "POST",
            "/probe/anything?x=1",
            &[("Content-Type", "application/json")],
            br#"{"a":1}"#,
        )
        .await?;
    let view: Value = serde_json::from_slice(&posted.body)?;
    assert_eq!(view["method"], "POST");
    assert_eq!(view["json"]["a"], 1);
    assert_eq!(view["args"]["x"], "1");
    let chunked = app
        .exchange(
            b"POST /probe/anything HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext\r\nhello\r\n0\r\nT: 1\r\n\r\n",
            1,
        )
        .await?;
    let view: Value = serde_json::from_slice(&chunked[0].body)?;
    assert_eq!(view["data"], "hello");
    Ok(())
}

#[tokio::test]
async fn the_classics_honour_ranges_validators_and_credentials() -> TestResult {
    let app = spawn_app_with(false, &["--probes"]).await;
    let part = app
        .request("GET", "/probe/range/26", &[("Range", "bytes=2-4")], b"")
        .await?;
    assert_eq!((part.status, part.body.as_slice()), (206, &b"cde"[..]));
    assert_eq!(part.header("content-range"), Some("bytes 2-4/26"));
    let cached = app
        .request("GET", "/probe/etag/v1", &[("If-None-Match", "\"v1\"")], b"")
        .await?;
    assert_eq!(cached.status, 304);
    assert_eq!(app.get("/probe/basic-auth/u/p").await?.status, 401);
    let authed = app
        .request(
            "GET",
            "/probe/basic-auth/u/p",
            &[("Authorization", "Basic dTpw")],
            b"",
        )
        .await?;
    assert_eq!(authed.status, 200);
    Ok(())
}

#[tokio::test]
async fn the_classics_encode_set_cookies_and_stream_events() -> TestResult {
    use std::io::Read as _;
    let app = spawn_app_with(false, &["--probes"]).await;
    let gzipped = app.get("/probe/gzip").await?;
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(gzipped.body.as_slice()).read_to_string(&mut text)?;
    assert!(text.contains("\"gzipped\": true"), "{text}");
    let cookies = app.get("/probe/cookies/set?flavour=oat").await?;
    assert_eq!(cookies.status, 302);
    assert_eq!(cookies.header("set-cookie"), Some("flavour=oat; Path=/"));
    // Server-sent events, chunked.
    let events = app.get("/probe/sse?count=2&delay_ms=1").await?;
    assert_eq!(events.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        String::from_utf8_lossy(&events.body),
        "id: 0\nevent: tick\ndata: {\"n\":0}\n\nid: 1\nevent: tick\ndata: {\"n\":1}\n\n"
    );
    Ok(())
}

#[test]
fn the_tls_group_judges_certificates_from_the_wire_and_the_exit_status() -> TestResult {
    let (code, report) = check_client(
        &["--only", "tls"],
        &[
            DUPLEX,
            "client",
            "--cacert",
            "{cacert}",
            "--cert",
            "{client_cert}",
            "--key",
            "{client_key}",
            "get",
            "{url}",
        ],
    )?;
    assert_eq!(failures(&report), Vec::<String>::new());
    assert_eq!(code, 0);
    assert_eq!(report["passed"], 11, "{report}");
    // `-k` accepts what it must refuse, and the runner sees it on the wire.
    let (code, report) = check_client(
        &["--only", "tls"],
        &[DUPLEX, "client", "-k", "get", "{url}"],
    )?;
    assert_eq!(code, 1);
    let failed = failures(&report);
    assert!(
        failed.iter().any(|f| f.starts_with("expired: ")),
        "{failed:?}"
    );
    assert!(
        !failed.iter().any(|f| f.starts_with("good: ")),
        "{failed:?}"
    );
    Ok(())
}

#[tokio::test]
async fn connection_probes_close_when_they_say_and_answer_expectations() -> TestResult {
    let app = spawn_app_with(false, &["--probes"]).await;
    // The second of two pipelined requests is the last: it says so, and the connection ends.
    let answers = app
        .exchange(
            b"GET /probe/keep-alive/close-after/2 HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /probe/keep-alive/close-after/2 HTTP/1.1\r\nHost: x\r\n\r\n",
            2,
        )
        .await?;
    assert_eq!(answers[0].header("connection"), Some("keep-alive"));
    assert_eq!(answers[1].header("connection"), Some("close"));
    assert_eq!(answers[1].text(), r#"{"request":2,"closes_after":2}"#);
    let refused = app
        .exchange(
            b"POST /probe/expect/417 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
            1,
        )
        .await?;
    assert_eq!(refused[0].status, 417);
    let continued = app
        .exchange(
            b"POST /probe/expect/100 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            1,
        )
        .await?;
    assert_eq!(
        continued[0].text(),
        r#"{"expect_100_continue":false,"received_bytes":5}"#
    );
    Ok(())
}

#[tokio::test]
async fn an_unanswered_close_is_noted_when_the_client_gives_up() -> TestResult {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(false, &["--probes"]).await;
    let mut io = app.connect().await?;
    io.write_all(
        b"GET /probe/ws-driven/no-close-reply HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n",
    )
    .await?;
    let mut got = Vec::new();
    while !got.ends_with(b"duplex probe ok") {
        let mut chunk = [0u8; 512];
        let n = io.read(&mut chunk).await?;
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
    // A masked close 1000 (zero mask); no reply comes, so the client closes TCP itself.
    io.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]).await?;
    let mut rest = [0u8; 16];
    let quiet =
        tokio::time::timeout(std::time::Duration::from_millis(300), io.read(&mut rest)).await;
    assert!(quiet.is_err(), "the server answered the close: {quiet:?}");
    drop(io);
    app.log
        .wait_for(
            "closed TCP after its close went unanswered (correct)",
            std::time::Duration::from_secs(5),
        )
        .await
        .ok_or("no note")?;
    Ok(())
}
