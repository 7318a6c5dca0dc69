//! The real `duplex` binary: startup errors, signals, the lifespan across a process exit.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::TestResult;

fn duplex() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_duplex"));
    command.env_remove("DUPLEX_LOG").env("NO_COLOR", "1");
    command
}

/// The address in the server's `listening on http://ADDR` log line.
fn address_in(listening: &str) -> Result<String, &'static str> {
    listening
        .rsplit_once("http://")
        .map(|(_, addr)| addr.trim().to_owned())
        .ok_or("no address in the log line")
}

/// The child's exit status, or an error when it is still running after `limit`.
fn exit_within(
    mut child: std::process::Child,
    limit: Duration,
) -> Result<std::process::ExitStatus, Box<dyn std::error::Error>> {
    let (exited, exit) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = exited.send(child.wait());
    });
    let status = exit
        .recv_timeout(limit)
        .map_err(|_| format!("no exit within {limit:?}"))??;
    Ok(status)
}

#[test]
fn sigterm_stops_gracefully_and_removes_the_data_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let static_dir = dir.path().join("static");
    let mut child = duplex()
        .args(["--no-tls", "--port", "0", "--static-dir"])
        .arg(&static_dir)
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("listening on"));
    let listening = listening.ok_or("server never said it was listening")?;
    assert!(static_dir.join("data.txt").is_file());

    // An open /ws/stream session must hear about the shutdown: close 1001.
    let addr = address_in(&listening)?;
    let mut ws = std::net::TcpStream::connect(&addr)?;
    ws.set_read_timeout(Some(Duration::from_secs(10)))?;
    ws.write_all(crate::ws_client::upgrade_request("/ws/stream", &[]).as_bytes())?;
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    // The 101 head and the first update.
    while !seen.windows(14).any(|w| w == b"periodic updat") {
        let n = ws.read(&mut chunk)?;
        assert!(n > 0, "connection closed before the first update");
        seen.extend_from_slice(&chunk[..n]);
    }

    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status()?;
    assert!(status.success());
    // Read to EOF: the last frame must be the server's close 1001.
    loop {
        let n = ws.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&chunk[..n]);
    }
    let close = b"\x88\x16\x03\xe9server shutting down";
    assert!(
        seen.ends_with(close),
        "no close 1001 at the end of {:?}",
        String::from_utf8_lossy(&seen[seen.len().saturating_sub(40)..])
    );
    let exit = exit_within(child, Duration::from_secs(15)).map_err(|e| format!("SIGTERM: {e}"))?;
    assert!(exit.success(), "exit status {exit}");
    assert!(!static_dir.exists(), "static dir left behind");
    Ok(())
}

#[test]
fn port_in_use_fails_with_one_line_and_removes_the_data_file() -> TestResult {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port().to_string();
    let dir = tempfile::tempdir()?;
    let static_dir = dir.path().join("static");
    let output = duplex()
        .args([
            "--no-tls",
            "--port",
            &port,
            "--log-level",
            "error",
            "--static-dir",
        ])
        .arg(&static_dir)
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot listen on 127.0.0.1:"), "{stderr}");
    assert!(
        !static_dir.exists(),
        "data.txt left behind after a startup error"
    );
    Ok(())
}

#[test]
fn bad_key_file_is_a_one_line_error_naming_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let generated = duplex::transport::tls::generate_self_signed(
        duplex::transport::tls::KeyKind::Ed25519,
        &[],
        1,
    )?;
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert_pem)?;
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n",
    )?;
    let output = duplex()
        .args(["--port", "0", "--log-level", "error", "--cert"])
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg("--static-dir")
        .arg(dir.path().join("static"))
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&key.display().to_string()), "{stderr}");
    Ok(())
}

#[test]
fn unknown_flag_exits_with_code_2() -> TestResult {
    let output = duplex().arg("--no-such-flag").output()?;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--no-such-flag"));
    Ok(())
}

