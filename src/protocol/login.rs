//! The OKX-style login of `/ws/v5/private`, as pure functions: credentials, the message shape,
//! the HMAC-SHA256 signature (compared in constant time) and the freshness window.
//!
//! `sign = base64(HMAC-SHA256(secret, str(timestamp) + "GET" + "/users/self/verify"))`, where
//! `str(timestamp)` is what Python's `str()` makes of the JSON value the client sent.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::protocol::pyjson::{self, Value};

/// The guide's `DUMMY_API_KEY` / `DUMMY_API_SECRET`.
pub(crate) const DEMO_API_KEY: &str = "abc";
pub(crate) const DEMO_SECRET: &str = "def";

/// What the signature covers after the timestamp.
const SIGNED_SUFFIX: &str = "GET/users/self/verify";

/// How far a login timestamp may be from the server's clock, either way.
pub(crate) const FRESHNESS: Duration = Duration::from_secs(30);

/// Timestamps above this are milliseconds: as seconds it would be the year 5138.
const MILLIS_THRESHOLD: f64 = 1e11;

/// One API key's secrets.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Credential {
    pub(crate) api_key: String,
    pub(crate) secret: String,
    /// When set, the login's `passphrase` must equal it.
    #[serde(default)]
    pub(crate) passphrase: Option<String>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("api_key", &self.api_key)
            .field("secret", &"<redacted>")
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The API keys the server accepts.
#[derive(Debug, Clone)]
pub struct Credentials {
    by_key: HashMap<String, Credential>,
    demo: bool,
}

/// Why a credentials file was refused at startup.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read credentials file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "credentials {origin}: {source} (expected a JSON array of \
         {{\"api_key\": \"...\", \"secret\": \"...\", \"passphrase\": \"...\" (optional)}})"
    )]
    Format {
        origin: String,
        source: serde_json::Error,
    },
    #[error("credentials {origin}: no credentials in the list")]
    Empty { origin: String },
    #[error("credentials {origin}: api_key {api_key:?} appears more than once")]
    Duplicate { origin: String, api_key: String },
    #[error("credentials {origin}: entry {index} has an empty api_key or secret")]
    Blank { origin: String, index: usize },
}

impl Credentials {
    /// Only the guide's demo pair `abc` / `def`.
    pub fn demo() -> Self {
        let demo = Credential {
            api_key: DEMO_API_KEY.to_owned(),
            secret: DEMO_SECRET.to_owned(),
            passphrase: None,
        };
        Self {
            by_key: HashMap::from([(demo.api_key.clone(), demo)]),
            demo: true,
        }
    }

    /// Whether these are the built-in demo credentials.
    pub(crate) fn is_demo(&self) -> bool {
        self.demo
    }

    /// Number of API keys.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Reads a JSON credentials file.
    ///
    /// # Errors
    /// [`CredentialsError`] naming the file and the problem.
    pub(crate) fn from_file(path: &Path) -> Result<Self, CredentialsError> {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, &format!("file {}", path.display()))
    }

    /// Parses the JSON list; `origin` names where it came from in errors.
    ///
    /// # Errors
    /// [`CredentialsError`].
    pub fn from_json(text: &str, origin: &str) -> Result<Self, CredentialsError> {
        let list: Vec<Credential> =
            serde_json::from_str(text).map_err(|source| CredentialsError::Format {
                origin: origin.to_owned(),
                source,
            })?;
        if list.is_empty() {
            return Err(CredentialsError::Empty {
                origin: origin.to_owned(),
            });
        }
        let mut by_key = HashMap::with_capacity(list.len());
        for (index, credential) in list.into_iter().enumerate() {
            if credential.api_key.is_empty() || credential.secret.is_empty() {
                return Err(CredentialsError::Blank {
                    origin: origin.to_owned(),
                    index,
                });
            }
            if by_key.contains_key(&credential.api_key) {
                return Err(CredentialsError::Duplicate {
                    origin: origin.to_owned(),
                    api_key: credential.api_key,
                });
            }
            by_key.insert(credential.api_key.clone(), credential);
        }
        Ok(Self {
            by_key,
            demo: false,
        })
    }

    /// Checks a login message (the raw text of the first WebSocket message) at time `now`.
    ///
    /// # Errors
    /// Why the login failed; the client only ever learns "Authentication failed".
    pub fn verify(&self, message: &str, now: SystemTime) -> Result<String, LoginError> {
        let login = Login::parse(message)?;
        let credential = self
            .by_key
            .get(&login.api_key)
            .ok_or(LoginError::UnknownKey)?;
        let expected = sign(&credential.secret, &login.timestamp);
        // Both sides are compared whole and in constant time; lengths are public (base64 of 32
        // bytes is always 44 characters).
        if !bool::from(expected.as_bytes().ct_eq(login.sign.as_bytes())) {
            return Err(LoginError::BadSignature);
        }
        if let Some(required) = &credential.passphrase {
            let given = login.passphrase.unwrap_or_default();
            if !bool::from(required.as_bytes().ct_eq(given.as_bytes())) {
                return Err(LoginError::BadPassphrase);
            }
        }
        check_freshness(&login.timestamp, now)?;
        Ok(credential.api_key.clone())
    }
}

