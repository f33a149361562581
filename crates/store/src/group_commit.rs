//! Group commit for SQLite ingest.
//!
//! SQLite has one writer, and each commit ends with an fsync of the WAL. Batches that arrive
//! while a commit is in flight wait in a queue; whoever takes the writer lock next writes
//! every waiting batch in one transaction, so they share one fsync and the index pages they
//! all touch are written to the WAL once. Each caller is still answered only after the
//! transaction holding its batch is durable, and a batch is never split across transactions.
//!
//! If the shared transaction fails (say one batch's idempotency key was stored meanwhile),
//! it is rolled back and each batch is retried in a transaction of its own, so a bad batch
//! fails alone.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::reads::{IngestOutcome, PreparedBatch, commit_batches};
use crate::{Store, StoreError};

/// At most this many reads go into one transaction: it bounds the wait of the batches
/// behind it. A batch larger than this still goes whole.
const MAX_GROUP_READS: usize = 10_000;

type Answer = oneshot::Sender<Result<IngestOutcome, StoreError>>;

/// Batches waiting for the writer, oldest first.
#[derive(Default)]
pub(crate) struct IngestQueue {
    waiting: Mutex<Vec<(PreparedBatch, Answer)>>,
}

impl std::fmt::Debug for IngestQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestQueue").finish_non_exhaustive()
    }
}

impl IngestQueue {
    /// Queues `batch` and returns once the transaction holding it has committed.
    ///
    /// Runs in a task of its own: if the caller is dropped (its client hung up), the batches
    /// it took on to commit are still committed and answered.
    pub(crate) async fn commit(
        self: Arc<Self>,
        store: Store,
        batch: PreparedBatch,
    ) -> Result<IngestOutcome, StoreError> {
        tokio::spawn(async move { self.queue_and_wait(&store, batch).await })
            .await
            .map_err(|e| StoreError::Internal(format!("the ingest task failed: {e}")))?
    }

    async fn queue_and_wait(
        &self,
        store: &Store,
        batch: PreparedBatch,
    ) -> Result<IngestOutcome, StoreError> {
        let (answer, mut answered) = oneshot::channel();
        self.lock_waiting().push((batch, answer));
        let lock = store
            .writer
            .clone()
            .ok_or_else(|| StoreError::Internal("group commit without a writer lock".into()))?;
        loop {
            tokio::select! {
                // Some other writer committed this batch.
                biased;
                done = &mut answered => {
                    return done.unwrap_or_else(|_| {
                        Err(StoreError::Internal("the commit holding this batch was abandoned".into()))
                    });
                }
                // This writer's turn: commit what waits (this batch, unless a writer before
                // took it; then its answer is ready and the loop returns it).
                guard = lock.clone().lock_owned() => {
                    let group = self.take_group();
                    if !group.is_empty() {
                        commit_group(store, group).await;
                    }
                    drop(guard);
                }
            }
        }
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Vec<(PreparedBatch, Answer)>> {
        // A panic while holding this lock leaves the queue consistent (push and drain only).
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The oldest waiting batches, up to [`MAX_GROUP_READS`] reads (at least one batch).
    fn take_group(&self) -> Vec<(PreparedBatch, Answer)> {
        let mut waiting = self.lock_waiting();
        let (mut n, mut reads) = (0, 0);
        for (batch, _) in waiting.iter() {
            if n > 0 && reads + batch.read_count() > MAX_GROUP_READS {
                break;
            }
            n += 1;
            reads += batch.read_count();
        }
        waiting.drain(..n).collect()
    }
}

/// Commits `group` in one transaction and answers each batch; if that fails, commits each
/// batch alone. The caller holds the writer lock.
async fn commit_group(store: &Store, group: Vec<(PreparedBatch, Answer)>) {
    let batches: Vec<&PreparedBatch> = group.iter().map(|(b, _)| b).collect();
    match commit_locked(store, &batches).await {
        Ok(outcomes) => {
            for ((_, answer), outcome) in group.into_iter().zip(outcomes) {
                // The caller may have gone; its batch is stored all the same.
                let _ = answer.send(Ok(outcome));
            }
        }
        Err(e) if group.len() == 1 => {
            if let Some((_, answer)) = group.into_iter().next() {
                let _ = answer.send(Err(e));
            }
        }
        Err(_) => {
            for (batch, answer) in group {
                let alone = commit_locked(store, &[&batch])
                    .await
                    .map(|mut outcomes| outcomes.remove(0));
                let _ = answer.send(alone);
            }
        }
    }
}

async fn commit_locked(
    store: &Store,
    batches: &[&PreparedBatch],
) -> Result<Vec<IngestOutcome>, StoreError> {
    commit_batches(store.begin_locked().await?, store.backend(), batches).await
}
