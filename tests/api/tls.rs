//! TLS over real sockets: the generated certificate, protocol versions, ALPN.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestResult, spawn_app};

#[tokio::test]
async fn generated_certificate_verifies_for_localhost_and_127_0_0_1() -> TestResult {
    let app = spawn_app(true).await;
    for name in ["localhost", "127.0.0.1"] {
        let mut io = app.connect_as(name).await?;
        io.write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let responses = crate::helpers::read_responses(&mut io, 1, false).await?;
        assert_eq!(responses.first().map(|r| r.status), Some(200), "{name}");
    }
    Ok(())
}

#[tokio::test]
async fn generated_certificate_does_not_verify_for_other_names() -> TestResult {
    let app = spawn_app(true).await;
    let err = app.connect_as("example.com").await.err();
    assert!(
        err.is_some(),
        "a certificate for localhost verified as example.com"
    );
    Ok(())
}

/// A TLS 1.1 ClientHello (no `supported_versions`, legacy version 0x0302).
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0x00, 0x2f, 0x00, 0x35]); // AES128/256-CBC-SHA
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0, 0, body.len() as u8];
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x02, 0, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    record
}

#[tokio::test]
async fn tls_1_1_is_refused_with_a_fatal_alert() -> TestResult {
    let app = spawn_app(true).await;
    let mut tcp = TcpStream::connect(app.addr).await?;
    tcp.write_all(&tls11_client_hello()).await?;
    let mut reply = [0u8; 7];
    tokio::time::timeout(crate::helpers::READ_TIMEOUT, tcp.read_exact(&mut reply)).await??;
    // An alert record (21), not a ServerHello (22); fatal (2), and rustls names it
    // handshake_failure (40) or protocol_version (70) depending on what it checks first.
    assert_eq!(reply[0], 21, "expected an alert record, got {reply:?}");
    assert_eq!(reply[5], 2, "alert not fatal: {reply:?}");
    assert!([40, 70].contains(&reply[6]), "unexpected alert {reply:?}");
    Ok(())
}

#[tokio::test]
async fn plain_http_on_the_tls_port_does_not_hang() -> TestResult {
    let app = spawn_app(true).await;
    let mut tcp = TcpStream::connect(app.addr).await?;
    tcp.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    let mut reply = Vec::new();
    tokio::time::timeout(crate::helpers::READ_TIMEOUT, tcp.read_to_end(&mut reply)).await??;
    // rustls answers a non-TLS record with an alert and closes.
    assert!(reply.first().is_none_or(|&b| b == 21), "{reply:?}");
    Ok(())
}

/// `duplex cert` output, both kinds, served and verified by `duplex::client` with the
/// certificate as its only trust anchor.
#[tokio::test]
async fn written_certificates_of_both_kinds_serve_tls() -> TestResult {
    use duplex::client::http::Outgoing;
    use duplex::transport::tls::KeyKind;
    for kind in [KeyKind::Ed25519, KeyKind::Rsa4096] {
        let dir = tempfile::tempdir()?;
        let written = duplex::transport::tls::write_cert_files(dir.path(), kind, &[], 1, false)?;
        let (cert, key) = (written.cert_path.display(), written.key_path.display());
        let (cert, key) = (cert.to_string(), key.to_string());
        let app = crate::helpers::spawn_app_with(true, &["--cert", &cert, "--key", &key]).await;
        let response = app.send("/status", Outgoing::get()).await?;
        assert_eq!(
            (response.status.as_u16(), &response.body[..]),
            (200, &b"{\"status\":\"ok\"}"[..]),
            "{kind:?}"
        );
    }
    Ok(())
}

/// A TLS client of this app with its cipher suites reversed and limited to `version`.
fn reversed_suites_client(
    app: &crate::helpers::TestApp,
    version: &'static tokio_rustls::rustls::SupportedProtocolVersion,
) -> Result<tokio_rustls::TlsConnector, Box<dyn std::error::Error>> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    use std::sync::Arc;
    use tokio_rustls::rustls;
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.reverse();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&app.cert_file)? {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[version])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The server's cipher-suite order wins over the client's (testssl.sh's "server order").
#[tokio::test]
async fn the_servers_cipher_suite_order_wins() -> TestResult {
    use tokio_rustls::rustls;
    let app = spawn_app(true).await;
    let server_order = rustls::crypto::aws_lc_rs::default_provider().cipher_suites;
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let connector = reversed_suites_client(&app, version)?;
        let tcp = TcpStream::connect(app.addr).await?;
        let tls = connector.connect("localhost".try_into()?, tcp).await?;
        let chosen = tls
            .get_ref()
            .1
            .negotiated_cipher_suite()
            .ok_or("no suite")?;
        // The server's first suite of this version that fits its (ED25519) key.
        let expected = server_order
            .iter()
            .find(|suite| {
                suite.version() == version
                    && (version == &rustls::version::TLS13
                        || format!("{:?}", suite.suite()).contains("ECDSA"))
            })
            .ok_or("no suite of this version")?;
        assert_eq!(chosen.suite(), expected.suite(), "{version:?}");
    }
    Ok(())
}

/// A TLS 1.3 client that comes back resumes its session instead of a full handshake.
#[tokio::test]
async fn tls13_sessions_resume() -> TestResult {
    use tokio_rustls::rustls::HandshakeKind;
    let app = spawn_app(true).await;
    let connector = tokio_rustls::TlsConnector::from(app.client_tls().ok_or("TLS")?);
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let tcp = TcpStream::connect(app.addr).await?;
        let mut tls = connector.connect("localhost".try_into()?, tcp).await?;
        kinds.push(tls.get_ref().1.handshake_kind());
        // Reading the answer also reads the session tickets sent after the handshake.
        tls.write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        tls.read_to_end(&mut answer).await?;
        assert!(answer.starts_with(b"HTTP/1.1 200 OK"));
    }
    assert_eq!(
        kinds,
        [Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)]
    );
    Ok(())
}
