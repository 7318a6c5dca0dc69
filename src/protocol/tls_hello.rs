//! A TLS ClientHello read from the raw bytes a client sent, and judged: which versions, cipher
//! suites, groups, signature schemes, ALPN and SNI it offered, named as IANA names them, and
//! which of them are weak, obsolete or missing for a client of today (RFC 9325, BCP 195).
//!
//! rustls' own `ClientHello` view leaves out the offered versions, the extension list and the
//! compression methods, so this is a parser of its own: bounded (nothing is read past the
//! first ClientHello, which may not exceed [`MAX_HELLO`]), allocation proportional to the
//! input, and no panic on any input (the tests feed it truncations and garbage).

use std::fmt::Write as _;

use serde_json::{Value, json};

/// The largest ClientHello handshake message parsed. Real ones are under 2 KiB (about 1.8 KiB
/// with a post-quantum key share); 16 KiB leaves room for long PSK identities.
pub const MAX_HELLO: usize = 16 * 1024;

/// How many raw bytes may hold a ClientHello of [`MAX_HELLO`]: records of at least one byte
/// each would be absurd, so allow a header per 512 bytes of fragment, like no real client.
pub const MAX_RAW_HELLO: usize = MAX_HELLO + 5 * (MAX_HELLO / 512) + 5;

/// Why the bytes are not (yet) a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("the ClientHello is incomplete ({0} bytes seen)")]
    Incomplete(usize),
    #[error("not a TLS handshake record (first byte {0:#04x}; a TLS connection opens with 0x16)")]
    NotHandshake(u8),
    #[error("the first handshake message is type {0}, not ClientHello (1)")]
    NotClientHello(u8),
    #[error("the ClientHello is larger than {MAX_HELLO} bytes")]
    TooLarge,
    #[error("malformed ClientHello: {0}")]
    Malformed(String),
}

/// What a client offered in its ClientHello. Numbers as on the wire; names via [`names`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// The record layer's version field (0x0301 from most clients).
    pub record_version: u16,
    /// `legacy_version`: 0x0303 for TLS 1.2 and 1.3 clients (RFC 8446 §4.1.2).
    pub legacy_version: u16,
    pub session_id_len: usize,
    pub cipher_suites: Vec<u16>,
    pub compression_methods: Vec<u8>,
    /// Extension types in the order sent.
    pub extensions: Vec<u16>,
    /// `supported_versions` (RFC 8446 §4.2.1), when sent.
    pub supported_versions: Option<Vec<u16>>,
    /// The host name of `server_name` (RFC 6066 §3), lossily decoded.
    pub server_name: Option<String>,
    pub alpn: Vec<String>,
    pub groups: Vec<u16>,
    /// Groups of the `key_share` entries (RFC 8446 §4.2.8).
    pub key_shares: Vec<u16>,
    pub signature_schemes: Vec<u16>,
    pub ec_point_formats: Option<Vec<u8>>,
    pub psk_modes: Vec<u8>,
}

