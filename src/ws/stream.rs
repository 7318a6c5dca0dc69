//! `/ws/stream`: an update right after the handshake, then one per second on a fixed schedule
//! (an interval, so the period does not drift by the time each send takes). The socket is read
//! all along, so pings are answered and a client's close ends the stream at once.

use std::fmt::Write as _;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::MissedTickBehavior;

use super::{Event, Socket};

/// Time between updates.
pub const PERIOD: Duration = Duration::from_secs(1);

/// The guide's text of every update.
pub const MESSAGE: &str = "This is a periodic update from the server.";

pub async fn stream<S: AsyncRead + AsyncWrite + Unpin>(mut socket: Socket<S>) {
    let mut ticks = tokio::time::interval(PERIOD);
    // A client too slow to take an update gets the next one on schedule, not a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        let end = tokio::select! {
            event = socket.next_event() => match event {
                // The stream has nothing to say to messages; they are read and dropped.
                Event::Message(_) => continue,
                Event::End(end) => end,
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
pub fn update(now: OffsetDateTime) -> String {
    format!(
        r#"{{"timestamp":"{}","message":"{MESSAGE}"}}"#,
        isoformat(now)
    )
}

/// Python's `datetime.now(UTC).isoformat()`: `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`, without the
/// fraction when the microsecond is 0.
pub fn isoformat(t: OffsetDateTime) -> String {
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
