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
pub const DEV_KEY_FILE: &str = "dev-key.pem";

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
    pub cert_path: PathBuf,
    /// SHA-256 of the leaf certificate's DER, colon-separated upper-case hex like `openssl x509 -fingerprint -sha256`.
    pub fingerprint: String,
}

/// Loads a PEM certificate chain and private key into a server configuration for TLS 1.2 and
/// 1.3 with ALPN `http/1.1`.
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
pub fn dev_cert(dir: &Path) -> Result<LoadedCert, TlsError> {
    let cert_path = dir.join(DEV_CERT_FILE);
    let key_path = dir.join(DEV_KEY_FILE);
    if !cert_path.exists() || !key_path.exists() {
        let (cert_pem, key_pem) = generate_self_signed(&[], DEV_CERT_DAYS)?;
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        write_private(&key_path, key_pem.as_bytes())?;
        std::fs::write(&cert_path, cert_pem).map_err(|source| TlsError::Write {
            path: cert_path.clone(),
            source,
        })?;
        tracing::info!(path = %cert_path.display(), "generated a self-signed development certificate");
    }
    load(&cert_path, &key_path)
}

/// A self-signed ED25519 certificate like the guide's `openssl req -x509 -newkey ed25519
/// -subj /CN=localhost -addext "subjectAltName = DNS:localhost,IP:127.0.0.1"`, plus `extra_hosts`.
/// Returns `(cert_pem, key_pem)`.
///
/// # Errors
/// [`TlsError::Generate`] when rcgen refuses the parameters.
pub fn generate_self_signed(
    extra_hosts: &[String],
    days: i64,
) -> Result<(String, String), TlsError> {
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    for host in extra_hosts {
        let san = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.clone().try_into()?),
        };
        params.subject_alt_names.push(san);
    }
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "localhost");
    params.distinguished_name = name;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(days);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut file| file.write_all(contents))
        .map_err(|source| TlsError::Write {
            path: path.to_path_buf(),
            source,
        })
}

/// SHA-256 fingerprint of a DER certificate, `AB:CD:...`.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
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
        let (cert_a, _) = generate_self_signed(&[], 1)?;
        let (_, key_b) = generate_self_signed(&[], 1)?;
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, cert_a)?;
        std::fs::write(&key, key_b)?;
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
}
