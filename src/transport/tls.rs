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
    #[error("{} is not a regular file; duplex replaces only the development certificate files it wrote (remove it, or pass --cert/--key)", path.display())]
    NotOurs { path: PathBuf },
    #[error("{} exists without {}; remove it to make a new local CA", present.display(), missing.display())]
    HalfCa { present: PathBuf, missing: PathBuf },
    #[error("cannot make the session-ticket keys: {0}")]
    Tickets(rustls::Error),
    #[error("cannot set up the TLS probes: {0}")]
    Probes(String),
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
/// 1.3 with ALPN `http/1.1`, choosing cipher suites in its own order, resuming sessions with
/// stateless tickets.
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
    // Stateless tickets (RFC 5077's construction, keys rotated every 6 h) instead of rustls'
    // default, a 256-entry server-side cache that two tickets per handshake fill after 128
    // clients: past that, a client that reconnects finds its session evicted and pays a full
    // handshake. Tickets resume any number of clients and keep no memory per session.
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(TlsError::Tickets)?;
    Ok(LoadedCert {
        config: Arc::new(config),
        cert_path: cert_path.to_path_buf(),
        fingerprint,
    })
}

/// Returns the development certificate in `dir`, generating it on first use: ECDSA P-256,
/// which browsers accept, signed by the local CA when `duplex cert --ca` has made one in `dir`,
/// else self-signed. A certificate generated by an earlier version (ED25519, which browsers
/// refuse) or not signed by the CA that now exists is replaced; nothing else in `dir` is touched.
///
/// # Errors
/// [`TlsError`] if the files cannot be written or, once written, loaded.
pub(crate) fn dev_cert(dir: &Path) -> Result<LoadedCert, TlsError> {
    let cert_path = dir.join(DEV_CERT_FILE);
    let key_path = dir.join(DEV_KEY_FILE);
    let ca = LocalCa::open(dir)?;
    let stale = match (std::fs::read(&cert_path), std::fs::read(&key_path)) {
        (Ok(cert), Ok(key)) => {
            let why = if is_ed25519_key(&key) {
                Some("it is ED25519, which browsers refuse")
            } else if let Some(ca) = &ca
                && !ca.signed(&cert)
            {
                Some("it is not signed by the local CA")
            } else {
                None
            };
            if let Some(why) = why {
                tracing::info!(path = %cert_path.display(), "replacing the development certificate: {why}");
            }
            why.is_some()
        }
        _ => true,
    };
    if stale {
        // These are duplex's own files: anything else in their place (a link to a user's real
        // certificate or key) is left alone.
        for path in [&cert_path, &key_path] {
            if std::fs::symlink_metadata(path).is_ok_and(|meta| !meta.file_type().is_file()) {
                return Err(TlsError::NotOurs { path: path.clone() });
            }
        }
        let generated = match &ca {
            Some(ca) => ca.sign_leaf(&[], DEV_CERT_DAYS)?,
            None => generate_self_signed(KeyKind::EcdsaP256, &[], DEV_CERT_DAYS)?,
        };
        create_dir(dir)?;
        write_private(&key_path, generated.key_pem.as_bytes(), true)?;
        write_public(&cert_path, generated.cert_pem.as_bytes(), true)?;
        let signer = if ca.is_some() {
            "signed by the local CA"
        } else {
            "self-signed"
        };
        tracing::info!(path = %cert_path.display(), "generated a development certificate (ECDSA P-256, {signer})");
    }
    load(&cert_path, &key_path)
}

/// Whether a PEM private key is ED25519: the certificate kind browsers refuse.
pub(crate) fn is_ed25519_key(key_pem: &[u8]) -> bool {
    PrivateKeyDer::from_pem_slice(key_pem)
        .ok()
        .and_then(|key| rustls::crypto::aws_lc_rs::sign::any_supported_type(&key).ok())
        .is_some_and(|key| key.algorithm() == rustls::SignatureAlgorithm::ED25519)
}

/// File names of the local CA inside the development certificate's directory.
pub const CA_CERT_FILE: &str = "ca.pem";
pub(crate) const CA_KEY_FILE: &str = "ca-key.pem";
/// The local CA's name; its certificate is rebuilt from these same parameters to sign leaves.
const CA_NAME: &str = "duplex local development CA";
/// Years the local CA is valid.
const CA_DAYS: i64 = 3650;

