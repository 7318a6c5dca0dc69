//! Where a request goes: a full URL, or a path resolved against the default base.

use http::Uri;

use super::ClientError;

/// The base a bare path is resolved against: the server's defaults.
pub(crate) const DEFAULT_HOST: &str = "localhost:8000";

/// A parsed `http(s)://` or `ws(s)://` URL. Either family is accepted for either kind of
/// command; only `tls` matters on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub(crate) tls: bool,
    /// Host name or IP address, without IPv6 brackets: what TLS verifies.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host[:port]` as given: the `Host` header.
    pub(crate) authority: String,
    /// Origin-form request target, `/` at least.
    pub(crate) path_and_query: String,
}

impl Target {
    /// Parses `input`: a full URL, or a path starting with `/` on `https://localhost:8000`.
    ///
    /// # Errors
    /// [`ClientError::Url`] for anything else, with what was expected.
    pub fn parse(input: &str) -> Result<Self, ClientError> {
        let absolute;
        let text = if input.starts_with('/') {
            absolute = format!("https://{DEFAULT_HOST}{input}");
            &absolute
        } else {
            input
        };
        let invalid = |why: &str| ClientError::Url {
            input: input.to_owned(),
            why: why.to_owned(),
        };
        let uri: Uri = text
            .parse()
            .map_err(|err: http::uri::InvalidUri| invalid(&err.to_string()))?;
        let tls = match uri.scheme_str() {
            Some("https" | "wss") => true,
            Some("http" | "ws") => false,
            Some(_) => return Err(invalid("the scheme must be http, https, ws or wss")),
            None => {
                return Err(invalid(
                    "expected a URL like https://localhost:8000/status or a path like /status",
                ));
            }
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("user information in URLs is not supported"));
        }
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let path_and_query = if path_and_query.is_empty() {
            "/".to_owned()
        } else {
            path_and_query
        };
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            authority: authority.as_str().to_owned(),
            path_and_query,
        })
    }

    /// `input`, or `default_path` on the default base when there is none.
    ///
    /// # Errors
    /// As [`Target::parse`].
    pub(crate) fn parse_or(input: Option<&str>, default_path: &str) -> Result<Self, ClientError> {
        Self::parse(input.unwrap_or(default_path))
    }

    /// The URL as a WebSocket URL (`ws://` or `wss://`).
    pub(crate) fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.authority, self.path_and_query)
    }

    /// The URL as an HTTP URL (`http://` or `https://`).
    pub(crate) fn http_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority, self.path_and_query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_against_the_default_base() -> Result<(), ClientError> {
        let target = Target::parse("/items/1?q=2")?;
        assert_eq!(target.http_url(), "https://localhost:8000/items/1?q=2");
        assert_eq!(target.ws_url(), "wss://localhost:8000/items/1?q=2");
        assert_eq!((target.host.as_str(), target.port), ("localhost", 8000));
        Ok(())
    }

    #[test]
    fn full_urls_keep_scheme_host_and_port() -> Result<(), ClientError> {
        let target = Target::parse("ws://127.0.0.1:9000/ws/echo")?;
        assert!(!target.tls);
        assert_eq!(target.authority, "127.0.0.1:9000");
        assert_eq!(target.path_and_query, "/ws/echo");
        let target = Target::parse("https://[::1]")?;
        assert_eq!((target.host.as_str(), target.port), ("::1", 443));
        assert_eq!(target.path_and_query, "/");
        assert_eq!(Target::parse("http://example.com")?.port, 80);
        Ok(())
    }

    #[test]
    fn anything_else_is_a_clear_error() {
        for input in ["status", "ftp://x/", "https://", "https://u:p@host/", ""] {
            let err = Target::parse(input).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(input)),
                "{input}: {err:?}"
            );
        }
    }
}
