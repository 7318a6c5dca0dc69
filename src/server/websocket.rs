//! WebSocket upgrades on the server: the handshake checked by
//! [`protocol::ws::handshake`](crate::protocol::ws::handshake), answered (101, or the original's
//! 400/405/505 text), and the session run as a task holding the connection's guard, because hyper
//! forgets a connection once it is upgraded.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::Either;

use http::header::{
    ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_VERSION, SERVER, UPGRADE,
};
use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode};
use hyper::ext::Protocol;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::access::SessionLog;
use super::diagnose::Diagnosis;
use super::response::{self, TEXT_PLAIN};
use super::{Body, Exchange};
use crate::protocol::ws::Agreement;
use crate::protocol::ws::handshake::{self, Accepted, HandshakeError};
use crate::protocol::ws::negotiate::DeflateConfig;
use crate::transport::stop::Stop;
use crate::transport::ws::{self, WebSocket};

pub(crate) use crate::protocol::ws::handshake::is_upgrade_request;

/// Whether a request asks for a WebSocket: an HTTP/1.1 upgrade, or an HTTP/2 extended CONNECT
/// with `:protocol` `websocket` (RFC 8441 §4). The method is compared first: cheap, and GET on
/// the hot path never looks further.
pub(crate) fn is_websocket_request(
    method: &Method,
    headers: &http::HeaderMap,
    extensions: &http::Extensions,
) -> bool {
    if method == Method::CONNECT {
        return extensions
            .get::<Protocol>()
            .is_some_and(|protocol| protocol.as_str().eq_ignore_ascii_case("websocket"));
    }
    is_upgrade_request(headers)
}

/// What a WebSocket session reads and writes.
pub(crate) trait SessionStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> SessionStream for T {}

/// The byte stream of an upgraded connection.
pub(crate) type Upgraded = Box<dyn SessionStream>;

/// A WebSocket session's connection on the server.
pub(crate) type ServerSocket = WebSocket<Upgraded>;

/// Takes an upgraded connection's stream back from hyper: the stream, and the bytes hyper read
/// past the request. hyper hands it over behind four layers (its `Upgraded`, a rewind buffer,
/// a box, and the adapters between tokio's and its own I/O traits, both ways), a fifth of a
/// small echo's round trip; the connection layer, which knows the stream's type, can take
/// them off (see `connection::reclaim`).
pub(crate) type Reclaim = fn(hyper::upgrade::Upgraded) -> (Upgraded, Bytes);

/// hyper's upgraded stream as it is: for a stream the caller cannot take apart (an HTTP/2
/// stream's, an in-process one).
pub(crate) fn as_upgraded(upgraded: hyper::upgrade::Upgraded) -> (Upgraded, Bytes) {
    (Box::new(TokioIo::new(upgraded)), Bytes::new())
}

/// How the server answers a handshake and runs the session.
#[derive(Debug, Clone)]
pub(crate) struct UpgradeConfig {
    /// permessage-deflate on offer, with these windows (`None`: declined).
    pub(crate) deflate: Option<DeflateConfig>,
    /// The session's timers and limits.
    pub(crate) transport: ws::Config,
}

/// Answers an upgrade request: 101 (over HTTP/2, for an extended CONNECT: 200) and `session`
/// run on the upgraded connection (an HTTP/2 stream) as a task of the server (holding the
/// connection's guard), or the handshake's error with its diagnosis. `name` labels the log
/// lines.
pub(crate) fn accept<F, Fut>(
    parts: &mut Parts,
    exchange: &Exchange<'_>,
    name: &'static str,
    config: &UpgradeConfig,
    session: F,
) -> Response<Body>
where
    F: FnOnce(ServerSocket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    // Only an extended CONNECT gets here with CONNECT (`is_websocket_request`).
    let validated = if parts.method == Method::CONNECT {
        handshake::validate_extended_connect(&parts.headers, config.deflate)
    } else {
        handshake::validate(&parts.method, parts.version, &parts.headers, config.deflate)
    };
    let accepted = match validated {
        Ok(accepted) => accepted,
        Err(err) => {
            let mut response = refusal(&err);
            response.extensions_mut().insert(Diagnosis::new(format!(
                "WebSocket handshake: {err} ({})",
                err.rule()
            )));
            return response;
        }
    };
    let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
        // Only in-process callers lack the connection; there is nothing to switch.
        tracing::error!("upgrade requested on a connection that cannot be upgraded");
        return response::bad_request();
    };
    let response = switching_protocols(&accepted);
    let observer = Arc::new(SessionLog {
        log: exchange.log.clone(),
        conn: exchange.label,
        request: exchange.request,
        // Over HTTP/2 the URI carries `:scheme` and `:authority`; the log shows the path.
        target: match parts.uri.path_and_query() {
            Some(path) if parts.version == http::Version::HTTP_2 => path.to_string(),
            _ => parts.uri.to_string(),
        },
        opened: std::time::Instant::now(),
        connected: exchange.connected(),
    });
    if exchange.log.access() {
        for note in handshake::handshake_notes(&parts.headers) {
            exchange
                .log
                .note(&exchange.label, &format!("{note} ({})", note.rule()));
        }
    }
    let start = Start {
        reclaim: exchange.reclaim,
        transport: config.transport.clone(),
        deflate: accepted.deflate,
        stop: exchange.guard.stop(),
        observer,
        name,
    };
    exchange
        .guard
        .spawn(session_task(on_upgrade, start, session));
    response
}