/// The local CA made by `duplex cert --ca`, mkcert-style: trusted once by the user, it signs
/// leaf certificates that browsers then accept without a warning.
pub(crate) struct LocalCa {
    key: rcgen::KeyPair,
    cert_der: CertificateDer<'static>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa").finish_non_exhaustive()
    }
}

impl LocalCa {
    /// The CA's own parameters: its name and constraints. The TLS probes reuse its name for an
    /// intermediate of the same name (self-issued, so the CA's path length of 0 allows it).
    pub(crate) fn params() -> Result<rcgen::CertificateParams, TlsError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyUsagePurpose,
        };
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, CA_NAME);
        name.push(DnType::OrganizationName, "duplex");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Ok(params)
    }

    /// The CA in `dir`, if `duplex cert --ca` made one.
    fn open(dir: &Path) -> Result<Option<Self>, TlsError> {
        let (cert_path, key_path) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
        if !cert_path.exists() || !key_path.exists() {
            return Ok(None);
        }
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| TlsError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let key = rcgen::KeyPair::from_pem(&read(&key_path)?).map_err(|err| TlsError::BadKey {
            path: key_path.clone(),
            reason: err.to_string(),
        })?;
        let cert_der = CertificateDer::from_pem_slice(read(&cert_path)?.as_bytes())
            .map_err(|_| TlsError::NoCertificate { path: cert_path })?;
        Ok(Some(Self { key, cert_der }))
    }

    /// Makes the CA in `dir` unless it exists; returns it and whether it was made now.
    pub(crate) fn ensure(dir: &Path) -> Result<(Self, bool), TlsError> {
        if let Some(ca) = Self::open(dir)? {
            return Ok((ca, false));
        }
        let (cert_path, key_path) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
        // Half a CA (one file lost): a new key beside the old certificate would sign leaves
        // nobody can verify.
        for (present, missing) in [(&cert_path, &key_path), (&key_path, &cert_path)] {
            if std::fs::symlink_metadata(present).is_ok() {
                return Err(TlsError::HalfCa {
                    present: present.clone(),
                    missing: missing.clone(),
                });
            }
        }
        let mut params = Self::params()?;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now;
        params.not_after = now + time::Duration::days(CA_DAYS);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = params.self_signed(&key)?;
        create_dir(dir)?;
        write_private(
            &dir.join(CA_KEY_FILE),
            key.serialize_pem().as_bytes(),
            false,
        )?;
        write_public(&dir.join(CA_CERT_FILE), cert.pem().as_bytes(), false)?;
        let cert_der = cert.der().clone();
        Ok((Self { key, cert_der }, true))
    }

    /// A leaf for localhost, 127.0.0.1 and `extra_hosts`, ECDSA P-256, valid for `days`.
    pub(crate) fn sign_leaf(
        &self,
        extra_hosts: &[String],
        days: i64,
    ) -> Result<SelfSigned, TlsError> {
        let mut params = leaf_params(extra_hosts, days)?;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let issuer = rcgen::Issuer::new(Self::params()?, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(SelfSigned::of(&cert, &key))
    }

    /// Signs `params` (the public half of `key`) with this CA: the TLS probes' certificates.
    pub(crate) fn sign(
        &self,
        params: &rcgen::CertificateParams,
        key: &rcgen::KeyPair,
    ) -> Result<rcgen::Certificate, TlsError> {
        let issuer = rcgen::Issuer::new(Self::params()?, &self.key);
        Ok(params.signed_by(key, &issuer)?)
    }

    /// Whether `cert_pem`'s leaf verifies as a server certificate for localhost under this CA.
    fn signed(&self, cert_pem: &[u8]) -> bool {
        let Some(Ok(leaf)) = CertificateDer::pem_slice_iter(cert_pem).next() else {
            return false;
        };
        let mut roots = rustls::RootCertStore::empty();
        if roots.add(self.cert_der.clone()).is_err() {
            return false;
        }
        let Ok(verifier) = rustls::client::WebPkiServerVerifier::builder(Arc::new(roots)).build()
        else {
            return false;
        };
        let Ok(name) = rustls_pki_types::ServerName::try_from("localhost") else {
            return false;
        };
        rustls::client::danger::ServerCertVerifier::verify_server_cert(
            verifier.as_ref(),
            &leaf,
            &[],
            &name,
            &[],
            rustls_pki_types::UnixTime::now(),
        )
        .is_ok()
    }
}

