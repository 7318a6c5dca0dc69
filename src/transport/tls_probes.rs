//! The TLS probes, a local badssl: one certificate (or protocol version, or client-certificate
//! demand) per case, generated at start under the local CA of `duplex cert --ca`, what a correct
//! client must do with each, and the verdict on what a client did.
//!
//! Each case gets its own loopback port rather than an SNI name on one port: a client connecting
//! to `127.0.0.1` sends no SNI (RFC 6066 §3 forbids IP addresses there), `openssl s_client`
//! and many handwritten clients send none at all, and names such as `expired.localhost` do not
//! resolve everywhere (glibc without nss-myhostname). A port works with every client as
//! `https://localhost:PORT/status`.
//!
//! Every certificate is made in memory at start; nothing is downloaded and nothing is installed
//! in any trust store. Only the client certificate of `client-cert` is written out (the
//! `tls-probes` directory beside the local CA), because a client needs it as a file.

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::tls::{CA_CERT_FILE, LocalCa, TlsError, create_dir, write_private, write_public};
use crate::protocol::tls_hello::ClientHello;

/// The directory, inside the dev-cert directory, that holds the probes' client certificate.
pub const PROBES_DIR: &str = "tls-probes";
/// The client certificate and key the `client-cert` case asks for.
pub const CLIENT_CERT_FILE: &str = "client.pem";
pub const CLIENT_KEY_FILE: &str = "client-key.pem";

/// The host name the `wrong-host` certificate is for (RFC 2606: `.invalid` never resolves).
const WRONG_HOST: &str = "wrong-host.invalid";

/// What a correct client does with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Complete the handshake and the request.
    Accept,
    /// Abort the handshake, ideally with the alert [`TlsCase::alerts`] names.
    Reject,
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Accept => "accept",
            Self::Reject => "reject",
        })
    }
}

/// One TLS probe. Ports are given in [`TlsCase::ALL`]'s order from the base port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsCase {
    Good,
    Expired,
    NotYetValid,
    WrongHost,
    SelfSigned,
    UntrustedRoot,
    IncompleteChain,
    CompleteChain,
    Tls12Only,
    Tls13Only,
    ClientCert,
}

impl TlsCase {
    /// Every case, in port order.
    pub const ALL: [Self; 11] = [
        Self::Good,
        Self::Expired,
        Self::NotYetValid,
        Self::WrongHost,
        Self::SelfSigned,
        Self::UntrustedRoot,
        Self::IncompleteChain,
        Self::CompleteChain,
        Self::Tls12Only,
        Self::Tls13Only,
        Self::ClientCert,
    ];

