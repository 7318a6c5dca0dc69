//! What ties a connection to the server for its whole life, also after hyper lets go of it.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;
use tokio_util::task::TaskTracker;

use super::log::{ConnLabel, Log};
use crate::transport::stop::Stop;

/// The tasks of a running server (connections and WebSocket sessions) and the signal that
/// tells them to finish.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tasks {
    pub(crate) tracker: TaskTracker,
    pub(crate) stop: Stop,
}

/// A connection's hold on the server: one of the `--max-connections` places, and the server's
/// task set with its stop signal. Whatever takes the connection over (an upgraded WebSocket
/// session) takes a clone along, so the place stays taken and shutdown still reaches it.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionGuard {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    _slot: OwnedSemaphorePermit,
    tasks: Tasks,
    /// Told when the connection is gone (the last clone dropped), when traced.
    close: OnceLock<(Log, ConnLabel, Instant)>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some((log, label, opened)) = self.close.take() {
            log.closed(&label, opened.elapsed());
        }
    }
}

impl ConnectionGuard {
    pub(crate) fn new(slot: OwnedSemaphorePermit, tasks: Tasks) -> Self {
        Self {
            inner: Arc::new(Inner {
                _slot: slot,
                tasks,
                close: OnceLock::new(),
            }),
        }
    }

    /// A guard of no server, for driving handlers in-process.
    #[cfg(test)]
    pub(crate) fn detached() -> Self {
        let slots = Arc::new(tokio::sync::Semaphore::new(1));
        match slots.try_acquire_owned() {
            Ok(slot) => Self::new(slot, Tasks::default()),
            Err(_) => unreachable!("a fresh semaphore has its permit"),
        }
    }

    /// Has `log` trace the connection's end, whoever holds it last (hyper, or the session it
    /// was handed to).
    pub(crate) fn on_close(&self, log: Log, label: ConnLabel, opened: Instant) {
        let _ = self.inner.close.set((log, label, opened));
    }

    /// Whether a clone lives elsewhere (a WebSocket session took the connection over).
    pub(crate) fn is_handed_on(&self) -> bool {
        Arc::strong_count(&self.inner) > 1
    }

    /// Cancelled when the server starts shutting down.
    pub(crate) fn stop(&self) -> Stop {
        self.inner.tasks.stop.clone()
    }

    /// Runs `task` as part of the server, holding this connection's place: shutdown waits for
    /// it, up to the deadline.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let guard = self.clone();
        self.inner.tasks.tracker.spawn(async move {
            let _guard = guard;
            task.await;
        });
    }
}
