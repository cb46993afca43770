//! Group commit of the pipeline's writes (ingested messages, attempt outcomes): one thread
//! applies whatever has queued up as one batch and makes it durable with one flush, then
//! answers every waiting caller. While a flush runs, the next batch gathers, so the cost
//! of a disk sync is shared by all the writes that arrive during it.
//! Being the only writer of these keys is also what lets [`Store::apply`] do without a
//! transaction.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{Inserted, NewMessage, QueueEntry, Result, Store, StoreError, Write};
use crate::model::DeliveryRecord;

/// Most writes applied in one batch.
const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<Option<Inserted>>>;

/// The handle ingests and delivery workers write through.
pub struct Committer {
    queue: mpsc::Sender<(Write, Reply)>,
}

impl Committer {
    /// Starts the writer thread.
    pub fn start(store: Arc<Store>) -> Result<Committer> {
        let (queue, pending) = mpsc::channel(4 * MAX_BATCH);
        std::thread::Builder::new()
            .name("hookgate-writer".into())
            .spawn(move || write_batches(&store, pending))
            .map_err(|e| StoreError::Commit(format!("cannot start the store's writer: {e}")))?;
        Ok(Committer { queue })
    }

    /// Stores `message` durably (on disk when this returns `Ok`).
    pub async fn commit(&self, message: NewMessage) -> Result<Inserted> {
        self.write(Write::Message(message))
            .await?
            .ok_or_else(|| StoreError::Commit("the writer answered a message with no outcome".into()))
    }

    /// Records the outcome of an attempt durably, in place of its claimed queue entry.
    pub async fn record(&self, claimed: QueueEntry, delivery: DeliveryRecord) -> Result<()> {
        self.write(Write::Attempt { claimed, delivery }).await.map(|_| ())
    }

    async fn write(&self, write: Write) -> Result<Option<Inserted>> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Commit("the store's writer has stopped".into());
        self.queue.send((write, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Applies and flushes batch after batch, each batch being whatever queued up while the
/// previous one was written: the more writes arrive, the more share one disk sync. A
/// thread of its own, so that a batch costs no hand-over between threads.
fn write_batches(store: &Store, mut pending: mpsc::Receiver<(Write, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = pending.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match pending.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let (writes, replies): (Vec<Write>, Vec<Reply>) = batch.drain(..).unzip();
        match store.apply(writes).and_then(|outcomes| store.sync().map(|()| outcomes)) {
            Ok(outcomes) => answer(replies, outcomes),
            Err(e) => fail(replies, &e),
        }
    }
}

fn answer(replies: Vec<Reply>, outcomes: Vec<Option<Inserted>>) {
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        let _ = reply.send(Ok(outcome));
    }
}

fn fail(replies: Vec<Reply>, e: &StoreError) {
    tracing::error!("group commit of {} writes failed: {e}", replies.len());
    for reply in replies {
        let _ = reply.send(Err(StoreError::Commit(e.to_string())));
    }
}
