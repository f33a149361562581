//! A cap on image recognitions at once, with a short queue: a decoded image and the models'
//! working memory cost hundreds of megabytes, so uploads beyond the queue are answered 503
//! with `Retry-After` rather than all decoded together.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Seconds a client is told to wait when the queue is full.
pub const RETRY_AFTER_SECS: u64 = 2;

#[derive(Debug)]
pub struct RecognitionQueue {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// A place among the running recognitions; the next waiting one starts when it drops.
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

impl RecognitionQueue {
    /// `at_once` recognitions run together (at least one); `queue` more may wait.
    pub fn new(at_once: usize, queue: usize) -> Self {
        RecognitionQueue {
            running: Arc::new(Semaphore::new(at_once.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting: queue,
        }
    }

    /// Waits for a place, or refuses at once (503, `Retry-After`) when the queue is full.
    pub async fn enter(&self) -> Result<Slot, ApiError> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(Slot(permit));
        }
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        if before >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError {
                retry_after_secs: Some(RETRY_AFTER_SECS),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "recognition_busy",
                    format!(
                        "too many images are being read now ({} waiting); send this one again in {RETRY_AFTER_SECS} s",
                        self.max_waiting
                    ),
                )
            });
        }
        let permit = self.running.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit
            .map(Slot)
            .map_err(|_| ApiError::internal("the recognition queue is closed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn beyond_the_queue_is_refused_with_a_wait() {
        let q = Arc::new(RecognitionQueue::new(1, 1));
        let first = q.enter().await.unwrap();
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.enter().await.map(|_| ()) }
        });
        while q.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        let err = q.enter().await.err().unwrap();
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.retry_after_secs, Some(RETRY_AFTER_SECS));
        drop(first);
        waiter.await.unwrap().unwrap();
        assert!(q.enter().await.is_ok());
    }
}