/// The key algorithm of a generated certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ED25519, like the guide's `gen_certs.sh`. Browsers refuse it.
    Ed25519,
    /// ECDSA P-256 with SHA-256: what browsers, curl and Python all accept.
    EcdsaP256,
    /// RSA 4096 with SHA-256, like `gen_certs_legacy.sh`: for clients that reject ED25519.
    Rsa4096,
}

impl KeyKind {
    /// How `duplex cert` names it, and whether browsers accept it.
    fn describe(self) -> (&'static str, bool) {
        match self {
            Self::Ed25519 => ("ED25519", false),
            Self::EcdsaP256 => ("ECDSA P-256, SHA-256", true),
            Self::Rsa4096 => ("RSA 4096, SHA-256", true),
        }
    }
}

/// A generated certificate and its key, PEM-encoded.
#[derive(Debug)]
pub struct SelfSigned {
    pub cert_pem: String,
    /// PKCS#8, as `openssl req -nodes` writes it.
    pub(crate) key_pem: String,
    pub(crate) fingerprint: String,
}

impl SelfSigned {
    fn of(cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> Self {
        Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            fingerprint: fingerprint(cert.der()),
        }
    }
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
    use rcgen::KeyPair;
    let params = leaf_params(extra_hosts, days)?;
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
        KeyKind::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        KeyKind::Rsa4096 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)?
        }
    };
    let cert = params.self_signed(&key)?;
    Ok(SelfSigned::of(&cert, &key))
}

/// `CN=localhost` with SANs localhost, 127.0.0.1 and `extra_hosts`, valid from now for `days`.
fn leaf_params(extra_hosts: &[String], days: i64) -> Result<rcgen::CertificateParams, TlsError> {
    use rcgen::{CertificateParams, DistinguishedName, DnType, SanType};
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
    Ok(params)
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
    write_cert_files_signed(dir, kind, extra_hosts, days, force, None)
}

/// [`write_cert_files`], the certificate signed by `ca` when given (ECDSA P-256 then).
fn write_cert_files_signed(
    dir: &Path,
    kind: KeyKind,
    extra_hosts: &[String],
    days: u32,
    force: bool,
    ca: Option<&LocalCa>,
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
    let generated = match ca {
        Some(ca) => ca.sign_leaf(extra_hosts, i64::from(days))?,
        None => generate_self_signed(kind, extra_hosts, i64::from(days))?,
    };
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
    /// Sign with the local CA kept in this directory (made if missing): `--ca`.
    pub(crate) ca_dir: Option<PathBuf>,
}

/// `duplex cert`: writes the files and describes them, one fact per line.
///
/// # Errors
/// As [`write_cert_files`].
pub fn cert_command(args: &CertRequest) -> Result<String, TlsError> {
    let mut report = String::new();
    let ca = match &args.ca_dir {
        Some(dir) => {
            let (ca, made) = LocalCa::ensure(dir)?;
            let ca_path = dir.join(CA_CERT_FILE);
            report.push_str(&format!(
                "local CA: {} ({}; key {} mode 0600){}\n",
                ca_path.display(),
                if made { "created now" } else { "existing" },
                dir.join(CA_KEY_FILE).display(),
                if made {
                    "; nothing was installed: trust it once yourself (README, Configuration, Certificates)"
                } else {
                    ""
                },
            ));
            Some(ca)
        }
        None => None,
    };
    let kind = if ca.is_some() {
        KeyKind::EcdsaP256
    } else {
        args.kind
    };
    let written = write_cert_files_signed(
        &args.out_dir,
        kind,
        &args.hosts,
        args.days,
        args.force,
        ca.as_ref(),
    )?;
    let mut names = vec!["DNS:localhost".to_owned(), "IP:127.0.0.1".to_owned()];
    names.extend(
        args.hosts
            .iter()
            .map(|host| match host.parse::<std::net::IpAddr>() {
                Ok(_) => format!("IP:{host}"),
                Err(_) => format!("DNS:{host}"),
            }),
    );
    let (key, browsers) = kind.describe();
    let signer = if ca.is_some() {
        "signed by the local CA"
    } else {
        "self-signed"
    };
    report.push_str(&format!(
        "certificate: {} ({key}, {signer}, CN=localhost, {}, valid {} days)\n\
         private key: {} (mode 0600)\n\
         SHA-256 fingerprint: {}\n\
         browsers: {}\n",
        written.cert_path.display(),
        names.join(", "),
        args.days,
        written.key_path.display(),
        written.fingerprint,
        if browsers {
            "accept this kind (ECDSA P-256 and RSA); ED25519 they refuse"
        } else {
            "Chromium and Firefox refuse ED25519 server certificates (curl, Python and duplex \
             client accept them); use --ecdsa or --rsa for a browser"
        },
    ));
    Ok(report)
}

