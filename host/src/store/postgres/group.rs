//! Group commit: writes that each wait for their commit are gathered into one transaction.
//! Committing each alone would cost a WAL flush each; a [`Group`] instead has a few
//! committers, each taking every write waiting when it starts a transaction (up to a
//! limit), so one group is written while the next gathers.

use std::future::Future;
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

use crate::store::{Result, StoreError};

type Job<J, O> = (J, oneshot::Sender<Result<O>>);

/// Committers of writes `J`, each answered with an `O`; they stop when this is dropped.
pub(super) struct Group<J, O> {
    sender: mpsc::Sender<Job<J, O>>,
    tasks: Vec<JoinHandle<()>>,
}

impl<J, O> Drop for Group<J, O> {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

impl<J: Send + 'static, O: Send + 'static> Group<J, O> {
    /// `committers` tasks, each committing up to `max_group` writes with `commit`, which
    /// answers each write of the group in order.
    pub(super) fn start<F, Fut>(pool: Pool, committers: usize, max_group: usize, commit: F) -> Group<J, O>
    where
        F: Fn(Pool, Vec<J>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<O>>> + Send,
    {
        let (sender, receiver) = mpsc::channel::<Job<J, O>>(4 * max_group);
        // Shared: whichever committer is free gathers the next group.
        let receiver = Arc::new(Mutex::new(receiver));
        let tasks = (0..committers)
            .map(|_| {
                let (pool, receiver, commit) = (pool.clone(), receiver.clone(), commit.clone());
                tokio::spawn(async move {
                    while let Some(group) = gather(&receiver, max_group).await {
                        let (writes, answers): (Vec<J>, Vec<_>) = group.into_iter().unzip();
                        let count = answers.len();
                        match commit(pool.clone(), writes).await {
                            Ok(outcomes) => answers.into_iter().zip(outcomes).for_each(|(answer, outcome)| {
                                let _ = answer.send(Ok(outcome));
                            }),
                            Err(e) => {
                                tracing::error!("cannot commit {count} writes: {e}");
                                let reason = e.to_string();
                                for answer in answers {
                                    let _ = answer.send(Err(StoreError::Backend(reason.clone())));
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        Group { sender, tasks }
    }

    /// Queues a write and waits for its group's commit.
    pub(super) async fn submit(&self, write: J) -> Result<O> {
        let (answer, answered) = oneshot::channel();
        let stopped = || StoreError::Backend("the store is closing".into());
        self.sender.send((write, answer)).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// Waits for a write, then takes those already waiting behind it.
async fn gather<T>(receiver: &Mutex<mpsc::Receiver<T>>, max_group: usize) -> Option<Vec<T>> {
    let mut receiver = receiver.lock().await;
    let mut group = vec![receiver.recv().await?];
    while group.len() < max_group {
        match receiver.try_recv() {
            Ok(next) => group.push(next),
            Err(_) => break,
        }
    }
    Some(group)
}
