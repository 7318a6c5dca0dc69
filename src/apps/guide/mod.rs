//! The guide's HTTP endpoints with FastAPI's routing rules: routing on the percent-decoded path,
//! 405 with `allow` for a known path, 307 to the path without its trailing slash, 404 otherwise.
//!
//! `App::handle` is generic over the request body, so tests drive it in-process with
//! in-memory bodies and the server drives it with hyper's. WebSocket routes are in `ws`, the
//! lifespan's `static/data.txt` in [`lifespan`].

pub(crate) mod docs;
mod file_watch;
pub mod items;
pub mod lifespan;
pub(crate) mod raw_echo;
pub(crate) mod request_body;
pub mod static_files;
pub(crate) mod ws;

use std::borrow::Cow;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue, LOCATION, RETRY_AFTER,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::protocol::http1::{TransferCodingError, check_transfer_encoding, has_token};
use crate::server::diagnose::Diagnosis;
use crate::server::response::{self, bad_request};
use crate::server::websocket::is_websocket_request;
use crate::server::{Answer, Body, ConnInfo, Exchange, Handler};
use request_body::{BodyBudget, BodyError, BoxError};
use ws::WsSettings;

/// What every request handler shares.
#[derive(Debug, Clone)]
pub(crate) struct App {
    /// The lifespan's `data.txt`.
    pub(crate) data_file: PathBuf,
    /// Its bytes, while it is unchanged.
    pub(crate) data_cache: Arc<static_files::FileCache>,
    /// Request bodies larger than this get 413.
    pub(crate) max_body: usize,
    /// Request bodies not complete this long after their head get 408.
    pub(crate) body_timeout: Duration,
    /// Request bodies buffered at once, across all connections; past it a body gets 503.
    pub(crate) body_budget: BodyBudget,
    /// WebSocket limits, timers and login credentials.
    pub(crate) ws: Arc<WsSettings>,
    /// The live inspector under `/_duplex/` (`--inspect`), answered before the guide's routes.
    pub(crate) inspector: Option<Arc<crate::apps::inspector::Inspector>>,
}

/// A matched route; `Item` carries the decoded `{item_id}` segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Root,
    Status,
    DataFile,
    Items,
    Item(&'a str),
    Docs(docs::Page),
}

impl<'a> Route<'a> {
    fn resolve(path: &'a str) -> Option<Self> {
        Some(match path {
            "/" => Self::Root,
            "/status" => Self::Status,
            "/static/data.txt" => Self::DataFile,
            "/items" => Self::Items,
            "/openapi.json" => Self::Docs(docs::Page::OpenApi),
            "/docs" => Self::Docs(docs::Page::SwaggerUi),
            "/docs/oauth2-redirect" => Self::Docs(docs::Page::OAuth2Redirect),
            "/redoc" => Self::Docs(docs::Page::Redoc),
            _ if let Some(asset) = docs::Asset::resolve(path) => {
                Self::Docs(docs::Page::Asset(asset))
            }
            _ => {
                // Starlette's `{item_id}` convertor: one non-empty segment.
                let id = path.strip_prefix("/items/")?;
                if id.is_empty() || id.contains('/') {
                    return None;
                }
                Self::Item(id)
            }
        })
    }

    /// GET routes answer HEAD too (RFC 9110 §9.3.2); the original lists only GET and says 405.
    fn allow(self) -> &'static str {
        match self {
            Self::Items => "POST",
            _ => "GET, HEAD",
        }
    }

    fn accepts(self, method: &Method) -> bool {
        match self {
            Self::Items => method == Method::POST,
            _ => method == Method::GET || method == Method::HEAD,
        }
    }
}

