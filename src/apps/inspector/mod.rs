//! The live inspector (`duplex serve --inspect`), under `/_duplex/`:
//! - `/_duplex/`: one self-contained page (no CDN) that shows connections, requests with their
//!   raw heads, WebSocket frames and diagnoses as they happen, and a panel to try the guide's
//!   WebSocket routes (signing the `/ws/v5/private` login in the page with WebCrypto);
//! - `/_duplex/events`: a WebSocket sending the server's events as JSON arrays, the recent ones
//!   first (the feed's ring), then live;
//! - `/_duplex/events.json[?conn=N]`: the recent events as one JSON array, for a script or a
//!   download.
//!
//! The events are the objects `--log-format json` writes, from the server's
//! [`Feed`](crate::server::feed::Feed). Only loopback clients get in, unless a token is set;
//! then every client must present it.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CACHE_CONTROL, HeaderValue, LOCATION, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use http::{Method, Request, Response, StatusCode};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::error::RecvError;

use crate::protocol::ws::CloseCode;
use crate::server::diagnose::Diagnosis;
use crate::server::feed::{Event, Feed};
use crate::server::log::{ConnLabel, Log};
use crate::server::response::{self, APPLICATION_JSON, TEXT_HTML};
use crate::server::websocket::{self, UpgradeConfig, is_websocket_request};
use crate::server::{Body, ConnInfo, Exchange};
use crate::transport::ws::WebSocket;

/// Where the inspector lives; nothing of the guide's is under it.
pub(crate) const PREFIX: &str = "/_duplex";

/// The page: HTML, CSS and script in one file.
const PAGE: &str = include_str!("page.html");

/// Most events sent in one WebSocket message once live (the ring goes as one message).
const BATCH: usize = 256;

#[derive(Debug)]
pub(crate) struct Inspector {
    feed: Arc<Feed>,
    /// Required from every client when set; without it, only loopback clients get in.
    token: Option<String>,
    /// How the event stream's WebSocket is answered and run.
    upgrade: UpgradeConfig,
}

impl Inspector {
    pub(crate) fn new(feed: Arc<Feed>, token: Option<String>, upgrade: UpgradeConfig) -> Self {
        Self {
            feed,
            token,
            upgrade,
        }
    }