/// Ctrl+C starts a graceful stop that waits (up to `--shutdown-timeout`) for requests in
/// flight; a second Ctrl+C stops at once, still removing the data file, with status 130.
#[test]
fn second_ctrl_c_stops_at_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let static_dir = dir.path().join("static");
    let mut child = duplex()
        .args(["--no-tls", "--port", "0", "--shutdown-timeout", "60"])
        .args([
            "--body-timeout",
            "60",
            "--keep-alive-timeout",
            "60",
            "--static-dir",
        ])
        .arg(&static_dir)
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (line_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| -> Result<String, String> {
        loop {
            match lines.recv_timeout(Duration::from_secs(10)) {
                Ok(line) if line.contains(needle) => return Ok(line),
                Ok(_) => {}
                Err(_) => return Err(format!("no log line with `{needle}`")),
            }
        }
    };
    let listening = wait_for("listening on")?;
    let addr = address_in(&listening)?;
    // A request whose body never comes: the graceful stop would wait a minute for it.
    let mut stuck = std::net::TcpStream::connect(&addr)?;
    stuck.write_all(b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")?;
    std::thread::sleep(Duration::from_millis(200));

    let pid = child.id().to_string();
    let interrupt = || Command::new("kill").args(["-INT", &pid]).status();
    assert!(interrupt()?.success());
    wait_for("finishing open connections")?;
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait()?.is_none(), "exited without waiting");
    assert!(static_dir.join("data.txt").is_file());

    assert!(interrupt()?.success());
    let exit =
        exit_within(child, Duration::from_secs(5)).map_err(|e| format!("second Ctrl+C: {e}"))?;
    assert_eq!(exit.code(), Some(130), "exit status {exit}");
    assert!(!static_dir.exists(), "static dir left behind");
    drop(stuck);
    Ok(())
}

/// A `duplex serve --no-tls` process serving `static_dir`, its log lines drained by a thread.
struct Instance {
    child: std::process::Child,
    addr: String,
}

impl Instance {
    fn start(static_dir: &std::path::Path, port: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let mut child = duplex()
            .args(["--no-tls", "--port", port, "--static-dir"])
            .arg(static_dir)
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (listening_tx, listening) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = listening_tx.send(line);
                }
            }
        });
        let line = listening
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "the server never said it was listening")?;
        let addr = address_in(&line)?;
        Ok(Self { child, addr })
    }

    fn port(&self) -> &str {
        self.addr.rsplit(':').next().unwrap_or_default()
    }

    /// The status line of `GET /static/data.txt`.
    fn get_data_file(&self) -> Result<String, Box<dyn std::error::Error>> {
        let mut conn = std::net::TcpStream::connect(&self.addr)?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        conn.write_all(b"GET /static/data.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut response = String::new();
        conn.read_to_string(&mut response)?;
        Ok(response.lines().next().unwrap_or_default().to_owned())
    }

    fn stop(self) -> Result<std::process::ExitStatus, Box<dyn std::error::Error>> {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()?
                .success()
        );
        exit_within(self.child, Duration::from_secs(15))
    }
}

#[test]
fn a_second_instance_on_a_taken_port_leaves_the_first_ones_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let static_dir = dir.path().join("static");
    let first = Instance::start(&static_dir, "0")?;
    let second = duplex()
        .args(["--no-tls", "--log-level", "error", "--port", first.port()])
        .arg("--static-dir")
        .arg(&static_dir)
        .output()?;
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("cannot listen on"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(first.get_data_file()?, "HTTP/1.1 200 OK");
    assert!(first.stop()?.success());
    assert!(!static_dir.exists(), "static dir left behind");
    Ok(())
}

#[test]
fn two_instances_share_the_data_file_until_the_last_one_stops() -> TestResult {
    let dir = tempfile::tempdir()?;
    let static_dir = dir.path().join("static");
    let first = Instance::start(&static_dir, "0")?;
    let second = Instance::start(&static_dir, "0")?;
    assert!(first.stop()?.success());
    assert_eq!(second.get_data_file()?, "HTTP/1.1 200 OK");
    assert!(second.stop()?.success());
    assert!(
        !static_dir.join("data.txt").exists(),
        "data.txt left behind"
    );
    Ok(())
}

#[test]
fn the_file_of_a_killed_instance_is_taken_over_by_the_next_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    let static_dir = dir.path().join("static");
    let mut killed = Instance::start(&static_dir, "0")?;
    killed.child.kill()?; // SIGKILL: no cleanup at all
    killed.child.wait()?;
    assert!(static_dir.join("data.txt").is_file());
    let next = Instance::start(&static_dir, "0")?;
    assert_eq!(next.get_data_file()?, "HTTP/1.1 200 OK");
    assert!(next.stop()?.success());
    assert!(
        !static_dir.join("data.txt").exists(),
        "data.txt left behind"
    );
    Ok(())
}

