//! Group commit of the pipeline's writes (ingested messages, attempt outcomes), on two
//! threads of their own: the writer applies whatever has queued up as one batch; the
//! syncer makes all the batches applied so far durable with one flush and answers their
//! callers. While one sync runs, the next batches are applied, so the cost of a disk sync
//! is shared by all the writes that arrive during it, and no batch waits for a hand-over
//! to a pool thread.
//! Being the only writer of these keys is also what lets [`Database::apply`] do without a
//! transaction.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::messages::Write;
use super::queue::Queued;
use super::{Database, Result, StoreError};
use crate::model::DeliveryRecord;
use crate::store::{Claimed, Inserted, NewMessage};

/// Most writes applied in one batch.
const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<Option<Inserted>>>;

/// The handle the pipeline's writes go through.
pub(super) struct Committer {
    queue: mpsc::Sender<(Write, Reply)>,
}

impl Committer {
    /// Starts the writer and syncer threads.
    pub(super) fn start(store: Arc<Database>) -> Result<Committer> {
        let (queue, pending) = mpsc::channel(4 * MAX_BATCH);
        let (applied, to_sync) = std::sync::mpsc::channel();
        let syncer = store.clone();
        spawn("hookgate-syncer", move || sync_batches(&syncer, to_sync))?;
        spawn("hookgate-writer", move || write_batches(&store, pending, applied))?;
        Ok(Committer { queue })
    }

    /// Stores `message` durably (on disk when this returns `Ok`).
    pub(super) async fn append(&self, message: NewMessage) -> Result<Inserted> {
        self.write(Write::Message(message))
            .await?
            .ok_or_else(|| StoreError::Backend("the writer answered a message with no outcome".into()))
    }

    /// Records the outcome of an attempt durably, in place of its claimed queue entry.
    pub(super) async fn record(&self, claim: Claimed, delivery: DeliveryRecord) -> Result<()> {
        self.write(Write::Attempt { claimed: Queued::from(claim), delivery }).await.map(|_| ())
    }

    async fn write(&self, write: Write) -> Result<Option<Inserted>> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Backend("the store's writer has stopped".into());
        self.queue.send((write, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .map(drop)
        .map_err(|e| StoreError::Backend(format!("cannot start the store's thread {name}: {e}")))
}

/// A batch applied but not yet on disk: its callers and what became of their writes.
type Applied = (Vec<Reply>, Vec<Option<Inserted>>);

/// Applies batch after batch, each being whatever queued up meanwhile, and hands each to
/// the syncer: the next batch is applied while the previous one goes to disk.
fn write_batches(store: &Database, mut pending: mpsc::Receiver<(Write, Reply)>, applied: std::sync::mpsc::Sender<Applied>) {
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
        match store.apply(writes) {
            Ok(outcomes) => {
                if let Err(std::sync::mpsc::SendError((replies, _))) = applied.send((replies, outcomes)) {
                    fail(replies, &StoreError::Backend("the store's syncer has stopped".into()));
                }
            }
            Err(e) => fail(replies, &e),
        }
    }
}

/// Makes applied batches durable, all those waiting with one sync, then answers their callers.
fn sync_batches(store: &Database, to_sync: std::sync::mpsc::Receiver<Applied>) {
    while let Ok(first) = to_sync.recv() {
        let batches: Vec<Applied> = std::iter::once(first).chain(to_sync.try_iter()).collect();
        let synced = store.sync();
        for (replies, outcomes) in batches {
            match &synced {
                Ok(()) => answer(replies, outcomes),
                Err(e) => fail(replies, e),
            }
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
        let _ = reply.send(Err(StoreError::Backend(e.to_string())));
    }
}
