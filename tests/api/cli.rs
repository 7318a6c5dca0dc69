//! `duplex cert`, `duplex serve` and `duplex client` as a user runs them: the real binary, a
//! certificate written into a temp dir, the server on a free port, the client's output and exit
//! codes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::BytesMut;
use duplex::protocol::ws::{CloseCode, Decoder, Encoder, Inbound, Message, Role};

use crate::helpers::TestResult;

/// Longest a client command may take before the test calls it a hang.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

fn duplex() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_duplex"));
    command
        .env_remove("DUPLEX_LOG")
        .env_remove("DUPLEX_API_KEY")
        .env_remove("DUPLEX_SECRET")
        .env_remove("DUPLEX_PASSPHRASE")
        .env("NO_COLOR", "1");
    command
}

/// Waits for `child` (with its stdin already written or closed) within [`COMMAND_TIMEOUT`].
fn finish(child: Child) -> Result<Output, Box<dyn std::error::Error>> {
    let pid = child.id();
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match result.recv_timeout(COMMAND_TIMEOUT) {
        Ok(output) => Ok(output?),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            Err(format!("command did not finish within {COMMAND_TIMEOUT:?}").into())
        }
    }
}

/// Runs `duplex client ARGS` with `stdin` piped in.
fn client(args: &[&str], stdin: &str) -> Result<Output, Box<dyn std::error::Error>> {
    let mut child = duplex()
        .arg("client")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut input = child.stdin.take().ok_or("no stdin")?;
    input.write_all(stdin.as_bytes())?;
    drop(input);
    finish(child)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `duplex serve` on a free port with a certificate from `duplex cert`; stopped on drop.
struct Served {
    child: Child,
    port: u16,
    cert: PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(cert_flags: &[&str]) -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let written = duplex()
            .args(["cert", "--out-dir"])
            .arg(dir.path())
            .args(cert_flags)
            .output()?;
        assert!(
            written.status.success(),
            "duplex cert: {}",
            stderr(&written)
        );
        let report = stdout(&written);
        assert!(report.contains("SHA-256 fingerprint: "), "{report}");
        let cert = dir.path().join("cert.pem");
        let mut child = duplex()
            .args(["serve", "--port", "0", "--cert"])
            .arg(&cert)
            .arg("--key")
            .arg(dir.path().join("key.pem"))
            .arg("--static-dir")
            .arg(dir.path().join("static"))
            .stderr(Stdio::piped())
            .spawn()?;
        let lines = BufReader::new(child.stderr.take().ok_or("no stderr")?).lines();
        let (found, listening) = mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            // Keep draining the log so the server never blocks on a full pipe.
            for line in lines.map_while(Result::ok) {
                if line.contains("listening on")
                    && let Some(found) = found.take()
                {
                    let _ = found.send(line);
                }
            }
        });
        let line = listening
            .recv_timeout(COMMAND_TIMEOUT)
            .map_err(|_| "the server never said it was listening")?;
        let port = line
            .rsplit(':')
            .next()
            .and_then(|port| port.trim().parse().ok())
            .ok_or_else(|| format!("no port in {line:?}"))?;
        Ok(Self {
            child,
            port,
            cert,
            _dir: dir,
        })
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://localhost:{}{path}", self.port)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The guide's manual checks, in the order a user runs them, with `trust` as the
/// verification flags.
fn manual_session(served: &Served, trust: &[&str]) -> TestResult {
    // The trust flags after the command; `get` below puts them before it.
    let with_trust = |args: &[&str], stdin: &str| client(&[args, trust].concat(), stdin);
    // duplex client echo, messages piped in
    let echo_url = served.url("wss", "/ws/echo");
    let output = with_trust(&["echo", &echo_url], "hello\nworld\n")?;
    assert_eq!(
        (stdout(&output), output.status.code()),
        (
            format!("Connected to {echo_url}\n< Received: Echo: hello\n< Received: Echo: world\n"),
            Some(0)
        ),
        "{}",
        stderr(&output)
    );

    // duplex client stream --count 2
    let stream_url = served.url("wss", "/ws/stream");
    let output = with_trust(&["stream", &stream_url, "--count", "2"], "")?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], format!("Connected to {stream_url}"));
    for line in &lines[1..] {
        let update = line
            .strip_prefix("< Received: ")
            .ok_or_else(|| format!("not a received line: {line}"))?;
        let update: serde_json::Value = serde_json::from_str(update)?;
        assert_eq!(
            update["message"],
            "This is a periodic update from the server."
        );
        assert!(
            update["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with("+00:00"))
        );
    }

    // duplex client private (the demo pair)
    let private_url = served.url("wss", "/ws/v5/private");
    let output = with_trust(&["private", &private_url], "")?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].starts_with(r#"> Sending login request: {"op": "login", "args": [{"apiKey": "abc", "passphrase": "pw", "timestamp": ""#),
        "{text}"
    );
    assert_eq!(lines[2], r#"< Received: {"event":"login","success":true}"#);

    // duplex client get /status, the options before the command this time
    let status_url = served.url("https", "/status");
    let output = client(&[trust, &["get", &status_url]].concat(), "")?;
    assert_eq!(
        (stdout(&output).as_str(), output.status.code()),
        (r#"{"status":"ok"}"#, Some(0)),
        "{}",
        stderr(&output)
    );

    // duplex client post /items --json ... -i
    let items_url = served.url("https", "/items");
    let json = r#"{"name": "My New Item", "is_offer": false}"#;
    let output = with_trust(&["post", &items_url, "-i", "--json", json], "")?;
    let text = stdout(&output);
    assert!(text.starts_with("HTTP/1.1 201 Created\r\n"), "{text}");
    assert!(
        text.contains("\r\ncontent-type: application/json\r\n"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "\r\n\r\n{\"message\":\"Item created successfully\",\"item_data\":{\"name\":\"My New Item\",\"is_offer\":false}}"
        ),
        "{text}"
    );
    Ok(())
}

#[test]
fn manual_tools_work_with_the_certificate_trusted() -> TestResult {
    let served = Served::start(&[])?;
    let cert = served.cert.display().to_string();
    manual_session(&served, &["--cacert", &cert])
}

#[test]
fn manual_tools_work_with_verification_off_on_an_rsa_certificate() -> TestResult {
    let served = Served::start(&["--rsa"])?;
    manual_session(&served, &["-k"])
}

#[test]
fn failures_are_one_line_and_a_non_zero_exit() -> TestResult {
    let served = Served::start(&[])?;
    let status_url = served.url("https", "/status");

    // Verification is on by default; a self-signed certificate is not trusted.
    let output = client(&["get", &status_url], "")?;
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("not signed by a trusted authority") && err.contains("--cacert"),
        "{err}"
    );

    // Nothing listening.
    let closed = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let output = client(
        &["-k", "get", &format!("https://127.0.0.1:{closed}/status")],
        "",
    )?;
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("connection refused"), "{err}");

    // A refused login is printed and fails the command.
    let private_url = served.url("wss", "/ws/v5/private");
    let output = client(&["private", &private_url, "-k", "--secret", "wrong"], "")?;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).ends_with(
            "< Received: {\"event\":\"login\",\"success\":false,\"message\":\"Authentication failed\"}\n"
        ),
        "{}",
        stdout(&output)
    );

    // --fail turns a 404 into curl's exit code 22; the body is still shown.
    let output = client(&["get", &served.url("https", "/items/999"), "-k", "-f"], "")?;
    assert_eq!(output.status.code(), Some(22));
    assert_eq!(
        stdout(&output),
        r#"{"detail":"Item with ID 999 not found."}"#
    );

    // A WebSocket path that is not one: the server's 403, in words.
    let output = client(&["echo", &served.url("wss", "/nope"), "-k"], "")?;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("refused: HTTP 403"),
        "{}",
        stderr(&output)
    );
    Ok(())
}

