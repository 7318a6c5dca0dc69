//! Where `duplex serve` listens: a Unix domain socket (`--uds`, plain and TLS) and host names
//! for `--host`, over real sockets.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use bytes::BytesMut;
use clap::Parser;
use duplex::cli::config::Cli;
use duplex::cli::startup::{Running, prepare};
use duplex::client::TlsOptions;
use duplex::protocol::ws::{Decoder, Inbound, Message, Role, write_frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;

use crate::helpers::{TestResult, parse_one, read_responses};
use crate::ws_client::upgrade_request;

/// `prepare` with these flags (plus a static and a certificate directory in `dir`).
async fn start(dir: &Path, flags: &[&str]) -> Result<Running, duplex::cli::startup::StartupError> {
    duplex::transport::tls::install_crypto_provider();
    let mut args = vec![
        "duplex".to_owned(),
        "--static-dir".into(),
        dir.join("static").display().to_string(),
        "--dev-cert-dir".into(),
        dir.join("certs").display().to_string(),
    ];
    args.extend(flags.iter().map(|flag| (*flag).to_owned()));
    let serve = Cli::try_parse_from(args)
        .unwrap_or_else(|e| panic!("args: {e}"))
        .into_serve();
    let log = duplex::server::log::Log::memory(duplex::server::log::LogOptions::default()).0;
    prepare(&serve, log).await
}

/// Serves `running` until the returned sender is used or dropped.
fn serve(
    running: Running,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(running.serve(async {
        let _ = stopped.await;
    }));
    (stop, task)
}

async fn get_status<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S) -> TestResult {
    io.write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let responses = read_responses(io, 1, false).await?;
    let response = responses.first().ok_or("no response")?;
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, r#"{"status":"ok"}"#)
    );
    Ok(())
}

/// Upgrades on `/ws/echo` and gets `Echo: hi` back.
async fn echo_hi<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S) -> TestResult {
    io.write_all(upgrade_request("/ws/echo", &[]).as_bytes())
        .await?;
    let mut buf = BytesMut::new();
    let head = loop {
        if let Some((head, used)) = parse_one(&buf, false, false)? {
            let _ = buf.split_to(used);
            break head;
        }
        assert!(io.read_buf(&mut buf).await? > 0, "EOF before the 101");
    };
    assert_eq!(head.status, 101);
    let mut frame = BytesMut::new();
    write_frame(&mut frame, 0x81, Some([1, 2, 3, 4]), b"hi");
    io.write_all(&frame).await?;
    let mut decoder = Decoder::new(Role::Client, 1024, None);
    loop {
        if let Some(inbound) = decoder.decode(&mut buf)? {
            assert_eq!(inbound, Inbound::Message(Message::Text("Echo: hi".into())));
            return Ok(());
        }
        assert!(io.read_buf(&mut buf).await? > 0, "EOF before the echo");
    }
}

#[tokio::test]
async fn http_and_websocket_are_served_on_a_unix_socket() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("duplex.sock");
    let running = start(
        dir.path(),
        &["--no-tls", "--uds", &path.display().to_string()],
    )
    .await?;
    assert_eq!(running.local_addr(), None, "no TCP listener with --uds");
    let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let (stop, task) = serve(running);

    get_status(&mut UnixStream::connect(&path).await?).await?;
    echo_hi(&mut UnixStream::connect(&path).await?).await?;

    // curl, a client this project does not write, where it is installed.
    let curl = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "5", "--unix-socket"])
        .arg(&path)
        .arg("http://localhost/status")
        .output()
        .await;
    match curl {
        Ok(output) => {
            assert!(output.status.success(), "{output:?}");
            assert_eq!(
                String::from_utf8_lossy(&output.stdout),
                r#"{"status":"ok"}"#
            );
        }
        Err(err) => eprintln!("curl not run ({err}); the raw clients above cover the socket"),
    }

    let _ = stop.send(());
    task.await??;
    assert!(!path.exists(), "socket file left behind");
    Ok(())
}

