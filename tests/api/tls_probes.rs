//! The TLS probes (`--tls-probes`) over real sockets, with duplex's own verifying client: it
//! rejects every bad certificate and accepts every control, and the server judges each
//! handshake the way a case runner reads it.

use std::path::Path;
use std::sync::Arc;

use duplex::client::http::Outgoing;
use duplex::client::{ClientError, Target, http};
use duplex::transport::tls_probes::{Expect, Observation, TlsCase, TlsProbes, Verdict, judge_run};
use rustls::SupportedProtocolVersion;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::helpers::{READ_TIMEOUT, TestApp, TestResult, spawn_app_with};

/// A server with the probes on free ports.
async fn spawn_probes() -> (TestApp, TlsProbes) {
    let app = spawn_app_with(true, &["--tls-probes", "--tls-probes-port", "0"]).await;
    let probes = app
        .tls_probes
        .clone()
        .unwrap_or_else(|| panic!("--tls-probes gave no probes"));
    (app, probes)
}

const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// duplex's client configuration, verifying against `ca` only, speaking `versions`, with a
/// client certificate when given.
fn client(
    ca: &Path,
    versions: &[&'static SupportedProtocolVersion],
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, Box<dyn std::error::Error>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let builder = rustls::ClientConfig::builder_with_protocol_versions(versions)
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => builder.with_client_auth_cert(
            CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?,
            PrivateKeyDer::from_pem_file(key)?,
        )?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `GET path` on `case`'s port with `config`; then what the server concluded.
async fn probe(
    probes: &TlsProbes,
    case: TlsCase,
    path: &str,
    config: &Arc<rustls::ClientConfig>,
) -> Result<(Result<http::Response, ClientError>, Observation), Box<dyn std::error::Error>> {
    let endpoint = probes.endpoint(case).ok_or("no such probe")?;
    let since = probes.observations.next_seq();
    let target = Target::parse(&endpoint.url_of(path))?;
    let result = http::request(&target, Some(config), Outgoing::get(), READ_TIMEOUT).await;
    let observed = probes
        .observations
        .wait_for(case, since, READ_TIMEOUT)
        .await
        .ok_or_else(|| format!("{case}: the server judged nothing"))?;
    Ok((result, observed))
}

#[tokio::test]
async fn duplex_client_rejects_every_bad_certificate_and_accepts_every_control() -> TestResult {
    let (app, probes) = spawn_probes().await;
    let config = client(&probes.ca_file, BOTH, None)?;
    for case in TlsCase::ALL
        .into_iter()
        .filter(|case| !case.needs_client_cert())
    {
        let (result, observed) = probe(&probes, case, "/status", &config).await?;
        // What a case runner concludes from the exit status and the server's observation.
        let run = judge_run(case, result.is_ok(), Some(&observed));
        assert_eq!(run.0, Verdict::Pass, "{case}: {run:?}");
        match case.expect() {
            Expect::Accept => {
                let response = result.map_err(|e| format!("{case}: {e}"))?;
                assert_eq!(response.body, &b"{\"status\":\"ok\"}"[..], "{case}");
            }
            Expect::Reject => {
                let err = result.err().ok_or_else(|| format!("{case}: accepted"))?;
                assert!(matches!(err, ClientError::Tls { .. }), "{case}: {err}");
            }
        }
        assert_eq!(observed.verdict, Verdict::Pass, "{case}: {observed:?}");
    }
    // What the server logged is what a case runner reads: one line per probe connection.
    let lines = app.log.lines();
    let line = |needle: &str| lines.iter().find(|l| l.contains(needle)).cloned();
    let expired = line("(probe expired): pass").ok_or("no line for expired")?;
    assert!(
        expired.contains("certificate_expired (correct)"),
        "{expired}"
    );
    let good = line("(probe good): pass").ok_or("no line for good")?;
    assert!(good.contains("and sent GET /status (correct)"), "{good}");
    Ok(())
}

#[tokio::test]
async fn the_client_error_names_what_is_wrong_with_each_certificate() -> TestResult {
    let (_app, probes) = spawn_probes().await;
    let config = client(&probes.ca_file, BOTH, None)?;
    for (case, says) in [
        (TlsCase::Expired, "has expired"),
        (TlsCase::NotYetValid, "not valid yet"),
        (TlsCase::WrongHost, "not valid for this host"),
        (TlsCase::SelfSigned, "not signed by a trusted authority"),
        (TlsCase::UntrustedRoot, "not signed by a trusted authority"),
        (
            TlsCase::IncompleteChain,
            "not signed by a trusted authority",
        ),
    ] {
        let (result, _) = probe(&probes, case, "/status", &config).await?;
        let err = result.err().ok_or_else(|| format!("{case}: accepted"))?;
        assert!(err.to_string().contains(says), "{case}: {err}");
    }
    Ok(())
}

#[tokio::test]
async fn a_client_that_skips_verification_is_caught_accepting_a_bad_certificate() -> TestResult {
    let (app, probes) = spawn_probes().await;
    // duplex client -k: any certificate.
    let insecure = duplex::client::TlsOptions {
        insecure: true,
        ..duplex::client::TlsOptions::default()
    }
    .client_config()?;
    let (result, observed) = probe(&probes, TlsCase::Expired, "/status", &insecure).await?;
    assert_eq!(result?.status, 200);
    assert_eq!(observed.verdict, Verdict::Fail);
    assert!(
        observed
            .diagnosis
            .starts_with("the client accepted a certificate signed by the local CA that expired"),
        "{}",
        observed.diagnosis
    );
    let line = app
        .log
        .wait_for("(probe expired): FAIL: the client accepted", READ_TIMEOUT)
        .await
        .ok_or("no FAIL line")?;
    assert!(line.contains("and sent GET /status"), "{line}");
    Ok(())
}

#[tokio::test]
async fn each_version_probe_needs_its_version() -> TestResult {
    let (_app, probes) = spawn_probes().await;
    let tls12 = client(&probes.ca_file, &[&rustls::version::TLS12], None)?;
    let tls13 = client(&probes.ca_file, &[&rustls::version::TLS13], None)?;
    for (case, config, works) in [
        (TlsCase::Tls12Only, &tls12, true),
        (TlsCase::Tls12Only, &tls13, false),
        (TlsCase::Tls13Only, &tls13, true),
        (TlsCase::Tls13Only, &tls12, false),
    ] {
        let (result, observed) = probe(&probes, case, "/status", config).await?;
        assert_eq!(result.is_ok(), works, "{case}: {result:?}");
        if works {
            assert_eq!(observed.verdict, Verdict::Pass, "{case}");
        } else {
            assert_eq!(observed.verdict, Verdict::Fail, "{case}");
            let missing = if case == TlsCase::Tls12Only {
                "TLS 1.2"
            } else {
                "TLS 1.3"
            };
            assert!(
                observed
                    .diagnosis
                    .contains(&format!("the client offers no {missing}")),
                "{case}: {}",
                observed.diagnosis
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_client_certificate_probe_wants_the_given_certificate() -> TestResult {
    let (_app, probes) = spawn_probes().await;
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        let without = client(&probes.ca_file, versions, None)?;
        let (result, observed) = probe(&probes, TlsCase::ClientCert, "/status", &without).await?;
        assert!(result.is_err(), "accepted without a client certificate");
        assert_eq!(observed.verdict, Verdict::Fail);
        assert!(
            observed.diagnosis.contains("sent no certificate")
                && observed.diagnosis.contains("client.pem"),
            "{}",
            observed.diagnosis
        );
        // A runner hands these files to the client through its placeholders.
        let placeholders = probes.placeholders(TlsCase::ClientCert).ok_or("no probe")?;
        let given = |name: &str| {
            placeholders
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| std::path::PathBuf::from(value))
        };
        let (cert, key) = (
            given("{client_cert}").ok_or("no {client_cert}")?,
            given("{client_key}").ok_or("no {client_key}")?,
        );
        assert_eq!(cert, probes.client_cert_file);
        let identity = (cert.as_path(), key.as_path());
        let with = client(&probes.ca_file, versions, Some(identity))?;
        let (result, observed) = probe(&probes, TlsCase::ClientCert, "/status", &with).await?;
        assert_eq!(result?.status, 200);
        assert_eq!(observed.verdict, Verdict::Pass);
        assert!(
            observed.diagnosis.contains("with its client certificate"),
            "{}",
            observed.diagnosis
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_clienthello_endpoint_names_what_the_duplex_client_offered() -> TestResult {
    let (app, probes) = spawn_probes().await;
    let config = client(&probes.ca_file, BOTH, None)?;
    let (result, _) = probe(&probes, TlsCase::Good, "/tls/clienthello", &config).await?;
    let report: serde_json::Value = serde_json::from_slice(&result?.body)?;
    assert_eq!(report["probe"], "good");
    assert_eq!(
        report["tls_versions"],
        serde_json::json!(["TLS 1.3", "TLS 1.2"])
    );
    assert_eq!(report["server_name"], "localhost");
    assert_eq!(report["alpn"], serde_json::json!(["http/1.1"]));
    let names = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|entry| entry["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        names("cipher_suites").contains(&"TLS_AES_256_GCM_SHA384".to_owned()),
        "{report:#}"
    );
    assert!(
        names("supported_groups").contains(&"x25519".to_owned()),
        "{report:#}"
    );
    assert!(
        names("signature_schemes").contains(&"ecdsa_secp256r1_sha256".to_owned()),
        "{report:#}"
    );
    assert!(names("extensions").contains(&"extended_master_secret".to_owned()));
    // rustls offers nothing weak or obsolete.
    assert_eq!(report["rating"], "Probably Okay", "{report:#}");
    // Only probe ports keep the ClientHello; the main port does not know the route.
    let post = http::request(
        &Target::parse(
            &probes
                .endpoint(TlsCase::Good)
                .ok_or("no probe")?
                .url_of("/tls/clienthello"),
        )?,
        Some(&config),
        Outgoing::post_json("{}"),
        READ_TIMEOUT,
    )
    .await?;
    assert_eq!(post.status, 405);
    // With --tls-probes the development certificate is signed by the local CA too.
    let target = app.target("/tls/clienthello");
    let main = http::request(&target, Some(&config), Outgoing::get(), READ_TIMEOUT).await?;
    assert_eq!(main.status, 404);
    Ok(())
}

#[tokio::test]
async fn plain_http_on_a_probe_port_is_judged_inconclusive_not_a_pass() -> TestResult {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_app, probes) = spawn_probes().await;
    let endpoint = probes.endpoint(TlsCase::Expired).ok_or("no probe")?;
    let since = probes.observations.next_seq();
    let mut tcp = tokio::net::TcpStream::connect(endpoint.addr).await?;
    tcp.write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(READ_TIMEOUT, tcp.read_to_end(&mut sink)).await;
    let observed = probes
        .observations
        .wait_for(TlsCase::Expired, since, READ_TIMEOUT)
        .await
        .ok_or("nothing judged")?;
    assert_eq!(observed.verdict, Verdict::Inconclusive);
    assert!(
        observed.diagnosis.contains("plain HTTP"),
        "{}",
        observed.diagnosis
    );
    Ok(())
}

#[tokio::test]
async fn probe_connections_count_against_the_connection_cap() -> TestResult {
    let app = spawn_app_with(
        true,
        &[
            "--tls-probes",
            "--tls-probes-port",
            "0",
            "--max-connections",
            "1",
        ],
    )
    .await;
    let probes = app.tls_probes.clone().ok_or("no probes")?;
    let config = client(&probes.ca_file, BOTH, None)?;
    let good = probes.endpoint(TlsCase::Good).ok_or("no probe")?;
    // A connection that has not started its handshake holds the one place.
    let held = tokio::net::TcpStream::connect(good.addr).await?;
    let target = Target::parse(&good.url())?;
    let result = http::request(&target, Some(&config), Outgoing::get(), READ_TIMEOUT).await;
    // Closed at once (a reset or an EOF, whichever the kernel delivers), not a certificate error.
    let err = result.err().ok_or("served over the cap")?;
    assert!(
        matches!(&err, ClientError::Tls { reason, .. } if !reason.contains("certificate")),
        "{err}"
    );
    drop(held);
    // Its place comes back once the server sees it gone (the handshake ends with EOF).
    let since = probes.observations.next_seq();
    probes
        .observations
        .wait_for(TlsCase::Good, since, READ_TIMEOUT)
        .await
        .ok_or("the held connection was not judged")?;
    let (result, observed) = probe(&probes, TlsCase::Good, "/status", &config).await?;
    assert_eq!(result?.status, 200);
    assert_eq!(observed.verdict, Verdict::Pass);
    Ok(())
}

#[tokio::test]
async fn a_probe_connection_is_traced_like_any_other() -> TestResult {
    let app = spawn_app_with(true, &["--tls-probes", "--tls-probes-port", "0", "--trace"]).await;
    let probes = app.tls_probes.clone().ok_or("no probes")?;
    let config = client(&probes.ca_file, &[&rustls::version::TLS12], None)?;
    let (result, observed) = probe(&probes, TlsCase::Tls12Only, "/status", &config).await?;
    assert_eq!(result?.status, 200);
    let line = app
        .log
        .wait_for(&format!("conn {} +", observed.conn), READ_TIMEOUT)
        .await
        .ok_or("no trace")?;
    assert!(line.contains("connection from"), "{line}");
    let tls = app
        .log
        .wait_for("TLS TLSv1_2, cipher", READ_TIMEOUT)
        .await
        .ok_or("no TLS trace line")?;
    assert!(tls.contains("ALPN http/1.1, SNI localhost"), "{tls}");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_inconclusive_after_the_handshake_timeout() -> TestResult {
    // Paused clock: the timeout passes without waiting for it.
    let app = spawn_app_with(
        true,
        &[
            "--tls-probes",
            "--tls-probes-port",
            "0",
            "--tls-handshake-timeout",
            "1",
        ],
    )
    .await;
    let probes = app.tls_probes.clone().ok_or("no probes")?;
    let endpoint = probes.endpoint(TlsCase::Expired).ok_or("no probe")?;
    let since = probes.observations.next_seq();
    let _silent = tokio::net::TcpStream::connect(endpoint.addr).await?;
    let observed = probes
        .observations
        .wait_for(TlsCase::Expired, since, READ_TIMEOUT)
        .await
        .ok_or("nothing judged")?;
    assert_eq!(observed.verdict, Verdict::Inconclusive);
    assert!(
        observed.diagnosis.contains("--tls-handshake-timeout"),
        "{}",
        observed.diagnosis
    );
    Ok(())
}