#[test]
fn duplex_cert_refuses_to_overwrite_without_force() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cert = |extra: &[&str]| {
        duplex()
            .arg("cert")
            .arg("--out-dir")
            .arg(dir.path())
            .args(extra)
            .output()
    };
    assert!(cert(&[])?.status.success());
    let again = cert(&[])?;
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("exists; pass --force"),
        "{}",
        stderr(&again)
    );
    assert!(cert(&["--force"])?.status.success());
    Ok(())
}

/// Ctrl+C during `duplex client stream` ends the session with a close frame carrying 1000. A
/// stand-in server (the library codec in the server role) records what the client sends.
#[test]
fn stream_closes_with_1000_on_ctrl_c() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("ws://127.0.0.1:{}/ws/stream", listener.local_addr()?.port());
    let mut child = duplex()
        .args(["client", "stream", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;

    let (mut socket, _) = listener.accept()?;
    socket.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        socket.read_exact(&mut byte)?;
        request.push(byte[0]);
    }
    let request = String::from_utf8(request)?;
    let key = request
        .lines()
        .find_map(|line| {
            line.strip_prefix("Sec-WebSocket-Key: ")
                .or_else(|| line.strip_prefix("sec-websocket-key: "))
        })
        .ok_or_else(|| format!("no key in {request}"))?;
    let accept = duplex::protocol::ws::handshake::accept_key(key.trim().as_bytes());
    let mut out = BytesMut::new();
    Encoder::new(Role::Server, None).message(&mut out, &Message::Text("tick".into()));
    socket.write_all(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .as_bytes(),
    )?;
    socket.write_all(&out)?;

    // Once the message is printed, the client is inside its receive loop: interrupt it.
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let printed: Vec<String> = lines.by_ref().take(2).collect::<Result<_, _>>()?;
    assert_eq!(
        printed,
        [format!("Connected to {url}"), "< Received: tick".to_owned()]
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?;
    assert!(status.success());

    let mut decoder = Decoder::new(Role::Server, 1024, None);
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 256];
    let close = loop {
        if let Some(incoming) = decoder.decode(&mut buf)? {
            break incoming;
        }
        let n = socket.read(&mut chunk)?;
        assert!(n > 0, "the client closed TCP without a close frame");
        buf.extend_from_slice(&chunk[..n]);
    };
    let Inbound::Close(frame) = close else {
        return Err(format!("expected a close frame, got {close:?}").into());
    };
    assert_eq!(frame.code, Some(CloseCode::NORMAL));
    // Answer it as a server does: echo, then close TCP.
    let mut reply = BytesMut::new();
    Encoder::new(Role::Server, None).close_frame(&mut reply, &frame);
    socket.write_all(&reply)?;
    drop(socket);
    let output = finish(child)?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    Ok(())
}

