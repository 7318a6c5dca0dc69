//! TLS: rustls with the aws-lc-rs provider, certificates from PEM files or a generated
//! development certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// File names of the generated development certificate inside its directory.
pub const DEV_CERT_FILE: &str = "dev-cert.pem";
pub(crate) const DEV_KEY_FILE: &str = "dev-key.pem";

/// Days the generated development certificate is valid, like the guide's `-days 365`.
const DEV_CERT_DAYS: i64 = 365;

/// Why TLS could not be set up. Every message names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {reason}", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error("the private key in {} does not belong to the certificate in {}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("cannot use {} with {}: {source}", cert.display(), key.display())]
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{} exists; pass --force to replace it", path.display())]
    Exists { path: PathBuf },
    #[error("`{host}` cannot go into a certificate: {reason}")]
    BadHost { host: String, reason: String },
}

/// Installs aws-lc-rs as rustls' process-wide provider. rustls panics at the first handshake when
/// no provider (or an ambiguous one) is installed, so `main` and test helpers call this first.
pub fn install_crypto_provider() {
    // Err means one is installed already, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A loaded certificate: the rustls configuration and what to tell the operator.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    pub config: Arc<ServerConfig>,
    pub(crate) cert_path: PathBuf,
    /// SHA-256 of the leaf certificate's DER, colon-separated upper-case hex like `openssl x509 -fingerprint -sha256`.
    pub(crate) fingerprint: String,
}

/// Loads a PEM certificate chain and private key into a server configuration for TLS 1.2 and
/// 1.3 with ALPN `http/1.1`, choosing cipher suites in its own order.
///
/// # Errors
/// [`TlsError`] naming the unreadable, empty or mismatched file.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<LoadedCert, TlsError> {
    let cert_pem = std::fs::read(cert_path).map_err(|source| TlsError::Read {
        path: cert_path.to_path_buf(),
        source,
    })?;
    let key_pem = std::fs::read(key_path).map_err(|source| TlsError::Read {
        path: key_path.to_path_buf(),
        source,
    })?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    let Some(leaf) = chain.first() else {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_path_buf(),
        });
    };
    let fingerprint = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|err| TlsError::BadKey {
        path: key_path.to_path_buf(),
        reason: err.to_string(),
    })?;
    let mut config = ServerConfig::builder_with_protocol_versions(&[
        &rustls::version::TLS13,
        &rustls::version::TLS12,
    ])
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|source| match source {
        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        },
        source => TlsError::Rejected {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
            source,
        },
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Our cipher-suite order, not the client's: the strongest suite both sides have wins.
    config.ignore_client_order = true;
    Ok(LoadedCert {
        config: Arc::new(config),
        cert_path: cert_path.to_path_buf(),
        fingerprint,
    })
}

/// Returns the development certificate in `dir`, generating it on first use.
///
/// # Errors
/// [`TlsError`] if the files cannot be written or, once written, loaded.
pub(crate) fn dev_cert(dir: &Path) -> Result<LoadedCert, TlsError> {
    let cert_path = dir.join(DEV_CERT_FILE);
    let key_path = dir.join(DEV_KEY_FILE);
    if !cert_path.exists() || !key_path.exists() {
        let generated = generate_self_signed(KeyKind::Ed25519, &[], DEV_CERT_DAYS)?;
        create_dir(dir)?;
        write_private(&key_path, generated.key_pem.as_bytes(), true)?;
        write_public(&cert_path, generated.cert_pem.as_bytes(), true)?;
        tracing::info!(path = %cert_path.display(), "generated a self-signed development certificate");
    }
    load(&cert_path, &key_path)
}

/// The key algorithm of a generated certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ED25519, like the guide's `gen_certs.sh`.
    Ed25519,
    /// RSA 4096 with SHA-256, like `gen_certs_legacy.sh`: for clients that reject ED25519.
    Rsa4096,
}

/// A generated certificate and its key, PEM-encoded.
#[derive(Debug)]
pub struct SelfSigned {
    pub cert_pem: String,
    /// PKCS#8, as `openssl req -nodes` writes it.
    pub(crate) key_pem: String,
    pub(crate) fingerprint: String,
}

