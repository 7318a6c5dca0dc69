//! `duplex fuzzingserver`: Autobahn's driver protocol over real sockets, driven by duplex's
//! own WebSocket client.

use std::net::SocketAddr;
use std::sync::Arc;

use duplex::apps::fuzzingserver::{FuzzingServer, Overrides, serve};
use duplex::client::ws::{self, Received, WsOptions};
use duplex::client::{ClientError, Target};
use duplex::protocol::ws::CloseCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::helpers::TestResult;

struct Fuzzing {
    addr: SocketAddr,
    outdir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl Fuzzing {
    fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }
}

async fn spawn(cases: &str) -> Fuzzing {
    spawn_spec(&format!(
        r#"{{"url": "ws://127.0.0.1:9001", "cases": {cases}}}"#
    ))
    .await
}

async fn spawn_spec(spec: &str) -> Fuzzing {
    let outdir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let overrides = Overrides {
        outdir: Some(outdir.path().to_path_buf()),
        ..Overrides::default()
    };
    let server = Arc::new(FuzzingServer::new(spec, overrides).unwrap_or_else(|e| panic!("{e}")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, server, async {
        let _ = stopped.await;
    }));
    Fuzzing {
        addr,
        outdir,
        _stop: stop,
    }
}

fn options() -> WsOptions {
    WsOptions::default()
}

/// Connects to a control call and returns its messages until the server closes.
async fn call(url: &str) -> Result<Vec<String>, ClientError> {
    let mut conn = ws::connect(&Target::parse(url)?, None, &options()).await?;
    let mut messages = Vec::new();
    while let Received::Message(message) = conn.recv().await? {
        messages.push(String::from_utf8_lossy(message.as_bytes()).into_owned());
    }
    Ok(messages)
}

/// Runs one case, echoing text messages.
async fn run_echoing(url: &str) -> Result<(), ClientError> {
    let mut conn = ws::connect(&Target::parse(url)?, None, &options()).await?;
    while let Ok(Received::Message(message)) = conn.recv().await {
        let text = String::from_utf8_lossy(message.as_bytes()).into_owned();
        conn.send_text(&text).await?;
    }
    Ok(())
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    response
}