/// What a session's start needs once the connection has switched.
struct Start {
    reclaim: Reclaim,
    transport: ws::Config,
    deflate: Option<Agreement>,
    stop: Stop,
    observer: Arc<SessionLog>,
    /// The route, for the log.
    name: &'static str,
}

/// A session's task: the upgrade, then `session` on the socket made of the switched
/// connection. The task holds this future as long as the session lasts, so it is the upgrade
/// chained to the session, not one `async` block: a block keeps every value it captured (here
/// the start's) to its end, and the socket a second time beside the session it was moved into
/// (3.5 KiB more per `/ws/stream` subscriber, massif).
fn session_task<F, Fut>(
    on_upgrade: OnUpgrade,
    start: Start,
    session: F,
) -> impl Future<Output = ()> + Send + 'static
where
    F: FnOnce(ServerSocket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    on_upgrade.then(move |upgraded| {
        let upgraded = match upgraded {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::debug!(error = %err, "connection closed before the upgrade");
                return Either::Right(std::future::ready(()));
            }
        };
        let (io, received) = (start.reclaim)(upgraded);
        let mut socket = WebSocket::new(io, &start.transport, start.deflate.as_ref(), &start.stop);
        socket.received_before(received);
        socket.set_observer(start.observer);
        tracing::debug!(route = start.name, "WebSocket session started");
        Either::Left(session(socket))
    })
}

/// The 101 in the original's header order; over HTTP/2 a 200 with the same headers minus the
/// connection-specific ones and the accept key (RFC 8441 §5), and no `content-length`, which
/// a successful CONNECT must not have (RFC 9110 §9.3.6).
fn switching_protocols(accepted: &Accepted) -> Response<Body> {
    let mut builder = match &accepted.accept {
        Some(accept) => Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(UPGRADE, "websocket")
            .header(CONNECTION, "Upgrade")
            .header(SEC_WEBSOCKET_ACCEPT, accept.as_str()),
        None => Response::builder().status(StatusCode::OK),
    };
    if let Some(agreement) = &accepted.deflate {
        builder = builder.header(SEC_WEBSOCKET_EXTENSIONS, agreement.response.as_str());
    }
    let builder = builder
        .header(DATE, response::date_now())
        .header(SERVER, HeaderValue::from_static("duplex"));
    response::finish(builder, Body::empty())
}

/// The original's answer to a refused handshake: its status, its text, then close; 405 lists
/// `allow: GET`, a bad version lists the one we speak.
fn refusal(err: &HandshakeError) -> Response<Body> {
    let body = err.body();
    let mut builder = response::base(err.status())
        .header(CONNECTION, "close")
        .header(CONTENT_LENGTH, body.len())
        .header(CONTENT_TYPE, TEXT_PLAIN);
    if matches!(err, HandshakeError::Method(_)) {
        builder = builder.header(ALLOW, "GET");
    } else if err.lists_supported_version() {
        builder = builder.header(SEC_WEBSOCKET_VERSION, "13");
    }
    response::finish(builder, Body::full(body.into()))
}

/// The 403 for an upgrade to a path that is not a WebSocket route: empty body, then close.
pub(crate) fn forbidden(path: &str, routes: &str) -> Response<Body> {
    let mut response = response::finish(
        response::base(StatusCode::FORBIDDEN)
            .header(CONNECTION, "close")
            .header(CONTENT_LENGTH, 0)
            .header(CONTENT_TYPE, TEXT_PLAIN),
        Body::empty(),
    );
    response.extensions_mut().insert(Diagnosis::new(format!(
        "a WebSocket upgrade to {path}, which is not a WebSocket route (they are {routes}); \
         refused before the handshake, as the original does"
    )));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ws::Role;
    use crate::server::log::{ConnLabel, Log, LogOptions};
    use std::pin::Pin;

    /// While a session runs, its task holds the session's future and little more: not the
    /// socket a second time, not what only the start needed.
    #[test]
    fn a_session_task_holds_little_more_than_its_session() {
        let start = Start {
            reclaim: as_upgraded,
            transport: ws::Config::for_tests(Role::Server),
            deflate: None,
            stop: Stop::default(),
            observer: Arc::new(SessionLog {
                log: Log::memory(LogOptions::default()).0,
                conn: ConnLabel { id: 1, peer: None },
                request: 1,
                target: "/ws/echo".to_owned(),
                opened: std::time::Instant::now(),
                connected: std::time::Instant::now(),
            }),
            name: "echo",
        };
        // The guide's routes hand over their session boxed.
        let session = |socket: ServerSocket| -> Pin<Box<dyn Future<Output = ()> + Send>> {
            Box::pin(async move { drop(socket) })
        };
        let on_upgrade = hyper::upgrade::on(http::Request::new(()));
        let task = session_task(on_upgrade, start, session);
        let (size, socket) = (
            std::mem::size_of_val(&task),
            std::mem::size_of::<ServerSocket>(),
        );
        // 160 bytes against a socket's 728; as one `async` block it held the socket as well.
        assert!(
            size < socket / 2,
            "the task is {size} bytes, a socket {socket}"
        );
    }
}