/// h2c with prior knowledge on the Unix socket: the first bytes are read to tell HTTP/2 from
/// HTTP/1.1 (a Unix stream cannot be peeked) and put back for whichever serves them.
#[tokio::test]
async fn h2c_with_prior_knowledge_is_served_on_a_unix_socket() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("duplex.sock");
    let running = start(
        dir.path(),
        &["--no-tls", "--uds", &path.display().to_string()],
    )
    .await?;
    let (stop, task) = serve(running);

    let io = hyper_util::rt::TokioIo::new(UnixStream::connect(&path).await?);
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await?;
    let driver = tokio::spawn(connection);
    for _ in 0..2 {
        let request = http::Request::get("http://localhost/status")
            .body(http_body_util::Empty::<bytes::Bytes>::new())?;
        let response = sender.send_request(request).await?;
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(response.status(), 200);
        let body = http_body_util::BodyExt::collect(response.into_body()).await?;
        assert_eq!(&body.to_bytes()[..], br#"{"status":"ok"}"#);
    }
    drop(sender);
    let _ = driver.await;
    // HTTP/1.1 still gets there, with its first bytes put back.
    get_status(&mut UnixStream::connect(&path).await?).await?;

    // curl, where it is installed and has HTTP/2.
    let curl = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "--http2-prior-knowledge",
            "--unix-socket",
        ])
        .arg(&path)
        .args(["-w", " %{http_version}", "http://localhost/status"])
        .output()
        .await;
    match curl {
        Ok(output) if output.status.success() => assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            r#"{"status":"ok"} 2"#
        ),
        Ok(output) => eprintln!("curl without HTTP/2 here? {output:?}"),
        Err(err) => eprintln!("curl not run ({err}); the hyper client above covers the socket"),
    }

    let _ = stop.send(());
    task.await??;
    Ok(())
}

#[tokio::test]
async fn tls_is_served_on_a_unix_socket_when_configured() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tls.sock");
    let running = start(dir.path(), &["--uds", &path.display().to_string()]).await?;
    let (stop, task) = serve(running);
    let config = TlsOptions {
        insecure: false,
        cacert: Some(
            dir.path()
                .join("certs")
                .join(duplex::transport::tls::DEV_CERT_FILE),
        ),
        ..TlsOptions::default()
    }
    .client_config()?;
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&config));
    let tcp = UnixStream::connect(&path).await?;
    let mut tls = connector.connect("localhost".try_into()?, tcp).await?;
    get_status(&mut tls).await?;
    let _ = stop.send(());
    task.await??;
    Ok(())
}

#[tokio::test]
async fn a_stale_socket_file_is_replaced_and_a_live_one_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("stale.sock");
    // What a crashed server leaves: the file, with nobody accepting on it.
    drop(std::os::unix::net::UnixListener::bind(&path)?);
    assert!(path.exists());
    let uds = path.display().to_string();
    let running = start(dir.path(), &["--no-tls", "--uds", &uds]).await?;
    let (stop, task) = serve(running);
    get_status(&mut UnixStream::connect(&path).await?).await?;

    let second = tempfile::tempdir()?;
    let refused = start(second.path(), &["--no-tls", "--uds", &uds]).await;
    let message = refused.err().map(|err| err.to_string()).unwrap_or_default();
    assert!(
        message.contains("a server is listening there already"),
        "{message}"
    );
    // The live server's socket survived the refused start.
    get_status(&mut UnixStream::connect(&path).await?).await?;

    let _ = stop.send(());
    task.await??;

    let regular = dir.path().join("not-a-socket");
    std::fs::write(&regular, "mine")?;
    let refused = start(
        dir.path(),
        &["--no-tls", "--uds", &regular.display().to_string()],
    )
    .await;
    let message = refused.err().map(|err| err.to_string()).unwrap_or_default();
    assert!(message.contains("is not a socket"), "{message}");
    assert_eq!(std::fs::read_to_string(&regular)?, "mine");
    Ok(())
}

#[tokio::test]
async fn host_names_are_resolved_and_bound() -> TestResult {
    let dir = tempfile::tempdir()?;
    let running = start(
        dir.path(),
        &["--no-tls", "--host", "localhost", "--port", "0"],
    )
    .await?;
    let addr = running.local_addr().ok_or("no TCP listener")?;
    assert!(addr.ip().is_loopback(), "{addr}");
    let (stop, task) = serve(running);
    get_status(&mut tokio::net::TcpStream::connect(addr).await?).await?;
    let _ = stop.send(());
    task.await??;

    let refused = start(dir.path(), &["--no-tls", "--host", "no-such-host.invalid"]).await;
    let message = refused.err().map(|err| err.to_string()).unwrap_or_default();
    assert!(
        message.starts_with("cannot resolve --host no-such-host.invalid"),
        "{message}"
    );
    Ok(())
}
