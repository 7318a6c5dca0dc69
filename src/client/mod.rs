//! `duplex client`: an HTTP/1.1 and WebSocket client for the guide's endpoints, over TCP or TLS.
//!
//! The same code serves the command line ([`crate::cli::client`]), the black-box tests and the
//! benchmarks: [`http::request`] for one HTTP exchange, [`ws::connect`] for a WebSocket
//! connection. It is built on the protocol and transport layers only, never on the server. TLS
//! verification is on unless [`TlsOptions::insecure`] says otherwise; `--cacert` replaces the
//! system's trust store, like curl's.

pub mod autobahn;
pub mod bench;
pub mod http;
pub(crate) mod target;
pub mod ws;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

pub use target::Target;

use crate::protocol::ws::ProtocolError;

/// A byte stream to the server, TLS or not.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Why a request or connection failed. Each message is one line a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("`{input}` is not a usable URL: {why}")]
    Url { input: String, why: String },
    #[error("cannot use the certificate file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("cannot connect to {addr}: {}", connect_reason(source))]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("{what} timed out after {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("TLS handshake with {host} failed: {reason}")]
    Tls { host: String, reason: String },
    #[error("{}", http_reason(.0))]
    Http(#[from] hyper::Error),
    #[error(
        "the WebSocket handshake was refused: HTTP {status}{}",
        detail_suffix(body)
    )]
    Refused { status: String, body: String },
    #[error("invalid WebSocket handshake response: {0}")]
    BadHandshake(String),
    #[error("the server broke the WebSocket protocol: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("the connection ended without a close frame")]
    Dropped,
    #[error("the server closed the connection ({0})")]
    Closed(crate::protocol::ws::CloseFrame),
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("more than {hops} redirects; the last one to {location}")]
    TooManyRedirects { hops: u32, location: String },
    #[error("bad header `{header}`: {why}")]
    Header { header: String, why: String },
    #[error("cannot read standard input: {0}")]
    Input(std::io::Error),
    #[error("cannot write to standard output: {0}")]
    Output(std::io::Error),
    #[error("load generator: {0}")]
    Bench(String),
}

fn connect_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            "connection refused (is the server running on that port?)".to_owned()
        }
        _ => err.to_string(),
    }
}

fn http_reason(err: &hyper::Error) -> String {
    if err.is_parse() {
        format!("the answer is not HTTP/1.1 ({err}); is it a TLS server? use https:// or wss://")
    } else {
        format!("HTTP exchange failed: {err}")
    }
}

fn detail_suffix(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

/// How the client treats the server's certificate.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Accept any certificate (`curl -k`). The handshake's signatures are still checked.
    pub insecure: bool,
    /// Trust only the certificates in this PEM file instead of the system's store.
    pub cacert: Option<PathBuf>,
    /// A client certificate (PEM chain) and its key, sent when the server asks for one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl TlsOptions {
    /// The rustls configuration for these options, ALPN `http/1.1` (HTTP/2 adds `h2`).
    ///
    /// # Errors
    /// [`ClientError::CaFile`] when the CA file cannot be read or holds no certificate.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, ClientError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|err| ClientError::Tls {
                host: String::new(),
                reason: err.to_string(),
            })?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        } else {
            let roots = match &self.cacert {
                Some(path) => roots_from_file(path)?,
                None => system_roots(),
            };
            builder.with_root_certificates(roots)
        };
        let mut config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let cert_error = |path: &Path, reason: String| ClientError::CaFile {
                    path: path.to_path_buf(),
                    reason,
                };
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|err| cert_error(cert, err.to_string()))?;
                let key_der = PrivateKeyDer::from_pem_file(key)
                    .map_err(|err| cert_error(key, err.to_string()))?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|err| cert_error(cert, err.to_string()))?
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, ClientError> {
    let ca_error = |reason: String| ClientError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|err| ca_error(err.to_string()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|err| ca_error(err.to_string()))?;
        roots
            .add(cert)
            .map_err(|err| ca_error(format!("not a usable certificate: {err}")))?;
    }
    if roots.is_empty() {
        return Err(ca_error("no PEM certificate in it".to_owned()));
    }
    Ok(roots)
}

fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        tracing::debug!(error = %err, "skipping part of the system trust store");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "system trust store loaded");
    roots
}

/// `--insecure`: any certificate, any name. Signatures over the handshake are still verified, so
/// the connection is encrypted to whoever holds the presented key.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Opens TCP (and TLS when `target.tls`) to the target, within `timeout`.
///
/// # Errors
/// [`ClientError::Resolve`], [`ClientError::Connect`], [`ClientError::Tls`] or
/// [`ClientError::Timeout`].
pub(crate) async fn connect(
    target: &Target,
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
) -> Result<Box<dyn Io>, ClientError> {
    connect_from(target, tls, timeout, None).await
}

/// [`connect`] from a chosen local address: a load generator spreads many connections over
/// several source addresses (127.0.0.2, 127.0.0.3, ...), each with its own ephemeral ports.
///
/// # Errors
/// As [`connect`].
pub(crate) async fn connect_from(
    target: &Target,
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
    local: Option<IpAddr>,
) -> Result<Box<dyn Io>, ClientError> {
    Ok(open(target, tls, timeout, local).await?.0)
}