    /// Whether `path` is the inspector's.
    pub(crate) fn claims(path: &str) -> bool {
        path.strip_prefix(PREFIX)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    pub(crate) fn respond<B>(
        &self,
        request: Request<B>,
        exchange: &Exchange<'_>,
    ) -> Response<Body> {
        let (mut parts, _body) = request.into_parts();
        if let Err(why) = self.admit(&parts, exchange.conn) {
            let mut refusal = response::detail(StatusCode::FORBIDDEN, why);
            refusal
                .extensions_mut()
                .insert(Diagnosis::new(format!("{}: {why}", parts.uri.path())));
            return refusal;
        }
        let path = parts.uri.path();
        let query = parts.uri.query().unwrap_or("");
        if path == PREFIX {
            // The page's relative URLs need the slash.
            let location = if query.is_empty() {
                format!("{PREFIX}/")
            } else {
                format!("{PREFIX}/?{query}")
            };
            return response::full_with(
                StatusCode::TEMPORARY_REDIRECT,
                APPLICATION_JSON,
                Bytes::from_static(b"{}"),
                [(LOCATION, header_value(&location))],
            );
        }
        if path == "/_duplex/events"
            && is_websocket_request(&parts.method, &parts.headers, &parts.extensions)
        {
            let feed = Arc::clone(&self.feed);
            let log = exchange.log.clone();
            let label = exchange.label;
            return websocket::accept(
                &mut parts,
                exchange,
                "inspector",
                &self.upgrade,
                move |socket| stream_events(socket, feed, log, label),
            );
        }
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return response::full_with(
                StatusCode::METHOD_NOT_ALLOWED,
                APPLICATION_JSON,
                r#"{"detail":"Method Not Allowed"}"#,
                [(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"))],
            );
        }
        let mut answer = match path {
            "/_duplex/" => response::full(StatusCode::OK, TEXT_HTML, PAGE),
            "/_duplex/events.json" => match conn_filter(query) {
                Ok(conn) => response::json(StatusCode::OK, self.recent_json(conn)),
                Err(why) => {
                    let mut answer = response::detail(StatusCode::BAD_REQUEST, &why);
                    answer
                        .extensions_mut()
                        .insert(Diagnosis::new(format!("inspector: {why}")));
                    answer
                }
            },
            "/_duplex/events" => response::detail(
                StatusCode::UPGRADE_REQUIRED,
                "/_duplex/events is a WebSocket; GET /_duplex/events.json for the recent events",
            ),
            _ => response::detail(StatusCode::NOT_FOUND, "Not Found"),
        };
        let headers = answer.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        // The token may be in the page's URL: it must not leave in a Referer.
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        answer
    }

    /// Loopback clients, or any client with the token when one is set; else why not.
    fn admit(&self, parts: &http::request::Parts, conn: &ConnInfo) -> Result<(), &'static str> {
        Err(match &self.token {
            Some(token) if presented(parts).is_some_and(|given| matches_token(given, token)) => {
                return Ok(());
            }
            Some(_) => {
                "the inspector needs the token given to --inspect-token (as ?token= or \
                 Authorization: Bearer)"
            }
            // A Unix socket is as local as loopback.
            None if conn
                .peer
                .is_none_or(|peer| peer.ip().to_canonical().is_loopback()) =>
            {
                return Ok(());
            }
            None => {
                "the inspector answers loopback clients only; start the server with \
                 --inspect-token to let others in"
            }
        })
    }

    /// The ring as one JSON array, only connection `conn`'s events when given.
    fn recent_json(&self, conn: Option<u64>) -> String {
        let mut events = self.feed.recent();
        if let Some(id) = conn {
            events.retain(|event| of_conn(event, id));
        }
        json_array(&events)
    }
}

/// The token from `?token=` or `Authorization: Bearer`.
fn presented(parts: &http::request::Parts) -> Option<&str> {
    let from_query = parts.uri.query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
    });
    from_query.or_else(|| {
        parts
            .headers
            .get(AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")
    })
}

fn matches_token(given: &str, token: &str) -> bool {
    given.len() == token.len() && bool::from(given.as_bytes().ct_eq(token.as_bytes()))
}

/// `conn=N` from the query, if there.
fn conn_filter(query: &str) -> Result<Option<u64>, String> {
    let Some(value) = query.split('&').find_map(|pair| pair.strip_prefix("conn=")) else {
        return Ok(None);
    };
    value.parse().map(Some).map_err(|_| {
        format!(
            "conn={} is not a connection number",
            crate::server::log::escape(value.as_bytes(), 40)
        )
    })
}

/// Whether `event` (one of the feed's JSON objects) is about connection `id`.
fn of_conn(event: &str, id: u64) -> bool {
    serde_json::from_str::<serde_json::Value>(event)
        .is_ok_and(|value| value.get("conn").and_then(serde_json::Value::as_u64) == Some(id))
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("/_duplex/"))
}

/// The event stream: the ring as one array, then live events in arrays of up to [`BATCH`]; a
/// subscriber that fell behind gets `{"event":"lagged","missed":N}` where the events were. The
/// connection is not traced: each frame sent would be an event to send.
async fn stream_events<S: AsyncRead + AsyncWrite + Unpin>(
    mut socket: WebSocket<S>,
    feed: Arc<Feed>,
    log: Log,
    label: ConnLabel,
) {
    log.untrace(label.id);
    let mut subscription = feed.subscribe();
    let recent = std::mem::take(&mut subscription.recent);
    if let Err(end) = socket.send_text(json_array(&recent)).await {
        return socket.finish(end).await;
    }
    drop(recent);
    let mut batch: Vec<Event> = Vec::with_capacity(BATCH);
    loop {
        let end = tokio::select! {
            received = socket.recv() => match received {
                // The page has nothing to say; what it sends is read and dropped.
                Ok(_) => continue,
                Err(end) => end,
            },
            event = subscription.live.recv() => {
                match event {
                    Ok(event) => batch.push(event),
                    Err(RecvError::Lagged(missed)) => batch.push(lagged(missed)),
                    Err(RecvError::Closed) => {
                        let _ = socket.close(CloseCode::GOING_AWAY, "server stopping").await;
                        return;
                    }
                }
                while batch.len() < BATCH {
                    match subscription.live.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(missed)) => {
                            batch.push(lagged(missed));
                        }
                        Err(_) => break,
                    }
                }
                let text = json_array(&batch);
                batch.clear();
                match socket.send_text(text).await {
                    Ok(()) => continue,
                    Err(end) => end,
                }
            }
        };
        return socket.finish(end).await;
    }
}

