//! One HTTP/1.1 or HTTP/2 request on a fresh connection, with hyper's client.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;

use super::{ClientError, Target};

/// What `duplex client` sends as `User-Agent`.
pub(crate) const USER_AGENT_VALUE: &str = concat!("duplex/", env!("CARGO_PKG_VERSION"));

/// A request to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub(crate) method: Method,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
    /// HTTP/2 where the server takes it (ALPN `h2`), prior knowledge on plain TCP.
    pub(crate) http2: bool,
}

impl Outgoing {
    /// The same request over HTTP/2: by ALPN over TLS (HTTP/1.1 when the server does not
    /// choose `h2`), with prior knowledge over plain TCP.
    #[must_use]
    pub fn over_http2(mut self) -> Self {
        self.http2 = true;
        self
    }

    pub fn get() -> Self {
        Self {
            method: Method::GET,
            headers: Vec::new(),
            body: Bytes::new(),
            http2: false,
        }
    }

    /// A POST of `json` with `content-type: application/json` (like `curl --json`).
    pub fn post_json(json: impl Into<Bytes>) -> Self {
        Self {
            method: Method::POST,
            headers: vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body: json.into(),
            http2: false,
        }
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    pub(crate) version: Version,
    pub status: StatusCode,
    /// The reason phrase as sent.
    pub(crate) reason: String,
    pub(crate) headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// `HTTP/1.1 200 OK`.
    pub(crate) fn status_line(&self) -> String {
        format!(
            "{:?} {} {}",
            self.version,
            self.status.as_u16(),
            self.reason
        )
    }

    /// The head as `curl -i` prints it: status line, headers, blank line, CRLF line ends.
    pub(crate) fn head(&self) -> String {
        let mut head = self.status_line();
        head.push_str("\r\n");
        for (name, value) in &self.headers {
            head.push_str(name.as_str());
            head.push_str(": ");
            head.push_str(&String::from_utf8_lossy(value.as_bytes()));
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        head
    }
}

/// Sends `outgoing` to `target` on a new connection and reads the whole response, all within
/// `timeout`.
///
/// # Errors
/// Connection, TLS and HTTP failures, and [`ClientError::Timeout`].
/// Most header fields a response may have.
const MAX_RESPONSE_HEADERS: usize = 1000;

pub async fn request(
    target: &Target,
    tls: Option<&Arc<ClientConfig>>,
    outgoing: Outgoing,
    timeout: Duration,
) -> Result<Response, ClientError> {
    let exchange = async {
        if outgoing.http2 {
            let (io, h2) = super::connect_h2(target, tls, timeout, None).await?;
            if h2 {
                return exchange_h2(io, target, outgoing).await;
            }
            return exchange_h1(io, target, outgoing).await;
        }
        let io = super::connect(target, tls, timeout).await?;
        exchange_h1(io, target, outgoing).await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ClientError::Timeout {
            what: format!("request to {}", target.http_url()),
            after: timeout,
        })?
}

/// One request over HTTP/1.1 on `io`.
async fn exchange_h1(
    io: Box<dyn super::Io>,
    target: &Target,
    outgoing: Outgoing,
) -> Result<Response, ClientError> {
    // RFC 9112 §5.2 has user agents accept obs-fold; RFC 9110 §5 sets no limit on the
    // number of fields (hyper's client stops at 100 by default).
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .allow_obsolete_multiline_headers_in_responses(true)
        .max_headers(MAX_RESPONSE_HEADERS)
        .handshake(TokioIo::new(io))
        .await?;
    let connection = tokio::spawn(connection);
    let builder = Request::builder()
        .uri(target.path_and_query.as_str())
        .header(HOST, target.authority.as_str());
    let response = match sender.send_request(build(builder, target, outgoing)?).await {
        Ok(response) => read(response).await,
        Err(err) => Err(err.into()),
    };
    connection.abort();
    response
}

/// One request over HTTP/2 on `io`: the target's scheme and authority become the
/// `:scheme` and `:authority` pseudo-headers (no Host).
async fn exchange_h2(
    io: Box<dyn super::Io>,
    target: &Target,
    outgoing: Outgoing,
) -> Result<Response, ClientError> {
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await?;
    let connection = tokio::spawn(connection);
    let builder = Request::builder()
        .version(Version::HTTP_2)
        .uri(target.http_url());
    let response = sender.send_request(build(builder, target, outgoing)?).await;
    let response = match response {
        Ok(response) => read(response).await,
        Err(err) => Err(err.into()),
    };
    connection.abort();
    response
}

/// The request: `builder` has the target, this adds the method, the headers and the body.
fn build(
    builder: http::request::Builder,
    target: &Target,
    outgoing: Outgoing,
) -> Result<Request<Full<Bytes>>, ClientError> {
    let mut builder = builder
        .method(outgoing.method)
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(ACCEPT, "*/*");
    for (name, value) in outgoing.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(outgoing.body))
        .map_err(|err| ClientError::Url {
            input: target.http_url(),
            why: err.to_string(),
        })
}

/// The whole response.
async fn read(response: http::Response<hyper::body::Incoming>) -> Result<Response, ClientError> {
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    let reason = parts
        .extensions
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| parts.status.canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    Ok(Response {
        version: parts.version,
        status: parts.status,
        reason,
        headers: parts.headers,
        body,
    })
}