/// A self-signed certificate like the guide's `openssl req -x509 -newkey ed25519 -sha256
/// -subj /CN=localhost -addext "subjectAltName = DNS:localhost,IP:127.0.0.1"`, plus
/// `extra_hosts` (DNS names or IP addresses), valid from now for `days`.
///
/// # Errors
/// [`TlsError::BadHost`] for a name a certificate cannot hold; [`TlsError::Generate`] when
/// key generation fails.
pub fn generate_self_signed(
    kind: KeyKind,
    extra_hosts: &[String],
    days: i64,
) -> Result<SelfSigned, TlsError> {
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    for host in extra_hosts {
        params.subject_alt_names.push(san(host)?);
    }
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "localhost");
    params.distinguished_name = name;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(days);
    let key = match kind {
        KeyKind::Ed25519 => {
            // aws-lc-rs writes PKCS#8 v2 (with the public key) by default, which OpenSSL 3.0
            // and so Python's ssl and uvicorn cannot read; `openssl req` writes v1.
            let random = aws_lc_rs::rand::SystemRandom::new();
            let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(&random)
                .map_err(|_| rcgen::Error::RingUnspecified)?;
            KeyPair::from_pkcs8_der_and_sign_algo(
                &rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_ref()),
                &rcgen::PKCS_ED25519,
            )?
        }
        KeyKind::Rsa4096 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)?
        }
    };
    let cert = params.self_signed(&key)?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        fingerprint: fingerprint(cert.der()),
    })
}

/// A subject alternative name: an IP address if it parses as one, else a DNS name.
fn san(host: &str) -> Result<rcgen::SanType, TlsError> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(rcgen::SanType::IpAddress(ip));
    }
    let bad = |reason: &str| TlsError::BadHost {
        host: host.to_owned(),
        reason: reason.to_owned(),
    };
    let labels_ok = host.split('.').enumerate().all(|(i, label)| {
        (i == 0 && label == "*")
            || (!label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    });
    if host.is_empty() || host.len() > 253 || !labels_ok {
        return Err(bad(
            "expected a DNS name (letters, digits, hyphens, dots) or an IP address",
        ));
    }
    host.to_owned()
        .try_into()
        .map(rcgen::SanType::DnsName)
        .map_err(|err: rcgen::Error| bad(&err.to_string()))
}

/// What `duplex cert` wrote.
#[derive(Debug)]
pub struct WrittenCert {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub(crate) fingerprint: String,
}

/// `duplex cert`: generates a certificate and writes `cert.pem` and `key.pem` (mode 0600)
/// into `dir`, refusing to replace either file unless `force`.
///
/// # Errors
/// [`TlsError::Exists`] naming the file in the way; generation and write errors.
pub fn write_cert_files(
    dir: &Path,
    kind: KeyKind,
    extra_hosts: &[String],
    days: u32,
    force: bool,
) -> Result<WrittenCert, TlsError> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if !force {
        for path in [&cert_path, &key_path] {
            if path.exists() {
                return Err(TlsError::Exists { path: path.clone() });
            }
        }
    }
    let generated = generate_self_signed(kind, extra_hosts, i64::from(days))?;
    create_dir(dir)?;
    write_private(&key_path, generated.key_pem.as_bytes(), force)?;
    write_public(&cert_path, generated.cert_pem.as_bytes(), force)?;
    Ok(WrittenCert {
        cert_path,
        key_path,
        fingerprint: generated.fingerprint,
    })
}

/// What `duplex cert` writes.
#[derive(Debug, Clone)]
pub struct CertRequest {
    /// Directory for `cert.pem` and `key.pem` (created if missing).
    pub(crate) out_dir: PathBuf,
    pub(crate) kind: KeyKind,
    /// Days the certificate is valid.
    pub(crate) days: u32,
    /// DNS names or IP addresses besides `localhost` and `127.0.0.1`.
    pub(crate) hosts: Vec<String>,
    /// Replace existing files.
    pub(crate) force: bool,
}