impl App {
    /// Answers one request; the exchange's guard goes to a WebSocket session if the request
    /// upgrades. (The server asks [`App::answer_now`] and then [`App::answer_later`] itself.)
    #[cfg(test)]
    pub(crate) async fn handle<B>(
        &self,
        request: Request<B>,
        exchange: &Exchange<'_>,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        match self.answer_now(request, exchange) {
            Answer::Now(response) => response,
            Answer::Later(request) => self.answer_later(request, exchange).await,
        }
    }

    /// Answers a request that needs no waiting (every route but the three that read a body or
    /// a file), or gives it back for [`App::answer_later`].
    pub(crate) fn answer_now<B>(&self, request: Request<B>, exchange: &Exchange<'_>) -> Answer<B> {
        if let Some(inspector) = &self.inspector
            && crate::apps::inspector::Inspector::claims(request.uri().path())
        {
            return Answer::Now(inspector.respond(request, exchange));
        }
        if let Some(probe) = exchange.tls_probe
            && request.uri().path() == crate::apps::tls_probes::PATH
        {
            return Answer::Now(crate::apps::tls_probes::client_hello(
                probe,
                request.method(),
            ));
        }
        let (mut parts, body) = request.into_parts();
        let fields = Fields::of(&parts.headers);
        let mut response = match check_head(&parts, &fields) {
            Err(err) => err.response(),
            Ok(())
                if (fields.upgrade || parts.method == Method::CONNECT)
                    && is_websocket_request(&parts.method, &parts.headers, &parts.extensions) =>
            {
                let path = decode_path(parts.uri.path()).into_owned();
                let response = ws::upgrade(&mut parts, &path, &self.ws, exchange);
                // A 101 leaves HTTP: no `connection: close`, no HTTP/1.0 status line.
                if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                    return Answer::Now(response);
                }
                response
            }
            Ok(()) => match self.route_now(&parts, *exchange.conn) {
                Some(response) => response,
                None => return Answer::Later(Request::from_parts(parts, body)),
            },
        };
        finish(&parts, &fields, &mut response);
        Answer::Now(response)
    }

    /// Answers a request [`App::answer_now`] gave back: one that waits for its body or a
    /// file.
    async fn answer_later<B>(&self, request: Request<B>, exchange: &Exchange<'_>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = request.into_parts();
        let mut response = self.route_later(&parts, body, exchange).await;
        finish(&parts, &Fields::of(&parts.headers), &mut response);
        response
    }

    /// The answer of every route that needs no waiting; `None` for the three that do.
    fn route_now(&self, parts: &http::request::Parts, conn: ConnInfo) -> Option<Response<Body>> {
        let path = decode_path(parts.uri.path());
        if path == raw_echo::PATH {
            return None;
        }
        let Some(route) = Route::resolve(&path) else {
            return Some(self.unmatched(parts, &path, conn));
        };
        if !route.accepts(&parts.method) {
            let mut response = response::full_with(
                StatusCode::METHOD_NOT_ALLOWED,
                response::APPLICATION_JSON,
                r#"{"detail":"Method Not Allowed"}"#,
                [(http::header::ALLOW, HeaderValue::from_static(route.allow()))],
            );
            response.extensions_mut().insert(Diagnosis::new(format!(
                "{} is not a method of {path}; it allows {} (RFC 9110 §15.5.6)",
                parts.method,
                route.allow()
            )));
            return Some(response);
        }
        Some(match route {
            Route::Root => response::json(StatusCode::OK, r#"{"message":"Server is running"}"#),
            Route::Status => response::json(StatusCode::OK, r#"{"status":"ok"}"#),
            Route::Item(raw) => items::get_item(raw),
            Route::Docs(page) => docs::respond(page),
            // Served at once when the cache holds the file as it is on disk.
            Route::DataFile => static_files::respond_cached(
                &self.data_file,
                &self.data_cache,
                &parts.headers,
                parts.method == Method::HEAD,
            )?,
            Route::Items => return None,
        })
    }

    /// The routes that wait: the raw echo and `POST /items` read a body, the data file is
    /// read from disk. Each is boxed: inline, its future would make every request's future
    /// (moved around by hyper) that much larger.
    async fn route_later<B>(
        &self,
        parts: &http::request::Parts,
        body: B,
        exchange: &Exchange<'_>,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let path = decode_path(parts.uri.path());
        if path == raw_echo::PATH {
            return Box::pin(raw_echo::respond(
                parts,
                body,
                exchange,
                self.max_body,
                self.body_timeout,
                &self.body_budget,
            ))
            .await;
        }
        match Route::resolve(&path) {
            Some(Route::DataFile) => {
                let head = parts.method == Method::HEAD;
                Box::pin(static_files::respond(
                    &self.data_file,
                    &self.data_cache,
                    &parts.headers,
                    head,
                ))
                .await
            }
            Some(Route::Items) => {
                let read = Box::pin(request_body::read(
                    &parts.headers,
                    body,
                    self.max_body,
                    self.body_timeout,
                    &self.body_budget,
                ))
                .await;
                match read {
                    // The body's share of the budget is held until its answer is built.
                    Ok((bytes, _reservation)) => {
                        items::create_item(parts.headers.get(CONTENT_TYPE), &bytes)
                    }
                    Err(err) => {
                        body_error(err, self.max_body, self.body_timeout, &self.body_budget)
                    }
                }
            }
            // `route_now` answers every other path.
            _ => response::detail(StatusCode::NOT_FOUND, "Not Found"),
        }
    }

    /// Starlette's `redirect_slashes`, then 404.
    fn unmatched(
        &self,
        parts: &http::request::Parts,
        path: &str,
        conn: ConnInfo,
    ) -> Response<Body> {
        let trimmed = path.trim_end_matches('/');
        if path != "/" && trimmed.len() < path.len() && Route::resolve(trimmed).is_some() {
            return redirect(parts, trimmed, conn);
        }
        response::detail(StatusCode::NOT_FOUND, "Not Found")
    }
}

impl Handler for App {
    fn answer_now(
        &self,
        request: Request<hyper::body::Incoming>,
        exchange: &Exchange<'_>,
    ) -> Answer {
        App::answer_now(self, request, exchange)
    }

    fn handle(
        &self,
        request: Request<hyper::body::Incoming>,
        exchange: &Exchange<'_>,
    ) -> impl Future<Output = Response<Body>> + Send {
        App::answer_later(self, request, exchange)
    }
}

/// What every HTTP answer gets from its request: `connection: close` when the client asked to
/// close, and HTTP/1.0's status line for an HTTP/1.0 request.
fn finish(parts: &http::request::Parts, fields: &Fields, response: &mut Response<Body>) {
    if wants_close(parts.version, fields, &parts.headers) {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    if parts.version == Version::HTTP_10 {
        // hyper answers HTTP/1.0 in kind; saying so up front also stops it from adding
        // `keep-alive` next to our `close`.
        *response.version_mut() = Version::HTTP_10;
    }
}

/// 413, 408, 503 or 400 for a body that could not be read, with its diagnosis, then close: the
/// rest of the body is not read, so the connection cannot carry another request.
pub(crate) fn body_error(
    err: BodyError,
    max_body: usize,
    body_timeout: Duration,
    budget: &BodyBudget,
) -> Response<Body> {
    let (mut response, diagnosis) = match err {
        BodyError::TooLarge => (
            response::detail(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("Request body is larger than the limit of {max_body} bytes"),
            ),
            Some(format!(
                "the request body is larger than --max-body ({max_body} bytes) (RFC 9110 §15.5.14)"
            )),
        ),
        BodyError::TimedOut => (
            response::detail(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "Request body not received within {} s",
                    body_timeout.as_secs_f64()
                ),
            ),
            Some(format!(
                "the request body did not arrive within --body-timeout ({} s) (RFC 9110 §15.5.9)",
                body_timeout.as_secs_f64()
            )),
        ),
        BodyError::Busy => {
            let mut busy = response::detail(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "The server is buffering {} bytes of request bodies, its limit; try again \
                     shortly",
                    budget.bytes()
                ),
            );
            busy.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            tracing::debug!("request body refused: --max-body-memory is in use");
            (busy, None)
        }
        BodyError::Invalid(why) => (
            bad_request(),
            Some(format!(
                "the request body is not framed as its head says: {why} (RFC 9112 §6.3, §7.1)"
            )),
        ),
    };
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    if let Some(diagnosis) = diagnosis {
        response.extensions_mut().insert(Diagnosis::new(diagnosis));
    }
    response
}

