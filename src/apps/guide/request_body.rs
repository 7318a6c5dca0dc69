//! Reading a request body: at most `--max-body` bytes, within `--body-timeout`, and only while
//! the server-wide budget for buffered bodies (`--max-body-memory`) has room, so that memory
//! stays bounded however many clients upload at once.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http::header::CONTENT_LENGTH;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::server::diagnose;

/// Errors a request body stream can produce.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The budget is kept in units of this many bytes (a semaphore counts permits in `u32`s).
const UNIT: usize = 1024;
/// Memory set aside for a body before its bytes arrive, whatever its declared length.
const INITIAL_CAPACITY: usize = 64 * 1024;

/// Bytes of request bodies the server holds at once, across all connections.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    units: Arc<Semaphore>,
    bytes: usize,
}

impl BodyBudget {
    /// Room for `bytes` (rounded up to whole KiB).
    pub fn new(bytes: usize) -> Self {
        let units = bytes.div_ceil(UNIT).min(Semaphore::MAX_PERMITS);
        Self {
            units: Arc::new(Semaphore::new(units)),
            bytes,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether `bytes` more would fit now (nothing is reserved).
    fn has_room(&self, bytes: usize) -> bool {
        self.units.available_permits() >= bytes.div_ceil(UNIT)
    }
}

/// A body's share of the budget, grown as its bytes arrive and returned when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: BodyBudget,
    permit: Option<OwnedSemaphorePermit>,
    units: usize,
}

impl Reservation {
    fn new(budget: &BodyBudget) -> Self {
        Self {
            budget: budget.clone(),
            permit: None,
            units: 0,
        }
    }

    /// Makes sure `bytes` are covered; `false` when the budget has no room now.
    fn cover(&mut self, bytes: usize) -> bool {
        let wanted = bytes.div_ceil(UNIT);
        if wanted <= self.units {
            return true;
        }
        let Ok(more) = u32::try_from(wanted - self.units) else {
            return false;
        };
        match Arc::clone(&self.budget.units).try_acquire_many_owned(more) {
            Ok(permit) => {
                match &mut self.permit {
                    Some(held) => held.merge(permit),
                    None => self.permit = Some(permit),
                }
                self.units = wanted;
                true
            }
            Err(_) => false,
        }
    }
}

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Over `--max-body`: 413.
    TooLarge,
    /// Not complete within `--body-timeout`: 408.
    TimedOut,
    /// The server-wide budget has no room for it now: 503.
    Busy,
    /// Broken framing: 400.
    /// The body's framing broke (hyper's words).
    Invalid(String),
}

/// The whole body, at most `limit` bytes, within `timeout`, covered by `budget` while it is
/// held. A `content-length` over the limit is refused before reading anything, and so is one
/// the budget has no room for now.
pub(crate) async fn read<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
    timeout: Duration,
    budget: &BodyBudget,
) -> Result<(Bytes, Reservation), BodyError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    // hyper has already refused a malformed or repeated content-length.
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let declared = declared.map_or(0, |length| usize::try_from(length).unwrap_or(limit));
    // A length that does not fit now is refused at once; what fits is reserved only as it
    // arrives, so headers that promise bodies never sent cannot hold the budget.
    if !budget.has_room(declared) {
        return Err(BodyError::Busy);
    }
    let mut reservation = Reservation::new(budget);
    let collect = async {
        let mut body = std::pin::pin!(body);
        let mut bytes = BytesMut::with_capacity(declared.min(INITIAL_CAPACITY));
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|err| BodyError::Invalid(diagnose::error_chain(&*err.into())))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            let total = bytes.len() + data.len();
            if total > limit {
                return Err(BodyError::TooLarge);
            }
            if !reservation.cover(total) {
                return Err(BodyError::Busy);
            }
            bytes.extend_from_slice(&data);
        }
        Ok(bytes.freeze())
    };
    match tokio::time::timeout(timeout, collect).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(bytes)) => Ok((bytes, reservation)),
        Ok(Err(err)) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn headers(length: usize) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, length.into());
        headers
    }

    #[tokio::test]
    async fn bodies_share_the_budget_and_give_it_back() {
        let budget = BodyBudget::new(4096);
        let body = |n: usize| Full::new(Bytes::from(vec![b'x'; n]));
        let limit = 1 << 20;
        let timeout = Duration::from_secs(1);
        let first = read(&headers(3000), body(3000), limit, timeout, &budget).await;
        let (bytes, held) = first.unwrap_or_else(|err| panic!("{err:?}"));
        assert_eq!(bytes.len(), 3000);
        // 3 KiB of 4 are held: 2 KiB more do not fit, declared or not.
        let second = read(&headers(2048), body(2048), limit, timeout, &budget).await;
        assert_eq!(second.err(), Some(BodyError::Busy));
        let undeclared = read(&HeaderMap::new(), body(2048), limit, timeout, &budget).await;
        assert_eq!(undeclared.err(), Some(BodyError::Busy));
        drop(held);
        let third = read(&headers(4096), body(4096), limit, timeout, &budget).await;
        assert!(third.is_ok());
    }

    #[tokio::test]
    async fn the_limit_counts_bytes_as_they_arrive() {
        let budget = BodyBudget::new(1 << 20);
        let body = Full::new(Bytes::from(vec![b'x'; 101]));
        let read = read(
            &HeaderMap::new(),
            body,
            100,
            Duration::from_secs(1),
            &budget,
        )
        .await;
        assert_eq!(read.err(), Some(BodyError::TooLarge));
    }
}