/// `duplex bench stream` spreads its subscribers over worker processes (each from its own
/// 127.0.0.x address), every subscriber is accounted for, and the server's memory is read.
/// (Whether ticks are on time is the benchmark's finding, not asserted here.)
#[test]
fn bench_stream_adds_up_its_worker_processes() -> TestResult {
    let served = Served::start(&[])?;
    let url = format!("wss://127.0.0.1:{}/ws/stream", served.port);
    let child = duplex()
        .args(["bench", "stream", &url, "--cacert"])
        .arg(&served.cert)
        .args(["--subscribers", "30", "--processes", "3", "--window", "2"])
        .args(["--server-pid", &served.child.id().to_string(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let output = finish(child)?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(stdout(&output).trim())?;
    let number = |key: &str| report[key].as_u64().ok_or(format!("no {key} in {report}"));
    assert_eq!(number("subscribers")?, 30, "{report}");
    assert_eq!(number("connected")?, 30, "{report}");
    assert_eq!(number("processes")?, 3, "{report}");
    assert_eq!(number("connect_errors")?, 0, "{report}");
    assert_eq!(number("dropped")?, 0, "{report}");
    // Two ticks due per subscriber in a 2 s window; each arrived or is counted lost.
    assert_eq!(number("expected")?, 60, "{report}");
    assert!(number("received")? > 0, "{report}");
    assert_eq!(number("received")? + number("lost")?, 60, "{report}");
    assert!(number("server_rss_during_kib")? > 0, "{report}");
    Ok(())
}

/// `duplex bench idle` holds every connection it opened (HTTP keep-alives over TLS, and
/// WebSockets) until it has read the server's memory, and reports it before and after.
#[test]
fn bench_idle_holds_its_connections_while_it_reads_the_servers_memory() -> TestResult {
    let served = Served::start(&[])?;
    for (path, extra) in [("/status", None), ("/ws/mirror", Some("--websocket"))] {
        let url = format!("https://127.0.0.1:{}{path}", served.port);
        let mut command = duplex();
        command
            .args(["bench", "idle", &url, "--cacert"])
            .arg(&served.cert)
            .args(["--connections", "200", "--settle", "0.2", "--json"])
            .args(["--server-pid", &served.child.id().to_string()]);
        command.args(extra);
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let output = finish(child)?;
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let report: serde_json::Value = serde_json::from_str(stdout(&output).trim())?;
        assert_eq!(report["opened"], 200, "{report}");
        assert_eq!(report["first_error"], serde_json::Value::Null, "{report}");
        let before = report["rss_before_kib"]
            .as_u64()
            .ok_or("no rss_before_kib")?;
        let after = report["rss_after_kib"].as_u64().ok_or("no rss_after_kib")?;
        assert!(before > 0 && after > 0, "{report}");
        assert!(report["bytes_per_connection"].is_number(), "{report}");
    }
    Ok(())
}

/// Runs `duplex bench handshake URL --cacert CERT ARGS --json`; its exit code, report and stderr.
fn bench_handshake(
    url: &str,
    cert: &std::path::Path,
    args: &[&str],
) -> Result<(Option<i32>, serde_json::Value, String), Box<dyn std::error::Error>> {
    let child = duplex()
        .args(["bench", "handshake", url, "--cacert"])
        .arg(cert)
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let output = finish(child)?;
    let report = match stdout(&output).trim() {
        "" => serde_json::Value::Null,
        text => serde_json::from_str(text)?,
    };
    Ok((output.status.code(), report, stderr(&output)))
}

/// `duplex bench handshake` resumes only with `--resume`, and then every handshake after each
/// connection's first really resumes (as rustls reports it), with or without a request on it.
#[test]
fn bench_handshake_resumes_every_handshake_after_the_first_only_when_asked() -> TestResult {
    let served = Served::start(&[])?;
    let url = format!("https://127.0.0.1:{}/status", served.port);
    let common = ["--connections", "2", "--duration", "0.5"];
    for extra in [&[][..], &["--request"][..]] {
        let (code, full, err) =
            bench_handshake(&url, &served.cert, &[&common[..], extra].concat())?;
        assert_eq!(code, Some(0), "{err}");
        let count = |report: &serde_json::Value, key: &str| {
            report[key].as_u64().ok_or(format!("no {key} in {report}"))
        };
        assert!(count(&full, "handshakes")? > 2, "{full}");
        assert_eq!(count(&full, "resumed")?, 0, "{full}");
        assert_eq!(count(&full, "errors")?, 0, "{full}");

        let args = [&common[..], extra, &["--resume"][..]].concat();
        let (code, resumed, err) = bench_handshake(&url, &served.cert, &args)?;
        assert_eq!(code, Some(0), "{err}");
        let handshakes = count(&resumed, "handshakes")?;
        assert!(handshakes > 2, "{resumed}");
        assert_eq!(count(&resumed, "errors")?, 0, "{resumed}");
        // Each of the 2 connections' first handshake is full; every later one resumed.
        assert_eq!(count(&resumed, "resumed")?, handshakes - 2, "{resumed}");
        assert!(
            resumed["negotiated"]
                .as_str()
                .is_some_and(|n| n.starts_with("TLSv1_3")),
            "{resumed}"
        );
    }
    Ok(())
}

/// A TLS server that keeps no sessions and sends no tickets, on a thread: each connection is
/// the handshake, then reading until the client's `close_notify`, then the server closes.
/// Stopped (and joined) on drop.
struct NoResumptionServer {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NoResumptionServer {
    fn start(
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        duplex::transport::tls::install_crypto_provider();
        let loaded = duplex::transport::tls::load(cert, key)?;
        let mut config = std::sync::Arc::unwrap_or_clone(loaded.config);
        config.session_storage = std::sync::Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        let config = std::sync::Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for tcp in listener.incoming() {
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let (Ok(mut tcp), Ok(mut conn)) = (
                    tcp,
                    rustls::ServerConnection::new(std::sync::Arc::clone(&config)),
                ) else {
                    continue;
                };
                let _ = tcp.set_read_timeout(Some(COMMAND_TIMEOUT));
                // The handshake flight goes out in several writes: no Nagle delay between them.
                let _ = tcp.set_nodelay(true);
                let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
                let mut buf = [0u8; 1024];
                while matches!(tls.read(&mut buf), Ok(n) if n > 0) {}
            }
        });
        Ok(Self {
            port,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for NoResumptionServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A resumed run against a server that cannot resume fails with the reason, instead of
/// reporting full handshakes as resumed ones.
#[test]
fn bench_handshake_resume_is_an_error_when_nothing_resumes() -> TestResult {
    let served = Served::start(&[])?;
    let key = served.cert.with_file_name("key.pem");
    let server = NoResumptionServer::start(&served.cert, &key)?;
    let url = format!("https://127.0.0.1:{}/status", server.port);
    // One connection at a time, as the server serves them; each after the first could resume.
    let args = ["--connections", "1", "--duration", "1"];
    let (code, report, err) = bench_handshake(&url, &served.cert, &args)?;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        report["handshakes"].as_u64().is_some_and(|n| n >= 2),
        "{report}"
    );
    let (code, report, err) =
        bench_handshake(&url, &served.cert, &[&args[..], &["--resume"]].concat())?;
    assert_ne!(code, Some(0), "{report}");
    assert_eq!(report, serde_json::Value::Null);
    assert!(
        err.contains("none of the") && err.contains("resumed"),
        "{err}"
    );
    Ok(())
}