/// `duplex cert`: writes the files and describes them, one fact per line.
///
/// # Errors
/// As [`write_cert_files`].
pub fn cert_command(args: &CertRequest) -> Result<String, TlsError> {
    let kind = args.kind;
    let written = write_cert_files(&args.out_dir, kind, &args.hosts, args.days, args.force)?;
    let mut names = vec!["DNS:localhost".to_owned(), "IP:127.0.0.1".to_owned()];
    names.extend(
        args.hosts
            .iter()
            .map(|host| match host.parse::<std::net::IpAddr>() {
                Ok(_) => format!("IP:{host}"),
                Err(_) => format!("DNS:{host}"),
            }),
    );
    let key = match kind {
        KeyKind::Ed25519 => "ED25519",
        KeyKind::Rsa4096 => "RSA 4096, SHA-256",
    };
    Ok(format!(
        "certificate: {} ({key}, CN=localhost, {}, valid {} days)\n\
         private key: {} (mode 0600)\n\
         SHA-256 fingerprint: {}\n",
        written.cert_path.display(),
        names.join(", "),
        args.days,
        written.key_path.display(),
        written.fingerprint,
    ))
}

fn create_dir(dir: &Path) -> Result<(), TlsError> {
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes a private key readable by its owner only; an existing file (`replace`) is cut to
/// that mode before the key goes in.
fn write_private(path: &Path, contents: &[u8], replace: bool) -> Result<(), TlsError> {
    write_file(path, contents, replace, 0o600)
}

fn write_public(path: &Path, contents: &[u8], replace: bool) -> Result<(), TlsError> {
    write_file(path, contents, replace, 0o644)
}

fn write_file(path: &Path, contents: &[u8], replace: bool, mode: u32) -> Result<(), TlsError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if replace {
        options.create(true).truncate(true);
    } else {
        // Never through a file (or symlink) that appeared since the check.
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let write_error = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = options.open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => TlsError::Exists {
            path: path.to_path_buf(),
        },
        _ => write_error(source),
    })?;
    // `mode` applies to new files only; a replaced key must not keep a wider mode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(write_error)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(contents).map_err(write_error)
}

