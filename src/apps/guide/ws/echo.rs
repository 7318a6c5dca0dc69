//! `/ws/echo` (the guide's echo, text `m` → `Echo: m`) and `/ws/mirror` (every message back
//! unchanged, for Autobahn and for client authors testing their framing).

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::protocol::ws::{Message, Utf8Bytes};
use crate::transport::ws::WebSocket;

const ECHO_PREFIX: &[u8] = b"Echo: ";

/// Text `m` → text `Echo: m`; binary is echoed as binary (the original drops the connection).
pub(crate) async fn echo<S: AsyncRead + AsyncWrite + Unpin>(socket: WebSocket<S>) {
    answer_each(socket, |message| match message {
        Message::Text(text) => Message::Text(prefixed(&text)),
        binary @ Message::Binary(_) => binary,
    })
    .await;
}

/// Every message back as it came.
pub(crate) async fn mirror<S: AsyncRead + AsyncWrite + Unpin>(socket: WebSocket<S>) {
    answer_each(socket, |message| message).await;
}

/// Answers every message with `reply(message)` until the connection ends.
async fn answer_each<S: AsyncRead + AsyncWrite + Unpin>(
    mut socket: WebSocket<S>,
    reply: impl Fn(Message) -> Message,
) {
    loop {
        let end = match socket.recv().await {
            Ok(message) => match socket.send(&reply(message)).await {
                Ok(()) => continue,
                Err(end) => end,
            },
            Err(end) => end,
        };
        return socket.finish(end).await;
    }
}

/// `Echo: ` + text; both parts are UTF-8, so the result is too.
fn prefixed(text: &Utf8Bytes) -> Utf8Bytes {
    let mut reply = BytesMut::with_capacity(ECHO_PREFIX.len() + text.len());
    reply.put_slice(ECHO_PREFIX);
    reply.put_slice(text.as_bytes());
    Utf8Bytes::from_validated(reply.freeze())
}
