//! The WebSocket probes: odd or wrong opening handshakes, then what a server may (or must not)
//! send, and the close handshake, with what the client sent back filed for the case runner.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::catalogue::{Case, MESSAGE, long_message};
use super::{Observation, ProbeRequest, complete, write_all};
use crate::protocol::ws::handshake::accept_key;
use crate::protocol::ws::{Decoder, Inbound, Role, write_frame};
use crate::server::raw::{RawConnection, RawIo};

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const TEXT: u8 = 0x1;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

/// How long the server waits for the client's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How long the client has to react to what it got before the server closes.
const SETTLE: Duration = Duration::from_millis(300);

/// How long `no-tcp-close` keeps TCP open after the close handshake.
const HOLD_OPEN: Duration = Duration::from_secs(15);

fn frame(first_byte: u8, payload: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    write_frame(&mut out, first_byte, None, payload);
    out
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

pub(super) async fn respond(
    case: &Case,
    request: &ProbeRequest,
    conn: &mut RawConnection,
    observation: &mut Observation,
) -> Result<(), String> {
    let Some(key) = request.header("sec-websocket-key") else {
        let text = "this probe is a WebSocket: send an upgrade request with Sec-WebSocket-Key";
        return write_all(
            &mut conn.io,
            &complete("400 Bad Request", "text/plain", text),
        )
        .await;
    };
    let accept = accept_key(key.trim().as_bytes());
    let switching = |upgrade: &str, connection: &str, extra: &str| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: {upgrade}\r\nConnection: {connection}\r\n\
             Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
        )
    };
    let standard = switching("websocket", "Upgrade", "");
    let message = frame(FIN | TEXT, MESSAGE.as_bytes());
    let io = &mut conn.io;
    // The head, then what the server sends before its close.
    let (head, frames): (String, Vec<BytesMut>) = match case.id {
        "control"
        | "ping-storm"
        | "close-code-reason"
        | "no-tcp-close"
        | "fragmented"
        | "long-message"
        | "one-byte-writes"
        | "ping-between-fragments"
        | "masked-frame"
        | "reserved-opcode"
        | "rsv1-without-extension"
        | "invalid-utf8" => (standard, Vec::new()),
        "upgrade-mixed-case" => (switching("WebSocket", "upgrade", ""), vec![message.clone()]),
        "connection-list" => (
            switching("websocket", "keep-alive, Upgrade", ""),
            vec![message.clone()],
        ),
        "frames-with-101" => {
            // One write: the head and the first frame in the same packet.
            let mut both = BytesMut::from(standard.as_bytes());
            both.extend_from_slice(&message);
            write_all(io, &both).await?;
            return close_handshake(conn, observation, 1000, "", false).await;
        }
        "wrong-accept" => {
            let wrong = accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
            let wrong = if wrong == accept {
                accept_key(b"another key")
            } else {
                wrong
            };
            (
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Accept: {wrong}\r\n\r\n"
                ),
                vec![message.clone()],
            )
        }
        "missing-accept" => (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                .to_owned(),
            vec![message.clone()],
        ),
        "unrequested-subprotocol" => (
            switching(
                "websocket",
                "Upgrade",
                "Sec-WebSocket-Protocol: duplex-unrequested\r\n",
            ),
            vec![message.clone()],
        ),
        "unrequested-extension" => (
            switching(
                "websocket",
                "Upgrade",
                "Sec-WebSocket-Extensions: x-duplex-unrequested\r\n",
            ),
            vec![message.clone()],
        ),
        "redirect-on-upgrade" => {
            let response = "HTTP/1.1 307 Temporary Redirect\r\nLocation: /probe/ws/control\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            return write_all(io, response.as_bytes()).await;
        }
        "status-200" | "status-401" => {
            let status = if case.id == "status-200" {
                "200 OK"
            } else {
                "401 Unauthorized"
            };
            return write_all(io, &complete(status, "text/plain", MESSAGE)).await;
        }
        other => return Err(format!("no WebSocket probe {other}")),
    };
    write_all(io, head.as_bytes()).await?;
    for frame in frames {
        write_all(io, &frame).await?;
    }
    let (code, reason) = match case.id {
        "control" => {
            write_all(io, &message).await?;
            (1000, "")
        }
        "fragmented" => {
            let bytes = MESSAGE.as_bytes();
            let pieces: Vec<&[u8]> = bytes.chunks(bytes.len().div_ceil(10)).collect();
            for (n, piece) in pieces.iter().enumerate() {
                let opcode = if n == 0 { TEXT } else { CONTINUATION };
                let fin = if n + 1 == pieces.len() { FIN } else { 0 };
                write_all(io, &frame(fin | opcode, piece)).await?;
            }
            (1000, "")
        }
        "long-message" => {
            write_all(io, &frame(FIN | TEXT, long_message().as_bytes())).await?;
            (1000, "")
        }
        "one-byte-writes" => {
            for byte in message.iter() {
                write_all(io, &[*byte]).await?;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (1000, "")
        }
        "ping-between-fragments" => {
            let bytes = MESSAGE.as_bytes();
            write_all(io, &frame(TEXT, &bytes[..6])).await?;
            write_all(io, &frame(FIN | PING, b"ping-0")).await?;
            write_all(io, &frame(FIN | CONTINUATION, &bytes[6..])).await?;
            (1000, "")
        }
        "ping-storm" => {
            let mut all = BytesMut::new();
            for n in 0..20 {
                all.extend_from_slice(&frame(FIN | PING, format!("ping-{n}").as_bytes()));
            }
            write_all(io, &all).await?;
            write_all(io, &message).await?;
            (1000, "")
        }
        "close-code-reason" => {
            write_all(io, &message).await?;
            (4001, "probe reason")
        }
        "no-tcp-close" => {
            write_all(io, &message).await?;
            return close_handshake(conn, observation, 1000, "", true).await;
        }
        "masked-frame" => {
            let mut masked = BytesMut::new();
            write_frame(
                &mut masked,
                FIN | TEXT,
                Some([1, 2, 3, 4]),
                MESSAGE.as_bytes(),
            );
            write_all(io, &masked).await?;
            (1000, "")
        }
        "reserved-opcode" => {
            write_all(io, &frame(FIN | 0x3, b"x")).await?;
            write_all(io, &message).await?;
            (1000, "")
        }
        "rsv1-without-extension" => {
            write_all(io, &frame(FIN | RSV1 | TEXT, MESSAGE.as_bytes())).await?;
            (1000, "")
        }
        "invalid-utf8" => {
            // "κόσμε" with an encoded surrogate (ED A0 80) in the middle: Autobahn's 6.3.1.
            let invalid = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited";
            write_all(io, &frame(FIN | TEXT, invalid)).await?;
            (1000, "")
        }
        // The handshake cases: their frames went out with the head.
        _ => (1000, ""),
    };
    close_handshake(conn, observation, code, reason, false).await
}