/// Why a login was refused (logged, never sent).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoginError {
    #[error("the message is not valid JSON")]
    InvalidJson,
    #[error("the message is not a JSON object")]
    NotAnObject,
    #[error("\"op\" is not \"login\"")]
    NotLogin,
    #[error("\"args\" is not a non-empty list whose first element is an object")]
    BadArgs,
    #[error("\"{0}\" is missing or has the wrong type")]
    BadField(&'static str),
    #[error("unknown apiKey")]
    UnknownKey,
    #[error("signature does not match")]
    BadSignature,
    #[error("passphrase does not match")]
    BadPassphrase,
    #[error("timestamp is not a number of seconds or milliseconds")]
    BadTimestamp,
    #[error("timestamp is {0:.1} s away from server time (allowed: 30 s)")]
    Stale(f64),
}

/// The fields of `{"op":"login","args":[{"apiKey","passphrase","timestamp","sign"}]}`.
#[derive(Debug)]
struct Login {
    api_key: String,
    passphrase: Option<String>,
    /// `str(timestamp)` as Python would print the JSON value.
    timestamp: String,
    sign: String,
}

impl Login {
    /// `payload["args"][0]["apiKey"]` and so on, as the guide reads them, with the JSON decoded
    /// exactly like Python's `json.loads`.
    fn parse(message: &str) -> Result<Self, LoginError> {
        let value = pyjson::loads(message.as_bytes()).map_err(|_| LoginError::InvalidJson)?;
        if !matches!(value, Value::Object(_)) {
            return Err(LoginError::NotAnObject);
        }
        if value.get("op").and_then(Value::as_str) != Some("login") {
            return Err(LoginError::NotLogin);
        }
        let args = match value.get("args") {
            Some(Value::Array(items)) => match items.first() {
                Some(first @ Value::Object(_)) => first,
                _ => return Err(LoginError::BadArgs),
            },
            _ => return Err(LoginError::BadArgs),
        };
        let text = |name: &'static str| {
            args.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(LoginError::BadField(name))
        };
        let passphrase = match args.get("passphrase") {
            None | Some(Value::Null) => None,
            Some(Value::Str(p)) => Some(p.clone()),
            Some(_) => return Err(LoginError::BadField("passphrase")),
        };
        // `str(timestamp)`: a string as is, a number as Python prints it.
        let timestamp = match args.get("timestamp") {
            Some(Value::Str(s)) => s.clone(),
            Some(Value::Int(n)) => n.to_string(),
            Some(Value::Float(f)) => pyjson::float_repr(*f),
            _ => return Err(LoginError::BadField("timestamp")),
        };
        Ok(Self {
            api_key: text("apiKey")?,
            passphrase,
            timestamp,
            sign: text("sign")?,
        })
    }
}

