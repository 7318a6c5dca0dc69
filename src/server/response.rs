//! Building responses in the original's header order: `date`, `server`, then the endpoint's own
//! headers, with lower-case names.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, DATE, HeaderName, HeaderValue, SERVER};
use http::{HeaderMap, Response, StatusCode};

use super::body::Body;

pub(crate) const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
pub(crate) const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
pub(crate) const TEXT_HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const SERVER_NAME: HeaderValue = HeaderValue::from_static("duplex");

/// The IMF-fixdate for now, formatted at most once per second per thread.
pub(crate) fn date_now() -> HeaderValue {
    date_at(SystemTime::now())
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The IMF-fixdate of `now`, formatted at most once per second per thread.
fn date_at(now: SystemTime) -> HeaderValue {
    thread_local! {
        static CACHE: RefCell<(u64, HeaderValue)> =
            const { RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
    }
    let secs = unix_secs(now);
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            let formatted = httpdate::fmt_http_date(now);
            if let Ok(value) = HeaderValue::from_str(&formatted) {
                *cache = (secs, value);
            }
        }
        cache.1.clone()
    })
}

/// `date`, `server`, `content-length` and `content-type`, in that order, with these two
/// values: a copy of a map kept per thread and renewed each second. Copying the map costs
/// less than hashing four names into a new one (about 400 instructions per response less,
/// callgrind).
fn common_headers(length: HeaderValue, content_type: HeaderValue) -> HeaderMap {
    thread_local! {
        static TEMPLATE: RefCell<(u64, HeaderMap)> = RefCell::new((u64::MAX, HeaderMap::new()));
    }
    let now = SystemTime::now();
    let mut headers = TEMPLATE.with(|template| {
        let mut template = template.borrow_mut();
        let secs = unix_secs(now);
        if template.0 != secs {
            let mut headers = HeaderMap::with_capacity(4);
            headers.insert(DATE, date_at(now));
            headers.insert(SERVER, SERVER_NAME);
            headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
            headers.insert(CONTENT_TYPE, TEXT_PLAIN);
            *template = (secs, headers);
        }
        template.1.clone()
    });
    // Each name once, so the values come in the order of insertion.
    let mut values = headers.values_mut().skip(2);
    if let (Some(length_slot), Some(type_slot)) = (values.next(), values.next()) {
        *length_slot = length;
        *type_slot = content_type;
    }
    headers
}

/// Lengths below this get their `content-length` value from a static table.
const STATIC_LENGTHS: usize = 1000;
/// Each length below [`STATIC_LENGTHS`] in three digits, zero-padded.
static LENGTH_DIGITS: [[u8; 3]; STATIC_LENGTHS] = length_digits();
/// Each length below [`STATIC_LENGTHS`] as text, checked as UTF-8 once, at compile time.
static LENGTH_TEXT: [&str; STATIC_LENGTHS] = length_text(&LENGTH_DIGITS);

const fn length_digits() -> [[u8; 3]; STATIC_LENGTHS] {
    let mut table = [[b'0'; 3]; STATIC_LENGTHS];
    let mut n = 0;
    while n < STATIC_LENGTHS {
        table[n] = [
            b'0' + (n / 100) as u8,
            b'0' + (n / 10 % 10) as u8,
            b'0' + (n % 10) as u8,
        ];
        n += 1;
    }
    table
}

const fn length_text(digits: &'static [[u8; 3]; STATIC_LENGTHS]) -> [&'static str; STATIC_LENGTHS] {
    let mut table = [""; STATIC_LENGTHS];
    let mut n = 0;
    while n < STATIC_LENGTHS {
        let skip = match n {
            0..10 => 2,
            10..100 => 1,
            _ => 0,
        };
        let (_, text) = digits[n].as_slice().split_at(skip);
        table[n] = match std::str::from_utf8(text) {
            Ok(text) => text,
            Err(_) => panic!("the length table holds ASCII digits"),
        };
        n += 1;
    }
    table
}

/// A `content-length` value. Formatting a number into a header value allocates; most bodies
/// here are short, and their lengths come from a static table (about 250 instructions less
/// per response, callgrind).
pub(crate) fn content_length(len: u64) -> HeaderValue {
    match usize::try_from(len).ok().and_then(|i| LENGTH_TEXT.get(i)) {
        Some(text) => HeaderValue::from_static(text),
        None => HeaderValue::from(len),
    }
}

