//! `/ws/stream`: an update right after the handshake, then one per second on a fixed schedule
//! (an interval, so the period does not drift by the time each send takes). The socket is read
//! all along, so pings are answered and a client's close ends the stream at once.

use std::fmt::Write as _;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::MissedTickBehavior;

use crate::transport::ws::WebSocket;

/// Time between updates.
pub(crate) const PERIOD: Duration = Duration::from_secs(1);

/// The guide's text of every update.
pub(crate) const MESSAGE: &str = "This is a periodic update from the server.";

pub(crate) async fn stream<S: AsyncRead + AsyncWrite + Unpin>(mut socket: WebSocket<S>) {
    let mut ticks = tokio::time::interval(PERIOD);
    // A client too slow to take an update gets the next one on schedule, not a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        let end = tokio::select! {
            received = socket.recv() => match received {
                // The stream has nothing to say to messages; they are read and dropped.
                Ok(_) => continue,
                Err(end) => end,
            },
            _ = ticks.tick() => match socket.send_text(update(OffsetDateTime::now_utc())).await {
                Ok(()) => continue,
                Err(end) => end,
            },
        };
        return socket.finish(end).await;
    }
}

/// `{"timestamp":"<isoformat>","message":"This is a periodic update from the server."}`, the
/// keys in the original's order.
pub(crate) fn update(now: OffsetDateTime) -> String {
    format!(
        r#"{{"timestamp":"{}","message":"{MESSAGE}"}}"#,
        isoformat(now)
    )
}

/// Python's `datetime.now(UTC).isoformat()`: `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`, without the
/// fraction when the microsecond is 0.
pub(crate) fn isoformat(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut out = String::with_capacity(32);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let micros = t.microsecond();
    if micros != 0 {
        let _ = write!(out, ".{micros:06}");
    }
    out.push_str("+00:00");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::guide::ws::WsSettings;
    use crate::transport::stop::Stop;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::Instant;

    /// Reads one unmasked server frame: (opcode, payload).
    async fn read_frame(io: &mut tokio::io::DuplexStream) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        let _ = io.read_exact(&mut head).await;
        let mut payload = vec![0u8; usize::from(head[1] & 0x7f)];
        let _ = io.read_exact(&mut payload).await;
        (head[0] & 0x0f, payload)
    }

    #[tokio::test(start_paused = true)]
    async fn updates_are_on_a_one_second_schedule_and_a_close_ends_them() {
        let (server, mut client) = tokio::io::duplex(64 * 1024);
        let settings = WsSettings {
            ping_interval: None,
            ..WsSettings::default()
        };
        let config = settings.upgrade_config().transport;
        let socket = WebSocket::new(server, &config, None, &Stop::default());
        let start = Instant::now();
        let session = tokio::spawn(stream(socket));
        let mut offsets = Vec::new();
        for _ in 0..4 {
            let (opcode, payload) = read_frame(&mut client).await;
            assert_eq!((opcode, payload.len()), (1, 103));
            offsets.push(start.elapsed());
        }
        // The clock is paused and advanced by tokio: exact times prove there is no drift.
        let expected: Vec<Duration> = (0..4).map(Duration::from_secs).collect();
        assert_eq!(offsets, expected);

        // A masked close (code 1000, zero mask) gets its echo and ends the session.
        let _ = client
            .write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8])
            .await;
        loop {
            let (opcode, payload) = read_frame(&mut client).await;
            if opcode == 8 {
                assert_eq!(payload, [0x03, 0xe8]);
                break;
            }
        }
        assert!(session.await.is_ok());
    }

    fn at(unix_micros: i128) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(unix_micros * 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn isoformat_matches_python() {
        // datetime.fromtimestamp(1795468857.540420, UTC).isoformat()
        assert_eq!(
            isoformat(at(1_795_468_857_540_420)),
            "2026-11-23T21:20:57.540420+00:00"
        );
        assert_eq!(
            isoformat(at(1_795_468_857_000_007)),
            "2026-11-23T21:20:57.000007+00:00"
        );
        // The microsecond is 0: Python leaves the fraction out.
        assert_eq!(
            isoformat(at(1_795_468_857_000_000)),
            "2026-11-23T21:20:57+00:00"
        );
    }

    #[test]
    fn update_is_the_originals_103_bytes() {
        let text = update(at(1_795_468_857_540_420));
        assert_eq!(
            text,
            r#"{"timestamp":"2026-11-23T21:20:57.540420+00:00","message":"This is a periodic update from the server."}"#
        );
        assert_eq!(text.len(), 103);
    }
}