    /// The case's name in the log, the runner's table and the README.
    pub fn name(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Expired => "expired",
            Self::NotYetValid => "not-yet-valid",
            Self::WrongHost => "wrong-host",
            Self::SelfSigned => "self-signed",
            Self::UntrustedRoot => "untrusted-root",
            Self::IncompleteChain => "incomplete-chain",
            Self::CompleteChain => "complete-chain",
            Self::Tls12Only => "tls12-only",
            Self::Tls13Only => "tls13-only",
            Self::ClientCert => "client-cert",
        }
    }

    /// The case named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|case| case.name() == name)
    }

    pub fn expect(self) -> Expect {
        match self {
            Self::Expired
            | Self::NotYetValid
            | Self::WrongHost
            | Self::SelfSigned
            | Self::UntrustedRoot
            | Self::IncompleteChain => Expect::Reject,
            Self::Good
            | Self::CompleteChain
            | Self::Tls12Only
            | Self::Tls13Only
            | Self::ClientCert => Expect::Accept,
        }
    }

    /// What the server presents on this port.
    pub fn presents(self) -> &'static str {
        match self {
            Self::Good => "a certificate for localhost and 127.0.0.1 signed by the local CA",
            Self::Expired => "a certificate signed by the local CA that expired 30 days ago",
            Self::NotYetValid => {
                "a certificate signed by the local CA that becomes valid in 30 days"
            }
            Self::WrongHost => {
                "a certificate signed by the local CA for wrong-host.invalid only (neither \
                 localhost nor 127.0.0.1)"
            }
            Self::SelfSigned => "a self-signed certificate for localhost and 127.0.0.1",
            Self::UntrustedRoot => {
                "a certificate for localhost signed by a throwaway CA nobody trusts"
            }
            Self::IncompleteChain => {
                "a certificate for localhost signed by an intermediate CA the server does not send"
            }
            Self::CompleteChain => {
                "a certificate for localhost signed by an intermediate CA, sent with it"
            }
            Self::Tls12Only => "the good certificate, over TLS 1.2 only",
            Self::Tls13Only => "the good certificate, over TLS 1.3 only",
            Self::ClientCert => {
                "the good certificate, and a demand for a client certificate (tls-probes/client.pem)"
            }
        }
    }

    /// The rule a correct client follows here.
    pub fn rule(self) -> &'static str {
        match self {
            Self::Good => "RFC 5280 §6.1: a valid path to a trusted root is accepted",
            Self::Expired | Self::NotYetValid => {
                "RFC 5280 §4.1.2.5 and §6.1.3 (a)(2): a certificate is only valid between its \
                 notBefore and notAfter"
            }
            Self::WrongHost => {
                "RFC 9110 §4.3.4 and RFC 6125 §6: the certificate must name the host the client \
                 asked for"
            }
            Self::SelfSigned | Self::UntrustedRoot => {
                "RFC 5280 §6.1: the certificate must chain to a root the client trusts"
            }
            Self::IncompleteChain => {
                "RFC 8446 §4.4.2 and RFC 5280 §6.1: without the intermediate there is no path to \
                 a trusted root (this certificate has no AIA URL to fetch it from)"
            }
            Self::CompleteChain => {
                "RFC 5280 §6.1: a path through an intermediate the server sends is valid"
            }
            Self::Tls12Only => {
                "RFC 9325 §3.1: TLS 1.2 is still allowed; a client that refuses it by policy \
                 fails this case knowingly"
            }
            Self::Tls13Only => "RFC 9325 §3.1: clients SHOULD support TLS 1.3",
            Self::ClientCert => {
                "RFC 8446 §4.3.2 and §4.4.2: asked for a certificate, the client sends the one it \
                 was given"
            }
        }
    }

    /// What to fix when a client gets this case wrong.
    pub fn hint(self) -> &'static str {
        match self {
            Self::Good | Self::Tls12Only | Self::Tls13Only => {
                "trust the CA file given ({cacert}) and verify against it"
            }
            Self::Expired | Self::NotYetValid => {
                "check notBefore and notAfter against the current time (TLS libraries do when \
                 verification is on: is it off?)"
            }
            Self::WrongHost => {
                "check the subjectAltName against the host connected to (OpenSSL: \
                 SSL_set1_host; Python: check_hostname=True)"
            }
            Self::SelfSigned | Self::UntrustedRoot => {
                "verify the chain against the trusted roots only (is verification off: -k, \
                 CERT_NONE, InsecureSkipVerify?)"
            }
            Self::IncompleteChain => {
                "accept only a leaf that chains to a trusted root; do not trust intermediates \
                 kept from earlier connections"
            }
            Self::CompleteChain => "build the path through the intermediates the server sends",
            Self::ClientCert => {
                "load {client_cert} and {client_key} and send them when the server asks \
                 (CertificateRequest)"
            }
        }
    }

    /// The alerts RFC 8446 §6.2 names for this rejection, most precise first.
    pub fn alerts(self) -> &'static [&'static str] {
        match self {
            Self::Expired | Self::NotYetValid => &["certificate_expired"],
            Self::WrongHost => &["bad_certificate", "certificate_unknown"],
            Self::SelfSigned | Self::UntrustedRoot | Self::IncompleteChain => {
                &["unknown_ca", "bad_certificate"]
            }
            _ => &[],
        }
    }

    /// The client certificate this case asks for, if it asks.
    pub fn needs_client_cert(self) -> bool {
        self == Self::ClientCert
    }
}

impl fmt::Display for TlsCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a probe's handshake ended, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The handshake completed and the client sent a request (`request`: its method and
    /// target): it accepted the server's certificate (and, on `client-cert`, sent one that
    /// verified).
    Requested {
        version: String,
        client_certificate: bool,
        request: String,
    },
    /// The handshake completed, then the client closed without a request: it rejected the
    /// certificate after the handshake (curl checks the host name only then), or gave up.
    ClosedAfterHandshake {
        version: String,
        client_certificate: bool,
    },
    /// The client aborted with this fatal alert (RFC 8446 §6 name, e.g. `unknown_ca`).
    ClientAlert(String),
    /// The client closed the connection without an alert.
    ClientClosed,
    /// This server ended the handshake: what the client offered or sent could not go on.
    ServerRefused(String),
    /// The client closed before it sent a ClientHello: nothing to judge (a port check?).
    NoHello,
    /// Not complete within `--tls-handshake-timeout`.
    TimedOut,
}

