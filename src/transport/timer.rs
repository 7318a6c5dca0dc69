//! Where a connection's long timers live, and polling a timer only when it may have fired.

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::{Instant, Sleep};

/// Where the timers that outlive a request are kept: a connection's keep-alive and head
/// timeouts, a WebSocket's ping and idle deadlines.
///
/// On a worker's own runtime, such a timer (almost always pending: one per open connection)
/// makes every park of the worker read the clock once more and park with a timeout instead of
/// without: about 200 instructions per park, a WebSocket echo round trip 3,895 -> 3,689 and a
/// `GET /status` 10,406 -> 10,201 (callgrind, one connection). On a thread of their own, the
/// workers' wheels are empty between the short timers, and a firing timer wakes its task
/// from there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Timers {
    /// The runtime of the task that makes the timer (on a paused clock in tests).
    #[default]
    Caller,
    /// The process's timer thread (one byte: every WebSocket keeps its choice).
    Thread,
}

/// The timer thread's runtime, once started (`None`: it could not be).
static THREAD: OnceLock<Option<Handle>> = OnceLock::new();

impl Timers {
    /// On the process's timer thread, started on first use; on the caller's runtime (with a
    /// warning) if no thread can be started.
    pub(crate) fn own_thread() -> Self {
        let thread = THREAD.get_or_init(|| match start_thread() {
            Ok(handle) => Some(handle),
            Err(err) => {
                tracing::warn!(
                    "cannot start the timer thread ({err}); connection timers run on the workers"
                );
                None
            }
        });
        match thread {
            Some(_) => Self::Thread,
            None => Self::Caller,
        }
    }

    /// A timer that fires at `deadline` (an instant of the caller's clock).
    pub(crate) fn sleep_until(self, deadline: Instant) -> Sleep {
        match (self, THREAD.get()) {
            // A timer belongs to the runtime current when it is made, and may be polled from
            // any task.
            (Self::Thread, Some(Some(thread))) => {
                let _entered = thread.enter();
                tokio::time::sleep_until(deadline)
            }
            _ => tokio::time::sleep_until(deadline),
        }
    }

    /// A timer that fires after `duration`.
    pub(crate) fn sleep(self, duration: Duration) -> Sleep {
        let now = Instant::now();
        // As `tokio::time::sleep`: a duration past any clock is a timer that never fires.
        let far_future = Duration::from_secs(30 * 365 * 86_400);
        self.sleep_until(
            now.checked_add(duration)
                .unwrap_or_else(|| now + far_future),
        )
    }
}

/// A runtime with a time driver only, on a thread that runs it for the life of the process: a
/// timer polled after its runtime shut down would panic, so it never does.
fn start_thread() -> std::io::Result<Handle> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("duplex-timers".to_owned())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    Ok(handle)
}

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

    /// A timer of the timer thread is not in the caller's wheel: a paused clock, which jumps to
    /// its own next timer whenever its runtime is idle, stays where it is, and the timer fires
    /// in real time and wakes the task on the other runtime.
    #[tokio::test(start_paused = true)]
    async fn a_timer_of_the_timer_thread_wakes_a_task_of_another_runtime() {
        let paused_at = Instant::now();
        let started = std::time::Instant::now();
        Timers::own_thread().sleep(Duration::from_millis(30)).await;
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(Instant::now(), paused_at);
    }

    /// The default timers are the caller's: on a paused clock a long sleep passes at once.
    #[tokio::test(start_paused = true)]
    async fn default_timers_run_on_the_callers_clock() {
        let paused_at = Instant::now();
        let started = std::time::Instant::now();
        Timers::default().sleep(Duration::from_secs(3600)).await;
        assert_eq!(Instant::now() - paused_at, Duration::from_secs(3600));
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    /// A timeout too long for the clock (`--keep-alive-timeout 1e19`) never fires, and makes no
    /// panic on either kind of timers.
    #[tokio::test(start_paused = true)]
    async fn a_duration_past_any_clock_never_fires() {
        for timers in [Timers::default(), Timers::own_thread()] {
            let sleep = timers.sleep(Duration::MAX);
            tokio::pin!(sleep);
            let fired = tokio::time::timeout(Duration::from_secs(86_400 * 365), sleep).await;
            assert!(fired.is_err());
        }
    }

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