/// A cursor over bytes that never reads past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self { bytes, what }
    }

    fn short(&self) -> HelloError {
        HelloError::Malformed(format!("{} is cut short", self.what))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], HelloError> {
        if n > self.bytes.len() {
            return Err(self.short());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, HelloError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, HelloError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A vector with a one-byte length.
    fn vec8(&mut self) -> Result<&'a [u8], HelloError> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }

    /// A vector with a two-byte length.
    fn vec16(&mut self) -> Result<&'a [u8], HelloError> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// A list of two-byte values, whose byte length must be even.
    fn u16_list(bytes: &[u8], what: &'static str) -> Result<Vec<u16>, HelloError> {
        if !bytes.len().is_multiple_of(2) {
            return Err(HelloError::Malformed(format!("{what} has an odd length")));
        }
        Ok(bytes
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect())
    }
}

impl ClientHello {
    /// Parses the first ClientHello in `raw`, the bytes a client sent from the start of the
    /// connection (TLS records, possibly followed by more).
    ///
    /// # Errors
    /// [`HelloError::Incomplete`] when more bytes are needed; the other variants when the
    /// bytes can never become a ClientHello.
    pub fn parse(raw: &[u8]) -> Result<Self, HelloError> {
        let mut message = Vec::new();
        let mut rest = raw;
        let mut record_version = None;
        loop {
            // The handshake message may span records (RFC 8446 §5.1).
            if message.len() >= 4 {
                if message[0] != 1 {
                    return Err(HelloError::NotClientHello(message[0]));
                }
                let len = usize::from(message[1]) << 16
                    | usize::from(message[2]) << 8
                    | usize::from(message[3]);
                if len > MAX_HELLO {
                    return Err(HelloError::TooLarge);
                }
                if message.len() >= 4 + len {
                    let mut hello = Self::parse_body(&message[4..4 + len])?;
                    hello.record_version = record_version.unwrap_or_default();
                    return Ok(hello);
                }
            }
            let Some(header) = rest.get(..5) else {
                if let Some(&first) = rest.first()
                    && first != 22
                {
                    return Err(HelloError::NotHandshake(first));
                }
                return Err(HelloError::Incomplete(raw.len()));
            };
            if header[0] != 22 {
                return Err(HelloError::NotHandshake(header[0]));
            }
            record_version.get_or_insert(u16::from_be_bytes([header[1], header[2]]));
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            if len == 0 {
                return Err(HelloError::Malformed(
                    "an empty handshake record (RFC 8446 §5.1 forbids them)".to_owned(),
                ));
            }
            // 2^14 is the limit (RFC 8446 §5.1).
            if len > 16 * 1024 {
                return Err(HelloError::Malformed(format!(
                    "a record of {len} bytes, more than 16384"
                )));
            }
            let Some(fragment) = rest.get(5..5 + len) else {
                return Err(HelloError::Incomplete(raw.len()));
            };
            if message.len() + fragment.len() > MAX_HELLO + 4 + 16 * 1024 {
                return Err(HelloError::TooLarge);
            }
            message.extend_from_slice(fragment);
            rest = &rest[5 + len..];
        }
    }

    fn parse_body(body: &[u8]) -> Result<Self, HelloError> {
        let mut r = Reader::new(body, "the ClientHello");
        let mut hello = Self {
            legacy_version: r.u16()?,
            ..Self::default()
        };
        r.take(32)?; // random
        hello.session_id_len = r.vec8()?.len();
        hello.cipher_suites = Reader::u16_list(r.vec16()?, "the cipher suite list")?;
        hello.compression_methods = r.vec8()?.to_vec();
        if r.is_empty() {
            // Extensions are optional before TLS 1.3 (RFC 5246 §7.4.1.2).
            return Ok(hello);
        }
        let mut extensions = Reader::new(r.vec16()?, "the extension list");
        if !r.is_empty() {
            return Err(HelloError::Malformed(
                "bytes after the extension list".to_owned(),
            ));
        }
        while !extensions.is_empty() {
            let kind = extensions.u16()?;
            let data = extensions.vec16()?;
            if hello.extensions.contains(&kind) {
                // RFC 8446 §4.2: "There MUST NOT be more than one extension of the same type".
                return Err(HelloError::Malformed(format!(
                    "the extension {} twice",
                    names::extension(kind)
                )));
            }
            hello.extensions.push(kind);
            hello.extension(kind, data)?;
        }
        Ok(hello)
    }

    /// Reads the extensions this report describes; the others are only listed.
    fn extension(&mut self, kind: u16, data: &[u8]) -> Result<(), HelloError> {
        match kind {
            0 => {
                let mut list = Reader::new(data, "server_name");
                let mut names = Reader::new(list.vec16()?, "server_name");
                while !names.is_empty() {
                    let name_type = names.u8()?;
                    let name = names.vec16()?;
                    if name_type == 0 && self.server_name.is_none() {
                        self.server_name = Some(printable(name, 255));
                    }
                }
            }
            10 => {
                let mut r = Reader::new(data, "supported_groups");
                self.groups = Reader::u16_list(r.vec16()?, "supported_groups")?;
            }
            11 => {
                let mut r = Reader::new(data, "ec_point_formats");
                self.ec_point_formats = Some(r.vec8()?.to_vec());
            }
            13 => {
                let mut r = Reader::new(data, "signature_algorithms");
                self.signature_schemes = Reader::u16_list(r.vec16()?, "signature_algorithms")?;
            }
            16 => {
                let mut r = Reader::new(data, "application_layer_protocol_negotiation");
                let mut list = Reader::new(r.vec16()?, "application_layer_protocol_negotiation");
                while !list.is_empty() {
                    self.alpn.push(printable(list.vec8()?, 64));
                }
            }
            43 => {
                let mut r = Reader::new(data, "supported_versions");
                self.supported_versions = Some(Reader::u16_list(r.vec8()?, "supported_versions")?);
            }
            45 => {
                let mut r = Reader::new(data, "psk_key_exchange_modes");
                self.psk_modes = r.vec8()?.to_vec();
            }
            51 => {
                let mut r = Reader::new(data, "key_share");
                let mut shares = Reader::new(r.vec16()?, "key_share");
                while !shares.is_empty() {
                    self.key_shares.push(shares.u16()?);
                    shares.vec16()?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The versions offered: `supported_versions` when sent, else every version from TLS 1.0
    /// up to `legacy_version` (RFC 8446 §4.2.1 and appendix D).
    pub fn versions(&self) -> Vec<u16> {
        match &self.supported_versions {
            Some(versions) => versions.clone(),
            None => [0x0300, 0x0301, 0x0302, 0x0303]
                .into_iter()
                .filter(|&v| v <= self.legacy_version)
                .rev()
                .collect(),
        }
    }

    /// Whether TLS `version` (e.g. 0x0304) is offered.
    pub fn offers_version(&self, version: u16) -> bool {
        self.versions().contains(&version)
    }

    /// What is weak, obsolete or missing in this offer, for a client of today.
    pub fn findings(&self) -> Vec<Finding> {
        let mut found = Vec::new();
        let versions = self.versions();
        let old: Vec<String> = versions
            .iter()
            .filter(|v| (0x0002..=0x0302).contains(*v))
            .map(|&v| names::version(v))
            .collect();
        if !old.is_empty() {
            found.push(Finding::obsolete(
                format!("offers {}", old.join(", ")),
                "RFC 8996 deprecates TLS 1.0 and 1.1, RFC 7568 SSL 3.0",
            ));
        }
        if !versions.contains(&0x0304) {
            found.push(Finding::missing(
                "does not offer TLS 1.3",
                "RFC 9325 §3.1: clients SHOULD support TLS 1.3 and prefer it",
            ));
        }
        let tls12 = versions.contains(&0x0303);
        // One finding per rule, naming every offer it applies to.
        let mut grouped: Vec<(Level, &'static str, &'static str, Vec<String>)> = Vec::new();
        let mut add =
            |kind: &'static str, name: String, (level, rule): (Level, &'static str)| match grouped
                .iter_mut()
                .find(|(l, r, k, _)| *l == level && *r == rule && *k == kind)
            {
                Some((_, _, _, names)) => names.push(name),
                None => grouped.push((level, rule, kind, vec![name])),
            };
        for &suite in &self.cipher_suites {
            if let Some(weakness) = names::suite_weakness(suite) {
                add("cipher suite", names::suite(suite), weakness);
            }
        }
        for &scheme in &self.signature_schemes {
            if let Some(weakness) = names::scheme_weakness(scheme) {
                add("signature scheme", names::scheme(scheme), weakness);
            }
        }
        for &group in &self.groups {
            if let Some(weakness) = names::group_weakness(group) {
                add("group", names::group(group), weakness);
            }
        }
        for (level, rule, kind, names) in grouped {
            let what = match names.as_slice() {
                [one] => format!("offers the {kind} {one}"),
                many => format!("offers {} {kind}s: {}", many.len(), many.join(", ")),
            };
            found.push(Finding { level, what, rule });
        }
        if tls12
            && !self
                .cipher_suites
                .iter()
                .any(|&s| names::is_tls12_aead_ecdhe(s))
        {
            found.push(Finding::missing(
                "offers no ECDHE suite with AEAD (GCM or ChaCha20-Poly1305) for TLS 1.2",
                "RFC 9325 §4.2 recommends TLS_ECDHE_*_WITH_AES_*_GCM_*",
            ));
        }
        if self.compression_methods.iter().any(|&m| m != 0) {
            found.push(Finding::weak(
                "offers TLS compression",
                "RFC 9325 §3.3: compression MUST be off (CRIME)",
            ));
        }
        if tls12 && !self.extensions.contains(&23) {
            found.push(Finding::missing(
                "does not offer extended_master_secret",
                "RFC 9325 §3.5 and RFC 7627: TLS 1.2 clients MUST support it",
            ));
        }
        if tls12 && !self.extensions.contains(&0xff01) && !self.cipher_suites.contains(&0x00ff) {
            found.push(Finding::missing(
                "signals no secure renegotiation (renegotiation_info or its SCSV)",
                "RFC 5746 §3.4 and RFC 9325 §3.5",
            ));
        }
        match &self.server_name {
            None => found.push(Finding::note(
                "sends no server_name (SNI): fine for an IP address, wrong for a host name",
                "RFC 9325 §3.7: clients MUST send SNI when connecting to a name",
            )),
            Some(name) if name.parse::<std::net::IpAddr>().is_ok() => found.push(Finding::weak(
                format!("sends the IP address {name} as SNI"),
                "RFC 6066 §3: literal IP addresses are not permitted in server_name",
            )),
            Some(_) => {}
        }
        if self.alpn.is_empty() {
            found.push(Finding::note(
                "offers no ALPN protocol",
                "RFC 9325 §3.8 and RFC 7301: HTTP clients should say which HTTP they speak",
            ));
        }
        found
    }

    /// The JSON report of `GET /tls/clienthello`: every offer by name, then the findings, a
    /// rating, and what a client of today offers.
    pub fn report(&self) -> Value {
        type Weakness = fn(u16) -> Option<(Level, &'static str)>;
        let named16 = |values: &[u16], name: fn(u16) -> String, weakness: Weakness| -> Vec<Value> {
            values
                .iter()
                .map(|&v| {
                    let mut entry = json!({ "id": format!("{v:#06x}"), "name": name(v) });
                    if let (Some((level, _)), Some(object)) = (weakness(v), entry.as_object_mut()) {
                        object.insert("verdict".to_owned(), json!(level.name()));
                    }
                    entry
                })
                .collect()
        };
        let fine: Weakness = |_| None;
        let findings = self.findings();
        let rating = if findings.iter().any(|f| f.level == Level::Weak) {
            "Bad"
        } else if findings
            .iter()
            .any(|f| matches!(f.level, Level::Obsolete | Level::Missing))
        {
            "Improvable"
        } else {
            "Probably Okay"
        };
        json!({
            "rating": rating,
            "tls_versions": self.versions().iter().map(|&v| names::version(v)).collect::<Vec<_>>(),
            "legacy_version": names::version(self.legacy_version),
            "record_version": names::version(self.record_version),
            "server_name": self.server_name,
            "alpn": self.alpn,
            "cipher_suites": named16(&self.cipher_suites, names::suite, names::suite_weakness),
            "supported_groups": named16(&self.groups, names::group, names::group_weakness),
            "key_shares": named16(&self.key_shares, names::group, names::group_weakness),
            "signature_schemes": named16(&self.signature_schemes, names::scheme, names::scheme_weakness),
            "extensions": named16(&self.extensions, names::extension, fine),
            "compression_methods": self.compression_methods.iter().map(|&m| match m {
                0 => "null".to_owned(),
                1 => "DEFLATE".to_owned(),
                other => format!("unknown ({other})"),
            }).collect::<Vec<_>>(),
            "ec_point_formats": self.ec_point_formats.as_ref().map(|formats| {
                formats.iter().map(|&f| match f {
                    0 => "uncompressed".to_owned(),
                    1 => "ansiX962_compressed_prime".to_owned(),
                    2 => "ansiX962_compressed_char2".to_owned(),
                    other => format!("unknown ({other})"),
                }).collect::<Vec<_>>()
            }),
            "psk_key_exchange_modes": self.psk_modes.iter().map(|&m| match m {
                0 => "psk_ke".to_owned(),
                1 => "psk_dhe_ke".to_owned(),
                other => format!("unknown ({other})"),
            }).collect::<Vec<_>>(),
            "session_id_bytes": self.session_id_len,
            "findings": findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
            "modern_client_offers": modern(),
        })
    }

    /// One line for the log: versions, SNI, ALPN and the count of suites.
    pub fn summary(&self) -> String {
        let mut line = String::new();
        let versions: Vec<String> = self.versions().iter().map(|&v| names::version(v)).collect();
        let _ = write!(
            line,
            "offered {}; SNI {}; ALPN {}; {} cipher suites",
            versions.join(", "),
            self.server_name.as_deref().unwrap_or("none"),
            if self.alpn.is_empty() {
                "none".to_owned()
            } else {
                self.alpn.join(",")
            },
            self.cipher_suites.len()
        );
        line
    }
}

/// What a client of today offers (RFC 9325, BCP 195; Mozilla's "modern" and "intermediate").
fn modern() -> Value {
    json!({
        "tls_versions": ["TLS 1.3", "TLS 1.2 (still allowed: RFC 9325 §3.1)"],
        "cipher_suites": [
            "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
            "for TLS 1.2 only ECDHE with AEAD: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, \
             TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, *_AES_256_GCM_SHA384, *_CHACHA20_POLY1305_SHA256"
        ],
        "supported_groups": ["X25519MLKEM768 (hybrid post-quantum)", "x25519", "secp256r1", "secp384r1"],
        "signature_schemes": [
            "ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256", "ed25519", "ecdsa_secp384r1_sha384",
            "rsa_pss_rsae_sha384", "rsa_pkcs1_sha256 (for TLS 1.2 certificates)"
        ],
        "extensions": [
            "server_name (for host names)", "application_layer_protocol_negotiation",
            "extended_master_secret", "renegotiation_info", "supported_versions", "key_share"
        ],
        "never": ["SSL 3.0, TLS 1.0, 1.1", "RC4, 3DES, DES, NULL, EXPORT, anonymous suites",
                  "static RSA key exchange", "SHA-1 or MD5 signatures", "compression"]
    })
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Breakable or broken: a server must not accept it.
    Weak,
    /// Deprecated by an RFC; harmless only while the server refuses it.
    Obsolete,
    /// Something a client of today offers and this one does not.
    Missing,
    /// Worth knowing.
    Note,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Self::Weak => "weak",
            Self::Obsolete => "obsolete",
            Self::Missing => "missing",
            Self::Note => "note",
        }
    }
}

/// One thing wrong or missing in a ClientHello, with the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub what: String,
    pub rule: &'static str,
}

impl Finding {
    fn weak(what: impl Into<String>, rule: &'static str) -> Self {
        Self {
            level: Level::Weak,
            what: what.into(),
            rule,
        }
    }
    fn obsolete(what: impl Into<String>, rule: &'static str) -> Self {
        Self {
            level: Level::Obsolete,
            what: what.into(),
            rule,
        }
    }
    fn missing(what: impl Into<String>, rule: &'static str) -> Self {
        Self {
            level: Level::Missing,
            what: what.into(),
            rule,
        }
    }
    fn note(what: impl Into<String>, rule: &'static str) -> Self {
        Self {
            level: Level::Note,
            what: what.into(),
            rule,
        }
    }

    fn to_json(&self) -> Value {
        json!({ "level": self.level.name(), "what": self.what, "rule": self.rule })
    }
}

/// Printable text of bytes a client chose: non-printable bytes as `\xNN`, cut at `max`.
fn printable(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(max) {
        if b.is_ascii_graphic() {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    if bytes.len() > max {
        out.push('…');
    }
    out
}

/// IANA names of the TLS registries' values, and what RFC 9325 and its kin say of them.
pub mod names {
    use super::Level;

    /// GREASE values (RFC 8701): `0x?a?a`, sent to keep servers tolerant of unknown values.
    pub fn is_grease(value: u16) -> bool {
        value & 0x0f0f == 0x0a0a && value >> 8 == value & 0xff
    }

    fn or_number(name: Option<&str>, value: u16) -> String {
        match name {
            Some(name) => name.to_owned(),
            None if is_grease(value) => format!("GREASE ({value:#06x})"),
            None => format!("unknown ({value:#06x})"),
        }
    }

    pub fn version(v: u16) -> String {
        let name = match v {
            0x0002 => Some("SSL 2.0"),
            0x0300 => Some("SSL 3.0"),
            0x0301 => Some("TLS 1.0"),
            0x0302 => Some("TLS 1.1"),
            0x0303 => Some("TLS 1.2"),
            0x0304 => Some("TLS 1.3"),
            0x7f00..=0x7fff => return format!("TLS 1.3 draft {}", v & 0xff),
            _ => None,
        };
        or_number(name, v)
    }

    /// Cipher suites by IANA name (the common ones; others by number).
    pub fn suite(s: u16) -> String {
        let name = match s {
            0x0000 => "TLS_NULL_WITH_NULL_NULL",
            0x0001 => "TLS_RSA_WITH_NULL_MD5",
            0x0002 => "TLS_RSA_WITH_NULL_SHA",
            0x0003 => "TLS_RSA_EXPORT_WITH_RC4_40_MD5",
            0x0004 => "TLS_RSA_WITH_RC4_128_MD5",
            0x0005 => "TLS_RSA_WITH_RC4_128_SHA",
            0x0006 => "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5",
            0x0008 => "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA",
            0x0009 => "TLS_RSA_WITH_DES_CBC_SHA",
            0x000a => "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
            0x0011 => "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA",
            0x0012 => "TLS_DHE_DSS_WITH_DES_CBC_SHA",
            0x0013 => "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA",
            0x0014 => "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA",
            0x0015 => "TLS_DHE_RSA_WITH_DES_CBC_SHA",
            0x0016 => "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
            0x0018 => "TLS_DH_anon_WITH_RC4_128_MD5",
            0x001b => "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA",
            0x002f => "TLS_RSA_WITH_AES_128_CBC_SHA",
            0x0032 => "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
            0x0033 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
            0x0034 => "TLS_DH_anon_WITH_AES_128_CBC_SHA",
            0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
            0x0038 => "TLS_DHE_DSS_WITH_AES_256_CBC_SHA",
            0x0039 => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
            0x003a => "TLS_DH_anon_WITH_AES_256_CBC_SHA",
            0x003b => "TLS_RSA_WITH_NULL_SHA256",
            0x003c => "TLS_RSA_WITH_AES_128_CBC_SHA256",
            0x003d => "TLS_RSA_WITH_AES_256_CBC_SHA256",
            0x0040 => "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256",
            0x0041 => "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
            0x0045 => "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA",
            0x0067 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
            0x006a => "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256",
            0x006b => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
            0x0084 => "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA",
            0x0088 => "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA",
            0x008c => "TLS_PSK_WITH_AES_128_CBC_SHA",
            0x008d => "TLS_PSK_WITH_AES_256_CBC_SHA",
            0x009a => "TLS_DHE_RSA_WITH_SEED_CBC_SHA",
            0x009c => "TLS_RSA_WITH_AES_128_GCM_SHA256",
            0x009d => "TLS_RSA_WITH_AES_256_GCM_SHA384",
            0x009e => "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
            0x009f => "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
            0x00a2 => "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",
            0x00a3 => "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384",
            0x00a8 => "TLS_PSK_WITH_AES_128_GCM_SHA256",
            0x00a9 => "TLS_PSK_WITH_AES_256_GCM_SHA384",
            0x00ff => "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
            0x1301 => "TLS_AES_128_GCM_SHA256",
            0x1302 => "TLS_AES_256_GCM_SHA384",
            0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
            0x1304 => "TLS_AES_128_CCM_SHA256",
            0x1305 => "TLS_AES_128_CCM_8_SHA256",
            0x5600 => "TLS_FALLBACK_SCSV",
            0xc002 => "TLS_ECDH_ECDSA_WITH_RC4_128_SHA",
            0xc003 => "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA",
            0xc004 => "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA",
            0xc005 => "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA",
            0xc006 => "TLS_ECDHE_ECDSA_WITH_NULL_SHA",
            0xc007 => "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
            0xc008 => "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
            0xc009 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            0xc00a => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
            0xc00e => "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA",
            0xc00f => "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA",
            0xc010 => "TLS_ECDHE_RSA_WITH_NULL_SHA",
            0xc011 => "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
            0xc012 => "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
            0xc013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            0xc014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
            0xc016 => "TLS_ECDH_anon_WITH_RC4_128_SHA",
            0xc017 => "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA",
            0xc018 => "TLS_ECDH_anon_WITH_AES_128_CBC_SHA",
            0xc019 => "TLS_ECDH_anon_WITH_AES_256_CBC_SHA",
            0xc023 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
            0xc024 => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
            0xc025 => "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256",
            0xc026 => "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384",
            0xc027 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
            0xc028 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
            0xc029 => "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256",
            0xc02a => "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384",
            0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            0xc02d => "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
            0xc02e => "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384",
            0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            0xc031 => "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256",
            0xc032 => "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384",
            0xc035 => "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA",
            0xc036 => "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA",
            0xc09c => "TLS_RSA_WITH_AES_128_CCM",
            0xc09d => "TLS_RSA_WITH_AES_256_CCM",
            0xc09e => "TLS_DHE_RSA_WITH_AES_128_CCM",
            0xc09f => "TLS_DHE_RSA_WITH_AES_256_CCM",
            0xc0a0 => "TLS_RSA_WITH_AES_128_CCM_8",
            0xc0a1 => "TLS_RSA_WITH_AES_256_CCM_8",
            0xc0a2 => "TLS_DHE_RSA_WITH_AES_128_CCM_8",
            0xc0a3 => "TLS_DHE_RSA_WITH_AES_256_CCM_8",
            0xc0ac => "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
            0xc0ad => "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
            0xc0ae => "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
            0xc0af => "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8",
            0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            0xccaa => "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            0xccab => "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256",
            0xccac => "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
            _ => "",
        };
        or_number((!name.is_empty()).then_some(name), s)
    }

    /// Whether `s` is a TLS 1.2 suite with ECDHE key exchange and an AEAD cipher.
    pub fn is_tls12_aead_ecdhe(s: u16) -> bool {
        matches!(
            s,
            0xc02b | 0xc02c | 0xc02f | 0xc030 | 0xcca8 | 0xcca9 | 0xc0ac | 0xc0ad
        )
    }

    /// What is wrong with offering suite `s`, judged from its IANA name.
    pub fn suite_weakness(s: u16) -> Option<(Level, &'static str)> {
        if matches!(s, 0x00ff | 0x5600) || is_grease(s) || (0x1301..=0x1303).contains(&s) {
            return None;
        }
        let name = suite(s);
        if name.starts_with("unknown") {
            return None;
        }
        let has = |part: &str| name.contains(part);
        if has("NULL") || has("EXPORT") || has("_anon_") {
            return Some((
                Level::Weak,
                "no encryption, export-grade or unauthenticated: RFC 9325 §4.1 MUST NOT",
            ));
        }
        if has("RC4") {
            return Some((Level::Weak, "RFC 7465 prohibits RC4"));
        }
        if has("_DES_") || has("DES40") || has("RC2") {
            return Some((Level::Weak, "single DES and RC2: RFC 9325 §4.1 MUST NOT"));
        }
        if has("3DES") || has("IDEA") {
            return Some((
                Level::Weak,
                "64-bit block ciphers (Sweet32): RFC 9325 §4.1 SHOULD NOT",
            ));
        }
        if has("_MD5") {
            return Some((Level::Weak, "MD5 MACs: RFC 9325 §4.1"));
        }
        if s == 0x1305 || has("CCM_8") {
            return Some((
                Level::Obsolete,
                "CCM_8 has a truncated tag: RFC 9325 §4.2 / RFC 8446 B.4 (not for general use)",
            ));
        }
        if name.starts_with("TLS_RSA_") || name.starts_with("TLS_PSK_") || has("_ECDH_") {
            return Some((
                Level::Obsolete,
                "no forward secrecy (static RSA or ECDH key exchange): RFC 9325 §4.1 SHOULD NOT",
            ));
        }
        if has("_CBC_") {
            return Some((
                Level::Obsolete,
                "CBC with MAC-then-encrypt (Lucky13 and kin): RFC 9325 §4.2 recommends only AEAD",
            ));
        }
        if name.starts_with("TLS_DHE_") {
            return Some((
                Level::Obsolete,
                "finite-field DHE: RFC 9325 §4.1 SHOULD NOT (prefer ECDHE)",
            ));
        }
        None
    }

    pub fn group(g: u16) -> String {
        let name = match g {
            1..=22 => return format!("sect/secp legacy curve {g} (RFC 4492)"),
            23 => "secp256r1",
            24 => "secp384r1",
            25 => "secp521r1",
            26 => "brainpoolP256r1",
            27 => "brainpoolP384r1",
            28 => "brainpoolP512r1",
            29 => "x25519",
            30 => "x448",
            31 => "brainpoolP256r1tls13",
            32 => "brainpoolP384r1tls13",
            33 => "brainpoolP512r1tls13",
            256 => "ffdhe2048",
            257 => "ffdhe3072",
            258 => "ffdhe4096",
            259 => "ffdhe6144",
            260 => "ffdhe8192",
            0x0200 => "MLKEM512",
            0x0201 => "MLKEM768",
            0x0202 => "MLKEM1024",
            0x11eb => "SecP256r1MLKEM768",
            0x11ec => "X25519MLKEM768",
            0x11ed => "SecP384r1MLKEM1024",
            0x6399 => "X25519Kyber768Draft00",
            0xff01 => "arbitrary_explicit_prime_curves",
            0xff02 => "arbitrary_explicit_char2_curves",
            _ => "",
        };
        or_number((!name.is_empty()).then_some(name), g)
    }

    pub fn group_weakness(g: u16) -> Option<(Level, &'static str)> {
        match g {
            1..=22 | 0xff01 | 0xff02 => Some((
                Level::Obsolete,
                "RFC 8422 §5.1.1 deprecates all curves but secp256r1, secp384r1, secp521r1, x25519, x448",
            )),
            0x6399 => Some((
                Level::Obsolete,
                "a pre-standard Kyber draft; X25519MLKEM768 replaced it",
            )),
            _ => None,
        }
    }

    pub fn scheme(s: u16) -> String {
        let name = match s {
            0x0101 => "rsa_pkcs1_md5",
            0x0102 => "dsa_md5",
            0x0103 => "ecdsa_md5",
            0x0201 => "rsa_pkcs1_sha1",
            0x0202 => "dsa_sha1",
            0x0203 => "ecdsa_sha1",
            0x0301 => "rsa_pkcs1_sha224",
            0x0302 => "dsa_sha224",
            0x0303 => "ecdsa_sha224",
            0x0401 => "rsa_pkcs1_sha256",
            0x0402 => "dsa_sha256",
            0x0403 => "ecdsa_secp256r1_sha256",
            0x0501 => "rsa_pkcs1_sha384",
            0x0502 => "dsa_sha384",
            0x0503 => "ecdsa_secp384r1_sha384",
            0x0601 => "rsa_pkcs1_sha512",
            0x0602 => "dsa_sha512",
            0x0603 => "ecdsa_secp521r1_sha512",
            0x0804 => "rsa_pss_rsae_sha256",
            0x0805 => "rsa_pss_rsae_sha384",
            0x0806 => "rsa_pss_rsae_sha512",
            0x0807 => "ed25519",
            0x0808 => "ed448",
            0x0809 => "rsa_pss_pss_sha256",
            0x080a => "rsa_pss_pss_sha384",
            0x080b => "rsa_pss_pss_sha512",
            0x081a => "ecdsa_brainpoolP256r1tls13_sha256",
            0x081b => "ecdsa_brainpoolP384r1tls13_sha384",
            0x081c => "ecdsa_brainpoolP512r1tls13_sha512",
            0x0904 => "mldsa44",
            0x0905 => "mldsa65",
            0x0906 => "mldsa87",
            _ => "",
        };
        or_number((!name.is_empty()).then_some(name), s)
    }

    pub fn scheme_weakness(s: u16) -> Option<(Level, &'static str)> {
        match s & 0xff00 {
            0x0100 => Some((Level::Weak, "MD5 signatures: RFC 9155 prohibits them")),
            0x0200 => Some((
                Level::Obsolete,
                "SHA-1 signatures: RFC 9155 deprecates them in TLS 1.2 (MUST NOT be offered in the handshake)",
            )),
            0x0300 => Some((
                Level::Obsolete,
                "SHA-224: not defined for TLS 1.3 (RFC 8446 §4.2.3)",
            )),
            _ if s & 0xff == 0x02 && s <= 0x0602 => {
                Some((Level::Obsolete, "DSA: removed by RFC 8446 §4.2.3"))
            }
            _ => None,
        }
    }

    pub fn extension(e: u16) -> String {
        let name = match e {
            0 => "server_name",
            1 => "max_fragment_length",
            5 => "status_request",
            10 => "supported_groups",
            11 => "ec_point_formats",
            13 => "signature_algorithms",
            14 => "use_srtp",
            15 => "heartbeat",
            16 => "application_layer_protocol_negotiation",
            17 => "status_request_v2",
            18 => "signed_certificate_timestamp",
            19 => "client_certificate_type",
            20 => "server_certificate_type",
            21 => "padding",
            22 => "encrypt_then_mac",
            23 => "extended_master_secret",
            27 => "compress_certificate",
            28 => "record_size_limit",
            34 => "delegated_credentials",
            35 => "session_ticket",
            41 => "pre_shared_key",
            42 => "early_data",
            43 => "supported_versions",
            44 => "cookie",
            45 => "psk_key_exchange_modes",
            47 => "certificate_authorities",
            48 => "oid_filters",
            49 => "post_handshake_auth",
            50 => "signature_algorithms_cert",
            51 => "key_share",
            57 => "quic_transport_parameters",
            0x4469 => "application_settings (old)",
            0x44cd => "application_settings",
            0xfe0d => "encrypted_client_hello",
            0xff01 => "renegotiation_info",
            _ => "",
        };
        or_number((!name.is_empty()).then_some(name), e)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ClientHello record with `extensions` (type, data), offering `suites`.
    pub(crate) fn hello(legacy: u16, suites: &[u16], extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = legacy.to_be_bytes().to_vec();
        body.extend_from_slice(&[9u8; 32]);
        body.push(0);
        let suites_len = u16::try_from(suites.len() * 2).unwrap_or(0);
        body.extend_from_slice(&suites_len.to_be_bytes());
        for s in suites {
            body.extend_from_slice(&s.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]);
        let mut ext = Vec::new();
        for (kind, data) in extensions {
            ext.extend_from_slice(&kind.to_be_bytes());
            ext.extend_from_slice(&u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
            ext.extend_from_slice(data);
        }
        body.extend_from_slice(&u16::try_from(ext.len()).unwrap_or(0).to_be_bytes());
        body.extend_from_slice(&ext);
        let len = u32::try_from(body.len()).unwrap_or(0).to_be_bytes();
        let mut message = vec![1, len[1], len[2], len[3]];
        message.extend_from_slice(&body);
        let mut record = vec![22, 3, 1];
        record.extend_from_slice(&u16::try_from(message.len()).unwrap_or(0).to_be_bytes());
        record.extend_from_slice(&message);
        record
    }

    fn list16(values: &[u16]) -> Vec<u8> {
        let mut out = u16::try_from(values.len() * 2)
            .unwrap_or(0)
            .to_be_bytes()
            .to_vec();
        for v in values {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }

    fn sni(name: &str) -> Vec<u8> {
        let mut entry = vec![0];
        entry.extend_from_slice(&u16::try_from(name.len()).unwrap_or(0).to_be_bytes());
        entry.extend_from_slice(name.as_bytes());
        let mut out = u16::try_from(entry.len())
            .unwrap_or(0)
            .to_be_bytes()
            .to_vec();
        out.extend_from_slice(&entry);
        out
    }

    /// A modern TLS 1.3 + 1.2 hello, like a current curl's.
    pub(crate) fn modern_hello() -> Vec<u8> {
        hello(
            0x0303,
            &[0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xcca9, 0x00ff],
            &[
                (0, sni("localhost")),
                (10, list16(&[0x11ec, 29, 23])),
                (13, list16(&[0x0403, 0x0804, 0x0807, 0x0401])),
                (
                    16,
                    vec![0, 9, 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1'],
                ),
                (23, vec![]),
                (43, vec![4, 3, 4, 3, 3]),
                (45, vec![1, 1]),
                (51, {
                    let mut share = vec![0, 29, 0, 32];
                    share.extend_from_slice(&[5u8; 32]);
                    let mut out = u16::try_from(share.len())
                        .unwrap_or(0)
                        .to_be_bytes()
                        .to_vec();
                    out.extend_from_slice(&share);
                    out
                }),
            ],
        )
    }

    #[test]
    fn a_modern_hello_is_read_by_name_and_probably_okay() -> Result<(), HelloError> {
        let parsed = ClientHello::parse(&modern_hello())?;
        assert_eq!(parsed.versions(), vec![0x0304, 0x0303]);
        assert_eq!(parsed.server_name.as_deref(), Some("localhost"));
        assert_eq!(parsed.alpn, vec!["http/1.1".to_owned()]);
        assert_eq!(parsed.key_shares, vec![29]);
        assert_eq!(parsed.groups, vec![0x11ec, 29, 23]);
        let report = parsed.report();
        assert_eq!(report["rating"], "Probably Okay", "{report:#}");
        assert_eq!(report["tls_versions"], json!(["TLS 1.3", "TLS 1.2"]));
        assert_eq!(report["cipher_suites"][0]["name"], "TLS_AES_128_GCM_SHA256");
        assert_eq!(report["supported_groups"][0]["name"], "X25519MLKEM768");
        assert_eq!(report["signature_schemes"][2]["name"], "ed25519");
        assert_eq!(
            report["extensions"][3]["name"],
            "application_layer_protocol_negotiation"
        );
        Ok(())
    }

    #[test]
    fn an_old_hello_has_its_weaknesses_named_with_their_rules() -> Result<(), HelloError> {
        // TLS 1.0 era: no supported_versions, RC4, 3DES, static RSA, SHA-1, IP as SNI.
        let raw = hello(
            0x0301,
            &[0x0005, 0x000a, 0x002f, 0x0a0a],
            &[
                (0, sni("127.0.0.1")),
                (13, list16(&[0x0201])),
                (10, list16(&[14])),
            ],
        );
        let parsed = ClientHello::parse(&raw)?;
        assert_eq!(parsed.versions(), vec![0x0301, 0x0300]);
        let findings = parsed.findings();
        let says = |part: &str| findings.iter().any(|f| f.what.contains(part));
        assert!(says("offers TLS 1.0, SSL 3.0"), "{findings:?}");
        assert!(says("does not offer TLS 1.3"));
        assert!(says("RC4_128_SHA") && says("3DES") && says("TLS_RSA_WITH_AES_128_CBC_SHA"));
        // One finding per rule: the two static-RSA suites would be one line.
        assert_eq!(
            findings.iter().filter(|f| f.rule.contains("RC4")).count(),
            1,
            "{findings:?}"
        );
        let report = parsed.report();
        assert_eq!(report["cipher_suites"][0]["verdict"], "weak");
        assert_eq!(report["cipher_suites"][3].get("verdict"), None, "GREASE");
        assert!(says("rsa_pkcs1_sha1") && says("legacy curve 14") && says("IP address"));
        assert!(!says("GREASE"), "GREASE is not a weakness: {findings:?}");
        assert_eq!(parsed.report()["rating"], "Bad");
        assert_eq!(names::suite(0x0a0a), "GREASE (0x0a0a)");
        Ok(())
    }

    #[test]
    fn a_hello_split_over_records_is_reassembled() -> Result<(), HelloError> {
        let whole = modern_hello();
        let message = &whole[5..];
        let (a, b) = message.split_at(7);
        let mut raw = Vec::new();
        for part in [a, b] {
            raw.extend_from_slice(&[22, 3, 1]);
            raw.extend_from_slice(&u16::try_from(part.len()).unwrap_or(0).to_be_bytes());
            raw.extend_from_slice(part);
        }
        assert_eq!(ClientHello::parse(&raw)?, ClientHello::parse(&whole)?);
        Ok(())
    }

    #[test]
    fn every_truncation_is_incomplete_never_a_panic() {
        let whole = modern_hello();
        for cut in 0..whole.len() {
            assert_eq!(
                ClientHello::parse(&whole[..cut]),
                Err(HelloError::Incomplete(cut)),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn garbage_and_bit_flips_never_panic() {
        // Every single-byte change of a real hello, and pseudo-random garbage.
        let whole = modern_hello();
        for at in 0..whole.len() {
            for value in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut flipped = whole.clone();
                flipped[at] = value;
                let _ = ClientHello::parse(&flipped);
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..2000 {
            let mut garbage = vec![22, 3, 1];
            for _ in 0..len % 300 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                garbage.push(state.to_le_bytes()[0]);
            }
            let _ = ClientHello::parse(&garbage);
        }
    }

    #[test]
    fn not_tls_is_told_apart_from_incomplete() {
        assert_eq!(
            ClientHello::parse(b"GET / HTTP/1.1\r\n"),
            Err(HelloError::NotHandshake(b'G'))
        );
        assert_eq!(
            ClientHello::parse(b"G"),
            Err(HelloError::NotHandshake(b'G'))
        );
        assert_eq!(
            ClientHello::parse(&[22, 3, 1, 0, 4, 2, 0, 0, 0]),
            Err(HelloError::NotClientHello(2))
        );
        assert_eq!(
            ClientHello::parse(&[22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]),
            Err(HelloError::TooLarge)
        );
    }

    #[test]
    fn duplicate_extensions_and_odd_lists_are_malformed() {
        let twice = hello(0x0303, &[0x1301], &[(23, vec![]), (23, vec![])]);
        assert!(matches!(
            ClientHello::parse(&twice),
            Err(HelloError::Malformed(why)) if why.contains("extended_master_secret twice")
        ));
        let odd = hello(0x0303, &[0x1301], &[(10, vec![0, 3, 0, 29, 0])]);
        assert!(matches!(
            ClientHello::parse(&odd),
            Err(HelloError::Malformed(_))
        ));
    }

    #[test]
    fn a_huge_record_stream_is_bounded() {
        // Records that never finish a hello: parsing stops at the bound, not at memory's end.
        let mut raw = vec![22, 3, 1, 0, 4, 1, 0, 0x40, 0];
        for _ in 0..100 {
            raw.extend_from_slice(&[22, 3, 1, 0x40, 0]);
            raw.extend_from_slice(&[0u8; 0x4000]);
        }
        assert!(ClientHello::parse(&raw).is_err());
        const { assert!(MAX_RAW_HELLO > MAX_HELLO) };
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any bytes after a handshake record header: an answer, never a panic, and a parse
        /// only when the bytes hold one.
        #[test]
        fn arbitrary_records_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut raw = vec![22, 3, 1];
            raw.extend_from_slice(&body);
            let _ = ClientHello::parse(&raw);
        }

        /// A real hello with any tail still parses the same: the parser reads the first
        /// ClientHello and nothing after it.
        #[test]
        fn bytes_after_the_hello_are_ignored(tail in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut raw = tests::modern_hello();
            let alone = ClientHello::parse(&raw);
            raw.extend_from_slice(&tail);
            prop_assert_eq!(ClientHello::parse(&raw), alone);
        }
    }
}