/// `count` requests of `/status` on one keep-alive connection, each answered before the next.
fn keep_alive_requests(addr: &str, count: usize) -> TestResult {
    let mut tcp = std::net::TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut chunk = [0u8; 16 * 1024];
    for _ in 0..count {
        tcp.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")?;
        let mut seen = Vec::new();
        while !seen.ends_with(b"{\"status\":\"ok\"}") {
            let n = tcp.read(&mut chunk)?;
            assert!(n > 0, "connection closed early");
            seen.extend_from_slice(&chunk[..n]);
        }
    }
    Ok(())
}

#[test]
fn json_logging_makes_every_line_of_the_process_a_json_object() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut child = duplex()
        .args([
            "--no-tls",
            "--port",
            "0",
            "--log-format",
            "json",
            "--static-dir",
        ])
        .arg(dir.path().join("static"))
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let mut seen = Vec::new();
    let listening = lines
        .by_ref()
        .inspect(|line| seen.push(line.clone()))
        .find(|line| line.contains("listening on"))
        .ok_or("server never said it was listening")?;
    let listening: serde_json::Value = serde_json::from_str(&listening)?;
    let addr = address_in(listening["message"].as_str().ok_or("no message")?)?;
    keep_alive_requests(&addr, 2)?;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    seen.extend(lines);
    let _ = exit_within(child, Duration::from_secs(15))?;
    let mut events = Vec::new();
    for line in &seen {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))?;
        assert!(
            value["timestamp"].is_string() && value["level"].is_string(),
            "{line}"
        );
        events.push(value["event"].as_str().unwrap_or_default().to_owned());
    }
    // The program's own lines (startup, shutdown) and the server's access lines alike.
    assert_eq!(
        events.iter().filter(|e| *e == "http").count(),
        2,
        "{seen:?}"
    );
    assert!(events.iter().any(|e| e == "log"), "{seen:?}");
    Ok(())
}

#[test]
fn a_stderr_nobody_reads_costs_log_lines_not_requests() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut child = duplex()
        .args(["--no-tls", "--port", "0", "--trace", "--static-dir"])
        .arg(dir.path().join("static"))
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut reader = BufReader::new(stderr);
    let mut listening = String::new();
    while !listening.contains("listening on") {
        listening.clear();
        if reader.read_line(&mut listening)? == 0 {
            return Err("server never said it was listening".into());
        }
    }
    let addr = address_in(&listening)?;
    // About 12 trace lines (800 bytes) per request, and nobody reads them: the pipe (64 KiB)
    // and the writer's buffer (1 MiB) fill, and the rest are dropped, not waited for.
    let started = std::time::Instant::now();
    keep_alive_requests(&addr, 4000)?;
    let took = started.elapsed();
    // Read what is there: the writer's next batch (at the latest the shutdown's lines, which
    // the exit waits for) carries the drop report.
    let drained = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = reader.read_to_string(&mut all);
        all
    });
    keep_alive_requests(&addr, 1)?;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let _ = exit_within(child, Duration::from_secs(15))?;
    let log = drained.join().map_err(|_| "reader panicked")?;
    assert!(
        log.contains("log lines dropped: stderr was not keeping up"),
        "no drop report in {} bytes of log (4000 requests took {took:?})",
        log.len()
    );
    Ok(())
}

#[test]
fn a_user_ed25519_certificate_is_kept_but_named_as_one_browsers_refuse() -> TestResult {
    let dir = tempfile::tempdir()?;
    let made = duplex()
        .args(["cert", "--out-dir"])
        .arg(dir.path())
        .output()?;
    assert!(made.status.success());
    assert!(String::from_utf8_lossy(&made.stdout).contains("refuse ED25519"));
    let mut child = duplex()
        .args(["--port", "0", "--cert"])
        .arg(dir.path().join("cert.pem"))
        .arg("--key")
        .arg(dir.path().join("key.pem"))
        .arg("--static-dir")
        .arg(dir.path().join("static"))
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let seen: Vec<String> = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .take_while(|line| !line.contains("listening on"))
        .collect();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let _ = exit_within(child, Duration::from_secs(15))?;
    assert!(
        seen.iter().any(|line| line.starts_with("WARNING:")
            && line.contains("ED25519 certificate")
            && line.contains("Chromium and Firefox refuse it")),
        "{seen:?}"
    );
    Ok(())
}
