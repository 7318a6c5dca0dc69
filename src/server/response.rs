//! Building responses in the original's header order: `date`, `server`, then the endpoint's own
//! headers, with lower-case names.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, DATE, HeaderName, HeaderValue, SERVER};
use http::{HeaderMap, Response, StatusCode};

use super::body::Body;

pub(crate) const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
pub(crate) const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
pub(crate) const TEXT_HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const SERVER_NAME: HeaderValue = HeaderValue::from_static("duplex");

/// 9999-12-31 23:59:59 UTC, the last time an HTTP-date can spell, after the epoch.
const LAST_HTTP_DATE: Duration = Duration::from_secs(253_402_300_799);

/// The IMF-fixdate of `time`, clamped to what one can spell (1970 to 9999): `httpdate` panics
/// outside that range, and a file time or a system clock can be anywhere.
pub(crate) fn http_date(time: SystemTime) -> HeaderValue {
    let formatted = httpdate::fmt_http_date(time.clamp(UNIX_EPOCH, UNIX_EPOCH + LAST_HTTP_DATE));
    HeaderValue::from_str(&formatted).unwrap_or(HeaderValue::from_static(""))
}

/// The IMF-fixdate for now, formatted at most once per second per thread.
pub(crate) fn date_now() -> HeaderValue {
    with_this_second(|second| second.date.clone())
}

/// What a response takes from the second the system clock is in, kept per thread.
struct ThisSecond {
    /// The second, `[start, end)`. Checking a time against it is two comparisons, where
    /// working out its second (a subtraction from the epoch, then a division) cost about 40
    /// instructions more per response (callgrind).
    start: SystemTime,
    end: SystemTime,
    date: HeaderValue,
    /// `date`, `server`, `content-length` and `content-type`, see [`common_headers`].
    headers: HeaderMap,
}

impl ThisSecond {
    /// The second `now` is in, within what an HTTP-date can spell. Before 1970 it is the
    /// epoch's, which `now` is not in: a clock that far back renews it every time.
    fn of(now: SystemTime) -> Self {
        let since_epoch = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .min(LAST_HTTP_DATE);
        let start = UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs());
        let date = http_date(start);
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(DATE, date.clone());
        headers.insert(SERVER, SERVER_NAME);
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        headers.insert(CONTENT_TYPE, TEXT_PLAIN);
        Self {
            start,
            end: start + Duration::from_secs(1),
            date,
            headers,
        }
    }

    fn holds(&self, now: SystemTime) -> bool {
        self.start <= now && now < self.end
    }
}

/// Runs `f` on this thread's [`ThisSecond`], renewed first if the clock has left it (either
/// way: a clock set back must not keep a later date).
fn with_this_second<T>(f: impl FnOnce(&ThisSecond) -> T) -> T {
    thread_local! {
        static SECOND: RefCell<Option<ThisSecond>> = const { RefCell::new(None) };
    }
    let now = SystemTime::now();
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        match &*second {
            Some(current) if current.holds(now) => f(current),
            _ => f(second.insert(ThisSecond::of(now))),
        }
    })
}

/// `date`, `server`, `content-length` and `content-type`, in that order, with these two
/// values: a copy of a map kept per thread and renewed each second. Copying the map costs
/// less than hashing four names into a new one (about 400 instructions per response less,
/// callgrind).
fn common_headers(length: HeaderValue, content_type: HeaderValue) -> HeaderMap {
    let mut headers = with_this_second(|second| second.headers.clone());
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
    fn a_second_holds_the_times_within_it_and_dates_outside_1970_to_9999_are_clamped() {
        let at = UNIX_EPOCH + Duration::from_millis(1_764_547_200_250);
        let second = ThisSecond::of(at);
        assert_eq!(second.date, "Mon, 01 Dec 2025 00:00:00 GMT");
        assert_eq!(second.headers.get(DATE), Some(&second.date));
        assert!(second.holds(at));
        assert!(second.holds(at - Duration::from_millis(250)));
        assert!(
            !second.holds(at - Duration::from_millis(251)),
            "a clock set back"
        );
        assert!(!second.holds(at + Duration::from_millis(750)));
        // A clock before 1970 used to panic in the formatter on every response.
        let before = UNIX_EPOCH - Duration::from_secs(86_400);
        let second = ThisSecond::of(before);
        assert_eq!(second.date, "Thu, 01 Jan 1970 00:00:00 GMT");
        assert!(!second.holds(before), "renewed on each use, not kept");
        let after = UNIX_EPOCH + Duration::from_secs(300_000_000_000);
        assert_eq!(ThisSecond::of(after).date, "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(http_date(before), "Thu, 01 Jan 1970 00:00:00 GMT");
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