/// `/probe/ws-driven/no-close-reply`, outside the judged catalogue (the runner's client never
/// closes first): a correct 101 and one message, then the server never answers the client's
/// close frame and keeps TCP open up to [`HOLD_OPEN`]. A client must not wait forever for the
/// reply: RFC 6455 §7.1.1 lets it close TCP once its close went unanswered for a while.
pub(super) async fn no_close_reply(
    request: &ProbeRequest,
    conn: &mut RawConnection,
) -> Result<(), String> {
    let Some(key) = request.header("sec-websocket-key") else {
        return write_all(
            &mut conn.io,
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
    };
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key.trim().as_bytes())
    );
    write_all(&mut conn.io, head.as_bytes()).await?;
    write_all(&mut conn.io, &frame(FIN | TEXT, MESSAGE.as_bytes())).await?;
    let mut decoder = Decoder::new(Role::Server, 1 << 20, None);
    let mut buf = BytesMut::with_capacity(4096);
    let mut seen = Observation::default();
    let stop = conn.stop.clone();
    let waited = tokio::select! {
        () = stop.cancelled() => return Ok(()),
        waited = tokio::time::timeout(HOLD_OPEN, async {
            read_until_close(&mut conn.io, &mut decoder, &mut buf, &mut seen).await;
            if seen.client_close.is_some() {
                // Unanswered: wait for the client to give up and close TCP.
                let _ = conn.io.read_u8().await;
            }
        }) => waited,
    };
    let outcome = match (seen.client_close, waited.is_ok()) {
        (Some(_), true) => "the client closed TCP after its close went unanswered (correct)",
        (Some(_), false) => "the client waited for the close reply past 15 s (it must give up)",
        (None, _) => "the client sent no close frame",
    };
    conn.log.note(
        &conn.label,
        &format!("probe ws-driven/no-close-reply: {outcome}"),
    );
    Ok(())
}

