//! The real `duplex` binary: startup errors, signals, the lifespan across a process exit.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::TestResult;

fn duplex() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_duplex"));
    command.env_remove("DUPLEX_LOG").env("NO_COLOR", "1");
    command
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
    assert!(listening.is_some(), "server never said it was listening");
    assert!(static_dir.join("data.txt").is_file());

    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status()?;
    assert!(status.success());
    let (exited, exit) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = exited.send(child.wait());
    });
    let exit = exit
        .recv_timeout(Duration::from_secs(15))
        .map_err(|_| "no exit within 15 s of SIGTERM")??;
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
    let (cert_pem, _) = duplex::tls::generate_self_signed(&[], 1)?;
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, cert_pem)?;
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
