//! The sled backend: the store in an embedded sled database that one process owns. This
//! is the only module that knows sled.
//!
//! Trees and their keys:
//! - `components`: name -> [`ComponentEntry`](crate::model::ComponentEntry) (JSON); `wasm`: sha256 -> bytes;
//!   `artifacts`: `{sha256}:{engine hash}` -> compiled code
//! - `events`: event id -> [`EventConfig`](crate::model::EventConfig) (JSON)
//! - `messages`: message id -> the [`MessageRecord`](crate::model::MessageRecord), the
//!   deliveries as ingest made them, and the raw body, in one value (`messages.rs`)
//! - `by_event`: `{event id}\0{first message id}` -> the ids of one batch's messages of that event
//! - `deliveries`: `{message id}/{target id}` -> [`DeliveryRecord`](crate::model::DeliveryRecord),
//!   once the delivery changed after ingest
//! - `failed`: message id -> (), every message with a delivery that failed at some point: the
//!   index of the delivery log's `status=failed` (a superset: a manual retry may have
//!   delivered it since)
//! - `idempotency`: idempotency key -> the message id it created
//! - `queue`: due time (u64 big-endian ms) ++ delivery key -> event id (then NUL and the
//!   ordering key, if any), the pending deliveries after their first attempt and the failed
//!   ones that hold their ordering key; mirrored in memory by lane (`queue.rs`)
//! - `arrivals`: group number (u64 big-endian) -> ids of new messages whose first attempts
//!   are not all recorded (`arrivals.rs`)
//!
//! Message ids are time-ordered and handed out by the writer in the order it stores
//! messages, so every tree keyed by them iterates oldest first and grows at its end.
//!
//! Durability: sled writes reach the disk when the database is flushed. The pipeline's
//! writes (appends, attempt outcomes) go through the group-commit writer (`committer.rs`),
//! which shares one flush among many; the admin API's writes flush on their own.
//!
//! Claims: the process owns the queue, so a claim is a mark in the in-memory mirror, held
//! until it is recorded or released (its lease never expires); a restart finds every entry
//! of the trees unclaimed, which is how the claims of a crashed process are recovered.

mod arrivals;
mod backup;
mod committer;
mod components;
mod events;
mod messages;
mod queue;
mod upgrade;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{
    Claim, Claimed, Cluster, ComponentUpload, ConfigStore, NodeInfo, NodeSeen, DeliveryQueue, Inserted, Lane, MessageLog, MessageQuery, NewMessage,
    Result, Store, StoreError,
};
use crate::model::{ComponentEntry, ComponentVersion, DeliveryRecord, EventConfig, MessageRecord};
use committer::Committer;

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => e.into(),
        }
    }
}

/// The sled backend: the database, and the writer that commits the pipeline's writes.
pub struct SledStore {
    db: Arc<Database>,
    committer: Committer,
    /// The gateway that owns the database, once it said so.
    node: std::sync::Mutex<Option<NodeSeen>>,
}

impl SledStore {
    /// Opens (or creates) the database in `dir` and starts its writer.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<SledStore> {
        let db = Arc::new(Database::open(dir, cache_bytes)?);
        Ok(SledStore { committer: Committer::start(db.clone())?, db, node: std::sync::Mutex::new(None) })
    }

    /// Runs `write`, then makes it durable.
    async fn durably<T>(&self, write: impl FnOnce(&Database) -> Result<T>) -> Result<T> {
        let written = {
            let _writing = self.db.writing();
            write(&self.db)?
        };
        self.db.clone().flush().await?;
        Ok(written)
    }
}

#[async_trait]
impl Store for SledStore {
    async fn size_bytes(&self) -> Result<u64> {
        Ok(self.db.db.size_on_disk()?)
    }

    async fn close(&self) -> Result<()> {
        self.db.clone().flush().await
    }

    fn shared(&self) -> bool {
        false
    }

    fn backup(&self, out: &mut dyn std::io::Write) -> Result<u64> {
        self.db.backup(out)
    }
}

/// Makes a new embedded store in `dir` from a backup file; returns its number of entries.
pub fn restore(file: &Path, dir: &Path) -> Result<u64> {
    backup::restore(file, dir)
}

/// One process owns the database, so the cluster is that process, known from memory.
#[async_trait]
impl Cluster for SledStore {
    async fn heartbeat(&self, node: &NodeInfo) -> Result<()> {
        let seen = NodeSeen { node: node.clone(), last_seen_at_ms: crate::model::now_ms() };
        *self.node.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(seen);
        Ok(())
    }