impl Outcome {
    /// The outcome of a handshake that failed with `err`.
    pub(crate) fn of_error(err: &std::io::Error) -> Self {
        let Some(tls) = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        else {
            return match err.kind() {
                std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted => Self::ClientClosed,
                _ => Self::ServerRefused(err.to_string()),
            };
        };
        match tls {
            rustls::Error::AlertReceived(alert) => Self::ClientAlert(alert_name(*alert)),
            rustls::Error::NoCertificatesPresented => Self::ServerRefused(
                "the client sent no certificate although the server asked for one \
                 (CertificateRequest)"
                    .to_owned(),
            ),
            rustls::Error::InvalidCertificate(why) => {
                Self::ServerRefused(format!("the client's certificate does not verify: {why:?}"))
            }
            rustls::Error::PeerIncompatible(why) => Self::ServerRefused(format!(
                "the client's offer has nothing in common with this probe's: {why:?}"
            )),
            other => Self::ServerRefused(other.to_string()),
        }
    }
}

/// An alert as RFC 8446 §6 spells it: `UnknownCA` is `unknown_ca`.
pub(crate) fn alert_name(alert: rustls::AlertDescription) -> String {
    let debug = format!("{alert:?}");
    let mut name = String::with_capacity(debug.len() + 4);
    let mut previous_lower = false;
    for c in debug.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            name.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// Whether the client did the right thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// The handshake ended before the client could show what it does (e.g. it offered
    /// nothing this probe speaks, on a certificate case).
    Inconclusive,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pass => "pass",
            Self::Fail => "FAIL",
            Self::Inconclusive => "inconclusive",
        })
    }
}

/// Judges what a client did on `case`, in one sentence with the rule; `hello` is what it
/// offered, when it could be read.
pub(crate) fn judge(
    case: TlsCase,
    outcome: &Outcome,
    hello: Option<&ClientHello>,
) -> (Verdict, String) {
    let precise = |alert: &str| match case.alerts().first() {
        Some(best) if !case.alerts().contains(&alert) => {
            format!("; RFC 8446 §6.2's most precise alert here is {best}")
        }
        _ => String::new(),
    };
    match (case.expect(), outcome) {
        (
            Expect::Reject,
            Outcome::Requested {
                version, request, ..
            },
        ) => (
            Verdict::Fail,
            format!(
                "the client accepted {} ({version}) and sent {request}; it must reject it: {}",
                case.presents(),
                case.rule()
            ),
        ),
        (Expect::Reject, Outcome::ClosedAfterHandshake { version, .. }) => (
            Verdict::Pass,
            format!(
                "the client completed the handshake ({version}) but closed without a request: \
                 it rejected {} after the handshake (correct; RFC 8446 §6.2 would have it abort \
                 the handshake with alert {})",
                case.presents(),
                case.alerts().first().unwrap_or(&"bad_certificate")
            ),
        ),
        (Expect::Reject, Outcome::ClientAlert(alert)) => (
            Verdict::Pass,
            format!(
                "the client rejected {} with alert {alert} (correct{})",
                case.presents(),
                precise(alert)
            ),
        ),
        (Expect::Reject, Outcome::ClientClosed) => (
            Verdict::Pass,
            format!(
                "the client rejected {} by closing without an alert (correct; RFC 8446 §6.2 \
                 asks for alert {})",
                case.presents(),
                case.alerts().first().unwrap_or(&"bad_certificate")
            ),
        ),
        (Expect::Reject, Outcome::ServerRefused(why)) => (
            Verdict::Inconclusive,
            format!("the handshake ended before the client saw the certificate: {why}"),
        ),
        (_, Outcome::NoHello) => (
            Verdict::Inconclusive,
            "the client closed the connection before sending a ClientHello: nothing to judge"
                .to_owned(),
        ),
        (_, Outcome::TimedOut) => (
            Verdict::Inconclusive,
            "the client neither completed nor aborted the handshake within \
             --tls-handshake-timeout"
                .to_owned(),
        ),
        (
            Expect::Accept,
            Outcome::Requested {
                version,
                client_certificate,
                request,
            },
        ) => (
            Verdict::Pass,
            format!(
                "the client accepted {} ({version}{}) and sent {request} (correct)",
                case.presents(),
                if *client_certificate {
                    ", with its client certificate"
                } else {
                    ""
                }
            ),
        ),
        (Expect::Accept, Outcome::ClosedAfterHandshake { version, .. }) => (
            Verdict::Fail,
            format!(
                "the client completed the handshake ({version}) but sent no request before the \
                 connection ended (did it reject the certificate after the handshake?); {}: {}",
                trust_hint(""),
                case.rule()
            ),
        ),
        (Expect::Accept, Outcome::ClientAlert(alert)) => (
            Verdict::Fail,
            format!(
                "the client refused {} with alert {alert}; {}: {}",
                case.presents(),
                trust_hint(alert),
                case.rule()
            ),
        ),
        (Expect::Accept, Outcome::ClientClosed) => (
            Verdict::Fail,
            format!(
                "the client closed during the handshake without an alert; {}: {}",
                trust_hint(""),
                case.rule()
            ),
        ),
        (Expect::Accept, Outcome::ServerRefused(why)) => (
            Verdict::Fail,
            format!("{}: {}", refused_reason(case, why, hello), case.rule()),
        ),
    }
}