fn read_index(fuzzing: &Fuzzing) -> serde_json::Value {
    let text = std::fs::read_to_string(fuzzing.outdir.path().join("index.json"))
        .unwrap_or_else(|e| panic!("index.json: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("index.json: {e}"))
}

#[tokio::test]
async fn get_case_count_answers_the_number_of_selected_cases() -> TestResult {
    let fuzzing = spawn(r#"["1.1.*", "2.1"]"#).await;
    assert_eq!(call(&fuzzing.url("/getCaseCount")).await?, ["9"]);
    Ok(())
}

#[tokio::test]
async fn get_case_info_answers_the_id_and_description() -> TestResult {
    let fuzzing = spawn(r#"["2.*"]"#).await;
    let info = call(&fuzzing.url("/getCaseInfo?case=2")).await?;
    let info: serde_json::Value = serde_json::from_str(&info[0])?;
    assert_eq!(info["id"], "2.2");
    assert_eq!(info["description"], "Send ping with small text payload.");
    Ok(())
}

#[tokio::test]
async fn an_echoing_client_passes_and_the_reports_have_autobahns_shape() -> TestResult {
    let fuzzing = spawn(r#"["1.1.1", "1.1.2"]"#).await;
    run_echoing(&fuzzing.url("/runCase?case=1&agent=my%20client")).await?;
    run_echoing(&fuzzing.url("/runCase?casetuple=1.1.2&agent=my%20client")).await?;
    let status = call(&fuzzing.url("/getCaseStatus?case=2&agent=my%20client")).await?;
    assert_eq!(status, [r#"{"behavior": "OK"}"#]);
    call(&fuzzing.url("/updateReports?agent=my%20client")).await?;
    let index = read_index(&fuzzing);
    let case = &index["my client"]["1.1.2"];
    assert_eq!(case["behavior"], "OK");
    assert_eq!(case["behaviorClose"], "OK");
    assert_eq!(case["remoteCloseCode"], 1000);
    assert_eq!(case["reportfile"], "my_client_case_1_1_2.json");
    let report = std::fs::read_to_string(fuzzing.outdir.path().join("my_client_case_1_1_2.json"))?;
    let report: serde_json::Value = serde_json::from_str(&report)?;
    assert_eq!(report["expectedClose"]["closeCode"][0], 1000);
    assert!(
        report["wirelog"]
            .as_array()
            .is_some_and(|rows| !rows.is_empty())
    );
    let index_html = std::fs::read_to_string(fuzzing.outdir.path().join("index.html"))?;
    assert!(index_html.contains("href=\"my_client_case_1_1_2.html\""));
    let page = std::fs::read_to_string(fuzzing.outdir.path().join("my_client_case_1_1_2.html"))?;
    assert!(page.contains("<h1>Case 1.1.2</h1>"), "{page}");
    assert!(page.contains("<h2>Wire log</h2>"), "{page}");
    Ok(())
}

#[tokio::test]
async fn a_client_that_closes_instead_of_echoing_fails_with_an_explanation() -> TestResult {
    let fuzzing = spawn(r#"["1.1.2"]"#).await;
    let target = Target::parse(&fuzzing.url("/runCase?case=1&agent=rude"))?;
    let conn = ws::connect(&target, None, &options()).await?;
    let _ = conn.close(CloseCode::NORMAL, "bye").await;
    let status = call(&fuzzing.url("/getCaseStatus?case=1&agent=rude")).await?;
    assert_eq!(status, [r#"{"behavior": "FAILED"}"#]);
    let results = http_get(fuzzing.addr, "/results").await;
    assert!(results.starts_with("HTTP/1.1 200"), "{results}");
    assert!(
        results.contains("\"behaviorClose\": \"FAILED\""),
        "{results}"
    );
    assert!(
        results.contains("The server was to start the closing handshake"),
        "{results}"
    );
    Ok(())
}

#[tokio::test]
async fn unknown_cases_and_calls_are_refused() -> TestResult {
    let fuzzing = spawn(r#"["1.1.1"]"#).await;
    let refused = |url: String| async move {
        match ws::connect(&Target::parse(&url)?, None, &options()).await {
            Err(ClientError::Refused { status, .. }) => Ok::<String, ClientError>(status),
            other => panic!("expected a refusal, got {other:?}"),
        }
    };
    assert!(
        refused(fuzzing.url("/runCase?case=2&agent=a"))
            .await?
            .starts_with("400")
    );
    assert!(
        refused(fuzzing.url("/runCase?case=1"))
            .await?
            .starts_with("400")
    );
    assert!(refused(fuzzing.url("/nope")).await?.starts_with("404"));
    Ok(())
}

#[tokio::test]
async fn duplex_client_passes_the_framing_ping_and_opcode_cases() -> TestResult {
    let fuzzing = spawn(r#"["1.*", "2.*", "3.*", "4.*"]"#).await;
    let driven =
        duplex::client::autobahn::drive(&fuzzing.url(""), "duplex", None, &options()).await?;
    assert_eq!(driven.cases, 16 + 11 + 7 + 10);
    let index = read_index(&fuzzing);
    let cases = index["duplex"].as_object().map_or(0, |cases| cases.len());
    assert_eq!(cases, 44);
    for (id, case) in index["duplex"].as_object().into_iter().flatten() {
        assert_eq!(case["behavior"], "OK", "{id}: {case}");
        assert_eq!(case["behaviorClose"], "OK", "{id}: {case}");
    }
    Ok(())
}

#[tokio::test]
async fn agents_running_at_once_are_judged_apart() -> TestResult {
    let fuzzing = spawn(r#"["1.1.2"]"#).await;
    let polite_url = fuzzing.url("/runCase?case=1&agent=polite");
    let polite = run_echoing(&polite_url);
    let rude = async {
        let target = Target::parse(&fuzzing.url("/runCase?case=1&agent=rude"))?;
        let conn = ws::connect(&target, None, &options()).await?;
        let _ = conn.close(CloseCode::NORMAL, "").await;
        Ok::<(), ClientError>(())
    };
    let (polite, rude) = tokio::join!(polite, rude);
    polite?;
    rude?;
    let polite = call(&fuzzing.url("/getCaseStatus?case=1&agent=polite")).await?;
    let rude = call(&fuzzing.url("/getCaseStatus?case=1&agent=rude")).await?;
    assert_eq!(polite, [r#"{"behavior": "OK"}"#]);
    assert_eq!(rude, [r#"{"behavior": "FAILED"}"#]);
    Ok(())
}

/// A wss:// spec with Autobahn's `cert` and `key`: duplex's client, trusting only that
/// certificate, runs plain, ping and compressed cases over TLS.
#[tokio::test]
async fn a_wss_url_with_a_certificate_serves_the_cases_over_tls() -> TestResult {
    use duplex::transport::tls::{KeyKind, write_cert_files};
    duplex::transport::tls::install_crypto_provider();
    let dir = tempfile::tempdir()?;
    let written = write_cert_files(dir.path(), KeyKind::Ed25519, &[], 1, false)?;
    let spec = serde_json::json!({
        "url": "wss://127.0.0.1:9001",
        "cert": written.cert_path,
        "key": written.key_path,
        "cases": ["1.1.1", "2.2", "12.1.3"],
    });
    let fuzzing = spawn_spec(&spec.to_string()).await;
    let tls = duplex::client::TlsOptions {
        cacert: Some(written.cert_path.clone()),
        ..duplex::client::TlsOptions::default()
    }
    .client_config()?;
    let base = format!("wss://{}", fuzzing.addr);
    let driven = duplex::client::autobahn::drive(&base, "tls", Some(&tls), &options()).await?;
    assert_eq!(driven.cases, 3);
    let index = read_index(&fuzzing);
    for id in ["1.1.1", "2.2", "12.1.3"] {
        let case = &index["tls"][id];
        assert_eq!(
            (&case["behavior"], &case["behaviorClose"]),
            (&"OK".into(), &"OK".into()),
            "{id}: {case}"
        );
    }
    // Plain WebSocket to a wss:// server gets no answer it could take for a handshake.
    let plain = format!("ws://{}/getCaseCount", fuzzing.addr);
    assert!(call(&plain).await.is_err());
    Ok(())
}

#[test]
fn a_wss_url_without_a_certificate_is_refused_with_the_reason() {
    let spec = r#"{"url": "wss://127.0.0.1:9001", "cases": ["1.1.1"]}"#;
    let err = FuzzingServer::new(spec, Overrides::default()).err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("needs a certificate and key"), "{text}");
    let spec = r#"{"url": "wss://127.0.0.1:9001", "cert": "/nonexistent/c.pem", "key": "/nonexistent/k.pem"}"#;
    let err = FuzzingServer::new(spec, Overrides::default()).err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("cannot read /nonexistent/c.pem"), "{text}");
}

const DUPLEX: &str = env!("CARGO_BIN_EXE_duplex");

/// Runs `duplex check-client --autobahn ARGS --json FILE -- DRIVER...`; its exit code, the
/// JSON report and stderr.
fn check_autobahn(
    args: &[&str],
    driver: &[&str],
) -> Result<(i32, serde_json::Value, String), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let report = dir.path().join("report.json");
    let output = std::process::Command::new(DUPLEX)
        .args(["check-client", "--autobahn"])
        .args(args)
        .arg("--json")
        .arg(&report)
        .arg("--")
        .args(driver)
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output.status.code().ok_or("killed by a signal")?;
    let text =
        std::fs::read_to_string(&report).map_err(|e| format!("no report ({e}): {stderr}"))?;
    Ok((code, serde_json::from_str(&text)?, stderr))
}

/// duplex's own client as the driver: every selected case passes, the table has one line per
/// case, and the reports are written where asked.
#[test]
fn check_client_autobahn_runs_a_driver_and_passes_a_good_client() -> TestResult {
    let reports = tempfile::tempdir()?;
    let reports_dir = reports.path().display().to_string();
    let (code, report, stderr) = check_autobahn(
        &[
            "--cases",
            "1.1.1,2.2,7.1.1,12.1.1",
            "--reports",
            &reports_dir,
        ],
        &[
            DUPLEX,
            "client",
            "--log-level",
            "warn",
            "autobahn",
            "{url}",
            "--agent",
            "{agent}",
        ],
    )?;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(4), Some(0))
    );
    assert_eq!(report["cases"][3]["id"], "12.1.1");
    assert_eq!(report["cases"][3]["behavior"], "OK");
    assert!(stderr.contains("PASS  7.1.1 "), "{stderr}");
    assert!(stderr.contains("4 cases, 4 passed, 0 failed"), "{stderr}");
    assert!(reports.path().join("client_case_12_1_1.html").exists());
    Ok(())
}

/// A client without permessage-deflate fails the compression cases, with the reason.
#[test]
fn check_client_autobahn_fails_a_case_with_its_explanation() -> TestResult {
    let (code, report, stderr) = check_autobahn(
        &["--cases", "1.1.1,12.1.1"],
        &[
            DUPLEX,
            "client",
            "--log-level",
            "warn",
            "autobahn",
            "{url}",
            "--agent",
            "{agent}",
            "--no-compression",
        ],
    )?;
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["cases"][0]["verdict"], "pass");
    assert_eq!(report["cases"][1]["verdict"], "fail");
    assert_eq!(report["cases"][1]["behavior"], "UNIMPLEMENTED");
    assert!(stderr.contains("FAIL  12.1.1 "), "{stderr}");
    assert!(
        stderr.contains("did not offer permessage-deflate"),
        "{stderr}"
    );
    Ok(())
}

/// A driver that runs nothing, fails, or hangs is a failure, bounded by --timeout.
#[test]
fn check_client_autobahn_catches_broken_and_hung_drivers() -> TestResult {
    let (code, report, stderr) = check_autobahn(&["--cases", "1.1.1"], &["false"])?;
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["driver_exit_code"], 1);
    assert!(
        stderr.contains("the driver did not run this case"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the driver exited with status 1"),
        "{stderr}"
    );
    let started = std::time::Instant::now();
    let (code, report, stderr) = check_autobahn(
        &["--cases", "1.1.1", "--timeout", "1"],
        &["sh", "-c", "sleep 30", "{url}"],
    )?;
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["driver_timed_out"], true);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    Ok(())
}

#[test]
fn check_client_autobahn_usage_errors_exit_2() -> TestResult {
    let run = |args: &[&str]| std::process::Command::new(DUPLEX).args(args).output();
    let unknown = run(&[
        "check-client",
        "--autobahn",
        "--cases",
        "99.9",
        "--",
        "true",
    ])?;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("99.9"));
    let no_driver = run(&["check-client", "--autobahn"])?;
    assert_eq!(no_driver.status.code(), Some(2));
    let without_autobahn = run(&["check-client", "--cases", "1.1.1", "--", "true"])?;
    assert_eq!(without_autobahn.status.code(), Some(2));
    Ok(())
}