    async fn nodes(&self) -> Result<Vec<NodeSeen>> {
        Ok(self.node.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect())
    }
}

#[async_trait]
impl ConfigStore for SledStore {
    fn event(&self, id: &str) -> Option<Arc<EventConfig>> {
        self.db.event(id)
    }

    fn events(&self) -> Vec<(String, Arc<EventConfig>)> {
        self.db.events()
    }

    async fn put_event(&self, id: &str, config: &EventConfig) -> Result<bool> {
        self.durably(|db| db.put_event(id, config)).await
    }

    async fn delete_event(&self, id: &str) -> Result<bool> {
        self.durably(|db| db.delete_event(id)).await
    }

    fn component(&self, name: &str) -> Result<Option<ComponentEntry>> {
        self.db.component(name)
    }

    fn components(&self) -> Result<Vec<ComponentEntry>> {
        self.db.components()
    }

    fn add_component_version(&self, upload: &ComponentUpload<'_>) -> Result<ComponentVersion> {
        let version = {
            let _writing = self.db.writing();
            self.db.add_component_version(upload)?
        };
        self.db.sync()?;
        Ok(version)
    }

    async fn delete_component(&self, name: &str) -> Result<bool> {
        self.durably(|db| db.delete_component(name)).await
    }

    fn wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        self.db.wasm(sha256)
    }

    fn artifact(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.db.artifact(key)
    }

    fn put_artifact(&self, key: &str, artifact: &[u8]) -> Result<()> {
        self.db.put_artifact(key, artifact)
    }
}

#[async_trait]
impl MessageLog for SledStore {
    async fn append(&self, message: NewMessage) -> Result<Inserted> {
        self.committer.append(message).await
    }

    async fn message(&self, id: &str) -> Result<Option<MessageRecord>> {
        self.db.message(id)
    }

    async fn message_with_body(&self, id: &str) -> Result<Option<(MessageRecord, bytes::Bytes)>> {
        self.db.message_with_body(id)
    }

    async fn deliveries_of(&self, message_id: &str) -> Result<Vec<DeliveryRecord>> {
        self.db.deliveries_of(message_id)
    }

    async fn delivery(&self, key: &str) -> Result<Option<DeliveryRecord>> {
        self.db.delivery(key)
    }

    async fn message_ids(&self, query: &MessageQuery, limit: usize) -> Result<Vec<String>> {
        self.db.message_ids(query, limit)
    }

    /// On the blocking pool: a batch deletes thousands of keys.
    async fn prune_settled_before(&self, cutoff_id: &str, limit: usize) -> Result<usize> {
        let (db, cutoff_id) = (self.db.clone(), cutoff_id.to_string());
        tokio::task::spawn_blocking(move || {
            let _writing = db.writing();
            db.prune_settled_before(&cutoff_id, limit)
        })
            .await
            .map_err(|e| StoreError::Backend(format!("the prune did not run: {e}")))?
    }

    /// Counts the tree: sled keeps no count, and one kept beside it could not be updated
    /// in the same write as the messages without a transaction.
    async fn message_count(&self) -> Result<usize> {
        Ok(self.db.messages.len())
    }
}

#[async_trait]
impl DeliveryQueue for SledStore {
    async fn lanes(&self) -> Result<Vec<(Lane, u64)>> {
        Ok(self.db.queue_lanes())
    }

    async fn claim_due(&self, lane: &Lane, now_ms: u64) -> Result<Claim> {
        Ok(self.db.claim_due(lane, now_ms))
    }

    async fn record(&self, claim: Claimed, delivery: DeliveryRecord) -> Result<()> {
        self.committer.record(claim, delivery).await
    }

    async fn release(&self, claim: Claimed) -> Result<()> {
        self.db.unclaim(claim);
        Ok(())
    }

    async fn discard(&self, claim: Claimed) -> Result<()> {
        let _writing = self.db.writing();
        self.db.drop_queue_entry(claim)
    }

    async fn requeue_failed(&self, message_id: &str, target: Option<&str>, now_ms: u64) -> Result<usize> {
        self.durably(|db| db.requeue_failed(message_id, target, now_ms)).await
    }

    async fn skip_held(&self, message_id: &str, target: &str, note: &str) -> Result<bool> {
        self.durably(|db| db.skip_held(message_id, target, note)).await
    }

    async fn pending_count(&self) -> Result<usize> {
        Ok(self.db.queue_len())
    }

    async fn oldest_pending_message(&self) -> Result<Option<String>> {
        Ok(self.db.oldest_pending_message())
    }
}