/// HTTP/1.0 always closes (as the original does, even with `Connection: keep-alive`); HTTP/1.1
/// closes when the client asks.
fn wants_close(version: Version, fields: &Fields, headers: &HeaderMap) -> bool {
    version < Version::HTTP_11 || (fields.connection && has_token(headers, CONNECTION, "close"))
}

/// Which of the fields the head checks look at a request carries, found in one pass: most
/// requests carry a few fields, and each lookup by name hashes the name (four lookups cost
/// about 350 instructions per request, the pass a tenth of that; callgrind).
#[derive(Debug, Default)]
struct Fields {
    /// `Host` lines.
    hosts: usize,
    transfer_encoding: bool,
    connection: bool,
    /// `Upgrade` and `Connection` both present: worth asking whether it is a WebSocket
    /// handshake.
    upgrade: bool,
}

impl Fields {
    fn of(headers: &HeaderMap) -> Self {
        let mut fields = Self::default();
        let mut upgrade = false;
        // Every line, repeated names included: the Host lines are counted.
        for (name, _) in headers {
            if name == HOST {
                fields.hosts += 1;
            } else if name == TRANSFER_ENCODING {
                fields.transfer_encoding = true;
            } else if name == CONNECTION {
                fields.connection = true;
            } else if name == UPGRADE {
                upgrade = true;
            }
        }
        fields.upgrade = upgrade && fields.connection;
        fields
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request needs exactly one Host. §3.2 and RFC 3986: the target
/// is ASCII (hyper lets raw UTF-8 through). §6.1 and §7: the transfer codings are chunked, once.
fn check_head(parts: &http::request::Parts, fields: &Fields) -> Result<(), HeadError> {
    let hosts = fields.hosts;
    if hosts > 1 {
        return Err(HeadError::Malformed(format!(
            "{hosts} Host header fields; a request has exactly one (RFC 9112 §3.2)"
        )));
    }
    if hosts == 0 && parts.version == Version::HTTP_11 {
        return Err(HeadError::Malformed(
            "an HTTP/1.1 request without a Host header field (RFC 9112 §3.2)".to_owned(),
        ));
    }
    if let Some(target) = parts.uri.path_and_query()
        && !target.as_str().is_ascii()
    {
        return Err(HeadError::Malformed(format!(
            "the request target \"{}\" has bytes outside ASCII; percent-encode them (RFC 9112 \
             §3.2, RFC 3986 §2.1)",
            crate::server::log::escape(target.as_str().as_bytes(), 120)
        )));
    }
    if !fields.transfer_encoding {
        return Ok(());
    }
    match check_transfer_encoding(&parts.headers) {
        Ok(()) => Ok(()),
        Err(err @ TransferCodingError::ChunkedTwice) => Err(HeadError::Malformed(format!(
            "{err}: a sender must not apply chunked more than once (RFC 9112 §7.1)"
        ))),
        Err(TransferCodingError::Unsupported(coding)) => Err(HeadError::Unsupported(coding)),
    }
}

/// Why a request head is refused before routing.
#[derive(Debug)]
enum HeadError {
    /// Broken framing or a missing/repeated Host: 400, then close. Carries the diagnosis.
    Malformed(String),
    /// A transfer coding we do not implement: 501, then close.
    Unsupported(String),
}

impl HeadError {
    fn response(self) -> Response<Body> {
        match self {
            Self::Malformed(diagnosis) => {
                let mut response = bad_request();
                response.extensions_mut().insert(Diagnosis::new(diagnosis));
                response
            }
            Self::Unsupported(coding) => {
                let mut response = response::detail(
                    StatusCode::NOT_IMPLEMENTED,
                    &format!("Transfer-Encoding {coding} is not implemented; only chunked is"),
                );
                // The body cannot be decoded, so the connection cannot be reused.
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                response.extensions_mut().insert(Diagnosis::new(format!(
                    "Transfer-Encoding {coding} is a coding this server does not implement; it \
                     answers 501 (RFC 9112 §6.1)"
                )));
                response
            }
        }
    }
}

/// Percent-decodes the path like Python's `unquote` (invalid UTF-8 becomes U+FFFD).
fn decode_path(path: &str) -> Cow<'_, str> {
    // Most paths have nothing to decode, and a `&str` is UTF-8 already (about 200
    // instructions per request less than decoding, callgrind).
    if !path.as_bytes().contains(&b'%') {
        return Cow::Borrowed(path);
    }
    percent_decode_str(path).decode_utf8_lossy()
}

/// Python's `quote(url, safe=":/%#?=@[]!$&'()*+,;")`, as Starlette's `RedirectResponse` applies it.
const LOCATION_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b':')
    .remove(b'/')
    .remove(b'%')
    .remove(b'#')
    .remove(b'?')
    .remove(b'=')
    .remove(b'@')
    .remove(b'[')
    .remove(b']')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';');