/// What to check when a client refuses a certificate it should accept.
fn trust_hint(alert: &str) -> &'static str {
    if alert == "protocol_version" {
        "it speaks no TLS version this probe offers"
    } else {
        "it must trust the local CA (ca.pem in the dev-cert directory: curl --cacert, \
         openssl -CAfile, Python cafile=, duplex client --cacert)"
    }
}

/// Why this server refused an acceptable case's handshake, told from what the client offered.
fn refused_reason(case: TlsCase, why: &str, hello: Option<&ClientHello>) -> String {
    let offered = hello.map(|hello| {
        hello
            .versions()
            .iter()
            .map(|&v| crate::protocol::tls_hello::names::version(v))
            .collect::<Vec<_>>()
            .join(", ")
    });
    match (case, hello, offered) {
        (TlsCase::Tls12Only, Some(hello), Some(offered)) if !hello.offers_version(0x0303) => {
            format!("the client offers no TLS 1.2 (it offered {offered})")
        }
        (TlsCase::Tls13Only, Some(hello), Some(offered)) if !hello.offers_version(0x0304) => {
            format!("the client offers no TLS 1.3 (it offered {offered})")
        }
        (TlsCase::ClientCert, _, _) => format!(
            "{why}; give the client {PROBES_DIR}/{CLIENT_CERT_FILE} and {PROBES_DIR}/{CLIENT_KEY_FILE} \
                 from the dev-cert directory"
        ),
        _ => why.to_owned(),
    }
}

/// Judges a case runner's run of a client on `case`: its exit status (`exited_ok`: 0) together
/// with what the server observed of its connection (`None`: nothing arrived in time). A client
/// must both do the right thing on the wire and report it: rejecting a certificate and then
/// exiting 0 is a failure, as is exiting non-zero after a good handshake.
pub fn judge_run(
    case: TlsCase,
    exited_ok: bool,
    observed: Option<&Observation>,
) -> (Verdict, String) {
    let Some(observed) = observed else {
        return (
            Verdict::Fail,
            "the server saw no TLS handshake on this case's port (did the client connect to \
             {url}?)"
                .to_owned(),
        );
    };
    match (observed.verdict, case.expect(), exited_ok) {
        (Verdict::Pass, Expect::Accept, false) => (
            Verdict::Fail,
            format!(
                "{}, but the client exited non-zero",
                observed.diagnosis.trim_end_matches(" (correct)")
            ),
        ),
        (Verdict::Pass, Expect::Reject, true) => (
            Verdict::Fail,
            format!(
                "{}, but the client exited 0: a failed connection must be reported",
                observed.diagnosis.trim_end_matches(" (correct)")
            ),
        ),
        (Verdict::Pass, _, _) => (Verdict::Pass, observed.diagnosis.clone()),
        (Verdict::Fail, _, _) => (Verdict::Fail, observed.diagnosis.clone()),
        (Verdict::Inconclusive, _, _) => (
            Verdict::Fail,
            format!("inconclusive: {}", observed.diagnosis),
        ),
    }
}

/// One judged probe handshake, for a case runner.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Increasing from 1 over the server's life: a runner notes [`Observations::next_seq`]
    /// before starting a client and reads only what came after.
    pub seq: u64,
    pub case: TlsCase,
    /// The connection's number in the log (`conn N`).
    pub conn: u64,
    pub outcome: Outcome,
    pub verdict: Verdict,
    /// The sentence the log carries.
    pub diagnosis: String,
    /// What the client offered, one line, when its ClientHello could be read.
    pub offered: Option<String>,
}

