//! The guide's WebSocket endpoints, plus `/ws/mirror` for conformance testing.
//!
//! [`upgrade`] picks the route; [`server::websocket`](crate::server::websocket) answers the
//! handshake and runs the session as a task of the server, so the shutdown signal reaches it.
//! Sessions are written against the role-neutral
//! [`WebSocket`](crate::transport::ws::WebSocket) transport.

pub(crate) mod echo;
pub(crate) mod private;
pub(crate) mod stream;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::Response;
use http::request::Parts;

use crate::protocol::login::Credentials;
use crate::protocol::ws::Role;
use crate::protocol::ws::negotiate::DeflateConfig;
use crate::server::websocket::{self, UpgradeConfig};
use crate::server::{Body, Exchange};
use crate::transport::timer::Timers;
use crate::transport::ws::Config;

/// WebSocket limits and timers.
#[derive(Debug, Clone)]
pub(crate) struct WsSettings {
    /// Largest accepted message in bytes (after decompression); bigger ones close with 1009.
    pub(crate) max_message: usize,
    /// Offer permessage-deflate when the client asks for it.
    pub(crate) compression: bool,
    /// Ping the client this often (`None`: never).
    pub(crate) ping_interval: Option<Duration>,
    /// Close with 1011 when a ping is not answered within this.
    pub(crate) ping_timeout: Duration,
    /// How long a server-initiated close waits for the client's close frame.
    pub(crate) close_timeout: Duration,
    /// A client that takes nothing from the socket for this long is dropped.
    pub(crate) send_timeout: Duration,
    /// `/ws/v5/private` closes a connection that sends nothing for this long.
    pub(crate) private_idle_timeout: Duration,
    /// API keys for `/ws/v5/private`.
    pub(crate) credentials: Arc<Credentials>,
    /// Where the ping timers run.
    pub(crate) timers: Timers,
}

impl Default for WsSettings {
    /// The original's limits (16 MiB, ping every 20 s, pong within 20 s, 10 s close timeout).
    fn default() -> Self {
        Self {
            max_message: 16 * 1024 * 1024,
            compression: true,
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(20),
            private_idle_timeout: Duration::from_secs(30),
            credentials: Arc::new(Credentials::demo()),
            timers: Timers::default(),
        }
    }
}

/// The WebSocket routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WsRoute {
    Echo,
    Stream,
    Private,
    Mirror,
}

impl WsSettings {
    /// How the server answers the handshake and runs each session.
    pub(crate) fn upgrade_config(&self) -> UpgradeConfig {
        UpgradeConfig {
            deflate: self.compression.then(DeflateConfig::default),
            transport: Config {
                role: Role::Server,
                max_message: self.max_message,
                ping_interval: self.ping_interval,
                ping_timeout: self.ping_timeout,
                close_timeout: self.close_timeout,
                send_timeout: Some(self.send_timeout),
                timers: self.timers,
            },
        }
    }
}

impl WsRoute {
    /// Exact paths only: WebSockets get no trailing-slash redirect (as in the original).
    pub(crate) fn resolve(path: &str) -> Option<Self> {
        match path {
            "/ws/echo" => Some(Self::Echo),
            "/ws/stream" => Some(Self::Stream),
            "/ws/v5/private" => Some(Self::Private),
            "/ws/mirror" => Some(Self::Mirror),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Echo => "echo",
            Self::Stream => "stream",
            Self::Private => "private",
            Self::Mirror => "mirror",
        }
    }
}

/// Answers an upgrade request on the decoded `path`: 403 for a path that is not a WebSocket
/// route, 400/405 for a bad handshake, else 101 and a session task holding `guard`.
pub(crate) fn upgrade(
    parts: &mut Parts,
    path: &str,
    settings: &Arc<WsSettings>,
    exchange: &Exchange<'_>,
) -> Response<Body> {
    let Some(route) = WsRoute::resolve(path) else {
        return websocket::forbidden(path, "/ws/echo, /ws/stream, /ws/v5/private and /ws/mirror");
    };
    let session_settings = Arc::clone(settings);
    websocket::accept(
        parts,
        exchange,
        route.name(),
        &settings.upgrade_config(),
        // Each session boxed on its own, so a connection holds only its own route's state, not
        // the largest of the four; the box itself, not an `async` block that awaits it, which
        // would keep a dead copy of the socket beside it.
        move |socket| -> Pin<Box<dyn Future<Output = ()> + Send>> {
            match route {
                WsRoute::Echo => Box::pin(echo::echo(socket)),
                WsRoute::Mirror => Box::pin(echo::mirror(socket)),
                WsRoute::Stream => Box::pin(stream::stream(socket)),
                WsRoute::Private => Box::pin(private::private(socket, session_settings)),
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::server::websocket::{ServerSocket, Upgraded as Io};

    /// The size of the future a session function returns.
    fn future_size<F: FnOnce(ServerSocket) -> Fut, Fut>(_: F) -> usize {
        std::mem::size_of::<Fut>()
    }

    /// Every open WebSocket holds its session's future for its whole life, so /ws/stream's
    /// 19,000 subscribers pay for each byte of it (a stack buffer in the close path once made
    /// it 12 KiB).
    #[test]
    fn session_futures_stay_small() {
        let settings = Arc::new(WsSettings::default());
        let sizes = [
            ("stream", future_size(stream::stream::<Io>)),
            ("echo", future_size(echo::echo::<Io>)),
            (
                "private",
                future_size(|s| private::private(s, Arc::clone(&settings))),
            ),
        ];
        for (name, size) in sizes {
            assert!(size <= 6 * 1024, "{name}'s session future is {size} bytes");
        }
        // 3 KiB before the log's observer pointer and the codec's frame count and trace state
        // (issue 15: about 200 bytes of future); 48 bytes more for the stop waiter that files
        // its waker once instead of on every `recv` (issue 19), and 62 for the receive
        // timer's waker, which spares polling the timer on every message (issue 19).
        assert!(
            sizes[0].1 <= 3320,
            "stream's future is {} bytes",
            sizes[0].1
        );
    }
}
