//! `/ws/v5/private`: the guide's OKX-style login, then a small private channel.
//!
//! The first message must be a valid, fresh login ([`crate::protocol::login`]). Any failure gets the
//! original's failure reply and a close frame (1008; 1003 for a binary frame). After a
//! successful login the connection stays open: `ping` → `pong`, `subscribe` to `account` →
//! an acknowledgement and an update every second, anything else → `{"event":"error",...}`.
//! A connection that sends nothing for the idle timeout is closed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::WsSettings;
use crate::protocol::pyjson::{self, Value};
use crate::protocol::ws::{CloseCode, Message};
use crate::transport::ws::WebSocket;

pub(crate) const LOGIN_OK: &str = r#"{"event":"login","success":true}"#;
pub(crate) const LOGIN_FAILED: &str =
    r#"{"event":"login","success":false,"message":"Authentication failed"}"#;
/// The one private channel.
pub(crate) const ACCOUNT: &str = "account";
const UPDATE_PERIOD: Duration = Duration::from_secs(1);
/// Login messages above this are refused unread; the guide's is about 200 bytes.
const MAX_LOGIN_MESSAGE: usize = 64 * 1024;

pub(crate) async fn private<S: AsyncRead + AsyncWrite + Unpin>(
    mut socket: WebSocket<S>,
    settings: Arc<WsSettings>,
) {
    socket.set_idle_timeout(Some(settings.private_idle_timeout));
    let login = match socket.recv().await {
        // Parsed JSON takes tens of times its text's size, and nobody is authenticated yet.
        Ok(Message::Text(text)) if text.len() > MAX_LOGIN_MESSAGE => {
            socket.explain_refusal(format!(
                "login refused: the login message has {} bytes, over {MAX_LOGIN_MESSAGE}",
                text.len()
            ));
            return refuse(socket, CloseCode::POLICY, "authentication failed").await;
        }
        Ok(Message::Text(text)) => settings
            .credentials
            .verify(text.as_str(), SystemTime::now()),
        Ok(Message::Binary(_)) => {
            socket.explain_refusal(
                "login refused: the login came as a binary message; it is JSON text",
            );
            return refuse(
                socket,
                CloseCode::UNSUPPORTED_DATA,
                "login must be a text message",
            )
            .await;
        }
        Err(end) => return socket.finish(end).await,
    };
    let api_key = match login {
        Ok(api_key) => api_key,
        Err(err) => {
            socket.explain_refusal(format!("login refused: {err}"));
            return refuse(socket, CloseCode::POLICY, "authentication failed").await;
        }
    };
    tracing::info!(api_key = %api_key, "login succeeded");
    if let Err(end) = socket.send_text(LOGIN_OK).await {
        return socket.finish(end).await;
    }
    logged_in(socket).await;
}

/// The failure reply, then a close frame with `code`.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    mut socket: WebSocket<S>,
    code: CloseCode,
    reason: &str,
) {
    match socket.send_text(LOGIN_FAILED).await {
        Ok(()) => {
            let _ = socket.close(code, reason).await;
        }
        Err(end) => socket.finish(end).await,
    }
}

/// What a logged-in client asked for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Ping,
    Subscribe,
    Unsubscribe,
    Invalid(String),
}

async fn logged_in<S: AsyncRead + AsyncWrite + Unpin>(mut socket: WebSocket<S>) {
    let mut updates: Option<Interval> = None;
    loop {
        let end = tokio::select! {
            received = socket.recv() => {
                let reply = match received {
                    Ok(Message::Text(text)) => {
                        match parse_request(text.as_str()) {
                            Request::Ping => "pong".to_owned(),
                            Request::Subscribe => {
                                let mut ticks = tokio::time::interval_at(
                                    Instant::now() + UPDATE_PERIOD,
                                    UPDATE_PERIOD,
                                );
                                ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
                                updates = Some(ticks);
                                channel_event("subscribe")
                            }
                            Request::Unsubscribe => {
                                updates = None;
                                channel_event("unsubscribe")
                            }
                            Request::Invalid(msg) => error_event(&msg),
                        }
                    }
                    Ok(Message::Binary(_)) => {
                        let _ = socket
                            .close(CloseCode::UNSUPPORTED_DATA, "only text messages are understood")
                            .await;
                        return;
                    }
                    Err(end) => return socket.finish(end).await,
                };
                match socket.send_text(reply).await {
                    Ok(()) => continue,
                    Err(end) => end,
                }
            }
            () = next_tick(&mut updates) => match socket.send_text(account_update(SystemTime::now())).await {
                Ok(()) => continue,
                Err(end) => end,
            },
        };
        return socket.finish(end).await;
    }
}

