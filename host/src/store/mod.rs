//! Durable state in an embedded sled database. This is the only module that knows sled.
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
//! - `queue`: due time (u64 big-endian ms) ++ delivery key -> event id, the pending
//!   deliveries after their first attempt, in the order they are due; mirrored in memory by
//!   lane (`queue.rs`)
//! - `arrivals`: group number (u64 big-endian) -> ids of new messages whose first attempts
//!   are not all recorded (`arrivals.rs`)
//!
//! Message ids are time-ordered and handed out by the writer in the order it stores
//! messages, so every tree keyed by them iterates oldest first and grows at its end.

mod arrivals;
mod committer;
mod components;
mod events;
mod messages;
mod queue;
mod upgrade;

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use committer::Committer;
pub use messages::{delivery_key, Inserted, NewMessage, Write};
pub use queue::{Claim, Lane, QueueEntry};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored {what} is unreadable: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("cannot open the data directory {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error(
        "the store at {path} was created before but holds no data now (truncated or replaced?); \
         refusing to start with an empty store. Restore it from a backup, or remove {marker} to start afresh"
    )]
    Lost { path: String, marker: String },
    #[error("cannot use {path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("storage error: {0}")]
    Commit(String),
    #[error("cannot sync the store to disk: {0}")]
    Sync(std::io::Error),
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The gateway's database.
pub struct Store {
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
}

impl Store {
    /// Opens (or creates) the database in `dir`, with at most `cache_bytes` of page cache.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Store> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|source| StoreError::Open { path: dir.display().to_string(), source })?;
        Self::check_not_lost(&db, dir)?;
        let tree = |name: &str| db.open_tree(name);
        let events = tree("events")?;
        let (messages, by_event, deliveries, failed) =
            (tree("messages")?, tree("by_event")?, tree("deliveries")?, tree("failed")?);
        upgrade::upgrade(&db, &messages, &by_event)?;
        upgrade::index_failed(&db, &deliveries, &failed)?;
        let store = Store {
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
            std::fs::write(&marker, b"the sled store beside this file was created by hookgate\n")
                .map_err(|source| StoreError::File { path: marker.display().to_string(), source })?;
        }
        Ok(())
    }

    /// Makes every write so far durable on disk (for the admin API's writes; the pipeline's
    /// writer shares one sync among many writes, see [`Committer`]).
    pub async fn flush(self: &Arc<Self>) -> Result<()> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.sync())
            .await
            .map_err(|e| StoreError::Commit(format!("the disk sync did not run: {e}")))?
    }

    /// Makes every write so far durable on disk, blocking the calling thread.
    fn sync(&self) -> Result<()> {
        self.db.flush()?;
        self.log_file.sync_data().map_err(StoreError::Sync)
    }

    /// Bytes the database takes on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing our own plain data types to JSON cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt { what, reason: e.to_string() })
}
