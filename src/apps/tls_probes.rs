//! `GET /tls/clienthello` on the TLS probe ports (`--tls-probes`), howsmyssl-style: the versions,
//! cipher suites, groups, signature schemes, extensions, ALPN and SNI this connection's client
//! offered, by name, with what is weak, obsolete or missing and what a client of today offers.

use http::header::{ALLOW, HeaderValue};
use http::{Method, Response, StatusCode};
use serde_json::json;

use crate::server::response::{self, APPLICATION_JSON};
use crate::server::{Body, TlsProbeConn};

/// The route, served on every probe port (the main port never keeps the ClientHello).
pub(crate) const PATH: &str = "/tls/clienthello";

/// The report of `probe`'s ClientHello; 405 for a method other than GET or HEAD.
pub(crate) fn client_hello(probe: &TlsProbeConn, method: &Method) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        return response::full_with(
            StatusCode::METHOD_NOT_ALLOWED,
            APPLICATION_JSON,
            r#"{"detail":"Method Not Allowed"}"#,
            [(ALLOW, HeaderValue::from_static("GET, HEAD"))],
        );
    }
    let mut report = match &probe.hello {
        Ok(hello) => hello.report(),
        // The handshake completed, so rustls read it; only our bounds can refuse it.
        Err(err) => json!({ "error": err.to_string() }),
    };
    if let Some(object) = report.as_object_mut() {
        object.insert("probe".to_owned(), json!(probe.case.name()));
    }
    let mut body = serde_json::to_vec_pretty(&report).unwrap_or_default();
    body.push(b'\n');
    response::json(StatusCode::OK, body)
}