async fn next_tick(updates: &mut Option<Interval>) {
    match updates {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// OKX's keepalive `ping`, or `{"op": "subscribe"|"unsubscribe", "args": [{"channel": ...}]}`.
fn parse_request(text: &str) -> Request {
    if text == "ping" {
        return Request::Ping;
    }
    let Ok(value) = pyjson::loads(text.as_bytes()) else {
        return Request::Invalid("Invalid request: not JSON".to_owned());
    };
    let Some(op) = value.get("op").and_then(Value::as_str) else {
        return Request::Invalid("Invalid request: missing \"op\"".to_owned());
    };
    let request = match op {
        "subscribe" => Request::Subscribe,
        "unsubscribe" => Request::Unsubscribe,
        "login" => return Request::Invalid("Already logged in".to_owned()),
        other => return Request::Invalid(format!("Unknown op: {other}")),
    };
    let channel = match value.get("args") {
        Some(Value::Array(args)) => args.first().and_then(|arg| arg.get("channel")),
        _ => None,
    };
    match channel.and_then(Value::as_str) {
        Some(ACCOUNT) => request,
        Some(other) => Request::Invalid(format!("Unknown channel: {other}")),
        None => Request::Invalid("Invalid request: args[0].channel is required".to_owned()),
    }
}

fn channel_event(event: &str) -> String {
    format!(r#"{{"event":"{event}","arg":{{"channel":"{ACCOUNT}"}}}}"#)
}

/// `{"event":"error","msg":...}` with the message JSON-escaped.
fn error_event(msg: &str) -> String {
    let mut out = String::from(r#"{"event":"error","msg":"#);
    pyjson::write_str(&mut out, msg);
    out.push('}');
    out
}

/// A push on the account channel, OKX-shaped: `uTime` in milliseconds.
fn account_update(now: SystemTime) -> String {
    let millis = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    format!(
        r#"{{"arg":{{"channel":"{ACCOUNT}"}},"data":[{{"uTime":"{millis}","totalEq":"0","details":[]}}]}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A login message too long to be one is refused before it is parsed.
    #[tokio::test(start_paused = true)]
    async fn oversized_logins_are_refused_unread() {
        use crate::protocol::ws::Role;
        use crate::transport::stop::Stop;
        use crate::transport::ws::{Config, End};
        let (server_io, client_io) = tokio::io::duplex(256 * 1024);
        let settings = WsSettings::default();
        let server = WebSocket::new(
            server_io,
            &settings.upgrade_config().transport,
            None,
            &Stop::default(),
        );
        let session = tokio::spawn(async move { private(server, Arc::default()).await });
        let client_config = Config {
            role: Role::Client,
            ping_interval: None,
            send_timeout: None,
            ..settings.upgrade_config().transport
        };
        let mut client = WebSocket::new(client_io, &client_config, None, &Stop::default());
        let padded = format!(
            r#"{{"op":"login","pad":"{}"}}"#,
            " ".repeat(MAX_LOGIN_MESSAGE)
        );
        assert!(client.send_text(padded).await.is_ok());
        assert_eq!(
            client.recv().await.ok(),
            Some(Message::Text(LOGIN_FAILED.into()))
        );
        match client.recv().await {
            Err(End::PeerClosed(frame)) => assert_eq!(frame.code, Some(CloseCode::POLICY)),
            other => panic!("expected close 1008, got {other:?}"),
        }
        client.complete(&End::Gone(None)).await;
        drop(client);
        assert!(session.await.is_ok());
    }

    #[test]
    fn requests_after_login() {
        assert_eq!(parse_request("ping"), Request::Ping);
        assert_eq!(
            parse_request(r#"{"op":"subscribe","args":[{"channel":"account"}]}"#),
            Request::Subscribe
        );
        assert_eq!(
            parse_request(r#"{"op":"unsubscribe","args":[{"channel":"account"}]}"#),
            Request::Unsubscribe
        );
        assert_eq!(
            parse_request(r#"{"op":"subscribe","args":[{"channel":"tickers"}]}"#),
            Request::Invalid("Unknown channel: tickers".to_owned())
        );
        assert_eq!(
            parse_request(r#"{"op":"order"}"#),
            Request::Invalid("Unknown op: order".to_owned())
        );
        assert_eq!(
            parse_request("{"),
            Request::Invalid("Invalid request: not JSON".to_owned())
        );
        assert_eq!(
            parse_request("[1]"),
            Request::Invalid("Invalid request: missing \"op\"".to_owned())
        );
    }

    #[test]
    fn replies_are_json() {
        assert_eq!(
            channel_event("subscribe"),
            r#"{"event":"subscribe","arg":{"channel":"account"}}"#
        );
        assert_eq!(
            error_event("Unknown op: \"x\"\n"),
            r#"{"event":"error","msg":"Unknown op: \"x\"\n"}"#
        );
        let update = account_update(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
        assert_eq!(
            update,
            r#"{"arg":{"channel":"account"},"data":[{"uTime":"1700000000123","totalEq":"0","details":[]}]}"#
        );
    }
}
