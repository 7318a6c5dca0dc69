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

/// What is wrong with a request's `Transfer-Encoding` (RFC 9112 §6.1, §7).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferCodingError {
    /// §7.1: chunked MUST NOT be applied more than once, so the framing is faulty (400).
    #[error("the chunked transfer coding is applied more than once")]
    ChunkedTwice,
    /// §6.1: a coding the server does not implement (501); only chunked is.
    #[error("transfer coding `{0}` is not implemented; only chunked is")]
    Unsupported(String),
}

/// Checks the codings of every `Transfer-Encoding` line, in order. hyper has already refused a
/// list whose final coding is not chunked.
///
/// # Errors
/// The first problem found.
pub fn check_transfer_encoding(headers: &HeaderMap) -> Result<(), TransferCodingError> {
    let mut chunked = 0;
    for value in headers.get_all(http::header::TRANSFER_ENCODING) {
        for coding in value.as_bytes().split(|&b| b == b',') {
            let coding = coding.trim_ascii();
            if coding.is_empty() {
                continue; // RFC 9110 §5.6.1: empty list elements are ignored
            }
            if coding.eq_ignore_ascii_case(b"chunked") {
                chunked += 1;
                if chunked > 1 {
                    return Err(TransferCodingError::ChunkedTwice);
                }
            } else {
                let name = String::from_utf8_lossy(coding);
                let name = name.split(';').next().unwrap_or_default().trim();
                return Err(TransferCodingError::Unsupported(name.to_owned()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn te(lines: &[&'static str]) -> Result<(), TransferCodingError> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(
                http::header::TRANSFER_ENCODING,
                HeaderValue::from_static(line),
            );
        }
        check_transfer_encoding(&headers)
    }

    #[test]
    fn chunked_once_is_the_only_coding_accepted() {
        assert_eq!(te(&[]), Ok(()));
        assert_eq!(te(&["chunked"]), Ok(()));
        assert_eq!(te(&["Chunked , "]), Ok(()));
        assert_eq!(
            te(&["chunked, chunked"]),
            Err(TransferCodingError::ChunkedTwice)
        );
        assert_eq!(
            te(&["chunked", "chunked"]),
            Err(TransferCodingError::ChunkedTwice)
        );
        assert_eq!(
            te(&["gzip, chunked"]),
            Err(TransferCodingError::Unsupported("gzip".to_owned()))
        );
        assert_eq!(
            te(&["x-custom;a=b", "chunked"]),
            Err(TransferCodingError::Unsupported("x-custom".to_owned()))
        );
    }
}