/// SHA-256 fingerprint of a DER certificate, `AB:CD:...`.
pub(crate) fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_cert_is_generated_once_and_reused() -> Result<(), Box<dyn std::error::Error>> {
        install_crypto_provider();
        let dir = tempfile::tempdir()?;
        let first = dev_cert(dir.path())?;
        let second = dev_cert(dir.path())?;
        assert_eq!(first.fingerprint, second.fingerprint);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DEV_KEY_FILE))?
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        Ok(())
    }

    #[test]
    fn a_key_from_another_certificate_is_a_mismatch() -> Result<(), Box<dyn std::error::Error>> {
        install_crypto_provider();
        let dir = tempfile::tempdir()?;
        let a = generate_self_signed(KeyKind::Ed25519, &[], 1)?;
        let b = generate_self_signed(KeyKind::Ed25519, &[], 1)?;
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, a.cert_pem)?;
        std::fs::write(&key, b.key_pem)?;
        let err = load(&cert, &key).err().ok_or("mismatched pair accepted")?;
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
        Ok(())
    }

    #[test]
    fn a_missing_or_empty_file_is_named_in_the_error() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let err = load(&cert, &key).err().ok_or("missing files accepted")?;
        assert!(err.to_string().contains("cert.pem"), "{err}");
        std::fs::write(&cert, "not pem")?;
        std::fs::write(&key, "not pem")?;
        let err = load(&cert, &key).err().ok_or("garbage accepted")?;
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        Ok(())
    }

    /// What `openssl x509 -noout -text` would show, from x509-parser.
    #[derive(Debug, PartialEq)]
    struct Inspected {
        subject: String,
        key: String,
        signature: String,
        names: Vec<String>,
        days: i64,
    }

    fn inspect(cert_pem: &str) -> Result<Inspected, Box<dyn std::error::Error>> {
        use x509_parser::extensions::GeneralName;
        use x509_parser::oid_registry as oid;
        use x509_parser::public_key::PublicKey;
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())?;
        let cert = pem.parse_x509()?;
        let key = match cert.public_key().parsed()? {
            PublicKey::RSA(rsa) => format!("RSA {}", rsa.key_size()),
            _ if cert.public_key().algorithm.algorithm == oid::OID_SIG_ED25519 => {
                "ED25519".to_owned()
            }
            other => format!("{other:?}"),
        };
        let signature = match &cert.signature_algorithm.algorithm {
            alg if *alg == oid::OID_SIG_ED25519 => "ED25519".to_owned(),
            alg if *alg == oid::OID_PKCS1_SHA256WITHRSA => "sha256WithRSAEncryption".to_owned(),
            alg => alg.to_id_string(),
        };
        let names = cert
            .subject_alternative_name()?
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .map(|name| match name {
                        GeneralName::DNSName(dns) => format!("DNS:{dns}"),
                        GeneralName::IPAddress(ip) => format!("IP:{ip:?}"),
                        other => format!("{other:?}"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let validity = cert.validity();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!(
            (validity.not_before.timestamp() - now).abs() < 60,
            "starts now"
        );
        Ok(Inspected {
            subject: cert.subject().to_string(),
            key,
            signature,
            names,
            days: (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400,
        })
    }

    #[test]
    fn ed25519_certificate_is_the_guides() -> Result<(), Box<dyn std::error::Error>> {
        let generated = generate_self_signed(KeyKind::Ed25519, &[], 365)?;
        assert_eq!(
            inspect(&generated.cert_pem)?,
            Inspected {
                subject: "CN=localhost".to_owned(),
                key: "ED25519".to_owned(),
                signature: "ED25519".to_owned(),
                names: vec!["DNS:localhost".to_owned(), "IP:[127, 0, 0, 1]".to_owned()],
                days: 365,
            }
        );
        assert!(generated.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        // PKCS#8 v1 (RFC 5208: version 0, no public key), the only form OpenSSL 3.0 reads:
        // SEQUENCE(46) { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING(34) { seed } }.
        let der = PrivateKeyDer::from_pem_slice(generated.key_pem.as_bytes())?;
        let der = der.secret_der();
        assert_eq!(der.len(), 48);
        assert_eq!(
            der.get(..16),
            Some(&b"\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20"[..])
        );
        // And duplex loads it back.
        let dir = tempfile::tempdir()?;
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, &generated.cert_pem)?;
        std::fs::write(&key, &generated.key_pem)?;
        load(&cert, &key)?;
        Ok(())
    }

    #[test]
    fn rsa_certificate_is_the_legacy_scripts_plus_hosts() -> Result<(), Box<dyn std::error::Error>>
    {
        let hosts = ["example.test".to_owned(), "::1".to_owned()];
        let generated = generate_self_signed(KeyKind::Rsa4096, &hosts, 30)?;
        assert_eq!(
            inspect(&generated.cert_pem)?,
            Inspected {
                subject: "CN=localhost".to_owned(),
                key: "RSA 4096".to_owned(),
                signature: "sha256WithRSAEncryption".to_owned(),
                names: vec![
                    "DNS:localhost".to_owned(),
                    "IP:[127, 0, 0, 1]".to_owned(),
                    "DNS:example.test".to_owned(),
                    format!(
                        "IP:{:?}",
                        [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
                    ),
                ],
                days: 30,
            }
        );
        Ok(())
    }

    #[test]
    fn hosts_that_cannot_be_names_are_refused() {
        for host in ["", "bad name", "a..b", "ünï.com", "-x-.com."] {
            let err = generate_self_signed(KeyKind::Ed25519, &[host.to_owned()], 1).err();
            assert!(
                matches!(err, Some(TlsError::BadHost { .. })),
                "{host}: {err:?}"
            );
        }
    }

    #[test]
    fn cert_files_are_not_replaced_without_force() -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("new");
        let first = write_cert_files(&out, KeyKind::Ed25519, &[], 1, false)?;
        let mode = |path: &Path| -> std::io::Result<u32> {
            Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
        };
        assert_eq!(mode(&first.key_path)?, 0o600);
        let err = write_cert_files(&out, KeyKind::Ed25519, &[], 1, false).err();
        assert!(matches!(err, Some(TlsError::Exists { .. })), "{err:?}");
        assert_eq!(
            load(&first.cert_path, &first.key_path)?.fingerprint,
            first.fingerprint
        );
        // --force replaces both, and a key file someone opened up is private again.
        std::fs::set_permissions(&first.key_path, std::fs::Permissions::from_mode(0o644))?;
        let second = write_cert_files(&out, KeyKind::Ed25519, &[], 1, true)?;
        assert_ne!(second.fingerprint, first.fingerprint);
        assert_eq!(mode(&second.key_path)?, 0o600);
        assert_eq!(
            load(&second.cert_path, &second.key_path)?.fingerprint,
            second.fingerprint
        );
        Ok(())
    }
}