/// Gives the client [`SETTLE`] to react to what it got (a client that refuses a frame closes
/// now, and its close is echoed), then sends the server's close, reads what the client sends
/// until its close (pongs are filed), and closes TCP (after [`HOLD_OPEN`] if `hold`).
async fn close_handshake(
    conn: &mut RawConnection,
    observation: &mut Observation,
    code: u16,
    reason: &str,
    hold: bool,
) -> Result<(), String> {
    let mut decoder = Decoder::new(Role::Server, 1 << 20, None);
    let mut buf = BytesMut::with_capacity(4096);
    let settled = tokio::time::timeout(
        SETTLE,
        read_until_close(&mut conn.io, &mut decoder, &mut buf, observation),
    )
    .await;
    if settled.is_ok() {
        // The client closed first (or left): echo its code, as RFC 6455 §5.5.1 says.
        if let Some(code) = observation.client_close {
            let payload = code.map(|code| close_payload(code, "")).unwrap_or_default();
            let _ = write_all(&mut conn.io, &frame(FIN | CLOSE, &payload)).await;
        }
        let _ = conn.io.shutdown().await;
        return Ok(());
    }
    write_all(
        &mut conn.io,
        &frame(FIN | CLOSE, &close_payload(code, reason)),
    )
    .await?;
    let read = tokio::time::timeout(
        CLOSE_WAIT,
        read_until_close(&mut conn.io, &mut decoder, &mut buf, observation),
    )
    .await;
    if read.is_err() {
        observation.ended = format!("no close frame from the client within {CLOSE_WAIT:?}");
    }
    if hold && observation.client_close.is_some() {
        tokio::select! {
            () = conn.stop.cancelled() => {}
            () = tokio::time::sleep(HOLD_OPEN) => {}
            // The client closing TCP itself ends the wait (the case passes).
            _ = conn.io.read_u8() => {}
        }
    }
    let _ = conn.io.shutdown().await;
    Ok(())
}

/// Reads the client's frames until its close frame, EOF or an invalid frame. Cancel-safe: the
/// decoder and buffer outlive a timed-out call.
async fn read_until_close(
    io: &mut Box<dyn RawIo>,
    decoder: &mut Decoder,
    buf: &mut BytesMut,
    observation: &mut Observation,
) {
    loop {
        loop {
            match decoder.decode(buf) {
                Ok(Some(Inbound::Pong(payload))) => {
                    if observation.pongs.len() < 64 {
                        observation.pongs.push(payload.to_vec());
                    }
                }
                Ok(Some(Inbound::Close(close))) => {
                    observation.client_close = Some(close.code.map(|code| code.as_u16()));
                    return;
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    observation.ended =
                        format!("the client sent an invalid frame: {}", err.violation);
                    return;
                }
            }
        }
        match io.read_buf(buf).await {
            Ok(0) | Err(_) => {
                if observation.ended.is_empty() {
                    observation.ended = "the client closed TCP without a close frame".to_owned();
                }
                return;
            }
            Ok(_) => {}
        }
    }
}