/// `base64(HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify"))`.
pub(crate) fn sign(secret: &str, timestamp: &str) -> String {
    // HMAC takes keys of any length; were that to change, an empty signature never matches.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(SIGNED_SUFFIX.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The guide's `get_auth_payload` as `json.dumps` prints it (`", "` and `": "` separators):
/// `{"op": "login", "args": [{"apiKey": ..., "passphrase": ..., "timestamp": ..., "sign": ...}]}`,
/// signed with `secret` at `timestamp`.
pub fn login_request(api_key: &str, secret: &str, passphrase: &str, timestamp: &str) -> String {
    // serde_json escapes like json.dumps for these ASCII-safe fields; non-ASCII stays raw where
    // Python would write \uXXXX, which parses to the same string.
    let quote = |text: &str| serde_json::Value::from(text).to_string();
    format!(
        "{{\"op\": \"login\", \"args\": [{{\"apiKey\": {}, \"passphrase\": {}, \"timestamp\": {}, \"sign\": {}}}]}}",
        quote(api_key),
        quote(passphrase),
        quote(timestamp),
        quote(&sign(secret, timestamp)),
    )
}

/// Unix seconds (with or without a fraction) or milliseconds, within [`FRESHNESS`] of `now`.
fn check_freshness(timestamp: &str, now: SystemTime) -> Result<(), LoginError> {
    let value: f64 = timestamp
        .trim()
        .parse()
        .map_err(|_| LoginError::BadTimestamp)?;
    if !value.is_finite() || value < 0.0 {
        return Err(LoginError::BadTimestamp);
    }
    let seconds = if value > MILLIS_THRESHOLD {
        value / 1000.0
    } else {
        value
    };
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let skew = seconds - now;
    if skew.abs() > FRESHNESS.as_secs_f64() {
        return Err(LoginError::Stale(skew));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_SECS: u64 = 1_795_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW_SECS)
    }

    fn login(api_key: &str, secret: &str, timestamp: &str) -> String {
        format!(
            r#"{{"op":"login","args":[{{"apiKey":"{api_key}","passphrase":"dummy_passphrase","timestamp":"{timestamp}","sign":"{}"}}]}}"#,
            sign(secret, timestamp)
        )
    }

    #[test]
    fn signature_matches_python_hmac() {
        // python3 -c 'import hmac,base64;print(base64.b64encode(hmac.new(b"def",
        //   b"1700000000000GET/users/self/verify","sha256").digest()).decode())'
        assert_eq!(
            sign("def", "1700000000000"),
            "R5i17IIC70wDSc2V77oJIrkuUo+V2HH3UWv9CwzU6fQ="
        );
    }

    #[test]
    fn login_request_is_the_guides_payload_and_verifies() {
        // python3 -c 'import json; print(json.dumps({"op": "login", "args": [{"apiKey": "abc",
        //   "passphrase": "pw", "timestamp": "1700000000000", "sign": "R5i1..."}]}))'
        let request = login_request("abc", "def", "pw", "1700000000000");
        assert_eq!(
            request,
            r#"{"op": "login", "args": [{"apiKey": "abc", "passphrase": "pw", "timestamp": "1700000000000", "sign": "R5i17IIC70wDSc2V77oJIrkuUo+V2HH3UWv9CwzU6fQ="}]}"#
        );
        let ts = (NOW_SECS * 1000).to_string();
        let request = login_request("abc", "def", "pw", &ts);
        assert_eq!(
            Credentials::demo().verify(&request, now()),
            Ok("abc".to_owned())
        );
    }

    #[test]
    fn demo_login_in_seconds_fractions_and_milliseconds() {
        let creds = Credentials::demo();
        for ts in [
            NOW_SECS.to_string(),
            format!("{NOW_SECS}.975"),
            format!("{}", NOW_SECS * 1000 + 20_000),
        ] {
            assert_eq!(
                creds.verify(&login("abc", "def", &ts), now()),
                Ok("abc".to_owned()),
                "{ts}"
            );
        }
    }

    #[test]
    fn numeric_timestamps_are_signed_as_python_prints_them() {
        let creds = Credentials::demo();
        let ts = NOW_SECS * 1000;
        let message = format!(
            r#"{{"op":"login","args":[{{"apiKey":"abc","timestamp":{ts},"sign":"{}"}}]}}"#,
            sign("def", &ts.to_string())
        );
        assert!(creds.verify(&message, now()).is_ok());
        let message = format!(
            r#"{{"op":"login","args":[{{"apiKey":"abc","timestamp":{NOW_SECS}.5,"sign":"{}"}}]}}"#,
            sign("def", &format!("{NOW_SECS}.5"))
        );
        assert!(creds.verify(&message, now()).is_ok());
    }

    #[test]
    fn wrong_secret_key_and_stale_or_future_timestamps_fail() {
        let creds = Credentials::demo();
        let ts = NOW_SECS.to_string();
        assert_eq!(
            creds.verify(&login("abc", "BAD", &ts), now()),
            Err(LoginError::BadSignature)
        );
        assert_eq!(
            creds.verify(&login("nope", "def", &ts), now()),
            Err(LoginError::UnknownKey)
        );
        for skew in [-31_i64, 31] {
            let ts = (NOW_SECS as i64 + skew).to_string();
            assert!(matches!(
                creds.verify(&login("abc", "def", &ts), now()),
                Err(LoginError::Stale(_))
            ));
        }
        assert_eq!(
            creds.verify(&login("abc", "def", "yesterday"), now()),
            Err(LoginError::BadTimestamp)
        );
    }

    #[test]
    fn malformed_shapes_are_refused_without_panicking() {
        let creds = Credentials::demo();
        for (message, error) in [
            ("", LoginError::InvalidJson),
            ("{", LoginError::InvalidJson),
            ("[]", LoginError::NotAnObject),
            (r#""login""#, LoginError::NotAnObject),
            (r#"{"args":[]}"#, LoginError::NotLogin),
            (r#"{"op":"subscribe","args":[]}"#, LoginError::NotLogin),
            (r#"{"op":"login"}"#, LoginError::BadArgs),
            (r#"{"op":"login","args":[]}"#, LoginError::BadArgs),
            (r#"{"op":"login","args":{"a":1}}"#, LoginError::BadArgs),
            (r#"{"op":"login","args":"x"}"#, LoginError::BadArgs),
            (r#"{"op":"login","args":[1]}"#, LoginError::BadArgs),
            (
                r#"{"op":"login","args":[{"apiKey":"abc","timestamp":"1","sign":5}]}"#,
                LoginError::BadField("sign"),
            ),
            (
                r#"{"op":"login","args":[{"timestamp":"1","sign":"x"}]}"#,
                LoginError::BadField("apiKey"),
            ),
            (
                r#"{"op":"login","args":[{"apiKey":"abc","sign":"x"}]}"#,
                LoginError::BadField("timestamp"),
            ),
            (
                r#"{"op":"login","args":[{"apiKey":"abc","timestamp":"1","sign":"\u00e9"}]}"#,
                LoginError::BadSignature,
            ),
        ] {
            assert_eq!(creds.verify(message, now()), Err(error), "{message}");
        }
    }

    #[test]
    fn passphrase_is_checked_when_configured() {
        let creds =
            Credentials::from_json(r#"[{"api_key":"k","secret":"s","passphrase":"p"}]"#, "test")
                .unwrap_or_else(|e| panic!("{e}"));
        let ts = NOW_SECS.to_string();
        let with = |p: &str| {
            format!(
                r#"{{"op":"login","args":[{{"apiKey":"k","passphrase":"{p}","timestamp":"{ts}","sign":"{}"}}]}}"#,
                sign("s", &ts)
            )
        };
        assert!(creds.verify(&with("p"), now()).is_ok());
        assert_eq!(
            creds.verify(&with("q"), now()),
            Err(LoginError::BadPassphrase)
        );
        // Configured credentials replace the demo pair.
        assert_eq!(
            creds.verify(&login("abc", "def", &ts), now()),
            Err(LoginError::UnknownKey)
        );
    }

    #[test]
    fn credentials_files_are_validated() {
        for (text, expected) in [
            ("[]", "no credentials"),
            ("{}", "expected a JSON array"),
            (r#"[{"api_key":"k"}]"#, "missing field `secret`"),
            (
                r#"[{"api_key":"k","secret":""}]"#,
                "empty api_key or secret",
            ),
            (
                r#"[{"api_key":"k","secret":"a"},{"api_key":"k","secret":"b"}]"#,
                "appears more than once",
            ),
            (
                r#"[{"api_key":"k","secret":"a","extra":1}]"#,
                "unknown field",
            ),
        ] {
            let err = Credentials::from_json(text, "file x.json")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let debug = format!("{:?}", Credentials::demo());
        assert!(
            !debug.contains("def"),
            "secrets must not be logged: {debug}"
        );
    }
}