pub(crate) fn create_dir(dir: &Path) -> Result<(), TlsError> {
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes a private key readable by its owner only; an existing file (`replace`) is cut to
/// that mode before the key goes in.
pub(crate) fn write_private(path: &Path, contents: &[u8], replace: bool) -> Result<(), TlsError> {
    write_file(path, contents, replace, 0o600)
}

pub(crate) fn write_public(path: &Path, contents: &[u8], replace: bool) -> Result<(), TlsError> {
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

    /// The signature algorithm of a PEM certificate, as `x509-parser` names its OID.
    fn signature_oid(cert_pem: &[u8]) -> Result<String, Box<dyn std::error::Error>> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem)?;
        let cert = pem.parse_x509()?;
        Ok(cert.signature_algorithm.algorithm.to_id_string())
    }

    /// ecdsa-with-SHA256.
    const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";

    #[test]
    fn the_dev_cert_is_ecdsa_p256_which_browsers_accept() -> Result<(), Box<dyn std::error::Error>>
    {
        install_crypto_provider();
        let dir = tempfile::tempdir()?;
        dev_cert(dir.path())?;
        let cert = std::fs::read(dir.path().join(DEV_CERT_FILE))?;
        assert_eq!(signature_oid(&cert)?, ECDSA_SHA256);
        assert!(!is_ed25519_key(&std::fs::read(
            dir.path().join(DEV_KEY_FILE)
        )?));
        Ok(())
    }

    #[test]
    fn an_ed25519_dev_cert_of_an_earlier_version_is_replaced()
    -> Result<(), Box<dyn std::error::Error>> {
        install_crypto_provider();
        let dir = tempfile::tempdir()?;
        let old = generate_self_signed(KeyKind::Ed25519, &[], 365)?;
        std::fs::write(dir.path().join(DEV_CERT_FILE), &old.cert_pem)?;
        std::fs::write(dir.path().join(DEV_KEY_FILE), &old.key_pem)?;
        assert!(is_ed25519_key(old.key_pem.as_bytes()));
        let loaded = dev_cert(dir.path())?;
        assert_ne!(loaded.fingerprint, old.fingerprint);
        let cert = std::fs::read(dir.path().join(DEV_CERT_FILE))?;
        assert_eq!(signature_oid(&cert)?, ECDSA_SHA256);
        // Browser-safe now: kept from then on.
        assert_eq!(dev_cert(dir.path())?.fingerprint, loaded.fingerprint);
        Ok(())
    }

    /// A TLS handshake with `server` through memory, the client trusting only `roots_pem`.
    async fn handshake(
        server: &LoadedCert,
        roots_pem: &[u8],
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(roots_pem) {
            roots.add(cert?)?;
        }
        let client = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&server.config));
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let name = rustls_pki_types::ServerName::try_from("localhost")?;
        let (accepted, connected) = tokio::join!(
            acceptor.accept(server_io),
            connector.connect(name, client_io)
        );
        accepted?;
        connected?;
        Ok(())
    }

    /// One connection through memory with `client`'s session store; how its handshake went.
    /// The server then closes, and the client reads to the end, which takes in its tickets.
    async fn connect_once(
        server: &LoadedCert,
        client: &Arc<rustls::ClientConfig>,
    ) -> Result<Option<rustls::HandshakeKind>, Box<dyn std::error::Error>> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&server.config));
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(client));
        let name = rustls_pki_types::ServerName::try_from("localhost")?;
        let (accepted, connected) = tokio::join!(
            acceptor.accept(server_io),
            connector.connect(name, client_io)
        );
        let (mut accepted, mut connected) = (accepted?, connected?);
        let kind = connected.get_ref().1.handshake_kind();
        accepted.shutdown().await?;
        connected.read_to_end(&mut Vec::new()).await?;
        Ok(kind)
    }

    #[tokio::test]
    async fn every_client_resumes_however_many_connected_since()
    -> Result<(), Box<dyn std::error::Error>> {
        install_crypto_provider();
        let dir = tempfile::tempdir()?;
        let server = dev_cert(dir.path())?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&std::fs::read(&server.cert_path)?) {
            roots.add(cert?)?;
        }
        // Each client its own session store, as separate client processes have.
        let client = || {
            let mut config = rustls::ClientConfig::builder()
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            config.resumption = rustls::client::Resumption::in_memory_sessions(8);
            Arc::new(config)
        };
        // 200 full handshakes leave 400 tickets: more than rustls' default server-side cache
        // (256 entries) could hold.
        let clients: Vec<_> = (0..200).map(|_| client()).collect();
        for client in &clients {
            assert_eq!(
                connect_once(&server, client).await?,
                Some(rustls::HandshakeKind::Full)
            );
        }
        for (i, client) in clients.iter().enumerate() {
            assert_eq!(
                connect_once(&server, client).await?,
                Some(rustls::HandshakeKind::Resumed),
                "client {i}"
            );
        }
        Ok(())
    }

    #[tokio::test]
    async fn with_a_local_ca_the_dev_cert_is_signed_by_it_and_a_client_trusting_only_the_ca_connects()
    -> Result<(), Box<dyn std::error::Error>> {
        install_crypto_provider();
        let dir = tempfile::tempdir()?;
        let self_signed = dev_cert(dir.path())?;
        let (_, made) = LocalCa::ensure(dir.path())?;
        assert!(made);
        let ca_pem = std::fs::read(dir.path().join(CA_CERT_FILE))?;
        // The self-signed one fails against the CA; the next start replaces it.
        assert!(handshake(&self_signed, &ca_pem).await.is_err());
        let signed = dev_cert(dir.path())?;
        assert_ne!(signed.fingerprint, self_signed.fingerprint);
        handshake(&signed, &ca_pem).await?;
        assert_eq!(dev_cert(dir.path())?.fingerprint, signed.fingerprint);
        // The CA is made once; its key is its owner's alone.
        let (_, made) = LocalCa::ensure(dir.path())?;
        assert!(!made);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(CA_KEY_FILE))?
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_link_in_place_of_the_dev_cert_is_never_written_through()
    -> Result<(), Box<dyn std::error::Error>> {
        install_crypto_provider();
        let dir = tempfile::tempdir()?;
        // An old ED25519 pair, the key a link to the user's own file: due for replacement.
        let old = generate_self_signed(KeyKind::Ed25519, &[], 365)?;
        let theirs = dir.path().join("their-key.pem");
        std::fs::write(&theirs, &old.key_pem)?;
        std::fs::write(dir.path().join(DEV_CERT_FILE), &old.cert_pem)?;
        std::os::unix::fs::symlink(&theirs, dir.path().join(DEV_KEY_FILE))?;
        let err = dev_cert(dir.path()).err();
        assert!(matches!(err, Some(TlsError::NotOurs { .. })), "{err:?}");
        assert_eq!(std::fs::read_to_string(&theirs)?, old.key_pem);
        Ok(())
    }

    #[test]
    fn half_a_local_ca_is_an_error_not_a_new_key() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        LocalCa::ensure(dir.path())?;
        std::fs::remove_file(dir.path().join(CA_KEY_FILE))?;
        let err = LocalCa::ensure(dir.path()).err();
        assert!(matches!(err, Some(TlsError::HalfCa { .. })), "{err:?}");
        assert!(!dir.path().join(CA_KEY_FILE).exists());
        Ok(())
    }

    #[test]
    fn cert_says_which_kinds_browsers_accept() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let request = |kind, ca_dir| CertRequest {
            out_dir: dir.path().join("out"),
            kind,
            days: 30,
            hosts: Vec::new(),
            force: true,
            ca_dir,
        };
        let ed = cert_command(&request(KeyKind::Ed25519, None))?;
        assert!(
            ed.contains("(ED25519, self-signed,") && ed.contains("refuse ED25519"),
            "{ed}"
        );
        let ec = cert_command(&request(KeyKind::EcdsaP256, None))?;
        assert!(ec.contains("(ECDSA P-256, SHA-256, self-signed,"), "{ec}");
        assert!(ec.contains("browsers: accept"), "{ec}");
        let ca = cert_command(&request(KeyKind::Ed25519, Some(dir.path().join("ca"))))?;
        assert!(
            ca.contains("local CA: ") && ca.contains("created now"),
            "{ca}"
        );
        assert!(
            ca.contains("ECDSA P-256, SHA-256, signed by the local CA"),
            "{ca}"
        );
        let again = cert_command(&request(KeyKind::Ed25519, Some(dir.path().join("ca"))))?;
        assert!(again.contains("(existing;"), "{again}");
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
