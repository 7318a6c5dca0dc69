//! The inspector's feed (`--inspect`): every log event of the server as a JSON object, the same
//! objects `--log-format json` writes, kept in a bounded ring of recent events and sent live to
//! each subscriber.
//!
//! Memory is bounded twice: the ring drops its oldest events past [`RING_EVENTS`] or
//! [`RING_BYTES`], and a subscriber that falls more than [`LIVE_BACKLOG`] events behind skips
//! ahead and is told how many it missed, so a slow browser never holds up the server.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

/// Most events the ring keeps.
pub(crate) const RING_EVENTS: usize = 10_000;
/// Most bytes of events the ring keeps.
pub(crate) const RING_BYTES: usize = 8 * 1024 * 1024;
/// Events a live subscriber may fall behind before it skips ahead.
pub(crate) const LIVE_BACKLOG: usize = 4096;

/// One event: a JSON object, serialized once and shared by the ring and every subscriber.
pub(crate) type Event = Arc<str>;

#[derive(Debug)]
pub(crate) struct Feed {
    ring: Mutex<Ring>,
    live: broadcast::Sender<Event>,
}

#[derive(Debug, Default)]
struct Ring {
    events: VecDeque<Event>,
    bytes: usize,
}

/// What a new subscriber gets: the ring as it was, then every event after it, in order.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) recent: Vec<Event>,
    pub(crate) live: broadcast::Receiver<Event>,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            ring: Mutex::default(),
            live: broadcast::Sender::new(LIVE_BACKLOG),
        }
    }
}

impl Feed {
    fn ring(&self) -> MutexGuard<'_, Ring> {
        // The ring is consistent after every statement: a panic elsewhere cannot tear it.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn publish(&self, event: String) {
        let event: Event = event.into();
        let mut ring = self.ring();
        ring.bytes += event.len();
        ring.events.push_back(Arc::clone(&event));
        while ring.events.len() > RING_EVENTS || ring.bytes > RING_BYTES {
            match ring.events.pop_front() {
                Some(old) => ring.bytes -= old.len(),
                None => break,
            }
        }
        // Sent under the ring's lock, so a subscriber sees each event exactly once: in its
        // copy of the ring or live. No subscriber is not an error.
        let _ = self.live.send(event);
    }

    pub(crate) fn subscribe(&self) -> Subscription {
        let ring = self.ring();
        Subscription {
            recent: ring.events.iter().cloned().collect(),
            live: self.live.subscribe(),
        }
    }

    /// The events in the ring now, oldest first.
    pub(crate) fn recent(&self) -> Vec<Event> {
        self.ring().events.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_events_within_its_bounds() {
        let feed = Feed::default();
        for n in 0..RING_EVENTS + 5 {
            feed.publish(format!("{{\"n\":{n}}}"));
        }
        let recent = feed.recent();
        assert_eq!(recent.len(), RING_EVENTS);
        assert_eq!(&*recent[0], "{\"n\":5}");

        let feed = Feed::default();
        let big = "x".repeat(RING_BYTES / 4 + 1);
        for _ in 0..4 {
            feed.publish(big.clone());
        }
        assert_eq!(feed.recent().len(), 3, "four would pass the byte bound");
    }

    #[tokio::test]
    async fn a_subscriber_gets_the_ring_then_each_later_event_once() {
        let feed = Feed::default();
        feed.publish("a".into());
        let mut subscription = feed.subscribe();
        feed.publish("b".into());
        assert_eq!(subscription.recent, vec![Event::from("a")]);
        assert_eq!(subscription.live.recv().await.ok(), Some(Event::from("b")));
    }

    #[tokio::test]
    async fn a_slow_subscriber_skips_ahead_and_learns_how_much_it_missed() {
        let feed = Feed::default();
        let mut subscription = feed.subscribe();
        for n in 0..LIVE_BACKLOG + 10 {
            feed.publish(n.to_string());
        }
        match subscription.live.recv().await {
            Err(broadcast::error::RecvError::Lagged(missed)) => assert_eq!(missed, 10),
            other => panic!("expected a lag, got {other:?}"),
        }
        assert_eq!(subscription.live.recv().await.ok(), Some(Event::from("10")));
    }
}