fn lagged(missed: u64) -> Event {
    format!(r#"{{"event":"lagged","missed":{missed},"message":"{missed} events skipped: the page fell behind"}}"#).into()
}

fn json_array(events: &[Event]) -> String {
    let mut out = String::with_capacity(2 + events.iter().map(|e| e.len() + 1).sum::<usize>());
    out.push('[');
    for (n, event) in events.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(event);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inspector_claims_its_prefix_only() {
        assert!(Inspector::claims("/_duplex"));
        assert!(Inspector::claims("/_duplex/"));
        assert!(Inspector::claims("/_duplex/events"));
        assert!(!Inspector::claims("/_duplexx"));
        assert!(!Inspector::claims("/status"));
    }

    #[test]
    fn tokens_come_from_the_query_or_a_bearer_header() {
        let request = Request::get("/_duplex/?a=1&token=abc")
            .body(())
            .map(|r| r.into_parts().0);
        assert_eq!(request.as_ref().ok().and_then(presented), Some("abc"));
        let request = Request::get("/_duplex/")
            .header(AUTHORIZATION, "Bearer xyz")
            .body(())
            .map(|r| r.into_parts().0);
        assert_eq!(request.as_ref().ok().and_then(presented), Some("xyz"));
        assert!(matches_token("abc", "abc"));
        assert!(!matches_token("abd", "abc"));
        assert!(!matches_token("ab", "abc"));
    }

    fn inspector(token: Option<&str>) -> Inspector {
        Inspector::new(
            Arc::default(),
            token.map(str::to_owned),
            crate::apps::guide::ws::WsSettings::default().upgrade_config(),
        )
    }

    fn page_status(inspector: &Inspector, peer: &str, target: &str) -> StatusCode {
        let exchange = crate::server::DetachedExchange::new(ConnInfo {
            local: None,
            peer: peer.parse().ok(),
            tls: true,
        });
        match Request::get(target).body(()) {
            Ok(request) => inspector.respond(request, &exchange.exchange()).status(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    #[test]
    fn only_loopback_clients_get_in_without_a_token() {
        let open = inspector(None);
        let cases = [
            ("127.0.0.1:5000", "/_duplex/", StatusCode::OK),
            ("[::1]:5000", "/_duplex/", StatusCode::OK),
            // An IPv4 client on a dual-stack socket.
            ("[::ffff:127.0.0.1]:5000", "/_duplex/", StatusCode::OK),
            ("192.0.2.7:5000", "/_duplex/", StatusCode::FORBIDDEN),
            (
                "192.0.2.7:5000",
                "/_duplex/events.json",
                StatusCode::FORBIDDEN,
            ),
            // A Unix socket (no peer address) is local.
            ("", "/_duplex/", StatusCode::OK),
        ];
        for (peer, target, status) in cases {
            assert_eq!(page_status(&open, peer, target), status, "{peer} {target}");
        }

        let guarded = inspector(Some("0123456789abcdef"));
        assert_eq!(
            page_status(
                &guarded,
                "192.0.2.7:5000",
                "/_duplex/?token=0123456789abcdef"
            ),
            StatusCode::OK
        );
        assert_eq!(
            page_status(&guarded, "127.0.0.1:5000", "/_duplex/"),
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn a_conn_filter_is_a_number() {
        assert_eq!(conn_filter(""), Ok(None));
        assert_eq!(conn_filter("conn=12"), Ok(Some(12)));
        assert!(conn_filter("conn=x").is_err());
        assert!(of_conn(r#"{"event":"http","conn":12}"#, 12));
        assert!(!of_conn(r#"{"event":"http","conn":121}"#, 12));
    }
}