/// 307 to `path` on the same origin, keeping the query.
fn redirect(parts: &http::request::Parts, path: &str, conn: ConnInfo) -> Response<Body> {
    let scheme =
        forwarded_proto(&parts.headers, conn).unwrap_or(if conn.tls { "https" } else { "http" });
    // HTTP/2 names the host in `:authority`, which hyper puts in the URI (RFC 9113 §8.3.1).
    let authority = parts.uri.authority().map(http::uri::Authority::as_str);
    let host = match (parts.headers.get(HOST), authority) {
        (Some(host), _) => String::from_utf8_lossy(host.as_bytes()).into_owned(),
        (None, Some(authority)) => authority.to_owned(),
        (None, None) => {
            let default_port = if scheme == "https" { 443 } else { 80 };
            match conn.local {
                Some(local) => {
                    let ip = local.ip();
                    let ip = if ip.is_ipv6() {
                        format!("[{ip}]")
                    } else {
                        ip.to_string()
                    };
                    if local.port() == default_port {
                        ip
                    } else {
                        format!("{ip}:{}", local.port())
                    }
                }
                // A Unix socket has no address to name; its clients are on this host.
                None => "localhost".to_owned(),
            }
        }
    };
    let mut url = format!("{scheme}://{host}{path}");
    if let Some(query) = parts.uri.query().filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(query);
    }
    let location = utf8_percent_encode(&url, LOCATION_ESCAPE).to_string();
    match HeaderValue::from_str(&location) {
        Ok(location) => response::finish(
            response::base(StatusCode::TEMPORARY_REDIRECT)
                .header(CONTENT_LENGTH, 0)
                .header(LOCATION, location),
            Body::empty(),
        ),
        Err(_) => response::detail(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// `X-Forwarded-Proto`, trusted from loopback and Unix-socket peers only (uvicorn's
/// `forwarded_allow_ips`).
fn forwarded_proto(headers: &HeaderMap, conn: ConnInfo) -> Option<&'static str> {
    if conn.peer.is_some_and(|peer| !peer.ip().is_loopback()) {
        return None;
    }
    let value = headers.get("x-forwarded-proto")?.to_str().ok()?;
    let last = value.rsplit(',').next()?.trim();
    if last.eq_ignore_ascii_case("https") {
        Some("https")
    } else if last.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    fn app() -> App {
        App {
            data_file: PathBuf::from("/nonexistent/data.txt"),
            data_cache: Arc::default(),
            inspector: None,
            max_body: 1024,
            body_timeout: Duration::from_secs(30),
            body_budget: BodyBudget::new(1 << 20),
            ws: Arc::new(WsSettings::default()),
        }
    }

    use crate::server::DetachedExchange;
    use crate::server::response::INVALID_REQUEST;
    use std::net::SocketAddr;

    fn conn() -> ConnInfo {
        ConnInfo {
            local: Some(SocketAddr::from(([127, 0, 0, 1], 8000))),
            peer: Some(SocketAddr::from(([127, 0, 0, 1], 40000))),
            tls: true,
        }
    }

    async fn send(request: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, String) {
        let response = app()
            .handle(request, &DetachedExchange::new(conn()).exchange())
            .await;
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    fn get(uri: &str) -> Request<Full<Bytes>> {
        Request::get(uri)
            .header(HOST, "localhost:8000")
            .body(Full::default())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn routing_happens_on_the_percent_decoded_path() {
        let (status, _, body) = send(get("/%73tatus")).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, r#"{"status":"ok"}"#)
        );
    }

    #[tokio::test]
    async fn trailing_slash_redirects_to_https_origin_with_query() {
        let (status, headers, body) = send(get("/items/%C3%A9/?a=b")).await;
        assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            headers.get(LOCATION).map(HeaderValue::as_bytes),
            Some(&b"https://localhost:8000/items/%C3%A9?a=b"[..])
        );
        assert_eq!(body, "");
    }

    #[tokio::test]
    async fn wrong_method_lists_the_allowed_ones() {
        let request = Request::delete("/status")
            .header(HOST, "x")
            .body(Full::default())
            .unwrap_or_default();
        let (status, headers, body) = send(request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            headers.get(http::header::ALLOW).map(HeaderValue::as_bytes),
            Some(&b"GET, HEAD"[..])
        );
        assert_eq!(body, r#"{"detail":"Method Not Allowed"}"#);
    }

    #[tokio::test]
    async fn head_is_answered_like_get() {
        let request = Request::head("/")
            .header(HOST, "x")
            .body(Full::default())
            .unwrap_or_default();
        let (status, headers, _) = send(request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers.get(CONTENT_LENGTH).map(HeaderValue::as_bytes),
            Some(&b"31"[..])
        );
    }

    #[tokio::test]
    async fn http11_without_host_is_a_bad_request_that_closes() {
        let request = Request::get("/status")
            .body(Full::default())
            .unwrap_or_default();
        let (status, headers, body) = send(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            headers.get(CONNECTION).map(HeaderValue::as_bytes),
            Some(&b"close"[..])
        );
        assert_eq!(body, INVALID_REQUEST);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_get_413() {
        let request = Request::post("/items")
            .header(HOST, "x")
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(vec![b' '; 2048])))
            .unwrap_or_default();
        let (status, headers, body) = send(request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            body,
            r#"{"detail":"Request body is larger than the limit of 1024 bytes"}"#
        );
        // The rest of the body is never read, so the connection cannot be reused.
        assert_eq!(
            headers.get(CONNECTION).map(HeaderValue::as_bytes),
            Some(&b"close"[..])
        );
    }

    /// A declared length over the limit is refused before a byte of the body is read (the body
    /// here never arrives).
    #[tokio::test(start_paused = true)]
    async fn declared_lengths_over_the_limit_get_413_at_once() {
        let never = http_body_util::StreamBody::new(futures_util::stream::pending::<
            Result<http_body::Frame<Bytes>, std::convert::Infallible>,
        >());
        let request = Request::post("/items")
            .header(HOST, "x")
            .header(CONTENT_LENGTH, "1025")
            .body(never)
            .unwrap_or_else(|_| unreachable!("a valid request"));
        let started = tokio::time::Instant::now();
        let response = app()
            .handle(request, &DetachedExchange::new(conn()).exchange())
            .await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    /// A body that stops coming gets 408 when the body timeout runs out (virtual time).
    #[tokio::test(start_paused = true)]
    async fn stalled_bodies_get_408_after_the_body_timeout() {
        let never = http_body_util::StreamBody::new(futures_util::stream::pending::<
            Result<http_body::Frame<Bytes>, std::convert::Infallible>,
        >());
        let request = Request::post("/items")
            .header(HOST, "x")
            .header(CONTENT_LENGTH, "10")
            .body(never)
            .unwrap_or_else(|_| unreachable!("a valid request"));
        let started = tokio::time::Instant::now();
        let response = app()
            .handle(request, &DetachedExchange::new(conn()).exchange())
            .await;
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        let (parts, body) = response.into_parts();
        assert_eq!(parts.status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(
            parts.headers.get(CONNECTION).map(HeaderValue::as_bytes),
            Some(&b"close"[..])
        );
        let bytes = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        assert_eq!(
            &bytes[..],
            br#"{"detail":"Request body not received within 30 s"}"#
        );
    }
}