/// The trees, and what is mirrored of them in memory.
struct Database {
    db: sled::Db,
    components: sled::Tree,
    wasm: sled::Tree,
    artifacts: sled::Tree,
    events: sled::Tree,
    messages: sled::Tree,
    by_event: sled::Tree,
    deliveries: sled::Tree,
    queue: sled::Tree,
    arrivals_tree: sled::Tree,
    failed: sled::Tree,
    idempotency: sled::Tree,
    queue_index: queue::QueueIndex,
    arrivals: arrivals::Arrivals,
    event_cache: events::EventCache,
    /// sled's log file. sled makes a flush stable with `sync_file_range`, which leaves the
    /// file's metadata and the drive's cache unsynced; a 202 promises more, so every flush
    /// ends with an `fdatasync` of the log (through this handle: it syncs the file, whoever
    /// wrote it).
    log_file: std::fs::File,
    /// Taken to share by every write of the trees, and whole by a backup, which so sees the
    /// store at one moment. The writes are already one at a time (one writer thread) or
    /// rare (the admin API's): sharing a lock that is almost never taken whole costs them
    /// next to nothing.
    writes: std::sync::RwLock<()>,
}

impl Database {
    /// Opens (or creates) the database in `dir`, with at most `cache_bytes` of page cache.
    fn open(dir: &Path, cache_bytes: u64) -> Result<Database> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| StoreError::Open { path: dir.display().to_string(), reason: e.to_string() })?;
        Self::check_not_lost(&db, dir)?;
        let tree = |name: &str| db.open_tree(name);
        let events = tree("events")?;
        let (messages, by_event, deliveries, failed) =
            (tree("messages")?, tree("by_event")?, tree("deliveries")?, tree("failed")?);
        upgrade::upgrade(&db, &messages, &by_event)?;
        upgrade::index_failed(&db, &deliveries, &failed)?;
        let store = Database {
            event_cache: events::EventCache::load(&events)?,
            components: tree("components")?,
            wasm: tree("wasm")?,
            artifacts: tree("artifacts")?,
            events,
            messages,
            by_event,
            deliveries,
            queue: tree("queue")?,
            arrivals_tree: tree("arrivals")?,
            failed,
            idempotency: tree("idempotency")?,
            queue_index: queue::QueueIndex::default(),
            arrivals: arrivals::Arrivals::default(),
            log_file: Self::open_log(dir)?,
            writes: std::sync::RwLock::default(),
            db,
        };
        store.load_queue_index()?;
        Ok(store)
    }

    /// sled's log file (`db` in the store's directory).
    fn open_log(dir: &Path) -> Result<std::fs::File> {
        let path = dir.join("db");
        std::fs::File::open(&path).map_err(|source| StoreError::File { path: path.display().to_string(), source })
    }

    /// A store that was created once always holds its birth key; if it is gone, the files
    /// were damaged or replaced, and starting empty would silently drop every message.
    fn check_not_lost(db: &sled::Db, dir: &Path) -> Result<()> {
        const BIRTH_KEY: &[u8] = b"hookgate:created";
        let marker = dir.with_extension("created");
        let born = db.get(BIRTH_KEY)?.is_some();
        if !born && marker.exists() {
            return Err(StoreError::Lost { path: dir.display().to_string(), marker: marker.display().to_string() });
        }
        if !born {
            db.insert(BIRTH_KEY, crate::model::rfc3339_now().as_bytes())?;
            db.flush()?;
            Self::mark_created(dir)?;
        }
        Ok(())
    }

    /// Leaves the mark beside a store that says it was created: from then on, a store that
    /// lost its birth key is refused.
    fn mark_created(dir: &Path) -> Result<()> {
        let marker = dir.with_extension("created");
        std::fs::write(&marker, b"the sled store beside this file was created by hookgate\n")
            .map_err(|source| StoreError::File { path: marker.display().to_string(), source })
    }

    /// Holds off a backup while a write is made.
    fn writing(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.writes.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes every write so far durable on disk, on the blocking pool.
    async fn flush(self: Arc<Self>) -> Result<()> {
        tokio::task::spawn_blocking(move || self.sync())
            .await
            .map_err(|e| StoreError::Backend(format!("the disk sync did not run: {e}")))?
    }

    /// Makes every write so far durable on disk, blocking the calling thread.
    fn sync(&self) -> Result<()> {
        self.db.flush()?;
        self.log_file.sync_data().map_err(StoreError::Sync)
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing our own plain data types to JSON cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt { what, reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::SledStore;
    use crate::store::contract::contract_tests;
    use crate::store::Store;

    async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("db"), 1 << 20).unwrap();
        (Arc::new(store), dir)
    }

    contract_tests!(fresh);
}