/// A response with `date` and `server` already in place, so later headers follow them.
pub(crate) fn base(status: StatusCode) -> http::response::Builder {
    Response::builder()
        .status(status)
        .header(DATE, date_now())
        .header(SERVER, SERVER_NAME)
}

/// Finishes a [`base`] builder. Our headers are all valid, so a builder error is a bug; it
/// becomes a bodiless 500 rather than a panic on a client-reachable path.
pub(crate) fn finish(builder: http::response::Builder, body: Body) -> Response<Body> {
    builder.body(body).unwrap_or_else(|err| {
        tracing::error!(error = %err, "invalid response head");
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        response
    })
}

/// A complete response with `content-length` and `content-type`, in that order like Starlette.
pub(crate) fn full(
    status: StatusCode,
    content_type: HeaderValue,
    body: impl Into<Bytes>,
) -> Response<Body> {
    full_with(status, content_type, body, [])
}

/// Like [`full`], with extra headers placed before `content-length` (Starlette's order for
/// `allow` and `location`).
pub(crate) fn full_with<const N: usize>(
    status: StatusCode,
    content_type: HeaderValue,
    body: impl Into<Bytes>,
    leading: [(HeaderName, HeaderValue); N],
) -> Response<Body> {
    let body = body.into();
    if N == 0 {
        let headers = common_headers(content_length(body.len() as u64), content_type);
        let mut response = Response::new(Body::full(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        return response;
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(DATE, date_now());
    headers.insert(SERVER, SERVER_NAME);
    for (name, value) in leading {
        headers.append(name, value);
    }
    headers.insert(CONTENT_LENGTH, content_length(body.len() as u64));
    headers.insert(CONTENT_TYPE, content_type);
    *response.body_mut() = Body::full(body);
    response
}

/// `application/json` with a body already encoded.
pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    full(status, APPLICATION_JSON, body)
}

/// FastAPI's `HTTPException` body: `{"detail":"<text>"}`.
pub(crate) fn detail(status: StatusCode, text: &str) -> Response<Body> {
    let mut body = String::with_capacity(text.len() + 13);
    body.push_str("{\"detail\":");
    crate::protocol::pyjson::write_str(&mut body, text);
    body.push('}');
    json(status, body)
}

/// `text/plain; charset=utf-8`.
pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    full(status, TEXT_PLAIN, Bytes::from_static(text.as_bytes()))
}

/// The body of h11's 400, kept so clients that match on it keep working.
pub(crate) const INVALID_REQUEST: &str = "Invalid HTTP request received.";

/// The 400 for a request that breaks HTTP framing rules: h11's text, with a length, then close.
pub(crate) fn bad_request() -> Response<Body> {
    let mut response = plain(StatusCode::BAD_REQUEST, INVALID_REQUEST);
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_response_has_the_originals_four_headers_in_order_with_its_own_values() {
        for (body, content_type) in [("{}", APPLICATION_JSON), ("hello there", TEXT_PLAIN)] {
            // Twice: the second copy comes from the kept map, which the first must not change.
            for _ in 0..2 {
                let response = full(StatusCode::OK, content_type.clone(), body);
                let headers: Vec<_> = response
                    .headers()
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.to_str().unwrap_or("?").to_owned()))
                    .collect();
                let length = body.len().to_string();
                assert_eq!(headers.len(), 4, "{headers:?}");
                assert_eq!(headers[0].0, "date");
                assert!(
                    httpdate::parse_http_date(&headers[0].1).is_ok(),
                    "{headers:?}"
                );
                assert_eq!(headers[1], ("server", "duplex".to_owned()));
                assert_eq!(headers[2], ("content-length", length));
                assert_eq!(
                    headers[3],
                    (
                        "content-type",
                        content_type.to_str().unwrap_or("?").to_owned()
                    )
                );
            }
        }
    }

    #[test]
    fn content_lengths_read_as_their_numbers_from_the_table_and_past_it() {
        for len in [0, 7, 10, 15, 99, 100, 999, 1000, 65_536] {
            assert_eq!(
                content_length(len).to_str().ok(),
                Some(len.to_string().as_str())
            );
        }
    }
}
