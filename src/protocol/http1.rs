//! HTTP/1.1 header rules shared by both roles (RFC 9110 §5.6.1, §7.6.1).

use http::HeaderMap;
use http::header::HeaderName;

/// Whether a comma-separated header (`Connection`, `Upgrade`) lists `token`, in any case.
pub(crate) fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}