/// [`connect_from`] for HTTP/2 where the server takes it: over TLS, ALPN offers `h2` before
/// `http/1.1` and the server's choice decides; plain TCP assumes prior knowledge (h2c, RFC
/// 9113 §3.3). The stream, and whether it speaks HTTP/2.
///
/// # Errors
/// As [`connect`].
pub(crate) async fn connect_h2(
    target: &Target,
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
    local: Option<IpAddr>,
) -> Result<(Box<dyn Io>, bool), ClientError> {
    if !target.tls {
        let (io, _) = open(target, None, timeout, local).await?;
        return Ok((io, true));
    }
    let base = match tls {
        Some(config) => Arc::clone(config),
        None => TlsOptions::default().client_config()?,
    };
    let mut config = Arc::unwrap_or_clone(base);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let (io, alpn) = open(target, Some(&Arc::new(config)), timeout, local).await?;
    Ok((io, alpn.as_deref() == Some(b"h2")))
}

/// TCP, then TLS when the target wants it; the stream and the protocol ALPN chose.
async fn open(
    target: &Target,
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
    local: Option<IpAddr>,
) -> Result<(Box<dyn Io>, Option<Vec<u8>>), ClientError> {
    let addr = format!("{}:{}", target.host, target.port);
    let open = async {
        let addrs: Vec<_> = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|source| ClientError::Resolve {
                host: target.host.clone(),
                source,
            })?
            .collect();
        let mut last = None;
        let mut tcp = None;
        for candidate in addrs {
            match open_tcp(candidate, local).await {
                Ok(stream) => {
                    tcp = Some(stream);
                    break;
                }
                Err(err) => last = Some(err),
            }
        }
        let tcp = tcp.ok_or_else(|| ClientError::Connect {
            addr: addr.clone(),
            source: last.unwrap_or_else(|| std::io::ErrorKind::NotFound.into()),
        })?;
        let _ = tcp.set_nodelay(true);
        if !target.tls {
            return Ok((Box::new(tcp) as Box<dyn Io>, None));
        }
        let config = match tls {
            Some(config) => Arc::clone(config),
            None => TlsOptions::default().client_config()?,
        };
        let name = ServerName::try_from(target.host.clone()).map_err(|err| ClientError::Tls {
            host: target.host.clone(),
            reason: err.to_string(),
        })?;
        let stream = TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|err| ClientError::Tls {
                host: target.host.clone(),
                reason: tls_reason(&err),
            })?;
        let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        Ok((Box::new(stream) as Box<dyn Io>, alpn))
    };
    tokio::time::timeout(timeout, open)
        .await
        .map_err(|_| ClientError::Timeout {
            what: format!("connecting to {addr}"),
            after: timeout,
        })?
}

async fn open_tcp(peer: SocketAddr, local: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(local) = local else {
        return TcpStream::connect(peer).await;
    };
    let socket = match local {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(local, 0))?;
    socket.connect(peer).await
}

/// A TLS failure in words, with what to do about a certificate that is not trusted.
fn tls_reason(err: &std::io::Error) -> String {
    const HINT: &str =
        "pass --cacert FILE to trust the server's certificate, or -k to skip verification";
    let Some(rustls_err) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return match err.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                "the server closed the connection during the handshake".to_owned()
            }
            _ => err.to_string(),
        };
    };
    match rustls_err {
        rustls::Error::InvalidCertificate(cert) => {
            let why = match cert {
                // webpki reports an untrusted self-signed certificate as either, depending on
                // which trust anchor it tried last.
                CertificateError::UnknownIssuer
                | CertificateError::BadSignature
                | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
                | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                    "the certificate is not signed by a trusted authority (self-signed?)".to_owned()
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    "the certificate is not valid for this host name".to_owned()
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the certificate has expired".to_owned()
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "the certificate is not valid yet".to_owned()
                }
                other => rustls::Error::InvalidCertificate(other.clone()).to_string(),
            };
            format!("certificate verification failed: {why}; {HINT}")
        }
        rustls::Error::InvalidMessage(_) => format!(
            "{rustls_err} (is it a plain-HTTP server? use http:// or ws:// for --no-tls servers)"
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls_error(err: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, err)
    }

    #[test]
    fn tls_failures_say_what_to_do() {
        let certificate = |err| tls_reason(&tls_error(rustls::Error::InvalidCertificate(err)));
        assert!(certificate(CertificateError::UnknownIssuer).contains("not signed by a trusted"));
        assert!(certificate(CertificateError::NotValidForName).contains("not valid for this host"));
        assert!(certificate(CertificateError::Expired).contains("has expired"));
        assert!(certificate(CertificateError::NotValidYet).contains("not valid yet"));
        assert!(
            certificate(CertificateError::UnknownIssuer).ends_with("or -k to skip verification")
        );
        let plain = tls_reason(&tls_error(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        )));
        assert!(plain.contains("is it a plain-HTTP server?"), "{plain}");
        let eof = tls_reason(&std::io::ErrorKind::UnexpectedEof.into());
        assert_eq!(eof, "the server closed the connection during the handshake");
        assert_eq!(
            connect_reason(&std::io::ErrorKind::ConnectionRefused.into()),
            "connection refused (is the server running on that port?)"
        );
    }
}