/// The last [`Observations::CAPACITY`] judged probe handshakes.
#[derive(Debug, Default)]
pub struct Observations {
    inner: Mutex<Ring>,
    changed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Ring {
    next: u64,
    items: VecDeque<Observation>,
}

impl Observations {
    /// Bounded: a client hammering the probes cannot grow it.
    pub const CAPACITY: usize = 1024;

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The number the next observation will get.
    pub fn next_seq(&self) -> u64 {
        self.ring().next.max(1)
    }

    pub(crate) fn record(&self, mut observation: Observation) {
        {
            let mut ring = self.ring();
            ring.next = ring.next.max(1);
            observation.seq = ring.next;
            ring.next += 1;
            if ring.items.len() == Self::CAPACITY {
                ring.items.pop_front();
            }
            ring.items.push_back(observation);
        }
        self.changed.notify_waiters();
    }

    /// Every observation numbered `since` or later, oldest first.
    pub fn since(&self, since: u64) -> Vec<Observation> {
        self.ring()
            .items
            .iter()
            .filter(|o| o.seq >= since)
            .cloned()
            .collect()
    }

    /// The first observation of `case` numbered `since` or later, waiting up to `timeout`
    /// for it (a client's alert can reach the server just after the client exits).
    pub async fn wait_for(
        &self,
        case: TlsCase,
        since: u64,
        timeout: Duration,
    ) -> Option<Observation> {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if let Some(found) = self.since(since).into_iter().find(|o| o.case == case) {
                    return found;
                }
                changed.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }
}

/// The probes' certificates and TLS configurations, made at start.
#[derive(Debug)]
pub(crate) struct ProbeSet {
    pub(crate) configs: Vec<(TlsCase, Arc<ServerConfig>)>,
    /// The local CA a client trusts for the acceptable cases.
    pub(crate) ca_file: PathBuf,
    /// The client certificate and key of `client-cert`.
    pub(crate) client_cert_file: PathBuf,
    pub(crate) client_key_file: PathBuf,
}

/// Makes every probe's certificate under the local CA in `dev_dir` (made there if missing, as
/// `duplex cert --ca` would) and writes the client certificate into `dev_dir/tls-probes/`.
///
/// # Errors
/// [`TlsError`] when the CA cannot be read or made, or a file cannot be written.
pub(crate) fn generate(dev_dir: &Path) -> Result<ProbeSet, TlsError> {
    let (ca, made) = LocalCa::ensure(dev_dir)?;
    if made {
        tracing::info!(path = %dev_dir.join(CA_CERT_FILE).display(), "created the local CA for the TLS probes (nothing was installed anywhere)");
    }
    let now = time::OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    let localhost = ["localhost", "127.0.0.1"];

    let signed = |names: &[&str], from, until| -> Result<Served, TlsError> {
        let key = new_key()?;
        let cert = ca.sign(&leaf_params(names, from, until)?, &key)?;
        Ok(Served::leaf(cert.der().clone(), &key))
    };
    let good = signed(&localhost, now - day, now + 365 * day)?;
    let expired = signed(&localhost, now - 395 * day, now - 30 * day)?;
    let not_yet = signed(&localhost, now + 30 * day, now + 395 * day)?;
    let wrong_host = signed(&[WRONG_HOST], now - day, now + 365 * day)?;
    let self_signed = {
        let key = new_key()?;
        let cert = leaf_params(&localhost, now - day, now + 365 * day)?.self_signed(&key)?;
        Served::leaf(cert.der().clone(), &key)
    };
    let untrusted = {
        let root_key = new_key()?;
        let root = ca_params("duplex TLS probes untrusted root (throwaway)")?;
        let issuer = rcgen::Issuer::new(root, &root_key);
        let key = new_key()?;
        let cert = leaf_params(&localhost, now - day, now + 365 * day)?.signed_by(&key, &issuer)?;
        Served::leaf(cert.der().clone(), &key)
    };
    // An intermediate of the local CA's own name with a key of its own: self-issued, which the
    // CA's path length of 0 allows (RFC 5280 §4.2.1.9), so the complete chain is valid.
    let (chain_leaf, complete_chain) = {
        let mut params = LocalCa::params()?;
        params.not_before = now - day;
        params.not_after = now + 365 * day;
        params.use_authority_key_identifier_extension = true;
        let inter_key = new_key()?;
        let inter = ca.sign(&params, &inter_key)?;
        let issuer = rcgen::Issuer::new(params, &inter_key);
        let key = new_key()?;
        let cert = leaf_params(&localhost, now - day, now + 365 * day)?.signed_by(&key, &issuer)?;
        let complete = Served {
            chain: vec![cert.der().clone(), inter.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        };
        (Served::leaf(cert.der().clone(), &key), complete)
    };

    // The client side of `client-cert`: a throwaway CA only this probe trusts.
    let client_ca_key = new_key()?;
    let client_ca = ca_params("duplex TLS probes client CA (throwaway)")?;
    let client_ca_cert = client_ca.self_signed(&client_ca_key)?;
    let client_key = new_key()?;
    let mut client_params = leaf_params(&[], now - day, now + 365 * day)?;
    client_params.distinguished_name = {
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "duplex probe client");
        name
    };
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert =
        client_params.signed_by(&client_key, &rcgen::Issuer::new(client_ca, &client_ca_key))?;
    let dir = dev_dir.join(PROBES_DIR);
    create_dir(&dir)?;
    let (client_cert_file, client_key_file) =
        (dir.join(CLIENT_CERT_FILE), dir.join(CLIENT_KEY_FILE));
    write_private(
        &client_key_file,
        client_key.serialize_pem().as_bytes(),
        true,
    )?;
    write_public(&client_cert_file, client_cert.pem().as_bytes(), true)?;

    let mut client_roots = rustls::RootCertStore::empty();
    client_roots
        .add(client_ca_cert.der().clone())
        .map_err(|err| TlsError::Probes(err.to_string()))?;
    let client_verifier = WebPkiClientVerifier::builder(Arc::new(client_roots))
        .build()
        .map_err(|err| TlsError::Probes(err.to_string()))?;

    let both: &[&'static rustls::SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];
    let mut configs = Vec::new();
    for case in TlsCase::ALL {
        let (served, versions, client_auth) = match case {
            TlsCase::Good => (good.clone(), both, None),
            TlsCase::Expired => (expired.clone(), both, None),
            TlsCase::NotYetValid => (not_yet.clone(), both, None),
            TlsCase::WrongHost => (wrong_host.clone(), both, None),
            TlsCase::SelfSigned => (self_signed.clone(), both, None),
            TlsCase::UntrustedRoot => (untrusted.clone(), both, None),
            TlsCase::IncompleteChain => (chain_leaf.clone(), both, None),
            TlsCase::CompleteChain => (complete_chain.clone(), both, None),
            TlsCase::Tls12Only => (good.clone(), &[&rustls::version::TLS12][..], None),
            TlsCase::Tls13Only => (good.clone(), &[&rustls::version::TLS13][..], None),
            TlsCase::ClientCert => (good.clone(), both, Some(Arc::clone(&client_verifier))),
        };
        let builder = ServerConfig::builder_with_protocol_versions(versions);
        let builder = match client_auth {
            Some(verifier) => builder.with_client_cert_verifier(verifier),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(served.chain, served.key)
            .map_err(|err| TlsError::Probes(format!("{case}: {err}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.ignore_client_order = true;
        // Every connection shows the client's certificate check anew: no session resumes
        // (nor could one carry over from another probe port).
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        configs.push((case, Arc::new(config)));
    }
    Ok(ProbeSet {
        configs,
        ca_file: dev_dir.join(CA_CERT_FILE),
        client_cert_file,
        client_key_file,
    })
}

/// A certificate chain and its key, ready for rustls.
#[derive(Debug)]
struct Served {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for Served {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl Served {
    fn leaf(cert: CertificateDer<'static>, key: &KeyPair) -> Self {
        Self {
            chain: vec![cert],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}

fn new_key() -> Result<KeyPair, TlsError> {
    Ok(KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?)
}

/// A server leaf for `names` (DNS names or IP addresses), valid from `from` to `until`.
fn leaf_params(
    names: &[&str],
    from: time::OffsetDateTime,
    until: time::OffsetDateTime,
) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    for name in names {
        params.subject_alt_names.push(match name.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*name).try_into()?),
        });
    }
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("duplex"),
    );
    params.distinguished_name = dn;
    params.not_before = from;
    params.not_after = until;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// A CA's parameters, named `name`.
fn ca_params(name: &str) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365);
    Ok(params)
}

/// Where a case listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeEndpoint {
    pub case: TlsCase,
    pub addr: std::net::SocketAddr,
}

impl ProbeEndpoint {
    /// `https://localhost:PORT/status`: the URL a client is given for this case.
    pub fn url(&self) -> String {
        self.url_of("/status")
    }

    /// `path` on this case's port, by the name its certificates carry (`localhost`).
    pub fn url_of(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }
}

/// The TLS probes of a running server, for a case runner: each case's address, the files a
/// client needs, and the judged handshakes.
#[derive(Debug, Clone)]
pub struct TlsProbes {
    /// In [`TlsCase::ALL`]'s order.
    pub endpoints: Vec<ProbeEndpoint>,
    /// The local CA: what a client trusts (`--cacert`).
    pub ca_file: PathBuf,
    /// The client certificate and key `client-cert` asks for.
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    pub observations: Arc<Observations>,
}

impl TlsProbes {
    /// Where `case` listens.
    pub fn endpoint(&self, case: TlsCase) -> Option<ProbeEndpoint> {
        self.endpoints.iter().copied().find(|e| e.case == case)
    }

    /// What a runner substitutes into a client's command line for `case`: `{url}`,
    /// `{cacert}`, `{client_cert}` and `{client_key}`. The client files are given on every case
    /// (so one command line fits all): a TLS client sends a certificate only when asked.
    pub fn placeholders(&self, case: TlsCase) -> Option<Vec<(&'static str, String)>> {
        let endpoint = self.endpoint(case)?;
        Some(vec![
            ("{url}", endpoint.url()),
            ("{cacert}", self.ca_file.display().to_string()),
            ("{client_cert}", self.client_cert_file.display().to_string()),
            ("{client_key}", self.client_key_file.display().to_string()),
        ])
    }

    /// `https://localhost:PORT/tls/clienthello` on the good control's port.
    pub fn client_hello_url(&self) -> Option<String> {
        self.endpoint(TlsCase::Good)
            .map(|e| e.url_of("/tls/clienthello"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_ports_follow_the_documented_order() {
        for case in TlsCase::ALL {
            assert_eq!(TlsCase::from_name(case.name()), Some(case));
        }
        assert_eq!(TlsCase::ALL[0], TlsCase::Good);
        assert_eq!(TlsCase::ALL[10], TlsCase::ClientCert);
    }

    #[test]
    fn alerts_are_named_as_rfc_8446_spells_them() {
        assert_eq!(
            alert_name(rustls::AlertDescription::UnknownCA),
            "unknown_ca"
        );
        assert_eq!(
            alert_name(rustls::AlertDescription::CertificateExpired),
            "certificate_expired"
        );
        assert_eq!(
            alert_name(rustls::AlertDescription::BadCertificate),
            "bad_certificate"
        );
    }

    fn requested() -> Outcome {
        Outcome::Requested {
            version: "TLS 1.3".to_owned(),
            client_certificate: false,
            request: "GET /status".to_owned(),
        }
    }

    #[test]
    fn a_bad_certificate_accepted_fails_and_rejected_passes() {
        let (verdict, text) = judge(TlsCase::Expired, &requested(), None);
        assert_eq!(verdict, Verdict::Fail);
        assert!(
            text.contains("accepted") && text.contains("RFC 5280"),
            "{text}"
        );
        let alert = Outcome::ClientAlert("certificate_expired".to_owned());
        let (verdict, text) = judge(TlsCase::Expired, &alert, None);
        assert_eq!(verdict, Verdict::Pass);
        assert!(text.ends_with("(correct)"), "{text}");
        // A less precise alert still rejects; the text says which one the RFC names.
        let alert = Outcome::ClientAlert("bad_certificate".to_owned());
        let (verdict, text) = judge(TlsCase::NotYetValid, &alert, None);
        assert_eq!(verdict, Verdict::Pass);
        assert!(
            text.contains("most precise alert here is certificate_expired"),
            "{text}"
        );
        // curl checks the name after the handshake: no request is a rejection.
        let after = Outcome::ClosedAfterHandshake {
            version: "TLS 1.3".to_owned(),
            client_certificate: false,
        };
        assert_eq!(judge(TlsCase::WrongHost, &after, None).0, Verdict::Pass);
        assert_eq!(judge(TlsCase::Good, &after, None).0, Verdict::Fail);
        // A port check (connect, close) says nothing about the client's certificate checks.
        assert_eq!(
            judge(TlsCase::Expired, &Outcome::NoHello, None).0,
            Verdict::Inconclusive
        );
        let refused = Outcome::ServerRefused("no common version".to_owned());
        assert_eq!(
            judge(TlsCase::SelfSigned, &refused, None).0,
            Verdict::Inconclusive
        );
    }

    #[test]
    fn a_good_case_refused_says_what_to_fix() -> Result<(), crate::protocol::tls_hello::HelloError>
    {
        let (verdict, text) = judge(
            TlsCase::Good,
            &Outcome::ClientAlert("unknown_ca".to_owned()),
            None,
        );
        assert_eq!(verdict, Verdict::Fail);
        assert!(text.contains("trust the local CA"), "{text}");
        let hello = ClientHello::parse(&crate::protocol::tls_hello::tests::modern_hello())?;
        let mut tls12_only = hello.clone();
        tls12_only.supported_versions = Some(vec![0x0303]);
        let refused = Outcome::ServerRefused("PeerIncompatible".to_owned());
        let (verdict, text) = judge(TlsCase::Tls13Only, &refused, Some(&tls12_only));
        assert_eq!(verdict, Verdict::Fail);
        assert!(
            text.contains("offers no TLS 1.3 (it offered TLS 1.2)"),
            "{text}"
        );
        let (_, text) = judge(TlsCase::ClientCert, &refused, Some(&hello));
        assert!(text.contains("client.pem"), "{text}");
        Ok(())
    }

    #[test]
    fn a_run_is_judged_on_the_wire_and_on_the_exit_status() {
        let seen = |case, outcome: Outcome| {
            let (verdict, diagnosis) = judge(case, &outcome, None);
            Observation {
                seq: 1,
                case,
                conn: 1,
                outcome,
                verdict,
                diagnosis,
                offered: None,
            }
        };
        let rejected = seen(
            TlsCase::Expired,
            Outcome::ClientAlert("certificate_expired".to_owned()),
        );
        assert_eq!(
            judge_run(TlsCase::Expired, false, Some(&rejected)).0,
            Verdict::Pass
        );
        let (verdict, why) = judge_run(TlsCase::Expired, true, Some(&rejected));
        assert_eq!(verdict, Verdict::Fail);
        assert!(
            why.ends_with("exited 0: a failed connection must be reported"),
            "{why}"
        );
        let accepted = seen(TlsCase::Good, requested());
        assert_eq!(
            judge_run(TlsCase::Good, true, Some(&accepted)).0,
            Verdict::Pass
        );
        assert_eq!(
            judge_run(TlsCase::Good, false, Some(&accepted)).0,
            Verdict::Fail
        );
        let wrongly = seen(TlsCase::Expired, requested());
        assert_eq!(
            judge_run(TlsCase::Expired, true, Some(&wrongly)).0,
            Verdict::Fail
        );
        assert_eq!(judge_run(TlsCase::Good, true, None).0, Verdict::Fail);
        let port_check = seen(TlsCase::SelfSigned, Outcome::NoHello);
        let (verdict, why) = judge_run(TlsCase::SelfSigned, false, Some(&port_check));
        assert_eq!(verdict, Verdict::Fail);
        assert!(why.starts_with("inconclusive: "), "{why}");
        for case in TlsCase::ALL {
            assert!(!case.hint().is_empty() && !case.rule().is_empty());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn observations_are_bounded_and_waited_for() {
        let observations = Arc::new(Observations::default());
        let since = observations.next_seq();
        let observation = |case| Observation {
            seq: 0,
            case,
            conn: 1,
            outcome: Outcome::ClientClosed,
            verdict: Verdict::Pass,
            diagnosis: String::new(),
            offered: None,
        };
        let waiting = {
            let observations = Arc::clone(&observations);
            tokio::spawn(async move {
                observations
                    .wait_for(TlsCase::Expired, since, Duration::from_secs(5))
                    .await
            })
        };
        tokio::task::yield_now().await;
        observations.record(observation(TlsCase::Good));
        observations.record(observation(TlsCase::Expired));
        let found = waiting.await.ok().flatten();
        assert_eq!(found.map(|o| (o.case, o.seq)), Some((TlsCase::Expired, 2)));
        // Nothing more arrives: the wait ends at its timeout (paused clock, no real wait).
        let none = observations
            .wait_for(TlsCase::Expired, 3, Duration::from_secs(5))
            .await;
        assert!(none.is_none());
        for _ in 0..Observations::CAPACITY + 10 {
            observations.record(observation(TlsCase::Good));
        }
        assert_eq!(observations.since(0).len(), Observations::CAPACITY);
    }
}
