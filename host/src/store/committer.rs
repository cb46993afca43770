//! Group commit of ingested messages: one task writes whatever has queued up in one
//! transaction and makes it durable with one flush, then answers every waiting ingest.
//! While a flush runs, the next batch gathers, so the cost of a disk sync is shared by all
//! the ingests that arrive during it (the store's log syncs once per flush, however small).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{Inserted, NewMessage, Result, Store, StoreError};

/// Most messages written in one transaction.
const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<Inserted>>;

/// The handle ingests commit through; cheap to share.
pub struct Committer {
    queue: mpsc::Sender<(NewMessage, Reply)>,
}

impl Committer {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(store: Arc<Store>) -> Committer {
        let (queue, pending) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(write_batches(store, pending));
        Committer { queue }
    }

    /// Stores `message` durably (on disk when this returns `Ok`).
    pub async fn commit(&self, message: NewMessage) -> Result<Inserted> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Commit("the store's writer has stopped".into());
        self.queue.send((message, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write_batches(store: Arc<Store>, mut pending: mpsc::Receiver<(NewMessage, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (messages, replies): (Vec<NewMessage>, Vec<Reply>) = batch.drain(..).unzip();
        let writer = store.clone();
        let written = tokio::task::spawn_blocking(move || writer.insert_messages(&messages))
            .await
            .unwrap_or_else(|e| Err(StoreError::Commit(format!("the write failed: {e}"))));
        let durable = match written {
            Ok(outcomes) => store.flush().await.map(|()| outcomes),
            Err(e) => Err(e),
        };
        match durable {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!("group commit of {} messages failed: {e}", replies.len());
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Commit(e.to_string())));
                }
            }
        }
    }
}
