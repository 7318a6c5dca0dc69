//! The server's stop signal as long-lived waiters (WebSocket sessions) wait for it.
//!
//! Waiting on a `CancellationToken` registers with the token's waiter list and leaves it again
//! on every wait: a lock and a list update each way, about 7 % of a small message's echo round
//! trip (callgrind), since a session waits once per message. A [`StopWait`] instead files its
//! task's waker once (again only if the task's waker changes), and [`Stop::cancel`] wakes them
//! all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio_util::sync::CancellationToken;

/// A stop signal: a `CancellationToken` (for whatever waits on it directly) and the wakers of
/// the [`StopWait`]s filed with it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stop {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    token: CancellationToken,
    /// Set by [`Stop::cancel`]: the token's own flag sits behind a lock.
    stopped: AtomicBool,
    next_key: AtomicU64,
    wakers: Mutex<HashMap<u64, Waker>>,
}

impl Inner {
    fn wakers(&self) -> MutexGuard<'_, HashMap<u64, Waker>> {
        // A panic while holding the lock leaves the map consistent: each step is one insert,
        // remove or drain.
        self.wakers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Stop {
    /// The token, cancelled by [`Stop::cancel`].
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.inner.token
    }

    /// Cancels the token and wakes every waiter. Only this wakes the [`StopWait`]s: cancelling
    /// the token alone does not.
    pub(crate) fn cancel(&self) {
        self.inner.stopped.store(true, Ordering::Release);
        self.inner.token.cancel();
        let wakers = std::mem::take(&mut *self.inner.wakers());
        for waker in wakers.into_values() {
            waker.wake();
        }
    }

    /// A waiter for this signal; it files nothing until it is first polled.
    pub(crate) fn wait(&self) -> StopWait {
        StopWait {
            stop: self.clone(),
            key: self.inner.next_key.fetch_add(1, Ordering::Relaxed),
            filed: None,
        }
    }
}

/// One waiter of a [`Stop`], kept for as long as its owner waits again and again.
#[derive(Debug)]
pub(crate) struct StopWait {
    stop: Stop,
    key: u64,
    /// The waker filed with the signal, if any.
    filed: Option<Waker>,
}

impl StopWait {
    /// Whether the signal has been cancelled (without filing a waker).
    pub(crate) fn is_stopped(&self) -> bool {
        self.stop.inner.stopped.load(Ordering::Acquire)
    }

    /// Ready once the signal is cancelled; else the task is woken when it is.
    pub(crate) fn poll_stopped(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let stopped = &self.stop.inner.stopped;
        if stopped.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !self
            .filed
            .as_ref()
            .is_some_and(|filed| filed.will_wake(cx.waker()))
        {
            let waker = cx.waker().clone();
            self.stop.inner.wakers().insert(self.key, waker.clone());
            self.filed = Some(waker);
            // A cancel between the check above and the filing drained the map before this
            // waker was in it (the lock orders the flag before the drain).
            if stopped.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }

    /// Waits until the signal is cancelled.
    pub(crate) async fn stopped(&mut self) {
        std::future::poll_fn(|cx| self.poll_stopped(cx)).await;
    }
}

impl Drop for StopWait {
    fn drop(&mut self) {
        if self.filed.is_some() {
            self.stop.inner.wakers().remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancel_wakes_every_waiter_filed_before_it() {
        let stop = Stop::default();
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let mut wait = stop.wait();
            tasks.push(tokio::spawn(async move { wait.stopped().await }));
        }
        // Every task has run up to its wait and filed its waker.
        while stop.inner.wakers().len() < 3 {
            tokio::task::yield_now().await;
        }
        stop.cancel();
        for task in tasks {
            assert!(
                tokio::time::timeout(std::time::Duration::from_secs(5), task)
                    .await
                    .is_ok()
            );
        }
        assert!(stop.inner.wakers().is_empty());
    }

    #[tokio::test]
    async fn a_waiter_after_the_cancel_is_ready_at_once_and_a_dropped_one_leaves_no_waker() {
        let stop = Stop::default();
        let mut early = stop.wait();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(early.poll_stopped(&mut cx).is_pending());
        assert!(early.poll_stopped(&mut cx).is_pending());
        assert_eq!(stop.inner.wakers().len(), 1, "filed once for the same task");
        drop(early);
        assert!(stop.inner.wakers().is_empty());
        stop.cancel();
        assert!(stop.wait().poll_stopped(&mut cx).is_ready());
        assert!(stop.token().is_cancelled());
    }
}
