//! Polling a timer only when it may have fired.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::time::Sleep;

/// Polls `sleep` on behalf of a task that polls it again on every wake of its own (a
/// connection's loop, a WebSocket's `recv`). A `Sleep` polled once wakes its task when it
/// fires, so later polls from the same task (`polled_by`) only ask whether it has: polling
/// files the waker again, about 100 instructions per request or message (callgrind).
/// `polled_by` starts as `None` and goes back to `None` whenever the sleep is reset.
pub(crate) fn poll_sleep(
    sleep: Pin<&mut Sleep>,
    polled_by: &mut Option<Waker>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if polled_by
        .as_ref()
        .is_some_and(|waker| waker.will_wake(cx.waker()))
        && !sleep.is_elapsed()
    {
        return Poll::Pending;
    }
    let polled = sleep.poll(cx);
    *polled_by = polled.is_pending().then(|| cx.waker().clone());
    polled
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Polled once, then woken for something else and asked again (the short way, no real
    /// poll), the sleep still wakes its task when it fires, and reads as fired then.
    #[tokio::test(start_paused = true)]
    async fn a_sleep_asked_the_short_way_still_fires_for_its_task() {
        let sleep = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(sleep);
        let mut polled_by = None;
        let mut polls = 0;
        let fired = std::future::poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                // Another source wakes the task at once, before the timer.
                cx.waker().wake_by_ref();
            }
            poll_sleep(sleep.as_mut(), &mut polled_by, cx)
        });
        let started = tokio::time::Instant::now();
        fired.await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        // The real poll, the short way after the other wake, the poll once it fired.
        assert_eq!(polls, 3);
    }

    /// A poll from another task is a real one: that task is the one woken.
    #[tokio::test(start_paused = true)]
    async fn a_sleep_asked_by_another_task_files_that_tasks_waker() {
        let mut sleep = Box::pin(tokio::time::sleep(Duration::from_secs(5)));
        let mut polled_by = None;
        // Polled once from a task that then goes away.
        let first = std::future::poll_fn(|cx| {
            let _ = poll_sleep(sleep.as_mut(), &mut polled_by, cx);
            Poll::Ready(())
        });
        first.await;
        let started = tokio::time::Instant::now();
        let waited = tokio::spawn(async move {
            std::future::poll_fn(|cx| poll_sleep(sleep.as_mut(), &mut polled_by, cx)).await;
        });
        // Were the first task's waker kept, this one would wait for ever.
        let ended = tokio::time::timeout(Duration::from_secs(60), waited).await;
        assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }
}
